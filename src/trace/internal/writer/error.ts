/**
 * The one error type of trace writing (`TraceWriter`): where the output was
 * going, what went wrong, and how far the write had got. Defined here so the
 * internals and the public module share it without an import cycle; the
 * public name is `TraceWriter.TraceWriterError`.
 */
import * as Schema from "effect/Schema"

/**
 * Why writing failed.
 *
 * - `NotFound` / `PermissionDenied` / `IoError`: the file system refused (the
 *   output directory is missing, not writable, the disk is full, …).
 * - `InvalidStream`: the entries given cannot make a trace file (an encoding
 *   longer than 15 bytes, bytes that are not whole 12-byte entries, a source
 *   that ends inside an entry, nothing written at all).
 * - `TooLarge`: a zip member would exceed 4 GiB (use a smaller chunk size).
 * - `Unsupported`: this Node.js lacks the codec (zstd needs Node ≥ 22.15).
 * - `Closed`: the sink was used after `close` or after a failure.
 * - `Replication`: `replicate` was asked for something it cannot do (too many
 *   copies, thread ids too large to offset).
 */
export const TraceWriterErrorReason = Schema.Literals([
  "NotFound",
  "PermissionDenied",
  "IoError",
  "InvalidStream",
  "TooLarge",
  "Unsupported",
  "Closed",
  "Replication"
])

export type TraceWriterErrorReason = typeof TraceWriterErrorReason.Type

export class TraceWriterError extends Schema.TaggedError<TraceWriterError>()("TraceWriterError", {
  reason: TraceWriterErrorReason,
  /** The final path of the file being written (never the temporary name). */
  path: Schema.String,
  /** The zip member being written, if any (`chunk.00000003`). */
  component: Schema.optional(Schema.String),
  /** 0-based index of the input entry the fault is about, when it is about one. */
  entry: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  override get message(): string {
    const where = [
      this.path,
      this.component !== undefined ? `component ${this.component}` : undefined,
      this.entry !== undefined ? `entry ${this.entry}` : undefined
    ].filter((s) => s !== undefined)
    return `${this.reason}: ${this.detail} (${where.join(", ")})`
  }
}

const codeOf = (cause: unknown): string | undefined => {
  if (typeof cause === "object" && cause !== null && "code" in cause) {
    const code = (cause as { code: unknown }).code
    return typeof code === "string" ? code : undefined
  }
  return undefined
}

/** A file-system or codec failure as a TraceWriterError (errno mapped to a reason). */
export const fromCause = (path: string, cause: unknown, component?: string): TraceWriterError => {
  if (cause instanceof TraceWriterError) return cause
  const code = codeOf(cause)
  const reason: TraceWriterErrorReason =
    code === "ENOENT" || code === "ENOTDIR"
      ? "NotFound"
      : code === "EACCES" || code === "EPERM" || code === "EROFS"
        ? "PermissionDenied"
        : "IoError"
  return new TraceWriterError({
    reason,
    path,
    ...(component !== undefined ? { component } : {}),
    detail: cause instanceof Error ? cause.message : String(cause)
  })
}
