/**
 * What `Analyzer.run` does with options it cannot use and with callbacks that
 * throw: a typed refusal before anything is opened, or a failure that names
 * the worker; never a hang, a false stall, a spin or an aborted process.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Tool from "../../src/analyzer/Tool.ts"
import * as Registry from "../../src/tools/Registry.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { counter, counterSpec } from "../utils/faultTools.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

describe("Analyzer options", () => {
  it.effect("values it cannot use are AnalyzerOptionError naming the option, before any input is opened", () =>
    Effect.gen(function* () {
      const bad: ReadonlyArray<[string, Partial<Analyzer.Options>]> = [
        ["mode", { mode: "bogus" as Analyzer.Mode }],
        ["failure", { failure: "bogus" as Analyzer.FailurePolicy }],
        ["backend", { backend: "bogus" as Analyzer.Backend }],
        ["stallTimeout", { stallTimeout: 0 }],
        ["stallTimeout", { stallTimeout: -1 }],
        ["stallTimeout", { stallTimeout: Number.NaN }],
        ["stallTimeout", { stallTimeout: "abc" as Duration.Input }],
        ["runTimeout", { runTimeout: "0 millis" }],
        ["progressInterval", { progressInterval: Number.NaN }],
        ["skipRecords", { skipRecords: 1.5 }],
        ["exitAfterRecords", { exitAfterRecords: -1 }],
        ["exitAfterRecords", { exitAfterRecords: Number.NaN }],
        ["workerMaxMemoryMb", { workerMaxMemoryMb: 0 }],
        ["workerMaxMemoryMb", { workerMaxMemoryMb: Analyzer.MIN_WORKER_MEMORY_MB - 1 }]
      ]
      for (const [option, given] of bad) {
        // A path that does not exist: a refusal must come before any opening.
        const e = yield* Effect.flip(Analyzer.run("../shared/traces/no-such-trace", { tools: [counter()], ...given }))
        assert.strictEqual(e._tag, "AnalyzerOptionError", `${option}: ${JSON.stringify(given)}`)
        if (e._tag === "AnalyzerOptionError") assert.strictEqual(e.option, option)
      }
      const inputs = yield* Trace.open(THREADSIG)
      const viaInputs = yield* Effect.flip(Analyzer.runInputs(inputs, { tools: [counter()], stallTimeout: 0 }))
      assert.strictEqual(viaInputs._tag, "AnalyzerOptionError")
    }).pipe(Effect.scoped)
  )

  it.effect("runInputs refuses the threads backend rather than running on fibers anyway", () =>
    Effect.gen(function* () {
      const inputs = yield* Trace.open(THREADSIG)
      const e = yield* Effect.flip(Analyzer.runInputs(inputs, { tools: [counterSpec()], backend: "threads" }))
      assert.strictEqual(e._tag, "AnalyzerOptionError")
      if (e._tag === "AnalyzerOptionError") assert.strictEqual(e.option, "backend")
    }).pipe(Effect.scoped)
  )

  it.effect("stallTimeout Duration.infinity turns the watchdog off; a run completes", () =>
    Effect.gen(function* () {
      const result = yield* Analyzer.run(THREADSIG, { tools: [counter()], stallTimeout: Duration.infinity, jobs: 2 })
      assert.strictEqual(result.records, 928_110)
    })
  )

  it.effect("Registry.make of a name Object.prototype has is UnknownTool, not a TypeError", () =>
    Effect.gen(function* () {
      for (const name of ["toString", "constructor", "hasOwnProperty", "__proto__"]) {
        const e = yield* Effect.flip(Registry.make(name))
        assert.strictEqual(e._tag, "UnknownTool", name)
      }
    })
  )
})

describe("tool errors in failures", () => {
  it.effect("an Error keeps its name and message, and 64-bit values become decimal strings", () =>
    Effect.gen(function* () {
      const failing = (error: unknown) =>
        Tool.make<number, number, number, unknown>({
          name: "failing",
          makeShard: () => 0,
          processBatch: (_s, _b, start) => Tool.fail(error, start),
          finishShard: () => 0,
          merge: () => 0,
          print: () => "",
          shardResultSchema: Schema.Number,
          resultSchema: Schema.Number
        })
      const toolErrorOf = (error: unknown) =>
        Effect.map(Effect.flip(Analyzer.run(THREADSIG, { tools: [failing(error)], jobs: 1 })), (e) =>
          e._tag === "AnalysisFailed" ? e.failures[0]!.toolError : undefined
        )
      assert.deepStrictEqual(yield* toolErrorOf(new RangeError("an Error")), {
        name: "RangeError",
        message: "an Error"
      })
      // A Tool.fail index outside the records given names the first of them.
      for (const index of [Number.NaN, -5, 1e9]) {
        const e = yield* Effect.flip(
          Analyzer.run(THREADSIG, {
            tools: [
              Tool.make<number, number, number, string>({
                name: "misindexed",
                makeShard: () => 0,
                processBatch: () => Tool.fail("bad", index),
                finishShard: () => 0,
                merge: () => 0,
                print: () => "",
                shardResultSchema: Schema.Number,
                resultSchema: Schema.Number
              })
            ],
            jobs: 1
          })
        )
        assert.strictEqual(e._tag === "AnalysisFailed" ? e.failures[0]!.record : undefined, 1, String(index))
      }
      assert.deepStrictEqual(yield* toolErrorOf({ _tag: "E", addr: 0xffffffff80001234n }), {
        _tag: "E",
        addr: "18446744071562072628"
      })
    })
  )
})

describe("callbacks that throw and workers that die", () => {
  it.live("an onWorkerReleased that throws fails the run at once as that worker's crash (both backends)", () =>
    Effect.gen(function* () {
      for (const backend of ["fibers", "threads"] as const) {
        const started = Date.now()
        const e = yield* Effect.flip(
          Analyzer.run(THREADSIG, {
            tools: [counterSpec()],
            backend,
            jobs: 2,
            stallTimeout: "60 seconds",
            onWorkerReleased: (w) => {
              if (w === 1) throw new Error("release hook broke")
            }
          })
        )
        assert.strictEqual(e._tag, "AnalysisFailed", backend)
        if (e._tag === "AnalysisFailed") {
          const f = e.failures.find((x) => x.reason === "WorkerCrashed")
          assert.isDefined(f, `${backend}: ${e.message}`)
          assert.strictEqual(f!.worker, 1)
          assert.include(f!.message, "release hook broke")
        }
        // Not after the stall watchdog's minute: as soon as the worker ended.
        assert.isBelow(Date.now() - started, 30_000, backend)
      }
    })
  )

  it.live("a tool whose spec cannot reach a worker thread fails the run as a crash, not a hang", () =>
    Effect.gen(function* () {
      const tool = Tool.withSpec(counter(), { module: import.meta.url, export: "counter", args: [() => 0] })
      const e = yield* Effect.flip(
        Analyzer.run(THREADSIG, { tools: [tool], backend: "threads", jobs: 2, runTimeout: "120 seconds" })
      )
      assert.strictEqual(e._tag, "AnalysisFailed")
      if (e._tag === "AnalysisFailed") {
        assert.notInclude(e.message, "Timeout")
        assert.strictEqual(e.failures[0]!.reason, "WorkerCrashed")
        assert.include(e.failures[0]!.message, "could not be cloned")
      }
    })
  )

  it.live("an onProgress that throws ends the run with that defect, after stopping the workers", () =>
    Effect.gen(function* () {
      const released: Array<number> = []
      const exit = yield* Effect.exit(
        Analyzer.run(THREADSIG, {
          tools: [counter()],
          jobs: 2,
          progressInterval: "1 millis",
          onProgress: () => {
            throw new Error("progress bar broke")
          },
          onWorkerReleased: (w) => void released.push(w)
        })
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const defect = Cause.squash(exit.cause)
        assert.strictEqual((defect as Error).message, "progress bar broke")
      }
      assert.sameMembers(released, [0, 1])
    })
  )
})

describe("Registry options", () => {
  it.effect("an option a tool does not take, or a value out of range, is ToolOptionError naming it", () =>
    Effect.gen(function* () {
      const bad: ReadonlyArray<[string, Record<string, unknown>, string]> = [
        ["histogram", { line_size: 128 }, "histogram: unknown option line_size (options: lineSize, reportTop)"],
        ["basic_counts", { verbose: 1 }, "basic_counts: unknown option verbose (it takes none)"],
        ["histogram", { reportTop: Number.NaN }, "histogram: reportTop must be a non-negative integer, got NaN"],
        ["histogram", { reportTop: 2.5 }, "histogram: reportTop must be a non-negative integer, got 2.5"],
        [
          "reuse_distance",
          { distanceThreshold: -1 },
          "reuse_distance: distanceThreshold must be a non-negative integer, got -1"
        ],
        [
          "reuse_distance",
          { histogramBinMultiplier: Number.POSITIVE_INFINITY },
          "reuse_distance: histogramBinMultiplier must be a finite number of at least 1, got Infinity"
        ]
      ]
      for (const [name, options, message] of bad) {
        const e = yield* Effect.flip(Registry.make(name, options))
        assert.strictEqual(e._tag, "ToolOptionError", message)
        assert.strictEqual(e.message, message)
      }
      // Every option the CLI may give is one the tool takes.
      const tool = yield* Registry.make("view", { inputOrdinals: true, write: () => undefined })
      assert.strictEqual(tool.name, "view")
    })
  )
})

describe("run timeout", () => {
  it.live("a Timeout names the run timeout as given, not what was left of it after opening", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        Analyzer.run(THREADSIG, {
          tools: [counter({ fault: "slow", shard: -1 })],
          jobs: 2,
          runTimeout: "700 millis"
        })
      )
      assert.strictEqual(e._tag, "AnalysisFailed")
      if (e._tag === "AnalysisFailed") {
        assert.strictEqual(e.failures[0]!.reason, "Timeout")
        assert.strictEqual(e.failures[0]!.message, "the run did not finish within 700ms")
      }
    })
  )
})
