/**
 * Usage errors that come from the tools (their options refused when they are
 * built), run in-process through `Cli.run`: one line, one `Usage error:`,
 * naming the option as the user typed it, exit 2, before any trace is read.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Analyze from "../../src/cli/Analyze.ts"
import * as Cli from "../../src/cli/Cli.ts"
import * as DrArgs from "../../src/cli/DrArgs.ts"
import type * as Options from "../../src/cli/Options.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

/** Runs the CLI on `argv`; its exit status and what it wrote to stderr. */
const cli = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    let stderr = ""
    const console: Console.Console = Object.assign(Object.create(globalThis.console), {
      error: (...args: ReadonlyArray<unknown>) => {
        stderr += `${args.join(" ")}\n`
      },
      log: () => {}
    })
    const code = yield* Cli.run(argv).pipe(
      Effect.provideService(Console.Console, console),
      Effect.provide(NodeServices.layer)
    )
    return { code, stderr }
  })

const dr = (...args: ReadonlyArray<string>) => cli(["-indir", THREADSIG, ...args])
const modern = (...args: ReadonlyArray<string>) => cli(["analyze", "--indir", THREADSIG, ...args])

const usage = (line: string) => ({ code: 2, stderr: `ERROR: Usage error: ${line}\n` })

describe("tool usage errors on the command line", () => {
  it.live("name the line size as typed for histogram and reuse_time (-line_size / --line-size)", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(
        yield* dr("-tool", "histogram", "-line_size", "48"),
        usage("histogram: -line_size must be a power of two, got 48")
      )
      assert.deepStrictEqual(
        yield* dr("-tool", "reuse_time", "-line_size", "48"),
        usage("reuse_time: -line_size must be a power of two, got 48")
      )
      assert.deepStrictEqual(
        yield* modern("--tool", "histogram", "--line-size", "48"),
        usage("histogram: --line-size must be a power of two, got 48")
      )
    })
  )

  it.live("name -schedule_stats_print_every, not the library's printEvery", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(
        yield* dr("-tool", "schedule_stats", "-schedule_stats_print_every", "0"),
        usage("schedule_stats: -schedule_stats_print_every must be a positive integer, got 0")
      )
      assert.deepStrictEqual(
        yield* modern("--tool", "schedule_stats", "--schedule-stats-print-every", "0"),
        usage("schedule_stats: --schedule-stats-print-every must be a positive integer, got 0")
      )
    })
  )

  it.live("say `Usage error:` once for the simulators' DynamoRIO messages", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(
        yield* dr("-tool", "cache_simulator", "-L1D_size", "100"),
        usage(
          "cache_simulator: failed to initialize L1 caches.  Ensure sizes divided by associativities are powers of 2 " +
            "and that the total sizes are multiples of the line size. (L1D_size 100, L1D_assoc 8 and line_size 64: " +
            "the number of lines must be a multiple of the associativity)"
        )
      )
      assert.deepStrictEqual(
        yield* dr("-tool", "TLB_simulator", "-page_size", "3000"),
        usage(
          "TLB: failed to initialize itlbs_. Ensure (entry number / associativity) is a power of 2. " +
            "(TLB_L1I_entries 32, TLB_L1I_assoc 32 and page_size 3000: the page size must be a power of 2, at least 4 and below 2^31)"
        )
      )
    })
  )

  it.live("refuse cache and TLB sizes DynamoRIO's int conversion rejects, before allocating them", () =>
    Effect.gen(function* () {
      const ll =
        "cache_simulator: failed to initialize LL cache.  Ensure size divided by associativity is a power of 2, " +
        "that the total size is a multiple of the line size, and that any miss file path is writable. " +
        "(LL_size 1099511627776: sizes from 2^31 on do not fit DynamoRIO's int)"
      assert.deepStrictEqual(yield* dr("-tool", "cache_simulator", "-LL_size", "1024G"), usage(ll))
      assert.deepStrictEqual(yield* modern("--tool", "cache_simulator", "--ll-size", "1024G"), usage(ll))
      assert.deepStrictEqual(
        yield* dr("-tool", "TLB_simulator", "-TLB_L2_entries", "4294967295", "-TLB_L2_assoc", "4294967295"),
        usage(
          "TLB: failed to initialize lltlbs_. Ensure (entry number / associativity) is a power of 2. " +
            "(TLB_L2_entries 4294967295, TLB_L2_assoc 4294967295 and page_size 4096: associativity and the number of entries must be below 2^31)"
        )
      )
    })
  )

  it.live(
    "-cpu_scheduling with core shards fails the run as DynamoRIO's initialize_shard_type does (exit 1), before any shard",
    () =>
      Effect.gen(function* () {
        for (const tool of ["cache_simulator", "TLB"]) {
          const { code, stderr } = yield* dr("-simulator_type", tool, "-core_sharded", "-cpu_scheduling")
          assert.strictEqual(code, 1)
          assert.strictEqual(
            stderr,
            `ERROR: ToolInit: ${tool}: Usage error: -cpu_scheduling not supported with -core_serial; use -cpu_schedule_file with -core_serial instead (tool ${tool})\n`
          )
        }
      })
  )
})

describe("the tool-option table", () => {
  it("maps each tool option to the command-line option Analyze.toolOptions fills it from", () => {
    // Distinct values, so that each tool option's value tells which command-line option it came from.
    const parsed = DrArgs.parseOptions([
      "-indir",
      THREADSIG,
      "-line_size",
      "128",
      "-schedule_stats_print_every",
      "7",
      "-reuse_histogram_bin_multiplier",
      "3",
      "-skip_refs",
      "11",
      "-warmup_refs",
      "13",
      "-sim_refs",
      "17"
    ])
    assert.strictEqual(parsed._tag, "Success")
    const o = (parsed as { readonly success: Options.Options }).success
    const cliName: Record<string, Options.ToolName> = { TLB: "TLB_simulator" }
    for (const [tool, fields] of Object.entries(Cli.toolOptionKeys)) {
      const given = Analyze.toolOptions(cliName[tool] ?? (tool as Options.ToolName), o, false)
      for (const [field, key] of Object.entries(fields)) {
        assert.strictEqual(given[field], o[key as keyof Options.Options], `${tool}.${field}`)
      }
    }
  })
})
