import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { afterAll } from "vitest"
import { listInputs } from "../../src/trace/internal/listing.ts"
import { rejection, TRACES, tempDir } from "./container/fixtures.ts"

const { dir: root, cleanup } = tempDir()
afterAll(cleanup)

const touch = (path: string) => writeFileSync(path, "x")
const mkdir = (path: string) => {
  mkdirSync(path, { recursive: true })
  return path
}

describe("listInputs", () => {
  it("threadsig's directory gives its 9 trace zips sorted, skipping the schedule files", async () => {
    const dir = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
    assert.deepStrictEqual(
      await listInputs(dir),
      [
        "872805.4975",
        "872884.3060",
        "872894.3824",
        "872901.9125",
        "872902.5666",
        "872903.3218",
        "872904.7848",
        "872905.5783",
        "872906.1041"
      ].map((n) => `${dir}/drmemtrace.threadsig.${n}.trace.zip`)
    )
  })

  it("a trailing slash on the directory is not doubled", async () => {
    const dir = `${TRACES}/drmemtrace.chase-snappy.x64.tracedir`
    assert.deepStrictEqual(await listInputs(`${dir}/`), [
      `${dir}/chase.20190225.185346.23699.memtrace.sz`,
      `${dir}/chase.20190225.185346.23700.memtrace.sz`
    ])
  })

  it("a file is its own single input", async () => {
    const path = `${TRACES}/drmemtrace.small.x64.trace`
    assert.deepStrictEqual(await listInputs(path), [path])
  })

  it("skips DynamoRIO's auxiliary files and subdirectories, and sorts bytewise", async () => {
    const dir = mkdir(join(root, "aux"))
    for (const name of [
      "b.trace.zip",
      "B.trace.zip",
      "a.trace.zip",
      "a.trace.zip.extra",
      "serial_schedule.bin",
      "serial_schedule.bin.gz",
      "cpu_schedule.bin.zip",
      "modules.log",
      "funclist.log",
      "encodings.bin",
      "v2p.textproto",
      "é.trace",
      "z.trace"
    ]) {
      touch(join(dir, name))
    }
    mkdir(join(dir, "subdir"))
    assert.deepStrictEqual(
      await listInputs(dir),
      ["B.trace.zip", "a.trace.zip", "a.trace.zip.extra", "b.trace.zip", "z.trace", "é.trace"].map((n) => `${dir}/${n}`)
    )
  })

  it("a tracer output directory reads its trace/ subdirectory, whether given the top, trace/ or raw/", async () => {
    const top = mkdir(join(root, "drmemtrace.app.123.4567.dir"))
    const trace = mkdir(join(top, "trace"))
    const raw = mkdir(join(top, "raw"))
    touch(join(raw, "drmemtrace.app.123.0000.raw.lz4"))
    touch(join(raw, "modules.log"))
    touch(join(trace, "drmemtrace.app.124.0000.trace.zip"))
    touch(join(trace, "drmemtrace.app.123.0000.trace.zip"))
    touch(join(trace, "cpu_schedule.bin.zip"))
    const expected = [`${trace}/drmemtrace.app.123.0000.trace.zip`, `${trace}/drmemtrace.app.124.0000.trace.zip`]
    assert.deepStrictEqual(await listInputs(top), expected)
    assert.deepStrictEqual(await listInputs(`${top}/`), expected)
    assert.deepStrictEqual(await listInputs(trace), expected)
    assert.deepStrictEqual(await listInputs(raw), expected)
  })

  it("a windowed trace reads trace/window.0000", async () => {
    const top = mkdir(join(root, "windowed.dir"))
    const w0 = mkdir(join(top, "trace", "window.0000"))
    mkdir(join(top, "trace", "window.0001"))
    touch(join(w0, "t.trace.zip"))
    touch(join(top, "trace", "window.0001", "u.trace.zip"))
    assert.deepStrictEqual(await listInputs(top), [`${w0}/t.trace.zip`])
  })

  it("raw tracer output without a converted trace is RawTraceNeedsConversion", async () => {
    const top = mkdir(join(root, "drmemtrace.raw.1.0001.dir"))
    const raw = mkdir(join(top, "raw"))
    touch(join(raw, "drmemtrace.raw.1.0000.raw.lz4"))
    for (const given of [top, raw]) {
      const error = await rejection(listInputs(given))
      assert.strictEqual(error.reason, "RawTraceNeedsConversion")
      assert.strictEqual(error.path, given)
      assert.match(error.detail, /raw2trace/)
    }
    // An empty trace/ (or one holding only schedule files) counts as not converted, as in DynamoRIO.
    const trace = mkdir(join(top, "trace"))
    touch(join(trace, "serial_schedule.bin.gz"))
    assert.strictEqual((await rejection(listInputs(top))).reason, "RawTraceNeedsConversion")
  })

  it("an empty directory, or one holding only auxiliary files, is EmptyDirectory", async () => {
    const empty = mkdir(join(root, "empty"))
    const error = await rejection(listInputs(empty))
    assert.strictEqual(error.reason, "EmptyDirectory")
    assert.strictEqual(error.path, empty)
    const auxOnly = mkdir(join(root, "auxonly"))
    touch(join(auxOnly, "modules.log"))
    mkdir(join(auxOnly, "sub"))
    assert.strictEqual((await rejection(listInputs(auxOnly))).reason, "EmptyDirectory")
  })

  it("a file name that is not valid UTF-8 is an IoError naming its bytes, not a missing file", async () => {
    const dir = mkdir(join(root, "latin1"))
    touch(join(dir, "a.trace.zip"))
    // "é" in Latin-1: a byte that is no UTF-8 sequence. A subdirectory so named is skipped, as any.
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9]), Buffer.from(".trace.zip")]), "x")
    const error = await rejection(listInputs(dir))
    assert.strictEqual(error.reason, "IoError")
    assert.strictEqual(error.path, dir)
    assert.match(error.detail, /not valid UTF-8 \(bytes 636166e92e74726163652e7a6970\)/)
    const sub = mkdir(join(root, "latin1dir"))
    touch(join(sub, "a.trace.zip"))
    mkdirSync(Buffer.concat([Buffer.from(`${sub}/d`), Buffer.from([0xe9])]))
    assert.deepStrictEqual(await listInputs(sub), [join(sub, "a.trace.zip")])
  })

  it("a missing path is NotFound", async () => {
    const error = await rejection(listInputs(join(root, "missing")))
    assert.strictEqual(error.reason, "NotFound")
    assert.strictEqual(error.path, join(root, "missing"))
  })
})
