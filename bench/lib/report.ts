/**
 * The benchmark suite's results: per-case summaries of the raw samples, the
 * goals of issues #2–#5 judged on them, the console table, and the Markdown
 * results section written into docs/benchmarks.md. Pure functions of the
 * samples (tested in test/bench/report.test.ts).
 */
import { median } from "./stats.ts"

/** One run of one case at one trace size (what `bench/case.ts` prints, plus the size). */
export interface Sample {
  readonly key: string
  readonly copies: number
  readonly ms: number
  readonly cpuMs: number
  /** CPU time of the main JS thread alone; absent from runs saved before it was measured. */
  readonly mainCpuMs?: number | undefined
  readonly records: number
  readonly bytes: number
  readonly peakRssMb: number
  readonly rssBeforeMb: number
  readonly failureLatencyMs?: number | undefined
}

/** What a case is, as the report shows it. */
export interface CaseInfo {
  readonly key: string
  readonly group: string
  readonly label: string
}

/** A replicated trace the suite read. */
export interface TraceSize {
  readonly copies: number
  readonly inputs: number
  readonly records: number
  readonly entries: number
  readonly zippedBytes: number
}

export interface Row {
  readonly key: string
  readonly group: string
  readonly label: string
  readonly copies: number
  readonly runs: number
  /** Median wall time, ms. */
  readonly ms: number
  readonly minMs: number
  readonly maxMs: number
  /** Median CPU time of the process (all threads), ms. */
  readonly cpuMs: number
  /** Median CPU time of the main JS thread, ms (undefined when no sample measured it). */
  readonly mainCpuMs: number | undefined
  readonly records: number
  /** Records handled per second of wall time (median). */
  readonly recordsPerS: number
  /** Highest peak RSS of the runs, MiB. */
  readonly peakRssMb: number
  /** Median wall time over the inflate floor's median at the same size. */
  readonly vsFloor: number | undefined
  readonly vsFloorCpu: number | undefined
  readonly failureLatencyMs: number | undefined
}

export const FLOOR = "read-inflate"

/** Per case and size, the summary of its samples, in the order of `cases`. */
export const summarize = (
  cases: ReadonlyArray<CaseInfo>,
  samples: ReadonlyArray<Sample>,
  traces: ReadonlyArray<TraceSize>
): Array<Row> => {
  const rows: Array<Row> = []
  for (const size of traces) {
    const at = (key: string) => samples.filter((s) => s.key === key && s.copies === size.copies)
    const floor = at(FLOOR)
    const floorMs = floor.length > 0 ? median(floor.map((s) => s.ms)) : undefined
    const floorCpu = floor.length > 0 ? median(floor.map((s) => s.cpuMs)) : undefined
    for (const c of cases) {
      const mine = at(c.key)
      if (mine.length === 0) continue
      const ms = median(mine.map((s) => s.ms))
      const cpuMs = median(mine.map((s) => s.cpuMs))
      const mainCpu = mine.flatMap((s) => (s.mainCpuMs === undefined ? [] : [s.mainCpuMs]))
      // The floor decodes nothing: its rate is the trace's records over its time.
      const records = c.key === FLOOR ? size.records : Math.max(...mine.map((s) => s.records))
      const latencies = mine.flatMap((s) => (s.failureLatencyMs === undefined ? [] : [s.failureLatencyMs]))
      rows.push({
        key: c.key,
        group: c.group,
        label: c.label,
        copies: size.copies,
        runs: mine.length,
        ms,
        minMs: Math.min(...mine.map((s) => s.ms)),
        maxMs: Math.max(...mine.map((s) => s.ms)),
        cpuMs,
        mainCpuMs: mainCpu.length > 0 ? median(mainCpu) : undefined,
        records,
        recordsPerS: c.group === "fail" ? 0 : (records / ms) * 1000,
        peakRssMb: Math.max(...mine.map((s) => s.peakRssMb)),
        vsFloor: floorMs === undefined || c.group === "fail" ? undefined : ms / floorMs,
        vsFloorCpu: floorCpu === undefined || c.group === "fail" ? undefined : cpuMs / floorCpu,
        failureLatencyMs: latencies.length > 0 ? median(latencies) : undefined
      })
    }
  }
  return rows
}

/** A goal of the issues and how this run measured against it. */
export interface Goal {
  readonly issue: number
  readonly goal: string
  /** The measured value, formatted, with what it compares. */
  readonly measured: string
  /** Undefined when the run did not include the cases it needs. */
  readonly met: boolean | undefined
}

const fmtRatio = (x: number) => `${x.toFixed(2)} ×`

/**
 * The goals of issues #2–#5, judged on the base size (the smallest trace of
 * the run); a ratio measured on a larger trace too is shown beside it.
 */
export const goals = (rows: ReadonlyArray<Row>, copies: number): Array<Goal> => {
  const row = (key: string, at = copies) => rows.find((r) => r.key === key && r.copies === at)
  const largest = Math.max(copies, ...rows.map((r) => r.copies))
  const ratio = (
    issue: number,
    goal: string,
    a: string,
    b: string,
    limit: number,
    what: string,
    atLeast = false
  ): Goal => {
    const ra = row(a)
    const rb = row(b)
    if (ra === undefined || rb === undefined) return { issue, goal, measured: "not measured", met: undefined }
    const x = ra.ms / rb.ms
    const cpu = ra.cpuMs / rb.cpuMs
    const la = row(a, largest)
    const lb = row(b, largest)
    const large =
      largest > copies && la !== undefined && lb !== undefined
        ? `; ${fmtRatio(la.ms / lb.ms)} at ${largest} copies`
        : ""
    // The fastest runs of each side, a second estimate on a machine whose noise only adds time.
    const best = ra.runs > 1 && rb.runs > 1 ? `; fastest runs ${fmtRatio(ra.minMs / rb.minMs)}` : ""
    return {
      issue,
      goal,
      measured: `${fmtRatio(x)} (${what}; CPU time ${fmtRatio(cpu)}${best})${large}`,
      met: atLeast ? x >= limit : x <= limit
    }
  }
  const latency = (issue: number, goal: string, key: string, limitMs: number): Goal => {
    const r = row(key)
    if (r?.failureLatencyMs === undefined) return { issue, goal, measured: "not measured", met: undefined }
    return {
      issue,
      goal,
      measured: `${r.failureLatencyMs.toFixed(0)} ms (median of ${r.runs})`,
      met: r.failureLatencyMs <= limitMs
    }
  }
  const out: Array<Goal> = [
    ratio(2, "read + decode ≤ 1.5 × the inflate floor", "read-decode", FLOOR, 1.5, "read + decode / floor"),
    ratio(
      3,
      "dynamic scheduling ≤ 1.3 × reading alone (4 outputs, as core-sharded analysis runs)",
      "schedule-dynamic",
      "read-decode",
      1.3,
      "scheduler dynamic ×4 / read + decode"
    ),
    ...[1, 2].map((n) =>
      ratio(
        3,
        `dynamic scheduling ≤ 1.3 × reading alone (${n} output${n === 1 ? "" : "s"})`,
        `schedule-dynamic${n}`,
        "read-decode",
        1.3,
        `scheduler dynamic ×${n} / read + decode`
      )
    ),
    ratio(
      4,
      "runtime overhead ≤ 1.2 × (no-op tool vs reader alone)",
      "analyze-noop-fibers-thread",
      "read-decode",
      1.2,
      "no-op tool on fibers / read + decode"
    )
  ]
  for (const tool of ["noop", "basic_counts", "histogram", "reuse_distance"]) {
    const one = `analyze-${tool}-threads1-thread`
    const g = ratio(
      4,
      `2 worker threads ≥ 1.7 × faster than 1 (${tool}, thread-sharded)`,
      one,
      `analyze-${tool}-threads2-thread`,
      1.7,
      "1 thread / 2 threads",
      true
    )
    // What two cores give at all: the same 1-thread run as two processes at once, half the inputs each.
    const r1 = row(one)
    const pair = row(`ceiling-${tool}`)
    out.push(
      r1 === undefined || pair === undefined || g.met === undefined
        ? g
        : {
            ...g,
            measured: `${g.measured}; machine ceiling ${fmtRatio(r1.ms / pair.ms)} (1 thread / two 1-thread processes on half the inputs each, at once)`
          }
    )
  }
  out.push(
    latency(4, "tool failure → typed error ≤ 100 ms (fibers)", "fail-fibers", 100),
    latency(4, "tool failure → typed error ≤ 1 s (threads)", "fail-threads", 1000)
  )
  for (const [tool, limit, config] of [
    ["basic_counts", 3, "fibers-thread"],
    ["cache_simulator", 8, "fibers-coreserial"],
    ["reuse_distance", 10, "fibers-thread"]
  ] as const) {
    const key = `analyze-${tool}-${config}`
    const best = rows
      .filter((r) => r.copies === copies && r.key.startsWith(`analyze-${tool}-`) && r.vsFloor !== undefined)
      .sort((a, b) => a.ms - b.ms)[0]
    const g = ratio(5, `${tool} ≤ ${limit} × the inflate floor`, key, FLOOR, limit, "default configuration / floor")
    out.push(
      best === undefined || best.key === key
        ? g
        : { ...g, measured: `${g.measured}; fastest configuration (${best.label}): ${fmtRatio(best.vsFloor!)}` }
    )
  }
  return out
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const rate = (r: Row) => (r.group === "fail" ? "—" : `${(r.recordsPerS / 1e6).toFixed(2)} M`)
const ratioCell = (x: number | undefined) => (x === undefined ? "—" : x.toFixed(2))

/** The columns of the results table, as cells. */
export const tableCells = (rows: ReadonlyArray<Row>): Array<Array<string>> => [
  [
    "case",
    "copies",
    "runs",
    "wall (median)",
    "min–max",
    "CPU",
    "main thread",
    "records/s",
    "peak RSS",
    "× floor",
    "CPU × floor"
  ],
  ...rows.map((r) => [
    r.group === "fail" ? `${r.label} (${r.failureLatencyMs?.toFixed(0) ?? "?"} ms)` : r.label,
    String(r.copies),
    String(r.runs),
    seconds(r.ms),
    `${(r.minMs / 1000).toFixed(2)}–${(r.maxMs / 1000).toFixed(2)}`,
    seconds(r.cpuMs),
    r.mainCpuMs === undefined ? "—" : seconds(r.mainCpuMs),
    rate(r),
    `${r.peakRssMb.toFixed(0)} MiB`,
    ratioCell(r.vsFloor),
    ratioCell(r.vsFloorCpu)
  ])
]

/** A Markdown table; `align` has an `l` or `r` per column (default: the first left, the others right). */
export const markdownTable = (cells: ReadonlyArray<ReadonlyArray<string>>, align?: string): string => {
  const [head, ...body] = cells
  const line = (r: ReadonlyArray<string>) => `| ${r.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`
  const rule = head!.map((_, i) => ((align?.[i] ?? (i === 0 ? "l" : "r")) === "r" ? "---:" : "---"))
  return [line(head!), `|${rule.join("|")}|`, ...body.map(line)].join("\n")
}

/** Everything a run knows about itself, for the report. */
export interface RunInfo {
  readonly date: string
  readonly commit: string
  readonly node: string
  readonly cpus: number
  readonly cpuModel: string
  readonly loadStart: ReadonlyArray<number>
  readonly loadEnd: ReadonlyArray<number>
  readonly reps: number
  readonly minutes: number
  /** Whose V8 GC triggers the cases ran with: the `memtrace` command's (src/cli/internal/gc.ts) or V8's defaults. */
  readonly gc?: "memtrace" | "v8" | undefined
  readonly source: string
  readonly traces: ReadonlyArray<TraceSize>
  readonly svg: string | undefined
}

const mibOf = (bytes: number) => `${(bytes / (1 << 20)).toFixed(1)} MiB`

/** How time and peak memory grew from the smallest trace to the largest, per case run at both. */
export const growth = (
  rows: ReadonlyArray<Row>
): Array<{ readonly label: string; readonly time: number; readonly records: number; readonly memory: number }> => {
  const sizes = [...new Set(rows.map((r) => r.copies))].sort((a, b) => a - b)
  if (sizes.length < 2) return []
  const lo = sizes[0]!
  const hi = sizes.at(-1)!
  return rows
    .filter((r) => r.copies === lo)
    .flatMap((small) => {
      const big = rows.find((r) => r.key === small.key && r.copies === hi)
      if (big === undefined || small.group === "fail") return []
      return [
        {
          label: small.label,
          time: big.ms / small.ms,
          records: big.records / small.records,
          memory: big.peakRssMb / small.peakRssMb
        }
      ]
    })
}

/** The generated results section of docs/benchmarks.md (between the markers). */
export const markdown = (info: RunInfo, rows: ReadonlyArray<Row>): string => {
  const base = Math.min(...info.traces.map((t) => t.copies))
  const g = goals(rows, base)
  const met = g.filter((x) => x.met === true).length
  const judged = g.filter((x) => x.met !== undefined).length
  const grow = growth(rows)
  const load = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(1)).join(" / ")
  const parts = [
    `### Results (${info.date}, commit ${info.commit})`,
    "",
    `Generated by \`npm run bench\` (${info.reps} repetition${info.reps === 1 ? "" : "s"} where the time budget allowed, ` +
      `${info.minutes.toFixed(0)} minutes in all) on ${info.cpus} × ${info.cpuModel}, Node ${info.node}; ` +
      `load average (1/5/15 min) ${load(info.loadStart)} at the start and ${load(info.loadEnd)} at the end. ` +
      "As the caveat at the top says, the machine is shared and loaded: read the ratios within this run, " +
      "not the absolute times, and expect a repeat to move wall times by tens of per cent. " +
      (info.gc === "v8"
        ? "Every case ran with V8's default GC triggers (`--v8-defaults`)."
        : "Every case ran with the `memtrace` command's V8 GC triggers (`src/cli/internal/gc.ts`; " +
          "`--v8-defaults` measures without them)."),
    "",
    "Inputs (copies of " +
      `\`${info.source.slice(info.source.lastIndexOf("/") + 1)}\`` +
      " made by `TraceWriter.replicate`):",
    "",
    markdownTable([
      ["copies", "inputs", "records", "entries", "zipped"],
      ...info.traces.map((t) => [
        String(t.copies),
        String(t.inputs),
        t.records.toLocaleString("en-US"),
        t.entries.toLocaleString("en-US"),
        mibOf(t.zippedBytes)
      ])
    ]),
    "",
    "Medians of the runs; `× floor` is the wall time over the inflate floor's at the same size, " +
      "`CPU × floor` the same for the CPU time of the whole process (all threads). `main thread` is the " +
      "CPU time of the process's main JS thread alone: the rest of `CPU` is Node's thread pool (inflating), " +
      "worker threads and V8's helper threads, and a main thread busy for most of the wall time bounds its case. " +
      "Records/s counts the " +
      "records each case handled (the dynamic scheduler stops once 90 % of the inputs are done, as " +
      "DynamoRIO's does); for the floor, the trace's records over its time. Peak RSS is the process's " +
      "(worker threads included). The `2 processes × 1 thread` rows run a 1-thread case as two " +
      "processes started together, each on half of the inputs: wall time is the slower one's, CPU times and " +
      "peak RSS the two together. They measure what two cores of this machine give to work that " +
      "shares nothing (the machine ceiling of the 2-thread goal).",
    "",
    markdownTable(tableCells(rows)),
    "",
    `**Goals** (on the ${base}-copy trace): ${met} of ${judged} met.`,
    "",
    markdownTable(
      [
        ["issue", "goal", "measured", "met"],
        ...g.map((x) => [`#${x.issue}`, x.goal, x.measured, x.met === undefined ? "—" : x.met ? "yes" : "**no**"])
      ],
      "llll"
    )
  ]
  if (grow.length > 0) {
    const sizes = [...new Set(rows.map((r) => r.copies))].sort((a, b) => a - b)
    parts.push(
      "",
      `**Growth** from ${sizes[0]} to ${sizes.at(-1)} copies (linear time would grow as the records do; ` +
        "flat memory stays near 1 ×):",
      "",
      markdownTable([
        ["case", "records ×", "time ×", "peak RSS ×"],
        ...grow.map((x) => [x.label, x.records.toFixed(2), x.time.toFixed(2), x.memory.toFixed(2)])
      ])
    )
  }
  if (info.svg !== undefined)
    parts.push("", `![records per second per case, and time and memory against trace size](${info.svg})`)
  return parts.join("\n")
}

export const START = "<!-- bench:results:start (generated by npm run bench; do not edit by hand) -->"
export const END = "<!-- bench:results:end -->"

/** `doc` with the text between the markers replaced (the markers are appended when missing). */
export const replaceSection = (doc: string, section: string): string => {
  const a = doc.indexOf(START)
  const b = doc.indexOf(END)
  if (a < 0 || b < a) return `${doc.trimEnd()}\n\n${START}\n${section}\n${END}\n`
  return `${doc.slice(0, a + START.length)}\n${section}\n${doc.slice(b)}`
}
