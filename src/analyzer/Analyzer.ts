/**
 * Runs analysis tools over a trace on parallel workers, the way DynamoRIO's
 * analyzer does, with one guarantee DynamoRIO lacked: a worker that fails,
 * throws, is interrupted or times out always releases its scheduler output
 * (`setActive(false)`), so the run can never wait forever on an input owned
 * by a dead worker.
 *
 * **When to use**: `Analyzer.run(path, { tools: [BasicCounts.basicCounts] })` from an
 * Effect program; the CLI's `analyze` is a thin layer over it.
 *
 * **Details**
 * - Modes (DynamoRIO's §3.2): `thread-sharded` (one shard per input, `jobs`
 *   workers), `serial` (one worker over the timestamp-interleaved stream),
 *   `core-sharded` (dynamic scheduling onto `cores` outputs, one worker and
 *   one shard per core), `core-serial` (one worker walking every core in
 *   lockstep). Left undefined, the mode follows the tools: all preferring
 *   cores → core-sharded if all are parallel, else core-serial; otherwise
 *   thread-sharded if all are parallel, else serial.
 * - Every worker is a scoped resource: its release runs `setActive(false)` on
 *   its output and records how it ended, on success, typed failure, defect,
 *   interruption and timeout alike.
 * - `failure: "fail-fast"` (default): the first failure interrupts the other
 *   workers, waits for their finalizers, and the run fails with
 *   {@link AnalysisFailed} listing every failure. `"continue"`: the failing
 *   worker goes inactive, the others finish the remaining work, and the run
 *   succeeds with partial results and `failures`.
 * - `runTimeout` bounds the whole run; `stallTimeout` fails the run when no
 *   worker processes a record for that long (default 60 s).
 * - Scheduling by time (DynamoRIO's -sched_time): with
 *   `scheduler.quantumUnit: "time"`, core-sharded and core-serial runs give
 *   the scheduler the current time in microseconds (`schedulingClock`,
 *   default the wall clock) instead of its instruction-count clock, so
 *   quanta (`quantumDurationUs` × `timeUnitsPerUs`) and blocked time pass in
 *   real time. The time is read once per scheduler step (a run of records),
 *   so a quantum ends at a run boundary.
 * - Load balancing (DynamoRIO's -max_load_imbalance, i#7860): with
 *   `maxLoadImbalance` ≥ 1, a core-sharded run on the dynamic scheduler
 *   pauses a worker (1 ms sleeps, at most 99 per check) whose activity
 *   (instructions + idles) is above that many times the slowest live
 *   worker's; `result.loadBalance` counts the waits and sleeps.
 *
 * **Gotchas**
 * - With the fiber backend all workers share one JS thread: a tool stuck in
 *   a synchronous infinite loop blocks every fiber, watchdog included. Use
 *   the worker-thread backend to survive such tools.
 *
 * @since 0.1.0
 */
import { basename } from "node:path"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Options as SchedulerOptions } from "../scheduler/internal/options.ts"
import { FileType } from "../trace/Record.ts"
import * as Trace from "../trace/Trace.ts"
import type { TraceError } from "../trace/TraceError.ts"
import { AnalysisFailed, AnalyzerOptionError, ShardFailure } from "./AnalyzerError.ts"
import { defaults, withRunTimeoutLeft } from "./internal/defaults.ts"
import { makeFiberBackend } from "./internal/fiberBackend.ts"
import { balances, LoadBalance, type LoadBalanceStats } from "./internal/loadBalance.ts"
import { type IntervalOutput, orchestrate, type Plan, toFailure } from "./internal/orchestrate.ts"
import { makeStatic, type OutputSource } from "./internal/outputSource.ts"
import type { OutputSchedule } from "./internal/scheduleLog.ts"
import { makeSchedulerSource, type SchedulerSource, schedulerOptionsFor } from "./internal/schedulerSource.ts"
import { needsScheduler, schedulingOptions, selectFiles, selectInputs, writeRecord } from "./internal/scheduling.ts"
import { makeThreadBackend, type ThreadWork } from "./internal/threadBackend.ts"
import { refusedShardType } from "./internal/worker.ts"
import * as Tool from "./Tool.ts"

/**
 * How the records are split among workers and shards.
 *
 * @category models
 */
export type Mode = "thread-sharded" | "serial" | "core-sharded" | "core-serial"

/**
 * @category models
 */
export type FailurePolicy = "fail-fast" | "continue"

/** Records per batch of the inputs the main thread schedules for worker threads (core-sharded on threads). */
const SEGMENT_BATCH_CAPACITY = 8192

/**
 * @category models
 */
export type Backend = "fibers" | "threads"

/**
 * A progress sample (workers update counters; a sampler reads them).
 *
 * @category models
 */
export interface Progress {
  readonly records: number
  readonly instructions: number
  readonly inputsDone: number
  readonly inputsTotal: number
  readonly elapsedMs: number
  readonly perWorker: ReadonlyArray<number>
}

/**
 * Run options. Defaults are in {@link defaults}.
 *
 * @category models
 */
export interface Options {
  readonly tools: ReadonlyArray<Tool.Any>
  readonly mode?: Mode | undefined
  /** Workers for thread-sharded runs. Default: the number of available cores. */
  readonly jobs?: number | undefined
  /** Outputs (simulated cores) for core-sharded and core-serial runs. Default 4. */
  readonly cores?: number | undefined
  readonly failure?: FailurePolicy | undefined
  /**
   * Scheduler options for serial, core-sharded and core-serial runs (quantum,
   * blocking, migration, …); the mapping and ordering follow the mode.
   */
  readonly scheduler?: SchedulerOptions | undefined
  /**
   * Where workers run: fibers of the main thread (deterministic, default) or
   * one worker thread each (real parallelism; survives tools that crash or
   * hang their thread). Worker threads need every tool to carry a `spec`.
   */
  readonly backend?: Backend | undefined
  readonly runTimeout?: Duration.Input | undefined
  readonly stallTimeout?: Duration.Input | undefined
  readonly skipRecords?: number | undefined
  readonly exitAfterRecords?: number | undefined
  /** Keep instruction encodings in batches (the view tool needs them). */
  readonly encodings?: boolean | undefined
  /**
   * Read zip inputs the main thread opens on the source thread
   * (`Trace.Options.sourceThread`; analysis worker threads read their own).
   * Default false.
   */
  readonly sourceThread?: boolean | undefined
  /**
   * Called when a worker's resource is released, after its output was set
   * inactive, with how the worker ended (diagnostics and the fault-injection
   * tests use it).
   */
  readonly onWorkerReleased?: ((worker: number, exit: Exit.Exit<unknown, unknown>) => void) | undefined
  /** Called with a progress sample about every `progressInterval`. */
  readonly onProgress?: ((progress: Progress) => void) | undefined
  readonly progressInterval?: Duration.Input | undefined
  /**
   * Test-only: skip the `setActive(false)` of a released worker, reproducing
   * DynamoRIO's #6666 hang (which the stall watchdog then has to catch).
   * Never set this in real runs.
   */
  readonly unsafeSkipDeactivation?: boolean | undefined
  /** Record what ran on each output (see `AnalysisResult.schedule`). Default false. */
  readonly recordSchedule?: boolean | undefined
  /** Old-generation heap cap of each worker thread, in MiB (threads backend). */
  readonly workerMaxMemoryMb?: number | undefined
  /**
   * DynamoRIO's -skip_instrs: every input starts after this many
   * instructions (a region of interest: the last timestamp and cpu markers
   * are re-inserted before the first instruction kept). Default 0.
   */
  readonly skipInstrs?: number | undefined
  /** DynamoRIO's -exit_after_instrs: every input ends (synthetic thread exit) after this many instructions past the skip. */
  readonly exitAfterInstrs?: number | undefined
  /** DynamoRIO's -skip_to_timestamp: every input starts at this trace timestamp (needs `cpuScheduleFile`). */
  readonly skipToTimestamp?: bigint | undefined
  /** DynamoRIO's -only_threads: analyze only these threads (every one must be in the trace). */
  readonly onlyThreads?: ReadonlyArray<number> | undefined
  /** DynamoRIO's -only_shards: analyze only these input ordinals. */
  readonly onlyShards?: ReadonlyArray<number> | undefined
  /**
   * DynamoRIO's -cpu_schedule_file (`cpu_schedule.bin.zip`): core-sharded and
   * core-serial runs replay the as-traced schedule (`cores` must equal the
   * traced cpu count; tools see the traced cpu ids); with `skipToTimestamp`
   * it only maps the timestamp to instructions.
   */
  readonly cpuScheduleFile?: string | undefined
  /** DynamoRIO's -replay_file: core-sharded and core-serial runs replay this recorded schedule. */
  readonly replayFile?: string | undefined
  /** DynamoRIO's -record_file: core-sharded and core-serial runs record their schedule here (written when the run completes). */
  readonly recordFile?: string | undefined
  /** DynamoRIO's -sched_switch_file: context-switch sequences injected at switches (core-sharded and core-serial runs). */
  readonly switchSequenceFile?: string | undefined
  /** DynamoRIO's -sched_syscall_file: system-call sequences injected after system calls. */
  readonly syscallSequenceFile?: string | undefined
  /**
   * DynamoRIO's -multi_indir: each path given to {@link run} is a workload of
   * its own (core-sharded and core-serial runs): tids and pids of workload w
   * > 0 are tagged `w << 48`, and `scheduler.workloadOutputLimits` limits each.
   */
  readonly separateWorkloads?: boolean | undefined
  /**
   * DynamoRIO's -interval_microseconds: interval snapshots every this many
   * microseconds of trace time, merged across shards into whole-trace
   * intervals. At most one of the two interval options.
   */
  readonly intervalMicroseconds?: number | undefined
  /** DynamoRIO's -interval_instr_count: per-shard interval snapshots every this many instructions. */
  readonly intervalInstrCount?: number | undefined
  /**
   * The clock of scheduling by time (`scheduler.quantumUnit: "time"` in a
   * core-sharded or core-serial run; DynamoRIO's -sched_time), in
   * microseconds, read before every scheduler step. A value of 0 means the
   * scheduler's own clock (instructions + idles), as DynamoRIO's `now` = 0.
   * Default: monotonic wall-clock microseconds. Inject a fake clock for
   * deterministic tests (fiber backend, or a threads backend core-sharded
   * run, whose scheduler runs on the calling thread; a core-serial run on
   * the threads backend reads its thread's wall clock).
   */
  readonly schedulingClock?: (() => number) | undefined
  /**
   * DynamoRIO's -max_load_imbalance: in core-sharded runs on the dynamic
   * scheduler (not replays), a worker whose activity (instructions + idle
   * records) exceeds this many times the slowest live worker's waits for it
   * (1 ms sleeps, at most 99 per check, a check every `loadBalanceCadence`
   * activities). Below 1: off. Default 0 (off); DynamoRIO's launcher (and
   * this CLI) use 2.0, its `analyzer_t` 2.5. The sleeps go through the
   * Clock: under TestClock a throttled run waits for the clock to advance.
   */
  readonly maxLoadImbalance?: number | undefined
  /** Activities between two load-balance checks of a worker (DynamoRIO's `load_balance_cadence_`). Default 100,000. */
  readonly loadBalanceCadence?: number | undefined
}

/**
 * Documented defaults.
 *
 * @category defaults
 */
export { defaults }

/**
 * One tool's merged result and printed text.
 *
 * @category models
 */
export interface ToolOutput {
  readonly name: string
  readonly result: unknown
  readonly text: string
  readonly shards: ReadonlyArray<Tool.ShardOutcome<unknown>>
}

/**
 * What a run returns.
 *
 * @category models
 */
export interface AnalysisResult {
  readonly mode: Mode
  readonly workers: number
  readonly tools: ReadonlyArray<ToolOutput>
  /** Failures tolerated under `failure: "continue"` (empty otherwise). */
  readonly failures: ReadonlyArray<ShardFailure>
  readonly records: number
  readonly elapsedMs: number
  /**
   * Per output, what ran when (`recordSchedule: true`, scheduled modes and
   * the fiber or core-sharded thread backends): runs of input ordinals, idle
   * (-1) and wait (-2), with DynamoRIO's schedule statistics.
   */
  readonly schedule?: ReadonlyArray<OutputSchedule> | undefined
  /** Interval snapshots and their text, when an interval option was set. */
  readonly intervals?: IntervalOutput | undefined
  /** Load balancing's waits and sleeps per worker, when the run balanced load (`maxLoadImbalance`). */
  readonly loadBalance?: LoadBalanceStats | undefined
}

/**
 * The text DynamoRIO prints: each tool's results, separated by a line of 75 `=`.
 *
 * @category formatting
 */
export const formatText = (result: AnalysisResult): string =>
  result.tools.map((t) => t.text).join(`\n${Tool.SEPARATOR}\n`) + (result.intervals?.text ?? "")

/**
 * Picks the mode DynamoRIO would for these tools.
 *
 * @category modes
 */
export const autoMode = (tools: ReadonlyArray<Tool.Any>): Mode => {
  const allCore = tools.every((t) => t.preferredShardType === "core")
  const allParallel = tools.every((t) => t.parallel)
  if (allCore) return allParallel ? "core-sharded" : "core-serial"
  return allParallel ? "thread-sharded" : "serial"
}

/** The smallest worker heap cap accepted: below it a worker thread cannot even load, and V8 aborts the process. */
export const MIN_WORKER_MEMORY_MB = 16

const optionError = (option: string, message: string) => new AnalyzerOptionError({ option, message })

/**
 * Checks the options every entry point takes, before anything is opened:
 * values outside their types (from plain JavaScript or a config file) and
 * values that would hang, spin or abort the process.
 */
const checkOptions = (options: Options): AnalyzerOptionError | undefined => {
  const oneOf = (option: string, value: unknown, allowed: ReadonlyArray<string>) =>
    value === undefined || allowed.includes(value as string)
      ? undefined
      : optionError(option, `${option} must be one of ${allowed.join(", ")}, got ${String(value)}`)
  const choice =
    oneOf("mode", options.mode, ["thread-sharded", "serial", "core-sharded", "core-serial"]) ??
    oneOf("failure", options.failure, ["fail-fast", "continue"]) ??
    oneOf("backend", options.backend, ["fibers", "threads"])
  if (choice !== undefined) return choice
  for (const [option, value] of [
    ["runTimeout", options.runTimeout],
    ["stallTimeout", options.stallTimeout],
    ["progressInterval", options.progressInterval]
  ] as const) {
    if (value === undefined) continue
    const d = Duration.fromInput(value)
    if (d._tag === "None" || !Duration.isPositive(d.value)) {
      return optionError(
        option,
        `${option} must be a positive duration (Duration.infinity for none), got ${String(value)}`
      )
    }
  }
  for (const [option, value] of [
    ["skipRecords", options.skipRecords],
    ["exitAfterRecords", options.exitAfterRecords]
  ] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      return optionError(option, `${option} must be a non-negative integer, got ${value}`)
    }
  }
  const memory = options.workerMaxMemoryMb
  if (memory !== undefined && !(Number.isSafeInteger(memory) && memory >= MIN_WORKER_MEMORY_MB)) {
    return optionError(
      "workerMaxMemoryMb",
      `workerMaxMemoryMb must be an integer of at least ${MIN_WORKER_MEMORY_MB}, got ${memory}`
    )
  }
  return undefined
}

const checkIntervals = (options: Options): AnalyzerOptionError | undefined => {
  const us = options.intervalMicroseconds ?? 0
  const n = options.intervalInstrCount ?? 0
  for (const [option, v] of [
    ["intervalMicroseconds", us],
    ["intervalInstrCount", n]
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      return new AnalyzerOptionError({ option, message: `${option} must be a non-negative integer, got ${v}` })
    }
  }
  if (us > 0 && n > 0) {
    return new AnalyzerOptionError({
      option: "intervalMicroseconds",
      message: "Cannot enable both kinds of interval analysis"
    })
  }
  return undefined
}

const checkLoadBalance = (options: Options): AnalyzerOptionError | undefined => {
  const imbalance = options.maxLoadImbalance ?? defaults.maxLoadImbalance
  if (!(Number.isFinite(imbalance) && imbalance >= 0)) {
    return new AnalyzerOptionError({
      option: "maxLoadImbalance",
      message: `maxLoadImbalance must be a number >= 0, got ${imbalance}`
    })
  }
  const cadence = options.loadBalanceCadence ?? defaults.loadBalanceCadence
  if (!(Number.isSafeInteger(cadence) && cadence > 0)) {
    return new AnalyzerOptionError({
      option: "loadBalanceCadence",
      message: `loadBalanceCadence must be a positive integer, got ${cadence}`
    })
  }
  return undefined
}

/** The run's load balancer, when it balances load (DynamoRIO: dynamic mapping, parallel, imbalance ≥ 1). */
const loadBalanceFor = (options: Options, p: Plan, scheduler: SchedulerOptions): LoadBalance | undefined => {
  const dynamic = p.mode === "core-sharded" && schedulerOptionsFor(p, scheduler).mapping === "dynamic"
  return balances(options.maxLoadImbalance, p.workers, dynamic)
    ? new LoadBalance(p.workers, options.maxLoadImbalance!, options.loadBalanceCadence ?? defaults.loadBalanceCadence)
    : undefined
}

const plan = (
  options: Options,
  inputCount: number,
  coreOnDisk: boolean
): Effect.Effect<Plan, AnalyzerOptionError | AnalysisFailed> =>
  Effect.gen(function* () {
    if (options.tools.length === 0) {
      return yield* new AnalyzerOptionError({ option: "tools", message: "no tool given" })
    }
    const intervalError = checkIntervals(options)
    if (intervalError !== undefined) return yield* intervalError
    const balanceError = checkLoadBalance(options)
    if (balanceError !== undefined) return yield* balanceError
    const cores = options.cores ?? defaults.cores
    if (!Number.isInteger(cores) || cores < 1) {
      return yield* new AnalyzerOptionError({
        option: "cores",
        message: `cores must be a positive integer, got ${cores}`
      })
    }
    const jobs = options.jobs ?? defaults.jobs()
    if (!Number.isInteger(jobs) || jobs < 0) {
      return yield* new AnalyzerOptionError({
        option: "jobs",
        message: `jobs must be a non-negative integer, got ${jobs}`
      })
    }
    let mode = options.mode ?? autoMode(options.tools)
    if (coreOnDisk) {
      // A trace already scheduled onto cores is analyzed as it is, one core
      // shard per input, never scheduled again (DynamoRIO's rule).
      if (options.mode === "core-sharded" || options.mode === "core-serial") {
        return yield* new AnalyzerOptionError({
          option: "mode",
          message: "the trace is already core-sharded on disk (filetype 0x10000): re-run with -no_core_sharded"
        })
      }
      if (mode === "core-sharded") mode = "thread-sharded"
      if (mode === "core-serial") mode = "serial"
    }
    // DynamoRIO's -jobs 0 is the serial (timestamp-interleaved) analysis.
    if (mode === "thread-sharded" && jobs === 0) mode = "serial"
    if (mode === "thread-sharded" && !options.tools.every((t) => t.parallel)) {
      const serialOnly = options.tools.filter((t) => !t.parallel).map((t) => t.name)
      return yield* new AnalyzerOptionError({
        option: "mode",
        message: `tool(s) ${serialOnly.join(", ")} support only serial operation`
      })
    }
    const p = planFor(mode, jobs, cores, inputCount, coreOnDisk)
    const refused = refusedShardType(options.tools, p.shardType)
    if (refused !== undefined) return yield* new AnalysisFailed({ failures: [toFailure(refused)] })
    return p
  })

const planFor = (mode: Mode, jobs: number, cores: number, inputCount: number, coreOnDisk: boolean): Plan => {
  const onDisk = coreOnDisk ? ("core" as const) : ("thread" as const)
  switch (mode) {
    case "thread-sharded": {
      const workers = Math.max(1, Math.min(jobs, Math.max(1, inputCount)))
      return { mode, workers, outputs: workers, shardType: onDisk, serial: false, coreOnDisk }
    }
    case "serial":
      return { mode, workers: 1, outputs: 1, shardType: onDisk, serial: true, coreOnDisk }
    case "core-sharded":
      return { mode, workers: cores, outputs: cores, shardType: "core", serial: false, coreOnDisk }
    case "core-serial":
      return { mode, workers: 1, outputs: cores, shardType: "core", serial: true, coreOnDisk }
  }
}

const isCoreOnDisk = (filetype: number | undefined): boolean =>
  filetype !== undefined && (filetype & FileType.CORE_SHARDED) !== 0

interface Source {
  readonly source: OutputSource | SchedulerSource
  readonly balance: LoadBalance | undefined
}

/** The static thread-sharded partition serves the run (no scheduler option asks for DynamoRIO's scheduler). */
const isStatic = (p: Plan, options: Options): boolean => p.mode === "thread-sharded" && !needsScheduler(options)

const checkWorkloads = (options: Options, p: Plan): Effect.Effect<void, AnalyzerOptionError> =>
  options.separateWorkloads && p.mode !== "core-sharded" && p.mode !== "core-serial"
    ? Effect.fail(
        new AnalyzerOptionError({
          option: "separateWorkloads",
          message: "-multi_indir is only supported in core-sharded mode"
        })
      )
    : Effect.void

/**
 * Runs a fiber-backend analysis of plan `p` over inputs named `names`, the
 * source made by `source` once the options are checked (a schedule file in
 * a thread-sharded run is an error whatever the mode).
 */
const runSource = (
  p: Plan,
  names: ReadonlyArray<string>,
  workload: ReadonlyArray<number>,
  options: Options,
  source: (
    scheduler: SchedulerOptions
  ) => Effect.Effect<Source, AnalysisFailed | AnalyzerOptionError | TraceError, Scope.Scope>
): Effect.Effect<AnalysisResult, AnalysisFailed | AnalyzerOptionError | TraceError, Scope.Scope> =>
  Effect.gen(function* () {
    const started = Date.now()
    yield* checkWorkloads(options, p)
    const made = yield* source(yield* schedulingOptions(options, p, workload))
    const backend = makeFiberBackend(made.source, p, options, names, made.balance)
    const result = yield* orchestrate(backend, p, options, started)
    if ("recordedSchedule" in made.source) yield* writeRecord(options, made.source)
    return result
  })

const runOpened = (
  inputs: ReadonlyArray<Trace.TraceInput>,
  workload: ReadonlyArray<number>,
  options: Options
): Effect.Effect<AnalysisResult, AnalysisFailed | AnalyzerOptionError | TraceError, Scope.Scope> =>
  Effect.gen(function* () {
    const p = yield* plan(options, inputs.length, isCoreOnDisk(inputs[0]?.info.filetype))
    const names = inputs.map((i) => i.info.name)
    return yield* runSource(p, names, workload, options, (scheduler) =>
      isStatic(p, options)
        ? Effect.map(
            Effect.scope,
            (scope): Source => ({
              source: makeStatic(inputs.map(Effect.succeed), p.outputs, scope),
              balance: undefined
            })
          )
        : Effect.map(
            makeSchedulerSource(inputs, p, scheduler, options.schedulingClock),
            (source): Source => ({ source, balance: loadBalanceFor(options, p, scheduler) })
          )
    )
  })

/**
 * Runs `options.tools` over already-opened inputs with the fiber backend.
 *
 * @category running
 */
export const runInputs = (
  inputs: ReadonlyArray<Trace.TraceInput>,
  options: Options
): Effect.Effect<AnalysisResult, AnalysisFailed | AnalyzerOptionError | TraceError, Scope.Scope> =>
  Effect.suspend(() => {
    const refused = checkOptions(options)
    if (refused !== undefined) return Effect.fail(refused)
    if (options.backend === "threads") {
      return Effect.fail(
        optionError(
          "backend",
          "runInputs runs on fibers (its inputs are open here): use Analyzer.run for worker threads"
        )
      )
    }
    return Effect.flatMap(selectInputs(inputs, options), (kept) =>
      runOpened(
        kept,
        kept.map(() => 0),
        options
      )
    )
  })

/** Options only the scheduler on the main thread applies (not a run handed whole to one thread). */
const scheduledOnly = (options: Options): boolean =>
  needsScheduler(options) ||
  [options.cpuScheduleFile, options.replayFile, options.recordFile, options.switchSequenceFile].some(
    (f) => (f ?? "") !== ""
  ) ||
  options.separateWorkloads === true

/**
 * Runs the tools on worker threads over trace files: thread-sharded threads
 * read their own inputs (or, when the scheduler must skip or inject, get
 * segments from it); core-sharded threads get segments from the scheduler
 * here; a serial or core-serial run goes whole to one thread.
 */
const runFiles = (
  files: ReadonlyArray<string>,
  workload: ReadonlyArray<number>,
  options: Options,
  opening: Opening
): Effect.Effect<AnalysisResult, AnalysisFailed | AnalyzerOptionError | TraceError, Scope.Scope> =>
  Effect.gen(function* () {
    const started = Date.now()
    if (files.includes(Trace.STDIN)) {
      return yield* new AnalyzerOptionError({
        option: "backend",
        message:
          "standard input (-) can be read only once, and worker threads open their inputs again: use the fiber backend"
      })
    }
    // The first input's file type decides the plan: opening it is part of the run's time.
    const first = files.length > 0 ? yield* opening.within(Effect.scoped(Trace.openFile(files[0]!, 0))) : undefined
    const p = yield* plan(options, files.length, isCoreOnDisk(first?.info.filetype))
    yield* checkWorkloads(options, p)
    const scheduler = yield* schedulingOptions(options, p, workload)
    let work: ThreadWork
    let scheduled: SchedulerSource | undefined
    let balance: LoadBalance | undefined
    if (p.mode === "thread-sharded" && !needsScheduler(options)) work = { _tag: "Inputs", files }
    else if (p.mode === "core-sharded" || p.mode === "thread-sharded") {
      // Segments end at batch ends, and each costs a message round trip to its thread: larger
      // batches than on fibers (docs/benchmarks.md, section 12).
      const inputs = yield* opening.within(
        Trace.openFiles(files, {
          encodings: options.encodings,
          batchCapacity: SEGMENT_BATCH_CAPACITY,
          sourceThread: options.sourceThread
        })
      )
      scheduled = yield* makeSchedulerSource(inputs, p, scheduler, options.schedulingClock)
      balance = loadBalanceFor(options, p, scheduler)
      work = { _tag: "Segments", source: scheduled, names: files }
    } else if (scheduledOnly(options)) {
      return yield* new AnalyzerOptionError({
        option: "backend",
        message: `the threads backend runs a ${p.mode} analysis whole on one thread, without the scheduler options (skipping, schedule files, kernel sequences, workloads): use the fiber backend`
      })
    } else work = { _tag: "Local", files }
    const rest = yield* opening.rest
    const backend = yield* makeThreadBackend(work, p, rest, balance)
    const result = yield* orchestrate(backend, p, rest, started)
    if (scheduled !== undefined) yield* writeRecord(options, scheduled)
    return result
  })

/**
 * Opens `path` (a trace directory or file, or several) and runs the tools.
 *
 * @category running
 */
export const run = (
  path: string | ReadonlyArray<string>,
  runOptions: Options
): Effect.Effect<AnalysisResult, AnalysisFailed | AnalyzerOptionError | TraceError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const refused = checkOptions(runOptions)
      if (refused !== undefined) return yield* refused
      // The run timeout counts from here: opening the inputs (a pipe that sends nothing, a slow disk)
      // is part of the run. The workers get what is left of it.
      const opening = yield* openingDeadline(runOptions)
      const paths = typeof path === "string" ? [path] : path
      const { files, workload } = yield* opening.within(selectFiles(paths, runOptions))
      if ((runOptions.backend ?? defaults.backend) === "threads")
        return yield* runFiles(files, workload, runOptions, opening)
      const readOptions = { encodings: runOptions.encodings, sourceThread: runOptions.sourceThread }
      // The first input is opened once, for its file type, and read on from there (standard input cannot be
      // opened twice); whoever takes it closes it, as a freshly opened input, or the run at its end.
      const firstScope = yield* Scope.fork(yield* Effect.scope)
      const first =
        files.length > 0
          ? yield* opening.within(Scope.provide(firstScope)(Trace.openFile(files[0]!, 0, readOptions)))
          : undefined
      const open = (file: string, ordinal: number) =>
        ordinal === 0 && first !== undefined
          ? Effect.as(
              Effect.addFinalizer(() => Scope.close(firstScope, Exit.void)),
              first
            )
          : Trace.openFile(file, ordinal, readOptions)
      const p = yield* plan(runOptions, files.length, isCoreOnDisk(first?.info.filetype))
      // Thread-sharded outputs open each input when they reach it; a scheduler needs every input's header first.
      if (isStatic(p, runOptions)) {
        const options = yield* opening.rest
        return yield* runSource(
          p,
          files.map((f) => basename(f)),
          workload,
          options,
          () =>
            Effect.map(
              Effect.scope,
              (scope): Source => ({ source: makeStatic(files.map(open), p.outputs, scope), balance: undefined })
            )
        )
      }
      const inputs = yield* opening.within(Trace.openFiles(files, readOptions, open))
      return yield* runOpened(inputs, workload, yield* opening.rest)
    })
  )

/** The run timeout while a run opens its inputs (see {@link openingDeadline}). */
type Opening = Effect.Success<ReturnType<typeof openingDeadline>>

/**
 * The run timeout of `run` while it opens its inputs: `within` fails an
 * opening step that outlasts it with the run's `Timeout`, and `rest` gives
 * the options with what is left of it for the workers.
 */
const openingDeadline = (options: Options) =>
  Effect.map(Clock.currentTimeMillis, (started) => {
    const total = options.runTimeout === undefined ? undefined : Duration.fromInputUnsafe(options.runTimeout)
    const left = Effect.map(Clock.currentTimeMillis, (now) =>
      total === undefined ? undefined : Duration.millis(Math.max(0, Duration.toMillis(total) - (now - started)))
    )
    const timedOut = () =>
      new AnalysisFailed({
        failures: [
          new ShardFailure({
            reason: "Timeout",
            worker: -1,
            shard: -1,
            shardType: "thread",
            message: `the run did not finish within ${Duration.format(total!)} (it was still opening its inputs)`
          })
        ]
      })
    return {
      within: <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | AnalysisFailed, R> =>
        total === undefined
          ? effect
          : Effect.flatMap(left, (d) =>
              Effect.timeoutOrElse(effect, { duration: d!, orElse: () => Effect.fail(timedOut()) })
            ),
      rest: Effect.map(left, (d): Options => (d === undefined ? options : withRunTimeoutLeft(options, d)))
    }
  })

export type { IntervalOutput, LoadBalanceStats, OutputSchedule }
export { AnalysisFailed, AnalyzerOptionError, ShardFailure }
