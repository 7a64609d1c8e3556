/**
 * DynamoRIO's `reuse_time` tool: for every data access to a cache line seen
 * before, the number of data accesses since the previous access to that line,
 * as a histogram per shard and aggregated.
 *
 * **When to use**: a cheap temporal-locality profile of the data side.
 * `reuseTime` uses 64-byte lines; {@link make} takes `lineSize` and `verbose`.
 *
 * **Details**
 * - Time is the shard's data-access counter (reads, writes, prefetches); the
 *   line is `addr >> log2(lineSize)` of the access start (no line splitting).
 *   Instructions only count toward "Total instructions".
 * - The aggregated section sums accesses, instructions and histograms over
 *   shards; per-shard sections follow (most accesses first) when there is more
 *   than one shard.
 * - The histogram lists the 10 shortest reuse times unless `verbose > 0`.
 *
 * **Gotchas**
 * - With no reuse at all the mean is 0/0 and prints `-nan`, as DynamoRIO does
 *   on x86.
 * - Ties in the shard order are broken by shard index (DynamoRIO: `std::sort`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Tool from "../analyzer/Tool.ts"
import { TraceType } from "../trace/Record.ts"
import type { RecordBatch } from "../trace/RecordBatch.ts"
import { fixed, setw } from "./internal/format.ts"
import { type Input, isPowerOfTwo, withDefaults } from "./internal/options.ts"
import { ensureF64, PairTable } from "./internal/PairTable.ts"
import { type SubShardOrigin, SubShards } from "./internal/shards.ts"

/**
 * @category models
 */
export interface Options {
  /** Cache line size in bytes (`-line_size`); a power of two up to 2^31. */
  readonly lineSize: number
  /** DynamoRIO's `-verbose`: above 0 the whole histogram is printed. */
  readonly verbose: number
}

/** DynamoRIO's defaults. @category constants */
export const defaults: Options = { lineSize: 64, verbose: 0 }

/**
 * A sparse histogram: keys ascending, with their counts.
 *
 * @category schemas
 */
export const Histogram = Schema.Struct({ key: Schema.Array(Schema.Number), count: Schema.Array(Schema.Number) })

/** @category models */
export type Histogram = typeof Histogram.Type

/**
 * One DynamoRIO shard's data.
 *
 * @category schemas
 */
export const ShardTimes = Schema.Struct({
  shardIndex: Schema.Number,
  tid: Schema.Number,
  core: Schema.Number,
  /** Data accesses (DynamoRIO's `time_stamp`). */
  accesses: Schema.Number,
  instructions: Schema.Number,
  histogram: Histogram
})

/** @category models */
export type ShardTimes = typeof ShardTimes.Type

/** @category schemas */
export const ShardResult = Schema.Struct({ shards: Schema.Array(ShardTimes) })

/** @category models */
export type ShardResult = typeof ShardResult.Type

/** @category schemas */
export const Result = Schema.Struct({
  shardType: Schema.Literals(["thread", "core"]),
  verbose: Schema.Number,
  aggregate: ShardTimes,
  /** Per-shard sections in print order; empty with a single shard. */
  shards: Schema.Array(ShardTimes)
})

/** @category models */
export type Result = typeof Result.Type

// Reuse times below this go to a dense array; longer ones (rare) to a Map.
const DENSE_LIMIT = 1 << 16

interface SubState {
  readonly origin: SubShardOrigin
  tid: number
  seen: boolean
  readonly lines: PairTable
  lastTime: Float64Array
  timeStamp: number
  instructions: number
  dense: Float64Array
  readonly sparse: Map<number, number>
}

/** @category models */
export interface State {
  readonly subs: SubShards<SubState>
}

const newSub = (origin: SubShardOrigin): SubState => ({
  origin,
  tid: 0,
  seen: false,
  lines: new PairTable(1024),
  lastTime: new Float64Array(1024),
  timeStamp: 0,
  instructions: 0,
  dense: new Float64Array(256),
  sparse: new Map()
})

const processSub = (s: SubState, batch: RecordBatch, start: number, end: number, alignMask: number): void => {
  const { type: types, tid: tids, addrLo, addrHi } = batch
  if (!s.seen && start < end) {
    s.seen = true
    s.tid = tids[start]!
  }
  const lines = s.lines
  for (let i = start; i < end; i++) {
    const t = types[i]!
    if ((t >= TraceType.INSTR && t <= TraceType.INSTR_RETURN) || t === 31 || t === 48 || t === 49) {
      s.instructions++
      continue
    }
    if (!(t <= TraceType.PREFETCH_INSTR || (t >= 32 && t <= 46) || t === TraceType.HARDWARE_PREFETCH)) continue
    const now = ++s.timeStamp
    const id = lines.findOrInsert(addrHi[i]!, (addrLo[i]! & alignMask) >>> 0)
    if (lines.inserted) {
      if (id >= s.lastTime.length) s.lastTime = ensureF64(s.lastTime, id)
    } else {
      const reuse = now - s.lastTime[id]!
      if (reuse < DENSE_LIMIT) {
        if (reuse >= s.dense.length) s.dense = ensureF64(s.dense, reuse)
        s.dense[reuse]!++
      } else {
        s.sparse.set(reuse, (s.sparse.get(reuse) ?? 0) + 1)
      }
    }
    s.lastTime[id] = now
  }
}

const finishSub = (s: SubState): ShardTimes => {
  const key: Array<number> = []
  const count: Array<number> = []
  for (let k = 0; k < s.dense.length; k++) {
    if (s.dense[k]! > 0) {
      key.push(k)
      count.push(s.dense[k]!)
    }
  }
  for (const k of [...s.sparse.keys()].sort((a, b) => a - b)) {
    key.push(k)
    count.push(s.sparse.get(k)!)
  }
  return {
    shardIndex: s.origin.shardIndex,
    tid: s.tid,
    core: s.origin.core,
    accesses: s.timeStamp,
    instructions: s.instructions,
    histogram: { key, count }
  }
}

const merge =
  (options: Options) =>
  (outcomes: ReadonlyArray<Tool.ShardOutcome<ShardResult>>): Result => {
    const shardType = outcomes[0]?.shardType ?? "thread"
    const shards = outcomes.flatMap((o) => o.result.shards)
    const sums = new Map<number, number>()
    let accesses = 0
    let instructions = 0
    for (const s of shards) {
      accesses += s.accesses
      instructions += s.instructions
      s.histogram.key.forEach((k, j) => {
        sums.set(k, (sums.get(k) ?? 0) + s.histogram.count[j]!)
      })
    }
    const keys = [...sums.keys()].sort((a, b) => a - b)
    const aggregate: ShardTimes = {
      shardIndex: -1,
      tid: 0,
      core: 0,
      accesses,
      instructions,
      histogram: { key: keys, count: keys.map((k) => sums.get(k)!) }
    }
    const sorted =
      shards.length > 1 ? [...shards].sort((a, b) => b.accesses - a.accesses || a.shardIndex - b.shardIndex) : []
    return { shardType, verbose: options.verbose, aggregate, shards: sorted }
  }

const printShard = (out: Array<string>, s: ShardTimes, verbose: number): void => {
  out.push(`Total accesses: ${s.accesses}`, `Total instructions: ${s.instructions}`)
  let count = 0
  let sum = 0
  s.histogram.key.forEach((k, j) => {
    count += s.histogram.count[j]!
    sum += k * s.histogram.count[j]!
  })
  out.push(`Mean reuse time: ${fixed(sum / count, 2)}`)
  out.push("Reuse time histogram:")
  out.push(setw("Distance", 8) + setw("Count", 12) + setw("Percent", 9) + setw("Cumulative", 12))
  const maxPrint = verbose > 0 ? 0 : 10
  let cum = 0
  for (let j = 0; j < s.histogram.key.length; j++) {
    if (maxPrint > 0 && j + 1 > maxPrint) {
      out.push("... (increase verbosity to see entire histogram)")
      break
    }
    const percent = s.histogram.count[j]! / count
    cum += percent
    out.push(
      setw(s.histogram.key[j]!, 8) +
        setw(s.histogram.count[j]!, 12) +
        setw(fixed(percent * 100, 2), 8) +
        "%" +
        setw(fixed(cum * 100, 2), 11) +
        "%"
    )
  }
}

const print = (r: Result): string => {
  const out: Array<string> = ["Reuse time tool aggregated results:"]
  printShard(out, r.aggregate, r.verbose)
  for (const s of r.shards) {
    out.push(
      "",
      "==================================================",
      `Reuse time tool results for shard ${s.shardIndex} (${r.shardType === "thread" ? `thread ${s.tid}` : `core ${s.core}`}):`
    )
    printShard(out, s, r.verbose)
  }
  return out.join("\n") + "\n"
}

/**
 * A reuse_time tool with the given options (missing or undefined ones take {@link defaults}).
 * Throws a `RangeError` worded `reuse_time: lineSize …` (the option named as
 * here; the CLI shows `-line_size`) when `lineSize` is not a power of two.
 *
 * @category constructors
 */
export const make = (options?: Input<Options>): Tool.Tool<State, ShardResult, Result> => {
  const o: Options = withDefaults(defaults, options)
  if (!isPowerOfTwo(o.lineSize)) throw new RangeError(`reuse_time: lineSize must be a power of two, got ${o.lineSize}`)
  const alignMask = ~(o.lineSize - 1)
  return Tool.make({
    name: "reuse_time",
    makeShard: (info) => ({ subs: new SubShards(info, newSub) }),
    processBatch: (state, batch, start, end, ctx) => {
      processSub(state.subs.get(ctx), batch, start, end, alignMask)
      return undefined
    },
    finishShard: (state) => ({ shards: state.subs.all().map(finishSub) }),
    merge: merge(o),
    print,
    shardResultSchema: ShardResult,
    resultSchema: Result
  })
}

/**
 * The reuse_time tool with DynamoRIO's defaults.
 *
 * @category tools
 */
export const reuseTime: Tool.Tool<State, ShardResult, Result> = make()
