/**
 * Test-only stand-in for the scheduler's serial mode (DynamoRIO's
 * MAP_TO_RECORDED_OUTPUT with one output and DEPENDENCY_TIMESTAMPS, semantics
 * §2.5), enough to drive serial tools over real multi-input traces:
 *
 * - every input is read ahead up to and including its first TIMESTAMP; those
 *   records wait in the input's queue;
 * - the run starts with the input of the smallest first timestamp (strict `<`
 *   in input order, so the lowest index wins ties);
 * - each TIMESTAMP record (queued or read) sets its input's next timestamp;
 *   then the non-EOF input with the smallest non-zero next timestamp is picked
 *   (again strict `<`); if it is another input, the TIMESTAMP goes back to the
 *   end of the old input's queue and the new input continues;
 * - at an input's end the pick is made again; the run ends when every input
 *   is at its end.
 *
 * Records are copied into output batches of `capacity` records.
 */
import { Effect } from "effect"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import type * as Trace from "../../src/trace/Trace.ts"
import type { TraceError } from "../../src/trace/TraceError.ts"

interface Ref {
  readonly batch: RecordBatch.RecordBatch
  readonly index: number
}

interface Cursor {
  readonly input: Trace.TraceInput
  readonly queue: Array<Ref>
  batch: RecordBatch.RecordBatch | undefined
  index: number
  nextTs: bigint
  eof: boolean
}

const isTimestamp = (r: Ref) =>
  r.batch.type[r.index] === TraceType.MARKER && r.batch.size[r.index] === MarkerType.TIMESTAMP

const value = (r: Ref) => RecordBatch.addrBig(r.batch, r.index)

/** Makes the input's current batch non-exhausted; false at the input's end. */
const fill = (c: Cursor): Effect.Effect<boolean, TraceError> =>
  Effect.gen(function* () {
    while (c.batch === undefined || c.index >= RecordBatch.length(c.batch)) {
      c.batch = yield* c.input.next
      c.index = 0
      if (c.batch === undefined) return false
    }
    return true
  })

const ready = (c: Cursor): boolean => c.batch !== undefined && c.index < RecordBatch.length(c.batch)

/**
 * Delivers the serial interleave of `inputs` to `sink`, batch by batch
 * (`sink` returns false to stop early).
 */
export const interleave = (
  inputs: ReadonlyArray<Trace.TraceInput>,
  sink: (batch: RecordBatch.RecordBatch) => boolean,
  capacity = RecordBatch.DEFAULT_CAPACITY
): Effect.Effect<void, TraceError> =>
  Effect.gen(function* () {
    const cursors: Array<Cursor> = inputs.map((input) => ({
      input,
      queue: [],
      batch: undefined,
      index: 0,
      nextTs: 0n,
      eof: false
    }))
    for (const c of cursors) {
      while (yield* fill(c)) {
        const r = { batch: c.batch!, index: c.index++ }
        c.queue.push(r)
        if (isTimestamp(r)) {
          c.nextTs = value(r)
          break
        }
      }
    }
    const pick = (initial: boolean): number => {
      let best = -1
      let min = 0n
      cursors.forEach((c, i) => {
        const eligible = initial || (!c.eof && c.nextTs > 0n)
        if (eligible && (best < 0 || c.nextTs < min)) {
          best = i
          min = c.nextTs
        }
      })
      return best
    }
    let cur = pick(true)
    let out = RecordBatch.make(capacity)
    const emit = (): boolean => {
      const more = sink(out)
      out = RecordBatch.make(capacity)
      return more
    }
    while (cur >= 0) {
      const c = cursors[cur]!
      if (c.queue.length === 0 && !c.eof && !ready(c) && !(yield* fill(c))) c.eof = true
      const r = c.queue.length > 0 ? c.queue.shift() : c.eof ? undefined : { batch: c.batch!, index: c.index++ }
      if (r === undefined) {
        c.eof = true
        cur = pick(false)
        continue
      }
      if (isTimestamp(r)) {
        c.nextTs = value(r)
        const next = pick(false)
        if (next !== cur) {
          c.queue.push(r)
          cur = next
          continue
        }
      }
      RecordBatch.copyRecord(r.batch, r.index, out)
      if (!RecordBatch.hasRoom(out, 1) && !emit()) return
    }
    if (RecordBatch.length(out) > 0) emit()
  })
