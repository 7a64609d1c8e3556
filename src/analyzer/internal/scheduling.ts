/**
 * What the analyzer asks of the scheduler beyond the mode (DynamoRIO's
 * analyzer.cpp init_scheduler and analyzer_multi.cpp): input filters
 * (-only_threads, -only_shards), the instruction window (-skip_instrs,
 * -exit_after_instrs, -skip_to_timestamp), schedule files (-cpu_schedule_file,
 * -replay_file, -record_file), kernel sequence files (-sched_switch_file,
 * -sched_syscall_file) and several workloads (-multi_indir).
 *
 * The rules, as DynamoRIO's:
 * - `-skip_instrs N` / `-exit_after_instrs M` are one region of interest of
 *   every input, `[N+1, N+M]` (or to the end), in every mode.
 * - `-skip_to_timestamp T` is a time range `[T, end)` turned into per-input
 *   regions through the cpu schedule; only when there is no instruction window.
 * - Schedule files and the switch file apply to core-sharded and core-serial
 *   runs; the cpu schedule is replayed as traced there unless it only maps
 *   `-skip_to_timestamp`. The syscall file applies in every mode.
 * - Thread filters are not supported with several workloads.
 */
import * as Effect from "effect/Effect"
import type { Options as SchedulerOptions, TimeRange } from "../../scheduler/internal/options.ts"
import * as Scheduler from "../../scheduler/Scheduler.ts"
import * as Trace from "../../trace/Trace.ts"
import type { TraceError } from "../../trace/TraceError.ts"
import type { Options } from "../Analyzer.ts"
import { AnalyzerOptionError } from "../AnalyzerError.ts"
import type { Plan } from "./orchestrate.ts"
import type { SchedulerSource } from "./schedulerSource.ts"

/** The trace files of each workload (one per path with `separateWorkloads`, else all together). */
export interface Workloads {
  readonly files: ReadonlyArray<string>
  /** Workload ordinal of each file. */
  readonly workload: ReadonlyArray<number>
}

/**
 * Whether any option needs the scheduler where the analyzer would otherwise
 * read inputs directly (filtered inputs too: their batches carry the
 * unfiltered ordinals, which the direct reading path would mistake).
 */
export const needsScheduler = (options: Options): boolean =>
  (options.onlyThreads ?? []).length > 0 ||
  (options.onlyShards ?? []).length > 0 ||
  (options.skipInstrs ?? 0) > 0 ||
  (options.exitAfterInstrs ?? 0) > 0 ||
  (options.skipToTimestamp ?? 0n) > 0n ||
  (options.syscallSequenceFile ?? "") !== ""

const optionError = (option: string, message: string) => new AnalyzerOptionError({ option, message })

/** DynamoRIO's checks of -only_threads / -only_shards over `count` inputs with thread ids `tids`. */
const keepInputs = (
  count: number,
  tids: () => Effect.Effect<ReadonlyArray<number>, TraceError>,
  options: Options
): Effect.Effect<ReadonlyArray<boolean> | undefined, AnalyzerOptionError | TraceError> =>
  Effect.gen(function* () {
    const threads = options.onlyThreads ?? []
    const shards = options.onlyShards ?? []
    if (threads.length === 0 && shards.length === 0) return undefined
    if (threads.length > 0 && shards.length > 0)
      return yield* optionError("onlyThreads", "Only one of -only_thread, -only_threads, and -only_shards can be set.")
    for (const s of shards) {
      if (!Number.isInteger(s) || s < 0 || s >= count)
        return yield* optionError("onlyShards", `only_shards entry ${s} out of bounds for a shard ordinal`)
    }
    if (threads.length === 0) return Array.from({ length: count }, (_, i) => shards.includes(i))
    const ids = yield* tids()
    for (const t of threads) {
      if (!ids.includes(t))
        return yield* optionError("onlyThreads", `only_threads entry ${t} not found in workload inputs`)
    }
    return ids.map((t) => threads.includes(t))
  })

/** `Analyzer.runInputs`' inputs after -only_threads / -only_shards. */
export const selectInputs = <I extends { readonly info: { readonly tid: number } }>(
  inputs: ReadonlyArray<I>,
  options: Options
): Effect.Effect<ReadonlyArray<I>, AnalyzerOptionError | TraceError> =>
  Effect.map(
    keepInputs(inputs.length, () => Effect.succeed(inputs.map((i) => i.info.tid)), options),
    (keep) => (keep === undefined ? inputs : inputs.filter((_, i) => keep[i]))
  )

/**
 * The files of a run after -only_threads / -only_shards, with DynamoRIO's
 * checks (every entry must name an input). Thread ids come from each file's
 * first records.
 */
export const selectFiles = (
  paths: ReadonlyArray<string>,
  options: Options
): Effect.Effect<Workloads, AnalyzerOptionError | TraceError> =>
  Effect.gen(function* () {
    const files: Array<string> = []
    const workload: Array<number> = []
    for (const [w, p] of paths.entries()) {
      for (const f of yield* Trace.list(p)) {
        files.push(f)
        workload.push(options.separateWorkloads ? w : 0)
      }
    }
    const threads = options.onlyThreads ?? []
    const shards = options.onlyShards ?? []
    if (threads.length === 0 && shards.length === 0) return { files, workload }
    if (options.separateWorkloads && paths.length > 1)
      return yield* optionError(
        threads.length > 0 ? "onlyThreads" : "onlyShards",
        "Input limits are not currently supported with -multi_indir"
      )
    const tids = () =>
      Effect.forEach(files, (f, i) => Effect.map(Effect.scoped(Trace.openFile(f, i)), (input) => input.info.tid))
    const keep = (yield* keepInputs(files.length, tids, options))!
    return { files: files.filter((_, i) => keep[i]), workload: workload.filter((_, i) => keep[i]) }
  })

/**
 * The scheduler options of a run: the caller's `scheduler` plus the
 * window, schedule files, kernel sequences and workloads, for plan `p`.
 */
export const schedulingOptions = (
  options: Options,
  p: Plan,
  workload: ReadonlyArray<number>
): Effect.Effect<SchedulerOptions, AnalyzerOptionError | TraceError> =>
  Effect.gen(function* () {
    const base = options.scheduler ?? {}
    const core = p.mode === "core-sharded" || p.mode === "core-serial"
    const skip = options.skipInstrs ?? 0
    const exitAfter = options.exitAfterInstrs ?? 0
    const toTimestamp = options.skipToTimestamp ?? 0n
    for (const [option, v] of [
      ["skipInstrs", skip],
      ["exitAfterInstrs", exitAfter]
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0)
        return yield* optionError(option, `${option} must be a non-negative integer, got ${v}`)
    }
    if (toTimestamp < 0n) return yield* optionError("skipToTimestamp", "skipToTimestamp must not be negative")
    const cpuFile = options.cpuScheduleFile ?? ""
    const replayFile = options.replayFile ?? ""
    const recordFile = options.recordFile ?? ""
    if (replayFile !== "" && recordFile !== "")
      return yield* optionError("replayFile", "only one of -record_file and -replay_file can be set")
    if (toTimestamp > 0n && cpuFile === "")
      return yield* optionError("skipToTimestamp", "-skip_to_timestamp requires -cpu_schedule_file")
    if (toTimestamp > 0n && skip > 0)
      return yield* optionError(
        "skipToTimestamp",
        "only one of -skip_instrs, -skip_records, and -skip_to_timestamp can be used at a time"
      )
    if (!core) {
      for (const [option, value] of [
        ["replayFile", replayFile],
        ["recordFile", recordFile],
        ["switchSequenceFile", options.switchSequenceFile ?? ""]
      ] as const) {
        if (value !== "")
          return yield* optionError(
            option,
            `${option} applies to core-sharded and core-serial runs only (this run is ${p.mode})`
          )
      }
      if (cpuFile !== "" && toTimestamp === 0n)
        return yield* optionError(
          "cpuScheduleFile",
          `replaying the as-traced schedule needs a core-sharded or core-serial run (this run is ${p.mode})`
        )
    }
    const out: { -readonly [K in keyof SchedulerOptions]: SchedulerOptions[K] } = { ...base }
    // One region of every input (DynamoRIO's init_scheduler).
    if (skip > 0 || exitAfter > 0) out.regions = [{ start: skip + 1, stop: exitAfter === 0 ? 0 : skip + exitAfter }]
    if (workload.some((w) => w > 0)) {
      const given = base.inputs ?? []
      out.inputs = workload.map((w, i) => ({ ...given[i], workload: w }))
    }
    if (cpuFile !== "") {
      out.cpuSchedule = yield* Scheduler.readCpuSchedule(cpuFile)
      if (toTimestamp > 0n) {
        const times: Array<TimeRange> = [{ start: toTimestamp, stop: 0n }]
        if (out.regions === undefined) out.timesOfInterest = times
      } else if (replayFile === "") {
        // Replayed as traced: one output per traced cpu.
        const cpus = new Set(out.cpuSchedule.flatMap((c) => c.entries.map((e) => e.cpu))).size
        if (cpus !== p.outputs)
          return yield* optionError(
            "cores",
            `${cpuFile} has ${cpus} traced cpus: replaying it as traced needs -cores ${cpus}, got ${p.outputs}`
          )
      }
    }
    if (replayFile !== "") out.replaySchedule = yield* Scheduler.readRecordedSchedule(replayFile)
    if (recordFile !== "") out.recordSchedule = true
    if ((options.switchSequenceFile ?? "") !== "")
      out.kernelSwitchSequences = yield* Scheduler.readKernelSequences(options.switchSequenceFile!)
    if ((options.syscallSequenceFile ?? "") !== "")
      out.kernelSyscallSequences = yield* Scheduler.readKernelSequences(options.syscallSequenceFile!)
    return out
  })

/** Writes the recorded schedule to -record_file (DynamoRIO writes it when the analyzer ends). */
export const writeRecord = (options: Options, source: SchedulerSource): Effect.Effect<void, AnalyzerOptionError> =>
  (options.recordFile ?? "") === ""
    ? Effect.void
    : Scheduler.writeRecordedSchedule(options.recordFile!, source.recordedSchedule()).pipe(
        Effect.mapError((e) =>
          optionError("recordFile", `Failed to write schedule to ${options.recordFile}: ${e.message}`)
        )
      )
