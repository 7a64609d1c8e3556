/**
 * DynamoRIO's chunking of a thread's entry stream into zip members, as its
 * `record_filter` tool writes archives (and `raw2trace` where they differ,
 * noted below). Input chunk artifacts are removed and new ones inserted:
 *
 * - A chunk holds `chunk_instr_count` fetched instructions (`type_is_instr`,
 *   size > 0). Once it is full, the next instruction of any kind, TIMESTAMP
 *   marker, THREAD_EXIT or FOOTER starts a new chunk, so the records that
 *   belong to the chunk's last instruction stay with it. A BRANCH_TARGET
 *   marker also starts it (raw2trace's rule, so an indirect branch and its
 *   target stay together; record_filter would leave the marker behind).
 * - A non-final chunk ends with `CHUNK_FOOTER(chunk index)`; the next one
 *   starts with `RECORD_ORDINAL(visible records so far, footer included)`,
 *   the last TIMESTAMP and the last CPU_ID (both hidden by readers).
 * - With the ENCODINGS file type, an instruction whose PC is not yet in the
 *   chunk gets its encoding re-emitted from a cache of every encoding seen
 *   (record_filter fails when there is none; we write the instruction
 *   without one, as it came);
 *   an input encoding for a PC already in the chunk with the same bytes is
 *   dropped (redundant). Unlike record_filter, an encoding with different
 *   bytes (modified code) is kept.
 * - The chunk size is the stream's CHUNK_INSTR_COUNT marker value, or the
 *   override, which then also rewrites the marker. A stream without the
 *   marker is not chunked (readers would not hide the duplicates).
 * - Input CHUNK_FOOTER and RECORD_ORDINAL markers are dropped, and so are the
 *   TIMESTAMP and CPU_ID markers after an input footer that readers hide.
 *
 * Encodings (and anything between them and their instruction) are held back
 * until the instruction arrives, as both DynamoRIO writers do, and written in
 * their original order.
 *
 * Per entry this is a handful of comparisons and, for instructions, two
 * lookups in typed-array hash tables: no allocation.
 */
import { FileType, isAnyInstr, isData, isInstr, MarkerType, TraceType } from "../../Record.ts"
import { PcTable } from "./pcTable.ts"

/** Where the chunker puts entries and member boundaries. */
export interface ChunkOutput {
  put(type: number, size: number, lo: number, hi: number): void
  cut(name: string): void
}

/** Why the chunker refused the stream (the sink turns it into a TraceWriterError). */
export class ChunkFault extends Error {
  readonly entry: number
  constructor(detail: string, entry: number) {
    super(detail)
    this.entry = entry
  }
}

export const CHUNK_PREFIX = "chunk."
/** DynamoRIO's `TRACE_CHUNK_SUFFIX_WIDTH` (8 since i#7474; older traces used 4). */
export const CHUNK_SUFFIX_WIDTH = 8

export const chunkName = (index: number): string => CHUNK_PREFIX + String(index).padStart(CHUNK_SUFFIX_WIDTH, "0")

const MAX_ENCODING = 15

// Module-local copies of the constants the per-entry path reads (an imported binding can cost a
// property lookup per access under some loaders, e.g. vitest's module runner).
const T_MARKER = TraceType.MARKER
const T_ENCODING = TraceType.ENCODING
const T_THREAD = TraceType.THREAD
const T_THREAD_EXIT = TraceType.THREAD_EXIT
const T_FOOTER = TraceType.FOOTER
const M_TIMESTAMP = MarkerType.TIMESTAMP
const M_CPU_ID = MarkerType.CPU_ID
const M_BRANCH_TARGET = MarkerType.BRANCH_TARGET
const M_CHUNK_INSTR_COUNT = MarkerType.CHUNK_INSTR_COUNT
const M_CHUNK_FOOTER = MarkerType.CHUNK_FOOTER
const M_RECORD_ORDINAL = MarkerType.RECORD_ORDINAL

// Entry kinds, by type (0: anything else).
/** A data access or prefetch: one visible record, nothing to track. */
const K_DATA = 1
/** DynamoRIO's `is_any_instr_type`: fetched or not, including MAYBE_FETCH. */
const K_ANY_INSTR = 2
/** Also counts toward the chunk's instructions (`type_is_instr`). */
const K_FETCHED = 3
const KIND = (() => {
  const t = new Uint8Array(65536)
  for (let type = 0; type < 64; type++) {
    if (isData(type)) t[type] = K_DATA
    else if (isInstr(type)) t[type] = K_FETCHED
    else if (isAnyInstr(type) || type === TraceType.INSTR_MAYBE_FETCH) t[type] = K_ANY_INSTR
  }
  return t
})()
const ENC_SLOT = 16

const V_NONE = 0
const V_ONE = 1
const V_MARKER = 2
const V_BUNDLE = 3
const V_IF_SIZED = 4
const VISIBLE = (() => {
  const t = new Uint8Array(65536).fill(V_ONE)
  for (const type of [TraceType.HEADER, TraceType.FOOTER, TraceType.THREAD, TraceType.PID, TraceType.ENCODING]) {
    t[type] = V_NONE
  }
  t[TraceType.MARKER] = V_MARKER
  t[TraceType.INSTR_BUNDLE] = V_BUNDLE
  t[TraceType.INSTR_FLUSH] = V_IF_SIZED
  t[TraceType.DATA_FLUSH] = V_IF_SIZED
  for (let type = 0; type < 64; type++) if (KIND[type]! >= K_ANY_INSTR) t[type] = V_IF_SIZED
  return t
})()

/** Records a reader shows for one entry (DynamoRIO's `memref_counter_t`, bundles expanded). */
const visibleRecords = (type: number, size: number): number => {
  const v = VISIBLE[type & 0xffff]!
  if (v <= V_ONE) return v
  if (v === V_MARKER) return size === M_RECORD_ORDINAL || size === M_BRANCH_TARGET ? 0 : 1
  if (v === V_BUNDLE) return size
  return size > 0 ? 1 : 0
}

export class Chunker {
  private readonly out: ChunkOutput
  private readonly override: number | undefined
  /** 0 until the stream's CHUNK_INSTR_COUNT marker: no chunking. */
  private chunkSize = 0
  private inputChunkSize = 0
  private chunkIndex = 0
  private chunkInstrs = 0
  private records = 0
  private entry = -1
  private encodingsFiletype = false
  private lastTsLo = 0
  private lastTsHi = 0
  private lastCpuLo = 0
  private lastCpuHi = 0
  private tid = 0
  /** Tids whose next TIMESTAMP/CPU_ID after an input CHUNK_FOOTER readers hide. */
  private readonly skipDup = new Set<number>()
  private readonly seen = new PcTable()
  private readonly cache = new PcTable()
  private encPool = new Uint8Array(ENC_SLOT * 1024)
  private encCount = 0
  // Entries held back from the first ENCODING up to its instruction.
  private group = new Uint32Array(4 * 16)
  private groupLen = 0
  private groupHasEnc = false
  private readonly groupEnc = new Uint8Array(ENC_SLOT)
  private groupEncLen = 0
  private started = false

  constructor(out: ChunkOutput, options?: { readonly chunkInstrCount?: number | undefined }) {
    this.out = out
    this.override = options?.chunkInstrCount
  }

  /** Chunks written so far. */
  get chunks(): number {
    return this.chunkIndex
  }

  write(type: number, size: number, lo: number, hi: number): void {
    this.entry++
    const kind = KIND[type & 0xffff]!
    if (kind === K_DATA && this.groupLen === 0 && this.started) {
      this.out.put(type, size, lo, hi)
      this.records++
      return
    }
    if (!this.started) {
      this.started = true
      this.openChunk()
    }
    if (type === T_MARKER) {
      if (this.dropped(size)) return
      if (size === M_CHUNK_INSTR_COUNT) {
        this.inputChunkSize = hi * 4294967296 + lo
        this.chunkSize = this.override ?? this.inputChunkSize
        if (this.override !== undefined) {
          lo = this.override >>> 0
          hi = Math.floor(this.override / 4294967296)
        }
      }
    }
    const instr = kind >= K_ANY_INSTR
    if (type === T_ENCODING || this.groupLen > 0) {
      if (type === T_ENCODING) this.holdEncoding(size, lo, hi)
      if (!instr) {
        this.hold(type, size, lo, hi)
        return
      }
    }
    if (
      this.chunkSize > 0 &&
      this.chunkInstrs >= this.chunkSize &&
      (instr ||
        (type === T_MARKER && (size === M_TIMESTAMP || size === M_BRANCH_TARGET)) ||
        type === T_THREAD_EXIT ||
        type === T_FOOTER)
    ) {
      this.openChunk()
    }
    if (instr && size > 0) {
      this.instruction(type, size, lo, hi, kind === K_FETCHED)
      return
    }
    if (this.groupLen > 0) this.releaseGroup(true)
    this.emit(type, size, lo, hi)
    if (type === T_THREAD || type === T_THREAD_EXIT) this.tid = hi * 4294967296 + lo
  }

  /** Ends the stream: encodings still held back (no instruction followed) are written as they came. */
  finish(): void {
    if (this.groupLen > 0) this.releaseGroup(true)
  }

  private emit(type: number, size: number, lo: number, hi: number): void {
    this.out.put(type, size, lo, hi)
    this.records += visibleRecords(type, size)
    if (type === T_MARKER) this.track(size, lo, hi)
  }

  /** Input chunk artifacts the output replaces: returns true when the marker is dropped. */
  private dropped(size: number): boolean {
    switch (size) {
      case M_CHUNK_FOOTER:
        if (this.inputChunkSize > 0) this.skipDup.add(this.tid)
        return true
      case M_RECORD_ORDINAL:
        return true
      case M_TIMESTAMP:
        return this.skipDup.size > 0 && this.skipDup.has(this.tid)
      case M_CPU_ID:
        return this.skipDup.size > 0 && this.skipDup.delete(this.tid)
      default:
        return false
    }
  }

  /** Follows the values chunk headers repeat and the stream header values, as markers are written. */
  private track(size: number, lo: number, hi: number): void {
    switch (size) {
      case M_TIMESTAMP:
        this.lastTsLo = lo
        this.lastTsHi = hi
        break
      case M_CPU_ID:
        this.lastCpuLo = lo
        this.lastCpuHi = hi
        break
      case MarkerType.FILETYPE:
        this.encodingsFiletype = (lo & FileType.ENCODINGS) !== 0
        break
    }
  }

  private openChunk(): void {
    if (this.chunkIndex > 0) {
      this.emit(TraceType.MARKER, MarkerType.CHUNK_FOOTER, this.chunkIndex - 1, 0)
    }
    if (this.chunkIndex >= 10 ** CHUNK_SUFFIX_WIDTH) {
      throw new ChunkFault(`more than ${10 ** CHUNK_SUFFIX_WIDTH} chunks`, this.entry)
    }
    this.out.cut(chunkName(this.chunkIndex))
    if (this.chunkIndex > 0) {
      const n = this.records
      this.out.put(TraceType.MARKER, MarkerType.RECORD_ORDINAL, n >>> 0, Math.floor(n / 4294967296))
      // The repeated TIMESTAMP and CPU_ID are hidden by readers: not counted.
      this.out.put(TraceType.MARKER, MarkerType.TIMESTAMP, this.lastTsLo, this.lastTsHi)
      this.out.put(TraceType.MARKER, MarkerType.CPU_ID, this.lastCpuLo, this.lastCpuHi)
      this.seen.clear()
    }
    this.chunkIndex++
    this.chunkInstrs = 0
  }

  private hold(type: number, size: number, lo: number, hi: number): void {
    let k = this.groupLen * 4
    if (k + 4 > this.group.length) {
      const bigger = new Uint32Array(this.group.length * 2)
      bigger.set(this.group)
      this.group = bigger
    }
    const g = this.group
    g[k++] = type
    g[k++] = size
    g[k++] = lo
    g[k] = hi
    this.groupLen++
  }

  private holdEncoding(size: number, lo: number, hi: number): void {
    if (size > 8 || this.groupEncLen + size > MAX_ENCODING) {
      throw new ChunkFault(`encoding longer than ${MAX_ENCODING} bytes (${this.groupEncLen} + ${size})`, this.entry)
    }
    const enc = this.groupEnc
    for (let b = 0; b < size; b++) {
      enc[this.groupEncLen++] = b < 4 ? (lo >>> (b * 8)) & 0xff : (hi >>> ((b - 4) * 8)) & 0xff
    }
    this.groupHasEnc = true
  }

  /** Writes the held entries in order, with or without their ENCODING entries. */
  private releaseGroup(withEncodings: boolean): void {
    const g = this.group
    for (let i = 0; i < this.groupLen; i++) {
      const k = i * 4
      const type = g[k]!
      if (type === TraceType.ENCODING && !withEncodings) continue
      this.emit(type, g[k + 1]!, g[k + 2]!, g[k + 3]!)
      if (type === TraceType.THREAD || type === TraceType.THREAD_EXIT) this.tid = g[k + 3]! * 4294967296 + g[k + 2]!
    }
    this.groupLen = 0
    this.groupHasEnc = false
    this.groupEncLen = 0
  }

  private instruction(type: number, size: number, lo: number, hi: number, fetched: boolean): void {
    if (this.groupHasEnc) {
      const same = this.seen.has(lo, hi) && this.sameAsCached(lo, hi)
      this.remember(lo, hi)
      this.releaseGroup(!same)
    } else {
      if (this.groupLen > 0) this.releaseGroup(true)
      if (this.encodingsFiletype && !this.seen.has(lo, hi)) this.reemit(lo, hi)
    }
    this.seen.set(lo, hi, 0)
    this.out.put(type, size, lo, hi)
    this.records++
    if (fetched) this.chunkInstrs++
  }

  private sameAsCached(lo: number, hi: number): boolean {
    const slot = this.cache.get(lo, hi)
    if (slot < 0) return false
    const base = slot * ENC_SLOT
    const pool = this.encPool
    if (pool[base + 15] !== this.groupEncLen) return false
    for (let b = 0; b < this.groupEncLen; b++) if (pool[base + b] !== this.groupEnc[b]) return false
    return true
  }

  private remember(lo: number, hi: number): void {
    let slot = this.cache.get(lo, hi)
    if (slot < 0) {
      slot = this.encCount++
      if ((slot + 1) * ENC_SLOT > this.encPool.length) {
        const bigger = new Uint8Array(this.encPool.length * 2)
        bigger.set(this.encPool)
        this.encPool = bigger
      }
      this.cache.set(lo, hi, slot)
    }
    const base = slot * ENC_SLOT
    this.encPool.set(this.groupEnc.subarray(0, this.groupEncLen), base)
    this.encPool[base + 15] = this.groupEncLen
  }

  /** Re-emits the cached encoding of the PC as ENCODING entries of up to 8 bytes (raw2trace's split). */
  private reemit(lo: number, hi: number): void {
    const slot = this.cache.get(lo, hi)
    // Never seen with an encoding (only possible in a trace that lacks some): written without one, as it came.
    if (slot < 0) return
    const base = slot * ENC_SLOT
    const pool = this.encPool
    const len = pool[base + 15]!
    for (let off = 0; off < len; off += 8) {
      const n = Math.min(8, len - off)
      let elo = 0
      let ehi = 0
      for (let b = 0; b < n; b++) {
        const v = pool[base + off + b]!
        if (b < 4) elo |= v << (b * 8)
        else ehi |= v << ((b - 4) * 8)
      }
      this.emit(TraceType.ENCODING, n, elo >>> 0, ehi >>> 0)
    }
  }
}
