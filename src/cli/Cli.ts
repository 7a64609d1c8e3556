/**
 * The `memtrace` program: picks the front end, runs the command, writes
 * results to stdout and diagnostics to stderr, and returns the exit status.
 *
 * **When to use**: `main.ts` runs {@link run} with the process arguments;
 * tests can run it in-process with a test `Stdio`/`Console`.
 *
 * **Details**
 * - Dispatch: an argument vector whose first word is a single dash and a
 *   letter (`-indir …`) is the DynamoRIO form (`DrArgs`); anything else goes
 *   to the `effect/cli` subcommands (`Commands`).
 * - Exit status: 0 success; 1 analysis or trace failure (one `ERROR:` line
 *   per failure, naming shard, input, tool and record when known); 2 usage
 *   error (one `ERROR: Usage error: …` line naming the option); 130
 *   interrupted (left to the runtime's teardown).
 * - A tool that refuses its options when built (`ToolOptionError`) names the
 *   library option (`histogram: lineSize must be a power of two`); the line
 *   names the command-line option instead, as typed (`-line_size` or
 *   `--line-size`), through {@link toolOptionKeys}.
 * - No stack trace is printed unless `-verbose`/`--verbose` is above 0.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as Console from "effect/Console"
import { type CliError, CliOutput, Command } from "effect/cli"
import * as Effect from "effect/Effect"
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { ToolOptionError } from "../tools/Registry.ts"
import * as Info from "../trace/Info.ts"
import type * as Analyze from "./Analyze.ts"
import type { ClusterSelection } from "./Cluster.ts"
import * as Commands from "./Commands.ts"
import * as DrArgs from "./DrArgs.ts"
import * as Options from "./Options.ts"
import * as Progress from "./Progress.ts"
import type { UsageError } from "./UsageError.ts"

/**
 * The version `--version` prints.
 *
 * @category constants
 */
export const VERSION = "0.1.0"

/**
 * Exit statuses.
 *
 * @category constants
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  interrupted: 130
} as const

const USAGE_TAGS = new Set(["UsageError", "AnalyzerOptionError", "ToolOptionError", "UnknownTool"])

/**
 * For each tool (by registry name), the command-line option behind each
 * library option its usage errors may name: the inverse of
 * `Analyze.toolOptions`. Tools word those errors `<tool>: <option> …`
 * (`histogram: lineSize must be a power of two, got 48`); the library keeps
 * its own names, the CLI shows the option as the user typed it.
 *
 * @internal
 */
export const toolOptionKeys: Readonly<Record<string, Readonly<Record<string, Options.Key>>>> = {
  histogram: { lineSize: "lineSize" },
  reuse_distance: { lineSize: "lineSize", histogramBinMultiplier: "reuseHistogramBinMultiplier" },
  reuse_time: { lineSize: "lineSize" },
  schedule_stats: { printEvery: "scheduleStatsPrintEvery" },
  cache_simulator: { skipRefs: "skipRefs", warmupRefs: "warmupRefs", simRefs: "simRefs" },
  TLB: { skipRefs: "skipRefs", warmupRefs: "warmupRefs", simRefs: "simRefs" }
}

/** A tool's usage error with the library option it names replaced by the command-line option. */
const toolOptionLine = (error: { readonly tool: string; readonly message: string }, style: Options.Style): string => {
  const prefix = `${error.tool}: `
  const keys = toolOptionKeys[error.tool]
  if (keys === undefined || !error.message.startsWith(prefix)) return error.message
  const rest = error.message.slice(prefix.length)
  const field = /^\w+/.exec(rest)?.[0] ?? ""
  return Object.hasOwn(keys, field)
    ? `${prefix}${Options.optionName(keys[field]!, style)}${rest.slice(field.length)}`
    : error.message
}

const isTagged = (u: unknown): u is { readonly _tag: string; readonly message: string } =>
  typeof u === "object" && u !== null && "_tag" in u && typeof (u as { _tag: unknown })._tag === "string"

/**
 * The word of `argv` an unknown short option came from: effect/cli reads `-exit_after_records` as the
 * short options `-e -x -i …`, each unknown; the user typed the word.
 */
const typedWord = (argv: ReadonlyArray<string>, option: string): string =>
  /^-[^-]$/.test(option)
    ? (argv.find((a) => a.length > 2 && a.startsWith(option) && !a.startsWith("--")) ?? option)
    : option

/** One line for an effect/cli parse error. */
const cliErrorLine = (e: CliError.NonShowHelpErrors, argv: ReadonlyArray<string>): string => {
  if (e._tag === "UnrecognizedOption") {
    const word = typedWord(argv, e.option)
    const hint =
      word !== e.option
        ? " (the modern form's options start with --; a DynamoRIO-form command line starts with its options: -indir …)"
        : e.suggestions.length > 0
          ? ` (did you mean ${e.suggestions[0]!.trim()}?)`
          : ""
    return `Unknown option: ${word}${hint}`
  }
  if (e._tag === "UnknownSubcommand") {
    return `unknown command "${e.subcommand}": use analyze, info, view, filter, replicate or runner, or the DynamoRIO form (-indir DIR -tool NAME)`
  }
  return e.message.split("\n")[0]!
}

/** Parse errors as one line, naming the first mistake as typed (the others often follow from it). */
const presenter = (argv: ReadonlyArray<string>) =>
  CliOutput.layerPresenter({
    present: (event) =>
      event._tag === "InvalidInvocation" && event.errors.length > 0
        ? Console.error(`ERROR: Usage error: ${cliErrorLine(event.errors[0]!, argv)}`)
        : CliOutput.defaultPresenter.present(event)
  })

const verboseRequested = (argv: ReadonlyArray<string>): boolean =>
  argv.some((a, i) => {
    const m = /^--?verbose(?:=(.*))?$/.exec(a)
    if (m === null) return false
    const value = m[1] ?? argv[i + 1]
    return value !== undefined && /^[1-9][0-9]*$/.test(value)
  })

const printText = (text: string): Effect.Effect<void> =>
  text === "" ? Effect.void : Console.log(text.endsWith("\n") ? text.slice(0, -1) : text)

/**
 * Text printed as it comes, through the console: whole lines at once (the
 * console ends each print with a newline); a line still open waits for the
 * next text, or for `rest`, which hands it over to be printed first.
 */
const lineWriter = (console: Console.Console) => {
  let open = ""
  return {
    write: (text: string): void => {
      const end = text.lastIndexOf("\n")
      if (end < 0) {
        open += text
        return
      }
      console.log(open + text.slice(0, end))
      open = text.slice(end + 1)
    },
    rest: (): string => {
      const text = open
      open = ""
      return text
    }
  }
}

const toJson = (value: unknown): string =>
  JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2)

/**
 * Runs an analysis and prints its outcome; the exit status is 1 when
 * failures were tolerated (`--failure continue`), else 0.
 *
 * @category running
 */
export const execute = (options: Options.Options & ClusterSelection): Effect.Effect<number, Analyze.AnalysisError> =>
  Effect.gen(function* () {
    if (options.verbose > 0 && !options.quiet) {
      yield* Console.error(
        `memtrace: running ${options.tools.join(", ")} on ${options.inputs.map((i) => i.path).join(", ")}`
      )
    }
    const out = lineWriter(yield* Console.Console)
    // view's listing is printed as it comes in text runs on fibers (a function cannot reach a worker
    // thread or a cluster runner, and --json keeps the listing in the result); no bar then: both would
    // share the terminal.
    const streaming =
      options.tools.includes("view") && !options.json && options.backend === "fibers" && options.cluster === undefined
    const outcome = yield* Effect.scoped(
      Effect.gen(function* () {
        const progress = yield* Progress.make({
          enabled:
            !streaming && Progress.isEnabled({ quiet: options.quiet, isTTY: process.stderr.isTTY, env: process.env })
        })
        // Loaded on demand: the analyzer and every tool take a while to load, usage errors should not wait.
        const { runAnalysis } = yield* Effect.promise(() => import("./Analyze.ts"))
        return yield* runAnalysis(options, { progress, write: streaming ? out.write : undefined })
      })
    )
    yield* options.json ? Console.log(toJson(outcome.json)) : printText(out.rest() + outcome.text)
    for (const line of outcome.failures) yield* Console.error(`ERROR: ${line}`)
    return outcome.failures.length > 0 ? ExitCode.failure : ExitCode.ok
  })

/**
 * `memtrace info`: a table of the trace's inputs (or JSON).
 *
 * @category running
 */
export const describe = (path: string, json: boolean): Effect.Effect<void, Analyze.AnalysisError> =>
  Effect.scoped(Info.describe(path)).pipe(
    Effect.flatMap((summaries) =>
      json ? Console.log(toJson(Schema.encodeSync(Info.InputSummaries)(summaries))) : printText(Info.format(summaries))
    )
  )

const viewOptions = (request: Commands.ViewRequest): Result.Result<Options.Options, UsageError> => {
  let isDir = false
  try {
    isDir = fs.statSync(request.path).isDirectory()
  } catch {
    // A missing path is reported by the trace reader (exit 1), like any unreadable trace.
  }
  const specified = new Set<Options.Key>([isDir ? "indir" : "infile", "tool"])
  if (request.skipRecords > 0) specified.add("skipRecords")
  if (request.exitAfterRecords > 0) specified.add("exitAfterRecords")
  return Options.resolve({
    values: {
      ...Options.rawDefaults,
      [isDir ? "indir" : "infile"]: request.path,
      tool: "view",
      skipRecords: request.skipRecords,
      exitAfterRecords: request.exitAfterRecords
    },
    specified,
    style: "modern"
  })
}

const report = (error: unknown, verbose: boolean, style: Options.Style): Effect.Effect<number> =>
  Effect.gen(function* () {
    if (isTagged(error) && error._tag === "ShowHelp") {
      // effect/cli already printed the help or the parse errors.
      return ExitCode.usage
    }
    if (isTagged(error) && USAGE_TAGS.has(error._tag)) {
      const message = error._tag === "ToolOptionError" ? toolOptionLine(error as ToolOptionError, style) : error.message
      yield* Console.error(`ERROR: Usage error: ${message}`)
      return ExitCode.usage
    }
    if (isTagged(error)) {
      for (const line of error.message.split("\n")) yield* Console.error(`ERROR: ${line}`)
      if (verbose && error instanceof Error && error.stack !== undefined) yield* Console.error(error.stack)
      return ExitCode.failure
    }
    yield* Console.error(`ERROR: ${error instanceof Error ? error.message : String(error)}`)
    return ExitCode.failure
  })

const reportDefect = (defect: unknown, verbose: boolean): Effect.Effect<number> =>
  Effect.gen(function* () {
    yield* Console.error(`ERROR: internal error: ${defect instanceof Error ? defect.message : String(defect)}`)
    if (verbose && defect instanceof Error && defect.stack !== undefined) yield* Console.error(defect.stack)
    else yield* Console.error("ERROR: (run with --verbose 1 for the stack trace)")
    return ExitCode.failure
  })

/**
 * Runs `memtrace` with `argv` (the arguments after the program name) and
 * returns the exit status. Interruption is not caught: the runtime maps it
 * to 130.
 *
 * @category running
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, Command.Environment> => {
  const verbose = verboseRequested(argv)
  const drForm = DrArgs.isDrForm(argv)
  const program: Effect.Effect<number, unknown, Command.Environment> = drForm
    ? DrArgs.wantsHelp(argv)
      ? Console.log(DrArgs.usage().trimEnd()).pipe(Effect.as(ExitCode.ok))
      : argv.includes("-version")
        ? Console.log(`memtrace v${VERSION}`).pipe(Effect.as(ExitCode.ok))
        : Effect.fromResult(DrArgs.parseOptions(argv)).pipe(Effect.flatMap(execute))
    : Effect.suspend(() => {
        let code: number = ExitCode.ok
        const setCode = (c: number) =>
          Effect.sync(() => {
            code = c
          })
        const root = Commands.make({
          analyze: (options) => execute(options).pipe(Effect.flatMap(setCode)),
          info: (path, json) => describe(path, json),
          view: (request) =>
            Effect.fromResult(viewOptions(request)).pipe(Effect.flatMap(execute), Effect.flatMap(setCode))
        })
        return Command.runWith(root, { version: VERSION })(argv).pipe(
          Effect.provide(presenter(argv)),
          Effect.map(() => code)
        )
      })
  return program.pipe(
    Effect.catch((e) => report(e, verbose, drForm ? "dr" : "modern")),
    Effect.catchDefect((d) => reportDefect(d, verbose))
  )
}
