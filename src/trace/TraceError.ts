/**
 * The one error type of trace reading: every way a path, container or record
 * stream can be wrong, with the place it went wrong.
 *
 * **When to use**: catch it with `Effect.catchTag("TraceError", …)`; switch on
 * `reason` to tell a missing file from a corrupt one.
 *
 * **Details**: `path` is the file (or directory) given to the reader;
 * `component` the zip member (`chunk.0003`) when there is one; `offset` the
 * byte offset in the decompressed component stream, or in the file for
 * container-level faults; `record` the 1-based record ordinal when the fault is
 * in the record stream. It is a Schema error, so it crosses worker threads.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Why reading failed.
 *
 * @category models
 */
export const TraceErrorReason = Schema.Literals([
  "NotFound",
  "PermissionDenied",
  "EmptyDirectory",
  "RawTraceNeedsConversion",
  "NotATrace",
  "UnsupportedContainer",
  "Truncated",
  "BadChecksum",
  "BadMagic",
  "BadHeader",
  "UnknownEntryType",
  "UnsupportedVersion",
  "Corrupt",
  "IoError",
  "InvalidOptions"
])

/** @category models */
export type TraceErrorReason = typeof TraceErrorReason.Type

/**
 * @category errors
 */
export class TraceError extends Schema.TaggedError<TraceError>()("TraceError", {
  reason: TraceErrorReason,
  path: Schema.String,
  component: Schema.optional(Schema.String),
  offset: Schema.optional(Schema.Number),
  record: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  override get message(): string {
    const where = [
      this.path,
      this.component !== undefined ? `component ${this.component}` : undefined,
      this.offset !== undefined ? `byte offset ${this.offset}` : undefined,
      this.record !== undefined ? `record ${this.record}` : undefined
    ].filter((s) => s !== undefined)
    return `${this.reason}: ${this.detail} (${where.join(", ")})`
  }
}
