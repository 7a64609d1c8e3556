/**
 * The per-entry filter under `Filter`: one input file's raw `trace_entry_t`
 * stream in, the kept entries out to a writer, with DynamoRIO
 * `record_filter`'s rules where they apply. Pure and synchronous: no
 * allocation per entry once the tables are warm.
 *
 * - Input chunk artifacts (CHUNK_FOOTER, RECORD_ORDINAL, and the TIMESTAMP
 *   and CPU_ID a reader hides after a footer) are removed: a zip writer
 *   inserts its own, other containers have none.
 * - Encodings are held from the first ENCODING entry to their instruction.
 *   An encoding the output already gave for that PC (with the same bytes) is
 *   dropped; a kept instruction whose PC has not had its encoding in the
 *   output gets the last one seen in the input (trims remove the first
 *   instances), as record_filter's per-input encoding cache does.
 * - Trims never remove the header (everything before the first TIMESTAMP),
 *   the first WINDOW_ID, THREAD_EXIT or FOOTER (trim_filter's rules).
 *   Timestamp windows switch at TIMESTAMP markers, as trim_filter does.
 *   Instruction windows are exact: the window of instructions [B, A)
 *   (0-based) starts and ends at the first TIMESTAMP, ENCODING,
 *   BRANCH_TARGET or instruction after B (A) instructions, so an
 *   instruction keeps its data records and the markers after it up to the
 *   next time stamp. A window that does not start at a TIMESTAMP gets the
 *   last TIMESTAMP and CPU_ID first (a scheduler needs a time for it).
 */
import { FileType, isAnyInstr, isInstr, MarkerType, TraceType } from "../../Record.ts"
import { PcTable } from "../writer/pcTable.ts"

/** Where kept entries go; `write` returns false when the caller should drain. */
export interface EntryOutput {
  write(type: number, size: number, lo: number, hi: number): boolean
}

export interface FilterConfig {
  readonly dropEncodings: boolean
  /** 0-based instruction window [before, after); after = Infinity for none. */
  readonly trimBeforeInstr: number
  readonly trimAfterInstr: number
  /** Timestamp window [before, after] as u32 halves; after = 2^64-1 for none. */
  readonly tsBeforeHi: number
  readonly tsBeforeLo: number
  readonly tsAfterHi: number
  readonly tsAfterLo: number
  readonly trimByTimestamp: boolean
}

const T_MARKER = TraceType.MARKER
const T_ENCODING = TraceType.ENCODING
const T_THREAD = TraceType.THREAD
const T_THREAD_EXIT = TraceType.THREAD_EXIT
const T_FOOTER = TraceType.FOOTER
const T_MAYBE_FETCH = TraceType.INSTR_MAYBE_FETCH
const M_TIMESTAMP = MarkerType.TIMESTAMP
const M_CPU_ID = MarkerType.CPU_ID
const M_FILETYPE = MarkerType.FILETYPE
const M_WINDOW_ID = MarkerType.WINDOW_ID
const M_CORE_WAIT = MarkerType.CORE_WAIT
const M_BRANCH_TARGET = MarkerType.BRANCH_TARGET
const M_CHUNK_INSTR_COUNT = MarkerType.CHUNK_INSTR_COUNT
const M_CHUNK_FOOTER = MarkerType.CHUNK_FOOTER
const M_RECORD_ORDINAL = MarkerType.RECORD_ORDINAL
const ENC_SLOT = 16
const MAX_ENCODING = 15

/** 1: counts toward instruction ordinals (`type_is_instr`); 2: other instructions (carry a PC and maybe an encoding). */
const INSTR_KIND = (() => {
  const t = new Uint8Array(65536)
  for (let type = 0; type < 64; type++) {
    if (isInstr(type)) t[type] = 1
    else if (isAnyInstr(type) || type === T_MAYBE_FETCH) t[type] = 2
  }
  return t
})()

const lessThan = (hi: number, lo: number, bHi: number, bLo: number): boolean => hi < bHi || (hi === bHi && lo < bLo)

export class EntryFilter {
  private readonly out: EntryOutput
  private readonly c: FilterConfig
  private readonly trimming: boolean
  /** Some write asked for a drain since the caller last cleared it. */
  full = false
  /** Entries given to `push`. */
  pushed = 0
  /** Entries written. */
  written = 0
  /** Fetched instructions written. */
  instrsWritten = 0
  /** The input's FILETYPE marker value (its low word), -1 before one was seen. */
  filetype = -1
  lastWrittenType = -1
  private instrs = 0
  private seenTimestamp = false
  /** Inside the kept window (trims only). */
  private keep = true
  private windowStarted = false
  private windowEnded = false
  private windowIdSeen = false
  /** The first WINDOW_ID value read (-1 before one). */
  private firstWindow = -1
  /**
   * Trimming read a second window (DynamoRIO's message), or "": DynamoRIO's
   * trim filter refuses such traces, as windows need not be in time order;
   * the caller fails the run.
   */
  multipleWindows = ""
  private lastTsLo = 0
  private lastTsHi = 0
  private lastCpuLo = 0
  private lastCpuHi = 0
  private hasCpu = false
  private chunked = false
  private tid = 0
  private readonly skipTs = new Set<number>()
  private readonly skipCpu = new Set<number>()
  private encodingsFiletype = false
  // Encoding cache: PC -> slot of ENC_SLOT bytes (length at +15), and whether the output has it.
  private readonly cache = new PcTable()
  private pool = new Uint8Array(ENC_SLOT * 1024)
  private emitted = new Uint8Array(1024)
  private slots = 0
  // Entries held from the first ENCODING up to its instruction.
  private group = new Uint32Array(4 * 16)
  private groupLen = 0
  private readonly groupEnc = new Uint8Array(ENC_SLOT)
  private groupEncLen = 0
  private groupEncBad = false

  constructor(out: EntryOutput, config: FilterConfig) {
    this.out = out
    this.c = config
    this.trimming = config.trimByTimestamp || config.trimBeforeInstr > 0 || config.trimAfterInstr !== Infinity
  }

  push(type: number, size: number, lo: number, hi: number): void {
    this.pushed++
    if (type === T_MARKER) {
      if (this.artifact(size, lo, hi)) return
      // DynamoRIO's record_filter always drops wait records (a filtered core-sharded trace has no waits).
      if (size === M_CORE_WAIT) return
      if (size === M_WINDOW_ID && this.trimming) {
        const id = hi * 4294967296 + lo
        if (this.firstWindow < 0) this.firstWindow = id
        else if (id !== this.firstWindow && this.multipleWindows === "")
          this.multipleWindows = `Previous window_id = ${this.firstWindow}, current window_id = ${id}`
      }
      if (size === M_FILETYPE) {
        this.filetype = lo
        if (this.c.dropEncodings) lo = (lo & ~FileType.ENCODINGS) >>> 0
        this.encodingsFiletype = (lo & FileType.ENCODINGS) !== 0
      }
    } else if (type === T_THREAD) {
      this.tid = hi * 4294967296 + lo
    }
    const kind = INSTR_KIND[type & 0xffff]!
    if (this.trimming) this.window(type, size, lo, hi, kind)
    if (type === T_MARKER) {
      if (size === M_TIMESTAMP) {
        this.lastTsLo = lo
        this.lastTsHi = hi
      } else if (size === M_CPU_ID) {
        this.lastCpuLo = lo
        this.lastCpuHi = hi
        this.hasCpu = true
      }
    }
    if (type === T_ENCODING) {
      this.holdEncoding(size, lo, hi)
      return
    }
    if (this.groupLen > 0 && kind === 0) {
      this.hold(type, size, lo, hi)
      return
    }
    if (kind !== 0 && size > 0) {
      this.instruction(type, size, lo, hi, kind)
      return
    }
    if (this.kept(type, size)) this.emit(type, size, lo, hi)
  }

  /** Ends the stream: held entries without an instruction are written as they came; a missing FOOTER is added. */
  finish(): void {
    if (this.groupLen > 0) this.release(this.keep, !this.c.dropEncodings)
    if (this.lastWrittenType !== T_FOOTER) this.emit(T_FOOTER, 0, 0, 0)
  }

  /** Input chunk artifacts: true when the entry is dropped. */
  private artifact(size: number, lo: number, hi: number): boolean {
    switch (size) {
      case M_CHUNK_INSTR_COUNT:
        this.chunked = hi !== 0 || lo !== 0
        return false
      case M_CHUNK_FOOTER:
        if (this.chunked) {
          this.skipTs.add(this.tid)
          this.skipCpu.add(this.tid)
        }
        return true
      case M_RECORD_ORDINAL:
        return true
      case M_TIMESTAMP:
        return this.skipTs.size > 0 && this.skipTs.delete(this.tid)
      case M_CPU_ID:
        return this.skipCpu.size > 0 && this.skipCpu.delete(this.tid)
      default:
        return false
    }
  }

  /** Moves the window's edges; called for every entry before it is kept or dropped. */
  private window(type: number, size: number, lo: number, hi: number, kind: number): void {
    const c = this.c
    const before = this.instrs
    if (kind === 1) this.instrs++
    const isTs = type === T_MARKER && size === M_TIMESTAMP
    if (isTs) this.seenTimestamp = true
    if (!this.seenTimestamp) return
    if (c.trimByTimestamp) {
      if (isTs) {
        const inside = !lessThan(hi, lo, c.tsBeforeHi, c.tsBeforeLo) && !lessThan(c.tsAfterHi, c.tsAfterLo, hi, lo)
        this.keep = inside
      }
      return
    }
    const edge = isTs || type === T_ENCODING || (type === T_MARKER && size === M_BRANCH_TARGET) || kind !== 0
    if (!edge) return
    if (!this.windowStarted) {
      if (before >= c.trimBeforeInstr) {
        this.windowStarted = true
        if (c.trimBeforeInstr > 0) this.startWindow(isTs)
        this.keep = true
      } else this.keep = false
    }
    if (this.windowStarted && !this.windowEnded && before >= c.trimAfterInstr) {
      this.windowEnded = true
      this.keep = false
    }
  }

  /** The first kept entry after a cut: give the window the time and cpu it starts at. */
  private startWindow(atTimestamp: boolean): void {
    this.keep = true
    if (atTimestamp) return
    this.emit(T_MARKER, M_TIMESTAMP, this.lastTsLo, this.lastTsHi)
    if (this.hasCpu) this.emit(T_MARKER, M_CPU_ID, this.lastCpuLo, this.lastCpuHi)
  }

  private kept(type: number, size: number): boolean {
    if (this.keep || !this.seenTimestamp) return true
    if (type === T_THREAD_EXIT || type === T_FOOTER) return true
    if (type === T_MARKER && size === M_WINDOW_ID && !this.windowIdSeen) return true
    return false
  }

  private emit(type: number, size: number, lo: number, hi: number): void {
    if (type === T_MARKER && size === M_WINDOW_ID) this.windowIdSeen = true
    if (!this.out.write(type, size, lo, hi)) this.full = true
    this.written++
    this.lastWrittenType = type
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
    this.hold(T_ENCODING, size, lo, hi)
    if (size > 8 || this.groupEncLen + size > MAX_ENCODING) {
      this.groupEncBad = true
      return
    }
    const enc = this.groupEnc
    for (let b = 0; b < size; b++) {
      enc[this.groupEncLen++] = b < 4 ? (lo >>> (b * 8)) & 0xff : (hi >>> ((b - 4) * 8)) & 0xff
    }
  }

  /** Writes (or drops) the held entries, with or without their ENCODING entries. */
  private release(keep: boolean, withEncodings: boolean): void {
    const g = this.group
    for (let i = 0; i < this.groupLen; i++) {
      const k = i * 4
      const type = g[k]!
      if (type === T_ENCODING && !withEncodings) continue
      const size = g[k + 1]!
      if (type === T_ENCODING ? keep : this.kept(type, size)) this.emit(type, size, g[k + 2]!, g[k + 3]!)
    }
    this.groupLen = 0
    this.groupEncLen = 0
    this.groupEncBad = false
  }

  private instruction(type: number, size: number, lo: number, hi: number, kind: number): void {
    const keep = this.keep || !this.seenTimestamp
    let slot = -1
    if (this.groupLen > 0) {
      const hasEnc = this.groupEncLen > 0 && !this.groupEncBad
      let redundant = false
      if (hasEnc) {
        slot = this.cache.get(lo, hi)
        if (slot >= 0 && this.emitted[slot] === 1 && this.same(slot)) redundant = true
        else slot = this.remember(lo, hi, slot)
      }
      this.release(keep, !this.c.dropEncodings && !redundant)
      if (keep && hasEnc && !this.c.dropEncodings) this.emitted[slot] = 1
    } else if (keep && this.encodingsFiletype && !this.c.dropEncodings) {
      slot = this.cache.get(lo, hi)
      if (slot >= 0 && this.emitted[slot] === 0) {
        this.reemit(slot)
        this.emitted[slot] = 1
      }
    }
    if (!keep) return
    this.emit(type, size, lo, hi)
    if (kind === 1) this.instrsWritten++
  }

  private same(slot: number): boolean {
    const base = slot * ENC_SLOT
    const pool = this.pool
    if (pool[base + 15] !== this.groupEncLen) return false
    for (let b = 0; b < this.groupEncLen; b++) if (pool[base + b] !== this.groupEnc[b]) return false
    return true
  }

  /** Stores the held encoding for the PC (a new slot, or over a changed one); the output no longer has it. */
  private remember(lo: number, hi: number, existing: number): number {
    let slot = existing
    if (slot < 0) {
      slot = this.slots++
      if ((slot + 1) * ENC_SLOT > this.pool.length) {
        const bigger = new Uint8Array(this.pool.length * 2)
        bigger.set(this.pool)
        this.pool = bigger
        const flags = new Uint8Array(this.emitted.length * 2)
        flags.set(this.emitted)
        this.emitted = flags
      }
      this.cache.set(lo, hi, slot)
    }
    const base = slot * ENC_SLOT
    this.pool.set(this.groupEnc.subarray(0, this.groupEncLen), base)
    this.pool[base + 15] = this.groupEncLen
    this.emitted[slot] = 0
    return slot
  }

  /** Writes a cached encoding as ENCODING entries of up to 8 bytes (raw2trace's split). */
  private reemit(slot: number): void {
    const base = slot * ENC_SLOT
    const pool = this.pool
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
      this.emit(T_ENCODING, n, elo >>> 0, ehi >>> 0)
    }
  }
}
