/**
 * The benchmark suite's chart, as a standalone SVG (no dependencies): records
 * per second of every case at the base trace size, then wall time and peak
 * memory against the trace size for the cases run at several sizes, relative
 * to their smallest size, with the lines a linear time and a flat memory
 * would follow.
 */
import type { Row } from "./report.ts"

const esc = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")

const GROUP_COLOURS: Record<string, string> = {
  read: "#4e79a7",
  schedule: "#f28e2b",
  analyze: "#59a14f",
  ceiling: "#b07aa1"
}
const SERIES = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]

/** A "nice" axis maximum and tick step for values up to `max`. */
export const niceScale = (max: number, ticks = 5): { readonly max: number; readonly step: number } => {
  if (!(max > 0)) return { max: 1, step: 0.2 }
  const raw = max / ticks
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!
  return { max: Math.ceil(max / step - 1e-9) * step, step }
}

const fmt = (x: number) => String(Number(x.toPrecision(3)))

interface Box {
  readonly x: number
  readonly y: number
  readonly w: number
  readonly h: number
}

const text = (x: number, y: number, s: string, attrs = "") =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${attrs ? ` ${attrs}` : ""}>${esc(s)}</text>`

/** Horizontal bars of records/s, one per case at the base size. */
const bars = (rows: ReadonlyArray<Row>, box: Box): Array<string> => {
  const out: Array<string> = []
  const labelW = 330
  const plotX = box.x + labelW
  const plotW = box.w - labelW - 60
  const rowH = (box.h - 40) / Math.max(1, rows.length)
  const { max, step } = niceScale(Math.max(...rows.map((r) => r.recordsPerS / 1e6)))
  const sx = (v: number) => plotX + (v / max) * plotW
  for (let v = 0; v <= max + 1e-9; v += step) {
    const x = sx(v)
    out.push(
      `<line x1="${x.toFixed(1)}" y1="${box.y}" x2="${x.toFixed(1)}" y2="${(box.y + rows.length * rowH).toFixed(1)}" stroke="#ddd"/>`,
      text(x, box.y + rows.length * rowH + 16, fmt(v), 'text-anchor="middle" class="tick"')
    )
  }
  out.push(
    text(
      plotX + plotW / 2,
      box.y + rows.length * rowH + 34,
      "million records per second (wall time)",
      'text-anchor="middle"'
    )
  )
  rows.forEach((r, i) => {
    const y = box.y + i * rowH
    const v = r.recordsPerS / 1e6
    const colour = r.key === "read-inflate" ? "#bab0ac" : (GROUP_COLOURS[r.group] ?? "#999")
    out.push(
      text(plotX - 6, y + rowH * 0.7, r.label, 'text-anchor="end"'),
      `<rect x="${plotX}" y="${(y + rowH * 0.15).toFixed(1)}" width="${Math.max(0.5, sx(v) - plotX).toFixed(1)}" height="${(rowH * 0.7).toFixed(1)}" fill="${colour}"/>`,
      text(
        sx(v) + 4,
        y + rowH * 0.7,
        `${v.toFixed(1)} M${r.vsFloor === undefined ? "" : ` (${r.vsFloor.toFixed(1)} × floor)`}`,
        'class="tick"'
      )
    )
  })
  return out
}

/**
 * One line per case: `value(row)` against the records, both relative to the
 * case's smallest size, so cases of any cost share one scale; `reference` is
 * the line a linear (time) or flat (memory) cost would follow.
 */
const growthPanel = (
  series: ReadonlyArray<ReadonlyArray<Row>>,
  value: (r: Row) => number,
  title: string,
  reference: "linear" | "flat",
  box: Box
): Array<string> => {
  const out: Array<string> = []
  const px = box.x + 50
  const py = box.y + 24
  const pw = box.w - 60
  const ph = box.h - 70
  const rel = series.map((s) => s.map((r) => ({ x: r.records / s[0]!.records, y: value(r) / value(s[0]!) })))
  const xs = niceScale(Math.max(...rel.flat().map((p) => p.x)))
  const ys = niceScale(Math.max(...rel.flat().map((p) => p.y), reference === "linear" ? xs.max : 1))
  const sx = (v: number) => px + (v / xs.max) * pw
  const sy = (v: number) => py + ph - (v / ys.max) * ph
  out.push(text(box.x + box.w / 2, box.y + 12, title, 'text-anchor="middle" class="title"'))
  for (let v = 0; v <= ys.max + 1e-9; v += ys.step) {
    out.push(
      `<line x1="${px}" y1="${sy(v).toFixed(1)}" x2="${px + pw}" y2="${sy(v).toFixed(1)}" stroke="#ddd"/>`,
      text(px - 4, sy(v) + 4, `${fmt(v)} ×`, 'text-anchor="end" class="tick"')
    )
  }
  for (let v = 0; v <= xs.max + 1e-9; v += xs.step) {
    out.push(text(sx(v), py + ph + 14, `${fmt(v)} ×`, 'text-anchor="middle" class="tick"'))
  }
  out.push(text(px + pw / 2, py + ph + 30, "records, relative to the smallest trace", 'text-anchor="middle"'))
  const [x0, x1] = [Math.min(1, xs.max), xs.max]
  const [y0, y1] = reference === "linear" ? [x0, x1] : [1, 1]
  out.push(
    `<line x1="${sx(x0).toFixed(1)}" y1="${sy(y0).toFixed(1)}" x2="${sx(x1).toFixed(1)}" y2="${sy(y1).toFixed(1)}" stroke="#333" stroke-dasharray="5 4"/>`,
    text(sx(x1) - 4, sy(y1) - 6, reference === "linear" ? "linear" : "flat", 'text-anchor="end" class="tick"')
  )
  rel.forEach((s, i) => {
    const colour = SERIES[i % SERIES.length]!
    out.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${s.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ")}"/>`,
      ...s.map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${colour}"/>`)
    )
  })
  return out
}

/** The whole chart. `rows` as `summarize` returns them (every size). */
export const chart = (rows: ReadonlyArray<Row>, title: string): string => {
  const sizes = [...new Set(rows.map((r) => r.copies))].sort((a, b) => a - b)
  const base = rows.filter((r) => r.copies === sizes[0] && r.group !== "fail" && r.recordsPerS > 0)
  const width = 960
  const barsH = 40 + base.length * 20
  const series = base
    .map((r) => rows.filter((x) => x.key === r.key).sort((a, b) => a.copies - b.copies))
    .filter((s) => s.length > 1)
  const growthH = series.length > 0 ? 300 : 0
  const legendH = series.length > 0 ? 18 * Math.ceil(series.length / 2) + 10 : 0
  const height = 50 + barsH + growthH + legendH + 10
  const out: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    "<style>.tick{fill:#555;font-size:11px}.title{font-weight:bold}</style>",
    `<rect width="${width}" height="${height}" fill="white"/>`,
    text(width / 2, 20, title, 'text-anchor="middle" class="title" font-size="14"'),
    text(width / 2, 38, `records per second, ${sizes[0]} copies`, 'text-anchor="middle"'),
    ...bars(base, { x: 10, y: 48, w: width - 20, h: barsH })
  ]
  if (series.length > 0) {
    const y = 50 + barsH + 10
    out.push(
      ...growthPanel(series, (r) => r.ms, "wall time against trace size", "linear", { x: 10, y, w: 460, h: growthH }),
      ...growthPanel(series, (r) => r.peakRssMb, "peak memory (RSS) against trace size", "flat", {
        x: 490,
        y,
        w: 460,
        h: growthH
      })
    )
    series.forEach((s, i) => {
      const lx = 20 + (i % 2) * 470
      const ly = y + growthH + 4 + Math.floor(i / 2) * 18
      out.push(
        `<line x1="${lx}" y1="${ly}" x2="${lx + 20}" y2="${ly}" stroke="${SERIES[i % SERIES.length]}" stroke-width="2"/>`,
        text(lx + 26, ly + 4, s[0]!.label)
      )
    })
  }
  out.push("</svg>")
  return `${out.join("\n")}\n`
}
