/**
 * The record decoder: turns raw 12-byte `trace_entry_t`s into `memref_t`
 * records in a {@link RecordBatch}, with DynamoRIO `reader_t` semantics
 * (hidden headers, tid/pid tracking, encodings attached to the next
 * instruction, bundles expanded, MAYBE_FETCH resolved, hidden markers, chunk
 * duplicate timestamp/cpu skipped, record and instruction ordinals).
 *
 * Synchronous and allocation-free per entry. Entries are read as three
 * little-endian u32 words (type | size << 16, addr lo, addr hi) from a 4-byte
 * aligned view; callers realign when a chunk boundary splits an entry.
 */
import { FileType, isInstr, MarkerType, TraceType, TraceVersion } from "../Record.ts"
import {
  clearMarkerIndex,
  ENCODING_BYTES_PER_RECORD,
  FLAG_ENCODING_IS_NEW,
  FLAG_HAS_ENCODING,
  indexedInstrs,
  indexedMarkers,
  type RecordBatch,
  setMarkerIndex
} from "../RecordBatch.ts"

/** Why decoding stopped with an error; the caller wraps it into a TraceError. */
export interface DecodeFault {
  readonly reason: "BadHeader" | "UnknownEntryType" | "UnsupportedVersion" | "Corrupt"
  readonly detail: string
  /** Entry index (within the words passed to `decode`) of the faulty entry. */
  readonly entry: number
}

const MAX_ENCODING_LENGTH = 15

/** Thread and process ids are signed 64-bit (DynamoRIO's idle tid is -1). */
const signed64 = (lo: number, hi: number): number => (hi | 0) * 4294967296 + lo

// 0: the slow path (every type not listed below).
const DATA = 1
const PLAIN_INSTR = 2
const INDIRECT_INSTR = 3
const PLAIN_MARKER = 4
const ENCODING = 5
/**
 * Entry types that take the inlined fast paths (markers: unless SPECIAL_MARKER).
 * One slot per 16-bit type, so the loop needs no range test: 5–7 % of the
 * decoder's time (docs/benchmarks.md, section 13).
 */
const ENTRY_CLASS = (() => {
  const t = new Uint8Array(65536)
  for (const d of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 27, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46])
    t[d] = DATA
  for (const i of [10, 11, 13, 14, 31, 48, 49]) t[i] = PLAIN_INSTR
  for (const i of [12, 15, 16]) t[i] = INDIRECT_INSTR
  t[28] = PLAIN_MARKER
  t[47] = ENCODING
  return t
})()
/** Marker sub-types the decoder must look at (stream state or hidden records). */
const SPECIAL_MARKER = (() => {
  const t = new Uint8Array(65536)
  for (const m of [2, 3, 9, 10, 12, 18, 20, 21, 22, 29]) t[m] = 1
  return t
})()
const PREAMBLE_LIMIT = 64
const M_BRANCH_TARGET = MarkerType.BRANCH_TARGET
const F_ARCH_REGDEPS = FileType.ARCH_REGDEPS
// Module-local copies: imported bindings cost a lookup per access under vitest's module runner.
const F_ENCODING_IS_NEW = FLAG_ENCODING_IS_NEW

/**
 * Decoder state for one input stream. Not shared: one decoder per input.
 */
export class Decoder {
  readonly keepEncodings: boolean
  // Stream header values, as DynamoRIO's stream API reports them.
  version = 0
  filetype = 0
  foundFiletype = false
  cacheLineSize = 0
  chunkInstrCount = 0
  pageSize = 0
  tid = 0
  pid = 0
  firstTid = 0
  firstPid = 0
  firstTimestampLo = 0
  firstTimestampHi = 0
  hasFirstTimestamp = false
  lastTimestampLo = 0
  lastTimestampHi = 0
  /** Visible records delivered so far (DynamoRIO's record ordinal). */
  records = 0
  /** Fetched instructions delivered so far (DynamoRIO's instruction ordinal). */
  instrs = 0
  /** True once the first entry (a HEADER) was seen. */
  started = false
  /**
   * True after a FOOTER until a HEADER (a core-sharded file's next segment). Records after a footer do
   * not clear it: like DynamoRIO's reader, which skips footers mid-stream, they are delivered.
   */
  atFooter = false
  fault: DecodeFault | undefined = undefined
  /** Set when `decode` ended a batch early because the thread changes. */
  split = false

  private curPcLo = 0
  private curPcHi = 0
  private lastInstrSize = 0
  private prevInstrLo = 0
  private prevInstrHi = 0
  private hasPrevInstr = false
  private branchTargetLo = 0
  private branchTargetHi = 0
  private lastInstrType: number = TraceType.INSTR
  private lastInstrFlags = 0
  private lastInstrHasEnc = false
  private readonly pendingEnc = new Uint8Array(16)
  private pendingEncLen = 0
  private readonly lastEnc = new Uint8Array(16)
  private flushLo = 0
  private flushHi = 0
  private flushType = 0
  private readonly tid2pid = new Map<number, number>()
  private readonly skipChunkHeader = new Set<number>()
  private readonly encodings: Map<string, Uint8Array> | undefined
  // Entries between HEADER and PID are held back so they carry the tid/pid
  // (DynamoRIO's file reader reads ahead to the PID and re-emits them after it).
  private inPreamble = true
  private readonly preamble = new Uint32Array(PREAMBLE_LIMIT * 3)
  private preambleLen = 0
  // Held-back entries replayed so far: a small batch takes them over several decode calls.
  private replayed = 0
  // Pending bundle expansion: lengths still to emit.
  private readonly bundle = new Uint8Array(8)
  private bundleLen = 0
  private bundlePos = 0

  constructor(options?: { readonly keepEncodings?: boolean | undefined }) {
    this.keepEncodings = options?.keepEncodings ?? false
    this.encodings = this.keepEncodings ? new Map() : undefined
  }

  /**
   * Decodes entries `[from, to)` of `words` (3 words an entry) into `batch`
   * until the batch has fewer than 9 free slots (a bundle expands to ≤ 8
   * records). Returns the index of the first entry not consumed. On a fault,
   * sets `this.fault` and returns the faulty entry's index.
   */
  decode(words: Uint32Array, from: number, to: number, batch: RecordBatch): number {
    // An integer, not the header's double: it indexes every store.
    const n0 = batch.header[0]! | 0
    let n = n0
    // The batch's marker index goes on from where the last call left it, if it had one.
    if (n0 === 0) {
      this.ixMarkers = 0
      this.ixInstrs = 0
      this.ixCanon = 0
    } else {
      this.ixMarkers = indexedMarkers(batch, false)
      this.ixInstrs = indexedInstrs(batch)
      this.ixCanon = indexedMarkers(batch, true) >= 0 ? 0 : 0x10000
    }
    const limit = batch.capacity - 9
    if (this.replayPending()) {
      const r = this.replayPreamble(batch, n)
      if (r > n) this.indexSlow(batch, n, r)
      n = r
    }
    let e = from
    while (e < to && n <= limit && !this.replayPending()) {
      e = this.run(words, e, to, batch, n, limit)
      n = this.runEnd
      if (e >= to || n > limit) break
      const w = e * 3
      const w0 = words[w]!
      const type = w0 & 0xffff
      const lo = words[w + 1]!
      const hi = words[w + 2]!
      if ((type === TraceType.THREAD || type === TraceType.PID || type === TraceType.THREAD_EXIT) && n > 0) {
        // A batch holds one thread's records: end it before the thread changes.
        const v = signed64(lo, hi)
        if ((type === TraceType.PID ? this.pid : this.tid) !== v) {
          this.split = true
          break
        }
      }
      const r = this.slow(type, w0 >>> 16, lo, hi, w0, batch, n, e)
      if (r < 0) break
      if (r > n) this.indexSlow(batch, n, r)
      n = r
      e++
    }
    if (this.ixMarkers >= 0 && n > n0) setMarkerIndex(batch, this.ixMarkers, this.ixInstrs, this.ixCanon >>> 16 === 0)
    this.records += n - n0
    if (n > n0) {
      batch.tid.fill(this.tid, n0, n)
      batch.pid.fill(this.pid, n0, n)
    }
    batch.header[0] = n
    return e
  }

  /** Where the last `run` left the batch. */
  private runEnd = 0
  // The marker index of the batch being filled: markers so far (-1: none kept),
  // instructions so far, and the OR of every non-marker address's high half + 0x8000
  // (all canonical while bits 16 and up stay clear).
  private ixMarkers = 0
  private ixInstrs = 0
  private ixCanon = 0

  /** Indexes records `[from, to)` the slow paths wrote (rare: a few per marker at most). */
  private indexSlow(batch: RecordBatch, from: number, to: number): void {
    let markers = this.ixMarkers
    if (markers < 0) return
    let instrs = this.ixInstrs
    let canon = this.ixCanon
    const cap = batch.markerAt.length
    for (let i = from; i < to; i++) {
      const type = batch.type[i]!
      if (type === TraceType.MARKER) {
        if (markers < cap) {
          batch.markerAt[markers] = i
          batch.markerInstrs[markers] = instrs
        }
        markers++
      } else {
        canon |= (batch.addrHi[i]! + 0x8000) | (batch.auxHi[i]! + 0x8000)
        if (isInstr(type)) instrs++
      }
    }
    this.ixMarkers = markers
    this.ixInstrs = instrs
    this.ixCanon = canon
  }

  /**
   * The fast paths: decodes entries from `e` into `batch` from record `n`
   * until an entry needs `slow` (returned, not consumed), `to`, or `limit`.
   * They cover data, markers outside SPECIAL_MARKER, branch targets,
   * encodings (when not kept) and fetched instructions, and write what
   * `entry` would, relying like it on zeroed flags and aux fields.
   *
   * A loop of its own, with no call in it and its state in locals (written
   * back at the end): V8 then keeps that state in registers. Measured on
   * threadsig, 16 → 10 ns a record against the loop inlined in `decode`.
   */
  private run(words: Uint32Array, e: number, to: number, batch: RecordBatch, n: number, limit: number): number {
    const bType = batch.type
    const bSize = batch.size
    const bLo = batch.addrLo
    const bHi = batch.addrHi
    const bAuxLo = batch.auxLo
    const bAuxHi = batch.auxHi
    const bFlags = batch.flags
    if (this.inPreamble) {
      this.runEnd = n
      return e
    }
    let pcLo = this.curPcLo
    let pcHi = this.curPcHi
    let instrs = this.instrs
    let lastType = this.lastInstrType
    let lastSize = this.lastInstrSize
    let lastFlags = this.lastInstrFlags
    let encLen = this.pendingEncLen
    let targetLo = this.branchTargetLo
    let targetHi = this.branchTargetHi
    let fastInstr = false
    let markers = this.ixMarkers
    let canon = this.ixCanon
    // Index instruction counts follow the decoder's ordinal inside a run (both count fetched instructions).
    const instrsBase = this.ixInstrs - instrs
    const markerAt = batch.markerAt
    const markerInstrs = batch.markerInstrs
    const markerCap = markerAt.length
    const instrFast = !this.keepEncodings
    const regdeps = (this.filetype & F_ARCH_REGDEPS) !== 0
    // Every column's length read once before the loop: V8 then checks each typed array (its map,
    // its buffer not detached) here, not again at each store inside the loop (84 detach tests and
    // 28 map checks in the optimized loop without this line, 8 and 8 with it): 8.3 → 7.7 ns a record.
    if ((bType.length | bSize.length | bLo.length | bHi.length | bAuxLo.length | bAuxHi.length | bFlags.length) < 0)
      throw new Error("a typed array's length is never negative")
    for (; e < to && n <= limit; e++) {
      const w = e * 3
      const w0 = words[w]!
      const type = w0 & 0xffff
      const cls = ENTRY_CLASS[type]!
      if ((cls === PLAIN_INSTR || cls === INDIRECT_INSTR) && instrFast) {
        const size = w0 >>> 16
        if (size !== 0 && (encLen === 0 || encLen === size || regdeps)) {
          const lo = words[w + 1]!
          const hi = words[w + 2]!
          bType[n] = type
          bSize[n] = size
          bLo[n] = lo
          bHi[n] = hi
          let flags = 0
          if (encLen !== 0) {
            flags = F_ENCODING_IS_NEW
            bFlags[n] = flags
            encLen = 0
          }
          canon |= hi + 0x8000
          if (cls === INDIRECT_INSTR) {
            bAuxLo[n] = targetLo
            bAuxHi[n] = targetHi
            canon |= targetHi + 0x8000
            targetLo = 0
            targetHi = 0
          }
          pcLo = lo
          pcHi = hi
          lastType = type
          lastSize = size
          lastFlags = flags
          fastInstr = true
          instrs++
          n++
          continue
        }
        break
      }
      if (cls === DATA) {
        const hi = words[w + 2]!
        bType[n] = type
        bSize[n] = w0 >>> 16
        bLo[n] = words[w + 1]!
        bHi[n] = hi
        bAuxLo[n] = pcLo
        bAuxHi[n] = pcHi
        canon |= (hi + 0x8000) | (pcHi + 0x8000)
        n++
        continue
      }
      if (cls === PLAIN_MARKER) {
        const marker = w0 >>> 16
        if (SPECIAL_MARKER[marker] === 0) {
          bType[n] = type
          bSize[n] = marker
          bLo[n] = words[w + 1]!
          bHi[n] = words[w + 2]!
          if (markers >= 0) {
            if (markers < markerCap) {
              markerAt[markers] = n
              markerInstrs[markers] = instrs + instrsBase
            }
            markers++
          }
          n++
          continue
        }
        if (marker === M_BRANCH_TARGET) {
          targetLo = words[w + 1]!
          targetHi = words[w + 2]!
          continue
        }
        break
      }
      if (cls === ENCODING && instrFast) {
        const size = w0 >>> 16
        if (size <= 8 && encLen + size <= MAX_ENCODING_LENGTH) {
          encLen += size
          continue
        }
      }
      break
    }
    if (this.ixMarkers >= 0) {
      this.ixMarkers = markers
      this.ixInstrs = instrs + instrsBase
      this.ixCanon = canon
    }
    this.curPcLo = pcLo
    this.curPcHi = pcHi
    this.instrs = instrs
    this.lastInstrType = lastType
    this.lastInstrSize = lastSize
    this.lastInstrFlags = lastFlags
    this.pendingEncLen = encLen
    this.branchTargetLo = targetLo
    this.branchTargetHi = targetHi
    if (fastInstr) {
      this.prevInstrLo = pcLo
      this.prevInstrHi = pcHi
      this.hasPrevInstr = true
      this.lastInstrHasEnc = false
    }
    this.runEnd = n
    return e
  }

  private slow(
    type: number,
    size: number,
    lo: number,
    hi: number,
    w0: number,
    batch: RecordBatch,
    n: number,
    e: number
  ): number {
    if (!this.started) {
      if (type !== TraceType.HEADER) {
        this.fault = { reason: "BadHeader", detail: `the first entry has type ${type}, not a header (25)`, entry: e }
        return -1
      }
      if (hi !== 0 || lo > TraceVersion.CURRENT || lo === 0) {
        this.fault = {
          reason: "UnsupportedVersion",
          detail: `trace version ${hi === 0 ? lo : "beyond 2^32"} is not supported (1–${TraceVersion.CURRENT})`,
          entry: e
        }
        return -1
      }
      this.started = true
      if (this.version === 0) this.version = lo
      return n
    }
    if (this.inPreamble) {
      if (type === TraceType.THREAD || type === TraceType.PID) {
        this.applyThreadOrPid(type, lo, hi)
        if (type === TraceType.PID) {
          this.inPreamble = false
          return this.replayPreamble(batch, n)
        }
        return n
      }
      if (type === TraceType.MARKER || type === TraceType.HEADER || type === TraceType.FOOTER) {
        if (this.preambleLen === PREAMBLE_LIMIT) {
          this.fault = { reason: "BadHeader", detail: "no thread/pid entries in the trace header", entry: e }
          return -1
        }
        const p = this.preambleLen++ * 3
        this.preamble[p] = w0
        this.preamble[p + 1] = lo
        this.preamble[p + 2] = hi
        return n
      }
      // A record before any PID: nothing more to hold back for.
      this.inPreamble = false
      n = this.replayPreamble(batch, n)
    }
    return this.entry(type, size, lo, hi, batch, n, e)
  }

  /** Declares the end of the input; returns a fault detail if the stream ended inside its header. */
  finish(batch: RecordBatch): void {
    if (this.inPreamble && this.started) {
      this.inPreamble = false
      batch.header[0] = this.replayPreamble(batch, batch.header[0]!)
      clearMarkerIndex(batch)
    }
  }

  private applyThreadOrPid(type: number, lo: number, hi: number): void {
    const v = signed64(lo, hi)
    if (type === TraceType.THREAD) {
      this.tid = v
      this.pid = this.tid2pid.get(v) ?? 0
      if (this.firstTid === 0) this.firstTid = v
    } else {
      this.pid = v
      this.tid2pid.set(this.tid, v)
      if (this.firstPid === 0) this.firstPid = v
    }
  }

  /** Held-back entries are still to be replayed (the batch that took the PID filled up first). */
  private replayPending(): boolean {
    return !this.inPreamble && this.replayed < this.preambleLen
  }

  /** Replays held-back entries (a record each at most) while the batch has room; the rest wait for the next batch. */
  private replayPreamble(batch: RecordBatch, n: number): number {
    for (; this.replayed < this.preambleLen; this.replayed++) {
      if (n >= batch.capacity) return n
      const p = this.replayed * 3
      const w0 = this.preamble[p]!
      n = this.entry(w0 & 0xffff, w0 >>> 16, this.preamble[p + 1]!, this.preamble[p + 2]!, batch, n, -1)
      if (n < 0) return 0
    }
    this.preambleLen = 0
    this.replayed = 0
    return n
  }

  private flushBundle(batch: RecordBatch, n: number, limit: number): number {
    while (this.bundlePos < this.bundleLen && n <= limit + 8) {
      const len = this.bundle[this.bundlePos++]!
      const sum = this.curPcLo + this.lastInstrSize
      this.curPcLo = sum >>> 0
      this.curPcHi = (this.curPcHi + (sum > 0xffffffff ? 1 : 0)) >>> 0
      this.lastInstrSize = len
      n = this.emitInstr(batch, n, this.lastInstrType, len, this.lastInstrFlags)
      this.instrs++
    }
    return n
  }

  private emitInstr(batch: RecordBatch, n: number, type: number, size: number, flags: number): number {
    batch.type[n] = type
    batch.size[n] = size
    batch.addrLo[n] = this.curPcLo
    batch.addrHi[n] = this.curPcHi
    batch.auxLo[n] = 0
    batch.auxHi[n] = 0
    batch.flags[n] = flags
    if (this.keepEncodings && this.lastInstrHasEnc) {
      batch.enc.set(this.lastEnc, n * ENCODING_BYTES_PER_RECORD)
      batch.flags[n] = flags | FLAG_HAS_ENCODING
    }
    return n + 1
  }

  /** One entry after the preamble. Returns the new record count, or -1 on a fault. */
  private entry(type: number, size: number, lo: number, hi: number, batch: RecordBatch, n: number, e: number): number {
    switch (type) {
      case TraceType.READ:
      case TraceType.WRITE:
      case TraceType.PREFETCH:
      case TraceType.PREFETCHT0:
      case TraceType.PREFETCHT1:
      case TraceType.PREFETCHT2:
      case TraceType.PREFETCHNTA:
      case TraceType.PREFETCH_READ:
      case TraceType.PREFETCH_WRITE:
      case TraceType.PREFETCH_INSTR:
      case TraceType.HARDWARE_PREFETCH:
      case TraceType.PREFETCH_READ_L1_NT:
      case TraceType.PREFETCH_READ_L2_NT:
      case TraceType.PREFETCH_READ_L3_NT:
      case TraceType.PREFETCH_INSTR_L1:
      case TraceType.PREFETCH_INSTR_L1_NT:
      case TraceType.PREFETCH_INSTR_L2:
      case TraceType.PREFETCH_INSTR_L2_NT:
      case TraceType.PREFETCH_INSTR_L3:
      case TraceType.PREFETCH_INSTR_L3_NT:
      case TraceType.PREFETCH_WRITE_L1:
      case TraceType.PREFETCH_WRITE_L1_NT:
      case TraceType.PREFETCH_WRITE_L2:
      case TraceType.PREFETCH_WRITE_L2_NT:
      case TraceType.PREFETCH_WRITE_L3:
      case TraceType.PREFETCH_WRITE_L3_NT:
        batch.type[n] = type
        batch.size[n] = size
        batch.addrLo[n] = lo
        batch.addrHi[n] = hi
        batch.auxLo[n] = this.curPcLo
        batch.auxHi[n] = this.curPcHi
        batch.flags[n] = 0
        return n + 1
      case TraceType.ENCODING: {
        if (size > 8 || this.pendingEncLen + size > MAX_ENCODING_LENGTH) {
          this.fault = {
            reason: "Corrupt",
            detail: `invalid too-large encoding size ${this.pendingEncLen} + ${size}`,
            entry: e
          }
          return -1
        }
        const enc = this.pendingEnc
        let k = this.pendingEncLen
        for (let b = 0; b < size; b++) {
          enc[k++] = b < 4 ? (lo >>> (b * 8)) & 0xff : (hi >>> ((b - 4) * 8)) & 0xff
        }
        this.pendingEncLen = k
        return n
      }
      case TraceType.INSTR_MAYBE_FETCH:
      case TraceType.INSTR:
      case TraceType.INSTR_DIRECT_JUMP:
      case TraceType.INSTR_INDIRECT_JUMP:
      case TraceType.INSTR_CONDITIONAL_JUMP:
      case TraceType.INSTR_TAKEN_JUMP:
      case TraceType.INSTR_UNTAKEN_JUMP:
      case TraceType.INSTR_DIRECT_CALL:
      case TraceType.INSTR_INDIRECT_CALL:
      case TraceType.INSTR_RETURN:
      case TraceType.INSTR_SYSENTER:
      case TraceType.INSTR_NO_FETCH: {
        if (type === TraceType.INSTR_MAYBE_FETCH) {
          type =
            this.hasPrevInstr && this.prevInstrLo === lo && this.prevInstrHi === hi
              ? TraceType.INSTR_NO_FETCH
              : TraceType.INSTR
        }
        if (size === 0) {
          // Only sets the PC of following data records (filtered traces).
          this.curPcLo = lo
          this.curPcHi = hi
          return n
        }
        const indirect =
          type === TraceType.INSTR_INDIRECT_JUMP ||
          type === TraceType.INSTR_INDIRECT_CALL ||
          type === TraceType.INSTR_RETURN
        this.curPcLo = lo
        this.curPcHi = hi
        this.lastInstrSize = size
        this.prevInstrLo = lo
        this.prevInstrHi = hi
        this.hasPrevInstr = true
        let flags = 0
        let hasEnc = false
        if (this.pendingEncLen > 0) {
          if (this.pendingEncLen !== size && (this.filetype & FileType.ARCH_REGDEPS) === 0) {
            this.fault = {
              reason: "Corrupt",
              detail: `encoding size ${this.pendingEncLen} != instruction size ${size}`,
              entry: e
            }
            return -1
          }
          flags = FLAG_ENCODING_IS_NEW
          if (this.keepEncodings) {
            const copy = this.pendingEnc.slice(0, 16)
            copy[15] = this.pendingEncLen
            this.encodings!.set(`${hi}:${lo}`, copy)
            this.lastEnc.set(copy)
            hasEnc = true
          }
          this.pendingEncLen = 0
        } else if (this.keepEncodings) {
          const known = this.encodings!.get(`${hi}:${lo}`)
          if (known !== undefined) {
            this.lastEnc.set(known)
            hasEnc = true
          }
        }
        this.lastInstrType = type
        this.lastInstrFlags = flags
        this.lastInstrHasEnc = hasEnc
        n = this.emitInstr(batch, n, type, size, flags)
        if (indirect) {
          batch.auxLo[n - 1] = this.branchTargetLo
          batch.auxHi[n - 1] = this.branchTargetHi
          this.branchTargetLo = 0
          this.branchTargetHi = 0
        }
        if (type !== TraceType.INSTR_NO_FETCH) this.instrs++
        return n
      }
      case TraceType.INSTR_BUNDLE: {
        if (size > 8) {
          this.fault = { reason: "Corrupt", detail: `instruction bundle of ${size} > 8 instructions`, entry: e }
          return -1
        }
        for (let b = 0; b < size; b++) {
          this.bundle[b] = b < 4 ? (lo >>> (b * 8)) & 0xff : (hi >>> ((b - 4) * 8)) & 0xff
        }
        this.bundleLen = size
        this.bundlePos = 0
        return this.flushBundle(batch, n, batch.capacity)
      }
      case TraceType.INSTR_FLUSH:
      case TraceType.DATA_FLUSH:
        this.flushLo = lo
        this.flushHi = hi
        this.flushType = type
        if (size === 0) return n
        return this.emitFlush(batch, n, type, size)
      case TraceType.INSTR_FLUSH_END:
      case TraceType.DATA_FLUSH_END: {
        const diffLo = (lo - this.flushLo) >>> 0
        const borrow = lo < this.flushLo ? 1 : 0
        const diffHi = (hi - this.flushHi - borrow) >>> 0
        // The flushed length (end - start), clamped to the 16-bit size field.
        return this.emitFlush(batch, n, this.flushType, diffHi === 0 && diffLo < 0x10000 ? diffLo : 0xffff)
      }
      case TraceType.THREAD:
      case TraceType.PID:
        this.applyThreadOrPid(type, lo, hi)
        return n
      case TraceType.THREAD_EXIT:
        this.tid = signed64(lo, hi)
        this.pid = this.tid2pid.get(this.tid) ?? this.pid
        batch.type[n] = type
        batch.size[n] = size
        batch.addrLo[n] = lo
        batch.addrHi[n] = hi
        batch.auxLo[n] = 0
        batch.auxHi[n] = 0
        batch.flags[n] = 0
        return n + 1
      case TraceType.MARKER:
        return this.marker(size, lo, hi, batch, n)
      case TraceType.HEADER:
        this.atFooter = false
        return n
      case TraceType.FOOTER:
        this.atFooter = true
        return n
      default:
        this.fault = { reason: "UnknownEntryType", detail: `unknown trace entry type ${type}`, entry: e }
        return -1
    }
  }

  private emitFlush(batch: RecordBatch, n: number, type: number, size: number): number {
    batch.type[n] = type
    batch.size[n] = size
    batch.addrLo[n] = this.flushLo
    batch.addrHi[n] = this.flushHi
    batch.auxLo[n] = this.curPcLo
    batch.auxHi[n] = this.curPcHi
    batch.flags[n] = 0
    return n + 1
  }

  private marker(markerType: number, lo: number, hi: number, batch: RecordBatch, n: number): number {
    let visible = true
    switch (markerType) {
      case MarkerType.TIMESTAMP:
        if (this.chunkInstrCount > 0 && this.skipChunkHeader.has(this.tid)) {
          visible = false
        } else {
          this.lastTimestampLo = lo
          this.lastTimestampHi = hi
          if (!this.hasFirstTimestamp) {
            this.hasFirstTimestamp = true
            this.firstTimestampLo = lo
            this.firstTimestampHi = hi
          }
        }
        break
      case MarkerType.CPU_ID:
        if (this.chunkInstrCount > 0 && this.skipChunkHeader.has(this.tid)) {
          visible = false
          this.skipChunkHeader.delete(this.tid)
        }
        break
      case MarkerType.RECORD_ORDINAL:
        visible = false
        break
      case MarkerType.BRANCH_TARGET:
        visible = false
        this.branchTargetLo = lo
        this.branchTargetHi = hi
        break
      case MarkerType.VERSION:
        this.version = lo
        break
      case MarkerType.FILETYPE:
        this.filetype = hi * 4294967296 + lo
        this.foundFiletype = true
        break
      case MarkerType.CACHE_LINE_SIZE:
        this.cacheLineSize = lo
        break
      case MarkerType.PAGE_SIZE:
        this.pageSize = lo
        break
      case MarkerType.CHUNK_INSTR_COUNT:
        this.chunkInstrCount = hi * 4294967296 + lo
        break
      case MarkerType.CHUNK_FOOTER:
        this.skipChunkHeader.add(this.tid)
        break
    }
    if (!visible) return n
    batch.type[n] = TraceType.MARKER
    batch.size[n] = markerType
    batch.addrLo[n] = lo
    batch.addrHi[n] = hi
    batch.auxLo[n] = 0
    batch.auxHi[n] = 0
    batch.flags[n] = 0
    return n + 1
  }
}
