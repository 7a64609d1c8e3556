/**
 * A device's counters as plain data, and DynamoRIO's `print_stats` text for
 * them (`caching_device_stats_t` for TLBs, `cache_stats_t` for caches).
 */
import { type Device, Stat } from "./Device.ts"
import { formatCount, formatRate, line } from "./format.ts"

/** @internal */
export interface DeviceStats {
  readonly name: string
  readonly sizeBytes: number
  readonly assoc: number
  readonly blockSize: number
  readonly policy: string
  readonly hits: number
  readonly misses: number
  readonly compulsoryMisses: number
  readonly childHits: number
  readonly inclusiveInvalidations: number
  readonly coherenceInvalidations: number
  readonly exclusiveInvalidations: number
  readonly prefetchHits: number
  readonly prefetchMisses: number
  readonly flushes: number
  readonly warmupHits: number
  readonly warmupMisses: number
}

/** @internal */
export const statsOf = (d: Device): DeviceStats => {
  const s = d.stats
  return {
    name: d.name,
    sizeBytes: d.sizeBytes,
    assoc: d.assoc,
    blockSize: d.blockSize,
    policy: d.policyName,
    hits: s[Stat.HITS]!,
    misses: s[Stat.MISSES]!,
    compulsoryMisses: s[Stat.COMPULSORY]!,
    childHits: s[Stat.CHILD_HITS]!,
    inclusiveInvalidations: s[Stat.INCLUSIVE_INVALIDATES]!,
    coherenceInvalidations: s[Stat.COHERENCE_INVALIDATES]!,
    exclusiveInvalidations: s[Stat.EXCLUSIVE_INVALIDATES]!,
    prefetchHits: s[Stat.PREFETCH_HITS]!,
    prefetchMisses: s[Stat.PREFETCH_MISSES]!,
    flushes: s[Stat.FLUSHES]!,
    warmupHits: s[Stat.HITS_AT_RESET]!,
    warmupMisses: s[Stat.MISSES_AT_RESET]!
  }
}

/** Counter-wise sum of two devices' statistics (same geometry). @internal */
export const addStats = (a: DeviceStats, b: DeviceStats): DeviceStats => ({
  ...a,
  hits: a.hits + b.hits,
  misses: a.misses + b.misses,
  compulsoryMisses: a.compulsoryMisses + b.compulsoryMisses,
  childHits: a.childHits + b.childHits,
  inclusiveInvalidations: a.inclusiveInvalidations + b.inclusiveInvalidations,
  coherenceInvalidations: a.coherenceInvalidations + b.coherenceInvalidations,
  exclusiveInvalidations: a.exclusiveInvalidations + b.exclusiveInvalidations,
  prefetchHits: a.prefetchHits + b.prefetchHits,
  prefetchMisses: a.prefetchMisses + b.prefetchMisses,
  flushes: a.flushes + b.flushes,
  warmupHits: a.warmupHits + b.warmupHits,
  warmupMisses: a.warmupMisses + b.warmupMisses
})

/** `get_description()`: `size=32768, assoc=8, block=64, LRU`. @internal */
export const description = (s: DeviceStats): string =>
  `size=${s.sizeBytes}, assoc=${s.assoc}, block=${s.blockSize}, ${s.policy}`

/** @internal */
export interface PrintOptions {
  /** `cache_stats_t` (flush and prefetch lines) rather than plain `caching_device_stats_t`. */
  readonly cacheStats: boolean
  readonly warmup: boolean
  /** Digit-group separator of the printing locale ("" = none, as in the C locale). */
  readonly separator: string
}

/** `print_stats(prefix)`. @internal */
export const printStats = (prefix: string, s: DeviceStats, options: PrintOptions): string => {
  const n = (v: number) => formatCount(v, options.separator)
  let out = ""
  if (options.warmup) {
    out += line(prefix, "Warmup hits:", 18, n(s.warmupHits), 20)
    out += line(prefix, "Warmup misses:", 18, n(s.warmupMisses), 20)
  }
  out += line(prefix, "Hits:", 18, n(s.hits), 20)
  out += line(prefix, "Misses:", 18, n(s.misses), 20)
  out += line(prefix, "Compulsory misses:", 18, n(s.compulsoryMisses), 20)
  out += line(prefix, "Invalidations:", 18, n(s.inclusiveInvalidations + s.exclusiveInvalidations), 20)
  if (options.cacheStats) {
    if (s.flushes !== 0) out += line(prefix, "Flushes:", 18, n(s.flushes), 20)
    if (s.prefetchHits + s.prefetchMisses !== 0) {
      out += line(prefix, "Prefetch hits:", 18, n(s.prefetchHits), 20)
      out += line(prefix, "Prefetch misses:", 18, n(s.prefetchMisses), 20)
    }
  }
  if (s.hits + s.misses > 0) {
    const label = s.childHits !== 0 ? "Local miss rate:" : "Miss rate:"
    out += line(prefix, label, 18, formatRate(s.misses, s.hits + s.misses), 20).replace(/\n$/, "%\n")
  }
  if (s.childHits !== 0) {
    out += line(prefix, "Child hits:", 18, n(s.childHits), 20)
    out += line(prefix, "Total miss rate:", 18, formatRate(s.misses, s.hits + s.childHits + s.misses), 20).replace(
      /\n$/,
      "%\n"
    )
  }
  return out
}
