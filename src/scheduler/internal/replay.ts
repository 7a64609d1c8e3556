/**
 * Replay mapping (DynamoRIO's `scheduler_replay.cpp`): each output follows a
 * list of segments, either read from a recorded schedule (`asPreviously`)
 * or built from the as-traced cpu schedule (`recorded` with `cpuSchedule`:
 * one output per traced cpu, sorted by cpu id).
 *
 * - A segment is an input and an instruction range `[start, stop)`
 *   (ordinals as DynamoRIO's reader counts them: a candidate read and given
 *   back at a switch counts). An output moves to its next segment at the
 *   first record whose count reaches `stop`.
 * - Picking a segment whose input has not reached `start` yet (it is still
 *   running elsewhere) returns WAIT; with timestamp deps, so does a segment
 *   whose timestamp is ahead of another output's next one.
 * - IDLE segments replay a number of idle records; SKIP segments skip the
 *   input to an instruction (a region of interest); SYNTHETIC_END ends the
 *   input with a synthetic thread exit.
 * - An output whose segments are done idles until every input ends (or,
 *   for a recorded schedule, every output is done).
 *
 * - With `handOffInputs` (not DynamoRIO's), an output made inactive drops
 *   its remaining segments: an input one of them would have advanced skips
 *   ahead to its next live segment instead of being waited for, and one that
 *   no live output runs again ends, so a failed core never stalls the others.
 *
 * Like DynamoRIO, nothing stops two outputs from holding one input when a
 * recording has overlapping segments (a deactivated output's segment and
 * the next one): they then read it in turn.
 */

import {
  type CpuSchedule,
  RECORD_VERSION_CURRENT,
  RecordType,
  recordedComponentName
} from "../../trace/internal/scheduleFile.ts"
import { MarkerType } from "../../trace/Record.ts"
import type { RecordBatch } from "../../trace/RecordBatch.ts"
import { FLAG_SYNTHETIC } from "../../trace/RecordBatch.ts"
import type { Core } from "./core.ts"
import type { Region } from "./options.ts"
import { canonicalize, rewriteMarker, tagWorkload } from "./records.ts"
import {
  CLASS_INSTR,
  CLASS_MARKER,
  INVALID,
  type InputState,
  type Mode,
  type Pick,
  recordClass,
  Stat,
  Status,
  type SwitchDecision
} from "./state.ts"

/** One replayed segment (a recorded `schedule_record_t` without VERSION/FOOTER). */
export interface Segment {
  readonly type: number
  readonly input: number
  /** Start instruction; the idle count of IDLE segments (converted from µs for legacy IDLE). */
  start: number
  readonly stop: number
  readonly timestamp: bigint
}

/** A fault at set-up, worded as DynamoRIO's. */
export interface ReplayFault {
  readonly option: string
  readonly detail: string
}

/** @internal */
export class ReplayMode implements Mode {
  readonly rewritesMarkers: boolean
  readonly asTraced: boolean
  readonly segs: Array<Array<Segment>>
  readonly recordIndex: Int32Array
  private readonly outAtEof: Array<boolean>
  private liveReplayOutputs: number
  private readonly core: Core
  /** Inputs with segments on an output made inactive (handOffInputs): their next segment elsewhere need not wait. */
  private readonly dropped = new Set<number>()
  private initialized = false

  constructor(core: Core) {
    this.core = core
    this.asTraced = core.opts.asTraced
    this.rewritesMarkers = !this.asTraced
    const m = core.outputs.length
    this.segs = Array.from({ length: m }, () => [])
    this.recordIndex = new Int32Array(m)
    this.outAtEof = new Array<boolean>(m).fill(false)
    this.liveReplayOutputs = m
  }

  // -------------------------------------------------------------------------
  // Set-up.

  setInitialSchedule(): ReplayFault | undefined {
    const fault = this.asTraced ? this.instantiateTraced() : this.readRecorded()
    this.initialized = true
    if (fault === undefined) {
      // Outputs made inactive before the segments were read drop theirs now.
      for (let o = 0; o < this.segs.length; o++) if (!this.core.outputs[o]!.active) this.drop(o)
    }
    return fault
  }

  private readRecorded(): ReplayFault | undefined {
    const core = this.core
    const file = core.opts.replaySchedule!
    const fault = (detail: string): ReplayFault => ({ option: "replaySchedule", detail })
    for (let o = 0; o < core.outputs.length; o++) {
      const name = recordedComponentName(o)
      const records = file.get(name)
      if (records === undefined)
        return fault(`Failed to open schedule_replay_istream component ${name}: no such component`)
      let sawFooter = false
      for (const r of records) {
        if (r.type === RecordType.VERSION) {
          if (r.input !== RECORD_VERSION_CURRENT)
            return fault(`component ${name}: schedule version ${r.input} is not supported (expected 0)`)
        } else if (r.type === RecordType.FOOTER) {
          sawFooter = true
          break
        } else {
          this.segs[o]!.push({ type: r.type, input: r.input, start: r.start, stop: r.stop, timestamp: r.timestamp })
        }
      }
      if (!sawFooter) return fault("Record file missing footer")
      for (const s of this.segs[o]!) {
        if (
          (s.type === RecordType.DEFAULT || s.type === RecordType.SKIP || s.type === RecordType.SYNTHETIC_END) &&
          (s.input < 0 || s.input >= core.inputs.length)
        )
          return fault(`component ${name}: input ${s.input} is not in 0..${core.inputs.length - 1}`)
        if (s.type > RecordType.IDLE_BY_COUNT) return fault(`component ${name}: unknown schedule record type ${s.type}`)
      }
    }
    if (file.has(recordedComponentName(core.outputs.length)))
      return fault("Not enough output streams for recorded file")
    for (let o = 0; o < core.outputs.length; o++) {
      const segs = this.segs[o]!
      const out = core.outputs[o]!
      if (segs.length === 0) {
        // DynamoRIO i#6630: extra outputs are at EOF from the start.
        core.setCurInput(o, INVALID)
        this.outAtEof[o] = true
        this.liveReplayOutputs--
      } else if (segs[0]!.type === RecordType.IDLE || segs[0]!.type === RecordType.IDLE_BY_COUNT) {
        core.setCurInput(o, INVALID)
        out.waiting = true
        if (segs[0]!.type === RecordType.IDLE) segs[0]!.start = Math.trunc(core.opts.timeUnitsPerUs * segs[0]!.start)
        // DynamoRIO starts the count on the first call, so a leading idle segment is passed over.
        out.idleStartCount = -1
      } else if (segs[0]!.type === RecordType.DEFAULT && (segs[0]!.start > 0 || this.laterThanOther(o, segs[0]!))) {
        // The output's first input ran elsewhere first (the output began idle
        // or inactive): wait for it, as an as-traced output does, rather than
        // share it from the start as DynamoRIO does.
        core.setCurInput(o, INVALID)
        out.waiting = true
        this.recordIndex[o] = -1
      } else {
        core.setCurInput(o, segs[0]!.input)
      }
    }
    return undefined
  }

  /**
   * Whether an output other than `output` has a segment of `input` still to
   * run (its current one included). With `before`, only one that would
   * advance the input towards that instruction counts: a later segment
   * starting before it, or the current one while that output holds the input.
   */
  private runByOther(input: number, output: number, before?: number): boolean {
    for (let o = 0; o < this.segs.length; o++) {
      if (o === output) continue
      const segs = this.segs[o]!
      const ri = this.recordIndex[o]!
      for (let k = Math.max(0, ri); k < segs.length; k++) {
        const seg = segs[k]!
        const t = seg.type
        if (seg.input !== input || (t !== RecordType.DEFAULT && t !== RecordType.SKIP)) continue
        if (before === undefined) return true
        if (k === ri ? this.core.outputs[o]!.curInput === input : seg.start < before) return true
      }
    }
    return false
  }

  /** With timestamp deps: another output's first segment runs the same input earlier. */
  private laterThanOther(output: number, seg: Segment): boolean {
    if (!this.core.opts.timestampDeps) return false
    return this.segs.some(
      (other, o) =>
        o !== output &&
        other[0] !== undefined &&
        other[0].type === RecordType.DEFAULT &&
        other[0].input === seg.input &&
        other[0].timestamp < seg.timestamp
    )
  }

  /** DynamoRIO's read_traced_schedule + read_and_instantiate_traced_schedule. */
  private instantiateTraced(): ReplayFault | undefined {
    const core = this.core
    const parsed = readTraced(core, core.opts.cpuSchedule!, true)
    if ("detail" in parsed) return parsed
    const { allSched, start2stop, diskCpuids } = parsed
    const fault = (detail: string): ReplayFault => ({ option: "cpuSchedule", detail })
    if (diskCpuids.length !== core.outputs.length)
      return fault(
        `replay_as_traced_istream cpu count != output count: the schedule has ${diskCpuids.length} cpus, there are ${core.outputs.length} outputs`
      )
    // Outputs in cpu id order.
    const order = diskCpuids.map((_, d) => d).sort((a, b) => diskCpuids[a]! - diskCpuids[b]!)
    const diskToOutput = new Array<number>(order.length)
    order.forEach((d, o) => {
      diskToOutput[d] = o
    })
    for (let d = 0; d < core.outputs.length; d++) {
      const o = diskToOutput[d]!
      const out = core.outputs[o]!
      out.asTracedCpuid = diskCpuids[d]!
      const sched = allSched[d] ?? []
      const segs = this.segs[o]!
      let startConsec = -1
      for (let k = 0; k < sched.length; k++) {
        const seg = sched[k]!
        if (!seg.valid) continue
        const starts = start2stop[seg.input]!
        const at = upperBound(starts, seg.start)
        seg.stop = at < starts.length ? starts[at]! : Number.POSITIVE_INFINITY
        const next = sched[k + 1]
        if (next !== undefined && seg.input === next.input && seg.stop > next.start) {
          return fault("Invalid decreasing start field in schedule file")
        } else if (next !== undefined && seg.input === next.input && seg.stop === next.start) {
          // Consecutive segments of one input on one cpu: one segment.
          if (startConsec === -1) startConsec = k
        } else {
          const from = startConsec >= 0 ? sched[startConsec]! : seg
          segs.push({
            type: RecordType.DEFAULT,
            input: from.input,
            start: from.start,
            stop: seg.stop,
            timestamp: from.timestamp
          })
          startConsec = -1
        }
      }
      if (segs.length === 0) return fault(`Empty as-traced schedule (cpu ${diskCpuids[d]})`)
      if (segs[0]!.start !== 0) {
        // The first thread on this cpu ran elsewhere first: wait for it.
        core.setCurInput(o, INVALID)
        out.waiting = true
        this.recordIndex[o] = -1
      } else {
        core.setCurInput(o, segs[0]!.input)
      }
    }
    return undefined
  }

  // -------------------------------------------------------------------------
  // Swaps and activity: nothing mode-specific.

  swapOutInput(): void {}

  swapInInput(): void {}

  /**
   * DynamoRIO refuses it (STATUS_INVALID). With `handOffInputs` the output's
   * remaining segments are dropped: its inputs cannot move (the schedule
   * fixes each segment's core), but no other output may wait for them. An
   * input a dropped segment would have advanced skips ahead when another
   * output's segment wants it further on; one that no live output runs again
   * ends here.
   */
  setOutputActive(output: number, active: boolean): number {
    const core = this.core
    if (!core.opts.handOffInputs) return Status.INVALID
    const out = core.outputs[output]!
    if (out.active === active) return Status.OK
    if (active) return Status.INVALID
    out.active = false
    // Before the segments are read, setInitialSchedule drops them.
    if (this.initialized) this.drop(output)
    return Status.OK
  }

  private drop(output: number): void {
    const core = this.core
    const out = core.outputs[output]!
    const segs = this.segs[output]!
    const from = Math.max(0, this.recordIndex[output]!)
    for (let k = from; k < segs.length; k++) {
      const t = segs[k]!.type
      if (t === RecordType.DEFAULT || t === RecordType.SKIP || t === RecordType.SYNTHETIC_END)
        this.dropped.add(segs[k]!.input)
    }
    if (out.curInput >= 0) {
      this.dropped.add(out.curInput)
      core.setCurInput(output, INVALID)
    }
    this.recordIndex[output] = segs.length
    if (!this.outAtEof[output]) {
      this.outAtEof[output] = true
      this.liveReplayOutputs--
    }
    this.endOrphans()
  }

  /** Ends the inputs of dropped segments that no live output will advance any more (their rest was the failed shard's). */
  private endOrphans(): void {
    for (const index of this.dropped) {
      const inp = this.core.inputs[index]!
      if (!inp.atEof && !this.runByOther(index, -1, Number.POSITIVE_INFINITY)) this.core.markInputEof(inp)
      if (inp.atEof) this.dropped.delete(index)
    }
  }

  markInputEofForMode(): void {}

  eofOrIdleForMode(): number {
    // An output done with its segments may have been the last to advance an input of a dropped segment.
    if (this.dropped.size > 0) this.endOrphans()
    // As-traced replays never count outputs down (DynamoRIO leaves that count unset for them).
    if (this.core.liveInputCount === 0 || (!this.asTraced && this.liveReplayOutputs === 0)) return Status.EOF
    return Status.IDLE
  }

  waitingIdle(output: number): number {
    const out = this.core.outputs[output]!
    if (out.idleStartCount >= 0) {
      const duration = this.segs[output]![this.recordIndex[output]!]!.start
      if (out.idleCount - out.idleStartCount < duration) {
        out.idleCount++
        return Status.IDLE
      }
      out.idleStartCount = -1
    }
    return Status.OK
  }

  bulkIdle(output: number, max: number): number {
    const out = this.core.outputs[output]!
    if (!out.active || !out.waiting || out.idleStartCount < 0) return 0
    const duration = this.segs[output]![this.recordIndex[output]!]!.start
    const k = Math.min(max, duration - (out.idleCount - out.idleStartCount))
    if (k <= 0) return 0
    out.idleCount += k
    return k
  }

  // -------------------------------------------------------------------------
  // Picking.

  pickNextInputForMode(output: number, _blockedTime: number, _prevIndex: number, res: Pick): void {
    const core = this.core
    const out = core.outputs[output]!
    const segs = this.segs[output]!
    const ri = this.recordIndex[output]!
    res.index = INVALID
    if (ri + 1 >= segs.length) {
      if (!this.outAtEof[output]) {
        this.outAtEof[output] = true
        this.liveReplayOutputs--
      }
      res.status = core.eofOrIdle(output, out.curInput)
      return
    }
    const seg = segs[ri + 1]!
    if (seg.type === RecordType.IDLE || seg.type === RecordType.IDLE_BY_COUNT) {
      out.waiting = true
      if (seg.type === RecordType.IDLE) seg.start = Math.trunc(core.opts.timeUnitsPerUs * seg.start)
      out.idleStartCount = out.idleCount
      this.recordIndex[output] = ri + 1
      out.idleCount++
      res.status = Status.IDLE
      return
    }
    const index = seg.input
    const inp = core.inputs[index]!
    const count = core.readerInstrOrdinal(inp)
    if (
      count < seg.start &&
      // An ROI starting at the beginning is not waited for.
      seg.start > 1 &&
      // An output may begin waiting; after a skip, and for the end record, no wait.
      (ri === -1 || (segs[ri]!.type !== RecordType.SKIP && seg.type !== RecordType.SYNTHETIC_END))
    ) {
      if (inp.atEof) {
        // The inputs are not the recorded ones: fail rather than hang.
        core.replayError = `input ${index} is wanted at instruction ${seg.start} on output ${output} but ended at ${count}: are these the recorded inputs?`
        res.status = Status.INVALID
        return
      }
      if (this.dropped.has(index) && !this.runByOther(index, output, seg.start)) {
        // Only an inactive output's dropped segments stood before this one: skip what they held
        // (and record the skip, so that a replay of this run's recording skips it too).
        if (core.opts.recordSchedule) inp.skipUnrecordedTo = seg.start
        core.startSkip(inp, seg.start, false, Status.INVALID)
        res.index = index
        this.recordIndex[output] = ri + 1
        res.status = Status.SKIPPED
        return
      }
      if (!this.runByOther(index, output)) {
        // No other output's schedule runs the input any more: waiting would never end.
        core.replayError = `input ${index} is wanted at instruction ${seg.start} on output ${output} but stands at ${count}, and no other output's schedule runs it: are these the recorded inputs?`
        res.status = Status.INVALID
        return
      }
      // Another output has not advanced the input far enough yet.
      core.setCurInput(output, INVALID)
      out.waiting = true
      res.status = Status.WAIT
      return
    }
    if (core.opts.timestampDeps) {
      // A segment waits for the other outputs' earlier segments: their next
      // ones (DynamoRIO), and, unlike DynamoRIO, an earlier one of the same
      // input still running there (a deactivated output's last segment
      // overlaps the next one by the records after its last instruction).
      for (let o = 0; o < core.outputs.length; o++) {
        if (o === output) continue
        const oi = this.recordIndex[o]!
        const other = this.segs[o]!
        const current = oi >= 0 && oi < other.length ? other[oi]! : undefined
        const holding =
          current !== undefined &&
          current.type === RecordType.DEFAULT &&
          current.input === index &&
          core.outputs[o]!.curInput === index &&
          current.timestamp < seg.timestamp
        if (holding || (oi + 1 < other.length && seg.timestamp > other[oi + 1]!.timestamp)) {
          core.setCurInput(output, INVALID)
          out.waiting = true
          res.status = Status.WAIT
          return
        }
      }
    }
    res.index = index
    if (seg.type === RecordType.SYNTHETIC_END) {
      // Past the final region of interest: the input ends with a synthetic thread exit.
      core.endWithExit(inp)
      this.recordIndex[output] = ri + 1
      const st = core.markInputEof(inp)
      res.status = st !== Status.OK ? st : Status.SKIPPED
      return
    }
    if (seg.type === RecordType.SKIP) {
      core.startSkip(inp, seg.stop, inp.curRegion > 0, Status.INVALID)
      // Window markers then carry the region ordinal.
      inp.curRegion++
      this.recordIndex[output] = ri + 2
      res.status = Status.SKIPPED
      return
    }
    this.recordIndex[output] = ri + 1
    res.status = Status.OK
  }

  // -------------------------------------------------------------------------
  // Switch checks.

  /**
   * True when a record that is instruction `count` of its input (counting
   * itself) ends the output's segment: the stop is exclusive. DynamoRIO
   * compares its reader's count instead and lets records read before (given
   * back at a switch) through whatever the stop, which delivers instructions
   * a segment does not cover when another output had read them first; only
   * its 0,0 starter segment (before an output's first skip) is exempt.
   */
  private segmentEnds(output: number, count: number): boolean {
    const segs = this.segs[output]!
    const ri = this.recordIndex[output]!
    if (ri < 0 || ri >= segs.length) return false
    const seg = segs[ri]!
    if (seg.type === RecordType.SKIP) return true
    return seg.type === RecordType.DEFAULT && count >= seg.stop
  }

  checkForInputSwitch(
    output: number,
    inp: InputState,
    batch: RecordBatch,
    i: number,
    _curTime: number,
    decision: SwitchDecision
  ): void {
    const count = inp.instrsDelivered + ((recordClass[batch.type[i]!]! & CLASS_INSTR) !== 0 ? 1 : 0)
    if (this.segmentEnds(output, count)) decision.needNewInput = true
  }

  extendRun(output: number, inp: InputState, batch: RecordBatch, from: number, stop: number, now: number): number {
    const core = this.core
    const out = core.outputs[output]!
    const types = batch.type
    const sizes = batch.size
    const flags = batch.flags
    const canon = core.opts.canonicalizeAddresses
    const rewrite = this.rewritesMarkers
    const workload = inp.workload
    const segs = this.segs[output]!
    const ri = this.recordIndex[output]!
    const seg = ri >= 0 && ri < segs.length ? segs[ri]! : undefined
    // Records at or past this many instructions end the segment (DEFAULT); SKIP ends it at once.
    const limit =
      seg === undefined || seg.type === RecordType.SYNTHETIC_END
        ? Number.POSITIVE_INFINITY
        : seg.type === RecordType.DEFAULT
          ? seg.stop
          : Number.NEGATIVE_INFINITY
    let end = from
    for (; end < stop; end++) {
      const ty = types[end]!
      const cls = recordClass[ty]!
      if (inp.base + end >= inp.readCount) core.readerSee(inp, batch, end)
      if (inp.instrsDelivered + ((cls & CLASS_INSTR) !== 0 ? 1 : 0) >= limit) break
      if ((cls & CLASS_MARKER) !== 0) {
        const m = sizes[end]!
        if (m === MarkerType.CORE_IDLE || m === MarkerType.CORE_WAIT) break
        if (core.syscallInjection && (m === MarkerType.SYSCALL || m === MarkerType.FILETYPE)) break
      }
      if (canon) {
        const n = canonicalize(batch, end)
        if (n !== 0) out.stats[Stat.CANONICALIZED_ADDRESSES]! += n
      }
      if (rewrite) {
        if (workload > 0) tagWorkload(batch, end, workload)
        if ((cls & CLASS_MARKER) !== 0) {
          out.curTime = now > 0 ? now : core.defaultTime(out)
          rewriteMarker(out, batch, end, core.streamInstrOrdinal(out, inp), core.shardIndex(out, inp))
        }
      }
      if ((flags[end]! & FLAG_SYNTHETIC) === 0) out.records++
      if ((cls & CLASS_INSTR) !== 0) {
        out.instrs++
        inp.instrsDelivered++
        core.globalInstrs++
      }
    }
    inp.recordsDelivered += end - from
    inp.pos = end
    return end
  }
}

// ---------------------------------------------------------------------------
// The as-traced schedule, shared with timesOfInterest.

interface OutputTracker {
  valid: boolean
  readonly input: number
  start: number
  stop: number
  readonly timestamp: bigint
}

interface InputTracker {
  readonly output: number
  readonly index: number
  start: number
  readonly timestamp: bigint
}

interface Traced {
  readonly allSched: Array<Array<OutputTracker>>
  /** Per input, the sorted distinct segment starts. */
  readonly start2stop: Array<Array<number>>
  readonly inputSched: Array<Array<InputTracker>>
  readonly diskCpuids: Array<number>
}

/** DynamoRIO's chunk size of traces hit by i#6107 (the only one its workaround handles). */
const I6107_CHUNK = 10_000_000

/** DynamoRIO's read_traced_schedule (with its i#6107 fix and zero-instruction pruning). */
const readTraced = (core: Core, file: CpuSchedule, checkOutputs: boolean): Traced | ReplayFault => {
  const fault = (detail: string): ReplayFault => ({ option: "cpuSchedule", detail })
  const tid2input = new Map<number, number>()
  for (const inp of core.inputs) tid2input.set(inp.tid, inp.index)
  const allSched: Array<Array<OutputTracker>> = []
  const starts: Array<Set<number>> = core.inputs.map(() => new Set<number>())
  const inputSched: Array<Array<InputTracker>> = core.inputs.map(() => [])
  const diskCpuids: Array<number> = []
  let curOutput = 0
  let curCpu: number | undefined
  for (const component of file) {
    for (const e of component.entries) {
      if (e.cpu !== curCpu) {
        // A component boundary: one component per cpu.
        if (curCpu !== undefined) {
          curOutput++
          if (checkOutputs && curOutput >= core.outputs.length)
            return fault(
              `replay_as_traced_istream cpu count != output count: the schedule has more than ${core.outputs.length} cpus`
            )
        }
        curCpu = e.cpu
        diskCpuids.push(e.cpu)
        allSched.push([])
      }
      // Threads not among the inputs (filtered out) have no segments here (DynamoRIO maps them to input 0).
      const input = tid2input.get(e.thread)
      if (input === undefined) continue
      const sched = allSched[curOutput]!
      const last = sched[sched.length - 1]
      // An entry per timestamp: one with no instructions since the previous one adds nothing.
      if (last !== undefined && last.input === input && last.start === e.startInstruction) continue
      sched.push({ valid: true, input, start: e.startInstruction, stop: 0, timestamp: e.timestamp })
      starts[input]!.add(e.startInstruction)
      inputSched[input]!.push({
        output: curOutput,
        index: sched.length - 1,
        start: e.startInstruction,
        timestamp: e.timestamp
      })
    }
  }
  const traced: Traced = { allSched, start2stop: [], inputSched, diskCpuids }
  const fix = fixModulo(core, traced, starts)
  if (fix !== undefined) return fault(fix)
  // Two entries of one input at one start (a cpu change with no instruction between): keep the later.
  for (const list of inputSched) {
    list.sort((a, b) => (a.timestamp === b.timestamp ? a.start - b.start : a.timestamp < b.timestamp ? -1 : 1))
    for (let k = 1; k < list.length; k++) {
      if (list[k]!.start === list[k - 1]!.start) allSched[list[k - 1]!.output]![list[k - 1]!.index]!.valid = false
    }
  }
  for (const s of starts) traced.start2stop.push([...s].sort((a, b) => a - b))
  return traced
}

/**
 * DynamoRIO's i#6107 workaround: traces older than version 5 (branch info)
 * may have start counts taken modulo the 10M chunk size; put them back.
 */
const fixModulo = (core: Core, traced: Traced, starts: Array<Set<number>>): string | undefined => {
  if (core.inputs.length === 0 || core.inputs[0]!.version >= 5) return undefined
  const adjust: Array<Map<bigint, number>> = core.inputs.map(() => new Map())
  let found = false
  for (let i = 0; i < traced.inputSched.length; i++) {
    const list = traced.inputSched[i]!
    list.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0))
    let prevStart = 0
    let add = 0
    for (const t of list) {
      if (t.start < prevStart) {
        if (prevStart * 2 > I6107_CHUNK) {
          add += I6107_CHUNK
          found = true
        } else {
          return "Invalid decreasing start field in schedule file"
        }
      }
      if (adjust[i]!.has(t.timestamp)) return "Same timestamps not supported for i#6107 workaround"
      prevStart = t.start
      adjust[i]!.set(t.timestamp, t.start + add)
      t.start += add
    }
  }
  if (!found) return undefined
  for (let i = 0; i < starts.length; i++) {
    starts[i]!.clear()
    for (const v of adjust[i]!.values()) starts[i]!.add(v)
  }
  for (const sched of traced.allSched) {
    for (const seg of sched) {
      if (!seg.valid) continue
      const v = adjust[seg.input]!.get(seg.timestamp)
      if (v === undefined) return "Failed to find timestamp for i#6107 workaround"
      seg.start = v
    }
  }
  return undefined
}

/** Index of the first element of sorted `a` greater than `v`. */
const upperBound = (a: ReadonlyArray<number>, v: number): number => {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (a[mid]! <= v) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * DynamoRIO's create_regions_from_times: per input, the instruction ranges
 * covering the time ranges, interpolated between the as-traced entries
 * (rounded down, so a system call spanning the start is included). An input
 * outside every range gets a region starting past its end (it is skipped
 * whole); one covering everything gets none.
 */
export const regionsFromTimes = (
  core: Core,
  times: ReadonlyArray<{ readonly start: bigint; readonly stop: bigint }>
): Array<Array<Region>> | ReplayFault => {
  const traced = readTraced(core, core.opts.cpuSchedule!, false)
  if ("detail" in traced) return traced
  const out: Array<Array<Region>> = []
  for (const inp of core.inputs) {
    const tree = new Map<bigint, number>()
    for (const t of traced.inputSched[inp.index]!) tree.set(t.timestamp, t.start)
    const keys = [...tree.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    const lookup = (time: bigint): number | undefined => {
      let k = 0
      while (k < keys.length && keys[k]! <= time) k++
      // Past the last known timestamp is too far (no timestamp in the footer).
      if (k === 0 || k === keys.length) return undefined
      const upperTime = keys[k]!
      const upperOrd = tree.get(upperTime)!
      const lowerTime = keys[k - 1]!
      const lowerOrd = tree.get(lowerTime)!
      const fraction = Number(time - lowerTime) / Number(upperTime - lowerTime)
      return Math.trunc(lowerOrd + fraction * (upperOrd - lowerOrd))
    }
    const ranges: Array<Region> = []
    let entire = false
    for (const t of times) {
      const start = lookup(t.start)
      const instrStart = start ?? 0
      let instrEnd = 0
      const end = t.stop === 0n ? 0 : lookup(t.stop)
      if (t.stop !== 0n && end !== undefined) instrEnd = end
      if (start !== undefined && end !== undefined && instrStart === instrEnd) {
        if (instrStart === 0 && instrEnd === 0) entire = true
        else instrEnd++
      }
      if (instrStart > 0 || instrEnd > 0) {
        const prev = ranges[ranges.length - 1]
        if (prev !== undefined && (prev.stop >= instrStart || prev.stop === 0))
          return {
            option: "timesOfInterest",
            detail:
              "times_of_interest are too close together: corresponding instruction ordinals are overlapping or adjacent"
          }
        // DynamoRIO's ranges here start at the interpolated ordinal itself (0 = from the start).
        ranges.push({ start: Math.max(instrStart, 1), stop: instrEnd })
      }
    }
    if (!entire && ranges.length === 0) ranges.push({ start: Number.POSITIVE_INFINITY, stop: 0 })
    out.push(entire ? [] : ranges)
  }
  return out
}
