/**
 * The state machine of DynamoRIO's `view` tool (`tools/view.cpp`): one
 * printer per serial stream, fed record ranges in stream order, producing
 * DynamoRIO's text line by line.
 *
 * Stream ordinals: DynamoRIO prints `memtrace_stream_t::get_record_ordinal()`
 * and `get_instruction_ordinal()`. With one input (the scheduler's
 * USE_SINGLE_INPUT_ORDINALS) those are the input's own ordinals; otherwise
 * the output's running counts. The output's record ordinal comes from the
 * analyzer (`outputRecordsBefore`, synthetic records not counted). Its
 * instruction ordinal is the sum over inputs of each input's instruction
 * ordinal so far (a serial run has one output, which delivers every input's
 * instructions), so records the analyzer skips (`skip_records`) still count.
 */
import { FileType, MarkerType, TraceType } from "../../../trace/Record.ts"
import {
  ENCODING_BYTES_PER_RECORD,
  FLAG_ENCODING_IS_NEW,
  FLAG_HAS_ENCODING,
  FLAG_SYNTHETIC,
  firstRecordOrdinal,
  instrOrdinalBefore,
  inserted as isInserted,
  type RecordBatch
} from "../../../trace/RecordBatch.ts"
import {
  type ByteLayout,
  dataName,
  dataText,
  dec,
  encodingColumns,
  hex,
  hex16,
  instrKind,
  markerText,
  setw,
  signedTid,
  tidLabel
} from "./format.ts"

/** The divider DynamoRIO prints on a thread change, a gap in ordinals, and a new window. */
export const DIVIDER = "------------------------------------------------------------\n"

/** `view_t::print_header()`. */
export const HEADER = "Output format:\n<--record#-> <--instr#->: <Wrkld.Tid> <record details>\n" + DIVIDER

const TWO_32 = 4294967296
const FLUSH_AT = 1 << 20
/** DynamoRIO's `name_width` plus the 31 spaces it indents spilled-over encoding bytes with. */
const SPILL_INDENT = " ".repeat(12 + 31)

/** 1 for DynamoRIO's `type_is_instr` types. */
const INSTR = (() => {
  const t = new Uint8Array(256)
  for (let k = TraceType.INSTR; k <= TraceType.INSTR_RETURN; k++) t[k] = 1
  t[TraceType.INSTR_SYSENTER] = 1
  t[TraceType.INSTR_TAKEN_JUMP] = 1
  t[TraceType.INSTR_UNTAKEN_JUMP] = 1
  return t
})()

/** Branches whose target is not in the instruction (they carry it in the record from version 5 on). */
const isIndirectBranch = (type: number): boolean =>
  type === TraceType.INSTR_INDIRECT_JUMP || type === TraceType.INSTR_INDIRECT_CALL || type === TraceType.INSTR_RETURN

/** DynamoRIO's `TRACE_ENTRY_VERSION_BRANCH_INFO`. */
const VERSION_BRANCH_INFO = 5

export interface PrinterConfig {
  /** Print the input's ordinals (DynamoRIO with a single input) rather than the output's. */
  readonly inputOrdinals: boolean
  /** The stream's trace version, used when no VERSION marker was seen (-1: unknown). */
  readonly version: number
  /** The stream's file type, used when no FILETYPE marker was seen (-1: unknown, taken as 0). */
  readonly filetype: number
  /** Receives text as it is produced; undefined keeps it for {@link Printer.finish}. */
  readonly write: ((text: string) => void) | undefined
}

/** Why a record stopped the view (DynamoRIO's "… mismatch across files"). */
export interface Mismatch {
  readonly reason: "VersionMismatch" | "FiletypeMismatch"
  readonly index: number
  readonly record: number
  readonly tid: number
  readonly expected: number
  readonly found: number
}

export class Printer {
  private readonly config: PrinterConfig
  private out = ""
  private readonly chunks: Array<string> = []
  // print_prefix() state.
  private prevTid = -1
  private prevRecord = 0
  private readonly lastWindow = new Map<number, number>()
  private labelTid = Number.NaN
  private label = ""
  // The timestamp held back until the next marker.
  private tsPending = false
  private tsHi = 0
  private tsLo = 0
  private tsRecord = 0
  private tsTid = 0
  // Header values as the tool learns them.
  private version = -1
  private filetype = -1
  private filetypeDone = false
  private decoder = false
  private layout: ByteLayout = "x86"
  /** Instructions printed (DynamoRIO's `num_disasm_instrs_`). */
  instructions = 0
  // Stream ordinals of the record being printed.
  private recordOrd = 0
  private instrOrd = 0
  private readonly inputInstrs: Array<number> = []
  private totalInstrs = 0
  /** Instructions of inserted kernel sequences so far: in the output's instruction ordinal only. */
  private insertedInstrs = 0
  private cacheBatch: RecordBatch | undefined = undefined
  private cacheEnd = -1
  private cacheInstrs = 0
  mismatch: Mismatch | undefined = undefined

  constructor(config: PrinterConfig) {
    this.config = config
    this.emit(HEADER)
    this.flush()
  }

  /**
   * Prints records `[start, end)` of `batch`. Returns -1, or the index of
   * the record that failed (then {@link mismatch} says why).
   */
  process(
    batch: RecordBatch,
    start: number,
    end: number,
    input: number,
    outputRecordsBefore: number,
    inputRecordsBefore: number
  ): number {
    const types = batch.type
    const flags = batch.flags
    const inputOrdinals = this.config.inputOrdinals
    // Records the scheduler inserted (kernel sequences) do not advance their input's ordinals; the
    // output's count them.
    const inserted = isInserted(batch)
    let inputInstrs = 0
    if (input >= 0) {
      if (batch === this.cacheBatch && start === this.cacheEnd) inputInstrs = this.cacheInstrs
      else {
        inputInstrs = instrOrdinalBefore(batch)
        if (!inserted) for (let k = 0; k < start; k++) inputInstrs += INSTR[types[k]!]!
      }
    }
    const base = this.totalInstrs - (input >= 0 ? (this.inputInstrs[input] ?? 0) : 0)
    let outRecords = outputRecordsBefore
    let insertedInstrs = this.insertedInstrs
    let failed = -1
    for (let i = start; i < end; i++) {
      if ((flags[i]! & FLAG_SYNTHETIC) === 0) outRecords++
      if (inserted) insertedInstrs += INSTR[types[i]!]!
      else inputInstrs += INSTR[types[i]!]!
      this.recordOrd = inputOrdinals
        ? inserted
          ? firstRecordOrdinal(batch)
          : inputRecordsBefore + 1 + (i - start)
        : outRecords
      this.instrOrd = inputOrdinals ? inputInstrs : base + inputInstrs + insertedInstrs
      if (!this.record(batch, i)) {
        failed = i
        break
      }
    }
    this.insertedInstrs = insertedInstrs
    if (input >= 0) {
      this.inputInstrs[input] = inputInstrs
      this.cacheBatch = batch
      this.cacheEnd = failed < 0 ? end : failed + 1
      this.cacheInstrs = inputInstrs
    }
    this.totalInstrs = base + inputInstrs
    this.flush()
    return failed
  }

  /**
   * Ends the stream (`parallel_shard_exit`): prints a timestamp still held
   * back, and returns the text kept so far ("" when writing through).
   */
  finish(): string {
    if (this.tsPending) {
      this.emit(this.prefix(this.tsTid, this.tsRecord) + "<marker: timestamp " + dec(this.tsHi, this.tsLo) + ">\n")
      this.tsPending = false
    }
    this.flush()
    const text = this.chunks.join("") + this.out
    this.chunks.length = 0
    this.out = ""
    return text
  }

  private emit(text: string): void {
    this.out += text
  }

  private flush(): void {
    if (this.config.write !== undefined) {
      if (this.out.length > 0) this.config.write(this.out)
      this.out = ""
    } else if (this.out.length >= FLUSH_AT) {
      this.chunks.push(this.out)
      this.out = ""
    }
  }

  /** `print_prefix()`: the divider when the thread changes or ordinals jump, then the columns. */
  private prefix(tid: number, recordOrd: number): string {
    const t = signedTid(tid)
    const divider =
      (this.prevTid !== -1 && this.prevTid !== t) || (this.prevRecord !== 0 && this.prevRecord + 1 < recordOrd)
    this.prevTid = t
    this.prevRecord = recordOrd
    if (tid !== this.labelTid) {
      this.labelTid = tid
      this.label = setw(tidLabel(tid), 11) + " "
    }
    const columns = setw(recordOrd, 12) + setw(this.instrOrd, 12) + ": " + this.label
    return divider ? DIVIDER + columns : columns
  }

  private timestampText(): string {
    return "<marker: timestamp " + dec(this.tsHi, this.tsLo) + ">\n"
  }

  /**
   * `init_from_filetype()`. Without a FILETYPE marker (skipped records) nor a
   * configured file type, an instruction that carries encoding bytes tells
   * that the trace has encodings (the reader only attaches them then).
   */
  private initFromFiletype(recordFlags: number): void {
    if (this.filetypeDone) return
    if (this.filetype === -1) {
      if (this.config.filetype !== -1) this.filetype = this.config.filetype
      else this.filetype = (recordFlags & (FLAG_HAS_ENCODING | FLAG_ENCODING_IS_NEW)) !== 0 ? FileType.ENCODINGS : 0
    }
    // DynamoRIO disassembles when the trace embeds encodings (it has no module
    // binaries here); otherwise it names the instruction's type.
    this.decoder = (this.filetype & FileType.ENCODINGS) !== 0
    this.layout =
      (this.filetype & FileType.ARCH_REGDEPS) !== 0
        ? "regdeps"
        : (this.filetype & FileType.ARCH_AARCH64) !== 0
          ? "aarch64"
          : "x86"
    this.filetypeDone = true
  }

  private fail(reason: Mismatch["reason"], i: number, tid: number, expected: number, found: number): false {
    this.mismatch = { reason, index: i, record: this.recordOrd, tid: signedTid(tid), expected, found }
    return false
  }

  /** `parallel_shard_memref()` for record `i`. */
  private record(batch: RecordBatch, i: number): boolean {
    const type = batch.type[i]!
    const tid = batch.tid[i]!
    const hi = batch.addrHi[i]!
    const lo = batch.addrLo[i]!
    if (type === TraceType.MARKER) {
      const markerType = batch.size[i]!
      if (markerType === MarkerType.TIMESTAMP) {
        // Held back to see whether a window marker follows; a zero value counts as none.
        this.tsPending = hi !== 0 || lo !== 0
        this.tsHi = hi
        this.tsLo = lo
        this.tsRecord = this.recordOrd
        this.tsTid = tid
        return true
      }
      if (markerType === MarkerType.WINDOW_ID) {
        const value = hi * TWO_32 + lo
        if ((this.lastWindow.get(tid) ?? 0) !== value) this.emit(DIVIDER + this.prefix(tid, this.recordOrd))
        if (this.tsPending) {
          this.emit(this.timestampText())
          this.tsPending = false
          this.emit(this.prefix(tid, this.recordOrd))
        }
        this.emit("<marker: window " + dec(hi, lo) + ">\n")
        this.lastWindow.set(tid, value)
      }
      if (this.tsPending) {
        this.emit(this.prefix(tid, this.tsRecord) + this.timestampText())
        this.tsPending = false
      }
    }
    // DynamoRIO prints the columns even after a window marker's line, leaving
    // them dangling before the next record's; and none for tid 0 (CORE_WAIT).
    if (tid !== 0) this.emit(this.prefix(tid, this.recordOrd))
    if (type === TraceType.MARKER) {
      const markerType = batch.size[i]!
      switch (markerType) {
        case MarkerType.VERSION: {
          const v = lo | 0
          if (this.version === -1) this.version = v
          else if (this.version !== v) return this.fail("VersionMismatch", i, tid, this.version, v)
          this.emit("<marker: version " + this.version + ">\n")
          return true
        }
        case MarkerType.FILETYPE: {
          const ft = hi * TWO_32 + lo
          if (this.filetype === -1) {
            this.filetype = ft
            this.initFromFiletype(0)
          } else if (this.filetype !== ft) return this.fail("FiletypeMismatch", i, tid, this.filetype, ft)
          this.emit("<marker: filetype 0x" + hex(Math.floor(this.filetype / TWO_32), this.filetype >>> 0) + ">\n")
          return true
        }
        case MarkerType.WINDOW_ID:
          return true
        default:
          this.emit(markerText(markerType, hi, lo, tid, this.version))
          return true
      }
    }
    if (INSTR[type] === 0 && type !== TraceType.INSTR_NO_FETCH) {
      if (type === TraceType.THREAD_EXIT) {
        this.emit("<thread " + tidLabel(tid) + " exited>\n")
        return true
      }
      const name = dataName(type)
      if (name === undefined) this.emit("<entry type " + type + ">\n")
      else this.emit(dataText(name, batch.size[i]!, hi, lo, batch.auxHi[i]!, batch.auxLo[i]!))
      return true
    }
    this.initFromFiletype(batch.flags[i]!)
    if (this.version === -1) this.version = this.config.version
    const line =
      (type === TraceType.INSTR_NO_FETCH ? "non-fetched " : "ifetch      ") +
      setw(batch.size[i]!, 2) +
      " byte(s) @ 0x" +
      hex16(hi, lo)
    this.instructions++
    if (!this.decoder) {
      this.emit(line + " " + instrKind(type) + "\n")
      return true
    }
    // With a disassembler DynamoRIO prints the raw bytes, the mnemonic and a
    // branch decoration; we print the bytes and the decoration only.
    let decoration = ""
    if (type === TraceType.INSTR_TAKEN_JUMP) decoration = " (taken)"
    else if (type === TraceType.INSTR_UNTAKEN_JUMP) decoration = " (untaken)"
    else if (isIndirectBranch(type)) {
      const tHi = batch.auxHi[i]!
      const tLo = batch.auxLo[i]!
      // Unknown version (VERSION marker skipped, none configured): only
      // version 5+ traces carry branch targets, so a target tells the version.
      const known = this.version >= VERSION_BRANCH_INFO || (this.version === -1 && (tHi !== 0 || tLo !== 0))
      if (known) decoration = " (target 0x" + hex(tHi, tLo) + ")"
    }
    if ((batch.flags[i]! & FLAG_HAS_ENCODING) === 0) {
      this.emit(line + decoration + "\n")
      return true
    }
    const at = i * ENCODING_BYTES_PER_RECORD
    const cols = encodingColumns(batch.enc, at, batch.enc[at + ENCODING_BYTES_PER_RECORD - 1]!, this.layout)
    this.emit((line + cols.first + decoration).trimEnd() + "\n")
    if (cols.second !== "") this.emit(this.prefix(tid, this.recordOrd) + SPILL_INDENT + cols.second + "\n")
    return true
  }
}
