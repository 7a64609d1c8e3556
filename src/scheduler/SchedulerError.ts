/**
 * The one error type of the scheduler: options it refuses (with the option
 * named, like DynamoRIO's `legacy_field_support` messages), inputs it cannot
 * schedule, and calls it cannot honour.
 *
 * **When to use**: catch it with `Effect.catchTag("SchedulerError", …)`;
 * `reason` says what kind of problem it is and `option` which option (or
 * argument) is at fault. Read errors of the inputs are `TraceError`s, not
 * this.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Why the scheduler refused.
 * - `InvalidOption`: an option value is out of range or inconsistent.
 * - `InvalidInput`: an input cannot be scheduled as asked (for example no
 *   timestamp before its first instruction with timestamp ordering).
 * - `InvalidOutput`: an output ordinal out of range.
 * - `InvalidTime`: a caller time earlier than the quantum start (quantum by time).
 * - `ImpossibleBinding`: an input bound only to inactive outputs.
 * - `RegionInvalid`: a region of interest (or skip) starts past the end of
 *   its input (DynamoRIO's STATUS_REGION_INVALID, "Too-far -skip_instrs").
 * - `ReplayInvalid`: a replayed schedule does not fit the inputs (an input
 *   ended before the instruction a segment starts at).
 * - `NotSupported`: a mode or call this mapping does not support.
 *
 * @category models
 */
export const SchedulerErrorReason = Schema.Literals([
  "InvalidOption",
  "InvalidInput",
  "InvalidOutput",
  "InvalidTime",
  "ImpossibleBinding",
  "RegionInvalid",
  "ReplayInvalid",
  "NotSupported"
])

/** @category models */
export type SchedulerErrorReason = typeof SchedulerErrorReason.Type

/**
 * @category errors
 */
export class SchedulerError extends Schema.TaggedError<SchedulerError>()("SchedulerError", {
  reason: SchedulerErrorReason,
  /** The option (or argument) at fault. */
  option: Schema.optional(Schema.String),
  output: Schema.optional(Schema.Number),
  input: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  override get message(): string {
    const where = [
      this.option !== undefined ? `option ${this.option}` : undefined,
      this.output !== undefined ? `output ${this.output}` : undefined,
      this.input !== undefined ? `input ${this.input}` : undefined
    ].filter((s) => s !== undefined)
    return `${this.reason}: ${this.detail}${where.length > 0 ? ` (${where.join(", ")})` : ""}`
  }
}
