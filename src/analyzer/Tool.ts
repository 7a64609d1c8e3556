/**
 * What an analysis tool is: a typed value with a per-shard state machine over
 * record batches, a merge of shard results, a printer in DynamoRIO's text
 * layout and Schemas for its results. The analyzer drives it; a tool never sees
 * a scheduler, a fiber or a worker thread.
 *
 * **When to use**: build your own tool with {@link make}; run it with
 * `Analyzer.run`. The standard tools (`src/tools/`) are values of this type.
 *
 * **Details**
 * - A shard is a thread (thread-sharded runs, shard index = input ordinal) or a
 *   core (core-sharded runs, shard index = output ordinal); in serial runs the
 *   one shard sees the interleaved stream of every input.
 * - `processBatch(state, batch, start, end, ctx)` is the hot path: loop over the
 *   typed arrays of `batch` from `start` to `end`. Return `undefined` to go on,
 *   {@link stop} for DynamoRIO's soft exit (the tool is done, not failed), or
 *   {@link fail} with the typed error and the batch index of the failing
 *   record. `ctx` is reused between calls: read it, do not keep it.
 * - Shard results cross worker threads (and, later, machines) encoded with
 *   `shardResultSchema`; `merge` receives them decoded, in shard order.
 * - Every record of one shard goes to one `processBatch` caller, in order.
 *
 * **Gotchas**
 * - Batches are read-only to tools and must not be kept after `processBatch`
 *   returns: the analyzer reuses them (recycled reader batches, prefilled
 *   idle batches).
 * - A tool that throws from `processBatch` is treated as a defect and reported
 *   as such (with the shard and record), not swallowed.
 * - `makeShard` runs on the worker that owns the shard (maybe another thread):
 *   keep it free of closures over main-thread state.
 *
 * @since 0.1.0
 */
import type * as Schema from "effect/Schema"
import type { RecordBatch } from "../trace/RecordBatch.ts"

/**
 * How a run splits records into shards.
 *
 * @category models
 */
export type ShardType = "thread" | "core"

/**
 * What a shard is, given to `makeShard`.
 *
 * @category models
 */
export interface ShardInfo {
  /** Input ordinal (thread shards) or output/core ordinal (core shards); 0 for serial runs. */
  readonly shardIndex: number
  readonly shardType: ShardType
  /** True when this shard is the single interleaved stream of a serial run. */
  readonly serial: boolean
  /** Number of outputs (cores) of the run; tools that model cores read it. */
  readonly outputCount: number
  /**
   * DynamoRIO's `get_output_cpuid()` of a core shard: the traced cpu id when
   * the run replays the as-traced schedule, else the core ordinal. Undefined
   * for thread shards and serial streams.
   */
  readonly cpuid?: number | undefined
  /**
   * The same per output, for the single stream of a core-serial run (whose
   * records come from every core): `outputCpuids[ctx.output]`.
   */
  readonly outputCpuids?: ReadonlyArray<number> | undefined
  /**
   * Set in serial runs (one stream interleaving every shard, DynamoRIO's
   * serial mode): how many shards of this tool the stream has started so
   * far, this one included. DynamoRIO's tools see it as the size of their
   * map of shards, and some checks change once it passes 1.
   */
  readonly serialShards?: (() => number) | undefined
}

/**
 * Per-call context of `processBatch`, owned and reused by the analyzer.
 *
 * @category models
 */
export interface BatchContext {
  /** Output (core) ordinal the batch was scheduled on; 0 in thread-sharded runs. */
  output: number
  /** Input ordinal the batch came from; -1 for synthetic idle/wait batches. */
  input: number
  /** Output record ordinal of `batch[start]` minus one (records the output delivered before it). */
  outputRecordsBefore: number
  /** Input record ordinal of `batch[start]` minus one (0 when synthetic). */
  inputRecordsBefore: number
}

/**
 * A core-serial lockstep span, as `processLockstep` receives it: `rounds`
 * rounds, each one record of every step in step order; the record of step
 * `j` in round `i` is `batches[j]` at `starts[j] + i`, delivered on output
 * `outputs[j]`. Owned and reused by the analyzer.
 *
 * @category models
 */
export interface LockstepSpan {
  readonly batches: ReadonlyArray<RecordBatch>
  readonly starts: ReadonlyArray<number>
  readonly outputs: ReadonlyArray<number>
  /** Steps per round (one per output). */
  readonly steps: number
  readonly rounds: number
  /** Set by a tool that returns a signal: `round × steps + step` of the record the signal is about. */
  stoppedAt: number
}

/**
 * A shard's result tagged with where it came from, as `merge` receives it.
 *
 * @category models
 */
export interface ShardOutcome<R> {
  readonly shardIndex: number
  readonly shardType: ShardType
  readonly result: R
}

/**
 * What `merge` is told besides the shard results.
 *
 * @category models
 */
export interface MergeContext {
  /**
   * DynamoRIO's schedule statistics (`schedule_statistic_t` order) of each
   * output, in scheduled runs (serial, core-sharded, core-serial); undefined
   * in thread-sharded runs.
   */
  readonly schedulerStats?: ((output: number) => ReadonlyArray<number> | undefined) | undefined
  /**
   * Failures tolerated under `failure: "continue"` that concern this tool
   * (its own, and those of reading or of whole workers): its results then
   * lack those shards, which a summary such as "checks passed" must not hide.
   */
  readonly failedShards?: number | undefined
}

/**
 * Soft exit: the tool has seen all it wants of this shard.
 *
 * @category signals
 */
export interface Stop {
  readonly _tag: "Stop"
}

/**
 * A typed tool failure on the record at `index` of the current batch.
 *
 * @category signals
 */
export interface Fail<E> {
  readonly _tag: "Fail"
  readonly error: E
  readonly index: number
}

/** @category signals */
export type Signal<E> = Stop | Fail<E>

const stopSignal: Stop = { _tag: "Stop" }

/** DynamoRIO's soft exit (`*_memref` returning false with an empty error). @category signals */
export const stop = (): Stop => stopSignal

/** A typed failure at record `index` of the batch being processed. @category signals */
export const fail = <E>(error: E, index: number): Fail<E> => ({ _tag: "Fail", error, index })

/**
 * How to rebuild a tool in another thread or process: `import(module)`, then
 * call its export `export` with `args` (JSON-serialisable).
 *
 * @category models
 */
export interface Spec {
  readonly module: string
  readonly export: string
  readonly args: ReadonlyArray<unknown>
}

/**
 * DynamoRIO's `WHOLE_TRACE_SHARD_ID`: the shard id of whole-trace interval
 * snapshots (serial runs, and time intervals merged across shards).
 *
 * @category intervals
 */
export const WHOLE_TRACE_SHARD_ID = -1

/**
 * One interval snapshot: the fields DynamoRIO's framework sets on an
 * `interval_state_snapshot_t`, and the tool's own `data`.
 *
 * @category intervals
 */
export interface IntervalSnapshot<S> {
  /** The shard's tid (thread shards), worker (core shards), or {@link WHOLE_TRACE_SHARD_ID}. */
  readonly shardId: number
  readonly intervalId: number
  /** Time intervals: the exclusive end (a multiple of the interval); instruction intervals: the last timestamp seen. */
  readonly endTimestamp: bigint
  readonly instrCountCumulative: number
  readonly instrCountDelta: number
  readonly data: S
}

/**
 * Optional interval hooks of a tool (DynamoRIO's `generate_shard_interval_snapshot`,
 * `combine_interval_snapshots`, `print_interval_results`). Snapshots are plain
 * data, encoded with `snapshotSchema` when they cross threads.
 *
 * @category intervals
 */
export interface Intervals<State, S> {
  /** The shard's state at the end of interval `intervalId` (cumulative); undefined: no snapshot. */
  readonly snapshot: (state: State, intervalId: number) => S | undefined
  /**
   * Combines the latest snapshot of every shard (undefined for shards with none
   * yet) into a whole-trace one; needed for time intervals across shards and
   * for serial runs where the tool keeps several shards.
   */
  readonly combine?: ((latest: ReadonlyArray<IntervalSnapshot<S> | undefined>, endTimestamp: bigint) => S) | undefined
  /** DynamoRIO's `print_interval_results` text for one list (one shard, or the whole trace). */
  readonly print: (snapshots: ReadonlyArray<IntervalSnapshot<S>>) => string
  readonly snapshotSchema: Schema.Codec<S, any>
}

/**
 * An analysis tool.
 *
 * @category models
 */
export interface Tool<State, ShardResult, Result, E = never> {
  readonly name: string
  /** DynamoRIO's `preferred_shard_type()`. */
  readonly preferredShardType: ShardType
  /** DynamoRIO's `parallel_shard_supported()`: false means serial-only (view, cache simulator). */
  readonly parallel: boolean
  /**
   * DynamoRIO's `initialize_shard_type()`: told the run's shard type once,
   * before any shard starts; an error refuses the run (it fails with a
   * `ToolInit` failure, no shard read).
   */
  readonly initializeShardType?: ((shardType: ShardType) => E | undefined) | undefined
  readonly makeShard: (info: ShardInfo) => State
  readonly processBatch: (
    state: State,
    batch: RecordBatch,
    start: number,
    end: number,
    ctx: BatchContext
  ) => Signal<E> | undefined
  /**
   * Optional fast path of a serial tool in core-serial runs: the same as one
   * `processBatch` call per record of `span`, in span order, with
   * `ctx.output` the step's output. Only for tools that read no other `ctx`
   * field. A signal stops the span at `span.stoppedAt` (set it); a throw is
   * reported at the span's first record.
   */
  readonly processLockstep?: ((state: State, span: LockstepSpan) => Signal<E> | undefined) | undefined
  /** Ends a shard; may fail (DynamoRIO's `parallel_shard_exit` returning false). */
  readonly finishShard: (state: State) => ShardResult | Fail<E>
  /** Combines the shard results (in shard order); `context` carries what the run knows beyond them. */
  readonly merge: (shards: ReadonlyArray<ShardOutcome<ShardResult>>, context?: MergeContext) => Result
  /** DynamoRIO's `print_results()` text, with a trailing newline. */
  readonly print: (result: Result) => string
  readonly shardResultSchema: Schema.Codec<ShardResult, any>
  readonly resultSchema: Schema.Codec<Result, any>
  /** How a typed error reads in a one-line failure report (a method: bivariant in E, so any tool fits {@link Any}). */
  describeError(error: E): string
  /** How to rebuild this tool in a worker thread; tools without one run only on fibers. */
  readonly spec?: Spec | undefined
  /** Interval snapshots (`intervalMicroseconds` / `intervalInstrCount` runs); tools without them take no part. */
  readonly intervals?: Intervals<State, any> | undefined
}

/**
 * Any tool, for heterogeneous lists.
 *
 * @category models
 */
export type Any = Tool<any, any, any, any>

/**
 * Builds a tool value (identity with inference and defaults).
 *
 * @category constructors
 */
export const make = <State, ShardResult, Result, E = never>(
  tool: Omit<Tool<State, ShardResult, Result, E>, "describeError" | "parallel" | "preferredShardType"> & {
    readonly describeError?: (error: E) => string
    readonly parallel?: boolean
    readonly preferredShardType?: ShardType
  }
): Tool<State, ShardResult, Result, E> => ({
  parallel: true,
  preferredShardType: "thread",
  describeError: (e: E) => String(e),
  ...tool
})

/**
 * Attaches the recipe that rebuilds `tool` elsewhere: `module` is a module URL
 * (use `import.meta.url` of the module exporting the constructor).
 *
 * @category constructors
 */
export const withSpec = <T extends Any>(tool: T, spec: Spec): T => ({ ...tool, spec })

/** DynamoRIO's separator between tools' printed results: 75 `=`. @category formatting */
export const SEPARATOR = "=".repeat(75)
