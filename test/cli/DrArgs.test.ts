import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as DrArgs from "../../src/cli/DrArgs.ts"
import type * as Options from "../../src/cli/Options.ts"
import type { UsageError } from "../../src/cli/UsageError.ts"
import { drDefaults } from "./drDefaults.ts"

const TRACES = "../shared/traces"
const THREADSIG = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
const CPU_SCHEDULE = `${THREADSIG}/cpu_schedule.bin.zip`

const dir = (path: string): Options.Input => ({ kind: "dir", path })
const file = (path: string): Options.Input => ({ kind: "file", path })
const words = (line: string) => line.split(/\s+/).filter((w) => w !== "")

const parseOk = (line: string): Options.Options => {
  const r = DrArgs.parseOptions(words(line))
  if (Result.isFailure(r)) assert.fail(`${line}: ${r.failure.message}`)
  return r.success
}

const parseErr = (line: string): UsageError => {
  const r = DrArgs.parseOptions(words(line))
  if (Result.isSuccess(r)) assert.fail(`${line}: expected a usage error`)
  return r.failure
}

describe("DrArgs", () => {
  it("dispatches on a single dash followed by a letter", () => {
    assert.isTrue(DrArgs.isDrForm(["-indir", "x"]))
    assert.isTrue(DrArgs.isDrForm(["-tool", "view"]))
    assert.isFalse(DrArgs.isDrForm(["analyze", "--indir", "x"]))
    assert.isFalse(DrArgs.isDrForm(["--indir", "x"]))
    assert.isFalse(DrArgs.isDrForm(["-"]))
    assert.isFalse(DrArgs.isDrForm([]))
  })

  describe("real drmemtrace command lines", () => {
    // Each line is a DynamoRIO command line (../shared/traces/expected/COMMANDS.tsv,
    // DynamoRIO's suite/tests/CMakeLists.txt, semantics §3.2/§9) with the record
    // DynamoRIO's options.cpp gives it.
    const cases: ReadonlyArray<readonly [string, Options.Options]> = [
      [`-indir ${THREADSIG} -tool basic_counts`, { ...drDefaults([dir(THREADSIG)]), tools: ["basic_counts"] }],
      [
        `-indir ${THREADSIG} -tool view -exit_after_records 60`,
        { ...drDefaults([dir(THREADSIG)]), tools: ["view"], exitAfterRecords: 60 }
      ],
      [
        `-infile ${TRACES}/drmemtrace.small.x64.trace -tool reuse_distance -reuse_distance_histogram`,
        {
          ...drDefaults([file(`${TRACES}/drmemtrace.small.x64.trace`)]),
          tools: ["reuse_distance"],
          reuseDistanceHistogram: true
        }
      ],
      [
        `-indir ${TRACES}/drmemtrace.chase-snappy.x64.tracedir -tool cache_simulator -no_core_sharded`,
        { ...drDefaults([dir(`${TRACES}/drmemtrace.chase-snappy.x64.tracedir`)]), sharding: "thread" }
      ],
      [
        `-indir ${THREADSIG} -core_sharded -cores 4 -replay_file ${TRACES}/schedules/threadsig.recorded_schedule.4cores.zip -tool basic_counts`,
        {
          ...drDefaults([dir(THREADSIG)]),
          tools: ["basic_counts"],
          sharding: "core-sharded",
          replayFile: `${TRACES}/schedules/threadsig.recorded_schedule.4cores.zip`
        }
      ],
      [
        `-indir ${THREADSIG} -core_serial -cpu_schedule_file ${CPU_SCHEDULE} -cores 11`,
        { ...drDefaults([dir(THREADSIG)]), sharding: "core-serial", cpuScheduleFile: CPU_SCHEDULE, cores: 11 }
      ],
      [
        `-indir ${THREADSIG} -tool basic_counts -skip_to_timestamp 13386385969691570 -cpu_schedule_file ${CPU_SCHEDULE}`,
        {
          ...drDefaults([dir(THREADSIG)]),
          tools: ["basic_counts"],
          skipToTimestamp: 13386385969691570n,
          cpuScheduleFile: CPU_SCHEDULE
        }
      ],
      [
        `-indir ${THREADSIG} -tool basic_counts -only_thread 872906 -skip_instrs 10`,
        { ...drDefaults([dir(THREADSIG)]), tools: ["basic_counts"], onlyThreads: [872906], skipInstrs: 10 }
      ],
      [
        `-indir ${THREADSIG} -tool basic_counts -interval_microseconds 1M`,
        { ...drDefaults([dir(THREADSIG)]), tools: ["basic_counts"], intervalMicroseconds: 1048576 }
      ],
      [
        `-indir ${THREADSIG} -tool basic_counts -interval_instr_count 10000`,
        { ...drDefaults([dir(THREADSIG)]), tools: ["basic_counts"], intervalInstrCount: 10000 }
      ],
      [
        `-infile ${TRACES}/drmemtrace.allasm_x86_64.trace.zip -tool view -skip_instrs 62 -exit_after_records 10`,
        {
          ...drDefaults([file(`${TRACES}/drmemtrace.allasm_x86_64.trace.zip`)]),
          tools: ["view"],
          skipInstrs: 62,
          exitAfterRecords: 10
        }
      ],
      [
        `-infile - -tool view -exit_after_records 10`,
        { ...drDefaults([file("-")]), tools: ["view"], exitAfterRecords: 10 }
      ],
      [
        `-indir ${THREADSIG} -sched_block_scale 0.01 -tool reuse_time:reuse_distance:histogram:syscall_mix -core_sharded`,
        {
          ...drDefaults([dir(THREADSIG)]),
          tools: ["reuse_time", "reuse_distance", "histogram", "syscall_mix"],
          schedBlockScale: 0.01,
          sharding: "core-sharded"
        }
      ],
      [
        `-multi_indir ${THREADSIG}:${THREADSIG}:${THREADSIG} -sched_block_scale 0.01 -tool basic_counts -core_sharded -cores 3 -sched_exit_if_fraction_inputs_left 0`,
        {
          ...drDefaults([dir(THREADSIG), dir(THREADSIG), dir(THREADSIG)]),
          tools: ["basic_counts"],
          schedBlockScale: 0.01,
          sharding: "core-sharded",
          cores: 3,
          schedExitIfFractionInputsLeft: 0
        }
      ],
      [
        `-indir ${THREADSIG} -sched_block_scale 0.01 -tool histogram -core_sharded -sched_max_cores 2 -sched_random_initial_layout -1`,
        {
          ...drDefaults([dir(THREADSIG)]),
          tools: ["histogram"],
          schedBlockScale: 0.01,
          sharding: "core-sharded",
          schedMaxCores: 2,
          schedRandomInitialLayout: -1
        }
      ],
      [
        `-indir ${TRACES}/drmemtrace.threadsig-core-sharded.x64.tracedir -tool basic_counts -only_shards 2,3 -no_core_sharded`,
        {
          ...drDefaults([dir(`${TRACES}/drmemtrace.threadsig-core-sharded.x64.tracedir`)]),
          tools: ["basic_counts"],
          onlyShards: [2, 3],
          sharding: "thread"
        }
      ],
      [
        `-indir ${THREADSIG} -jobs 0 -tool basic_counts -simulator_type histogram`,
        { ...drDefaults([dir(THREADSIG)]), tools: ["histogram"], jobs: 0 }
      ]
    ]
    for (const [line, expected] of cases) {
      it(line, () => {
        assert.deepStrictEqual(parseOk(line), expected)
      })
    }

    it("reads every command line of COMMANDS.tsv with its trace and tool", () => {
      const rows = fs
        .readFileSync(`${TRACES}/expected/COMMANDS.tsv`, "utf8")
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split("\t"))
      assert.isAbove(rows.length, 30)
      for (const [trace, tool, command] of rows) {
        const argv = words(command!)
          .slice(1)
          .map((w) => (w.startsWith("drmemtrace.") || w.startsWith("schedules/") ? `${TRACES}/${w}` : w))
        const r = DrArgs.parseOptions(argv)
        if (Result.isFailure(r)) assert.fail(`${command}: ${r.failure.message}`)
        const o = r.success
        assert.deepStrictEqual<ReadonlyArray<string | undefined>>(o.tools, [argv[argv.indexOf("-tool") + 1]], command)
        // The second column names the expected-output file, which starts with the tool's name.
        assert.isTrue(tool!.startsWith(o.tools[0]!), command)
        assert.strictEqual(o.inputs.length, 1, command)
        assert.include(o.inputs[0]!.path, `drmemtrace.${trace}.`, command)
      }
    })
  })

  describe("value conversions (DynamoRIO's droption rules)", () => {
    const base = `-indir ${THREADSIG} -tool basic_counts`
    it("reads sizes with K, M and G suffixes as powers of 1024", () => {
      const o = parseOk(`${base} -L1I_size 64K -LL_size 2M -skip_instrs 1G -exit_after_records 7k`)
      assert.strictEqual(o.l1iSize, 65536)
      assert.strictEqual(o.llSize, 2097152)
      assert.strictEqual(o.skipInstrs, 1073741824)
      assert.strictEqual(o.exitAfterRecords, 7168)
    })
    it("reads integers with strtol's base 0: hex, octal, decimal", () => {
      assert.strictEqual(parseOk(`${base} -cores 0x10`).cores, 16)
      assert.strictEqual(parseOk(`${base} -cores 010`).cores, 8)
      assert.strictEqual(parseOk(`${base} -cores 12`).cores, 12)
    })
    it("takes the next word as the value even when it starts with a dash", () => {
      assert.strictEqual(parseOk(`${base} -jobs -1`).jobs, -1)
      assert.strictEqual(parseOk(`${base} -sched_random_initial_layout -5`).schedRandomInitialLayout, -5)
    })
    it("takes -name=value, --name and a later occurrence overriding an earlier one", () => {
      const o = parseOk(`${base} -cores=6 --jobs 3 -report_top 5 -report_top 7`)
      assert.strictEqual(o.cores, 6)
      assert.strictEqual(o.jobs, 3)
      assert.strictEqual(o.reportTop, 7)
    })
    it("clears switches with -no_name and -noname", () => {
      assert.isFalse(parseOk(`${base} -no_sched_order_time`).schedOrderTime)
      assert.isFalse(parseOk(`${base} -nosched_order_time`).schedOrderTime)
      assert.isTrue(parseOk(`${base} -no_sched_order_time -sched_order_time`).schedOrderTime)
    })
    it("accepts DynamoRIO's tool aliases; two names of one tool make two tools, as in DynamoRIO", () => {
      assert.deepStrictEqual(parseOk(`-indir x -tool cache:drcachesim:basic_counts`).tools, [
        "cache_simulator",
        "cache_simulator",
        "basic_counts"
      ])
    })
    it("keeps timestamps above 2^53 exact", () => {
      const o = parseOk(`${base} -skip_to_timestamp 18446744073709551615 -cpu_schedule_file ${CPU_SCHEDULE}`)
      assert.strictEqual(o.skipToTimestamp, 18446744073709551615n)
    })
    it("reads memtrace's own options", () => {
      const o = parseOk(
        `${base} -json -quiet -failure continue -run_timeout 90s -stall_timeout 500ms -backend fibers -report out.html`
      )
      assert.isTrue(o.json)
      assert.isTrue(o.quiet)
      assert.strictEqual(o.failure, "continue")
      assert.strictEqual(o.runTimeout, 90_000)
      assert.strictEqual(o.stallTimeout, 500)
      assert.strictEqual(o.backend, "fibers")
      assert.strictEqual(o.report, "out.html")
    })
  })

  describe("rejections", () => {
    const cases: ReadonlyArray<readonly [string, UsageError["reason"], string]> = [
      ["-indir x -foo", "UnknownOption", "Unknown option: -foo"],
      ["-indir x -jobs=4x", "InvalidValue", 'Option jobs value "4x" is not an integer'],
      ["-indir x -jobs abc", "InvalidValue", 'Option jobs value "abc" is not an integer'],
      ["-indir x -sched_block_scale fast", "InvalidValue", 'Option sched_block_scale value "fast" is not a number'],
      [
        "-indir x -L1D_size 32KB",
        "InvalidValue",
        'Option L1D_size value "32KB" is not a size (digits with an optional K, M or G suffix)'
      ],
      ["-indir x -cores -1", "OutOfRange", "Option cores value out of range"],
      // Past 4,096 cores per-core state and idle bookkeeping outgrow the process (it used to run out of heap).
      ["-indir x -cores 4097", "OutOfRange", "Option cores value out of range"],
      ["-indir x -cores 4294967295", "OutOfRange", "Option cores value out of range"],
      ["-indir x -verbose 65", "OutOfRange", "Option verbose value out of range"],
      ["-indir x -warmup_fraction 1.5", "OutOfRange", "Option warmup_fraction value out of range"],
      ["-indir x -jobs 4294967296", "OutOfRange", "Option jobs value out of range"],
      ["-indir x -tool basic_counts -jobs", "MissingValue", "Option jobs missing value"],
      ["-indir x -core_sharded=yes", "InvalidValue", "Option core_sharded takes no value"],
      [
        "-indir x -data_prefetcher stride",
        "InvalidValue",
        'Option data_prefetcher value "stride" is not one of nextline, none'
      ],
      ["-indir x -failure retry", "InvalidValue", 'Option failure value "retry" is not one of fail-fast, continue'],
      ["-indir x -use_physical", "UnsupportedOption", "Option -use_physical is not supported by memtrace"],
      ["-indir x -no_use_physical", "UnsupportedOption", "Option -no_use_physical is not supported by memtrace"],
      [
        "-indir x -trim_before_timestamp 5",
        "UnsupportedOption",
        "Option -trim_before_timestamp is not supported by memtrace (to filter a trace into a new one, use memtrace filter: see docs/cli.md)"
      ],
      [
        "-indir x -tool record_filter",
        "UnsupportedTool",
        "the record_filter tool is not implemented by memtrace (to filter a trace into a new one, use memtrace filter: see docs/cli.md). Please choose basic_counts, cache_simulator, histogram, invariant_checker, reuse_distance, reuse_time, schedule_stats, syscall_mix, TLB_simulator or view."
      ],
      [
        `-infile ${TRACES}/drmemtrace.small.x64.trace -tool basic_counts -add_noise_generator -core_serial`,
        "UnsupportedOption",
        "Option -add_noise_generator is not supported by memtrace"
      ],
      [
        "-indir x ./app arg",
        "UnexpectedArgument",
        "unexpected argument: ./app (memtrace analyzes traces; it does not run applications)"
      ],
      ["-tool basic_counts", "MissingInput", "-indir, -multi_indir or -infile is required"],
      ["-indir x -infile y", "Conflict", "only one of -indir, -multi_indir, or -infile can be set"],
      [
        "-indir x -skip_instrs 5 -skip_records 3",
        "Conflict",
        "only one of -skip_instrs, -skip_records, and -skip_to_timestamp can be used at a time"
      ],
      ["-indir x -core_sharded -core_serial", "Conflict", "only one of -core_sharded and -core_serial can be set"],
      [
        "-indir x -interval_microseconds 1000 -interval_instr_count 5",
        "Conflict",
        "cannot enable both kinds of interval analysis: -interval_microseconds and -interval_instr_count"
      ],
      [
        "-indir x -only_thread 1 -only_shards 2",
        "Conflict",
        "only one of -only_thread, -only_threads, and -only_shards can be set"
      ],
      ["-infile x -only_threads 1,2", "Conflict", "-only_threads applies only to -indir"],
      [
        "-indir x -only_threads 1,two",
        "InvalidValue",
        'Option -only_threads value "1,two" is not a comma-separated list of integers'
      ],
      [
        "-indir x -exit_after_records 5 -sim_refs 10",
        "Conflict",
        "-exit_after_instrs and -exit_after_records are not compatible with -sim_refs, -skip_refs, -warmup_refs, or -warmup_fraction"
      ],
      ["-indir x -skip_to_timestamp 5", "Conflict", "-skip_to_timestamp requires -cpu_schedule_file"],
      ["-indir x -record_file a -replay_file b", "Conflict", "only one of -record_file and -replay_file can be set"],
      ["-multi_indir x:y -core_serial", "Conflict", "-multi_indir is only supported in core-sharded mode"],
      ["-indir x -core_sharded -cores 0", "OutOfRange", "For -core_sharded, core count must be > 0"],
      ["-indir x -sched_time_units_per_us 0", "OutOfRange", "-sched_time_units_per_us must be > 0"],
      [
        "-indir x -sched_exit_if_fraction_inputs_left 1.5",
        "OutOfRange",
        "-sched_exit_if_fraction_inputs_left must be between 0 and 1"
      ],
      [
        "-indir x -tool reuse_distance -reuse_histogram_bin_multiplier 0.5",
        "OutOfRange",
        "reuse_histogram_bin_multiplier must be >= 1.0"
      ],
      [
        "-indir x -tool view -sim_refs 10",
        "Conflict",
        "-skip_refs and -sim_refs are not supported with the view tool. Use -skip_records and -exit_after_records instead."
      ],
      [
        "-indir x -tool foo",
        "UnknownTool",
        'unsupported analyzer type "foo". Please choose basic_counts, cache_simulator, histogram, invariant_checker, reuse_distance, reuse_time, schedule_stats, syscall_mix, TLB_simulator or view.'
      ],
      [
        // DynamoRIO's offline-one-early test line; opcode_mix needs a decoder memtrace lacks.
        `-verbose 1 -tool TLB:opcode_mix -core_serial -sim_refs 10 -infile ${TRACES}/drmemtrace.allasm_x86_64.trace.zip`,
        "UnsupportedTool",
        "the opcode_mix tool is not implemented by memtrace. Please choose basic_counts, cache_simulator, histogram, invariant_checker, reuse_distance, reuse_time, schedule_stats, syscall_mix, TLB_simulator or view."
      ],
      ["-indir x -tool ::", "MissingValue", "-tool names no tool"]
    ]
    for (const [line, reason, message] of cases) {
      it(`${line} → ${reason}`, () => {
        const e = parseErr(line)
        assert.strictEqual(e._tag, "UsageError")
        assert.strictEqual(e.reason, reason)
        assert.strictEqual(e.message, message)
      })
    }

    it("names the option as typed", () => {
      assert.strictEqual(parseErr("-indir x -jobs=oops").option, "-jobs")
      assert.strictEqual(parseErr("-indir x --cores -2").option, "--cores")
      assert.strictEqual(parseErr("-indir x -skip_instrs 1 -skip_records 1").option, "-skip_records")
    })
  })

  it("prints help generated from the option table", () => {
    const text = DrArgs.usage()
    assert.include(text, "-sched_quantum <int64>")
    assert.include(text, "[20000000]")
    assert.include(text, "-L1D_size <bytesize>")
    assert.include(text, "[32K]")
    assert.include(text, "-core_sharded ")
    assert.isTrue(DrArgs.wantsHelp(["-indir", "x", "-help"]))
  })
})
