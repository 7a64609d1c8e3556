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
import { Deferred, Duration, Effect, Fiber, type Scope } from "effect"
import type { AnalysisResult, Mode, Options, ToolOutput } from "../Analyzer.ts"
import { AnalysisFailed, ShardFailure } from "../AnalyzerError.ts"
import type * as Tool from "../Tool.ts"
import { defaults } from "./defaults.ts"
import type { OutputSchedule } from "./scheduleLog.ts"
import type { FailureInfo } from "./worker.ts"

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
        const result = tool.merge(shards, context)
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
    const guarded = (w: number) =>
      Effect.scoped(backend.workers[w]!).pipe(
        Effect.catch((e: WorkerFailed) =>
          Effect.gen(function* () {
            failed[w] = true
            failures.push(...e.infos)
            if (policy === "fail-fast") yield* Deferred.succeed(firstFailure, undefined)
          })
        )
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
    const progress =
      onProgress === undefined
        ? Effect.never
        : Effect.gen(function* () {
            const interval = Duration.fromInputUnsafe(options.progressInterval ?? defaults.progressInterval)
            while (true) {
              yield* Effect.sleep(interval)
              onProgress({
                records: backend.processed(),
                instructions: backend.instructions?.() ?? 0,
                inputsDone: backend.inputsDone(),
                inputsTotal: backend.inputsTotal,
                elapsedMs: Date.now() - started,
                perWorker: backend.perWorker()
              })
            }
          })
    const race = Effect.raceAll([
      Fiber.joinAll(fibers).pipe(Effect.asVoid),
      Deferred.await(firstFailure),
      watchdog,
      progress.pipe(Effect.andThen(Effect.never))
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
                    message: `the run did not finish within ${Duration.format(Duration.fromInputUnsafe(runTimeout))}`
                  })
                })
            })
          )
    yield* Effect.ensuring(timed, stopAll)

    const sorted = failures
      .map((f, i) => [f, i] as const)
      .sort((a, b) => (a[0].worker === b[0].worker ? a[1] - b[1] : a[0].worker - b[0].worker))
      .map(([f]) => toFailure(f))
    const fatal = policy === "fail-fast" || failures.some((f) => f.reason === "Timeout" || f.reason === "WorkerStalled")
    if (sorted.length > 0 && fatal) return yield* new AnalysisFailed({ failures: sorted })

    const outputs = yield* mergeTools(options.tools, (t) => backend.results(t), sorted, p.shardType, {
      schedulerStats: backend.stats
    })
    return {
      mode: p.mode,
      workers: p.workers,
      tools: outputs,
      failures: sorted,
      records: backend.processed(),
      elapsedMs: Date.now() - started,
      ...(backend.schedule !== undefined ? { schedule: backend.schedule() } : {})
    }
  })
