/**
 * What a runner does for one `Analyze` request: rebuild the tools, read the
 * shard's trace file and drive the analyzer's WorkerCore over it (the same
 * synchronous per-shard driver local runs use), then encode every tool's
 * shard result. Interruptible between batches: an interrupt closes the file
 * and drops the partial state.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { toFailure } from "../../analyzer/internal/orchestrate.ts"
import { type FailureInfo, refusedShardType, WorkerCore } from "../../analyzer/internal/worker.ts"
import type * as Tool from "../../analyzer/Tool.ts"
import { InputReader } from "../../trace/internal/inputReader.ts"
import { openSource } from "../../trace/internal/source.ts"
import * as RecordBatch from "../../trace/RecordBatch.ts"
import { TraceError } from "../../trace/TraceError.ts"
import { type Request, ShardFailed, type ShardReply } from "../ShardAnalysis.ts"
import { loadTools } from "./tools.ts"

export interface RunnerContext {
  /** This runner's `host:port`, reported in replies. */
  readonly runner: string
  /** Tool module URLs this runner may import. */
  readonly allowedModules: ReadonlySet<string>
  /** Real paths of the directories whose trace files this runner may open; empty: any. */
  readonly traceRoots: ReadonlyArray<string>
}

/** Refuses a trace outside the runner's roots (checked on the real path: symbolic links do not escape). */
const checkRoots = async (file: string, roots: ReadonlyArray<string>): Promise<void> => {
  if (roots.length === 0) return
  const real = await fs.promises.realpath(file)
  if (roots.some((r) => real === r || real.startsWith(r.endsWith(path.sep) ? r : r + path.sep))) return
  throw new TraceError({
    reason: "PermissionDenied",
    path: file,
    detail: `the file is outside this runner's trace roots (${roots.join(", ")})`
  })
}

const asTraceError = (path: string) => (e: unknown) =>
  e instanceof TraceError
    ? e
    : new TraceError({ reason: "IoError", path, detail: e instanceof Error ? e.message : String(e) })

/** Hands the event loop to timers and sockets (shard-lock refreshes, pings) at least this often. */
const YIELD_EVERY_MS = 20

const encodeResults = (
  tools: ReadonlyArray<Tool.Any>,
  core: WorkerCore
): Effect.Effect<ShardReply["results"], ShardFailed> =>
  Effect.forEach(tools, (tool, t) =>
    Effect.try({
      try: () => {
        const encode = Schema.encodeUnknownSync(Schema.toCodecJson(tool.shardResultSchema))
        return core.results[t]!.map((o) => ({ shard: o.shardIndex, result: encode(o.result) }))
      },
      catch: (e) =>
        new ShardFailed({
          failures: [
            toFailure({
              reason: "ShardExit",
              worker: core.config.worker,
              shard: core.config.worker,
              shardType: core.config.shardType,
              tool: tool.name,
              message: `${tool.name}: shard result does not encode: ${e instanceof Error ? e.message : String(e)}`
            })
          ]
        })
    })
  )

/**
 * Analyzes one shard. Fails only with {@link ShardFailed}: tool errors and
 * defects, unreadable traces and unloadable tools all become attributed
 * failures.
 */
export const runShard = (request: Request, context: RunnerContext): Effect.Effect<ShardReply, ShardFailed> =>
  Effect.gen(function* () {
    const started = Date.now()
    const shardType: Tool.ShardType = request.coreOnDisk ? "core" : "thread"
    const failed = (info: Omit<FailureInfo, "worker" | "shard" | "shardType" | "input">) =>
      new ShardFailed({
        failures: [toFailure({ ...info, worker: request.shard, shard: request.shard, shardType, input: request.name })]
      })
    const tools = yield* loadTools(request.tools, context.allowedModules).pipe(
      Effect.mapError((e) => failed({ reason: "ShardInit", tool: e.tool, message: e.message }))
    )
    const refused = refusedShardType(tools, shardType)
    if (refused !== undefined) return yield* failed(refused)
    const core = new WorkerCore({
      worker: request.shard,
      tools,
      shardType,
      serial: false,
      outputCount: request.shards,
      skipRecords: 0,
      exitAfterRecords: 0,
      inputName: () => request.name
    })
    // A core shard on disk is its own core; a thread shard runs on output 0.
    const output = request.coreOnDisk ? request.shard : 0
    const readFailed = (e: TraceError) => failed({ reason: "ReadError", record: e.record, message: e.message })
    yield* Effect.acquireUseRelease(
      Effect.tryPromise({
        try: async () => {
          await checkRoots(request.path, context.traceRoots)
          return new InputReader(await openSource(request.path), request.shard, { encodings: request.encodings })
        },
        catch: asTraceError(request.path)
      }).pipe(Effect.mapError(readFailed)),
      (reader) =>
        Effect.gen(function* () {
          let lastYield = Date.now()
          while (true) {
            const batch = yield* Effect.tryPromise({
              try: () => reader.next(),
              catch: asTraceError(request.path)
            }).pipe(Effect.mapError(readFailed))
            if (batch === undefined) return
            const outcome = core.processSegment(batch, 0, RecordBatch.length(batch), request.shard, output)
            if (outcome !== undefined) {
              if (outcome._tag === "Failed")
                return yield* new ShardFailed({ failures: [toFailure(outcome.failure)], records: core.processed })
              return
            }
            if (Date.now() - lastYield >= YIELD_EVERY_MS) {
              yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
              lastYield = Date.now()
            }
          }
        }),
      (reader) => Effect.promise(() => reader.close().catch(() => undefined))
    )
    const end = core.finishAll()
    if (end !== undefined && end._tag === "Failed")
      return yield* new ShardFailed({ failures: [toFailure(end.failure)], records: core.processed })
    const results = yield* encodeResults(tools, core)
    return { results, records: core.processed, runner: context.runner, elapsedMs: Date.now() - started }
  })
