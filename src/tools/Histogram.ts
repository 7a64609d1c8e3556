/**
 * DynamoRIO's `histogram` tool (`-tool histogram`): how many times each cache
 * line was touched, split into instruction and data sides, with the number of
 * unique lines and the most-touched lines of each side.
 *
 * **When to use**: a quick footprint of a trace (how many distinct lines the
 * code and the data touch, which are hottest). `histogram` is the tool with
 * DynamoRIO's defaults; {@link make} takes `lineSize` and `reportTop`.
 *
 * **Details**
 * - Instruction side: `type_is_instr` records and `PREFETCH_INSTR`; data side:
 *   reads, writes and every other prefetch. Non-fetched instructions, markers
 *   and flushes are ignored.
 * - Every line overlapped by `[addr, addr + size)` counts once per record, so
 *   a zero-sized record counts nothing and a record crossing a line boundary
 *   counts both lines.
 * - Shards are summed per line; unique counts are of the union.
 *
 * **Gotchas**
 * - Among lines with equal counts, DynamoRIO's top list order (and, at the
 *   cut-off, membership) depends on `std::unordered_map` iteration; here ties
 *   go to the lower address.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Tool from "../analyzer/Tool.ts"
import { TraceType } from "../trace/Record.ts"
import type { RecordBatch } from "../trace/RecordBatch.ts"
import { compare64, setw, showbaseHex } from "./internal/format.ts"
import { type Input, isPowerOfTwo, withDefaults } from "./internal/options.ts"
import { ensureF64, PairTable } from "./internal/PairTable.ts"

/**
 * @category models
 */
export interface Options {
  /** Cache line size in bytes (`-line_size`); a power of two up to 2^31. */
  readonly lineSize: number
  /** Lines listed per side (`-report_top`). */
  readonly reportTop: number
}

/** DynamoRIO's defaults. @category constants */
export const defaults: Options = { lineSize: 64, reportTop: 10 }

/**
 * Line counts: line addresses (u64 as hi/lo halves) and their counts.
 *
 * @category schemas
 */
export const LineCounts = Schema.Struct({
  hi: Schema.Array(Schema.Number),
  lo: Schema.Array(Schema.Number),
  count: Schema.Array(Schema.Number)
})

/** @category models */
export type LineCounts = typeof LineCounts.Type

/** @category schemas */
export const ShardResult = Schema.Struct({ icache: LineCounts, dcache: LineCounts })

/** @category models */
export type ShardResult = typeof ShardResult.Type

/** @category schemas */
export const Result = Schema.Struct({
  reportTop: Schema.Number,
  icacheUnique: Schema.Number,
  dcacheUnique: Schema.Number,
  /** The top lines, most touched first. */
  icacheTop: LineCounts,
  dcacheTop: LineCounts
})

/** @category models */
export type Result = typeof Result.Type

class Side {
  readonly table = new PairTable(1024)
  counts = new Float64Array(1024)

  bump(hi: number, lo: number): void {
    const id = this.table.findOrInsert(hi, lo)
    if (id >= this.counts.length) this.counts = ensureF64(this.counts, id)
    this.counts[id]!++
  }

  add(hi: number, lo: number, n: number): void {
    const id = this.table.findOrInsert(hi, lo)
    if (id >= this.counts.length) this.counts = ensureF64(this.counts, id)
    this.counts[id]! += n
  }

  toLineCounts(): LineCounts {
    const hi: Array<number> = []
    const lo: Array<number> = []
    const count: Array<number> = []
    this.table.forEach((id) => {
      hi.push(this.table.keyHi[id]!)
      lo.push(this.table.keyLo[id]!)
      count.push(this.counts[id]!)
    })
    return { hi, lo, count }
  }
}

/** @category models */
export interface State {
  readonly icache: Side
  readonly dcache: Side
}

const TWO_32 = 4294967296

const processBatch = (options: Options) => {
  const line = options.lineSize
  const alignMask = ~(line - 1)
  return (state: State, batch: RecordBatch, start: number, end: number): undefined => {
    const { type: types, size: sizes, addrLo, addrHi } = batch
    for (let i = start; i < end; i++) {
      const t = types[i]!
      let side: Side
      if ((t >= TraceType.INSTR && t <= TraceType.INSTR_RETURN) || t === 31 || t === 48 || t === 49 || t === 9) {
        side = state.icache
      } else if (t <= TraceType.PREFETCH_WRITE || (t >= 32 && t <= 46) || t === TraceType.HARDWARE_PREFETCH) {
        side = state.dcache
      } else {
        continue
      }
      const hi = addrHi[i]!
      const lo = addrLo[i]!
      // The lines overlapped by [addr, addr + size), with DynamoRIO's u64 wrap-around rules.
      const endSum = lo + sizes[i]!
      const endHi = endSum >= TWO_32 ? (hi + 1) >>> 0 : hi
      const endLo = endSum >= TWO_32 ? endSum - TWO_32 : endSum
      let cHi = hi
      let cLo = (lo & alignMask) >>> 0
      while (cHi < endHi || (cHi === endHi && cLo < endLo)) {
        if (cHi === 0xffffffff && cLo + line > 0xffffffff) {
          // The last line of the address space: DynamoRIO's overflow guard stops before it.
          break
        }
        side.bump(cHi, cLo)
        cLo += line
        if (cLo >= TWO_32) {
          cLo -= TWO_32
          cHi++
        }
      }
    }
    return undefined
  }
}

const top = (side: Side, n: number): LineCounts => {
  const ids: Array<number> = []
  side.table.forEach((id) => {
    ids.push(id)
  })
  const { keyHi, keyLo } = side.table
  const counts = side.counts
  ids.sort((a, b) => counts[b]! - counts[a]! || compare64(keyHi[a]!, keyLo[a]!, keyHi[b]!, keyLo[b]!))
  const chosen = ids.slice(0, n)
  return {
    hi: chosen.map((id) => keyHi[id]!),
    lo: chosen.map((id) => keyLo[id]!),
    count: chosen.map((id) => counts[id]!)
  }
}

const merge =
  (options: Options) =>
  (outcomes: ReadonlyArray<Tool.ShardOutcome<ShardResult>>): Result => {
    const icache = new Side()
    const dcache = new Side()
    for (const { result } of outcomes) {
      const { icache: i, dcache: d } = result
      for (let k = 0; k < i.hi.length; k++) icache.add(i.hi[k]!, i.lo[k]!, i.count[k]!)
      for (let k = 0; k < d.hi.length; k++) dcache.add(d.hi[k]!, d.lo[k]!, d.count[k]!)
    }
    return {
      reportTop: options.reportTop,
      icacheUnique: icache.table.size,
      dcacheUnique: dcache.table.size,
      icacheTop: top(icache, options.reportTop),
      dcacheTop: top(dcache, options.reportTop)
    }
  }

const printTop = (out: Array<string>, lines: LineCounts): void => {
  for (let k = 0; k < lines.hi.length; k++) {
    if (lines.count[k] === 0) break
    out.push(setw(showbaseHex(lines.hi[k]!, lines.lo[k]!), 18) + ": " + lines.count[k])
  }
}

const print = (r: Result): string => {
  const out = [
    "Cache line histogram tool results:",
    `icache: ${r.icacheUnique} unique cache lines`,
    `dcache: ${r.dcacheUnique} unique cache lines`,
    `icache top ${r.reportTop}`
  ]
  printTop(out, r.icacheTop)
  out.push(`dcache top ${r.reportTop}`)
  printTop(out, r.dcacheTop)
  return out.join("\n") + "\n"
}

/**
 * A histogram tool with the given options (missing or undefined ones take {@link defaults}).
 * Throws a `RangeError` worded `histogram: lineSize …` (the option named as
 * here; the CLI shows `-line_size`) when `lineSize` is not a power of two.
 *
 * @category constructors
 */
export const make = (options?: Input<Options>): Tool.Tool<State, ShardResult, Result> => {
  const o: Options = withDefaults(defaults, options)
  if (!isPowerOfTwo(o.lineSize)) throw new RangeError(`histogram: lineSize must be a power of two, got ${o.lineSize}`)
  if (!(Number.isSafeInteger(o.reportTop) && o.reportTop >= 0)) {
    throw new RangeError(`histogram: reportTop must be a non-negative integer, got ${o.reportTop}`)
  }
  const process = processBatch(o)
  return Tool.make({
    name: "histogram",
    makeShard: () => ({ icache: new Side(), dcache: new Side() }),
    processBatch: (state, batch, start, end) => process(state, batch, start, end),
    finishShard: (state) => ({ icache: state.icache.toLineCounts(), dcache: state.dcache.toLineCounts() }),
    merge: merge(o),
    print,
    shardResultSchema: ShardResult,
    resultSchema: Result
  })
}

/**
 * The histogram tool with DynamoRIO's defaults (64-byte lines, top 10).
 *
 * @category tools
 */
export const histogram: Tool.Tool<State, ShardResult, Result> = make()
