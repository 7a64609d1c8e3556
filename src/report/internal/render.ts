/**
 * Renders an analysis result as one self-contained HTML page: inline CSS, an
 * inline SVG lane per core, a few lines of inline script for the zoom, and
 * nothing fetched from anywhere. Pure string building, deterministic for a
 * given result (no dates, no randomness), so a page can be diffed.
 */
import type { AnalysisResult, OutputSchedule } from "../../analyzer/Analyzer.ts"

export interface InputLabel {
  readonly name: string
  /** Thread id (first thread of the input); absent or ≤ 0 when unknown. */
  readonly tid?: number | undefined
}

export interface RenderOptions {
  readonly title?: string | undefined
  readonly trace?: string | undefined
  readonly inputs?: ReadonlyArray<InputLabel> | undefined
}

export const IDLE = -1
export const WAIT = -2

/** DynamoRIO's `schedule_statistic_t`, in its order (the order of `OutputSchedule.stats`). */
export const STATISTICS: ReadonlyArray<readonly [name: string, label: string]> = [
  ["SWITCH_INPUT_TO_INPUT", "switches input → input"],
  ["SWITCH_INPUT_TO_IDLE", "switches input → idle"],
  ["SWITCH_IDLE_TO_INPUT", "switches idle → input"],
  ["SWITCH_NOP", "switches nop-ed (quantum end, same input)"],
  ["QUANTUM_PREEMPTS", "quantum preempts"],
  ["DIRECT_SWITCH_ATTEMPTS", "direct switch attempts"],
  ["DIRECT_SWITCH_SUCCESSES", "direct switch successes"],
  ["MIGRATIONS", "migrations"],
  ["RUNQUEUE_STEALS", "run-queue steals"],
  ["RUNQUEUE_REBALANCES", "run-queue rebalances"],
  ["HIT_OUTPUT_LIMIT", "output-limit hits"],
  ["KERNEL_SWITCH_SEQUENCE_INJECTIONS", "kernel switch sequence injections"],
  ["KERNEL_SYSCALL_SEQUENCE_INJECTIONS", "kernel syscall sequence injections"],
  ["CANONICALIZED_ADDRESSES", "canonicalized addresses"]
]

/** Above this many runs on one core, runs are drawn as columns coloured by their dominant input. */
export const MAX_RECTS_PER_CORE = 4000
/**
 * Rectangles the whole timeline draws at most (≈ 240 bytes each): with many
 * cores each lane gets its share, down to {@link MIN_RECTS_PER_CORE}.
 */
export const MAX_RECTS = 16_000
/** The smallest share of a lane, so that a run on hundreds of cores still shows each core's shape. */
export const MIN_RECTS_PER_CORE = 100

/** What a lane of a timeline of `lanes` cores may draw one by one; it draws half as many columns past that. */
const laneBudget = (lanes: number): number =>
  Math.max(MIN_RECTS_PER_CORE, Math.min(MAX_RECTS_PER_CORE, Math.floor(MAX_RECTS / Math.max(1, lanes))))
/** Lane width in SVG user units; the lane stretches to the page width. */
const WIDTH = 1000

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"
  )

const num = (n: number): string => n.toLocaleString("en-US")

/** A distinct, deterministic colour per input ordinal (golden-angle hues, two lightnesses). */
export const colourOf = (input: number): string => {
  if (input === IDLE) return "#d9d9d9"
  if (input === WAIT) return "#8c8c8c"
  const hue = Math.round((input * 137.508) % 360)
  const light = input % 2 === 0 ? 52 : 40
  return `hsl(${hue} 70% ${light}%)`
}

interface Lane {
  readonly output: number
  readonly total: number
  readonly busy: number
  readonly idle: number
  readonly wait: number
  readonly runs: ReadonlyArray<readonly [number, number]>
}

const laneOf = (s: OutputSchedule): Lane => {
  let total = 0
  let busy = 0
  let idle = 0
  let wait = 0
  for (const [input, records] of s.runs) {
    total += records
    if (input === IDLE) idle += records
    else if (input === WAIT) wait += records
    else busy += records
  }
  return { output: s.output, total, busy, idle, wait, runs: s.runs }
}

const pct = (part: number, whole: number): string => (whole === 0 ? "0.0" : ((100 * part) / whole).toFixed(1))

const labelOf = (input: number, inputs: ReadonlyArray<InputLabel> | undefined): string => {
  if (input === IDLE) return "idle"
  if (input === WAIT) return "wait"
  const l = inputs?.[input]
  if (l === undefined) return `input ${input}`
  return l.tid !== undefined && l.tid > 0 ? `input ${input} (tid ${l.tid}, ${l.name})` : `input ${input} (${l.name})`
}

/** The rectangles of one lane: one per run, or per column when it has more runs than `budget`. */
const rects = (lane: Lane, scale: number, inputs: ReadonlyArray<InputLabel> | undefined, budget: number): string => {
  const out: Array<string> = []
  const minWidth = 0.2
  if (lane.runs.length <= budget) {
    let at = 0
    for (const [input, records] of lane.runs) {
      const x = at * scale
      const w = Math.max(records * scale, minWidth)
      const title = `core ${lane.output}: ${labelOf(input, inputs)}, records ${num(at + 1)}–${num(at + records)} (${num(records)})`
      out.push(
        `<rect x="${x.toFixed(3)}" y="0" width="${w.toFixed(3)}" height="10" fill="${colourOf(input)}" data-input="${input}" data-records="${records}"><title>${escapeHtml(title)}</title></rect>`
      )
      at += records
    }
    return out.join("")
  }
  // Too many runs to draw one by one: fixed columns, each coloured by the
  // input (or idle/wait) holding most of its records.
  const columnRecords = Math.max(1, Math.ceil(lane.total / Math.floor(budget / 2)))
  let column = 0
  let filled = 0
  let counts = new Map<number, number>()
  const flush = () => {
    let best = IDLE
    let bestCount = -1
    for (const [input, c] of counts) if (c > bestCount) [best, bestCount] = [input, c]
    const start = column * columnRecords
    const records = filled
    const title = `core ${lane.output}: records ${num(start + 1)}–${num(start + records)}, mostly ${labelOf(best, inputs)} (${counts.size} kinds)`
    out.push(
      `<rect x="${(start * scale).toFixed(3)}" y="0" width="${Math.max(records * scale, minWidth).toFixed(3)}" height="10" fill="${colourOf(best)}" data-input="${best}" data-records="${records}"><title>${escapeHtml(title)}</title></rect>`
    )
    column++
    filled = 0
    counts = new Map()
  }
  for (const [input, records] of lane.runs) {
    let left = records
    while (left > 0) {
      const take = Math.min(left, columnRecords - filled)
      counts.set(input, (counts.get(input) ?? 0) + take)
      filled += take
      left -= take
      if (filled === columnRecords) flush()
    }
  }
  if (filled > 0) flush()
  return out.join("")
}

const CSS = `
:root { color-scheme: light; --fg: #1d2329; --muted: #5b6570; --line: #d8dde2; --bg: #ffffff; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: var(--muted); margin: 0 0 4px; }
.meta code { color: var(--fg); }
dl.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin: 16px 0 0; }
dl.summary div { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
dl.summary dt { color: var(--muted); font-size: 12px; }
dl.summary dd { margin: 0; font-size: 17px; font-weight: 600; }
.controls { display: flex; gap: 16px; align-items: center; margin: 0 0 8px; color: var(--muted); }
.scroller { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); padding: 8px 0; }
.timeline { width: 100%; min-width: 600px; padding: 0 12px; }
.row { display: grid; grid-template-columns: 110px 1fr; align-items: center; gap: 10px; margin: 4px 0; }
.row .name { font-weight: 600; white-space: nowrap; position: sticky; left: 0; background: var(--panel); }
.row .name small { display: block; font-weight: 400; color: var(--muted); font-size: 11px; }
svg.lane { display: block; width: 100%; height: 26px; border-radius: 3px; background: #eef1f4; }
.axis { display: grid; grid-template-columns: 110px 1fr; gap: 10px; margin-top: 2px; }
.axis .ticks { position: relative; height: 18px; font-size: 11px; color: var(--muted); }
.axis .ticks span { position: absolute; transform: translateX(-50%); white-space: nowrap; }
.axis .ticks span:first-child { transform: none; }
.axis .ticks span:last-child { transform: translateX(-100%); }
ul.legend { list-style: none; padding: 0; margin: 12px 0 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(400px, 1fr)); gap: 4px 24px; }
ul.legend li { display: flex; gap: 8px; align-items: baseline; min-width: 0; }
.swatch { flex: none; width: 14px; height: 14px; border-radius: 3px; display: inline-block; transform: translateY(2px); border: 1px solid rgba(0,0,0,.15); }
ul.legend .tid { font-variant-numeric: tabular-nums; font-weight: 600; white-space: nowrap; }
ul.legend .file { color: var(--muted); font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; flex: 1 1 auto; }
ul.legend .count { margin-left: auto; font-variant-numeric: tabular-nums; color: var(--muted); font-size: 12px; white-space: nowrap; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: right; }
th { background: var(--panel); font-weight: 600; }
td.label, th.label { text-align: left; }
td.label code { color: var(--muted); font-size: 11px; display: block; }
td.zero { color: #a0a8b0; }
pre.tool-text { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; overflow-x: auto; font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
ul.failures li { color: #a4262c; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.note { color: var(--muted); font-size: 13px; }
`

const SCRIPT = `
(function () {
  var zoom = document.getElementById("zoom");
  var timeline = document.getElementById("timeline");
  var out = document.getElementById("zoom-value");
  if (!zoom || !timeline) return;
  zoom.addEventListener("input", function () {
    timeline.style.width = (100 * Number(zoom.value)) + "%";
    out.textContent = zoom.value + "×";
  });
})();
`

const ticks = (max: number): string => {
  const parts: Array<string> = []
  for (let k = 0; k <= 4; k++) {
    const at = (k / 4) * 100
    parts.push(`<span style="left:${at}%">${num(Math.round((max * k) / 4))}</span>`)
  }
  return parts.join("")
}

const timelineSection = (
  schedule: ReadonlyArray<OutputSchedule>,
  inputs: ReadonlyArray<InputLabel> | undefined
): string => {
  const lanes = schedule.map(laneOf)
  const max = Math.max(1, ...lanes.map((l) => l.total))
  const scale = WIDTH / max
  const budget = laneBudget(lanes.length)
  const rows = lanes
    .map(
      (lane) =>
        `<div class="row"><div class="name">core ${lane.output}<small>${pct(lane.busy, lane.total)}% busy</small></div>` +
        `<svg class="lane" data-core="${lane.output}" viewBox="0 0 ${WIDTH} 10" preserveAspectRatio="none" shape-rendering="crispEdges" role="img" aria-label="core ${lane.output} timeline">${rects(lane, scale, inputs, budget)}</svg></div>`
    )
    .join("\n")
  return `<h2 id="timeline-title">Timeline</h2>
<p class="note">What ran on each core, in the order the scheduler handed it out. The axis counts records delivered to the core; an idle or wait step counts as one record (DynamoRIO's CORE_IDLE / CORE_WAIT markers). Hover a run for its input and record range.</p>
<div class="controls"><label for="zoom">zoom</label><input id="zoom" type="range" min="1" max="50" step="1" value="1"><span id="zoom-value">1×</span></div>
<div class="scroller"><div class="timeline" id="timeline">
${rows}
<div class="axis"><div></div><div class="ticks">${ticks(max)}</div></div>
</div></div>`
}

const legendSection = (
  schedule: ReadonlyArray<OutputSchedule>,
  inputs: ReadonlyArray<InputLabel> | undefined
): string => {
  const records = new Map<number, number>()
  const cores = new Map<number, Set<number>>()
  for (const s of schedule) {
    for (const [input, n] of s.runs) {
      records.set(input, (records.get(input) ?? 0) + n)
      if (input >= 0) {
        const set = cores.get(input) ?? new Set<number>()
        set.add(s.output)
        cores.set(input, set)
      }
    }
  }
  const ordinals = new Set<number>()
  if (inputs !== undefined) for (let i = 0; i < inputs.length; i++) ordinals.add(i)
  for (const k of records.keys()) if (k >= 0) ordinals.add(k)
  const items = [...ordinals]
    .sort((a, b) => a - b)
    .map((i) => {
      const l = inputs?.[i]
      const tid = l?.tid !== undefined && l.tid > 0 ? `tid ${l.tid}` : `input ${i}`
      const on = [...(cores.get(i) ?? [])].sort((a, b) => a - b)
      const where = on.length === 0 ? "not scheduled" : `${num(records.get(i) ?? 0)} records on core ${on.join(", ")}`
      return `<li data-input="${i}"${l?.tid !== undefined && l.tid > 0 ? ` data-tid="${l.tid}"` : ""}><span class="swatch" style="background:${colourOf(i)}"></span><span class="tid">${escapeHtml(tid)}</span><span class="file">#${i}${l !== undefined ? ` · ${escapeHtml(l.name)}` : ""}</span><span class="count">${where}</span></li>`
    })
  for (const special of [IDLE, WAIT]) {
    const n = records.get(special) ?? 0
    items.push(
      `<li data-special="${special === IDLE ? "idle" : "wait"}"><span class="swatch" style="background:${colourOf(special)}"></span><span class="tid">${special === IDLE ? "idle" : "wait"}</span><span class="file">${special === IDLE ? "no input ready" : "waiting (replay, pacing)"}</span><span class="count">${num(n)} steps</span></li>`
    )
  }
  return `<h3>Inputs</h3>\n<ul class="legend" id="legend">${items.join("")}</ul>`
}

const statsSection = (schedule: ReadonlyArray<OutputSchedule>): string => {
  const lanes = schedule.map(laneOf)
  const head = `<tr><th class="label">statistic</th>${schedule.map((s) => `<th>core ${s.output}</th>`).join("")}<th>total</th></tr>`
  const row = (name: string, label: string, values: ReadonlyArray<number | undefined>, key: string) => {
    const known = values.filter((v): v is number => v !== undefined)
    const total = known.reduce((a, b) => a + b, 0)
    const cells = values
      .map(
        (v, k) =>
          `<td data-core="${schedule[k]!.output}" data-stat="${key}"${v === 0 ? ' class="zero"' : ""}>${v === undefined ? "–" : num(v)}</td>`
      )
      .join("")
    return `<tr data-stat="${key}"><td class="label">${escapeHtml(label)}${name !== "" ? `<code>${name}</code>` : ""}</td>${cells}<td data-core="total" data-stat="${key}">${num(total)}</td></tr>`
  }
  const rows: Array<string> = []
  STATISTICS.forEach(([name, label], k) => {
    rows.push(
      row(
        `SCHED_STAT_${name}`,
        label,
        schedule.map((s) => s.stats[k]),
        name
      )
    )
  })
  rows.push(
    row(
      "",
      "records (input records delivered)",
      lanes.map((l) => l.busy),
      "records"
    )
  )
  rows.push(
    row(
      "",
      "idle steps",
      lanes.map((l) => l.idle),
      "idle"
    )
  )
  rows.push(
    row(
      "",
      "wait steps",
      lanes.map((l) => l.wait),
      "wait"
    )
  )
  const anyStats = schedule.some((s) => s.stats.length > 0)
  return `<h2>Schedule statistics</h2>
${anyStats ? "" : '<p class="note">The scheduler reported no statistics for this run.</p>'}
<table id="stats">${head}${rows.join("")}</table>`
}

/** The whole page. */
export const render = (result: AnalysisResult, options: RenderOptions = {}): string => {
  const title = options.title ?? "memtrace schedule report"
  const schedule = result.schedule
  const summary: Array<readonly [string, string]> = [
    ["mode", result.mode],
    ["workers", num(result.workers)],
    ["cores (outputs)", schedule !== undefined ? num(schedule.length) : "–"],
    ["records processed", num(result.records)],
    ["tools", num(result.tools.length)],
    ["failures", num(result.failures.length)],
    ["elapsed", `${num(Math.round(result.elapsedMs))} ms`]
  ]
  const scheduleParts =
    schedule === undefined || schedule.length === 0
      ? `<h2>Timeline</h2><p class="note" id="no-schedule">No schedule was recorded for this run: run a serial, core-sharded or core-serial analysis with <code>recordSchedule: true</code> (the CLI's <code>--report</code> does). Thread-sharded runs are not scheduled.</p>`
      : `${timelineSection(schedule, options.inputs)}\n${legendSection(schedule, options.inputs)}\n${statsSection(schedule)}`
  const failures =
    result.failures.length === 0
      ? ""
      : `<h2>Failures</h2><ul class="failures" id="failures">${result.failures
          .map((f) => `<li>${escapeHtml(f.line)}</li>`)
          .join("")}</ul>`
  const tools = result.tools
    .map(
      (t) =>
        `<section class="tool" data-tool="${escapeHtml(t.name)}"><h3>${escapeHtml(t.name)}</h3><pre class="tool-text">${escapeHtml(t.text)}</pre></section>`
    )
    .join("\n")
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${options.trace !== undefined ? `<p class="meta">trace <code>${escapeHtml(options.trace)}</code></p>` : ""}
<dl class="summary">${summary.map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd data-field="${escapeHtml(k)}">${escapeHtml(v)}</dd></div>`).join("")}</dl>
${scheduleParts}
${failures}
<h2>Tool results</h2>
${tools.length > 0 ? tools : '<p class="note">No tool results.</p>'}
<script>${SCRIPT}</script>
</body>
</html>
`
}
