/**
 * DynamoRIO's `view` limit tests (clients/drcachesim/tests/view_test.cpp,
 * `run_limit_tests`): test_no_limit, test_no_modules (both through
 * test_no_limit_shared), test_num_memrefs, test_num_instrs, test_skip_memrefs
 * and test_skip_instrs, every parameter DynamoRIO loops over, each with
 * DynamoRIO's own checks.
 *
 * DynamoRIO runs a `view_t` whose header and results summary are silenced
 * (`view_test_t::print_header` / `print_results`) through its analyzer and
 * scheduler in serial mode, one input (thread 3), with `-skip_records`,
 * `-exit_after_records`, and a region of interest [skip+1, skip+num] for
 * `-skip_instrs` / `-exit_after_instrs`. Here: `Analyzer.runInputs` in serial
 * mode over the same records, View with `inputOrdinals` (the scheduler's
 * single-input ordinals), and the header and summary cut off the text.
 *
 * Input adaptations: memtrace's reader wants a HEADER first and a FOOTER last
 * (DynamoRIO's mock reader does not); both are hidden records, so the
 * records the tool sees are the same. The trace has no encodings and no
 * modules, so DynamoRIO prints no disassembly here either (its
 * `init_decode_cache` drops the decoder): no column is excluded, though
 * DynamoRIO's checks only count lines and substrings and read the first
 * line's ordinals.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as View from "../../src/tools/View.ts"
import { isInstr, MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"

// x86-64 layout of DynamoRIO's instrlist: nop (1 byte), jcc rel32 (6 bytes), nop.
const OFFS_NOP1 = 0
const OFFS_JCC = 1
const OFFS_NOP2 = 7

const T1 = 3

/** `run_limit_tests`' records (test_util::make_* defaults: instr size 1). */
const RECORDS: ReadonlyArray<S.Entry> = [
  S.threadEntry(T1),
  S.pid(1),
  S.version(3),
  S.filetype(0),
  S.marker(MarkerType.CACHE_LINE_SIZE, 64),
  S.timestamp(1001),
  S.cpu(2),
  S.instr(OFFS_NOP1),
  S.read(0x42, 4),
  S.timestamp(1002),
  S.cpu(3),
  S.instr(OFFS_JCC, TraceType.INSTR_UNTAKEN_JUMP),
  S.instr(OFFS_NOP2, TraceType.INSTR),
  S.read(0x42, 4),
  // Repeat a few times for more instrs for limit tests.
  S.instr(OFFS_JCC, TraceType.INSTR_UNTAKEN_JUMP),
  S.instr(OFFS_NOP2, TraceType.INSTR),
  S.read(0x42, 4),
  S.instr(OFFS_JCC, TraceType.INSTR_UNTAKEN_JUMP),
  S.instr(OFFS_NOP2, TraceType.INSTR),
  S.read(0x42, 4)
]

const HIDDEN = new Set<number>([TraceType.HEADER, TraceType.FOOTER, TraceType.THREAD, TraceType.PID])

/** What DynamoRIO's mock reader turns RECORDS into: the memrefs (thread and pid entries are not). */
const MEMREFS = RECORDS.filter((e) => !HIDDEN.has(e.type))
const isMarker = (e: S.Entry) => e.type === TraceType.MARKER

/** get_memref_count / get_instr_count. */
const MEMREF_COUNT = MEMREFS.length
const INSTR_COUNT = MEMREFS.filter((e) => isInstr(e.type)).length

interface Limits {
  readonly skipRecords?: number
  readonly numRecords?: number
  readonly skipInstrs?: number
  readonly numInstrs?: number
}

const SUMMARY = /View tool results:\n +\d+ : total instructions\n$/

/**
 * `run_with_analyzer`: the view's text without its header and results
 * summary (view_test_t prints neither).
 */
const runWithAnalyzer = (limits: Limits) =>
  Effect.scoped(
    Effect.gen(function* () {
      const input = yield* Trace.fromEntries([S.header(3), ...RECORDS, S.footer()], { ordinal: 0, name: "t3" })
      const r = yield* Analyzer.runInputs([input], {
        tools: [View.make({ inputOrdinals: true })],
        mode: "serial",
        skipRecords: limits.skipRecords ?? 0,
        exitAfterRecords: limits.numRecords ?? 0,
        skipInstrs: limits.skipInstrs ?? 0,
        exitAfterInstrs: limits.numInstrs ?? 0
      })
      const text = r.tools[0]!.text
      assert.isTrue(text.startsWith(View.header), "the view's header")
      const tail = SUMMARY.exec(text)
      assert.isNotNull(tail, "the view's results summary")
      return text.slice(View.header.length, tail!.index)
    })
  )

const countLines = (s: string) => s.split("\n").length - 1

/** DynamoRIO's count_substrings (non-overlapping). */
const countSubstrings = (container: string, tofind: string) => container.split(tofind).length - 1

/** `ss >> n`, `ss >> m`, ...: the leading integers of the text. */
const leadingInts = (s: string, n: number): Array<number> => {
  const out: Array<number> = []
  const words = s.trim().split(/\s+/)
  for (let k = 0; k < n; k++) out.push(Number.parseInt(words[k] ?? "", 10))
  return out
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k)

/** test_no_limit_shared: one line per memref, 1-based record ordinals. */
const testNoLimitShared = () =>
  Effect.gen(function* () {
    const res = yield* runWithAnalyzer({})
    assert.strictEqual(countLines(res), MEMREF_COUNT, "Incorrect line count")
    assert.strictEqual(leadingInts(res, 1)[0], 1, "Expect 1-based line prefixes")
  })

describe("DynamoRIO view_test.cpp run_limit_tests", () => {
  it("the input is DynamoRIO's: 18 memrefs, 7 instructions", () => {
    assert.strictEqual(MEMREF_COUNT, 18)
    assert.strictEqual(INSTR_COUNT, 7)
  })

  it.effect("test_no_limit", () => testNoLimitShared())

  // DynamoRIO's test_no_modules passes no_modules=false, so it runs exactly
  // test_no_limit again (and view_nomod_test_t would print the same: no
  // module file, no encodings, no decoder).
  it.effect("test_no_modules", () => testNoLimitShared())

  it.effect.each(range(1, MEMREF_COUNT))("test_num_memrefs(num_records=%i)", (numRecords) =>
    Effect.gen(function* () {
      assert.isBelow(numRecords, MEMREF_COUNT, "need more records to limit")
      const res = yield* runWithAnalyzer({ numRecords })
      assert.strictEqual(countLines(res), numRecords, `Incorrect num_memrefs count:\n${res}`)
    })
  )

  it.effect.each(range(1, INSTR_COUNT))("test_num_instrs(num_instrs=%i)", (numInstrs) =>
    Effect.gen(function* () {
      assert.isBelow(numInstrs, INSTR_COUNT, "need more instrs to limit")
      const res = yield* runWithAnalyzer({ numInstrs })
      assert.strictEqual(countSubstrings(res, "ifetch"), numInstrs, `Incorrect num_instrs count:\n${res}`)
    })
  )

  const NUM_REFS = 2
  it.effect.each(range(1, MEMREF_COUNT - NUM_REFS))(
    `test_skip_memrefs(skip_records=%i, num_records=${NUM_REFS})`,
    (skipRecords) =>
      Effect.gen(function* () {
        const numRecords = NUM_REFS
        // We do a simple check on the marker count.
        let allCount = 0
        let markerCount = 0
        for (const memref of MEMREFS) {
          if (allCount++ < skipRecords) continue
          if (allCount - skipRecords > numRecords) break
          if (isMarker(memref)) ++markerCount
        }
        assert.isAtMost(numRecords + skipRecords, MEMREF_COUNT, "need more memrefs to skip")
        const res = yield* runWithAnalyzer({ skipRecords, numRecords })
        assert.strictEqual(countLines(res), numRecords, `Incorrect skipped_records count:\n${res}`)
        assert.strictEqual(
          countSubstrings(res, "marker"),
          markerCount,
          `Failed to skip proper number of markers:\n${res}`
        )
        assert.strictEqual(leadingInts(res, 1)[0], 1 + skipRecords, `Expect to start after skip count:\n${res}`)
      })
  )

  const SKIP_INSTRS_CASES = [1, 2, 3].flatMap((numInstrs) =>
    range(1, INSTR_COUNT - numInstrs).map((skipInstrs) => ({ skipInstrs, numInstrs }))
  )
  it.effect.each(SKIP_INSTRS_CASES)(
    "test_skip_instrs(skip_instrs=$skipInstrs, num_instrs=$numInstrs)",
    ({ numInstrs, skipInstrs }) =>
      Effect.gen(function* () {
        // Like test_skip_memrefs, the marker count is a sanity check.
        let instrCount = 0
        let markerCount = 0
        for (const memref of MEMREFS) {
          if (isInstr(memref.type)) ++instrCount
          if (instrCount - 1 < skipInstrs) continue
          if (instrCount - skipInstrs > numInstrs) break
          if (isMarker(memref)) ++markerCount
        }
        assert.isAtMost(numInstrs + skipInstrs, INSTR_COUNT, "need more instrs to skip")
        const res = yield* runWithAnalyzer({ skipInstrs, numInstrs })
        assert.strictEqual(countSubstrings(res, "ifetch"), numInstrs, `Incorrect instr count:\n${res}`)
        // We expect timestamp;cpuid inserted.
        const ADDED_HEADERS = 2
        assert.strictEqual(
          countSubstrings(res, "marker"),
          markerCount + ADDED_HEADERS,
          `Failed to skip proper number ${markerCount} of markers:\n${res}`
        )
        // A timestamp marker with the exact skip ordinal; the first instr has skip+1.
        const [, ordinal] = leadingInts(res, 2)
        assert.strictEqual(ordinal, skipInstrs, `Expect to start at skip ${skipInstrs}:\n${res}`)
      })
  )
})
