/**
 * Our tools against DynamoRIO's own output on real traces: every row of
 * ../shared/traces/expected/COMMANDS.tsv that names one of these tools with
 * thread-sharded default options (plus `-reuse_distance_histogram`), compared
 * figure by figure with compare_dr.py and also as whole text; then the
 * semantics document's §9 vectors, read from the same runs' results.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as BasicCounts from "../../src/tools/BasicCounts.ts"
import * as Histogram from "../../src/tools/Histogram.ts"
import * as ReuseDistance from "../../src/tools/ReuseDistance.ts"
import * as ReuseTime from "../../src/tools/ReuseTime.ts"
import * as SyscallMix from "../../src/tools/SyscallMix.ts"
import { compareWithDr, type ExpectedRun, expectedRuns, readExpected, TRACE_PATHS } from "../utils/expected.ts"
import { type AnyTool, type Run, runToolsPath } from "../utils/runTool.ts"

/** The tool value for a DynamoRIO `-tool` name and the extra options of a COMMANDS.tsv row, if we run it. */
const toolFor = (run: ExpectedRun): AnyTool | undefined => {
  const options = run.extraOptions.join(" ")
  switch (run.drTool) {
    case "basic_counts":
      return options === "" ? BasicCounts.basicCounts : undefined
    case "histogram":
      return options === "" ? Histogram.histogram : undefined
    case "reuse_time":
      return options === "" ? ReuseTime.reuseTime : undefined
    case "syscall_mix":
      return options === "" ? SyscallMix.syscallMix : undefined
    case "reuse_distance":
      if (options === "") return ReuseDistance.reuseDistance
      if (options === "-reuse_distance_histogram") return ReuseDistance.make({ reportHistogram: true })
      return undefined
    default:
      return undefined
  }
}

const ours = expectedRuns().flatMap((run) => {
  const tool = toolFor(run)
  return tool === undefined ? [] : [{ run, tool }]
})

// Each trace is read once; every tool of that trace sees the same batches.
const byTrace = new Map<string, Map<string, Run<any, any>>>()
const runOf = (trace: string, tool: string) =>
  Effect.gen(function* () {
    let runs = byTrace.get(trace)
    if (runs === undefined) {
      const rows = ours.filter((o) => o.run.trace === trace)
      const results = yield* runToolsPath(
        rows.map((o) => o.tool),
        TRACE_PATHS[trace]!
      )
      runs = new Map(rows.map((o, i) => [o.run.tool, results[i]!]))
      byTrace.set(trace, runs)
    }
    const r = runs.get(tool)
    assert.isDefined(r, `no COMMANDS.tsv row ${trace}.${tool}`)
    return r!
  })

describe("DynamoRIO's expected outputs", () => {
  it("covers every thread-sharded default run of our tools on the five traces", () => {
    const covered = new Set(ours.map((o) => `${o.run.trace}.${o.run.tool}`))
    for (const trace of Object.keys(TRACE_PATHS)) {
      for (const tool of ["basic_counts", "histogram", "reuse_distance", "reuse_time", "syscall_mix"]) {
        assert.isTrue(covered.has(`${trace}.${tool}`), `${trace}.${tool}`)
      }
    }
    assert.isTrue(covered.has("small.reuse_distance_histogram"))
  })

  for (const { run } of ours) {
    it.effect(
      `${run.trace} ${run.tool} matches every figure (${run.command.replace(/^drmemtrace_launcher /, "")})`,
      () =>
        Effect.gen(function* () {
          const r = yield* runOf(run.trace, run.tool)
          const compared = compareWithDr(run.expectedFile, r.text)
          assert.isTrue(compared.ok, `${compared.report}\n--- ours:\n${r.text}`)
          assert.strictEqual(r.text, readExpected(run.expectedFile))
        })
    )
  }
})

describe("semantics §9 vectors", () => {
  it.effect("threadsig basic_counts totals (core_serial.templatex)", () =>
    Effect.gen(function* () {
      const r: BasicCounts.Result = (yield* runOf("threadsig", "basic_counts")).result
      const c = r.total.counters
      assert.deepStrictEqual(
        [
          c.instrs,
          r.total.uniquePcs,
          c.instrsNofetch,
          c.prefetches,
          c.loads,
          c.stores,
          c.icacheFlushes + c.dcacheFlushes,
          r.total.threads,
          c.schedMarkers,
          c.xferMarkers,
          c.funcIdMarkers,
          c.funcRetaddrMarkers,
          c.funcArgMarkers,
          c.funcRetvalMarkers,
          c.physAddrMarkers,
          c.syscallNumberMarkers,
          c.syscallBlockingMarkers,
          c.skippedMemrefMarkers,
          c.otherMarkers,
          c.encodings,
          c.waitMarkers
        ],
        [650576, 6360, 126, 0, 172208, 100150, 0, 9, 3314, 530, 49, 0, 144, 25, 0, 480, 183, 0, 316, 21842, 0]
      )
      assert.strictEqual(r.shards.length, 9)
    })
  )

  it.effect("threadsig basic_counts per thread: instrs/loads/stores/encodings", () =>
    Effect.gen(function* () {
      const r: BasicCounts.Result = (yield* runOf("threadsig", "basic_counts")).result
      const got = Object.fromEntries(
        r.shards.map((s) => [
          s.tid,
          [s.counts.counters.instrs, s.counts.counters.loads, s.counts.counters.stores, s.counts.counters.encodings]
        ])
      )
      assert.deepStrictEqual(got, {
        872805: [22052, 6303, 3559, 4423],
        872884: [156381, 41274, 24168, 2256],
        872894: [123958, 32775, 19174, 2819],
        872901: [48615, 12833, 7400, 2244],
        872902: [61550, 16232, 9388, 2255],
        872903: [78051, 20590, 11964, 2272],
        872904: [45355, 11990, 6910, 2239],
        872905: [65121, 17160, 9997, 1671],
        872906: [49493, 13051, 7590, 1663]
      })
      for (const s of r.shards) assert.strictEqual(s.counts.uniquePcs, s.counts.counters.encodings)
    })
  )

  it.effect("threadsig-core-sharded basic_counts (core_on_disk.templatex)", () =>
    Effect.gen(function* () {
      const r: BasicCounts.Result = (yield* runOf("threadsig-core-sharded", "basic_counts")).result
      assert.strictEqual(r.shardType, "core")
      assert.strictEqual(r.total.threads, 9)
      assert.strictEqual(r.total.counters.instrs, 650576)
      assert.strictEqual(r.total.counters.loads, 172208)
      assert.strictEqual(r.total.counters.stores, 100150)
      assert.strictEqual(r.total.counters.idleMarkers, 3026416)
      assert.strictEqual(r.total.counters.encodings, 13727)
      const byCore = Object.fromEntries(r.shards.map((s) => [s.core, s.counts]))
      assert.deepStrictEqual(
        [0, 1, 2, 3].map((core) => byCore[core]!.counters.instrs),
        [211131, 98108, 217931, 123406]
      )
      for (const s of r.shards) assert.isTrue(s.counts.threads >= 2 && s.counts.threads <= 3)
    })
  )

  it.effect("chase-snappy basic_counts (offline-snappy.templatex)", () =>
    Effect.gen(function* () {
      const r: BasicCounts.Result = (yield* runOf("chase-snappy", "basic_counts")).result
      const c = r.total.counters
      assert.deepStrictEqual(
        [c.instrs, c.instrsNofetch, c.loads, c.stores, c.schedMarkers, c.xferMarkers],
        [2299781, 48, 566891, 36914, 700, 16]
      )
      assert.deepStrictEqual(
        r.shards.map((s) => [s.tid, s.counts.counters.instrs]),
        [
          [23700, 1432080],
          [23699, 867701]
        ]
      )
    })
  )

  it.effect("small basic_counts", () =>
    Effect.gen(function* () {
      const r: BasicCounts.Result = (yield* runOf("small", "basic_counts")).result
      const c = r.total.counters
      assert.deepStrictEqual([c.instrs, c.loads, c.stores, c.schedMarkers, r.total.threads], [173, 42, 14, 2, 1])
    })
  )

  it.effect("threadsig reuse_time, reuse_distance, histogram, syscall_mix totals (core_sharded.templatex)", () =>
    Effect.gen(function* () {
      const time: ReuseTime.Result = (yield* runOf("threadsig", "reuse_time")).result
      assert.strictEqual(time.aggregate.accesses, 272358)
      assert.strictEqual(time.aggregate.instructions, 650576)
      const dist: ReuseDistance.Result = (yield* runOf("threadsig", "reuse_distance")).result
      assert.strictEqual(dist.aggregate.totalRefs, 922934)
      assert.strictEqual(dist.aggregate.totalRefs - dist.aggregate.dataRefs, 650576)
      const hist: Histogram.Result = (yield* runOf("threadsig", "histogram")).result
      assert.deepStrictEqual([hist.icacheUnique, hist.dcacheUnique], [694, 1155])
      const sys: SyscallMix.Result = (yield* runOf("threadsig", "syscall_mix")).result
      assert.strictEqual(sys.syscallCounts.count[sys.syscallCounts.key.indexOf(15)], 265)
    })
  )

  it.effect("small reuse_distance -reuse_distance_histogram (reuse_offline.expect)", () =>
    Effect.gen(function* () {
      const r: ReuseDistance.Result = (yield* runOf("small", "reuse_distance_histogram")).result
      const a = r.aggregate
      assert.deepStrictEqual(
        [a.totalRefs, a.totalRefs - a.dataRefs, a.dataRefs, a.uniqueAccesses, a.uniqueLines],
        [229, 173, 56, 126, 5]
      )
      assert.deepStrictEqual(a.histogram, { key: [0, 1, 2, 3, 4], count: [103, 42, 13, 13, 53] })
      assert.deepStrictEqual(a.dataHistogram, { key: [2, 4], count: [13, 40] })
      assert.deepStrictEqual(a.topByRefs.refs, [114, 59, 28, 14, 14])
    })
  )
})
