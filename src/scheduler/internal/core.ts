/**
 * The pure, synchronous, deterministic scheduling core: DynamoRIO's
 * `scheduler_impl_tmpl_t::next_record` loop and its common helpers, driving
 * one decision module per mapping mode. No Effect, no IO, no Promise.
 *
 * **Pull/supply.** The core never reads: when it needs an input's next
 * records it returns `NeedData(input)`; the caller loads the input's next
 * batch, calls {@link Core.supply} and calls `next` again. All state changes
 * made before a `NeedData` are final, so the repeated call carries on where
 * the first stopped.
 *
 * **Runs, not records.** One `next` call is one DynamoRIO `next_record` call
 * for its first record, then keeps going through the same batch for as long
 * as DynamoRIO would hand the following records to the same output without
 * a decision: it stops before a record at which the mode would switch (a pure
 * look-ahead, `Mode.extendRun`), at the batch end, or after `maxRecords`.
 * With `maxRecords = 1` the calls are exactly DynamoRIO's calls.
 *
 * **Records by reference.** A Records step is a range of the input's own
 * batch. In dynamic mode DynamoRIO rewrites TIMESTAMP (output time) and
 * CPU_ID (output ordinal) values and tags tids/pids of workloads > 0; the
 * core does so in place, in the delivered range only, when it delivers.
 * Addresses are canonicalized (x86-64) in every mode unless disabled.
 *
 * **Time.** By default a record's time is `1 + output instructions + output
 * idles` (DynamoRIO). A caller-supplied `now` (quantum by time) applies to
 * every record of the run.
 *
 * **Inserted records.** Records the scheduler adds to an input's stream
 * (a region separator, the synthetic thread exit after the last region, the
 * timestamp and cpu markers a skip re-inserts, kernel switch and system-call
 * sequences) are small batches of their own, queued per input and served by
 * `peek` before the input's next record (DynamoRIO's per-input queue). Runs
 * never mix them with the input's own records. Kernel sequences are
 * delivered whole, without switch checks (DynamoRIO's in_context_switch_code
 * / in_syscall_code), and do not count in the input's ordinals.
 *
 * **Regions of interest and skipping.** An input with regions skips to its
 * first region at init; at run time an instruction past the current
 * region's stop (`roiStop`) makes the candidate loop move to the next region
 * (a separator, or a skip, or the synthetic exit after the last), as
 * DynamoRIO's `advance_region_of_interest`. A skip walks the input's
 * records (resumable across loads), emulating the zip reader's chunk seek
 * for which timestamps count as real.
 *
 * **Recording.** With `recordSchedule`, each output keeps DynamoRIO's
 * `schedule_record_t` list: a segment starts when an input is set current
 * and closes when it is let go; skips, the synthetic end and idle stretches
 * of blocked inputs are recorded too. Instruction ordinals are the reader's
 * (`readerInstrOrdinal`: a candidate read and given back counts).
 * Timestamps are a logical clock (increasing in recording order), which is
 * all replay needs them for.
 *
 * **Modes**: `consistent.ts`, `serial.ts`, `dynamic.ts`, `replay.ts`
 * (recorded schedules and the as-traced schedule). Multiple workloads:
 * per-input workload ordinals, per-workload output limits, tid/pid tagging.
 */
import { RecordType, type ScheduleRecord } from "../../trace/internal/scheduleFile.ts"
import { FileType, MarkerType, TraceType } from "../../trace/Record.ts"
import * as RecordBatchModule from "../../trace/RecordBatch.ts"
import { FLAG_SYNTHETIC, type RecordBatch } from "../../trace/RecordBatch.ts"
import { ConsistentMode } from "./consistent.ts"
import { DynamicMode } from "./dynamic.ts"
import { DEFAULT_SYSCALL_SYSNUM, instantiate, pcOf, readSequences, type Sequence, SwitchType } from "./kernel.ts"
import { isFault, type OptionFault, type Options, type Resolved, resolve } from "./options.ts"
import {
  canonicalize,
  insertedBatch,
  plainEnd,
  rewriteMarker,
  type SyntheticRecord,
  scanned,
  skipPlain,
  tagWorkload
} from "./records.ts"
import { ReplayMode, regionsFromTimes } from "./replay.ts"
import { SerialMode } from "./serial.ts"
import {
  CLASS_INSTR,
  CLASS_MARKER,
  type ErrorStep,
  eofStep,
  INJECT_NONE,
  INJECT_STREAM,
  INJECT_SWITCH,
  INJECT_SYSCALL,
  INVALID,
  InputState,
  idleStep,
  inKernelCode,
  type Mode,
  type MutableRecordsStep,
  type NeedDataStep,
  OutputState,
  Pick,
  recordClass,
  STAT_COUNT,
  Stat,
  Status,
  type Step,
  SwitchDecision,
  TWO32,
  updateSyscallState,
  waitStep
} from "./state.ts"

const WORKLOAD_SHIFT_FACTOR = 2 ** 48
const PEEK_NEED = -1
const PEEK_EOF = -2
/** `base` of an inserted batch: far below any record count, so the reader never "sees" its records. */
const INSERTED_BASE = -(2 ** 52)

const marker = (type: number, lo: number, hi: number): SyntheticRecord => ({
  type: TraceType.MARKER,
  size: type,
  valueLo: lo,
  valueHi: hi
})

/** What the core needs to know about an input up front. */
export interface CoreInput {
  /** The input's thread id (DynamoRIO's input tid, the key of direct-switch targets). */
  readonly tid: number
  /** The input is a zip file (its reader seeks by chunk when skipping). Default false. */
  readonly zip?: boolean | undefined
  /** Instructions per chunk (the zip reader's seek unit); 0 = unknown. */
  readonly chunkInstrCount?: number | undefined
}

/** A step of `init`: ready, or data needed, or a failure naming an option. */
export type InitStep = { readonly _tag: "Ready" } | NeedDataStep | (ErrorStep & { readonly input?: number })

const readyStep = Object.freeze({ _tag: "Ready" as const })

interface MutableNeedData {
  _tag: "NeedData"
  input: number
  again: boolean
}

/** @internal */
export class Core {
  readonly opts: Resolved
  /** Seed of the run queues' random picks (see {@link Core.make}). */
  readonly randomSeed: number
  readonly inputs: Array<InputState>
  readonly outputs: Array<OutputState>
  readonly mode: Mode
  liveInputCount: number
  /** Instructions delivered by all outputs together (the single lockstep stream's ordinal). */
  globalInstrs = 0
  /** Key `workload * 2^48 + tid` → input ordinal. */
  readonly tid2input = new Map<number, number>()

  private initialized = false
  private initIndex = 0
  private initPos = 0
  private initFoundFiletype = false
  private initFoundTimestamp = false
  private initStarted = false
  // The input being initialised entered its first region before any timestamp: it reads ahead to one next.
  private initRegionEntered = false
  private readonly decision = new SwitchDecision()
  private readonly pickOut = new Pick()
  private readonly needStep: MutableNeedData = { _tag: "NeedData", input: 0, again: false }
  /** Replaying a recorded or as-traced schedule. */
  private readonly replaying: boolean
  /** Regions apply at run time (not when replaying: recorded SKIPs do, and as-traced replays only skip at init). */
  private readonly runtimeRegions: boolean
  /** Kernel sequence templates by key. */
  private switchSequences: Map<number, Sequence> | undefined
  private syscallSequences: Map<number, Sequence> | undefined
  private defaultSyscallSequence: Sequence | undefined
  /** System-call sequences are configured: runs stop at SYSCALL markers. */
  syscallInjection = false
  /**
   * A failure every later step repeats: an input the options cannot run was
   * read (a whole-system file type), or the mapping can never go on.
   */
  private fault: ErrorStep | undefined = undefined
  /** Why the last replay pick failed (STATUS_INVALID). */
  replayError = ""
  /**
   * Inputs ended unfinished because no active output may run them any more
   * (handOffInputs: bound only to outputs made inactive), in the order they ended.
   */
  readonly unrunnable: Array<number> = []
  /** The logical clock of recorded segments. */
  private recordClock = 0n

  /**
   * `randomSeed` seeds the run queues' random picks (`randomizeNextInput`;
   * output `o` uses `randomSeed + o`). DynamoRIO seeds them from the wall
   * clock, so its randomized runs differ; callers that want that pass a
   * seed from the clock, the default keeps runs reproducible.
   */
  static make(
    inputs: ReadonlyArray<CoreInput>,
    outputCount: number,
    options?: Options,
    randomSeed: number = 1
  ): Core | OptionFault {
    const resolved = resolve(options, inputs.length, outputCount)
    if (isFault(resolved)) return resolved
    const core = new Core(inputs, outputCount, resolved, randomSeed)
    const fault = core.setUp()
    return fault ?? core
  }

  private constructor(inputs: ReadonlyArray<CoreInput>, outputCount: number, opts: Resolved, randomSeed: number) {
    this.opts = opts
    this.randomSeed = randomSeed
    this.inputs = inputs.map(
      (inp, i) =>
        new InputState(
          i,
          inp.tid,
          opts.workload[i]!,
          opts.priority[i]!,
          opts.binding[i]!,
          opts.regions[i] ?? [],
          inp.zip ?? false,
          inp.chunkInstrCount ?? 0
        )
    )
    this.replaying = opts.mapping === "asPreviously" || opts.asTraced
    this.runtimeRegions = !this.replaying
    for (const inp of this.inputs) this.tid2input.set(inp.workload * WORKLOAD_SHIFT_FACTOR + inp.tid, inp.index)
    this.outputs = Array.from({ length: outputCount }, (_, o) => {
      const step: MutableRecordsStep = {
        _tag: "Records",
        input: INVALID,
        batch: undefined as unknown as RecordBatch,
        start: 0,
        end: 0,
        outputRecordsBefore: 0,
        outputInstrsBefore: 0
      }
      return new OutputState(o, step)
    })
    this.liveInputCount = this.inputs.length
    this.mode =
      opts.mapping === "dynamic"
        ? new DynamicMode(this)
        : opts.mapping === "consistent"
          ? new ConsistentMode(this)
          : opts.mapping === "asPreviously" || opts.asTraced
            ? new ReplayMode(this)
            : new SerialMode(this)
    if (opts.recordSchedule) {
      for (const out of this.outputs) this.recordSegment(out, RecordType.VERSION, 0, 0, 0)
    }
  }

  /** Kernel sequences and time ranges, which need the inputs (DynamoRIO's init). */
  private setUp(): OptionFault | undefined {
    const o = this.opts
    if (o.kernelSwitchSequences !== undefined) {
      const seqs = readSequences(
        o.kernelSwitchSequences,
        MarkerType.CONTEXT_SWITCH_START,
        MarkerType.CONTEXT_SWITCH_END,
        "context switch"
      )
      if (typeof seqs === "string") return { option: "kernelSwitchSequences", detail: seqs }
      if (seqs.size > 0) this.switchSequences = seqs
    }
    if (o.kernelSyscallSequences !== undefined) {
      const seqs = readSequences(
        o.kernelSyscallSequences,
        MarkerType.SYSCALL_TRACE_START,
        MarkerType.SYSCALL_TRACE_END,
        "system call"
      )
      if (typeof seqs === "string") return { option: "kernelSyscallSequences", detail: seqs }
      this.defaultSyscallSequence = seqs.get(DEFAULT_SYSCALL_SYSNUM)
      seqs.delete(DEFAULT_SYSCALL_SYSNUM)
      if (seqs.size > 0 || this.defaultSyscallSequence !== undefined) {
        this.syscallSequences = seqs
        this.syscallInjection = true
      }
    }
    if (o.timesOfInterest.length > 0) {
      const regions = regionsFromTimes(this, o.timesOfInterest)
      if (!Array.isArray(regions)) return regions
      for (const inp of this.inputs) {
        const rs = regions[inp.index]!
        inp.regionStart = rs.map((r) => r.start)
        inp.regionStop = rs.map((r) => (r.stop === 0 ? Number.POSITIVE_INFINITY : r.stop))
      }
    }
    return undefined
  }

  get inputCount(): number {
    return this.inputs.length
  }

  get outputCount(): number {
    return this.outputs.length
  }

  // -------------------------------------------------------------------------
  // Data supply.

  /**
   * Called with an input's batch once every record of it was delivered and
   * the input moved on to its next batch (never for inserted batches): the
   * layer may give it back to the reader once no caller reads it.
   */
  onRetire: ((input: number, batch: RecordBatch) => void) | undefined = undefined

  /**
   * Hands the core `input`'s next batch (`undefined`: the input has ended).
   * Only after a `NeedData(input)`, once per load: the core requests an
   * input's data only while an output owns the input (its current input, or
   * during init). If the owner is deactivated while the load is in flight
   * and another output takes the input, that output gets `NeedData` with
   * `again: true`: it must wait for the load in flight, not start another.
   * Supplying `undefined` after a failed read ends the input.
   */
  supply(input: number, batch: RecordBatch | undefined): void {
    const inp = this.inputs[input]!
    inp.dataRequested = false
    if (batch === undefined) {
      inp.eofKnown = true
      return
    }
    const n = batch.header[0]!
    if (n === 0 || inp.endAfterInjected) return
    // While inserted records are current, the input's own position waits in `resume`.
    const own = inp.resume ?? inp
    if (own.batch === undefined || (own.pos >= own.len && inp.more.length === 0)) {
      if (own.batch !== undefined) this.onRetire?.(input, own.batch)
      own.base += own.len
      own.batch = batch
      own.len = n
      own.pos = 0
    } else {
      inp.more.push(batch)
    }
  }

  /** Index of `inp`'s next undelivered record in `inp.batch`, or PEEK_NEED / PEEK_EOF. */
  private peek(inp: InputState): number {
    while (inp.pos >= inp.len) {
      if (inp.injecting !== INJECT_NONE) {
        if (inp.injected.length > 0) {
          this.setInserted(inp, inp.injected.shift()!, inp.injectedKinds.shift()!)
          continue
        }
        this.leaveInserted(inp)
        if (inp.endAfterInjected) return PEEK_EOF
        continue
      }
      if (inp.more.length > 0) {
        if (inp.batch !== undefined) this.onRetire?.(inp.index, inp.batch)
        inp.base += inp.len
        const b = inp.more.shift()!
        inp.batch = b
        inp.len = b.header[0]!
        inp.pos = 0
        continue
      }
      return inp.eofKnown || inp.endAfterInjected ? PEEK_EOF : PEEK_NEED
    }
    return inp.pos
  }

  // -------------------------------------------------------------------------
  // Inserted records (DynamoRIO's per-input queue of records not from the reader).

  private setInserted(inp: InputState, batch: RecordBatch, kind: number): void {
    inp.batch = batch
    inp.len = batch.header[0]!
    inp.pos = 0
    inp.base = INSERTED_BASE
    inp.injecting = kind
  }

  /** Back to the input's own records. */
  private leaveInserted(inp: InputState): void {
    const r = inp.resume
    inp.injecting = INJECT_NONE
    inp.resume = undefined
    if (r === undefined) {
      inp.batch = undefined
      inp.len = 0
      inp.pos = 0
      return
    }
    inp.batch = r.batch
    inp.len = r.len
    inp.pos = r.pos
    inp.base = r.base
  }

  /** Inserts `batches` (in order) before the input's next record, ahead of any inserted ones still queued. */
  insert(inp: InputState, batches: ReadonlyArray<RecordBatch>, kind: number): void {
    if (batches.length === 0) return
    if (inp.injecting === INJECT_NONE) {
      inp.resume = { batch: inp.batch, len: inp.len, pos: inp.pos, base: inp.base }
    } else if (inp.pos < inp.len) {
      // The current inserted batch is partly delivered: its rest comes after the new ones.
      inp.injected.unshift(RecordBatchModule.slice(inp.batch!, inp.pos, inp.len))
      inp.injectedKinds.unshift(inp.injecting)
    }
    for (let k = batches.length - 1; k >= 1; k--) {
      inp.injected.unshift(batches[k]!)
      inp.injectedKinds.unshift(kind)
    }
    this.setInserted(inp, batches[0]!, kind)
  }

  /** Drops every inserted record not yet delivered (DynamoRIO's clear_input_queue before a skip). */
  private dropInserted(inp: InputState): void {
    if (inp.injecting === INJECT_NONE) return
    inp.injected.length = 0
    inp.injectedKinds.length = 0
    this.leaveInserted(inp)
  }

  /**
   * Ends `inp` early: what is left of it is dropped and a synthetic THREAD_EXIT is its last record.
   * `ordinals` ([record, instructions before]) are those the exit reports, by default the input's
   * delivered counts.
   */
  endWithExit(inp: InputState, ordinals?: readonly [number, number]): void {
    this.dropInserted(inp)
    inp.more.length = 0
    inp.batch = undefined
    inp.len = 0
    inp.pos = 0
    inp.endAfterInjected = true
    inp.skip = undefined
    inp.roiStop = Number.POSITIVE_INFINITY
    this.insert(
      inp,
      [
        this.streamBatch(
          inp,
          [{ type: TraceType.THREAD_EXIT, size: 0, valueLo: 0, valueHi: 0 }],
          false,
          ordinals?.[0],
          ordinals?.[1]
        )
      ],
      INJECT_STREAM
    )
  }

  /** An inserted batch carrying the input's current ordinals (DynamoRIO leaves pid 0 on these). */
  private streamBatch(
    inp: InputState,
    records: ReadonlyArray<SyntheticRecord>,
    hidden: boolean,
    firstOrdinal?: number,
    instrsBefore?: number
  ): RecordBatch {
    return insertedBatch(
      records,
      inp.tid,
      0,
      hidden,
      inp.index,
      firstOrdinal ?? inp.recordsDelivered,
      instrsBefore ?? inp.instrsDelivered
    )
  }

  /**
   * DynamoRIO's `get_instr_ordinal` of an input: instructions its reader has
   * read, i.e. delivered ones plus those read and given back (a switch's
   * candidate, unread records).
   */
  readerInstrOrdinal(inp: InputState): number {
    let n = inp.instrsDelivered
    const own = inp.injecting !== INJECT_NONE ? inp.resume : inp
    if (own === undefined || own.batch === undefined) return n
    let batch = own.batch
    let len = own.len
    let p = own.pos
    let abs = own.base + own.pos
    let k = 0
    while (abs < inp.readHigh) {
      if (p >= len) {
        if (k >= inp.more.length) break
        batch = inp.more[k++]!
        len = batch.header[0]!
        p = 0
        continue
      }
      if ((recordClass[batch.type[p]!]! & CLASS_INSTR) !== 0) n++
      p++
      abs++
    }
    return n
  }

  /** The reader reads `batch[i]` for the first time (DynamoRIO's reader_t state). */
  readerSee(inp: InputState, batch: RecordBatch, i: number): void {
    inp.readCount++
    if (batch.type[i] === TraceType.MARKER) this.noteMarker(inp, batch, i)
  }

  /** The reader's state change for marker `batch[i]` read for the first time (the run loops' part of readerSee). */
  noteMarker(inp: InputState, batch: RecordBatch, i: number): void {
    const m = batch.size[i]!
    if (m === MarkerType.TIMESTAMP) {
      inp.lastTsHi = batch.addrHi[i]!
      inp.lastTsLo = batch.addrLo[i]!
    } else if (m === MarkerType.CPU_ID) {
      inp.lastCpuHi = batch.addrHi[i]!
      inp.lastCpuLo = batch.addrLo[i]!
    } else if (m === MarkerType.VERSION) {
      inp.version = batch.addrLo[i]!
    } else if (m === MarkerType.FILETYPE) {
      inp.filetype = batch.addrLo[i]!
      if (this.fault === undefined) this.fault = this.wholeSystemFault(inp)
    }
  }

  /**
   * DynamoRIO's check_scheduler_mode_valid for an input's file type: a
   * whole-system trace is already per core, so only the consistent mapping
   * without timestamp ordering may run it.
   */
  private wholeSystemFault(inp: InputState): ErrorStep | undefined {
    const o = this.opts
    if ((inp.filetype & FileType.WHOLE_SYSTEM) === 0 || (o.mapping === "consistent" && !o.timestampDeps))
      return undefined
    return {
      _tag: "Error",
      reason: "InvalidOption",
      option: "mapping",
      detail: `input ${inp.index} is a whole-system trace: only MAP_TO_CONSISTENT_OUTPUT and DEPENDENCY_IGNORE are supported for whole-system traces`
    }
  }

  private needData(input: number): NeedDataStep {
    const inp = this.inputs[input]!
    this.needStep.input = input
    this.needStep.again = inp.dataRequested
    inp.dataRequested = true
    return this.needStep
  }

  // -------------------------------------------------------------------------
  // Init: read-ahead (DynamoRIO's get_initial_input_content) and initial schedule.

  /**
   * Reads every input ahead to its file type (and first timestamp when the
   * mode orders by timestamps), then lays out the initial schedule. Returns
   * `NeedData` until every input has enough data. `next` calls it itself.
   */
  init(): InitStep {
    if (this.initialized) return readyStep
    const o = this.opts
    while (this.initIndex < this.inputs.length) {
      const inp = this.inputs[this.initIndex]!
      if (inp.regionStart.length > 0 && o.mapping !== "asPreviously" && !this.initRegionEntered) {
        // An input with regions jumps to its first one first (DynamoRIO's
        // get_initial_input_content), so its start timestamp is the region's.
        if (!this.initStarted) {
          this.initStarted = true
          this.enterFirstRegion(inp)
        }
        if (o.readInputsInInit && inp.skip !== undefined) {
          const st = this.continueSkip(inp)
          if (st === Status.NEED_DATA) return this.needData(inp.index)
          if (st === Status.REGION_INVALID) {
            return {
              _tag: "Error",
              reason: "RegionInvalid",
              option: "inputs",
              input: inp.index,
              detail: `its first region of interest starts at instruction ${inp.regionStart[0]}, past its last one (${inp.instrsDelivered})`
            }
          }
        }
        if (inp.lastTsHi !== 0 || inp.lastTsLo !== 0 || !o.gatherTimestamps || !o.readInputsInInit) {
          inp.nextTsHi = inp.lastTsHi
          inp.nextTsLo = inp.lastTsLo
          this.initIndex++
          this.initStarted = false
          continue
        }
        // A region from the first instruction skips nothing, so no timestamp was read: without one, timestamp
        // ordering never picks the input. Read ahead to its first, as for an input without regions.
        this.initRegionEntered = true
        this.initStarted = false
      }
      if (!o.readInputsInInit) {
        this.initIndex++
        continue
      }
      if (!this.initStarted) {
        this.initStarted = true
        this.initPos = 0
        this.initFoundFiletype = false
        this.initFoundTimestamp = !o.gatherTimestamps
      }
      const r = this.readAhead(inp)
      if (r === Status.NEED_DATA) return this.needData(inp.index)
      if (o.gatherTimestamps && inp.nextTsHi === 0 && inp.nextTsLo === 0) {
        return {
          _tag: "Error",
          reason: "InvalidInput",
          option: "deps",
          detail: `input ${inp.index} has no timestamp before its first instruction: timestamp ordering needs one`
        }
      }
      this.initIndex++
      this.initStarted = false
      this.initRegionEntered = false
    }
    // Whole-system traces are already per core: DynamoRIO checks the first input at init, and
    // every input when its file type is read (`fault`, returned by the next step).
    const first = this.inputs[0]
    const wholeSystem = o.readInputsInInit && first !== undefined ? this.wholeSystemFault(first) : undefined
    if (wholeSystem !== undefined) return wholeSystem
    const fault = this.mode.setInitialSchedule()
    if (fault !== undefined)
      return { _tag: "Error", reason: "InvalidOption", option: fault.option, detail: fault.detail }
    this.initialized = true
    return readyStep
  }

  private readAhead(inp: InputState): number {
    const o = this.opts
    for (;;) {
      // Locate absolute record initPos among the buffered batches.
      let rel = this.initPos - inp.base
      let batch = inp.batch
      let len = inp.len
      let k = 0
      while (batch !== undefined && rel >= len && k < inp.more.length) {
        rel -= len
        batch = inp.more[k++]!
        len = batch.header[0]!
      }
      if (batch === undefined || rel >= len) return inp.eofKnown ? Status.OK : Status.NEED_DATA
      if (this.initPos >= inp.readCount) this.readerSee(inp, batch, rel)
      const type = batch.type[rel]!
      if (type !== TraceType.MARKER) return Status.OK
      const m = batch.size[rel]!
      if (m === MarkerType.FILETYPE) {
        this.initFoundFiletype = true
      } else if (m === MarkerType.TIMESTAMP) {
        if (!this.initFoundTimestamp) {
          inp.nextTsHi = batch.addrHi[rel]!
          inp.nextTsLo = batch.addrLo[rel]!
          this.initFoundTimestamp = true
        } else {
          return Status.OK // Stop at a second timestamp.
        }
      } else if (m === MarkerType.SYSCALL_UNSCHEDULE) {
        // Attached in the middle of an unschedule syscall: the input starts unscheduled.
        if (o.honorDirectSwitches) {
          inp.unscheduled = true
          if (!o.honorInfiniteTimeouts) {
            inp.blockedTime = this.scaleBlockedTime(o.blockTimeMaxUs)
            if (inp.blockedTime === 0) inp.blockedTime = 1
          }
          inp.skipNextUnscheduled = true
        }
        return Status.OK
      }
      if (!this.initFoundFiletype && (m === MarkerType.TIMESTAMP || m === MarkerType.PAGE_SIZE)) {
        this.initFoundFiletype = true
        if (!o.gatherTimestamps) return Status.OK
      }
      this.initPos++
    }
  }

  // -------------------------------------------------------------------------
  // Regions of interest and skipping (DynamoRIO's advance_region_of_interest,
  // skip_instructions and its reader's skip_instructions_with_timestamp).

  /** Starts the skip to the first region (at init). */
  private enterFirstRegion(inp: InputState): void {
    const start = inp.regionStart[0]!
    inp.initSkipUnrecorded = this.opts.recordSchedule
    this.startSkip(inp, start, false, start === Number.POSITIVE_INFINITY ? Status.SKIPPED : Status.REGION_INVALID)
  }

  /**
   * Starts skipping `inp` to instruction `target` (delivered next). The walk
   * itself runs in `continueSkip` (it may need loads). `atEnd` is what the
   * input's end before the target means: SKIPPED (a region past the end on
   * purpose) or REGION_INVALID / INVALID.
   */
  startSkip(inp: InputState, target: number, withSeparator: boolean, atEnd: number): void {
    this.dropInserted(inp)
    // The separator carries the region ordinal as it is when the skip starts.
    const separator = withSeparator ? inp.curRegion : -1
    const cur = this.readerInstrOrdinal(inp)
    const c = inp.chunkInstrCount
    let walkFrom = 0
    let inWalk = true
    if (inp.zip && c > 0 && target !== Number.POSITIVE_INFINITY) {
      if (target <= cur + 1) {
        // The zip reader ignores a skip of 0 instructions: only what was read
        // ahead is dropped, and no timestamp or cpu marker is re-inserted.
        this.dropToReader(inp)
        this.finishSkip(inp, separator, undefined, false)
        return
      }
      // The zip reader jumps to the chunk holding the target, whose header
      // re-states the last timestamp and cpu: only timestamps after it count as found.
      const k = Math.floor((target - 1) / c)
      if (Math.floor(cur / c) < k) {
        walkFrom = k * c
        inWalk = false
      }
    }
    inp.skip = {
      target,
      walkFrom,
      inWalk,
      tsFound: inp.lastTsHi !== 0 || inp.lastTsLo !== 0,
      cpuFound: inp.lastCpuHi !== 0 || inp.lastCpuLo !== 0,
      realTimestamp: false,
      tsHi: inp.lastTsHi,
      tsLo: inp.lastTsLo,
      cpuHi: inp.lastCpuHi,
      cpuLo: inp.lastCpuLo,
      atEnd,
      separator
    }
  }

  /** Drops the records read ahead of delivery (up to `readHigh`). */
  private dropToReader(inp: InputState): void {
    while (inp.base + inp.pos < inp.readHigh) {
      const i = this.peek(inp)
      if (i < 0) return
      const batch = inp.batch!
      if ((recordClass[batch.type[i]!]! & CLASS_INSTR) !== 0) inp.instrsDelivered++
      inp.recordsDelivered++
      inp.pos = i + 1
    }
  }

  /**
   * Walks `inp` to its skip target. OK once there (the separator and the
   * timestamp and cpu markers are inserted), NEED_DATA, or the skip's
   * `atEnd` status when the input ends first (the input is then at EOF).
   */
  continueSkip(inp: InputState): number {
    const s = inp.skip!
    for (;;) {
      const i = this.peek(inp)
      if (i === PEEK_NEED) return Status.NEED_DATA
      if (i === PEEK_EOF) {
        inp.skip = undefined
        inp.roiStop = Number.POSITIVE_INFINITY
        this.markInputEof(inp)
        return s.atEnd
      }
      const batch = inp.batch!
      const types = batch.type
      const sizes = batch.size
      const len = inp.len
      for (let j = i; j < len; j++) {
        const ty = types[j]!
        if (inp.base + j >= inp.readCount) this.readerSee(inp, batch, j)
        if ((recordClass[ty]! & CLASS_INSTR) !== 0) {
          if (inp.instrsDelivered + 1 >= s.target) {
            inp.pos = j
            inp.skip = undefined
            this.finishSkip(inp, s.separator, s.tsFound && s.cpuFound ? s : undefined, s.realTimestamp)
            return Status.OK
          }
          inp.instrsDelivered++
        } else if (ty === TraceType.MARKER) {
          const m = sizes[j]!
          if (m === MarkerType.TIMESTAMP) {
            s.tsHi = batch.addrHi[j]!
            s.tsLo = batch.addrLo[j]!
            s.tsFound = true
            if (s.inWalk) s.realTimestamp = true
          } else if (m === MarkerType.CPU_ID) {
            s.cpuHi = batch.addrHi[j]!
            s.cpuLo = batch.addrLo[j]!
            s.cpuFound = true
          } else if (m === MarkerType.CHUNK_FOOTER && !s.inWalk && inp.instrsDelivered >= s.walkFrom) {
            // Into the target's chunk: its header states the last timestamp and cpu again.
            s.inWalk = true
            s.tsFound ||= inp.lastTsHi !== 0 || inp.lastTsLo !== 0
            s.cpuFound ||= inp.lastCpuHi !== 0 || inp.lastCpuLo !== 0
          }
        }
        inp.recordsDelivered++
      }
      inp.pos = len
    }
  }

  /**
   * The input is at its skip target: it is in the region now; a separator
   * (later regions) and the last timestamp and cpu markers come first. A
   * timestamp met on the walk takes the two ordinals before the target;
   * otherwise both are duplicates that do not count as records.
   */
  private finishSkip(
    inp: InputState,
    separator: number,
    markers:
      | { readonly tsHi: number; readonly tsLo: number; readonly cpuHi: number; readonly cpuLo: number }
      | undefined,
    real: boolean
  ): void {
    inp.inCurRegion = true
    inp.roiStop =
      this.runtimeRegions && inp.curRegion < inp.regionStop.length
        ? inp.regionStop[inp.curRegion]!
        : Number.POSITIVE_INFINITY
    if (inp.injecting === INJECT_NONE && inp.base + inp.pos > inp.readHigh) inp.readHigh = inp.base + inp.pos
    const batches: Array<RecordBatch> = []
    if (separator >= 0) batches.push(this.streamBatch(inp, [marker(MarkerType.WINDOW_ID, separator, 0)], false))
    if (markers !== undefined) {
      const ts = marker(MarkerType.TIMESTAMP, markers.tsLo, markers.tsHi)
      const cpu = marker(MarkerType.CPU_ID, markers.cpuLo, markers.cpuHi)
      if (real) batches.push(this.inputBatch(inp, [ts, cpu], false, inp.recordsDelivered - 1))
      else {
        batches.push(this.inputBatch(inp, [ts], true, inp.recordsDelivered))
        batches.push(this.inputBatch(inp, [cpu], true, inp.recordsDelivered))
      }
    }
    this.insert(inp, batches, INJECT_STREAM)
  }

  /** Markers the reader re-inserts: they carry the input's pid, like its records. */
  private inputBatch(
    inp: InputState,
    records: ReadonlyArray<SyntheticRecord>,
    hidden: boolean,
    firstOrdinal: number
  ): RecordBatch {
    return insertedBatch(records, inp.tid, this.pidOf(inp), hidden, inp.index, firstOrdinal, inp.instrsDelivered)
  }

  /** The pid of the input's records (from its next, or last, record). */
  private pidOf(inp: InputState): number {
    const own = inp.injecting !== INJECT_NONE ? inp.resume : inp
    const b = own?.batch
    if (b === undefined) return 0
    const n = b.header[0]!
    const at = own!.pos < n ? own!.pos : n - 1
    return at >= 0 ? b.pid[at]! : 0
  }

  /**
   * The candidate instruction of `inp` is past its region's stop: move to
   * the next region (DynamoRIO's advance_region_of_interest). Inserts a
   * separator, starts a skip, or ends the input after its last region.
   * Returns OK (carry on with the new candidate) or a status to return.
   */
  private advanceRegion(out: OutputState, inp: InputState): number {
    const cur = this.readerInstrOrdinal(inp)
    inp.curRegion++
    inp.inCurRegion = false
    if (inp.curRegion >= inp.regionStart.length) {
      if (this.opts.recordSchedule) {
        this.closeSegment(out, inp)
        // Replay needs a synthetic thread exit here.
        this.recordSegment(out, RecordType.SYNTHETIC_END, inp.index, cur, 0)
      }
      // DynamoRIO's reader has read the candidate instruction past the stop: the exit reports
      // the stream's ordinals with it (its record and its instruction counted).
      this.endWithExit(inp, [inp.recordsDelivered + 1, cur])
      const st = this.markInputEof(inp)
      // An early EOF still delivers the synthetic exit first.
      return st === Status.EOF ? Status.OK : st
    }
    const start = inp.regionStart[inp.curRegion]!
    if (cur >= start) {
      // Back-to-back regions: only the separator.
      inp.inCurRegion = true
      inp.roiStop = inp.regionStop[inp.curRegion]!
      this.insert(inp, [this.streamBatch(inp, [marker(MarkerType.WINDOW_ID, inp.curRegion, 0)], false)], INJECT_STREAM)
      return Status.OK
    }
    if (this.opts.recordSchedule) this.recordSkip(out, inp, cur, start)
    inp.roiStop = Number.POSITIVE_INFINITY
    this.startSkip(inp, start, true, start === Number.POSITIVE_INFINITY ? Status.SKIPPED : Status.REGION_INVALID)
    return Status.OK
  }

  // -------------------------------------------------------------------------
  // Kernel sequences (DynamoRIO's inject_kernel_sequence and friends).

  /** The PC of the input's next record with one (DynamoRIO's get_next_trace_pc), 0 if not buffered. */
  private nextPc(inp: InputState): number {
    const own = inp.injecting !== INJECT_NONE ? inp.resume : inp
    if (own === undefined || own.batch === undefined) return 0
    let batch = own.batch
    let len = own.len
    let p = own.pos
    let k = 0
    for (;;) {
      if (p >= len) {
        if (k >= inp.more.length) return 0
        batch = inp.more[k++]!
        len = batch.header[0]!
        p = 0
        continue
      }
      const pc = pcOf(batch, p)
      if (pc !== undefined) return pc
      p++
    }
  }

  /** Injects the context-switch sequence for a switch from `prev` to `next` on `out`. */
  private injectSwitch(out: OutputState, prev: number, next: number): void {
    const seqs = this.switchSequences
    if (seqs === undefined) return
    const to = this.inputs[next]!
    // Idle-to-input switches count as thread switches (DynamoRIO i#7683).
    const type =
      prev === INVALID || this.inputs[prev]!.workload === to.workload ? SwitchType.THREAD : SwitchType.PROCESS
    const seq = seqs.get(type)
    if (seq === undefined) return
    const batch = instantiate(
      seq,
      to.tid,
      this.pidOf(to),
      0,
      this.nextPc(to),
      to.index,
      to.recordsDelivered,
      to.instrsDelivered
    )
    this.insert(to, [batch], INJECT_SWITCH)
    out.stats[Stat.KERNEL_SWITCH_SEQUENCE_INJECTIONS]!++
  }

  /** DynamoRIO's maybe_inject_pending_syscall_sequence test: is `batch[i]` where the sequence goes? */
  private isSyscallInjectionPoint(inp: InputState, batch: RecordBatch, i: number): boolean {
    const ty = batch.type[i]!
    if (ty === TraceType.THREAD_EXIT) return true
    if (ty !== TraceType.MARKER) return false
    const m = batch.size[i]!
    if (m === MarkerType.TIMESTAMP || m === MarkerType.KERNEL_XFER || m === MarkerType.KERNEL_EVENT) return true
    if (m === MarkerType.FUNC_ID) {
      // After the syscall's function id and arguments, before its return value.
      if (inp.sawFirstFuncIdAfterSyscall) return true
      inp.sawFirstFuncIdAfterSyscall = true
    }
    return false
  }

  private injectSyscall(out: OutputState, inp: InputState): void {
    const num = inp.toInjectSyscall
    const seq = this.syscallSequences!.get(num) ?? this.defaultSyscallSequence!
    const batch = instantiate(
      seq,
      inp.tid,
      this.pidOf(inp),
      num,
      this.nextPc(inp),
      inp.index,
      inp.recordsDelivered,
      inp.instrsDelivered
    )
    this.insert(inp, [batch], INJECT_SYSCALL)
    out.stats[Stat.KERNEL_SYSCALL_SEQUENCE_INJECTIONS]!++
    inp.toInjectSyscall = -1
    inp.sawFirstFuncIdAfterSyscall = false
  }

  /** A SYSCALL marker was delivered: its sequence goes in at the next injection point. */
  private noteSyscall(inp: InputState, batch: RecordBatch, i: number): void {
    const num = batch.addrHi[i]! * TWO32 + batch.addrLo[i]!
    if (this.syscallSequences!.has(num) || this.defaultSyscallSequence !== undefined) {
      inp.toInjectSyscall = num
      inp.sawFirstFuncIdAfterSyscall = false
    }
  }

  /**
   * Delivers records of a kernel sequence: whole runs, no switch decision
   * inside (DynamoRIO's in_context_switch_code / in_syscall_code); system
   * call instructions count toward the quantum, switch code does not. They
   * count in the output's ordinals, not the input's.
   */
  private deliverKernel(out: OutputState, inp: InputState, batch: RecordBatch, i: number, maxRecords: number): Step {
    const step = out.step
    step.input = inp.index
    step.batch = batch
    step.start = i
    step.outputRecordsBefore = out.records
    step.outputInstrsBefore = out.instrs
    const stop = maxRecords >= inp.len - i ? inp.len : i + maxRecords
    const canon = this.opts.canonicalizeAddresses
    const tag = this.mode.rewritesMarkers && inp.workload > 0
    const syscall = inp.injecting === INJECT_SYSCALL
    let instrs = 0
    for (let j = i; j < stop; j++) {
      if (canon) {
        const n = canonicalize(batch, j)
        if (n !== 0) out.stats[Stat.CANONICALIZED_ADDRESSES]! += n
      }
      if (tag) tagWorkload(batch, j, inp.workload)
      if ((batch.flags[j]! & FLAG_SYNTHETIC) === 0) out.records++
      if ((recordClass[batch.type[j]!]! & CLASS_INSTR) !== 0) instrs++
    }
    out.instrs += instrs
    this.globalInstrs += instrs
    if (syscall && !this.opts.quantumByTime) inp.instrsInQuantum += instrs
    inp.pos = stop
    // Back "on the clock" after switch code (quantum by time).
    if (!syscall && stop === inp.len && this.opts.quantumByTime) inp.prevTimeInQuantum = out.curTime
    step.end = stop
    out.lastRange = stop - i
    out.lastRangeInput = inp.index
    out.lastRangeInstrs = instrs
    out.lastRangeNonSynthetic = stop - i
    return step as Step
  }

  // -------------------------------------------------------------------------
  // Recording (DynamoRIO's record_schedule_segment / close_schedule_segment).

  /** Appends a record to `out`'s recorded schedule (consecutive idle records merge). */
  recordSegment(out: OutputState, type: number, input: number, start: number, stop: number): void {
    const rec = out.record
    if (type === RecordType.IDLE_BY_COUNT) {
      if (rec[rec.length - 1]?.type === RecordType.IDLE_BY_COUNT) return
      // Starts before this idle; the value becomes the count when closed.
      out.idleStartCount = out.idleCount - 1
    }
    rec.push({ type, input, start, stop, timestamp: ++this.recordClock })
  }

  /** Sets the stop of `out`'s last record: where `inp` is now (or the idle count of an idle record). */
  closeSegment(out: OutputState, inp: InputState | undefined): void {
    const last = out.record[out.record.length - 1]
    if (last === undefined || last.type === RecordType.SKIP) return
    if (last.type === RecordType.IDLE_BY_COUNT) {
      last.start = out.idleCount - out.idleStartCount
      return
    }
    if (inp === undefined) return
    let ord = this.readerInstrOrdinal(inp)
    if (inp.atEof || inp.readerAtEnd()) ord = Number.POSITIVE_INFINITY
    if (inp.switchingPreInstruction) {
      // Let go with nothing read ahead: the exclusive stop is one past the last delivered.
      inp.switchingPreInstruction = false
      ord++
    }
    last.stop = ord
  }

  /** DynamoRIO's record_schedule_skip. */
  private recordSkip(out: OutputState, inp: InputState, start: number, stop: number): void {
    const last = out.record[out.record.length - 1]
    if (last?.type === RecordType.DEFAULT && last.input === inp.index) this.closeSegment(out, inp)
    // Replay cannot start an output with a skip: a 0,0 segment gets it going.
    if (out.record.length === 1) this.recordSegment(out, RecordType.DEFAULT, inp.index, 0, 0)
    this.recordSegment(out, RecordType.SKIP, inp.index, start, stop)
    this.recordSegment(out, RecordType.DEFAULT, inp.index, stop, 0)
  }

  /** DynamoRIO's recording of an idle stretch of blocked inputs (dynamic mode). */
  recordIdle(output: number): void {
    if (!this.opts.recordSchedule) return
    const out = this.outputs[output]!
    this.recordSegment(out, RecordType.IDLE_BY_COUNT, 0, out.idleCount - 1, 0)
  }

  /**
   * The recorded schedule, one record list per output (VERSION first, FOOTER
   * last), ready for `scheduleFile.writeRecordedSchedule`. A segment still
   * open at the end is closed where its input is (DynamoRIO leaves it at 0,
   * which replays nothing).
   */
  recordedSchedule(): Array<Array<ScheduleRecord>> {
    return this.outputs.map((out) => {
      const rec = out.record.map((r) => ({ ...r }))
      const last = rec[rec.length - 1]
      // (A 0,0 starter segment is always followed by its SKIP, so it is never last.)
      if (last !== undefined && last.type === RecordType.DEFAULT && last.stop === 0) {
        const inp = this.inputs[last.input]!
        last.stop = inp.atEof || inp.readerAtEnd() ? Number.POSITIVE_INFINITY : this.readerInstrOrdinal(inp)
      }
      rec.push({ type: RecordType.FOOTER, input: 0, start: 0, stop: 0, timestamp: ++this.recordClock })
      return rec
    })
  }

  // -------------------------------------------------------------------------
  // Helpers shared by the modes.

  /** DynamoRIO's scale_blocked_time: simulated µs of blocking for an as-traced latency, in time units. */
  scaleBlockedTime(initial: number): number {
    let us = Math.trunc(initial * this.opts.blockTimeMultiplier)
    if (us > this.opts.blockTimeMaxUs) us = this.opts.blockTimeMaxUs
    return Math.trunc(us * this.opts.timeUnitsPerUs)
  }

  defaultTime(out: OutputState): number {
    return 1 + (this.opts.singleLockstepOutput ? this.globalInstrs : out.instrs) + out.idleCount
  }

  /** DynamoRIO's set_cur_input (with its recording of segments). */
  setCurInput(output: number, input: number): void {
    const out = this.outputs[output]!
    const prev = out.curInput
    const recording = this.opts.recordSchedule
    if (prev >= 0 && prev !== input) {
      const p = this.inputs[prev]!
      p.curOutput = INVALID
      p.lastRunTime = out.curTime
      if (recording) this.closeSegment(out, p)
    } else if (prev < 0 && recording && out.record[out.record.length - 1]?.type === RecordType.IDLE_BY_COUNT) {
      this.closeSegment(out, undefined)
    }
    if (prev !== input) this.mode.swapOutInput(output, prev)
    if (out.curInput >= 0) out.prevInput = out.curInput
    out.curInput = input
    if (prev === input) return
    if (input < 0) {
      this.mode.swapInInput(output, input)
      return
    }
    const inp = this.inputs[input]!
    inp.curOutput = output
    inp.containingOutput = output
    inp.prevTimeInQuantum = out.curTime
    if (recording) {
      const ord = this.readerInstrOrdinal(inp)
      const first = inp.regionStart[0]
      if (inp.skipUnrecordedTo >= 0) {
        this.recordSkip(out, inp, ord, inp.skipUnrecordedTo)
        inp.skipUnrecordedTo = -1
      } else if (first !== undefined && inp.initSkipUnrecorded && inp.curRegion === 0 && inp.inCurRegion) {
        // Skipped at init, with no output to record it on then (once: DynamoRIO
        // tests the ordinal instead, which matches again after a region
        // starting at instruction 1 or 2 has run an instruction).
        inp.initSkipUnrecorded = false
        this.recordSkip(out, inp, 0, first)
      } else {
        this.recordSegment(out, RecordType.DEFAULT, input, ord, 0)
      }
    }
    this.mode.swapInInput(output, input)
  }

  /** DynamoRIO's on_context_switch: switch statistics and kernel switch sequences. */
  private onContextSwitch(output: number, prev: number, next: number): void {
    const out = this.outputs[output]!
    if (prev === next) {
      out.stats[Stat.SWITCH_NOP]!++
      return
    }
    if (prev !== INVALID && next !== INVALID) {
      out.stats[Stat.SWITCH_INPUT_TO_INPUT]!++
    } else if (next === INVALID) {
      // No sequence on input-to-idle (DynamoRIO neither).
      out.stats[Stat.SWITCH_INPUT_TO_IDLE]!++
      return
    } else {
      out.stats[Stat.SWITCH_IDLE_TO_INPUT]!++
      out.consecutiveIdles = 0
    }
    this.injectSwitch(out, prev, next)
  }

  /** DynamoRIO's pick_next_input. */
  pickNextInput(output: number, blockedTime: number): number {
    const out = this.outputs[output]!
    const prevIndex = out.curInput
    let index = INVALID
    let res: number = Status.OK
    for (;;) {
      if (index < 0) {
        this.mode.pickNextInputForMode(output, blockedTime, prevIndex, this.pickOut)
        res = this.pickOut.status
        index = this.pickOut.index
        if (res === Status.SKIPPED) break
        if (res !== Status.OK) return res
      }
      const inp = this.inputs[index]!
      if (inp.atEof || inp.readerAtEnd()) {
        if (!inp.atEof) {
          const st = this.markInputEof(inp)
          if (st !== Status.OK) return st
        }
        index = INVALID
        continue
      }
      break
    }
    this.onContextSwitch(output, prevIndex, index)
    this.setCurInput(output, index)
    return res
  }

  /** DynamoRIO's mark_input_eof: EOF means every output should now stop (exit fraction). */
  markInputEof(inp: InputState): number {
    if (inp.atEof) return Status.OK
    inp.atEof = true
    this.mode.markInputEofForMode(inp)
    this.liveInputCount--
    if (
      this.opts.mapping === "dynamic" &&
      this.liveInputCount <= Math.trunc(this.inputs.length * this.opts.exitIfFractionInputsLeft)
    )
      return Status.EOF
    return Status.OK
  }

  /** DynamoRIO's eof_or_idle: never OK; STOLE means `curInput` now holds a stolen input. */
  eofOrIdle(output: number, prevInput: number): number {
    const res = this.mode.eofOrIdleForMode(output, prevInput)
    if (res !== Status.IDLE) return res
    const out = this.outputs[output]!
    out.waiting = true
    if (prevInput !== INVALID) out.stats[Stat.SWITCH_INPUT_TO_IDLE]!++
    this.setCurInput(output, INVALID)
    out.idleCount++
    return Status.IDLE
  }

  /** Fails this step and every later one with `step` (the first failure given stays). */
  failWith(step: ErrorStep): number {
    if (this.fault === undefined) this.fault = step
    return Status.INVALID
  }

  private statusStep(status: number): Step {
    switch (status) {
      case Status.EOF:
        return eofStep
      case Status.IDLE:
        return idleStep
      case Status.WAIT:
        return waitStep
      case Status.IMPOSSIBLE_BINDING:
        return { _tag: "Error", reason: "ImpossibleBinding", detail: "an input's output binding has no active output" }
      case Status.REGION_INVALID:
        return {
          _tag: "Error",
          reason: "RegionInvalid",
          detail: "a region of interest starts past the end of its input (too-far skip)"
        }
      case Status.INVALID:
        if (this.fault !== undefined) return this.fault
        if (this.replayError !== "") return { _tag: "Error", reason: "ReplayInvalid", detail: this.replayError }
        return { _tag: "Error", reason: "Invalid", detail: "the mapping refused the call (STATUS_INVALID)" }
      default:
        return { _tag: "Error", reason: "Invalid", detail: `scheduler status ${status}` }
    }
  }

  // -------------------------------------------------------------------------
  // next: DynamoRIO's next_record, extended to a run of records.

  /**
   * The next step of `output`. `now` (> 0) is the caller's simulated time
   * (quantum by time); omitted or 0 uses DynamoRIO's instruction-count time.
   * `maxRecords` caps the run (1 = DynamoRIO's record-at-a-time calls).
   * `maxIdles` (> 1, instruction-count time only) lets one call make up to
   * that many consecutive idle decisions, as if the output's calls ran back
   * to back: the Idle step's `count` says how many (each one is one time
   * unit and one DynamoRIO idle record).
   */
  next(output: number, now: number = 0, maxRecords: number = Number.POSITIVE_INFINITY, maxIdles: number = 1): Step {
    const first = this.nextOnce(output, now, maxRecords)
    if (first._tag !== "Idle" || maxIdles <= 1 || now > 0) return first
    const out = this.outputs[output]!
    let count = 1
    for (; count < maxIdles; count++) {
      // A replayed idle segment: its idles at once.
      const bulk = this.mode.bulkIdle?.(output, maxIdles - count) ?? 0
      if (bulk > 0) {
        count += bulk - 1
        continue
      }
      // Probe with one record: whatever ends the idle stretch is kept for the
      // next call, so the caller sees the idles first.
      const s = this.nextOnce(output, 0, 1)
      if (s._tag === "Idle") continue
      out.stash = s._tag === "NeedData" ? { _tag: "NeedData", input: s.input, again: s.again } : s
      out.lastRange = 0
      break
    }
    out.idles.count = count
    return out.idles
  }

  private nextOnce(output: number, now: number, maxRecords: number): Step {
    const out = this.outputs[output]!
    const stashed = out.stash
    if (stashed !== undefined) {
      out.stash = undefined
      if (stashed._tag === "Records") out.lastRange = 1
      return stashed
    }
    if (!this.initialized) {
      const s = this.init()
      if (s._tag !== "Ready") return s
    }
    if (this.fault !== undefined) return this.fault
    out.lastRange = 0
    const curTime = now > 0 ? now : this.defaultTime(out)
    if (out.initialCurTime === 0) out.initialCurTime = curTime
    out.curTime = curTime
    if (!out.active) {
      out.idleCount++
      return idleStep
    }
    if (out.waiting) {
      // A replayed idle segment lasts its recorded count.
      if (this.mode.waitingIdle !== undefined && this.mode.waitingIdle(output) === Status.IDLE) return idleStep
      const res = this.pickNextInput(output, 0)
      if (res !== Status.OK && res !== Status.SKIPPED) return this.statusStep(res)
      out.waiting = false
    }
    if (out.curInput < 0) {
      const st = this.eofOrIdle(output, out.curInput)
      if (st !== Status.STOLE) return this.statusStep(st)
    }
    let inp = this.inputs[out.curInput]!
    if (inp.prevTimeInQuantum === 0) inp.prevTimeInQuantum = curTime
    const decision = this.decision
    let i: number
    for (;;) {
      if (inp.skip !== undefined) {
        const st = this.continueSkip(inp)
        if (st === Status.NEED_DATA) return this.needData(inp.index)
        if (st !== Status.OK && st !== Status.SKIPPED) return this.statusStep(st)
      }
      i = this.peek(inp)
      if (i === PEEK_NEED) return this.needData(inp.index)
      if (i === PEEK_EOF) {
        if (inp.toInjectSyscall >= 0) {
          // The input ended inside a system call: its sequence still goes in.
          this.injectSyscall(out, inp)
          continue
        }
        if (!inp.atEof) {
          const st = this.markInputEof(inp)
          if (st !== Status.OK) return this.statusStep(st)
        }
        const res = this.pickNextInput(output, 0)
        if (res !== Status.OK && res !== Status.SKIPPED) return this.statusStep(res)
        inp = this.inputs[out.curInput]!
        continue
      }
      const batch = inp.batch!
      if (inp.injecting === INJECT_SWITCH || inp.injecting === INJECT_SYSCALL)
        return this.deliverKernel(out, inp, batch, i, maxRecords)
      if (inp.toInjectSyscall >= 0 && inp.injecting === INJECT_NONE && this.isSyscallInjectionPoint(inp, batch, i)) {
        // The sequence's last branch goes to the input's next instruction: read ahead until it is
        // known (DynamoRIO's reader does), unless the input ends first.
        if (this.nextPc(inp) === 0 && !inp.eofKnown) return this.needData(inp.index)
        this.injectSyscall(out, inp)
        continue
      }
      if (inp.injecting === INJECT_NONE) {
        if (inp.base + i >= inp.readCount) this.readerSee(inp, batch, i)
        inp.candFromQueue = inp.base + i < inp.readHigh
        if (!inp.candFromQueue) inp.readHigh = inp.base + i + 1
      } else {
        inp.candFromQueue = true
      }
      if (inp.injecting === INJECT_NONE) updateSyscallState(out, batch, i)
      const prevTimeInQuantum = inp.prevTimeInQuantum
      decision.reset()
      this.mode.checkForInputSwitch(output, inp, batch, i, curTime, decision)
      if (decision.status !== Status.OK) {
        return {
          _tag: "Error",
          reason: "InvalidTime",
          detail: `time ${curTime} on output ${output} is before the quantum start ${prevTimeInQuantum} of input ${inp.index}`
        }
      }
      if (decision.needNewInput) {
        const prevInput = out.curInput
        const res = this.pickNextInput(output, decision.blockedTime)
        if (res !== Status.OK && res !== Status.WAIT && res !== Status.SKIPPED) return this.statusStep(res)
        // A replay's next segment may be of the same input: the candidate is checked against it.
        if (out.curInput !== prevInput || res === Status.SKIPPED || this.replaying) {
          // Undo the quantum overshoot of the record we did not deliver, unless the quantum was reset.
          if (!decision.preempt && this.opts.mapping === "dynamic" && out.curInput !== prevInput) {
            const prev = this.inputs[prevInput]!
            if (!this.opts.quantumByTime) {
              if ((recordClass[batch.type[i]!]! & CLASS_INSTR) !== 0 && prev.instrsInQuantum > 0) prev.instrsInQuantum--
            } else {
              prev.timeSpentInQuantum -= curTime - prevTimeInQuantum
            }
          }
          if (res === Status.WAIT) return waitStep
          inp = this.inputs[out.curInput]!
          continue
        }
      }
      // Past the current region of interest: the next region (separator, skip or end).
      if (
        inp.roiStop !== Number.POSITIVE_INFINITY &&
        inp.injecting === INJECT_NONE &&
        (recordClass[batch.type[i]!]! & CLASS_INSTR) !== 0 &&
        inp.instrsDelivered + 1 > inp.roiStop
      ) {
        const st = this.advanceRegion(out, inp)
        if (st !== Status.OK) return this.statusStep(st)
        continue
      }
      break
    }
    const batch = inp.batch!
    // Idle and wait markers stored in the input (core-sharded traces) become statuses.
    if (batch.type[i] === TraceType.MARKER) {
      const m = batch.size[i]!
      if (m === MarkerType.CORE_IDLE || m === MarkerType.CORE_WAIT) {
        this.updateNextRecord(out, inp, batch, i)
        inp.pos = i + 1
        inp.recordsDelivered++
        return m === MarkerType.CORE_IDLE ? idleStep : waitStep
      }
    }
    const step = out.step
    step.input = inp.index
    step.batch = batch
    step.start = i
    step.outputRecordsBefore = out.records
    step.outputInstrsBefore = out.instrs
    const records0 = out.records
    const instrs0 = out.instrs
    const delivered0 = inp.instrsDelivered
    this.deliver(out, inp, batch, i)
    let stop = maxRecords >= inp.len - i ? inp.len : i + maxRecords
    if (this.syscallInjection && inp.injecting === INJECT_NONE) {
      // A SYSCALL marker is delivered alone; until its sequence is in, one record at a time.
      if (batch.type[i] === TraceType.MARKER && batch.size[i] === MarkerType.SYSCALL) this.noteSyscall(inp, batch, i)
      if (inp.toInjectSyscall >= 0) stop = i + 1
    }
    const end = i + 1 < stop ? this.mode.extendRun(output, inp, batch, i + 1, stop, now) : i + 1
    if (inp.injecting === INJECT_NONE) {
      if (inp.base + end > inp.readHigh) inp.readHigh = inp.base + end
    } else {
      // Inserted records are not the input's.
      inp.instrsDelivered = delivered0
      inp.recordsDelivered -= end - i
    }
    step.end = end
    out.lastRange = end - i
    out.lastRangeInput = inp.index
    out.lastRangeInstrs = out.instrs - instrs0
    out.lastRangeNonSynthetic = out.records - records0
    return step as Step
  }

  /**
   * How many records `output` can take next, from its current batch, with
   * nothing to decide at any of them (dynamic mapping, logical time): no
   * marker, no instruction at which its quantum or region ends, no pending
   * system call to judge, nothing inserted or skipped. At most `max`.
   */
  private plainRun(output: number, max: number): number {
    const out = this.outputs[output]!
    if (!out.active || out.waiting || out.stash !== undefined || out.curInput < 0 || out.initialCurTime === 0) return 0
    const inp = this.inputs[out.curInput]!
    const batch = inp.batch
    if (
      batch === undefined ||
      inp.injecting !== INJECT_NONE ||
      inp.skip !== undefined ||
      inp.toInjectSyscall >= 0 ||
      inp.processingSyscall ||
      inp.processingMaybeBlockingSyscall ||
      inp.prevTimeInQuantum === 0 ||
      inKernelCode(out)
    )
      return 0
    const budget = Math.min(inp.roiStop - inp.instrsDelivered, this.opts.quantumDurationInstrs - inp.instrsInQuantum)
    const stop = Math.min(inp.len, inp.pos + max)
    return plainEnd(batch, inp.pos, stop, budget) - inp.pos
  }

  /**
   * A stretch of DynamoRIO's single lockstep walk (core-serial) at once.
   * When every output of `outputs` (the live ones, in walk order, at the
   * start of a round) has at least 2 plain records ahead (`plainRun`) or
   * idles with nothing to decide (`Mode.idleRun`), `n` rounds of the walk
   * are `n` records or idles per output with no decision in between that
   * another output could influence. Each output then gets its `n` at once,
   * in walk order (its Records or Idle step goes to `steps[k]`), and the
   * outputs' times are set to what the record-at-a-time walk leaves. The
   * caller must hand the records to its tools interleaved, round by round.
   * Returns `n`, or 0 when nothing was done.
   */
  lockstepSpan(outputs: ReadonlyArray<number>, max: number, steps: Array<Step>): number {
    const o = this.opts
    const mode = this.mode
    if (!this.initialized || !o.singleLockstepOutput || o.mapping !== "dynamic" || o.quantumByTime) return 0
    if (mode.idleRun === undefined || mode.takeIdles === undefined) return 0
    // Per round an idle output's time grows by its own idle and at most
    // one instruction of every other output.
    const perCall = outputs.length
    const busy: Array<boolean> = []
    // A cheap look first, so a walk that cannot take a span (markers close
    // together, an output about to decide) costs a few records per round.
    for (const output of outputs) {
      if (this.plainRun(output, 2) >= 2) busy.push(true)
      else if (mode.idleRun(output, 2, perCall) >= 2) busy.push(false)
      else return 0
    }
    let n = max
    for (let k = 0; k < outputs.length; k++)
      n = Math.min(n, busy[k] ? this.plainRun(outputs[k]!, n) : mode.idleRun(outputs[k]!, n, perCall))
    if (n < 2) return 0
    const lastInstr: Array<number> = []
    for (let k = 0; k < outputs.length; k++) {
      const output = outputs[k]!
      if (!busy[k]) {
        mode.takeIdles(output, n)
        steps[k] = { _tag: "Idle", count: n }
        lastInstr.push(0)
        continue
      }
      const s = this.nextOnce(output, 0, n)
      if (s._tag !== "Records" || s.end - s.start !== n) throw new Error("lockstepSpan: a plain run did not deliver")
      steps[k] = s
      lastInstr.push(recordClass[s.batch.type[s.end - 1]!]! & CLASS_INSTR)
    }
    // Round n − 1 of the walk: output k's call starts before its own and
    // the later outputs' last records are delivered (an idle call counts
    // its own idle after).
    let after = 0
    for (let k = outputs.length - 1; k >= 0; k--) {
      after += lastInstr[k]!
      const out = this.outputs[outputs[k]!]!
      out.curTime = 1 + this.globalInstrs - after + out.idleCount - (busy[k] ? 0 : 1)
    }
    return n
  }

  /** Hands `batch[i]` to `out` (DynamoRIO's update_next_record plus the stream's counters). */
  private deliver(out: OutputState, inp: InputState, batch: RecordBatch, i: number): void {
    this.updateNextRecord(out, inp, batch, i)
    if ((batch.flags[i]! & FLAG_SYNTHETIC) === 0) out.records++
    if ((recordClass[batch.type[i]!]! & CLASS_INSTR) !== 0) {
      out.instrs++
      inp.instrsDelivered++
      this.globalInstrs++
    }
    inp.recordsDelivered++
    inp.pos = i + 1
  }

  private updateNextRecord(out: OutputState, inp: InputState, batch: RecordBatch, i: number): void {
    const o = this.opts
    // DynamoRIO's adjust_filetype: with system-call sequences the trace has kernel system calls.
    if (this.syscallInjection && batch.type[i] === TraceType.MARKER && batch.size[i] === MarkerType.FILETYPE)
      batch.addrLo[i] = (batch.addrLo[i]! | FileType.KERNEL_SYSCALLS) >>> 0
    if (o.canonicalizeAddresses) {
      const n = canonicalize(batch, i)
      if (n !== 0) out.stats[Stat.CANONICALIZED_ADDRESSES]! += n
    }
    if (!this.mode.rewritesMarkers) return
    if (inp.workload > 0) tagWorkload(batch, i, inp.workload)
    if (batch.type[i] === TraceType.MARKER)
      rewriteMarker(out, batch, i, this.streamInstrOrdinal(out, inp), this.shardIndex(out, inp))
  }

  /** The instruction ordinal DynamoRIO's stream reports (input's with useInputOrdinals, else the stream's). */
  streamInstrOrdinal(out: OutputState, inp: InputState): number {
    return this.opts.useInputOrdinals
      ? inp.instrsDelivered
      : this.opts.singleLockstepOutput
        ? this.globalInstrs
        : out.instrs
  }

  /** DynamoRIO's get_shard_index: the input ordinal with useInputOrdinals, else the output ordinal. */
  shardIndex(out: OutputState, inp: InputState): number {
    return this.opts.useInputOrdinals ? inp.index : out.index
  }

  /**
   * The run loop of the modes that neither rewrite records nor decide
   * anything inside an input (consistent, serial): stops only before an
   * idle/wait marker and, in serial mode, before a TIMESTAMP.
   */
  extendFixed(
    out: OutputState,
    inp: InputState,
    batch: RecordBatch,
    from: number,
    stop: number,
    stopAtTimestamp: boolean
  ): number {
    const types = batch.type
    const sizes = batch.size
    const flags = batch.flags
    const canon = this.opts.canonicalizeAddresses
    const injection = this.syscallInjection
    // Instructions this run may deliver before the region of interest ends.
    const budget = inp.roiStop - inp.instrsDelivered
    // Records at or past `seenRel` are new to the input's reader.
    const seenRel = inp.readCount - inp.base
    let instrs = 0
    let synthetic = 0
    let end = from
    for (;;) {
      end = skipPlain(batch, end, stop, budget - instrs, canon)
      instrs += scanned.instrs
      synthetic += scanned.synthetic
      if (end >= stop) break
      // A marker, an instruction past the region, or a non-canonical address.
      const cls = recordClass[types[end]!]!
      if ((cls & CLASS_MARKER) !== 0) {
        if (end >= seenRel) this.noteMarker(inp, batch, end)
        const m = sizes[end]!
        if (
          m === MarkerType.CORE_IDLE ||
          m === MarkerType.CORE_WAIT ||
          (stopAtTimestamp && m === MarkerType.TIMESTAMP) ||
          ((m === MarkerType.SYSCALL || m === MarkerType.FILETYPE) && injection)
        )
          break
      } else if (instrs >= budget && (cls & CLASS_INSTR) !== 0) {
        // Past the region of interest: the candidate loop moves to the next one.
        break
      }
      if (canon) {
        const n = canonicalize(batch, end)
        if (n !== 0) out.stats[Stat.CANONICALIZED_ADDRESSES]! += n
      }
      synthetic += flags[end]! & FLAG_SYNTHETIC
      instrs += cls & CLASS_INSTR
      end++
    }
    // The record a run stops before was read (seen) too.
    const readTo = inp.base + (end < stop ? end + 1 : end)
    if (readTo > inp.readCount) inp.readCount = readTo
    out.records += end - from - synthetic / FLAG_SYNTHETIC
    out.instrs += instrs
    inp.instrsDelivered += instrs
    this.globalInstrs += instrs
    inp.recordsDelivered += end - from
    inp.pos = end
    return end
  }

  // -------------------------------------------------------------------------
  // Caller operations.

  /**
   * Gives back the last `count` records of the output's last Records step
   * (DynamoRIO's unread_last_record, for a run): they are delivered again
   * by the next call, here or, after `setActive(false)`, on another output.
   * Only right after that step; false if not possible.
   */
  unread(output: number, count: number): boolean {
    const out = this.outputs[output]!
    if (count <= 0) return true
    if (out.lastRange < count || out.curInput !== out.lastRangeInput || out.curInput < 0) return false
    const inp = this.inputs[out.curInput]!
    const step = out.step
    if (inp.batch !== step.batch || inp.pos !== step.end) return false
    const batch = inp.batch
    // Inserted records never counted in the input's ordinals.
    const own = inp.injecting === INJECT_NONE
    for (let k = inp.pos - count; k < inp.pos; k++) {
      if ((batch.flags[k]! & FLAG_SYNTHETIC) === 0) out.records--
      if ((recordClass[batch.type[k]!]! & CLASS_INSTR) !== 0) {
        out.instrs--
        if (own) inp.instrsDelivered--
        this.globalInstrs--
        if (!this.opts.quantumByTime && inp.instrsInQuantum > 0 && (own || inp.injecting === INJECT_SYSCALL))
          inp.instrsInQuantum--
      }
      if (own) inp.recordsDelivered--
    }
    inp.pos -= count
    step.end -= count
    out.lastRange -= count
    return true
  }

  /**
   * The worker of `output` returned early (its tools are done): the inputs it
   * has not started are left unread, as DynamoRIO's worker leaves them,
   * rather than handed off by the `setActive(false)` that follows.
   */
  abandon(output: number): void {
    this.mode.abandonOutput?.(output)
  }

  /** DynamoRIO's set_output_active; OK, INVALID (mode without it) or IMPOSSIBLE_BINDING. */
  setActive(output: number, active: boolean): number {
    const out = this.outputs[output]!
    const stashed = out.stash
    out.stash = undefined
    if (stashed?._tag === "Records") {
      // The record that ended an idle stretch was never seen: give it back.
      out.lastRange = 1
      this.unread(output, 1)
    }
    out.lastRange = 0
    if (!active && this.opts.recordSchedule && this.opts.mapping === "dynamic" && out.active && out.curInput >= 0) {
      // Let go with nothing read ahead: the recorded stop is one past the last delivered instruction.
      const inp = this.inputs[out.curInput]!
      const own = inp.injecting !== INJECT_NONE ? inp.resume : inp
      if (own === undefined || own.base + own.pos >= inp.readHigh) inp.switchingPreInstruction = true
    }
    if (!this.initialized && this.opts.mapping === "dynamic") {
      // Before the initial layout there is nothing to move: the layout skips inactive outputs.
      out.active = active
      return Status.OK
    }
    return this.mode.setOutputActive(output, active)
  }

  /** The output's DynamoRIO statistics (a copy). */
  stats(output: number): Array<number> {
    return this.outputs[output]!.stats.slice(0, STAT_COUNT)
  }

  /** DynamoRIO's get_output_cpuid: the traced cpu of an as-traced replay, else the output ordinal. */
  outputCpuid(output: number): number {
    return this.opts.asTraced ? this.outputs[output]!.asTracedCpuid : output
  }
}
