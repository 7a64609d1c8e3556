/**
 * A serial tool: it sees the one timestamp-interleaved stream of every
 * thread (DynamoRIO's serial analysis) and counts how often that stream
 * moves from one thread to another, and how many records each thread ran
 * between switches at most.
 *
 * `parallel: false` makes it serial-only: `Analyzer.run` then picks the
 * serial mode (or refuses a thread-sharded one), and its single shard gets
 * every record, with `ctx.input` saying which input each segment is from.
 */
import { Schema } from "effect"
import { Tool } from "memtrace"

export const Result = Schema.Struct({
  switches: Schema.Number,
  /** Per input ordinal: the segments (stretches between switches) it ran. */
  stretches: Schema.Array(Schema.Number),
  /** Per input ordinal: the longest stretch, in records. */
  longest: Schema.Array(Schema.Number)
})
export type Result = typeof Result.Type

interface State {
  last: number
  run: number
  switches: number
  stretches: Array<number>
  longest: Array<number>
}

const close = (s: State) => {
  if (s.last < 0) return
  s.stretches[s.last] = (s.stretches[s.last] ?? 0) + 1
  s.longest[s.last] = Math.max(s.longest[s.last] ?? 0, s.run)
}

export const make = () =>
  Tool.withSpec(
    Tool.make<State, Result, Result>({
      name: "switch_counter",
      parallel: false,
      makeShard: () => ({ last: -1, run: 0, switches: 0, stretches: [], longest: [] }),
      processBatch: (s, _batch, start, end, ctx) => {
        // ctx is reused between calls: read it now, never keep it.
        if (ctx.input !== s.last) {
          close(s)
          if (s.last >= 0) s.switches++
          s.last = ctx.input
          s.run = 0
        }
        s.run += end - start
        return undefined
      },
      finishShard: (s) => {
        close(s)
        const n = s.stretches.length
        return {
          switches: s.switches,
          stretches: Array.from({ length: n }, (_, i) => s.stretches[i] ?? 0),
          longest: Array.from({ length: n }, (_, i) => s.longest[i] ?? 0)
        }
      },
      merge: (shards) => shards[0]!.result,
      print: (r) =>
        [
          "Switch counter tool results:",
          `${r.switches} switches between threads in the serial stream`,
          ...r.stretches.map((n, i) => `input ${i}: ${n} stretches, longest ${r.longest[i]} records`),
          ""
        ].join("\n"),
      shardResultSchema: Result,
      resultSchema: Result
    }),
    { module: import.meta.url, export: "make", args: [] }
  )
