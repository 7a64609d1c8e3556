/**
 * Tools that exist only for the benchmarks, each rebuildable in a worker
 * thread (a spec naming this module):
 *
 * - `noop`: touches nothing, so a run with it costs what the analyzer itself
 *   costs (reading, scheduling, dispatch, merge).
 * - `failing`: fails with a typed error at the first record whose input
 *   ordinal reaches `record`, carrying the time of the failure (`at`,
 *   milliseconds on the shared `performance.timeOrigin + now()` clock, which
 *   worker threads share with the main thread), so a benchmark can measure
 *   how long the run takes to end with its typed error.
 */
import * as Schema from "effect/Schema"
import * as Tool from "../../src/analyzer/Tool.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"

const Count = Schema.Struct({ records: Schema.Number })

/** A parallel tool that does nothing per record. */
export const noop = (): Tool.Tool<{ records: number }, typeof Count.Type, typeof Count.Type> =>
  Tool.withSpec(
    Tool.make<{ records: number }, typeof Count.Type, typeof Count.Type>({
      name: "noop",
      makeShard: () => ({ records: 0 }),
      processBatch: (s, _batch, start, end) => {
        s.records += end - start
        return undefined
      },
      finishShard: (s) => ({ records: s.records }),
      merge: (shards) => ({ records: shards.reduce((n, s) => n + s.result.records, 0) }),
      print: (r) => `noop: ${r.records} records\n`,
      shardResultSchema: Count,
      resultSchema: Count
    }),
    { module: import.meta.url, export: "noop", args: [] }
  )

/** The typed error of {@link failing}: where, and when on the shared clock. */
export class BenchFailure extends Schema.TaggedError<BenchFailure>()("BenchFailure", {
  shard: Schema.Number,
  record: Schema.Number,
  at: Schema.Number
}) {}

/** The shared clock: milliseconds, comparable between threads of one process. */
export const now = (): number => performance.timeOrigin + performance.now()

/** A parallel tool that fails at the first record whose input record ordinal is `record` or more. */
export const failing = (
  record: number
): Tool.Tool<{ shard: number; records: number }, typeof Count.Type, typeof Count.Type, BenchFailure> =>
  Tool.withSpec(
    Tool.make<{ shard: number; records: number }, typeof Count.Type, typeof Count.Type, BenchFailure>({
      name: "failing",
      makeShard: (info) => ({ shard: info.shardIndex, records: 0 }),
      processBatch: (s, batch, start, end, ctx) => {
        if (ctx.input >= 0) {
          const first = RecordBatch.firstRecordOrdinal(batch)
          if (first + end - 1 >= record) {
            const i = Math.max(start, record - first)
            return Tool.fail(new BenchFailure({ shard: s.shard, record: first + i, at: now() }), i)
          }
        }
        s.records += end - start
        return undefined
      },
      finishShard: (s) => ({ records: s.records }),
      merge: (shards) => ({ records: shards.reduce((n, s) => n + s.result.records, 0) }),
      print: (r) => `failing: ${r.records} records\n`,
      shardResultSchema: Count,
      resultSchema: Count,
      describeError: (e) => `planted failure on shard ${e.shard} at record ${e.record}`
    }),
    { module: import.meta.url, export: "failing", args: [record] }
  )
