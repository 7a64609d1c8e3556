/**
 * Batch leases: when an input batch the core is done with may go back to
 * its reader for reuse.
 *
 * The core retires a batch when the input moves on to its next one
 * (`Core.onRetire`); the caller of the output whose last `Records` step
 * came from that batch may still be reading it. Each output holds (leases)
 * the batch of its last `Records` step until its next call; a retired
 * batch is recycled once no output holds it. Reusing batches saves an
 * allocation, a zero-fill and, over hundreds of inputs, major GCs.
 *
 * Concurrency: used only from the synchronous parts of the scheduler's
 * layer (every call is atomic with respect to fibers).
 *
 * @internal
 */
import type { RecordBatch } from "../../trace/RecordBatch.ts"

export class BatchLeases {
  /** Per output: the batch of its last Records step, until its next call. */
  private readonly held: Array<RecordBatch | undefined>
  /** Retired batches some output still holds, with their inputs. */
  private readonly waiting: Array<RecordBatch> = []
  private readonly waitingInputs: Array<number> = []
  private readonly recycle: (input: number, batch: RecordBatch) => void

  constructor(outputs: number, recycle: (input: number, batch: RecordBatch) => void) {
    this.held = new Array<RecordBatch | undefined>(outputs).fill(undefined)
    this.recycle = recycle
  }

  /** The core is done with `batch` of `input`. */
  retire(input: number, batch: RecordBatch): void {
    if (this.held.includes(batch)) {
      this.waiting.push(batch)
      this.waitingInputs.push(input)
    } else {
      this.recycle(input, batch)
    }
  }

  /** `output`'s caller now reads `batch` (or nothing): it is done with what it held before. */
  hold(output: number, batch: RecordBatch | undefined): void {
    const prev = this.held[output]
    this.held[output] = batch
    if (prev === undefined || prev === batch || this.waiting.length === 0) return
    const at = this.waiting.indexOf(prev)
    if (at < 0 || this.held.includes(prev)) return
    const input = this.waitingInputs[at]!
    this.waiting.splice(at, 1)
    this.waitingInputs.splice(at, 1)
    this.recycle(input, prev)
  }
}
