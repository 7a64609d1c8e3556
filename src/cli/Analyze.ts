/**
 * The seam between the command line and the analyzer: {@link runAnalysis}
 * takes the validated {@link Options.Options} of `memtrace analyze` (or of
 * the DynamoRIO form, or of `memtrace view`), runs `Analyzer.run` with the
 * tools built by `Registry`, and returns what to print.
 *
 * **When to use**: the CLI calls it once per run; nothing else should.
 *
 * **Details**
 * - Mode: DynamoRIO's rule (`analyzer_multi.cpp`): the run is parallel unless
 *   `-jobs 0` or a tool is serial-only; `-core_sharded` on a serial run is
 *   `-core_serial`; without a switch, tools that all prefer cores give a
 *   core-sharded (or core-serial) run, tools that all prefer threads a
 *   thread-sharded (or serial) one, and mixed preferences are a usage error.
 * - The result is data, not output: the CLI writes `text` (or `json` under
 *   `--json`) to stdout and one `ERROR:` line per entry of `failures` to
 *   stderr, and picks the exit status.
 * - With `cluster` set (`--cluster URL`) the same run goes to the cluster's
 *   runners (`Cluster.analyze`) instead of `Analyzer.run`.
 * - Every field of the options is honoured or refused: an option a cluster
 *   run cannot apply yet (instruction windows, thread limits, intervals,
 *   schedule and kernel sequence files, several workloads) fails with a
 *   `UsageError` (`NotYetAvailable`) naming it; nothing is silently ignored.
 *   As in DynamoRIO, tool knobs of tools that are not run, and `-sched_*`
 *   knobs (schedule files and the switch file included) outside core-sharded
 *   and core-serial runs, have no effect; a cpu schedule file then only maps
 *   `-skip_to_timestamp`.
 * - `-sched_time` schedules core runs by wall-clock time (the quantum is
 *   then `-sched_quantum` simulated microseconds) and `-max_load_imbalance`
 *   (default 2.0, below 1 off) balances the workers of core-sharded runs on
 *   the dynamic scheduler, as DynamoRIO's `analyzer_multi` does.
 * - `--report FILE` records the schedule and writes the HTML schedule
 *   report (`Report.write`) after the run, failures tolerated or not.
 * - Errors: `UsageError`, the analyzer's `AnalyzerOptionError` and the
 *   registry's `ToolOptionError` (exit 2); `TraceError` and `AnalysisFailed`
 *   (exit 1; the CLI prints one line per line of the message, so an
 *   `AnalysisFailed` lists every failed shard).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Analyzer from "../analyzer/Analyzer.ts"
import type * as Tool from "../analyzer/Tool.ts"
import * as Report from "../report/Report.ts"
import * as Registry from "../tools/Registry.ts"
import * as Trace from "../trace/Trace.ts"
import * as ClusterCli from "./Cluster.ts"
import * as Json from "./Json.ts"
import * as Options from "./Options.ts"
import type * as Progress from "./Progress.ts"
import { type UsageError, usageError } from "./UsageError.ts"

/**
 * What a run produced.
 *
 * @category models
 */
export interface Outcome {
  /** What DynamoRIO prints: each tool's results, separated by a line of 75 `=`. */
  readonly text: string
  /** The same results as JSON (`--json`). */
  readonly json: unknown
  /** Failures tolerated under `--failure continue`, one line each; the run then exits with 1. */
  readonly failures: ReadonlyArray<string>
}

/**
 * What the CLI gives a run besides its options.
 *
 * @category models
 */
export interface Hooks {
  /** Progress samples for the bar (a no-op under --quiet or without a terminal). */
  readonly progress: Progress.Reporter
  /**
   * Prints text while the run goes on: the view tool's listing goes here as it
   * is produced (DynamoRIO's view prints each record as it comes), not into the
   * result. Given only where that can work (the CLI: text runs on fibers,
   * not on a cluster); without it, the listing is in the result.
   */
  readonly write?: ((text: string) => void) | undefined
}

/**
 * Any error a run may end with. The CLI prints `message` (one `ERROR:` line
 * per line) and maps `_tag` to the exit status.
 *
 * @category models
 */
export type AnalysisError = UsageError | { readonly _tag: string; readonly message: string }

/** Options a cluster run does not carry (its runners read thread shards whole). */
const NOT_ON_CLUSTER: ReadonlyArray<Options.Key> = [
  "skipInstrs",
  "skipToTimestamp",
  "exitAfterInstrs",
  "recordFile",
  "replayFile",
  "cpuScheduleFile",
  "schedSwitchFile",
  "schedSyscallFile"
]

const both = (key: Options.Key): string => `${Options.optionName(key, "dr")} (${Options.optionName(key, "modern")})`

const notYet = (what: string, option: string): UsageError =>
  usageError("NotYetAvailable", `${what} is not available yet: the analyzer does not apply it`, option)

const refuseUnapplied = (options: Options.Options & ClusterCli.ClusterSelection): UsageError | undefined => {
  if (options.cluster !== undefined && (options.intervalMicroseconds > 0 || options.intervalInstrCount > 0)) {
    const key = options.intervalMicroseconds > 0 ? "intervalMicroseconds" : "intervalInstrCount"
    return notYet(`Option ${both(key)} on a cluster`, Options.optionName(key, "dr"))
  }
  if (options.cluster !== undefined) {
    for (const key of NOT_ON_CLUSTER) {
      if ((options as unknown as Options.Raw)[key] !== Options.rawDefaults[key])
        return notYet(`Option ${both(key)} on a cluster`, Options.optionName(key, "dr"))
    }
    if (options.onlyThreads.length > 0) return notYet(`Option ${both("onlyThreads")} on a cluster`, "-only_threads")
    if (options.onlyShards.length > 0) return notYet(`Option ${both("onlyShards")} on a cluster`, "-only_shards")
    if (options.inputs.length > 1)
      return notYet(`Several workloads (${both("multiIndir")}) on a cluster`, "-multi_indir")
  }
  return undefined
}

/** A report file that cannot be written, found before the run rather than after it. */
const reportPathProblem = (file: string): UsageError | undefined => {
  if (file === "") return undefined
  const problem = (() => {
    try {
      if (fs.existsSync(file) && fs.statSync(file).isDirectory()) return "it is a directory"
      fs.accessSync(path.dirname(path.resolve(file)), fs.constants.W_OK)
      return undefined
    } catch (e) {
      return e instanceof Error ? e.message : String(e)
    }
  })()
  return problem === undefined
    ? undefined
    : usageError("InvalidValue", `cannot write the report ${file}: ${problem}`, "--report")
}

/** Registry names differ from DynamoRIO's canonical ones only for the TLB simulator. */
const registryName = (name: Options.ToolName): string => (name === "TLB_simulator" ? "TLB" : name)

/**
 * Each tool's options from the command line (DynamoRIO's knobs, by tool).
 *
 * @category tools
 */
const serialScheduleOf = (o: Options.Options): string => {
  const dir = o.inputs.length === 1 && o.inputs[0]!.kind === "dir" ? o.inputs[0]!.path : undefined
  if (dir === undefined) return ""
  for (const name of ["serial_schedule.bin.gz", "serial_schedule.bin"]) {
    const file = path.join(dir, name)
    if (fs.existsSync(file)) return file
  }
  return ""
}

export const toolOptions = (
  name: Options.ToolName,
  o: Options.Options,
  singleInput: boolean
): Record<string, unknown> => {
  const simulator = {
    cores: o.cores,
    skipRefs: o.skipRefs,
    warmupRefs: o.warmupRefs,
    warmupFraction: o.warmupFraction,
    simRefs: o.simRefs,
    cpuScheduling: o.cpuScheduling
  }
  switch (name) {
    case "histogram":
      return { lineSize: o.lineSize, reportTop: o.reportTop }
    case "reuse_distance":
      return {
        lineSize: o.lineSize,
        reportHistogram: o.reuseDistanceHistogram,
        distanceThreshold: o.reuseDistanceThreshold,
        reportTop: o.reportTop,
        skipListDistance: o.reuseSkipDist,
        distanceLimit: o.reuseDistanceLimit,
        histogramBinMultiplier: o.reuseHistogramBinMultiplier
      }
    case "reuse_time":
      return { lineSize: o.lineSize, verbose: o.verbose }
    case "cache_simulator":
      return {
        ...simulator,
        lineSize: o.lineSize,
        l1iSize: o.l1iSize,
        l1iAssoc: o.l1iAssoc,
        l1dSize: o.l1dSize,
        l1dAssoc: o.l1dAssoc,
        llSize: o.llSize,
        llAssoc: o.llAssoc,
        replacePolicy: o.replacePolicy,
        dataPrefetcher: o.dataPrefetcher
      }
    case "TLB_simulator":
      return {
        ...simulator,
        pageSize: o.pageSize,
        l1iEntries: o.tlbL1iEntries,
        l1iAssoc: o.tlbL1iAssoc,
        l1dEntries: o.tlbL1dEntries,
        l1dAssoc: o.tlbL1dAssoc,
        l2Entries: o.tlbL2Entries,
        l2Assoc: o.tlbL2Assoc,
        replacePolicy: o.tlbReplacePolicy
      }
    case "view":
      // DynamoRIO's view prints the input's own ordinals when the run has one input.
      return { inputOrdinals: singleInput }
    case "schedule_stats":
      return { printEvery: o.scheduleStatsPrintEvery, verbose: o.verbose }
    case "invariant_checker":
      // DynamoRIO checks the trace against the directory's serial schedule file
      // when there is one, unless system-call sequences are injected (they change
      // the instruction counts), and tolerates a missing end when the run stops early.
      return {
        serialSchedule: o.schedSyscallFile !== "" ? "" : serialScheduleOf(o),
        traceIncomplete: o.skipRecords > 0 || o.exitAfterRecords > 0 || o.skipInstrs > 0 || o.exitAfterInstrs > 0,
        abortOnInvariantError: o.abortOnInvariantError
      }
    default:
      return {}
  }
}

/**
 * The scheduler knobs of a core-sharded or core-serial run, as DynamoRIO's
 * `init_dynamic_schedule` sets them from the `-sched_*` options. Thread-sharded
 * and serial runs ignore them, as in DynamoRIO. With `-sched_time` the
 * quantum is by time: `-sched_quantum` simulated microseconds (its default
 * stays 20,000,000, as DynamoRIO's), and the analyzer passes the wall-clock
 * time to the scheduler.
 *
 * @category modes
 */
export const schedulerOptions = (o: Options.Options) => ({
  deps: o.schedOrderTime ? ("timestamps" as const) : ("ignore" as const),
  ...(o.schedTime
    ? { quantumUnit: "time" as const, quantumDurationUs: o.schedQuantum }
    : { quantumDurationInstrs: o.schedQuantum }),
  syscallSwitchThreshold: o.schedSyscallSwitchUs,
  blockingSwitchThreshold: o.schedBlockingSwitchUs,
  blockTimeMultiplier: o.schedBlockScale,
  blockTimeMaxUs: o.schedBlockMaxUs,
  honorInfiniteTimeouts: o.schedInfiniteTimeouts,
  timeUnitsPerUs: o.schedTimeUnitsPerUs,
  migrationThresholdUs: o.schedMigrationThresholdUs,
  rebalancePeriodUs: o.schedRebalancePeriodUs,
  stealAttemptPeriod: o.schedStealAttemptPeriod,
  randomizeNextInput: o.schedRandomize,
  honorDirectSwitches: !o.schedDisableDirectSwitches,
  exitIfFractionInputsLeft: o.schedExitIfFractionInputsLeft,
  randomInitialLayout: o.schedRandomInitialLayout,
  // -sched_max_cores limits every workload (-multi_indir) alike.
  workloadOutputLimits: o.schedMaxCores > 0 ? o.inputs.map(() => o.schedMaxCores) : []
})

/**
 * The analyzer options for DynamoRIO's window, filter, schedule-file and
 * kernel-sequence options. As in DynamoRIO, schedule files and the switch
 * file only act on core-sharded and core-serial runs (a cpu schedule also
 * maps -skip_to_timestamp), and -multi_indir makes each directory a workload.
 *
 * @category modes
 */
export const schedulingOptions = (o: Options.Options, mode: Analyzer.Mode) => {
  const core = mode === "core-sharded" || mode === "core-serial"
  return {
    skipInstrs: o.skipInstrs,
    exitAfterInstrs: o.exitAfterInstrs,
    skipToTimestamp: o.skipToTimestamp,
    onlyThreads: o.onlyThreads,
    onlyShards: o.onlyShards,
    cpuScheduleFile: core || o.skipToTimestamp > 0n ? o.cpuScheduleFile : "",
    replayFile: core ? o.replayFile : "",
    recordFile: core ? o.recordFile : "",
    switchSequenceFile: core ? o.schedSwitchFile : "",
    syscallSequenceFile: o.schedSyscallFile,
    separateWorkloads: o.inputs.length > 1
  }
}

/** The traced cpu ids (sorted) when a core run replays the as-traced schedule: the cores' ids in the simulators. */
/**
 * The analyzer mode DynamoRIO would run (`analyzer_multi.cpp`), or a usage
 * error for tools that disagree on their shard type.
 *
 * @category modes
 */
export const chooseMode = (
  options: Pick<Options.Options, "sharding" | "jobs">,
  tools: ReadonlyArray<Pick<Tool.Any, "parallel" | "preferredShardType">>
): Analyzer.Mode | UsageError => {
  const parallel = options.jobs !== 0 && tools.every((t) => t.parallel)
  switch (options.sharding) {
    case "core-sharded":
      return parallel ? "core-sharded" : "core-serial"
    case "core-serial":
      return "core-serial"
    case "thread":
      return parallel ? "thread-sharded" : "serial"
    case "auto": {
      if (tools.every((t) => t.preferredShardType === "core")) return parallel ? "core-sharded" : "core-serial"
      if (tools.every((t) => t.preferredShardType === "thread")) return parallel ? "thread-sharded" : "serial"
      return usageError(
        "Conflict",
        "Selected tools differ in preferred sharding: please re-run with -[no_]core_sharded or -[no_]core_serial"
      )
    }
  }
}

/**
 * Runs the analysis described by `options`.
 *
 * @category running
 */
export const runAnalysis = (
  options: Options.Options & ClusterCli.ClusterSelection,
  hooks: Hooks
): Effect.Effect<Outcome, AnalysisError> =>
  Effect.gen(function* () {
    const refused = refuseUnapplied(options) ?? reportPathProblem(options.report)
    if (refused !== undefined) return yield* refused
    const paths = options.inputs.map((i) => i.path)
    const files = yield* Trace.list(paths[0]!)
    // DynamoRIO reports the input's own ordinals when the run (after filters) has one input.
    const singleInput = files.length === 1 || options.onlyThreads.length === 1 || options.onlyShards.length === 1
    const tools = yield* Effect.forEach(options.tools, (name) =>
      Registry.make(registryName(name), {
        ...toolOptions(name, options, singleInput),
        ...(name === "view" && hooks.write !== undefined ? { write: hooks.write } : {})
      })
    )
    const mode = chooseMode(options, tools)
    if (typeof mode !== "string") return yield* mode
    const run = options.cluster === undefined ? Analyzer.run : ClusterCli.runOn(options.cluster)
    const result = yield* run(paths, {
      tools,
      mode,
      jobs: options.jobs < 0 ? undefined : options.jobs,
      cores: options.cores,
      scheduler: mode === "core-sharded" || mode === "core-serial" ? schedulerOptions(options) : undefined,
      failure: options.failure,
      backend: options.backend,
      runTimeout: options.runTimeout > 0 ? Duration.millis(options.runTimeout) : undefined,
      stallTimeout: options.stallTimeout > 0 ? Duration.millis(options.stallTimeout) : Duration.infinity,
      skipRecords: options.skipRecords,
      exitAfterRecords: options.exitAfterRecords,
      intervalMicroseconds: options.intervalMicroseconds,
      intervalInstrCount: options.intervalInstrCount,
      // DynamoRIO sets the analyzer's imbalance only for core runs (it acts on dynamic core-sharded ones).
      maxLoadImbalance: mode === "core-sharded" ? options.maxLoadImbalance : undefined,
      ...schedulingOptions(options, mode),
      encodings: options.tools.includes("view"),
      sourceThread: options.sourceThread,
      onProgress: (p) => hooks.progress.update(p),
      // The report draws the schedule; --json reports each output's statistics. A cluster run is
      // thread-sharded: it has no schedule (the report says so).
      recordSchedule: options.cluster === undefined && (options.report !== "" || options.json)
    })
    // A report that cannot be written still leaves the results printed, and fails the command.
    const reportFailed: ReadonlyArray<string> =
      options.report === ""
        ? []
        : yield* Effect.gen(function* () {
            const inputs = yield* Report.inputLabels(paths)
            yield* Report.write(options.report, result, { trace: paths.join(", "), inputs })
            return []
          }).pipe(Effect.catch((e) => Effect.succeed([`report: ${e.message}`])))
    return {
      text: Analyzer.formatText(result),
      json: Json.encode(result, tools, options.tools, { shards: options.jsonShards }),
      failures: [...result.failures.map((f) => f.line), ...reportFailed]
    }
  })
