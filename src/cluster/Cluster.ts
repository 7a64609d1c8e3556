/**
 * Thread-sharded analysis across machines on effect/cluster, with its SQL
 * message and runner storage in PostgreSQL (@effect/sql-pg): runner processes
 * ({@link runner}, `memtrace runner --cluster URL`) serve shards; a
 * coordinator ({@link analyze}, `memtrace analyze --cluster URL …`) submits
 * one persisted request per input, collects the Schema-encoded shard results
 * and merges and prints them exactly as a local run would.
 *
 * **When to use**: when one machine is not enough for a trace's threads. For
 * one machine, `Analyzer.run` (fibers or worker threads) is simpler and
 * faster.
 *
 * **Details**
 * - A shard is one input file, analyzed by one runner as one thread shard
 *   (a core shard when the trace is core-sharded on disk). The entity
 *   `ShardAnalysis` is keyed by `runId/shard`; which runner serves it is
 *   effect/cluster's choice (consistent hashing of the id onto the runners).
 * - Failure semantics:
 *   - a runner that dies (even SIGKILL) loses its PostgreSQL sessions, hence
 *     its shard locks; once the other runners see it gone (health check, or
 *     its heartbeat older than `lockExpiration`) they take its shards and
 *     re-run the unfinished ones from the start;
 *   - each shard's result is stored once, under its key, by the runner that
 *     holds the shard's lock when it finishes, and the coordinator keeps one
 *     result per shard index: nothing is counted twice, and resubmitting the
 *     same `runId` attaches to the stored requests and replies;
 *   - a tool's typed error comes back as the local run reports it:
 *     `AnalysisFailed` with one `ShardFailure` per failed shard;
 *   - `runTimeout` bounds the run: shards still unanswered fail with
 *     `Timeout` (typed list, no hang, even with no runner at all);
 *   - interrupting the coordinator, the first failure under `fail-fast` and
 *     the run timeout interrupt the shards in flight on their runners.
 * - Timings derive from one knob, {@link defaults}`.lockExpiration`: give
 *   every runner the same value.
 *
 * **Gotchas**
 * - Every runner must see the trace files at the same absolute paths (a
 *   shared filesystem); the coordinator sends absolute paths.
 * - Only thread-sharded runs of parallel tools: serial, core-sharded and
 *   core-serial runs, `skipRecords` and `exitAfterRecords` are refused.
 * - Tools are rebuilt on the runners: registry tools by name and options;
 *   other tools need a `spec` whose module the runner allows (`toolModules`).
 * - Shards run on each runner's worker threads, so tool work never delays
 *   the runner's lock refreshes; but a runner (or the database) stalled for
 *   more than a quarter of `lockExpiration` stops its shards, which then run
 *   again (correct, slower). Keep `lockExpiration` ≥ 6 s on loaded machines.
 * - The database is the trust boundary: whoever can write to it can submit
 *   work. Runners import only allowed tool modules and, with `traceRoots`,
 *   open only files under those directories.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as Analyzer from "../analyzer/Analyzer.ts"
import type { AnalysisFailed, AnalyzerOptionError } from "../analyzer/AnalyzerError.ts"
import type { TraceError } from "../trace/TraceError.ts"
import { ClusterError } from "./ClusterError.ts"
import { analyze as analyzeImpl } from "./internal/coordinator.ts"
import { type RunnerEvent, layer as runnerLayer } from "./internal/runner.ts"
import { moduleUrl } from "./internal/tools.ts"

/**
 * Documented defaults.
 *
 * @category defaults
 */
export const defaults = {
  /**
   * Shard lock expiration: how long a runner that stopped answering keeps its
   * shards, at most. Locks and heartbeats refresh every quarter of it, the
   * health check pings runners every quarter of it, and PostgreSQL ends a
   * lock session idle for that long.
   */
  lockExpiration: Duration.seconds(10),
  /** Shards a runner analyzes at once (one worker thread each): its available cores. */
  concurrency: (): number => os.availableParallelism()
}

/**
 * Options of a cluster run: the local run's options plus where the cluster is.
 *
 * @category models
 */
export interface AnalyzeOptions extends Analyzer.Options {
  /** PostgreSQL URL of the cluster (`postgres://user:password@host:port/db`). */
  readonly url: string
  /** Reuse a run id to attach to an earlier submission of the same run (default: a new UUID). */
  readonly runId?: string | undefined
  readonly lockExpiration?: Duration.Input | undefined
}

/**
 * Runs `options.tools` over the inputs of `path` on the cluster's runners and
 * returns what `Analyzer.run` returns (`workers` counts the runners that
 * answered).
 *
 * @category running
 */
export const analyze = (
  path: string | ReadonlyArray<string>,
  options: AnalyzeOptions
): Effect.Effect<Analyzer.AnalysisResult, AnalysisFailed | AnalyzerOptionError | TraceError | ClusterError> =>
  Effect.suspend(() => {
    const refused = checkLockExpiration(options.lockExpiration)
    if (refused !== undefined) return Effect.fail(refused)
    return analyzeImpl(typeof path === "string" ? [path] : path, {
      ...options,
      lockExpiration: options.lockExpiration ?? defaults.lockExpiration
    }).pipe(
      // stdout carries the results: the cluster's own log lines go to stderr.
      Effect.provideService(Logger.LogToStderr, true)
    )
  })

/**
 * What a runner reports about its work.
 *
 * @category models
 */
export type { RunnerEvent }

/**
 * Runner options.
 *
 * @category models
 */
export interface RunnerOptions {
  /** PostgreSQL URL of the cluster. */
  readonly url: string
  /** The address coordinators and other runners reach this runner at. */
  readonly host: string
  readonly port: number
  /** Address to listen on (default: `host`; `0.0.0.0` for every interface). */
  readonly listenHost?: string | undefined
  /** Shards analyzed at once (default {@link defaults}`.concurrency`). */
  readonly concurrency?: number | undefined
  /** Tool modules (paths or URLs) this runner may import besides the standard tools. */
  readonly toolModules?: ReadonlyArray<string> | undefined
  /**
   * Directories whose trace files this runner may open (default: any file).
   * Whoever can write to the cluster's database can ask runners to open any
   * path; roots bound that to the traces.
   */
  readonly traceRoots?: ReadonlyArray<string> | undefined
  readonly lockExpiration?: Duration.Input | undefined
  /** Called for each {@link RunnerEvent} (the CLI prints them). */
  readonly onEvent?: ((event: RunnerEvent) => void) | undefined
}

const invalid = (message: string) => new ClusterError({ reason: "InvalidOptions", message })

/** Coordinators and runners alike: the shard locks' timings all derive from it. */
const checkLockExpiration = (given: Duration.Input | undefined): ClusterError | undefined => {
  const expiration = Duration.fromInput(given ?? defaults.lockExpiration)
  return expiration._tag === "None" || !(Duration.toMillis(expiration.value) >= 400)
    ? invalid(`lock expiration must be a duration of at least 400 ms, got ${String(given)}`)
    : undefined
}

const validate = (options: RunnerOptions): ClusterError | undefined => {
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    return invalid(`port must be an integer in 1..65535, got ${options.port}`)
  }
  const concurrency = options.concurrency ?? defaults.concurrency()
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    return invalid(`concurrency must be a positive integer, got ${concurrency}`)
  }
  const expiration = checkLockExpiration(options.lockExpiration)
  if (expiration !== undefined) return expiration
  for (const root of options.traceRoots ?? []) {
    if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
      return invalid(`trace root ${root} is not a directory`)
    }
  }
  return undefined
}

/**
 * A runner as a layer: joins the cluster when built, serves shards, and
 * hands its shards over when released.
 *
 * @category running
 */
export const layerRunner = (options: RunnerOptions): Layer.Layer<never, ClusterError> => {
  const refused = validate(options)
  if (refused !== undefined) return Layer.effectDiscard(Effect.fail(refused))
  const layer = runnerLayer({
    url: options.url,
    host: options.host,
    port: options.port,
    listenHost: options.listenHost,
    lockExpiration: options.lockExpiration ?? defaults.lockExpiration,
    concurrency: options.concurrency ?? defaults.concurrency(),
    allowedModules: new Set((options.toolModules ?? []).map(moduleUrl)),
    traceRoots: (options.traceRoots ?? []).map((root) => fs.realpathSync(root)),
    onEvent: options.onEvent ?? (() => {})
  })
  return layer.pipe(Layer.provide(Layer.succeed(Logger.LogToStderr, true)))
}

/**
 * Runs a runner until interrupted (then it hands its shards over).
 *
 * @category running
 */
export const runner = (options: RunnerOptions): Effect.Effect<never, ClusterError> => Layer.launch(layerRunner(options))

export { ClusterError }
