/**
 * The schedule report opened in headless Chromium (Debian's, driven by
 * playwright-core; scripts/ensure-chromium.sh installs it when missing): a
 * real core-sharded run of threadsig on 4 cores, and what a reader sees.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type Browser, chromium, type Page } from "playwright-core"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Report from "../../src/report/Report.ts"
import * as Registry from "../../src/tools/Registry.ts"
import * as Trace from "../../src/trace/Trace.ts"

const TRACE = "../shared/traces/drmemtrace.threadsig.x64.tracedir"
const EXPECTED = "../shared/traces/expected/threadsig.basic_counts.txt"
const SCREENSHOT = process.env.UPDATE_SCREENSHOTS
  ? "docs/screenshots/schedule-report.png"
  : path.join(os.tmpdir(), `memtrace-report-${process.pid}.png`)

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run"
]

const ensureChromium = (): string => {
  try {
    return execFileSync("bash", ["scripts/ensure-chromium.sh"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"]
    }).trim()
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? String(e)
    throw new Error(`the report test needs headless Chromium at /usr/bin/chromium and could not install it: ${stderr}`)
  }
}

let browser: Browser
let page: Page
let result: Analyzer.AnalysisResult
let files: ReadonlyArray<string>
const requests: Array<string> = []
const pageErrors: Array<string> = []

beforeAll(async () => {
  const executablePath = ensureChromium()
  const run = Effect.gen(function* () {
    const tool = yield* Registry.make("basic_counts")
    // -sched_block_scale 0.01, as DynamoRIO's recorded threadsig schedule: short idles, a fast run.
    const result = yield* Analyzer.run(TRACE, {
      tools: [tool],
      mode: "core-sharded",
      cores: 4,
      recordSchedule: true,
      scheduler: { blockTimeMultiplier: 0.01 }
    })
    const inputs = yield* Report.inputLabels(TRACE)
    const files = yield* Trace.list(TRACE)
    return { result, inputs, files }
  })
  const made = await Effect.runPromise(run)
  result = made.result
  files = made.files
  browser = await chromium.launch({ executablePath, args: FLAGS })
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  await page.route("**/*", (route) => {
    requests.push(route.request().url())
    return route.abort()
  })
  page.on("pageerror", (e) => pageErrors.push(e.message))
  await page.setContent(Report.html(result, { trace: TRACE, inputs: made.inputs }), { waitUntil: "load" })
}, 600_000)

afterAll(async () => {
  await browser?.close()
  if (!process.env.UPDATE_SCREENSHOTS) fs.rmSync(SCREENSHOT, { force: true })
})

const inPage = <A>(f: () => Promise<A>) => Effect.promise(f)
const schedule = () => result.schedule!

describe("Report in a browser (threadsig, core-sharded, 4 cores)", () => {
  it.effect("draws one timeline per core, one rectangle per run, with every record of the core", () =>
    Effect.gen(function* () {
      assert.strictEqual(schedule().length, 4)
      const lanes = yield* inPage(() =>
        page.$$eval("svg.lane", (svgs) =>
          svgs.map((svg) => ({
            core: Number(svg.getAttribute("data-core")),
            width: svg.getBoundingClientRect().width,
            rects: [...svg.querySelectorAll("rect")].map((r) => ({
              input: Number(r.getAttribute("data-input")),
              records: Number(r.getAttribute("data-records")),
              x: Number(r.getAttribute("x"))
            }))
          }))
        )
      )
      assert.strictEqual(lanes.length, 4)
      for (const [c, lane] of lanes.entries()) {
        const runs = schedule()[c]!.runs
        assert.strictEqual(lane.core, c)
        assert.isAbove(lane.width, 500, "the lane is visible and wide")
        assert.deepStrictEqual(
          lane.rects.map((r) => [r.input, r.records]),
          runs.map(([input, records]) => [input, records])
        )
        for (let k = 1; k < lane.rects.length; k++) assert.isAbove(lane.rects[k]!.x, lane.rects[k - 1]!.x)
      }
    })
  )

  it.effect("the legend lists the 9 threads with their thread ids and files", () =>
    Effect.gen(function* () {
      const items = yield* inPage(() =>
        page.$$eval("#legend li[data-input]", (lis) =>
          lis.map((li) => ({
            input: Number(li.getAttribute("data-input")),
            tid: Number(li.getAttribute("data-tid")),
            text: li.textContent ?? "",
            colour: (globalThis as any).getComputedStyle(li.querySelector(".swatch")!).backgroundColor
          }))
        )
      )
      assert.strictEqual(items.length, 9)
      // The thread id is the first number of each file name (drmemtrace.threadsig.TID.N.trace.zip).
      for (const [i, file] of files.entries()) {
        const tid = Number(/threadsig\.(\d+)\./.exec(path.basename(file))![1])
        assert.strictEqual(items[i]!.input, i)
        assert.strictEqual(items[i]!.tid, tid)
        assert.include(items[i]!.text, `tid ${tid}`)
        assert.include(items[i]!.text, path.basename(file))
      }
      assert.strictEqual(new Set(items.map((i) => i.colour)).size, 9, "a distinct colour per thread")
      // A lane's rectangle of input i has input i's legend colour.
      const rectColour = yield* inPage(() =>
        page.$eval('svg.lane rect[data-input="3"]', (r) => (globalThis as any).getComputedStyle(r).fill)
      )
      assert.strictEqual(rectColour, items[3]!.colour)
    })
  )

  it.effect("the statistics table shows each core's scheduler counters and their total", () =>
    Effect.gen(function* () {
      const cells = yield* inPage(() =>
        page.$$eval("#stats td[data-stat]", (tds) =>
          tds.map((td) => ({
            stat: td.getAttribute("data-stat")!,
            core: td.getAttribute("data-core")!,
            text: td.textContent!
          }))
        )
      )
      const cell = (stat: string, core: string) => {
        const found = cells.find((c) => c.stat === stat && c.core === core)
        assert.isDefined(found, `${stat} / ${core}`)
        return Number(found!.text.replace(/,/g, ""))
      }
      assert.strictEqual(Report.statistics.length, 14)
      for (const [k, [name]] of Report.statistics.entries()) {
        let total = 0
        for (const s of schedule()) {
          assert.strictEqual(cell(name, String(s.output)), s.stats[k], `${name} on core ${s.output}`)
          total += s.stats[k]!
        }
        assert.strictEqual(cell(name, "total"), total, name)
      }
      // Dynamic scheduling did happen: threads switched and went idle.
      assert.isAbove(cell("SWITCH_INPUT_TO_IDLE", "total"), 0)
      assert.isAbove(cell("SWITCH_IDLE_TO_INPUT", "total"), 0)
      // The lanes account for every record the tools processed, and for every
      // idle marker basic_counts saw.
      assert.strictEqual(cell("records", "total"), result.records)
      const idleMarkers = Number(/(\d+) total idle markers/.exec(result.tools[0]!.text)![1])
      assert.strictEqual(cell("idle", "total"), idleMarkers)
    })
  )

  it.effect("the tool's printed results are on the page, with DynamoRIO's totals", () =>
    Effect.gen(function* () {
      const texts = yield* inPage(() => page.$$eval("pre.tool-text", (pres) => pres.map((p) => p.textContent)))
      assert.deepStrictEqual(texts, [result.tools[0]!.text])
      // Scheduling onto cores changes no total: the instruction count is DynamoRIO's thread-sharded one.
      const expected = fs.readFileSync(EXPECTED, "utf8")
      const line = expected.split("\n").find((l) => l.includes("total (fetched) instructions"))!
      assert.include(texts[0]!, line)
    })
  )

  it.effect("is self-contained: no request leaves the page and its script runs without error", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(requests, [])
      assert.deepStrictEqual(pageErrors, [])
    })
  )

  it.effect("the zoom control widens the timeline", () =>
    Effect.gen(function* () {
      const before = yield* inPage(() => page.$eval("svg.lane", (s) => s.getBoundingClientRect().width))
      yield* inPage(() =>
        page.$eval("#zoom", (z) => {
          ;(z as unknown as { value: string }).value = "4"
          z.dispatchEvent(new Event("input"))
        })
      )
      const after = yield* inPage(() => page.$eval("svg.lane", (s) => s.getBoundingClientRect().width))
      const label = yield* inPage(() => page.$eval("#zoom-value", (s) => s.textContent))
      yield* inPage(() =>
        page.$eval("#zoom", (z) => {
          ;(z as unknown as { value: string }).value = "1"
          z.dispatchEvent(new Event("input"))
        })
      )
      assert.strictEqual(label, "4×")
      assert.isAbove(after / before, 3.5)
    })
  )

  it.effect("takes a screenshot (docs/screenshots/schedule-report.png with UPDATE_SCREENSHOTS=1)", () =>
    Effect.gen(function* () {
      yield* inPage(() => page.screenshot({ path: SCREENSHOT }))
      const png = fs.readFileSync(SCREENSHOT)
      assert.deepStrictEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG")
      assert.strictEqual(png.readUInt32BE(16), 1280, "the viewport's width")
    })
  )
})
