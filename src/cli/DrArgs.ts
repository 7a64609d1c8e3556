/**
 * The DynamoRIO form of the command line: `memtrace -indir DIR -tool
 * basic_counts:histogram -core_sharded -cores 8 …`, parsed the way
 * DynamoRIO's `droption` parser reads `drrun -t drmemtrace` options, from the
 * option {@link Options.table}.
 *
 * **When to use**: {@link isDrForm} tells whether an argument vector is in this
 * form (its first word is `-` followed by a letter); {@link parse} reads it
 * into an {@link Options.Parsed} for {@link Options.resolve}; {@link usage} is
 * the help text.
 *
 * **Details**
 * - `-name value`, as DynamoRIO; the value is always the next word, even when
 *   it starts with a dash (`-sched_random_initial_layout -1`). memtrace also
 *   takes `-name=value`, which DynamoRIO does not.
 * - Switches: `-name` sets, `-no_name` (or `-noname`) clears. `--name` is the
 *   same as `-name`. A later occurrence overrides an earlier one.
 * - Numbers follow DynamoRIO's conversions (`0x` hex and leading-zero octal for
 *   integers, `K`/`M`/`G` suffixes for sizes) but must be whole: `-jobs abc`
 *   is an error here, where DynamoRIO reads 0.
 * - Errors keep DynamoRIO's wording: `Unknown option: -foo`, `Option jobs
 *   missing value`, `Option cores value out of range`.
 *
 * **Gotchas**: DynamoRIO stops at the first word without a dash (the
 * application to trace); memtrace does not launch applications, so such a
 * word is an error.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as V from "./internal/values.ts"
import * as Options from "./Options.ts"
import { type UsageError, usageError } from "./UsageError.ts"

/**
 * True when `argv` is in DynamoRIO's form: a single dash then a letter.
 *
 * @category parsing
 */
export const isDrForm = (argv: ReadonlyArray<string>): boolean => argv.length > 0 && /^-[A-Za-z]/.test(argv[0]!)

/**
 * True when the DynamoRIO-form command line asks for help.
 *
 * @category parsing
 */
export const wantsHelp = (argv: ReadonlyArray<string>): boolean =>
  argv.some((a) => a === "-h" || a === "-help" || a === "--help")

const byName: ReadonlyMap<string, Options.Spec> = new Map(
  Options.table.flatMap(
    (s): Array<[string, Options.Spec]> => [
      [s.dr, s as Options.Spec],
      ...s.aliases.map((a): [string, Options.Spec] => [a, s as Options.Spec])
    ]
  )
)

const negated = (name: string): Options.Spec | undefined => {
  const base = name.startsWith("no_") ? name.slice(3) : name.startsWith("no") ? name.slice(2) : undefined
  if (base === undefined) return undefined
  const s = byName.get(base)
  return s !== undefined && !s.kind.takesValue ? s : undefined
}

const isUnsupported = (name: string): boolean =>
  Options.unsupported.has(name) ||
  (name.startsWith("no_") && Options.unsupported.has(name.slice(3))) ||
  (name.startsWith("no") && Options.unsupported.has(name.slice(2)))

/**
 * Reads a DynamoRIO-form argument vector (without the program name).
 *
 * @category parsing
 */
export const parse = (argv: ReadonlyArray<string>): Result.Result<Options.Parsed, UsageError> => {
  const values: Record<string, unknown> = { ...Options.rawDefaults }
  const specified = new Set<Options.Key>()
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!
    if (token === "--") {
      if (i + 1 < argv.length) {
        return Result.fail(usageError("UnexpectedArgument", `unexpected argument: ${argv[i + 1]}`))
      }
      break
    }
    if (!token.startsWith("-") || token === "-") {
      return Result.fail(
        usageError(
          "UnexpectedArgument",
          `unexpected argument: ${token} (memtrace analyzes traces; it does not run applications)`
        )
      )
    }
    const body = token.startsWith("--") ? token.slice(2) : token.slice(1)
    const eq = body.indexOf("=")
    const name = eq < 0 ? body : body.slice(0, eq)
    const inline = eq < 0 ? undefined : body.slice(eq + 1)
    const option = eq < 0 ? token : token.slice(0, token.length - body.length + eq)

    let s = byName.get(name)
    let switchValue = true
    if (s === undefined) {
      s = negated(name)
      switchValue = false
    }
    if (s === undefined) {
      return Result.fail(
        isUnsupported(name)
          ? usageError(
              "UnsupportedOption",
              `Option ${option} is not supported by memtrace${Options.recordFilterHint(name)}`,
              option
            )
          : usageError("UnknownOption", `Unknown option: ${option}`, option)
      )
    }
    const key = s.key as Options.Key
    if (!s.kind.takesValue) {
      if (inline !== undefined) {
        return Result.fail(usageError("InvalidValue", `Option ${s.dr} takes no value`, option))
      }
      values[key] = switchValue
      specified.add(key)
      continue
    }
    let text = inline
    if (text === undefined) {
      if (i + 1 >= argv.length) return Result.fail(usageError("MissingValue", `Option ${s.dr} missing value`, option))
      text = argv[++i]!
    }
    const value = s.kind.parse(text)
    if (V.isRefusal(value)) {
      return Result.fail(
        value._tag === "OutOfRange"
          ? usageError("OutOfRange", `Option ${s.dr} value out of range`, option)
          : usageError("InvalidValue", `Option ${s.dr} value "${text}" is not ${value.expected}`, option)
      )
    }
    values[key] = value
    specified.add(key)
  }
  return Result.succeed({ values: values as unknown as Options.Raw, specified, style: "dr" })
}

/**
 * Parses and resolves in one step.
 *
 * @category parsing
 */
export const parseOptions = (argv: ReadonlyArray<string>): Result.Result<Options.Options, UsageError> =>
  Result.flatMap(parse(argv), Options.resolve)

const GROUP_TITLES: Record<Options.Group, string> = {
  input: "Input and tools",
  mode: "Sharding and parallelism",
  window: "Part of the trace",
  scheduler: "Scheduler (-core_sharded, -core_serial)",
  tools: "Tool knobs",
  cache: "Cache simulator",
  tlb: "TLB simulator",
  memtrace: "memtrace's own"
}

/**
 * Help text of the DynamoRIO form, generated from the option table.
 *
 * @category formatting
 */
export const usage = (): string => {
  const lines = [
    "Usage: memtrace -indir DIR | -infile FILE | -multi_indir DIR:DIR… [-tool NAME[:NAME…]] [-option value]…",
    "",
    "DynamoRIO's drmemtrace offline-analysis options (same names, types and defaults).",
    "Switches: -name sets, -no_name clears. Sizes take K, M or G.",
    `Tools: ${Options.availableTools.join(", ")} (default cache_simulator).`
  ]
  for (const group of Object.keys(GROUP_TITLES) as Array<Options.Group>) {
    lines.push("", `${GROUP_TITLES[group]}:`)
    for (const s of Options.table) {
      if (s.group !== group) continue
      const spec = s as Options.Spec
      const head = `  -${s.dr}${spec.kind.takesValue ? ` <${spec.kind.name}>` : ""}`
      lines.push(`${head.padEnd(46)} ${s.doc} [${spec.kind.show(spec.default)}]`)
    }
  }
  lines.push("", "Modern form: memtrace analyze|info|view … (memtrace --help).")
  return `${lines.join("\n")}\n`
}
