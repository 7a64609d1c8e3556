import { open, writeFile } from "node:fs/promises"
import { join } from "node:path"
import * as zlib from "node:zlib"
import { gzipSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { afterAll } from "vitest"
import { ZlibPump } from "../../../src/trace/internal/container/zlibPump.ts"
import { openSource } from "../../../src/trace/internal/source.ts"
import { drain, tempDir, traceLikeBytes, writeZip } from "./fixtures.ts"

const { dir, cleanup } = tempDir()
afterAll(cleanup)

const data = traceLikeBytes(100_000, 3) // 1.2 MB: 300 pieces of 4 KiB
const settle = () => new Promise((resolve) => setTimeout(resolve, 50))

describe("read-ahead", () => {
  it("a pump holds one piece until stream(), then at most readAhead more", async () => {
    const path = join(dir, "a.gz")
    await writeFile(path, gzipSync(data))
    const handle = await open(path, "r")
    const pump = new ZlibPump(handle, zlib.createGunzip({ chunkSize: 4096 }), 4096, 0, undefined)
    try {
      await settle()
      assert.strictEqual(pump.buffered, 1)
      let bytes = (await pump.next())!.length
      await settle()
      // The header piece is taken; nothing is inflated behind it until the consumer streams.
      assert.strictEqual(pump.buffered, 0)
      pump.stream()
      await settle()
      assert.strictEqual(pump.buffered, ZlibPump.readAhead)
      for (let p = await pump.next(); p !== undefined; p = await pump.next()) {
        bytes += p.length
        assert.isAtMost(pump.buffered, ZlibPump.readAhead)
      }
      assert.strictEqual(bytes, data.length)
    } finally {
      pump.destroy()
      await handle.close()
    }
  })

  it("stream() on a zip source reads every member ahead and keeps its bytes intact", async () => {
    const path = join(dir, "b.zip")
    writeZip(path, [
      { name: "chunk.0000", bytes: data },
      { name: "chunk.0001", bytes: data.subarray(0, 50_004) }
    ])
    const eager = await openSource(path, { chunkSize: 4096 })
    eager.stream()
    const lazy = await openSource(path, { chunkSize: 4096 })
    const [a, b] = [await drain(eager), await drain(lazy)]
    assert.deepStrictEqual(a.bytes, new Uint8Array(Buffer.concat([data, data.subarray(0, 50_004)])))
    assert.deepStrictEqual(a, b)
  })
})
