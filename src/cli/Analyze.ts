/**
 * The seam between the command line and the analyzer: {@link runAnalysis}
 * takes the validated {@link Options.Options} of `memtrace analyze` (or of
 * the DynamoRIO form, or of `memtrace view`) and returns what to print.
 *
 * **When to use**: the CLI calls it once per run; nothing else should.
 *
 * **Details**
 * - The result is data, not output: the CLI writes `text` (or `json` under
 *   `--json`) to stdout and one `ERROR:` line per entry of `failures` to
 *   stderr, and picks the exit status.
 * - Every field of the options must be honoured or refused: an option the
 *   analyzer cannot apply yet fails with a `UsageError` (`NotYetAvailable`,
 *   naming the option), never silently ignored.
 * - Errors: `UsageError` (exit 2), the analyzer's option error (exit 2),
 *   `TraceError` and `AnalysisFailed` (exit 1; the CLI prints one line per
 *   line of the error's message, so an `AnalysisFailed` lists every failed
 *   shard).
 *
 * **Gotchas**: until the analyzer lands this fails with `NotYetAvailable`
 * rather than print anything that looks like a result.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type * as Options from "./Options.ts"
import type * as Progress from "./Progress.ts"
import { type UsageError, usageError } from "./UsageError.ts"

/**
 * What a run produced.
 *
 * @category models
 */
export interface Outcome {
  /** What DynamoRIO prints: each tool's results, separated by a line of 75 `=`. */
  readonly text: string
  /** The same results as JSON (`--json`). */
  readonly json: unknown
  /** Failures tolerated under `--failure continue`, one line each; the run then exits with 1. */
  readonly failures: ReadonlyArray<string>
}

/**
 * What the CLI gives a run besides its options.
 *
 * @category models
 */
export interface Hooks {
  /** Progress samples for the bar (a no-op under --quiet or without a terminal). */
  readonly progress: Progress.Reporter
}

/**
 * Any error a run may end with. The CLI prints `message` (one `ERROR:` line
 * per line) and maps `_tag` to the exit status (`UsageError` and
 * `AnalyzerOptionError` → 2, anything else → 1).
 *
 * @category models
 */
export type AnalysisError = UsageError | { readonly _tag: string; readonly message: string }

/**
 * Runs the analysis described by `options`.
 *
 * @category running
 */
export const runAnalysis = (_options: Options.Options, _hooks: Hooks): Effect.Effect<Outcome, AnalysisError> =>
  Effect.fail(
    usageError(
      "NotYetAvailable",
      "analysis is not available yet in this build: the analyzer (src/analyzer/Analyzer.ts) is not wired to the CLI"
    )
  )
