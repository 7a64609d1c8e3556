/**
 * DynamoRIO's scheduler unit tests for blocking syscalls, unscheduled inputs
 * and direct switches (clients/drcachesim/tests/scheduler_unit_tests.cpp:
 * test_synthetic_with_syscalls_{precise,latencies,idle},
 * test_unscheduled_{fallback,initially_rebalance,initially_roi,latency},
 * test_direct_switch_fallback), with their inputs, options, golden schedule
 * strings and statistics copied as they are. The sub-cases already ported in
 * dynamicFeatures.test.ts (test_synthetic_with_syscalls_{multiple,single},
 * test_direct_switch_base, test_unscheduled_{base,initially,small_timeout,
 * no_alternative}) are not repeated here.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Options } from "../../src/scheduler/internal/options.ts"
import { type RecordsStep, Stat } from "../../src/scheduler/internal/state.ts"
import {
  encodeRecords,
  parseRecords,
  RecordType,
  recordedComponentName,
  type ScheduleRecord
} from "../../src/trace/internal/scheduleFile.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import { type Lockstep, lockstep } from "../utils/scheduleString.ts"
import {
  cpu,
  Driver,
  type Entry,
  exit,
  instr,
  marker,
  maybeBlocking,
  mockThread,
  syscall,
  timestamp
} from "./fixtures.ts"

/** DynamoRIO's TRACE_ENTRY_VERSION (TRACE_ENTRY_VERSION_RETIRED_INSTRUCTIONS_ONLY). */
const TRACE_ENTRY_VERSION = 7
const version = (): Entry => marker(MarkerType.VERSION, TRACE_ENTRY_VERSION)
const funcId = (v: number) => marker(MarkerType.FUNC_ID, v)
const funcArg = (v: number) => marker(MarkerType.FUNC_ARG, v)
const funcRetval = (v: number) => marker(MarkerType.FUNC_RETVAL, v)
const unschedule = () => marker(MarkerType.SYSCALL_UNSCHEDULE, 0)
const schedule = (tid: number) => marker(MarkerType.SYSCALL_SCHEDULE, tid)
const timeout = (t: number) => marker(MarkerType.SYSCALL_ARG_TIMEOUT, t)
const directSwitch = (tid: number) => marker(MarkerType.DIRECT_THREAD_SWITCH, tid)

/** The eight statistics DynamoRIO's verify_scheduler_stats checks, in its order. */
const verifiedStats = (d: Driver, output: number): Array<number> => {
  const s = d.core.stats(output)
  return [
    Stat.SWITCH_INPUT_TO_INPUT,
    Stat.SWITCH_INPUT_TO_IDLE,
    Stat.SWITCH_IDLE_TO_INPUT,
    Stat.SWITCH_NOP,
    Stat.QUANTUM_PREEMPTS,
    Stat.DIRECT_SWITCH_ATTEMPTS,
    Stat.DIRECT_SWITCH_SUCCESSES,
    Stat.MIGRATIONS
  ].map((k) => s[k]!)
}

const WORKLOAD_SHIFT = 2 ** 48

/**
 * The driver's lockstep adapter plus the per-record stream checks of
 * DynamoRIO's run_lockstep_simulation: the current input's tid and workload
 * are the record's, and the shard index is the output ordinal.
 */
const checked = (d: Driver): Lockstep => {
  const inner = d.lockstep()
  return {
    next: (output, now) => {
      const s = inner.next(output, now)
      if (s._tag === "Records") {
        const inp = d.core.inputs[(s as unknown as RecordsStep).input]!
        const tid = s.batch.tid[s.start]!
        if (tid % WORKLOAD_SHIFT !== inp.tid || Math.floor(tid / WORKLOAD_SHIFT) !== inp.workload)
          throw new Error(`output ${output}: record tid ${tid} is not input ${inp.index}'s`)
        const shard = d.core.shardIndex(d.core.outputs[output]!, inp)
        if (shard !== output) throw new Error(`output ${output}: shard index ${shard}`)
      }
      return s
    },
    instrOrdinal: inner.instrOrdinal
  }
}

// ---------------------------------------------------------------------------
// check_ref: the record sequence of one output, as (tid, type[, marker type]).

const typeName = (type: number): string =>
  type === TraceType.MARKER
    ? "MARKER"
    : type === TraceType.INSTR
      ? "INSTR"
      : type === TraceType.THREAD_EXIT
        ? "EXIT"
        : String(type)
const markerName = (m: number): string => Object.entries(MarkerType).find(([, v]) => v === m)?.[0] ?? String(m)

/** DynamoRIO's check_ref(refs, idx, tid, type[, marker type]) as a string. */
const ref = (tid: number, type: number, markerType?: number): string =>
  `${tid}:${typeName(type)}${markerType === undefined ? "" : `:${markerName(markerType)}`}`

/**
 * Runs output 0 to EOF one record per call and lists what it returned:
 * records as {@link ref} strings, and "IDLE"/"WAIT" for the statuses not in
 * `skip` (DynamoRIO's loops `continue` past the statuses they expect and
 * assert STATUS_OK for the rest).
 */
const records = (
  d: Driver,
  time: ((call: number) => number) | undefined,
  skip: ReadonlyArray<"Idle" | "Wait">
): Array<string> => {
  const out: Array<string> = []
  for (let call = 1; call < 1_000_000; call++) {
    const s = d.next(0, time === undefined ? undefined : time(call), 1)
    if (s._tag === "Eof") return out
    if (s._tag === "Idle" || s._tag === "Wait") {
      if (!skip.includes(s._tag)) out.push(s._tag.toUpperCase())
      continue
    }
    if (s._tag !== "Records") throw new Error(`unexpected step ${s._tag}`)
    const type = s.batch.type[s.start]!
    out.push(ref(s.batch.tid[s.start]!, type, type === TraceType.MARKER ? s.batch.size[s.start]! : undefined))
  }
  throw new Error("no EOF")
}

const M = TraceType.MARKER
const I = TraceType.INSTR
const X = TraceType.THREAD_EXIT

// ---------------------------------------------------------------------------

describe("DynamoRIO test_synthetic_with_syscalls", () => {
  it("test_synthetic_with_syscalls_precise: the switch waits for the syscall's trailing markers", () => {
    const A = 42
    const B = 99
    const SYSNUM = 202
    const PRE_SYS_TIMESTAMP = 120
    const BLOCK_THRESHOLD = 500
    const refsA = mockThread(A, [
      version(),
      timestamp(20),
      instr(10),
      timestamp(PRE_SYS_TIMESTAMP),
      syscall(SYSNUM),
      maybeBlocking(),
      funcId(100),
      funcArg(42),
      timestamp(PRE_SYS_TIMESTAMP + BLOCK_THRESHOLD),
      cpu(1),
      funcId(100),
      funcRetval(0),
      instr(12),
      exit(A)
    ])
    const refsB = mockThread(B, [version(), timestamp(120), instr(20), instr(21), exit(B)])
    const d = new Driver([refsA, refsB], 1, {
      mapping: "dynamic",
      deps: "timestamps",
      blockingSwitchThreshold: BLOCK_THRESHOLD
    })
    assert.deepStrictEqual(records(d, undefined, ["Idle", "Wait"]), [
      ref(A, M, MarkerType.VERSION),
      ref(A, M, MarkerType.TIMESTAMP),
      ref(A, I),
      ref(A, M, MarkerType.TIMESTAMP),
      ref(A, M, MarkerType.SYSCALL),
      ref(A, M, MarkerType.MAYBE_BLOCKING_SYSCALL),
      ref(A, M, MarkerType.FUNC_ID),
      ref(A, M, MarkerType.FUNC_ARG),
      ref(A, M, MarkerType.TIMESTAMP),
      ref(A, M, MarkerType.CPU_ID),
      ref(A, M, MarkerType.FUNC_ID),
      ref(A, M, MarkerType.FUNC_RETVAL),
      // Shouldn't switch until after all the syscall's markers.
      ref(B, M, MarkerType.VERSION),
      ref(B, M, MarkerType.TIMESTAMP),
      ref(B, I),
      ref(B, I),
      ref(B, X),
      ref(A, I),
      ref(A, X)
    ])
  })

  it("test_synthetic_with_syscalls_latencies: only a latency at the threshold switches", () => {
    const A = 42
    const B = 99
    const SYSNUM = 202
    const BLOCK_LATENCY = 100
    const refsA = mockThread(A, [
      version(),
      timestamp(20),
      instr(10),
      // Test 0 latency.
      timestamp(120),
      syscall(SYSNUM),
      timestamp(120),
      instr(10),
      // Test large but too-short latency.
      timestamp(200),
      syscall(SYSNUM),
      timestamp(699),
      instr(10),
      // Test just large enough latency, with func markers in between.
      timestamp(1000),
      syscall(SYSNUM),
      maybeBlocking(),
      funcId(100),
      funcArg(42),
      timestamp(1000 + BLOCK_LATENCY),
      cpu(1),
      funcId(100),
      funcRetval(0),
      instr(12),
      exit(A)
    ])
    const refsB = mockThread(B, [version(), timestamp(2000), instr(20), instr(21), exit(B)])
    const d = new Driver([refsA, refsB], 1, {
      mapping: "dynamic",
      deps: "timestamps",
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      blockingSwitchThreshold: BLOCK_LATENCY,
      blockTimeMultiplier: 1 / BLOCK_LATENCY
    })
    // DynamoRIO passes ++step as the time of every call and asserts STATUS_OK
    // for everything but WAIT: an IDLE would show up here.
    assert.deepStrictEqual(
      records(d, (call) => call, ["Wait"]),
      [
        ref(A, M, MarkerType.VERSION),
        ref(A, M, MarkerType.TIMESTAMP),
        ref(A, I),
        ref(A, M, MarkerType.TIMESTAMP),
        ref(A, M, MarkerType.SYSCALL),
        ref(A, M, MarkerType.TIMESTAMP),
        ref(A, I),
        ref(A, M, MarkerType.TIMESTAMP),
        ref(A, M, MarkerType.SYSCALL),
        ref(A, M, MarkerType.TIMESTAMP),
        ref(A, I),
        ref(A, M, MarkerType.TIMESTAMP),
        ref(A, M, MarkerType.SYSCALL),
        ref(A, M, MarkerType.MAYBE_BLOCKING_SYSCALL),
        ref(A, M, MarkerType.FUNC_ID),
        ref(A, M, MarkerType.FUNC_ARG),
        ref(A, M, MarkerType.TIMESTAMP),
        ref(A, M, MarkerType.CPU_ID),
        ref(A, M, MarkerType.FUNC_ID),
        ref(A, M, MarkerType.FUNC_RETVAL),
        // Shouldn't switch until after all the syscall's markers.
        ref(B, M, MarkerType.VERSION),
        ref(B, M, MarkerType.TIMESTAMP),
        ref(B, I),
        ref(B, I),
        ref(B, X),
        ref(A, I),
        ref(A, X)
      ]
    )
  })

  it("test_synthetic_with_syscalls_idle: a blocked input goes to the back of the queue on each retry", () => {
    const NUM_INPUTS = 4
    const NUM_INSTRS = 12
    const BLOCK_LATENCY = 100
    const BLOCK_UNITS = 27
    const inputs = Array.from({ length: NUM_INPUTS }, (_, i) => {
      const tid = 100 + i
      const stamp = 10000 * NUM_INPUTS
      const body: Array<Entry> = [version(), timestamp(stamp)]
      for (let j = 0; j < NUM_INSTRS; j++) {
        body.push(instr(42 + j * 4))
        if (j === 1) {
          if (i === 0) {
            body.push(
              timestamp(stamp + 10),
              syscall(42),
              maybeBlocking(),
              timestamp(stamp + 10 + BLOCK_UNITS * BLOCK_LATENCY)
            )
          } else {
            body.push(timestamp(stamp + 10 + BLOCK_UNITS * BLOCK_LATENCY))
          }
        }
      }
      body.push(exit(tid))
      return mockThread(tid, body)
    })
    const d = new Driver(inputs, 1, {
      mapping: "dynamic",
      deps: "timestamps",
      quantumDurationUs: 3,
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      blockingSwitchThreshold: BLOCK_LATENCY,
      blockTimeMultiplier: 1 / BLOCK_LATENCY
    })
    const s = lockstep(checked(d), 1, { tidBase: 100, sendTime: true })
    // A is blocked for 3 full queue cycles of BBBCCCDDD (27 instrs); it gets
    // 1 instruction in before its (accumulated) count reaches the quantum.
    assert.strictEqual(s[0], "..AA......BB.B..CC.C..DD.DBBBCCCDDDBBBCCCDDDABBB.CCC.DDD.AAAAAAAAA.")
  })
})

// ---------------------------------------------------------------------------

describe("DynamoRIO test_unscheduled", () => {
  const fallbackInputs = (): Array<Array<Entry>> => {
    const A = 100
    const B = 101
    const C = 102
    const SWITCH_TIMEOUT = 2000
    const refsA = mockThread(A, [
      version(),
      timestamp(1001),
      cpu(0),
      instr(101),
      instr(102),
      timestamp(1002),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      // Going unscheduled with no timeout.
      unschedule(),
      timestamp(4202),
      // B makes us scheduled again.
      instr(102),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      // A switch to a missing thread leaves us unscheduled; B also went
      // unscheduled, leaving nothing scheduled.
      directSwitch(100 + 4),
      timestamp(4402),
      // Not reached until the no-scheduled-input hang workaround.
      instr(401),
      exit(A)
    ])
    const refsB = mockThread(B, [
      version(),
      timestamp(2001),
      cpu(0),
      instr(200),
      // B goes unscheduled with a timeout.
      syscall(999),
      maybeBlocking(),
      timeout(SWITCH_TIMEOUT),
      unschedule(),
      // C runs; then C blocks, our timeout lapses and we run again.
      timestamp(4001),
      instr(201),
      cpu(0),
      // B makes A no longer unscheduled.
      syscall(999),
      maybeBlocking(),
      timeout(SWITCH_TIMEOUT),
      schedule(A),
      timestamp(4011),
      instr(202),
      // B now goes unscheduled with no timeout.
      cpu(0),
      syscall(999),
      maybeBlocking(),
      unschedule(),
      // Not reached until the hang workaround.
      instr(203),
      instr(204),
      instr(205),
      instr(206),
      exit(B)
    ])
    const refsC = mockThread(C, [
      version(),
      timestamp(3001),
      cpu(0),
      instr(301),
      instr(302),
      timestamp(3002),
      cpu(0),
      // A long-latency blocking syscall, testing whether A is still unscheduled.
      syscall(999),
      maybeBlocking(),
      timestamp(7002),
      instr(501),
      exit(C)
    ])
    return [refsA, refsB, refsC]
  }
  const fallbackOptions: Options = {
    mapping: "dynamic",
    deps: "timestamps",
    quantumDurationUs: 100,
    quantumUnit: "time",
    timeUnitsPerUs: 1,
    blockingSwitchThreshold: 100,
    blockTimeMultiplier: 1 / 100,
    blockTimeMaxUs: 500,
    rebalancePeriodUs: 500
  }
  const runFallback = (options: Options): string =>
    lockstep(checked(new Driver(fallbackInputs(), 1, { ...fallbackOptions, ...options })), 1, {
      tidBase: 100,
      sendTime: true
    })[0]!

  it("test_unscheduled_fallback: direct switches, infinite timeouts", () => {
    // Like test_unscheduled_base up to "..A..", then an idle period equal to
    // the rebalance period from the start.
    assert.strictEqual(
      runFallback({ honorInfiniteTimeouts: true }),
      "...AA.........B........CC.....__________________B......B....A.....__________" +
        "_________C._________________________________________________________________" +
        "____________________________________________________________________________" +
        "____________________________________________________________________________" +
        "____________________________________________________________________________" +
        "____________________________________________________________________________" +
        "____________________________________________________________________________" +
        "___________BBBB.A."
    )
  })

  it("test_unscheduled_fallback: infinite timeouts disabled", () => {
    // Much shorter idle time before A and B finish.
    assert.strictEqual(
      runFallback({ honorInfiniteTimeouts: false }),
      "...AA.........B........CC.....__A....._____A._________B......B...._____BBBB." + "___________C."
    )
  })

  it("test_unscheduled_fallback: direct switches disabled", () => {
    // Identical to the test_unscheduled_base result with direct switches ignored.
    assert.strictEqual(
      runFallback({ honorDirectSwitches: false }),
      "...AA.........B........CC.....__________________B......B....BBBB._____A....." + "__A._______C."
    )
  })

  const roiInputs = (): Array<Array<Entry>> => [
    mockThread(100, [
      version(),
      timestamp(1001),
      cpu(0),
      // A starts out unscheduled but the region skips that.
      unschedule(),
      timestamp(4202),
      cpu(0),
      instr(101),
      // We don't actually start until here.
      instr(102),
      instr(103),
      exit(100)
    ]),
    mockThread(101, [
      version(),
      timestamp(3001),
      cpu(0),
      instr(201),
      timestamp(4001),
      cpu(0),
      instr(202),
      // B starts here, with a lower last timestamp than A.
      instr(203),
      instr(204),
      exit(101)
    ])
  ]

  it("test_unscheduled_initially_roi: record, check and replay", () => {
    // B runs first due to the lower timestamp at its ROI despite A's
    // start-of-trace timestamp being lower.
    const CORE0_SCHED_STRING = "..BB...AA."
    const recorder = new Driver(roiInputs(), 1, {
      mapping: "dynamic",
      deps: "timestamps",
      inputs: [{ regions: [{ start: 2, stop: 0 }] }, { regions: [{ start: 3, stop: 0 }] }],
      recordSchedule: true
    })
    assert.strictEqual(lockstep(checked(recorder), 1, { tidBase: 100, sendTime: true })[0], CORE0_SCHED_STRING)
    // write_recorded_schedule, then DynamoRIO's replay_file_checker_t: no
    // consecutive idle records.
    const file = new Map<string, ReadonlyArray<ScheduleRecord>>()
    recorder.core.recordedSchedule().forEach((recs, o) => {
      const back = parseRecords(encodeRecords(recs))
      if (typeof back === "string") throw new Error(back)
      file.set(recordedComponentName(o), back)
    })
    for (const recs of file.values()) {
      let prevWasIdle = false
      for (const r of recs) {
        const idle = r.type === RecordType.IDLE || r.type === RecordType.IDLE_BY_COUNT
        assert.isFalse(idle && prevWasIdle, "Error: consecutive idle records")
        prevWasIdle = idle
      }
    }
    // Replay: the regions are ignored on replay, so they are not given.
    const replayer = new Driver(roiInputs(), 1, {
      mapping: "asPreviously",
      deps: "timestamps",
      replaySchedule: file
    })
    assert.strictEqual(lockstep(checked(replayer), 1, { tidBase: 100, sendTime: true })[0], CORE0_SCHED_STRING)
  })

  it("test_unscheduled_initially_rebalance (i#7318): an init-time rebalance of a queue of blocked inputs", () => {
    const NUM_INPUTS = 5
    const inputs = Array.from({ length: NUM_INPUTS }, (_, i) =>
      i === 0
        ? // Just one input is runnable; it runs last by timestamp.
          mockThread(100 + i, [
            version(),
            timestamp(3001),
            cpu(0),
            instr(200),
            timestamp(3002),
            cpu(0),
            // A long-latency blocking syscall, testing whether the others
            // are really unscheduled.
            syscall(999),
            maybeBlocking(),
            timestamp(7002),
            instr(201),
            exit(100 + i)
          ])
        : // The rest start unscheduled (not infinitely: honorInfiniteTimeouts is off).
          mockThread(100 + i, [
            version(),
            timestamp(1001 + i),
            cpu(0),
            unschedule(),
            timestamp(4202),
            instr(102),
            exit(100 + i)
          ])
    )
    const d = new Driver(inputs, 3, {
      mapping: "dynamic",
      deps: "timestamps",
      randomInitialLayout: -1,
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      blockingSwitchThreshold: 100,
      blockTimeMultiplier: 1 / 100,
      blockTimeMaxUs: 500,
      honorInfiniteTimeouts: false,
      migrationThresholdUs: 0,
      // DynamoRIO's single thread_modifiers entry with output_binding {0, 1}
      // and no tids applies to every input.
      inputs: inputs.map(() => ({ binding: [0, 1] }))
    })
    d.init()
    const s = lockstep(checked(d), 3, { tidBase: 100, sendTime: true })
    // A blocks and then the others become unblocked. Because they were
    // blocked, the init-time rebalance could not steal any of them, and the
    // run is too short for another rebalance, so the other cores stay idle.
    assert.deepStrictEqual(s, [
      "...A.....__.....B......C......D......E.A.",
      "_________________________________________",
      "_________________________________________"
    ])
  })

  const latencyInput = (): Array<Entry> =>
    mockThread(100, [
      version(),
      timestamp(1001),
      cpu(0),
      instr(101),
      timestamp(1002),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      timeout(8),
      unschedule(),
      timestamp(1002 + 500 - 1),
      instr(102),
      exit(100)
    ])
  const latencyOptions: Options = {
    mapping: "dynamic",
    deps: "timestamps",
    quantumUnit: "time",
    blockingSwitchThreshold: 500,
    timeUnitsPerUs: 1,
    blockTimeMultiplier: 1
  }

  it("test_unscheduled_latency: by default the unschedule blocks for its timeout", () => {
    const d = new Driver([latencyInput()], 1, latencyOptions)
    // UNSCHEDULE_TIMEOUT == 8 underscores.
    assert.strictEqual(lockstep(checked(d), 1, { tidBase: 100, sendTime: true })[0], "...A.......________A.")
  })

  it("test_unscheduled_latency: ignore_low_latency_unsched drops the unschedule", () => {
    const d = new Driver([latencyInput()], 1, { ...latencyOptions, ignoreLowLatencyUnsched: true })
    assert.strictEqual(lockstep(checked(d), 1, { tidBase: 100, sendTime: true })[0], "...A.......A.")
  })
})

// ---------------------------------------------------------------------------

describe("DynamoRIO test_direct_switch", () => {
  const fallbackInputs = (): Array<Array<Entry>> => {
    const A = 100
    const B = 101
    const C = 102
    const D = 103
    const T = 200
    const sw = (target: number) => [cpu(0), syscall(999), maybeBlocking(), timeout(T), directSwitch(target)]
    const refsA = mockThread(A, [
      version(),
      // A has the earliest timestamp and starts.
      timestamp(1001),
      cpu(0),
      instr(101),
      instr(102),
      timestamp(1002),
      ...sw(B),
      timestamp(4001),
      instr(401),
      timestamp(4001),
      ...sw(C),
      timestamp(8001),
      instr(401),
      timestamp(8001),
      ...sw(B),
      timestamp(8001),
      instr(401),
      instr(401),
      exit(A)
    ])
    const refsB = mockThread(B, [
      version(),
      // B would go next by timestamp.
      timestamp(2001),
      cpu(0),
      ...[201, 202, 203, 204, 205, 206, 207, 208, 201].map((pc) => instr(pc)),
      timestamp(2002),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      // A wait with no timeout, which should be skipped.
      unschedule(),
      timestamp(2004),
      instr(202),
      timestamp(2004),
      ...sw(D),
      timestamp(2004),
      ...[202, 203, 204, 205, 206, 207, 208, 201, 202, 203, 204, 205].map((pc) => instr(pc)),
      timestamp(2004),
      ...sw(C),
      timestamp(2004),
      exit(B)
    ])
    const refsC = mockThread(C, [
      version(),
      timestamp(3001),
      cpu(0),
      timestamp(4001),
      instr(201),
      timestamp(1002),
      ...sw(A),
      timestamp(4001),
      instr(201),
      timestamp(1002),
      ...sw(A),
      timestamp(4001),
      ...[202, 203, 204, 205, 206, 207, 208, 209, 210].map((pc) => instr(pc)),
      exit(C)
    ])
    const refsD = mockThread(D, [version(), timestamp(5001), cpu(0), instr(301), exit(D)])
    return [refsA, refsB, refsC, refsD]
  }
  const fallbackOptions: Options = {
    mapping: "dynamic",
    deps: "timestamps",
    // A round-robin layout for deterministic testing.
    randomInitialLayout: -1,
    quantumDurationUs: 100,
    quantumUnit: "time",
    timeUnitsPerUs: 1,
    blockingSwitchThreshold: 100,
    blockTimeMultiplier: 1 / 100
  }

  it("test_direct_switch_fallback: with direct_switch_fallbacks", () => {
    const d = new Driver(fallbackInputs(), 2, { ...fallbackOptions, directSwitchFallbacks: true })
    const s = lockstep(checked(d), 2, { tidBase: 100, sendTime: true })
    assert.deepStrictEqual(s, [
      "...AA...........C.......A.......C.......A.......CCCCCCCCC.",
      "...BBBBBBBBB......B..........D._BBBBBBBBBBBB........AA.___"
    ])
    // Core 0: 5 direct attempts, 4 successes, no migrations.
    assert.deepStrictEqual(verifiedStats(d, 0), [5, 0, 0, 0, 0, 5, 4, 0])
    // Core 1: 2/2 direct attempts and 1 migration.
    assert.deepStrictEqual(verifiedStats(d, 1), [2, 2, 1, 0, 0, 2, 2, 1])
  })

  it("test_direct_switch_fallback: defaults", () => {
    const d = new Driver(fallbackInputs(), 2, fallbackOptions)
    const s = lockstep(checked(d), 2, { tidBase: 100, sendTime: true })
    // A's second switch attempt to B falls back to a regular local switch,
    // and with nothing to run core 0 idles until D is ready; B's switch to
    // C works.
    assert.deepStrictEqual(s, [
      "...AA...........C.......A.......C.......A......._CCCCCCCCC.AA.",
      "...BBBBBBBBB......B..........D._BBBBBBBBBBBB........__________"
    ])
    assert.deepStrictEqual(verifiedStats(d, 0), [5, 1, 1, 0, 0, 5, 3, 0])
    assert.deepStrictEqual(verifiedStats(d, 1), [1, 2, 1, 0, 0, 2, 1, 0])
  })
})
