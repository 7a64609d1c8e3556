/**
 * The cluster's unit of work: the `ShardAnalysis` entity, one per (run, shard),
 * whose single persisted request `Analyze` reads one trace file and runs the
 * run's tools over it as one thread shard (or one core shard when the trace
 * is core-sharded on disk), answering with every tool's Schema-encoded shard
 * result or with the shard's typed failures.
 *
 * **When to use**: this module is the wire contract between a coordinator
 * (`Cluster.analyze`) and runners (`Cluster.runner`); both import it. Use
 * {@link entityId} to address a shard, {@link Analyze} for the request.
 *
 * **Details**
 * - Requests are persisted (`ClusterSchema.Persisted`) in PostgreSQL by
 *   effect/cluster's `SqlMessageStorage`, with the primary key
 *   `runId/shard/fingerprint`: submitting the same shard of the same run
 *   twice attaches to the first request and its one reply, never a second
 *   execution; the fingerprint (a digest of the path, tools and options)
 *   keeps a reused run id from picking up another analysis's reply.
 * - `InterruptOnTermination`: a runner that shuts down interrupts its shards
 *   at once, and they resume under their shards' next owner (from the start:
 *   a shard's partial state is never persisted).
 * - Tools travel as {@link ToolRef}s: registry tools by name and JSON options
 *   (every runner rebuilds them from its own `tools/Registry`), other tools as
 *   a module, an export and JSON arguments that a runner imports only when the
 *   module is on its allow list.
 * - Shard results are encoded with each tool's `shardResultSchema` through
 *   `Schema.toCodecJson`, the way worker threads send them.
 *
 * **Gotchas**: trace paths are absolute and must name the same files on every
 * runner (a shared filesystem).
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as Schema from "effect/Schema"
import { ShardFailure } from "../analyzer/AnalyzerError.ts"

/**
 * How a runner rebuilds one tool: a standard tool by its registry name and
 * options, or a tool module's export called with `args`.
 *
 * @category models
 */
export const ToolRef = Schema.Union([
  Schema.TaggedStruct("Registry", {
    name: Schema.String,
    options: Schema.Record(Schema.String, Schema.Unknown)
  }),
  Schema.TaggedStruct("Module", {
    /** A `file:` URL (or any URL `import()` accepts). */
    module: Schema.String,
    export: Schema.String,
    args: Schema.Array(Schema.Unknown)
  })
])

/** @category models */
export type ToolRef = typeof ToolRef.Type

/**
 * A shard could not be analyzed: its failures, attributed as a local run
 * attributes them (`worker` is the shard index: every shard is its own task).
 *
 * @category errors
 */
export class ShardFailed extends Schema.TaggedError<ShardFailed>()("ShardFailed", {
  failures: Schema.Array(ShardFailure),
  /** Records the shard's tools had processed before it failed (unknown when its worker thread died). */
  records: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return this.failures.map((f) => f.line).join("\n")
  }
}

/**
 * One tool's result for the shard: the shard index and the result encoded
 * with the tool's `shardResultSchema` (JSON codec).
 *
 * @category models
 */
export const EncodedOutcome = Schema.Struct({
  shard: Schema.Number,
  result: Schema.Unknown
})

/**
 * What a runner answers for a shard.
 *
 * @category models
 */
export const ShardReply = Schema.Struct({
  /** Per tool (in request order): the shard results it produced (none when the shard had no record for it). */
  results: Schema.Array(Schema.Array(EncodedOutcome)),
  /** Trace records handed to the tools. */
  records: Schema.Number,
  /** The runner that analyzed the shard (`host:port`). */
  runner: Schema.String,
  elapsedMs: Schema.Number
})

/** @category models */
export type ShardReply = typeof ShardReply.Type

/**
 * A digest of what a request asks for (everything but its run id), so that a
 * run id reused for a different analysis is a different request, never a
 * duplicate answered with the stored reply of another one.
 */
const fingerprint = (p: {
  readonly shard: number
  readonly shards: number
  readonly path: string
  readonly tools: ReadonlyArray<unknown>
  readonly coreOnDisk: boolean
  readonly encodings: boolean
}): string =>
  createHash("sha256")
    .update(JSON.stringify([p.shard, p.shards, p.path, p.tools, p.coreOnDisk, p.encodings]))
    .digest("hex")
    .slice(0, 16)

/**
 * Analyze one shard. The payload's primary key is `runId/shard/fingerprint`
 * (a digest of the path, tools and options).
 *
 * @category protocol
 */
export const Analyze = Rpc.make("Analyze", {
  payload: {
    runId: Schema.String,
    /** Input ordinal: the shard index. */
    shard: Schema.Number,
    /** Number of inputs in the run (the tools' `outputCount`). */
    shards: Schema.Number,
    /** Absolute path of the trace file. */
    path: Schema.String,
    /** Stream name (the file name) for failure reports. */
    name: Schema.String,
    tools: Schema.Array(ToolRef),
    /** The trace is core-sharded on disk: the input is a core shard. */
    coreOnDisk: Schema.Boolean,
    /** Keep instruction encodings in batches. */
    encodings: Schema.Boolean
  },
  success: ShardReply,
  error: ShardFailed,
  primaryKey: (p) => `${p.runId}/${p.shard}/${fingerprint(p)}`
})
  .annotate(ClusterSchema.Persisted, true)
  .annotate(ClusterSchema.InterruptOnTermination, true)

/** The payload of {@link Analyze}. @category models */
export type Request = (typeof Analyze.payloadSchema)["Type"]

/**
 * The entity: one per (run, shard).
 *
 * @category protocol
 */
export const ShardAnalysis = Entity.make("ShardAnalysis", [Analyze])

/**
 * The entity id of shard `shard` of run `runId`.
 *
 * @category protocol
 */
export const entityId = (runId: string, shard: number): string => `${runId}/${shard}`
