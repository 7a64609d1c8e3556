/**
 * Dynamic mapping (DynamoRIO's MAP_TO_ANY_OUTPUT, `scheduler_dynamic.cpp`):
 * any input may run on any (allowed) output.
 *
 * - Each output has a run queue (a {@link Heap} ordered by priority, then,
 *   with timestamp deps, by the input's last timestamp relative to its
 *   workload's first, then FIFO); one more queue holds inputs unscheduled
 *   indefinitely.
 * - An input runs until its quantum ends (instructions, or simulated time),
 *   it blocks in a syscall whose as-traced latency reaches a threshold (it is
 *   then blocked for the scaled latency), it is unscheduled or it directly
 *   switches to another thread, or it ends. Switches happen only at
 *   instruction records.
 * - An output with an empty queue keeps its input; with nothing to run it
 *   idles, trying to steal from the others every `stealAttemptPeriod` idles.
 *   Queues are rebalanced every `rebalancePeriodUs` and when an output's
 *   activity changes.
 * - `setOutputActive(false)` gives the output's input back to a queue (the
 *   input resumes at its next undelivered record) and moves the output's
 *   whole queue to active outputs. Unlike DynamoRIO (issue #7172), inputs
 *   that cannot be placed (no active output, or bindings only to inactive
 *   outputs) are never dropped: they wait in `stranded` and every later
 *   rebalance (including re-activation) places them first. With
 *   `handOffInputs` (inactive outputs are gone for good) they end instead,
 *   listed in `Core.unrunnable`, so the live outputs do not idle forever.
 * - Two more deliberate differences, both where DynamoRIO can hang: an input
 *   is never queued on an inactive output or one its binding excludes (a
 *   wake-up or swap-out goes to the allowed active output with the shortest
 *   queue), and a direct switch never takes a target past its binding (the
 *   target counts as unavailable, as when it runs elsewhere).
 *
 * All of it is single-threaded: DynamoRIO's locks and its "someone else is
 * rebalancing" early return have no equivalent here.
 */
import { MarkerType, TraceType } from "../../trace/Record.ts"
import { FLAG_SYNTHETIC, type RecordBatch } from "../../trace/RecordBatch.ts"
import type { Core } from "./core.ts"
import { Heap } from "./heap.ts"
import { MinStdRand } from "./random.ts"
import { canonicalize, rewriteMarker, scanned, skipPlain, tagWorkload } from "./records.ts"
import {
  CLASS_INSTR,
  CLASS_MARKER,
  INVALID,
  type InputState,
  inKernelCode,
  type Mode,
  type Pick,
  recordClass,
  Stat,
  Status,
  type SwitchDecision,
  TWO32
} from "./state.ts"

const TWO64 = 2 ** 64

interface RunQueue {
  readonly heap: Heap
  fifoCounter: number
  numBlocked: number
  readonly rand: MinStdRand
  /**
   * A settled wait: while `heap.version === settledVersion`, the queue holds
   * only inputs blocked until `settledUntil` or later, laid out as a pop of
   * all of them re-adds them. A pop before then would take every input out
   * and put it back the same way (FIFO counters shifted alike, which no
   * comparison can see), so it can just idle.
   */
  settledVersion: number
  settledUntil: number
}

/** @internal */
export class DynamicMode implements Mode {
  readonly rewritesMarkers = true
  private readonly queues: Array<RunQueue>
  private readonly unscheduled: RunQueue
  private readonly rand = new MinStdRand()
  private lastRebalanceTime = 0
  private readonly directTargets: Heap
  /** Inputs no active output could take (never dropped; placed by the next rebalance). */
  readonly stranded: Array<number> = []
  private readonly workloadLiveOutputs: Int32Array
  /** set_output_active(false) is queueing the output's own input on its (now inactive) queue. */
  private deactivating = false
  // pop_from_ready_queue results.
  private popStatus: number = Status.OK
  private popInput = INVALID

  private readonly core: Core

  constructor(core: Core) {
    this.core = core
    const n = core.inputs.length
    const worse = this.worse
    this.queues = core.outputs.map((_, o) => ({
      heap: new Heap(n, worse),
      fifoCounter: 0,
      numBlocked: 0,
      settledVersion: -1,
      settledUntil: 0,
      rand: new MinStdRand(core.randomSeed + o)
    }))
    this.unscheduled = {
      heap: new Heap(n, worse),
      fifoCounter: 0,
      numBlocked: 0,
      rand: new MinStdRand(0),
      settledVersion: -1,
      settledUntil: 0
    }
    this.directTargets = new Heap(n, (a, b) => a < b)
    this.workloadLiveOutputs = new Int32Array(core.opts.workloadCount)
  }

  /** InputTimestampComparator: true if input `a` is a worse pick than `b`. */
  private readonly worse = (a: number, b: number): boolean => {
    const A = this.core.inputs[a]!
    const B = this.core.inputs[b]!
    if (A.priority !== B.priority) return A.priority < B.priority
    if (A.orderByTimestamp) {
      const ra = relTimestamp(A)
      const rb = relTimestamp(B)
      if (ra !== rb) return ra > rb
    }
    return A.queueCounter > B.queueCounter
  }

  /** Inputs in `output`'s run queue, best first (for tests and diagnostics). */
  queueContents(output: number): Array<number> {
    const q = this.queues[output]!.heap
    const all = q.toArray()
    return all.sort((a, b) => (this.worse(a, b) ? 1 : this.worse(b, a) ? -1 : 0))
  }

  unscheduledCount(): number {
    return this.unscheduled.heap.size
  }

  // -------------------------------------------------------------------------
  // Initial schedule.

  setInitialSchedule(): undefined {
    const core = this.core
    const inputs = core.inputs
    const o = core.opts
    if (o.timestampDeps) {
      for (let w = 0; w < o.workloadCount; w++) {
        let min = -1
        for (const inp of inputs) {
          if (inp.workload !== w) continue
          if (min < 0 || tsBefore(inp.nextTsHi, inp.nextTsLo, inputs[min]!.nextTsHi, inputs[min]!.nextTsLo))
            min = inp.index
        }
        if (min < 0) continue
        for (const inp of inputs) {
          if (inp.workload !== w) continue
          inp.baseTsHi = inputs[min]!.nextTsHi
          inp.baseTsLo = inputs[min]!.nextTsLo
          inp.orderByTimestamp = true
        }
      }
    }
    const all = new Heap(inputs.length, this.worse)
    for (const inp of inputs) {
      inp.queueCounter = inp.index
      all.push(inp.index)
    }
    const random = o.randomInitialLayout >= 0
    if (random) this.rand.seed(o.randomInitialLayout)
    const m = core.outputs.length
    let output = 0
    while (!all.isEmpty()) {
      const idx = all.pop()
      const inp = inputs[idx]!
      let target = output
      if (random) {
        target = inp.binding.length > 0 ? inp.binding[this.rand.next() % inp.binding.length]! : this.rand.next() % m
      } else if (inp.binding.length > 0) {
        target = inp.binding[0]!
      } else {
        output = (output + 1) % m
      }
      this.addToReadyQueue(target, inp)
    }
    // Bindings are valid, so only outputs deactivated before the start can
    // leave inputs unplaced: those wait (stranded) for their outputs.
    this.rebalanceQueues(0, [])
    for (let i = 0; i < m; i++) {
      if (!core.outputs[i]!.active) continue
      this.popFromReadyQueue(i, i, false)
      if (this.popInput < 0) {
        // Try to steal: the initial layout and rebalance ignore output limits.
        const st = this.eofOrIdleForMode(i, INVALID)
        if (st !== Status.STOLE) core.setCurInput(i, INVALID)
      } else {
        core.setCurInput(i, this.popInput)
      }
    }
    return undefined
  }

  // -------------------------------------------------------------------------
  // Swaps.

  swapOutInput(output: number, input: number): void {
    if (input === INVALID) return
    const inp = this.core.inputs[input]!
    if (!inp.atEof) this.addToReadyQueue(output, inp)
    if ((this.core.opts.workloadOutputLimits[inp.workload] ?? 0) > 0) this.workloadLiveOutputs[inp.workload]!--
  }

  swapInInput(_output: number, input: number): void {
    if (input === INVALID) return
    const inp = this.core.inputs[input]!
    if ((this.core.opts.workloadOutputLimits[inp.workload] ?? 0) > 0) this.workloadLiveOutputs[inp.workload]!++
  }

  // -------------------------------------------------------------------------
  // Activity.

  setOutputActive(output: number, active: boolean): number {
    const core = this.core
    const out = core.outputs[output]!
    if (out.active === active) return Status.OK
    out.active = active
    // Every input has ended: nothing to give back or move. Workers deactivate their output however
    // they end, where DynamoRIO's deactivate only failed ones: a finished worker's output must not
    // count a rebalance.
    if (!active && core.liveInputCount === 0) return Status.OK
    const ordinals: Array<number> = []
    if (!active) {
      // Give the current input back (it resumes at its next undelivered record);
      // it goes through this output's queue to the rebalance, as in DynamoRIO.
      this.deactivating = true
      if (out.curInput !== INVALID) core.setCurInput(output, INVALID)
      this.deactivating = false
      const q = this.queues[output]!
      while (!q.heap.isEmpty()) ordinals.push(q.heap.pop())
      q.numBlocked = 0
    } else {
      out.waiting = true
    }
    return this.rebalanceQueues(output, ordinals)
  }

  // -------------------------------------------------------------------------
  // Queues.

  private addToUnscheduledQueue(inp: InputState): void {
    inp.queueCounter = ++this.unscheduled.fifoCounter
    this.unscheduled.heap.push(inp.index)
    inp.prevOutput = inp.containingOutput
    inp.containingOutput = INVALID
  }

  addToReadyQueue(output: number, inp: InputState): void {
    if (inp.unscheduled && inp.blockedTime === 0) {
      // So start-unscheduled inputs resume on their initial output, not all on output 0.
      inp.containingOutput = output
      this.addToUnscheduledQueue(inp)
      return
    }
    if (!this.deactivating && (!this.core.outputs[output]!.active || !inp.bindsTo(output))) {
      // DynamoRIO can queue an input where it can never run (a wake-up onto an
      // inactive output, a direct switch past a binding): it then waits for a
      // steal that may never come. Queue it where it can run instead.
      const alt = this.placeFor(inp)
      if (alt < 0) {
        this.strand([inp.index])
        return
      }
      output = alt
    }
    const q = this.queues[output]!
    if (inp.blockedTime > 0) q.numBlocked++
    inp.queueCounter = ++q.fifoCounter
    q.heap.push(inp.index)
    inp.containingOutput = output
  }

  /**
   * DynamoRIO's pop_from_ready_queue_hold_locks. Result in popStatus /
   * popInput. `forOutput` INVALID ignores bindings; `fromOutput !==
   * forOutput` is a migration and must pass the migration threshold.
   */
  private popFromReadyQueue(fromOutput: number, forOutput: number, fromBack: boolean): void {
    const core = this.core
    const o = core.opts
    const q = this.queues[fromOutput]!
    const skipped: Array<number> = []
    const blocked: Array<number> = []
    let res = INVALID
    let status: number = Status.OK
    const curTime = core.outputs[fromOutput]!.curTime
    const whole = !fromBack && !o.randomizeNextInput && fromOutput === forOutput
    if (whole && q.heap.version === q.settledVersion && curTime !== 0 && curTime < q.settledUntil) {
      core.outputs[forOutput]!.idleCount++
      this.popStatus = Status.IDLE
      this.popInput = INVALID
      return
    }
    while (!q.heap.isEmpty()) {
      if (fromBack) {
        res = q.heap.back()
        q.heap.erase(res)
      } else if (o.randomizeNextInput) {
        res = q.heap.randomEntry(q.rand)
        q.heap.erase(res)
      } else {
        res = q.heap.pop()
      }
      const inp = core.inputs[res]!
      if (forOutput === INVALID || inp.bindsTo(forOutput)) {
        if (inp.blockedTime > 0) {
          q.numBlocked--
          // A start-unscheduled input had no valid time at init.
          if (!o.honorInfiniteTimeouts && inp.blockedStartTime === 0 && curTime > 0) inp.blockedStartTime = curTime
        }
        if (
          inp.blockedTime > 0 &&
          (curTime === 0 || curTime < inp.blockedStartTime || curTime - inp.blockedStartTime < inp.blockedTime)
        ) {
          blocked.push(res)
        } else {
          inp.blockedTime = 0
          inp.unscheduled = false
          let found = false
          const limit = o.workloadOutputLimits[inp.workload] ?? 0
          if (limit > 0 && this.workloadLiveOutputs[inp.workload]! >= limit) {
            core.outputs[fromOutput]!.stats[Stat.HIT_OUTPUT_LIMIT]!++
          } else if (fromOutput === forOutput) {
            found = true
          } else {
            // A never-run input counts as having run at the start of the simulation.
            if (inp.lastRunTime === 0) inp.lastRunTime = core.outputs[fromOutput]!.initialCurTime
            if (
              o.migrationThresholdUs === 0 ||
              curTime === 0 ||
              (curTime > inp.lastRunTime &&
                curTime - inp.lastRunTime >= Math.trunc(o.migrationThresholdUs * o.timeUnitsPerUs))
            ) {
              found = true
              // The layout at init is not a migration.
              if (curTime > 0) core.outputs[fromOutput]!.stats[Stat.MIGRATIONS]!++
            }
          }
          if (found) break
          skipped.push(res)
        }
      } else {
        skipped.push(res)
      }
      res = INVALID
    }
    if (res === INVALID && blocked.length > 0) {
      // Not EOF: inputs are blocked; idle and retry.
      if (forOutput !== INVALID) core.outputs[forOutput]!.idleCount++
      status = Status.IDLE
    }
    // DynamoRIO re-adds from std::sets of input pointers: input order.
    skipped.sort(ascending)
    for (const s of skipped) q.heap.push(s)
    blocked.sort(ascending)
    for (const b of blocked) this.addToReadyQueue(fromOutput, core.inputs[b]!)
    if (whole && res === INVALID && skipped.length === 0 && curTime !== 0) this.settle(q, blocked.length)
    if (res !== INVALID) {
      const inp = core.inputs[res]!
      inp.unscheduled = false
      inp.prevOutput = inp.containingOutput
      inp.containingOutput = forOutput
    }
    this.popStatus = status
    this.popInput = res
  }

  /** Marks `q` settled if it holds exactly the `count` blocked inputs just re-added (see RunQueue). */
  private settle(q: RunQueue, count: number): void {
    if (count === 0 || q.heap.size !== count) return
    let until = Number.POSITIVE_INFINITY
    for (const e of q.heap.toArray()) {
      const inp = this.core.inputs[e]!
      until = Math.min(until, inp.blockedStartTime + inp.blockedTime)
    }
    q.settledVersion = q.heap.version
    q.settledUntil = until
  }

  /** DynamoRIO's rebalance_queues, without dropping anything. */
  rebalanceQueues(triggeringOutput: number, toAdd: Array<number>): number {
    const core = this.core
    const outputs = core.outputs
    this.lastRebalanceTime = outputs[triggeringOutput]!.curTime
    outputs[triggeringOutput]!.stats[Stat.RUNQUEUE_REBALANCES]!++
    if (this.stranded.length > 0) {
      toAdd.unshift(...this.stranded)
      this.stranded.length = 0
    }
    // If every live input is unscheduled (their wakers are missing) make them all runnable.
    if (core.liveInputCount === this.unscheduled.heap.size) {
      while (!this.unscheduled.heap.isEmpty()) toAdd.push(this.unscheduled.heap.pop())
      for (const i of toAdd) core.inputs[i]!.unscheduled = false
    }
    let liveOutputs = 0
    for (const out of outputs) if (out.active) liveOutputs++
    if (liveOutputs === 0) {
      this.strand(toAdd)
      return Status.OK
    }
    const avgCeiling = Math.ceil(core.liveInputCount / liveOutputs)
    let status: number = Status.OK
    let iteration = 0
    do {
      for (let i = 0; i < outputs.length; i++) {
        if (!outputs[i]!.active) continue
        const q = this.queues[i]!
        // Only trim on the first pass; later passes may exceed the average for bindings.
        while (iteration === 0 && q.heap.size > avgCeiling) {
          // From the back, so the next-to-run inputs are not sent to the back of another queue.
          this.popFromReadyQueue(i, INVALID, true)
          if (this.popStatus === Status.OK && this.popInput !== INVALID) toAdd.push(this.popInput)
          else break
        }
        const incompatible: Array<number> = []
        while ((q.heap.size < avgCeiling || iteration > 1) && toAdd.length > 0) {
          const ordinal = toAdd.pop()!
          const inp = core.inputs[ordinal]!
          if (inp.bindsTo(i)) this.addToReadyQueue(i, inp)
          else incompatible.push(ordinal)
        }
        toAdd.push(...incompatible)
      }
      iteration++
      if (iteration >= 3 && toAdd.length > 0) {
        // Bindings only to inactive outputs: keep them for a later rebalance.
        this.strand(toAdd)
        status = Status.IMPOSSIBLE_BINDING
        break
      }
    } while (toAdd.length > 0)
    return status
  }

  /** An active output `inp` may run on, with the shortest queue (lowest ordinal on ties); -1 if none. */
  private placeFor(inp: InputState): number {
    let best = -1
    for (let o = 0; o < this.queues.length; o++) {
      if (!this.core.outputs[o]!.active || !inp.bindsTo(o)) continue
      if (best < 0 || this.queues[o]!.heap.size < this.queues[best]!.heap.size) best = o
    }
    return best
  }

  private strand(inputs: ReadonlyArray<number>): void {
    for (const i of inputs) {
      const inp = this.core.inputs[i]!
      if (this.core.opts.handOffInputs && this.core.outputs.some((o) => o.active)) {
        // Inactive outputs never come back here: while others still run, the input can never run, so it
        // ends (and is named). Once every output is inactive the run itself is ending: nothing to name.
        inp.containingOutput = INVALID
        if (!inp.atEof) {
          this.core.markInputEof(inp)
          this.core.unrunnable.push(i)
        }
        continue
      }
      inp.prevOutput = inp.containingOutput
      inp.containingOutput = INVALID
      this.stranded.push(i)
    }
  }

  // -------------------------------------------------------------------------
  // Picking.

  pickNextInputForMode(output: number, blockedTime: number, prevIndex: number, res: Pick): void {
    const core = this.core
    const o = core.opts
    const inputs = core.inputs
    const out = core.outputs[output]!
    const curTime = out.curTime
    res.status = Status.OK
    res.index = INVALID
    if (this.lastRebalanceTime === 0) {
      this.lastRebalanceTime = curTime
    } else if (
      curTime > this.lastRebalanceTime &&
      curTime - this.lastRebalanceTime >= Math.trunc(o.rebalancePeriodUs * o.timeUnitsPerUs)
    ) {
      // Its only failure, inputs bound to inactive outputs only, leaves them stranded: not this pick's error.
      this.rebalanceQueues(output, [])
    }
    if (blockedTime > 0 && prevIndex !== INVALID) {
      const prev = inputs[prevIndex]!
      if (prev.blockedTime === 0) {
        prev.blockedTime = blockedTime
        prev.blockedStartTime = curTime
      }
    }
    let index = INVALID
    // Direct switches.
    let localTargets: Heap | undefined
    let localRand: MinStdRand | undefined
    if (o.directSwitchFallbacks && prevIndex !== INVALID && inputs[prevIndex]!.switchToInput !== INVALID) {
      localTargets = this.directTargets
      // DynamoRIO copies the target set, generator included: every copy starts from the same state.
      localRand = new MinStdRand(0)
    }
    let fallbackAttempts = 0
    const maxFallbackAttempts = localTargets === undefined ? 0 : localTargets.size * 2
    while (prevIndex !== INVALID && inputs[prevIndex]!.switchToInput !== INVALID) {
      const prev = inputs[prevIndex]!
      const target = inputs[prev.switchToInput]!
      prev.switchToInput = INVALID
      // Unlike DynamoRIO, a target bound elsewhere is not taken past its binding.
      const allowed = target.bindsTo(output)
      if (allowed && target.containingOutput !== INVALID) {
        const tq = this.queues[target.containingOutput]!
        if (tq.heap.has(target.index)) {
          tq.heap.erase(target.index)
          index = target.index
          // Erase any remaining wait time for the target.
          if (target.blockedTime > 0) {
            tq.numBlocked--
            target.blockedTime = 0
            target.unscheduled = false
          }
          if (target.containingOutput !== output) out.stats[Stat.MIGRATIONS]!++
          out.stats[Stat.DIRECT_SWITCH_SUCCESSES]!++
        } // Else it is running elsewhere.
      }
      if (allowed && index === INVALID && this.unscheduled.heap.has(target.index)) {
        target.unscheduled = false
        this.unscheduled.heap.erase(target.index)
        index = target.index
        if (target.prevOutput !== INVALID && target.prevOutput !== output) out.stats[Stat.MIGRATIONS]!++
        out.stats[Stat.DIRECT_SWITCH_SUCCESSES]!++
      }
      if (index === INVALID) {
        // The target runs elsewhere: no dependence after all; make sure it does not wait forever.
        if (fallbackAttempts === 0) target.skipNextUnscheduled = true
        if (o.directSwitchFallbacks && localTargets !== undefined && fallbackAttempts < maxFallbackAttempts) {
          do {
            prev.switchToInput = localTargets.randomEntry(localRand!)
            ++fallbackAttempts
          } while (prev.switchToInput === prevIndex && fallbackAttempts < maxFallbackAttempts)
          if (fallbackAttempts >= maxFallbackAttempts) prev.switchToInput = INVALID
        } else {
          break
        }
      } else {
        break
      }
    }
    if (index !== INVALID) {
      res.index = index
      return
    }
    if (this.queues[output]!.heap.isEmpty() && blockedTime === 0) {
      // Nothing else to run: keep the current input, or go idle / EOF.
      if (prevIndex === INVALID) {
        this.idleOrSteal(output, prevIndex, res)
        return
      }
      const prev = inputs[prevIndex]!
      if (prev.atEof || prev.unscheduled) {
        this.idleOrSteal(output, prevIndex, res)
        return
      }
      res.index = prevIndex
      return
    }
    // Give the input up first so it can compete in the queue (FIFO among equals).
    core.setCurInput(output, INVALID)
    this.popFromReadyQueue(output, output, false)
    if (this.popStatus !== Status.OK) {
      if (this.popStatus === Status.IDLE) {
        out.waiting = true
        core.recordIdle(output)
        if (prevIndex !== INVALID) out.stats[Stat.SWITCH_INPUT_TO_IDLE]!++
      }
      res.status = this.popStatus
      return
    }
    if (this.popInput === INVALID) {
      this.idleOrSteal(output, prevIndex, res)
      return
    }
    res.index = this.popInput
  }

  /**
   * Up to `max` idles of a waiting output at once, each exactly as a call
   * of `next` would make it; 0 when the next call could do anything but
   * idle the same way. Two stretches qualify: an empty queue (idles between
   * steal attempts) and a queue of blocked inputs only (each call pops them
   * all and re-adds them in input order with fresh FIFO counters, so `n`
   * calls leave the heap as one call does, counters shifted alike, which no
   * comparison sees). Both end before the next rebalance, steal attempt or
   * wake-up, which the ordinary path then makes.
   */
  bulkIdle(output: number, max: number): number {
    const core = this.core
    const out = core.outputs[output]!
    const t0 = core.defaultTime(out)
    const n = this.idleRun(output, max, 1, true)
    if (n === 0) return 0
    const q = this.queues[output]!
    // The first of these idles pops every blocked input and re-adds it.
    if (!q.heap.isEmpty() && q.heap.version !== q.settledVersion) this.readdAll(q)
    this.takeIdles(output, n)
    out.curTime = t0 + n - 1
    return n
  }

  /** One pick's pop and re-add of a queue of blocked inputs (input order, fresh FIFO counters); settles it. */
  private readdAll(q: RunQueue): void {
    const entries = q.heap.toArray().sort(ascending)
    q.heap.clear()
    for (const e of entries) {
      this.core.inputs[e]!.queueCounter = ++q.fifoCounter
      q.heap.push(e)
    }
    this.settle(q, entries.length)
  }

  /**
   * How many of a waiting output's next calls (up to `max`) are idles that
   * change nothing but its idle counts, when each call's time may be up to
   * `perCall` after the previous one's: an empty queue between steal
   * attempts, or a settled queue (see RunQueue) before its first wake-up,
   * and before the next rebalance. With `unsettled`, a queue of blocked
   * inputs only that is not settled yet counts too: the caller then does
   * the first idle's pop and re-add (`readdAll`).
   */
  idleRun(output: number, max: number, perCall: number, unsettled = false): number {
    const core = this.core
    const o = core.opts
    const out = core.outputs[output]!
    if (!out.active || !out.waiting || out.curInput !== INVALID || out.stash !== undefined) return 0
    if (o.recordSchedule || o.randomizeNextInput || out.initialCurTime === 0 || this.lastRebalanceTime === 0) return 0
    let limit = this.lastRebalanceTime + Math.max(1, Math.trunc(o.rebalancePeriodUs * o.timeUnitsPerUs))
    const q = this.queues[output]!
    let n = max
    if (q.heap.isEmpty()) {
      const live = core.liveInputCount
      if (live === 0 || live <= Math.trunc(core.inputs.length * o.exitIfFractionInputsLeft)) return 0
      const period = o.stealAttemptPeriod
      if (period > 0) n = Math.min(n, (period - (out.consecutiveIdles % period)) % period)
    } else if (q.heap.version === q.settledVersion) {
      limit = Math.min(limit, q.settledUntil)
    } else {
      if (!unsettled) return 0
      for (const e of q.heap.toArray()) {
        const inp = core.inputs[e]!
        if (inp.blockedTime <= 0 || !inp.bindsTo(output)) return 0
        if (inp.blockedStartTime === 0 && !o.honorInfiniteTimeouts) return 0
        limit = Math.min(limit, inp.blockedStartTime + inp.blockedTime)
      }
    }
    // The calls' times stay below `limit`: the last one's is at most now + n·perCall − 1.
    n = Math.min(n, Math.floor((limit - core.defaultTime(out)) / perCall))
    return Math.max(n, 0)
  }

  takeIdles(output: number, n: number): void {
    const out = this.core.outputs[output]!
    out.idleCount += n
    if (this.queues[output]!.heap.isEmpty() && this.core.opts.stealAttemptPeriod > 0) out.consecutiveIdles += n
  }

  private idleOrSteal(output: number, prevIndex: number, res: Pick): void {
    const st = this.core.eofOrIdle(output, prevIndex)
    if (st !== Status.STOLE) {
      res.status = st
      return
    }
    res.status = Status.OK
    res.index = this.core.outputs[output]!.curInput
  }

  eofOrIdleForMode(output: number, _prevInput: number): number {
    const core = this.core
    const live = core.liveInputCount
    if (live === 0) return Status.EOF
    if (live <= Math.trunc(core.inputs.length * core.opts.exitIfFractionInputsLeft)) return Status.EOF
    const out = core.outputs[output]!
    const period = core.opts.stealAttemptPeriod
    if (period > 0 && out.consecutiveIdles++ % period === 0) {
      const m = core.outputs.length
      for (let k = 1; k < m; k++) {
        const target = (output + k) % m
        this.popFromReadyQueue(target, output, false)
        if (this.popStatus === Status.OK && this.popInput !== INVALID) {
          core.setCurInput(output, this.popInput)
          out.stats[Stat.RUNQUEUE_STEALS]!++
          return Status.STOLE
        }
      }
    }
    return Status.IDLE
  }

  markInputEofForMode(inp: InputState): void {
    if (this.core.opts.directSwitchFallbacks) this.directTargets.erase(inp.index)
  }

  // -------------------------------------------------------------------------
  // Switch checks.

  /** DynamoRIO's syscall_incurs_switch; the blocked time goes to `decision.blockedTime`. */
  private syscallIncursSwitch(inp: InputState, decision: SwitchDecision | undefined): boolean {
    const o = this.core.opts
    if (inp.version < 6) {
      // Legacy traces have no timestamps around syscalls: switch on every maybe-blocking one.
      if (decision !== undefined) decision.blockedTime = o.blockingSwitchThreshold
      return inp.processingMaybeBlockingSyscall
    }
    let latency = (inp.lastTsHi - inp.preSyscallTsHi) * TWO32 + (inp.lastTsLo - inp.preSyscallTsLo)
    if (latency < 0) latency += TWO64
    const threshold = inp.processingMaybeBlockingSyscall ? o.blockingSwitchThreshold : o.syscallSwitchThreshold
    if (decision !== undefined) decision.blockedTime = this.core.scaleBlockedTime(latency)
    return latency >= threshold
  }

  /**
   * Whether the syscall just passed makes the input switch at this
   * instruction (the first half of checkForInputSwitch, without changes).
   */
  private syscallSwitches(inp: InputState): boolean {
    if (inp.switchToInput !== INVALID) return true
    if (inp.unscheduled) return !this.core.opts.ignoreLowLatencyUnsched || this.syscallIncursSwitch(inp, undefined)
    if (inp.blockedTime > 0) return true
    return this.syscallIncursSwitch(inp, undefined)
  }

  extendRun(output: number, inp: InputState, batch: RecordBatch, from: number, stop: number, now: number): number {
    const core = this.core
    const o = core.opts
    const out = core.outputs[output]!
    const types = batch.type
    const sizes = batch.size
    const flags = batch.flags
    const canon = o.canonicalizeAddresses
    const byTime = o.quantumByTime
    const quantum = o.quantumDurationInstrs
    const quantumUs = o.quantumDurationUs
    const unitsPerUs = o.timeUnitsPerUs
    const injection = core.syscallInjection
    const workload = inp.workload
    // Records at or past `seenRel` are new to the input's reader.
    const seenRel = inp.readCount - inp.base
    let end = from
    let brokeAt = -1
    let lastFast = false
    while (end < stop) {
      // A span of records with nothing to decide: no marker, and no
      // instruction at which the quantum or region of interest ends or a
      // pending syscall is judged (time quanta decide at every record).
      if (!byTime) {
        const budget =
          inp.processingSyscall || inp.processingMaybeBlockingSyscall || inKernelCode(out)
            ? 0
            : Math.min(inp.roiStop - inp.instrsDelivered, quantum - inp.instrsInQuantum)
        const spanStart = end
        let instrs = 0
        let synthetic = 0
        for (;;) {
          end = skipPlain(batch, end, stop, budget - instrs, canon)
          instrs += scanned.instrs
          synthetic += scanned.synthetic
          if (end >= stop) break
          const cls = recordClass[types[end]!]!
          if ((cls & CLASS_MARKER) !== 0 || (instrs >= budget && (cls & CLASS_INSTR) !== 0)) break
          // A plain record with a non-canonical address.
          const n = canonicalize(batch, end)
          if (n !== 0) out.stats[Stat.CANONICALIZED_ADDRESSES]! += n
          synthetic += flags[end]! & FLAG_SYNTHETIC
          instrs += cls & CLASS_INSTR
          end++
        }
        if (workload > 0) for (let k = spanStart; k < end; k++) tagWorkload(batch, k, workload)
        if (end > spanStart) {
          out.instrs += instrs
          core.globalInstrs += instrs
          inp.instrsDelivered += instrs
          inp.instrsInQuantum += instrs
          out.records += end - spanStart - synthetic / FLAG_SYNTHETIC
          lastFast = true
        }
        if (end >= stop) break
      }
      // One record with DynamoRIO's per-record checks (checkForInputSwitch
      // without changes): a record that would switch (or fail) ends the run.
      lastFast = false
      const cls = recordClass[types[end]!]!
      const t = now > 0 ? now : core.defaultTime(out)
      out.curTime = t
      // The kernel-code flags as updateSyscallState and the switch-code end would leave them at
      // this record; kept only if the record does not end the run.
      let inSys = out.inSyscallCode
      let sysEnd = out.hitSyscallCodeEnd
      if (sysEnd) inSys = sysEnd = false
      const switchEnd = out.hitSwitchCodeEnd
      const inSwitch = out.inSwitchCode && !switchEnd
      const quantumStart = switchEnd && byTime ? t : inp.prevTimeInQuantum
      if ((cls & CLASS_MARKER) !== 0) {
        const m = sizes[end]!
        if (m === MarkerType.SYSCALL_TRACE_START) inSys = true
        else if (m === MarkerType.SYSCALL_TRACE_END) sysEnd = true
        if (end >= seenRel) core.noteMarker(inp, batch, end)
      }
      if ((cls & CLASS_INSTR) !== 0) {
        // Past the region of interest: the candidate loop moves to the next one.
        if (inp.instrsDelivered >= inp.roiStop) {
          brokeAt = end
          break
        }
        if (byTime) {
          if (t < quantumStart || (!inSys && (inp.timeSpentInQuantum + t - quantumStart) / unitsPerUs >= quantumUs)) {
            brokeAt = end
            break
          }
        } else if (!inSwitch && !inSys && inp.instrsInQuantum + 1 > quantum) {
          brokeAt = end
          break
        }
        if ((inp.processingSyscall || inp.processingMaybeBlockingSyscall) && !inSys) {
          if (this.syscallSwitches(inp)) {
            brokeAt = end
            break
          }
          // Not switching: an ignored short unschedule request is dropped.
          if (inp.unscheduled) {
            inp.unscheduled = false
            inp.blockedTime = 0
            inp.blockedStartTime = 0
          }
          inp.processingSyscall = false
          inp.processingMaybeBlockingSyscall = false
          inp.preSyscallTsHi = 0
          inp.preSyscallTsLo = 0
          inp.syscallTimeoutArg = 0
        }
        if (switchEnd) out.inSwitchCode = out.hitSwitchCodeEnd = false
        if (byTime) {
          inp.timeSpentInQuantum += t - quantumStart
          inp.prevTimeInQuantum = t
        } else if (!inSwitch) {
          inp.instrsInQuantum++
        }
      } else {
        if (byTime && t < quantumStart) {
          brokeAt = end
          break
        }
        const m = (cls & CLASS_MARKER) !== 0 ? sizes[end]! : -1
        // A SYSCALL marker is delivered alone when its sequence may have to go in.
        if (
          m === MarkerType.CORE_IDLE ||
          m === MarkerType.CORE_WAIT ||
          ((m === MarkerType.SYSCALL || m === MarkerType.FILETYPE) && injection)
        ) {
          brokeAt = end
          break
        }
        if (switchEnd) out.inSwitchCode = out.hitSwitchCodeEnd = false
        if (m >= 0) this.processMarker(inp, output, m, batch, end)
        if (byTime) {
          inp.timeSpentInQuantum += t - quantumStart
          inp.prevTimeInQuantum = t
        }
      }
      out.inSyscallCode = inSys
      out.hitSyscallCodeEnd = sysEnd
      // Delivery (update_next_record and the stream's counters).
      if (canon) {
        const n = canonicalize(batch, end)
        if (n !== 0) out.stats[Stat.CANONICALIZED_ADDRESSES]! += n
      }
      if (workload > 0) tagWorkload(batch, end, workload)
      if ((cls & CLASS_MARKER) !== 0)
        rewriteMarker(out, batch, end, core.streamInstrOrdinal(out, inp), core.shardIndex(out, inp))
      if ((flags[end]! & FLAG_SYNTHETIC) === 0) out.records++
      if ((cls & CLASS_INSTR) !== 0) {
        out.instrs++
        inp.instrsDelivered++
        core.globalInstrs++
      }
      end++
    }
    // The time is that of the last record looked at (a fast span's last one
    // was counted already if it is an instruction).
    if (lastFast) out.curTime = now > 0 ? now : core.defaultTime(out) - (recordClass[types[end - 1]!]! & CLASS_INSTR)
    const readTo = inp.base + (brokeAt >= 0 ? brokeAt + 1 : end)
    if (readTo > inp.readCount) inp.readCount = readTo
    inp.recordsDelivered += end - from
    inp.pos = end
    return end
  }

  checkForInputSwitch(
    output: number,
    inp: InputState,
    batch: RecordBatch,
    i: number,
    curTime: number,
    decision: SwitchDecision
  ): void {
    const core = this.core
    const o = core.opts
    const out = core.outputs[output]!
    const isInstr = (recordClass[batch.type[i]!]! & CLASS_INSTR) !== 0
    // A system call traced in the input switches after its trace, not inside it.
    if ((inp.processingSyscall || inp.processingMaybeBlockingSyscall) && isInstr && !out.inSyscallCode) {
      // Past the syscall's markers: decide whether it blocks.
      if (inp.switchToInput !== INVALID) {
        decision.needNewInput = true
      } else if (inp.unscheduled) {
        let doSwitch = true
        if (o.ignoreLowLatencyUnsched && !this.syscallIncursSwitch(inp, undefined)) {
          // Ignore unschedule requests with short latencies (inflated by tracing).
          doSwitch = false
          inp.unscheduled = false
          inp.blockedTime = 0
          inp.blockedStartTime = 0
        }
        if (doSwitch) decision.needNewInput = true
      } else if (inp.blockedTime > 0) {
        decision.needNewInput = true
        decision.blockedTime = inp.blockedTime
      } else if (this.syscallIncursSwitch(inp, decision)) {
        decision.needNewInput = true
      }
      inp.processingSyscall = false
      inp.processingMaybeBlockingSyscall = false
      inp.preSyscallTsHi = 0
      inp.preSyscallTsLo = 0
      inp.syscallTimeoutArg = 0
    }
    if (out.hitSwitchCodeEnd) {
      out.inSwitchCode = false
      out.hitSwitchCodeEnd = false
      // Back on the clock after the context switch's code.
      if (o.quantumByTime) inp.prevTimeInQuantum = curTime
    }
    if (batch.type[i] === TraceType.MARKER) this.processMarker(inp, output, batch.size[i]!, batch, i)
    if (!o.quantumByTime) {
      if (isInstr && !out.inSwitchCode) {
        inp.instrsInQuantum++
        if (inp.instrsInQuantum > o.quantumDurationInstrs && !out.inSyscallCode) {
          // Preempt even if this input has the oldest timestamp: quanta beat timestamp order.
          decision.preempt = true
          decision.needNewInput = true
          inp.instrsInQuantum = 0
          core.outputs[output]!.stats[Stat.QUANTUM_PREEMPTS]!++
        }
      }
    } else {
      if (curTime === 0 || curTime < inp.prevTimeInQuantum) {
        decision.status = Status.INVALID
        return
      }
      inp.timeSpentInQuantum += curTime - inp.prevTimeInQuantum
      inp.prevTimeInQuantum = curTime
      if (inp.timeSpentInQuantum / o.timeUnitsPerUs >= o.quantumDurationUs && isInstr && !out.inSyscallCode) {
        decision.preempt = true
        decision.needNewInput = true
        inp.timeSpentInQuantum = 0
        core.outputs[output]!.stats[Stat.QUANTUM_PREEMPTS]!++
      }
    }
  }

  private unscheduleWithTimeout(inp: InputState, output: number): void {
    const o = this.core.opts
    inp.unscheduled = true
    if (!o.honorInfiniteTimeouts && inp.syscallTimeoutArg === 0) {
      // Scheduling is imperfect: never block forever, use the maximum instead.
      inp.syscallTimeoutArg = o.blockTimeMaxUs === 0 ? 1 : o.blockTimeMaxUs
    }
    if (inp.syscallTimeoutArg > 0) {
      inp.blockedTime = this.core.scaleBlockedTime(inp.syscallTimeoutArg)
      if (inp.blockedTime === 0) inp.blockedTime = 1 // 0 means forever when unscheduled.
      inp.blockedStartTime = this.core.outputs[output]!.curTime
    }
  }

  private processMarker(inp: InputState, output: number, marker: number, batch: RecordBatch, i: number): void {
    const core = this.core
    const o = core.opts
    switch (marker) {
      case MarkerType.SYSCALL:
        inp.processingSyscall = true
        inp.preSyscallTsHi = inp.lastTsHi
        inp.preSyscallTsLo = inp.lastTsLo
        break
      case MarkerType.MAYBE_BLOCKING_SYSCALL:
        // Usually right after a SYSCALL marker; synthetic traces may have only this one.
        inp.processingMaybeBlockingSyscall = true
        inp.preSyscallTsHi = inp.lastTsHi
        inp.preSyscallTsLo = inp.lastTsLo
        break
      case MarkerType.CONTEXT_SWITCH_START:
        core.outputs[output]!.inSwitchCode = true
        break
      case MarkerType.CONTEXT_SWITCH_END:
        core.outputs[output]!.hitSwitchCodeEnd = true
        break
      case MarkerType.DIRECT_THREAD_SWITCH: {
        if (!o.honorDirectSwitches) break
        core.outputs[output]!.stats[Stat.DIRECT_SWITCH_ATTEMPTS]!++
        const target = core.tid2input.get(inp.workload * 2 ** 48 + markerValue(batch, i))
        if (target !== undefined) {
          inp.switchToInput = target
          if (o.directSwitchFallbacks && !this.directTargets.has(target)) this.directTargets.push(target)
        }
        if (inp.skipNextUnscheduled) {
          // A schedule request came first: requests do not accumulate.
          inp.skipNextUnscheduled = false
          break
        }
        this.unscheduleWithTimeout(inp, output)
        break
      }
      case MarkerType.SYSCALL_ARG_TIMEOUT:
        inp.syscallTimeoutArg = markerValue(batch, i)
        break
      case MarkerType.SYSCALL_UNSCHEDULE:
        if (!o.honorDirectSwitches) break
        if (inp.skipNextUnscheduled) {
          inp.skipNextUnscheduled = false
          break
        }
        this.unscheduleWithTimeout(inp, output)
        break
      case MarkerType.SYSCALL_SCHEDULE: {
        if (!o.honorDirectSwitches) break
        const t = core.tid2input.get(inp.workload * 2 ** 48 + markerValue(batch, i))
        if (t === undefined) break
        const target = core.inputs[t]!
        if (target.atEof) break
        if (target.unscheduled) {
          target.unscheduled = false
          if (this.unscheduled.heap.has(t)) {
            this.unscheduled.heap.erase(t)
            const resume = target.prevOutput === INVALID ? output : target.prevOutput
            this.addToReadyQueue(resume, target)
          } else if (target.blockedTime > 0) {
            // The blocked time came from the timeout argument: waking cancels it.
            const tOut = target.containingOutput
            if (tOut !== INVALID && this.queues[tOut]!.heap.has(t)) {
              this.queues[tOut]!.numBlocked--
              this.queues[tOut]!.settledVersion = -1
            }
            target.blockedTime = 0
          }
        } else {
          target.skipNextUnscheduled = true
        }
        break
      }
      default:
        break
    }
  }
}

const ascending = (a: number, b: number): number => a - b

const markerValue = (batch: RecordBatch, i: number): number => batch.addrHi[i]! * TWO32 + batch.addrLo[i]!

/** (last timestamp − workload base) as an exact double, wrapping like uint64 when negative. */
const relTimestamp = (inp: InputState): number => {
  const r = (inp.lastTsHi - inp.baseTsHi) * TWO32 + (inp.lastTsLo - inp.baseTsLo)
  return r < 0 ? r + TWO64 : r
}

const tsBefore = (aHi: number, aLo: number, bHi: number, bLo: number): boolean => (aHi !== bHi ? aHi < bHi : aLo < bLo)
