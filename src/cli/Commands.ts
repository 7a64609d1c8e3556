/**
 * The modern form of the command line, built with `effect/cli`:
 * `memtrace analyze (--indir DIR | --infile FILE)… --tool NAME[,NAME…] …`,
 * `memtrace info <path>`, `memtrace view <path> [--skip-records N]
 * [--exit-after-records N]`, `memtrace runner --cluster URL …` (see `Cluster`).
 *
 * **When to use**: {@link make} builds the command tree around the handlers
 * the CLI runs (the real ones in `Cli.ts`, capturing ones in tests).
 *
 * **Details**
 * - Every option of {@link Options.table} is an `analyze` flag named in
 *   kebab case (`-sched_quantum` → `--sched-quantum`, `-L1I_size` →
 *   `--l1i-size`); switches take `--no-` to clear (`--no-sched-order-time`).
 * - Values are read with the same conversions as the DynamoRIO form and
 *   resolved by the same {@link Options.resolve}, so equivalent command lines
 *   give equal {@link Options.Options} records.
 * - `--indir` may repeat (several directories = DynamoRIO's -multi_indir);
 *   `--tool` takes `,` or `:` separated names and may repeat.
 *
 * @since 0.1.0
 */

import { Argument, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as ClusterCli from "./Cluster.ts"
import * as FilterCli from "./Filter.ts"
import * as V from "./internal/values.ts"
import * as Options from "./Options.ts"
import { type UsageError, usageError } from "./UsageError.ts"

/**
 * What the commands do once their command line is parsed.
 *
 * @category models
 */
export interface Handlers<E, R> {
  /** `cluster` is set when `--cluster URL` was given. */
  readonly analyze: (options: Options.Options & ClusterCli.ClusterSelection) => Effect.Effect<void, E, R>
  readonly info: (path: string, json: boolean) => Effect.Effect<void, E, R>
  readonly view: (view: ViewRequest) => Effect.Effect<void, E, R>
}

/**
 * The `view` command's request.
 *
 * @category models
 */
export interface ViewRequest {
  readonly path: string
  readonly skipRecords: number
  readonly exitAfterRecords: number
}

const REPEATED = new Set<Options.Key>(["indir", "tool"])

const describe = (s: Options.Spec): string => `${s.doc} (default: ${s.kind.show(s.default)})`

type OptionFlags = Record<string, Flag.Flag<Option.Option<string>> | Flag.Flag<Option.Option<boolean>>>

const optionFlags: OptionFlags = Object.fromEntries(
  Options.table
    .filter((s) => !REPEATED.has(s.key))
    .map((row) => {
      const s = row as Options.Spec
      const flag = s.kind.takesValue
        ? Flag.String(s.flag).pipe(Flag.withMetavar(s.kind.name), Flag.withDescription(describe(s)), Flag.optional)
        : Flag.Boolean(s.flag).pipe(Flag.withDescription(describe(s)), Flag.optional)
      return [s.key, flag]
    })
)

const repeatedFlags = {
  indir: Flag.String("indir").pipe(
    Flag.withMetavar("dir"),
    Flag.withDescription("Directory of trace files; repeat for several workloads (core-sharded only)"),
    Flag.atLeast(0)
  ),
  tool: Flag.String("tool").pipe(
    Flag.withMetavar("name[,name…]"),
    Flag.withDescription(
      `Analysis tools: ${Options.availableTools.join(", ")} (default: cache_simulator); separate with , or :`
    ),
    Flag.atLeast(0)
  )
}

/**
 * Turns the flag values of `analyze` into a {@link Options.Parsed}, with the
 * DynamoRIO form's conversions and messages.
 *
 * @category parsing
 */
export const fromFlags = (
  flags: Readonly<Record<string, Option.Option<string> | Option.Option<boolean>>>,
  indirs: ReadonlyArray<string>,
  tools: ReadonlyArray<string>
): Result.Result<Options.Parsed, UsageError> => {
  const values: Record<string, unknown> = { ...Options.rawDefaults }
  const specified = new Set<Options.Key>()
  for (const row of Options.table) {
    const s = row as Options.Spec
    const given: Option.Option<string | boolean> | undefined = flags[s.key]
    if (given === undefined || Option.isNone(given)) continue
    const option = `--${s.flag}`
    const text = given.value
    if (typeof text === "boolean") {
      values[s.key] = text
    } else {
      const value = s.kind.parse(text)
      if (V.isRefusal(value)) {
        return Result.fail(
          value._tag === "OutOfRange"
            ? usageError("OutOfRange", `Option ${option} value out of range`, option)
            : usageError("InvalidValue", `Option ${option} value "${text}" is not ${value.expected}`, option)
        )
      }
      values[s.key] = value
    }
    specified.add(s.key as Options.Key)
  }
  if (indirs.length === 1) {
    values.indir = indirs[0]
    specified.add("indir")
  } else if (indirs.length > 1) {
    if (specified.has("multiIndir")) {
      return Result.fail(
        usageError("Conflict", "only one of --indir, --multi-indir, or --infile can be set", "--multi-indir")
      )
    }
    values.multiIndir = indirs.join(":")
    specified.add("multiIndir")
  }
  if (tools.length > 0) {
    values.tool = tools.join(",")
    specified.add("tool")
  }
  return Result.succeed({ values: values as unknown as Options.Raw, specified, style: "modern" })
}

const count = (name: string, doc: string) =>
  Flag.String(name).pipe(Flag.withMetavar("n"), Flag.withDescription(doc), Flag.optional)

const readCount = (text: Option.Option<string>, option: string): Result.Result<number, UsageError> => {
  if (Option.isNone(text)) return Result.succeed(0)
  const v = V.bytesize.parse(text.value)
  if (V.isRefusal(v)) {
    return Result.fail(
      v._tag === "OutOfRange"
        ? usageError("OutOfRange", `Option ${option} value out of range`, option)
        : usageError("InvalidValue", `Option ${option} value "${text.value}" is not ${v.expected}`, option)
    )
  }
  return Result.succeed(v)
}

/**
 * The `memtrace` command tree around `handlers`.
 *
 * @category constructors
 */
export const make = <E, R>(handlers: Handlers<E, R>) => {
  const analyze = Command.make(
    "analyze",
    { options: optionFlags, ...repeatedFlags, cluster: ClusterCli.clusterFlag },
    ({ cluster, indir, options, tool }) =>
      Effect.gen(function* () {
        const parsed = yield* Effect.fromResult(fromFlags(options, indir, tool))
        const resolved = yield* Effect.fromResult(Options.resolve(parsed))
        return yield* handlers.analyze(Option.isSome(cluster) ? { ...resolved, cluster: cluster.value } : resolved)
      })
  ).pipe(
    Command.withDescription(
      "Run analysis tools over a trace, as DynamoRIO's drmemtrace does (every DynamoRIO option, in kebab case)"
    ),
    Command.withExamples([
      { command: "memtrace analyze --indir trace.dir --tool basic_counts", description: "Count a trace's records" },
      {
        command: "memtrace analyze --indir trace.dir --tool cache_simulator --core-sharded --cores 8",
        description: "Simulate caches on 8 dynamically scheduled cores"
      }
    ])
  )

  const info = Command.make(
    "info",
    {
      path: Argument.String("path").pipe(Argument.withDescription("Trace directory or file")),
      json: Flag.Boolean("json").pipe(Flag.withDescription("Print JSON"), Flag.withDefault(false))
    },
    ({ json, path }) => handlers.info(path, json)
  ).pipe(Command.withDescription("Describe a trace: inputs, threads, versions, file types, sizes"))

  const view = Command.make(
    "view",
    {
      path: Argument.String("path").pipe(Argument.withDescription("Trace directory or file")),
      skipRecords: count("skip-records", "Records to skip first (default: 0)"),
      exitAfterRecords: count("exit-after-records", "Stop after this many records (default: 0 = all)")
    },
    ({ exitAfterRecords, path, skipRecords }) =>
      Effect.gen(function* () {
        const skip = yield* Effect.fromResult(readCount(skipRecords, "--skip-records"))
        const exit = yield* Effect.fromResult(readCount(exitAfterRecords, "--exit-after-records"))
        return yield* handlers.view({ path, skipRecords: skip, exitAfterRecords: exit })
      })
  ).pipe(Command.withDescription("Print a trace's records as DynamoRIO's view tool does"))

  return Command.make("memtrace").pipe(
    Command.withDescription(
      "Schedule and analyze DynamoRIO drmemtrace traces. The DynamoRIO form also works: memtrace -indir DIR -tool NAME …"
    ),
    Command.withSubcommands([analyze, info, view, ClusterCli.runner, FilterCli.filter, FilterCli.replicate])
  )
}
