import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Analyzer from "../../src/analyzer/Analyzer.ts"
import { ShardFailure } from "../../src/analyzer/AnalyzerError.ts"
import * as Report from "../../src/report/Report.ts"

const base: Analyzer.AnalysisResult = {
  mode: "core-sharded",
  workers: 2,
  tools: [{ name: "t", result: undefined, text: "a < b && </pre><script>alert(1)</script>\n", shards: [] }],
  failures: [],
  records: 10,
  elapsedMs: 5
}

const count = (html: string, re: RegExp) => html.match(re)?.length ?? 0
const recordsOf = (html: string) =>
  [...html.matchAll(/<rect [^>]*data-records="(\d+)"/g)].reduce((a, m) => a + Number(m[1]), 0)

describe("Report.html", () => {
  it("escapes tool text: a tool cannot inject markup", () => {
    const html = Report.html(base)
    assert.include(html, "a &lt; b &amp;&amp; &lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;")
    assert.strictEqual(count(html, /<script>/g), 1, "only the report's own script")
  })

  it("says when no schedule was recorded, and still shows the tool results", () => {
    const html = Report.html({ ...base, mode: "thread-sharded" })
    assert.include(html, 'id="no-schedule"')
    assert.strictEqual(count(html, /<svg class="lane"/g), 0)
    assert.include(html, 'class="tool-text"')
  })

  it("references nothing outside the page", () => {
    const html = Report.html({
      ...base,
      schedule: [
        {
          output: 0,
          runs: [
            [0, 5],
            [-1, 3],
            [-2, 2]
          ],
          stats: []
        }
      ]
    })
    assert.notMatch(html, /(?:src|href)\s*=/)
    assert.notMatch(html, /https?:\/\/(?!www\.w3\.org)/)
    assert.include(html, "default-src 'none'")
  })

  it("lists failures one line each", () => {
    const failure = new ShardFailure({
      reason: "ToolError",
      worker: 1,
      shard: 1,
      shardType: "core",
      tool: "t",
      record: 12,
      message: "bad <record>"
    })
    const html = Report.html({ ...base, failures: [failure] })
    assert.include(html, `<li>${failure.line.replace("<", "&lt;").replace(">", "&gt;")}</li>`)
  })

  it("draws a core with too many runs as columns that still hold every record", () => {
    const runs: Array<readonly [number, number]> = []
    for (let k = 0; k < Report.MAX_RECTS_PER_CORE * 3; k++) runs.push([k % 3 === 2 ? -1 : k % 3, 7 + (k % 5)])
    const total = runs.reduce((a, [, n]) => a + n, 0)
    const html = Report.html({ ...base, schedule: [{ output: 0, runs, stats: [] }] })
    const rects = count(html, /<rect /g)
    assert.isAtMost(rects, 2001)
    assert.isAtLeast(rects, 1000)
    assert.strictEqual(recordsOf(html), total)
  })

  it("many cores share the page's rectangles: each lane draws its share as columns, and keeps every record", () => {
    const cores = 64
    const schedule = Array.from({ length: cores }, (_, output) => {
      const runs: Array<readonly [number, number]> = []
      for (let k = 0; k < 1000 + output; k++) runs.push([(k + output) % 7, 1 + ((k * 31 + output) % 9)])
      return { output, runs, stats: [] }
    })
    const total = schedule.reduce((a, o) => a + o.runs.reduce((b, [, n]) => b + n, 0), 0)
    const html = Report.html({ ...base, schedule })
    assert.isAtMost(count(html, /<rect /g), Report.MAX_RECTS)
    assert.strictEqual(recordsOf(html), total)
    // Every lane is drawn, each within its share.
    const lanes = [...html.matchAll(/<svg class="lane" data-core="(\d+)"[^>]*>(.*?)<\/svg>/g)]
    assert.strictEqual(lanes.length, cores)
    for (const [, , body] of lanes) {
      const n = count(body!, /<rect /g)
      assert.isAbove(n, 0)
      assert.isAtMost(n, Report.MAX_RECTS / cores)
    }
    // A few cores keep the full per-core budget: 1,000 runs are drawn one by one.
    const few = Report.html({ ...base, schedule: schedule.slice(0, 4) })
    assert.strictEqual(
      count(few, /<rect /g),
      schedule.slice(0, 4).reduce((a, o) => a + o.runs.length, 0)
    )
  })

  it.effect("write fails with a ReportError naming the path", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Report.write("/nonexistent-dir/x/report.html", base))
      assert.strictEqual(error._tag, "ReportError")
      assert.strictEqual(error.path, "/nonexistent-dir/x/report.html")
    })
  )
})
