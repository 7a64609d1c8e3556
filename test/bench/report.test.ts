/**
 * The benchmark suite's report generators (bench/lib/report.ts, svg.ts) on
 * hand-made samples: medians and ratios to the floor, the goals' verdicts,
 * the Markdown section and its markers, and the chart's shape. No benchmark
 * runs here.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  END,
  goals,
  growth,
  markdown,
  markdownTable,
  replaceSection,
  type Sample,
  START,
  summarize,
  tableCells
} from "../../bench/lib/report.ts"
import { chart, niceScale } from "../../bench/lib/svg.ts"

const cases = [
  { key: "read-inflate", group: "read", label: "inflate floor" },
  { key: "read-decode", group: "read", label: "read + decode" },
  { key: "schedule-dynamic", group: "schedule", label: "scheduler, dynamic" },
  { key: "analyze-noop-fibers-thread", group: "analyze", label: "noop: fibers" },
  { key: "fail-fibers", group: "fail", label: "failure: fibers" }
]
const traces = [
  { copies: 10, inputs: 90, records: 1_000_000, entries: 1_100_000, zippedBytes: 6 << 20 },
  { copies: 40, inputs: 360, records: 4_000_000, entries: 4_400_000, zippedBytes: 24 << 20 }
]
const sample = (key: string, copies: number, ms: number, extra?: Partial<Sample>): Sample => ({
  key,
  copies,
  ms,
  cpuMs: ms * 0.9,
  mainCpuMs: ms * 0.4,
  records: key === "read-inflate" ? 0 : copies * 100_000,
  bytes: 0,
  peakRssMb: 200 + copies,
  rssBeforeMb: 130,
  ...extra
})
const samples: Array<Sample> = [
  // Floor medians: 1000 ms at 10 copies, 4000 at 40.
  sample("read-inflate", 10, 900),
  sample("read-inflate", 10, 1000),
  sample("read-inflate", 10, 3000),
  sample("read-inflate", 40, 4000),
  sample("read-decode", 10, 1400),
  sample("read-decode", 10, 1500),
  sample("read-decode", 40, 6000),
  sample("schedule-dynamic", 10, 20_000),
  sample("schedule-dynamic", 40, 100_000, { peakRssMb: 900 }),
  sample("analyze-noop-fibers-thread", 10, 1800),
  sample("fail-fibers", 10, 300, { failureLatencyMs: 40 }),
  sample("fail-fibers", 10, 310, { failureLatencyMs: 60 })
]

describe("benchmark report", () => {
  const rows = summarize(cases, samples, traces)

  it("summarises each case and size by medians, with ratios to the floor of the same size", () => {
    assert.deepStrictEqual(
      rows.map((r) => `${r.key}@${r.copies}`),
      [
        "read-inflate@10",
        "read-decode@10",
        "schedule-dynamic@10",
        "analyze-noop-fibers-thread@10",
        "fail-fibers@10",
        "read-inflate@40",
        "read-decode@40",
        "schedule-dynamic@40"
      ]
    )
    const decode = rows.find((r) => r.key === "read-decode" && r.copies === 10)!
    assert.strictEqual(decode.ms, 1450)
    assert.strictEqual(decode.runs, 2)
    assert.strictEqual(decode.vsFloor, 1.45)
    assert.strictEqual(decode.mainCpuMs, 580)
    assert.strictEqual(rows.find((r) => r.key === "read-decode" && r.copies === 40)!.vsFloor, 1.5)
    // The floor's rate is the trace's records over its own time.
    assert.strictEqual(rows[0]!.recordsPerS, 1_000_000)
    const fail = rows.find((r) => r.key === "fail-fibers")!
    assert.strictEqual(fail.failureLatencyMs, 50)
    assert.strictEqual(fail.vsFloor, undefined)
  })

  it("shows the main thread's CPU time, and a dash for runs saved before it was measured", () => {
    const old = samples.map(({ mainCpuMs: _, ...rest }) => rest)
    const oldRows = summarize(cases, old, traces)
    assert.isTrue(oldRows.every((r) => r.mainCpuMs === undefined))
    const column = tableCells(rows)[0]!.indexOf("main thread")
    assert.strictEqual(tableCells(rows)[2]![column], "0.58 s")
    assert.strictEqual(tableCells(oldRows)[2]![column], "—")
  })

  it("judges the goals it has cases for and leaves the others unjudged", () => {
    const g = goals(rows, 10)
    const byGoal = (s: string) => g.find((x) => x.goal.startsWith(s))!
    assert.strictEqual(byGoal("read + decode").met, true)
    assert.strictEqual(byGoal("dynamic scheduling ≤ 1.3 × reading alone (4 outputs").met, false)
    // No 1-output case in these samples.
    assert.strictEqual(byGoal("dynamic scheduling ≤ 1.3 × reading alone (1 output)").met, undefined)
    assert.strictEqual(byGoal("runtime overhead").met, false)
    assert.strictEqual(byGoal("tool failure → typed error ≤ 100 ms").met, true)
    assert.strictEqual(byGoal("tool failure → typed error ≤ 1 s").met, undefined)
    assert.strictEqual(byGoal("basic_counts").met, undefined)
  })

  it("reads the 2-thread goal against the machine ceiling when the run measured it", () => {
    const threadCases = [
      { key: "analyze-noop-threads1-thread", group: "analyze", label: "noop: 1 thread" },
      { key: "analyze-noop-threads2-thread", group: "analyze", label: "noop: 2 threads" },
      { key: "ceiling-noop", group: "ceiling", label: "noop: 2 processes" }
    ]
    const runs = [
      sample("analyze-noop-threads1-thread", 10, 1200),
      sample("analyze-noop-threads2-thread", 10, 1000),
      sample("ceiling-noop", 10, 800)
    ]
    const two = (withCeiling: boolean) =>
      goals(
        summarize(
          threadCases,
          runs.filter((s) => withCeiling || s.key !== "ceiling-noop"),
          traces
        ),
        10
      ).find((x) => x.goal.includes("(noop, thread-sharded)"))!
    assert.strictEqual(two(true).met, false)
    assert.include(two(true).measured, "1.20 × (1 thread / 2 threads")
    assert.include(two(true).measured, "machine ceiling 1.50 ×")
    assert.notInclude(two(false).measured, "machine ceiling")
  })

  it("reports how time and memory grow with the trace", () => {
    const dynamic = growth(rows).find((x) => x.label === "scheduler, dynamic")!
    assert.strictEqual(dynamic.records, 4)
    assert.strictEqual(dynamic.time, 5)
    assert.strictEqual(dynamic.memory, 900 / 210)
  })

  it("makes one Markdown table row per case and size, between the markers", () => {
    const cells = tableCells(rows)
    const md = markdownTable(cells)
    const lines = md.split("\n")
    assert.strictEqual(lines.length, rows.length + 2)
    assert.isTrue(lines.every((l, i) => i === 1 || l.split(" | ").length === cells[0]!.length))
    assert.strictEqual(
      lines[1],
      `|---|${Array(cells[0]!.length - 1)
        .fill("---:")
        .join("|")}|`
    )
    const section = markdown(
      {
        date: "2026-11-27",
        commit: "abc1234",
        node: "v24.21.0",
        cpus: 2,
        cpuModel: "Test CPU",
        loadStart: [1, 2, 3],
        loadEnd: [4, 5, 6],
        reps: 3,
        minutes: 12,
        source: "../shared/traces/drmemtrace.threadsig.x64.tracedir",
        traces,
        svg: "benchmarks.svg"
      },
      rows
    )
    const doc = replaceSection(replaceSection("# Benchmarks\n\nintro\n", "old"), section)
    assert.strictEqual(doc.split(START).length, 2)
    assert.isTrue(doc.startsWith("# Benchmarks\n\nintro\n"))
    assert.isTrue(doc.includes(`${START}\n### Results (2026-11-27, commit abc1234)`))
    assert.isTrue(doc.trimEnd().endsWith(END))
    assert.isFalse(doc.includes("\nold\n"))
  })

  it("draws one bar per case at the base size and one line per case run at several sizes", () => {
    const svg = chart(rows, "test")
    assert.isTrue(svg.startsWith("<svg") && svg.trimEnd().endsWith("</svg>"))
    // The background, then a bar for each non-failure case at 10 copies.
    assert.strictEqual(svg.match(/<rect /g)!.length, 1 + 4)
    // Time and memory panels: a polyline for each of the three cases run at both sizes.
    assert.strictEqual(svg.match(/<polyline /g)!.length, 2 * 3)
  })

  it("picks round axis scales", () => {
    assert.deepStrictEqual(niceScale(37), { max: 40, step: 10 })
    assert.deepStrictEqual(niceScale(0.9), { max: 1, step: 0.2 })
    assert.deepStrictEqual(niceScale(12.5), { max: 12.5, step: 2.5 })
  })
})
