/**
 * Test fixtures for the scheduler: DynamoRIO-style mock inputs built with
 * Synthetic, decoded by the real decoder, and a synchronous driver for the
 * pure core that answers its NeedData steps from in-memory batches.
 */
import { Core, type CoreInput } from "../../src/scheduler/internal/core.ts"
import type { Options } from "../../src/scheduler/internal/options.ts"
import type { Step } from "../../src/scheduler/internal/state.ts"
import { MarkerType } from "../../src/trace/Record.ts"
import type { RecordBatch } from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import type { Lockstep, Polled } from "../utils/scheduleString.ts"

export type Entry = Synthetic.Entry

/**
 * A thread laid out like DynamoRIO's mock_reader_t inputs (`make_thread`,
 * `make_pid`, then the body): no VERSION/FILETYPE markers unless the body has
 * them. The HEADER and FOOTER our decoder requires are hidden by it.
 */
export const mockThread = (tid: number, body: ReadonlyArray<Entry>, pid: number = 1): Array<Entry> => [
  Synthetic.header(),
  Synthetic.threadEntry(tid),
  Synthetic.pid(pid),
  ...body,
  Synthetic.footer()
]

export const version = (v: number = 7): Entry => Synthetic.version(v)
export const timestamp = (t: number | bigint): Entry => Synthetic.timestamp(t)
export const instr = (pc: number): Entry => Synthetic.instr(pc)
export const exit = (tid: number): Entry => Synthetic.exit(tid)
export const marker = (type: number, value: number | bigint = 0): Entry => Synthetic.marker(type, value)
export const cpu = (id: number = 0): Entry => Synthetic.cpu(id)
export const syscall = (n: number): Entry => Synthetic.marker(MarkerType.SYSCALL, n)
export const maybeBlocking = (): Entry => Synthetic.marker(MarkerType.MAYBE_BLOCKING_SYSCALL, 0)

/** Decodes entries into batches of at most `capacity` records (the decoder keeps ≥ 9 slots free). */
export const decode = (entries: ReadonlyArray<Entry>, capacity?: number): Array<RecordBatch> =>
  Trace.decodeSync(Synthetic.encode(entries), capacity === undefined ? undefined : { batchCapacity: capacity })

/** A pure core over in-memory inputs; NeedData is answered from the batches. */
export class Driver {
  readonly core: Core
  private readonly pending: Array<Array<RecordBatch>>
  /** How many times each input was asked for data. */
  readonly loads: Array<number>

  constructor(inputs: ReadonlyArray<ReadonlyArray<Entry>>, outputs: number, options?: Options, capacity?: number) {
    this.pending = inputs.map((e) => decode(e, capacity))
    this.loads = inputs.map(() => 0)
    const tids: Array<CoreInput> = inputs.map((e) => ({
      tid: Number(e.find((x) => x.type === 22)?.addr ?? 0)
    }))
    const core = Core.make(tids, outputs, options)
    if (!(core instanceof Core)) throw new Error(`bad options: ${core.option}: ${core.detail}`)
    this.core = core
  }

  /** Answers NeedData until the core returns something else. */
  next(output: number, now?: number, maxRecords?: number): Step {
    for (;;) {
      const s = this.core.next(output, now, maxRecords)
      if (s._tag !== "NeedData") return s
      this.feed(s.input)
    }
  }

  feed(input: number): void {
    this.loads[input]!++
    this.core.supply(input, this.pending[input]!.shift())
  }

  /** Runs init to completion. */
  init(): void {
    for (;;) {
      const s = this.core.init()
      if (s._tag === "Ready") return
      if (s._tag === "NeedData") this.feed(s.input)
      else throw new Error(`init failed: ${s.detail}`)
    }
  }

  /** The DynamoRIO lockstep adapter: one record per poll. */
  lockstep(): Lockstep {
    return {
      next: (output, now): Polled => {
        const s = this.next(output, now, 1)
        if (s._tag === "Error") throw new Error(`step error: ${s.reason}: ${s.detail}`)
        if (s._tag === "NeedData") throw new Error("unreachable")
        return s
      },
      instrOrdinal: (output) => this.core.outputs[output]!.instrs
    }
  }
}
