/**
 * Ports of DynamoRIO's option and mode tests from
 * clients/drcachesim/tests/scheduler_unit_tests.cpp: which option
 * combinations init refuses (test_param_checks' test_legacy_fields,
 * test_options_match, test_whole_system_invalid_options,
 * test_synthetic_with_bindings_invalid), random next-input picks
 * (test_random_schedule), a multi-threaded run of a real trace
 * (test_synthetic_multi_threaded) and the scheduler side of
 * test_hardware_event_kernel_regions. test_invalid_regions is in
 * regions.test.ts. Speculation (test_speculation), the noise generator
 * (test_noise_generator) and the stream's `is_record_kernel` are not
 * memtrace scheduler features (kernel state is tracked by the tools).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { INSTRS_PER_US } from "../../src/scheduler/internal/state.ts"
import * as Scheduler from "../../src/scheduler/Scheduler.ts"
import { FileType, isInstr, MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { lockstep } from "../utils/scheduleString.ts"
import { Driver, type Entry, exit, instr, maybeBlocking, mockThread, syscall, timestamp, version } from "./fixtures.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"
/** DynamoRIO's TRACE_ENTRY_VERSION (TRACE_ENTRY_VERSION_RETIRED_INSTRUCTIONS_ONLY). */
const TRACE_ENTRY_VERSION = 7

/** What a `make` that should fail failed with: the SchedulerError's reason and option, or a description. */
const refusal = <A, E, R>(make: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const r = yield* Effect.result(make)
    if (r._tag === "Success") return { accepted: true as const }
    const e = r.failure as { _tag?: string; reason?: string; option?: string; message?: string }
    return { accepted: false as const, tag: e._tag, reason: e.reason, option: e.option, message: e.message }
  })

/**
 * DynamoRIO's run_lockstep_simulation over the public API: outputs polled
 * round-robin, one record (`maxRecords: 1`) each per round; letters as in
 * test/utils/scheduleString.ts.
 */
const lockstepScheduler = (s: Scheduler.Scheduler, tidBase: number) =>
  Effect.gen(function* () {
    const n = s.outputCount
    const strings: Array<Array<string>> = Array.from({ length: n }, () => [])
    const eof = new Array<boolean>(n).fill(false)
    let left = n
    let rounds = 0
    while (left > 0) {
      if (++rounds > 100_000) throw new Error("lockstep: no EOF after 100,000 rounds")
      for (let o = 0; o < n; o++) {
        if (eof[o]) continue
        const step = yield* s.next(o, { maxRecords: 1 })
        switch (step._tag) {
          case "Eof":
            eof[o] = true
            left--
            break
          case "Idle":
            strings[o]!.push("_")
            break
          case "Wait":
            strings[o]!.push("-")
            break
          case "Records": {
            const t = step.batch.type[step.start]!
            strings[o]!.push(
              isInstr(t) ? String.fromCharCode(65 + (step.batch.tid[step.start]! % 2 ** 48) - tidBase) : "."
            )
          }
        }
      }
    }
    return strings.map((x) => x.join(""))
  })

describe("test_param_checks", () => {
  // test_param_checks = test_invalid_regions (ported in regions.test.ts) + test_legacy_fields.
  it("test_legacy_fields: the converted legacy values (block_time_scale 0.01, block_time_max 50) give DynamoRIO's schedule", () => {
    // memtrace has no deprecated fields (quantum_duration, block_time_scale,
    // block_time_max) nor struct_size: this port passes the values DynamoRIO's
    // legacy_field_support() converts them to with time_units_per_us 1:
    // block_time_multiplier = 0.01 / 1, block_time_max_us = 50 / 1.
    const NUM_INPUTS = 7
    const NUM_INSTRS = 9
    const TID_BASE = 100
    const START_TIME = 20
    const BLOCK_LATENCY = 200
    const inputs: Array<Array<Entry>> = []
    for (let i = 0; i < NUM_INPUTS; i++) {
      const tid = TID_BASE + i
      const body: Array<Entry> = [version(TRACE_ENTRY_VERSION), timestamp(START_TIME)]
      for (let j = 0; j < NUM_INSTRS; j++) {
        body.push(instr(42 + j * 4))
        if ((i === 0 || i === 1) && j === 1)
          body.push(timestamp(START_TIME * 2), syscall(42), maybeBlocking(), timestamp(START_TIME * 2 + BLOCK_LATENCY))
      }
      body.push(exit(tid))
      inputs.push(mockThread(tid, body))
    }
    const d = new Driver(inputs, 2, {
      mapping: "dynamic",
      deps: "ignore",
      randomInitialLayout: -1,
      quantumDurationUs: 3,
      blockingSwitchThreshold: 100,
      blockTimeMultiplier: 0.01,
      blockTimeMaxUs: 50,
      quantumUnit: "time",
      timeUnitsPerUs: 1
    })
    const s = lockstep(d.lockstep(), 2, { tidBase: TID_BASE, sendTime: true })
    assert.strictEqual(s[0], "..AA......CCC..EEE..GGGACCCEEEGGGAAACCC.EEGGAAE.G.A.")
    assert.strictEqual(s[1], "..BB......DDD..FFFBDDDFFFBBBDDD.FFF.BBB.____________")
  })
})

describe("test_options_match", () => {
  it("the default time_units_per_us is INSTRS_PER_US", () => {
    assert.strictEqual(Scheduler.defaults.timeUnitsPerUs, INSTRS_PER_US)
  })
})

describe("test_synthetic_with_bindings_invalid", () => {
  const TID_A = 42
  const refsA = () =>
    Trace.fromEntries(mockThread(TID_A, [version(TRACE_ENTRY_VERSION), timestamp(1), instr(10), exit(TID_A)]), {
      ordinal: 0
    })
  for (const [name, binding] of [
    ["negative bindings", [1, -1]],
    ["too-large bindings", [1, 2]]
  ] as const) {
    it.effect(`${name}: {${binding.join(", ")}} on 2 outputs is refused`, () =>
      Effect.gen(function* () {
        const inputs = [yield* refsA()]
        const r = yield* refusal(
          Scheduler.make(inputs, 2, { mapping: "dynamic", deps: "timestamps", inputs: [{ binding: [...binding] }] })
        )
        assert.deepStrictEqual(
          { accepted: r.accepted, tag: r.tag, reason: r.reason, option: r.option },
          { accepted: false, tag: "SchedulerError", reason: "InvalidOption", option: "inputs" }
        )
      })
    )
  }
})

describe("test_whole_system_invalid_options", () => {
  const TID = 42
  const PC = 0x1000
  const refs: Array<Entry> = [
    Synthetic.header(TRACE_ENTRY_VERSION),
    Synthetic.threadEntry(TID),
    Synthetic.pid(1),
    Synthetic.filetype(FileType.WHOLE_SYSTEM),
    Synthetic.version(TRACE_ENTRY_VERSION),
    Synthetic.timestamp(10),
    Synthetic.instr(PC),
    Synthetic.exit(TID),
    Synthetic.footer()
  ]
  const workload = () => Effect.map(Trace.fromEntries(refs, { ordinal: 0 }), (input) => [input])

  it.effect("Test 1: MAP_TO_ANY_OUTPUT is refused at init, naming the mapping", () =>
    Effect.gen(function* () {
      const r = yield* refusal(Scheduler.make(yield* workload(), 1, { mapping: "dynamic", deps: "ignore" }))
      assert.deepStrictEqual(
        { accepted: r.accepted, tag: r.tag, reason: r.reason, option: r.option },
        { accepted: false, tag: "SchedulerError", reason: "InvalidOption", option: "mapping" }
      )
    })
  )

  it.effect("Test 2: MAP_TO_CONSISTENT_OUTPUT + DEPENDENCY_TIMESTAMPS is refused at init, naming the deps", () =>
    Effect.gen(function* () {
      const r = yield* refusal(Scheduler.make(yield* workload(), 1, { mapping: "consistent", deps: "timestamps" }))
      assert.deepStrictEqual(
        { accepted: r.accepted, tag: r.tag, reason: r.reason, option: r.option },
        { accepted: false, tag: "SchedulerError", reason: "InvalidOption", option: "deps" }
      )
    })
  )

  it.effect("Test 3: MAP_TO_CONSISTENT_OUTPUT + DEPENDENCY_IGNORE is accepted", () =>
    Effect.gen(function* () {
      const r = yield* refusal(Scheduler.make(yield* workload(), 1, { mapping: "consistent", deps: "ignore" }))
      assert.deepStrictEqual(r, { accepted: true })
    })
  )

  it.effect("Test 3b: make_scheduler_parallel_options is accepted", () =>
    Effect.gen(function* () {
      const r = yield* refusal(
        Scheduler.make(yield* workload(), 1, { mapping: "consistent", deps: "ignore", useInputOrdinals: true })
      )
      assert.deepStrictEqual(r, { accepted: true })
    })
  )

  it.effect("Test 4: MAP_TO_ANY_OUTPUT without read_inputs_in_init: init succeeds, reading fails", () =>
    Effect.gen(function* () {
      const s = yield* Scheduler.make(yield* workload(), 1, {
        mapping: "dynamic",
        deps: "ignore",
        readInputsInInit: false
      })
      // DynamoRIO: the FILETYPE record makes next_record return STATUS_INVALID
      // (check_scheduler_mode_valid in stream_t::next_record); every status
      // before it is OK, and it comes within 11 reads.
      const steps: Array<string> = []
      let failure: { tag: string | undefined; reason: string | undefined; option: string | undefined } | undefined
      for (let count = 0; count <= 10; count++) {
        const r = yield* Effect.result(s.next(0, { maxRecords: 1 }))
        if (r._tag === "Failure") {
          const e = r.failure as { _tag?: string; reason?: string; option?: string }
          failure = { tag: e._tag, reason: e.reason, option: e.option }
          break
        }
        steps.push(r.success._tag)
        if (r.success._tag === "Eof") break
      }
      assert.deepStrictEqual(
        { failure, notRecords: steps.filter((t) => t !== "Records") },
        { failure: { tag: "SchedulerError", reason: "InvalidOption", option: "mapping" }, notRecords: [] },
        `steps: ${steps.join(" ")}`
      )
    })
  )
})

describe("test_random_schedule", () => {
  it.live(
    "randomize_next_input: at least half of 9 runs give each output a different schedule",
    () =>
      Effect.gen(function* () {
        const NUM_INPUTS = 7
        const NUM_OUTPUTS = 2
        const NUM_INSTRS = 9
        const QUANTUM_DURATION = 3
        const ITERS = 9
        const TID_BASE = 100
        const entries = Array.from({ length: NUM_INPUTS }, (_, i) => {
          const tid = TID_BASE + i
          const body: Array<Entry> = [version(TRACE_ENTRY_VERSION), timestamp(10)]
          for (let j = 0; j < NUM_INSTRS; j++) body.push(instr(42 + j * 4))
          body.push(exit(tid))
          return mockThread(tid, body)
        })
        const schedsByCpu = Array.from({ length: NUM_OUTPUTS }, () => new Set<string>())
        for (let iter = 0; iter < ITERS; iter++) {
          const strings = yield* Effect.scoped(
            Effect.gen(function* () {
              const inputs = yield* Effect.forEach(entries, (e, ordinal) => Trace.fromEntries(e, { ordinal }))
              const s = yield* Scheduler.make(inputs, NUM_OUTPUTS, {
                mapping: "dynamic",
                deps: "ignore",
                randomizeNextInput: true,
                quantumDurationInstrs: QUANTUM_DURATION
              })
              return yield* lockstepScheduler(s, TID_BASE)
            })
          )
          for (let o = 0; o < NUM_OUTPUTS; o++) schedsByCpu[o]!.add(strings[o]!)
        }
        for (let o = 0; o < NUM_OUTPUTS; o++)
          assert.isAtLeast(
            schedsByCpu[o]!.size,
            Math.floor(ITERS / 2),
            `cpu #${o} schedules: ${[...schedsByCpu[o]!].join(" | ")}`
          )
      }),
    60_000
  )
})

describe("test_synthetic_multi_threaded", () => {
  it.effect(
    "threadsig on 4 outputs, one fiber each: every record once and in order, and every output ends",
    () =>
      Effect.gen(function* () {
        // The totals, read directly.
        const direct = yield* Effect.scoped(
          Effect.gen(function* () {
            const inputs = yield* Trace.open(THREADSIG)
            const totals: Array<{ records: number; instrs: number }> = []
            for (const inp of inputs) {
              let records = 0
              let instrs = 0
              for (let b = yield* inp.next; b !== undefined; b = yield* inp.next) {
                const n = RecordBatch.length(b)
                records += n
                for (let i = 0; i < n; i++) if (isInstr(b.type[i]!)) instrs++
              }
              totals.push({ records, instrs })
            }
            return totals
          })
        )
        const inputs = yield* Trace.open(THREADSIG)
        const NUM_OUTPUTS = 4
        const s = yield* Scheduler.make(inputs, NUM_OUTPUTS, {
          mapping: "dynamic",
          deps: "timestamps",
          quantumDurationInstrs: 2000,
          blockTimeMaxUs: 50
        })
        const n = s.inputs.length
        const next = new Array<number>(n).fill(1)
        const instrs = new Array<number>(n).fill(0)
        const errors: Array<string> = []
        const ended = new Array<boolean>(NUM_OUTPUTS).fill(false)
        yield* Effect.forEach(
          Array.from({ length: NUM_OUTPUTS }, (_, o) => o),
          (o) =>
            Effect.gen(function* () {
              for (;;) {
                const step = yield* s.next(o)
                if (step._tag === "Eof") {
                  ended[o] = true
                  return
                }
                if (step._tag !== "Records") continue
                const first = RecordBatch.firstRecordOrdinal(step.batch) + step.start
                if (first !== next[step.input])
                  errors.push(`input ${step.input}: record ${first} after ${next[step.input]! - 1}`)
                for (let i = step.start; i < step.end; i++) if (isInstr(step.batch.type[i]!)) instrs[step.input]!++
                next[step.input] = first + (step.end - step.start)
              }
            }),
          { concurrency: "unbounded", discard: true }
        )
        assert.deepStrictEqual(errors, [])
        assert.deepStrictEqual(ended, [true, true, true, true])
        assert.deepStrictEqual(
          next.map((v) => v - 1),
          direct.map((t) => t.records)
        )
        assert.deepStrictEqual(
          instrs,
          direct.map((t) => t.instrs)
        )
        assert.strictEqual(
          instrs.reduce((a, b) => a + b, 0),
          650576
        )
      }),
    120_000
  )
})

describe("test_hardware_event_kernel_regions (scheduler part)", () => {
  it.effect(
    "a whole-system trace with nested hardware events runs through MAP_TO_CONSISTENT_OUTPUT record by record to EOF",
    () =>
      Effect.gen(function* () {
        const TID = 42
        const PC_USER = 0x1000
        const PC_KERNEL = 0x2000
        const SYSNUM = 42
        const M = (t: number, v: number) => Synthetic.marker(t, v)
        const body: Array<Entry> = [
          Synthetic.version(TRACE_ENTRY_VERSION),
          Synthetic.filetype(FileType.WHOLE_SYSTEM),
          Synthetic.timestamp(10),
          Synthetic.instr(PC_USER),
          // Syscall with a hardware event nested in it.
          M(MarkerType.SYSCALL_TRACE_START, SYSNUM),
          Synthetic.instr(PC_KERNEL + 100),
          M(MarkerType.HARDWARE_EVENT, PC_KERNEL + 104),
          Synthetic.instr(PC_KERNEL + 200),
          M(MarkerType.HARDWARE_CONTEXT_RETURN, PC_KERNEL + 204),
          Synthetic.instr(PC_KERNEL + 104),
          M(MarkerType.SYSCALL_TRACE_END, SYSNUM),
          Synthetic.instr(PC_USER + 4),
          // Hardware event nested within another.
          M(MarkerType.HARDWARE_EVENT, PC_USER + 8),
          Synthetic.instr(PC_KERNEL + 100),
          M(MarkerType.HARDWARE_EVENT, PC_KERNEL + 104),
          Synthetic.instr(PC_KERNEL + 200),
          M(MarkerType.HARDWARE_CONTEXT_RETURN, PC_KERNEL + 204),
          Synthetic.instr(PC_KERNEL + 104),
          M(MarkerType.HARDWARE_CONTEXT_RETURN, PC_KERNEL + 108),
          Synthetic.exit(TID)
        ]
        const entries = [
          Synthetic.header(TRACE_ENTRY_VERSION),
          Synthetic.threadEntry(TID),
          Synthetic.pid(TID),
          ...body,
          Synthetic.footer()
        ]
        const input = yield* Trace.fromEntries(entries, { ordinal: 0 })
        const s = yield* Scheduler.make([input], 1, { mapping: "consistent", deps: "ignore" })
        const got: Array<string> = []
        const key = (type: number, size: number, addr: bigint | number) =>
          type === TraceType.MARKER ? `marker ${size} ${addr}` : `${type} ${addr}`
        for (let step = yield* s.next(0, { maxRecords: 1 }); ; step = yield* s.next(0, { maxRecords: 1 })) {
          if (step._tag === "Eof") break
          if (step._tag !== "Records") {
            got.push(step._tag)
            continue
          }
          const b = step.batch
          const i = step.start
          got.push(
            key(b.type[i]!, b.size[i]!, b.type[i] === TraceType.THREAD_EXIT ? b.tid[i]! : RecordBatch.addrBig(b, i))
          )
          if (got.length > 100) break
        }
        // Every record of the input, unchanged, then EOF (is_record_kernel is not a scheduler query here).
        assert.deepStrictEqual(
          got,
          body.map((e) => key(e.type, e.size, e.addr))
        )
      })
  )
})
