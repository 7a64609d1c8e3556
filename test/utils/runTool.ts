/**
 * Runs a tool the way DynamoRIO's thread-sharded parallel analyzer does, but
 * sequentially: one shard per input (shard index = input ordinal), every batch
 * of the input through `processBatch`, `finishShard`, then `merge` and `print`.
 * A stand-in for tests until the analyzer runs tools itself.
 *
 * Inputs whose FILETYPE has the CORE_SHARDED bit (traces already scheduled
 * onto cores) are sharded by core instead, as DynamoRIO does: still one shard
 * per input, but `shardType` "core" and the input ordinal as the core.
 *
 * Every shard result goes through its `shardResultSchema` (encode, JSON,
 * decode) and the merged result through `resultSchema`, as they would when
 * crossing a worker thread.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Tool from "../../src/analyzer/Tool.ts"
import { FileType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import type { TraceError } from "../../src/trace/TraceError.ts"

export interface Run<SR, R> {
  readonly shards: ReadonlyArray<Tool.ShardOutcome<SR>>
  readonly result: R
  readonly text: string
}

/** A shard that failed, with the failing record's ordinal in its input. */
export class ShardFailed<E> extends Error {
  readonly shardIndex: number
  readonly record: number
  readonly error: E
  constructor(shardIndex: number, record: number, error: E) {
    super(`shard ${shardIndex} failed at record ${record}: ${String(error)}`)
    this.shardIndex = shardIndex
    this.record = record
    this.error = error
  }
}

const roundTrip = <A>(schema: Schema.Codec<A, any>, value: A): A =>
  Schema.decodeUnknownSync(schema)(JSON.parse(JSON.stringify(Schema.encodeSync(schema)(value))))

/** One shard: its batches in order. */
interface ShardStream {
  readonly shardIndex: number
  readonly pull: () => Effect.Effect<RecordBatch.RecordBatch | undefined, TraceError>
}

const runShards = <S, SR, R, E>(
  tool: Tool.Tool<S, SR, R, E>,
  streams: ReadonlyArray<ShardStream>,
  shardType: Tool.ShardType
): Effect.Effect<Run<SR, R>, TraceError | ShardFailed<E>> =>
  Effect.map(runShardsMany([tool], streams, shardType), (runs) => runs[0]!)

/** Any tool. */
export type AnyTool = Tool.Any

/** Several tools over one read of the shards, each tool seeing every batch (DynamoRIO's multi-tool runs). */
const runShardsMany = <E>(
  tools: ReadonlyArray<Tool.Tool<any, any, any, E> | AnyTool>,
  streams: ReadonlyArray<ShardStream>,
  shardType: Tool.ShardType
): Effect.Effect<Array<Run<any, any>>, TraceError | ShardFailed<E>> =>
  Effect.gen(function* () {
    const shards: Array<Array<Tool.ShardOutcome<unknown>>> = tools.map(() => [])
    for (const stream of streams) {
      const info: Tool.ShardInfo = {
        shardIndex: stream.shardIndex,
        shardType,
        serial: false,
        outputCount: streams.length
      }
      const states = tools.map((tool) => tool.makeShard(info))
      const stopped = tools.map(() => false)
      const ctx: Tool.BatchContext = {
        output: shardType === "core" ? stream.shardIndex : 0,
        input: stream.shardIndex,
        outputRecordsBefore: 0,
        inputRecordsBefore: 0
      }
      let records = 0
      for (let b = yield* stream.pull(); b !== undefined; b = yield* stream.pull()) {
        const n = RecordBatch.length(b)
        for (let t = 0; t < tools.length; t++) {
          if (stopped[t]) continue
          ctx.outputRecordsBefore = records
          ctx.inputRecordsBefore = records
          const signal = tools[t]!.processBatch(states[t], b, 0, n, ctx)
          if (signal?._tag === "Fail") {
            return yield* Effect.fail(new ShardFailed(stream.shardIndex, records + signal.index + 1, signal.error))
          }
          if (signal?._tag === "Stop") stopped[t] = true
        }
        records += n
        if (stopped.every((s) => s)) break
      }
      for (let t = 0; t < tools.length; t++) {
        const tool = tools[t]!
        const finished = tool.finishShard(states[t])
        if (typeof finished === "object" && finished !== null && (finished as { _tag?: unknown })._tag === "Fail") {
          return yield* Effect.fail(new ShardFailed(stream.shardIndex, records, (finished as Tool.Fail<E>).error))
        }
        shards[t]!.push({
          shardIndex: stream.shardIndex,
          shardType,
          result: roundTrip(tool.shardResultSchema, finished)
        })
      }
    }
    return tools.map((tool, t) => {
      const result = roundTrip(tool.resultSchema, tool.merge(shards[t]!))
      return { shards: shards[t]!, result, text: tool.print(result) }
    })
  })

/** The shard type DynamoRIO picks for these inputs with default options. */
export const shardTypeOf = (inputs: ReadonlyArray<Trace.TraceInput>): Tool.ShardType =>
  inputs.some((i) => (i.info.filetype & FileType.CORE_SHARDED) !== 0) ? "core" : "thread"

/** Runs `tool` over already opened inputs, one shard per input. */
export const runTool = <S, SR, R, E>(
  tool: Tool.Tool<S, SR, R, E>,
  inputs: ReadonlyArray<Trace.TraceInput>
): Effect.Effect<Run<SR, R>, TraceError | ShardFailed<E>> =>
  runShards(
    tool,
    inputs.map((input) => ({ shardIndex: input.info.ordinal, pull: () => input.next })),
    shardTypeOf(inputs)
  )

/** Opens a trace directory or file and runs several tools over one read of it. */
export const runToolsPath = (
  tools: ReadonlyArray<AnyTool>,
  path: string
): Effect.Effect<Array<Run<any, any>>, TraceError | ShardFailed<unknown>> =>
  Effect.scoped(
    Effect.flatMap(Trace.open(path), (inputs) =>
      runShardsMany(
        tools,
        inputs.map((input) => ({ shardIndex: input.info.ordinal, pull: () => input.next })),
        shardTypeOf(inputs)
      )
    )
  )

/** Opens a trace directory or file and runs `tool` over it. */
export const runPath = <S, SR, R, E>(
  tool: Tool.Tool<S, SR, R, E>,
  path: string
): Effect.Effect<Run<SR, R>, TraceError | ShardFailed<E>> =>
  Effect.scoped(Effect.flatMap(Trace.open(path), (inputs) => runTool(tool, inputs)))

/**
 * Runs `tool` over synthetic threads (each a list of entries, e.g. from
 * `Synthetic.thread`), one shard per thread, decoding with `Trace.decodeSync`.
 * `batchCapacity` small values exercise batch boundaries.
 */
export const runEntriesSync = <S, SR, R, E>(
  tool: Tool.Tool<S, SR, R, E>,
  threads: ReadonlyArray<ReadonlyArray<Synthetic.Entry>>,
  options?: { readonly shardType?: Tool.ShardType | undefined; readonly batchCapacity?: number | undefined }
): Run<SR, R> => {
  const streams = threads.map((entries, shardIndex): ShardStream => {
    const batches = Trace.decodeSync(Synthetic.encode(entries), {
      ordinal: shardIndex,
      batchCapacity: options?.batchCapacity
    })
    let k = 0
    return { shardIndex, pull: () => Effect.succeed(batches[k++]) }
  })
  return Effect.runSync(runShards(tool, streams, options?.shardType ?? "thread"))
}
