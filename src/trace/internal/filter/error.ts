/**
 * The error of `Filter` requests that cannot be carried out (the trace
 * reading and writing failures stay `TraceError` and `TraceWriterError`).
 * The public name is `Filter.FilterError`.
 */
import * as Schema from "effect/Schema"

/**
 * Why the filter refused.
 *
 * - `InvalidOptions`: options that contradict each other or are out of range
 *   (an instruction and a timestamp trim together, a window whose end is not
 *   after its start, a chunk size for a non-zip format).
 * - `NoMatchingThreads`: `onlyThreads` matched no input.
 * - `WouldOverwriteInput`: an output file would replace an input (also
 *   through a symbolic link).
 * - `OutputNameTaken`: two inputs would be written under one name
 *   (`t.trace` and `t.trace.gz` both become `t.trace.zip`).
 * - `Unsupported`: the trace holds what the requested filter cannot handle
 *   (a trim of a trace with several windows, as DynamoRIO's trim filter).
 */
export const FilterErrorReason = Schema.Literals([
  "InvalidOptions",
  "NoMatchingThreads",
  "WouldOverwriteInput",
  "OutputNameTaken",
  "Unsupported"
])

export type FilterErrorReason = typeof FilterErrorReason.Type

export class FilterError extends Schema.TaggedError<FilterError>()("FilterError", {
  reason: FilterErrorReason,
  /** The input or output path concerned. */
  path: Schema.String,
  /** The option to blame, by its `Filter.Options` name. */
  option: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.reason}: ${this.detail} (${this.path})`
  }
}
