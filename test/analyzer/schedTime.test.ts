/**
 * Scheduling by time (DynamoRIO's -sched_time): with `quantumUnit: "time"` a
 * core run gives the scheduler the clock's time before every step, so quanta
 * end by elapsed time. A fake clock that the tool advances as it processes
 * instructions stands for the wall clock ("processing an instruction takes
 * N µs"), which makes the switch points exact.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Tool from "../../src/analyzer/Tool.ts"
import { isInstr, MarkerType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"

/** A clock in µs that starts at 1 (0 would mean "the scheduler's own clock"). */
const fakeClock = () => {
  const c = { now: 1 }
  return { c, read: () => c.now }
}

/** Advances `clock` by `usPerInstr` for every instruction and `usPerIdle` for every idle record it is handed. */
const ticker = (clock: { now: number }, usPerInstr: number, usPerIdle = 0) =>
  Tool.make<null, number, number, never>({
    name: "ticker",
    makeShard: () => null,
    processBatch: (_, batch, start, end, ctx) => {
      if (ctx.input < 0) clock.now += usPerIdle * (end - start)
      else for (let i = start; i < end; i++) if (isInstr(batch.type[i]!)) clock.now += usPerInstr
      return undefined
    },
    finishShard: () => 0,
    merge: () => 0,
    print: () => "",
    shardResultSchema: Schema.Number,
    resultSchema: Schema.Number,
    describeError: () => ""
  })

/**
 * Inputs A and B: 9 instructions each, between a VERSION and FILETYPE marker
 * and the thread exit (12 records), read in the smallest batches (8 records
 * and 4: the decoder keeps slots free).
 */
const inputs = Effect.forEach([0, 1], (i) =>
  Trace.fromEntries(
    S.thread(100 + i, [...Array.from({ length: 9 }, (_, j) => S.instr(0x1000 + j * 4)), S.exit(100 + i)]),
    { ordinal: i, name: `input.${100 + i}`, batchCapacity: RecordBatch.MIN_CAPACITY }
  )
)

/** The schedule of the one core: a letter per record of each input (A, B), `_` per idle. */
const scheduleString = (result: Analyzer.AnalysisResult): string =>
  result.schedule![0]!.runs.map(([input, n]) => (input < 0 ? "_" : String.fromCharCode(65 + input)).repeat(n)).join("")

const QUANTUM_PREEMPTS = 4

/**
 * One core, 25 µs quanta by time (one time unit per µs), the clock advancing
 * `usPerInstr` per instruction processed. core-serial hands out one record
 * per step (DynamoRIO's record-at-a-time calls); core-sharded a run per step.
 */
const runWith = (mode: "core-serial" | "core-sharded", usPerInstr: number) =>
  Effect.gen(function* () {
    const { c, read } = fakeClock()
    return yield* Analyzer.runInputs(yield* inputs, {
      tools: [ticker(c, usPerInstr)],
      mode,
      cores: 1,
      recordSchedule: true,
      schedulingClock: read,
      scheduler: {
        deps: "ignore",
        randomInitialLayout: -1,
        quantumUnit: "time",
        quantumDurationUs: 25,
        timeUnitsPerUs: 1,
        migrationThresholdUs: 0
      }
    })
  })

describe("Analyzer scheduling by time (-sched_time)", () => {
  it.effect("preempts once a quantum's time has elapsed: 10 µs per instruction, 25 µs quanta", () =>
    Effect.gen(function* () {
      const result = yield* runWith("core-serial", 10)
      // A starts at time 1: VERSION, FILETYPE and i1 at 1 (0 µs spent), i2 at 11,
      // i3 at 21; i4 is asked for at 31 with 30 µs spent (>= 25): A is preempted
      // before i4 (markers never preempt). B runs the same 5 records from 31. A
      // resumes at 61 with a fresh quantum: i4, i5, i6, preempted before i7 at 91;
      // B likewise. A's i7, i8, i9 and its exit (not an instruction: no preempt)
      // end it; B finishes alone.
      assert.strictEqual(scheduleString(result), "AAAAABBBBBAAABBBAAAABBBB")
      assert.strictEqual(result.schedule![0]!.stats[QUANTUM_PREEMPTS], 4)
    })
  )

  it.effect("a slower clock moves the switch points: 5 µs per instruction", () =>
    Effect.gen(function* () {
      const result = yield* runWith("core-serial", 5)
      // 25 µs are spent when the 6th instruction is asked for: runs of 5 instructions.
      assert.strictEqual(scheduleString(result), "AAAAAAABBBBBBBAAAAABBBBB")
      assert.strictEqual(result.schedule![0]!.stats[QUANTUM_PREEMPTS], 2)
    })
  )

  it.effect("a clock that does not move never ends a quantum", () =>
    Effect.gen(function* () {
      const result = yield* runWith("core-serial", 0)
      assert.strictEqual(scheduleString(result), "AAAAAAAAAAAABBBBBBBBBBBB")
      assert.strictEqual(result.schedule![0]!.stats[QUANTUM_PREEMPTS], 0)
    })
  )

  it.effect("core-sharded steps share one time per run: switches fall on run (batch) boundaries", () =>
    Effect.gen(function* () {
      const result = yield* runWith("core-sharded", 10)
      // Batches hold 8 records: the first step hands out A's whole first batch at
      // time 1 (0 µs spent); A is preempted at the next step (60 µs spent), and so
      // is B; each then ends within its quantum.
      assert.strictEqual(scheduleString(result), "AAAAAAAABBBBBBBBAAAABBBB")
      assert.strictEqual(result.schedule![0]!.stats[QUANTUM_PREEMPTS], 2)
    })
  )

  it.effect("blocked time passes on the same clock: a 10 µs block idles until the clock has moved 10 µs", () =>
    Effect.gen(function* () {
      // One thread with a maybe-blocking system call that took 200 µs as traced:
      // above the 100 µs threshold, so it blocks for 200 × 0.05 = 10 µs (× 1 unit per µs).
      const input = Trace.fromEntries(
        S.thread(100, [
          S.timestamp(20),
          S.instr(0x1000),
          S.marker(MarkerType.SYSCALL, 42),
          S.marker(MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
          S.timestamp(220),
          S.instr(0x1004),
          S.exit(100)
        ]),
        { ordinal: 0, name: "input.100" }
      )
      const idlesWith = (usPerIdle: number) =>
        Effect.gen(function* () {
          const { c, read } = fakeClock()
          const result = yield* Analyzer.runInputs([yield* input], {
            tools: [ticker(c, 0, usPerIdle)],
            mode: "core-serial",
            cores: 1,
            recordSchedule: true,
            schedulingClock: read,
            scheduler: {
              deps: "ignore",
              quantumUnit: "time",
              timeUnitsPerUs: 1,
              blockingSwitchThreshold: 100,
              blockTimeMultiplier: 0.05
            }
          })
          return result.schedule![0]!.runs.filter(([i]) => i < 0).reduce((a, [, n]) => a + n, 0)
        })
      // Each idle record moves the clock by usPerIdle: the block ends after 10 µs of idles.
      assert.strictEqual(yield* idlesWith(1), 10)
      assert.strictEqual(yield* idlesWith(2), 5)
    })
  )
})
