/**
 * Messages between the analyzer (main thread) and one analysis worker thread.
 * Each worker has its own channel (no pool), so one worker's death never
 * touches another worker's messages. Everything here is plain structured-clone
 * data; shard results travel JSON-encoded through each tool's schema.
 */
import type * as Tool from "../Tool.ts"
import type { FailureInfo } from "./worker.ts"

export interface InitData {
  readonly worker: number
  readonly tools: ReadonlyArray<Tool.Spec>
  readonly shardType: Tool.ShardType
  readonly serial: boolean
  readonly outputCount: number
  readonly skipRecords: number
  readonly exitAfterRecords: number
  readonly encodings: boolean
  readonly batchCapacity: number
  /** Heartbeat period (ms): the worker reports progress at least this often while it runs. */
  readonly heartbeatMs: number
}

/** Main → worker. */
export type ToWorker =
  /** The next input to read and analyze (thread-sharded runs). */
  | { readonly _tag: "Input"; readonly ordinal: number; readonly path: string; readonly name: string }
  /** No more inputs: finish shards and report results. */
  | { readonly _tag: "NoMoreInputs" }

/** Worker → main. */
export type FromWorker =
  | { readonly _tag: "Ready" }
  /** Asks for the next input. */
  | { readonly _tag: "NeedInput" }
  | {
      readonly _tag: "Progress"
      readonly processed: number
      readonly lastShard: number
      readonly lastInput: number
      readonly lastRecord: number
      readonly inputsDone: number
    }
  | {
      readonly _tag: "Done"
      /** Per tool: [shard index, JSON-encoded shard result]. */
      readonly results: ReadonlyArray<ReadonlyArray<readonly [number, unknown]>>
      readonly processed: number
      /** True when every tool soft-exited or exit_after_records was reached. */
      readonly early: boolean
    }
  | { readonly _tag: "Failed"; readonly failure: FailureInfo; readonly processed: number }
