import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Registry from "../../src/tools/Registry.ts"
import * as Filter from "../../src/trace/Filter.ts"
import { listInputs } from "../../src/trace/internal/listing.ts"
import { openSource } from "../../src/trace/internal/source.ts"
import { FileType, isInstr, MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Trace from "../../src/trace/Trace.ts"

const TRACES = "../shared/traces"
const THREADSIG = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
const T872905 = `${THREADSIG}/drmemtrace.threadsig.872905.5783.trace.zip`
const T872901 = `${THREADSIG}/drmemtrace.threadsig.872901.9125.trace.zip`
const ALLASM = `${TRACES}/drmemtrace.allasm_x86_64.trace.zip`
const SMALL = `${TRACES}/drmemtrace.small.x64.trace`

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "memtrace-filter-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** The decompressed entries of a file (all zip members concatenated). */
const rawBytes = (path: string) =>
  Effect.promise(async () => {
    const source = await openSource(path)
    const pieces: Array<Uint8Array> = []
    for (let c = await source.pull(); c !== undefined; c = await source.pull()) pieces.push(new Uint8Array(c.bytes))
    return new Uint8Array(Buffer.concat(pieces))
  })

interface Rec {
  readonly type: number
  readonly size: number
  readonly addr: bigint
  readonly tid: number
  readonly flags: number
}

/** Every decoded record of a file, as the reader delivers them. */
const records = (path: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const input = yield* Trace.openFile(path)
      const out: Array<Rec> = []
      for (let b = yield* input.next; b !== undefined; b = yield* input.next) {
        for (let i = 0; i < RecordBatch.length(b); i++) {
          out.push({
            type: b.type[i]!,
            size: b.size[i]!,
            addr: RecordBatch.addrBig(b, i),
            tid: b.tid[i]!,
            flags: b.flags[i]! & RecordBatch.FLAG_ENCODING_IS_NEW
          })
        }
      }
      return { info: input.info, records: out }
    })
  )

const isMarkerOf = (r: Rec, m: number) => r.type === TraceType.MARKER && r.size === m
const instrs = (rs: ReadonlyArray<Rec>) => rs.filter((r) => isInstr(r.type))

const toolText = (path: string, tool: string) =>
  Effect.gen(function* () {
    const t = yield* Registry.make(tool)
    const r = yield* Analyzer.run(path, { tools: [t], mode: "thread-sharded", jobs: 1 })
    return r.tools[0]!.text
  })

const PASSED = "Trace invariant checks passed\n"

describe("Filter", () => {
  describe("with no operation", () => {
    it.effect(
      "threadsig (2 threads), allasm (7 chunks) and small (raw, legacy): same entries, records, basic_counts",
      () =>
        Effect.gen(function* () {
          const dir = yield* tempDir
          const s = yield* Filter.run(THREADSIG, join(dir, "t"), { onlyThreads: [872905, 872901] })
          assert.deepStrictEqual(s.files.map((f) => basename(f.path)).sort(), [basename(T872901), basename(T872905)])
          assert.strictEqual(s.skipped.length, 7)
          yield* Filter.run(ALLASM, join(dir, "a"))
          yield* Filter.run(SMALL, join(dir, "s"))
          for (const [src, out] of [
            [T872905, join(dir, "t", basename(T872905))],
            [T872901, join(dir, "t", basename(T872901))],
            [ALLASM, join(dir, "a", basename(ALLASM))],
            [SMALL, join(dir, "s", basename(SMALL))]
          ] as const) {
            // Same chunk size: the writer re-chunks exactly as DynamoRIO did, entry for entry.
            assert.deepStrictEqual(yield* rawBytes(out), yield* rawBytes(src), src)
            assert.deepStrictEqual((yield* records(out)).records, (yield* records(src)).records, src)
            assert.strictEqual(yield* toolText(out, "basic_counts"), yield* toolText(src, "basic_counts"), src)
            // small (legacy version 1) lacks the cache line and page size markers: the checker says so for both.
            assert.strictEqual(
              yield* toolText(out, "invariant_checker"),
              yield* toolText(src, "invariant_checker"),
              src
            )
          }
        })
    )
  })

  it.effect("onlyThreads keeps exactly those threads; an unknown thread is an error", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Filter.run(THREADSIG, dir, { onlyThreads: [872905], format: "gz" })
      const files = readdirSync(dir)
      assert.deepStrictEqual(files, ["drmemtrace.threadsig.872905.5783.trace.gz"])
      const { records: rs } = yield* records(join(dir, files[0]!))
      assert.isTrue(rs.every((r) => r.tid === 872905))
      const e = yield* Effect.exit(Filter.run(THREADSIG, join(dir, "none"), { onlyThreads: [1] }))
      assert.isTrue(Exit.isFailure(e) && JSON.stringify(e.cause).includes("NoMatchingThreads"))
    })
  )

  describe("instruction trim", () => {
    it.effect("keeps exactly the window's instructions, the first one first, after the header and the last time", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const { info, records: src } = yield* records(T872905)
        const B = 1000
        const A = 3500
        yield* Filter.run(T872905, dir, { trimBeforeInstr: B, trimAfterInstr: A })
        const out = yield* records(join(dir, basename(T872905)))
        const kept = instrs(out.records)
        const all = instrs(src)
        assert.strictEqual(kept.length, A - B)
        assert.deepStrictEqual(
          kept.map((r) => r.addr),
          all.slice(B, A).map((r) => r.addr)
        )
        assert.deepStrictEqual(out.info.version, info.version)
        assert.deepStrictEqual(out.info.filetype, info.filetype)
        // The header markers are kept, in order, up to the first time stamp.
        const headerEnd = src.findIndex((r) => isMarkerOf(r, MarkerType.TIMESTAMP))
        assert.deepStrictEqual(out.records.slice(0, headerEnd), src.slice(0, headerEnd))
        // Then the time and cpu in force at instruction B, then records of the window.
        const firstKept = out.records.findIndex((r) => isInstr(r.type))
        const srcB = src.indexOf(all[B]!)
        const lastTs = src.slice(0, srcB).findLast((r) => isMarkerOf(r, MarkerType.TIMESTAMP))!
        const lastCpu = src.slice(0, srcB).findLast((r) => isMarkerOf(r, MarkerType.CPU_ID))!
        const cut = out.records.slice(headerEnd)
        assert.deepStrictEqual(cut[0]!.addr, lastTs.addr)
        assert.isTrue(isMarkerOf(cut[0]!, MarkerType.TIMESTAMP))
        assert.isTrue(isMarkerOf(cut[1]!, MarkerType.CPU_ID) && cut[1]!.addr === lastCpu.addr)
        // The instruction B came with its encoding (its PC's first instance in the output).
        assert.strictEqual(out.records[firstKept]!.flags, RecordBatch.FLAG_ENCODING_IS_NEW)
        // Every data record between kept instructions is the source's, in order.
        const srcA = src.indexOf(all[A]!)
        const window = src.slice(srcB, srcA).filter((r) => r.type !== TraceType.MARKER)
        const outWindow = out.records.slice(firstKept).filter((r) => r.type !== TraceType.MARKER)
        assert.deepStrictEqual(
          outWindow.slice(0, -1).map((r) => [r.type, r.addr]),
          window.map((r) => [r.type, r.addr])
        )
        assert.strictEqual(out.records.at(-1)!.type, TraceType.THREAD_EXIT)
        // The checker passes with no option: every PC has its encoding, the thread exits.
        assert.strictEqual(yield* toolText(join(dir, basename(T872905)), "invariant_checker"), PASSED)
      })
    )

    it.effect("on allasm (chunked by 20), across chunk boundaries, into every format", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const all = instrs((yield* records(ALLASM)).records)
        for (const format of ["zip", "gz", "zst", "raw"] as const) {
          const s = yield* Filter.run(ALLASM, join(dir, format), {
            trimBeforeInstr: 17,
            trimAfterInstr: 95,
            format,
            ...(format === "zip" ? { chunkInstrCount: 10 } : {})
          })
          const out = s.files[0]!.path
          const kept = instrs((yield* records(out)).records)
          assert.deepStrictEqual(
            kept.map((r) => r.addr),
            all.slice(17, 95).map((r) => r.addr),
            format
          )
          assert.strictEqual(yield* toolText(out, "invariant_checker"), PASSED, format)
        }
      })
    )
  })

  it.effect("timestamp trim keeps only the stretches whose time stamps are in the window", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const { records: src } = yield* records(T872905)
      const stamps = src.filter((r) => isMarkerOf(r, MarkerType.TIMESTAMP)).map((r) => r.addr)
      const before = stamps[3]!
      const after = stamps[stamps.length - 4]!
      yield* Filter.run(T872905, dir, { trimBeforeTimestamp: before, trimAfterTimestamp: after })
      const { records: out } = yield* records(join(dir, basename(T872905)))
      const headerEnd = src.findIndex((r) => isMarkerOf(r, MarkerType.TIMESTAMP))
      assert.deepStrictEqual(out.slice(0, headerEnd), src.slice(0, headerEnd))
      // The model: from the first stamp ≥ before, up to (not including) the first stamp > after, then the exit.
      const from = src.findIndex((r) => isMarkerOf(r, MarkerType.TIMESTAMP) && r.addr >= before)
      const to = src.findIndex((r) => isMarkerOf(r, MarkerType.TIMESTAMP) && r.addr > after)
      const expected = [...src.slice(0, headerEnd), ...src.slice(from, to), src.at(-1)!].filter(
        (r) => !isMarkerOf(r, MarkerType.CHUNK_FOOTER)
      )
      const strip = (rs: ReadonlyArray<Rec>) => rs.map((r) => ({ ...r, flags: 0 }))
      assert.deepStrictEqual(strip(out), strip(expected))
      const stampsOut = out.filter((r) => isMarkerOf(r, MarkerType.TIMESTAMP)).map((r) => r.addr)
      assert.isTrue(stampsOut.every((t) => t >= before && t <= after))
      assert.strictEqual(yield* toolText(join(dir, basename(T872905)), "invariant_checker"), PASSED)
    })
  )

  it.effect("dropEncodings: no encoding_is_new, no ENCODINGS file type bit, the same instructions", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const src = yield* records(T872901)
      assert.notStrictEqual(src.info.filetype & FileType.ENCODINGS, 0)
      yield* Filter.run(T872901, dir, { dropEncodings: true, format: "gz" })
      const path = join(dir, "drmemtrace.threadsig.872901.9125.trace.gz")
      const out = yield* records(path)
      assert.strictEqual(out.info.filetype, src.info.filetype & ~FileType.ENCODINGS)
      assert.isTrue(out.records.every((r) => r.flags === 0))
      const bytes = yield* rawBytes(path)
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
      for (let o = 0; o < bytes.length; o += 12) assert.notStrictEqual(view.getUint16(o, true), TraceType.ENCODING)
      const strip = (rs: ReadonlyArray<Rec>) =>
        rs.filter((r) => !isMarkerOf(r, MarkerType.CHUNK_FOOTER) && !isMarkerOf(r, MarkerType.FILETYPE))
      assert.deepStrictEqual(
        strip(out.records),
        strip(src.records).map((r) => ({ ...r, flags: 0 }))
      )
      assert.strictEqual(yield* toolText(path, "invariant_checker"), PASSED)
    })
  )

  it.effect("format conversion round-trips: zip → gz → zst → raw → zip gives the original entries", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Filter.run(ALLASM, join(dir, "1"), { format: "gz" })
      yield* Filter.run(join(dir, "1"), join(dir, "2"), { format: "zst" })
      yield* Filter.run(join(dir, "2"), join(dir, "3"), { format: "raw" })
      const s = yield* Filter.run(join(dir, "3"), join(dir, "4"), { format: "zip" })
      assert.deepStrictEqual(readdirSync(join(dir, "3")), ["drmemtrace.allasm_x86_64.trace"])
      assert.deepStrictEqual(yield* rawBytes(s.files[0]!.path), yield* rawBytes(ALLASM))
      // The intermediate (unchunked) copies read as the original minus its chunk footers.
      const strip = (rs: ReadonlyArray<Rec>) => rs.filter((r) => !isMarkerOf(r, MarkerType.CHUNK_FOOTER))
      const gz = yield* records(join(dir, "1", "drmemtrace.allasm_x86_64.trace.gz"))
      const orig = yield* records(ALLASM)
      assert.deepStrictEqual(
        gz.records.map((r) => [r.type, r.size, r.addr]),
        strip(orig.records).map((r) => [r.type, r.size, r.addr])
      )
      assert.strictEqual(yield* toolText(join(dir, "3", "drmemtrace.allasm_x86_64.trace"), "invariant_checker"), PASSED)
    })
  )

  describe("failures", () => {
    it.effect("a corrupt input leaves no output file under the final name", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const bytes = yield* rawBytes(SMALL)
        const bad = new Uint8Array(bytes)
        new DataView(bad.buffer).setUint16(12 * 40, 77, true)
        writeFileSync(join(dir, "bad.trace"), bad)
        const e = yield* Effect.exit(Filter.run(join(dir, "bad.trace"), join(dir, "out"), { format: "zip" }))
        assert.isTrue(Exit.isFailure(e) && JSON.stringify(e.cause).includes("UnknownEntryType"))
        assert.deepStrictEqual(readdirSync(join(dir, "out")), [])
        // A corrupt zip member (the fifth of seven) fails in the container after output began.
        const zip = new Uint8Array(readFileSync(ALLASM))
        zip[1000]! ^= 0x55
        writeFileSync(join(dir, "bad.trace.zip"), zip)
        const e2 = yield* Effect.exit(Filter.run(join(dir, "bad.trace.zip"), join(dir, "out2"), { format: "gz" }))
        assert.isTrue(Exit.isFailure(e2) && JSON.stringify(e2.cause).includes("Corrupt"))
        assert.deepStrictEqual(readdirSync(join(dir, "out2")), [])
      })
    )

    it.effect("refuses contradicting options and overwriting its input", () =>
      Effect.gen(function* () {
        const reasons: Array<string> = []
        for (const options of [
          { trimBeforeInstr: 5, trimAfterTimestamp: 10n },
          { trimBeforeInstr: 5, trimAfterInstr: 5 },
          { trimBeforeTimestamp: 9n, trimAfterTimestamp: 3n },
          { chunkInstrCount: 10, format: "gz" as const },
          { trimAfterInstr: -1 }
        ]) {
          const e = yield* Effect.flip(Filter.run(ALLASM, "/nonexistent/never", options))
          reasons.push(e._tag === "FilterError" ? e.reason : e._tag)
        }
        assert.deepStrictEqual(reasons, Array(5).fill("InvalidOptions"))
        const e = yield* Effect.flip(Filter.run(ALLASM, TRACES))
        assert.strictEqual(e._tag === "FilterError" ? e.reason : e._tag, "WouldOverwriteInput")
      })
    )

    it.effect("an output without instructions is not written, as DynamoRIO's record_filter deletes it", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        // Thread 872905 has the most instructions of threadsig; every other thread ends before 100,000.
        const s = yield* Filter.run(THREADSIG, dir, { trimBeforeInstr: 100_000 })
        const counts = yield* Effect.forEach(yield* Effect.promise(() => listInputs(THREADSIG)), (f) =>
          Effect.map(records(f), (r) => [f, r.records.filter((x) => isInstr(x.type)).length] as const)
        )
        const longer = counts.filter(([, n]) => n > 100_000).map(([f]) => basename(f))
        assert.isAbove(longer.length, 0)
        assert.isAbove(s.dropped.length, 0)
        assert.deepStrictEqual(readdirSync(dir).sort(), [...longer].sort())
        assert.deepStrictEqual(s.files.map((f) => basename(f.path)).sort(), [...longer].sort())
        assert.strictEqual(s.dropped.length + s.files.length, s.inputs)
        assert.strictEqual(yield* toolText(dir, "invariant_checker"), PASSED)
      })
    )

    it.effect("an empty input or one of an unsupported version is an error, not a copy", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        writeFileSync(join(dir, "empty.trace"), new Uint8Array(0))
        const empty = yield* Effect.flip(Filter.run(join(dir, "empty.trace"), join(dir, "out")))
        assert.strictEqual(empty._tag === "TraceError" ? empty.reason : empty._tag, "NotATrace")
        const bytes = new Uint8Array(yield* rawBytes(SMALL))
        new DataView(bytes.buffer).setUint32(4, 99, true) // the HEADER's version
        writeFileSync(join(dir, "v99.trace"), bytes)
        const v99 = yield* Effect.flip(Filter.run(join(dir, "v99.trace"), join(dir, "out")))
        assert.strictEqual(v99._tag === "TraceError" ? v99.reason : v99._tag, "UnsupportedVersion")
        assert.deepStrictEqual(readdirSync(join(dir, "out")), [])
      })
    )

    it.effect(
      "two inputs that would share an output name, or an output over an input through a link, are refused",
      () =>
        Effect.gen(function* () {
          const dir = yield* tempDir
          const inputs = join(dir, "in")
          yield* Effect.sync(() => {
            spawnSync("mkdir", ["-p", inputs])
            writeFileSync(join(inputs, "x.trace"), readFileSync(SMALL))
            writeFileSync(join(inputs, "x.trace.zip"), readFileSync(ALLASM))
          })
          const taken = yield* Effect.flip(Filter.run(inputs, join(dir, "out"), { format: "zip" }))
          assert.strictEqual(taken._tag === "FilterError" ? taken.reason : taken._tag, "OutputNameTaken")
          const before = readFileSync(join(inputs, "x.trace.zip"))
          spawnSync("ln", ["-s", inputs, join(dir, "alias")])
          const linked = yield* Effect.flip(
            Filter.run(join(inputs, "x.trace.zip"), join(dir, "alias"), { trimAfterInstr: 5 })
          )
          assert.strictEqual(linked._tag === "FilterError" ? linked.reason : linked._tag, "WouldOverwriteInput")
          assert.isTrue(readFileSync(join(inputs, "x.trace.zip")).equals(before))
        })
    )

    it.effect("a chunk size for an input written as gzip, and no matching thread, leave nothing behind", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* Filter.run(SMALL, join(dir, "gz"), { format: "gz" })
        const e = yield* Effect.flip(Filter.run(join(dir, "gz"), join(dir, "out"), { chunkInstrCount: 5 }))
        assert.isTrue(e._tag === "FilterError" && e.reason === "InvalidOptions" && e.option === "chunkInstrCount")
        const none = yield* Effect.flip(Filter.run(THREADSIG, join(dir, "none", "deeper"), { onlyThreads: [1] }))
        assert.strictEqual(none._tag === "FilterError" ? none.reason : none._tag, "NoMatchingThreads")
        assert.isFalse(readdirSync(dir).includes("none"))
      })
    )
  })

  describe("CLI", () => {
    const memtrace = (args: ReadonlyArray<string>) =>
      spawnSync("npx", ["node", "src/cli/main.ts", ...args], { encoding: "utf8", timeout: 60_000 })

    it.live("an output directory that cannot be made is a typed error, not a hang (/proc)", () =>
      Effect.gen(function* () {
        const e = yield* Effect.flip(Filter.run(SMALL, "/proc/memtrace-no-such/out")).pipe(
          Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.die("Filter.run did not settle") })
        )
        assert.strictEqual(e._tag, "TraceWriterError")
        assert.include(e.message, "/proc/memtrace-no-such")
      })
    )

    it.effect("memtrace filter trims and converts; bad options exit 2; memtrace replicate copies", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const ok = memtrace([
          "filter",
          "--infile",
          ALLASM,
          "--out",
          join(dir, "f"),
          "--trim-before-instr",
          "10",
          "--trim-after-instr",
          "30",
          "--format",
          "gz"
        ])
        assert.strictEqual(ok.status, 0, ok.stderr)
        const out = join(dir, "f", "drmemtrace.allasm_x86_64.trace.gz")
        assert.strictEqual(instrs((yield* records(out)).records).length, 20)
        const bad = memtrace(["filter", "--infile", ALLASM, "--out", join(dir, "g"), "--trim-after-instr", "x"])
        assert.strictEqual(bad.status, 2, bad.stderr)
        // Options that contradict each other are named as the flags the user typed.
        const conflict = memtrace([
          "filter",
          "--infile",
          ALLASM,
          "--out",
          join(dir, "h"),
          "--trim-before-instr",
          "30",
          "--trim-after-instr",
          "10"
        ])
        assert.strictEqual(conflict.status, 2)
        assert.strictEqual(
          conflict.stderr,
          "ERROR: Usage error: --trim-after-instr 10 must be greater than --trim-before-instr 30\n"
        )
        const rep = memtrace(["replicate", THREADSIG, join(dir, "r"), "--copies", "2"])
        assert.strictEqual(rep.status, 0, rep.stderr)
        assert.strictEqual((yield* Effect.promise(() => listInputs(join(dir, "r")))).length, 18)
      })
    )
  })
})
