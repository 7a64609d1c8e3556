/**
 * Runs a backend's workers under the failure policy, the run timeout, the
 * stall watchdog and progress sampling, then merges and prints the tools'
 * results. Backends (fibers, worker threads) only provide worker effects and
 * their results; every reliability rule lives here, once.
 *
 * Concurrency: `failures` and the backends' counters are plain mutable state
 * touched only by fibers of this one JS thread, never across an await that
 * could interleave a partial update.
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import type { AnalysisResult, Mode, Options, ToolOutput } from "../Analyzer.ts"
import { AnalysisFailed, ShardFailure } from "../AnalyzerError.ts"
import * as Tool from "../Tool.ts"
import { defaults, runTimeoutGiven } from "./defaults.ts"
import type { LoadBalanceStats } from "./loadBalance.ts"
import type { OutputSchedule } from "./scheduleLog.ts"
import { defectMessage, type FailureInfo, type IntervalConfig, type ShardIntervals } from "./worker.ts"

/** A worker's typed failure, carried in the worker effect's error channel. */
export class WorkerFailed {
  readonly _tag = "WorkerFailed"
  readonly infos: ReadonlyArray<FailureInfo>
  constructor(info: FailureInfo | ReadonlyArray<FailureInfo>) {
    this.infos = Array.isArray(info) ? info : [info as FailureInfo]
  }
}

export interface Plan {
  readonly mode: Mode
  readonly workers: number
  readonly outputs: number
  readonly shardType: Tool.ShardType
  readonly serial: boolean
  /** The inputs are cores already (core-sharded on disk): input i is core i. */
  readonly coreOnDisk: boolean
}

export interface WorkerSnapshot {
  readonly finished: boolean
  readonly lastShard: number
  readonly lastInput: string | undefined
  readonly lastRecord: number
}

export interface Backend {
  /** One effect per worker; it owns the worker's resources and releases them (output set inactive) on any exit. */
  readonly workers: ReadonlyArray<Effect.Effect<void, WorkerFailed, Scope.Scope>>
  readonly results: (tool: number) => ReadonlyArray<Tool.ShardOutcome<unknown>>
  /** Finished interval lists of a tool (interval runs). */
  readonly intervals?: ((tool: number) => ReadonlyArray<ShardIntervals>) | undefined
  readonly processed: () => number
  /** Instructions read so far (progress only; runs ahead of `processed` by at most a batch per input). */
  readonly instructions?: (() => number) | undefined
  readonly perWorker: () => ReadonlyArray<number>
  readonly inputsDone: () => number
  readonly inputsTotal: number
  readonly snapshot: (worker: number) => WorkerSnapshot
  /** The scheduler's statistics per output, in scheduled runs. */
  readonly stats?: ((output: number) => ReadonlyArray<number> | undefined) | undefined
  /** What ran where, when the run was asked to record it. */
  readonly schedule?: (() => ReadonlyArray<OutputSchedule>) | undefined
  /** Whether the orchestrator's global watchdog should watch this backend (the thread backend watches each worker itself). */
  readonly needsWatchdog: boolean
  /** Load balancing's counters, when the run balances load. */
  readonly loadBalance?: (() => LoadBalanceStats) | undefined
  /** Work the scheduler had to drop because of failed workers (see `OutputSource.unrunnable`), as failures. */
  readonly unrunnable?: (() => ReadonlyArray<FailureInfo>) | undefined
}

export const toFailure = (f: FailureInfo): ShardFailure =>
  new ShardFailure({
    reason: f.reason,
    worker: f.worker,
    shard: f.shard,
    shardType: f.shardType,
    tid: f.tid,
    input: f.input,
    tool: f.tool,
    record: f.record,
    message: f.message,
    toolError: f.toolError
  })

/**
 * Merges and prints every tool's shard results (sorted by shard); a merge or
 * print that throws fails the run with `Merge`, after the failures so far.
 * Shared by local runs and cluster runs.
 */
export const mergeTools = (
  tools: ReadonlyArray<Tool.Any>,
  shardsOf: (tool: number) => ReadonlyArray<Tool.ShardOutcome<unknown>>,
  failures: ReadonlyArray<ShardFailure>,
  shardType: Tool.ShardType,
  context: Tool.MergeContext
): Effect.Effect<Array<ToolOutput>, AnalysisFailed> =>
  Effect.forEach(tools, (tool, t) =>
    Effect.try({
      try: (): ToolOutput => {
        const shards = [...shardsOf(t)].sort((a, b) => a.shardIndex - b.shardIndex)
        const failedShards = failures.filter((f) => f.tool === undefined || f.tool === tool.name).length
        const result = tool.merge(shards, failedShards > 0 ? { ...context, failedShards } : context)
        return { name: tool.name, result, text: tool.print(result), shards }
      },
      catch: (e) =>
        new AnalysisFailed({
          failures: [
            ...failures,
            new ShardFailure({
              reason: "Merge",
              worker: -1,
              shard: -1,
              shardType,
              tool: tool.name,
              message: e instanceof Error ? e.message : String(e)
            })
          ]
        })
    })
  )

/** The worker's interval settings, or undefined when intervals are off. */
export const intervalConfig = (options: Options): IntervalConfig | undefined => {
  const microseconds = options.intervalMicroseconds ?? 0
  const instrCount = options.intervalInstrCount ?? 0
  return microseconds > 0 || instrCount > 0 ? { microseconds, instrCount } : undefined
}

/**
 * Interval snapshots of a run: whole-trace lists (serial runs, and time
 * intervals merged across shards) or unmerged per-shard lists (instruction
 * intervals of parallel runs), with DynamoRIO's printed text.
 */
export interface IntervalOutput {
  readonly kind: "whole-trace" | "per-shard"
  /** Per tool, in tool order: its lists (the whole-trace one, or one per shard by shard index). */
  readonly tools: ReadonlyArray<{ readonly name: string; readonly lists: ReadonlyArray<ShardIntervals> }>
  readonly text: string
}

/**
 * DynamoRIO's `merge_shard_interval_results`: walks the shards' lists by
 * interval end timestamp; each whole-trace interval combines the latest
 * snapshot of every shard so far, its cumulative count sums them all and its
 * delta sums the shards active in that interval.
 */
export const mergeTimeIntervals = (
  tool: Tool.Any,
  lists: ReadonlyArray<ReadonlyArray<Tool.IntervalSnapshot<unknown>>>,
  microseconds: number
): Array<Tool.IntervalSnapshot<unknown>> => {
  const out: Array<Tool.IntervalSnapshot<unknown>> = []
  const at = lists.map(() => 0)
  const last: Array<Tool.IntervalSnapshot<unknown> | undefined> = lists.map(() => undefined)
  let earliestEver = -1n
  const I = BigInt(microseconds)
  while (true) {
    let end = -1n
    lists.forEach((l, s) => {
      if (at[s]! < l.length) {
        const e = l[at[s]!]!.endTimestamp
        if (end < 0n || e < end) end = e
      }
    })
    if (end < 0n) break
    if (earliestEver < 0n) earliestEver = end
    lists.forEach((l, s) => {
      if (at[s]! < l.length && l[at[s]!]!.endTimestamp === end) last[s] = l[at[s]!++]!
    })
    const combine = tool.intervals?.combine
    if (combine === undefined) throw new Error(`${tool.name}: combine_interval_snapshots unexpectedly returned nullptr`)
    const data = combine(last, end)
    let cumulative = 0
    let delta = 0
    for (const snap of last) {
      if (snap === undefined) continue
      cumulative += snap.instrCountCumulative
      if (snap.endTimestamp === end) delta += snap.instrCountDelta
    }
    out.push({
      shardId: Tool.WHOLE_TRACE_SHARD_ID,
      intervalId: Number(end / I - earliestEver / I) + 1,
      endTimestamp: end,
      instrCountCumulative: cumulative,
      instrCountDelta: delta,
      data
    })
  }
  return out
}

/** Collects, merges and prints the interval lists (DynamoRIO's `run` tail and `print_stats`). */
export const intervalOutput = (
  tools: ReadonlyArray<Tool.Any>,
  listsOf: (tool: number) => ReadonlyArray<ShardIntervals>,
  config: IntervalConfig,
  serial: boolean
): IntervalOutput => {
  const sep = `\n${Tool.SEPARATOR}\n`
  const sorted = tools.map((_, t) => [...listsOf(t)].sort((a, b) => a.shardIndex - b.shardIndex))
  const printList = (tool: Tool.Any, l: ShardIntervals) =>
    l.snapshots.length > 0 && tool.intervals !== undefined ? tool.intervals.print(l.snapshots) : ""
  if (serial || config.microseconds > 0) {
    const merged = tools.map((tool, t) => {
      const lists = sorted[t]!
      const whole: ShardIntervals = serial
        ? { shardIndex: 0, snapshots: lists.flatMap((l) => l.snapshots) }
        : {
            shardIndex: Tool.WHOLE_TRACE_SHARD_ID,
            snapshots: mergeTimeIntervals(
              tool,
              lists.map((l) => l.snapshots),
              config.microseconds
            )
          }
      return { name: tool.name, lists: [whole] }
    })
    let text = `${sep}Printing whole-trace interval results:\n`
    merged.forEach((m, t) => {
      text += printList(tools[t]!, m.lists[0]!)
      if (t + 1 < tools.length) text += sep
    })
    return { kind: "whole-trace", tools: merged, text }
  }
  const perShard = tools.map((tool, t) => ({ name: tool.name, lists: sorted[t]! }))
  let text = ""
  perShard.forEach((m, t) => {
    for (const l of m.lists) text += printList(tools[t]!, l) + sep
  })
  // DynamoRIO prints nothing when no shard kept interval data at all.
  if (perShard.some((m) => m.lists.length > 0)) text = `${sep}Printing unmerged per-shard interval results:\n${text}`
  return { kind: "per-shard", tools: perShard, text }
}

export const orchestrate = (
  backend: Backend,
  p: Plan,
  options: Options,
  started: number
): Effect.Effect<AnalysisResult, AnalysisFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const policy = options.failure ?? defaults.failure
    const failures: Array<FailureInfo> = []
    const firstFailure = yield* Deferred.make<void>()
    const failed: Array<boolean> = backend.workers.map(() => false)
    const fail = (w: number, infos: ReadonlyArray<FailureInfo>) =>
      Effect.gen(function* () {
        failed[w] = true
        failures.push(...infos)
        if (policy === "fail-fast") yield* Deferred.succeed(firstFailure, undefined)
      })
    // A worker ends with its typed failure, or dies: a throw outside the tool
    // guards (a callback such as onWorkerReleased, a worker thread that cannot
    // start) is that worker's crash, never a fiber that ends unseen while the
    // run waits. Interruption is left as it is.
    const guarded = (w: number) =>
      Effect.scoped(backend.workers[w]!).pipe(
        Effect.catchCause((cause) => {
          const error = Cause.findErrorOption(cause)
          if (Option.isSome(error)) return fail(w, error.value.infos)
          const defect = Cause.findDefect(cause)
          if (Result.isFailure(defect)) return Effect.failCause(cause as Cause.Cause<never>)
          return fail(w, [
            {
              reason: "WorkerCrashed",
              worker: w,
              shard: -1,
              shardType: p.shardType,
              message: `the worker died: ${defectMessage(defect.success)}`
            }
          ])
        })
      )
    // Every worker is forked and has acquired its resources before anything
    // can interrupt the run (the forks are uninterruptible and start at once;
    // the workers themselves stay interruptible), and whatever ends the run
    // (success, failure, timeout, interruption) interrupts the workers and
    // waits for every release.
    const fibers = yield* Effect.uninterruptible(
      Effect.forEach(backend.workers, (_, w) =>
        Effect.forkChild(Effect.interruptible(guarded(w)), { startImmediately: true })
      )
    )
    const stopAll = Effect.gen(function* () {
      yield* Fiber.interruptAll(fibers)
      for (const f of fibers) yield* Fiber.await(f)
    })
    const stallTimeout = Duration.fromInputUnsafe(options.stallTimeout ?? defaults.stallTimeout)
    const watchdog = !backend.needsWatchdog
      ? Effect.never
      : Effect.gen(function* () {
          let last = -1
          let since = 0
          const tick = Duration.toMillis(stallTimeout) / 4
          while (true) {
            yield* Effect.sleep(Duration.millis(tick))
            const now = backend.processed()
            if (now !== last) {
              last = now
              since = 0
              continue
            }
            since += tick
            if (since >= Duration.toMillis(stallTimeout)) {
              for (let w = 0; w < backend.workers.length; w++) {
                const s = backend.snapshot(w)
                if (s.finished || failed[w]) continue
                failures.push({
                  reason: "WorkerStalled",
                  worker: w,
                  shard: s.lastShard,
                  shardType: p.shardType,
                  input: s.lastInput,
                  record: s.lastRecord > 0 ? s.lastRecord : undefined,
                  message: `no record processed for ${Duration.format(stallTimeout)}`
                })
              }
              return
            }
          }
        })
    const onProgress = options.onProgress
    // A throwing onProgress ends the run (as a defect, after the workers stopped), not just the sampling.
    let progressThrew: { readonly error: unknown } | undefined
    const progress =
      onProgress === undefined
        ? Effect.never
        : Effect.gen(function* () {
            const interval = Duration.fromInputUnsafe(options.progressInterval ?? defaults.progressInterval)
            while (true) {
              yield* Effect.sleep(interval)
              try {
                onProgress({
                  records: backend.processed(),
                  instructions: backend.instructions?.() ?? 0,
                  inputsDone: backend.inputsDone(),
                  inputsTotal: backend.inputsTotal,
                  elapsedMs: Date.now() - started,
                  perWorker: backend.perWorker()
                })
              } catch (error) {
                progressThrew = { error }
                return
              }
            }
          })
    const race = Effect.raceAll([
      Fiber.joinAll(fibers).pipe(Effect.asVoid),
      Deferred.await(firstFailure),
      watchdog,
      progress
    ])
    const runTimeout = options.runTimeout
    const timed =
      runTimeout === undefined
        ? race
        : race.pipe(
            Effect.timeoutOrElse({
              duration: runTimeout,
              orElse: () =>
                Effect.sync(() => {
                  failures.push({
                    reason: "Timeout",
                    worker: -1,
                    shard: -1,
                    shardType: p.shardType,
                    message: `the run did not finish within ${Duration.format(
                      Duration.fromInputUnsafe(runTimeoutGiven(options) ?? runTimeout)
                    )}`
                  })
                })
            })
          )
    yield* Effect.ensuring(timed, stopAll)
    if (progressThrew !== undefined) return yield* Effect.die(progressThrew.error)

    // Under fail-fast the first failure stopped everything: what could no longer run is not news.
    if (policy === "continue") failures.push(...(backend.unrunnable?.() ?? []))
    const sorted = failures
      .map((f, i) => [f, i] as const)
      .sort((a, b) => (a[0].worker === b[0].worker ? a[1] - b[1] : a[0].worker - b[0].worker))
      .map(([f]) => toFailure(f))
    const fatal = policy === "fail-fast" || failures.some((f) => f.reason === "Timeout" || f.reason === "WorkerStalled")
    if (sorted.length > 0 && fatal) return yield* new AnalysisFailed({ failures: sorted })

    const outputs = yield* mergeTools(options.tools, (t) => backend.results(t), sorted, p.shardType, {
      schedulerStats: backend.stats
    })
    const ivConfig = intervalConfig(options)
    const intervals =
      ivConfig === undefined
        ? undefined
        : yield* Effect.try({
            try: () => intervalOutput(options.tools, (t) => backend.intervals?.(t) ?? [], ivConfig, p.serial),
            catch: (e) =>
              new AnalysisFailed({
                failures: [
                  ...sorted,
                  new ShardFailure({
                    reason: "Merge",
                    worker: -1,
                    shard: -1,
                    shardType: p.shardType,
                    message: `interval results: ${e instanceof Error ? e.message : String(e)}`
                  })
                ]
              })
          })
    return {
      mode: p.mode,
      workers: p.workers,
      tools: outputs,
      failures: sorted,
      records: backend.processed(),
      elapsedMs: Date.now() - started,
      ...(backend.schedule !== undefined ? { schedule: backend.schedule() } : {}),
      ...(intervals !== undefined ? { intervals } : {}),
      ...(backend.loadBalance !== undefined ? { loadBalance: backend.loadBalance() } : {})
    }
  })
