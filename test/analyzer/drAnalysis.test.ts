/**
 * DynamoRIO's analyzer unit tests, ported sub-case by sub-case (one `it`
 * each, named after it):
 *
 * - clients/drcachesim/tests/analysis_unit_tests.cpp: test_queries,
 *   test_wait_records, test_load_balance. (test_tool_errors is ported in
 *   scheduled.test.ts; test_next_trace_pc_queries has no memtrace equivalent:
 *   tools get no stream queries, `get_next_trace_pc` among them.)
 * - clients/drcachesim/tests/core_sharded_test.cpp: test_real_files, whose
 *   analyzer_multi command lines run through memtrace's DynamoRIO-style
 *   command line (DrArgs + Analyze), the output text checked with DynamoRIO's
 *   regexes.
 *
 * DynamoRIO's `mock_analyzer_t` hands the scheduler its inputs and options
 * directly; here the inputs are synthetic (`Synthetic`, the equivalent of
 * `test_util::make_*`) and the scheduler options go through
 * `Analyzer.Options.scheduler`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Tool from "../../src/analyzer/Tool.ts"
import * as Analyze from "../../src/cli/Analyze.ts"
import * as DrArgs from "../../src/cli/DrArgs.ts"
import * as Progress from "../../src/cli/Progress.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { type LagCount, lagging } from "../utils/lagTool.ts"

const WORKLOAD_FACTOR = 2 ** 48

const root = mkdtempSync(join(tmpdir(), "memtrace-dr-analysis-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/**
 * test_load_balance's test_tool_t: counts instructions per shard, and makes
 * worker #0 slow by sleeping 1 ms every 50 instructions. The threads backend
 * rebuilds it in each worker thread from a module: an ES module given as a
 * data: URL (it may import only absolute URLs), which reuses lagTool's
 * state and schemas. The main thread's copy, which only merges, is lagTool's
 * under the same name.
 */
const slowWorkerSource = (imports: { readonly lagTool: string; readonly record: string }) => `
import { lagging } from ${JSON.stringify(imports.lagTool)}
import { isInstr } from ${JSON.stringify(imports.record)}
const sleepMs = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
export const make = () => ({
  ...lagging(-1, 0),
  name: "test_tool",
  preferredShardType: "core",
  processBatch: (s, batch, start, end, ctx) => {
    if (ctx.input < 0) {
      s.idles += end - start
      return undefined
    }
    for (let i = start; i < end; i++) {
      if (isInstr(batch.type[i])) {
        ++s.instrs
        // Here is where we make worker#0 slow, by sleeping frequently.
        if (s.shard === 0 && s.instrs % 50 === 0) sleepMs(1)
      }
    }
    s.records += end - start
    return undefined
  }
})
`
const slowWorkerTool = (): Tool.Any => {
  const module = `data:text/javascript,${encodeURIComponent(
    slowWorkerSource({
      lagTool: new URL("../utils/lagTool.ts", import.meta.url).href,
      record: new URL("../../src/trace/Record.ts", import.meta.url).href
    })
  )}`
  const base = lagging(-1, 0)
  return Tool.withSpec({ ...base, name: "test_tool", preferredShardType: "core" }, { module, export: "make", args: [] })
}

describe("DynamoRIO analysis_unit_tests.cpp", () => {
  it.effect("test_queries", () =>
    Effect.gen(function* () {
      const NUM_INPUTS = 3
      const NUM_OUTPUTS = 2
      const BASE_TID = 100
      // input_sequence: thread, pid 1, instr 42, exit; one workload per input.
      const inputs = yield* Effect.forEach(
        Array.from({ length: NUM_INPUTS }, (_, i) => i),
        (i) =>
          Trace.fromEntries(S.thread(BASE_TID + i, [S.instr(42), S.exit(BASE_TID + i)], { pid: 1 }), {
            ordinal: i,
            name: `input.${BASE_TID + i}`
          })
      )
      // The tool's assertions, gathered (DynamoRIO asserts in the tool).
      const Seen = Schema.Struct({ checked: Schema.Number, mismatches: Schema.Array(Schema.String) })
      const testTool = Tool.make<
        { readonly info: Tool.ShardInfo; checked: number; mismatches: Array<string> },
        typeof Seen.Type,
        ReadonlyArray<typeof Seen.Type>
      >({
        name: "test_tool",
        preferredShardType: "core",
        makeShard: (info) => ({ info, checked: 0, mismatches: [] }),
        processBatch: (s, batch, start, end, ctx) => {
          for (let i = start; i < end; i++) {
            if (
              batch.type[i] === TraceType.MARKER &&
              (batch.size[i] === MarkerType.CORE_WAIT || batch.size[i] === MarkerType.CORE_IDLE)
            )
              continue
            // These are our testing goals: these queries.
            // We have one thread for each of our NUM_INPUTS workloads.
            const cpuid = s.info.cpuid ?? ctx.output
            if (cpuid !== s.info.shardIndex) s.mismatches.push(`output_cpuid ${cpuid} != shard ${s.info.shardIndex}`)
            // We have just one thread per workload, so they're the same.
            const tid = batch.tid[i]!
            const tidOnly = tid % 2 ** 32
            const workload = Math.floor(tid / WORKLOAD_FACTOR)
            if (workload !== tidOnly - BASE_TID) s.mismatches.push(`workload ${workload} for tid ${tid}`)
            if (ctx.input !== tidOnly - BASE_TID) s.mismatches.push(`input ${ctx.input} for tid ${tid}`)
            s.checked++
          }
          return undefined
        },
        finishShard: (s) => ({ checked: s.checked, mismatches: s.mismatches }),
        merge: (shards) => shards.map((o) => o.result),
        print: () => "",
        shardResultSchema: Seen,
        resultSchema: Schema.Array(Seen)
      })
      const result = yield* Analyzer.runInputs(inputs, {
        tools: [testTool],
        mode: "core-sharded",
        cores: NUM_OUTPUTS,
        // MAP_TO_ANY_OUTPUT, DEPENDENCY_IGNORE, one workload per input.
        scheduler: { deps: "ignore", inputs: Array.from({ length: NUM_INPUTS }, (_, w) => ({ workload: w })) }
      })
      const seen = result.tools[0]!.result as ReadonlyArray<typeof Seen.Type>
      assert.deepStrictEqual(
        seen.flatMap((s) => s.mismatches),
        []
      )
      assert.isAtLeast(
        seen.reduce((n, s) => n + s.checked, 0),
        NUM_INPUTS * 2
      )
    })
  )

  it.effect("test_wait_records", () =>
    Effect.gen(function* () {
      const NUM_INPUTS = 5
      const NUM_OUTPUTS = 2
      const NUM_INSTRS = 9
      const TID_BASE = 100
      const CPU0 = 6
      const CPU1 = 9
      // The last input will be earlier than all others. It will execute
      // 3 instrs on each core. This is to test the case when an output
      // begins in the wait state.
      const inputs = yield* Effect.forEach(
        Array.from({ length: NUM_INPUTS }, (_, i) => i),
        (i) =>
          Trace.fromEntries(
            S.thread(
              TID_BASE + i,
              [
                ...Array.from({ length: i === NUM_INPUTS - 1 ? 6 : NUM_INSTRS }, (_, j) => S.instr(42 + j * 4)),
                S.exit(TID_BASE + i)
              ],
              { pid: 1 }
            ),
            { ordinal: i, name: `input.${TID_BASE + i}` }
          )
      )
      // Synthesize a cpu-schedule file with some waits in it, if run in lockstep.
      // In pure lockstep it looks like this with a - for a wait and . for a
      // non-instruction record, to help understand the file entries below:
      //   core0: "EEE-AAA-CCCAAACCCBBB.DDD."
      //   core1: "---EEE.BBBDDDBBBDDDAAA.CCC."
      // Instr counts are 1-based, but the first lists 0 (really starts at 1).
      const entry = (thread: number, timestamp: number, cpu: number, startInstruction: number) => ({
        thread,
        timestamp: BigInt(timestamp),
        cpu,
        startInstruction
      })
      const cpuSchedule = [
        {
          name: String(CPU0),
          entries: [
            entry(TID_BASE + 4, 10, CPU0, 0),
            entry(TID_BASE, 101, CPU0, 0),
            entry(TID_BASE + 2, 103, CPU0, 0),
            entry(TID_BASE, 105, CPU0, 4),
            entry(TID_BASE + 2, 107, CPU0, 4),
            entry(TID_BASE + 1, 109, CPU0, 7),
            entry(TID_BASE + 3, 111, CPU0, 7)
          ]
        },
        {
          name: String(CPU1),
          entries: [
            entry(TID_BASE + 4, 20, CPU1, 4),
            entry(TID_BASE + 1, 102, CPU1, 0),
            entry(TID_BASE + 3, 104, CPU1, 0),
            entry(TID_BASE + 1, 106, CPU1, 4),
            entry(TID_BASE + 3, 108, CPU1, 4),
            entry(TID_BASE, 110, CPU1, 7),
            entry(TID_BASE + 2, 112, CPU1, 7)
          ]
        }
      ]
      // One letter per record: '-' for a wait, else 'A' + the input ordinal.
      const testTool = Tool.make<{ readonly index: number; schedule: string }, string, ReadonlyArray<string>>({
        name: "test_tool",
        preferredShardType: "core",
        makeShard: (info) => ({ index: info.shardIndex, schedule: "" }),
        processBatch: (s, batch, start, end, ctx) => {
          for (let i = start; i < end; i++) {
            if (batch.type[i] === TraceType.MARKER && batch.size[i] === MarkerType.CORE_WAIT) {
              s.schedule += "-"
              continue
            }
            s.schedule += String.fromCharCode(65 + (ctx.input % 26))
          }
          return undefined
        },
        finishShard: (s) => s.schedule,
        merge: (shards) => {
          const strings = Array.from({ length: NUM_OUTPUTS }, () => "")
          for (const o of shards) strings[o.shardIndex] = o.result
          return strings
        },
        print: () => "",
        shardResultSchema: Schema.String,
        resultSchema: Schema.Array(Schema.String)
      })
      // Replay the recorded schedule: MAP_TO_RECORDED_OUTPUT, DEPENDENCY_TIMESTAMPS, replay_as_traced_istream.
      const result = yield* Analyzer.runInputs(inputs, {
        tools: [testTool],
        mode: "core-sharded",
        cores: NUM_OUTPUTS,
        scheduler: { cpuSchedule }
      })
      const scheduleStrings = result.tools[0]!.result as ReadonlyArray<string>
      // Due to non-determinism we can't put too many restrictions here so we
      // just ensure we saw at least one wait at the start.
      assert.strictEqual(scheduleStrings[1]![0], "-", `schedules: ${JSON.stringify(scheduleStrings)}`)
    })
  )

  it.live(
    "test_load_balance",
    () =>
      Effect.gen(function* () {
        // We want many inputs so other workers can steal them.
        const NUM_INPUTS = 512
        // We have 4 workers: one slow and 3 fast.
        const NUM_OUTPUTS = 4
        // We need enough total instructions to hit the load balance cadence.
        const NUM_INSTRS = 5000
        const BASE_TID = 100
        const MAX_RATIO = 2.5
        // many_instr_reader_t: thread, pid 1, NUM_INSTRS instructions (pc = entry index), exit.
        const dir = join(root, "load_balance")
        mkdirSync(dir)
        const body = Array.from({ length: NUM_INSTRS }, (_, k) => S.instr(k + 2))
        for (let i = 0; i < NUM_INPUTS; i++) {
          const tid = BASE_TID + i
          writeFileSync(
            join(dir, `many_instr.${tid}.trace`),
            S.encode([S.header(), S.threadEntry(tid), S.pid(1), ...body, S.exit(tid), S.footer()])
          )
        }
        const result = yield* Analyzer.run(dir, {
          tools: [slowWorkerTool()],
          mode: "core-sharded",
          cores: NUM_OUTPUTS,
          backend: "threads",
          scheduler: {
            // MAP_TO_ANY_OUTPUT, DEPENDENCY_IGNORE.
            deps: "ignore",
            // Make it easy to migrate so the fast workers will steal from the slow.
            timeUnitsPerUs: 1,
            migrationThresholdUs: 1,
            // Exit early before the slow can finish its current input.
            exitIfFractionInputsLeft: 0.3
          },
          // analyzer.set_load_balance(true); cadence NUM_INSTRS / 5; max imbalance MAX_RATIO.
          maxLoadImbalance: MAX_RATIO,
          loadBalanceCadence: NUM_INSTRS / 5
        })
        const instrCount = Array.from({ length: NUM_OUTPUTS }, () => 0)
        for (const s of result.tools[0]!.result as ReadonlyArray<LagCount>) instrCount[s.shard] = s.instrs
        // test_tool_t::print_results.
        for (let i = 1; i < NUM_OUTPUTS; ++i) {
          assert.isTrue(
            instrCount[0]! * MAX_RATIO >= instrCount[i]!,
            `shard instruction counts ${JSON.stringify(instrCount)}, load balance ${JSON.stringify(result.loadBalance)}`
          )
        }
      }),
    60_000
  )
})

/**
 * core_sharded_test.cpp's run_analyzer: an analyzer_multi command line (after
 * `<exe>`), its printed results. Run live: the command line balances load
 * (-max_load_imbalance 2 by default), whose 1 ms sleeps go through the Clock.
 */
const runAnalyzer = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const parsed = DrArgs.parseOptions(args)
    if (Result.isFailure(parsed)) return assert.fail(`Failed to parse: ${parsed.failure.message}`)
    const out = yield* Analyze.runAnalysis(parsed.success, { progress: Progress.none })
    assert.deepStrictEqual(out.failures, [])
    return out.text
  })

/** `std::distance(std::sregex_iterator(output, std::regex(word)), {})`. */
const occurrences = (output: string, word: string) => output.split(word).length - 1

describe("DynamoRIO core_sharded_test.cpp test_real_files", () => {
  const dir = "../shared/traces/drmemtrace.threadsig.x64.tracedir"
  // This trace has some futex calls with latencies ~40ms * 1000 time_units_per_us
  // * default scale 0.1 is 2.5M instructions which makes core-sharded runs here
  // a little long: so we scale them all back.
  const scale = ["-sched_block_scale", "0.01"]

  it.live("test_real_files: thread-sharded with defaults", () =>
    Effect.gen(function* () {
      const output = yield* runAnalyzer(["-tool", "basic_counts", "-indir", dir])
      assert.match(
        output,
        /Basic counts tool results:\nTotal counts:\n {6}650576 total .*\n(.|\n)*\nThread [0-9]+ counts:\n/
      )
      assert.strictEqual(occurrences(output, "Thread"), 9)
    })
  )

  it.live("test_real_files: core-sharded with defaults", () =>
    Effect.gen(function* () {
      const output = yield* runAnalyzer(["-core_sharded", ...scale, "-tool", "basic_counts", "-indir", dir])
      assert.match(
        output,
        /Basic counts tool results:\nTotal counts:\n {6}650576 total .*\n(.|\n)*\nCore [0-9] counts:\n(.|\n)*\n *[0-9]+ threads\n(.|\n)*\n/
      )
      assert.strictEqual(occurrences(output, "Core"), 4)
    })
  )

  it.live("test_real_files: core-sharded with time quantum", () =>
    Effect.gen(function* () {
      const output = yield* runAnalyzer([
        "-core_sharded",
        ...scale,
        "-tool",
        "basic_counts",
        "-indir",
        dir,
        "-sched_time"
      ])
      assert.match(
        output,
        /Basic counts tool results:\nTotal counts:\n {6}650576 total .*\n(.|\n)*\nCore [0-9] counts:\n(.|\n)*\n *[0-9]+ threads\n(.|\n)*\n/
      )
      assert.strictEqual(occurrences(output, "Core"), 4)
    })
  )

  it.live("test_real_files: core-sharded with -cores 3, custom quantum, no time ordering", () =>
    Effect.gen(function* () {
      const output = yield* runAnalyzer([
        "-core_sharded",
        ...scale,
        "-tool",
        "basic_counts",
        "-indir",
        dir,
        "-cores",
        "3",
        "-sched_quantum",
        "60000",
        "-no_sched_order_time"
      ])
      assert.match(
        output,
        /Basic counts tool results:\nTotal counts:\n {6}650576 total \(fetched\) instructions\n(.|\n)*\nCore [0-9] counts:\n(.|\n)*\n *[0-9]+ threads\n(.|\n)*\n/
      )
      assert.strictEqual(occurrences(output, "Core"), 3)
    })
  )

  // Also in test/scheduler/analyzer.test.ts through Analyzer.run; here through the command line.
  it.live("test_real_files: core-sharded with replay-as-traced", () =>
    Effect.gen(function* () {
      const cpuFile = `${dir}/cpu_schedule.bin.zip`
      const output = yield* runAnalyzer([
        "-core_sharded",
        "-tool",
        "basic_counts",
        "-indir",
        dir,
        "-cores",
        "11",
        "-cpu_schedule_file",
        cpuFile
      ])
      // The last line that we're interested in.
      const kLastRelevantLine = " threads\n"
      const totalStatsEnd = output.indexOf(kLastRelevantLine)
      assert.isAtLeast(totalStatsEnd, 0)
      const totalStats = output.slice(0, totalStatsEnd + kLastRelevantLine.length)
      assert.match(
        totalStats,
        /Basic counts tool results:\nTotal counts:\n {6}650576 total \(fetched\) instructions\n(.|\n)*\n {11}9 total threads\n/
      )
      const core8Onwards = output.indexOf("Core 8 counts")
      assert.isAtLeast(core8Onwards, 0)
      const core8OnwardsStats = output.slice(core8Onwards)
      const core8StatsEnd = core8OnwardsStats.indexOf(kLastRelevantLine)
      assert.isAtLeast(core8StatsEnd, 0)
      const core8Stats = core8OnwardsStats.slice(0, core8StatsEnd + kLastRelevantLine.length)
      assert.match(core8Stats, /Core 8 counts:\n {6}156381 \(fetched\) instructions\n(.|\n)*\n {11}1 threads\n/)
    })
  )

  it.live("test_real_files: record-replay", () =>
    Effect.gen(function* () {
      const recordFile = join(root, "tmp_core_sharded_replay.zip")
      let recordOut = yield* runAnalyzer([
        "-core_sharded",
        ...scale,
        "-tool",
        "basic_counts",
        "-indir",
        dir,
        "-cores",
        "3",
        "-record_file",
        recordFile
      ])
      assert.match(
        recordOut,
        /Basic counts tool results:\nTotal counts:\n {6}650576 total \(fetched\) instructions\n(.|\n)*\nCore .*\n(.|\n)*\n *[0-9]+ threads\n(.|\n)*\n/
      )
      let replayOut = yield* runAnalyzer([
        "-core_sharded",
        "-tool",
        "basic_counts",
        "-indir",
        dir,
        "-cores",
        "3",
        "-replay_file",
        recordFile
      ])
      // The idle and wait counts can vary so we remove them.
      recordOut = recordOut.replace(/ *[0-9]+ [a-z ]*(idle|wait) markers\n/g, "")
      replayOut = replayOut.replace(/ *[0-9]+ [a-z ]*(idle|wait) markers\n/g, "")
      assert.strictEqual(replayOut, recordOut)
    })
  )
})
