import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Tool from "../../src/analyzer/Tool.ts"
import * as CacheSimulator from "../../src/tools/CacheSimulator.ts"
import type * as RecordBatch from "../../src/trace/RecordBatch.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

/** The tool with its lockstep fast path counted, and the same tool without it (the per-record path). */
const both = (tool: Tool.Any) => {
  const calls = { n: 0 }
  const fast: Tool.Any = {
    ...tool,
    processLockstep: (state, span) => {
      calls.n++
      return tool.processLockstep!(state, span)
    }
  }
  return { fast, slow: { ...tool, processLockstep: undefined } as Tool.Any, calls }
}

const run = (tool: Tool.Any) => Effect.exit(Analyzer.run(THREADSIG, { tools: [tool], backend: "fibers", cores: 4 }))

describe("processLockstep (core-serial fast path)", () => {
  /** Runs the cache simulator with and without the fast path: same text, same records. */
  const sameResults = (options: Parameters<typeof CacheSimulator.make>[0]) =>
    Effect.gen(function* () {
      const { fast, slow, calls } = both(yield* CacheSimulator.make(options))
      const a = yield* run(fast)
      const b = yield* run(slow)
      assert.isTrue(Exit.isSuccess(a) && Exit.isSuccess(b))
      assert.isAbove(calls.n, 0)
      return Exit.isSuccess(a) && Exit.isSuccess(b)
        ? { text: [a.value.tools[0]!.text, b.value.tools[0]!.text], records: [a.value.records, b.value.records] }
        : undefined
    })

  it.effect("the cache simulator gives the same results with and without it", () =>
    Effect.gen(function* () {
      const r = yield* sameResults({})
      assert.strictEqual(r?.text[0], r?.text[1])
      assert.strictEqual(r?.records[0], r?.records[1])
    })
  )

  it.effect("a soft exit inside a span stops at the same record (-sim_refs)", () =>
    Effect.gen(function* () {
      const r = yield* sameResults({ simRefs: 123_457 })
      assert.strictEqual(r?.text[0], r?.text[1])
      assert.include(r?.text[0], "Misses:")
      assert.strictEqual(r?.records[0], r?.records[1])
    })
  )

  it.effect("a failure or soft exit inside a span is handled at the same record as per record", () =>
    Effect.gen(function* () {
      for (const [at, end] of [
        [700_001, "fail"],
        [650_003, "stop"],
        [Number.MAX_SAFE_INTEGER, "fail"]
      ] as const) {
        const probe = orderProbe(at, end)
        const { fast, slow, calls } = both(probe)
        const a = yield* run(fast)
        if (at < Number.MAX_SAFE_INTEGER) assert.isTrue(inLockstep.has(probe), "the signal came from a span")
        const b = yield* run(slow)
        assert.isAbove(calls.n, 0)
        // Same outcome, same attribution (worker, shard, tid, input, record), same records seen in the same order.
        assert.deepStrictEqual(describeExit(a), describeExit(b))
        if (at < Number.MAX_SAFE_INTEGER)
          assert.include(describeExit(a), end === "fail" ? `"message":"record ${at}"` : `"seen":${at}`)
      }
    })
  )
})

interface Probe {
  seen: number
  hash: number
}

/**
 * A serial tool that folds every record it sees, with its output, into a hash
 * (so the order counts), and fails or stops at its `at`-th record; it has both
 * paths, record by record and lockstep.
 */
const inLockstep = new WeakSet<Tool.Any>()
const orderProbe = (at: number, end: "fail" | "stop"): Tool.Any => {
  let self: Tool.Any | undefined
  const signal = (index: number) => (end === "fail" ? Tool.fail(`record ${at}`, index) : Tool.stop())
  const see = (p: Probe, b: RecordBatch.RecordBatch, i: number, output: number): boolean => {
    p.hash = (Math.imul(p.hash, 31) + b.addrLo[i]! + b.type[i]! * 7 + output * 1_000_003) | 0
    return ++p.seen === at
  }
  self = Tool.make<Probe, Probe, Probe, string>({
    name: "order_probe",
    parallel: false,
    preferredShardType: "core",
    makeShard: () => ({ seen: 0, hash: 0 }),
    processBatch: (p, b, start, stop, ctx) => {
      for (let i = start; i < stop; i++) if (see(p, b, i, ctx.output)) return signal(i)
      return undefined
    },
    processLockstep: (p, span) => {
      for (let i = 0; i < span.rounds; i++) {
        for (let j = 0; j < span.steps; j++) {
          if (see(p, span.batches[j]!, span.starts[j]! + i, span.outputs[j]!)) {
            span.stoppedAt = i * span.steps + j
            if (self !== undefined) inLockstep.add(self)
            return signal(span.starts[j]! + i)
          }
        }
      }
      return undefined
    },
    finishShard: (p) => p,
    merge: (shards) => shards[0]!.result,
    print: (p) => `${p.seen} ${p.hash}\n`,
    shardResultSchema: Schema.Struct({ seen: Schema.Number, hash: Schema.Number }),
    resultSchema: Schema.Struct({ seen: Schema.Number, hash: Schema.Number })
  })
  return self
}

const describeExit = (e: Exit.Exit<Analyzer.AnalysisResult, unknown>): string =>
  Exit.isSuccess(e)
    ? JSON.stringify({ records: e.value.records, result: e.value.tools[0]!.result })
    : JSON.stringify(Cause.squash(e.cause))
