/**
 * reuse_distance's "#distant refs" at small thresholds (0, 1, 2), with and
 * without `-reuse_distance_limit`, against the model of DynamoRIO's
 * `line_ref_list_t` (test/utils/reuseModel.ts) on real traces.
 *
 * The model keeps the gate as a node pointer that moves with `prev`, so it
 * reaches NULL where DynamoRIO's does. That happens only at threshold 0: the
 * gate sits on the head until the first reuse of a line other than the head.
 * That reuse counts as distant, and `gate_ = gate_->prev` then sets the gate to
 * NULL. After that `add_to_front` sets it to the new head and at once back to
 * NULL (the head's `prev`), so no later reference in that shard is distant.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Tool from "../../src/analyzer/Tool.ts"
import * as ReuseDistance from "../../src/tools/ReuseDistance.ts"
import { isData, isInstr } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import { TRACE_PATHS } from "../utils/expected.ts"
import { assertShard, model, toStream } from "../utils/reuseModel.ts"
import { runEntriesSync, runToolsPath } from "../utils/runTool.ts"

/** One shard's accesses as DynamoRIO's reuse_distance sees them: instructions, reads, writes, prefetches. */
const Accesses = Schema.Struct({
  shardIndex: Schema.Number,
  instr: Schema.Array(Schema.Boolean),
  hi: Schema.Array(Schema.Number),
  lo: Schema.Array(Schema.Number)
})
type Accesses = typeof Accesses.Type

interface RecorderState {
  readonly shardIndex: number
  readonly instr: Array<boolean>
  readonly hi: Array<number>
  readonly lo: Array<number>
}

/** A tool that only records each shard's access stream, in order. */
const recorder = Tool.make<RecorderState, Accesses, ReadonlyArray<Accesses>>({
  name: "record_accesses",
  makeShard: (info) => ({ shardIndex: info.shardIndex, instr: [], hi: [], lo: [] }),
  processBatch: (s, batch, start, end) => {
    for (let i = start; i < end; i++) {
      const t = batch.type[i]!
      if (!isInstr(t) && !isData(t)) continue
      s.instr.push(isInstr(t))
      s.hi.push(batch.addrHi[i]!)
      s.lo.push(batch.addrLo[i]!)
    }
    return undefined
  },
  finishShard: (s) => ({ shardIndex: s.shardIndex, instr: s.instr, hi: s.hi, lo: s.lo }),
  merge: (shards) => shards.map((o) => o.result),
  print: () => "",
  shardResultSchema: Accesses,
  resultSchema: Schema.Array(Accesses)
})

const u64 = (hi: number, lo: number) => (BigInt(hi) << 32n) | BigInt(lo)

const THRESHOLDS = [0, 1, 2]

/**
 * Runs the tool with each threshold and limit over the trace (one read) and
 * compares every shard with the model. Returns the runs and, per config, the
 * distant references the model counted.
 */
const checkTrace = (path: string, limits: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const configs = THRESHOLDS.flatMap((distanceThreshold) =>
      limits.map((distanceLimit) => ({ distanceThreshold, distanceLimit }))
    )
    const index = (distanceThreshold: number, distanceLimit: number) => {
      const k = configs.findIndex((c) => c.distanceThreshold === distanceThreshold && c.distanceLimit === distanceLimit)
      assert.isAtLeast(k, 0)
      return k
    }
    const runs = yield* runToolsPath([recorder, ...configs.map((c) => ReuseDistance.make(c))], path)
    const accesses: ReadonlyArray<Accesses> = runs[0]!.result
    assert.isAbove(accesses.length, 0)
    const streams = accesses.map((a) =>
      toStream(
        a.instr,
        a.hi.map((hi, k) => u64(hi, a.lo[k]!))
      )
    )
    const distantByConfig: Array<number> = []
    configs.forEach((c, j) => {
      const run = runs[j + 1]!
      const shards: Array<ReuseDistance.ShardDistances> = run.shards.flatMap(
        (o: Tool.ShardOutcome<ReuseDistance.ShardResult>) => o.result.shards
      )
      let distant = 0
      accesses.forEach((a, sh) => {
        if (a.instr.length === 0) return
        const label = `${path} shard ${a.shardIndex} threshold ${c.distanceThreshold} limit ${c.distanceLimit}`
        const shard = shards.find((s) => s.shardIndex === a.shardIndex)
        assert.isDefined(shard, label)
        const m = model(streams[sh]!, c.distanceThreshold, c.distanceLimit)
        distant += m.distantEvents
        if (c.distanceThreshold === 0) assert.isAtMost(m.distantEvents, 1, label)
        assertShard(shard!, a.instr.length, m, label)
      })
      distantByConfig.push(distant)
    })
    return {
      shards: accesses.length,
      text: (threshold: number, limit: number) => runs[1 + index(threshold, limit)]!.text as string,
      distant: (threshold: number, limit: number) => distantByConfig[index(threshold, limit)]!
    }
  })

describe("reuse_distance distant references at small thresholds", () => {
  it.effect(
    "drmemtrace.small: thresholds 0, 1, 2 with limits 0, 1, 2, 3, 7 match DynamoRIO's line list",
    () =>
      Effect.gen(function* () {
        const limits = [0, 1, 2, 3, 7]
        const { text, distant } = yield* checkTrace(TRACE_PATHS.small!, limits)
        // The review's figures: threshold 0 leaves one distant reference (the first reuse of
        // 0x400100), where counting every reuse deeper than the head gave 41, 27, 27, 13, 13.
        const t0 = text(0, 0)
        assert.include(t0, "\n          0x400100:          114,            1\n")
        assert.include(t0, "\n          0x400140:           59,            0\n")
        assert.include(t0, "\n    0x7fff413f5bc0:           28,            0\n")
        assert.include(text(0, 2), "\n          0x400140:            7,            0\n")
        // One distant reference at threshold 0, whatever the limit, except limit 1: one line kept
        // means every reuse is of the head. (The model counts it even when its line is pruned
        // later; the report, like DynamoRIO's, then drops that line and its counts.)
        assert.deepStrictEqual(
          limits.map((l) => distant(0, l)),
          [1, 0, 1, 1, 1]
        )
        // Thresholds 1 and 2 count many (the data exercises the gate, also under pruning; a
        // limit of at most threshold + 1 leaves the gate on the tail, so nothing is distant).
        assert.isAbove(distant(1, 0), 50)
        assert.isAbove(distant(1, 3), 10)
        assert.isAbove(distant(2, 7), 50)
        assert.strictEqual(distant(2, 3), 0)
      }),
    60_000
  )

  it.effect(
    "drmemtrace.threadsig: every thread shard matches at thresholds 0, 1, 2 with limits 0, 2, 7",
    () =>
      Effect.gen(function* () {
        const { shards, distant } = yield* checkTrace(TRACE_PATHS.threadsig!, [0, 2, 7])
        assert.isAbove(shards, 1)
        // One distant reference per shard at threshold 0 (each shard reuses a line other than its head).
        assert.strictEqual(distant(0, 0), shards)
        assert.strictEqual(distant(0, 7), shards)
        assert.isAbove(distant(1, 0), 100_000)
        assert.isAbove(distant(1, 7), 10_000)
        assert.isAbove(distant(2, 7), 10_000)
      }),
    120_000
  )

  it("threshold 0: the first reuse of a line other than the head is distant, then none in that shard", () => {
    const L = (n: number) => BigInt(0x10000 + n * 64)
    // Lines a b a b c a d b: a's first reuse (depth 1) passes the head gate, which becomes NULL;
    // the gate stays NULL through later adds (d at 4 lines), so b at depth 3 is not distant.
    const seq = [0, 1, 0, 1, 2, 0, 3, 1]
    const thread = (tid: number) => S.thread(tid, [...seq.map((n) => S.read(L(n))), S.exit(tid)])
    const run = runEntriesSync(ReuseDistance.make({ distanceThreshold: 0 }), [thread(1), thread(2)])
    for (const shard of run.result.shards) {
      const distant = shard.topByDistantRefs
      assert.strictEqual(distant.distantRefs[0], 1)
      assert.strictEqual(u64(distant.hi[0]!, distant.lo[0]!), L(0))
      assert.deepStrictEqual(distant.distantRefs.slice(1), [0, 0, 0])
    }
    // Aggregated: one per shard, both on line a.
    assert.strictEqual(run.result.aggregate.topByDistantRefs.distantRefs[0], 2)
    // Threshold 1 on the same lines: the reuses at depth 1 are not distant (a and b are each the
    // gate there); a at depth 2 and b at depth 3 are.
    const one = runEntriesSync(ReuseDistance.make({ distanceThreshold: 1 }), [thread(1)])
    const t = one.result.aggregate.topByDistantRefs
    assert.deepStrictEqual(
      t.hi.map((hi, k) => [u64(hi, t.lo[k]!), t.refs[k], t.distantRefs[k]]),
      [
        [L(0), 3, 1],
        [L(1), 3, 1],
        [L(2), 1, 0],
        [L(3), 1, 0]
      ]
    )
  })
})
