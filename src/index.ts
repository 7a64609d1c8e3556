/**
 * memtrace: read, schedule and analyze DynamoRIO drmemtrace traces from an
 * Effect 4 program, with DynamoRIO's semantics and DynamoRIO-identical tool
 * output. This is the package root: every public module, as a namespace.
 *
 * **When to use**: `import { Analyzer, Registry, Trace } from "memtrace"`.
 * Start with `docs/guides/` (write a tool, drive the scheduler, migrate a
 * drmemtrace command line) and `examples/`.
 *
 * **Details** — the layers, bottom up:
 * - reading: {@link Trace} (open a directory or file as inputs pulling
 *   {@link RecordBatch}es), {@link Record} (record and marker types),
 *   {@link Synthetic} (build small traces), {@link Info} (what a trace
 *   holds), {@link TraceWriter} (write traces), {@link TraceError};
 * - scheduling: {@link Scheduler} (DynamoRIO's `scheduler_t`: consistent,
 *   serial and dynamic mappings) and {@link SchedulerError};
 * - analysis: {@link Tool} (what a tool is), {@link Analyzer} (running tools
 *   on fibers or worker threads, failure policy, timeouts) and
 *   {@link AnalyzerError};
 * - the standard tools ({@link BasicCounts}, {@link Histogram},
 *   {@link ReuseDistance}, {@link ReuseTime}, {@link SyscallMix},
 *   {@link View}, {@link CacheSimulator}, {@link TlbSimulator},
 *   {@link ScheduleStats}, {@link InvariantChecker}) and {@link Registry}, which builds them by their
 *   DynamoRIO names;
 * - {@link Report}: the self-contained HTML schedule report of a run;
 * - {@link Cluster}: thread-sharded runs across machines on effect/cluster
 *   (PostgreSQL storage), with {@link ShardAnalysis} (the shard entity) and
 *   {@link ClusterError}.
 *
 * **Gotchas**
 * - Node runs the TypeScript sources directly (no build): use Node ≥ 22.19
 *   (the project pins 24 through the `node` npm package; run scripts with
 *   `npx node file.ts`).
 * - The scheduler's pure core (`src/scheduler/internal/`) is not exported:
 *   the {@link Scheduler} module is its public face.
 *
 * @since 0.1.0
 */
export * as Analyzer from "./analyzer/Analyzer.ts"
export * as AnalyzerError from "./analyzer/AnalyzerError.ts"
export * as Tool from "./analyzer/Tool.ts"
/** The schema of the CLI's `--json` output (`Json.AnalyzeJson`), to decode it from another program. */
export * as Json from "./cli/Json.ts"
export * as Cluster from "./cluster/Cluster.ts"
export * as ClusterError from "./cluster/ClusterError.ts"
export * as ShardAnalysis from "./cluster/ShardAnalysis.ts"
export * as Report from "./report/Report.ts"
export * as Scheduler from "./scheduler/Scheduler.ts"
export * as SchedulerError from "./scheduler/SchedulerError.ts"
export * as BasicCounts from "./tools/BasicCounts.ts"
export * as CacheSimulator from "./tools/CacheSimulator.ts"
export * as Histogram from "./tools/Histogram.ts"
export * as InvariantChecker from "./tools/InvariantChecker.ts"
export * as Registry from "./tools/Registry.ts"
export * as ReuseDistance from "./tools/ReuseDistance.ts"
export * as ReuseTime from "./tools/ReuseTime.ts"
export * as ScheduleStats from "./tools/ScheduleStats.ts"
export * as SyscallMix from "./tools/SyscallMix.ts"
export * as TlbSimulator from "./tools/TlbSimulator.ts"
export * as View from "./tools/View.ts"
export * as Filter from "./trace/Filter.ts"
export * as Info from "./trace/Info.ts"
export * as Record from "./trace/Record.ts"
export * as RecordBatch from "./trace/RecordBatch.ts"
export * as Synthetic from "./trace/Synthetic.ts"
export * as Trace from "./trace/Trace.ts"
export * as TraceError from "./trace/TraceError.ts"
export * as TraceWriter from "./trace/TraceWriter.ts"
