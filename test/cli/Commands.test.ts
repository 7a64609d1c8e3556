import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Command } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Commands from "../../src/cli/Commands.ts"
import * as DrArgs from "../../src/cli/DrArgs.ts"
import type * as Options from "../../src/cli/Options.ts"
import type { UsageError } from "../../src/cli/UsageError.ts"

const T = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

type Captured =
  | { readonly _tag: "analyze"; readonly options: Options.Options }
  | { readonly _tag: "info"; readonly path: string; readonly json: boolean }
  | { readonly _tag: "view"; readonly request: Commands.ViewRequest }

/** Runs the modern form in-process and returns what the handler received. */
const modern = (line: string) =>
  Effect.gen(function* () {
    const seen: Array<Captured> = []
    const root = Commands.make({
      analyze: (options) => Effect.sync(() => seen.push({ _tag: "analyze", options })),
      info: (path, json) => Effect.sync(() => seen.push({ _tag: "info", path, json })),
      view: (request) => Effect.sync(() => seen.push({ _tag: "view", request }))
    })
    yield* Command.runWith(root, { version: "test" })(line.split(/\s+/).filter((w) => w !== ""))
    assert.strictEqual(seen.length, 1)
    return seen[0]!
  }).pipe(Effect.provide(NodeServices.layer))

const dr = (line: string): Options.Options => {
  const r = DrArgs.parseOptions(line.split(/\s+/))
  if (Result.isFailure(r)) assert.fail(r.failure.message)
  return r.success
}

describe("Commands (modern form)", () => {
  // Equivalent command lines in both forms give equal records.
  const pairs: ReadonlyArray<readonly [string, string]> = [
    [`-indir ${T} -tool basic_counts`, `analyze --indir ${T} --tool basic_counts`],
    [
      `-indir ${T} -tool basic_counts:histogram -core_sharded -cores 8 -sched_quantum 1000 -no_sched_order_time`,
      `analyze --indir ${T} --tool basic_counts,histogram --core-sharded --cores 8 --sched-quantum 1000 --no-sched-order-time`
    ],
    [
      `-indir ${T} -tool histogram -jobs 0 -line_size 128 -report_top 3 -no_core_sharded`,
      `analyze --indir ${T} --tool histogram --jobs 0 --line-size 128 --report-top 3 --no-core-sharded`
    ],
    [
      `-indir ${T} -tool reuse_distance -reuse_distance_histogram -reuse_distance_threshold 50 -skip_records 10 -exit_after_records 100`,
      `analyze --indir ${T} --tool reuse_distance --reuse-distance-histogram --reuse-distance-threshold 50 --skip-records 10 --exit-after-records 100`
    ],
    [
      `-indir ${T} -core_serial -cpu_schedule_file ${T}/cpu_schedule.bin.zip -cores 11 -L1D_size 64K -LL_assoc 8 -replace_policy FIFO -data_prefetcher none`,
      `analyze --indir ${T} --core-serial --cpu-schedule-file ${T}/cpu_schedule.bin.zip --cores 11 --l1d-size 64K --ll-assoc 8 --replace-policy FIFO --data-prefetcher none`
    ],
    [
      `-multi_indir ${T}:${T} -core_sharded -tool basic_counts -sched_exit_if_fraction_inputs_left 0 -sched_random_initial_layout -1`,
      `analyze --indir ${T} --indir ${T} --core-sharded --tool basic_counts --sched-exit-if-fraction-inputs-left 0 --sched-random-initial-layout=-1`
    ],
    [
      `-infile ${T}/x.zip -tool view:basic_counts -skip_to_timestamp 13386385969691570 -cpu_schedule_file s.zip`,
      `analyze --infile ${T}/x.zip --tool view --tool basic_counts --skip-to-timestamp 13386385969691570 --cpu-schedule-file s.zip`
    ],
    [
      `-indir ${T} -tool basic_counts -json -quiet -failure continue -run_timeout 5m -stall_timeout 10s -backend fibers`,
      `analyze --indir ${T} --tool basic_counts --json --quiet --failure continue --run-timeout 5m --stall-timeout 10s --backend fibers`
    ]
  ]
  for (const [drLine, modernLine] of pairs) {
    it.effect(modernLine, () =>
      Effect.gen(function* () {
        const got = yield* modern(modernLine)
        assert.strictEqual(got._tag, "analyze")
        if (got._tag === "analyze") assert.deepStrictEqual(got.options, dr(drLine))
      })
    )
  }

  const rejected: ReadonlyArray<readonly [string, UsageError["reason"], string]> = [
    ["analyze --indir x --jobs abc", "InvalidValue", 'Option --jobs value "abc" is not an integer'],
    ["analyze --indir x --cores -1", "OutOfRange", "Option --cores value out of range"],
    [
      "analyze --indir x --skip-instrs 5 --skip-records 3",
      "Conflict",
      "only one of --skip-instrs, --skip-records, and --skip-to-timestamp can be used at a time"
    ],
    [
      "analyze --indir x --core-sharded --core-serial",
      "Conflict",
      "only one of --core-sharded and --core-serial can be set"
    ],
    ["analyze --indir x --infile y", "Conflict", "only one of --indir, --multi-indir, or --infile can be set"],
    ["analyze --tool basic_counts", "MissingInput", "--indir, --multi-indir or --infile is required"],
    [
      "analyze --indir x --tool basic_counts,nope",
      "UnknownTool",
      'unsupported analyzer type "nope". Please choose basic_counts, cache_simulator, histogram, invariant_checker, reuse_distance, reuse_time, schedule_stats, syscall_mix, TLB_simulator or view.'
    ]
  ]
  for (const [line, reason, message] of rejected) {
    it.effect(`${line} → ${reason}`, () =>
      Effect.gen(function* () {
        const e = yield* Effect.flip(modern(line))
        assert.strictEqual((e as UsageError)._tag, "UsageError")
        assert.strictEqual((e as UsageError).reason, reason)
        assert.strictEqual((e as UsageError).message, message)
      })
    )
  }

  it.effect("rejects unknown flags as effect/cli parse errors", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(modern("analyze --indir x --frobnicate"))
      assert.strictEqual((e as { _tag: string })._tag, "ShowHelp")
    })
  )

  it.effect("reads info and view requests", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* modern(`info ${T} --json`), { _tag: "info", path: T, json: true })
      assert.deepStrictEqual(yield* modern(`view ${T} --skip-records 5 --exit-after-records 1K`), {
        _tag: "view",
        request: { path: T, skipRecords: 5, exitAfterRecords: 1024 }
      })
      assert.deepStrictEqual(yield* modern(`view ${T}`), {
        _tag: "view",
        request: { path: T, skipRecords: 0, exitAfterRecords: 0 }
      })
    })
  )
})
