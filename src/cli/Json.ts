/**
 * The `--json` document of `memtrace analyze`: one JSON object with the run's
 * mode, workers and timings, every tool's merged result (with `--json-shards`
 * also its per-shard results; each encoded with the tool's own Schema), the
 * scheduler's statistics per output in scheduled runs, load balancing's waits
 * and sleeps when the run balanced load, and the failures tolerated under
 * `--failure continue`.
 *
 * **When to use**: decode the CLI's stdout with {@link AnalyzeJson} to read
 * results from another program; `docs/reference/json.md` describes each key.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type * as Analyzer from "../analyzer/Analyzer.ts"
import { ShardFailure } from "../analyzer/AnalyzerError.ts"
import type * as Tool from "../analyzer/Tool.ts"

/** DynamoRIO's `schedule_statistic_t` names, in order. @category models */
export const STATISTICS = [
  "switchInputToInput",
  "switchInputToIdle",
  "switchIdleToInput",
  "switchNop",
  "quantumPreempts",
  "directSwitchAttempts",
  "directSwitchSuccesses",
  "migrations",
  "runqueueSteals",
  "runqueueRebalances",
  "hitOutputLimit",
  "kernelSwitchSequenceInjections",
  "kernelSyscallSequenceInjections",
  "canonicalizedAddresses"
] as const

const Statistics = Schema.Struct(
  Object.fromEntries(STATISTICS.map((k) => [k, Schema.Number])) as {
    [K in (typeof STATISTICS)[number]]: typeof Schema.Number
  }
)

/** @category schemas */
export const AnalyzeJson = Schema.Struct({
  mode: Schema.Literals(["thread-sharded", "serial", "core-sharded", "core-serial"]),
  workers: Schema.Number,
  /** Trace records handed to the tools (synthetic idle/wait records not counted). */
  records: Schema.Number,
  /** Wall time of the analysis, in milliseconds. */
  elapsedMs: Schema.Number,
  tools: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      /** The merged result, encoded with the tool's `resultSchema`. */
      result: Schema.Unknown,
      /**
       * Per-shard results, encoded with the tool's `shardResultSchema`: the
       * merge's input, present only when asked for (`--json-shards`).
       */
      shards: Schema.optional(
        Schema.Array(
          Schema.Struct({
            shardIndex: Schema.Number,
            shardType: Schema.Literals(["thread", "core"]),
            result: Schema.Unknown
          })
        )
      )
    })
  ),
  /** Scheduled runs (serial, core-sharded, core-serial): each output's statistics, records and idles. */
  schedule: Schema.optional(
    Schema.Array(
      Schema.Struct({
        output: Schema.Number,
        records: Schema.Number,
        idles: Schema.Number,
        waits: Schema.Number,
        statistics: Statistics
      })
    )
  ),
  /** Interval snapshots (`--interval-microseconds` / `--interval-instr-count`), per tool. */
  intervals: Schema.optional(
    Schema.Struct({
      kind: Schema.Literals(["whole-trace", "per-shard"]),
      tools: Schema.Array(
        Schema.Struct({
          name: Schema.String,
          lists: Schema.Array(
            Schema.Struct({
              shardIndex: Schema.Number,
              snapshots: Schema.Array(
                Schema.Struct({
                  shardId: Schema.Number,
                  intervalId: Schema.Number,
                  /** Exact decimal (timestamps exceed 2^53). */
                  endTimestamp: Schema.String,
                  instrCountCumulative: Schema.Number,
                  instrCountDelta: Schema.Number,
                  /** The tool's snapshot, encoded with its `snapshotSchema`. */
                  data: Schema.Unknown
                })
              )
            })
          )
        })
      )
    })
  ),
  /**
   * Core-sharded runs that balanced load (`-max_load_imbalance` ≥ 1, dynamic
   * scheduling): per worker, the waits for a slower worker and the 1 ms sleeps.
   */
  loadBalance: Schema.optional(
    Schema.Struct({
      maxImbalance: Schema.Number,
      cadence: Schema.Number,
      waits: Schema.Array(Schema.Number),
      sleeps: Schema.Array(Schema.Number)
    })
  ),
  failures: Schema.Array(ShardFailure)
})

/** @category models */
export type AnalyzeJson = typeof AnalyzeJson.Type

/**
 * The JSON document of a run (already encoded: plain JSON values). Per-shard
 * results are left out unless `options.shards`: they are the tools' merge
 * inputs, and can be far larger than the results (basic_counts keeps every
 * unique PC of every shard: 42 MB for 30 copies of threadsig, 0.3 MB without).
 *
 * @category encoding
 */
export const encode = (
  result: Analyzer.AnalysisResult,
  tools: ReadonlyArray<Tool.Any>,
  names: ReadonlyArray<string>,
  options?: { readonly shards?: boolean | undefined }
): unknown =>
  Schema.encodeUnknownSync(AnalyzeJson)({
    mode: result.mode,
    workers: result.workers,
    records: result.records,
    elapsedMs: result.elapsedMs,
    tools: result.tools.map((t, i) => ({
      name: names[i] ?? t.name,
      result: Schema.encodeUnknownSync(Schema.toCodecJson(tools[i]!.resultSchema))(t.result),
      ...(options?.shards
        ? {
            shards: t.shards.map((s) => ({
              shardIndex: s.shardIndex,
              shardType: s.shardType,
              result: Schema.encodeUnknownSync(Schema.toCodecJson(tools[i]!.shardResultSchema))(s.result)
            }))
          }
        : {})
    })),
    ...(result.schedule !== undefined
      ? {
          schedule: result.schedule.map((o) => {
            let records = 0
            let idles = 0
            let waits = 0
            for (const [input, n] of o.runs) {
              if (input >= 0) records += n
              else if (input === -1) idles += n
              else waits += n
            }
            return {
              output: o.output,
              records,
              idles,
              waits,
              statistics: Object.fromEntries(STATISTICS.map((k, i) => [k, o.stats[i] ?? 0]))
            }
          })
        }
      : {}),
    ...(result.intervals !== undefined
      ? {
          intervals: {
            kind: result.intervals.kind,
            tools: result.intervals.tools.map((t, i) => {
              const schema = tools[i]?.intervals?.snapshotSchema
              const encode =
                schema === undefined ? (x: unknown) => x : Schema.encodeUnknownSync(Schema.toCodecJson(schema))
              return {
                name: names[i] ?? t.name,
                lists: t.lists.map((l) => ({
                  shardIndex: l.shardIndex,
                  snapshots: l.snapshots.map((s) => ({
                    shardId: s.shardId,
                    intervalId: s.intervalId,
                    endTimestamp: s.endTimestamp.toString(),
                    instrCountCumulative: s.instrCountCumulative,
                    instrCountDelta: s.instrCountDelta,
                    data: encode(s.data)
                  }))
                }))
              }
            })
          }
        }
      : {}),
    ...(result.loadBalance !== undefined ? { loadBalance: result.loadBalance } : {}),
    failures: result.failures
  })
