/**
 * The one error of command-line handling: the command line asks for something
 * memtrace cannot do as written. The CLI prints it as one line
 * (`ERROR: Usage error: <message>`, DynamoRIO's launcher layout) and exits
 * with status 2.
 *
 * **When to use**: every front end (DynamoRIO-form parser, effect/cli
 * subcommands) and the option resolver fail with it; `reason` tells the kinds
 * apart for tests and callers, `option` names the offending option as typed.
 *
 * **Details**: `message` is the text after `Usage error: `. Messages copied
 * from DynamoRIO keep its wording (`Unknown option: -foo`, `Option cores value
 * out of range`, `only one of -skip_instrs, -skip_records, and
 * -skip_to_timestamp can be used at a time`); the option names in them follow
 * the form the user typed (`-skip_instrs` or `--skip-instrs`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Why the command line was rejected.
 *
 * @category models
 */
export const UsageErrorReason = Schema.Literals([
  /** Not an option memtrace or DynamoRIO knows. */
  "UnknownOption",
  /** A DynamoRIO option memtrace does not implement (tracer, online or decoder options). */
  "UnsupportedOption",
  /** An option that takes a value came last. */
  "MissingValue",
  /** A value that does not parse (not a number, not one of the choices). */
  "InvalidValue",
  /** A number outside the option's range. */
  "OutOfRange",
  /** Options that cannot be used together. */
  "Conflict",
  /** No trace given. */
  "MissingInput",
  /** A tool name DynamoRIO does not know. */
  "UnknownTool",
  /** A DynamoRIO tool memtrace does not implement. */
  "UnsupportedTool",
  /** A stray positional argument. */
  "UnexpectedArgument",
  /** The command exists but its back end has not landed yet. */
  "NotYetAvailable"
])

/** @category models */
export type UsageErrorReason = typeof UsageErrorReason.Type

/**
 * @category errors
 */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: UsageErrorReason,
  /** The option as the user typed it (`-jobs`, `--skip-records`), when one is to blame. */
  option: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

/**
 * Builds a {@link UsageError}.
 *
 * @category constructors
 */
export const usageError = (reason: UsageErrorReason, detail: string, option?: string): UsageError =>
  new UsageError(option === undefined ? { reason, detail } : { reason, detail, option })
