/**
 * How joining or using the cluster itself can fail, as opposed to the
 * analysis (whose failures are `AnalysisFailed`, shard by shard).
 *
 * **When to use**: `Cluster.analyze` and `Cluster.runner` fail with
 * {@link ClusterError} when the database cannot be reached or the cluster
 * services cannot start; the CLI prints its message and exits with 1.
 *
 * **Details**: messages never contain the database password (URLs are
 * printed with `***` in its place).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * What went wrong.
 *
 * @category models
 */
export const ClusterErrorReason = Schema.Literals([
  /** The PostgreSQL server cannot be reached, refused the login, or failed a first query. */
  "DatabaseUnavailable",
  /** The cluster services (storage migrations, socket server, …) failed while starting. */
  "StartFailed",
  /** The runner or coordinator options are invalid. */
  "InvalidOptions"
])

/** @category models */
export type ClusterErrorReason = typeof ClusterErrorReason.Type

/**
 * @category errors
 */
export class ClusterError extends Schema.TaggedError<ClusterError>()("ClusterError", {
  reason: ClusterErrorReason,
  message: Schema.String
}) {}
