/**
 * Consistent mapping (DynamoRIO's MAP_TO_CONSISTENT_OUTPUT, the fixed half of
 * `scheduler_fixed.cpp`): input i runs on output i mod M, each output's inputs
 * one after the other in input order, never switching mid-input. An output
 * reaches EOF when its list is done. Used for thread-sharded parallel runs:
 * no output ever touches another's inputs, so no coordination is needed.
 */

import type { RecordBatch } from "../../trace/RecordBatch.ts"
import type { Core } from "./core.ts"
import { type InputState, type Mode, type Pick, Status, type SwitchDecision } from "./state.ts"

/** @internal */
export class ConsistentMode implements Mode {
  readonly rewritesMarkers = false

  private readonly core: Core

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
    return undefined
  }

  swapOutInput(): void {}

  swapInInput(): void {}

  pickNextInputForMode(output: number, _blockedTime: number, _prevIndex: number, out: Pick): void {
    const o = this.core.outputs[output]!
    const k = ++o.inputIndicesIndex
    if (k >= o.inputIndices.length) {
      out.status = Status.EOF
      out.index = -1
      return
    }
    out.status = Status.OK
    out.index = o.inputIndices[k]!
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

  eofOrIdleForMode(): number {
    return Status.EOF
  }

  markInputEofForMode(): void {}

  setOutputActive(): number {
    return Status.INVALID
  }
}
