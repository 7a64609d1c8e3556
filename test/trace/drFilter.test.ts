/**
 * DynamoRIO's record_filter unit tests (clients/drcachesim/tests/record_filter_unit_tests.cpp)
 * ported to `Filter.run`, for the sub-cases whose filter memtrace has: trim_filter (instruction
 * and timestamp trims), type_filter removing TRACE_TYPE_ENCODING only (`dropEncodings`), and
 * record_filter with no filter function (wait records). Not ported: test_null_filter, which checks
 * that the schedule files are rewritten (memtrace's filter writes none, as docs/cli.md says), and
 * the filters memtrace does not have (cache, function-marker types, stop timestamp, chunk updates,
 * encodings to regdeps, function ids, marker values, kernel).
 *
 * Each case is DynamoRIO's table: an entry, whether it is input, whether it is expected in the
 * output. DynamoRIO runs the cases with `write_archive=true`, so the output is written as zip
 * (chunked by the input's CHUNK_INSTR_COUNT) and compared entry for entry, chunk markers
 * included, with all zip members concatenated (DynamoRIO's write_trace_entry sequence).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Filter from "../../src/trace/Filter.ts"
import { openSource } from "../../src/trace/internal/source.ts"
import { FileType, MarkerType, TraceType } from "../../src/trace/Record.ts"
import { type Entry, encode, entry } from "../../src/trace/Synthetic.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "memtrace-drfilter-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

interface Case {
  readonly entry: Entry
  readonly input: boolean
  readonly output: ReadonlyArray<boolean>
}

/** One row of DynamoRIO's test_case_t table. */
const row = (e: Entry, input: boolean, output: ReadonlyArray<boolean>): Case => ({ entry: e, input, output })

const TYPE_NAME = new Map(Object.entries(TraceType).map(([k, v]) => [v as number, k]))
const MARKER_NAME = new Map(Object.entries(MarkerType).map(([k, v]) => [v as number, k]))

/** DynamoRIO's entry_as_string, with marker names: `TYPE:size:addr(hex)`. */
const show = (type: number, size: number, addr: bigint): string =>
  `${TYPE_NAME.get(type) ?? type}:${type === TraceType.MARKER ? (MARKER_NAME.get(size) ?? size) : size}:${addr.toString(16)}`

const showEntry = (e: Entry) => show(e.type, e.size, e.addr)

// Entry constructors in DynamoRIO's spelling ({ type, size, { addr } }).
const H = (addr: number) => entry(TraceType.HEADER, 0, addr)
const M = (marker: number, value: number | bigint) => entry(TraceType.MARKER, marker, value)
const THREAD = (tid: number) => entry(TraceType.THREAD, 0, tid)
const PID = (pid: number) => entry(TraceType.PID, 0, pid)
const ENC = (size: number, value: number) => entry(TraceType.ENCODING, size, value)
const INSTR = (size: number, pc: number) => entry(TraceType.INSTR, size, pc)
const EXIT = (tid: number) => entry(TraceType.THREAD_EXIT, 0, tid)
const FOOTER = (addr: number) => entry(TraceType.FOOTER, 0, addr)

/** The decompressed entries of a file, every zip member in order. */
const rawEntries = (path: string) =>
  Effect.promise(async () => {
    const source = await openSource(path)
    const pieces: Array<Uint8Array> = []
    for (let c = await source.pull(); c !== undefined; c = await source.pull()) pieces.push(new Uint8Array(c.bytes))
    const bytes = new Uint8Array(Buffer.concat(pieces))
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
    const out: Array<string> = []
    for (let o = 0; o + 12 <= bytes.length; o += 12) {
      out.push(show(view.getUint16(o, true), view.getUint16(o + 2, true), view.getBigUint64(o + 4, true)))
    }
    return out
  })

/**
 * DynamoRIO's process_entries_and_check_result: filters the input rows (one raw input file,
 * written as zip as with `write_archive=true`) and returns the expected and actual outputs. A
 * removed output (no instruction left) is an empty output, as test_record_filter_t's
 * remove_output_file clears it.
 */
const runCase = (cases: ReadonlyArray<Case>, index: number, options: Filter.Options) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const input = join(dir, "drfilter.trace")
    writeFileSync(input, encode(cases.filter((c) => c.input).map((c) => c.entry)))
    const summary = yield* Filter.run(input, join(dir, "out"), { format: "zip", durable: false, ...options })
    const actual = summary.files.length === 0 ? [] : yield* rawEntries(summary.files[0]!.path)
    const expected = cases.filter((c) => c.output[index]).map((c) => showEntry(c.entry))
    return { expected, actual }
  })

const check = (cases: ReadonlyArray<Case>, index: number, options: Filter.Options) =>
  Effect.gen(function* () {
    const { actual, expected } = yield* runCase(cases, index, options)
    assert.deepStrictEqual(actual, expected)
  })

/** The failure of a run that DynamoRIO refuses (an error, not an output). */
const failure = (cases: ReadonlyArray<Case>, options: Filter.Options) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    const input = join(dir, "drfilter.trace")
    writeFileSync(input, encode(cases.filter((c) => c.input).map((c) => c.entry)))
    return yield* Effect.exit(Filter.run(input, join(dir, "out"), { format: "zip", durable: false, ...options }))
  })

const TID = 5
const PC_A = 0x1234
const ENCODING_A = 0x4321
const PC_B = 0x5678
const ENCODING_B = 0x8765
const WINDOW_ID_0 = 0x0
const WINDOW_ID_1 = 0x1

const header = (filetypeOut: boolean, chunkInstrCount: number): Array<Case> => [
  row(H(0x1), true, [true]),
  row(M(MarkerType.VERSION, 0x2), true, [true]),
  row(M(MarkerType.FILETYPE, FileType.ENCODINGS), true, [filetypeOut]),
  ...(filetypeOut ? [] : [row(M(MarkerType.FILETYPE, 0), false, [true])]),
  row(THREAD(TID), true, [true]),
  row(PID(0x5), true, [true]),
  row(M(MarkerType.CACHE_LINE_SIZE, 0x6), true, [true]),
  row(M(MarkerType.CHUNK_INSTR_COUNT, chunkInstrCount), true, [true])
]

describe("DynamoRIO record_filter_unit_tests", () => {
  describe("test_trim_filter", () => {
    // Sub-cases 1 (timestamps 150 > 149), and 4 (timestamps with instructions) are covered by
    // Filter.test.ts "refuses contradicting options and overwriting its input".
    it.effect("invalid parameters: trim_before_timestamp == trim_after_timestamp (150, 150)", () =>
      Effect.gen(function* () {
        const e = yield* Effect.flip(
          Filter.run(THREADSIG, "/nonexistent/never", { trimBeforeTimestamp: 150n, trimAfterTimestamp: 150n })
        )
        assert.strictEqual(e._tag, "FilterError")
        if (e._tag !== "FilterError") return
        assert.strictEqual(e.reason, "InvalidOptions")
        assert.strictEqual(e.option, "trimAfterTimestamp")
      })
    )

    it.effect("invalid parameters: trim_before_instr > trim_after_instr (250, 249)", () =>
      Effect.gen(function* () {
        const e = yield* Effect.flip(
          Filter.run(THREADSIG, "/nonexistent/never", { trimBeforeInstr: 250, trimAfterInstr: 249 })
        )
        assert.strictEqual(e._tag, "FilterError")
        if (e._tag !== "FilterError") return
        assert.strictEqual(e.reason, "InvalidOptions")
        assert.strictEqual(e.option, "trimAfterInstr")
      })
    )

    it.effect("trimming by instruction ordinals (trim_before_instr 1, trim_after_instr 3)", () =>
      check(
        [
          ...header(true, 5),
          // Removal of trim_before_instr = 1 starts here.
          row(M(MarkerType.TIMESTAMP, 1), true, [false]),
          row(M(MarkerType.CPU_ID, 0), true, [false]),
          row(ENC(2, ENCODING_A), true, [false]),
          // instruction ordinal = 1 (removed).
          row(INSTR(2, PC_A), true, [false]),
          // Removal of trim_before_instr = 1 ends here.
          row(M(MarkerType.TIMESTAMP, 2), true, [true]),
          row(ENC(2, ENCODING_A), false, [true]),
          // instruction ordinal = 2.
          row(INSTR(2, PC_A), true, [true]),
          row(M(MarkerType.TIMESTAMP, 3), true, [true]),
          // instruction ordinal = 3.
          row(INSTR(2, PC_A), true, [true]),
          // Removal of trim_after_instr = 3 starts here.
          row(M(MarkerType.TIMESTAMP, 4), true, [false]),
          // instruction ordinal = 4 (removed).
          row(INSTR(2, PC_A), true, [false]),
          row(M(MarkerType.TIMESTAMP, 5), true, [false]),
          // instruction ordinal = 5 (removed).
          row(INSTR(2, PC_A), true, [false]),
          // These footer records should remain.
          row(EXIT(TID), true, [true]),
          row(FOOTER(0xa2), true, [true])
        ],
        0,
        // trim_filter_t(0, 0, 1, 3): memtrace's window is [B, A) of 0-based ordinals.
        { trimBeforeInstr: 1, trimAfterInstr: 3 }
      )
    )

    it.effect("trimming of a multi windows trace fails (trim_filter_t(50, 150))", () =>
      Effect.gen(function* () {
        const exit = yield* failure(
          [
            ...header(true, 2),
            row(M(MarkerType.TIMESTAMP, 40), true, [false]),
            row(M(MarkerType.WINDOW_ID, WINDOW_ID_0), true, [true]),
            // Error: we cannot have multiple windows in the same trace when trimming.
            row(M(MarkerType.WINDOW_ID, WINDOW_ID_1), true, [false]),
            row(M(MarkerType.TIMESTAMP, 100), true, [true]),
            row(M(MarkerType.CPU_ID, 0), true, [true]),
            row(ENC(2, ENCODING_A), true, [true]),
            row(INSTR(2, PC_A), true, [true]),
            row(M(MarkerType.TIMESTAMP, 200), true, [false]),
            row(M(MarkerType.CPU_ID, 0), true, [false]),
            row(ENC(2, ENCODING_B), true, [false]),
            row(INSTR(2, PC_B), true, [false]),
            row(M(MarkerType.CHUNK_FOOTER, 0), true, [false]),
            row(M(MarkerType.RECORD_ORDINAL, 12), true, [false]),
            row(M(MarkerType.TIMESTAMP, 200), true, [false]),
            row(M(MarkerType.CPU_ID, 0), true, [false]),
            row(ENC(2, ENCODING_B), true, [false]),
            row(INSTR(2, PC_B), true, [false]),
            row(EXIT(TID), true, [true]),
            row(FOOTER(0xa2), true, [true])
          ],
          { trimBeforeTimestamp: 50n, trimAfterTimestamp: 150n }
        )
        // DynamoRIO: "Filtering failed on entry 9: Filter error: Trimming a trace with multiple
        // windows is not supported. Previous window_id = 0, current window_id = 1".
        assert.isTrue(Exit.isFailure(exit), "the trim of a trace with two window ids must fail")
        assert.include(
          JSON.stringify(Exit.isFailure(exit) ? exit.cause : ""),
          "Trimming a trace with multiple windows is not supported. Previous window_id = 0, current window_id = 1"
        )
      })
    )

    it.effect("trimming of a single window trace (trim_filter_t(50, 150))", () =>
      check(
        [
          ...header(true, 2),
          // Removal before timestamp starts here.
          row(M(MarkerType.TIMESTAMP, 40), true, [false]),
          // Even though we already started trimming, we always emit the first window marker.
          row(M(MarkerType.WINDOW_ID, WINDOW_ID_0), true, [true]),
          // We won't emit following window markers because we are in a removed region.
          row(M(MarkerType.WINDOW_ID, WINDOW_ID_0), true, [false]),
          // Removal before timestamp ends here.
          row(M(MarkerType.TIMESTAMP, 100), true, [true]),
          row(M(MarkerType.CPU_ID, 0), true, [true]),
          row(ENC(2, ENCODING_A), true, [true]),
          row(INSTR(2, PC_A), true, [true]),
          // Removal after timestamp starts here.
          row(M(MarkerType.TIMESTAMP, 200), true, [false]),
          row(M(MarkerType.CPU_ID, 0), true, [false]),
          row(ENC(2, ENCODING_B), true, [false]),
          row(INSTR(2, PC_B), true, [false]),
          row(M(MarkerType.CHUNK_FOOTER, 0), true, [false]),
          // Chunk 2.
          row(M(MarkerType.RECORD_ORDINAL, 12), true, [false]),
          row(M(MarkerType.TIMESTAMP, 200), true, [false]),
          row(M(MarkerType.CPU_ID, 0), true, [false]),
          row(ENC(2, ENCODING_B), true, [false]),
          // Removal after timestamp ends here.
          row(INSTR(2, PC_B), true, [false]),
          // These footer records should remain.
          row(EXIT(TID), true, [true]),
          row(FOOTER(0xa2), true, [true])
        ],
        0,
        { trimBeforeTimestamp: 50n, trimAfterTimestamp: 150n }
      )
    )

    it.effect("removing from mid-way in the 1st chunk to the very end (trim_filter_t(50, 150))", () =>
      check(
        [
          ...header(true, 2),
          // Chunk 1.
          row(M(MarkerType.TIMESTAMP, 100), true, [true]),
          row(M(MarkerType.CPU_ID, 0), true, [true]),
          row(ENC(2, ENCODING_A), true, [true]),
          row(INSTR(2, PC_A), true, [true]),
          // Removal starts here.
          row(M(MarkerType.TIMESTAMP, 200), true, [false]),
          row(M(MarkerType.CPU_ID, 0), true, [false]),
          row(ENC(2, ENCODING_B), true, [false]),
          row(INSTR(2, PC_B), true, [false]),
          row(M(MarkerType.CHUNK_FOOTER, 0), true, [false]),
          // Chunk 2.
          row(M(MarkerType.RECORD_ORDINAL, 12), true, [false]),
          row(M(MarkerType.TIMESTAMP, 200), true, [false]),
          row(M(MarkerType.CPU_ID, 0), true, [false]),
          row(ENC(2, ENCODING_B), true, [false]),
          row(INSTR(2, PC_B), true, [false]),
          // These footer records should remain.
          row(EXIT(TID), true, [true]),
          row(FOOTER(0xa2), true, [true])
        ],
        0,
        { trimBeforeTimestamp: 50n, trimAfterTimestamp: 150n }
      )
    )

    /** The input and expectations of the two "from the start to mid-way in the 1st chunk" cases. */
    const startToMidway = (dropEncodings: boolean): Array<Case> => [
      ...header(!dropEncodings, 2),
      // Original chunk 1. Removal starts here.
      row(M(MarkerType.TIMESTAMP, 100), true, [false]),
      row(M(MarkerType.CPU_ID, 0), true, [false]),
      row(ENC(2, ENCODING_B), true, [false]),
      row(INSTR(2, PC_B), true, [false]),
      // Removal ends here.
      row(M(MarkerType.TIMESTAMP, 200), true, [true]),
      row(M(MarkerType.CPU_ID, 0), true, [true]),
      row(ENC(2, ENCODING_B), false, [!dropEncodings]),
      row(INSTR(2, PC_B), true, [true]),
      row(M(MarkerType.CHUNK_FOOTER, 0), true, [false]),
      // Original chunk 2.
      row(M(MarkerType.RECORD_ORDINAL, 12), true, [false]),
      // Dup timestamp;cpuid should be removed.
      row(M(MarkerType.TIMESTAMP, 200), true, [false]),
      row(M(MarkerType.CPU_ID, 0), true, [false]),
      // This encoding is not repeated b/c this is now in the same chunk as the prior instance.
      row(ENC(2, ENCODING_B), true, [false]),
      row(INSTR(2, PC_B), true, [true]),
      row(M(MarkerType.CHUNK_FOOTER, 0), false, [true]),
      // New chunk 2.
      row(M(MarkerType.RECORD_ORDINAL, 9), false, [true]),
      row(M(MarkerType.TIMESTAMP, 200), false, [true]),
      row(M(MarkerType.CPU_ID, 0), false, [true]),
      // This encoding is added since it is the first instance in a new chunk (unless removed).
      row(ENC(2, ENCODING_B), false, [!dropEncodings]),
      row(INSTR(2, PC_B), true, [true]),
      row(M(MarkerType.CHUNK_FOOTER, 0), true, [false]),
      // Original chunk 3.
      row(M(MarkerType.RECORD_ORDINAL, 12), true, [false]),
      row(M(MarkerType.TIMESTAMP, 200), true, [false]),
      row(M(MarkerType.CPU_ID, 0), true, [false]),
      row(ENC(2, ENCODING_B), true, [false]),
      row(INSTR(2, PC_B), true, [true]),
      row(M(MarkerType.CHUNK_FOOTER, 1), false, [true]),
      // New chunk 3.
      row(M(MarkerType.RECORD_ORDINAL, 12), false, [true]),
      row(M(MarkerType.TIMESTAMP, 200), false, [true]),
      row(M(MarkerType.CPU_ID, 0), false, [true]),
      row(EXIT(TID), true, [true]),
      row(FOOTER(0xa2), true, [true])
    ]

    it.effect(
      "removing from the start to mid-way in the 1st chunk, repeating encodings in new chunks (trim_filter_t(150, 600))",
      () => check(startToMidway(false), 0, { trimBeforeTimestamp: 150n, trimAfterTimestamp: 600n })
    )

    it.effect("removing a zero-instruction thread (trim_filter_t(150, 600))", () =>
      check(
        [
          ...header(true, 2).map((c) => ({ ...c, output: [false] })),
          // Original chunk 1. Removal starts here.
          row(M(MarkerType.TIMESTAMP, 100), true, [false]),
          row(M(MarkerType.CPU_ID, 0), true, [false]),
          row(ENC(2, ENCODING_B), true, [false]),
          row(INSTR(2, PC_B), true, [false]),
          // Removal ends here.
          row(M(MarkerType.TIMESTAMP, 200), true, [false]),
          row(M(MarkerType.CPU_ID, 0), true, [false]),
          row(EXIT(TID), true, [false]),
          row(FOOTER(0xa2), true, [false])
        ],
        0,
        { trimBeforeTimestamp: 150n, trimAfterTimestamp: 600n }
      )
    )

    it.effect(
      "removing from the start to mid-way in the 1st chunk while also removing all encodings (trim_filter_t(150, 600) + type_filter_t({ENCODING}))",
      () => check(startToMidway(true), 0, { trimBeforeTimestamp: 150n, trimAfterTimestamp: 600n, dropEncodings: true })
    )
  })

  it.effect("test_wait_filter: wait records are not preserved (no filter function)", () =>
    check(
      [
        row(H(0x1), true, [true]),
        row(M(MarkerType.VERSION, 0x2), true, [true]),
        row(M(MarkerType.FILETYPE, FileType.ENCODINGS), true, [true]),
        row(THREAD(TID), true, [true]),
        row(PID(0x5), true, [true]),
        row(M(MarkerType.CACHE_LINE_SIZE, 0x6), true, [true]),
        row(M(MarkerType.TIMESTAMP, 100), true, [true]),
        row(M(MarkerType.CPU_ID, 0), true, [true]),
        row(ENC(2, ENCODING_A), true, [true]),
        row(INSTR(2, PC_A), true, [true]),
        // Test wait and idle records.
        row(M(MarkerType.CORE_WAIT, 0), true, [false]),
        row(M(MarkerType.CORE_WAIT, 0), true, [false]),
        row(M(MarkerType.CORE_IDLE, 0), true, [true]),
        row(M(MarkerType.CORE_WAIT, 0), true, [false]),
        row(M(MarkerType.CORE_IDLE, 0), true, [true]),
        row(EXIT(TID), true, [true]),
        row(FOOTER(0xa2), true, [true])
      ],
      0,
      {}
    )
  )
})
