/**
 * Per-record helpers of the hot path: finding plain runs (records with
 * nothing to decide: `scanPlain` reads them, `skipPlain` and `plainEnd`
 * answer from the decoder's marker index, RecordBatch), address
 * canonicalization and the marker rewrites of dynamic scheduling
 * (DynamoRIO's `record_type_canonicalize_addresses` and
 * `update_next_record`). Plain functions over a batch's typed arrays; no
 * allocation.
 */
import { MarkerType } from "../../trace/Record.ts"
import * as RecordBatch from "../../trace/RecordBatch.ts"
import {
  addressMarker,
  CLASS_DATA,
  CLASS_FLUSH,
  CLASS_INDIRECT,
  CLASS_INSTR,
  CLASS_MARKER,
  INSTRS_PER_US,
  type OutputState,
  recordClass,
  TWO32
} from "./state.ts"

const WORKLOAD_FACTOR = 2 ** 48

/** Canonicalizes the x86-64 addresses of record `i` in place; returns how many fields changed. */
export const canonicalize = (batch: RecordBatch.RecordBatch, i: number): number => {
  const c = recordClass[batch.type[i]!]!
  let n = 0
  if ((c & (CLASS_INSTR | CLASS_DATA | CLASS_FLUSH)) !== 0) {
    n += canonHi(batch.addrHi, i)
    if ((c & CLASS_INSTR) === 0 || ((c & CLASS_INDIRECT) !== 0 && (batch.auxLo[i] !== 0 || batch.auxHi[i] !== 0)))
      n += canonHi(batch.auxHi, i)
  } else if ((c & CLASS_MARKER) !== 0 && addressMarker[batch.size[i]!] === 1) {
    n += canonHi(batch.addrHi, i)
  }
  return n
}

/** What the last `scanPlain` counted (module scratch: no allocation per call). */
export const scanned = { instrs: 0, synthetic: 0 }

// Module-local copies: an imported binding costs a lookup per access in the
// loop below (≈ 2 ns a record measured, docs/benchmarks.md section 11).
const L_CLASS = recordClass
const L_MARKER = CLASS_MARKER
const L_INSTR = CLASS_INSTR
const L_SYNTHETIC = RecordBatch.FLAG_SYNTHETIC

/**
 * Scans plain records from `from` (before `stop`): stops at a marker, at an
 * instruction once `budget` instructions were counted, or, with `canon`, at
 * a record with a non-canonical address (which the caller canonicalizes).
 * Returns where it stopped; `scanned` has the instructions and synthetic
 * records before it. Small on purpose: the per-record hot loop of runs.
 */
export const scanPlain = (
  types: Uint8Array,
  flags: Uint8Array,
  addrHi: Uint32Array,
  auxHi: Uint32Array,
  from: number,
  stop: number,
  budget: number,
  canon: boolean
): number => {
  let instrs = 0
  let synthetic = 0
  let end = from
  for (; end < stop; end++) {
    const cls = L_CLASS[types[end]!]!
    if ((cls & L_MARKER) !== 0) break
    if (instrs >= budget && (cls & L_INSTR) !== 0) break
    // Both high halves canonical (bits 47..63 all equal) in one test: adding 0x8000 maps
    // exactly the canonical values into [0, 0x10000).
    if (canon && ((addrHi[end]! + 0x8000) | (auxHi[end]! + 0x8000)) >>> 16 !== 0) break
    synthetic += flags[end]! & L_SYNTHETIC
    // CLASS_INSTR is bit 0: adds 1 per instruction without a branch.
    instrs += cls & L_INSTR
  }
  scanned.instrs = instrs
  scanned.synthetic = synthetic
  return end
}

/**
 * `scanPlain` over `batch` from `from`, through the marker index the decoder
 * wrote, when the batch has one and no more than `budget` instructions lie
 * before the next marker or `stop`. Costs O(log markers) plus a count of
 * instructions over the records between the last marker and `from` (usually
 * none), or over the run when that is shorter or the run ends at `stop`.
 * Otherwise (past-budget runs, batches the decoder did not fill) it scans.
 * Decoded batches hold no synthetic records, so `scanned.synthetic` is 0 on
 * the indexed path.
 */
export const skipPlain = (
  batch: RecordBatch.RecordBatch,
  from: number,
  stop: number,
  budget: number,
  canon: boolean
): number => {
  const markers = RecordBatch.indexedMarkers(batch, canon)
  if (markers >= 0) {
    const markerAt = batch.markerAt
    const lo = firstMarkerAtOrAfter(markerAt, markers, from)
    const next = lo < markers ? markerAt[lo]! : RecordBatch.length(batch)
    // No marker in [from, end): only the instructions in it are left to find. The index has
    // them up to the next marker; the records between the last marker and `from` (usually
    // none, or the one a caller stepped over) are counted, or those of [from, end) when
    // fewer or when the run ends before the next marker. Counting reads only the types.
    const end = Math.min(next, Math.max(stop, from))
    const types = batch.type
    const after = lo > 0 ? markerAt[lo - 1]! + 1 : 0
    let instrs = 0
    if (end === next && from - after <= end - from) {
      let before = lo > 0 ? batch.markerInstrs[lo - 1]! : 0
      for (let k = after; k < from; k++) before += L_CLASS[types[k]!]! & L_INSTR
      instrs = (lo < markers ? batch.markerInstrs[lo]! : RecordBatch.indexedInstrs(batch)) - before
    } else {
      for (let k = from; k < end; k++) instrs += L_CLASS[types[k]!]! & L_INSTR
    }
    if (instrs <= budget) {
      scanned.instrs = instrs
      scanned.synthetic = 0
      return end
    }
  }
  return scanPlain(batch.type, batch.flags, batch.addrHi, batch.auxHi, from, stop, budget, canon)
}

/** The index (into `markerAt`) of the first of `markers` indexed markers at or after record `from`. */
const firstMarkerAtOrAfter = (markerAt: Int32Array, markers: number, from: number): number => {
  let lo = 0
  let hi = markers
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (markerAt[mid]! < from) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Where `scanPlain` without canonicalization would stop, without its
 * counts: with a marker index, a stretch with no marker before `stop` and
 * fewer records than `budget` ends at `stop` unread.
 */
export const plainEnd = (batch: RecordBatch.RecordBatch, from: number, stop: number, budget: number): number => {
  const markers = RecordBatch.indexedMarkers(batch, false)
  if (markers >= 0 && budget >= stop - from) {
    const lo = firstMarkerAtOrAfter(batch.markerAt, markers, from)
    if (lo >= markers || batch.markerAt[lo]! >= stop) return stop
  }
  return skipPlain(batch, from, stop, budget, false)
}

const canonHi = (hi: Uint32Array, i: number): number => {
  const h = hi[i]!
  const want = (h & 0x8000) !== 0 ? (h | 0xffff0000) >>> 0 : h & 0xffff
  if (want === h) return 0
  hi[i] = want
  return 1
}

/** Tags the tid and pid of record `i` with workload `w` (> 0), like DynamoRIO's `(w << 48) | id`. */
export const tagWorkload = (batch: RecordBatch.RecordBatch, i: number, w: number): void => {
  const tid = batch.tid[i]!
  if (tid !== 0 && tid !== -1) batch.tid[i] = w * WORKLOAD_FACTOR + (tid % WORKLOAD_FACTOR)
  const pid = batch.pid[i]!
  if (pid !== -1) batch.pid[i] = w * WORKLOAD_FACTOR + (pid % WORKLOAD_FACTOR)
}

/**
 * Rewrites a TIMESTAMP to the output's time (first timestamp seen + one µs
 * per 1000 instructions and idles) and a CPU_ID to `shard`.
 * `instrOrdinal` is the instruction ordinal DynamoRIO's stream reports.
 */
export const rewriteMarker = (
  out: OutputState,
  batch: RecordBatch.RecordBatch,
  i: number,
  instrOrdinal: number,
  shard: number
): void => {
  const m = batch.size[i]!
  if (m === MarkerType.TIMESTAMP) {
    if (out.baseTsHi === 0 && out.baseTsLo === 0) {
      out.baseTsHi = batch.addrHi[i]!
      out.baseTsLo = batch.addrLo[i]!
    }
    const lo = out.baseTsLo + Math.floor((instrOrdinal + out.idleCount) / INSTRS_PER_US)
    batch.addrLo[i] = lo % TWO32
    batch.addrHi[i] = (out.baseTsHi + Math.floor(lo / TWO32)) >>> 0
  } else if (m === MarkerType.CPU_ID) {
    batch.addrLo[i] = shard
    batch.addrHi[i] = 0
  }
}

/** A record the scheduler inserts: a marker (`type` MARKER, `size` its sub-type) or a thread exit. */
export interface SyntheticRecord {
  readonly type: number
  readonly size: number
  readonly valueLo: number
  readonly valueHi: number
}

/**
 * A batch of records the scheduler inserts into an input's stream, with the
 * input's tid and `pid`. `firstOrdinal` is the input record ordinal the
 * first one reports; `hidden` records do not count as records (DynamoRIO's
 * reader `is_record_synthetic`).
 */
export const insertedBatch = (
  records: ReadonlyArray<SyntheticRecord>,
  tid: number,
  pid: number,
  hidden: boolean,
  input: number,
  firstOrdinal: number,
  instrsBefore: number
): RecordBatch.RecordBatch => {
  const b = RecordBatch.make(Math.max(records.length, RecordBatch.MIN_CAPACITY))
  for (let k = 0; k < records.length; k++) {
    const r = records[k]!
    b.type[k] = r.type
    b.size[k] = r.size
    b.addrLo[k] = r.valueLo >>> 0
    b.addrHi[k] = r.valueHi >>> 0
    b.auxLo[k] = 0
    b.auxHi[k] = 0
    b.tid[k] = tid
    b.pid[k] = pid
    b.flags[k] = hidden ? RecordBatch.FLAG_SYNTHETIC : 0
  }
  RecordBatch.setLength(b, records.length)
  RecordBatch.setOrigin(b, input, firstOrdinal, instrsBefore)
  return b
}
