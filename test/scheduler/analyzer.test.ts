/**
 * The scheduler's features through the analyzer, on the real traces, against
 * DynamoRIO's vectors (semantics §9, its test suite's templates and
 * ../shared/traces/expected): as-traced replay (core_sharded_test.cpp,
 * simulate_as_traced), replay of DynamoRIO's own recorded schedule, our
 * recording of the same run (identical to DynamoRIO's file), -only_thread
 * with -skip_instrs (counts_only_thread), -skip_to_timestamp
 * (skip_to_timestamp), -only_shards (only_shards), the view windows of
 * allasm (offline-skip, offline-all-early*, offline-skip-records), kernel
 * sequence insertion (switch_insertion, syscall_insertion), several
 * workloads, and the bad-value errors of every new option.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Analyze from "../../src/cli/Analyze.ts"
import * as DrArgs from "../../src/cli/DrArgs.ts"
import * as Progress from "../../src/cli/Progress.ts"
import * as Scheduler from "../../src/scheduler/Scheduler.ts"
import * as BasicCounts from "../../src/tools/BasicCounts.ts"
import * as ScheduleStats from "../../src/tools/ScheduleStats.ts"
import * as View from "../../src/tools/View.ts"
import * as Trace from "../../src/trace/Trace.ts"

const TRACES = "../shared/traces"
const THREADSIG = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
const CPU_SCHEDULE = `${THREADSIG}/cpu_schedule.bin.zip`
const RECORDED = `${TRACES}/schedules/threadsig.recorded_schedule.4cores.zip`
const ALLASM = `${TRACES}/drmemtrace.allasm_x86_64.trace.zip`
const CORE_SHARDED = `${TRACES}/drmemtrace.threadsig-core-sharded.x64.tracedir`

const text = (path: string | ReadonlyArray<string>, options: Analyzer.Options) =>
  Effect.map(Analyzer.run(path, options), Analyzer.formatText)

/** A number on the line of `text` that ends with `label`, within the section starting at `section`. */
const figure = (text: string, label: string, section = "Total counts:"): number => {
  const from = text.indexOf(section)
  assert.isAtLeast(from, 0, `no section ${section}`)
  const rest = text.slice(from + section.length)
  const end = rest.search(/\n\S/)
  const body = end < 0 ? rest : rest.slice(0, end)
  const line = body.split("\n").find((l) => l.trimEnd().endsWith(label))
  assert.isDefined(line, `no "${label}" in ${section}`)
  return Number(line!.trim().split(/\s+/)[0])
}

/** compare_dr.py with --ignore patterns: every reference figure present in ours. */
const compareDr = (expectedFile: string, actual: string, ignore: ReadonlyArray<string>) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-sched-"))
  try {
    const file = path.join(dir, "actual.txt")
    fs.writeFileSync(file, actual)
    const r = spawnSync(
      "python3",
      ["../shared/tools/compare_dr.py", expectedFile, file, ...ignore.flatMap((p) => ["--ignore", p])],
      { encoding: "utf8" }
    )
    return { ok: r.status === 0, report: `${r.stdout}${r.stderr}` }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

describe("schedules through the analyzer (threadsig)", () => {
  it.effect("as traced on 11 cores: each core is its traced cpu (core_sharded_test.cpp)", () =>
    Effect.gen(function* () {
      const out = yield* text(THREADSIG, {
        tools: [BasicCounts.basicCounts],
        mode: "core-sharded",
        cores: 11,
        cpuScheduleFile: CPU_SCHEDULE
      })
      assert.strictEqual(figure(out, "total (fetched) instructions"), 650576)
      assert.strictEqual(figure(out, "total threads"), 9)
      // Cpu 8 ran one thread, 872884, the whole of it.
      assert.strictEqual(figure(out, "(fetched) instructions", "Core 8 counts:"), 156381)
      assert.strictEqual(figure(out, "threads", "Core 8 counts:"), 1)
      // Cpu 6 was not traced: no "Core 6".
      assert.notInclude(out, "Core 6 counts:")
    })
  )

  it.effect("DynamoRIO's recorded schedule replays to DynamoRIO's counts (-replay_file)", () =>
    Effect.gen(function* () {
      const out = yield* text(THREADSIG, {
        tools: [BasicCounts.basicCounts],
        mode: "core-sharded",
        cores: 4,
        replayFile: RECORDED
      })
      // Idle and wait counts depend on thread timing (its README).
      const r = compareDr(`${TRACES}/expected/threadsig.basic_counts.replay_4cores.txt`, out, [
        "idle markers",
        "wait markers"
      ])
      assert.isTrue(r.ok, r.report)
    })
  )

  it.effect("recording the same run gives DynamoRIO's very file (-record_file; timestamps aside)", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-rec-"))
      const file = path.join(dir, "record.zip")
      try {
        yield* Analyzer.run(THREADSIG, {
          tools: [BasicCounts.basicCounts],
          mode: "core-sharded",
          cores: 4,
          recordFile: file,
          // DynamoRIO recorded it with -sched_block_scale 0.01.
          scheduler: { blockTimeMultiplier: 0.01 }
        })
        const ours = yield* Scheduler.readRecordedSchedule(file)
        const theirs = yield* Scheduler.readRecordedSchedule(RECORDED)
        const strip = (m: ReadonlyMap<string, ReadonlyArray<Scheduler.ScheduleRecord>>) =>
          [...m.entries()].map(([name, recs]) => [name, recs.map((r) => [r.type, r.input, r.start, r.stop])])
        assert.deepStrictEqual(strip(ours), strip(theirs))
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  )

  it.effect("-only_thread with -skip_instrs (counts_only_thread)", () =>
    Effect.gen(function* () {
      const out = yield* text(THREADSIG, { tools: [BasicCounts.basicCounts], onlyThreads: [872906], skipInstrs: 10 })
      assert.strictEqual(figure(out, "total threads"), 1)
      // 49493 instructions, the first 10 skipped.
      assert.strictEqual(figure(out, "total (fetched) instructions"), 49483)
    })
  )

  it.effect("-skip_to_timestamp through the cpu schedule (skip_to_timestamp)", () =>
    Effect.gen(function* () {
      const out = yield* text(THREADSIG, {
        tools: [BasicCounts.basicCounts],
        skipToTimestamp: 13386385969691570n,
        cpuScheduleFile: CPU_SCHEDULE
      })
      assert.strictEqual(figure(out, "total (fetched) instructions"), 21363)
      assert.strictEqual(figure(out, "total threads"), 2)
      assert.strictEqual(figure(out, "(fetched) instructions", "Thread 872805 counts:"), 21301)
      assert.strictEqual(figure(out, "(fetched) instructions", "Thread 872905 counts:"), 62)
    })
  )

  it.effect("context-switch sequences at each switch (switch_insertion)", () =>
    Effect.gen(function* () {
      const out = yield* text(THREADSIG, {
        tools: [ScheduleStats.scheduleStats],
        mode: "core-sharded",
        switchSequenceFile: `${TRACES}/mock_switch_sequences.x64.zip`,
        scheduler: { blockTimeMultiplier: 0.01, quantumDurationInstrs: 1000, randomInitialLayout: -1 }
      })
      assert.strictEqual(figure(out, "instructions"), 650672)
      assert.strictEqual(figure(out, "total context switches"), 35)
      assert.strictEqual(figure(out, "voluntary context switches"), 21)
      assert.strictEqual(figure(out, "context switch sequence injections"), 32)
      assert.strictEqual(figure(out, "system call sequence injections"), 0)
      assert.strictEqual(figure(out, "switches input-to-input"), 19)
      assert.strictEqual(figure(out, "switches input-to-idle"), 16)
      assert.strictEqual(figure(out, "switches idle-to-input"), 13)
    })
  )

  it.effect("system-call sequences after each system call (syscall_insertion)", () =>
    Effect.gen(function* () {
      const out = yield* text(THREADSIG, {
        tools: [ScheduleStats.scheduleStats],
        syscallSequenceFile: `${TRACES}/mock_syscall_sequences.x64`,
        scheduler: { blockTimeMultiplier: 0.01 }
      })
      assert.strictEqual(figure(out, "instructions"), 651070)
      assert.strictEqual(figure(out, "context switch sequence injections"), 0)
      assert.strictEqual(figure(out, "system call sequence injections"), 480)
    })
  )
})

describe("filters and windows on small traces", () => {
  it.effect("runInputs applies the filters to inputs opened by the caller", () =>
    Effect.gen(function* () {
      const inputs = yield* Trace.open(THREADSIG)
      const r = yield* Analyzer.runInputs(inputs, { tools: [BasicCounts.basicCounts], onlyThreads: [872906], jobs: 2 })
      const out = Analyzer.formatText(r)
      assert.strictEqual(figure(out, "total threads"), 1)
      assert.strictEqual(figure(out, "total (fetched) instructions"), 49493)
      const e = yield* Effect.flip(Analyzer.runInputs(inputs, { tools: [BasicCounts.basicCounts], onlyShards: [12] }))
      assert.strictEqual(e._tag, "AnalyzerOptionError")
    })
  )

  it.effect("-only_shards on a core-sharded-on-disk trace (only_shards)", () =>
    Effect.gen(function* () {
      const out = yield* text(CORE_SHARDED, {
        tools: [ScheduleStats.scheduleStats],
        mode: "thread-sharded",
        onlyShards: [2, 3]
      })
      assert.include(out, "           2 cores\n")
      assert.include(out, "4 threads: W0.T872904, W0.T872903, W0.T872902, W0.T872884")
      assert.include(out, "Core #0 schedule: EM_E_M_")
      assert.include(out, "Core #1 schedule: GF_F_F_")
    })
  )

  const viewOf = (options: Partial<Analyzer.Options>) =>
    text(ALLASM, { tools: [View.make({ inputOrdinals: true })], encodings: true, ...options })

  it.effect("view after -skip_instrs 62 -exit_after_records 10 (offline-skip.expect)", () =>
    Effect.gen(function* () {
      const lines = (yield* viewOf({ skipInstrs: 62, exitAfterRecords: 10 })).split("\n")
      // The re-inserted timestamp and cpu are duplicates: not counted as records.
      assert.strictEqual(lines[3], "         114          62: W0.T1992554 <marker: timestamp 13352268558646596>")
      assert.strictEqual(lines[4], "         114          62: W0.T1992554 <marker: W0.T1992554 on core 10>")
      assert.match(lines[5]!, /^ {9}115 {10}63: W0\.T1992554 ifetch {7}2 byte\(s\) @ 0x0000000000401026/)
      assert.match(lines[14]!, /^ {9}124 {10}66: /)
      assert.include(lines.slice(15).join("\n"), "              4 : total instructions")
    })
  )

  it.effect(
    "-exit_after_records and -exit_after_instrs count after the skip (offline-all-early*, offline-skip-records)",
    () =>
      Effect.gen(function* () {
        const total = (out: string) => Number(/(\d+) : total instructions/.exec(out)![1])
        assert.strictEqual(total(yield* viewOf({ skipInstrs: 10, exitAfterRecords: 5 })), 3)
        assert.strictEqual(total(yield* viewOf({ skipInstrs: 10, exitAfterInstrs: 5 })), 5)
        assert.strictEqual(total(yield* viewOf({ skipRecords: 10, exitAfterRecords: 5 })), 4)
      })
  )

  it.effect("several workloads: thread ids tagged with the workload (-multi_indir)", () =>
    Effect.gen(function* () {
      const out = yield* text([ALLASM, ALLASM], {
        tools: [BasicCounts.basicCounts],
        mode: "core-sharded",
        cores: 2,
        separateWorkloads: true,
        scheduler: { exitIfFractionInputsLeft: 0 }
      })
      assert.strictEqual(figure(out, "total (fetched) instructions"), 2 * 133)
      // 1992554 and 2^48 + 1992554 are two threads.
      assert.strictEqual(figure(out, "total threads"), 2)
      const same = yield* text([ALLASM, ALLASM], { tools: [BasicCounts.basicCounts], mode: "core-sharded", cores: 2 })
      assert.strictEqual(figure(same, "total threads"), 1)
    })
  )
})

describe("bad values of the new options", () => {
  const fails = (
    path: string | ReadonlyArray<string>,
    options: Partial<Analyzer.Options>,
    option: string,
    message: RegExp
  ) =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(Analyzer.run(path, { tools: [BasicCounts.basicCounts], ...options }))
      assert.strictEqual(e._tag, "AnalyzerOptionError")
      if (e._tag === "AnalyzerOptionError") {
        assert.strictEqual(e.option, option)
        assert.match(e.message, message)
      }
    })

  it.effect("are refused with the option named", () =>
    Effect.gen(function* () {
      yield* fails(
        THREADSIG,
        { mode: "core-sharded", cores: 4, cpuScheduleFile: CPU_SCHEDULE },
        "cores",
        /11 traced cpus: replaying it as traced needs -cores 11, got 4/
      )
      yield* fails(
        THREADSIG,
        { onlyShards: [9] },
        "onlyShards",
        /^only_shards entry 9 out of bounds for a shard ordinal$/
      )
      yield* fails(
        THREADSIG,
        { onlyThreads: [42] },
        "onlyThreads",
        /^only_threads entry 42 not found in workload inputs$/
      )
      yield* fails(THREADSIG, { onlyThreads: [872906], onlyShards: [1] }, "onlyThreads", /Only one of/)
      yield* fails(
        [ALLASM, ALLASM],
        { separateWorkloads: true, onlyShards: [0] },
        "onlyShards",
        /not currently supported with -multi_indir/
      )
      yield* fails(
        [ALLASM, ALLASM],
        { separateWorkloads: true, mode: "thread-sharded" },
        "separateWorkloads",
        /only supported in core-sharded mode/
      )
      yield* fails(ALLASM, { skipToTimestamp: 5n }, "skipToTimestamp", /requires -cpu_schedule_file/)
      yield* fails(ALLASM, { skipInstrs: -1 }, "skipInstrs", /non-negative integer/)
      yield* fails(ALLASM, { exitAfterInstrs: 1.5 }, "exitAfterInstrs", /non-negative integer/)
      yield* fails(
        ALLASM,
        { mode: "core-sharded", replayFile: RECORDED, recordFile: "/tmp/x.zip" },
        "replayFile",
        /only one of -record_file and -replay_file/
      )
      yield* fails(
        ALLASM,
        { mode: "thread-sharded", replayFile: RECORDED },
        "replayFile",
        /core-sharded and core-serial runs only/
      )
      yield* fails(
        ALLASM,
        { mode: "serial", cpuScheduleFile: CPU_SCHEDULE },
        "cpuScheduleFile",
        /needs a core-sharded or core-serial run/
      )
      // The recorded file has 4 outputs.
      yield* fails(
        THREADSIG,
        { mode: "core-sharded", cores: 2, replayFile: RECORDED },
        "scheduler.replaySchedule",
        /Not enough output streams for recorded file/
      )
      yield* fails(ALLASM, { mode: "serial", backend: "threads", skipInstrs: 3 }, "backend", /use the fiber backend/)
    })
  )

  it.effect("a region past the end of an input fails the run at init (too-far -skip_instrs)", () =>
    Effect.gen(function* () {
      // A runtime failure naming the input, as DynamoRIO's worker reports it; not an option error.
      const e = yield* Effect.flip(Analyzer.run(ALLASM, { tools: [BasicCounts.basicCounts], skipInstrs: 500 }))
      assert.strictEqual(e._tag, "AnalysisFailed")
      if (e._tag === "AnalysisFailed") {
        assert.strictEqual(e.failures.length, 1)
        const f = e.failures[0]!
        assert.strictEqual(f.reason, "SchedulerError")
        assert.strictEqual(f.input, "drmemtrace.allasm_x86_64.trace.zip")
        assert.match(
          f.message,
          /^Too-far -skip_instrs for: drmemtrace\.allasm_x86_64\.trace\.zip: .*past its last one \(133\)/
        )
      }
    })
  )

  it.effect("a record file that cannot be written fails the run, naming -record_file", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        Analyzer.run(ALLASM, {
          tools: [BasicCounts.basicCounts],
          mode: "core-sharded",
          recordFile: `${os.tmpdir()}/no-such-dir-${process.pid}/record.zip`
        })
      )
      assert.strictEqual(e._tag, "AnalyzerOptionError")
      if (e._tag === "AnalyzerOptionError") {
        assert.strictEqual(e.option, "recordFile")
        assert.match(e.message, /^Failed to write schedule to /)
      }
    })
  )

  it.effect("a file that is not a cpu schedule is a TraceError", () =>
    Effect.gen(function* () {
      // allasm's zip members are trace chunks of 12-byte entries, not 32-byte schedule entries.
      const e = yield* Effect.flip(
        Analyzer.run(THREADSIG, {
          tools: [BasicCounts.basicCounts],
          skipToTimestamp: 13386385969691570n,
          cpuScheduleFile: ALLASM
        })
      )
      assert.strictEqual(e._tag, "TraceError")
      if (e._tag === "TraceError") assert.strictEqual(e.reason, "Corrupt")
    })
  )

  it.effect("a bad schedule file is a TraceError naming it", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(
        Analyzer.run(THREADSIG, {
          tools: [BasicCounts.basicCounts],
          mode: "core-sharded",
          replayFile: `${TRACES}/no-such.zip`
        })
      )
      assert.strictEqual(e._tag, "TraceError")
      if (e._tag === "TraceError") assert.strictEqual(e.reason, "NotFound")
    })
  )
})

describe("the command line reaches these options (DynamoRIO form)", () => {
  const cli = (line: string) =>
    Effect.gen(function* () {
      const parsed = DrArgs.parseOptions(line.split(/\s+/))
      if (Result.isFailure(parsed)) return assert.fail(parsed.failure.message)
      return yield* Analyze.runAnalysis(parsed.success, { progress: Progress.none })
    })

  it.effect("-skip_instrs 62 -exit_after_records 10 with view: input ordinals, 4 instructions", () =>
    Effect.gen(function* () {
      const out = yield* cli(`-infile ${ALLASM} -tool view -skip_instrs 62 -exit_after_records 10`)
      assert.include(out.text, "         114          62: W0.T1992554 <marker: timestamp 13352268558646596>\n")
      assert.include(out.text, "              4 : total instructions")
    })
  )

  it.effect("-only_thread with -skip_instrs; -only_shards; -multi_indir", () =>
    Effect.gen(function* () {
      const one = yield* cli(`-indir ${THREADSIG} -tool basic_counts -only_thread 872906 -skip_instrs 10`)
      assert.strictEqual(figure(one.text, "total (fetched) instructions"), 49483)
      const shards = yield* cli(`-indir ${CORE_SHARDED} -tool basic_counts -only_shards 1`)
      // Core 1 of the core-sharded trace ran 872901 and 872906.
      assert.strictEqual(figure(shards.text, "total threads"), 2)
      const two = yield* cli(
        `-multi_indir ${ALLASM}:${ALLASM} -core_sharded -cores 2 -tool basic_counts -sched_exit_if_fraction_inputs_left 0`
      )
      assert.strictEqual(figure(two.text, "total threads"), 2)
    })
  )

  it.effect("-sched_syscall_file and -sched_switch_file; missing files are read errors", () =>
    Effect.gen(function* () {
      const out = yield* cli(
        `-infile ${ALLASM} -tool basic_counts -sched_syscall_file ${TRACES}/mock_syscall_sequences.x64`
      )
      // allasm's 16 write system calls (number 1) get that number's two-instruction
      // sequence, its final exit (60) the default one-instruction sequence.
      assert.strictEqual(figure(out.text, "total (fetched) instructions"), 133 + 16 * 2 + 1)
      const missing = yield* Effect.flip(
        cli(`-infile ${ALLASM} -core_sharded -tool basic_counts -sched_switch_file ${TRACES}/no-such.zip`)
      )
      assert.strictEqual(missing._tag, "TraceError")
    })
  )
})
