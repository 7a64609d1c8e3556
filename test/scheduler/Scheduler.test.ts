import { assert, describe, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import * as Scheduler from "../../src/scheduler/Scheduler.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { TraceError } from "../../src/trace/TraceError.ts"
import { type Entry, exit, instr, marker, mockThread, timestamp, version } from "./fixtures.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

/** Records and instructions of every input, read directly (no scheduler). */
const readTotals = (path: string) =>
  Effect.gen(function* () {
    const inputs = yield* Trace.open(path)
    const totals: Array<{ records: number; instrs: number }> = []
    for (const inp of inputs) {
      let records = 0
      let instrs = 0
      for (let b = yield* inp.next; b !== undefined; b = yield* inp.next) {
        const n = RecordBatch.length(b)
        records += n
        for (let i = 0; i < n; i++) {
          const t = b.type[i]!
          if ((t >= 10 && t <= 16) || t === 31 || t === 48 || t === 49) instrs++
        }
      }
      totals.push({ records, instrs })
    }
    return totals
  })

/**
 * Polls output 0 to EOF (or to 1,000 steps that are not records, so a run that never ends fails):
 * timestamps that went backwards, each input's records and instructions, and the other steps.
 */
const runSerial = (s: Scheduler.Scheduler) =>
  Effect.gen(function* () {
    let last = 0n
    let backwards = 0
    let others = 0
    const records = new Array<number>(s.inputs.length).fill(0)
    const instrs = new Array<number>(s.inputs.length).fill(0)
    for (let step = yield* s.next(0); step._tag !== "Eof" && others < 1000; step = yield* s.next(0)) {
      if (step._tag !== "Records") {
        others++
        continue
      }
      for (let i = step.start; i < step.end; i++) {
        if (RecordBatch.isMarker(step.batch, i, MarkerType.TIMESTAMP)) {
          const v = RecordBatch.addrBig(step.batch, i)
          if (v < last) backwards++
          last = v
        }
        const t = step.batch.type[i]!
        if ((t >= 10 && t <= 16) || t === 31 || t === 48 || t === 49) instrs[step.input]!++
      }
      records[step.input]! += step.end - step.start
    }
    return { backwards, records, instrs, others }
  })

/**
 * Polls every output (one fiber each) to EOF, checking each input's runs are
 * contiguous. `failAt` may make an output's worker fail on a run: it keeps
 * the returned number of records, gives the rest back and deactivates.
 */
const runAll = (s: Scheduler.Scheduler, failAt?: (output: number, step: Scheduler.Records) => number | undefined) =>
  Effect.gen(function* () {
    const n = s.inputs.length
    const next = new Array<number>(n).fill(1)
    const instrs = new Array<number>(n).fill(0)
    const errors: Array<string> = []
    yield* Effect.forEach(
      Array.from({ length: s.outputCount }, (_, o) => o),
      (o) =>
        Effect.gen(function* () {
          for (;;) {
            const step = yield* s.next(o)
            if (step._tag === "Eof") return
            if (step._tag !== "Records") continue
            const first = RecordBatch.firstRecordOrdinal(step.batch) + step.start
            if (first !== next[step.input]) errors.push(`input ${step.input}: ${first} after ${next[step.input]}`)
            for (let i = step.start; i < step.end; i++) {
              const t = step.batch.type[i]!
              if ((t >= 10 && t <= 16) || t === 31 || t === 48 || t === 49) instrs[step.input]!++
            }
            next[step.input] = first + (step.end - step.start)
            const keep = failAt?.(o, step)
            if (keep !== undefined) {
              for (let i = step.start + keep; i < step.end; i++) {
                const t = step.batch.type[i]!
                if ((t >= 10 && t <= 16) || t === 31 || t === 48 || t === 49) instrs[step.input]!--
              }
              assert.isTrue(yield* s.unread(o, step.end - step.start - keep))
              next[step.input] = first + keep
              yield* s.setActive(o, false)
              return
            }
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
    return { records: next.map((v) => v - 1), instrs, errors }
  })

describe("Scheduler on a real trace (threadsig, 9 threads)", () => {
  it.effect(
    "serial: one output interleaves by timestamp, every record once",
    () =>
      Effect.gen(function* () {
        const totals = yield* readTotals(THREADSIG)
        const inputs = yield* Trace.open(THREADSIG)
        const s = yield* Scheduler.make(inputs, 1, { mapping: "recorded", deps: "timestamps" })
        const r = yield* runSerial(s)
        assert.strictEqual(r.others, 0)
        assert.strictEqual(r.backwards, 0)
        assert.deepStrictEqual(
          r.records,
          totals.map((t) => t.records)
        )
        assert.strictEqual(
          r.records.reduce((n, x) => n + x, 0),
          totals.reduce((n, t) => n + t.records, 0)
        )
        // DynamoRIO's basic_counts total for threadsig (semantics §9).
        assert.strictEqual(
          r.instrs.reduce((n, x) => n + x, 0),
          650576
        )
      }),
    60_000
  )

  it.effect(
    "serial with regions from the first instruction (-exit_after_instrs): still by timestamp, and it ends",
    () =>
      Effect.gen(function* () {
        // A region from instruction 1 skips nothing, so opening read no timestamp on the way: the inputs
        // must still read ahead to their first, or only the first input is ever picked and the rest wait forever.
        const inputs = yield* Trace.open(THREADSIG)
        const per = 100
        const s = yield* Scheduler.make(inputs, 1, {
          mapping: "recorded",
          deps: "timestamps",
          inputs: inputs.map(() => ({ regions: [{ start: 1, stop: per }] }))
        })
        const r = yield* runSerial(s)
        assert.isBelow(r.others, 1000, "steps that were not records, with live inputs")
        assert.strictEqual(r.backwards, 0)
        assert.deepStrictEqual(r.instrs, new Array<number>(inputs.length).fill(per))
      }),
    60_000
  )

  it.effect(
    "dynamic with 4 outputs: every record of every input exactly once, in order",
    () =>
      Effect.gen(function* () {
        const totals = yield* readTotals(THREADSIG)
        const inputs = yield* Trace.open(THREADSIG)
        // Short blocked times keep the idle stretches (one step each) small.
        const s = yield* Scheduler.make(inputs, 4, {
          mapping: "dynamic",
          blockTimeMaxUs: 5,
          exitIfFractionInputsLeft: 0
        })
        const r = yield* runAll(s)
        assert.deepStrictEqual(r.errors, [])
        assert.deepStrictEqual(
          r.records,
          totals.map((t) => t.records)
        )
        assert.deepStrictEqual(
          r.instrs,
          totals.map((t) => t.instrs)
        )
        const switches = [0, 1, 2, 3].reduce((n, o) => n + s.stats(o).switchInputToInput, 0)
        assert.isAbove(switches, 0)
      }),
    60_000
  )

  it.effect(
    "dynamic: a worker that fails mid-run gives its input back and the others finish it (DynamoRIO #6666)",
    () =>
      Effect.gen(function* () {
        const totals = yield* readTotals(THREADSIG)
        const inputs = yield* Trace.open(THREADSIG)
        const s = yield* Scheduler.make(inputs, 2, {
          mapping: "dynamic",
          blockTimeMaxUs: 5,
          exitIfFractionInputsLeft: 0,
          quantumDurationInstrs: 5000
        })
        let failed = false
        let steps = 0
        // Output 1's tool fails on the 10th record of its 5th run: records
        // after it go back and the output is deactivated.
        const r = yield* runAll(s, (o, step) => {
          if (o !== 1 || failed || ++steps < 5) return undefined
          failed = true
          return Math.min(10, step.end - step.start)
        })
        assert.isTrue(failed)
        assert.deepStrictEqual(r.errors, [])
        assert.deepStrictEqual(
          r.records,
          totals.map((t) => t.records)
        )
      }),
    60_000
  )
})

/** An in-memory input whose reads take `delay` of (test) clock time and are counted. */
const slowInput = (entries: ReadonlyArray<Entry>, delay: Duration.Input, calls: { n: number }, ordinal: number) =>
  Effect.gen(function* () {
    const inner = yield* Trace.fromEntries(entries, { ordinal, batchCapacity: 16 })
    const input: Trace.TraceInput = {
      ...inner,
      next: Effect.sleep(delay).pipe(
        Effect.andThen(inner.next),
        Effect.tap(() => Effect.sync(() => calls.n++))
      )
    }
    return input
  })

const smallThread = (tid: number, n: number): Array<Entry> => {
  const body: Array<Entry> = [version(7), timestamp(10)]
  for (let j = 0; j < n; j++) body.push(instr(tid * 1000 + j))
  body.push(exit(tid))
  return mockThread(tid, body)
}

describe("Scheduler layer", () => {
  it.effect("refuses bad options, naming the option", () =>
    Effect.gen(function* () {
      const inputs = [yield* Trace.fromEntries(smallThread(100, 3))]
      const cases: Array<[Scheduler.Options, string]> = [
        [{ timeUnitsPerUs: 0 }, "timeUnitsPerUs"],
        [{ quantumDurationUs: 0 }, "quantumDurationUs"],
        [{ blockTimeMultiplier: 0 }, "blockTimeMultiplier"],
        [{ blockTimeMaxUs: 0 }, "blockTimeMaxUs"],
        [{ exitIfFractionInputsLeft: 1.5 }, "exitIfFractionInputsLeft"],
        [{ inputs: [{ binding: [2] }] }, "inputs"],
        [{ mapping: "asPreviously" }, "replaySchedule"],
        [{ replaySchedule: new Map() }, "replaySchedule"],
        [{ mapping: "asPreviously", replaySchedule: new Map(), recordSchedule: true }, "recordSchedule"],
        [{ mapping: "recorded", deps: "timestamps" }, "cpuSchedule"],
        [{ timesOfInterest: [{ start: 5n, stop: 0n }] }, "cpuSchedule"],
        [{ inputs: [{ regions: [{ start: 0, stop: 3 }] }] }, "inputs"],
        [
          {
            regions: [
              { start: 2, stop: 5 },
              { start: 5, stop: 9 }
            ]
          },
          "inputs"
        ],
        [{ onlyThreads: [100], onlyShards: [0] }, "onlyThreads"],
        // Below one instruction every instruction preempts: two inputs would swap forever.
        [{ quantumDurationInstrs: 0 }, "quantumDurationInstrs"],
        [{ quantumDurationInstrs: 0.5 }, "quantumDurationInstrs"],
        [{ inputs: [{ regions: [{ start: -3, stop: 4 }] }] }, "inputs"],
        // More modifiers than inputs (the filter used to drop the extra ones silently).
        [{ inputs: [{}, {}] }, "inputs"],
        [{ waitSleep: "abc" as Duration.Input }, "waitSleep"],
        [{ waitSleep: Number.POSITIVE_INFINITY }, "waitSleep"],
        [{ waitSleep: -1 }, "waitSleep"]
      ]
      for (const [options, option] of cases) {
        const e = yield* Effect.flip(Scheduler.make(inputs, 2, options))
        assert.strictEqual(e._tag, "SchedulerError")
        if (e._tag === "SchedulerError") {
          assert.strictEqual(e.option, option)
          assert.strictEqual(e.reason, "InvalidOption")
        }
      }
    })
  )

  it.effect(
    "next and unread refuse counts and times that would hang or corrupt an output; accessors name the output",
    () =>
      Effect.gen(function* () {
        const inputs = [yield* Trace.fromEntries(smallThread(100, 20))]
        const s = yield* Scheduler.make(inputs, 2, { mapping: "dynamic", deps: "ignore" })
        const refused: Array<[Scheduler.NextOptions, string]> = [
          [{ maxIdles: Number.POSITIVE_INFINITY }, "maxIdles"],
          [{ maxIdles: 0 }, "maxIdles"],
          [{ maxRecords: 0 }, "maxRecords"],
          [{ maxRecords: 1.5 }, "maxRecords"],
          [{ maxRecords: Number.NaN }, "maxRecords"],
          [{ maxRecords: -1 }, "maxRecords"],
          [{ now: Number.NaN }, "now"],
          [{ now: -5 }, "now"]
        ]
        for (const [options, option] of refused) {
          const e = yield* Effect.flip(s.next(1, options))
          assert.strictEqual(e._tag, "SchedulerError", option)
          if (e._tag === "SchedulerError") {
            assert.strictEqual(e.reason, "InvalidOption")
            assert.strictEqual(e.option, option)
            assert.strictEqual(e.output, 1)
          }
        }
        const step = yield* s.next(0, { maxRecords: 5 })
        assert.strictEqual(step._tag, "Records")
        for (const count of [Number.NaN, 1.5, -1]) {
          const e = yield* Effect.flip(s.unread(0, count))
          assert.strictEqual(e.option, "count")
        }
        assert.isTrue(yield* s.unread(0, 2))
        assert.strictEqual(s.outputOrdinals(0).records, 3)
        // Unbounded maxRecords stays the default's meaning.
        const rest = yield* s.next(0, { maxRecords: Number.POSITIVE_INFINITY })
        assert.strictEqual(rest._tag === "Records" ? rest.start : -1, step._tag === "Records" ? step.end - 2 : -2)
        for (const bad of [-1, 2, 1.5, Number.NaN]) {
          assert.throws(() => s.stats(bad), RangeError, /stats: output/)
          assert.throws(() => s.outputOrdinals(bad), RangeError, /outputOrdinals: output/)
          assert.throws(() => s.outputCpuid(bad), RangeError, /outputCpuid: output/)
          assert.throws(() => s.inputOrdinals(bad), RangeError, /inputOrdinals: input/)
        }
      })
  )

  it.effect("an input read after its scope closed fails with IoError, not a clean end", () =>
    Effect.gen(function* () {
      const input = yield* Effect.scoped(Trace.openFile(`${THREADSIG}/drmemtrace.threadsig.872905.5783.trace.zip`, 0))
      const e = yield* Effect.flip(input.next)
      assert.strictEqual(e.reason, "IoError")
      assert.match(e.detail, /closed before its end/)
    })
  )

  it.effect("an input without a timestamp cannot be ordered by timestamps", () =>
    Effect.gen(function* () {
      const inputs = [
        yield* Trace.fromEntries(mockThread(1, [instr(1), exit(1)]), { ordinal: 0 }),
        yield* Trace.fromEntries(mockThread(2, [timestamp(3), instr(2), exit(2)]), { ordinal: 1 })
      ]
      const e = yield* Effect.flip(Scheduler.make(inputs, 1, { mapping: "recorded", deps: "timestamps" }))
      assert.strictEqual(e._tag === "SchedulerError" ? e.reason : e._tag, "InvalidInput")
    })
  )

  it.effect("setActive needs the dynamic mapping; outputs are range-checked", () =>
    Effect.gen(function* () {
      const inputs = [yield* Trace.fromEntries(smallThread(100, 3))]
      const s = yield* Scheduler.make(inputs, 1, { mapping: "consistent" })
      const e = yield* Effect.flip(s.setActive(0, false))
      assert.strictEqual(e.reason, "NotSupported")
      const e2 = yield* Effect.flip(s.next(3))
      assert.strictEqual(e2._tag === "SchedulerError" ? e2.reason : e2._tag, "InvalidOutput")
    })
  )

  it.effect("onlyThreads keeps the named threads and renumbers them", () =>
    Effect.gen(function* () {
      const inputs = [
        yield* Trace.fromEntries(smallThread(100, 2), { ordinal: 0 }),
        yield* Trace.fromEntries(smallThread(101, 3), { ordinal: 1 }),
        yield* Trace.fromEntries(smallThread(102, 4), { ordinal: 2 })
      ]
      const s = yield* Scheduler.make(inputs, 1, { mapping: "consistent", onlyThreads: [102] })
      assert.deepStrictEqual(
        s.inputs.map((i) => i.tid),
        [102]
      )
      const r = yield* runAll(s)
      assert.deepStrictEqual(r.instrs, [4])
    })
  )

  it.effect("an input being loaded is loaded once, even when its owner is deactivated meanwhile", () =>
    Effect.gen(function* () {
      const calls = [{ n: 0 }, { n: 0 }]
      const inputs = [
        yield* slowInput(smallThread(100, 40), "10 millis", calls[0]!, 0),
        yield* slowInput(smallThread(101, 40), "10 millis", calls[1]!, 1)
      ]
      const make = Scheduler.make(inputs, 2, {
        mapping: "dynamic",
        randomInitialLayout: -1,
        migrationThresholdUs: 0,
        exitIfFractionInputsLeft: 0
      })
      const sFiber = yield* Effect.forkChild(make)
      yield* TestClock.adjust("100 millis")
      const s = yield* Fiber.join(sFiber)
      // Output 0 runs its input to the end of its buffered batch, then waits for the next load.
      let step = yield* s.next(0)
      const seen: Array<number> = []
      const take = (st: Scheduler.Step) => {
        if (st._tag !== "Records") return
        for (let i = st.start; i < st.end; i++)
          if (st.batch.type[i] === TraceType.INSTR) seen.push(RecordBatch.addrNumber(st.batch, i))
      }
      take(step)
      const waiting = yield* Effect.forkChild(s.next(0))
      yield* Effect.yieldNow
      // While output 0 waits for input 0's batch, deactivate output 0: output 1 takes input 0.
      yield* s.setActive(0, false)
      const other = yield* Effect.forkChild(
        Effect.gen(function* () {
          for (;;) {
            const st = yield* s.next(1)
            if (st._tag === "Eof") return
            take(st)
          }
        })
      )
      yield* TestClock.adjust("10 seconds")
      step = yield* Fiber.join(waiting)
      assert.strictEqual(step._tag, "Idle")
      yield* Fiber.join(other)
      const expected = [
        ...Array.from({ length: 40 }, (_, j) => 100000 + j),
        ...Array.from({ length: 40 }, (_, j) => 101000 + j)
      ].sort()
      assert.deepStrictEqual(seen.slice().sort(), expected)
      // 44 records in batches of ≤ 16 − 9 slots: every batch read once, plus the end.
      const batches = (yield* Trace.readAll(yield* Trace.fromEntries(smallThread(100, 40), { batchCapacity: 16 })))
        .length
      assert.deepStrictEqual(
        calls.map((c) => c.n),
        [batches + 1, batches + 1]
      )
    })
  )

  it.effect("a read error fails the request that hit it; the input then counts as ended", () =>
    Effect.gen(function* () {
      const good = yield* Trace.fromEntries(smallThread(100, 3), { ordinal: 0 })
      const other = yield* Trace.fromEntries(smallThread(101, 3), { ordinal: 1 })
      const error = new TraceError({ reason: "Corrupt", path: "bad", detail: "broken" })
      let reads = 0
      const bad: Trace.TraceInput = {
        ...good,
        next: Effect.suspend(() => (++reads === 1 ? good.next : Effect.fail(error)))
      }
      const s = yield* Scheduler.make([bad, other], 1, { mapping: "consistent" })
      const e = yield* Effect.flip(
        Effect.gen(function* () {
          for (;;) yield* s.next(0)
        })
      )
      assert.strictEqual(e, error)
      // The output goes on with its next input; the broken one is not read again.
      const r = yield* runAll(s)
      assert.deepStrictEqual(r.instrs, [0, 3])
      assert.strictEqual(reads, 2)
    })
  )

  it.effect("Wait steps sleep (TestClock), Idle steps only yield", () =>
    Effect.gen(function* () {
      const entries = mockThread(7, [version(7), instr(1), marker(MarkerType.CORE_WAIT), instr(2), exit(7)])
      const s = yield* Scheduler.make([yield* Trace.fromEntries(entries)], 1, { mapping: "consistent" })
      const first = yield* s.next(0)
      assert.strictEqual(first._tag, "Records")
      const waiting = yield* Effect.forkChild(s.next(0))
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const w = yield* Fiber.join(waiting)
      assert.strictEqual(w._tag, "Wait")
      const d = yield* Scheduler.make([yield* Trace.fromEntries(smallThread(5, 1))], 2, { mapping: "dynamic" })
      yield* d.setActive(1, false)
      assert.strictEqual((yield* d.next(1))._tag, "Idle")
    })
  )
})
