/**
 * Batch recycling: a retired batch goes back to its reader only once no
 * output's last step points into it, and the records every caller reads
 * are the input's, even when callers hold their steps across other
 * outputs' calls.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { BatchLeases } from "../../src/scheduler/internal/leases.ts"
import * as Scheduler from "../../src/scheduler/Scheduler.ts"
import { TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Trace from "../../src/trace/Trace.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

describe("BatchLeases", () => {
  it("recycles a retired batch at once when no output holds it, else when the last holder lets go", () => {
    const recycled: Array<string> = []
    const a = RecordBatch.make(16)
    const b = RecordBatch.make(16)
    const names = new Map([
      [a, "a"],
      [b, "b"]
    ])
    const leases = new BatchLeases(3, (input, batch) => recycled.push(`${input}:${names.get(batch)}`))
    leases.retire(7, b)
    assert.deepStrictEqual(recycled, ["7:b"])
    leases.hold(0, a)
    leases.hold(2, a)
    leases.retire(4, a)
    assert.deepStrictEqual(recycled, ["7:b"])
    leases.hold(0, undefined)
    // Output 2 still reads it.
    assert.deepStrictEqual(recycled, ["7:b"])
    leases.hold(2, a)
    assert.deepStrictEqual(recycled, ["7:b"])
    leases.hold(2, b)
    assert.deepStrictEqual(recycled, ["7:b", "4:a"])
    // Once only.
    leases.hold(2, undefined)
    leases.hold(1, undefined)
    assert.deepStrictEqual(recycled, ["7:b", "4:a"])
  })
})

/**
 * Per input, by record ordinal: type × 2^32 + low address word of each
 * non-marker record (markers are rewritten in dynamic mode).
 */
const note = (batch: RecordBatch.RecordBatch, start: number, end: number, into: Array<number>): void => {
  const first = RecordBatch.firstRecordOrdinal(batch)
  for (let i = start; i < end; i++) {
    if (batch.type[i] === TraceType.MARKER) continue
    into[first + i] = batch.type[i]! * 2 ** 32 + batch.addrLo[i]!
  }
}

const dense = (a: Array<number>): Array<number> => a.filter((v) => v !== undefined)

const direct = Effect.gen(function* () {
  const inputs = yield* Trace.open(THREADSIG, { batchCapacity: 512 })
  const out: Array<Array<number>> = []
  for (const inp of inputs) {
    const m: Array<number> = []
    for (let b = yield* inp.next; b !== undefined; b = yield* inp.next) note(b, 0, RecordBatch.length(b), m)
    out.push(dense(m))
  }
  return out
})

const scheduled = (recycleBatches: boolean | undefined) =>
  Effect.gen(function* () {
    // Small batches: many retirements while steps are held.
    const inputs = yield* Trace.open(THREADSIG, { batchCapacity: 512 })
    const s = yield* Scheduler.make(inputs, 4, {
      mapping: "dynamic",
      blockTimeMaxUs: 5,
      exitIfFractionInputsLeft: 0,
      quantumDurationInstrs: 2000,
      recycleBatches
    })
    const seen: Array<Array<number>> = inputs.map(() => [])
    const batches = new Set<RecordBatch.RecordBatch>()
    let held: Scheduler.Records | undefined
    yield* Effect.forEach(
      [0, 1, 2, 3],
      (o) =>
        Effect.gen(function* () {
          for (let k = 0; ; k++) {
            const step = yield* s.next(o, { maxIdles: 64 })
            if (step._tag === "Eof") return
            if (step._tag !== "Records") continue
            batches.add(step.batch)
            if (o === 3 && k >= 5 && step.end < RecordBatch.length(step.batch)) {
              // Output 3 leaves with its last step unread by its caller
              // (kept, not given back); other outputs finish its input.
              held = step
              yield* s.setActive(3, false)
              return
            }
            // Read the step only after the other outputs have had a turn.
            yield* Effect.yieldNow
            note(step.batch, step.start, step.end, seen[step.input]!)
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
    // Every other output ran its inputs to the end meanwhile.
    assert.isDefined(held)
    note(held!.batch, held!.start, held!.end, seen[held!.input]!)
    return { sigs: seen.map(dense), distinct: batches.size }
  })

describe("Scheduler batch recycling", () => {
  it.effect(
    "a step's batch stays intact while its caller holds it; every input's records arrive as the input has them",
    () =>
      Effect.gen(function* () {
        const want = yield* Effect.scoped(direct)
        const recycled = yield* Effect.scoped(scheduled(undefined))
        const kept = yield* Effect.scoped(scheduled(false))
        assert.deepStrictEqual(recycled.sigs, want)
        assert.deepStrictEqual(kept.sigs, want)
        // Without recycling every batch is fresh; with it, few batch objects serve the whole run.
        const batchesInTrace = want.reduce((n, s) => n + s.length, 0) / 512
        assert.isAbove(kept.distinct, batchesInTrace * 0.9)
        assert.isBelow(recycled.distinct, kept.distinct / 4)
      }),
    120_000
  )
})
