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
 * **Seams for what is not built yet.**
 * - Replay (`asPreviously`, `recorded` with several outputs): one more `Mode`
 *   whose pick follows the recorded segments and returns WAIT; `next`
 *   already handles a WAIT from a pick, and `options.ts` rejects the
 *   mappings until then.
 * - Regions of interest and skipping: per-input state in `InputState` and a
 *   check in `next`'s candidate loop (DynamoRIO's `advance_region_of_interest`
 *   sits in the same place), plus the read-ahead in `init`.
 * - Kernel switch/syscall sequence injection: `onContextSwitch` (switches)
 *   and the delivery of a SYSCALL marker; injected records would come from a
 *   per-input queue of synthetic batches that `peek` serves before the
 *   input's own.
 * - Multiple workloads are built: per-input workload ordinals, per-workload
 *   output limits, tid/pid tagging.
 */
import { MarkerType, TraceType } from "../../trace/Record.ts"
import { FLAG_SYNTHETIC, type RecordBatch } from "../../trace/RecordBatch.ts"
import { ConsistentMode } from "./consistent.ts"
import { DynamicMode } from "./dynamic.ts"
import { isFault, type OptionFault, type Options, type Resolved, resolve } from "./options.ts"
import { canonicalize, rewriteMarker, tagWorkload } from "./records.ts"
import { SerialMode } from "./serial.ts"
import {
  CLASS_INSTR,
  type ErrorStep,
  eofStep,
  INVALID,
  InputState,
  idleStep,
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
  waitStep
} from "./state.ts"

const WORKLOAD_SHIFT_FACTOR = 2 ** 48
const PEEK_NEED = -1
const PEEK_EOF = -2

/** What the core needs to know about an input up front. */
export interface CoreInput {
  /** The input's thread id (DynamoRIO's input tid, the key of direct-switch targets). */
  readonly tid: number
}

/** A step of `init`: ready, or data needed, or a failure naming an option. */
export type InitStep = { readonly _tag: "Ready" } | NeedDataStep | (ErrorStep & { readonly option?: string })

const readyStep = Object.freeze({ _tag: "Ready" as const })

interface MutableNeedData {
  _tag: "NeedData"
  input: number
  again: boolean
}

/** @internal */
export class Core {
  readonly opts: Resolved
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
  private readonly decision = new SwitchDecision()
  private readonly pickOut = new Pick()
  private readonly needStep: MutableNeedData = { _tag: "NeedData", input: 0, again: false }

  static make(inputs: ReadonlyArray<CoreInput>, outputCount: number, options?: Options): Core | OptionFault {
    const resolved = resolve(options, inputs.length, outputCount)
    if (isFault(resolved)) return resolved
    return new Core(inputs, outputCount, resolved)
  }

  private constructor(inputs: ReadonlyArray<CoreInput>, outputCount: number, opts: Resolved) {
    this.opts = opts
    this.inputs = inputs.map(
      (inp, i) => new InputState(i, inp.tid, opts.workload[i]!, opts.priority[i]!, opts.binding[i]!)
    )
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
          : new SerialMode(this)
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
    if (n === 0) return
    if (inp.batch === undefined || (inp.pos >= inp.len && inp.more.length === 0)) {
      inp.base += inp.len
      inp.batch = batch
      inp.len = n
      inp.pos = 0
    } else {
      inp.more.push(batch)
    }
  }

  /** Index of `inp`'s next undelivered record in `inp.batch`, or PEEK_NEED / PEEK_EOF. */
  private peek(inp: InputState): number {
    while (inp.pos >= inp.len) {
      if (inp.more.length > 0) {
        inp.base += inp.len
        const b = inp.more.shift()!
        inp.batch = b
        inp.len = b.header[0]!
        inp.pos = 0
        continue
      }
      return inp.eofKnown ? PEEK_EOF : PEEK_NEED
    }
    return inp.pos
  }

  /** The reader reads `batch[i]` for the first time (DynamoRIO's reader_t state). */
  readerSee(inp: InputState, batch: RecordBatch, i: number): void {
    inp.readCount++
    if (batch.type[i] !== TraceType.MARKER) return
    const m = batch.size[i]!
    if (m === MarkerType.TIMESTAMP) {
      inp.lastTsHi = batch.addrHi[i]!
      inp.lastTsLo = batch.addrLo[i]!
    } else if (m === MarkerType.VERSION) {
      inp.version = batch.addrLo[i]!
    } else if (m === MarkerType.FILETYPE) {
      inp.filetype = batch.addrLo[i]!
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
    if (o.readInputsInInit) {
      while (this.initIndex < this.inputs.length) {
        const inp = this.inputs[this.initIndex]!
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
      }
      // Whole-system traces are already per core (DynamoRIO's check_scheduler_mode_valid on the first input).
      const first = this.inputs[0]
      if (first !== undefined && (first.filetype & 0x40000) !== 0 && (o.mapping !== "consistent" || o.timestampDeps)) {
        return {
          _tag: "Error",
          reason: "InvalidOption",
          option: "mapping",
          detail: "Only MAP_TO_CONSISTENT_OUTPUT and DEPENDENCY_IGNORE are supported for whole-system traces"
        }
      }
    }
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

  /** DynamoRIO's set_cur_input. */
  setCurInput(output: number, input: number): void {
    const out = this.outputs[output]!
    const prev = out.curInput
    if (prev >= 0 && prev !== input) {
      const p = this.inputs[prev]!
      p.curOutput = INVALID
      p.lastRunTime = out.curTime
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
    this.mode.swapInInput(output, input)
  }

  /** DynamoRIO's on_context_switch: switch statistics (and, later, kernel switch sequences). */
  private onContextSwitch(output: number, prev: number, next: number): void {
    const out = this.outputs[output]!
    if (prev === next) {
      out.stats[Stat.SWITCH_NOP]!++
    } else if (prev !== INVALID && next !== INVALID) {
      out.stats[Stat.SWITCH_INPUT_TO_INPUT]!++
    } else if (next === INVALID) {
      out.stats[Stat.SWITCH_INPUT_TO_IDLE]!++
    } else {
      out.stats[Stat.SWITCH_IDLE_TO_INPUT]!++
      out.consecutiveIdles = 0
    }
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
    out.lastRange = 0
    const curTime = now > 0 ? now : this.defaultTime(out)
    if (out.initialCurTime === 0) out.initialCurTime = curTime
    out.curTime = curTime
    if (!out.active) {
      out.idleCount++
      return idleStep
    }
    if (out.waiting) {
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
      i = this.peek(inp)
      if (i === PEEK_NEED) return this.needData(inp.index)
      if (i === PEEK_EOF) {
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
      if (inp.base + i >= inp.readCount) this.readerSee(inp, batch, i)
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
        if (out.curInput !== prevInput) {
          // Undo the quantum overshoot of the record we did not deliver, unless the quantum was reset.
          if (!decision.preempt && this.opts.mapping === "dynamic") {
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
    this.deliver(out, inp, batch, i)
    const stop = maxRecords >= inp.len - i ? inp.len : i + maxRecords
    const end = i + 1 < stop ? this.mode.extendRun(output, inp, batch, i + 1, stop, now) : i + 1
    step.end = end
    out.lastRange = end - i
    out.lastRangeInput = inp.index
    out.lastRangeInstrs = out.instrs - instrs0
    out.lastRangeNonSynthetic = out.records - records0
    return step as Step
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
    let end = from
    for (; end < stop; end++) {
      const ty = types[end]!
      if (inp.base + end >= inp.readCount) this.readerSee(inp, batch, end)
      if (ty === TraceType.MARKER) {
        const m = sizes[end]!
        if (m === MarkerType.CORE_IDLE || m === MarkerType.CORE_WAIT || (stopAtTimestamp && m === MarkerType.TIMESTAMP))
          break
      }
      if (canon) {
        const n = canonicalize(batch, end)
        if (n !== 0) out.stats[Stat.CANONICALIZED_ADDRESSES]! += n
      }
      if ((flags[end]! & FLAG_SYNTHETIC) === 0) out.records++
      if ((recordClass[ty]! & CLASS_INSTR) !== 0) {
        out.instrs++
        inp.instrsDelivered++
        this.globalInstrs++
      }
    }
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
    for (let k = inp.pos - count; k < inp.pos; k++) {
      if ((batch.flags[k]! & FLAG_SYNTHETIC) === 0) out.records--
      if ((recordClass[batch.type[k]!]! & CLASS_INSTR) !== 0) {
        out.instrs--
        inp.instrsDelivered--
        this.globalInstrs--
        if (!this.opts.quantumByTime && inp.instrsInQuantum > 0) inp.instrsInQuantum--
      }
      inp.recordsDelivered--
    }
    inp.pos -= count
    step.end -= count
    out.lastRange -= count
    return true
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

  /** DynamoRIO's get_output_cpuid (dynamic and fixed modes: the output ordinal). */
  outputCpuid(output: number): number {
    return output
  }
}
