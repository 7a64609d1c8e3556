/**
 * The package root: every public module is there as a namespace, through the
 * package's own name (`import … from "memtrace"`, package.json "exports") as
 * through the file.
 */
import { execFileSync } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import * as ByName from "memtrace"
import * as Root from "../src/index.ts"

/** The areas whose public modules (src/AREA/Name.ts) the root must export. */
const AREAS = ["trace", "scheduler", "analyzer", "tools", "report", "cluster"]

describe("memtrace (package root)", () => {
  it("resolves by package name to the same modules", () => {
    assert.strictEqual(ByName.Analyzer, Root.Analyzer)
    assert.strictEqual(ByName.Trace, Root.Trace)
  })

  it("exports every public module of every area", () => {
    const exported = new Set(Object.keys(Root))
    // Committed modules only (a module being written is not public yet).
    const tracked = execFileSync("git", ["ls-files", ...AREAS.map((a) => `src/${a}/`)], { encoding: "utf8" })
    for (const path of tracked.split("\n")) {
      const m = /^src\/(\w+)\/([A-Z]\w*)\.ts$/.exec(path)
      if (m === null) continue
      assert.isTrue(exported.has(m[2]!), `src/index.ts lacks: export * as ${m[2]} from "./${m[1]}/${m[2]}.ts"`)
    }
  })

  it("gives the entry points a user starts from", () => {
    const fns: ReadonlyArray<readonly [string, unknown]> = [
      ["Trace.open", Root.Trace.open],
      ["Trace.fromEntries", Root.Trace.fromEntries],
      ["Trace.decodeSync", Root.Trace.decodeSync],
      ["RecordBatch.make", Root.RecordBatch.make],
      ["Record.isInstr", Root.Record.isInstr],
      ["Synthetic.thread", Root.Synthetic.thread],
      ["Info.describe", Root.Info.describe],
      ["TraceWriter.writeFile", Root.TraceWriter.writeFile],
      ["Scheduler.make", Root.Scheduler.make],
      ["Analyzer.run", Root.Analyzer.run],
      ["Analyzer.runInputs", Root.Analyzer.runInputs],
      ["Analyzer.formatText", Root.Analyzer.formatText],
      ["Tool.make", Root.Tool.make],
      ["Tool.withSpec", Root.Tool.withSpec],
      ["Registry.make", Root.Registry.make],
      ["BasicCounts.make", Root.BasicCounts.make],
      ["Histogram.make", Root.Histogram.make],
      ["ReuseDistance.make", Root.ReuseDistance.make],
      ["ReuseTime.make", Root.ReuseTime.make],
      ["SyscallMix.make", Root.SyscallMix.make],
      ["View.make", Root.View.make],
      ["CacheSimulator.make", Root.CacheSimulator.make],
      ["TlbSimulator.make", Root.TlbSimulator.make],
      ["ScheduleStats.make", Root.ScheduleStats.make],
      ["Cluster.analyze", Root.Cluster.analyze],
      ["Report.html", Root.Report.html],
      ["Report.write", Root.Report.write],
      ["Json.encode", Root.Json.encode]
    ]
    for (const [name, f] of fns) assert.strictEqual(typeof f, "function", name)
    assert.strictEqual(Root.Record.TraceType.INSTR, 10)
    assert.strictEqual(Root.Record.MarkerType.CORE_IDLE, 33)
    assert.strictEqual(Root.Analyzer.defaults.cores, 4)
    for (const E of [
      Root.TraceError.TraceError,
      Root.SchedulerError.SchedulerError,
      Root.AnalyzerError.AnalysisFailed,
      Root.AnalyzerError.AnalyzerOptionError,
      Root.Report.ReportError
    ])
      assert.strictEqual(typeof E, "function")
    for (const name of ["basic_counts", "histogram", "reuse_distance", "reuse_time", "syscall_mix", "view"])
      assert.include(Root.Registry.names, name)
    for (const name of ["cache_simulator", "TLB"]) assert.include(Root.Registry.names, name)
  })
})
