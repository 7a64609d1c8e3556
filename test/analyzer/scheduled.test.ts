import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Tool from "../../src/analyzer/Tool.ts"
import * as Registry from "../../src/tools/Registry.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { counter, counterSpec, type ShardCount } from "../utils/faultTools.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

/**
 * DynamoRIO's analysis_unit_tests test_tool_errors: 5 inputs of 9
 * instructions (tids 100..104), input 4 ends with a CPU_ID marker on which
 * the tool fails with "cpuid not supported"; 2 outputs, dynamic mapping,
 * timestamps ignored.
 */
const toolErrorsInputs = Effect.forEach([0, 1, 2, 3, 4], (i) =>
  Trace.fromEntries(
    S.thread(100 + i, [
      ...Array.from({ length: 9 }, (_, j) => S.instr(42 + j * 4)),
      ...(i === 4 ? [S.cpu(4)] : []),
      S.exit(100 + i)
    ]),
    { ordinal: i, name: `input.${100 + i}` }
  )
)

/** A tool that meets each CPU_ID marker with `onCpuid` (a failure to return, or a throw). */
const cpuidTool = (name: string, onCpuid: (i: number) => Tool.Fail<string>) =>
  Tool.make<null, number, number, string>({
    name,
    makeShard: () => null,
    processBatch: (_, batch, start, end) => {
      for (let i = start; i < end; i++) {
        if (batch.type[i] === TraceType.MARKER && batch.size[i] === MarkerType.CPU_ID) return onCpuid(i)
      }
      return undefined
    },
    finishShard: () => 0,
    merge: (shards) => shards.length,
    print: () => "",
    shardResultSchema: Schema.Number,
    resultSchema: Schema.Number,
    describeError: (e) => e
  })

const errorTool = cpuidTool("error_tool", (i) => Tool.fail("cpuid not supported", i))

/** Per shard other than `failed`, its instruction count, by shard. */
const liveInstrs = (result: Analyzer.AnalysisResult, failed = 0) =>
  (result.tools[0]!.result as ReadonlyArray<ShardCount>)
    .filter((c) => c.shard !== failed)
    .map((c) => [c.shard, c.instrs] as const)
    .sort((a, b) => a[0] - b[0])

const sched = { deps: "ignore" as const }

/** Per input: the [first, last] record-ordinal runs all shards saw, merged; exactly-once means one run 1..N. */
const coverage = (shards: ReadonlyArray<ShardCount>) => {
  const byInput = new Map<number, Array<[number, number]>>()
  for (const s of shards) {
    for (const [input, a, b] of s.runs) {
      const list = byInput.get(input) ?? []
      list.push([a, b])
      byInput.set(input, list)
    }
  }
  return new Map(
    [...byInput.entries()].map(([input, runs]) => {
      runs.sort((x, y) => x[0] - y[0])
      const merged: Array<[number, number]> = []
      for (const r of runs) {
        const last = merged.at(-1)
        if (last !== undefined && last[1] + 1 === r[0]) last[1] = r[1]
        else merged.push([r[0], r[1]])
      }
      return [input, merged] as const
    })
  )
}

describe("Analyzer over the scheduler (fiber backend)", () => {
  it.effect("DynamoRIO's test_tool_errors: the run fails with the tool's error and terminates", () =>
    Effect.gen(function* () {
      const inputs = yield* toolErrorsInputs
      const released: Array<number> = []
      const error = yield* Effect.flip(
        Analyzer.runInputs(inputs, {
          tools: [errorTool],
          mode: "core-sharded",
          cores: 2,
          scheduler: sched,
          onWorkerReleased: (w) => released.push(w)
        })
      )
      assert.strictEqual(error._tag, "AnalysisFailed")
      if (error._tag !== "AnalysisFailed") return
      assert.strictEqual(error.first!.message, "cpuid not supported")
      assert.strictEqual(error.first!.reason, "ToolError")
      assert.strictEqual(error.first!.tool, "error_tool")
      assert.strictEqual(error.first!.tid, 104)
      assert.strictEqual(error.first!.input, "input.104")
      // VERSION, FILETYPE, 9 instructions, then the CPU_ID marker.
      assert.strictEqual(error.first!.record, 12)
      assert.deepStrictEqual(released.sort(), [0, 1])
    })
  )

  it.effect("test_tool_errors under continue: the failed output's input resumes elsewhere at the next record", () =>
    Effect.gen(function* () {
      const inputs = yield* toolErrorsInputs
      const result = yield* Analyzer.runInputs(inputs, {
        tools: [errorTool, counter()],
        mode: "core-sharded",
        cores: 2,
        scheduler: sched,
        failure: "continue"
      })
      assert.deepStrictEqual(
        result.failures.map((f) => f.message),
        ["cpuid not supported"]
      )
      const failedCore = result.failures[0]!.shard
      const shards = result.tools[1]!.result as ReadonlyArray<ShardCount>
      // The surviving core's counter shard is the only one left.
      assert.deepStrictEqual(
        shards.map((s) => s.shard),
        [1 - failedCore]
      )
      // Input 4's THREAD_EXIT (record 13) was delivered to the surviving core after the failure.
      const runs4 = coverage(shards).get(4) ?? []
      assert.deepStrictEqual(runs4.at(-1)!.at(-1), 13)
    })
  )

  for (const backend of ["fibers", "threads"] as const) {
    it.live(
      `scheduled thread-sharded under continue (${backend}): a failed worker's unstarted inputs go to the other`,
      () =>
        Effect.gen(function* () {
          // skipInstrs puts the scheduler (consistent mapping: worker 0 owns inputs 0, 2, 4, 6, 8) in the path.
          const run = (fault: boolean) =>
            Analyzer.run(THREADSIG, {
              tools: [counterSpec(fault ? { fault: "error", shard: 0, record: 2000 } : undefined)],
              mode: "thread-sharded",
              jobs: 2,
              skipInstrs: 1,
              failure: "continue",
              backend
            })
          const clean = (yield* run(false)).tools[0]!.result as ReadonlyArray<ShardCount>
          const faulty = yield* run(true)
          assert.deepStrictEqual(
            faulty.failures.map((f) => [f.reason, f.shard]),
            [["ToolError", 0]]
          )
          // Every other input is analyzed, each once and whole, as in the run without the failure.
          const byShard = (list: ReadonlyArray<ShardCount>) =>
            [...list].filter((c) => c.shard !== 0).sort((a, b) => a.shard - b.shard)
          const got = byShard(faulty.tools[0]!.result as ReadonlyArray<ShardCount>)
          assert.deepStrictEqual(
            got.map((c) => c.shard),
            [1, 2, 3, 4, 5, 6, 7, 8]
          )
          assert.deepStrictEqual(got, byShard(clean))
        })
    )
  }

  const replays = {
    recorded: { cores: 4, replayFile: `${THREADSIG}/../schedules/threadsig.recorded_schedule.4cores.zip` },
    "as traced": { cores: 11, cpuScheduleFile: `${THREADSIG}/cpu_schedule.bin.zip` }
  } as const
  for (const backend of ["fibers", "threads"] as const)
    for (const [kind, schedule] of Object.entries(replays)) {
      it.live(
        `a ${kind} schedule replayed under continue (${backend}): the live cores run what they would have run`,
        () =>
          Effect.gen(function* () {
            // Core 0 fails early; the other cores' segments must not wait for the ones it held.
            const run = (fault: boolean) =>
              Analyzer.run(THREADSIG, {
                tools: [counterSpec(fault ? { fault: "error", shard: 0, record: 5000 } : undefined)],
                mode: "core-sharded",
                ...schedule,
                failure: "continue",
                stallTimeout: "20 seconds",
                backend
              })
            const clean = yield* run(false)
            const faulty = yield* run(true)
            assert.deepStrictEqual(
              faulty.failures.map((f) => [f.reason, f.shard]),
              [["ToolError", 0]]
            )
            const got = liveInstrs(faulty)
            assert.deepStrictEqual(
              got.map(([shard]) => shard),
              Array.from({ length: schedule.cores - 1 }, (_, k) => k + 1)
            )
            assert.deepStrictEqual(got, liveInstrs(clean))
          })
      )
    }

  for (const backend of ["fibers", "threads"] as const) {
    it.live(`an input bound only to a failed core is named, not waited for (${backend})`, () =>
      Effect.gen(function* () {
        const r = yield* Analyzer.run(THREADSIG, {
          tools: [counterSpec({ fault: "error", shard: 0, record: 5000 })],
          mode: "core-sharded",
          cores: 2,
          failure: "continue",
          stallTimeout: "20 seconds",
          scheduler: { inputs: [undefined, undefined, undefined, { binding: [0] }] },
          backend
        })
        const inputs = yield* Trace.list(THREADSIG)
        assert.deepStrictEqual(
          r.failures.map((f) => [f.reason, f.shard, f.input]),
          [
            ["SchedulerError", -1, basename(inputs[3]!)],
            ["ToolError", 0, r.failures[1]?.input]
          ]
        )
        assert.match(r.failures[0]!.message, /may run only on cores 0, and none of them runs any more \(failed: 0\)/)
        const shards = r.tools[0]!.result as ReadonlyArray<ShardCount>
        assert.deepStrictEqual(
          shards.map((c) => c.shard),
          [1]
        )
      })
    )
  }

  it.effect("a throw under continue: its segment is not given back, so a poisonous record fails one core only", () =>
    Effect.gen(function* () {
      const inputs = yield* toolErrorsInputs
      const throwing = cpuidTool("throwing_tool", () => {
        throw new Error("no cpuid")
      })
      const result = yield* Analyzer.runInputs(inputs, {
        tools: [throwing, counter()],
        mode: "core-sharded",
        cores: 2,
        scheduler: sched,
        failure: "continue"
      })
      // Given back, the CPU_ID would reach the other core and fail it too.
      assert.deepStrictEqual(
        result.failures.map((f) => f.reason),
        ["ToolDefect"]
      )
      assert.strictEqual((result.tools[1]!.result as ReadonlyArray<ShardCount>).length, 1)
    })
  )

  it.effect("a core that ends normally (exitAfterRecords) leaves its bound inputs unreported under continue", () =>
    Effect.gen(function* () {
      const r = yield* Analyzer.run(THREADSIG, {
        tools: [counter()],
        mode: "core-sharded",
        cores: 2,
        failure: "continue",
        exitAfterRecords: 100_000,
        scheduler: { inputs: [undefined, undefined, undefined, { binding: [0] }] }
      })
      assert.deepStrictEqual(r.failures, [])
    })
  )

  for (const backend of ["fibers", "threads"] as const) {
    it.live(`a soft exit leaves the worker's unstarted inputs unread, with the scheduler or without (${backend})`, () =>
      Effect.gen(function* () {
        // Worker 0 (inputs 0, 2, 4, 6, 8) stops early; DynamoRIO's worker then leaves the rest unread.
        const shards = (skipInstrs: number) =>
          Analyzer.run(THREADSIG, {
            tools: [counterSpec({ fault: "stop", shard: 0, record: 2000 })],
            mode: "thread-sharded",
            jobs: 2,
            skipInstrs,
            backend
          }).pipe(Effect.map((r) => (r.tools[0]!.result as ReadonlyArray<ShardCount>).map((c) => c.shard).sort()))
        const plain = yield* shards(0)
        assert.deepStrictEqual(plain, [0, 1, 3, 5, 7])
        assert.deepStrictEqual(yield* shards(1), plain)
      })
    )
  }

  it.live(
    "recording an as-traced replay in which a core fails: replaying the recording gives the live cores the same work",
    () =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "memtrace-rec-"))),
          (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
        )
        const recordFile = join(dir, "schedule.zip")
        const recorded = yield* Analyzer.run(THREADSIG, {
          tools: [counter({ fault: "error", shard: 0, record: 20_000 })],
          mode: "core-sharded",
          cores: 11,
          cpuScheduleFile: `${THREADSIG}/cpu_schedule.bin.zip`,
          recordFile,
          failure: "continue"
        })
        assert.deepStrictEqual(
          recorded.failures.map((f) => f.reason),
          ["ToolError"]
        )
        // The live cores skipped what the failed core held: the recording says so, and a replay repeats it.
        const replayed = yield* Analyzer.run(THREADSIG, {
          tools: [counter()],
          mode: "core-sharded",
          cores: 11,
          replayFile: recordFile
        })
        assert.deepStrictEqual(liveInstrs(replayed), liveInstrs(recorded))
      }).pipe(Effect.scoped)
  )

  it.live("without setActive(false) the same run would idle forever: the stall watchdog catches it", () =>
    Effect.gen(function* () {
      // Demonstrates the DynamoRIO #6666 hang by disabling the release's
      // deactivation, and checks that the watchdog still ends the run.
      const inputs = yield* toolErrorsInputs
      const exit = yield* Effect.exit(
        Analyzer.runInputs(inputs, {
          tools: [errorTool],
          mode: "core-sharded",
          cores: 2,
          scheduler: sched,
          failure: "continue",
          stallTimeout: "1 second",
          unsafeSkipDeactivation: true
        })
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      const failures = (error as { error?: Analyzer.AnalysisFailed })?.error?.failures ?? []
      assert.deepStrictEqual(failures.map((f) => f.reason).sort(), ["ToolError", "WorkerStalled"])
    })
  )

  it.effect("core-sharded threadsig: every record of every input reaches exactly one core, in order", () =>
    Effect.gen(function* () {
      const result = yield* Analyzer.run(THREADSIG, {
        tools: [counter()],
        mode: "core-sharded",
        cores: 4,
        // Short quanta (many switches) and short blocked times (few idles, a fast test).
        scheduler: { quantumDurationInstrs: 10_000, blockTimeMultiplier: 0.0001 }
      })
      const shards = result.tools[0]!.result as ReadonlyArray<ShardCount>
      assert.deepStrictEqual(
        shards.map((s) => s.shard),
        [0, 1, 2, 3]
      )
      const cover = coverage(shards)
      const expected = [33210, 222676, 176667, 69226, 87454, 111104, 64612, 92697, 70464]
      assert.deepStrictEqual(
        [...cover.keys()].sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8]
      )
      for (const [input, runs] of cover) assert.deepStrictEqual(runs, [[1, expected[input]!]])
      for (const s of shards) assert.isAbove(s.records, 0)
    })
  )

  it.effect("serial and core-serial basic_counts give thread-sharded's totals", () =>
    Effect.gen(function* () {
      const tool = yield* Registry.make("basic_counts")
      // Totals without the idle line: core-serial cores idle, thread shards never do.
      const total = (text: string) =>
        text
          .slice(0, text.indexOf("total encodings"))
          .split("\n")
          .filter((l) => !l.includes("idle markers"))
          .join("\n")
      const threads = yield* Analyzer.run(THREADSIG, { tools: [tool], jobs: 2 })
      const serial = yield* Analyzer.run(THREADSIG, { tools: [tool], mode: "serial" })
      const coreSerial = yield* Analyzer.run(THREADSIG, {
        tools: [tool],
        mode: "core-serial",
        cores: 4,
        scheduler: { blockTimeMultiplier: 0.0001 }
      })
      assert.strictEqual(serial.tools[0]!.text, threads.tools[0]!.text)
      assert.strictEqual(total(coreSerial.tools[0]!.text), total(threads.tools[0]!.text))
      assert.include(coreSerial.tools[0]!.text, "Core 0 counts:")
    })
  )
})

describe("Analyzer on a core-sharded-on-disk trace", () => {
  const CORE_SHARDED = "../shared/traces/drmemtrace.threadsig-core-sharded.x64.tracedir"

  it.effect("analyzes each input as its own core and refuses to schedule it again", () =>
    Effect.gen(function* () {
      const tool = yield* Registry.make("basic_counts")
      const result = yield* Analyzer.run(CORE_SHARDED, { tools: [tool], jobs: 2 })
      assert.strictEqual(result.mode, "thread-sharded")
      const text = result.tools[0]!.text
      for (const core of [0, 1, 2, 3]) assert.include(text, `Core ${core} counts:`)
      assert.notInclude(text, "Thread ")
      assert.include(text, "3026416 total idle markers")
      const error = yield* Effect.flip(Analyzer.run(CORE_SHARDED, { tools: [tool], mode: "core-sharded" }))
      assert.strictEqual(error._tag, "AnalyzerOptionError")
      assert.include(error.message, "-no_core_sharded")
    })
  )

  it.effect("-jobs 0 is DynamoRIO's serial analysis", () =>
    Effect.gen(function* () {
      const tool = yield* Registry.make("basic_counts")
      const result = yield* Analyzer.run(THREADSIG, { tools: [tool], jobs: 0 })
      assert.strictEqual(result.mode, "serial")
      assert.strictEqual(result.workers, 1)
    })
  )
})

describe("Analyzer schedule log", () => {
  it.effect("records, per core, which input ran when, with the scheduler's statistics", () =>
    Effect.gen(function* () {
      const result = yield* Analyzer.run(THREADSIG, {
        tools: [counter()],
        mode: "core-sharded",
        cores: 4,
        recordSchedule: true,
        scheduler: { quantumDurationInstrs: 10_000, blockTimeMultiplier: 0.0001 }
      })
      const schedule = result.schedule!
      assert.strictEqual(schedule.length, 4)
      const shards = result.tools[0]!.result as ReadonlyArray<ShardCount>
      for (const out of schedule) {
        // The log's record runs add up to what the core's shard processed.
        const records = out.runs.filter(([i]) => i >= 0).reduce((a, [, n]) => a + n, 0)
        const idles = out.runs.filter(([i]) => i === -1).reduce((a, [, n]) => a + n, 0)
        const shard = shards.find((s) => s.shard === out.output)!
        assert.strictEqual(records, shard.records - shard.idles)
        assert.strictEqual(idles, shard.idles)
        assert.strictEqual(out.stats.length, 14)
      }
      // Switches happened: the quantum is far below each thread's instructions.
      assert.isAbove(
        schedule.reduce((a, o) => a + o.stats[0]!, 0),
        9
      )
    })
  )
})
