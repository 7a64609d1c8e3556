/**
 * Every way an analysis run can fail, in one place: what went wrong on which
 * worker, shard, input, tool and record.
 *
 * **When to use**: `Analyzer.run` fails with {@link AnalysisFailed}, whose
 * `failures` lists one {@link ShardFailure} per failed shard or worker (under
 * `failure: "fail-fast"` the first failure plus any that happened while the
 * others were being stopped; under `"continue"` every failure, returned with
 * the partial results instead).
 *
 * **Details**: all errors are Schema classes, so they cross worker threads and
 * serialise to JSON (`--json`). A tool's own typed error is kept, encoded as
 * JSON, in `toolError`, and described in `message`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * What kind of failure a shard or worker hit.
 *
 * @category models
 */
export const FailureReason = Schema.Literals([
  /** The tool returned a typed failure from `processBatch`. */
  "ToolError",
  /** The tool threw (a defect). */
  "ToolDefect",
  /** The tool refused the run's shard type (`initializeShardType`), before any shard started. */
  "ToolInit",
  /** Failure while starting a shard (`makeShard`). */
  "ShardInit",
  /** Failure while ending a shard (`finishShard`). */
  "ShardExit",
  /** Failure while merging shard results or printing. */
  "Merge",
  /** The trace could not be read. */
  "ReadError",
  /** The scheduler refused the run or an operation. */
  "SchedulerError",
  /** A worker thread died (exit, uncaught error, resource limits). */
  "WorkerCrashed",
  /** A worker made no progress within the stall timeout. */
  "WorkerStalled",
  /** The whole-run timeout expired. */
  "Timeout"
])

/** @category models */
export type FailureReason = typeof FailureReason.Type

/**
 * One failure with its full attribution.
 *
 * @category models
 */
export class ShardFailure extends Schema.Class<ShardFailure>("ShardFailure")({
  reason: FailureReason,
  /** Worker (output) index; -1 for whole-run failures. */
  worker: Schema.Number,
  /** Shard index (input ordinal for thread shards, core for core shards); -1 when none. */
  shard: Schema.Number,
  shardType: Schema.Literals(["thread", "core"]),
  /** Thread id of the shard when known. */
  tid: Schema.optional(Schema.Number),
  /** Input (stream) name when known. */
  input: Schema.optional(Schema.String),
  tool: Schema.optional(Schema.String),
  /** Record ordinal (1-based, in the failing stream) of the record being processed. */
  record: Schema.optional(Schema.Number),
  message: Schema.String,
  /** The tool's typed error, JSON-encoded, when there is one. */
  toolError: Schema.optional(Schema.Unknown)
}) {
  /** One line: what, where. */
  get line(): string {
    const parts = [
      this.worker >= 0 ? `worker ${this.worker}` : undefined,
      this.shard >= 0 ? `${this.shardType} shard ${this.shard}` : undefined,
      this.tid !== undefined ? `tid ${this.tid}` : undefined,
      this.input !== undefined ? `input ${this.input}` : undefined,
      this.tool !== undefined ? `tool ${this.tool}` : undefined,
      this.record !== undefined ? `record ${this.record}` : undefined
    ].filter((p) => p !== undefined)
    return `${this.reason}: ${this.message}${parts.length > 0 ? ` (${parts.join(", ")})` : ""}`
  }
}

/**
 * The run failed: every failure, in worker order.
 *
 * @category errors
 */
export class AnalysisFailed extends Schema.TaggedError<AnalysisFailed>()("AnalysisFailed", {
  failures: Schema.Array(ShardFailure)
}) {
  override get message(): string {
    return this.failures.map((f) => f.line).join("\n")
  }
  /** The first failure, as DynamoRIO's `get_error_string()` reports the first worker's error. */
  get first(): ShardFailure | undefined {
    return this.failures[0]
  }
}

/**
 * The options given to a run are invalid.
 *
 * @category errors
 */
export class AnalyzerOptionError extends Schema.TaggedError<AnalyzerOptionError>()("AnalyzerOptionError", {
  option: Schema.String,
  message: Schema.String
}) {}
