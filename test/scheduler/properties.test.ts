/**
 * Properties of the core over random workloads, random options and random
 * caller behaviour (run lengths, unread, setActive(false/true) at any time):
 * every record of every input is delivered exactly once, in input order, and
 * every run ends within a bounded number of calls.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Core } from "../../src/scheduler/internal/core.ts"
import type { Options } from "../../src/scheduler/internal/options.ts"
import type { Step } from "../../src/scheduler/internal/state.ts"
import { MarkerType } from "../../src/trace/Record.ts"
import type { RecordBatch } from "../../src/trace/RecordBatch.ts"
import * as RecordBatchModule from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import { decode, type Entry, mockThread } from "./fixtures.ts"

type EventKind = "ts" | "blocking" | "syscall" | "direct" | "unsched" | "sched" | "data" | "cpu"

interface InputSpec {
  readonly instrs: number
  readonly startTs: number
  readonly events: ReadonlyArray<{ readonly at: number; readonly kind: EventKind; readonly arg: number }>
}

const inputSpec: fc.Arbitrary<InputSpec> = fc.record({
  instrs: fc.integer({ min: 0, max: 25 }),
  startTs: fc.integer({ min: 1, max: 500 }),
  events: fc.array(
    fc.record({
      at: fc.nat(25),
      kind: fc.constantFrom<EventKind>("ts", "blocking", "syscall", "direct", "unsched", "sched", "data", "cpu"),
      arg: fc.nat(40)
    }),
    { maxLength: 6 }
  )
})

const build = (specs: ReadonlyArray<InputSpec>): Array<Array<Entry>> =>
  specs.map((spec, i) => {
    const tid = 100 + i
    let ts = spec.startTs
    const body: Array<Entry> = [Synthetic.version(7), Synthetic.timestamp(ts)]
    for (let j = 0; j < spec.instrs; j++) {
      body.push(Synthetic.instr(tid * 1000 + j))
      for (const e of spec.events) {
        if (e.at !== j) continue
        const target = 100 + (e.arg % specs.length)
        switch (e.kind) {
          case "ts":
            body.push(Synthetic.timestamp((ts += e.arg + 1)))
            break
          case "blocking":
            body.push(
              Synthetic.timestamp(ts),
              Synthetic.marker(MarkerType.SYSCALL, 7),
              Synthetic.marker(MarkerType.MAYBE_BLOCKING_SYSCALL),
              Synthetic.timestamp((ts += e.arg * 10))
            )
            break
          case "syscall":
            body.push(
              Synthetic.timestamp(ts),
              Synthetic.marker(MarkerType.SYSCALL, 8),
              Synthetic.timestamp((ts += e.arg))
            )
            break
          case "direct":
            body.push(
              Synthetic.marker(MarkerType.SYSCALL, 9),
              Synthetic.marker(MarkerType.SYSCALL_ARG_TIMEOUT, e.arg % 3 === 0 ? 0 : e.arg),
              Synthetic.marker(MarkerType.DIRECT_THREAD_SWITCH, target)
            )
            break
          case "unsched":
            body.push(
              Synthetic.marker(MarkerType.SYSCALL, 10),
              Synthetic.marker(MarkerType.MAYBE_BLOCKING_SYSCALL),
              Synthetic.marker(MarkerType.SYSCALL_UNSCHEDULE)
            )
            break
          case "sched":
            body.push(Synthetic.marker(MarkerType.SYSCALL, 11), Synthetic.marker(MarkerType.SYSCALL_SCHEDULE, target))
            break
          case "data":
            body.push(Synthetic.read(0x10000 + e.arg))
            break
          case "cpu":
            body.push(Synthetic.cpu(e.arg))
            break
        }
      }
    }
    body.push(Synthetic.exit(tid))
    return mockThread(tid, body)
  })

const dynamicOptions = (inputs: number, outputs: number): fc.Arbitrary<Options> =>
  fc.record({
    mapping: fc.constant("dynamic" as const),
    deps: fc.constantFrom("ignore" as const, "timestamps" as const),
    quantumUnit: fc.constantFrom("instructions" as const, "time" as const),
    quantumDurationInstrs: fc.integer({ min: 1, max: 6 }),
    quantumDurationUs: fc.integer({ min: 1, max: 6 }),
    blockingSwitchThreshold: fc.integer({ min: 1, max: 200 }),
    syscallSwitchThreshold: fc.integer({ min: 1, max: 400 }),
    blockTimeMultiplier: fc.constantFrom(0.01, 0.1, 0.5),
    blockTimeMaxUs: fc.integer({ min: 1, max: 30 }),
    timeUnitsPerUs: fc.constant(1),
    migrationThresholdUs: fc.integer({ min: 0, max: 5 }),
    rebalancePeriodUs: fc.integer({ min: 5, max: 60 }),
    stealAttemptPeriod: fc.integer({ min: 0, max: 4 }),
    randomInitialLayout: fc.integer({ min: -1, max: 50 }),
    honorDirectSwitches: fc.boolean(),
    honorInfiniteTimeouts: fc.boolean(),
    ignoreLowLatencyUnsched: fc.boolean(),
    directSwitchFallbacks: fc.boolean(),
    randomizeNextInput: fc.boolean(),
    exitIfFractionInputsLeft: fc.constant(0),
    inputs: fc.array(
      fc.record({
        workload: fc.integer({ min: 0, max: 2 }),
        priority: fc.integer({ min: 0, max: 2 }),
        binding: fc.subarray(Array.from({ length: outputs }, (_, o) => o))
      }),
      { minLength: inputs, maxLength: inputs }
    )
  })

type Action =
  | {
      readonly _tag: "next"
      readonly output: number
      readonly max: number
      readonly advance: number
      readonly idles: number
    }
  | { readonly _tag: "fail"; readonly output: number; readonly keep: number }
  | { readonly _tag: "revive"; readonly output: number }

const actions = (outputs: number): fc.Arbitrary<Array<Action>> =>
  fc.array(
    fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          _tag: fc.constant("next" as const),
          output: fc.nat(outputs - 1),
          max: fc.constantFrom(1, 2, 3, 7, Number.POSITIVE_INFINITY),
          advance: fc.nat(3),
          idles: fc.constantFrom(1, 1, 5, 1000)
        })
      },
      {
        weight: 1,
        arbitrary: fc.record({ _tag: fc.constant("fail" as const), output: fc.nat(outputs - 1), keep: fc.nat(5) })
      },
      { weight: 1, arbitrary: fc.record({ _tag: fc.constant("revive" as const), output: fc.nat(outputs - 1) }) }
    ),
    { maxLength: 200 }
  )

/**
 * Runs the core over the inputs: first the random actions, then every output
 * re-activated and polled round-robin until EOF. Checks every delivered range
 * continues its input exactly where the previous one (minus un-read records)
 * stopped, and that each input is delivered to its end.
 */
const check = (
  entries: ReadonlyArray<ReadonlyArray<Entry>>,
  outputs: number,
  options: Options,
  script: ReadonlyArray<Action>,
  capacity: number,
  useTime: boolean,
  requireAll = true
): void => {
  const batches = entries.map((e) => decode(e, capacity))
  const offsets = batches.map((bs) => {
    const m = new Map<RecordBatch, number>()
    let off = 0
    for (const b of bs) {
      m.set(b, off)
      off += b.header[0]!
    }
    return m
  })
  const totals = batches.map((bs) => bs.reduce((n, b) => n + b.header[0]!, 0))
  const pending = batches.map((bs) => bs.slice())
  const core = Core.make(
    entries.map((_, i) => ({ tid: 100 + i })),
    outputs,
    options
  )
  if (!(core instanceof Core)) throw new Error(`${core.option}: ${core.detail}`)
  const next = new Array<number>(entries.length).fill(0)
  const lastRange = new Array<number>(outputs).fill(0)
  let calls = 0
  let clock = 1
  const poll = (o: number, max: number, idles: number): string => {
    for (;;) {
      if (++calls > 300_000) throw new Error("no progress: the run does not end")
      const s = core.next(o, useTime ? clock : 0, max, idles)
      if (s._tag === "NeedData") {
        core.supply(s.input, pending[s.input]!.shift())
        continue
      }
      lastRange[o] = 0
      if (s._tag === "Error") throw new Error(`${s.reason}: ${s.detail}`)
      if (s._tag !== "Records") return s._tag
      const at = offsets[s.input]!.get(s.batch)! + s.start
      if (at !== next[s.input]) throw new Error(`input ${s.input}: range at ${at}, expected ${next[s.input]}`)
      next[s.input] = at + (s.end - s.start)
      lastRange[o] = s.end - s.start
      return "Records"
    }
  }
  for (const a of script) {
    if (a._tag === "next") {
      clock += a.advance
      if (core.outputs[a.output]!.active) poll(a.output, a.max, a.idles)
    } else if (a._tag === "fail") {
      const o = a.output
      const back = Math.max(0, lastRange[o]! - a.keep)
      const input = core.outputs[o]!.curInput
      if (back > 0 && core.unread(o, back)) next[input]! -= back
      lastRange[o] = 0
      core.setActive(o, false)
    } else {
      core.setActive(a.output, true)
    }
  }
  for (let o = 0; o < outputs; o++) core.setActive(o, true)
  const eof = new Array<boolean>(outputs).fill(false)
  while (eof.some((e) => !e)) {
    clock++
    for (let o = 0; o < outputs; o++)
      if (!eof[o] && poll(o, Number.POSITIVE_INFINITY, 1 + (clock % 3) * 50) === "Eof") eof[o] = true
  }
  for (let i = 0; i < entries.length; i++) {
    if (requireAll ? next[i] !== totals[i] : next[i]! > totals[i]!)
      throw new Error(`input ${i}: delivered ${next[i]} of ${totals[i]} records`)
  }
}

describe("scheduler core properties", () => {
  it("dynamic: every record exactly once, in order, whatever the options and setActive calls", () => {
    const scenario = fc
      .record({ n: fc.integer({ min: 1, max: 6 }), m: fc.integer({ min: 1, max: 4 }) })
      .chain(({ n, m }) =>
        fc.record({
          specs: fc.array(inputSpec, { minLength: n, maxLength: n }),
          outputs: fc.constant(m),
          options: dynamicOptions(n, m),
          script: actions(m),
          capacity: fc.constantFrom(16, 32, 8192),
          useTime: fc.boolean()
        })
      )
    fc.assert(
      fc.property(scenario, (s) => {
        const options = { ...s.options, quantumUnit: s.useTime ? s.options.quantumUnit : ("instructions" as const) }
        check(build(s.specs), s.outputs, options, s.script, s.capacity, s.useTime)
      }),
      { numRuns: 150, seed: 20261126 }
    )
  })

  it("dynamic with an exit fraction: records at most once, in order, and every output ends", () => {
    const scenario = fc
      .record({ n: fc.integer({ min: 1, max: 8 }), m: fc.integer({ min: 1, max: 3 }) })
      .chain(({ n, m }) =>
        fc.record({
          specs: fc.array(inputSpec, { minLength: n, maxLength: n }),
          outputs: fc.constant(m),
          options: dynamicOptions(n, m),
          fraction: fc.constantFrom(0.1, 0.3, 0.5, 1),
          script: actions(m)
        })
      )
    fc.assert(
      fc.property(scenario, (s) => {
        const options = { ...s.options, quantumUnit: "instructions" as const, exitIfFractionInputsLeft: s.fraction }
        check(build(s.specs), s.outputs, options, s.script, 32, false, false)
      }),
      { numRuns: 60, seed: 3 }
    )
  })

  it("consistent and serial: every record exactly once, in order, in runs of any length", () => {
    const scenario = fc.record({
      specs: fc.array(inputSpec, { minLength: 1, maxLength: 6 }),
      outputs: fc.integer({ min: 1, max: 4 }),
      serial: fc.boolean(),
      script: actions(1),
      capacity: fc.constantFrom(16, 32, 8192)
    })
    fc.assert(
      fc.property(scenario, (s) => {
        const outputs = s.serial ? 1 : s.outputs
        const options: Options = s.serial ? { mapping: "recorded", deps: "timestamps" } : { mapping: "consistent" }
        check(
          build(s.specs),
          outputs,
          options,
          s.script.filter((a) => a._tag === "next"),
          s.capacity,
          false
        )
      }),
      { numRuns: 100, seed: 7 }
    )
  })

  it("dynamic: idles taken in bulk or from settled queues are the ones the full pick makes, on any number of outputs", () => {
    // The reference is the same core with its shortcuts removed (bulk idles,
    // settled queues): every idle then goes through the ordinary pick (pops,
    // re-adds, steal attempts, rebalances). Both must produce the same steps, statistics
    // and run-queue states under the same calls.
    const scenario = fc
      .record({ n: fc.integer({ min: 1, max: 8 }), m: fc.integer({ min: 1, max: 4 }) })
      .chain(({ n, m }) =>
        fc.record({
          specs: fc.array(inputSpec, { minLength: n, maxLength: n }),
          outputs: fc.constant(m),
          options: dynamicOptions(n, m),
          script: actions(m),
          fraction: fc.constantFrom(0, 0, 0.3)
        })
      )
    const run = (
      s: { specs: Array<InputSpec>; outputs: number; options: Options; script: Array<Action> },
      bulk: boolean
    ) => {
      const bs = build(s.specs).map((e) => decode(e, 32))
      const core = Core.make(
        s.specs.map((_, i) => ({ tid: 100 + i })),
        s.outputs,
        s.options
      ) as Core
      if (!bulk) {
        // The reference: every idle through the ordinary pick, queues never taken as settled.
        ;(core.mode as { bulkIdle?: unknown }).bulkIdle = undefined
        ;(core.mode as unknown as { settle: () => void }).settle = () => undefined
      }
      const log: Array<string> = []
      const poll = (o: number, max: number, idles: number): string => {
        for (let k = 0; k < 100_000; k++) {
          const st = core.next(o, 0, max, idles)
          if (st._tag === "NeedData") {
            core.supply(st.input, bs[st.input]!.shift())
            continue
          }
          if (st._tag === "Records") log.push(`${o}:${st.input}:${st.start}-${st.end}`)
          else if (st._tag === "Idle") log.push(`${o}:idle×${st.count}@${core.outputs[o]!.curTime}`)
          else log.push(`${o}:${st._tag}`)
          return st._tag
        }
        throw new Error("no progress")
      }
      for (const a of s.script) {
        if (a._tag === "next") {
          if (core.outputs[a.output]!.active) poll(a.output, a.max, a.idles)
        } else core.setActive(a.output, a._tag === "revive")
      }
      for (let o = 0; o < s.outputs; o++) core.setActive(o, true)
      const eof = new Array<boolean>(s.outputs).fill(false)
      for (let round = 0; eof.some((e) => !e); round++) {
        if (round > 100_000) throw new Error("no EOF")
        for (let o = 0; o < s.outputs; o++) if (!eof[o] && poll(o, 5, 1000) === "Eof") eof[o] = true
      }
      const mode = core.mode as unknown as { queueContents(o: number): Array<number> }
      for (let o = 0; o < s.outputs; o++)
        log.push(`stats ${o}: ${Array.from(core.stats(o)).join(",")} queue ${mode.queueContents(o).join(",")}`)
      return log
    }
    let bulkIdles = 0
    fc.assert(
      fc.property(scenario, (s) => {
        const options: Options = {
          ...s.options,
          quantumUnit: "instructions",
          randomizeNextInput: false,
          exitIfFractionInputsLeft: s.fraction
        }
        const c = { ...s, options }
        const reference = run(c, false)
        const bulk = run(c, true)
        assert.deepStrictEqual(bulk, reference)
        bulkIdles += reference.filter((l) => l.includes("idle×")).length
      }),
      { numRuns: 200, seed: 20261127 }
    )
    // The scenarios do reach idle stretches (else the comparison would be vacuous).
    assert.isAbove(bulkIdles, 100)
  })

  it("core-serial: lockstep spans hand out exactly the walk's records, round by round, and leave the same state", () => {
    const scenario = fc
      .record({ n: fc.integer({ min: 1, max: 8 }), m: fc.integer({ min: 1, max: 4 }) })
      .chain(({ n, m }) =>
        fc.record({
          specs: fc.array(inputSpec, { minLength: n, maxLength: n }),
          outputs: fc.constant(m),
          options: dynamicOptions(n, m),
          capacity: fc.constantFrom(16, 64, 8192),
          span: fc.constantFrom(2, 5, 1024)
        })
      )
    let spans = 0
    let idleSpans = 0
    const walk = (
      s: { specs: Array<InputSpec>; outputs: number; options: Options; capacity: number },
      span: number
    ) => {
      const bs = build(s.specs).map((e) => decode(e, s.capacity))
      const core = Core.make(
        s.specs.map((_, i) => ({ tid: 100 + i })),
        s.outputs,
        s.options
      ) as Core
      const log: Array<string> = []
      const step = (o: number, max: number) => {
        for (;;) {
          const st = core.next(o, 0, max, 1)
          if (st._tag !== "NeedData") return st
          core.supply(st.input, bs[st.input]!.shift())
        }
      }
      const eof = new Array<boolean>(s.outputs).fill(false)
      const steps: Array<Step> = []
      // The outputs' times after each round (after a span: its last round only).
      const times: Array<string> = []
      for (let round = 0; eof.some((e) => !e); round++) {
        if (round > 200_000) throw new Error("no EOF")
        const live = [...eof.keys()].filter((o) => !eof[o])
        const n = span > 1 ? core.lockstepSpan(live, span, steps) : 0
        if (n > 0) {
          spans++
          if (steps.slice(0, live.length).some((st) => st._tag === "Idle")) idleSpans++
          for (let i = 0; i < n; i++)
            for (let k = 0; k < live.length; k++) {
              const st = steps[k]!
              if (st._tag === "Records")
                log.push(`${live[k]}:${st.input}:${RecordBatchModule.firstRecordOrdinal(st.batch) + st.start + i}`)
              else log.push(`${live[k]}:${st._tag}`)
            }
          round += n - 1
          times[round] = live.map((o) => core.outputs[o]!.curTime).join(",")
          continue
        }
        for (const o of live) {
          const st = step(o, 1)
          if (st._tag === "Records")
            log.push(`${o}:${st.input}:${RecordBatchModule.firstRecordOrdinal(st.batch) + st.start}`)
          else log.push(`${o}:${st._tag}`)
          if (st._tag === "Eof") eof[o] = true
          if (st._tag === "Error") throw new Error(st.detail)
        }
        times[round] = live.map((o) => core.outputs[o]!.curTime).join(",")
      }
      for (let o = 0; o < s.outputs; o++) {
        const out = core.outputs[o]!
        log.push(
          `output ${o}: ${Array.from(core.stats(o)).join(",")} t=${out.curTime} i=${out.instrs} r=${out.records}`
        )
      }
      return { log, times }
    }
    fc.assert(
      fc.property(scenario, (s) => {
        const options: Options = {
          ...s.options,
          quantumUnit: "instructions",
          singleLockstepOutput: true,
          exitIfFractionInputsLeft: 0
        }
        const c = { ...s, options }
        const spanned = walk(c, s.span)
        const single = walk(c, 1)
        assert.deepStrictEqual(spanned.log, single.log)
        spanned.times.forEach((t, round) => {
          assert.strictEqual(t, single.times[round], `times after round ${round}`)
        })
      }),
      { numRuns: 150, seed: 20261128 }
    )
    assert.isAbove(spans, 50)
    assert.isAbove(idleSpans, 10)
  })

  it("runs and batched idles are the same schedule as one call per record when nothing else interleaves", () => {
    // With one output, ending a run before a switch point and deciding the
    // switch in the next call is exactly DynamoRIO's record-at-a-time order,
    // and so is making several idle decisions in one call.
    fc.assert(
      fc.property(fc.array(inputSpec, { minLength: 1, maxLength: 5 }), dynamicOptions(5, 1), (specs, opts) => {
        const options = { ...opts, inputs: opts.inputs?.slice(0, specs.length) }
        const order = (max: number, idles: number): Array<string> => {
          const bs = build(specs).map((e) => decode(e))
          const core = Core.make(
            specs.map((_, i) => ({ tid: 100 + i })),
            1,
            options
          ) as Core
          const seq: Array<string> = []
          for (let k = 0; k < 100_000; k++) {
            const s = core.next(0, 0, max, idles)
            if (s._tag === "NeedData") {
              core.supply(s.input, bs[s.input]!.shift())
              continue
            }
            if (s._tag === "Eof") return seq
            if (s._tag === "Records") for (let i = s.start; i < s.end; i++) seq.push(`${s.input}:${i}`)
            else if (s._tag === "Idle") for (let k = 0; k < s.count; k++) seq.push("Idle")
            else seq.push(s._tag)
          }
          throw new Error("no EOF")
        }
        const single = order(1, 1)
        assert.deepStrictEqual(order(Number.POSITIVE_INFINITY, 1), single)
        assert.deepStrictEqual(order(Number.POSITIVE_INFINITY, 64), single)
      }),
      { numRuns: 100, seed: 11 }
    )
  })
})
