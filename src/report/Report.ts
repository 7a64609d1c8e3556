/**
 * The schedule report: one self-contained HTML page showing what ran on each
 * simulated core and when, DynamoRIO's schedule statistics per core, and
 * every tool's printed results.
 *
 * **When to use**: after `Analyzer.run(path, { …, recordSchedule: true })`,
 * {@link write} the result to a file and open it in a browser; the CLI's
 * `--report out.html` does exactly that. {@link html} returns the page as a
 * string (serve it, attach it to a CI run).
 *
 * **Details**
 * - The timeline comes from `result.schedule`: per core (output), runs of
 *   records of one input, idle steps and wait steps, in the order the
 *   scheduler handed them out. The axis counts records delivered to the core;
 *   an idle or wait step counts one, as DynamoRIO's CORE_IDLE / CORE_WAIT
 *   markers do. Every input gets its own colour; the legend names the input
 *   ordinal, thread id and file when {@link Options.inputs} is given (see
 *   {@link inputLabels}).
 * - The statistics table has one row per DynamoRIO `schedule_statistic_t`
 *   counter (switches input→input, input→idle, idle→input, nop, quantum
 *   preempts, direct switch attempts and successes, migrations, steals,
 *   rebalances, output-limit hits, the two kernel injection counters,
 *   canonicalized addresses) and a column per core plus a total.
 * - The page fetches nothing: CSS, SVG and the zoom script are inline, and
 *   its Content-Security-Policy forbids any network access.
 *
 * **Gotchas**
 * - A schedule is recorded only for scheduled runs (serial, core-sharded,
 *   core-serial) with `recordSchedule: true`, on the fiber backend or the
 *   core-sharded threads backend; otherwise the page says so and shows the
 *   tool results only.
 * - A core with more than {@link MAX_RECTS_PER_CORE} runs is drawn as 2,000
 *   columns, each coloured by the input holding most of its records. With
 *   more than 4 cores the lanes share {@link MAX_RECTS} rectangles (each
 *   at least {@link MIN_RECTS_PER_CORE}), so the page stays a few megabytes:
 *   with 64 cores a lane draws 250 runs one by one, else 125 columns.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Analyzer, Registry, Report } from "memtrace"
 *
 * const program = Effect.gen(function* () {
 *   const tool = yield* Registry.make("basic_counts")
 *   const path = "examples/traces/threadsig"
 *   const result = yield* Analyzer.run(path, { tools: [tool], mode: "core-sharded", cores: 4, recordSchedule: true })
 *   yield* Report.write("schedule.html", result, { trace: path, inputs: yield* Report.inputLabels(path) })
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as fs from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { AnalysisResult } from "../analyzer/Analyzer.ts"
import * as Trace from "../trace/Trace.ts"
import type { TraceError } from "../trace/TraceError.ts"
import {
  type InputLabel,
  MAX_RECTS,
  MAX_RECTS_PER_CORE,
  MIN_RECTS_PER_CORE,
  type RenderOptions,
  render,
  STATISTICS
} from "./internal/render.ts"

export type { InputLabel }
export { MAX_RECTS, MAX_RECTS_PER_CORE, MIN_RECTS_PER_CORE }

/**
 * DynamoRIO's schedule statistic names (`SCHED_STAT_…` without the prefix)
 * with the label the report prints, in `OutputSchedule.stats` order.
 *
 * @category constants
 */
export const statistics: ReadonlyArray<readonly [name: string, label: string]> = STATISTICS

/**
 * Report options.
 *
 * @category models
 */
export interface Options extends RenderOptions {
  /** Page title. Default "memtrace schedule report". */
  readonly title?: string | undefined
  /** The trace path shown under the title. */
  readonly trace?: string | undefined
  /** Name and thread id of each input, indexed by input ordinal (the legend). */
  readonly inputs?: ReadonlyArray<InputLabel> | undefined
}

/**
 * Writing the report failed.
 *
 * @category errors
 */
export class ReportError extends Schema.TaggedError<ReportError>()("ReportError", {
  reason: Schema.Literals(["WriteFailed"]),
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.reason}: ${this.detail} (${this.path})`
  }
}

/**
 * The report as a self-contained HTML page.
 *
 * @category rendering
 */
export const html = (result: AnalysisResult, options?: Options): string => render(result, options)

/**
 * Writes the report to `path` (replacing the file).
 *
 * @category rendering
 */
export const write = (path: string, result: AnalysisResult, options?: Options): Effect.Effect<void, ReportError> =>
  Effect.tryPromise({
    try: () => fs.writeFile(path, render(result, options), "utf8"),
    catch: (e) => new ReportError({ reason: "WriteFailed", path, detail: e instanceof Error ? e.message : String(e) })
  })

/**
 * Names and thread ids of a trace's inputs, in DynamoRIO's input order (the
 * order `Analyzer.run` numbers them), for {@link Options.inputs}. Opens each
 * file in turn just far enough to read its first batch; standard input (read
 * once, by the run) is labelled without a thread id.
 *
 * @category inputs
 */
export const inputLabels = (
  path: string | ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<InputLabel>, TraceError> =>
  Effect.gen(function* () {
    const files: Array<string> = []
    for (const p of typeof path === "string" ? [path] : path) files.push(...(yield* Trace.list(p)))
    const labels: Array<InputLabel> = []
    for (const [i, file] of files.entries()) {
      // Standard input was read by the run: it cannot be opened again.
      if (file === Trace.STDIN) {
        labels.push({ name: "standard input" })
        continue
      }
      const info = yield* Effect.scoped(Effect.map(Trace.openFile(file, i), (input) => input.info))
      labels.push({ name: info.name, tid: info.tid })
    }
    return labels
  })
