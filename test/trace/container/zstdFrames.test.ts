import { Readable } from "node:stream"
import { constants, createZstdDecompress, zstdCompressSync, zstdDecompressSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { ZstdFrameSplitter } from "../../../src/trace/internal/container/zstdFrames.ts"
import { TraceError } from "../../../src/trace/TraceError.ts"
import { randomBytes, traceLikeBytes, withinTime } from "./fixtures.ts"

/** Feeds `file` in pieces of the given sizes (cycled) through the splitter into Node's zstd decompressor. */
const decode = (file: Uint8Array, sizes: ReadonlyArray<number>): Promise<Buffer> => {
  const pieces: Array<Buffer> = []
  for (let at = 0, k = 0; at < file.length; k++) {
    const size = sizes[k % sizes.length]!
    pieces.push(Buffer.from(file.subarray(at, at + size)))
    at += size
  }
  const splitter = new ZstdFrameSplitter("test.zst")
  const zstd = createZstdDecompress()
  const out: Array<Buffer> = []
  return withinTime(
    new Promise<Buffer>((resolve, reject) => {
      splitter.on("error", reject)
      zstd.on("error", reject)
      zstd.on("data", (b: Buffer) => out.push(b))
      zstd.on("end", () => resolve(Buffer.concat(out)))
      Readable.from(pieces).pipe(splitter).pipe(zstd)
    })
  )
}

const skippable = (body: Uint8Array, nibble = 0): Buffer => {
  const head = Buffer.alloc(8)
  head.writeUInt32LE(0x184d2a50 + nibble, 0)
  head.writeUInt32LE(body.length, 4)
  return Buffer.concat([head, body])
}

describe("ZstdFrameSplitter", () => {
  const a = traceLikeBytes(20_000, 1)
  const b = new Uint8Array(300_000) // zeros: RLE blocks
  const c = randomBytes(150_000, 3) // raw blocks
  const d = traceLikeBytes(5, 4)
  const frames = [
    zstdCompressSync(a),
    skippable(randomBytes(77, 5), 3),
    zstdCompressSync(b, { params: { [constants.ZSTD_c_checksumFlag]: 1 } }),
    zstdCompressSync(c, { params: { [constants.ZSTD_c_contentSizeFlag]: 0 } }),
    skippable(new Uint8Array(0), 15),
    zstdCompressSync(d, { params: { [constants.ZSTD_c_checksumFlag]: 1, [constants.ZSTD_c_compressionLevel]: 19 } }),
    zstdCompressSync(new Uint8Array(0))
  ]
  const file = Buffer.concat(frames)
  const expected = Buffer.concat([a, b, c, d])

  it("Node's zstd decompressor alone loses every frame after the first in one write (why the splitter exists)", () => {
    const two = Buffer.concat([zstdCompressSync(a), zstdCompressSync(d)])
    assert.strictEqual(zstdDecompressSync(two).length, a.length)
  })

  it("whatever the piece boundaries, every frame is decoded and skippable frames are dropped", async () => {
    for (const sizes of [[file.length], [65536], [4096, 5, 13], [11, 8, 1, 1, 1, 30000]]) {
      const got = await decode(file, sizes)
      assert.strictEqual(got.length, expected.length, `pieces ${sizes.join(",")}`)
      assert.isTrue(got.equals(expected), `pieces ${sizes.join(",")}`)
    }
    // Byte-sized pieces split every header field; a smaller file keeps that quick.
    const small = Buffer.concat([frames[5]!, frames[1]!, zstdCompressSync(a.subarray(0, 3000)), frames[4]!, frames[6]!])
    for (const sizes of [[1], [3, 1, 7, 2]]) {
      const got = await decode(small, sizes)
      assert.isTrue(got.equals(Buffer.concat([d, a.subarray(0, 3000)])), `pieces ${sizes.join(",")}`)
    }
  })

  it("a file cut inside a frame is Truncated, naming the frame's offset", async () => {
    const cut = file.subarray(0, frames[0]!.length + frames[1]!.length + 20)
    const error = await decode(cut, [1000]).then(
      () => undefined,
      (e: unknown) => e
    )
    assert.instanceOf(error, TraceError)
    assert.strictEqual((error as TraceError).reason, "Truncated")
    assert.strictEqual((error as TraceError).offset, frames[0]!.length + frames[1]!.length)
  })

  it("a bad magic number is BadMagic at its offset", async () => {
    const bad = Buffer.concat([frames[0]!, Buffer.from("not zstd at all")])
    const error = await decode(bad, [5]).then(
      () => undefined,
      (e: unknown) => e
    )
    assert.instanceOf(error, TraceError)
    assert.strictEqual((error as TraceError).reason, "BadMagic")
    assert.strictEqual((error as TraceError).offset, frames[0]!.length)
  })
})
