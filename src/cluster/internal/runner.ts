/**
 * A runner process's part of the cluster: the ShardAnalysis entity's handler
 * over the effect/cluster runner services. At most `concurrency` shards are
 * analyzed at once, each on one of as many worker threads; the others wait
 * for a permit. The main thread only serves the cluster (lock refreshes,
 * pings, storage reads), so long tool work never costs the runner its shards.
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Semaphore from "effect/Semaphore"
import type { ClusterError } from "../ClusterError.ts"
import { entityId, ShardAnalysis, type ShardFailed, type ShardReply } from "../ShardAnalysis.ts"
import { type RunnerAddressOptions, runnerLayer, toClusterError } from "./layers.ts"
import type { RunnerContext } from "./runShard.ts"
import * as WorkerPool from "./workerPool.ts"

/**
 * What a runner reports about its work (the CLI prints one line each).
 */
export type RunnerEvent =
  | { readonly _tag: "Ready"; readonly runner: string }
  | { readonly _tag: "Started"; readonly runner: string; readonly shard: string; readonly path: string }
  | { readonly _tag: "Completed"; readonly runner: string; readonly shard: string; readonly reply: ShardReply }
  | { readonly _tag: "Failed"; readonly runner: string; readonly shard: string; readonly error: ShardFailed }
  | { readonly _tag: "Interrupted"; readonly runner: string; readonly shard: string }

export interface RunnerConfig extends RunnerAddressOptions {
  readonly url: string
  readonly lockExpiration: Duration.Input
  readonly concurrency: number
  /** Tool module URLs this runner may import. */
  readonly allowedModules: ReadonlySet<string>
  /** Real paths of the directories whose trace files this runner may open; empty: any. */
  readonly traceRoots: ReadonlyArray<string>
  readonly onEvent: (event: RunnerEvent) => void
}

const handlers = (
  config: RunnerConfig,
  context: RunnerContext,
  permits: Semaphore.Semaphore,
  pool: WorkerPool.WorkerPool
) =>
  ShardAnalysis.toLayer(
    ShardAnalysis.of({
      Analyze: ({ payload }) => {
        const shard = entityId(payload.runId, payload.shard)
        const runner = context.runner
        return permits
          .withPermit(
            Effect.suspend(() => {
              config.onEvent({ _tag: "Started", runner, shard, path: payload.path })
              return pool.run(payload, context)
            })
          )
          .pipe(
            Effect.tap((reply) => Effect.sync(() => config.onEvent({ _tag: "Completed", runner, shard, reply }))),
            Effect.tapError((error) => Effect.sync(() => config.onEvent({ _tag: "Failed", runner, shard, error }))),
            Effect.onInterrupt(() => Effect.sync(() => config.onEvent({ _tag: "Interrupted", runner, shard })))
          )
      }
    }),
    // An idle entity is only bookkeeping: drop it soon after its shard is done.
    { maxIdleTime: "30 seconds" }
  )

/** The runner: serves shards until the layer is released. */
export const layer = (config: RunnerConfig): Layer.Layer<never, ClusterError> => {
  const runner = `${config.host}:${config.port}`
  const context: RunnerContext = { runner, allowedModules: config.allowedModules, traceRoots: config.traceRoots }
  const served = Layer.unwrap(
    Effect.gen(function* () {
      const permits = yield* Semaphore.make(config.concurrency)
      const pool = yield* WorkerPool.make(config.concurrency)
      return Layer.mergeAll(
        handlers(config, context, permits, pool),
        Layer.effectDiscard(Effect.sync(() => config.onEvent({ _tag: "Ready", runner })))
      )
    })
  ).pipe(Layer.provide(runnerLayer(config.url, config.lockExpiration, config)))
  return Layer.catchCause(served, (cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Layer.effectDiscard(Effect.interrupt)
      : Layer.effectDiscard(Effect.fail(toClusterError(cause, `runner ${runner}`, config.url)))
  )
}
