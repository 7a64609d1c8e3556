/**
 * Messages between the analyzer (main thread) and one analysis worker thread.
 * Each worker has its own channel (no pool), so one worker's death never
 * touches another worker's messages. Everything here is plain structured-clone
 * data; shard results travel JSON-encoded through each tool's schema.
 */
import * as Schema from "effect/Schema"
import type * as Tool from "../Tool.ts"
import type { OutputSchedule } from "./scheduleLog.ts"
import type { FailureInfo, IntervalConfig, ShardIntervals } from "./worker.ts"

export interface InitData {
  readonly worker: number
  readonly tools: ReadonlyArray<Tool.Spec>
  readonly shardType: Tool.ShardType
  readonly serial: boolean
  /** Inputs are cores already: input i is core i. */
  readonly coreOnDisk: boolean
  readonly outputCount: number
  /** The scheduler's output cpuids (as-traced replays: the traced cpus), for core shards of segments. */
  readonly outputCpuids?: ReadonlyArray<number> | undefined
  readonly skipRecords: number
  readonly exitAfterRecords: number
  readonly encodings: boolean
  readonly batchCapacity: number
  /** Heartbeat period (ms): the worker reports progress at least this often while it runs. */
  readonly heartbeatMs: number
  readonly task: Task
  readonly intervals?: IntervalConfig | undefined
}

/** Per tool: [interval shard index, JSON-encoded snapshots]. */
export type EncodedIntervals = ReadonlyArray<ReadonlyArray<readonly [number, unknown]>>

const snapshotCodec = (tool: Tool.Any) =>
  Schema.toCodecJson(
    Schema.Array(
      Schema.Struct({
        shardId: Schema.Number,
        intervalId: Schema.Number,
        endTimestamp: Schema.BigInt,
        instrCountCumulative: Schema.Number,
        instrCountDelta: Schema.Number,
        data: tool.intervals?.snapshotSchema ?? Schema.Unknown
      })
    )
  )

/** Interval lists through each tool's snapshot schema (timestamps pass 2^53: bigint). */
export const encodeIntervals = (
  tools: ReadonlyArray<Tool.Any>,
  lists: ReadonlyArray<ReadonlyArray<ShardIntervals>>
): EncodedIntervals =>
  tools.map((tool, t) => {
    const encode = Schema.encodeUnknownSync(snapshotCodec(tool))
    return lists[t]!.map((l) => [l.shardIndex, encode(l.snapshots)] as const)
  })

export const decodeIntervals = (tools: ReadonlyArray<Tool.Any>) => {
  const decoders = tools.map((tool) => Schema.decodeUnknownSync(snapshotCodec(tool)))
  return (encoded: EncodedIntervals, into: Array<Array<ShardIntervals>>): void => {
    encoded.forEach((list, t) => {
      for (const [shardIndex, snaps] of list) {
        into[t]!.push({ shardIndex, snapshots: decoders[t]!(snaps) as ReadonlyArray<Tool.IntervalSnapshot<unknown>> })
      }
    })
  }
}

/**
 * What a worker thread does:
 * - `Inputs`: reads the inputs the main thread hands it, one shard each (thread-sharded);
 * - `Segments`: processes record segments the main thread's scheduler hands it for `outputs` (core-sharded);
 * - `Local`: runs a whole single-worker analysis (serial, core-serial) on its own, scheduler and reading included.
 */
export type Task =
  | { readonly _tag: "Inputs" }
  | { readonly _tag: "Segments"; readonly outputs: ReadonlyArray<number> }
  | {
      readonly _tag: "Local"
      readonly files: ReadonlyArray<string>
      readonly mode: "serial" | "core-serial"
      readonly cores: number
      readonly failure: "fail-fast" | "continue"
      readonly scheduler: unknown
      readonly stallTimeoutMs: number
    }

/** Main → worker. */
export type ToWorker =
  /** The next input to read and analyze (thread-sharded runs). */
  | { readonly _tag: "Input"; readonly ordinal: number; readonly path: string; readonly name: string }
  /** No more inputs: finish shards and report results. */
  | { readonly _tag: "NoMoreInputs" }
  /** To a request ahead: none to hand out now, but other threads hold some; ask again when idle. */
  | { readonly _tag: "NoInputYet" }
  /** Records for `output`: a batch of their own (transferred). */
  | {
      readonly _tag: "Segment"
      readonly output: number
      readonly input: number
      readonly name: string
      readonly buffer: ArrayBuffer
    }
  | { readonly _tag: "Idle"; readonly output: number; readonly count: number }
  | { readonly _tag: "Wait"; readonly output: number }
  | { readonly _tag: "Eof"; readonly output: number }

/** Worker → main. */
export type FromWorker =
  | { readonly _tag: "Ready" }
  /**
   * Asks for the next input. Every input handed out before has been started.
   * `ahead`: the thread is still analyzing its current input and will open
   * the next one while it does.
   */
  | { readonly _tag: "NeedInput"; readonly ahead: boolean }
  /** Asks for `output`'s next segment. */
  | { readonly _tag: "NeedSegment"; readonly output: number }
  | {
      readonly _tag: "Progress"
      readonly processed: number
      readonly lastShard: number
      readonly lastInput: number
      readonly lastRecord: number
      readonly inputsDone: number
    }
  /** Shard results finished so far (sent as they finish, so a later crash keeps them). */
  | {
      readonly _tag: "Results"
      readonly results: ReadonlyArray<ReadonlyArray<readonly [number, unknown]>>
      /** As in Done. */
      readonly schedule?: ReadonlyArray<OutputSchedule> | undefined
      readonly intervals?: EncodedIntervals | undefined
    }
  | {
      readonly _tag: "Done"
      /** Per tool: [shard index, JSON-encoded shard result]. */
      readonly results: ReadonlyArray<ReadonlyArray<readonly [number, unknown]>>
      /** A run the thread scheduled itself (Local task): what ran on each output, with its statistics. */
      readonly schedule?: ReadonlyArray<OutputSchedule> | undefined
      readonly intervals?: EncodedIntervals | undefined
      readonly processed: number
      /** True when every tool soft-exited or exit_after_records was reached. */
      readonly early: boolean
      /**
       * Ended early inside a segment (Segments task): the records of `output`'s last segment
       * past the last one processed, which go back to the scheduler.
       */
      readonly unconsumed?: number | undefined
      readonly output?: number | undefined
    }
  | {
      readonly _tag: "Failed"
      readonly failures: ReadonlyArray<FailureInfo>
      readonly processed: number
      /** Records of the last segment handed out but not consumed (Segments task). */
      readonly unconsumed: number
      readonly output: number
    }
