import { closeSync, openSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { deflateRawSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { afterAll } from "vitest"
import { SyncPump } from "../../../src/trace/internal/container/syncInflate.ts"
import { randomBytes, tempDir, traceLikeBytes } from "./fixtures.ts"

const { dir, cleanup } = tempDir()
afterAll(cleanup)

let files = 0
/** `body` in a new file between `before` and `after` bytes of noise; the range of the body. */
const fileWith = (body: Uint8Array, before: number, after: number) => {
  const path = join(dir, `f${files++}`)
  writeFileSync(path, Buffer.concat([randomBytes(before, 7), body, randomBytes(after, 9)]))
  return { path, start: before, end: before + body.length }
}

const inflateAll = async (path: string, start: number, end: number, chunkSize: number) => {
  const fd = openSync(path, "r")
  try {
    const pump = new SyncPump(fd, start, end, chunkSize)
    const pieces: Array<Buffer> = []
    for (let p = await pump.next(); p !== undefined; p = await pump.next()) pieces.push(p)
    return pieces
  } finally {
    closeSync(fd)
  }
}

const failure = async (path: string, start: number, end: number): Promise<Error & { code?: string }> => {
  try {
    await inflateAll(path, start, end, 4096)
  } catch (e) {
    return e as Error & { code?: string }
  }
  throw new Error("expected the inflate to fail")
}

describe("SyncPump", () => {
  it("inflates any range into full pieces of chunkSize, each owning its buffer, whatever surrounds it", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 60_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.constantFrom(4096, 65_536, 262_144),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 5000 }),
        async (entries, seed, chunkSize, before, after) => {
          const data = traceLikeBytes(entries, seed)
          const { path, start, end } = fileWith(deflateRawSync(data), before, after)
          const pieces = await inflateAll(path, start, end, chunkSize)
          assert.deepStrictEqual(new Uint8Array(Buffer.concat(pieces)), data)
          pieces.forEach((p, i) => {
            if (i < pieces.length - 1) assert.strictEqual(p.length, chunkSize)
            else assert.isAtMost(p.length, chunkSize)
            assert.isAbove(p.length, 0)
            assert.strictEqual(p.byteOffset, 0)
            assert.strictEqual(p.buffer.byteLength, chunkSize)
          })
        }
      ),
      { numRuns: 40, seed: 42 }
    )
  })

  it("data that ends early is Z_BUF_ERROR, corrupt data Z_DATA_ERROR, a range past the file's end names the byte", async () => {
    const deflated = deflateRawSync(traceLikeBytes(20_000, 3))
    const cut = fileWith(deflated.subarray(0, deflated.length - 40), 10, 0)
    assert.strictEqual((await failure(cut.path, cut.start, cut.end)).code, "Z_BUF_ERROR")

    const bad = Buffer.from(deflated)
    bad[0] = 0xff // block type 3: reserved
    const corrupt = fileWith(bad, 0, 0)
    assert.strictEqual((await failure(corrupt.path, corrupt.start, corrupt.end)).code, "Z_DATA_ERROR")

    const short = fileWith(deflated, 0, 0)
    const past = await failure(short.path, short.start, short.end + 100)
    assert.strictEqual(
      past.message,
      `unexpected end of file at byte ${short.end}, expected data up to ${short.end + 100}`
    )
  })

  it("bytes after the end of the deflate stream are not inflated (the member's size and CRC judge them)", async () => {
    const data = traceLikeBytes(5000, 11)
    const { path, start, end } = fileWith(Buffer.concat([deflateRawSync(data), randomBytes(3000, 5)]), 0, 0)
    assert.deepStrictEqual(new Uint8Array(Buffer.concat(await inflateAll(path, start, end, 4096))), data)
  })
})
