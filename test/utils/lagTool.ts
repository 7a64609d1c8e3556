/**
 * A test tool for load balancing: counts records and instructions per shard
 * and, on one shard, sleeps a while on every segment of trace records, so
 * that the worker owning that shard falls behind the others (worker-thread
 * backend: the sleep blocks only that thread).
 */
import * as Schema from "effect/Schema"
import * as Tool from "../../src/analyzer/Tool.ts"
import { isInstr } from "../../src/trace/Record.ts"

export const LagCount = Schema.Struct({
  shard: Schema.Number,
  records: Schema.Number,
  instrs: Schema.Number,
  idles: Schema.Number
})
export type LagCount = typeof LagCount.Type

interface State {
  shard: number
  records: number
  instrs: number
  idles: number
}

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/** Counts; shard `slowShard` sleeps `msPerSegment` on each segment of trace records. */
export const lagging = (slowShard: number, msPerSegment: number) =>
  Tool.make<State, LagCount, ReadonlyArray<LagCount>, never>({
    name: "lagging",
    makeShard: (info) => ({ shard: info.shardIndex, records: 0, instrs: 0, idles: 0 }),
    processBatch: (s, batch, start, end, ctx) => {
      if (ctx.input < 0) {
        s.idles += end - start
        return undefined
      }
      if (s.shard === slowShard) sleepMs(msPerSegment)
      for (let i = start; i < end; i++) if (isInstr(batch.type[i]!)) s.instrs++
      s.records += end - start
      return undefined
    },
    finishShard: (s) => ({ ...s }),
    merge: (shards) => shards.map((o) => o.result),
    print: () => "",
    shardResultSchema: LagCount,
    resultSchema: Schema.Array(LagCount),
    describeError: () => ""
  })

/** {@link lagging}, rebuildable in a worker thread. */
export const laggingSpec = (slowShard: number, msPerSegment: number) =>
  Tool.withSpec(lagging(slowShard, msPerSegment), {
    module: import.meta.url,
    export: "lagging",
    args: [slowShard, msPerSegment]
  })
