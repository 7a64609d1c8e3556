/**
 * DynamoRIO's TLB simulator (`-tool TLB`) as a {@link Tool.Tool}: per
 * simulated core an instruction TLB and a data TLB over a private last-level
 * TLB, entries tagged by virtual page and process id, with DynamoRIO's exact
 * counting rules and printed layout.
 *
 * **When to use**: `TlbSimulator.tool` for DynamoRIO's defaults or
 * `TlbSimulator.make(options)`. Like the cache simulator it is serial and
 * prefers core shards; cores are chosen the same way (see `CacheSimulator`).
 *
 * **Details**
 * - Defaults (`defaults`): 4 cores, 4 KiB pages, 32-entry fully associative
 *   L1 ITLB and DTLB, 1024-entry 4-way L2 TLB, LFU replacement.
 * - Instructions go to the ITLB, reads and writes to the DTLB; prefetches,
 *   flushes, non-fetched instructions and markers are ignored.
 * - `skipRefs`, `warmupRefs` and `simRefs` count non-marker records;
 *   `warmupFraction` is not used by the TLB simulator (as in DynamoRIO) and
 *   no "Warmup" lines are printed.
 *
 * **Gotchas**
 * - DynamoRIO remembers the core of the last record's thread even in core
 *   shards, so a thread seen on two outputs back to back stays on the first
 *   one's TLBs; this is reproduced.
 * - Entry counts, associativities and the page size must be below 2^31
 *   (DynamoRIO's `int`): `make` refuses larger ones with DynamoRIO's "failed
 *   to initialize" message before anything is allocated. Each TLB costs 20
 *   bytes per entry, per core, allocated when a shard starts.
 * - BIT_PLRU (randomly seeded in DynamoRIO), `-use_physical` and
 *   `-v2p_file` are not offered.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Tool from "../analyzer/Tool.ts"
import { CacheStats, CoreSummary } from "./CacheSimulator.ts"
import { coreHeader } from "./internal/cache/CoreMap.ts"
import { geometryProblem } from "./internal/cache/Device.ts"
import { addStats, type DeviceStats, printStats, statsOf } from "./internal/cache/report.ts"
import {
  invalidOptions,
  type State as SimState,
  type SimulatorError,
  simulatorTool,
  validating
} from "./internal/cache/simulatorTool.ts"
import { TlbSimulation } from "./internal/cache/TlbSimulation.ts"

/**
 * TLB simulator options (DynamoRIO's option names in camel case).
 *
 * @category models
 */
export interface Options {
  readonly cores: number
  /** `-page_size` in bytes. */
  readonly pageSize: number
  /** `-TLB_L1I_entries`. */
  readonly l1iEntries: number
  readonly l1iAssoc: number
  readonly l1dEntries: number
  readonly l1dAssoc: number
  /** `-TLB_L2_entries`. */
  readonly l2Entries: number
  readonly l2Assoc: number
  /** `-TLB_replace_policy`. */
  readonly replacePolicy: "LRU" | "LFU" | "FIFO"
  readonly skipRefs: number
  readonly warmupRefs: number
  /** Only checked against `warmupRefs` (both set is an error); the TLB simulator ignores it. */
  readonly warmupFraction: number
  readonly simRefs: number
  readonly cpuScheduling: boolean
  /** Cpu id of each output in core-sharded runs (default: the output ordinal). */
  readonly outputCpuids?: ReadonlyArray<number> | undefined
  /** Digit-group separator for printed counts ("" = none). */
  readonly digitSeparator: string
}

/**
 * DynamoRIO's defaults.
 *
 * @category constants
 */
export const defaults: Options = {
  cores: 4,
  pageSize: 4096,
  l1iEntries: 32,
  l1iAssoc: 32,
  l1dEntries: 32,
  l1dAssoc: 32,
  l2Entries: 1024,
  l2Assoc: 4,
  replacePolicy: "LFU",
  skipRefs: 0,
  warmupRefs: 0,
  warmupFraction: 0,
  simRefs: 2 ** 63,
  cpuScheduling: false,
  digitSeparator: ""
}

/** One core's TLBs. @category schemas */
export const CoreResult = Schema.Struct({ summary: CoreSummary, l1i: CacheStats, l1d: CacheStats, ll: CacheStats })

/**
 * The simulation's results (also the shard result).
 *
 * @category schemas
 */
export const Result = Schema.Struct({
  shardType: Schema.Literals(["thread", "core"]),
  cpuScheduling: Schema.Boolean,
  cores: Schema.Array(CoreResult)
})

/** @category models */
export type Result = typeof Result.Type

/** @category models */
export type State = SimState<TlbSimulation>

const TOOL = "TLB"

const invalid = (detail: string) => invalidOptions(TOOL, detail)

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
    if (!Number.isInteger(v) || v < 0) return invalid(`${k} must be a non-negative integer`)
  }
  if (!(o.warmupFraction >= 0 && o.warmupFraction <= 1)) return invalid("warmup fraction must be within [0, 1]")
  if (o.warmupRefs > 0 && o.warmupFraction > 0) return invalid("Either warmup_refs OR warmup_fraction can be set")
  const policyOk = o.replacePolicy === "LRU" || o.replacePolicy === "LFU" || o.replacePolicy === "FIFO"
  const levels = [
    ["itlbs_", o.l1iAssoc, o.l1iEntries, "TLB_L1I"],
    ["dtlbs_", o.l1dAssoc, o.l1dEntries, "TLB_L1D"],
    ["lltlbs_", o.l2Assoc, o.l2Entries, "TLB_L2"]
  ] as const
  // DynamoRIO's sentence says which TLB failed; the part in parentheses says which option and why.
  for (const [name, assoc, entries, option] of levels) {
    const problem = policyOk
      ? geometryProblem(assoc, o.pageSize, entries, { blocks: "the number of entries", blockSize: "the page size" })
      : undefined
    if (!policyOk || problem !== undefined) {
      const why = !policyOk
        ? `TLB_replace_policy '${String(o.replacePolicy)}': LRU, LFU or FIFO`
        : `${option}_entries ${entries}, ${option}_assoc ${assoc} and page_size ${o.pageSize}: ${problem!}`
      return invalid(`failed to initialize ${name}. Ensure (entry number / associativity) is a power of 2. (${why})`)
    }
  }
  return undefined
}

const resultOf = (sim: TlbSimulation, shardType: Tool.ShardType, cpuScheduling: boolean): Result => ({
  shardType,
  cpuScheduling,
  cores: sim.cores.summaries().map((summary, i) => ({
    summary,
    l1i: statsOf(sim.itlb[i]!),
    l1d: statsOf(sim.dtlb[i]!),
    ll: statsOf(sim.lltlb[i]!)
  }))
})

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
      l1d: addStats(c.l1d, d.l1d) as CacheStats,
      ll: addStats(c.ll, d.ll) as CacheStats
    }
  })
})

/**
 * DynamoRIO's `print_results()` text for a result.
 *
 * @category formatting
 */
export const print = (result: Result, digitSeparator = ""): string => {
  const opts = { cacheStats: false, warmup: false, separator: digitSeparator }
  let out = "TLB simulation results:\n"
  for (const c of result.cores) {
    const header = coreHeader(c.summary, result.shardType === "core", result.cpuScheduling)
    out += header.text
    if (!header.active) continue
    const levels: ReadonlyArray<readonly [string, DeviceStats]> = [
      ["L1I", c.l1i],
      ["L1D", c.l1d],
      ["LL", c.ll]
    ]
    for (const [label, s] of levels) out += `  ${label} stats:\n${printStats("    ", s, opts)}`
  }
  return out
}

const build = (options: Options): Tool.Tool<State, Result, Result, SimulatorError> =>
  simulatorTool({
    name: TOOL,
    cpuScheduling: options.cpuScheduling,
    simulation: (byCore, outputCpuids) =>
      new TlbSimulation({ ...options, outputCpuids: options.outputCpuids ?? outputCpuids }, byCore),
    resultOf,
    sum: sumResults,
    print: (result) => print(result, options.digitSeparator),
    schema: Result
  })

/**
 * A TLB simulator with the given options (unspecified ones from
 * {@link defaults}; keys set to `undefined` count as unspecified); fails with
 * DynamoRIO's usage error when a TLB geometry is impossible.
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
 * The TLB simulator with DynamoRIO's defaults.
 *
 * @category constructors
 */
export const tool: Tool.Tool<State, Result, Result, SimulatorError> = build(defaults)
