import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import { plainEnd, scanned, scanPlain, skipPlain } from "../../src/scheduler/internal/records.ts"
import { Decoder } from "../../src/trace/internal/decoder.ts"
import { isInstr, MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { TRACE_PATHS } from "../utils/expected.ts"

/** What the marker index must say, computed record by record. */
const direct = (batch: RecordBatch.RecordBatch) => {
  const markerAt: Array<number> = []
  const markerInstrs: Array<number> = []
  let instrs = 0
  let canonical = true
  const ok = (hi: number) => (hi + 0x8000) >>> 16 === 0
  for (let i = 0; i < RecordBatch.length(batch); i++) {
    const t = batch.type[i]!
    if (t === TraceType.MARKER) {
      markerAt.push(i)
      markerInstrs.push(instrs)
      continue
    }
    if (!ok(batch.addrHi[i]!) || !ok(batch.auxHi[i]!)) canonical = false
    if (isInstr(t)) instrs++
  }
  return { markerAt, markerInstrs, instrs, canonical }
}

const indexOf = (batch: RecordBatch.RecordBatch) => {
  const ix = RecordBatch.markerIndex(batch)
  if (ix === undefined) return undefined
  return {
    markerAt: Array.from(batch.markerAt.subarray(0, ix.markers)),
    markerInstrs: Array.from(batch.markerInstrs.subarray(0, ix.markers)),
    instrs: ix.instrs,
    canonical: ix.canonical
  }
}

/** Every batch of every input of `path`, read as the scheduler reads them (kept, not recycled). */
const readAll = (path: string, options?: Trace.Options) =>
  Effect.scoped(
    Effect.gen(function* () {
      const out: Array<RecordBatch.RecordBatch> = []
      for (const input of yield* Trace.open(path, options))
        for (let b = yield* input.next; b !== undefined; b = yield* input.next) out.push(b)
      return out
    })
  )

const scanOf = (run: () => number) => {
  const end = run()
  return { end, instrs: scanned.instrs, synthetic: scanned.synthetic }
}

describe("the decoder's marker index", () => {
  for (const [name, path] of Object.entries(TRACE_PATHS)) {
    it.effect(`matches the records of every batch of ${name}`, () =>
      Effect.gen(function* () {
        for (const encodings of [false, true]) {
          const batches = yield* readAll(path, { encodings })
          let indexed = 0
          for (const [k, b] of batches.entries()) {
            const want = direct(b)
            const got = indexOf(b)
            // Only a batch with more markers than its index holds may go without one.
            if (got === undefined) {
              assert.isAbove(want.markerAt.length, b.markerAt.length, `${name} batch ${k}: no index`)
              continue
            }
            indexed++
            assert.deepStrictEqual(got, want, `${name} batch ${k} (encodings ${encodings})`)
            // What `decoded` promises its readers (the analyzer's span bookkeeping, basic_counts).
            assert.isTrue(RecordBatch.decoded(b))
            assert.isTrue(
              b.flags.subarray(0, RecordBatch.length(b)).every((f) => (f & RecordBatch.FLAG_SYNTHETIC) === 0),
              `${name} batch ${k}: a synthetic record`
            )
            assert.strictEqual(new Set(b.tid.subarray(0, RecordBatch.length(b))).size, 1, `${name} batch ${k}: threads`)
          }
          assert.isAbove(indexed, 0, name)
        }
      })
    )
  }

  it("holds across decode calls that end inside a batch, and records non-canonical addresses", () => {
    const body: Array<Synthetic.Entry> = [Synthetic.version(7), Synthetic.timestamp(10)]
    for (let j = 0; j < 300; j++) {
      body.push(Synthetic.instr(0x401000 + j * 4), Synthetic.read(0x7ffe0000 + j * 8))
      if (j % 17 === 0) body.push(Synthetic.cpu(j), Synthetic.marker(MarkerType.FUNC_ID, j))
      if (j === 250) body.push(Synthetic.instr(0xab00123400560078n))
    }
    body.push(Synthetic.exit(7))
    const bytes = Synthetic.encode([
      Synthetic.header(),
      Synthetic.threadEntry(7),
      Synthetic.pid(1),
      ...body,
      Synthetic.footer()
    ])
    const whole = Trace.decodeSync(bytes, { batchCapacity: 4096 })
    assert.strictEqual(whole.length, 1)
    assert.deepStrictEqual(indexOf(whole[0]!), direct(whole[0]!))
    assert.isFalse(direct(whole[0]!).canonical)
    // The decoder fed 7 entries at a time, as a reader feeds it piece by piece.
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
    const entries = words.length / 3
    const decoder = new Decoder()
    const batches: Array<RecordBatch.RecordBatch> = []
    let batch = RecordBatch.make(256)
    for (let pos = 0; pos < entries; ) {
      pos = decoder.decode(words, pos, Math.min(entries, pos + 7), batch)
      assert.isUndefined(decoder.fault)
      if (decoder.split || RecordBatch.length(batch) > batch.capacity - 9) {
        decoder.split = false
        batches.push(batch)
        batch = RecordBatch.make(256)
      }
    }
    decoder.finish(batch)
    if (RecordBatch.length(batch) > 0) batches.push(batch)
    assert.strictEqual(
      batches.reduce((n, b) => n + RecordBatch.length(b), 0),
      RecordBatch.length(whole[0]!)
    )
    for (const [k, b] of batches.entries()) assert.deepStrictEqual(indexOf(b), direct(b), `batch ${k}`)
    // Batches before the bad instruction are canonical, the one holding it is not.
    assert.deepStrictEqual([...new Set(batches.map((b) => direct(b).canonical))].sort(), [false, true])
  })

  it("counts a data record's PC: a batch that starts with loads after a bad instruction is not canonical", () => {
    // Shift the bad instruction until it is the last record of the first batch.
    let found = 0
    for (let filler = 200; filler < 260; filler++) {
      const body: Array<Synthetic.Entry> = []
      for (let j = 0; j < filler; j++) body.push(Synthetic.instr(0x401000 + j * 4))
      body.push(Synthetic.instr(0xab00123400560078n), Synthetic.read(0x7ffe0000), Synthetic.read(0x7ffe0008))
      for (let j = 0; j < 20; j++) body.push(Synthetic.instr(0x402000 + j * 4))
      body.push(Synthetic.exit(7))
      const batches = Trace.decodeSync(Synthetic.encode(Synthetic.thread(7, body)), { batchCapacity: 256 })
      if (batches.length < 2 || batches[1]!.type[0] !== TraceType.READ) continue
      found++
      assert.isTrue(direct(batches[0]!).canonical === false && direct(batches[1]!).canonical === false)
      assert.deepStrictEqual(batches.map(indexOf), batches.map(direct))
    }
    assert.isAbove(found, 0)
  })

  it("is dropped by every other writer", () => {
    const bytes = Synthetic.encode(
      Synthetic.thread(5, [Synthetic.instr(0x1000), Synthetic.timestamp(3), Synthetic.read(0x2000)])
    )
    const fresh = () => {
      const b = Trace.decodeSync(bytes)[0]!
      assert.isDefined(RecordBatch.markerIndex(b))
      return b
    }
    assert.isUndefined(RecordBatch.markerIndex(RecordBatch.make(64)))
    const a = fresh()
    RecordBatch.setLength(a, 1)
    assert.isUndefined(RecordBatch.markerIndex(a))
    const b = fresh()
    RecordBatch.pushMarker(b, MarkerType.CPU_ID, 1, 0, 5, 1)
    assert.isUndefined(RecordBatch.markerIndex(b))
    assert.isFalse(RecordBatch.decoded(b))
    const c = fresh()
    RecordBatch.copyRecord(fresh(), 0, c)
    assert.isUndefined(RecordBatch.markerIndex(c))
    const d = fresh()
    RecordBatch.clearMarkerIndex(d)
    assert.isUndefined(RecordBatch.markerIndex(d))
    assert.isUndefined(RecordBatch.markerIndex(RecordBatch.slice(fresh(), 0, 2)))
    // A batch sent to another thread keeps it.
    assert.deepStrictEqual(indexOf(RecordBatch.fromBuffer(fresh().buffer)), indexOf(fresh()))
  })
})

describe("skipPlain and plainEnd", () => {
  it.effect("find what scanPlain finds, from any record, to any stop, under any budget", () =>
    Effect.gen(function* () {
      const batches = (yield* readAll(TRACE_PATHS["threadsig-core-sharded"]!)).concat(
        (yield* readAll(TRACE_PATHS.threadsig!)).slice(0, 40)
      )
      const indexed = batches.filter((b) => RecordBatch.markerIndex(b) !== undefined)
      assert.isAbove(indexed.length, 40)
      // Starting right after a marker, where the index answers without counting.
      const afterMarker = fc.nat().chain((k) => {
        const b = indexed[k % indexed.length]!
        const ix = RecordBatch.markerIndex(b)!
        return fc.constant({ b, from: ix.markers === 0 ? 0 : b.markerAt[k % ix.markers]! + 1 })
      })
      const anywhere = fc.nat().chain((k) => {
        const b = indexed[k % indexed.length]!
        return fc.nat({ max: RecordBatch.length(b) }).map((from) => ({ b, from }))
      })
      fc.assert(
        fc.property(
          fc.oneof(afterMarker, anywhere),
          fc.nat({ max: 3000 }),
          fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.nat({ max: 2500 })),
          fc.boolean(),
          ({ b, from }, extra, budget, canon) => {
            const stop = Math.min(RecordBatch.length(b), from + extra)
            const want = scanOf(() => scanPlain(b.type, b.flags, b.addrHi, b.auxHi, from, stop, budget, canon))
            const got = scanOf(() => skipPlain(b, from, stop, budget, canon))
            assert.deepStrictEqual(got, want, `from ${from} stop ${stop} budget ${budget} canon ${canon}`)
            if (!canon)
              assert.strictEqual(plainEnd(b, from, stop, budget), want.end, `plainEnd from ${from} stop ${stop}`)
          }
        ),
        { numRuns: 3000, seed: 20261127 }
      )
    })
  )
})
