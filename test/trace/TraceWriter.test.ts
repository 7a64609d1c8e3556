import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { listInputs } from "../../src/trace/internal/listing.ts"
import { openSource } from "../../src/trace/internal/source.ts"
import { replicaName } from "../../src/trace/internal/writer/replicate.ts"
import { FileEntrySink } from "../../src/trace/internal/writer/sink.ts"
import { FileType, isAnyInstr, isInstr, MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import * as TraceWriter from "../../src/trace/TraceWriter.ts"

const TRACES = "../shared/traces"
const THREADSIG = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
const THREAD_872905 = `${THREADSIG}/drmemtrace.threadsig.872905.5783.trace.zip`
const ALLASM = `${TRACES}/drmemtrace.allasm_x86_64.trace.zip`

/** Every trace file shipped in ../shared/traces (the schedule and template files aside). */
const shippedInputs = async (): Promise<Array<string>> => [
  ...(await listInputs(THREADSIG)),
  ...(await listInputs(`${TRACES}/drmemtrace.threadsig-core-sharded.x64.tracedir`)),
  ...(await listInputs(`${TRACES}/drmemtrace.chase-snappy.x64.tracedir`)),
  `${TRACES}/drmemtrace.small.x64.trace`,
  ALLASM
]

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "memtrace-writer-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

interface RawTrace {
  /** All entries, components concatenated. */
  readonly bytes: Uint8Array
  /** The entries of each zip member (one element for other containers). */
  readonly components: ReadonlyArray<{ readonly name: string | undefined; readonly bytes: Uint8Array }>
}

/** The decompressed entries of a trace file, through the reader's own byte source. */
const rawEntries = (path: string) =>
  Effect.promise(async (): Promise<RawTrace> => {
    const source = await openSource(path)
    const parts = new Map<number, { name: string | undefined; pieces: Array<Uint8Array> }>()
    for (let c = await source.pull(); c !== undefined; c = await source.pull()) {
      const part = parts.get(c.componentIndex) ?? { name: c.component, pieces: [] }
      part.pieces.push(new Uint8Array(c.bytes))
      parts.set(c.componentIndex, part)
    }
    const components = [...parts.values()].map((p) => ({
      name: p.name,
      bytes: new Uint8Array(Buffer.concat(p.pieces))
    }))
    return { bytes: new Uint8Array(Buffer.concat(components.map((c) => c.bytes))), components }
  })

interface Entry3 {
  readonly type: number
  readonly size: number
  readonly addr: bigint
}

const entriesOf = (bytes: Uint8Array): Array<Entry3> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  const out: Array<Entry3> = []
  for (let o = 0; o + 12 <= bytes.length; o += 12) {
    out.push({ type: view.getUint16(o, true), size: view.getUint16(o + 2, true), addr: view.getBigUint64(o + 4, true) })
  }
  return out
}

/** Every field of every record, flattened for comparison (encodings included when kept). */
interface Flat {
  readonly n: number
  readonly type: Uint8Array
  readonly size: Uint16Array
  readonly addrLo: Uint32Array
  readonly addrHi: Uint32Array
  readonly auxLo: Uint32Array
  readonly auxHi: Uint32Array
  readonly tid: Float64Array
  readonly pid: Float64Array
  readonly flags: Uint8Array
  readonly enc: Uint8Array
}

const flatten = (batches: ReadonlyArray<RecordBatch.RecordBatch>): Flat => {
  const n = batches.reduce((a, b) => a + RecordBatch.length(b), 0)
  const f: Flat = {
    n,
    type: new Uint8Array(n),
    size: new Uint16Array(n),
    addrLo: new Uint32Array(n),
    addrHi: new Uint32Array(n),
    auxLo: new Uint32Array(n),
    auxHi: new Uint32Array(n),
    tid: new Float64Array(n),
    pid: new Float64Array(n),
    flags: new Uint8Array(n),
    enc: new Uint8Array(n * 16)
  }
  let k = 0
  for (const b of batches) {
    const len = RecordBatch.length(b)
    f.type.set(b.type.subarray(0, len), k)
    f.size.set(b.size.subarray(0, len), k)
    f.addrLo.set(b.addrLo.subarray(0, len), k)
    f.addrHi.set(b.addrHi.subarray(0, len), k)
    f.auxLo.set(b.auxLo.subarray(0, len), k)
    f.auxHi.set(b.auxHi.subarray(0, len), k)
    f.tid.set(b.tid.subarray(0, len), k)
    f.pid.set(b.pid.subarray(0, len), k)
    f.flags.set(b.flags.subarray(0, len), k)
    if (b.enc.length >= len * 16) f.enc.set(b.enc.subarray(0, len * 16), k * 16)
    k += len
  }
  return f
}

const FIELDS = ["type", "size", "addrLo", "addrHi", "auxLo", "auxHi", "tid", "pid", "flags"] as const

const describeRecord = (f: Flat, i: number) =>
  `#${i}: ${FIELDS.map((k) => `${k}=${f[k][i]}`).join(" ")} enc=${Array.from(f.enc.subarray(i * 16, i * 16 + 16))}`

/** Asserts two record streams are identical in every field, naming the first difference. */
const assertSameRecords = (actual: Flat, expected: Flat, what: string) => {
  assert.strictEqual(actual.n, expected.n, `${what}: record count`)
  for (const k of FIELDS) {
    const a = actual[k]
    const e = expected[k]
    for (let i = 0; i < e.length; i++) {
      if (a[i] !== e[i])
        assert.fail(`${what}: ${k} differs at ${describeRecord(actual, i)} vs ${describeRecord(expected, i)}`)
    }
  }
  for (let i = 0; i < expected.n; i++) {
    if ((expected.flags[i]! & RecordBatch.FLAG_HAS_ENCODING) === 0) continue
    if (!sameEncoding(actual, i, expected, i)) assert.fail(`${what}: encoding differs at record ${i}`)
  }
}

/** The encoding bytes of two records (length at byte 15, then that many bytes; the rest is not meaningful). */
const encodingOf = (f: Flat, i: number) => Array.from(f.enc.subarray(i * 16, i * 16 + f.enc[i * 16 + 15]!))
const sameEncoding = (a: Flat, i: number, b: Flat, j: number) =>
  a.enc[i * 16 + 15] === b.enc[j * 16 + 15] && encodingOf(a, i).every((v, k) => v === b.enc[j * 16 + k])

/** The records of one file (with their encodings unless `encodings` is false). */
const recordsOf = (path: string, encodings: boolean = true) =>
  Effect.scoped(
    Effect.gen(function* () {
      const input = yield* Trace.openFile(path, 0, { encodings })
      return flatten(yield* Trace.readAll(input))
    })
  )

/** Copies a file's raw entries into a new file through an EntrySink, in source-sized pieces. */
const copyEntries = (from: string, to: string, options?: TraceWriter.Options) =>
  Effect.gen(function* () {
    const raw = yield* rawEntries(from)
    const summary = yield* Effect.scoped(
      Effect.gen(function* () {
        const sink = yield* TraceWriter.make(to, options)
        const step = 12 * 5000
        for (let o = 0; o < raw.bytes.length; o += step) {
          if (!sink.writeBytes(raw.bytes.subarray(o, Math.min(raw.bytes.length, o + step)))) yield* sink.drain
        }
        return yield* sink.close
      })
    )
    return { raw, summary }
  })

const files = (dir: string) => readdirSync(dir).sort()

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0

describe("TraceWriter", () => {
  describe("synthetic round trips", () => {
    const body = [
      S.marker(MarkerType.CACHE_LINE_SIZE, 64),
      S.marker(MarkerType.PAGE_SIZE, 4096),
      S.timestamp(13386385969186755n),
      S.cpu(3),
      S.encoding([0x48, 0x89, 0xe5]),
      S.instr(0x401000, TraceType.INSTR, 3),
      S.read(0x7ffe0010, 8),
      S.instr(0xffffffff81000123n, TraceType.INSTR, 1),
      S.write(0xfffffffffffffff8n, 4),
      S.marker(MarkerType.SYSCALL, 231),
      S.exit(77)
    ]
    const entries = S.thread(77, body, { pid: 70, filetype: FileType.ARCH_X86_64 | FileType.ENCODINGS })

    for (const ext of [".zip", ".gz", ".zst", ""]) {
      it.effect(
        `${ext || "uncompressed"}: the file holds exactly the entries written and reads back to the same records`,
        () =>
          Effect.gen(function* () {
            const dir = yield* tempDir
            const path = join(dir, `drmemtrace.synth.77.0001.trace${ext}`)
            const summary = yield* TraceWriter.writeFile(path, entries)
            assert.strictEqual(summary.entriesIn, entries.length)
            assert.strictEqual(summary.entriesOut, entries.length)
            assert.deepStrictEqual(summary.components, ext === ".zip" ? ["chunk.00000000"] : [])
            const raw = yield* rawEntries(path)
            assert.isTrue(sameBytes(raw.bytes, S.encode(entries)))
            const expected = flatten(Trace.decodeSync(S.encode(entries), { encodings: true }))
            assertSameRecords(yield* recordsOf(path), expected, path)
            // Only the final file is left: the temporary was renamed.
            assert.deepStrictEqual(files(dir), [basename(path)])
          })
      )
    }

    it.effect("the zip passes an independent zip checker (python's zipfile CRC and structure test)", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = join(dir, "checked.trace.zip")
        const many = S.thread(5, [
          S.marker(MarkerType.CHUNK_INSTR_COUNT, 10),
          ...Array.from({ length: 95 }, (_, i) => S.instr(0x1000 + 4 * (i % 13), TraceType.INSTR, 4)),
          S.exit(5)
        ])
        const summary = yield* TraceWriter.writeFile(path, many)
        assert.strictEqual(summary.components.length, 10)
        const check = spawnSync("python3", ["-m", "zipfile", "-t", path], { encoding: "utf8" })
        assert.strictEqual(check.status, 0, check.stderr)
        assert.include(check.stdout, "Done testing")
        const list = spawnSync("python3", ["-m", "zipfile", "-l", path], { encoding: "utf8" })
        assert.deepStrictEqual(
          list.stdout
            .split("\n")
            .slice(1)
            .filter((l) => l.trim() !== "")
            .map((l) => l.split(/\s+/)[0]),
          Array.from({ length: 10 }, (_, i) => `chunk.${String(i).padStart(8, "0")}`)
        )
      })
    )
  })

  describe("makeRecordWriter on synthetic records", () => {
    it.effect("restores PC-only entries, flushes, branch targets, bundles, kernel addresses and thread switches", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const entries = [
          ...S.thread(
            11,
            [
              S.timestamp(100),
              S.cpu(2),
              // A filtered trace: a PC-only instruction entry (size 0) gives the next data record its PC.
              S.entry(TraceType.INSTR, 0, 0x5000),
              S.read(0x9000, 8),
              S.encoding([0xff, 0xe0]),
              S.marker(MarkerType.BRANCH_TARGET, 0x7000),
              S.instr(0x5004, TraceType.INSTR_INDIRECT_JUMP, 2),
              // A bundle: three instructions of lengths 2, 3, 4 after the one before it.
              S.instr(0x7000, TraceType.INSTR, 1),
              S.entry(TraceType.INSTR_BUNDLE, 3, 0x04_03_02),
              // A flush longer than the 16-bit size field (the record's size is clamped to 0xffff).
              S.entry(TraceType.INSTR_FLUSH, 0, 0x4000),
              S.entry(TraceType.INSTR_FLUSH_END, 0, 0x24000),
              S.entry(TraceType.DATA_FLUSH, 64, 0x8000),
              S.instr(0xffffffff81000000n, TraceType.INSTR, 5),
              S.write(0xffff880000001000n, 8),
              S.entry(TraceType.INSTR_MAYBE_FETCH, 5, 0xffffffff81000000n),
              // Another thread of another process in the same stream (as core-sharded files have).
              S.threadEntry(12),
              S.pid(13),
              S.instr(0x6000, TraceType.INSTR, 1),
              S.exit(12),
              S.threadEntry(11),
              S.exit(11)
            ],
            { pid: 10, version: 7, filetype: FileType.ARCH_X86_64 | FileType.ENCODINGS }
          )
        ]
        const original = Trace.decodeSync(S.encode(entries), { encodings: true })
        const out = join(dir, "records.trace")
        yield* Effect.scoped(
          Effect.gen(function* () {
            const writer = yield* TraceWriter.makeRecordWriter(out)
            for (const b of original) yield* writer.write(b)
            yield* writer.close
          })
        )
        const back = yield* recordsOf(out)
        assertSameRecords(back, flatten(original), "synthetic")
        // The re-encoded stream really has the hidden entries back.
        const es = entriesOf((yield* rawEntries(out)).bytes)
        const has = (type: number, size: number, addr: bigint) =>
          es.some((e) => e.type === type && e.size === size && e.addr === addr)
        assert.isTrue(has(TraceType.INSTR, 0, 0x5000n), "PC-only entry")
        assert.isTrue(has(TraceType.MARKER, MarkerType.BRANCH_TARGET, 0x7000n), "branch target")
        assert.isTrue(has(TraceType.ENCODING, 2, 0xe0ffn), "encoding")
        assert.isTrue(has(TraceType.INSTR_FLUSH_END, 0, 0x4000n + 0xffffn), "flush end, at the clamped length")
        assert.deepStrictEqual(es.at(-1), { type: TraceType.FOOTER, size: 0, addr: 0n })
      })
    )
  })

  describe("every shipped trace", () => {
    it.effect(
      "copied to a zip with its own chunk size, every file is entry-for-entry identical and reads back to the same records",
      () =>
        Effect.gen(function* () {
          const dir = yield* tempDir
          for (const source of yield* Effect.promise(shippedInputs)) {
            const out = join(dir, `${basename(source)}.copy.zip`)
            // Level 1 keeps this fast.
            const { raw, summary } = yield* copyEntries(source, out, { level: 1, durable: false })
            const back = yield* rawEntries(out)
            assert.strictEqual(summary.entriesOut, raw.bytes.length / 12, source)
            assert.isTrue(sameBytes(back.bytes, raw.bytes), `${source}: entries differ`)
            // A DynamoRIO zip comes back with the same members (legacy 4-digit names become 8-digit ones).
            if (source.endsWith(".zip")) {
              assert.deepStrictEqual(
                back.components.map((c) => c.bytes.length),
                raw.components.map((c) => c.bytes.length),
                source
              )
            }
            assertSameRecords(yield* recordsOf(out, false), yield* recordsOf(source, false), source)
          }
        })
    )

    it.effect("decoded records written back through makeRecordWriter read back identical in every field", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        // One of each kind: per-thread v7 with encodings, core-sharded with idle markers and thread
        // switches, legacy v1 snappy, legacy v1 uncompressed, v6 in 20-instruction chunks.
        // (The legacy traces have no encodings: decoded without keeping them, which is faster.)
        const sources: ReadonlyArray<readonly [string, boolean]> = [
          [THREAD_872905, true],
          [`${TRACES}/drmemtrace.threadsig-core-sharded.x64.tracedir/drmemtrace.core.000003.trace.zip`, true],
          [`${TRACES}/drmemtrace.chase-snappy.x64.tracedir/chase.20190225.185346.23699.memtrace.sz`, false],
          [`${TRACES}/drmemtrace.small.x64.trace`, false],
          [ALLASM, true]
        ]
        for (const [source, encodings] of sources) {
          const original = yield* Effect.scoped(
            Effect.gen(function* () {
              const input = yield* Trace.openFile(source, 0, { encodings })
              return yield* Trace.readAll(input)
            })
          )
          const out = join(dir, `${basename(source)}.records.gz`)
          yield* Effect.scoped(
            Effect.gen(function* () {
              const writer = yield* TraceWriter.makeRecordWriter(out, { level: 1, durable: false })
              for (const b of original) yield* writer.write(b)
              yield* writer.close
            })
          )
          assertSameRecords(yield* recordsOf(out, encodings), flatten(original), source)
        }
      })
    )
  })

  describe("chunking", () => {
    /**
     * The record stream a chunked copy must read back as, built from the
     * original records alone: a CHUNK_FOOTER record (value = chunk index)
     * before the first instruction, TIMESTAMP or THREAD_EXIT once a chunk
     * holds `n` fetched instructions (and at the end if the last chunk is
     * full); CHUNK_INSTR_COUNT rewritten to `n`; `encoding_is_new` exactly on
     * the first instance of each PC in a chunk.
     */
    const expectedChunked = (original: Flat, n: number) => {
      const rows: Array<{ i: number; footer?: number; isNew?: boolean }> = []
      let inChunk = 0
      let chunk = 0
      let seen = new Set<string>()
      const footerBefore = (i: number) => {
        rows.push({ i, footer: chunk++ })
        inChunk = 0
        seen = new Set()
      }
      for (let i = 0; i < original.n; i++) {
        const t = original.type[i]!
        // The source's own chunk footers are replaced by the new ones.
        if (t === TraceType.MARKER && original.size[i] === MarkerType.CHUNK_FOOTER) continue
        const trigger =
          isAnyInstr(t) ||
          t === TraceType.THREAD_EXIT ||
          (t === TraceType.MARKER && original.size[i] === MarkerType.TIMESTAMP)
        if (inChunk >= n && trigger) footerBefore(i)
        if (isAnyInstr(t)) {
          const pc = `${original.addrHi[i]}:${original.addrLo[i]}`
          rows.push({ i, isNew: !seen.has(pc) })
          seen.add(pc)
          if (isInstr(t)) inChunk++
        } else rows.push({ i })
      }
      if (inChunk >= n) footerBefore(original.n)
      return { rows, chunks: chunk + 1 }
    }

    const checkChunked = (source: string, n: number) =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const out = join(dir, "chunked.trace.zip")
        const { raw: sourceRaw, summary } = yield* copyEntries(source, out, { chunkInstrCount: n, durable: false })
        const original = yield* recordsOf(source)
        const actual = yield* recordsOf(out)
        const { rows, chunks } = expectedChunked(original, n)
        assert.isAbove(chunks, 3, "the test needs several chunks")

        // The record stream, every field.
        assert.strictEqual(actual.n, rows.length)
        const footerOrdinals: Array<number> = []
        const mismatch = (k: number, what: string) =>
          assert.fail(`${source} record ${k}: ${what}: ${describeRecord(actual, k)}`)
        for (const [k, row] of rows.entries()) {
          if (row.footer !== undefined) {
            if (
              actual.type[k] !== TraceType.MARKER ||
              actual.size[k] !== MarkerType.CHUNK_FOOTER ||
              actual.addrLo[k] !== row.footer ||
              actual.addrHi[k] !== 0
            )
              mismatch(k, `expected CHUNK_FOOTER(${row.footer})`)
            footerOrdinals.push(k + 1)
            continue
          }
          const i = row.i
          for (const f of ["type", "size", "auxLo", "auxHi", "tid", "pid"] as const) {
            if (actual[f][k] !== original[f][i])
              mismatch(k, `${f} is not the original's ${describeRecord(original, i)}`)
          }
          const chunkCount = original.type[i] === TraceType.MARKER && original.size[i] === MarkerType.CHUNK_INSTR_COUNT
          if (
            actual.addrLo[k] !== (chunkCount ? n : original.addrLo[i]) ||
            actual.addrHi[k] !== (chunkCount ? 0 : original.addrHi[i])
          )
            mismatch(k, "addr")
          const flags = actual.flags[k]!
          if (row.isNew !== undefined) {
            if (((flags & RecordBatch.FLAG_ENCODING_IS_NEW) !== 0) !== row.isNew)
              mismatch(k, `encoding_is_new should be ${row.isNew}`)
            if (!sameEncoding(actual, k, original, i)) mismatch(k, "encoding bytes")
          } else if (flags !== original.flags[i]) mismatch(k, "flags")
        }
        assert.strictEqual(footerOrdinals.length, chunks - 1)

        // The members: chunk.NNNNNNNN, n instructions each but the last, footer last, chunk header first.
        const back = yield* rawEntries(out)
        assert.strictEqual(back.components.length, chunks)
        assert.deepStrictEqual(
          back.components.map((c) => c.name),
          [...summary.components]
        )
        let lastTs = 0n
        let lastCpu = 0n
        for (const [c, component] of back.components.entries()) {
          assert.strictEqual(component.name, `chunk.${String(c).padStart(8, "0")}`)
          const es = entriesOf(component.bytes)
          const instrs = es.filter((e) => isInstr(e.type) && e.size > 0).length
          if (c > 0) {
            assert.deepStrictEqual(es.slice(0, 3), [
              { type: TraceType.MARKER, size: MarkerType.RECORD_ORDINAL, addr: BigInt(footerOrdinals[c - 1]!) },
              { type: TraceType.MARKER, size: MarkerType.TIMESTAMP, addr: lastTs },
              { type: TraceType.MARKER, size: MarkerType.CPU_ID, addr: lastCpu }
            ])
          }
          if (c < chunks - 1) {
            assert.strictEqual(instrs, n, `chunk ${c} instructions`)
            assert.deepStrictEqual(es.at(-1), {
              type: TraceType.MARKER,
              size: MarkerType.CHUNK_FOOTER,
              addr: BigInt(c)
            })
          } else assert.isAtMost(instrs, n)
          for (const e of c > 0 ? es.slice(3) : es) {
            if (e.type !== TraceType.MARKER) continue
            if (e.size === MarkerType.TIMESTAMP) lastTs = e.addr
            if (e.size === MarkerType.CPU_ID) lastCpu = e.addr
          }
        }

        // Entry counts: apart from chunk artifacts and encodings, the entries are the source's, in order.
        const plain = (es: ReadonlyArray<Entry3>) => {
          const out: Array<Entry3> = []
          for (let i = 0; i < es.length; i++) {
            const e = es[i]!
            if (e.type === TraceType.ENCODING) continue
            if (e.type === TraceType.MARKER && e.size === MarkerType.CHUNK_FOOTER) continue
            if (e.type === TraceType.MARKER && e.size === MarkerType.RECORD_ORDINAL) {
              i += 2 // the repeated TIMESTAMP and CPU_ID
              continue
            }
            out.push(e.type === TraceType.MARKER && e.size === MarkerType.CHUNK_INSTR_COUNT ? { ...e, addr: 0n } : e)
          }
          return out
        }
        const a = plain(entriesOf(back.bytes))
        const e = plain(entriesOf(sourceRaw.bytes))
        assert.strictEqual(a.length, e.length, "entries other than chunk artifacts and encodings")
        assert.deepStrictEqual(a, e)
        assert.strictEqual(summary.entriesOut, back.bytes.length / 12)
      })

    it.effect(
      "threadsig thread 872905 at 1000 instructions a chunk: members, footers, record ordinals, encodings",
      () => checkChunked(THREAD_872905, 1000)
    )

    it.effect("allasm (already in 20-instruction chunks) rechunked at 7", () => checkChunked(ALLASM, 7))

    it.effect("a stream without a CHUNK_INSTR_COUNT marker is not chunked (readers would not hide the repeats)", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = join(dir, "legacy.trace.zip")
        const entries = S.thread(9, [...Array.from({ length: 50 }, (_, i) => S.instr(0x100 + i)), S.exit(9)], {
          version: 1
        })
        const summary = yield* TraceWriter.writeFile(path, entries, { chunkInstrCount: 10 })
        assert.deepStrictEqual(summary.components, ["chunk.00000000"])
        assert.isTrue(sameBytes((yield* rawEntries(path)).bytes, S.encode(entries)))
      })
    )

    it.effect("zip64 end records and central-directory offsets (used past 65,535 members or 4 GiB) read back", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = join(dir, "zip64.trace.zip")
        const entries = S.thread(3, [
          S.marker(MarkerType.CHUNK_INSTR_COUNT, 5),
          ...Array.from({ length: 42 }, (_, i) => S.instr(0x1000 + (i % 9))),
          S.exit(3)
        ])
        const summary = yield* Effect.promise(async () => {
          const sink = await FileEntrySink.open(path, { forceZip64: true, durable: false })
          sink.writeBytes(S.encode(entries))
          return sink.close()
        })
        assert.strictEqual(summary.components.length, 9)
        const check = spawnSync("python3", ["-m", "zipfile", "-t", path], { encoding: "utf8" })
        assert.strictEqual(check.status, 0, check.stderr)
        const back = yield* rawEntries(path)
        assert.deepStrictEqual(
          back.components.map((c) => c.name),
          [...summary.components]
        )
        const records = yield* recordsOf(path)
        let fetched = 0
        for (let i = 0; i < records.n; i++) if (isInstr(records.type[i]!)) fetched++
        assert.strictEqual(fetched, 42)
      })
    )
  })

  describe("failures leave nothing under the final name", () => {
    const body = Array.from({ length: 200_000 }, (_, i) => S.instr(0x1000 + (i % 97) * 4, TraceType.INSTR, 4))

    it.effect("a source that fails midway: the scope closes without close, the temporary is removed", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = join(dir, "partial.trace.zip")
        const result = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const sink = yield* TraceWriter.make(path)
              yield* TraceWriter.writeEntries(sink, S.thread(1, body).slice(0, 150_000))
              // The source breaks here, after several segments were already compressed and written.
              return yield* Effect.fail("source broke" as const)
            })
          )
        )
        assert.isTrue(Exit.isFailure(result))
        assert.deepStrictEqual(files(dir), [])
      })
    )

    it.effect("an interrupted write leaves no file", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = join(dir, "interrupted.trace.gz")
        const fiber = yield* Effect.forkChild(
          Effect.scoped(
            Effect.gen(function* () {
              const sink = yield* TraceWriter.make(path)
              yield* TraceWriter.writeEntries(sink, S.thread(1, body).slice(0, 100_000))
              return yield* Effect.never
            })
          )
        )
        // Wait until the temporary file exists, then interrupt.
        for (let i = 0; i < 1000 && files(dir).length === 0; i++)
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
        assert.strictEqual(files(dir).length, 1)
        assert.match(files(dir)[0]!, /^\.interrupted\.trace\.gz\.\d+\.[0-9a-f]+\.tmp$/)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(files(dir), [])
      })
    )

    it.effect("a stream the zip chunker refuses fails with InvalidStream at that entry, and no file appears", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = join(dir, "bad.trace.zip")
        // 16 encoding bytes for one instruction: more than x86's 15.
        const entries = S.thread(4, [
          S.encoding([1, 2, 3, 4, 5, 6, 7, 8]),
          S.encoding([1, 2, 3, 4, 5, 6, 7, 8]),
          S.instr(0x10, TraceType.INSTR, 16),
          S.exit(4)
        ])
        const e = yield* Effect.flip(TraceWriter.writeFile(path, entries))
        assert.strictEqual(e._tag, "TraceWriterError")
        assert.strictEqual(e.reason, "InvalidStream")
        assert.strictEqual(e.entry, 6)
        assert.include(e.detail, "longer than 15 bytes")
        assert.deepStrictEqual(files(dir), [])
      })
    )

    it.effect("a missing output directory fails with NotFound naming the final path", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = join(dir, "no-such-dir", "x.trace.zip")
        const e = yield* Effect.flip(TraceWriter.writeFile(path, S.thread(1, [S.exit(1)])))
        assert.strictEqual(e.reason, "NotFound")
        assert.strictEqual(e.path, path)
      })
    )
  })

  describe("replicate", () => {
    it.effect("threadsig × 2: 18 DynamoRIO-named files, 2 × the records, distinct tids, a pid per copy", () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const summary = yield* TraceWriter.replicate(THREADSIG, dir, 2, { level: 1, durable: false })
        assert.strictEqual(summary.inputs, 9)
        assert.strictEqual(summary.files.length, 18)
        const stride = TraceWriter.REPLICA_ID_STRIDE
        const originals = yield* Trace.open(THREADSIG)
        const copies = yield* Trace.open(dir)
        assert.strictEqual(copies.length, 18)
        const sourceTids = originals.map((i) => i.info.tid)
        const expectedNames = [0, 1].flatMap((k) =>
          originals.map((i) => basename(i.info.path).replace(`.${i.info.tid}.`, `.${i.info.tid + k * stride}.`))
        )
        assert.deepStrictEqual(files(dir), expectedNames.sort())
        const tids = copies.map((c) => c.info.tid)
        assert.strictEqual(new Set(tids).size, 18)
        const original = new Map<number, Flat>()
        for (const input of originals) original.set(input.info.tid, flatten(yield* Trace.readAll(input)))
        let total = 0
        for (const copy of copies) {
          const k = Math.floor(copy.info.tid / stride)
          const source = copy.info.tid - k * stride
          assert.include(sourceTids, source)
          assert.strictEqual(copy.info.pid, 872805 + k * stride)
          const records = flatten(yield* Trace.readAll(copy))
          const expected = original.get(source)!
          // Every record is the source's with the copy's tid and pid (THREAD_EXIT values included).
          const shifted: Flat = {
            ...expected,
            tid: expected.tid.map((t) => t + k * stride),
            pid: expected.pid.map((p) => p + k * stride),
            addrLo: expected.addrLo.map((v, i) => (expected.type[i] === TraceType.THREAD_EXIT ? v + k * stride : v))
          }
          assertSameRecords(records, shifted, copy.info.path)
          total += records.n
        }
        const originalTotal = [...original.values()].reduce((a, f) => a + f.n, 0)
        assert.strictEqual(total, 2 * originalTotal)
        assert.strictEqual(originalTotal, 928_110)
      })
    )

    it("names copies as DynamoRIO names thread files", () => {
      assert.strictEqual(
        replicaName("drmemtrace.threadsig.872905.5783.trace.zip", 872905 + 3 * 2 ** 22, 3),
        `drmemtrace.threadsig.${872905 + 3 * 2 ** 22}.5783.trace.zip`
      )
      assert.strictEqual(
        replicaName("drmemtrace.core.000002.trace.zip", 872884, 1),
        "drmemtrace.core.000002.872884.0001.trace.zip"
      )
      assert.strictEqual(
        replicaName("chase.20190225.185346.23699.memtrace.sz", 23699, 0),
        "drmemtrace.chase.20190225.185346.23699.23699.0000.trace.zip"
      )
    })

    it.effect(
      "offsets THREAD, THREAD_EXIT, PID, DIRECT_THREAD_SWITCH and SYSCALL_SCHEDULE ids per copy; 0 and -1 stay",
      () =>
        Effect.gen(function* () {
          const src = yield* tempDir
          const dst = yield* tempDir
          const body = [
            S.timestamp(1),
            S.instr(0x10),
            S.marker(MarkerType.DIRECT_THREAD_SWITCH, 21),
            S.marker(MarkerType.DIRECT_THREAD_SWITCH, 0),
            S.marker(MarkerType.SYSCALL_SCHEDULE, 22),
            S.marker(MarkerType.SYSCALL_UNSCHEDULE, 0),
            S.threadEntry(-1),
            S.pid(-1),
            S.marker(MarkerType.CORE_IDLE, 0),
            S.threadEntry(20),
            S.pid(7),
            S.exit(20)
          ]
          yield* TraceWriter.writeFile(join(src, "drmemtrace.app.20.0042.trace.zip"), S.thread(20, body, { pid: 7 }))
          const summary = yield* TraceWriter.replicate(src, dst, 3, { durable: false })
          const stride = 2 ** 22
          assert.deepStrictEqual(
            summary.files.map((f) => [basename(f.path), f.copy, f.tid]),
            [
              ["drmemtrace.app.20.0042.trace.zip", 0, 20],
              [`drmemtrace.app.${20 + stride}.0042.trace.zip`, 1, 20 + stride],
              [`drmemtrace.app.${20 + 2 * stride}.0042.trace.zip`, 2, 20 + 2 * stride]
            ]
          )
          const original = entriesOf(S.encode(S.thread(20, body, { pid: 7 })))
          for (const f of summary.files) {
            const offset = BigInt(f.copy * stride)
            const expected = original.map((e) => {
              const id =
                e.type === TraceType.THREAD ||
                e.type === TraceType.THREAD_EXIT ||
                e.type === TraceType.PID ||
                (e.type === TraceType.MARKER &&
                  (e.size === MarkerType.DIRECT_THREAD_SWITCH || e.size === MarkerType.SYSCALL_SCHEDULE))
              return id && e.addr !== 0n && e.addr !== 0xffffffffffffffffn ? { ...e, addr: e.addr + offset } : e
            })
            assert.deepStrictEqual(entriesOf((yield* rawEntries(f.path)).bytes), expected)
          }
        })
    )

    it.effect("refuses ids that the offset could make collide", () =>
      Effect.gen(function* () {
        const src = yield* tempDir
        const dst = yield* tempDir
        yield* TraceWriter.writeFile(
          join(src, "drmemtrace.app.5000000.0001.trace"),
          S.thread(5_000_000, [S.exit(5_000_000)])
        )
        const e = yield* Effect.flip(TraceWriter.replicate(src, dst, 2, { durable: false }))
        assert.strictEqual(e._tag, "TraceWriterError")
        assert.strictEqual(e.reason, "Replication")
        assert.include(e.detail, "5000000")
        // Copy 0 keeps the ids, so it is written; copy 1 is not.
        assert.deepStrictEqual(files(dst), ["drmemtrace.app.5000000.0001.trace.zip"])
      })
    )

    it.effect("a corrupt input fails the run; every file left is complete and no temporary remains", () =>
      Effect.gen(function* () {
        const src = yield* tempDir
        const dst = yield* tempDir
        const good = join(src, "drmemtrace.app.100.0001.trace.zip")
        yield* TraceWriter.writeFile(
          good,
          S.thread(100, [S.timestamp(1), ...Array.from({ length: 1000 }, (_, i) => S.instr(0x1000 + i)), S.exit(100)])
        )
        // A second input whose entries stop in the middle of its body: no footer.
        const cut = S.encode(S.thread(200, [S.timestamp(1), S.instr(0x10), S.exit(200)]))
        writeFileSync(join(src, "drmemtrace.app.200.0002.trace"), cut.subarray(0, cut.length - 7))
        const e = yield* Effect.flip(TraceWriter.replicate(src, dst, 2, { concurrency: 1, durable: false }))
        assert.strictEqual(e._tag, "TraceWriterError")
        assert.strictEqual(e.reason, "InvalidStream")
        for (const name of files(dst)) {
          assert.notMatch(name, /\.tmp$/)
          const [input] = yield* Trace.open(join(dst, name))
          assert.strictEqual(flatten(yield* Trace.readAll(input!)).n, 1004)
        }
      })
    )

    it.effect("refuses more copies than distinct ids allow", () =>
      Effect.gen(function* () {
        const dst = yield* tempDir
        const e = yield* Effect.flip(TraceWriter.replicate(THREADSIG, dst, TraceWriter.MAX_REPLICAS + 1))
        assert.strictEqual(e._tag, "TraceWriterError")
        assert.strictEqual(e.reason, "Replication")
        assert.deepStrictEqual(files(dst), [])
      })
    )
  })
})
