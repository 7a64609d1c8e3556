/**
 * Consistent mapping (DynamoRIO's MAP_TO_CONSISTENT_OUTPUT, the fixed half of
 * `scheduler_fixed.cpp`): input i runs on output i mod M, each output's inputs
 * one after the other in input order, never switching mid-input. An output
 * reaches EOF when its list is done. Used for thread-sharded parallel runs:
 * no output ever touches another's inputs, so no coordination is needed.
 *
 * With `handOffInputs` (not DynamoRIO's: it refuses `set_output_active` here),
 * an output made inactive hands the inputs it has not started to a shared
 * pool, and the active outputs take from it once their own lists are done.
 * The input it was in stays with it: that shard failed, and no record is
 * delivered twice. An output with nothing left waits (STATUS_WAIT) while
 * another active output still holds unstarted inputs it might yet hand off.
 */

import type { RecordBatch } from "../../trace/RecordBatch.ts"
import type { Core } from "./core.ts"
import { INVALID, type InputState, type Mode, type Pick, Status, type SwitchDecision } from "./state.ts"

/** @internal */
export class ConsistentMode implements Mode {
  readonly rewritesMarkers = false

  private readonly core: Core
  /** Unstarted inputs of outputs made inactive, in input order of hand-off (handOffInputs only). */
  private readonly pool: Array<number> = []
  /**
   * Per output, its delivered-record count when it took its current input: equal now means none of
   * the input reached it (the input's own ordinals count what init skipped, so they cannot tell).
   */
  private readonly takenAt: Array<number> = []

  constructor(core: Core) {
    this.core = core
  }

  setInitialSchedule(): undefined {
    const outputs = this.core.outputs
    for (let i = 0; i < this.core.inputs.length; i++) {
      const o = i % outputs.length
      if (outputs[o]!.inputIndices.length === 0) this.core.setCurInput(o, i)
      outputs[o]!.inputIndices.push(i)
    }
    // Outputs made inactive before the first step hand their whole lists off.
    for (const o of outputs) {
      if (o.active || !this.core.opts.handOffInputs) continue
      this.pool.push(...o.inputIndices.splice(0))
      this.core.setCurInput(o.index, INVALID)
    }
    this.pool.sort((a, b) => a - b)
    return undefined
  }

  swapOutInput(): void {}

  swapInInput(output: number, input: number): void {
    if (input >= 0) this.takenAt[output] = this.core.outputs[output]!.records
  }

  pickNextInputForMode(output: number, _blockedTime: number, _prevIndex: number, out: Pick): void {
    const o = this.core.outputs[output]!
    if (o.inputIndicesIndex + 1 < o.inputIndices.length) {
      out.status = Status.OK
      out.index = o.inputIndices[++o.inputIndicesIndex]!
      return
    }
    out.index = -1
    out.status = this.takeOrWait(output)
    if (out.status === Status.OK) out.index = o.inputIndices[++o.inputIndicesIndex]!
  }

  /** Out of own inputs: OK (a pooled input appended to the output's list), WAIT or EOF. */
  private takeOrWait(output: number): number {
    if (!this.core.opts.handOffInputs) return Status.EOF
    const o = this.core.outputs[output]!
    const taken = this.pool.shift()
    if (taken !== undefined) {
      o.inputIndices.push(taken)
      return Status.OK
    }
    const othersHold = this.core.outputs.some(
      (p) => p.index !== output && p.active && p.inputIndicesIndex + 1 < p.inputIndices.length
    )
    return othersHold ? Status.WAIT : Status.EOF
  }

  checkForInputSwitch(
    _output: number,
    _input: InputState,
    _batch: RecordBatch,
    _i: number,
    _curTime: number,
    _decision: SwitchDecision
  ): void {}

  extendRun(output: number, input: InputState, batch: RecordBatch, from: number, stop: number): number {
    return this.core.extendFixed(this.core.outputs[output]!, input, batch, from, stop, false)
  }

  /** An output that never had an input (more outputs than inputs) may still take handed-off ones. */
  eofOrIdleForMode(output: number): number {
    const o = this.core.outputs[output]!
    const st = this.takeOrWait(output)
    if (st !== Status.OK) return st
    // The list was empty: the pooled input is its first.
    o.inputIndicesIndex = o.inputIndices.length - 1
    this.core.setCurInput(output, o.inputIndices[o.inputIndicesIndex]!)
    return Status.STOLE
  }

  markInputEofForMode(): void {}

  setOutputActive(output: number, active: boolean): number {
    if (!this.core.opts.handOffInputs) return Status.INVALID
    const o = this.core.outputs[output]!
    if (o.active === active) return Status.OK
    o.active = active
    if (!active) {
      // The current input goes too if none of it was delivered (a worker that died before its first record).
      const cur = o.curInput
      const unstarted = cur === INVALID || o.records === (this.takenAt[output] ?? 0)
      const from =
        unstarted && o.inputIndicesIndex < o.inputIndices.length ? o.inputIndicesIndex : o.inputIndicesIndex + 1
      if (cur !== INVALID && unstarted) this.core.setCurInput(output, INVALID)
      this.pool.push(...o.inputIndices.splice(from))
      this.pool.sort((a, b) => a - b)
    }
    return Status.OK
  }

  abandonOutput(output: number): void {
    const o = this.core.outputs[output]!
    o.inputIndices.length = Math.min(o.inputIndices.length, o.inputIndicesIndex + 1)
  }
}
