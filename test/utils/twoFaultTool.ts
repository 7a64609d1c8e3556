/** Test tool: a record counter that fails (Tool.fail) on one shard and soft-exits (Tool.stop) on another. */
import * as Schema from "effect/Schema"
import * as Tool from "../../src/analyzer/Tool.ts"

const Shard = Schema.Struct({ shard: Schema.Number, records: Schema.Number })
type S = { shard: number; records: number }

export const make = (failShard: number, stopShard: number) =>
  Tool.withSpec(
    Tool.make<S, typeof Shard.Type, ReadonlyArray<typeof Shard.Type>, string>({
      name: "twofault",
      makeShard: (info) => ({ shard: info.shardIndex, records: 0 }),
      processBatch: (s, _b, start, end) => {
        if (s.shard === failShard && s.records + end - start >= 10) return Tool.fail(`fail on ${s.shard}`, start)
        if (s.shard === stopShard && s.records + end - start >= 10) return Tool.stop()
        s.records += end - start
        return undefined
      },
      finishShard: (s) => ({ shard: s.shard, records: s.records }),
      merge: (shards) => shards.map((o) => o.result),
      print: (r) => r.map((x) => `shard ${x.shard}: ${x.records}`).join("\n"),
      shardResultSchema: Shard,
      resultSchema: Schema.Array(Shard),
      describeError: (e) => e
    }),
    { module: import.meta.url, export: "make", args: [failShard, stopShard] }
  )
