/**
 * DynamoRIO's `view` tool: every record of the serial stream as one line of
 * text, `<record#> <instr#>: W<workload>.T<tid> <details>`, exactly as
 * `drmemtrace -tool view` prints it (`tools/view.cpp`), but without a
 * disassembler.
 *
 * **When to use**: to look at a trace record by record, usually with
 * `exitAfterRecords` (and `skipRecords`) on the analyzer. `view` is the tool
 * value with default options; {@link make} takes {@link Options}.
 *
 * **Details**
 * - Serial-only (`parallel: false`): it sees one stream, the inputs
 *   interleaved by timestamp, and prints a divider line whenever the thread
 *   changes or the record ordinals jump.
 * - Columns: the stream's record ordinal and instruction ordinal (12 wide
 *   each), then the workload and thread (11 wide). With one input DynamoRIO
 *   prints the input's own ordinals, otherwise the output's: set
 *   `inputOrdinals` when the run has a single input (the two differ only when
 *   the scheduler skips records, as with `-skip_instrs`).
 * - Markers use DynamoRIO's wording. A TIMESTAMP is held back until the next
 *   marker (DynamoRIO does so to put a window divider before it) and printed
 *   with its own record ordinal; one still held at the end is printed by
 *   `finishShard`.
 * - Instructions: when the trace embeds encodings (FILETYPE has ENCODINGS)
 *   DynamoRIO disassembles. We print the raw-bytes column where DynamoRIO
 *   prints it (bytes past the seventh spill onto a second line, as there),
 *   then the `(taken)` / `(untaken)` / `(target 0x…)` decoration, and leave
 *   the mnemonic and operands out. Without encodings DynamoRIO names the
 *   record type (`non-branch`, `conditional jump`, …), and so do we.
 * - Data records print the address and the PC of the instruction that made
 *   them; the result ends with `View tool results:` and the count of
 *   instructions printed.
 *
 * **Gotchas**
 * - Encoding bytes exist only if the reader kept them
 *   (`Trace.open(path, { encodings: true })`, analyzer option `encodings`);
 *   otherwise instruction lines end after the address.
 * - The whole text is kept in memory unless `write` is given: use `write`
 *   for long listings.
 * - DynamoRIO quirks kept on purpose: a WINDOW_ID marker's line is followed
 *   by a dangling column prefix; HARDWARE_CONTEXT_RETURN and SKIPPED_MEMREF
 *   markers print without their closing `>`.
 * - DynamoRIO refuses traces of another architecture than the one it was
 *   built for; we print any.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Analyzer, View } from "memtrace"
 *
 * const listing = Analyzer.run("trace.zip", {
 *   tools: [View.make({ inputOrdinals: true })],
 *   encodings: true,
 *   exitAfterRecords: 60
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Tool from "../analyzer/Tool.ts"
import { setw } from "./internal/view/format.ts"
import { HEADER, Printer } from "./internal/view/printer.ts"

/**
 * View options.
 *
 * @category models
 */
export interface Options {
  /**
   * Print the input's record and instruction ordinals instead of the output's
   * (DynamoRIO does when the run has exactly one input). Default false.
   */
  readonly inputOrdinals?: boolean | undefined
  /**
   * The stream's trace version (DynamoRIO's `get_version()`), for when the
   * VERSION marker was skipped. Default -1: unknown, and then an indirect
   * branch carrying a target implies version 5 or later.
   */
  readonly version?: number | undefined
  /**
   * The stream's file type (DynamoRIO's `get_filetype()`), for when the
   * FILETYPE marker was skipped. Default -1: unknown, and then the first
   * instruction tells whether the trace has encodings (it carries them).
   */
  readonly filetype?: number | undefined
  /**
   * Receives the listing as it is produced (header first, then after every
   * batch); the results then hold no text. Default: keep the text in the
   * result. A function does not travel to a worker thread: use it with the
   * analyzer's fiber backend (serial runs) or in-process drivers.
   */
  readonly write?: ((text: string) => void) | undefined
}

/**
 * Documented defaults.
 *
 * @category defaults
 */
export const defaults = { inputOrdinals: false, version: -1, filetype: -1 }

/**
 * The listing and the count of instructions printed.
 *
 * @category models
 */
export const Result = Schema.Struct({
  /** Header and record lines; empty when they went to `write`. */
  text: Schema.String,
  instructions: Schema.Number
})

/** @category models */
export type Result = typeof Result.Type

/**
 * The view's one serial shard ends with the same data as the whole result.
 *
 * @category models
 */
export const ShardResult = Result

/** @category models */
export type ShardResult = Result

/**
 * Why the view stopped: inputs that disagree on the trace version or file
 * type (DynamoRIO's "Version mismatch across files", "Filetype mismatch
 * across files").
 *
 * @category errors
 */
export class ViewError extends Schema.TaggedError<ViewError>()("ViewError", {
  reason: Schema.Literals(["VersionMismatch", "FiletypeMismatch"]),
  /** Stream record ordinal of the marker that disagreed. */
  record: Schema.Number,
  tid: Schema.Number,
  expected: Schema.Number,
  found: Schema.Number
}) {
  override get message(): string {
    const what = this.reason === "VersionMismatch" ? "Version" : "Filetype"
    return `${what} mismatch across files (record ${this.record}, thread ${this.tid}: ${this.found}, expected ${this.expected})`
  }
}

/**
 * A shard's state: the printer.
 *
 * @category models
 */
export interface State {
  readonly printer: Printer
}

/** `view_t::print_results()` after the listing. */
const print = (result: Result): string =>
  result.text + "View tool results:\n" + setw(result.instructions, 15) + " : total instructions\n"

/**
 * Builds the view tool.
 *
 * @category constructors
 */
export const make = (options?: Options): Tool.Tool<State, ShardResult, Result, ViewError> => {
  const config = {
    inputOrdinals: options?.inputOrdinals ?? defaults.inputOrdinals,
    version: options?.version ?? defaults.version,
    filetype: options?.filetype ?? defaults.filetype,
    write: options?.write
  }
  return Tool.make({
    name: "view",
    parallel: false,
    preferredShardType: "thread",
    makeShard: () => ({ printer: new Printer(config) }),
    processBatch: (state, batch, start, end, ctx) => {
      const p = state.printer
      const failed = p.process(batch, start, end, ctx.input, ctx.outputRecordsBefore, ctx.inputRecordsBefore)
      if (failed < 0) return undefined
      const m = p.mismatch!
      return Tool.fail(
        new ViewError({ reason: m.reason, record: m.record, tid: m.tid, expected: m.expected, found: m.found }),
        failed
      )
    },
    finishShard: (state) => ({ text: state.printer.finish(), instructions: state.printer.instructions }),
    merge: (shards) => ({
      text: shards.map((s) => s.result.text).join(""),
      instructions: shards.reduce((n, s) => n + s.result.instructions, 0)
    }),
    print,
    shardResultSchema: ShardResult,
    resultSchema: Result,
    describeError: (e) => e.message
  })
}

/**
 * The view tool with default options.
 *
 * @category tools
 */
export const view: Tool.Tool<State, ShardResult, Result, ViewError> = make()

/**
 * The lines DynamoRIO prints before the first record.
 *
 * @category formatting
 */
export const header: string = HEADER
