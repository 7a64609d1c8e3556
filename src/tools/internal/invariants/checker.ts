/**
 * One shard of DynamoRIO's invariant_checker (`per_shard_t` and
 * `parallel_shard_memref`), the checks that need no disassembler, in
 * DynamoRIO's order so the same record trips the same check first.
 *
 * The per-record loop is the hot path: numeric fields, 64-bit values as
 * (hi, lo) halves, no allocation except on rare events (signal contexts,
 * syscall templates, violations).
 */
import type { BatchContext } from "../../../analyzer/Tool.ts"
import { FileType, MarkerType, TraceType, TraceVersion } from "../../../trace/Record.ts"
import {
  filetype as batchFiletype,
  firstRecordOrdinal,
  inserted as isInserted,
  type RecordBatch
} from "../../../trace/RecordBatch.ts"

const TWO32 = 4294967296
/** `func_trace_t::TRACE_FUNC_ID_SYSCALL_BASE` on 64-bit hosts (2^32). */
const SYSCALL_BASE_HI = 1
/** x86-64 Linux `SYS_futex`: the only function id a REGDEPS trace may keep. */
const SYS_FUTEX = 202
/** `DEFAULT_SYSCALL_TRACE_TEMPLATE_SYSNUM`. */
const DEFAULT_SYSCALL_TEMPLATE = 0x0fffffff
/** `switch_type_t`: SWITCH_THREAD = 1 … SWITCH_LAST_VALID_ENUM = SWITCH_PROCESS = 2. */
const SWITCH_LAST_VALID = 2

const FILTERED_ANY = FileType.FILTERED | FileType.IFILTERED
const ARCH_ALL =
  FileType.ARCH_AARCH64 | FileType.ARCH_ARM32 | FileType.ARCH_X86_32 | FileType.ARCH_X86_64 | FileType.ARCH_REGDEPS

/** One reported violation (DynamoRIO's `report_if_false` line). */
export interface Violation {
  /** `core` for core-sharded runs (id = shard), `T` otherwise (id = tid). */
  readonly where: "T" | "core"
  readonly id: number
  readonly ref: number
  readonly instr: number
  readonly sinceTimestamp: number
  /** The last timestamp, as a decimal u64. */
  readonly lastTimestamp: string
  readonly name: string
}

/** One `schedule_entry_t` seen at a CPU_ID marker: tid, timestamp and cpu as (hi, lo) halves, instruction count. */
export const SCHED_FIELDS = 6

const isInstrType = (t: number): boolean =>
  (t >= TraceType.INSTR && t <= TraceType.INSTR_RETURN) || t === 31 || t === 48 || t === 49
const isBranch = (t: number): boolean => (t >= 11 && t <= 16) || t === 48 || t === 49
const isDirectBranch = (t: number): boolean => t === 11 || t === 13 || t === 14 || t === 48 || t === 49
const isPrefetch = (t: number): boolean => (t >= 2 && t <= 9) || (t >= 32 && t <= 46) || t === 27
const isContextEvent = (m: number): boolean => m === MarkerType.KERNEL_EVENT || m === MarkerType.HARDWARE_EVENT
const isContextReturn = (m: number): boolean => m === MarkerType.KERNEL_XFER || m === MarkerType.HARDWARE_CONTEXT_RETURN

/** An instruction as the checker remembers it (DynamoRIO's `instr_info_t` without decoding). */
class InstrInfo {
  type = 0
  pcLo = 0
  pcHi = 0
  size = 0
  targetLo = 0
  targetHi = 0
  kernel = false

  set(from: InstrInfo): void {
    this.type = from.type
    this.pcLo = from.pcLo
    this.pcHi = from.pcHi
    this.size = from.size
    this.targetLo = from.targetLo
    this.targetHi = from.targetHi
    this.kernel = from.kernel
  }

  clear(): void {
    this.type = this.pcLo = this.pcHi = this.size = this.targetLo = this.targetHi = 0
    this.kernel = false
  }

  copy(): InstrInfo {
    const c = new InstrInfo()
    c.set(this)
    return c
  }

  /** pc + size == (hi, lo). */
  fallsTo(hi: number, lo: number): boolean {
    const s = this.pcLo + this.size
    return s >>> 0 === lo && (this.pcHi + (s >= TWO32 ? 1 : 0)) >>> 0 === hi
  }
}

interface SignalContext {
  readonly pcLo: number
  readonly pcHi: number
  readonly pre: InstrInfo
  readonly markerType: number
}

export interface CheckerOptions {
  readonly coreSharded: boolean
  readonly shardIndex: number
  /** Records were skipped or cut (skip/exit-after options): no missing-exit check, ordinals re-based once. */
  readonly traceIncomplete: boolean
  readonly maxReported: number
  readonly abortOnError: boolean
  /**
   * Whether the stream ordinal checks run: DynamoRIO skips them on a serial stream once it has seen a
   * second shard (its ordinals are the whole stream's). Undefined: always.
   */
  readonly ordinalChecks?: (() => boolean) | undefined
}

const HEADER_FILETYPE = 0
const HEADER_VERSION = 1
const HEADER_CACHE_LINE = 2
const HEADER_PAGE_SIZE = 3
const HEADER_CHUNK = 4
const HEADER_NAMES = [
  "Stream interface filetype != trace marker",
  "Stream interface version != trace marker",
  "Stream interface cache line size != trace marker",
  "Stream interface page size != trace marker",
  "Stream interface chunk instr count != trace marker"
]

export class ShardChecker {
  readonly opts: CheckerOptions
  readonly violations: Array<Violation> = []
  violationCount = 0
  /** Flattened schedule entries (SCHED_FIELDS numbers each) in trace order, consecutive duplicates dropped. */
  readonly sched: Array<number> = []
  // Stream header values per input, as first seen (what the input reported when opened).
  private readonly headers = new Map<number, Float64Array>()
  private started = false
  // DynamoRIO's per_shard_t fields.
  tid = -1
  private refCount = 0
  private instrCount = 0
  /** Of those, records and instructions the scheduler inserted (kernel sequences): not in the input's ordinals. */
  private insertedRefs = 0
  private insertedInstrs = 0
  private sinceTimestamp = 0
  private lastTsHi = 0
  private lastTsLo = 0
  fileType = 0
  /** The file type is known (read ahead, or from the reader's stream state). */
  private fileTypeKnown = false
  private traceVersion = 0
  private prevType = 0
  private prevMarker = 0
  private prevValueLo = 0
  private prevPrevType = 0
  private prevPrevMarker = 0
  private prevXferType: number = MarkerType.VERSION
  private prevXferTid = 0
  private prevFuncIdHi = 0
  private readonly retaddrs: Array<number> = []
  private readonly prevInstr = new InstrInfo()
  private readonly cur = new InstrInfo()
  private readonly contexts: Array<SignalContext> = []
  private lastContext: SignalContext = { pcLo: 0, pcHi: 0, pre: new InstrInfo(), markerType: MarkerType.KERNEL_EVENT }
  private readonly lastInstrInContext = new InstrInfo()
  private sawRseqAbort = false
  private sawThreadExit = false
  private sawTimestampButNoInstr = false
  private foundCacheLine = false
  private foundInstrCount = false
  private foundPageSize = false
  private foundSyscall = false
  private prevWasSyscallMarker = false
  private lastSyscallValue = -1
  private expectSyscallTrace = false
  private syscallTraceNumAfterUser = -1
  private foundBlocking = false
  private syscallCount = 0
  private lastInstrCountHi = 0
  private lastInstrCountLo = 0
  private lastWindowHi = 0
  private lastWindowLo = 0
  private windowTransition = false
  private chunkInstrCount = 0
  private skippedInstrs = false
  private inRseq = false
  private rseqStartHi = 0
  private rseqStartLo = 0
  private rseqEndHi = 0
  private rseqEndLo = 0
  private sawFilterEndpoint = false
  private betweenSyscallTrace = false
  private betweenSwitchTrace = false
  private hardwareDepth = 0
  private verifyNextThreadExit = false
  private readonly preSyscallTraceInstr = new InstrInfo()
  private depthAtSyscallStart = -1
  private depthAtSwitchStart = -1
  private kernelEndHi = 0
  private kernelEndLo = 0
  private lastChunk = -1
  private adjustedOrdinals = false
  private readonly sawSwitchTrace = new Set<number>()
  private readonly sawSyscallTrace = new Set<number>()
  // The stream ordinals of the record being checked (DynamoRIO's get_record_ordinal / get_instruction_ordinal).
  private streamRef = 0
  private streamInstr = 0
  // Where the last call stopped counting a batch's instructions (the batch is known by its
  // input and first record ordinal: batches are recycled, never kept).
  private countInput = Number.NaN
  private countFirst = Number.NaN
  private countIndex = 0
  private countInstrs = 0
  /** Records and instructions this shard saw: a dynamically core-sharded output's ordinals. */
  private outputRecords = 0
  private outputInstrs = 0
  /** Set by the first violation when aborting on errors, with its batch index (-1 at shard exit). */
  aborted = false
  abortAt = -1

  constructor(opts: CheckerOptions) {
    this.opts = opts
  }

  /** Records a violation (DynamoRIO's `report_if_false` with a false condition). */
  private fail(name: string, i: number): void {
    this.violationCount++
    if (this.violations.length < this.opts.maxReported) {
      this.violations.push({
        where: this.opts.coreSharded ? "core" : "T",
        id: this.opts.coreSharded ? this.opts.shardIndex : this.tid,
        ref: this.streamRef,
        instr: this.streamInstr,
        sinceTimestamp: this.sinceTimestamp,
        lastTimestamp: ((BigInt(this.lastTsHi) << 32n) | BigInt(this.lastTsLo)).toString(),
        name
      })
    }
    if (this.opts.abortOnError && !this.aborted) {
      this.aborted = true
      this.abortAt = i
    }
  }

  /** Stream header values must stay what the input first said. */
  private checkHeader(input: number, slot: number, value: number, i: number): void {
    let h = this.headers.get(input)
    if (h === undefined) {
      h = new Float64Array(5).fill(Number.NaN)
      this.headers.set(input, h)
    }
    if (Number.isNaN(h[slot]!)) h[slot] = value
    else if (h[slot] !== value) this.fail(HEADER_NAMES[slot]!, i)
  }

  private dynamicallyCoreSharded(): boolean {
    return this.opts.coreSharded && (this.fileType & FileType.CORE_SHARDED) === 0
  }

  private resetAtContextSwitch(tid: number, onDisk: boolean): void {
    this.tid = tid
    if (!onDisk) {
      // Core-sharded-on-disk ordinals run on across threads; otherwise re-base on the stream's.
      this.sinceTimestamp = 0
      this.refCount = this.streamRef
      this.instrCount = this.streamInstr
      this.insertedRefs = this.insertedInstrs = 0
    }
    this.prevType = this.prevMarker = this.prevValueLo = 0
    this.prevPrevType = this.prevPrevMarker = 0
    this.prevXferType = MarkerType.KERNEL_EVENT
    this.prevXferTid = 0
    this.prevFuncIdHi = 0
    this.prevWasSyscallMarker = false
    this.syscallTraceNumAfterUser = -1
    this.inRseq = false
    this.retaddrs.length = 0
    this.prevInstr.clear()
    this.lastSyscallValue = 0
    this.expectSyscallTrace = false
    this.kernelEndHi = this.kernelEndLo = 0
    this.contexts.length = 0
    this.lastContext = { pcLo: 0, pcHi: 0, pre: new InstrInfo(), markerType: MarkerType.KERNEL_EVENT }
    this.lastInstrInContext.clear()
    this.sawRseqAbort = false
  }

  /**
   * DynamoRIO's `check_for_pc_discontinuity` without decoding: a direct
   * branch's target is only known from its encoding, so only fall-through,
   * untaken and indirect targets are checked.
   */
  private pcDiscontinuity(prev: InstrInfo, curHi: number, curLo: number, curType: number, atEvent: boolean): string {
    let msg = ""
    if (this.kernelEndHi !== 0 || this.kernelEndLo !== 0) {
      const same = this.kernelEndHi === curHi && this.kernelEndLo === curLo
      this.kernelEndHi = this.kernelEndLo = 0
      if (!same && prev.type !== TraceType.INSTR_SYSENTER) msg = "Kernel trace-end branch marker does not match next pc"
    }
    if (prev.pcHi === 0 && prev.pcLo === 0) return msg
    const fallThroughAllowed =
      !isBranch(prev.type) ||
      prev.type === TraceType.INSTR_CONDITIONAL_JUMP ||
      prev.type === TraceType.INSTR_UNTAKEN_JUMP
    const samePc = prev.pcHi === curHi && prev.pcLo === curLo
    const valid =
      (this.fileType & FILTERED_ANY) !== 0 ||
      (fallThroughAllowed && prev.fallsTo(curHi, curLo)) ||
      (this.betweenSyscallTrace &&
        this.prevType === TraceType.MARKER &&
        this.prevMarker === MarkerType.SYSCALL_TRACE_START) ||
      (this.betweenSwitchTrace &&
        this.prevType === TraceType.MARKER &&
        this.prevMarker === MarkerType.CONTEXT_SWITCH_START) ||
      (samePc && curType === TraceType.INSTR_NO_FETCH) ||
      (samePc && atEvent) ||
      (this.prevXferTid !== 0 &&
        !atEvent &&
        (isContextEvent(this.prevXferType) ||
          isContextReturn(this.prevXferType) ||
          this.prevXferType === MarkerType.RSEQ_ABORT)) ||
      (atEvent &&
        curHi === this.lastContext.pcHi &&
        curLo === this.lastContext.pcLo &&
        prev.pcHi === this.lastContext.pre.pcHi &&
        prev.pcLo === this.lastContext.pre.pcLo) ||
      this.windowTransition ||
      prev.type === TraceType.INSTR_SYSENTER
    if (valid) return msg
    if (isBranch(prev.type)) {
      if (this.traceVersion >= TraceVersion.BRANCH_INFO && (this.fileType & FileType.ARCH_REGDEPS) === 0) {
        if (prev.type === TraceType.INSTR_UNTAKEN_JUMP) {
          if (!prev.fallsTo(curHi, curLo)) msg = "Branch does not go to the correct target"
        } else if (!isDirectBranch(prev.type)) {
          if (prev.targetHi !== curHi || prev.targetLo !== curLo) msg = "Branch does not go to the correct target"
        }
      }
      return msg
    }
    // DynamoRIO names two decoded cases apart (duplicate syscall PCs, rseq side exits).
    return "Non-explicit control flow has no marker"
  }

  /** Checks records `[start, end)`. Returns the batch index to fail at (abort mode), or -1. */
  process(batch: RecordBatch, start: number, end: number, ctx: BatchContext): number {
    const { type: types, size: sizes, tid: tids, addrLo, addrHi, auxLo, auxHi } = batch
    const opts = this.opts
    if (!this.started) {
      this.started = true
      this.tid = tids[start]!
      // The stream reports the file type before the first record is seen: read it ahead.
      for (let k = start; k < end && k < start + 16; k++) {
        if (types[k] === TraceType.MARKER && sizes[k] === MarkerType.FILETYPE) {
          this.fileType = addrHi[k]! * TWO32 + addrLo[k]!
          this.fileTypeKnown = true
          break
        }
      }
    }
    if (!this.fileTypeKnown && batchFiletype(batch) >= 0) {
      // No FILETYPE marker ahead (a skip went past the header, or the first batches were the scheduler's):
      // the reader's, as DynamoRIO's checker takes the stream's at a skip.
      this.fileType = batchFiletype(batch)
      this.fileTypeKnown = true
    }
    // The input's instruction ordinal before batch[start] (thread shards and cores on disk).
    // Segments of one batch come in order: resume the count where the last call ended.
    const h = batch.header
    let inputInstrs: number
    let k = 0
    if (h[1] === this.countInput && h[2] === this.countFirst && start >= this.countIndex) {
      inputInstrs = this.countInstrs
      k = this.countIndex
    } else inputInstrs = h[3]!
    // Records the scheduler inserted (kernel sequences) leave their input's ordinals where they were.
    const inserted = isInserted(batch)
    if (!inserted && (!opts.coreSharded || (this.fileType & FileType.CORE_SHARDED) !== 0)) {
      for (; k < start; k++) if (isInstrType(types[k]!)) inputInstrs++
    }
    const inputRefBase = ctx.inputRecordsBefore - start
    const checkOrdinals = opts.ordinalChecks?.() ?? true
    for (let i = start; i < end; i++) {
      const t = types[i]!
      const tid = tids[i]!
      const isMarker = t === TraceType.MARKER
      const mt = isMarker ? sizes[i]! : -1
      const lo = addrLo[i]!
      const hi = addrHi[i]!
      const isInstr = isInstrType(t)
      this.refCount++
      this.outputRecords++
      if (inserted) this.insertedRefs++
      if (isInstr) {
        this.instrCount++
        this.sinceTimestamp++
        if (inserted) this.insertedInstrs++
        else inputInstrs++
        this.outputInstrs++
      }
      if (opts.coreSharded && (this.fileType & FileType.CORE_SHARDED) === 0) {
        // The output's ordinals: this shard's own counts (a core-serial run
        // hands one stream's ordinals to every core, as DynamoRIO's serial
        // stream does, where it skips this check).
        this.streamRef = this.outputRecords
        this.streamInstr = this.outputInstrs
      } else {
        this.streamRef = inserted ? firstRecordOrdinal(batch) : inputRefBase + i + 1
        this.streamInstr = inputInstrs
      }
      if (mt === MarkerType.CORE_IDLE) {
        if (tid !== -1) this.fail("Unexpected tid for core_idle marker", i)
        this.tid = -1
        continue
      }
      if (!(opts.coreSharded || this.tid === tid)) this.fail("Shard tid != memref tid", i)
      if (this.tid !== tid) {
        if (!((this.fileType & FileType.KERNEL_SYSCALLS) === 0 || mt === MarkerType.CONTEXT_SWITCH_START))
          this.fail("Missing context switch trace", i)
        this.resetAtContextSwitch(tid, (this.fileType & FileType.CORE_SHARDED) !== 0)
      }
      if (mt === MarkerType.HARDWARE_EVENT || mt === MarkerType.HARDWARE_CONTEXT_RETURN) {
        if ((this.fileType & FileType.WHOLE_SYSTEM) === 0)
          this.fail("Hardware context marker found in non-whole-system trace", i)
      }
      // These markers may sit between a SYSCALL marker and its syscall trace.
      const prevWasSyscallMarker = this.prevWasSyscallMarker
      if (isMarker) {
        switch (mt) {
          case MarkerType.SYSCALL_UNSCHEDULE:
          case MarkerType.SYSCALL_SCHEDULE:
          case MarkerType.SYSCALL_ARG_TIMEOUT:
          case MarkerType.DIRECT_THREAD_SWITCH:
          case MarkerType.MAYBE_BLOCKING_SYSCALL:
          case MarkerType.FUNC_ARG:
            if (
              !(
                (mt === MarkerType.FUNC_ARG && this.prevFuncIdHi < SYSCALL_BASE_HI) ||
                this.syscallTraceNumAfterUser === -1
              )
            )
              this.fail("Found unexpected func_arg or syscall marker after injected syscall trace", i)
            break
          case MarkerType.FUNC_ID:
            break
          default:
            this.prevWasSyscallMarker = false
        }
      }
      // The input's ordinals leave out inserted records; a core's (dynamically scheduled) count them.
      const ownRefs = this.dynamicallyCoreSharded() ? this.refCount : this.refCount - this.insertedRefs
      const ownInstrs = this.dynamicallyCoreSharded() ? this.instrCount : this.instrCount - this.insertedInstrs
      if (ownInstrs <= 1 && !this.skippedInstrs && this.streamInstr > 1) this.skippedInstrs = true
      if (!this.skippedInstrs && checkOrdinals) {
        if (opts.traceIncomplete && !this.adjustedOrdinals && ownRefs < this.streamRef) {
          // Records were skipped from the start (-skip_records).
          this.refCount += this.streamRef - ownRefs
          this.adjustedOrdinals = true
        } else if (ownRefs !== this.streamRef) this.fail("Stream record ordinal inaccurate", i)
        if (ownInstrs !== this.streamInstr) this.fail("Stream instr ordinal inaccurate", i)
      }
      if (isMarker && this.prevType === TraceType.MARKER && this.prevMarker === MarkerType.RSEQ_ABORT) {
        if (mt !== MarkerType.KERNEL_EVENT) this.fail("Rseq marker not immediately prior to kernel marker", i)
      }
      if (mt === MarkerType.RSEQ_ENTRY) {
        this.inRseq = true
        this.rseqStartHi = this.rseqStartLo = 0
        this.rseqEndHi = hi
        this.rseqEndLo = lo
      } else if (this.inRseq) {
        if (isInstr) {
          if (this.rseqStartHi === 0 && this.rseqStartLo === 0) {
            this.rseqStartHi = hi
            this.rseqStartLo = lo
          }
          const s = lo + sizes[i]!
          const endLo = s >>> 0
          const endHi = (hi + (s >= TWO32 ? 1 : 0)) >>> 0
          if (endHi === this.rseqEndHi && endLo === this.rseqEndLo) {
            this.inRseq = false
          } else if (
            (hi > this.rseqStartHi || (hi === this.rseqStartHi && lo >= this.rseqStartLo)) &&
            (hi < this.rseqEndHi || (hi === this.rseqEndHi && lo < this.rseqEndLo))
          ) {
            // Still inside the region.
          } else {
            if (!isBranch(this.prevInstr.type)) this.fail("Rseq region exit requires marker, branch, or commit", i)
            this.inRseq = false
          }
        } else {
          if (!(mt !== MarkerType.KERNEL_EVENT || isBranch(this.prevInstr.type)))
            this.fail("Signal in rseq region should have abort marker", i)
        }
      }
      if (mt === MarkerType.RSEQ_ABORT) {
        const p = this.prevInstr
        const s = p.pcLo + p.size
        const rolledBack =
          (this.rseqEndHi === 0 && this.rseqEndLo === 0) ||
          !(s >>> 0 === this.rseqEndLo && (p.pcHi + (s >= TWO32 ? 1 : 0)) >>> 0 === this.rseqEndHi) ||
          (p.pcHi === hi && p.pcLo === lo)
        if (!rolledBack) this.fail("Rseq post-abort instruction not rolled back", i)
        this.inRseq = false
      }
      if (isMarker) {
        switch (mt) {
          case MarkerType.FILETYPE:
            this.fileType = hi * TWO32 + lo
            this.fileTypeKnown = true
            this.checkHeader(ctx.input, HEADER_FILETYPE, this.fileType, i)
            if (!((this.fileType & FileType.WHOLE_SYSTEM) === 0 || (this.fileType & FileType.KERNEL_SYSCALLS) === 0))
              this.fail("Trace cannot have both whole_system and kernel_syscalls bit set", i)
            break
          case MarkerType.INSTRUCTION_COUNT:
            this.foundInstrCount = true
            if (!(hi > this.lastInstrCountHi || (hi === this.lastInstrCountHi && lo >= this.lastInstrCountLo)))
              this.fail("Instr count markers not increasing", i)
            this.lastInstrCountHi = hi
            this.lastInstrCountLo = lo
            break
          case MarkerType.CACHE_LINE_SIZE:
            this.foundCacheLine = true
            this.checkHeader(ctx.input, HEADER_CACHE_LINE, hi * TWO32 + lo, i)
            break
          case MarkerType.PAGE_SIZE:
            this.foundPageSize = true
            this.checkHeader(ctx.input, HEADER_PAGE_SIZE, hi * TWO32 + lo, i)
            break
          case MarkerType.VECTOR_LENGTH:
            if ((this.fileType & FileType.ARCH_AARCH64) !== 0) {
              if (!(hi === 0 && lo > 0 && lo <= 256 && lo % 16 === 0))
                this.fail("Vector length marker has invalid size", i)
            } else {
              this.fail("Unexpected vector length marker", i)
            }
            break
          case MarkerType.VERSION:
            this.traceVersion = lo
            this.checkHeader(ctx.input, HEADER_VERSION, lo, i)
            break
          case MarkerType.CHUNK_FOOTER:
            if (!this.dynamicallyCoreSharded()) {
              const value = hi * TWO32 + lo
              if (this.skippedInstrs) {
                if (value < 1 + this.lastChunk) this.fail("Chunks do not increase", i)
              } else if (value !== 1 + this.lastChunk) this.fail("Chunks do not increase monotonically", i)
              this.lastChunk = value
            }
            break
          case MarkerType.KERNEL_EVENT_RAW:
            this.fail("TRACE_MARKER_TYPE_KERNEL_EVENT_RAW should not appear in the final trace", i)
            break
          case MarkerType.SYSCALL:
            this.foundSyscall = true
            this.prevWasSyscallMarker = true
            this.lastSyscallValue = lo | 0
            if ((this.fileType & FileType.KERNEL_SYSCALLS) !== 0) this.expectSyscallTrace = true
            this.syscallCount++
            if (this.traceVersion >= TraceVersion.FREQUENT_TIMESTAMPS) {
              if (
                !(
                  this.prevType === TraceType.MARKER &&
                  this.prevMarker === MarkerType.CPU_ID &&
                  this.prevPrevType === TraceType.MARKER &&
                  this.prevPrevMarker === MarkerType.TIMESTAMP
                )
              )
                this.fail("Syscall marker not preceded by timestamp + cpuid", i)
            }
            break
          case MarkerType.MAYBE_BLOCKING_SYSCALL:
            this.foundBlocking = true
            if (
              !(
                (this.prevType === TraceType.MARKER && this.prevMarker === MarkerType.SYSCALL) ||
                (this.fileType & FileType.ARCH_REGDEPS) !== 0
              )
            )
              this.fail("Maybe-blocking marker not preceded by syscall marker", i)
            break
          case MarkerType.CHUNK_INSTR_COUNT:
            this.chunkInstrCount = hi * TWO32 + lo
            this.checkHeader(ctx.input, HEADER_CHUNK, this.chunkInstrCount, i)
            break
        }
        if (mt === MarkerType.CHUNK_FOOTER && !this.dynamicallyCoreSharded()) {
          if (
            !(
              (this.fileType & FileType.KERNEL_SYSCALL_TRACE_TEMPLATES) !== 0 ||
              this.skippedInstrs ||
              (this.chunkInstrCount !== 0 && (this.instrCount - this.insertedInstrs) % this.chunkInstrCount === 0)
            )
          )
            this.fail("Chunk instruction counts are inconsistent", i)
        }
      }
      if (
        this.prevType === TraceType.MARKER &&
        this.prevMarker >= MarkerType.FUNC_ID &&
        this.prevMarker <= MarkerType.FUNC_RETVAL
      ) {
        if (!(t !== TraceType.READ && t !== TraceType.WRITE && !isPrefetch(t)))
          this.fail("Function marker misplaced between instr and memref", i)
      }
      if (mt === MarkerType.SYSCALL_TRACE_START) this.syscallTraceStart(lo | 0, prevWasSyscallMarker, i)
      if (mt === MarkerType.HARDWARE_EVENT) {
        this.hardwareDepth++
        if (this.hardwareDepth >= 30) this.fail("Possibly missing hardware_context_return markers.", i)
      } else if (mt === MarkerType.HARDWARE_CONTEXT_RETURN) {
        // A trace may start inside an interrupt handler.
        if (--this.hardwareDepth < 0) this.hardwareDepth = 0
      } else if (mt === MarkerType.SYSCALL_TRACE_END) {
        this.syscallTraceEnd(lo | 0, i)
      } else if (mt === MarkerType.CONTEXT_SWITCH_START) {
        if (this.betweenSwitchTrace) this.fail("Nested kernel context switch traces are not expected", i)
        this.betweenSwitchTrace = true
        this.depthAtSwitchStart = this.contexts.length
        const value = hi * TWO32 + lo
        if (!(value > 0 && value <= SWITCH_LAST_VALID)) this.fail("Invalid switch type", i)
        this.sawSwitchTrace.add(value)
        this.kernelEndHi = this.kernelEndLo = 0
      } else if (mt === MarkerType.CONTEXT_SWITCH_END) {
        if (!this.betweenSwitchTrace) this.fail("Found kernel context switch trace end without start", i)
        if (this.betweenSwitchTrace) {
          if (this.depthAtSwitchStart !== this.contexts.length)
            this.fail("Context switch trace has extra context event marker", i)
        }
        this.depthAtSwitchStart = -1
        const p = this.prevInstr
        if (!(isBranch(p.type) && !isDirectBranch(p.type)))
          this.fail("Switch trace does not end with indirect branch", i)
        this.kernelEndHi = p.targetHi
        this.kernelEndLo = p.targetLo
        this.betweenSwitchTrace = false
        // The next instructions come from the new context.
        this.lastInstrInContext.clear()
      }
      if (mt >= MarkerType.FUNC_ID && mt <= MarkerType.FUNC_RETVAL) {
        if (mt === MarkerType.FUNC_ID) {
          this.prevFuncIdHi = hi
        }
        const r = this.retaddrs
        if (mt === MarkerType.FUNC_RETADDR && r.length > 0) {
          if (!(r[r.length - 2] === hi && r[r.length - 1] === lo))
            this.fail("Function marker retaddr should match prior call", i)
        }
        if (
          !(
            this.prevFuncIdHi >= SYSCALL_BASE_HI ||
            isBranch(this.prevInstr.type) ||
            this.instrCount === 0 ||
            (this.prevXferType === MarkerType.KERNEL_XFER &&
              ((this.lastContext.pre.pcHi === 0 && this.lastContext.pre.pcLo === 0) ||
                isBranch(this.lastInstrInContext.type)))
          )
        )
          this.fail("Function marker should be after a branch", i)
      }
      if (t === TraceType.THREAD_EXIT) this.threadExit(i)
      if (this.prevType === TraceType.MARKER && this.prevMarker === MarkerType.PHYSICAL_ADDRESS) {
        if (mt !== MarkerType.VIRTUAL_ADDRESS)
          this.fail("Physical addr marker not immediately prior to virtual marker", i)
        // Pages are at least 4 KiB.
        if (!((lo & 0xfff) === (this.prevValueLo & 0xfff)))
          this.fail("Physical addr bottom 12 bits do not match virtual", i)
      }
      if (isInstr || t === TraceType.PREFETCH_INSTR || t === TraceType.INSTR_NO_FETCH) {
        this.instruction(t, hi, lo, sizes[i]!, auxHi[i]!, auxLo[i]!, i)
      }
      if (mt === MarkerType.TIMESTAMP) {
        if (!(hi > this.lastTsHi || (hi === this.lastTsHi && lo >= this.lastTsLo)))
          this.fail("Timestamp does not increase monotonically", i)
        this.lastTsHi = hi
        this.lastTsLo = lo
        this.sawTimestampButNoInstr = true
        this.sinceTimestamp = 0
      } else if (mt === MarkerType.CPU_ID) {
        this.recordCpu(hi, lo)
      }
      let sawRseqAbortNow = false
      if (isContextEvent(mt) || isContextReturn(mt)) sawRseqAbortNow = this.contextMarker(mt, hi, lo, tid, i)
      if (mt === MarkerType.WINDOW_ID) {
        if (this.lastWindowHi !== hi || this.lastWindowLo !== lo) this.windowTransition = true
        this.lastWindowHi = hi
        this.lastWindowLo = lo
      } else if (mt === MarkerType.FILTER_ENDPOINT) {
        this.sawFilterEndpoint = true
        if ((this.fileType & FileType.BIMODAL_FILTERED_WARMUP) === 0)
          this.fail("Found TRACE_MARKER_TYPE_FILTER_ENDPOINT without the correct file type", i)
      }
      if (this.traceVersion >= TraceVersion.BRANCH_INFO) {
        let indirect = false
        if (isBranch(t) && (this.fileType & FILTERED_ANY) === 0) {
          if (t === TraceType.INSTR_CONDITIONAL_JUMP)
            this.fail("The CONDITIONAL_JUMP type is deprecated and should not appear", i)
          if (!isDirectBranch(t)) {
            indirect = true
            const noTarget = auxHi[i] === 0 && auxLo[i] === 0
            if (!(this.betweenSyscallTrace || !noTarget)) this.fail("Indirect branches must contain targets", i)
            if (noTarget && this.betweenSyscallTrace) this.verifyNextThreadExit = true
          }
        }
        if (isInstr && !indirect) {
          if (!(auxHi[i] === 0 && auxLo[i] === 0)) this.fail("Indirect target should be 0 for non-indirect-branches", i)
        }
      }
      if (sawRseqAbortNow) this.sawRseqAbort = true
      else if (mt !== MarkerType.TIMESTAMP && mt !== MarkerType.CPU_ID) this.sawRseqAbort = false
      this.prevPrevType = this.prevType
      this.prevPrevMarker = this.prevMarker
      this.prevType = t
      this.prevMarker = isMarker ? mt : 0
      this.prevValueLo = lo
      if ((this.fileType & FileType.ARCH_REGDEPS) !== 0 && isMarker) this.regdepsMarker(mt, hi, lo, i)
      if (this.aborted) return this.abortAt
    }
    this.countInput = h[1]!
    this.countFirst = h[2]!
    this.countIndex = end
    this.countInstrs = inputInstrs
    return -1
  }

  private syscallTraceStart(sysnum: number, prevWasSyscallMarker: boolean, i: number): void {
    const ft = this.fileType
    if (
      !(
        (ft &
          (FileType.KERNEL_SYSCALLS |
            FileType.KERNEL_SYSCALL_INSTR_ONLY |
            FileType.KERNEL_SYSCALL_TRACE_TEMPLATES |
            FileType.WHOLE_SYSTEM)) !==
        0
      )
    )
      this.fail("Found kernel syscall trace without corresponding file type", i)
    if (this.betweenSyscallTrace) this.fail("Nested kernel syscall traces are not expected", i)
    if (
      !((ft & (FILTERED_ANY | FileType.KERNEL_SYSCALL_TRACE_TEMPLATES)) !== 0 || this.syscallTraceNumAfterUser === -1)
    )
      this.fail("Found multiple syscall traces after a user-space instr", i)
    this.kernelEndHi = this.kernelEndLo = 0
    if ((ft & (FileType.KERNEL_SYSCALL_TRACE_TEMPLATES | FileType.KERNEL_SYSCALL_INSTR_ONLY)) === 0) {
      if (!prevWasSyscallMarker)
        this.fail("System call trace found without prior syscall marker or unexpected intervening records", i)
      if (this.lastSyscallValue !== sysnum) this.fail("Mismatching syscall num in trace start and syscall marker", i)
    }
    this.preSyscallTraceInstr.set(this.prevInstr)
    this.betweenSyscallTrace = true
    this.depthAtSyscallStart = this.contexts.length
    this.sawSyscallTrace.add(sysnum)
  }

  private syscallTraceEnd(sysnum: number, i: number): void {
    const ft = this.fileType
    this.expectSyscallTrace = false
    if (!this.betweenSyscallTrace) this.fail("Found kernel syscall trace end without start", i)
    if ((ft & FileType.KERNEL_SYSCALL_TRACE_TEMPLATES) === 0) {
      if (this.lastSyscallValue !== sysnum) this.fail("Mismatching syscall num in trace end and syscall marker", i)
      this.syscallTraceNumAfterUser = sysnum
    }
    if ((ft & FileType.KERNEL_SYSCALL_INSTR_ONLY) === 0) {
      const p = this.prevInstr
      if (!(isBranch(p.type) && !isDirectBranch(p.type)))
        this.fail("System call trace does not end with indirect branch", i)
      this.kernelEndHi = p.targetHi
      this.kernelEndLo = p.targetLo
    }
    if (!this.betweenSyscallTrace) return
    if (this.depthAtSyscallStart !== this.contexts.length) this.fail("Syscall trace has extra context event marker", i)
    this.depthAtSyscallStart = -1
    this.betweenSyscallTrace = false
    // Continuity checks go on from the last user-space instruction.
    this.prevInstr.set(this.preSyscallTraceInstr)
    this.lastInstrInContext.set(this.preSyscallTraceInstr)
  }

  private threadExit(i: number): void {
    const ft = this.fileType
    this.sawThreadExit = true
    this.verifyNextThreadExit = false
    if (!((ft & FILTERED_ANY) === 0 || this.foundInstrCount)) this.fail("Missing instr count markers", i)
    // After a skip the stream still knows the header values (the reader saw them).
    if (!(this.foundCacheLine || this.skippedInstrs)) this.fail("Missing cache line marker", i)
    if (!(this.foundPageSize || this.skippedInstrs)) this.fail("Missing page size marker", i)
    if (!(this.foundSyscall === ((ft & FileType.SYSCALL_NUMBERS) !== 0) || this.syscallCount === 0))
      this.fail("System call numbers presence does not match filetype", i)
    if (!(!this.foundBlocking || (ft & FileType.BLOCKING_SYSCALLS) !== 0))
      this.fail("Kernel scheduling marker presence does not match filetype", i)
    if (!((ft & FileType.BIMODAL_FILTERED_WARMUP) === 0 || this.sawFilterEndpoint))
      this.fail("Expected to find TRACE_MARKER_TYPE_FILTER_ENDPOINT for the given file type", i)
    if ((ft & (FILTERED_ANY | FileType.KERNEL_SYSCALL_TRACE_TEMPLATES)) === 0) {
      const pt = this.prevInstr.type
      if (!(isInstrType(pt) || pt === TraceType.PREFETCH_INSTR || pt === TraceType.INSTR_NO_FETCH))
        this.fail("An unfiltered thread should have at least 1 user-space instruction", i)
    }
  }

  private instruction(t: number, hi: number, lo: number, size: number, auxHi: number, auxLo: number, i: number): void {
    const ft = this.fileType
    if (this.verifyNextThreadExit) this.fail("Expected thread exit after branch-to-zero in syscall trace", i)
    if (!this.betweenSyscallTrace) {
      this.preSyscallTraceInstr.clear()
      this.syscallTraceNumAfterUser = -1
      if (this.expectSyscallTrace) this.fail("Missing system call trace", i)
      this.expectSyscallTrace = false
    }
    const cur = this.cur
    cur.type = t
    cur.pcHi = hi
    cur.pcLo = lo
    cur.size = size
    cur.targetHi = auxHi
    cur.targetLo = auxLo
    cur.kernel = this.betweenSyscallTrace || this.betweenSwitchTrace
    if (!cur.kernel) {
      // Tail calls push nothing: the callee's return address marker reuses the caller's.
      if (t === TraceType.INSTR_DIRECT_CALL || t === TraceType.INSTR_INDIRECT_CALL) {
        const s = lo + size
        this.retaddrs.push((hi + (s >= TWO32 ? 1 : 0)) >>> 0, s >>> 0)
      } else if (t === TraceType.INSTR_RETURN && this.retaddrs.length > 0) {
        this.retaddrs.length -= 2
      }
    }
    const prev = this.prevInstr
    if (isBranch(prev.type)) {
      // Offline traces put a branch's target right after it, with no possible thread switch.
      if (
        !(
          !this.sawTimestampButNoInstr ||
          this.prevXferType === MarkerType.KERNEL_EVENT ||
          (this.opts.coreSharded && prev.kernel && !cur.kernel) ||
          ((ft & FileType.KERNEL_SYSCALL_TRACE_TEMPLATES) !== 0 && this.kernelEndHi === 0 && this.kernelEndLo === 0) ||
          (ft & FILTERED_ANY) !== 0
        )
      )
        this.fail("Branch target not immediately after branch", i)
    }
    const msg = this.pcDiscontinuity(prev, hi, lo, t, false)
    if (msg !== "") this.fail(msg, i)
    if (isContextReturn(this.prevXferType)) {
      const lc = this.lastContext
      const returned =
        (lc.pcHi === 0 && lc.pcLo === 0) ||
        (hi === lc.pcHi && lo === lc.pcLo) ||
        // DynamoRIO hands a different resumption address for sysenter.
        lc.pre.type === TraceType.INSTR_SYSENTER
      let name =
        this.prevXferType === MarkerType.HARDWARE_CONTEXT_RETURN
          ? "Interrupt handler return point incorrect"
          : "Signal handler return point incorrect"
      if (
        this.prevXferType === MarkerType.HARDWARE_CONTEXT_RETURN &&
        this.prevType === TraceType.MARKER &&
        this.prevMarker === MarkerType.SYSCALL_TRACE_END
      ) {
        name = "Syscall return point incorrect in wholesys trace"
      }
      // A direct jump marks an rseq abort handler.
      if (!(returned || t === TraceType.INSTR_DIRECT_JUMP || (ft & FILTERED_ANY) !== 0)) this.fail(name, i)
    }
    this.lastInstrInContext.set(cur)
    prev.set(cur)
    // Cleared on an instruction (not a data record), so that it is immediately prior (i#3937).
    this.prevXferType = MarkerType.VERSION
    this.sawTimestampButNoInstr = false
    this.windowTransition = false
  }

  private recordCpu(hi: number, lo: number): void {
    const s = this.sched
    const n = s.length
    // Identical consecutive entries (a buffer's last timestamp, then the next buffer's first) are one.
    if (
      n >= SCHED_FIELDS &&
      s[n - 6] === this.tid &&
      s[n - 5] === this.lastTsHi &&
      s[n - 4] === this.lastTsLo &&
      s[n - 3] === hi &&
      s[n - 2] === lo &&
      s[n - 1] === this.instrCount
    ) {
      return
    }
    s.push(this.tid, this.lastTsHi, this.lastTsLo, hi, lo, this.instrCount)
  }

  /** A KERNEL_EVENT / HARDWARE_EVENT / KERNEL_XFER / HARDWARE_CONTEXT_RETURN marker. Returns whether it was an rseq abort. */
  private contextMarker(mt: number, hi: number, lo: number, tid: number, i: number): boolean {
    let rseqAbort = false
    const event = isContextEvent(mt)
    const afterRseqAbort = this.prevType === TraceType.MARKER && this.prevMarker === MarkerType.RSEQ_ABORT
    if (event && !(this.betweenSyscallTrace || this.betweenSwitchTrace) && !afterRseqAbort) {
      // The handler's return to the restorer pops this sentinel.
      this.retaddrs.push(0, 0)
    }
    if (hi === 0 && lo === 0) this.fail("Kernel event marker value missing", i)
    if (!event) {
      const name = mt === MarkerType.HARDWARE_CONTEXT_RETURN ? "hardware_context_return" : "kernel_xfer"
      if (this.depthAtSyscallStart >= this.contexts.length) this.fail(`Syscall trace has extra ${name} marker`, i)
      if (this.depthAtSwitchStart >= this.contexts.length) this.fail(`Context switch trace has extra ${name} marker`, i)
      const top = this.contexts.pop()
      if (top === undefined) {
        // The trace started inside a handler.
        this.lastContext = { pcLo: 0, pcHi: 0, pre: new InstrInfo(), markerType: MarkerType.KERNEL_EVENT }
        this.lastInstrInContext.clear()
      } else {
        this.lastContext = top
        if (!(top.markerType === (mt === MarkerType.KERNEL_XFER ? MarkerType.KERNEL_EVENT : MarkerType.HARDWARE_EVENT)))
          this.fail("Mismatched signal/interrupt context return marker", i)
        this.lastInstrInContext.set(top.pre)
      }
    } else if (mt === MarkerType.KERNEL_EVENT && afterRseqAbort) {
      rseqAbort = true
    } else {
      const last = this.lastInstrInContext
      if (isInstrType(last.type) && !this.sawRseqAbort) {
        const msg = this.pcDiscontinuity(last, hi, lo, TraceType.MARKER, true)
        const suffix = mt === MarkerType.HARDWARE_EVENT ? " @ hardware_event marker" : " @ kernel_event marker"
        if (msg !== "") this.fail(msg + suffix, i)
      } else if ((this.kernelEndHi !== 0 || this.kernelEndLo !== 0) && !isInstrType(last.type)) {
        if (!(this.kernelEndHi === hi && this.kernelEndLo === lo))
          this.fail("Kernel trace-end branch marker does not match context-first kernel_event marker", i)
        this.kernelEndHi = this.kernelEndLo = 0
      }
      this.contexts.push({ pcHi: hi, pcLo: lo, pre: last.copy(), markerType: mt })
      last.clear()
    }
    this.prevXferType = mt
    this.prevXferTid = tid
    return rseqAbort
  }

  private regdepsMarker(mt: number, hi: number, lo: number, i: number): void {
    const cannot = (what: string) =>
      this.fail(`OFFLINE_FILE_TYPE_ARCH_REGDEPS traces cannot have TRACE_MARKER_TYPE_${what} markers`, i)
    switch (mt) {
      case MarkerType.FILETYPE:
        if (!(hi * TWO32 + lo === this.fileType))
          this.fail("TRACE_MARKER_TYPE_FILETYPE and shard file type are not the same", i)
        // DynamoRIO's message lacks the space between "other" and the type name.
        if (!((this.fileType & (ARCH_ALL & ~FileType.ARCH_REGDEPS)) === 0))
          this.fail("OFFLINE_FILE_TYPE_ARCH_REGDEPS traces cannot have otherOFFLINE_FILE_TYPE_ARCH_*", i)
        break
      case MarkerType.CPU_ID:
        if (!(hi === 0xffffffff && lo === 0xffffffff))
          this.fail("OFFLINE_FILE_TYPE_ARCH_REGDEPS traces cannot have a valid TRACE_MARKER_TYPE_CPU_ID", i)
        break
      case MarkerType.SYSCALL_IDX:
        cannot("SYSCALL_IDX")
        break
      case MarkerType.SYSCALL:
        cannot("SYSCALL")
        break
      case MarkerType.SYSCALL_TRACE_START:
        cannot("SYSCALL_TRACE_START")
        break
      case MarkerType.SYSCALL_TRACE_END:
        cannot("SYSCALL_TRACE_END")
        break
      case MarkerType.SYSCALL_FAILED:
        cannot("SYSCALL_FAILED")
        break
      case MarkerType.FUNC_ID:
        if (!(hi === SYSCALL_BASE_HI && lo === SYS_FUTEX))
          this.fail(
            "OFFLINE_FILE_TYPE_ARCH_REGDEPS traces cannot have TRACE_MARKER_TYPE_FUNC_ID markers related to functions that are not SYS_futex",
            i
          )
        break
      case MarkerType.SIGNAL_NUMBER:
        cannot("SIGNAL_NUMBER")
        break
      case MarkerType.UNCOMPLETED_INSTRUCTION:
        cannot("UNCOMPLETED_INSTRUCTION")
        break
    }
  }

  /** DynamoRIO's `parallel_shard_exit` checks (at the shard's last record ordinals). */
  finish(): void {
    const ft = this.fileType
    if ((ft & FileType.KERNEL_SYSCALL_TRACE_TEMPLATES) !== 0) {
      const hasSwitch = this.sawSwitchTrace.size > 0
      const hasSyscall = this.sawSyscallTrace.size > 0
      if (!((!hasSwitch && hasSyscall) || (hasSwitch && !hasSyscall)))
        this.fail("Expected either switch or syscall traces in the template file", -1)
      if (!(hasSwitch || this.sawSyscallTrace.has(DEFAULT_SYSCALL_TEMPLATE)))
        this.fail("Missing default syscall trace in template file", -1)
      if (!(hasSyscall || this.sawSwitchTrace.size >= SWITCH_LAST_VALID))
        this.fail("Missing switch traces in template file", -1)
    }
    if (!(this.sawThreadExit || this.opts.coreSharded || this.opts.traceIncomplete))
      this.fail("Thread is missing exit", -1)
  }

  /** Whether this shard saw a REGDEPS trace (DynamoRIO then prints a warning). */
  get regdeps(): boolean {
    return (this.fileType & FileType.ARCH_REGDEPS) !== 0
  }
}
