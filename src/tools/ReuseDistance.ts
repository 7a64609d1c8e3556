/**
 * DynamoRIO's `reuse_distance` tool: for every access to a cache line seen
 * before, the number of distinct lines accessed since the previous access to
 * it (its LRU stack depth), with the statistics, optional histogram and the
 * most referenced lines, per shard and aggregated, printed as
 * `drmemtrace -tool reuse_distance` prints them.
 *
 * **When to use**: to see how far apart reuses of the same lines are (a
 * cache-size-independent locality profile). `reuseDistance` uses DynamoRIO's
 * defaults; {@link make} takes the options of `-reuse_distance_*`.
 *
 * **Details**
 * - Accesses are instructions (`type_is_instr`), reads, writes and prefetches;
 *   the line is the access start address divided by the line size (no line
 *   splitting). A repeat of the most recent line has distance 0; first touches
 *   have no distance. "Unique accesses" are the accesses that were not such
 *   immediate repeats; "Unique cache lines accessed" is the number of lines.
 * - A reference is "distant" when its distance exceeds the threshold
 *   (DynamoRIO's gate pointer, reproduced exactly, also under pruning).
 * - `distanceLimit > 0` keeps at most that many lines: the least recent is
 *   pruned, and a pruned line touched again counts as a "pruned address hit".
 * - Distances come from an order-statistics structure (a Fenwick tree over
 *   access positions), O(log n) per access, instead of DynamoRIO's skip-list
 *   walk; the numbers are the same.
 * - The aggregated section sums shards (unique accesses are summed, lines are
 *   united); per-shard sections follow, most accesses first, when there is more
 *   than one shard.
 *
 * **Gotchas**
 * - With no reuse at all, mean and standard deviation print `-nan` and the
 *   median line is absent, as in DynamoRIO.
 * - `skipListDistance` is accepted for compatibility and has no effect.
 * - Threshold 0 counts at most one distant reference per shard, as DynamoRIO
 *   does: the first reuse of a line other than the most recent one. Its gate
 *   sits on the head until then, and stepping past the head leaves it NULL
 *   for the rest of the shard.
 * - Ties in the shard order are broken by shard index (DynamoRIO: `std::sort`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Tool from "../analyzer/Tool.ts"
import { TraceType } from "../trace/Record.ts"
import type { RecordBatch } from "../trace/RecordBatch.ts"
import { compare64, fixed, setw, showbaseHex } from "./internal/format.ts"
import { LruStack } from "./internal/LruStack.ts"
import { type Input, isPowerOfTwo, withDefaults } from "./internal/options.ts"
import { ensureF64, PairTable } from "./internal/PairTable.ts"
import { type SubShardOrigin, SubShards } from "./internal/shards.ts"

/**
 * DynamoRIO's `reuse_distance_knobs_t`.
 *
 * @category models
 */
export interface Options {
  /** Cache line size in bytes (`-line_size`); a power of two up to 2^31. */
  readonly lineSize: number
  /** `-reuse_distance_histogram`: print every distance bin. */
  readonly reportHistogram: boolean
  /** `-reuse_distance_threshold`: references farther than this are "distant" (0: see the gotchas). */
  readonly distanceThreshold: number
  /** `-report_top`: lines listed in each top list. */
  readonly reportTop: number
  /** `-reuse_skip_dist`: DynamoRIO's skip-list spacing; no effect here. */
  readonly skipListDistance: number
  /** `-reuse_distance_limit`: keep at most this many lines (0 = unlimited). */
  readonly distanceLimit: number
  /** `-reuse_histogram_bin_multiplier`: ≥ 1; above 1 bins grow geometrically. */
  readonly histogramBinMultiplier: number
}

/** DynamoRIO's defaults. @category constants */
export const defaults: Options = {
  lineSize: 64,
  reportHistogram: false,
  distanceThreshold: 100,
  reportTop: 10,
  skipListDistance: 500,
  distanceLimit: 0,
  histogramBinMultiplier: 1
}

/**
 * A sparse histogram: distances ascending, with their counts.
 *
 * @category schemas
 */
export const Histogram = Schema.Struct({ key: Schema.Array(Schema.Number), count: Schema.Array(Schema.Number) })

/** @category models */
export type Histogram = typeof Histogram.Type

/**
 * Lines (aligned addresses as u64 hi/lo halves) with their reference counts.
 *
 * @category schemas
 */
export const Lines = Schema.Struct({
  hi: Schema.Array(Schema.Number),
  lo: Schema.Array(Schema.Number),
  refs: Schema.Array(Schema.Number),
  distantRefs: Schema.Array(Schema.Number)
})

/** @category models */
export type Lines = typeof Lines.Type

/**
 * One DynamoRIO shard's data (`shard_data_t`).
 *
 * @category schemas
 */
export const ShardDistances = Schema.Struct({
  shardIndex: Schema.Number,
  tid: Schema.Number,
  core: Schema.Number,
  totalRefs: Schema.Number,
  dataRefs: Schema.Number,
  /** DynamoRIO's `cur_time_`: accesses that were not repeats of the most recent line. */
  uniqueAccesses: Schema.Number,
  prunedAddressCount: Schema.Number,
  prunedAddressHits: Schema.Number,
  /** Distances of instruction references. */
  instrHistogram: Histogram,
  /** Distances of data references. */
  dataHistogram: Histogram,
  /** Every line still tracked. */
  lines: Lines,
  /** Lines pruned and not touched since (u64 hi/lo halves). */
  prunedHi: Schema.Array(Schema.Number),
  prunedLo: Schema.Array(Schema.Number)
})

/** @category models */
export type ShardDistances = typeof ShardDistances.Type

/** @category schemas */
export const ShardResult = Schema.Struct({ shards: Schema.Array(ShardDistances) })

/** @category models */
export type ShardResult = typeof ShardResult.Type

/**
 * One printed section.
 *
 * @category schemas
 */
export const Report = Schema.Struct({
  shardIndex: Schema.Number,
  tid: Schema.Number,
  core: Schema.Number,
  totalRefs: Schema.Number,
  dataRefs: Schema.Number,
  uniqueAccesses: Schema.Number,
  uniqueLines: Schema.Number,
  prunedAddressCount: Schema.Number,
  prunedAddressHits: Schema.Number,
  /** Distances of all references. */
  histogram: Histogram,
  dataHistogram: Histogram,
  topByRefs: Lines,
  topByDistantRefs: Lines
})

/** @category models */
export type Report = typeof Report.Type

/** @category schemas */
export const Result = Schema.Struct({
  shardType: Schema.Literals(["thread", "core"]),
  lineSize: Schema.Number,
  reportHistogram: Schema.Boolean,
  distanceThreshold: Schema.Number,
  reportTop: Schema.Number,
  distanceLimit: Schema.Number,
  histogramBinMultiplier: Schema.Number,
  aggregate: Report,
  /** Per-shard sections in print order; empty with a single shard. */
  shards: Schema.Array(Report)
})

/** @category models */
export type Result = typeof Result.Type

interface SubState {
  readonly origin: SubShardOrigin
  tid: number
  seen: boolean
  readonly lines: PairTable
  readonly stack: LruStack
  refs: Float64Array
  distantRefs: Float64Array
  instrHist: Float64Array
  dataHist: Float64Array
  totalRefs: number
  dataRefs: number
  uniqueAccesses: number
  /** Lines ever added (DynamoRIO's `unique_lines_`, never decremented). */
  addedLines: number
  /** Depth of DynamoRIO's gate (the oldest line within the threshold), or {@link NO_GATE}. */
  gateDepth: number
  /** The most recent line (always the stack's head): repeats of it skip the hash and the tree. */
  headId: number
  headHi: number
  headLo: number
  readonly pruned: PairTable
  prunedAddressCount: number
  prunedAddressHits: number
}

/** @category models */
export interface State {
  readonly subs: SubShards<SubState>
}

/**
 * DynamoRIO's NULL gate, as a depth no line reaches, so that `dist > gateDepth`
 * is false and nothing is distant. The gate is NULL before the first line, and
 * at threshold 0 from the first reuse of a line other than the head until the
 * end of the shard (see `processSub`). A small integer, so the field's
 * representation does not change.
 */
const NO_GATE = 0x3fffffff

const newSub = (origin: SubShardOrigin): SubState => ({
  origin,
  tid: 0,
  seen: false,
  lines: new PairTable(1024),
  stack: new LruStack(4096),
  refs: new Float64Array(1024),
  distantRefs: new Float64Array(1024),
  instrHist: new Float64Array(1024),
  dataHist: new Float64Array(256),
  totalRefs: 0,
  dataRefs: 0,
  uniqueAccesses: 0,
  addedLines: 0,
  gateDepth: NO_GATE,
  headId: -1,
  headHi: 0,
  headLo: 0,
  pruned: new PairTable(16),
  prunedAddressCount: 0,
  prunedAddressHits: 0
})

const processSub = (
  s: SubState,
  batch: RecordBatch,
  start: number,
  end: number,
  alignMask: number,
  threshold: number,
  distanceLimit: number
): void => {
  const { type: types, tid: tids, addrLo, addrHi } = batch
  if (!s.seen && start < end) {
    s.seen = true
    s.tid = tids[start]!
  }
  const lines = s.lines
  const stack = s.stack
  for (let i = start; i < end; i++) {
    const t = types[i]!
    const isInstr = (t >= TraceType.INSTR && t <= TraceType.INSTR_RETURN) || t === 31 || t === 48 || t === 49
    if (!isInstr && !(t <= TraceType.PREFETCH_INSTR || (t >= 32 && t <= 46) || t === TraceType.HARDWARE_PREFETCH)) {
      continue
    }
    s.totalRefs++
    if (!isInstr) s.dataRefs++
    const hi = addrHi[i]!
    const lo = (addrLo[i]! & alignMask) >>> 0
    if (lo === s.headLo && hi === s.headHi && s.headId >= 0) {
      // A repeat of the most recent line: distance 0 (pruning only ever removes the tail).
      s.refs[s.headId]!++
      if (isInstr) s.instrHist[0]!++
      else s.dataHist[0]!++
      continue
    }
    const id = lines.findOrInsert(hi, lo)
    s.headId = id
    s.headHi = hi
    s.headLo = lo
    if (lines.inserted) {
      if (id >= s.refs.length) {
        s.refs = ensureF64(s.refs, id)
        s.distantRefs = ensureF64(s.distantRefs, id)
      }
      s.refs[id] = 1
      s.distantRefs[id] = 0
      stack.pushFront(id)
      // DynamoRIO's add_to_front: a NULL gate takes the new head; otherwise the gate keeps
      // its line, which is now one deeper. Then, once more lines than the threshold were
      // seen, the gate steps towards the front: from the head, onto NULL (the head's prev).
      const gate = s.gateDepth === NO_GATE ? 0 : s.gateDepth + 1
      s.gateDepth = s.addedLines <= threshold ? gate : gate === 0 ? NO_GATE : gate - 1
      s.addedLines++
      s.uniqueAccesses++
      if (s.pruned.size > 0 && s.pruned.remove(hi, lo) >= 0) s.prunedAddressHits++
      if (distanceLimit > 0 && distanceLimit < lines.size) {
        // The tail is at depth live - 1; if it is the gate, the gate moves up.
        if (s.gateDepth === stack.live - 1) s.gateDepth--
        const tail = stack.removeTail()
        const tailHi = lines.keyHi[tail]!
        const tailLo = lines.keyLo[tail]!
        lines.remove(tailHi, tailLo)
        s.pruned.findOrInsert(tailHi, tailLo)
        s.prunedAddressCount++
      }
    } else {
      s.refs[id]!++
      const dist = stack.depth(id)
      if (dist !== 0) {
        // Older than the gate (deeper than it) means distant, and the gate steps to the line
        // in front of it, which the move pushes back to the gate's depth. A gate on the head
        // (threshold 0) steps onto NULL instead; nothing brings it back (add_to_front puts
        // a NULL gate on the new head and at once on its prev, NULL), so nothing later in
        // this shard is distant. A reuse of the gate line itself leaves the depth as is.
        if (dist > s.gateDepth) {
          s.distantRefs[id]!++
          if (s.gateDepth === 0) s.gateDepth = NO_GATE
        }
        stack.moveToFront(id)
        s.uniqueAccesses++
      }
      if (isInstr) {
        if (dist >= s.instrHist.length) s.instrHist = ensureF64(s.instrHist, dist)
        s.instrHist[dist]!++
      } else {
        if (dist >= s.dataHist.length) s.dataHist = ensureF64(s.dataHist, dist)
        s.dataHist[dist]!++
      }
    }
  }
}

const denseToHistogram = (dense: Float64Array): Histogram => {
  const key: Array<number> = []
  const count: Array<number> = []
  for (let k = 0; k < dense.length; k++) {
    if (dense[k]! > 0) {
      key.push(k)
      count.push(dense[k]!)
    }
  }
  return { key, count }
}

const finishSub = (s: SubState): ShardDistances => {
  const lines: { hi: Array<number>; lo: Array<number>; refs: Array<number>; distantRefs: Array<number> } = {
    hi: [],
    lo: [],
    refs: [],
    distantRefs: []
  }
  s.lines.forEach((id) => {
    lines.hi.push(s.lines.keyHi[id]!)
    lines.lo.push(s.lines.keyLo[id]!)
    lines.refs.push(s.refs[id]!)
    lines.distantRefs.push(s.distantRefs[id]!)
  })
  const prunedHi: Array<number> = []
  const prunedLo: Array<number> = []
  s.pruned.forEach((id) => {
    prunedHi.push(s.pruned.keyHi[id]!)
    prunedLo.push(s.pruned.keyLo[id]!)
  })
  return {
    shardIndex: s.origin.shardIndex,
    tid: s.tid,
    core: s.origin.core,
    totalRefs: s.totalRefs,
    dataRefs: s.dataRefs,
    uniqueAccesses: s.uniqueAccesses,
    prunedAddressCount: s.prunedAddressCount,
    prunedAddressHits: s.prunedAddressHits,
    instrHistogram: denseToHistogram(s.instrHist),
    dataHistogram: denseToHistogram(s.dataHist),
    lines,
    prunedHi,
    prunedLo
  }
}

const addInto = (into: Map<number, number>, h: Histogram): void =>
  h.key.forEach((k, j) => {
    into.set(k, (into.get(k) ?? 0) + h.count[j]!)
  })

const toHistogram = (m: Map<number, number>): Histogram => {
  const key = [...m.keys()].sort((a, b) => a - b)
  return { key, count: key.map((k) => m.get(k)!) }
}

/** DynamoRIO's two top-list orders; both end on the line address, so they are total. */
const topLines = (lines: Lines, n: number, byDistant: boolean): Lines => {
  const idx = lines.hi.map((_, k) => k)
  const { hi, lo, refs, distantRefs } = lines
  idx.sort((a, b) => {
    const primary = byDistant ? distantRefs[b]! - distantRefs[a]! : refs[b]! - refs[a]!
    if (primary !== 0) return primary
    const secondary = byDistant ? refs[b]! - refs[a]! : distantRefs[b]! - distantRefs[a]!
    if (secondary !== 0) return secondary
    return compare64(hi[a]!, lo[a]!, hi[b]!, lo[b]!)
  })
  const chosen = idx.slice(0, n)
  return {
    hi: chosen.map((k) => hi[k]!),
    lo: chosen.map((k) => lo[k]!),
    refs: chosen.map((k) => refs[k]!),
    distantRefs: chosen.map((k) => distantRefs[k]!)
  }
}

const shardReport = (s: ShardDistances, reportTop: number): Report => {
  const all = new Map<number, number>()
  addInto(all, s.instrHistogram)
  addInto(all, s.dataHistogram)
  return {
    shardIndex: s.shardIndex,
    tid: s.tid,
    core: s.core,
    totalRefs: s.totalRefs,
    dataRefs: s.dataRefs,
    uniqueAccesses: s.uniqueAccesses,
    uniqueLines: s.lines.hi.length + s.prunedHi.length,
    prunedAddressCount: s.prunedAddressCount,
    prunedAddressHits: s.prunedAddressHits,
    histogram: toHistogram(all),
    dataHistogram: s.dataHistogram,
    topByRefs: topLines(s.lines, reportTop, false),
    topByDistantRefs: topLines(s.lines, reportTop, true)
  }
}

const merge =
  (options: Options) =>
  (outcomes: ReadonlyArray<Tool.ShardOutcome<ShardResult>>): Result => {
    const shardType = outcomes[0]?.shardType ?? "thread"
    const shards = outcomes.flatMap((o) => o.result.shards)
    const all = new Map<number, number>()
    const data = new Map<number, number>()
    const lineTable = new PairTable(4096)
    let refs = new Float64Array(4096)
    let distant = new Float64Array(4096)
    const pruned = new PairTable(16)
    let totalRefs = 0
    let dataRefs = 0
    let uniqueAccesses = 0
    let prunedAddressCount = 0
    let prunedAddressHits = 0
    for (const s of shards) {
      totalRefs += s.totalRefs
      dataRefs += s.dataRefs
      uniqueAccesses += s.uniqueAccesses
      prunedAddressCount += s.prunedAddressCount
      prunedAddressHits += s.prunedAddressHits
      for (let k = 0; k < s.prunedHi.length; k++) pruned.findOrInsert(s.prunedHi[k]!, s.prunedLo[k]!)
      addInto(all, s.instrHistogram)
      addInto(all, s.dataHistogram)
      addInto(data, s.dataHistogram)
      const l = s.lines
      for (let k = 0; k < l.hi.length; k++) {
        const id = lineTable.findOrInsert(l.hi[k]!, l.lo[k]!)
        if (id >= refs.length) {
          refs = ensureF64(refs, id)
          distant = ensureF64(distant, id)
        }
        refs[id]! += l.refs[k]!
        distant[id]! += l.distantRefs[k]!
      }
    }
    const merged: { hi: Array<number>; lo: Array<number>; refs: Array<number>; distantRefs: Array<number> } = {
      hi: [],
      lo: [],
      refs: [],
      distantRefs: []
    }
    lineTable.forEach((id) => {
      merged.hi.push(lineTable.keyHi[id]!)
      merged.lo.push(lineTable.keyLo[id]!)
      merged.refs.push(refs[id]!)
      merged.distantRefs.push(distant[id]!)
    })
    const aggregate: Report = {
      shardIndex: -1,
      tid: 0,
      core: 0,
      totalRefs,
      dataRefs,
      uniqueAccesses,
      // DynamoRIO adds the sizes of the united line map and the united pruned set.
      uniqueLines: lineTable.size + pruned.size,
      prunedAddressCount,
      prunedAddressHits,
      histogram: toHistogram(all),
      dataHistogram: toHistogram(data),
      topByRefs: topLines(merged, options.reportTop, false),
      topByDistantRefs: topLines(merged, options.reportTop, true)
    }
    const perShard =
      shards.length > 1
        ? shards
            .map((s) => shardReport(s, options.reportTop))
            .sort((a, b) => b.totalRefs - a.totalRefs || a.shardIndex - b.shardIndex)
        : []
    return {
      shardType,
      lineSize: options.lineSize,
      reportHistogram: options.reportHistogram,
      distanceThreshold: options.distanceThreshold,
      reportTop: options.reportTop,
      distanceLimit: options.distanceLimit,
      histogramBinMultiplier: options.histogramBinMultiplier,
      aggregate,
      shards: perShard
    }
  }

const printHistogram = (out: Array<string>, r: Result, totalCount: number, rep: Report): void => {
  const multiplier = r.histogramBinMultiplier
  const showRange = multiplier > 1
  out.push(`Reuse distance histogram bin multiplier: ${fixed(multiplier, 2)}`)
  out.push("Reuse distance histogram:")
  const header = "                      All References       :            Data References"
  const columns = setw("Count", 12) + "  Percent  Cumulative" + "  :       Count  Percent  Cumulative"
  if (showRange) {
    out.push("           " + header)
    out.push("Distance [min-max] " + columns)
  } else {
    out.push(header)
    out.push("Distance" + columns)
  }
  const data = new Map<number, number>()
  rep.dataHistogram.key.forEach((k, j) => {
    data.set(k, rep.dataHistogram.count[j]!)
  })
  const keys = rep.histogram.key
  const counts = rep.histogram.count
  const maxDistance = keys.length === 0 ? 0 : keys[keys.length - 1]!
  let cum = 0
  let dataCum = 0
  let binCount = 0
  let dataBinCount = 0
  let binSizeFloat = 1
  let binStart = 0
  let binNextStart = binStart + 1
  for (let j = 0; j < keys.length; j++) {
    const bin = keys[j]!
    const count = counts[j]!
    const dataCount = data.get(bin) ?? 0
    let lastBin = j === keys.length - 1
    while (bin >= binNextStart || lastBin) {
      if (lastBin && bin < binNextStart) {
        binCount += count
        dataBinCount += dataCount
        lastBin = false
      }
      const percent = totalCount > 0 ? binCount / totalCount : 0
      const dataPercent = totalCount > 0 ? dataBinCount / totalCount : 0
      cum += percent
      dataCum += dataPercent
      if (binCount > 0) {
        let row = setw(binStart, 8)
        if (showRange) row += " - " + setw(Math.min(maxDistance, binNextStart - 1), 8)
        row +=
          setw(binCount, 12) +
          setw(fixed(percent * 100, 2), 8) +
          "%" +
          setw(fixed(cum * 100, 2), 8) +
          "%" +
          "     : " +
          setw(dataBinCount, 11) +
          setw(fixed(dataPercent * 100, 2), 8) +
          "%" +
          setw(fixed(dataCum * 100, 2), 8) +
          "%"
        out.push(row)
      }
      binCount = 0
      dataBinCount = 0
      binStart = binNextStart
      binSizeFloat *= multiplier
      // floor() favours smaller bins, as DynamoRIO does.
      binNextStart = binStart + Math.floor(binSizeFloat)
    }
    binCount += count
    dataBinCount += dataCount
  }
}

const printTop = (out: Array<string>, title: string, lines: Lines): void => {
  out.push(title)
  out.push(setw("cache line", 18) + ": " + setw("#references  ", 17) + setw("#distant refs", 14))
  for (let k = 0; k < lines.hi.length; k++) {
    out.push(
      setw(showbaseHex(lines.hi[k]!, lines.lo[k]!), 18) +
        ": " +
        setw(lines.refs[k]!, 12) +
        ", " +
        setw(lines.distantRefs[k]!, 12)
    )
  }
}

const printReport = (out: Array<string>, r: Result, rep: Report): void => {
  out.push(`Total accesses: ${rep.totalRefs}`)
  if (rep.totalRefs === 0) return
  out.push(
    `Instruction accesses: ${rep.totalRefs - rep.dataRefs}`,
    `Data accesses: ${rep.dataRefs}`,
    `Unique accesses: ${rep.uniqueAccesses}`,
    `Unique cache lines accessed: ${rep.uniqueLines}`,
    `Distance limit: ${r.distanceLimit}`,
    `Pruned addresses: ${rep.prunedAddressCount}`,
    `Pruned address hits: ${rep.prunedAddressHits}`,
    ""
  )
  const keys = rep.histogram.key
  const counts = rep.histogram.count
  let sum = 0
  let count = 0
  for (let j = 0; j < keys.length; j++) {
    sum += keys[j]! * counts[j]!
    count += counts[j]!
  }
  const mean = sum / count
  out.push(`Reuse distance mean: ${fixed(mean, 2)}`)
  let sumOfSquares = 0
  let recount = 0
  let haveMedian = false
  const half = Math.trunc(count / 2)
  for (let j = 0; j < keys.length; j++) {
    const diff = keys[j]! - mean
    sumOfSquares += diff * diff * counts[j]!
    if (!haveMedian) {
      recount += counts[j]!
      if (recount >= half) {
        out.push(`Reuse distance median: ${keys[j]}`)
        haveMedian = true
      }
    }
  }
  out.push(`Reuse distance standard deviation: ${fixed(Math.sqrt(sumOfSquares / count), 2)}`)
  if (r.reportHistogram) printHistogram(out, r, count, rep)
  else out.push("(Pass -reuse_distance_histogram to see all the data.)")
  out.push("", `Reuse distance threshold = ${r.distanceThreshold} cache lines`)
  printTop(out, `Top ${r.reportTop} frequently referenced cache lines`, rep.topByRefs)
  printTop(out, `Top ${r.reportTop} distant repeatedly referenced cache lines`, rep.topByDistantRefs)
}

const print = (r: Result): string => {
  const out: Array<string> = ["Reuse distance tool aggregated results:"]
  printReport(out, r, r.aggregate)
  for (const s of r.shards) {
    out.push(
      "",
      "==================================================",
      `Reuse distance tool results for shard ${s.shardIndex} (${r.shardType === "thread" ? `thread ${s.tid}` : `core ${s.core}`}):`
    )
    printReport(out, r, s)
  }
  return out.join("\n") + "\n"
}

/**
 * A reuse_distance tool with the given options (missing or undefined ones take {@link defaults}).
 *
 * @category constructors
 */
export const make = (options?: Input<Options>): Tool.Tool<State, ShardResult, Result> => {
  const o: Options = withDefaults(defaults, options)
  if (!isPowerOfTwo(o.lineSize)) {
    throw new RangeError(`reuse_distance: lineSize must be a power of two, got ${o.lineSize}`)
  }
  if (!(o.histogramBinMultiplier >= 1 && Number.isFinite(o.histogramBinMultiplier))) {
    throw new RangeError(
      `reuse_distance: histogramBinMultiplier must be a finite number of at least 1, got ${o.histogramBinMultiplier}`
    )
  }
  for (const [key, v] of [
    ["distanceThreshold", o.distanceThreshold],
    ["distanceLimit", o.distanceLimit],
    ["skipListDistance", o.skipListDistance],
    ["reportTop", o.reportTop]
  ] as const) {
    if (!(Number.isSafeInteger(v) && v >= 0)) {
      throw new RangeError(`reuse_distance: ${key} must be a non-negative integer, got ${v}`)
    }
  }
  const alignMask = ~(o.lineSize - 1)
  return Tool.make({
    name: "reuse_distance",
    makeShard: (info) => ({ subs: new SubShards(info, newSub) }),
    processBatch: (state, batch, start, end, ctx) => {
      processSub(state.subs.get(ctx), batch, start, end, alignMask, o.distanceThreshold, o.distanceLimit)
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
 * The reuse_distance tool with DynamoRIO's defaults.
 *
 * @category tools
 */
export const reuseDistance: Tool.Tool<State, ShardResult, Result> = make()
