/**
 * A runner's shard worker threads: `size` threads kept alive and reused, one
 * shard at a time each. An interrupted shard's thread is terminated (the only
 * way to stop synchronous tool code) and replaced on demand; a thread that
 * dies fails its shard with WorkerCrashed.
 *
 * Concurrency: `idle` is touched only from the runner's main thread, in
 * synchronous sections.
 */
import { Worker } from "node:worker_threads"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { ShardFailure } from "../../analyzer/AnalyzerError.ts"
import { type Request, ShardFailed, type ShardReply } from "../ShardAnalysis.ts"
import type { RunnerContext } from "./runShard.ts"

/** Runner → worker: one shard. */
export interface ToWorker {
  readonly request: unknown
  readonly runner: string
  readonly allowedModules: ReadonlyArray<string>
  readonly traceRoots: ReadonlyArray<string>
}

/** Worker → runner: the shard's outcome. */
type FromWorker =
  | { readonly _tag: "Done"; readonly reply: ShardReply }
  | { readonly _tag: "Failed"; readonly error: unknown }
  | { readonly _tag: "Defect"; readonly message: string }

const workerUrl = new URL("./shardWorker.ts", import.meta.url)
const decodeFailed = Schema.decodeUnknownSync(ShardFailed)

export interface WorkerPool {
  readonly run: (request: Request, context: RunnerContext) => Effect.Effect<ShardReply, ShardFailed>
}

export const make = (size: number): Effect.Effect<WorkerPool, never, Scope.Scope> =>
  Effect.gen(function* () {
    const idle: Array<Worker> = []
    const live = new Set<Worker>()
    const drop = (worker: Worker) => {
      live.delete(worker)
      const at = idle.indexOf(worker)
      if (at >= 0) idle.splice(at, 1)
    }
    const spawn = () => {
      const worker = new Worker(workerUrl)
      live.add(worker)
      // A thread may die between shards too (a timer a tool left behind): it is dropped from the
      // pool, never handed a shard, and its error never reaches the runner as an unhandled event.
      worker.on("error", () => drop(worker))
      worker.once("exit", () => drop(worker))
      return worker
    }
    for (let i = 0; i < size; i++) idle.push(spawn())
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.all([...live].map((w) => w.terminate().catch(() => 0))))
    )

    const run = (request: Request, context: RunnerContext): Effect.Effect<ShardReply, ShardFailed> => {
      const crashed = (message: string) =>
        new ShardFailed({
          failures: [
            new ShardFailure({
              reason: "WorkerCrashed",
              worker: request.shard,
              shard: request.shard,
              shardType: request.coreOnDisk ? "core" : "thread",
              input: request.name,
              message
            })
          ]
        })
      let dead = false
      return Effect.acquireUseRelease(
        Effect.sync(() => idle.pop() ?? spawn()),
        (worker) =>
          Effect.callback<ShardReply, ShardFailed>((resume) => {
            const cleanup = () => {
              worker.off("message", onMessage)
              worker.off("error", onError)
              worker.off("exit", onExit)
            }
            const onMessage = (m: FromWorker) => {
              cleanup()
              if (m._tag === "Done") return resume(Effect.succeed(m.reply))
              if (m._tag === "Failed") {
                const failed = Result.try(() => decodeFailed(m.error))
                if (Result.isSuccess(failed)) return resume(Effect.fail(failed.success))
                dead = true
                return resume(Effect.fail(crashed(`the shard worker sent an unreadable failure: ${failed.failure}`)))
              }
              dead = true
              resume(Effect.fail(crashed(`internal error in the shard worker: ${m.message}`)))
            }
            const onError = (e: Error) => {
              cleanup()
              dead = true
              resume(Effect.fail(crashed(`shard worker thread died: ${e.message}`)))
            }
            const onExit = (code: number) => {
              cleanup()
              dead = true
              resume(Effect.fail(crashed(`shard worker thread exited with code ${code}`)))
            }
            worker.on("message", onMessage)
            worker.on("error", onError)
            worker.on("exit", onExit)
            const message: ToWorker = {
              request: { ...request },
              runner: context.runner,
              allowedModules: [...context.allowedModules],
              traceRoots: context.traceRoots
            }
            worker.postMessage(message)
            return Effect.sync(cleanup)
          }),
        (worker, exit) =>
          Effect.sync(() => {
            // Only a thread that finished its shard normally is reused.
            if (!dead && !Exit.hasInterrupts(exit) && idle.length < size) idle.push(worker)
            else void worker.terminate().catch(() => 0)
          })
      )
    }
    return { run }
  })
