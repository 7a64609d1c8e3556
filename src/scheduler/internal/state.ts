/**
 * The shared state model of the pure scheduling core: what is known about
 * each input and each output, the step values handed to callers, and the
 * interface each mapping mode (consistent, serial, dynamic, replay)
 * implements. DynamoRIO keeps the same split: `input_info_t` /
 * `output_info_t` in `scheduler_impl.h`, one subclass per mode.
 *
 * **Concurrency rule.** Everything here is plain mutable state owned by one
 * `Core`. The core is synchronous and JavaScript is single-threaded, so each
 * core call is atomic with respect to every fiber: no locks. The only
 * interleaving point is outside the core, when the Effect layer loads an
 * input's next batch after a `NeedData` step; the rules for that window are
 * documented next to `Core.supply` and in `Scheduler.ts`.
 */

import { MarkerType, TraceType } from "../../trace/Record.ts"
import type { RecordBatch } from "../../trace/RecordBatch.ts"

// ---------------------------------------------------------------------------
// Record classification (a 256-entry table: the hot loop indexes it by type).

/** `type_is_instr` (fetched instructions; DynamoRIO's instruction boundary for memref_t). */
/** Bit 0 on purpose: run loops add `cls & CLASS_INSTR` to count instructions without a branch. */
export const CLASS_INSTR = 1
export const CLASS_MARKER = 2
/** Reads, writes and prefetches: `addr` and `aux` (the PC) are canonicalized. */
export const CLASS_DATA = 4
export const CLASS_FLUSH = 8
export const CLASS_EXIT = 16
/** Indirect branches: `aux` holds the target (canonicalized when non-zero). */
export const CLASS_INDIRECT = 32

export const recordClass: Uint8Array = (() => {
  const t = new Uint8Array(256)
  for (let ty = 0; ty < 256; ty++) {
    let c = 0
    if (
      (ty >= TraceType.INSTR && ty <= TraceType.INSTR_RETURN) ||
      ty === TraceType.INSTR_SYSENTER ||
      ty === TraceType.INSTR_TAKEN_JUMP ||
      ty === TraceType.INSTR_UNTAKEN_JUMP
    )
      c |= CLASS_INSTR
    if (ty === TraceType.INSTR_INDIRECT_JUMP || ty === TraceType.INSTR_INDIRECT_CALL || ty === TraceType.INSTR_RETURN)
      c |= CLASS_INDIRECT
    if (ty === TraceType.MARKER) c |= CLASS_MARKER
    if (
      ty === TraceType.READ ||
      ty === TraceType.WRITE ||
      (ty >= TraceType.PREFETCH && ty <= TraceType.PREFETCH_INSTR) ||
      (ty >= TraceType.PREFETCH_READ_L1_NT && ty <= TraceType.PREFETCH_WRITE_L3_NT) ||
      ty === TraceType.HARDWARE_PREFETCH
    )
      c |= CLASS_DATA
    if (ty >= TraceType.INSTR_FLUSH && ty <= TraceType.DATA_FLUSH_END) c |= CLASS_FLUSH
    if (ty === TraceType.THREAD_EXIT) c |= CLASS_EXIT
    t[ty] = c
  }
  return t
})()

/** Marker sub-types whose value is an address (canonicalized like DynamoRIO does). */
export const addressMarker: Uint8Array = (() => {
  const t = new Uint8Array(256)
  for (const m of [
    MarkerType.KERNEL_EVENT,
    MarkerType.KERNEL_XFER,
    MarkerType.FUNC_RETADDR,
    MarkerType.RSEQ_ABORT,
    MarkerType.PHYSICAL_ADDRESS,
    MarkerType.VIRTUAL_ADDRESS,
    MarkerType.RSEQ_ENTRY,
    MarkerType.BRANCH_TARGET,
    MarkerType.HARDWARE_EVENT,
    MarkerType.HARDWARE_CONTEXT_RETURN
  ])
    t[m] = 1
  return t
})()

/** 2^32, to combine the u32 halves of a 64-bit value. */
export const TWO32 = 4294967296

/** DynamoRIO's INSTRS_PER_US: rewritten timestamps advance one µs per 1000 instructions + idles. */
export const INSTRS_PER_US = 1000

// ---------------------------------------------------------------------------
// Status codes (DynamoRIO's stream_status_t values, plus NEED_DATA).

export const Status = {
  OK: 0,
  EOF: 1,
  WAIT: 2,
  INVALID: 3,
  REGION_INVALID: 4,
  SKIPPED: 6,
  IDLE: 8,
  IMPOSSIBLE_BINDING: 9,
  STOLE: 10,
  /** Not DynamoRIO's: the core needs the next batch of an input. */
  NEED_DATA: 100
} as const

// ---------------------------------------------------------------------------
// Statistics (DynamoRIO's schedule_statistic_t, same order).

export const Stat = {
  SWITCH_INPUT_TO_INPUT: 0,
  SWITCH_INPUT_TO_IDLE: 1,
  SWITCH_IDLE_TO_INPUT: 2,
  SWITCH_NOP: 3,
  QUANTUM_PREEMPTS: 4,
  DIRECT_SWITCH_ATTEMPTS: 5,
  DIRECT_SWITCH_SUCCESSES: 6,
  MIGRATIONS: 7,
  RUNQUEUE_STEALS: 8,
  RUNQUEUE_REBALANCES: 9,
  HIT_OUTPUT_LIMIT: 10,
  KERNEL_SWITCH_SEQUENCE_INJECTIONS: 11,
  KERNEL_SYSCALL_SEQUENCE_INJECTIONS: 12,
  CANONICALIZED_ADDRESSES: 13
} as const

export const STAT_COUNT = 14

// ---------------------------------------------------------------------------
// Steps.

/**
 * A run of records of one input for one output: `batch[start, end)`, handed
 * out by reference. Valid until the next call on the same output.
 */
export interface RecordsStep {
  readonly _tag: "Records"
  readonly input: number
  readonly batch: RecordBatch
  readonly start: number
  readonly end: number
  /** Records (not synthetic) the output delivered before `batch[start]`. */
  readonly outputRecordsBefore: number
  /** Instructions the output delivered before `batch[start]`. */
  readonly outputInstrsBefore: number
}
/** The output is idle: `count` consecutive idle decisions (1 unless the caller allowed more with `maxIdles`). */
export interface IdleStep {
  readonly _tag: "Idle"
  readonly count: number
}
export interface WaitStep {
  readonly _tag: "Wait"
}
export interface EofStep {
  readonly _tag: "Eof"
}
/**
 * The core needs `input`'s next batch: call `supply(input, batch | undefined)`,
 * then `next` again. `again` is true when the input's previous request is
 * still outstanding (its owner was deactivated while loading and another
 * output took it): wait for that load instead of reading the input twice.
 */
export interface NeedDataStep {
  readonly _tag: "NeedData"
  readonly input: number
  readonly again: boolean
}
/** The call failed (DynamoRIO's STATUS_INVALID / STATUS_IMPOSSIBLE_BINDING). */
export interface ErrorStep {
  readonly _tag: "Error"
  readonly reason:
    | "InvalidTime"
    | "ImpossibleBinding"
    | "InvalidInput"
    | "InvalidOption"
    | "Invalid"
    | "RegionInvalid"
    | "ReplayInvalid"
  readonly detail: string
  /** The option the failure is about, when it is one. */
  readonly option?: string
}

export type Step = RecordsStep | IdleStep | WaitStep | EofStep | NeedDataStep | ErrorStep

export const idleStep: IdleStep = Object.freeze({ _tag: "Idle", count: 1 })
export const waitStep: WaitStep = Object.freeze({ _tag: "Wait" })
export const eofStep: EofStep = Object.freeze({ _tag: "Eof" })

/** The mutable form of a RecordsStep, one per output, reused across calls. @internal */
export interface MutableRecordsStep {
  _tag: "Records"
  input: number
  batch: RecordBatch
  start: number
  end: number
  outputRecordsBefore: number
  outputInstrsBefore: number
}

// ---------------------------------------------------------------------------
// Inputs and outputs.

export const INVALID = -1

/** Not an injected batch. */
export const INJECT_NONE = 0
/** Records the scheduler inserts in the input's own stream (separators, exit, a skip's markers): checked like the input's. */
export const INJECT_STREAM = 1
/** A context-switch sequence (DynamoRIO's in_context_switch_code): no quantum, no switch. */
export const INJECT_SWITCH = 2
/** A system-call sequence (DynamoRIO's in_syscall_code): counts toward the quantum, never switches. */
export const INJECT_SYSCALL = 3

/** A skip of instructions in progress (DynamoRIO's reader skip_instructions), resumable across loads. */
export interface SkipState {
  /** Instruction ordinal to stop before (the first one delivered). */
  readonly target: number
  /** Zip chunk seek: timestamps count as found only once this chunk boundary is passed (instruction ordinal), else 0. */
  readonly walkFrom: number
  /** The walk region has started (always, without a chunk seek). */
  inWalk: boolean
  tsFound: boolean
  cpuFound: boolean
  realTimestamp: boolean
  tsHi: number
  tsLo: number
  cpuHi: number
  cpuLo: number
  /** Status to return when the input ends before the target: SKIPPED (excluded) or REGION_INVALID. */
  readonly atEnd: number
  /** The region ordinal of the separator to insert before the markers (cur_region > 0 at the start), or -1. */
  readonly separator: number
}

/** What the core knows about one input: DynamoRIO's input_info_t plus our record buffer. */
export class InputState {
  readonly index: number
  readonly tid: number
  readonly workload: number
  readonly priority: number
  readonly binding: ReadonlyArray<number>

  // Record buffer. `batch` holds the next record to deliver at `pos`; later
  // batches (only when read-ahead crossed a batch end) wait in `more`.
  batch: RecordBatch | undefined = undefined
  len = 0
  pos = 0
  readonly more: Array<RecordBatch> = []
  /** Absolute record index of `batch[0]`. */
  base = 0
  /** Records read so far by the "reader": DynamoRIO's reader is this far ahead of delivery. */
  readCount = 0
  /** The loader has reported the end of the input. */
  eofKnown = false
  /** A NeedData for this input is outstanding (no supply yet). */
  dataRequested = false

  // Reader state (values of records read, not delivered).
  version = 0
  filetype = 0
  lastTsHi = 0
  lastTsLo = 0
  /** Last CPU_ID value read (DynamoRIO's reader `last_cpuid_`), for the markers a skip re-inserts. */
  lastCpuHi = 0
  lastCpuLo = 0
  /**
   * Absolute index one past the last record DynamoRIO's reader would have
   * read for delivery (delivered records, plus a candidate examined and
   * given back at a switch, plus unread records): instructions in
   * `[pos, readHigh)` count in the reader's instruction ordinal.
   */
  readHigh = 0

  // Records injected by the scheduler (region separators, the synthetic
  // exit, the markers a skip re-inserts, kernel sequences): delivered before
  // the input's own next record. While one is current, the input's own
  // position waits in `resume`.
  readonly injected: Array<RecordBatch> = []
  /** What each batch of `injected` is (an INJECT_* kind). */
  readonly injectedKinds: Array<number> = []
  /** The kind of the current batch when it is an injected one, else INJECT_NONE. */
  injecting = 0
  resume: { batch: RecordBatch | undefined; len: number; pos: number; base: number } | undefined = undefined
  /** The input ended early (after its last region): nothing after the injected records. */
  endAfterInjected = false

  // Regions of interest (DynamoRIO's regions_of_interest, cur_region, in_cur_region).
  /** Set at construction, or from `timesOfInterest` before init. */
  regionStart: ReadonlyArray<number>
  regionStop: ReadonlyArray<number>
  curRegion = 0
  inCurRegion = false
  /** Stop (inclusive instruction ordinal) of the current region; +Infinity when none applies. */
  roiStop = Number.POSITIVE_INFINITY
  /** A skip in progress (resumable across NeedData), else undefined. */
  skip: SkipState | undefined = undefined
  /** The zip reader seeks by chunk when skipping (DynamoRIO's zipfile reader). */
  readonly zip: boolean
  readonly chunkInstrCount: number

  // Kernel syscall sequence injection (DynamoRIO's to_inject_syscall).
  toInjectSyscall = -1
  sawFirstFuncIdAfterSyscall = false

  /** Recording: the skip to the first region, done at init, still has to be recorded on an output. */
  initSkipUnrecorded = false
  /** A replay skipped it ahead past a dropped segment (handOffInputs): its next output records that skip (≥ 0). */
  skipUnrecordedTo = -1
  /** The current candidate had been read before (DynamoRIO's cur_from_queue). */
  candFromQueue = false
  /** Recording: the output let go of the input with nothing read ahead (DynamoRIO's switching_pre_instruction). */
  switchingPreInstruction = false

  // Delivery ordinals.
  recordsDelivered = 0
  instrsDelivered = 0

  // DynamoRIO input_info_t scheduling fields.
  atEof = false
  containingOutput = INVALID
  prevOutput = INVALID
  curOutput = INVALID
  nextTsHi = 0
  nextTsLo = 0
  instrsInQuantum = 0
  baseTsHi = 0
  baseTsLo = 0
  orderByTimestamp = false
  queueCounter = 0
  processingSyscall = false
  processingMaybeBlockingSyscall = false
  preSyscallTsHi = 0
  preSyscallTsLo = 0
  switchToInput = INVALID
  syscallTimeoutArg = 0
  prevTimeInQuantum = 0
  timeSpentInQuantum = 0
  blockedTime = 0
  blockedStartTime = 0
  unscheduled = false
  skipNextUnscheduled = false
  lastRunTime = 0

  constructor(
    index: number,
    tid: number,
    workload: number,
    priority: number,
    binding: ReadonlyArray<number>,
    regions: ReadonlyArray<{ readonly start: number; readonly stop: number }>,
    zip: boolean,
    chunkInstrCount: number
  ) {
    this.index = index
    this.tid = tid
    this.workload = workload
    this.priority = priority
    this.binding = binding
    this.regionStart = regions.map((r) => r.start)
    this.regionStop = regions.map((r) => (r.stop === 0 ? Number.POSITIVE_INFINITY : r.stop))
    this.zip = zip
    this.chunkInstrCount = chunkInstrCount
  }

  /** Records buffered and not yet delivered (the input's own, not injected ones). */
  buffered(): number {
    const r = this.resume
    let n = r !== undefined ? r.len - r.pos : this.len - this.pos
    for (const b of this.more) n += b.header[0]!
    return n
  }

  /** DynamoRIO's "reader is at its end": the loader said so and nothing is buffered. */
  readerAtEnd(): boolean {
    if (this.endAfterInjected) return this.injecting === INJECT_NONE && this.injected.length === 0
    return this.eofKnown && this.buffered() === 0 && this.injecting === INJECT_NONE && this.injected.length === 0
  }

  bindsTo(output: number): boolean {
    return this.binding.length === 0 || this.binding.includes(output)
  }
}

/** A record of the recorded schedule while it is being written (`schedule_record_t`). */
export interface MutableScheduleRecord {
  type: number
  input: number
  start: number
  stop: number
  timestamp: bigint
}

/** What the core knows about one output: DynamoRIO's output_info_t. */
export class OutputState {
  readonly index: number
  curInput = INVALID
  prevInput = INVALID
  active = true
  waiting = false
  consecutiveIdles = 0
  idleCount = 0
  curTime = 0
  initialCurTime = 0
  /** Records delivered (not counting synthetic ones): the stream's record ordinal. */
  records = 0
  /** Instructions delivered: the stream's instruction ordinal. */
  instrs = 0
  baseTsHi = 0
  baseTsLo = 0
  readonly stats: Array<number> = new Array<number>(STAT_COUNT).fill(0)
  // Consistent mapping: the inputs statically assigned to this output.
  readonly inputIndices: Array<number> = []
  inputIndicesIndex = 0
  /** The last Records step, if it is still undoable with `unread`. */
  lastRange = 0
  lastRangeInstrs = 0
  lastRangeNonSynthetic = 0
  lastRangeInput = INVALID
  readonly step: MutableRecordsStep
  readonly idles: { _tag: "Idle"; count: number } = { _tag: "Idle", count: 1 }
  /** The step that ended a batch of idles, returned by the next call. */
  stash: Step | undefined = undefined
  /** The recorded schedule of this output (recordSchedule), VERSION first. */
  readonly record: Array<MutableScheduleRecord> = []
  /** Idle count at the start of the current idle record or replayed idle segment; -1 when none. */
  idleStartCount = -1
  /** DynamoRIO's as_traced_cpuid (as-traced replay), else -1. */
  asTracedCpuid = -1
  // Kernel code read from the input itself (DynamoRIO's in_syscall_code,
  // hit_syscall_code_end, in_context_switch_code, hit_switch_code_end): no
  // switch inside a system call's trace, and a context switch's instructions
  // do not count in the quantum. An end marker still counts as inside: the
  // flag drops at the next record. Inserted sequences are delivered apart
  // (`Core.deliverKernel`) and do not touch these.
  inSyscallCode = false
  hitSyscallCodeEnd = false
  inSwitchCode = false
  hitSwitchCodeEnd = false

  constructor(index: number, step: MutableRecordsStep) {
    this.index = index
    this.step = step
  }
}

/** The output is in (or just past the end of) kernel code read from its input: records are judged one by one. */
export const inKernelCode = (out: OutputState): boolean =>
  out.inSyscallCode || out.hitSyscallCodeEnd || out.inSwitchCode || out.hitSwitchCodeEnd

/**
 * DynamoRIO's update_syscall_state for the candidate record `batch[i]`: a
 * system call's trace starts at its start marker and ends one record after
 * its end marker.
 */
export const updateSyscallState = (out: OutputState, batch: RecordBatch, i: number): void => {
  if (out.hitSyscallCodeEnd) {
    out.inSyscallCode = false
    out.hitSyscallCodeEnd = false
  }
  if (batch.type[i] !== TraceType.MARKER) return
  const m = batch.size[i]
  if (m === MarkerType.SYSCALL_TRACE_START) out.inSyscallCode = true
  else if (m === MarkerType.SYSCALL_TRACE_END) out.hitSyscallCodeEnd = true
}

/**
 * The outcome of a mode's switch check on a candidate record, reused by the
 * core (DynamoRIO's need_new_input / preempt / blocked_time out-parameters).
 */
export class SwitchDecision {
  needNewInput = false
  preempt = false
  blockedTime = 0
  status: number = Status.OK

  reset(): void {
    this.needNewInput = false
    this.preempt = false
    this.blockedTime = 0
    this.status = Status.OK
  }
}

/** The outcome of `pickNextInputForMode`. */
export class Pick {
  status: number = Status.OK
  index = INVALID
}

/**
 * What a mapping mode decides; the core does the rest (DynamoRIO's virtual
 * methods of scheduler_impl_tmpl_t): regions of interest, inserted records,
 * kernel sequences and recording live in the core, around these calls.
 */
export interface Mode {
  /** DynamoRIO rewrites TIMESTAMP/CPU_ID values and tags tids with the workload in this mode. */
  readonly rewritesMarkers: boolean
  setInitialSchedule(): { readonly option: string; readonly detail: string } | undefined
  swapOutInput(output: number, input: number): void
  swapInInput(output: number, input: number): void
  pickNextInputForMode(output: number, blockedTime: number, prevIndex: number, out: Pick): void
  /** Examines the candidate record `batch[i]` of `input` (state changes included). */
  checkForInputSwitch(
    output: number,
    input: InputState,
    batch: RecordBatch,
    i: number,
    curTime: number,
    decision: SwitchDecision
  ): void
  /**
   * Delivers `batch[from, stop)` of `input` to `output` for as long as
   * DynamoRIO would hand these records out one call at a time without a
   * decision, and returns the end of the run. It stops *before* a record at
   * which `checkForInputSwitch` would ask for a switch (or fail), or that is
   * an idle/wait marker, without changing any state for that record: the
   * next call examines it afresh. The hot loop of the scheduler.
   */
  extendRun(output: number, input: InputState, batch: RecordBatch, from: number, stop: number, now: number): number
  eofOrIdleForMode(output: number, prevInput: number): number
  markInputEofForMode(input: InputState): void
  /** DynamoRIO's set_output_active: INVALID for modes other than dynamic (unless handOffInputs). */
  setOutputActive(output: number, active: boolean): number
  /** The output's worker is done early: what it has not started stays unread rather than handed off (consistent). */
  abandonOutput?(output: number): void
  /**
   * Replay only: called before picking for a waiting output; IDLE while a
   * replayed idle segment lasts (DynamoRIO's idle_duration check).
   */
  waitingIdle?(output: number): number
  /**
   * Takes up to `max` more idles of a waiting output at once, each as the
   * ordinary path would have made it, returning how many (0: none qualify).
   * Replay: a replayed idle segment; dynamic: blocked or empty run queues.
   */
  bulkIdle?(output: number, max: number): number
  /**
   * Lockstep spans (dynamic only): how many of a waiting output's next calls
   * (up to `max`) are idles that change nothing but its idle counts, when
   * each call's time may be up to `perCall` after the previous one's.
   */
  idleRun?(output: number, max: number, perCall: number): number
  /** Applies `n` idles `idleRun` allowed (its counts only; the caller sets the time). */
  takeIdles?(output: number, n: number): void
}
