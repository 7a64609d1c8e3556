/**
 * The cases of the benchmark suite (`bench/run.ts`): each reads a whole
 * trace directory one way and reports how many records it handled. One case
 * runs per child process (`bench/case.ts`), so its peak memory is its own.
 *
 * Groups:
 * - `read`: the inflate floor (every decompressed chunk pulled, nothing
 *   decoded) and read + decode, one input after another on the main thread.
 * - `schedule`: the scheduler (`Scheduler.make`) over every input, one fiber
 *   per output looping on `next` with a consumer that only counts records:
 *   consistent (2 outputs, thread-sharded analysis's mapping) and dynamic
 *   (4 outputs, DynamoRIO's defaults ordered by timestamps, as core-sharded
 *   analysis runs it, idles in batches of up to 4,096).
 * - `analyze`: `Analyzer.run` with one tool (a no-op tool or a standard one)
 *   on fibers or worker threads, thread-sharded or core-sharded.
 * - `fail`: a tool that fails half-way through (record 100,000 of a shard):
 *   the time from the failure to the run's typed error.
 * - `ceiling`: what two cores give on this machine, to read the 2-thread
 *   goal against: a 1-thread case run as two separate processes at once,
 *   each on half of the inputs (`Case.pairOf`; bench/run.ts starts both
 *   after their modules loaded and times the slower). Nothing is shared
 *   between the two, so no runtime of ours can split the same work over two
 *   threads faster.
 */
import * as Effect from "effect/Effect"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import type * as Tool from "../../src/analyzer/Tool.ts"
import * as Scheduler from "../../src/scheduler/Scheduler.ts"
import * as Registry from "../../src/tools/Registry.ts"
import { InputReader } from "../../src/trace/internal/inputReader.ts"
import { listInputs } from "../../src/trace/internal/listing.ts"
import { openSource } from "../../src/trace/internal/source.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { failing, noop, now } from "./tools.ts"

export type Group = "read" | "schedule" | "analyze" | "fail" | "ceiling"

export interface Outcome {
  /** Records the case handled (delivered by the reader, scheduler or analyzer). */
  readonly records: number
  /** Decompressed bytes (the floor), 0 elsewhere. */
  readonly bytes: number
  /** Failure cases: milliseconds from the tool's failure to the typed error reaching the caller. */
  readonly failureLatencyMs?: number | undefined
}

export interface Case {
  /** Unique, stable key (`--only` matches it). */
  readonly key: string
  readonly group: Group
  /** What runs, in a few words (the table's first column). */
  readonly label: string
  readonly run: (dir: string) => Promise<Outcome>
  /** Left out unless asked for (`--all`): it adds little the other cases do not show, at a high cost. */
  readonly extended?: boolean | undefined
  /** `ceiling` cases: the case run twice at once, in two processes, on the two halves of the inputs. */
  readonly pairOf?: string | undefined
}

// --- read ---------------------------------------------------------------

const inflateFloor = async (dir: string): Promise<Outcome> => {
  let bytes = 0
  for (const path of await listInputs(dir)) {
    const source = await openSource(path)
    source.stream()
    for (let c = await source.pull(); c !== undefined; c = await source.pull()) bytes += c.bytes.length
    await source.close()
  }
  return { records: 0, bytes }
}

const readDecode = async (dir: string): Promise<Outcome> => {
  let records = 0
  for (const [i, path] of (await listInputs(dir)).entries()) {
    const reader = new InputReader(await openSource(path), i)
    for (let b = await reader.next(); b !== undefined; b = await reader.next()) {
      records += RecordBatch.length(b)
      reader.recycle(b)
    }
    await reader.close()
  }
  return { records, bytes: 0 }
}

// --- schedule -------------------------------------------------------------

const schedule =
  (outputs: number, options: Scheduler.Options, next: Scheduler.NextOptions) =>
  (dir: string): Promise<Outcome> =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const inputs = yield* Trace.open(dir)
          const s = yield* Scheduler.make(inputs, outputs, options)
          const counts = yield* Effect.forEach(
            Array.from({ length: outputs }, (_, o) => o),
            (o) =>
              Effect.gen(function* () {
                let records = 0
                for (let step = yield* s.next(o, next); step._tag !== "Eof"; step = yield* s.next(o, next)) {
                  if (step._tag === "Records") records += step.end - step.start
                }
                return records
              }),
            { concurrency: "unbounded" }
          )
          return { records: counts.reduce((a, b) => a + b, 0), bytes: 0 }
        })
      )
    )

// --- analyze --------------------------------------------------------------

export interface AnalyzeConfig {
  readonly key: string
  readonly label: string
  readonly options: Omit<Analyzer.Options, "tools">
}

/** The configurations every parallel tool runs in. */
export const parallelConfigs: ReadonlyArray<AnalyzeConfig> = [
  { key: "fibers-thread", label: "fibers, thread-sharded", options: { backend: "fibers", mode: "thread-sharded" } },
  { key: "fibers-core", label: "fibers, core-sharded ×4", options: { backend: "fibers", mode: "core-sharded" } },
  {
    key: "threads1-thread",
    label: "1 thread, thread-sharded",
    options: { backend: "threads", mode: "thread-sharded", jobs: 1 }
  },
  {
    key: "threads2-thread",
    label: "2 threads, thread-sharded",
    options: { backend: "threads", mode: "thread-sharded", jobs: 2 }
  },
  {
    key: "threads1-core",
    label: "1 thread, core-sharded ×1",
    options: { backend: "threads", mode: "core-sharded", cores: 1 }
  },
  {
    key: "threads2-core",
    label: "2 threads, core-sharded ×2",
    options: { backend: "threads", mode: "core-sharded", cores: 2 }
  }
]

/** A serial-only tool (the cache simulator) runs in its default mode, core-serial over 4 cores. */
export const serialConfigs: ReadonlyArray<AnalyzeConfig> = [
  { key: "fibers-coreserial", label: "fibers, core-serial ×4", options: { backend: "fibers" } },
  { key: "threads1-coreserial", label: "1 thread, core-serial ×4", options: { backend: "threads" } }
]

const analyze =
  (makeTool: Effect.Effect<Tool.Any, unknown>, options: Omit<Analyzer.Options, "tools">) =>
  (dir: string): Promise<Outcome> =>
    Effect.runPromise(
      Effect.gen(function* () {
        const tool = yield* makeTool
        const result = yield* Analyzer.run(dir, { ...options, tools: [tool] })
        return { records: result.records, bytes: 0 }
      })
    )

const standard = (name: string) => Registry.make(name)

export const TOOLS: ReadonlyArray<{ readonly name: string; readonly make: Effect.Effect<Tool.Any, unknown> }> = [
  { name: "noop", make: Effect.sync(() => noop()) },
  { name: "basic_counts", make: standard("basic_counts") },
  { name: "histogram", make: standard("histogram") },
  { name: "reuse_distance", make: standard("reuse_distance") },
  { name: "cache_simulator", make: standard("cache_simulator") }
]

// --- fail -----------------------------------------------------------------

/** The record (of any shard) at which the failing tool fails. */
export const FAIL_AT_RECORD = 100_000

const failureLatency =
  (backend: Analyzer.Backend) =>
  (dir: string): Promise<Outcome> =>
    Effect.runPromise(
      Effect.gen(function* () {
        let seen = 0
        const error = yield* Analyzer.run(dir, {
          tools: [failing(FAIL_AT_RECORD)],
          backend,
          mode: "thread-sharded",
          jobs: 2
        }).pipe(
          Effect.map((): unknown => undefined),
          Effect.catch((e) =>
            Effect.sync((): unknown => {
              seen = now()
              return e
            })
          )
        )
        if (!(error instanceof Analyzer.AnalysisFailed)) {
          return yield* Effect.die(new Error(`expected AnalysisFailed, got ${String(error)}`))
        }
        const times = error.failures.flatMap((f) => {
          const at = (f.toolError as { readonly at?: unknown } | undefined)?.at
          return typeof at === "number" ? [at] : []
        })
        if (times.length === 0) return yield* Effect.die(new Error(`no planted failure in ${error.message}`))
        return { records: 0, bytes: 0, failureLatencyMs: seen - Math.min(...times) }
      })
    )

// --- the list ---------------------------------------------------------------

export const cases: ReadonlyArray<Case> = [
  { key: "read-inflate", group: "read", label: "inflate floor (no decoding)", run: inflateFloor },
  { key: "read-decode", group: "read", label: "read + decode", run: readDecode },
  {
    key: "schedule-consistent",
    group: "schedule",
    label: "scheduler, consistent ×2, no-op consumer",
    run: schedule(2, { mapping: "consistent" }, {})
  },
  {
    key: "schedule-dynamic1",
    group: "schedule",
    label: "scheduler, dynamic ×1, no-op consumer",
    run: schedule(1, { mapping: "dynamic", deps: "timestamps" }, { maxIdles: 4096 })
  },
  {
    key: "schedule-dynamic2",
    group: "schedule",
    label: "scheduler, dynamic ×2, no-op consumer",
    run: schedule(2, { mapping: "dynamic", deps: "timestamps" }, { maxIdles: 4096 })
  },
  {
    key: "schedule-consistent1",
    group: "schedule",
    label: "scheduler, consistent ×1, no-op consumer",
    run: schedule(1, { mapping: "consistent" }, {})
  },
  {
    key: "schedule-dynamic",
    group: "schedule",
    label: "scheduler, dynamic ×4, no-op consumer",
    run: schedule(4, { mapping: "dynamic", deps: "timestamps" }, { maxIdles: 4096 })
  },
  ...TOOLS.flatMap((tool) =>
    (tool.name === "cache_simulator" ? serialConfigs : parallelConfigs).map(
      (config): Case => ({
        key: `analyze-${tool.name}-${config.key}`,
        group: "analyze",
        label: `${tool.name}: ${config.label}`,
        run: analyze(tool.make, config.options),
        // Core-sharded runs cost what the dynamic scheduler costs, whatever the tool:
        // the no-op tool shows it in every configuration, basic_counts in two.
        extended:
          config.key.endsWith("-core") &&
          tool.name !== "noop" &&
          !(tool.name === "basic_counts" && (config.key === "fibers-core" || config.key === "threads2-core"))
      })
    )
  ),
  { key: "fail-fibers", group: "fail", label: "tool failure → typed error: fibers", run: failureLatency("fibers") },
  { key: "fail-threads", group: "fail", label: "tool failure → typed error: threads", run: failureLatency("threads") },
  ...TOOLS.filter((tool) => tool.name !== "cache_simulator").map(
    (tool): Case => ({
      key: `ceiling-${tool.name}`,
      group: "ceiling",
      label: `${tool.name}: 2 processes × 1 thread, half the inputs each`,
      run: analyze(tool.make, parallelConfigs.find((c) => c.key === "threads1-thread")!.options),
      pairOf: `analyze-${tool.name}-threads1-thread`
    })
  )
]

export const byKey = (key: string): Case | undefined => cases.find((c) => c.key === key)
