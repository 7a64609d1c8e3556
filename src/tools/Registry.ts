/**
 * The standard tools by their DynamoRIO names (`-tool basic_counts:histogram`),
 * each built with a {@link Tool.Spec} so that worker threads can rebuild it.
 *
 * **When to use**: to turn a tool name and its options into a tool value (the
 * CLI does); to list the available names.
 *
 * **Gotchas**: options are plain JSON objects (they travel to worker threads),
 * named as the tool modules name them (`lineSize`, not DynamoRIO's
 * `line_size`): an option the tool does not take is a {@link ToolOptionError};
 * unknown names fail with {@link UnknownTool} listing the available ones. A
 * tool from a module's own `make` has no spec: only `Registry` tools run on
 * worker threads.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Tool from "../analyzer/Tool.ts"
import * as BasicCounts from "./BasicCounts.ts"
import * as CacheSimulator from "./CacheSimulator.ts"
import * as Histogram from "./Histogram.ts"
import * as InvariantChecker from "./InvariantChecker.ts"
import * as ReuseDistance from "./ReuseDistance.ts"
import * as ReuseTime from "./ReuseTime.ts"
import * as ScheduleStats from "./ScheduleStats.ts"
import * as SyscallMix from "./SyscallMix.ts"
import * as TlbSimulator from "./TlbSimulator.ts"
import * as View from "./View.ts"

/**
 * A tool name that is not one of ours.
 *
 * @category errors
 */
export class UnknownTool extends Schema.TaggedError<UnknownTool>()("UnknownTool", {
  name: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `unknown tool "${this.name}"; available tools: ${this.available.join(", ")}`
  }
}

/**
 * A tool's options were rejected by the tool.
 *
 * @category errors
 */
export class ToolOptionError extends Schema.TaggedError<ToolOptionError>()("ToolOptionError", {
  tool: Schema.String,
  message: Schema.String
}) {}

type Options = Record<string, unknown>

// Constructors that throw on bad options (a RangeError for a bad line size)
// are wrapped so the throw becomes a ToolOptionError, not a defect.
const sync = (f: () => Tool.Any) => Effect.try({ try: f, catch: (e) => e })

const builders: Record<string, (options: Options) => Effect.Effect<Tool.Any, unknown>> = {
  basic_counts: () => sync(() => BasicCounts.make()),
  histogram: (o) => sync(() => Histogram.make(o)),
  reuse_distance: (o) => sync(() => ReuseDistance.make(o)),
  reuse_time: (o) => sync(() => ReuseTime.make(o)),
  syscall_mix: () => sync(() => SyscallMix.make()),
  schedule_stats: (o) => sync(() => ScheduleStats.make(o)),
  invariant_checker: (o) => sync(() => InvariantChecker.make(o)),
  cache_simulator: (o) => CacheSimulator.make(o),
  TLB: (o) => TlbSimulator.make(o),
  view: (o) => sync(() => View.make(o))
}

/** The options each tool takes (its `defaults`, and the options without a default). */
const optionKeys: Record<string, ReadonlyArray<string>> = {
  basic_counts: [],
  histogram: Object.keys(Histogram.defaults),
  reuse_distance: Object.keys(ReuseDistance.defaults),
  reuse_time: Object.keys(ReuseTime.defaults),
  syscall_mix: [],
  schedule_stats: Object.keys(ScheduleStats.defaults),
  invariant_checker: Object.keys(InvariantChecker.defaults),
  cache_simulator: [...Object.keys(CacheSimulator.defaults), "outputCpuids"],
  TLB: [...Object.keys(TlbSimulator.defaults), "outputCpuids"],
  view: [...Object.keys(View.defaults), "write"]
}

/**
 * Names of the standard tools, as DynamoRIO spells them.
 *
 * @category registry
 */
export const names: ReadonlyArray<string> = Object.keys(builders)

/**
 * Builds the standard tool `name` with `options`.
 *
 * @category registry
 */
export const make = (name: string, options: Options = {}): Effect.Effect<Tool.Any, UnknownTool | ToolOptionError> => {
  const build = Object.hasOwn(builders, name) ? builders[name] : undefined
  if (build === undefined) return Effect.fail(new UnknownTool({ name, available: [...names] }))
  // A misspelt option (DynamoRIO's line_size for lineSize) would silently take its default.
  const known = optionKeys[name]!
  const unknown = Object.keys(options).filter((k) => !known.includes(k))
  if (unknown.length > 0) {
    return Effect.fail(
      new ToolOptionError({
        tool: name,
        message: `${name}: unknown option ${unknown[0]} (${known.length > 0 ? `options: ${known.join(", ")}` : "it takes none"})`
      })
    )
  }
  return build(options).pipe(
    Effect.mapError((e) => new ToolOptionError({ tool: name, message: e instanceof Error ? e.message : String(e) })),
    Effect.map((tool) => Tool.withSpec(tool, { module: import.meta.url, export: "makeSync", args: [name, options] }))
  )
}

/**
 * {@link make}, run synchronously (what a worker thread calls to rebuild a tool).
 *
 * @category registry
 */
export const makeSync = (name: string, options: Options = {}): Tool.Any => Effect.runSync(make(name, options))
