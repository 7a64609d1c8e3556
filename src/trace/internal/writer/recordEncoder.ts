/**
 * Re-encodes decoded records (`RecordBatch`) as raw entries: the inverse of
 * the decoder, for writing a record stream back to a file.
 *
 * What it restores: the HEADER (version from the first VERSION marker, else
 * legacy 1); THREAD and PID entries after the leading VERSION/FILETYPE
 * markers and wherever the thread or process changes; ENCODING entries
 * before instructions flagged `encoding_is_new` (when the batch kept
 * encodings); a BRANCH_TARGET marker before indirect branches (always from
 * version 5, else when the target is non-zero); a PC-only instruction entry
 * before a data record whose PC is not the last instruction's (filtered
 * traces, and flushes); flushes as one entry, or start and end entries when
 * the length is 0 or clamped; the chunk header after a
 * CHUNK_FOOTER record (RECORD_ORDINAL, repeated TIMESTAMP and CPU_ID), so
 * readers hide the same duplicates; and the final FOOTER.
 *
 * What it cannot restore: encodings of batches read without `encodings: true`
 * (those instructions lose `encoding_is_new`), and instruction bundles or
 * MAYBE_FETCH entries (written as the records they decoded to).
 */
import { FileType, isAnyInstr, isData, MarkerType, TraceType, TraceVersion } from "../../Record.ts"
import * as RecordBatch from "../../RecordBatch.ts"

export interface EntryTarget {
  write(type: number, size: number, lo: number, hi: number): boolean
}

const TWO32 = 4294967296

// Module-local copies of what the per-record loop reads (see chunker.ts on imported bindings).
const T_MARKER = TraceType.MARKER
const T_INSTR = TraceType.INSTR
const T_ENCODING = TraceType.ENCODING
const M_BRANCH_TARGET = MarkerType.BRANCH_TARGET
const M_VERSION = MarkerType.VERSION
const M_FILETYPE = MarkerType.FILETYPE
const FLAG_NEW = RecordBatch.FLAG_ENCODING_IS_NEW
const FLAG_HAS = RecordBatch.FLAG_HAS_ENCODING
const ENC_BYTES = RecordBatch.ENCODING_BYTES_PER_RECORD
const K_INSTR = 1
const K_INDIRECT = 2
const K_DATA = 3
const K_FLUSH = 4
const K_MARKER = 5
const KIND = (() => {
  const t = new Uint8Array(256)
  for (let type = 0; type < 64; type++) {
    if (isAnyInstr(type)) t[type] = K_INSTR
    else if (isData(type)) t[type] = K_DATA
  }
  t[TraceType.INSTR_INDIRECT_JUMP] = K_INDIRECT
  t[TraceType.INSTR_INDIRECT_CALL] = K_INDIRECT
  t[TraceType.INSTR_RETURN] = K_INDIRECT
  t[TraceType.INSTR_FLUSH] = K_FLUSH
  t[TraceType.DATA_FLUSH] = K_FLUSH
  t[TraceType.MARKER] = K_MARKER
  return t
})()

const loOf = (v: number): number => (v < 0 ? v >>> 0 : v % TWO32)
const hiOf = (v: number): number => (v < 0 ? 0xffffffff : Math.floor(v / TWO32))

export class RecordEncoder {
  private readonly out: EntryTarget
  private started = false
  private threadWritten = false
  private version: number = TraceVersion.LEGACY
  /** REGDEPS traces have synthetic encodings whose length differs from the instruction's. */
  private regdeps = false
  private tid = Number.NaN
  private pid = Number.NaN
  private pcLo = 0
  private pcHi = 0
  private tsLo = 0
  private tsHi = 0
  private cpuLo = 0
  private cpuHi = 0
  private records = 0
  private ok = true

  constructor(out: EntryTarget) {
    this.out = out
  }

  private put(type: number, size: number, lo: number, hi: number): void {
    this.ok = this.out.write(type, size, lo, hi) && this.ok
  }

  private thread(tid: number, pid: number): void {
    this.put(TraceType.THREAD, 4, loOf(tid), hiOf(tid))
    this.put(TraceType.PID, 4, loOf(pid), hiOf(pid))
    this.tid = tid
    this.pid = pid
    this.threadWritten = true
  }

  /**
   * Encodes records `[start, end)` of `batch`. Returns false if the target
   * asked to be drained during the batch.
   */
  encode(batch: RecordBatch.RecordBatch, start: number = 0, end: number = RecordBatch.length(batch)): boolean {
    this.ok = true
    const { type: types, size: sizes, addrLo, addrHi, auxLo, auxHi, flags, tid, pid, enc } = batch
    for (let i = start; i < end; i++) {
      const type = types[i]!
      const size = sizes[i]!
      const lo = addrLo[i]!
      const hi = addrHi[i]!
      if (!this.started) {
        this.started = true
        if (type === TraceType.MARKER && size === MarkerType.VERSION) this.version = lo
        this.put(TraceType.HEADER, 0, this.version, 0)
      }
      const isHeaderMarker = type === T_MARKER && (size === M_VERSION || size === M_FILETYPE)
      if (!(isHeaderMarker && !this.threadWritten) && (tid[i] !== this.tid || pid[i] !== this.pid)) {
        this.thread(tid[i]!, pid[i]!)
      }
      this.records++
      const kind = KIND[type]!
      if (kind === K_INSTR || kind === K_INDIRECT) {
        const f = flags[i]!
        const base = i * ENC_BYTES
        const len = enc[base + 15]!
        if (
          (f & FLAG_NEW) !== 0 &&
          (f & FLAG_HAS) !== 0 &&
          // Instructions expanded from a bundle inherit the previous one's encoding: not theirs to repeat.
          (len === size || this.regdeps)
        ) {
          for (let off = 0; off < len; off += 8) {
            const n = Math.min(8, len - off)
            let elo = 0
            let ehi = 0
            for (let b = 0; b < n; b++) {
              const v = enc[base + off + b]!
              if (b < 4) elo |= v << (b * 8)
              else ehi |= v << ((b - 4) * 8)
            }
            this.put(T_ENCODING, n, elo >>> 0, ehi >>> 0)
          }
        }
        if (kind === K_INDIRECT && (this.version >= TraceVersion.BRANCH_INFO || auxLo[i] !== 0 || auxHi[i] !== 0)) {
          this.put(T_MARKER, M_BRANCH_TARGET, auxLo[i]!, auxHi[i]!)
        }
        this.put(type, size, lo, hi)
        this.pcLo = lo
        this.pcHi = hi
      } else if (kind === K_DATA || kind === K_FLUSH) {
        // Data and flush records carry the last instruction's PC.
        if (auxLo[i] !== this.pcLo || auxHi[i] !== this.pcHi) {
          this.put(T_INSTR, 0, auxLo[i]!, auxHi[i]!)
          this.pcLo = auxLo[i]!
          this.pcHi = auxHi[i]!
        }
        if (kind === K_DATA || (size > 0 && size < 0xffff)) this.put(type, size, lo, hi)
        else {
          // Start and end entries; a length clamped to 0xffff reads back clamped the same way.
          const end = lo + size
          this.put(type, 0, lo, hi)
          this.put(type + 1, 0, end >>> 0, (hi + (end >= TWO32 ? 1 : 0)) >>> 0)
        }
      } else if (kind === K_MARKER) {
        this.put(type, size, lo, hi)
        if (size === MarkerType.TIMESTAMP) {
          this.tsLo = lo
          this.tsHi = hi
        } else if (size === MarkerType.CPU_ID) {
          this.cpuLo = lo
          this.cpuHi = hi
        } else if (size === MarkerType.VERSION) {
          this.version = lo
        } else if (size === MarkerType.FILETYPE) {
          this.regdeps = (lo & FileType.ARCH_REGDEPS) !== 0
        } else if (size === MarkerType.CHUNK_FOOTER) {
          const n = this.records
          this.put(TraceType.MARKER, MarkerType.RECORD_ORDINAL, loOf(n), hiOf(n))
          this.put(TraceType.MARKER, MarkerType.TIMESTAMP, this.tsLo, this.tsHi)
          this.put(TraceType.MARKER, MarkerType.CPU_ID, this.cpuLo, this.cpuHi)
        }
      } else {
        this.put(type, size, lo, hi)
      }
    }
    return this.ok
  }

  /** Ends the stream with a FOOTER. Returns false if the target asked to be drained. */
  finish(): boolean {
    this.ok = true
    if (this.started) this.put(TraceType.FOOTER, 0, 0, 0)
    return this.ok
  }
}
