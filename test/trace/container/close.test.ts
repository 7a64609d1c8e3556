import { readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync, zstdCompressSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { compress as lz4FrameCompress } from "lz4js"
import { afterAll } from "vitest"
import { openSource } from "../../../src/trace/internal/source.ts"
import { TraceError } from "../../../src/trace/TraceError.ts"
import { drain, rejection, snappyFrames, tempDir, traceLikeBytes, withinTime, writeZip } from "./fixtures.ts"

const { dir, cleanup } = tempDir()
afterAll(cleanup)

const data = traceLikeBytes(200_000, 5) // 2.4 MB
const write = (name: string, bytes: Uint8Array): string => {
  const path = join(dir, name)
  writeFileSync(path, bytes)
  return path
}
const zipPath = join(dir, "big.zip")
writeZip(zipPath, [
  { name: "chunk.0000", bytes: data },
  { name: "chunk.0001", bytes: data.subarray(0, 1000) }
])
const inputs = [
  zipPath,
  write("big.trace.gz", gzipSync(data)),
  write("big.trace.zst", zstdCompressSync(data)),
  write("big.memtrace.sz", snappyFrames(data).file),
  write("big.trace.lz4", lz4FrameCompress(data)),
  write("big.trace", data)
]

const openFds = (): number => readdirSync("/proc/self/fd").length

describe("close", () => {
  it("close() while a pull is pending settles both, for every container", async () => {
    for (const path of inputs) {
      const source = await openSource(path, { chunkSize: 65536 })
      await source.pull()
      const pending = source.pull()
      await withinTime(source.close())
      const outcome = await withinTime(
        pending.then(
          (chunk) => ({ chunk }),
          (error: unknown) => ({ error })
        )
      )
      if ("error" in outcome) {
        assert.instanceOf(outcome.error, TraceError, path)
        assert.strictEqual((outcome.error as TraceError).reason, "IoError")
      }
      const after = await rejection(source.pull())
      assert.strictEqual(after.reason, "IoError", path)
      assert.strictEqual(after.path, path)
    }
  })

  it("close() settles a pull pending anywhere in a many-member zip, including between members", async () => {
    const path = join(dir, "many.zip")
    writeZip(
      path,
      Array.from({ length: 12 }, (_, i) => ({
        name: `chunk.${String(i).padStart(4, "0")}`,
        bytes: data.subarray(0, 3000)
      }))
    )
    for (let k = 0; k <= 13; k++) {
      const source = await openSource(path)
      for (let i = 0; i < k; i++) await source.pull()
      const pending = source.pull()
      await withinTime(source.close())
      await withinTime(pending.catch((e: unknown) => assert.instanceOf(e, TraceError)))
    }
  })

  it("close() is idempotent: twice, before any pull, after the end, and after a failure", async () => {
    for (const path of inputs) {
      const early = await openSource(path)
      await withinTime(Promise.all([early.close(), early.close()]))
      await withinTime(early.close())

      const done = await openSource(path)
      await withinTime(drain(done))
      assert.strictEqual(await done.pull(), undefined)
      await withinTime(done.close())
      await withinTime(done.close())
    }
    const broken = write("broken.trace.gz", gzipSync(data).subarray(0, 5000))
    const source = await openSource(broken)
    await rejection(drain(source))
    await withinTime(source.close())
    await withinTime(source.close())
  })

  it("file handles are released by close() and at the end of the stream, with or without close()", async () => {
    // Sources stay referenced, so the garbage collector cannot close a leaked handle behind our back.
    const kept: Array<unknown> = []
    const cycle = async () => {
      for (const path of inputs) {
        const stopped = await openSource(path, { chunkSize: 65536 })
        await stopped.pull()
        await stopped.close()
        const finished = await openSource(path)
        await drain(finished)
        kept.push(stopped, finished)
      }
    }
    await cycle() // warm up lazily opened descriptors (thread pool, zlib)
    const before = openFds()
    for (let round = 0; round < 5; round++) await cycle()
    // 60 opens; a leak would leave dozens of descriptors behind.
    assert.isAtMost(openFds() - before, 5)
    assert.strictEqual(kept.length, 72)
  })
})
