/**
 * The options of an analysis run as one typed, validated record, and the
 * table it is built from: every DynamoRIO offline-analysis option memtrace
 * implements (same name, type and default as DynamoRIO's
 * `clients/drcachesim/common/options.cpp`) plus memtrace's own (`json`,
 * `quiet`, `failure`, `run_timeout`, `stall_timeout`, `report`, `backend`,
 * `source_thread`).
 *
 * **When to use**: front ends parse text into a {@link Parsed} (values plus
 * which options were given) with {@link table}, then call {@link resolve} to
 * check the combination and get an {@link Options}. `runAnalysis` consumes
 * {@link Options}; {@link defaults} is the record of an empty command line.
 *
 * **Details**
 * - One {@link Spec} row per option: the DynamoRIO name (`sched_quantum`), the
 *   modern flag (`sched-quantum`), the field (`schedQuantum`), the value kind
 *   (DynamoRIO's `int`, `uint`, `bytesize`, `double`, … with its conversions)
 *   and the default. Both front ends and the docs read this table, so they
 *   cannot drift apart.
 * - {@link resolve} turns the raw fields into the derived ones (`inputs`,
 *   `tools`, `sharding`, `onlyThreads`, `onlyShards`) and rejects conflicting
 *   combinations with DynamoRIO's messages (`only one of -skip_instrs,
 *   -skip_records, and -skip_to_timestamp can be used at a time`), naming the
 *   options the way the user typed them.
 * - {@link unsupported} lists DynamoRIO options memtrace does not implement
 *   (tracing, online, decoder and record_filter options): they are rejected by
 *   name, never ignored.
 *
 * **Gotchas**
 * - `skipToTimestamp` is a `bigint`: trace timestamps exceed 2^53.
 * - `sharding: "auto"` means no -core_sharded/-core_serial switch was given;
 *   the analyzer then picks the mode from the tools, as DynamoRIO does.
 * - `jobs` keeps DynamoRIO's -1 default (= one worker per hardware thread).
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as V from "./internal/values.ts"
import { type UsageError, usageError } from "./UsageError.ts"

/**
 * Where an option is listed in help and docs.
 *
 * @category models
 */
export type Group = "input" | "mode" | "window" | "scheduler" | "tools" | "cache" | "tlb" | "memtrace"

/**
 * One option.
 *
 * @category models
 */
export interface Spec<K extends string = string, A = unknown> {
  /** Field of {@link Raw}. */
  readonly key: K
  /** DynamoRIO name, without the dash (`sched_quantum`). */
  readonly dr: string
  /** Other DynamoRIO names (`simulator_type` for `tool`). */
  readonly aliases: ReadonlyArray<string>
  /** Modern flag, without the dashes (`sched-quantum`). */
  readonly flag: string
  readonly kind: V.Kind<A>
  readonly default: A
  readonly group: Group
  readonly doc: string
  /** True for memtrace's own options (not in DynamoRIO). */
  readonly ours: boolean
}

const spec = <const K extends string, A>(
  key: K,
  dr: string,
  kind: V.Kind<A>,
  def: NoInfer<A>,
  group: Group,
  doc: string,
  extra?: { readonly aliases?: ReadonlyArray<string>; readonly ours?: boolean }
): Spec<K, A> => ({
  key,
  dr,
  aliases: extra?.aliases ?? [],
  flag: dr.toLowerCase().replaceAll("_", "-"),
  kind,
  default: def,
  group,
  doc,
  ours: extra?.ours ?? false
})

const ours = { ours: true } as const

/**
 * Every option, in help order.
 *
 * @category table
 */
export const table = [
  // Input and tools.
  spec("indir", "indir", V.string, "", "input", "Directory of trace files (a DynamoRIO -offline output directory)"),
  spec(
    "multiIndir",
    "multi_indir",
    V.string,
    "",
    "input",
    "Colon-separated trace directories, analyzed as separate workloads (core-sharded only)"
  ),
  spec("infile", "infile", V.string, "", "input", "Single trace file"),
  spec("tool", "tool", V.string, "cache_simulator", "input", "Analysis tools to run, separated by ':'", {
    aliases: ["simulator_type"]
  }),
  spec("verbose", "verbose", V.uintBetween(0, 64), 0, "input", "Verbosity level for notifications"),
  // Mode.
  spec(
    "jobs",
    "jobs",
    V.int,
    -1,
    "mode",
    "Parallel workers for thread-sharded analysis; 0 = serial; negative = one per hardware thread"
  ),
  spec(
    "coreSharded",
    "core_sharded",
    V.bool,
    false,
    "mode",
    "Schedule threads onto -cores cores, analyze cores in parallel"
  ),
  spec(
    "coreSerial",
    "core_serial",
    V.bool,
    false,
    "mode",
    "Schedule like -core_sharded, analyze the cores in lockstep"
  ),
  spec("cores", "cores", V.cores, 4, "mode", "Number of cores to simulate (core-sharded, core-serial, simulators)"),
  spec("cpuScheduling", "cpu_scheduling", V.bool, false, "mode", "Map threads to cores as traced (simulators)"),
  // Window of the trace.
  spec("skipInstrs", "skip_instrs", V.bytesize, 0, "window", "Instructions to skip at the start of each shard"),
  spec("skipRecords", "skip_records", V.bytesize, 0, "window", "Records to skip at the start of each shard"),
  spec(
    "skipToTimestamp",
    "skip_to_timestamp",
    V.uint64Exact,
    0n,
    "window",
    "Timestamp to start at (needs -cpu_schedule_file)"
  ),
  spec("exitAfterInstrs", "exit_after_instrs", V.bytesize, 0, "window", "Stop each shard after this many instructions"),
  spec("exitAfterRecords", "exit_after_records", V.bytesize, 0, "window", "Stop each shard after this many records"),
  spec("onlyThread", "only_thread", V.int, 0, "window", "Only analyze this thread (0 = all)"),
  spec("onlyThreads", "only_threads", V.string, "", "window", "Only analyze these comma-separated threads"),
  spec("onlyShards", "only_shards", V.string, "", "window", "Only analyze these comma-separated input ordinals"),
  spec(
    "intervalMicroseconds",
    "interval_microseconds",
    V.bytesize,
    0,
    "window",
    "Interval length in trace microseconds (0 = off)"
  ),
  spec(
    "intervalInstrCount",
    "interval_instr_count",
    V.bytesize,
    0,
    "window",
    "Interval length in instructions per shard"
  ),
  // Scheduler.
  spec(
    "schedQuantum",
    "sched_quantum",
    V.int64,
    20_000_000,
    "scheduler",
    "Quantum in instructions (in simulated us with -sched_time)"
  ),
  spec("schedTime", "sched_time", V.bool, false, "scheduler", "Use wall-clock time for the quantum and idle time"),
  spec("schedOrderTime", "sched_order_time", V.bool, true, "scheduler", "Honor recorded timestamps for ordering"),
  spec(
    "schedSyscallSwitchUs",
    "sched_syscall_switch_us",
    V.uint64,
    30_000_000,
    "scheduler",
    "Latency (us) for a non-blocking syscall to incur a switch"
  ),
  spec(
    "schedBlockingSwitchUs",
    "sched_blocking_switch_us",
    V.uint64,
    600,
    "scheduler",
    "Latency (us) for a maybe-blocking syscall to incur a switch"
  ),
  spec("schedBlockScale", "sched_block_scale", V.double(), 0.1, "scheduler", "Scale of as-traced blocked time"),
  spec("schedBlockMaxUs", "sched_block_max_us", V.uint64, 2500, "scheduler", "Maximum blocked time (us) after scaling"),
  spec("schedRandomize", "sched_randomize", V.bool, false, "scheduler", "Pick the next input at random"),
  spec(
    "schedDisableDirectSwitches",
    "sched_disable_direct_switches",
    V.bool,
    false,
    "scheduler",
    "Ignore direct thread switch requests"
  ),
  spec(
    "schedInfiniteTimeouts",
    "sched_infinite_timeouts",
    V.bool,
    false,
    "scheduler",
    "Unscheduled-indefinitely inputs are never rescheduled"
  ),
  spec(
    "schedTimeUnitsPerUs",
    "sched_time_units_per_us",
    V.double(),
    1000,
    "scheduler",
    "Time units per simulated microsecond"
  ),
  spec(
    "schedMigrationThresholdUs",
    "sched_migration_threshold_us",
    V.uint64,
    500,
    "scheduler",
    "Time (us) before an input may migrate"
  ),
  spec(
    "schedRebalancePeriodUs",
    "sched_rebalance_period_us",
    V.uint64,
    50_000,
    "scheduler",
    "Run-queue rebalance period (us)"
  ),
  spec(
    "schedStealAttemptPeriod",
    "sched_steal_attempt_period",
    V.uint64,
    10_000,
    "scheduler",
    "Idles between steal attempts (0 = never steal)"
  ),
  spec(
    "schedExitIfFractionInputsLeft",
    "sched_exit_if_fraction_inputs_left",
    V.double(),
    0.1,
    "scheduler",
    "End when at most this fraction of inputs is left"
  ),
  spec(
    "schedRandomInitialLayout",
    "sched_random_initial_layout",
    V.int,
    1,
    "scheduler",
    "Seed of the random initial layout (<0 round-robin, 0 = time)"
  ),
  spec("schedMaxCores", "sched_max_cores", V.int, 0, "scheduler", "Peak live cores per workload (0 = no limit)"),
  spec(
    "maxLoadImbalance",
    "max_load_imbalance",
    V.double(0),
    2.0,
    "scheduler",
    "Fastest/slowest core activity ratio kept (below 1 = off)"
  ),
  spec("recordFile", "record_file", V.string, "", "scheduler", "Record the schedule to this file"),
  spec("replayFile", "replay_file", V.string, "", "scheduler", "Replay the schedule recorded in this file"),
  spec("cpuScheduleFile", "cpu_schedule_file", V.string, "", "scheduler", "As-traced schedule to replay"),
  spec(
    "schedSwitchFile",
    "sched_switch_file",
    V.string,
    "",
    "scheduler",
    "Kernel context-switch sequences to inject at switches (core-sharded and core-serial)"
  ),
  spec("schedSyscallFile", "sched_syscall_file", V.string, "", "scheduler", "Kernel system-call sequences to inject"),
  // Tool knobs.
  spec("lineSize", "line_size", V.uint, 64, "tools", "Cache line size"),
  spec("reportTop", "report_top", V.uint, 10, "tools", "Number of top results to report"),
  spec(
    "reuseDistanceThreshold",
    "reuse_distance_threshold",
    V.uint,
    100,
    "tools",
    "Reuse distance above which a reference is distant"
  ),
  spec(
    "reuseDistanceHistogram",
    "reuse_distance_histogram",
    V.bool,
    false,
    "tools",
    "Print the reuse distance histogram"
  ),
  spec("reuseSkipDist", "reuse_skip_dist", V.uint, 500, "tools", "Distance between reuse-distance skip nodes"),
  spec("reuseDistanceLimit", "reuse_distance_limit", V.uint, 0, "tools", "Maximum tracked reuse distance (0 = none)"),
  spec(
    "reuseHistogramBinMultiplier",
    "reuse_histogram_bin_multiplier",
    V.double(),
    1.0,
    "tools",
    "Geometric growth of reuse histogram bins"
  ),
  spec(
    "scheduleStatsPrintEvery",
    "schedule_stats_print_every",
    V.uint64,
    500_000,
    "tools",
    "schedule_stats prints a letter every N instructions"
  ),
  spec(
    "abortOnInvariantError",
    "abort_on_invariant_error",
    V.bool,
    true,
    "tools",
    "invariant_checker fails the run at the first violation (otherwise it lists them all)"
  ),
  // Cache simulator.
  spec("l1iSize", "L1I_size", V.bytesize, 32 * 1024, "cache", "L1 instruction cache size"),
  spec("l1dSize", "L1D_size", V.bytesize, 32 * 1024, "cache", "L1 data cache size"),
  spec("l1iAssoc", "L1I_assoc", V.uint, 8, "cache", "L1 instruction cache associativity"),
  spec("l1dAssoc", "L1D_assoc", V.uint, 8, "cache", "L1 data cache associativity"),
  spec("llSize", "LL_size", V.bytesize, 8 * 1024 * 1024, "cache", "Last-level cache size"),
  spec("llAssoc", "LL_assoc", V.uint, 16, "cache", "Last-level cache associativity"),
  spec("replacePolicy", "replace_policy", V.choice(["LRU", "LFU", "FIFO"]), "LRU", "cache", "Cache replacement policy"),
  spec("dataPrefetcher", "data_prefetcher", V.choice(["nextline", "none"]), "nextline", "cache", "L1D prefetcher"),
  spec("skipRefs", "skip_refs", V.bytesize, 0, "cache", "References the simulators ignore at the start"),
  spec("warmupRefs", "warmup_refs", V.bytesize, 0, "cache", "References that warm the caches up"),
  spec(
    "warmupFraction",
    "warmup_fraction",
    V.double(0, 1),
    0,
    "cache",
    "Fraction of the LLC to fill before simulating"
  ),
  spec("simRefs", "sim_refs", V.bytesize, 2 ** 63, "cache", "References to simulate"),
  // TLB simulator.
  spec("pageSize", "page_size", V.bytesize, 4096, "tlb", "Page size"),
  spec("tlbL1iEntries", "TLB_L1I_entries", V.uint, 32, "tlb", "Instruction TLB entries"),
  spec("tlbL1dEntries", "TLB_L1D_entries", V.uint, 32, "tlb", "Data TLB entries"),
  spec("tlbL1iAssoc", "TLB_L1I_assoc", V.uint, 32, "tlb", "Instruction TLB associativity"),
  spec("tlbL1dAssoc", "TLB_L1D_assoc", V.uint, 32, "tlb", "Data TLB associativity"),
  spec("tlbL2Entries", "TLB_L2_entries", V.uint, 1024, "tlb", "L2 TLB entries"),
  spec("tlbL2Assoc", "TLB_L2_assoc", V.uint, 4, "tlb", "L2 TLB associativity"),
  spec(
    "tlbReplacePolicy",
    "TLB_replace_policy",
    V.choice(["LFU", "LRU", "FIFO"]),
    "LFU",
    "tlb",
    "TLB replacement policy"
  ),
  // memtrace's own.
  spec("json", "json", V.bool, false, "memtrace", "Print results as JSON instead of DynamoRIO's text", ours),
  spec(
    "jsonShards",
    "json_shards",
    V.bool,
    false,
    "memtrace",
    "With -json: also print each shard's raw result, the input of the tool's merge (large: basic_counts lists every unique PC)",
    ours
  ),
  spec("quiet", "quiet", V.bool, false, "memtrace", "No progress bar and no notes on stderr", ours),
  spec(
    "failure",
    "failure",
    V.choice(["fail-fast", "continue"]),
    "fail-fast",
    "memtrace",
    "On a shard failure: stop the run, or finish the other shards and report partial results",
    ours
  ),
  spec("runTimeout", "run_timeout", V.duration, 0, "memtrace", "Fail the run after this long (0 = no limit)", ours),
  spec(
    "stallTimeout",
    "stall_timeout",
    V.duration,
    60_000,
    "memtrace",
    "Fail the run when no record is processed for this long (0 = never)",
    ours
  ),
  spec("report", "report", V.string, "", "memtrace", "Also write an HTML report to this file", ours),
  spec(
    "backend",
    "backend",
    V.choice(["fibers", "threads"]),
    "fibers",
    "memtrace",
    "Run workers as fibers of the main thread, or on worker threads (a serial or core-serial run goes whole to one)",
    ours
  ),
  spec(
    "sourceThread",
    "source_thread",
    V.bool,
    false,
    "memtrace",
    "Inflate zip inputs on a worker thread of their own, so the main thread only decodes (faster when it is the bottleneck and a core is free)",
    ours
  )
] as const

type Row = (typeof table)[number]

/**
 * One field per option, exactly as typed on the command line (before
 * {@link resolve}).
 *
 * @category models
 */
export type Raw = { readonly [R in Row as R["key"]]: R["default"] }

/**
 * Field names of {@link Raw}.
 *
 * @category models
 */
export type Key = keyof Raw

/**
 * What a front end produced: the values and the options that were given.
 *
 * @category models
 */
export interface Parsed {
  readonly values: Raw
  readonly specified: ReadonlySet<Key>
  /** How option names are written back in messages. */
  readonly style: Style
}

/**
 * How the user writes option names: DynamoRIO's `-skip_instrs` or the modern
 * `--skip-instrs`.
 *
 * @category models
 */
export type Style = "dr" | "modern"

/**
 * The raw defaults (an empty command line).
 *
 * @category defaults
 */
export const rawDefaults: Raw = Object.fromEntries(table.map((s) => [s.key, s.default])) as unknown as Raw

/**
 * Rows by field name.
 *
 * @category table
 */
export const byKey: { readonly [K in Key]: Spec<K, Raw[K]> } = Object.fromEntries(table.map((s) => [s.key, s])) as any

/**
 * The name of an option as written in messages: `-skip_instrs` / `--skip-instrs`.
 *
 * @category formatting
 */
export const optionName = (key: Key, style: Style): string =>
  style === "dr" ? `-${byKey[key].dr}` : `--${byKey[key].flag}`

/**
 * The bare name DynamoRIO's option parser uses in its own messages
 * (`Option cores value out of range`): `cores` / `--cores`.
 *
 * @category formatting
 */
export const bareName = (key: Key, style: Style): string => (style === "dr" ? byKey[key].dr : `--${byKey[key].flag}`)

// ---------------------------------------------------------------------------
// Tools.

/**
 * Facts about each DynamoRIO tool: whether memtrace implements it, whether it
 * runs in parallel (`parallel_shard_supported`) and the shard type it
 * prefers.
 *
 * @category tools
 */
export const toolTable = {
  basic_counts: { implemented: true, parallel: true, prefers: "thread" },
  cache_simulator: { implemented: true, parallel: false, prefers: "core" },
  histogram: { implemented: true, parallel: true, prefers: "thread" },
  reuse_distance: { implemented: true, parallel: true, prefers: "thread" },
  reuse_time: { implemented: true, parallel: true, prefers: "thread" },
  syscall_mix: { implemented: true, parallel: true, prefers: "thread" },
  view: { implemented: true, parallel: false, prefers: "thread" },
  TLB_simulator: { implemented: true, parallel: false, prefers: "core" },
  schedule_stats: { implemented: true, parallel: true, prefers: "core" },
  invariant_checker: { implemented: true, parallel: true, prefers: "thread" },
  opcode_mix: { implemented: false, parallel: true, prefers: "thread" },
  func_view: { implemented: false, parallel: true, prefers: "thread" },
  miss_analyzer: { implemented: false, parallel: false, prefers: "core" },
  record_filter: { implemented: false, parallel: true, prefers: "thread" }
} as const satisfies Record<string, { implemented: boolean; parallel: boolean; prefers: "thread" | "core" }>

/**
 * A DynamoRIO tool name.
 *
 * @category tools
 */
export type ToolName = keyof typeof toolTable

/**
 * DynamoRIO's other spellings of tool names.
 *
 * @category tools
 */
export const toolAliases: Readonly<Record<string, ToolName>> = {
  cache: "cache_simulator",
  drcachesim: "cache_simulator",
  TLB: "TLB_simulator"
}

/**
 * The tools memtrace runs today, in the order help lists them.
 *
 * @category tools
 */
export const availableTools: ReadonlyArray<ToolName> = (Object.keys(toolTable) as Array<ToolName>)
  .filter((t) => toolTable[t].implemented)
  .sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()))

const listTools = (): string => {
  const names = [...availableTools]
  return `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`
}

const toolName = (text: string, option: string): Result.Result<ToolName, UsageError> => {
  const name = (
    Object.hasOwn(toolTable, text) ? text : Object.hasOwn(toolAliases, text) ? toolAliases[text] : undefined
  ) as ToolName | undefined
  if (name === undefined) {
    return Result.fail(
      usageError("UnknownTool", `unsupported analyzer type "${text}". Please choose ${listTools()}.`, option)
    )
  }
  if (!toolTable[name].implemented) {
    return Result.fail(
      usageError(
        "UnsupportedTool",
        `the ${text} tool is not implemented by memtrace${recordFilterHint(text)}. Please choose ${listTools()}.`,
        option
      )
    )
  }
  return Result.succeed(name)
}

/**
 * Splits and checks a tool list (`basic_counts:histogram`; the modern form
 * also accepts commas). A name given twice is kept twice: DynamoRIO makes one
 * tool per name and prints each.
 *
 * @category tools
 */
export const parseTools = (
  text: string,
  separators: RegExp,
  option: string
): Result.Result<ReadonlyArray<ToolName>, UsageError> => {
  const parts = text.split(separators).filter((p) => p !== "")
  if (parts.length === 0) return Result.fail(usageError("MissingValue", `${option} names no tool`, option))
  const out: Array<ToolName> = []
  for (const part of parts) {
    const r = toolName(part, option)
    if (Result.isFailure(r)) return Result.fail(r.failure)
    out.push(r.success)
  }
  return Result.succeed(out)
}

// ---------------------------------------------------------------------------
// The resolved record.

/**
 * A trace to read: a directory of per-thread (or per-core) files, or one file.
 *
 * @category models
 */
export interface Input {
  readonly kind: "dir" | "file"
  readonly path: string
}

/**
 * How records are split into shards: `auto` follows the tools (DynamoRIO's
 * rule), `thread` forces thread shards (-no_core_sharded / -no_core_serial),
 * `core-sharded` and `core-serial` as DynamoRIO's switches.
 *
 * @category models
 */
export type Sharding = "auto" | "thread" | "core-sharded" | "core-serial"

type RawOnly =
  | "indir"
  | "multiIndir"
  | "infile"
  | "tool"
  | "coreSharded"
  | "coreSerial"
  | "onlyThread"
  | "onlyThreads"
  | "onlyShards"

/**
 * The validated options of a run. Every field of {@link Raw} except the
 * textual ones it derives from, plus:
 *
 * @category models
 */
export interface Options extends Omit<Raw, RawOnly> {
  /** -indir / -infile / -multi_indir (one entry per directory). */
  readonly inputs: ReadonlyArray<Input>
  /** -tool, canonical names, in the order given, without repeats. */
  readonly tools: ReadonlyArray<ToolName>
  /** -core_sharded / -core_serial and their negations. */
  readonly sharding: Sharding
  /** -only_thread and -only_threads. */
  readonly onlyThreads: ReadonlyArray<number>
  /** -only_shards. */
  readonly onlyShards: ReadonlyArray<number>
}

const conflict = (detail: string, option: string): UsageError => usageError("Conflict", detail, option)

const integerList = (text: string, option: string): Result.Result<ReadonlyArray<number>, UsageError> => {
  const out: Array<number> = []
  for (const part of text.split(",")) {
    const t = part.trim()
    if (!/^-?[0-9]+$/.test(t)) {
      return Result.fail(
        usageError("InvalidValue", `Option ${option} value "${text}" is not a comma-separated list of integers`, option)
      )
    }
    out.push(Number(t))
  }
  return Result.succeed(out)
}

/**
 * Checks a parsed command line and derives the run's {@link Options}.
 *
 * **Details**: the checks, in order (first failure wins): inputs (exactly one
 * of -indir, -multi_indir, -infile); tools; sharding switches; skip options;
 * exit-after vs. simulator windows; interval kinds; thread/shard limits;
 * schedule files; scheduler values DynamoRIO's scheduler refuses at init.
 *
 * @category resolving
 */
export const resolve = (parsed: Parsed): Result.Result<Options, UsageError> => {
  const { specified, style, values: v } = parsed
  const name = (k: Key) => optionName(k, style)
  const given = (k: Key) => specified.has(k)

  // Inputs.
  const inputKinds = (["indir", "multiIndir", "infile"] as const).filter((k) => v[k] !== "")
  if (inputKinds.length === 0) {
    return Result.fail(
      usageError("MissingInput", `${name("indir")}, ${name("multiIndir")} or ${name("infile")} is required`)
    )
  }
  if (inputKinds.length > 1) {
    return Result.fail(
      conflict(
        `only one of ${name("indir")}, ${name("multiIndir")}, or ${name("infile")} can be set`,
        name(inputKinds[1]!)
      )
    )
  }
  const inputs: ReadonlyArray<Input> =
    v.indir !== ""
      ? [{ kind: "dir", path: v.indir }]
      : v.infile !== ""
        ? [{ kind: "file", path: v.infile }]
        : v.multiIndir
            .split(":")
            .filter((p) => p !== "")
            .map((path) => ({ kind: "dir", path }))

  // Tools.
  const tools = parseTools(v.tool, style === "dr" ? /:/ : /[:,]/, name("tool"))
  if (Result.isFailure(tools)) return Result.fail(tools.failure)

  // Sharding.
  if (v.coreSharded && v.coreSerial) {
    return Result.fail(
      conflict(`only one of ${name("coreSharded")} and ${name("coreSerial")} can be set`, name("coreSerial"))
    )
  }
  const sharding: Sharding = v.coreSharded
    ? "core-sharded"
    : v.coreSerial
      ? "core-serial"
      : given("coreSharded") || given("coreSerial") || v.cpuScheduling
        ? "thread"
        : "auto"

  // Skipping and stopping.
  const skips = (["skipInstrs", "skipRecords", "skipToTimestamp"] as const).filter((k) =>
    k === "skipToTimestamp" ? v[k] > 0n : v[k] > 0
  )
  if (skips.length > 1) {
    return Result.fail(
      conflict(
        `only one of ${name("skipInstrs")}, ${name("skipRecords")}, and ${name("skipToTimestamp")} can be used at a time`,
        name(skips[1]!)
      )
    )
  }
  if (
    (given("exitAfterRecords") || given("exitAfterInstrs")) &&
    (given("simRefs") || v.skipRefs > 0 || v.warmupRefs > 0 || v.warmupFraction > 0)
  ) {
    return Result.fail(
      conflict(
        `${name("exitAfterInstrs")} and ${name("exitAfterRecords")} are not compatible with ${name("simRefs")}, ${name("skipRefs")}, ${name("warmupRefs")}, or ${name("warmupFraction")}`,
        name(given("exitAfterRecords") ? "exitAfterRecords" : "exitAfterInstrs")
      )
    )
  }
  if (v.warmupRefs > 0 && v.warmupFraction > 0) {
    return Result.fail(
      conflict(`only one of ${name("warmupRefs")} and ${name("warmupFraction")} can be set`, name("warmupFraction"))
    )
  }
  if (v.intervalMicroseconds > 0 && v.intervalInstrCount > 0) {
    return Result.fail(
      conflict(
        `cannot enable both kinds of interval analysis: ${name("intervalMicroseconds")} and ${name("intervalInstrCount")}`,
        name("intervalInstrCount")
      )
    )
  }
  if (v.jsonShards && !v.json) {
    return Result.fail(conflict(`${name("jsonShards")} requires ${name("json")}`, name("jsonShards")))
  }
  if (v.skipToTimestamp > 0n && v.cpuScheduleFile === "") {
    return Result.fail(
      conflict(`${name("skipToTimestamp")} requires ${name("cpuScheduleFile")}`, name("skipToTimestamp"))
    )
  }

  // Thread and shard limits.
  const limits = (["onlyThread", "onlyThreads", "onlyShards"] as const).filter((k) =>
    k === "onlyThread" ? v[k] !== 0 : v[k] !== ""
  )
  if (limits.length > 1) {
    return Result.fail(
      conflict(
        `only one of ${name("onlyThread")}, ${name("onlyThreads")}, and ${name("onlyShards")} can be set`,
        name(limits[1]!)
      )
    )
  }
  if (limits.length > 0 && v.indir === "") {
    return Result.fail(conflict(`${name(limits[0]!)} applies only to ${name("indir")}`, name(limits[0]!)))
  }
  let onlyThreads: ReadonlyArray<number> = v.onlyThread !== 0 ? [v.onlyThread] : []
  if (v.onlyThreads !== "") {
    const r = integerList(v.onlyThreads, name("onlyThreads"))
    if (Result.isFailure(r)) return Result.fail(r.failure)
    onlyThreads = r.success
  }
  let onlyShards: ReadonlyArray<number> = []
  if (v.onlyShards !== "") {
    const r = integerList(v.onlyShards, name("onlyShards"))
    if (Result.isFailure(r)) return Result.fail(r.failure)
    onlyShards = r.success
  }

  // Multiple workloads are a core-sharded feature (DynamoRIO's -multi_indir rule).
  if (v.multiIndir !== "" && (sharding === "thread" || sharding === "core-serial")) {
    return Result.fail(conflict(`${name("multiIndir")} is only supported in core-sharded mode`, name("multiIndir")))
  }

  // Schedule files.
  if (v.recordFile !== "" && v.replayFile !== "") {
    return Result.fail(
      conflict(`only one of ${name("recordFile")} and ${name("replayFile")} can be set`, name("replayFile"))
    )
  }
  if (v.cpuScheduleFile !== "" && v.skipToTimestamp === 0n && (v.recordFile !== "" || v.replayFile !== "")) {
    return Result.fail(
      conflict(
        `${name("cpuScheduleFile")} replays the as-traced schedule and cannot be combined with ${name(v.recordFile !== "" ? "recordFile" : "replayFile")}`,
        name("cpuScheduleFile")
      )
    )
  }

  // Values DynamoRIO's scheduler refuses at init.
  const core = sharding === "core-sharded" || sharding === "core-serial"
  if (core && v.cores === 0) {
    return Result.fail(
      usageError(
        "OutOfRange",
        `For ${name(sharding === "core-sharded" ? "coreSharded" : "coreSerial")}, core count must be > 0`,
        name("cores")
      )
    )
  }
  for (const k of ["schedTimeUnitsPerUs", "schedBlockScale", "schedBlockMaxUs"] as const) {
    if (!(v[k] > 0)) return Result.fail(usageError("OutOfRange", `${name(k)} must be > 0`, name(k)))
  }
  if (v.schedTime && v.schedQuantum <= 0) {
    return Result.fail(
      usageError("OutOfRange", `${name("schedQuantum")} must be > 0 with ${name("schedTime")}`, name("schedQuantum"))
    )
  }
  if (v.schedExitIfFractionInputsLeft < 0 || v.schedExitIfFractionInputsLeft > 1) {
    return Result.fail(
      usageError(
        "OutOfRange",
        `${name("schedExitIfFractionInputsLeft")} must be between 0 and 1`,
        name("schedExitIfFractionInputsLeft")
      )
    )
  }

  // Tool-specific checks DynamoRIO makes when it creates the tool.
  if (tools.success.includes("reuse_distance") && v.reuseHistogramBinMultiplier < 1) {
    return Result.fail(
      usageError(
        "OutOfRange",
        `${byKey.reuseHistogramBinMultiplier.dr} must be >= 1.0`,
        name("reuseHistogramBinMultiplier")
      )
    )
  }
  if (tools.success.length === 1 && tools.success[0] === "view" && (given("skipRefs") || given("simRefs"))) {
    return Result.fail(
      conflict(
        `${name("skipRefs")} and ${name("simRefs")} are not supported with the view tool. Use ${name("skipRecords")} and ${name("exitAfterRecords")} instead.`,
        name(given("skipRefs") ? "skipRefs" : "simRefs")
      )
    )
  }

  const {
    indir: _indir,
    multiIndir: _multiIndir,
    infile: _infile,
    tool: _tool,
    coreSharded: _coreSharded,
    coreSerial: _coreSerial,
    onlyThread: _onlyThread,
    onlyThreads: _onlyThreads,
    onlyShards: _onlyShards,
    ...rest
  } = v
  return Result.succeed({ ...rest, inputs, tools: tools.success, sharding, onlyThreads, onlyShards })
}

/**
 * The options of a command line that names only a directory: DynamoRIO's
 * defaults (`-tool cache_simulator`, 4 cores, …) with `inputs` set.
 *
 * @category defaults
 */
export const defaults = (input: Input): Options => {
  const r = resolve({
    values: { ...rawDefaults, [input.kind === "dir" ? "indir" : "infile"]: input.path },
    specified: new Set(),
    style: "dr"
  })
  return Result.getOrThrow(r)
}

// ---------------------------------------------------------------------------
// DynamoRIO options memtrace does not implement.

/** DynamoRIO's record_filter and its options: `memtrace filter` does that job (docs/cli.md). */
const RECORD_FILTER =
  /^(record_filter|trim_(before|after)_(instr|timestamp)|filter_(trace_types|marker_types|encodings2regdeps|keep_func_ids|modify_marker_value|stop_timestamp|cache_size))$/

/**
 * For a DynamoRIO record_filter name (the tool or one of its options), a
 * pointer to `memtrace filter`; otherwise "".
 *
 * @category table
 */
export const recordFilterHint = (name: string): string =>
  RECORD_FILTER.test(name) ? " (to filter a trace into a new one, use memtrace filter: see docs/cli.md)" : ""

/**
 * DynamoRIO option names (from `options.cpp`) that memtrace rejects with a
 * clear "not supported" message instead of "unknown option": tracer and
 * online-simulation options, decoder-based tools' options, record_filter's.
 *
 * @category table
 */
export const unsupported: ReadonlySet<string> = new Set([
  "L0D_filter",
  "L0D_size",
  "L0I_filter",
  "L0I_size",
  "L0_filter",
  "L0_filter_until_instrs",
  "LL_miss_file",
  "add_noise_generator",
  "align_endpoints",
  "alt_module_dir",
  "chunk_instr_count",
  "coherence",
  "collect_syscall_records",
  "compress",
  "confidence_threshold",
  "config_file",
  "disable_optimizations",
  "dr",
  "dr_debug",
  "dr_ops",
  "enable_drstatecmp",
  "enable_kernel_tracing",
  "exit_after_tracing",
  "filter_cache_size",
  "filter_encodings2regdeps",
  "filter_keep_func_ids",
  "filter_kernel",
  "filter_kernel_except_syscalls",
  "filter_marker_types",
  "filter_modify_marker_value",
  "filter_stop_timestamp",
  "filter_trace_types",
  "funclist_file",
  "instr_encodings",
  "instr_only_trace",
  "ipc_name",
  "kernel_trace_buffer_size_shift",
  "max_global_trace_refs",
  "max_trace_size",
  "memdump_on_window",
  "miss_count_threshold",
  "miss_frac_threshold",
  "module_file",
  "offline",
  "online_instr_types",
  "outdir",
  "pt2ir_best_effort",
  "raw_compress",
  "record_dynsym_only",
  "record_function",
  "record_heap",
  "record_heap_value",
  "record_replace_retaddr",
  "record_syscall",
  "retrace_every_instrs",
  "reuse_verify_skip",
  "scale_timeouts",
  "scale_timers",
  "show_func_trace",
  "skip_kcore_dump",
  "split_windows",
  "subdir_prefix",
  "syscall_template_file",
  "test_mode",
  "test_mode_name",
  "trace_after_instrs",
  "trace_for_instrs",
  "trace_instr_intervals_file",
  "tracer",
  "tracer_alt",
  "tracer_ops",
  "trim_after_instr",
  "trim_after_timestamp",
  "trim_before_instr",
  "trim_before_timestamp",
  "use_physical",
  "v2p_file",
  "view_syntax",
  "virt2phys_freq"
])
