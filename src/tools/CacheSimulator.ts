/**
 * DynamoRIO's cache simulator (`-tool cache_simulator`, drcachesim's default
 * tool) as a {@link Tool.Tool}: a private L1I and L1D per simulated core over one
 * shared last-level cache, with DynamoRIO's exact counting rules, so its
 * printed results match `drmemtrace_launcher` figure for figure.
 *
 * **When to use**: `CacheSimulator.tool` for DynamoRIO's defaults, or
 * `CacheSimulator.make(options)` for other geometries. It is a serial tool
 * that prefers core shards: in a core-sharded or core-serial run the core is
 * the output a record was scheduled on; in a thread-sharded serial run (the
 * timestamp interleave of every input) each thread is placed on the core with
 * the fewest live threads and leaves it at its THREAD_EXIT.
 *
 * **Details**
 * - Defaults (`defaults`): 4 cores, 64-byte lines, 32 KiB 8-way L1I and L1D
 *   per core, 8 MiB 16-way LLC, LRU, a next-line prefetcher on each L1D,
 *   caches neither inclusive nor exclusive, no coherence.
 * - An access is split into the lines it touches; each line is a hit or a
 *   miss; a miss is compulsory if that line never missed in that cache before
 *   (prefetch misses included); hits count as "child hits" in every cache
 *   above; a demand miss in L1D requests the next line as a hardware
 *   prefetch. Instructions (and instruction prefetches) go to L1I; reads,
 *   writes and prefetches to L1D; non-fetched instructions and markers are
 *   ignored; flushes invalidate lines in L1 and LLC.
 * - `skipRefs`, `warmupRefs`/`warmupFraction` and `simRefs` count non-marker
 *   records as DynamoRIO does; when `simRefs` runs out the tool stops early
 *   (soft exit), and stats reset at the end of warmup ("Warmup hits" lines).
 * - Tags are exact 64-bit line numbers (two u32 halves): kernel addresses
 *   simulate correctly.
 *
 * **Gotchas**
 * - Replacement policies: LRU, LFU and FIFO. DynamoRIO's BIT_PLRU (randomly
 *   seeded) and RRIP, configuration files (`-config_file`), coherence,
 *   inclusive/exclusive hierarchies, miss files and `-use_physical` are not
 *   offered.
 * - Sizes, associativities and the line size must be below 2^31 (DynamoRIO
 *   passes them as `int`; larger ones fail its init, even those its
 *   conversion wraps to a small size): `make` refuses them with DynamoRIO's
 *   "failed to initialize" message before anything is allocated. Each cache
 *   costs 12 bytes per line, allocated when a shard starts (a 1 GiB LLC of
 *   64-byte lines: 192 MiB).
 * - Numbers print without digit grouping, as DynamoRIO does in the C locale;
 *   set `digitSeparator` to mimic another locale.
 * - In core-sharded runs a core's header lists its cpu id: the output ordinal
 *   unless `outputCpuids` says otherwise (replays of an as-traced schedule use
 *   the traced cpu ids).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Tool from "../analyzer/Tool.ts"
import { CacheSimulation } from "./internal/cache/CacheSimulation.ts"
import { coreHeader } from "./internal/cache/CoreMap.ts"
import { geometryProblem, INT_MAX } from "./internal/cache/Device.ts"
import { addStats, type DeviceStats, description, printStats, statsOf } from "./internal/cache/report.ts"
import {
  invalidOptions,
  type State as SimState,
  SimulatorError,
  simulatorTool,
  validating
} from "./internal/cache/simulatorTool.ts"

export { SimulatorError }

/**
 * Cache simulator options (DynamoRIO's option names in camel case; sizes in bytes).
 *
 * @category models
 */
export interface Options {
  /** `-cores`: simulated cores. */
  readonly cores: number
  /** `-line_size`: bytes per line in every cache (a power of 2, at least 4). */
  readonly lineSize: number
  readonly l1iSize: number
  readonly l1iAssoc: number
  readonly l1dSize: number
  readonly l1dAssoc: number
  /** `-LL_size`. */
  readonly llSize: number
  readonly llAssoc: number
  /** `-replace_policy`. */
  readonly replacePolicy: "LRU" | "LFU" | "FIFO"
  /** `-data_prefetcher`. */
  readonly dataPrefetcher: "nextline" | "none"
  /** `-skip_refs`: non-marker records ignored first. */
  readonly skipRefs: number
  /** `-warmup_refs`: non-marker records simulated before statistics reset. */
  readonly warmupRefs: number
  /** `-warmup_fraction`: LLC fill fraction that ends warmup (exclusive with `warmupRefs`). */
  readonly warmupFraction: number
  /** `-sim_refs`: non-marker records simulated before stopping. */
  readonly simRefs: number
  /** `-cpu_scheduling`: place threads by their traced cpu (thread shards only). */
  readonly cpuScheduling: boolean
  /** Cpu id of each output in core-sharded runs (default: the output ordinal). */
  readonly outputCpuids?: ReadonlyArray<number> | undefined
  /** Digit-group separator for printed counts ("" = none, DynamoRIO in the C locale). */
  readonly digitSeparator: string
}

/**
 * DynamoRIO's defaults.
 *
 * @category constants
 */
export const defaults: Options = {
  cores: 4,
  lineSize: 64,
  l1iSize: 32 * 1024,
  l1iAssoc: 8,
  l1dSize: 32 * 1024,
  l1dAssoc: 8,
  llSize: 8 * 1024 * 1024,
  llAssoc: 16,
  replacePolicy: "LRU",
  dataPrefetcher: "nextline",
  skipRefs: 0,
  warmupRefs: 0,
  warmupFraction: 0,
  simRefs: 2 ** 63,
  cpuScheduling: false,
  digitSeparator: ""
}

/** One cache's counters. @category schemas */
export const CacheStats = Schema.Struct({
  name: Schema.String,
  sizeBytes: Schema.Number,
  assoc: Schema.Number,
  blockSize: Schema.Number,
  policy: Schema.String,
  hits: Schema.Number,
  misses: Schema.Number,
  compulsoryMisses: Schema.Number,
  childHits: Schema.Number,
  inclusiveInvalidations: Schema.Number,
  coherenceInvalidations: Schema.Number,
  exclusiveInvalidations: Schema.Number,
  prefetchHits: Schema.Number,
  prefetchMisses: Schema.Number,
  flushes: Schema.Number,
  warmupHits: Schema.Number,
  warmupMisses: Schema.Number
})

/** @category models */
export type CacheStats = typeof CacheStats.Type

/** What a core's header line says (DynamoRIO's `print_core`). @category schemas */
export const CoreSummary = Schema.Struct({
  core: Schema.Number,
  /** Threads ever placed on the core (thread shards). */
  threads: Schema.Number,
  /** Traced cpus mapped to the core (thread shards with `cpuScheduling`). */
  tracedCpus: Schema.Number,
  /** Cpu ids listed in the header, in DynamoRIO's order. */
  cpus: Schema.Array(Schema.Number)
})

/** @category schemas */
export const CoreResult = Schema.Struct({ summary: CoreSummary, l1i: CacheStats, l1d: CacheStats })

/**
 * The simulation's results (also the shard result: a serial tool has one shard).
 *
 * @category schemas
 */
export const Result = Schema.Struct({
  shardType: Schema.Literals(["thread", "core"]),
  cpuScheduling: Schema.Boolean,
  warmupEnabled: Schema.Boolean,
  cores: Schema.Array(CoreResult),
  ll: CacheStats
})

/** @category models */
export type Result = typeof Result.Type

/** @category models */
export type State = SimState<CacheSimulation>

const TOOL = "cache_simulator"

const invalid = (detail: string) => invalidOptions(TOOL, detail)

const isCount = (n: number) => Number.isInteger(n) && n >= 0

/**
 * The first reason DynamoRIO would refuse these options, in its own words.
 *
 * @category validation
 */
export const validate = (o: Options): SimulatorError | undefined => {
  if (!Number.isInteger(o.cores) || o.cores < 1) return invalid("core count must be a positive integer")
  for (const [k, v] of [
    ["skipRefs", o.skipRefs],
    ["warmupRefs", o.warmupRefs],
    ["simRefs", o.simRefs]
  ] as const) {
    if (!isCount(v)) return invalid(`${k} must be a non-negative integer`)
  }
  if (!(o.warmupFraction >= 0 && o.warmupFraction <= 1)) return invalid("warmup fraction must be within [0, 1]")
  if (o.warmupRefs > 0 && o.warmupFraction > 0) return invalid("Either warmup_refs OR warmup_fraction can be set")
  if (o.dataPrefetcher !== "nextline" && o.dataPrefetcher !== "none") {
    return invalid(` unknown data_prefetcher: '${String(o.dataPrefetcher)}'`)
  }
  const policyOk = o.replacePolicy === "LRU" || o.replacePolicy === "LFU" || o.replacePolicy === "FIFO"
  // DynamoRIO passes sizes as `int`: from 2^31 on they are negative (or wrap) and no lines fit.
  const lines = (size: number) => (o.lineSize >= 1 && size <= INT_MAX ? Math.floor(size / o.lineSize) : 0)
  // DynamoRIO's sentence says which cache failed; the part in parentheses says which option and why.
  const names = { blocks: "the number of lines", blockSize: "the line size" }
  const geometry = (size: number, sizeName: string, assoc: number, assocName: string): string | undefined => {
    if (size > INT_MAX) return `${sizeName} ${size}: sizes from 2^31 on do not fit DynamoRIO's int`
    const problem = geometryProblem(assoc, o.lineSize, lines(size), names)
    return problem === undefined
      ? undefined
      : `${sizeName} ${size}, ${assocName} ${assoc} and line_size ${o.lineSize}: ${problem}`
  }
  const llFailed =
    "failed to initialize LL cache.  Ensure size divided by associativity is a power of 2, " +
    "that the total size is a multiple of the line size, and that any miss file path is writable."
  const lineProblem = geometryProblem(1, o.lineSize, 1, names)
  const ll = !policyOk
    ? `replace_policy '${String(o.replacePolicy)}': LRU, LFU or FIFO`
    : lineProblem !== undefined
      ? `line_size ${o.lineSize}: ${lineProblem}`
      : geometry(o.llSize, "LL_size", o.llAssoc, "LL_assoc")
  if (ll !== undefined) return invalid(`${llFailed} (${ll})`)
  const l1 =
    geometry(o.l1iSize, "L1I_size", o.l1iAssoc, "L1I_assoc") ?? geometry(o.l1dSize, "L1D_size", o.l1dAssoc, "L1D_assoc")
  if (l1 !== undefined) {
    return invalid(
      "failed to initialize L1 caches.  Ensure sizes divided by associativities are powers of 2 " +
        `and that the total sizes are multiples of the line size. (${l1})`
    )
  }
  return undefined
}

const resultOf = (sim: CacheSimulation, shardType: Tool.ShardType, cpuScheduling: boolean): Result => {
  const summaries = sim.cores.summaries()
  return {
    shardType,
    cpuScheduling,
    warmupEnabled: sim.warmupEnabled,
    cores: summaries.map((summary, i) => ({ summary, l1i: statsOf(sim.l1i[i]!), l1d: statsOf(sim.l1d[i]!) })),
    ll: statsOf(sim.ll)
  }
}

const sumResults = (a: Result, b: Result): Result => ({
  ...a,
  cores: a.cores.map((c, i) => {
    const d = b.cores[i]!
    return {
      summary: {
        core: c.summary.core,
        threads: c.summary.threads + d.summary.threads,
        tracedCpus: c.summary.tracedCpus + d.summary.tracedCpus,
        cpus: [...c.summary.cpus, ...d.summary.cpus.filter((x) => !c.summary.cpus.includes(x))]
      },
      l1i: addStats(c.l1i, d.l1i) as CacheStats,
      l1d: addStats(c.l1d, d.l1d) as CacheStats
    }
  }),
  ll: addStats(a.ll, b.ll) as CacheStats
})

/**
 * DynamoRIO's `print_results()` text for a result.
 *
 * @category formatting
 */
export const print = (result: Result, digitSeparator = ""): string => {
  const opts = { cacheStats: true, warmup: result.warmupEnabled, separator: digitSeparator }
  const byCore = result.shardType === "core"
  let out = "Cache simulation results:\n"
  for (const c of result.cores) {
    const header = coreHeader(c.summary, byCore, result.cpuScheduling)
    out += header.text
    if (!header.active) continue
    for (const s of [c.l1i, c.l1d] as ReadonlyArray<DeviceStats>) {
      out += `  ${s.name} (${description(s)}) stats:\n`
      out += printStats("    ", s, opts)
    }
  }
  out += `${result.ll.name} (${description(result.ll)}) stats:\n`
  out += printStats("    ", result.ll, opts)
  return out
}

const build = (options: Options): Tool.Tool<State, Result, Result, SimulatorError> =>
  simulatorTool({
    name: TOOL,
    cpuScheduling: options.cpuScheduling,
    simulation: (byCore, outputCpuids) =>
      new CacheSimulation({ ...options, outputCpuids: options.outputCpuids ?? outputCpuids }, byCore),
    resultOf,
    sum: sumResults,
    print: (result) => print(result, options.digitSeparator),
    schema: Result
  })

/**
 * A cache simulator with the given options (unspecified ones from
 * {@link defaults}; keys set to `undefined` count as unspecified); fails with
 * DynamoRIO's usage error when the geometry is impossible.
 *
 * @category constructors
 */
export const make: (
  options?: Partial<Options>
) => Effect.Effect<Tool.Tool<State, Result, Result, SimulatorError>, SimulatorError> = validating(
  defaults,
  validate,
  build
)

/**
 * The cache simulator with DynamoRIO's defaults.
 *
 * @category constructors
 */
export const tool: Tool.Tool<State, Result, Result, SimulatorError> = build(defaults)
