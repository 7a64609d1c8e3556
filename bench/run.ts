/**
 * The benchmark suite (`npm run bench`): every case of `bench/lib/cases.ts`
 * over a large replicated trace and a larger one, each run in a child
 * process of its own (`bench/case.ts`, so peak memory is per case), in
 * rounds (every case once, then again) so that the machine's changing load
 * spreads over all cases alike. It prints one table (wall and CPU time,
 * records/s, peak RSS, ratio to the inflate floor measured in the same run),
 * judges the goals of issues #2–#5, and, for a full run, writes the results
 * section of docs/benchmarks.md and the chart docs/benchmarks.svg.
 *
 * The replicated traces are built once (`TraceWriter.replicate`) into
 * `--cache` and reused by later runs.
 *
 * usage: npm run bench -- [options]   (bench:sched and bench:analyze run subsets)
 *   --copies N     copies of the source trace in the base input (default 30)
 *   --scale K      the larger input has K × copies (default 4; 1 = base only)
 *   --reps N       rounds (default 3); a case stops repeating once its runs took --budget seconds
 *   --budget S     seconds of runs after which a case is not repeated (default 60)
 *   --suite S      all | read | sched | analyze (the floor and read + decode always run)
 *   --only RE      only cases whose key matches the regular expression (plus the floor)
 *   --large CASES  cases also run on the larger input: "default" (a subset), "all", or a regular expression
 *   --all          also the extended cases (core-sharded runs of histogram and reuse_distance, …)
 *   --quick        smoke run: 1 and 2 copies, 1 round, nothing written to docs
 *   --src DIR      source trace (default ../shared/traces/drmemtrace.threadsig.x64.tracedir)
 *   --cache DIR    where replicated traces are kept (default $TMPDIR/memtrace-bench)
 *   --json FILE    also write every sample and summary as JSON
 *   --from-json FILE  measure nothing: report (and with --docs, write) the run saved in FILE
 *   --docs / --no-docs   write (or not) docs/benchmarks.md and docs/benchmarks.svg
 *                  (default: only for a full run: suite all, no --only, no --quick, no --from-json)
 *   --v8-defaults  run the cases with V8's own GC triggers instead of the memtrace command's
 *                  (src/cli/internal/gc.ts), to see what a library user gets without them
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import { listInputs } from "../src/trace/internal/listing.ts"
import * as TraceWriter from "../src/trace/TraceWriter.ts"
import { type Case, cases } from "./lib/cases.ts"
import {
  FLOOR,
  goals,
  markdown,
  type RunInfo,
  replaceSection,
  type Sample,
  summarize,
  type TraceSize,
  tableCells
} from "./lib/report.ts"
import { table } from "./lib/stats.ts"
import { chart } from "./lib/svg.ts"

const here = dirname(fileURLToPath(import.meta.url))
const root = dirname(here)

const args = process.argv.slice(2)
const take = (name: string): string | undefined => {
  const at = args.indexOf(name)
  if (at < 0) return undefined
  const v = args[at + 1]
  args.splice(at, 2)
  return v
}
const has = (name: string): boolean => {
  const at = args.indexOf(name)
  if (at >= 0) args.splice(at, 1)
  return at >= 0
}
const quick = has("--quick")
const all = has("--all")
const copies = Number(take("--copies") ?? (quick ? 1 : 30))
const scale = Number(take("--scale") ?? (quick ? 2 : 4))
const reps = Number(take("--reps") ?? (quick ? 1 : 3))
const budgetS = Number(take("--budget") ?? 60)
const suite = take("--suite") ?? "all"
const only = take("--only")
const large = take("--large") ?? "default"
const src = take("--src") ?? join(root, "../shared/traces/drmemtrace.threadsig.x64.tracedir")
const cache = take("--cache") ?? join(tmpdir(), "memtrace-bench")
const jsonOut = take("--json")
const fromJson = take("--from-json")
const docsFlag = has("--docs") ? true : has("--no-docs") ? false : undefined
const v8Defaults = has("--v8-defaults")
if (
  args.length > 0 ||
  !(copies >= 1) ||
  !(scale >= 1) ||
  !(reps >= 1) ||
  !(budgetS >= 0) ||
  !["all", "read", "sched", "analyze"].includes(suite)
) {
  console.error(
    "usage: npm run bench -- [--copies N] [--scale K] [--reps N] [--budget S] [--suite all|read|sched|analyze] " +
      "[--only RE] [--all] [--large default|all|RE] [--quick] [--src DIR] [--cache DIR] [--json FILE] " +
      "[--from-json FILE] [--docs|--no-docs] [--v8-defaults]"
  )
  process.exit(2)
}
const writeDocs = docsFlag ?? (suite === "all" && only === undefined && !quick && fromJson === undefined)

/** Cases also run on the larger input by default: the ones whose growth says the most, at a bearable cost. */
const LARGE_DEFAULT = new Set([
  "read-inflate",
  "read-decode",
  "schedule-consistent",
  "schedule-dynamic",
  "analyze-noop-fibers-thread",
  "analyze-noop-threads2-thread",
  "analyze-basic_counts-fibers-thread",
  "analyze-reuse_distance-fibers-thread"
])

const inSuite = (c: Case): boolean => {
  if (c.key === FLOOR || c.key === "read-decode") return true
  if (only !== undefined) return new RegExp(only).test(c.key)
  if (c.extended === true && !all) return false
  switch (suite) {
    case "read":
      return c.group === "read"
    case "sched":
      return c.group === "schedule"
    case "analyze":
      return c.group === "analyze" || c.group === "fail" || c.group === "ceiling"
    default:
      return true
  }
}
const chosen = cases.filter(inSuite)
const onLarge = (c: Case): boolean =>
  large === "all" ? true : large === "default" ? LARGE_DEFAULT.has(c.key) : new RegExp(large).test(c.key)

const log = (s: string) => process.stderr.write(`${s}\n`)

/** The replicated trace of `n` copies, built on first use. */
const ensureTrace = async (n: number): Promise<{ readonly dir: string; readonly size: TraceSize }> => {
  const name = `${src.replace(/\/+$/, "").split("/").at(-1)}-x${n}`
  const dir = join(cache, name)
  // Beside the directory, not in it: every file in a trace directory is an input.
  const marker = `${dir}.json`
  if (existsSync(marker)) return { dir, size: JSON.parse(readFileSync(marker, "utf8")) as TraceSize }
  mkdirSync(cache, { recursive: true })
  const building = `${dir}.building-${process.pid}`
  rmSync(building, { recursive: true, force: true })
  log(`building ${n} copies of ${src} in ${dir} …`)
  const started = performance.now()
  const summary = await Effect.runPromise(TraceWriter.replicate(src, building, n, { durable: false, concurrency: 2 }))
  rmSync(dir, { recursive: true, force: true })
  renameSync(building, dir)
  // Records: what read + decode delivers, counted once here (the floor's rate uses it).
  const counted = await runCase("read-decode", dir)
  const size: TraceSize = {
    copies: n,
    inputs: summary.files.length,
    records: counted.records,
    entries: summary.entries,
    zippedBytes: summary.bytes
  }
  writeFileSync(marker, JSON.stringify(size))
  log(
    `  ${summary.files.length} files, ${size.records.toLocaleString("en-US")} records, built in ${((performance.now() - started) / 1000).toFixed(0)} s`
  )
  return { dir, size }
}

const caseScript = join(here, "case.ts")

/** One case in a child process of its own: its result line. */
const runCase = async (key: string, dir: string): Promise<Omit<Sample, "copies">> =>
  startChild(key, dir, false).result()

/**
 * The inputs of `dir` in two halves (every other input, so each half has
 * every thread's copies alike), as directories of symbolic links beside it,
 * made once.
 */
const halves = async (dir: string): Promise<readonly [string, string]> => {
  const root = `${dir}.halves`
  const out = [join(root, "0"), join(root, "1")] as const
  if (existsSync(join(root, "done"))) return out
  rmSync(root, { recursive: true, force: true })
  for (const h of out) mkdirSync(h, { recursive: true })
  for (const [i, path] of (await listInputs(dir)).entries())
    symlinkSync(path, join(out[i % 2]!, path.split("/").at(-1)!))
  writeFileSync(join(root, "done"), "")
  return out
}

/**
 * A case's child that printed its result is given this long to exit before it is killed and the
 * result kept: Node's process exit can deadlock (nodejs/node#54918; src/cli/internal/exit.ts).
 */
const EXIT_WAIT_MS = 10_000

/** A case's child that has printed nothing after this long is killed and the case fails: nothing waits forever. */
const CASE_TIMEOUT_MS = 20 * 60_000

/**
 * A case's child process. With `barrier`, it loads, prints `ready` and waits for a line on stdin
 * (the two children of a pair start together).
 */
const startChild = (key: string, dir: string, barrier: boolean) => {
  const child = spawn(process.execPath, [caseScript, key, dir], {
    env: {
      ...process.env,
      MEMTRACE_BENCH_V8_DEFAULTS: v8Defaults ? "1" : "0",
      MEMTRACE_BENCH_BARRIER: barrier ? "1" : "0"
    },
    stdio: ["pipe", "pipe", "pipe"]
  })
  if (!barrier) child.stdin.end()
  let stdout = ""
  let stderr = ""
  let onReady: (() => void) | undefined
  let killedAfterResult = false
  let timedOut = false
  let exitWatch: ReturnType<typeof setTimeout> | undefined
  const caseWatch = setTimeout(() => {
    timedOut = true
    child.kill("SIGKILL")
  }, CASE_TIMEOUT_MS)
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d
    if (onReady !== undefined && stdout.includes("ready\n")) {
      onReady()
      onReady = undefined
    }
    if (exitWatch === undefined && /(^|\n)\{[^\n]*\n/.test(stdout)) {
      exitWatch = setTimeout(() => {
        killedAfterResult = true
        child.kill("SIGKILL")
      }, EXIT_WAIT_MS)
    }
  })
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
  const exited = new Promise<number | null>((done) =>
    child.on("close", (code) => {
      clearTimeout(caseWatch)
      clearTimeout(exitWatch)
      done(code)
    })
  )
  const ready = barrier
    ? new Promise<void>((r, fail) => {
        onReady = r
        void exited.then((code) =>
          fail(new Error(`case ${key} exited (${code}) before it was ready:\n${stderr.slice(-4000)}`))
        )
      })
    : Promise.resolve()
  const result = async (): Promise<Omit<Sample, "copies">> => {
    const code = await exited
    const line = stdout.trim().split("\n").at(-1) ?? ""
    if (timedOut) throw new Error(`case ${key} printed no result in ${CASE_TIMEOUT_MS / 60_000} minutes: killed`)
    if (killedAfterResult && line.startsWith("{")) {
      log(`  (case ${key} did not exit ${EXIT_WAIT_MS / 1000} s after its result: killed, result kept)`)
      return JSON.parse(line) as Omit<Sample, "copies">
    }
    if (code !== 0 || !line.startsWith("{"))
      throw new Error(`case ${key} failed (exit ${code}):\n${stderr.slice(-4000)}`)
    return JSON.parse(line) as Omit<Sample, "copies">
  }
  return { child, ready, result }
}

/** A `ceiling` case: its `pairOf` case in two processes at once, one per half of the inputs; timed by the slower. */
const runPair = async (c: Case, dir: string): Promise<Omit<Sample, "copies">> => {
  const [a, b] = (await halves(dir)).map((half) => startChild(c.pairOf!, half, true))
  try {
    await Promise.all([a!.ready, b!.ready])
    a!.child.stdin.end("go\n")
    b!.child.stdin.end("go\n")
    const [ra, rb] = await Promise.all([a!.result(), b!.result()])
    return {
      key: c.key,
      ms: Math.max(ra.ms, rb.ms),
      cpuMs: ra.cpuMs + rb.cpuMs,
      mainCpuMs: ra.mainCpuMs === undefined || rb.mainCpuMs === undefined ? undefined : ra.mainCpuMs + rb.mainCpuMs,
      records: ra.records + rb.records,
      bytes: 0,
      // Both processes' peaks together: what the pair held at most.
      peakRssMb: ra.peakRssMb + rb.peakRssMb,
      rssBeforeMb: ra.rssBeforeMb + rb.rssBeforeMb
    }
  } finally {
    a!.child.kill()
    b!.child.kill()
  }
}

const gitCommit = (): string => {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "bench"], { cwd: root, encoding: "utf8" })
    return dirty.trim() === "" ? head : `${head} + uncommitted changes`
  } catch {
    return "unknown"
  }
}

const main = async () => {
  const started = performance.now()
  const loadStart = loadavg()
  const sizes = scale > 1 ? [copies, copies * scale] : [copies]
  log(
    `memtrace benchmark suite: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), ` +
      `load average ${loadStart.map((l) => l.toFixed(2)).join(" ")}; ${chosen.length} cases, sizes ${sizes.join(", ")} copies; ` +
      `GC triggers: ${v8Defaults ? "V8's defaults" : "the memtrace command's"}`
  )
  const traces: Array<{ readonly dir: string; readonly size: TraceSize }> = []
  for (const n of sizes) traces.push(await ensureTrace(n))
  const plan = traces.flatMap((t, i) =>
    chosen.filter((c) => i === 0 || onLarge(c) || c.key === FLOOR).map((c) => ({ c, t }))
  )
  // Warm the page cache so the first measured case does not pay for the disk.
  for (const t of traces) await runCase(FLOOR, t.dir)
  const samples: Array<Sample> = []
  const spent = new Map<string, number>()
  const failures: Array<string> = []
  for (let round = 0; round < reps; round++) {
    for (const { c, t } of plan) {
      const id = `${c.key}@${t.size.copies}`
      // The floor always repeats: every ratio divides by it.
      if (round > 0 && c.key !== FLOOR && (spent.get(id) ?? 0) >= budgetS * 1000) continue
      if (failures.includes(id)) continue
      try {
        const s = c.pairOf === undefined ? await runCase(c.key, t.dir) : await runPair(c, t.dir)
        samples.push({ ...s, copies: t.size.copies })
        spent.set(id, (spent.get(id) ?? 0) + s.ms)
        log(
          `round ${round + 1}/${reps}  ${id.padEnd(48)} ${(s.ms / 1000).toFixed(2).padStart(7)} s  ` +
            `${s.peakRssMb.toFixed(0).padStart(5)} MiB${s.failureLatencyMs === undefined ? "" : `  failure → error ${s.failureLatencyMs.toFixed(0)} ms`}`
        )
      } catch (e) {
        failures.push(id)
        log(`round ${round + 1}/${reps}  ${id}: FAILED\n${e instanceof Error ? e.message : String(e)}`)
      }
    }
  }
  const minutes = (performance.now() - started) / 60000
  const loadEnd = loadavg()
  const info: RunInfo = {
    date: new Date().toISOString().slice(0, 10),
    commit: gitCommit(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown CPU",
    loadStart,
    loadEnd,
    reps,
    minutes,
    gc: v8Defaults ? "v8" : "memtrace",
    source: src,
    traces: traces.map((t) => t.size),
    svg: undefined
  }
  report(info, samples, failures)
  log(`done in ${minutes.toFixed(1)} minutes; load average at the end ${loadEnd.map((l) => l.toFixed(2)).join(" ")}`)
  if (failures.length > 0) process.exitCode = 1
}

const svgPath = join(root, "docs/benchmarks.svg")
const docPath = join(root, "docs/benchmarks.md")

/** Prints the table and the goals; writes the JSON and the docs when asked. */
const report = (measured: RunInfo, samples: ReadonlyArray<Sample>, failures: ReadonlyArray<string>) => {
  const info: RunInfo = { ...measured, svg: writeDocs ? relative(dirname(docPath), svgPath) : undefined }
  const rows = summarize(cases, samples, info.traces)
  const base = Math.min(...info.traces.map((t) => t.copies))
  console.log(`\n${table(tableCells(rows))}\n`)
  const g = goals(rows, base)
  const judged = g.filter((x) => x.met !== undefined)
  console.log(
    table([
      ["issue", "goal", "met", "measured"],
      ...judged.map((x) => [`#${x.issue}`, x.goal, x.met ? "yes" : "NO", x.measured])
    ])
  )
  if (judged.length < g.length) console.log(`(${g.length - judged.length} goals need cases this run left out)`)
  if (failures.length > 0) console.log(`\ncases that failed: ${failures.join(", ")}`)
  if (jsonOut !== undefined)
    writeFileSync(jsonOut, JSON.stringify({ info, samples, failures, rows, goals: g }, null, 2))
  if (writeDocs) {
    writeFileSync(svgPath, chart(rows, `memtrace benchmark suite, ${info.date} (${info.commit})`))
    writeFileSync(docPath, replaceSection(readFileSync(docPath, "utf8"), markdown(info, rows)))
    log(`wrote ${relative(root, docPath)} (results section) and ${relative(root, svgPath)}`)
  }
}

if (fromJson !== undefined) {
  const saved = JSON.parse(readFileSync(fromJson, "utf8")) as {
    readonly info: RunInfo
    readonly samples: ReadonlyArray<Sample>
    readonly failures?: ReadonlyArray<string>
  }
  report(saved.info, saved.samples, saved.failures ?? [])
} else {
  await main()
}
