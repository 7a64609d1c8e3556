/**
 * The coordinator of a cluster run: plans the thread-sharded run, submits one
 * persisted `Analyze` request per input, collects the replies (one per shard,
 * by construction: a shard's results are stored under its index once),
 * applies the failure policy and the run timeout, then merges and prints
 * with the tools' own functions, as a local run does.
 *
 * Concurrency: `replies` and `failures` are plain state touched only by
 * fibers of this one JS thread.
 */
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Analyzer from "../../analyzer/Analyzer.ts"
import { AnalysisFailed, AnalyzerOptionError, ShardFailure } from "../../analyzer/AnalyzerError.ts"
import { mergeTools } from "../../analyzer/internal/orchestrate.ts"
import type * as Tool from "../../analyzer/Tool.ts"
import { FileType } from "../../trace/Record.ts"
import * as Trace from "../../trace/Trace.ts"
import type { TraceError } from "../../trace/TraceError.ts"
import type { ClusterError } from "../ClusterError.ts"
import { entityId, ShardAnalysis, type ShardReply, type ToolRef } from "../ShardAnalysis.ts"
import { build, clientLayer, describe } from "./layers.ts"
import { toToolRef } from "./tools.ts"

export interface CoordinatorOptions extends Analyzer.Options {
  readonly url: string
  readonly runId?: string | undefined
  readonly lockExpiration: Duration.Input
}

const refuse = (option: string, message: string) => new AnalyzerOptionError({ option, message })

/** What a local thread-sharded run supports and a cluster run does not. */
const check = (options: CoordinatorOptions): AnalyzerOptionError | undefined => {
  if (options.tools.length === 0) return refuse("tools", "no tool given")
  if (options.mode !== undefined && options.mode !== "thread-sharded") {
    return refuse("mode", `a cluster run is thread-sharded; ${options.mode} runs only locally`)
  }
  if (options.jobs === 0) return refuse("jobs", "a cluster run is thread-sharded; -jobs 0 (serial) runs only locally")
  const serialOnly = options.tools.filter((t) => !t.parallel).map((t) => t.name)
  if (serialOnly.length > 0) return refuse("mode", `tool(s) ${serialOnly.join(", ")} support only serial operation`)
  if ((options.skipRecords ?? 0) !== 0 || (options.exitAfterRecords ?? 0) !== 0) {
    return refuse("skipRecords", "-skip_records and -exit_after_records count per worker: they run only locally")
  }
  if (options.recordSchedule === true) return refuse("recordSchedule", "a thread-sharded run has no schedule to record")
  // Options the runners do not receive: refused, never dropped (a run would analyze more than asked).
  const given: ReadonlyArray<[string, boolean]> = [
    ["onlyThreads", (options.onlyThreads ?? []).length > 0],
    ["onlyShards", (options.onlyShards ?? []).length > 0],
    ["skipInstrs", (options.skipInstrs ?? 0) > 0],
    ["exitAfterInstrs", (options.exitAfterInstrs ?? 0) > 0],
    ["skipToTimestamp", (options.skipToTimestamp ?? 0n) > 0n],
    ["intervalMicroseconds", (options.intervalMicroseconds ?? 0) > 0],
    ["intervalInstrCount", (options.intervalInstrCount ?? 0) > 0],
    ["cpuScheduleFile", (options.cpuScheduleFile ?? "") !== ""],
    ["replayFile", (options.replayFile ?? "") !== ""],
    ["recordFile", (options.recordFile ?? "") !== ""],
    ["switchSequenceFile", (options.switchSequenceFile ?? "") !== ""],
    ["syscallSequenceFile", (options.syscallSequenceFile ?? "") !== ""],
    ["separateWorkloads", options.separateWorkloads === true]
  ]
  for (const [option, set] of given) {
    if (set) return refuse(option, `${option} is applied only by a local run: a cluster run does not take it`)
  }
  return undefined
}

const toolRefs = (tools: ReadonlyArray<Tool.Any>): ReadonlyArray<ToolRef> | AnalyzerOptionError => {
  const refs: Array<ToolRef> = []
  for (const tool of tools) {
    const ref = toToolRef(tool)
    if (ref === undefined) {
      return refuse("tools", `tool ${tool.name} has no spec: runners rebuild tools from their spec (Tool.withSpec)`)
    }
    refs.push(ref)
  }
  return refs
}

const describeTagged = (u: unknown): string => {
  const tag = typeof u === "object" && u !== null ? (u as { _tag?: unknown })._tag : undefined
  return typeof tag === "string" ? `${tag}: ${describe(u)}` : describe(u)
}

export const analyze = (
  paths: ReadonlyArray<string>,
  options: CoordinatorOptions
): Effect.Effect<Analyzer.AnalysisResult, AnalysisFailed | AnalyzerOptionError | TraceError | ClusterError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const started = Date.now()
      const refused = check(options)
      if (refused !== undefined) return yield* refused
      const refs = toolRefs(options.tools)
      if (!Array.isArray(refs)) return yield* refs as AnalyzerOptionError
      const files: Array<string> = []
      for (const p of paths) for (const f of yield* Trace.list(p)) files.push(path.resolve(f))
      const first = files.length > 0 ? yield* Effect.scoped(Trace.openFile(files[0]!, 0)) : undefined
      const coreOnDisk = first !== undefined && (first.info.filetype & FileType.CORE_SHARDED) !== 0
      const shardType: Tool.ShardType = coreOnDisk ? "core" : "thread"
      const runId = options.runId ?? randomUUID()
      const policy = options.failure ?? "fail-fast"

      const context = yield* build(clientLayer(options.url, options.lockExpiration), "cluster client", options.url)
      const clientFor = yield* ShardAnalysis.client.pipe(Effect.provide(context))

      const replies: Array<ShardReply | undefined> = files.map(() => undefined)
      const failures: Array<ShardFailure> = []
      const firstFailure = yield* Deferred.make<void>()
      let records = 0
      let done = 0
      const name = (i: number) => path.basename(files[i]!)
      let stopping = false
      const fail = (fs: ReadonlyArray<ShardFailure>) =>
        Effect.gen(function* () {
          failures.push(...fs)
          if (policy === "fail-fast") yield* Deferred.succeed(firstFailure, undefined)
        })
      // A failure of the cluster rather than of a tool: attributed to the shard like a crashed worker.
      const shardCrash = (i: number, message: string) =>
        new ShardFailure({ reason: "WorkerCrashed", worker: i, shard: i, shardType, input: name(i), message })
      // An error of the cluster itself (storage, routing) or a defect in the handler.
      const infrastructure = (i: number, u: unknown) => shardCrash(i, `cluster: ${describeTagged(u)}`)

      const one = (i: number) =>
        clientFor(entityId(runId, i))
          .Analyze({
            runId,
            shard: i,
            shards: files.length,
            path: files[i]!,
            name: name(i),
            tools: refs,
            coreOnDisk,
            encodings: options.encodings ?? false
          })
          .pipe(
            Effect.flatMap((reply) =>
              Effect.sync(() => {
                replies[i] = reply
                records += reply.records
                done++
                options.onProgress?.({
                  records,
                  instructions: 0,
                  inputsDone: done,
                  inputsTotal: files.length,
                  elapsedMs: Date.now() - started,
                  perWorker: []
                })
              })
            ),
            Effect.catch((e) => {
              // What a failed shard processed counts, as in a local run.
              if (e._tag === "ShardFailed") records += e.records ?? 0
              return fail(e._tag === "ShardFailed" ? e.failures : [infrastructure(i, e)])
            }),
            Effect.catchDefect((d) => fail([infrastructure(i, d)])),
            // An interruption that this run did not make is a stored reply: an earlier submission of
            // this run id was interrupted on this shard, and the cluster keeps that reply for the id.
            Effect.catchCause((cause) =>
              !stopping && Cause.hasInterruptsOnly(cause)
                ? fail([
                    shardCrash(
                      i,
                      "cluster: an earlier submission of this run id was interrupted on this shard, and the cluster keeps that reply: submit the run under a new run id"
                    )
                  ])
                : Effect.failCause(cause)
            )
          )

      const all = Effect.forEach(files, (_, i) => one(i), { concurrency: "unbounded", discard: true })
      // The first failure (fail-fast) or the timeout interrupts the shards in
      // flight: each interrupt reaches its runner, which stops the shard.
      // `stopping` is set before that, so a shard can tell this run's interruption from a stored one.
      const stop = Effect.sync(() => {
        stopping = true
      })
      const runTimeout = options.runTimeout
      let timedOut = false
      yield* Effect.raceAllFirst([
        all,
        Deferred.await(firstFailure).pipe(Effect.andThen(stop)),
        runTimeout === undefined
          ? Effect.never
          : Effect.sleep(runTimeout).pipe(
              Effect.andThen(stop),
              Effect.andThen(
                Effect.sync(() => {
                  timedOut = true
                })
              )
            )
      ])
      if (timedOut) {
        const limit = Duration.format(Duration.fromInputUnsafe(runTimeout!))
        files.forEach((_, i) => {
          if (replies[i] !== undefined || failures.some((f) => f.shard === i)) return
          failures.push(
            new ShardFailure({
              reason: "Timeout",
              worker: i,
              shard: i,
              shardType,
              input: name(i),
              message: `shard not analyzed within the run timeout (${limit})`
            })
          )
        })
      }

      const sorted = failures
        .map((f, k) => [f, k] as const)
        .sort((a, b) => (a[0].worker === b[0].worker ? a[1] - b[1] : a[0].worker - b[0].worker))
        .map(([f]) => f)
      const fatal = policy === "fail-fast" || sorted.some((f) => f.reason === "Timeout")
      if (sorted.length > 0 && fatal) return yield* new AnalysisFailed({ failures: sorted })

      const outputs = yield* Effect.try({
        try: () =>
          options.tools.map((tool, t) => {
            const decode = Schema.decodeUnknownSync(Schema.toCodecJson(tool.shardResultSchema))
            const shards: Array<Tool.ShardOutcome<unknown>> = []
            for (const reply of replies) {
              if (reply === undefined) continue
              for (const o of reply.results[t]!)
                shards.push({ shardIndex: o.shard, shardType, result: decode(o.result) })
            }
            return shards
          }),
        catch: (e) =>
          new AnalysisFailed({
            failures: [
              ...sorted,
              new ShardFailure({
                reason: "Merge",
                worker: -1,
                shard: -1,
                shardType,
                message: `a shard result does not decode: ${e instanceof Error ? e.message : String(e)}`
              })
            ]
          })
      }).pipe(Effect.flatMap((decoded) => mergeTools(options.tools, (t) => decoded[t]!, sorted, shardType, {})))
      const runners = new Set(replies.filter((r) => r !== undefined).map((r) => r.runner))
      return {
        mode: "thread-sharded" as const,
        workers: runners.size,
        tools: outputs,
        failures: sorted,
        records,
        elapsedMs: Date.now() - started
      }
    })
  )
