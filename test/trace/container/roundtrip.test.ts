import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync, zstdCompressSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { compress as lz4FrameCompress } from "lz4js"
import { Compressor } from "snappy"
import { afterAll } from "vitest"
import { type ContainerKind, openSource } from "../../../src/trace/internal/source.ts"
import {
  drain,
  gzipWithHeader,
  randomBytes,
  run,
  SNAPPY_STREAM_ID,
  snappyFrames,
  tempDir,
  traceLikeBytes,
  withinTime,
  writeZip
} from "./fixtures.ts"

const { dir, cleanup } = tempDir()
afterAll(cleanup)

const data = traceLikeBytes(120_000, 42) // 1.44 MB
const noise = randomBytes(300_000, 9) // incompressible

/** Reads `path` back with several chunk sizes; each read must equal `expected` and respect the chunk bound. */
const readsBack = async (
  path: string,
  container: ContainerKind,
  expected: Uint8Array,
  bound: (chunkSize: number) => number = (c) => c
) => {
  for (const chunkSize of [4096, 65536, undefined]) {
    const source = await openSource(path, chunkSize === undefined ? undefined : { chunkSize })
    assert.strictEqual(source.container, container)
    assert.strictEqual(source.path, path)
    const { bytes, chunks } = await withinTime(drain(source))
    assert.strictEqual(bytes.length, expected.length, `${path} @ ${chunkSize}`)
    assert.isTrue(Buffer.from(bytes).equals(expected), `${path} @ ${chunkSize}: same bytes`)
    let offset = 0
    for (const chunk of chunks) {
      assert.strictEqual(chunk.offset, offset)
      assert.strictEqual(chunk.componentIndex, 0)
      assert.isUndefined(chunk.component)
      assert.isAtMost(chunk.bytes.length, bound(chunkSize ?? 256 * 1024))
      offset += chunk.bytes.length
    }
    assert.strictEqual(await source.pull(), undefined, "stays at the end")
    await source.close()
  }
}

describe("round trips", () => {
  it("gzip, one member and several concatenated, with or without a .gz name", async () => {
    const one = join(dir, "one.trace.gz")
    writeFileSync(one, gzipSync(data))
    await readsBack(one, "gzip", data)
    const multi = join(dir, "multi.trace")
    writeFileSync(multi, Buffer.concat([gzipSync(data.subarray(0, 500_000)), gzipSync(data.subarray(500_000))]))
    await readsBack(multi, "gzip", data)
  })

  it("gzip as gzread reads it: empty members, header fields, and trailing bytes that start no member ignored", async () => {
    const half = data.subarray(0, 700_000)
    const members = [gzipSync(half), gzipSync(new Uint8Array(0)), gzipWithHeader(data.subarray(700_000))]
    const whole = Buffer.concat(members)
    const tails: ReadonlyArray<[string, Uint8Array]> = [
      ["none", new Uint8Array(0)],
      ["text", Buffer.from("trailing garbage\n")],
      ["a lone 1f", Buffer.from([0x1f])],
      ["1f then not 8b", Buffer.from([0x1f, 0x8c, 8, 0, 0, 0, 0, 0, 0, 3])],
      ["zeros", new Uint8Array(4096)]
    ]
    for (const [name, tail] of tails) {
      const path = join(dir, `tail-${name.replace(/ /g, "-")}.trace.gz`)
      writeFileSync(path, Buffer.concat([whole, tail]))
      await readsBack(path, "gzip", data)
    }
  })

  it("a gzip file of many small members reads whole", async () => {
    const path = join(dir, "many.trace.gz")
    const parts: Array<Uint8Array> = []
    for (let at = 0; at < data.length; at += 7_200) parts.push(gzipSync(data.subarray(at, at + 7_200)))
    writeFileSync(path, Buffer.concat(parts))
    await readsBack(path, "gzip", data)
  })

  it("gzip written by the gzip tool", async () => {
    const plain = join(dir, "tool.trace")
    writeFileSync(plain, data)
    run("gzip", ["-k", "-f", plain])
    await readsBack(`${plain}.gz`, "gzip", data)
  })

  it("zstd, one frame and several, from Node's zlib and from the zstd tool", async () => {
    const one = join(dir, "one.trace.zst")
    writeFileSync(one, zstdCompressSync(data))
    await readsBack(one, "zstd", data)
    const multi = join(dir, "multi.trace.zst")
    writeFileSync(
      multi,
      Buffer.concat([zstdCompressSync(data.subarray(0, 1000)), zstdCompressSync(data.subarray(1000))])
    )
    await readsBack(multi, "zstd", data)
    const plain = join(dir, "zstdtool.trace")
    writeFileSync(plain, data)
    run("zstd", ["-q", "-f", "--check", plain, "-o", `${plain}.zst`])
    await readsBack(`${plain}.zst`, "zstd", data)
  })

  it("lz4 frames from lz4js (4 MiB blocks, no checksums)", async () => {
    const path = join(dir, "lz4js.trace.lz4")
    writeFileSync(path, lz4FrameCompress(data))
    await readsBack(path, "lz4", data, (c) => Math.max(c, 4 * 1024 * 1024))
    const incompressible = join(dir, "noise.lz4")
    writeFileSync(incompressible, lz4FrameCompress(noise))
    await readsBack(incompressible, "lz4", noise, (c) => Math.max(c, 4 * 1024 * 1024))
  })

  it("lz4 frames from the lz4 tool: linked 64 KiB blocks with block and content checksums and content size", async () => {
    const plain = join(dir, "lz4tool.trace")
    writeFileSync(plain, data)
    const linked = `${plain}.linked.lz4`
    run("lz4", ["-q", "-f", "-B4", "-BD", "-BX", "--content-size", plain, linked])
    await readsBack(linked, "lz4", data, (c) => Math.max(c, 65536))
    const independent = `${plain}.indep.lz4`
    run("lz4", ["-q", "-f", "-B5", "--no-frame-crc", plain, independent])
    await readsBack(independent, "lz4", data, (c) => Math.max(c, 256 * 1024))
  })

  it("concatenated lz4 frames with a skippable frame between them", async () => {
    const skippable = Buffer.alloc(8 + 20)
    skippable.writeUInt32LE(0x184d2a53, 0)
    skippable.writeUInt32LE(20, 4)
    const path = join(dir, "frames.lz4")
    writeFileSync(
      path,
      Buffer.concat([lz4FrameCompress(data.subarray(0, 700_001)), skippable, lz4FrameCompress(data.subarray(700_001))])
    )
    await readsBack(path, "lz4", data, (c) => Math.max(c, 4 * 1024 * 1024))
  })

  it("snappy framing with every data chunk type (0x00-0x03), skippable chunks, padding and a repeated stream id", async () => {
    const path = join(dir, "frames.sz")
    writeFileSync(path, snappyFrames(data).file)
    await readsBack(path, "snappy", data, (c) => Math.max(c, 65536))
    const noisy = join(dir, "noise.sz")
    writeFileSync(noisy, snappyFrames(noise).file)
    await readsBack(noisy, "snappy", noise, (c) => Math.max(c, 65536))
  })

  it("snappy framing written by the snappy package's own framed compressor", async () => {
    const compressor = new Compressor()
    const framed = Buffer.concat([compressor.update(data), await compressor.finish()])
    assert.isTrue(framed.subarray(0, SNAPPY_STREAM_ID.length).equals(SNAPPY_STREAM_ID))
    const path = join(dir, "package.memtrace.sz")
    writeFileSync(path, framed)
    await readsBack(path, "snappy", data, (c) => Math.max(c, 65536))
  })

  it("uncompressed files, including an empty one", async () => {
    const path = join(dir, "plain.trace")
    writeFileSync(path, data)
    await readsBack(path, "raw", data)
    const empty = join(dir, "empty.trace")
    writeFileSync(empty, new Uint8Array(0))
    await readsBack(empty, "raw", new Uint8Array(0))
  })

  it("zip: deflated, stored and empty members in archive order, directory entries skipped", async () => {
    const members = [
      { name: "chunk.0000", bytes: data.subarray(0, 600_000) },
      { name: "chunk.0001", bytes: noise, stored: true },
      { name: "chunk.0002", bytes: new Uint8Array(0) },
      { name: "chunk.0003", bytes: data.subarray(600_000) },
      { name: "a-sorts-first", bytes: data.subarray(0, 1200) }
    ]
    const path = join(dir, "members.zip")
    writeZip(path, members, "subdir/")
    for (const chunkSize of [4096, 65536, undefined]) {
      const source = await openSource(path, chunkSize === undefined ? undefined : { chunkSize })
      assert.strictEqual(source.container, "zip")
      const { chunks } = await withinTime(drain(source))
      const seen = new Map<number, { name: string | undefined; pieces: Array<Uint8Array>; offset: number }>()
      for (const chunk of chunks) {
        const entry = seen.get(chunk.componentIndex) ?? { name: chunk.component, pieces: [], offset: 0 }
        assert.strictEqual(chunk.component, entry.name)
        assert.strictEqual(chunk.offset, entry.offset)
        assert.isAtMost(chunk.bytes.length, chunkSize ?? 256 * 1024)
        entry.offset += chunk.bytes.length
        entry.pieces.push(chunk.bytes)
        seen.set(chunk.componentIndex, entry)
      }
      // The empty member yields no chunk but keeps its index: the next member is index 3.
      assert.deepStrictEqual(
        [...seen.entries()].map(([index, e]) => [index, e.name]),
        [
          [0, "chunk.0000"],
          [1, "chunk.0001"],
          [3, "chunk.0003"],
          [4, "a-sorts-first"]
        ]
      )
      for (const [index, e] of seen) {
        const member = members[index]!
        assert.isTrue(Buffer.concat(e.pieces).equals(member.bytes), `member ${member.name}`)
      }
    }
  })

  it("pulls issued without waiting are served in order", async () => {
    const path = join(dir, "ordered.trace.gz")
    writeFileSync(path, gzipSync(data))
    const source = await openSource(path, { chunkSize: 65536 })
    const pending = Array.from({ length: 40 }, () => source.pull())
    const chunks = await withinTime(Promise.all(pending))
    let offset = 0
    const pieces: Array<Uint8Array> = []
    for (const chunk of chunks) {
      if (chunk === undefined) continue
      assert.strictEqual(chunk.offset, offset)
      offset += chunk.bytes.length
      pieces.push(chunk.bytes)
    }
    assert.strictEqual(offset, data.length)
    assert.isTrue(Buffer.concat(pieces).equals(data))
    assert.strictEqual(chunks.at(-1), undefined)
  })
})
