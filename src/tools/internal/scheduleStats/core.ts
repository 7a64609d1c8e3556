/**
 * One core's schedule_stats state machine (DynamoRIO's `per_shard_t` and
 * `parallel_shard_memref`): the record loop classifies each record as running
 * an input, idle or wait, detects switches by (workload, tid), classifies
 * them, and keeps the histograms and the schedule string.
 *
 * The loop is the hot path: plain numbers and typed-array reads; allocation
 * only at context switches (switch records, histogram keys) and when a letter
 * is appended.
 */
import type { BatchContext } from "../../../analyzer/Tool.ts"
import { FileType, MarkerType, TraceType, TraceVersion } from "../../../trace/Record.ts"
import * as RecordBatch from "../../../trace/RecordBatch.ts"
import type { SubShardOrigin } from "../shards.ts"

/** `kSwitchBinSize`: instructions-per-switch histogram bins. */
export const SWITCH_BIN = 50_000
/** `kSysnumLatencyBinSize`: syscall latency bins, in microseconds. */
export const LATENCY_BIN = 5

const STATE_CPU = 0
const STATE_IDLE = 1
const STATE_WAIT = 2

/** Schedule string events, rendered to letters once the file type is final. */
export const EV_UPPER = 0
export const EV_LOWER = 1
export const EV_IDLE = 2
export const EV_WAIT = 3

const WORKLOAD_FACTOR = 2 ** 48
const TWO32 = 4294967296

/** A bin → count histogram, keys kept in insertion order (printed sorted). */
export type Bins = Map<number, number>

const addBin = (bins: Bins, value: number, binSize: number): void => {
  const bin = value - (value % binSize)
  bins.set(bin, (bins.get(bin) ?? 0) + 1)
}

/** DynamoRIO's `schedule_record_t`: one switch-out. */
export interface SwitchRecord {
  readonly workload: number
  readonly tid: number
  readonly instructions: number
  readonly syscallNumber: number
  readonly syscallLatency: number
  readonly voluntary: boolean
  readonly direct: boolean
  readonly inputInstrStart: number
}

/** Why a core's records cannot be analysed (DynamoRIO's shard error strings). */
export type CoreFailure = "SwitchInSyscallTrace" | "TimestampInKernel"

/** Microseconds of a monotonic clock (DynamoRIO's `get_microsecond_timestamp`); only deltas are used. */
export const wallClockMicros = (): number => Math.floor(performance.now() * 1000)

export class CoreState {
  readonly origin: SubShardOrigin
  private readonly printEvery: number
  private readonly keepRecords: number
  private readonly clock: () => number
  // Our own statistics (DynamoRIO's counters_t, the part the records give).
  instrs = 0
  totalSwitches = 0
  voluntarySwitches = 0
  directSwitches = 0
  syscalls = 0
  maybeBlockingSyscalls = 0
  directSwitchRequests = 0
  waits = 0
  idles = 0
  idleMicros = 0
  idleMicrosAtLastInstr = 0
  cpuMicros = 0
  waitMicros = 0
  /** Threads in first-seen order, as "workload:tid" → [workload, tid]. */
  readonly threads = new Map<string, readonly [number, number]>()
  readonly instrsPerSwitch: Bins = new Map()
  /** Per "workload:tid": [workload, tid, bins], in first-switch-out order. */
  readonly tidInstrsPerSwitch = new Map<
    string,
    { readonly workload: number; readonly tid: number; readonly bins: Bins }
  >()
  readonly sysnumSwitchLatency = new Map<number, Bins>()
  readonly sysnumNoswitchLatency = new Map<number, Bins>()
  /** The first switch records (as many as the verbosity prints) and how many there were. */
  readonly switchRecords: Array<SwitchRecord> = []
  switchRecordCount = 0
  /** Switch-ins to a thread: workload, tid and the core's time (instructions + idles + waits) then. */
  readonly switchIns: Array<number> = []
  // Schedule string events: kind, tid, input.
  readonly events: Array<number> = []
  // Per-record state (DynamoRIO's per_shard_t).
  filetype = 0
  version = 0
  private prevWorkload = -1
  private prevTid = 0
  private sawSyscall = false
  private lastSyscallNumber = -1
  private preTsHi = 0
  private preTsLo = 0
  private postTsHi = 0
  private postTsLo = 0
  private directSwitchTarget = 0
  private sawExit = false
  private curSegmentInstrs = 0
  private curState = STATE_CPU
  private segmentStart: number
  private switchUserInstrs = 0
  private switchStartInputInstr = 1
  private inSyscallTrace = false
  // The stream's kernel tracker (`is_record_kernel`).
  private kernelSyscall = false
  private kernelSwitch = false
  private hardwareDepth = 0
  // Where counting a batch's instructions stopped (for the input instruction ordinal of a record).
  private ordInput = Number.NaN
  private ordFirst = Number.NaN
  private ordIndex = 0
  private ordCount = 0
  failure: CoreFailure | undefined = undefined

  constructor(origin: SubShardOrigin, printEvery: number, keepRecords: number, clock: () => number) {
    this.origin = origin
    this.printEvery = printEvery
    this.keepRecords = keepRecords
    this.clock = clock
    this.segmentStart = clock()
  }

  /**
   * The input's ordinal of its next instruction at record `i` (instructions
   * before `i`, plus one): where a segment starting at `i` starts. DynamoRIO
   * reads it from the input stream, which the scheduler has advanced to the
   * instruction boundary.
   */
  private nextInputInstr(batch: RecordBatch.RecordBatch, i: number): number {
    // Batches are recycled, never kept: one is known again by its input and first record ordinal.
    const h = batch.header
    if (h[1] !== this.ordInput || h[2] !== this.ordFirst || this.ordIndex > i) {
      this.ordInput = h[1]!
      this.ordFirst = h[2]!
      this.ordIndex = 0
      this.ordCount = h[3]!
    }
    const types = batch.type
    let n = this.ordCount
    for (let k = this.ordIndex; k < i; k++) {
      const t = types[k]!
      if ((t >= TraceType.INSTR && t <= TraceType.INSTR_RETURN) || t === 31 || t === 48 || t === 49) n++
    }
    this.ordIndex = i
    this.ordCount = n
    return n + 1
  }

  private updateStateTime(state: number): void {
    const cur = this.clock()
    const delta = Math.max(0, cur - this.segmentStart)
    if (state === STATE_CPU) this.cpuMicros += delta
    else if (state === STATE_IDLE) this.idleMicros += delta
    else this.waitMicros += delta
    this.segmentStart = cur
  }

  /** DynamoRIO's `parallel_shard_exit`: the time of the last state. */
  finish(): void {
    this.updateStateTime(this.curState)
  }

  private recordContextSwitch(
    prevWorkload: number,
    prevTid: number,
    workload: number,
    tid: number,
    input: number,
    hasInput: boolean,
    batch: RecordBatch.RecordBatch,
    i: number
  ): void {
    // Neither the first entry on a core nor a switch away from WAIT counts,
    // nor idle-to-input: swap-outs are counted, as `perf` does.
    const addToCounts =
      !(prevWorkload === -1 && prevTid === 0) &&
      !(prevWorkload === -1 && prevTid === -1 && workload !== -1 && tid !== 0)
    const instrDelta = this.switchUserInstrs
    const real = tid !== 0 && tid !== -1
    if (this.events.length === 0) {
      if (real) this.switchIns.push(workload, tid, this.instrs + this.idles + this.waits)
    } else {
      if (addToCounts) {
        this.totalSwitches++
        const voluntary = this.sawSyscall || this.sawExit
        if (voluntary) this.voluntarySwitches++
        const direct = this.directSwitchTarget !== 0 && this.directSwitchTarget === tid
        if (direct) this.directSwitches++
        let syscallNumber = -1
        let syscallLatency = -1
        if (this.lastSyscallNumber >= 0) {
          syscallNumber = this.lastSyscallNumber
          // Legacy versions lack the timestamps around syscalls; a thread exit has no post-syscall one.
          if (this.version >= TraceVersion.FREQUENT_TIMESTAMPS && (this.postTsHi !== 0 || this.postTsLo !== 0)) {
            const latency = (this.postTsHi - this.preTsHi) * TWO32 + (this.postTsLo - this.preTsLo)
            let bins = this.sysnumSwitchLatency.get(syscallNumber)
            if (bins === undefined) {
              bins = new Map()
              this.sysnumSwitchLatency.set(syscallNumber, bins)
            }
            addBin(bins, latency, LATENCY_BIN)
            syscallLatency = latency
          }
          this.lastSyscallNumber = -1
          this.preTsHi = this.preTsLo = this.postTsHi = this.postTsLo = 0
        }
        if (this.switchRecordCount++ < this.keepRecords) {
          this.switchRecords.push({
            workload: prevWorkload,
            tid: prevTid,
            instructions: instrDelta,
            syscallNumber,
            syscallLatency,
            voluntary,
            direct,
            inputInstrStart: this.switchStartInputInstr
          })
        }
        addBin(this.instrsPerSwitch, instrDelta, SWITCH_BIN)
        const key = `${prevWorkload}:${prevTid}`
        let perTid = this.tidInstrsPerSwitch.get(key)
        if (perTid === undefined) {
          perTid = { workload: prevWorkload, tid: prevTid, bins: new Map() }
          this.tidInstrsPerSwitch.set(key, perTid)
        }
        addBin(perTid.bins, instrDelta, SWITCH_BIN)
      } else if (this.switchStartInputInstr === 0 && hasInput) {
        // A swap-in after idle: the segment starts here.
        this.switchStartInputInstr = this.nextInputInstr(batch, i)
      }
      if (real) this.switchIns.push(workload, tid, this.instrs + this.idles + this.waits)
      this.switchUserInstrs = 0
      this.switchStartInputInstr = hasInput ? this.nextInputInstr(batch, i) : 0
    }
    if (real) {
      this.events.push(EV_UPPER, tid, input)
      this.curSegmentInstrs = 0
    }
  }

  /** Records `[start, end)`; returns the batch index of a record the tool cannot accept, or -1. */
  process(batch: RecordBatch.RecordBatch, start: number, end: number, ctx: BatchContext): number {
    const { type: types, size: sizes, tid: tids, addrLo, addrHi, auxLo, auxHi } = batch
    // Until the stream's own markers say, the input's version and file type as its reader knows them
    // (DynamoRIO sets the stream's at its first input: a skip may pass over the markers).
    if (this.version === 0) this.version = RecordBatch.version(batch)
    if (this.filetype === 0 && RecordBatch.filetype(batch) > 0) this.filetype = RecordBatch.filetype(batch)
    const printEvery = this.printEvery
    const input = ctx.input
    for (let i = start; i < end; i++) {
      const t = types[i]!
      const isMarker = t === TraceType.MARKER
      const mt = isMarker ? sizes[i]! : -1
      let state = STATE_CPU
      let tid = 0
      let workload = -1
      if (mt === MarkerType.CORE_WAIT) state = STATE_WAIT
      else if (mt === MarkerType.CORE_IDLE) {
        // On-disk idle records keep the prior thread's tid; DynamoRIO's
        // scheduler turns them into idle status with tid -1.
        state = STATE_IDLE
        tid = -1
      } else {
        const rt = tids[i]!
        workload = rt >= WORKLOAD_FACTOR ? Math.floor(rt / WORKLOAD_FACTOR) : 0
        tid = rt - workload * WORKLOAD_FACTOR
      }
      if (isMarker) {
        if (mt === MarkerType.SYSCALL_TRACE_START) {
          this.inSyscallTrace = true
          this.kernelSyscall = true
        } else if (mt === MarkerType.SYSCALL_TRACE_END) {
          this.inSyscallTrace = false
          this.kernelSyscall = false
        } else if (mt === MarkerType.CONTEXT_SWITCH_START) this.kernelSwitch = true
        else if (mt === MarkerType.CONTEXT_SWITCH_END) this.kernelSwitch = false
        else if (mt === MarkerType.HARDWARE_EVENT) this.hardwareDepth++
        else if (mt === MarkerType.HARDWARE_CONTEXT_RETURN && this.hardwareDepth > 0) this.hardwareDepth--
      }
      const prevState = this.curState
      if (state !== prevState) {
        this.updateStateTime(prevState)
        this.curState = state
      }
      if (workload !== this.prevWorkload || tid !== this.prevTid) {
        if (this.inSyscallTrace) {
          this.failure = "SwitchInSyscallTrace"
          return i
        }
        this.recordContextSwitch(this.prevWorkload, this.prevTid, workload, tid, input, state === STATE_CPU, batch, i)
        if (tid !== 0 && tid !== -1) {
          const key = `${workload}:${tid}`
          if (!this.threads.has(key)) this.threads.set(key, [workload, tid])
        }
      }
      this.prevWorkload = workload
      this.prevTid = tid
      if (state === STATE_WAIT) {
        this.waits++
        if (prevState !== STATE_WAIT) {
          this.events.push(EV_WAIT, 0, -1)
          this.curSegmentInstrs = 0
        } else if (++this.curSegmentInstrs === printEvery) {
          this.events.push(EV_WAIT, 0, -1)
          this.curSegmentInstrs = 0
        }
        continue
      }
      if (state === STATE_IDLE) {
        this.idles++
        if (prevState !== STATE_IDLE) {
          this.events.push(EV_IDLE, 0, -1)
          this.curSegmentInstrs = 0
        } else if (++this.curSegmentInstrs === printEvery) {
          this.events.push(EV_IDLE, 0, -1)
          this.curSegmentInstrs = 0
        }
        continue
      }
      const kernel = this.kernelSyscall || this.kernelSwitch || this.hardwareDepth > 0
      if ((t >= TraceType.INSTR && t <= TraceType.INSTR_RETURN) || t === 31 || t === 48 || t === 49) {
        this.instrs++
        this.idleMicrosAtLastInstr = this.idleMicros
        if (++this.curSegmentInstrs === printEvery) {
          this.events.push(EV_LOWER, tid, input)
          this.curSegmentInstrs = 0
        }
        if (this.lastSyscallNumber >= 0 && !kernel) {
          // Still set at a user instruction: the syscall completed without a switch.
          if (this.version >= TraceVersion.FREQUENT_TIMESTAMPS) {
            const latency = (this.postTsHi - this.preTsHi) * TWO32 + (this.postTsLo - this.preTsLo)
            let bins = this.sysnumNoswitchLatency.get(this.lastSyscallNumber)
            if (bins === undefined) {
              bins = new Map()
              this.sysnumNoswitchLatency.set(this.lastSyscallNumber, bins)
            }
            addBin(bins, latency, LATENCY_BIN)
          }
          this.lastSyscallNumber = -1
          this.preTsHi = this.preTsLo = this.postTsHi = this.postTsLo = 0
        }
        if (!kernel) {
          this.switchUserInstrs++
          // Cleared at the next user instruction, once every post-syscall record was seen.
          this.sawSyscall = false
          this.directSwitchTarget = 0
        }
        this.sawExit = false
      }
      if (isMarker) {
        switch (mt) {
          case MarkerType.SYSCALL:
            this.syscalls++
            this.sawSyscall = true
            this.lastSyscallNumber = addrLo[i]! | 0
            break
          case MarkerType.MAYBE_BLOCKING_SYSCALL:
            this.maybeBlockingSyscalls++
            this.sawSyscall = true
            break
          case MarkerType.DIRECT_THREAD_SWITCH:
            this.directSwitchRequests++
            this.directSwitchTarget = addrHi[i]! * TWO32 + addrLo[i]!
            break
          case MarkerType.FILETYPE:
            this.filetype = addrHi[i]! * TWO32 + addrLo[i]!
            break
          case MarkerType.VERSION:
            this.version = addrLo[i]!
            break
          case MarkerType.TIMESTAMP: {
            if (kernel) {
              this.failure = "TimestampInKernel"
              return i
            }
            // The input's own timestamp: a scheduler that rewrites the value
            // keeps the original in aux (zero otherwise).
            const hasOrig = auxLo[i]! !== 0 || auxHi[i]! !== 0
            const hi = hasOrig ? auxHi[i]! : addrHi[i]!
            const lo = hasOrig ? auxLo[i]! : addrLo[i]!
            if (this.lastSyscallNumber < 0) {
              this.preTsHi = hi
              this.preTsLo = lo
            } else if (this.preTsHi !== 0 || this.preTsLo !== 0) {
              this.postTsHi = hi
              this.postTsLo = lo
            }
            break
          }
        }
      } else if (t === TraceType.THREAD_EXIT) this.sawExit = true
    }
    return -1
  }

  /** The schedule string: `A` + ordinal for a switch-in, lower case every print-every instructions, `_` idle, `-` wait. */
  schedule(): string {
    const byTid = (this.filetype & FileType.CORE_SHARDED) !== 0
    const ev = this.events
    let out = ""
    for (let k = 0; k < ev.length; k += 3) {
      const kind = ev[k]!
      if (kind === EV_IDLE) out += "_"
      else if (kind === EV_WAIT) out += "-"
      else {
        const input = ev[k + 2]!
        const ord = byTid || input < 0 ? ev[k + 1]! : input
        const letter = ((ord % 26) + 26) % 26
        out += String.fromCharCode((kind === EV_UPPER ? 65 : 97) + letter)
      }
    }
    return out
  }
}
