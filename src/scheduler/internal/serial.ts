/**
 * Serial mapping (DynamoRIO's MAP_TO_RECORDED_OUTPUT with one output and no
 * as-traced schedule, the timestamp half of `scheduler_fixed.cpp`): one
 * output interleaves every input by timestamp.
 *
 * Init reads each input ahead to its first TIMESTAMP (`next_timestamp`). The
 * run starts with the smallest (strict `<`: the lowest input index wins
 * ties). Every TIMESTAMP record read sets its input's `next_timestamp` and is
 * a switch point: the input with the smallest non-zero `next_timestamp` among
 * inputs not at EOF runs next; if that is another input, the timestamp
 * record stays with the old input and is read again when it resumes. At an
 * input's EOF the pick is repeated; the output ends when no input is live.
 */

import { MarkerType, TraceType } from "../../trace/Record.ts"
import type { RecordBatch } from "../../trace/RecordBatch.ts"
import type { Core } from "./core.ts"
import { INVALID, type InputState, type Mode, type Pick, Status, type SwitchDecision } from "./state.ts"

/** @internal */
export class SerialMode implements Mode {
  readonly rewritesMarkers = false

  private readonly core: Core

  constructor(core: Core) {
    this.core = core
  }

  setInitialSchedule(): { option: string; detail: string } | undefined {
    const inputs = this.core.inputs
    if (inputs.length === 1) {
      this.core.setCurInput(0, 0)
      return undefined
    }
    let min = -1
    for (let i = 0; i < inputs.length; i++) {
      const inp = inputs[i]!
      if (min < 0 || before(inp, inputs[min]!)) min = i
    }
    if (min < 0) return { option: "inputs", detail: "serial scheduling needs at least one input" }
    this.core.setCurInput(0, min)
    return undefined
  }

  swapOutInput(): void {}

  swapInInput(): void {}

  pickNextInputForMode(output: number, _blockedTime: number, prevIndex: number, out: Pick): void {
    if (!this.core.opts.timestampDeps) {
      // A single input without timestamp ordering: nothing else to run.
      out.status = this.core.eofOrIdle(output, prevIndex)
      out.index = INVALID
      return
    }
    const inputs = this.core.inputs
    let index = INVALID
    let zero = INVALID
    for (let i = 0; i < inputs.length; i++) {
      const inp = inputs[i]!
      if (inp.atEof) continue
      if (inp.nextTsHi === 0 && inp.nextTsLo === 0) {
        if (zero < 0) zero = i
        continue
      }
      if (index < 0 || before(inp, inputs[index]!)) index = i
    }
    if (index < 0) {
      out.index = INVALID
      // An input whose next timestamp is 0 is never picked, and nothing else can run: DynamoRIO
      // idles forever here.
      out.status =
        zero >= 0
          ? this.core.failWith({
              _tag: "Error",
              reason: "InvalidInput",
              option: "deps",
              detail: `input ${zero} has a timestamp of 0: ordering inputs by timestamp needs timestamps above 0, and no other input is left to run`
            })
          : this.core.eofOrIdle(output, prevIndex)
      return
    }
    out.status = Status.OK
    out.index = index
  }

  checkForInputSwitch(
    _output: number,
    input: InputState,
    batch: RecordBatch,
    i: number,
    _curTime: number,
    decision: SwitchDecision
  ): void {
    if (this.core.opts.timestampDeps && batch.type[i] === TraceType.MARKER && batch.size[i] === MarkerType.TIMESTAMP) {
      input.nextTsHi = batch.addrHi[i]!
      input.nextTsLo = batch.addrLo[i]!
      decision.needNewInput = true
    }
  }

  extendRun(output: number, input: InputState, batch: RecordBatch, from: number, stop: number): number {
    // Every TIMESTAMP is a switch point: the run ends before it.
    return this.core.extendFixed(this.core.outputs[output]!, input, batch, from, stop, this.core.opts.timestampDeps)
  }

  eofOrIdleForMode(): number {
    return this.core.liveInputCount === 0 ? Status.EOF : Status.IDLE
  }

  markInputEofForMode(): void {}

  setOutputActive(): number {
    return Status.INVALID
  }
}

/** a.next_timestamp < b.next_timestamp (64-bit, as hi/lo halves). */
const before = (a: InputState, b: InputState): boolean =>
  a.nextTsHi !== b.nextTsHi ? a.nextTsHi < b.nextTsHi : a.nextTsLo < b.nextTsLo
