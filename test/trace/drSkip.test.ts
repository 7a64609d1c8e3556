/**
 * DynamoRIO's clients/drcachesim/tests/skip_unit_tests.cpp, ported. Its input
 * is drmemtrace.allasm_x86_64.trace.zip (CMake's `zip_path`): one thread, 133
 * instructions in chunks of 20.
 *
 * - test_skip_initial: for -skip_instrs 0..49, the view tool's first records
 *   after `reader_t::skip_instructions`. Here: the analyzer with `skipInstrs`
 *   (DynamoRIO's -skip_instrs, a region of interest in the scheduler) and the
 *   view tool printing the input's ordinals, as DynamoRIO's view prints the
 *   reader's; the run stops after 10 records as the test's loop does.
 * - test_skip_middle_ord2pc: every instruction's ordinal and pc when reading
 *   the whole trace, then, after a skip of j instructions following the i-th,
 *   the ordinal (the reader's, skipped instructions included) and pc of every
 *   instruction seen. memtrace's reader has no mid-stream skip: a skip after
 *   instruction i is the scheduler's regions [1, i] and [i + j + 1, end] (only
 *   [1, i] when the skip reaches the end), and the reader's ordinal is the
 *   batch's instruction ordinal. As in DynamoRIO's loop, i = 0 or j = 0 skips
 *   nothing (the skip is taken after an instruction, so never when i = 0).
 *   DynamoRIO checks all ~9,000 (i, j) pairs; a run costs ~10 ms here (opening
 *   the zip dominates), so this port checks every pair whose last instruction
 *   before the skip and last skipped instruction both sit at a chunk edge (the
 *   last, first or second instruction of a chunk: the point of the sweep, per
 *   its comment), every skip to the end, and a regular grid over the rest:
 *   same assertions per pair, fewer pairs.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Scheduler from "../../src/scheduler/Scheduler.ts"
import * as View from "../../src/tools/View.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Trace from "../../src/trace/Trace.ts"

const ALLASM = "../shared/traces/drmemtrace.allasm_x86_64.trace.zip"

const isInstrType = (t: number): boolean => (t >= 10 && t <= 16) || t === 31 || t === 48 || t === 49

describe("skip_unit_tests.cpp", () => {
  it.effect("test_skip_initial", () =>
    Effect.gen(function* () {
      const problems: Array<string> = []
      for (let skip = 0; skip < 50; skip++) {
        const r = yield* Analyzer.run(ALLASM, {
          tools: [View.make({ inputOrdinals: true })],
          encodings: true,
          skipInstrs: skip,
          exitAfterRecords: 10
        })
        const res = r.tools[0]!.text
        const check = (cond: boolean, msg: string) => {
          if (!cond) problems.push(`-skip_instrs ${skip}: ${msg}`)
        }
        check(skip !== 0 || res.includes("chunk instruction count 20"), "expecting chunk size of 20 in test trace")
        const lines = res.split("\n")
        check(lines[0]!.startsWith("Output format"), "missing header")
        check(lines[1]!.startsWith("<--record#-> <--instr#->"), "missing 2nd header")
        check(lines[2]!.startsWith("------"), "missing divider line")
        check(lines[3]!.includes(`${skip}:`), "bad instr ordinal")
        check(skip === 0 || lines[3]!.includes("timestamp"), "missing timestamp")
        check(skip === 0 || lines[4]!.includes("on core"), "missing cpuid")
        check(skip === 0 || lines[5]!.includes("ifetch"), "missing ifetch")
        // `ref_in >> ref_count` on the ifetch line: its record ordinal.
        check(Number(lines[5]!.trim().split(/\s+/)[0]) > skip, "invalid ref count")
      }
      assert.deepStrictEqual(problems, [])
    })
  )

  it.effect("test_skip_middle_ord2pc", () =>
    Effect.gen(function* () {
      /** Each instruction seen, as [reader instruction ordinal, pc]. */
      const read = (regions: ReadonlyArray<Scheduler.Region> | undefined) =>
        Effect.scoped(
          Effect.gen(function* () {
            const inputs = yield* Trace.open(ALLASM)
            const s = yield* Scheduler.make(inputs, 1, { mapping: "recorded", deps: "timestamps", regions })
            const out: Array<[number, number]> = []
            for (let step = yield* s.next(0); step._tag !== "Eof"; step = yield* s.next(0)) {
              if (step._tag !== "Records") continue
              let instrs = RecordBatch.instrOrdinalBefore(step.batch)
              for (let k = 0; k < step.start; k++) if (isInstrType(step.batch.type[k]!)) instrs++
              for (let k = step.start; k < step.end; k++) {
                if (!isInstrType(step.batch.type[k]!)) continue
                instrs++
                out.push([instrs, RecordBatch.addrNumber(step.batch, k)])
              }
            }
            return out
          })
        )
      // Record the ordinal -> pc mapping of every instruction.
      const ord2pc = new Map<number, number>()
      let expected = 1
      for (const [ord, pc] of yield* read(undefined)) {
        assert.strictEqual(ord, expected, "unexpected stream instr ord")
        assert.isFalse(ord2pc.has(ord), "stream instr ord already seen")
        ord2pc.set(ord, pc)
        expected++
      }
      const n = ord2pc.size
      assert.isAtLeast(n, 100, "Too few instrs in the trace")
      /** check_ord2pc(i, j, ord2pc, false): the problems found. */
      const check = (i: number, j: number) =>
        Effect.gen(function* () {
          const skips = i > 0 && j > 0
          const regions = !skips
            ? undefined
            : i + j >= n
              ? [{ start: 1, stop: i }]
              : [
                  { start: 1, stop: i },
                  { start: i + j + 1, stop: 0 }
                ]
          const problems: Array<string> = []
          let next = 1
          for (const [ord, pc] of yield* read(regions)) {
            if (ord !== next) problems.push(`(${i}, ${j}): instr ord ${ord}, expected ${next}`)
            else if (!ord2pc.has(ord)) problems.push(`(${i}, ${j}): instr ord ${ord} not seen in initial run`)
            else if (ord2pc.get(ord) !== pc) problems.push(`(${i}, ${j}): incorrect instr pc at instr ord ${ord}`)
            if (problems.length > 0) break
            next++
            if (skips && next === i + 1) next += j
          }
          return problems
        })
      // Chunk edges: the last, first and second instructions of each chunk of 20.
      const edges = new Set<number>([1, n])
      for (let c = 20; c < n; c += 20) for (const d of [-1, 0, 1]) edges.add(c + d)
      const pairs = new Set<string>(["0,0", `0,${n}`, `${n},0`])
      for (const i of edges) {
        for (const last of edges) if (last > i) pairs.add(`${i},${last - i}`)
        if (i < n) pairs.add(`${i},${n - i}`)
      }
      for (let i = 1; i <= n; i += 6) for (let j = 1; i + j <= n; j += 9) pairs.add(`${i},${j}`)
      const problems: Array<string> = []
      for (const p of pairs) {
        const [i, j] = p.split(",").map(Number) as [number, number]
        problems.push(...(yield* check(i, j)))
      }
      assert.deepStrictEqual(problems, [])
    })
  )
})
