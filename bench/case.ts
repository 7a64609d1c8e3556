/**
 * Runs one benchmark case once, in this process, and prints one JSON line:
 * wall and CPU time of the case (module loading excluded; CPU time counts
 * every thread of the process, worker threads and Node's thread pool
 * included), the main thread's own CPU time, records handled, and the
 * process's peak resident memory.
 * `bench/run.ts` spawns it once per case and repetition, so each peak is the
 * case's own.
 *
 * The case runs with the `memtrace` command's V8 GC triggers
 * (src/cli/internal/gc.ts) unless MEMTRACE_BENCH_V8_DEFAULTS=1. With
 * MEMTRACE_BENCH_BARRIER=1 it prints `ready` once loaded and starts when a
 * line arrives on stdin, so bench/run.ts can start two processes together.
 *
 * usage: node bench/case.ts CASE_KEY TRACE_DIR
 */
import { loadavg } from "node:os"
import { exitGently } from "../src/cli/internal/exit.ts"
import { tuneGc } from "../src/cli/internal/gc.ts"
import { byKey } from "./lib/cases.ts"

if (process.env.MEMTRACE_BENCH_V8_DEFAULTS !== "1") tuneGc()

const [key, dir] = process.argv.slice(2)
const c = key === undefined ? undefined : byKey(key)
if (c === undefined || dir === undefined) {
  console.error("usage: node bench/case.ts CASE_KEY TRACE_DIR")
  process.exit(2)
}

if (process.env.MEMTRACE_BENCH_BARRIER === "1") {
  console.log("ready")
  await new Promise<void>((go) => process.stdin.once("data", () => go()))
  process.stdin.pause()
}

const rssBefore = process.memoryUsage().rss
const load = loadavg()[0]!
const cpu = process.cpuUsage()
const mainCpu = process.threadCpuUsage()
const start = performance.now()
const outcome = await c.run(dir)
const ms = performance.now() - start
const used = process.cpuUsage(cpu)
const mainUsed = process.threadCpuUsage(mainCpu)
console.log(
  JSON.stringify({
    key,
    ms,
    cpuMs: (used.user + used.system) / 1000,
    mainCpuMs: (mainUsed.user + mainUsed.system) / 1000,
    records: outcome.records,
    bytes: outcome.bytes,
    failureLatencyMs: outcome.failureLatencyMs,
    rssBeforeMb: rssBefore / (1 << 20),
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    load
  })
)
// Not process.exit: it can deadlock (src/cli/internal/exit.ts).
exitGently(0)
