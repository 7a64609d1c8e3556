/**
 * The cache simulator's shortcuts against its record-by-record reference, on
 * random records: `cacheHit` against `request`, and `run` over a core shard's
 * span and `runLockstep` over a core-serial span against `runGeneral` called
 * once per record. Caches are tiny so that hits, misses, evictions, flushes
 * and prefetches all happen; every piece of state must end up identical.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { LockstepSpan } from "../../../../src/analyzer/Tool.ts"
import { type CacheConfig, CacheSimulation } from "../../../../src/tools/internal/cache/CacheSimulation.ts"
import { cacheHit, Device, type PolicyName, request } from "../../../../src/tools/internal/cache/Device.ts"
import { MarkerType, TraceType } from "../../../../src/trace/Record.ts"
import * as RecordBatch from "../../../../src/trace/RecordBatch.ts"

const RUNS = Number(process.env.FUZZ_RUNS ?? 300)
const SEED = Number(process.env.FUZZ_SEED ?? 20261126)

interface Rec {
  readonly type: number
  readonly size: number
  readonly lo: number
  readonly hi: number
  readonly tid: number
}

// A handful of lines (so that sets fill and evict), some accesses across a line
// or the 2^32 boundary, and kernel-half addresses.
const address = fc.oneof(
  { weight: 8, arbitrary: fc.record({ lo: fc.integer({ min: 0, max: 40 * 64 }), hi: fc.constant(0) }) },
  { weight: 1, arbitrary: fc.record({ lo: fc.integer({ min: 0xffffff00, max: 0xffffffff }), hi: fc.constant(0) }) },
  { weight: 1, arbitrary: fc.record({ lo: fc.integer({ min: 0, max: 512 }), hi: fc.constant(0xffffffff) }) }
)

const record: fc.Arbitrary<Rec> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          TraceType.INSTR,
          TraceType.INSTR_TAKEN_JUMP,
          TraceType.READ,
          TraceType.WRITE,
          TraceType.PREFETCHT0,
          TraceType.PREFETCH_INSTR,
          TraceType.INSTR_NO_FETCH
        ),
        address,
        fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 8 }) }, fc.constantFrom(0, 64, 130)),
        fc.integer({ min: 1, max: 3 })
      )
      .map(([type, a, size, tid]) => ({ type, size, lo: a.lo, hi: a.hi, tid }))
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(MarkerType.CORE_IDLE, MarkerType.CPU_ID, MarkerType.TIMESTAMP),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 3 })
      )
      .map(([m, v, tid]) => ({ type: TraceType.MARKER, size: m, lo: v, hi: 0, tid }))
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(TraceType.INSTR_FLUSH, TraceType.DATA_FLUSH, TraceType.THREAD_EXIT, TraceType.HEADER),
        address,
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 3 })
      )
      .map(([type, a, size, tid]) => ({ type, size, lo: a.lo, hi: a.hi, tid }))
  }
)

const config: fc.Arbitrary<CacheConfig> = fc
  .record({
    cores: fc.integer({ min: 1, max: 4 }),
    policy: fc.constantFrom<PolicyName>("LRU", "LFU", "FIFO"),
    prefetch: fc.boolean(),
    skipRefs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 20 })),
    warmupRefs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 20 })),
    simRefs: fc.oneof({ weight: 3, arbitrary: fc.constant(2 ** 63) }, fc.integer({ min: 1, max: 60 })),
    cpuids: fc.option(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 5, maxLength: 5 }), { nil: undefined })
  })
  .map((c) => ({
    cores: c.cores,
    lineSize: 64,
    l1iSize: 4 * 64,
    l1iAssoc: 2,
    l1dSize: 4 * 64,
    l1dAssoc: 2,
    llSize: 16 * 64,
    llAssoc: 4,
    replacePolicy: c.policy,
    dataPrefetcher: c.prefetch ? "nextline" : "none",
    skipRefs: c.skipRefs,
    warmupRefs: c.warmupRefs,
    warmupFraction: 0,
    simRefs: c.simRefs,
    cpuScheduling: false,
    outputCpuids: c.cpuids
  }))

const batchOf = (recs: ReadonlyArray<Rec>): RecordBatch.RecordBatch => {
  const b = RecordBatch.make(Math.max(1, recs.length))
  recs.forEach((r, i) => {
    b.type[i] = r.type
    b.size[i] = r.size
    b.addrLo[i] = r.lo
    b.addrHi[i] = r.hi
    b.tid[i] = r.tid
  })
  RecordBatch.setLength(b, recs.length)
  return b
}

const deviceState = (d: Device) => ({
  tagLo: Array.from(d.tagLo),
  tagHi: Array.from(d.tagHi),
  pol: Array.from(d.pol),
  stats: Array.from(d.stats),
  missed: d.missed.size,
  last: [d.lastTagLo, d.lastTagHi, d.lastWay, d.lastBlock],
  loaded: d.loadedBlocks
})

const simState = (s: CacheSimulation) => ({
  devices: [...s.l1i, ...s.l1d, s.ll].map(deviceState),
  cores: {
    summaries: s.cores.summaries(),
    cpu2core: [...s.cores.cpu2core],
    lastThread: s.cores.lastThread,
    lastCoreIndex: s.cores.lastCoreIndex,
    nonMarkers: s.cores.nonMarkerCount
  },
  refs: [s.skipRefs, s.warmupRefs, s.simRefs, s.warmedUp],
  outcome: [s.outcome, s.outcomeValue]
})

describe("cacheHit", () => {
  it("makes exactly the updates request makes, or none and says so", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<PolicyName>("LRU", "LFU", "FIFO"),
        fc.boolean(),
        fc.array(record, { minLength: 1, maxLength: 300 }),
        (policy, prefetch, recs) => {
          const make = () => {
            const ll = new Device({ name: "LL", assoc: 4, blockSize: 64, numBlocks: 16, policy })
            const l1 = new Device({
              name: "L1",
              assoc: 2,
              blockSize: 64,
              numBlocks: 4,
              policy,
              parent: ll,
              nextLinePrefetcher: prefetch
            })
            return [l1, ll] as const
          }
          const [a, aParent] = make()
          const [b, bParent] = make()
          for (const r of recs) {
            if (r.type === TraceType.MARKER || r.type === TraceType.HEADER) continue
            const before = JSON.stringify([deviceState(b), deviceState(bParent)])
            const hit = cacheHit(b, r.type, r.lo, r.hi, r.size)
            if (!hit) {
              assert.strictEqual(JSON.stringify([deviceState(b), deviceState(bParent)]), before)
              request(b, r.type, r.lo, r.hi, r.size, 0)
            }
            request(a, r.type, r.lo, r.hi, r.size, 0)
            assert.deepStrictEqual([deviceState(b), deviceState(bParent)], [deviceState(a), deviceState(aParent)])
          }
        }
      ),
      { numRuns: RUNS, seed: SEED }
    )
  })
})

describe("CacheSimulation shortcuts", () => {
  it("run over a span leaves the same state as runGeneral record by record", () => {
    fc.assert(
      fc.property(
        config,
        fc.boolean(),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.array(record, { maxLength: 40 })), { maxLength: 8 }),
        (cfg, byCore, spans) => {
          const fast = new CacheSimulation(cfg, byCore)
          const slow = new CacheSimulation(cfg, byCore)
          for (const [output, recs] of spans) {
            const b = batchOf(recs)
            let expected = -1
            for (let i = 0; i < recs.length && expected < 0; i++) {
              if (slow.runGeneral(b, i, i + 1, output) >= 0) expected = i
            }
            assert.strictEqual(fast.run(b, 0, recs.length, output), expected)
            assert.deepStrictEqual(simState(fast), simState(slow))
            if (expected >= 0) return
          }
        }
      ),
      { numRuns: RUNS, seed: SEED }
    )
  })

  it("runLockstep leaves the same state as runGeneral record by record in span order", () => {
    fc.assert(
      fc.property(
        config,
        fc.array(
          fc.integer({ min: 1, max: 4 }).chain((steps) =>
            fc.tuple(
              fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { minLength: steps, maxLength: steps }),
              fc.integer({ min: 1, max: 12 }).chain((rounds) =>
                fc.array(fc.array(record, { minLength: rounds, maxLength: rounds }), {
                  minLength: steps,
                  maxLength: steps
                })
              )
            )
          ),
          { maxLength: 6 }
        ),
        (cfg, spans) => {
          const fast = new CacheSimulation(cfg, true)
          const slow = new CacheSimulation(cfg, true)
          for (const [outputs, perStep] of spans) {
            const steps = outputs.length
            const rounds = perStep[0]!.length
            // Each step's records sit at an offset inside a longer batch, as spans do.
            const batches = perStep.map((recs, j) => batchOf([...Array(j).fill(recs[0]), ...recs]))
            const starts = perStep.map((_, j) => j)
            const span: LockstepSpan = { batches, starts, outputs, steps, rounds, stoppedAt: -1 }
            let expected = -1
            outer: for (let i = 0; i < rounds; i++) {
              for (let j = 0; j < steps; j++) {
                if (slow.runGeneral(batches[j]!, starts[j]! + i, starts[j]! + i + 1, outputs[j]!) >= 0) {
                  expected = i * steps + j
                  break outer
                }
              }
            }
            assert.strictEqual(fast.runLockstep(span), expected)
            assert.deepStrictEqual(simState(fast), simState(slow))
            if (expected >= 0) return
          }
        }
      ),
      { numRuns: RUNS, seed: SEED }
    )
  })
})
