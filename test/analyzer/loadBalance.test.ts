/**
 * Load balancing (DynamoRIO's -max_load_imbalance, analyzer.cpp
 * check_load_balance, i#7860): the rule on plain counters, the bounded
 * 1 ms sleeps under TestClock, and whole runs in which one worker is slower
 * than the other (fiber backend: its segments carry fewer instructions;
 * threads backend: its tool sleeps), where the faster worker gets throttled
 * and the results do not change.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import { LoadBalance, MAX_SLEEPS, throttle } from "../../src/analyzer/internal/loadBalance.ts"
import { TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { counter, type ShardCount } from "../utils/faultTools.ts"
import { type LagCount, laggingSpec } from "../utils/lagTool.ts"

describe("LoadBalance: DynamoRIO's check_load_balance rule", () => {
  it("checks every `cadence` activities, publishing its own count only then", () => {
    const lb = new LoadBalance(2, 2, 100)
    assert.strictEqual(lb.check(0, 99), -1)
    assert.strictEqual(lb.published[0], 0)
    // At 100 it publishes; worker 1 has published nothing (0): 100 > 2 × 0, so wait for it.
    assert.strictEqual(lb.check(0, 100), 1)
    assert.strictEqual(lb.published[0], 100)
    // The next check is 100 activities after the last one, not at the next multiple.
    assert.strictEqual(lb.check(0, 199), -1)
    assert.strictEqual(lb.published[0], 100)
    assert.deepStrictEqual(lb.waits, [1, 0])
  })

  it("waits for the least active live worker only when ahead by more than the ratio", () => {
    const lb = new LoadBalance(3, 2, 100)
    // Unpublished workers count as 0; the first least one is the one to wait for.
    assert.strictEqual(lb.check(0, 100), 1)
    assert.strictEqual(lb.check(1, 100), 2)
    // Worker 2 is the least itself: never ahead of itself (the ratio is ≥ 1).
    assert.strictEqual(lb.check(2, 100), -1)
    // 200 = 2 × 100 is not above the ratio; 201 is.
    assert.strictEqual(lb.check(0, 200), -1)
    assert.strictEqual(lb.check(0, 301), 1)
    assert.deepStrictEqual(lb.waits, [2, 1, 0])
    // The wait lasts while worker 0 is above 2 × worker 1's published count.
    assert.isTrue(lb.stillAhead(0, 301, 1))
    assert.strictEqual(lb.check(1, 150), -1) // 50 since its last check: nothing published
    assert.isTrue(lb.stillAhead(0, 301, 1))
    assert.strictEqual(lb.check(1, 200), -1) // publishes 200 (and is not ahead: least is 100)
    assert.isFalse(lb.stillAhead(0, 301, 1))
  })

  it("never waits for an exited worker", () => {
    const lb = new LoadBalance(3, 2, 100)
    lb.exit(1)
    // Worker 1 (0 published) no longer counts: worker 2 is the least.
    assert.strictEqual(lb.check(0, 100), 2)
    lb.exit(2)
    // Alone: the least is itself.
    assert.strictEqual(lb.check(0, 1000), -1)
    // A wait on a worker ends when it exits.
    const lb2 = new LoadBalance(2, 2, 100)
    assert.strictEqual(lb2.check(0, 100), 1)
    assert.isTrue(lb2.stillAhead(0, 100, 1))
    lb2.exit(1)
    assert.isFalse(lb2.stillAhead(0, 100, 1))
  })

  it("reports its ratio, cadence, waits and sleeps", () => {
    const lb = new LoadBalance(2, 2.5, 10)
    lb.check(1, 10)
    assert.deepStrictEqual(lb.stats(), { maxImbalance: 2.5, cadence: 10, waits: [0, 1], sleeps: [0, 0] })
  })
})

describe("throttle: 1 ms sleeps through the Clock", () => {
  it.effect("sleeps at most 99 times when the slowest worker never catches up", () =>
    Effect.gen(function* () {
      const lb = new LoadBalance(2, 2, 100)
      const slowest = lb.check(0, 100)
      const f = yield* Effect.forkChild(throttle(lb, 0, 100, slowest))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(f)
      assert.strictEqual(lb.sleeps[0], MAX_SLEEPS)
      assert.strictEqual(MAX_SLEEPS, 99)
    })
  )

  it.effect("stops once the slowest worker has published enough", () =>
    Effect.gen(function* () {
      const lb = new LoadBalance(2, 2, 100)
      const slowest = lb.check(0, 300)
      const f = yield* Effect.forkChild(throttle(lb, 0, 300, slowest))
      yield* TestClock.adjust("3 millis")
      // Worker 1 reaches 150 (300 = 2 × 150: no longer ahead); the sleeper sees it when it wakes.
      lb.check(1, 150)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(f)
      assert.strictEqual(lb.sleeps[0], 4)
    })
  )

  it.effect("stops when the slowest worker exits (a failed worker never holds the others back)", () =>
    Effect.gen(function* () {
      const lb = new LoadBalance(2, 2, 100)
      const slowest = lb.check(0, 100)
      const f = yield* Effect.forkChild(throttle(lb, 0, 100, slowest))
      yield* TestClock.adjust("2 millis")
      lb.exit(1)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(f)
      assert.strictEqual(lb.sleeps[0], 3)
    })
  )
})

/**
 * Two threads on two cores: A has 7 loads after each instruction, B only
 * instructions, both in batches of at most 64 records, so that every step
 * gives core 1 (B) about 8× the activity it gives core 0 (A).
 */
const unevenInputs = Effect.forEach([0, 1], (i) =>
  Trace.fromEntries(
    S.thread(100 + i, [
      ...Array.from({ length: 3000 }, (_, k) => [
        S.instr(0x1000 + k * 4, TraceType.INSTR, 4),
        ...(i === 0 ? Array.from({ length: 7 }, (_, j) => S.read(0x8000 + j * 8)) : [])
      ]).flat(),
      S.exit(100 + i)
    ]),
    { ordinal: i, name: `input.${100 + i}`, batchCapacity: 72 }
  )
)

const core = {
  mode: "core-sharded" as const,
  cores: 2,
  scheduler: { deps: "ignore" as const, randomInitialLayout: -1 }
}

/** What a shard saw of the trace (idle records depend on timing, so they are left out). */
const seen = (shards: ReadonlyArray<ShardCount>) =>
  shards.map((s) => ({ shard: s.shard, tid: s.tid, instrs: s.instrs, trace: s.records - s.idles, runs: s.runs }))

describe("Analyzer load balancing (fiber backend)", () => {
  it.live("throttles the worker that runs ahead; the results do not change", () =>
    Effect.gen(function* () {
      const balanced = yield* Analyzer.runInputs(yield* unevenInputs, {
        ...core,
        tools: [counter()],
        maxLoadImbalance: 2,
        loadBalanceCadence: 100
      })
      const lb = balanced.loadBalance!
      assert.strictEqual(lb.maxImbalance, 2)
      assert.strictEqual(lb.cadence, 100)
      // Core 1 (all instructions) gets ahead at its first check, before core 0 has published.
      assert.isAtLeast(lb.waits[1]!, 1)
      assert.isAtLeast(lb.sleeps[1]!, 1)
      const free = yield* Analyzer.runInputs(yield* unevenInputs, { ...core, tools: [counter()] })
      assert.isUndefined(free.loadBalance)
      assert.deepStrictEqual(
        seen(balanced.tools[0]!.result as ReadonlyArray<ShardCount>),
        seen(free.tools[0]!.result as ReadonlyArray<ShardCount>)
      )
      assert.deepStrictEqual(
        seen(free.tools[0]!.result as ReadonlyArray<ShardCount>).map((s) => s.instrs),
        [3000, 3000]
      )
    })
  )

  it.live("is off below 1, and outside dynamic core-sharded runs", () =>
    Effect.gen(function* () {
      const off = yield* Analyzer.runInputs(yield* unevenInputs, {
        ...core,
        tools: [counter()],
        maxLoadImbalance: 0.99,
        loadBalanceCadence: 100
      })
      assert.isUndefined(off.loadBalance)
      const serial = yield* Analyzer.runInputs(yield* unevenInputs, {
        ...core,
        mode: "core-serial",
        tools: [counter()],
        maxLoadImbalance: 2,
        loadBalanceCadence: 100
      })
      assert.isUndefined(serial.loadBalance)
      const threads = yield* Analyzer.runInputs(yield* unevenInputs, {
        mode: "thread-sharded",
        jobs: 2,
        tools: [counter()],
        maxLoadImbalance: 2,
        loadBalanceCadence: 100
      })
      assert.isUndefined(threads.loadBalance)
    })
  )

  it.effect("refuses a negative ratio and a non-positive cadence", () =>
    Effect.gen(function* () {
      for (const [options, option] of [
        [{ maxLoadImbalance: -1 }, "maxLoadImbalance"],
        [{ maxLoadImbalance: Number.NaN }, "maxLoadImbalance"],
        [{ maxLoadImbalance: 2, loadBalanceCadence: 0 }, "loadBalanceCadence"]
      ] as const) {
        const e = yield* Effect.flip(
          Analyzer.runInputs(yield* unevenInputs, { ...core, tools: [counter()], ...options })
        )
        assert.strictEqual(e._tag, "AnalyzerOptionError")
        assert.strictEqual((e as Analyzer.AnalyzerOptionError).option, option)
      }
    })
  )
})

// Two threads of 60,000 instructions as trace files (the threads backend reads files).
const root = mkdtempSync(join(tmpdir(), "memtrace-balance-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const DIR = join(root, "even")
mkdirSync(DIR)
for (const tid of [300, 301]) {
  const body = Array.from({ length: 60_000 }, (_, k) => S.instr(0x1000 + (k % 512) * 4, TraceType.INSTR, 4))
  writeFileSync(join(DIR, `synthetic.${tid}.trace`), S.encode(S.thread(tid, [...body, S.exit(tid)])))
}

describe("Analyzer load balancing (threads backend)", () => {
  it.live(
    "throttles the thread whose core runs ahead of a slow one; the results do not change",
    () =>
      Effect.gen(function* () {
        const run = (maxLoadImbalance: number) =>
          Analyzer.run(DIR, {
            ...core,
            backend: "threads",
            // Core 0's tool sleeps 15 ms on each segment (up to 8192 records).
            tools: [laggingSpec(0, 15)],
            maxLoadImbalance,
            loadBalanceCadence: 1000
          })
        const balanced = yield* run(2)
        const lb = balanced.loadBalance!
        // Core 1 is far faster: it waits for core 0 again and again.
        assert.isAtLeast(lb.waits[1]!, 1)
        assert.isAtLeast(lb.sleeps[1]!, 1)
        const free = yield* run(0)
        assert.isUndefined(free.loadBalance)
        const totals = (r: Analyzer.AnalysisResult) => {
          const shards = r.tools[0]!.result as ReadonlyArray<LagCount>
          return {
            records: shards.reduce((a, s) => a + s.records, 0),
            instrs: shards.reduce((a, s) => a + s.instrs, 0)
          }
        }
        assert.deepStrictEqual(totals(balanced), totals(free))
        assert.strictEqual(totals(free).instrs, 120_000)
      }),
    60_000
  )
})
