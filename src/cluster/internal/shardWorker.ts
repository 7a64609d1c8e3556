/**
 * Entry point of a runner's shard worker thread: analyzes one shard per
 * message (runShard) and posts back the reply or the Schema-encoded
 * ShardFailed. Shards run here, not on the runner's main thread, so that a
 * tool's long synchronous work never delays the runner's shard-lock
 * refreshes and health pings, and a stuck shard can be terminated.
 */
import { parentPort } from "node:worker_threads"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type { Request } from "../ShardAnalysis.ts"
import { ShardFailed } from "../ShardAnalysis.ts"
import { runShard } from "./runShard.ts"
import type { ToWorker } from "./workerPool.ts"

const port = parentPort!
const encodeFailed = Schema.encodeSync(ShardFailed)

port.on("message", (m: ToWorker) => {
  const context = { runner: m.runner, allowedModules: new Set(m.allowedModules), traceRoots: m.traceRoots }
  Effect.runPromiseExit(runShard(m.request as Request, context)).then((exit) => {
    if (Exit.isSuccess(exit)) return port.postMessage({ _tag: "Done", reply: exit.value })
    const error = Cause.findErrorOption(exit.cause)
    if (error._tag === "Some") return port.postMessage({ _tag: "Failed", error: encodeFailed(error.value) })
    port.postMessage({ _tag: "Defect", message: Cause.pretty(exit.cause) })
  })
})
