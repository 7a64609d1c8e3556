import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { gunzipSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { Decompressor } from "snappy"
import { openSource, readZipComponents, type SourceChunk } from "../../../src/trace/internal/source.ts"
import { drain, pythonZipMembers, TRACES, withinTime } from "./fixtures.ts"

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

const threadsig = [
  "drmemtrace.threadsig.872805.4975.trace.zip",
  "drmemtrace.threadsig.872884.3060.trace.zip",
  "drmemtrace.threadsig.872894.3824.trace.zip",
  "drmemtrace.threadsig.872901.9125.trace.zip",
  "drmemtrace.threadsig.872902.5666.trace.zip",
  "drmemtrace.threadsig.872903.3218.trace.zip",
  "drmemtrace.threadsig.872904.7848.trace.zip",
  "drmemtrace.threadsig.872905.5783.trace.zip",
  "drmemtrace.threadsig.872906.1041.trace.zip"
].map((f) => `${TRACES}/drmemtrace.threadsig.x64.tracedir/${f}`)
const coreSharded = [0, 1, 2, 3].map(
  (i) => `${TRACES}/drmemtrace.threadsig-core-sharded.x64.tracedir/drmemtrace.core.00000${i}.trace.zip`
)
const zips = [
  ...threadsig,
  ...coreSharded,
  `${TRACES}/drmemtrace.allasm_x86_64.trace.zip`,
  `${TRACES}/mock_switch_sequences.x64.zip`
]
const snappies = [23699, 23700].map(
  (tid) => `${TRACES}/drmemtrace.chase-snappy.x64.tracedir/chase.20190225.185346.${tid}.memtrace.sz`
)
const raws = [`${TRACES}/drmemtrace.small.x64.trace`, `${TRACES}/mock_syscall_sequences.x64`]

/** Groups chunks by component, checking offsets run on without gaps and indexes only step up by one. */
const components = (chunks: ReadonlyArray<SourceChunk>) => {
  const out: Array<{ name: string | undefined; bytes: Uint8Array }> = []
  let index = -1
  let offset = 0
  let pieces: Array<Uint8Array> = []
  let name: string | undefined
  const flush = () => {
    if (index >= 0) out.push({ name, bytes: new Uint8Array(Buffer.concat(pieces)) })
  }
  for (const chunk of chunks) {
    if (chunk.componentIndex !== index) {
      assert.strictEqual(chunk.componentIndex, index + 1, "component indexes step by one")
      flush()
      index = chunk.componentIndex
      name = chunk.component
      pieces = []
      offset = 0
    }
    assert.strictEqual(chunk.component, name)
    assert.strictEqual(chunk.offset, offset, "offsets run on within a component")
    assert.isAbove(chunk.bytes.length, 0)
    offset += chunk.bytes.length
    pieces.push(chunk.bytes)
  }
  flush()
  return out
}

const isHeader = (bytes: Uint8Array): boolean => bytes.length >= 12 && bytes[0] === 25 && bytes[1] === 0

describe("shipped traces", () => {
  it("zip traces give every member in archive order, byte-identical to python's zipfile", async () => {
    const reference = pythonZipMembers(zips)
    for (const path of zips) {
      const expected = reference[path]!
      const source = await openSource(path)
      assert.strictEqual(source.container, "zip")
      const got = components((await withinTime(drain(source))).chunks)
      assert.deepStrictEqual(
        got.map((c) => ({ name: c.name, size: c.bytes.length, sha256: sha256(c.bytes) })),
        expected,
        path
      )
      assert.isTrue(isHeader(got[0]!.bytes), `${path} starts with a HEADER entry`)
    }
  })

  it("the threadsig zips hold 975,332 entries in all, one component each", async () => {
    let bytes = 0
    for (const path of threadsig) {
      const { chunks } = await drain(await openSource(path))
      assert.isTrue(chunks.every((c) => c.component === "chunk.0000" && c.componentIndex === 0))
      bytes += chunks.reduce((n, c) => n + c.bytes.length, 0)
    }
    assert.strictEqual(bytes, 975_332 * 12)
  })

  it("allasm's seven chunk components come as components 0..6", async () => {
    const got = components((await drain(await openSource(`${TRACES}/drmemtrace.allasm_x86_64.trace.zip`))).chunks)
    assert.deepStrictEqual(
      got.map((c) => c.name),
      ["chunk.0000", "chunk.0001", "chunk.0002", "chunk.0003", "chunk.0004", "chunk.0005", "chunk.0006"]
    )
    assert.strictEqual(
      got.reduce((n, c) => n + c.bytes.length, 0),
      329 * 12
    )
  })

  it("snappy traces decode to what the snappy package's own framed decoder gives", async () => {
    const entries: Array<number> = []
    for (const path of snappies) {
      const file = readFileSync(path)
      const reference = new Decompressor()
      const expected = Buffer.concat([reference.update(file), await reference.finish()])
      const source = await openSource(path)
      assert.strictEqual(source.container, "snappy")
      const { bytes, chunks } = await withinTime(drain(source))
      assert.strictEqual(bytes.length, expected.length, path)
      assert.strictEqual(sha256(bytes), sha256(expected), path)
      components(chunks)
      assert.isTrue(chunks.every((c) => c.component === undefined && c.componentIndex === 0))
      assert.isTrue(isHeader(bytes))
      entries.push(bytes.length / 12)
    }
    assert.deepStrictEqual(entries, [1_089_525, 1_814_835])
  })

  it("uncompressed traces are read as they are", async () => {
    for (const path of raws) {
      const source = await openSource(path)
      assert.strictEqual(source.container, "raw")
      const { bytes } = await drain(source)
      assert.deepStrictEqual(bytes, new Uint8Array(readFileSync(path)))
      assert.isTrue(isHeader(bytes))
    }
  })

  it("serial_schedule.bin.gz is read as gzip (by its magic) and matches zlib's one-shot gunzip", async () => {
    const path = `${TRACES}/drmemtrace.threadsig.x64.tracedir/serial_schedule.bin.gz`
    const source = await openSource(path)
    assert.strictEqual(source.container, "gzip")
    const { bytes } = await drain(source)
    assert.deepStrictEqual(bytes, new Uint8Array(gunzipSync(readFileSync(path))))
    assert.strictEqual(bytes.length, 336 * 32)
  })

  it("readZipComponents reads schedule archives whole, in archive order", async () => {
    const paths = [
      `${TRACES}/drmemtrace.threadsig.x64.tracedir/cpu_schedule.bin.zip`,
      `${TRACES}/schedules/threadsig.recorded_schedule.4cores.zip`
    ]
    const reference = pythonZipMembers(paths)
    for (const path of paths) {
      const expected = reference[path]!
      const got = await readZipComponents(path)
      assert.deepStrictEqual(
        got.map((c) => ({ name: c.name, size: c.bytes.length, sha256: sha256(c.bytes) })),
        expected
      )
      assert.isTrue(got.every((c) => c.bytes.length % 32 === 0))
    }
    const cpu = await readZipComponents(`${TRACES}/drmemtrace.threadsig.x64.tracedir/cpu_schedule.bin.zip`)
    assert.strictEqual(cpu.length, 11)
  })
})
