/**
 * A per-thread record counter that fails on purpose, to show what the
 * analyzer does with failing tools: it returns a typed error on the given
 * record of the given thread (`Tool.fail`), and can be made slow (a busy
 * wait every batch) to run into a timeout.
 */
import { Schema } from "effect"
import { Tool } from "memtrace"

/** The tool's own typed error: kept, JSON-encoded, in the failure report. */
export class PickyError extends Schema.TaggedError<PickyError>()("PickyError", {
  tid: Schema.Number,
  record: Schema.Number
}) {}

export const Count = Schema.Struct({ tid: Schema.Number, records: Schema.Number })
export type Count = typeof Count.Type

export interface Options {
  /** Fail on this thread… */
  readonly failTid?: number
  /** …at this record ordinal of the thread (1-based). */
  readonly failRecord?: number
  /** Busy-wait this many milliseconds per batch. */
  readonly slowMs?: number
}

interface State {
  tid: number
  records: number
}

export const make = (options: Options = {}) =>
  Tool.withSpec(
    Tool.make<State, Count, ReadonlyArray<Count>, PickyError>({
      name: "picky",
      makeShard: () => ({ tid: 0, records: 0 }),
      processBatch: (s, batch, start, end, ctx) => {
        if (options.slowMs !== undefined) {
          const until = Date.now() + options.slowMs
          while (Date.now() < until) {}
        }
        if (s.tid === 0) s.tid = batch.tid[start]!
        if (s.tid === options.failTid && options.failRecord !== undefined) {
          // ctx.inputRecordsBefore + 1 is the thread's record ordinal of batch[start].
          const at = options.failRecord - (ctx.inputRecordsBefore + 1)
          if (at >= 0 && at < end - start) {
            s.records += at
            return Tool.fail(new PickyError({ tid: s.tid, record: options.failRecord }), start + at)
          }
        }
        s.records += end - start
        return undefined
      },
      finishShard: (s) => ({ ...s }),
      merge: (shards) => shards.map((o) => o.result),
      print: (r) => `${r.map((c) => `tid ${c.tid}: ${c.records} records`).join("\n")}\n`,
      shardResultSchema: Count,
      resultSchema: Schema.Array(Count),
      describeError: (e) => `picky refused record ${e.record} of thread ${e.tid}`
    }),
    { module: import.meta.url, export: "make", args: [options] }
  )
