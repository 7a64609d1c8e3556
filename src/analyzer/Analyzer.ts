/**
 * Runs analysis tools over a trace on parallel workers, the way DynamoRIO's
 * analyzer does, with one guarantee DynamoRIO lacked: a worker that fails,
 * throws, is interrupted or times out always releases its scheduler output
 * (`setActive(false)`), so the run can never wait forever on an input owned
 * by a dead worker.
 *
 * **When to use**: `Analyzer.run(path, { tools: [basicCounts()] })` from an
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
 *
 * **Gotchas**
 * - With the fiber backend all workers share one JS thread: a tool stuck in
 *   a synchronous infinite loop blocks every fiber, watchdog included. Use
 *   the worker-thread backend to survive such tools.
 *
 * @since 0.1.0
 */
import * as os from "node:os"
import { Deferred, Duration, Effect, type Exit, Fiber, type Scope } from "effect"
import * as Trace from "../trace/Trace.ts"
import type { TraceError } from "../trace/TraceError.ts"
import { AnalysisFailed, AnalyzerOptionError, ShardFailure } from "./AnalyzerError.ts"
import { makeStatic, type OutputSource } from "./internal/outputSource.ts"
import { type FailureInfo, WorkerCore } from "./internal/worker.ts"
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
  readonly runTimeout?: Duration.Input | undefined
  readonly stallTimeout?: Duration.Input | undefined
  readonly skipRecords?: number | undefined
  readonly exitAfterRecords?: number | undefined
  /** Keep instruction encodings in batches (the view tool needs them). */
  readonly encodings?: boolean | undefined
  /**
   * Called when a worker's resource is released, after its output was set
   * inactive, with how the worker ended (diagnostics and the fault-injection
   * tests use it).
   */
  readonly onWorkerReleased?: ((worker: number, exit: Exit.Exit<unknown, unknown>) => void) | undefined
  /** Called with a progress sample about every `progressInterval`. */
  readonly onProgress?: ((progress: Progress) => void) | undefined
  readonly progressInterval?: Duration.Input | undefined
}

/**
 * Documented defaults.
 *
 * @category defaults
 */
export const defaults = {
  cores: 4,
  failure: "fail-fast" as FailurePolicy,
  stallTimeout: Duration.seconds(60),
  progressInterval: Duration.millis(200),
  jobs: (): number => os.availableParallelism()
}

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
}

/**
 * The text DynamoRIO prints: each tool's results, separated by a line of 75 `=`.
 *
 * @category formatting
 */
export const formatText = (result: AnalysisResult): string =>
  result.tools.map((t) => t.text).join(`\n${Tool.SEPARATOR}\n`)

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

const toFailure = (f: FailureInfo): ShardFailure =>
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

/** A worker's typed failure inside the fiber backend. */
class WorkerFailed {
  readonly _tag = "WorkerFailed"
  readonly info: FailureInfo
  constructor(info: FailureInfo) {
    this.info = info
  }
}

interface Plan {
  readonly mode: Mode
  readonly workers: number
  readonly outputs: number
  readonly shardType: Tool.ShardType
  readonly serial: boolean
}

const plan = (options: Options, inputCount: number): Effect.Effect<Plan, AnalyzerOptionError> =>
  Effect.gen(function* () {
    if (options.tools.length === 0) {
      return yield* new AnalyzerOptionError({ option: "tools", message: "no tool given" })
    }
    const mode = options.mode ?? autoMode(options.tools)
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
    if (mode === "thread-sharded" && !options.tools.every((t) => t.parallel)) {
      const serialOnly = options.tools.filter((t) => !t.parallel).map((t) => t.name)
      return yield* new AnalyzerOptionError({
        option: "mode",
        message: `tool(s) ${serialOnly.join(", ")} support only serial operation`
      })
    }
    switch (mode) {
      case "thread-sharded": {
        const workers = Math.max(1, Math.min(jobs === 0 ? 1 : jobs, Math.max(1, inputCount)))
        return { mode, workers, outputs: workers, shardType: "thread", serial: jobs === 0 }
      }
      case "serial":
        return { mode, workers: 1, outputs: 1, shardType: "thread", serial: true }
      case "core-sharded":
        return { mode, workers: cores, outputs: cores, shardType: "core", serial: false }
      case "core-serial":
        return { mode, workers: 1, outputs: cores, shardType: "core", serial: true }
    }
  })

/**
 * Builds the output source of a plan. Thread-sharded runs use the static
 * partition; the other modes need the Scheduler.
 */
type SourceFactory = (
  inputs: ReadonlyArray<Trace.TraceInput>,
  plan: Plan
) => Effect.Effect<OutputSource, AnalyzerOptionError | TraceError, Scope.Scope>

let schedulerSource: SourceFactory | undefined

/** @internal Lets the scheduler adapter register itself without an import cycle. */
export const registerSchedulerSource = (factory: SourceFactory): void => {
  schedulerSource = factory
}

const makeSource: SourceFactory = (inputs, p) => {
  if (p.mode === "thread-sharded") return Effect.succeed(makeStatic(inputs, p.outputs))
  if (schedulerSource === undefined) {
    return Effect.fail(new AnalyzerOptionError({ option: "mode", message: `mode ${p.mode} needs the scheduler` }))
  }
  return schedulerSource(inputs, p)
}

const readFailure = (worker: number, e: TraceError): FailureInfo => ({
  reason: "ReadError",
  worker,
  shard: -1,
  shardType: "thread",
  input: e.path,
  record: e.record,
  message: e.message
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
  Effect.gen(function* () {
    const started = Date.now()
    const p = yield* plan(options, inputs.length)
    const source = yield* makeSource(inputs, p)
    const policy = options.failure ?? defaults.failure
    const failures: Array<FailureInfo> = []
    const firstFailure = yield* Deferred.make<void>()
    const names = inputs.map((i) => i.info.name)
    const cores = Array.from(
      { length: p.workers },
      (_, w) =>
        new WorkerCore({
          worker: w,
          tools: options.tools,
          shardType: p.shardType,
          serial: p.serial,
          outputCount: p.outputs,
          skipRecords: options.skipRecords ?? 0,
          exitAfterRecords: options.exitAfterRecords ?? 0,
          inputName: (i) => names[i] ?? `input ${i}`
        })
    )
    const finished: Array<boolean> = cores.map(() => false)

    const workerLoop = (core: WorkerCore, w: number): Effect.Effect<void, WorkerFailed> =>
      Effect.gen(function* () {
        // A core-serial worker walks every output in lockstep.
        const outputs = p.mode === "core-serial" ? p.outputs : 1
        const eof: Array<boolean> = Array.from({ length: outputs }, () => false)
        let live = outputs
        let o = 0
        while (live > 0) {
          const output = p.mode === "core-serial" ? o : w
          if (!eof[o]) {
            const step = yield* source.next(output).pipe(Effect.mapError((e) => new WorkerFailed(readFailure(w, e))))
            let outcome: ReturnType<WorkerCore["processSegment"]>
            switch (step._tag) {
              case "Records":
                outcome = core.processSegment(step.batch, step.start, step.end, step.input, output)
                break
              case "Idle":
                outcome = core.idle(output, false)
                yield* Effect.yieldNow
                break
              case "Wait":
                outcome = core.idle(output, true)
                yield* Effect.yieldNow
                break
              case "Pause":
                outcome = undefined
                yield* Effect.yieldNow
                break
              case "Eof":
                eof[o] = true
                live--
                outcome = undefined
                break
            }
            if (outcome !== undefined) {
              if (outcome._tag === "Failed") return yield* Effect.fail(new WorkerFailed(outcome.failure))
              source.abandon(output)
              break
            }
          }
          o = (o + 1) % outputs
        }
        const end = core.finishAll()
        if (end !== undefined && end._tag === "Failed") return yield* Effect.fail(new WorkerFailed(end.failure))
        finished[w] = true
      })

    // Each worker is a scoped resource whose release deactivates its output,
    // whatever the exit: this is the fix for DynamoRIO's #6666 by construction.
    const worker = (w: number) =>
      Effect.acquireUseRelease(
        Effect.sync(() => cores[w]!),
        (core) => workerLoop(core, w),
        (_, exit) =>
          Effect.gen(function* () {
            const outputs = p.mode === "core-serial" ? Array.from({ length: p.outputs }, (_, i) => i) : [w]
            for (const o of outputs) yield* source.setActive(o, false)
            options.onWorkerReleased?.(w, exit)
          })
      ).pipe(
        Effect.catch((e: WorkerFailed) =>
          Effect.gen(function* () {
            failures.push(e.info)
            if (policy === "fail-fast") yield* Deferred.succeed(firstFailure, undefined)
          })
        )
      )

    const fibers = yield* Effect.forEach(cores, (_, w) => Effect.forkChild(worker(w)))
    const all = Fiber.joinAll(fibers)
    const stallTimeout = Duration.fromInputUnsafe(options.stallTimeout ?? defaults.stallTimeout)
    const totalProcessed = () => cores.reduce((a, c) => a + c.processed, 0)
    const watchdog = Effect.gen(function* () {
      let last = -1
      let since = 0
      const tick = Duration.toMillis(stallTimeout) / 4
      while (true) {
        yield* Effect.sleep(Duration.millis(tick))
        const now = totalProcessed()
        if (now !== last) {
          last = now
          since = 0
          continue
        }
        since += tick
        if (since >= Duration.toMillis(stallTimeout)) {
          cores.forEach((c, w) => {
            if (!finished[w]) {
              failures.push({
                reason: "WorkerStalled",
                worker: w,
                shard: c.lastShard,
                shardType: p.shardType,
                input: c.lastInput >= 0 ? names[c.lastInput] : undefined,
                record: c.lastRecord > 0 ? c.lastRecord : undefined,
                message: `no record processed for ${Duration.format(stallTimeout)}`
              })
            }
          })
          return
        }
      }
    })
    const progress =
      options.onProgress === undefined
        ? Effect.never
        : Effect.gen(function* () {
            const interval = Duration.fromInputUnsafe(options.progressInterval ?? defaults.progressInterval)
            while (true) {
              yield* Effect.sleep(interval)
              options.onProgress!({
                records: totalProcessed(),
                instructions: 0,
                inputsDone: source.inputsDone(),
                inputsTotal: inputs.length,
                elapsedMs: Date.now() - started,
                perWorker: cores.map((c) => c.processed)
              })
            }
          })

    const race = Effect.raceAll([
      all.pipe(Effect.asVoid),
      Deferred.await(firstFailure),
      watchdog,
      progress.pipe(Effect.andThen(Effect.never))
    ])
    const timed =
      options.runTimeout === undefined
        ? race
        : race.pipe(
            Effect.timeoutOrElse({
              duration: options.runTimeout,
              orElse: () =>
                Effect.sync(() => {
                  failures.push({
                    reason: "Timeout",
                    worker: -1,
                    shard: -1,
                    shardType: p.shardType,
                    message: `the run did not finish within ${Duration.format(Duration.fromInputUnsafe(options.runTimeout!))}`
                  })
                })
            })
          )
    yield* timed
    // Stop whatever still runs and wait for every finalizer (setActive(false) included).
    yield* Fiber.interruptAll(fibers)
    for (const f of fibers) yield* Fiber.await(f)

    const sorted = failures
      .map((f, i) => [f, i] as const)
      .sort((a, b) => (a[0].worker === b[0].worker ? a[1] - b[1] : a[0].worker - b[0].worker))
      .map(([f]) => toFailure(f))
    const fatal = policy === "fail-fast" || failures.some((f) => f.reason === "Timeout" || f.reason === "WorkerStalled")
    if (sorted.length > 0 && fatal) return yield* new AnalysisFailed({ failures: sorted })

    const outputs: Array<ToolOutput> = []
    for (const [t, tool] of options.tools.entries()) {
      const shards = cores.flatMap((c) => c.results[t]!).sort((a, b) => a.shardIndex - b.shardIndex)
      const merged = yield* Effect.try({
        try: () => {
          const result = tool.merge(shards)
          return { result, text: tool.print(result) }
        },
        catch: (e) =>
          new AnalysisFailed({
            failures: [
              ...sorted,
              new ShardFailure({
                reason: "Merge",
                worker: -1,
                shard: -1,
                shardType: p.shardType,
                tool: tool.name,
                message: e instanceof Error ? e.message : String(e)
              })
            ]
          })
      })
      outputs.push({ name: tool.name, result: merged.result, text: merged.text, shards })
    }
    return {
      mode: p.mode,
      workers: p.workers,
      tools: outputs,
      failures: sorted,
      records: totalProcessed(),
      elapsedMs: Date.now() - started
    }
  })

/**
 * Opens `path` (a trace directory or file, or several) and runs the tools.
 *
 * @category running
 */
export const run = (
  path: string | ReadonlyArray<string>,
  options: Options
): Effect.Effect<AnalysisResult, AnalysisFailed | AnalyzerOptionError | TraceError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const paths = typeof path === "string" ? [path] : path
      const opened: Array<Trace.TraceInput> = []
      for (const p of paths) {
        for (const file of yield* Trace.list(p)) {
          opened.push(yield* Trace.openFile(file, opened.length, { encodings: options.encodings }))
        }
      }
      return yield* runInputs(opened, options)
    })
  )

export { AnalysisFailed, AnalyzerOptionError, ShardFailure }
