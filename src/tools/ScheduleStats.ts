/**
 * DynamoRIO's `schedule_stats` tool: how inputs were scheduled onto cores —
 * context switches (voluntary, direct), their rate, instructions between
 * switches, syscalls and their latencies, waits, idles, observed migrations,
 * and one letter string per core — printed as `drmemtrace -tool
 * schedule_stats` prints it.
 *
 * **When to use**: on a core-sharded analysis (its preferred shard type), or on
 * a trace already scheduled onto cores (`CORE_SHARDED` file type) analysed
 * thread-sharded, to see what ran where.
 *
 * **Details**
 * - A switch is a change of (workload, tid) on a core; it is counted when a
 *   thread is swapped out (to another thread, to idle or to wait), not at a
 *   core's first record nor when leaving idle or wait. It is voluntary when a
 *   SYSCALL or MAYBE_BLOCKING_SYSCALL marker or a THREAD_EXIT was seen since
 *   the thread's last user instruction, and direct when a
 *   DIRECT_THREAD_SWITCH marker named the thread switched to.
 * - `Core #i schedule:` has an upper-case letter per switch-in (`A` + input
 *   ordinal mod 26, or + tid mod 26 for a trace core-sharded on disk), a
 *   lower-case one every `printEvery` instructions (default 500,000) of the
 *   same thread, `_` when the core goes idle (again every `printEvery` idle
 *   records) and `-` for wait.
 * - Syscall latencies are the input's post-syscall minus pre-syscall
 *   timestamps (trace version ≥ 6), binned by 5 µs, per syscall number,
 *   split by whether the syscall ended in a switch.
 * - Observed migrations are counted on the core a thread arrives at, in core
 *   time (instructions + idles + waits), which makes them deterministic.
 * - Lists print in the order DynamoRIO's libstdc++ containers iterate.
 *
 * **Gotchas**
 * - The scheduler's own statistics (input-to-input switches, preempts,
 *   steals, …) are not in the records: `merge` prints them when it is given
 *   the run's per-output statistics (its optional second argument), zeros
 *   otherwise.
 * - The microsecond lines measure this analysis' wall-clock time per state,
 *   as DynamoRIO does: they vary from run to run.
 * - A thread-sharded run of a trace that is not core-sharded on disk fails
 *   (`Only core-sharded operation is supported`), as in DynamoRIO.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Tool from "../analyzer/Tool.ts"
import type { RecordBatch } from "../trace/RecordBatch.ts"
import { type Input, withDefaults } from "./internal/options.ts"
import { CoreState, LATENCY_BIN, SWITCH_BIN, wallClockMicros } from "./internal/scheduleStats/core.ts"
import { aggregate, printReport, type SchedulerStats } from "./internal/scheduleStats/report.ts"
import { SubShards } from "./internal/shards.ts"

/**
 * Options (DynamoRIO's `-schedule_stats_print_every` and `-verbose`).
 *
 * @category models
 */
export interface Options {
  /** A lower-case letter (or another `_`) every this many instructions (idle records) of one segment. */
  readonly printEvery: number
  /** Switch-outs listed per core: 4 at 0, 24 at 1, all from 2. */
  readonly verbose: number
}

/** @category defaults */
export const defaults: Options = { printEvery: 500_000, verbose: 0 }

const Histogram = Schema.Array(Schema.Tuple([Schema.Number, Schema.Number]))
const ThreadId = Schema.Tuple([Schema.Number, Schema.Number])
const PerThreadBins = Schema.Struct({ workload: Schema.Number, tid: Schema.Number, bins: Histogram })
const PerSysnumBins = Schema.Struct({ sysnum: Schema.Number, bins: Histogram })

/**
 * One switch-out (DynamoRIO's `schedule_record_t`).
 *
 * @category schemas
 */
export const SwitchRecord = Schema.Struct({
  workload: Schema.Number,
  tid: Schema.Number,
  /** User instructions since the switch-in. */
  instructions: Schema.Number,
  /** The syscall just before the switch, or -1. */
  syscallNumber: Schema.Number,
  /** Its latency in µs, or -1 (thread exit, legacy trace, no syscall). */
  syscallLatency: Schema.Number,
  voluntary: Schema.Boolean,
  direct: Schema.Boolean,
  /** The input's instruction ordinal at the switch-in (1-based). */
  inputInstrStart: Schema.Number
})

/** @category models */
export type SwitchRecord = typeof SwitchRecord.Type

/**
 * What one core shard saw (several per analyzer shard in a core-serial run).
 *
 * @category schemas
 */
export const CoreData = Schema.Struct({
  shardIndex: Schema.Number,
  core: Schema.Number,
  filetype: Schema.Number,
  instrs: Schema.Number,
  totalSwitches: Schema.Number,
  voluntarySwitches: Schema.Number,
  directSwitches: Schema.Number,
  syscalls: Schema.Number,
  maybeBlockingSyscalls: Schema.Number,
  directSwitchRequests: Schema.Number,
  waits: Schema.Number,
  idles: Schema.Number,
  cpuMicros: Schema.Number,
  waitMicros: Schema.Number,
  idleMicros: Schema.Number,
  idleMicrosAtLastInstr: Schema.Number,
  threads: Schema.Array(ThreadId),
  instrsPerSwitch: Histogram,
  tidInstrsPerSwitch: Schema.Array(PerThreadBins),
  sysnumSwitchLatency: Schema.Array(PerSysnumBins),
  sysnumNoswitchLatency: Schema.Array(PerSysnumBins),
  schedule: Schema.String,
  switchRecords: Schema.Array(SwitchRecord),
  switchRecordCount: Schema.Number,
  switchIns: Schema.Array(Schema.Number)
})

/** @category models */
export type CoreData = typeof CoreData.Type

/** @category schemas */
export const ShardResult = Schema.Struct({ cores: Schema.Array(CoreData) })

/** @category models */
export type ShardResult = typeof ShardResult.Type

/**
 * A `counters_t` ready to print: lists in DynamoRIO's iteration order,
 * histograms as sorted [bin start, count] pairs.
 *
 * @category schemas
 */
export const Counts = Schema.Struct({
  threads: Schema.Array(ThreadId),
  instrs: Schema.Number,
  totalSwitches: Schema.Number,
  voluntarySwitches: Schema.Number,
  directSwitches: Schema.Number,
  switchSequenceInjections: Schema.Number,
  syscallSequenceInjections: Schema.Number,
  switchesInputToInput: Schema.Number,
  switchesInputToIdle: Schema.Number,
  switchesIdleToInput: Schema.Number,
  switchesNop: Schema.Number,
  quantumPreempts: Schema.Number,
  migrations: Schema.Number,
  steals: Schema.Number,
  rebalances: Schema.Number,
  atOutputLimit: Schema.Number,
  syscalls: Schema.Number,
  maybeBlockingSyscalls: Schema.Number,
  directSwitchRequests: Schema.Number,
  observedMigrations: Schema.Number,
  waits: Schema.Number,
  idles: Schema.Number,
  cpuMicros: Schema.Number,
  waitMicros: Schema.Number,
  idleMicros: Schema.Number,
  idleMicrosAtLastInstr: Schema.Number,
  instrsPerSwitch: Histogram,
  tidInstrsPerSwitch: Schema.Array(PerThreadBins),
  coresPerThread: Histogram,
  sysnumSwitchLatency: Schema.Array(PerSysnumBins),
  sysnumNoswitchLatency: Schema.Array(PerSysnumBins)
})

/** @category models */
export type Counts = typeof Counts.Type

/**
 * The merged result.
 *
 * @category schemas
 */
export const Result = Schema.Struct({
  total: Counts,
  cores: Schema.Array(
    Schema.Struct({
      shardIndex: Schema.Number,
      core: Schema.Number,
      counts: Counts,
      schedule: Schema.String,
      switchRecords: Schema.Array(SwitchRecord),
      switchRecordCount: Schema.Number
    })
  ),
  maxActivity: Schema.Number,
  minActivity: Schema.Number,
  maxInstrs: Schema.Number,
  minInstrs: Schema.Number,
  entriesPerShard: Schema.Number
})

/** @category models */
export type Result = typeof Result.Type

/**
 * Why a shard failed (DynamoRIO's shard error strings in `detail`).
 *
 * @category errors
 */
export class ScheduleStatsError extends Schema.TaggedError<ScheduleStatsError>()("ScheduleStatsError", {
  reason: Schema.Literals(["ThreadSharded", "SwitchInSyscallTrace", "TimestampInKernel"]),
  shardIndex: Schema.Number,
  detail: Schema.String
}) {}

const DETAILS = {
  ThreadSharded: "Only core-sharded operation is supported",
  SwitchInSyscallTrace: "Found unexpected switch in the middle of a kernel syscall trace.",
  TimestampInKernel: "Kernel traces are not expected to have timestamps."
} as const

/**
 * What `merge` may be given besides the shards: the scheduler's statistics
 * per output (`schedule_statistic_t` order), for core-sharded runs.
 *
 * @category models
 */
export interface MergeContext {
  readonly schedulerStats?: SchedulerStats | undefined
}

/** @category models */
export interface State {
  readonly info: Tool.ShardInfo
  readonly subs: SubShards<CoreState>
}

const toData = (s: CoreState): CoreData => {
  s.finish()
  const bins = (m: Map<number, number>) => [...m.entries()].map(([b, c]) => [b, c] as const)
  return {
    shardIndex: s.origin.shardIndex,
    core: s.origin.core,
    filetype: s.filetype,
    instrs: s.instrs,
    totalSwitches: s.totalSwitches,
    voluntarySwitches: s.voluntarySwitches,
    directSwitches: s.directSwitches,
    syscalls: s.syscalls,
    maybeBlockingSyscalls: s.maybeBlockingSyscalls,
    directSwitchRequests: s.directSwitchRequests,
    waits: s.waits,
    idles: s.idles,
    cpuMicros: s.cpuMicros,
    waitMicros: s.waitMicros,
    idleMicros: s.idleMicros,
    idleMicrosAtLastInstr: s.idleMicrosAtLastInstr,
    threads: [...s.threads.values()],
    instrsPerSwitch: bins(s.instrsPerSwitch),
    tidInstrsPerSwitch: [...s.tidInstrsPerSwitch.values()].map((e) => ({
      workload: e.workload,
      tid: e.tid,
      bins: bins(e.bins)
    })),
    sysnumSwitchLatency: [...s.sysnumSwitchLatency.entries()].map(([sysnum, b]) => ({ sysnum, bins: bins(b) })),
    sysnumNoswitchLatency: [...s.sysnumNoswitchLatency.entries()].map(([sysnum, b]) => ({ sysnum, bins: bins(b) })),
    schedule: s.schedule(),
    switchRecords: s.switchRecords,
    switchRecordCount: s.switchRecordCount,
    switchIns: s.switchIns
  }
}

/**
 * Builds the tool. Throws a `RangeError` worded `schedule_stats: printEvery …`
 * (the option named as here; the CLI shows `-schedule_stats_print_every`)
 * when `printEvery` is not a positive integer.
 *
 * @category constructors
 */
export const make = (
  options?: Input<Options>
): Tool.Tool<State, ShardResult, Result, ScheduleStatsError> & {
  readonly merge: (shards: ReadonlyArray<Tool.ShardOutcome<ShardResult>>, context?: MergeContext) => Result
} => {
  const o = withDefaults(defaults, options)
  if (!Number.isInteger(o.printEvery) || o.printEvery < 1) {
    throw new RangeError(`schedule_stats: printEvery must be a positive integer, got ${o.printEvery}`)
  }
  const entriesPerShard = o.verbose >= 2 ? Number.MAX_SAFE_INTEGER : o.verbose >= 1 ? 24 : 4
  const fail = (reason: keyof typeof DETAILS, shardIndex: number, index: number) =>
    Tool.fail(new ScheduleStatsError({ reason, shardIndex, detail: DETAILS[reason] }), index)
  const tool = Tool.make({
    name: "schedule_stats",
    preferredShardType: "core",
    makeShard: (info): State => ({
      info,
      subs: new SubShards(info, (origin) => new CoreState(origin, o.printEvery, entriesPerShard, wallClockMicros))
    }),
    processBatch: (state, batch: RecordBatch, start, end, ctx) => {
      if (state.info.shardType !== "core") return fail("ThreadSharded", state.info.shardIndex, start)
      const core = state.subs.get(ctx)
      const bad = core.process(batch, start, end, ctx)
      return bad < 0 ? undefined : fail(core.failure!, core.origin.shardIndex, bad)
    },
    finishShard: (state) => ({ cores: state.subs.all().map(toData) }),
    merge: (shards: ReadonlyArray<Tool.ShardOutcome<ShardResult>>, context?: MergeContext): Result =>
      aggregate(
        shards.flatMap((s) => s.result.cores),
        entriesPerShard,
        context?.schedulerStats
      ),
    print: (r) => printReport(r, SWITCH_BIN, LATENCY_BIN),
    shardResultSchema: ShardResult,
    resultSchema: Result,
    describeError: (e) => `schedule_stats: ${e.detail} (shard ${e.shardIndex})`
  })
  return tool
}

/**
 * The schedule_stats tool with default options.
 *
 * @category tools
 */
export const scheduleStats = make()
