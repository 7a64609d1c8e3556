import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type { Options as AnalyzerOptions, Mode } from "../../src/analyzer/Analyzer.ts"
import { AnalysisFailed } from "../../src/analyzer/AnalyzerError.ts"
import * as Analyze from "../../src/cli/Analyze.ts"
import * as DrArgs from "../../src/cli/DrArgs.ts"
import type * as Options from "../../src/cli/Options.ts"
import * as Progress from "../../src/cli/Progress.ts"
import type { UsageError } from "../../src/cli/UsageError.ts"
import { SourceThread } from "../../src/trace/internal/sourceThread.ts"

const TRACES = "../shared/traces"
const SMALL = `${TRACES}/drmemtrace.small.x64.trace`
const expected = (name: string) => fs.readFileSync(`${TRACES}/expected/${name}.txt`, "utf8")

const options = (line: string): Options.Options => {
  const r = DrArgs.parseOptions(line.split(/\s+/))
  if (Result.isFailure(r)) assert.fail(r.failure.message)
  return r.success
}

const run = (line: string) => Analyze.runAnalysis(options(line.trim()), { progress: Progress.none })

describe("Analyze", () => {
  describe("chooses the mode as DynamoRIO's analyzer_multi does", () => {
    const thread = { parallel: true, preferredShardType: "thread" } as const
    const serialThread = { parallel: false, preferredShardType: "thread" } as const
    const core = { parallel: true, preferredShardType: "core" } as const
    const serialCore = { parallel: false, preferredShardType: "core" } as const
    const cases: ReadonlyArray<
      readonly [
        string,
        Options.Sharding,
        number,
        ReadonlyArray<typeof thread | typeof serialThread | typeof core | typeof serialCore>,
        Mode
      ]
    > = [
      ["parallel thread tools", "auto", -1, [thread, thread], "thread-sharded"],
      ["-jobs 0", "auto", 0, [thread], "serial"],
      ["a serial-only tool (view)", "auto", -1, [thread, serialThread], "serial"],
      ["core-preferring parallel tools (schedule_stats)", "auto", -1, [core], "core-sharded"],
      ["core-preferring serial tools (cache_simulator)", "auto", -1, [serialCore], "core-serial"],
      ["-core_sharded with a serial tool", "core-sharded", -1, [serialCore], "core-serial"],
      ["-core_sharded -jobs 0", "core-sharded", 0, [core], "core-serial"],
      ["-core_sharded", "core-sharded", 4, [thread], "core-sharded"],
      ["-core_serial", "core-serial", -1, [thread], "core-serial"],
      ["-no_core_sharded with cache_simulator", "thread", -1, [serialCore], "serial"],
      ["-no_core_sharded with parallel tools", "thread", 2, [thread, core], "thread-sharded"]
    ]
    for (const [what, sharding, jobs, tools, mode] of cases) {
      it(what, () => assert.strictEqual(Analyze.chooseMode({ sharding, jobs }, tools), mode))
    }
    it("refuses tools that disagree on sharding without a switch", () => {
      const e = Analyze.chooseMode({ sharding: "auto", jobs: -1 }, [thread, core]) as UsageError
      assert.strictEqual(e.reason, "Conflict")
      assert.strictEqual(
        e.message,
        "Selected tools differ in preferred sharding: please re-run with -[no_]core_sharded or -[no_]core_serial"
      )
    })
  })

  it.live("prints DynamoRIO's basic_counts for small", () =>
    Effect.gen(function* () {
      const out = yield* run(`-infile ${SMALL} -tool basic_counts`)
      assert.strictEqual(out.text, expected("small.basic_counts"))
      assert.deepStrictEqual(out.failures, [])
    })
  )

  it.live("separates several tools' results with DynamoRIO's line of 75 '='", () =>
    Effect.gen(function* () {
      const out = yield* run(`-infile ${SMALL} -tool basic_counts:histogram`)
      assert.strictEqual(
        out.text,
        `${expected("small.basic_counts")}\n${"=".repeat(75)}\n${expected("small.histogram")}`
      )
    })
  )

  it.live("passes tool knobs: -reuse_distance_histogram, -report_top", () =>
    Effect.gen(function* () {
      const hist = yield* run(`-infile ${SMALL} -tool reuse_distance -reuse_distance_histogram`)
      assert.strictEqual(hist.text, expected("small.reuse_distance_histogram"))
      // DynamoRIO's top-10 listing cut to its first entry per side.
      const top = yield* run(`-infile ${SMALL} -tool histogram -report_top 1`)
      assert.strictEqual(
        top.text,
        [
          "Cache line histogram tool results:",
          "icache: 2 unique cache lines",
          "dcache: 3 unique cache lines",
          "icache top 1",
          "          0x400100: 114",
          "dcache top 1",
          "    0x7fff413f5bc0: 28",
          ""
        ].join("\n")
      )
    })
  )

  it.live("gives JSON of every tool's result", () =>
    Effect.gen(function* () {
      const out = yield* run(`-infile ${SMALL} -tool basic_counts -json`)
      const json = JSON.parse(JSON.stringify(out.json)) as {
        tools: Array<{ name: string; result: { total: { instrs: number } } }>
      }
      assert.strictEqual(json.tools[0]!.name, "basic_counts")
      assert.include(JSON.stringify(json.tools[0]!.result), '"instrs":173')
    })
  )

  it("sets the scheduler knobs as DynamoRIO's init_dynamic_schedule does", () => {
    const o = options(
      `-indir t -core_sharded -sched_quantum 1000 -no_sched_order_time -sched_syscall_switch_us 7 -sched_blocking_switch_us 8 -sched_block_scale 0.01 -sched_block_max_us 9 -sched_infinite_timeouts -sched_time_units_per_us 2.5 -sched_migration_threshold_us 10 -sched_rebalance_period_us 11 -sched_steal_attempt_period 0 -sched_randomize -sched_disable_direct_switches -sched_exit_if_fraction_inputs_left 0 -sched_random_initial_layout -1 -sched_max_cores 2`
    )
    assert.deepStrictEqual(Analyze.schedulerOptions(o), {
      deps: "ignore",
      quantumDurationInstrs: 1000,
      syscallSwitchThreshold: 7,
      blockingSwitchThreshold: 8,
      blockTimeMultiplier: 0.01,
      blockTimeMaxUs: 9,
      honorInfiniteTimeouts: true,
      timeUnitsPerUs: 2.5,
      migrationThresholdUs: 10,
      rebalancePeriodUs: 11,
      stealAttemptPeriod: 0,
      randomizeNextInput: true,
      honorDirectSwitches: false,
      exitIfFractionInputsLeft: 0,
      randomInitialLayout: -1,
      workloadOutputLimits: [2]
    })
    // Defaults: timestamps order the run queues (-sched_order_time), no output limit.
    const d = Analyze.schedulerOptions(options("-indir t"))
    assert.strictEqual(d.deps, "timestamps")
    assert.deepStrictEqual(d.workloadOutputLimits, [])
  })

  it.live("core-serial basic_counts keeps DynamoRIO's totals (semantics §9, core_serial.templatex)", () =>
    Effect.gen(function* () {
      // DynamoRIO's own core_serial test line (suite/tests/CMakeLists.txt) uses -sched_block_scale 0.01.
      const out = yield* run(
        `-indir ${TRACES}/drmemtrace.threadsig.x64.tracedir -sched_block_scale 0.01 -tool basic_counts -core_serial`
      )
      const totals = (text: string) =>
        text
          .split("\n")
          .slice(0, 26)
          // Idle and wait markers depend on the schedule; DynamoRIO's reference is thread-sharded.
          .filter((l) => !/idle markers|wait markers/.test(l))
      assert.deepStrictEqual(totals(out.text), totals(expected("threadsig.basic_counts")))
      assert.include(out.text, "Core 0 counts:")
    })
  )

  it("-sched_time makes the quantum a time: -sched_quantum simulated microseconds", () => {
    type Sched = NonNullable<AnalyzerOptions["scheduler"]>
    const t: Sched = Analyze.schedulerOptions(options("-indir t -core_sharded -sched_time -sched_quantum 700"))
    assert.strictEqual(t.quantumUnit, "time")
    assert.strictEqual(t.quantumDurationUs, 700)
    assert.isUndefined(t.quantumDurationInstrs)
    // DynamoRIO keeps -sched_quantum's default (20,000,000) for the time quantum too.
    const d: Sched = Analyze.schedulerOptions(options("-indir t -core_sharded -sched_time"))
    assert.strictEqual(d.quantumDurationUs, 20_000_000)
    const i: Sched = Analyze.schedulerOptions(options("-indir t -core_sharded"))
    assert.isUndefined(i.quantumUnit)
    assert.strictEqual(i.quantumDurationInstrs, 20_000_000)
  })

  it.live("-core_sharded -sched_time keeps DynamoRIO's totals (threadsig)", () =>
    Effect.gen(function* () {
      // The schedule follows the wall clock (not reproducible); the totals do not.
      // A short block cap keeps blocked threads from idling the cores for seconds of real time.
      const out = yield* run(
        `-indir ${TRACES}/drmemtrace.threadsig.x64.tracedir -tool basic_counts -core_sharded -sched_time -sched_block_max_us 100`
      )
      const totals = (text: string) =>
        text
          .split("\n")
          .slice(0, 26)
          .filter((l) => !/idle markers|wait markers/.test(l))
      assert.deepStrictEqual(totals(out.text), totals(expected("threadsig.basic_counts")))
      assert.include(out.text, "Core 3 counts:")
    })
  )

  it.live("-source_thread reads the zip inputs on the source thread, with the same results", () =>
    Effect.gen(function* () {
      yield* Effect.promise(() => SourceThread.start())
      const dir = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
      for (const mode of ["", "-core_sharded"]) {
        const line = `-indir ${dir} -tool basic_counts:reuse_distance ${mode}`
        const before = SourceThread.opened
        const there = yield* run(`${line} -source_thread`)
        assert.strictEqual(SourceThread.opened - before, 9, mode)
        const here = yield* run(line)
        assert.strictEqual(SourceThread.opened - before, 9, mode)
        // Idle and wait markers follow the wall clock while threads are blocked; nothing else does.
        const steady = (text: string) => text.split("\n").filter((l) => !/idle markers|wait markers/.test(l))
        assert.deepStrictEqual(steady(there.text), steady(here.text), mode)
      }
      assert.isTrue(options("-indir t -source_thread").sourceThread)
      assert.isFalse(options("-indir t").sourceThread)
    })
  )

  it.live("-max_load_imbalance reaches core-sharded runs: 2.0 by default, below 1 off", () =>
    Effect.gen(function* () {
      const balance = (extra: string) =>
        Effect.map(
          run(`-infile ${SMALL} -tool basic_counts -core_sharded -json ${extra}`),
          (out) => (out.json as { loadBalance?: { maxImbalance: number; waits: ReadonlyArray<number> } }).loadBalance
        )
      const d = yield* balance("")
      assert.strictEqual(d?.maxImbalance, 2)
      assert.strictEqual(d?.waits.length, 4)
      assert.strictEqual((yield* balance("-max_load_imbalance 3.5"))?.maxImbalance, 3.5)
      assert.isUndefined(yield* balance("-max_load_imbalance 0.5"))
      // Thread-sharded runs never balance (DynamoRIO: dynamic scheduling only).
      assert.isUndefined(
        (
          (yield* run(`-infile ${SMALL} -tool basic_counts -json -max_load_imbalance 3`)).json as {
            loadBalance?: unknown
          }
        ).loadBalance
      )
    })
  )

  it.effect("a tool named twice runs twice, each printing its results, as DynamoRIO creates one tool per name", () =>
    Effect.gen(function* () {
      const once = yield* run(`-infile ${SMALL} -tool basic_counts`)
      const twice = yield* run(`-infile ${SMALL} -tool basic_counts:basic_counts`)
      assert.strictEqual(twice.text, `${once.text}\n${"=".repeat(75)}\n${once.text}`)
    })
  )

  describe("invariant_checker's options", () => {
    it.effect("-abort_on_invariant_error (DynamoRIO's default): the first violation fails the run", () =>
      Effect.gen(function* () {
        const e = yield* Effect.flip(run(`-infile ${SMALL} -tool invariant_checker`))
        assert.instanceOf(e, AnalysisFailed)
        if (e instanceof AnalysisFailed) {
          assert.strictEqual(e.failures.length, 1)
          assert.strictEqual(e.failures[0]!.reason, "ToolError")
          assert.strictEqual(e.failures[0]!.record, 232)
          assert.match(e.failures[0]!.message, /ref # 232 .*: Missing cache line marker$/)
        }
      })
    )

    it.effect("-no_abort_on_invariant_error lists every violation and succeeds, as DynamoRIO does", () =>
      Effect.gen(function* () {
        const out = yield* run(`-infile ${SMALL} -tool invariant_checker -no_abort_on_invariant_error`)
        assert.match(out.text, /Missing cache line marker\n.*Missing page size marker\nFound 2 invariant errors\n/)
      })
    )

    it("every window option makes the trace incomplete, as DynamoRIO's analyzer_multi says", () => {
      for (const [extra, incomplete] of [
        ["", false],
        ["-skip_instrs 5", true],
        ["-exit_after_instrs 5", true],
        ["-skip_records 5", true],
        ["-exit_after_records 5", true]
      ] as const) {
        const o = Analyze.toolOptions("invariant_checker", options(`-infile ${SMALL} ${extra}`.trim()), true)
        assert.strictEqual(o.traceIncomplete, incomplete, extra)
        assert.strictEqual(o.abortOnInvariantError, true)
      }
    })
  })
})
