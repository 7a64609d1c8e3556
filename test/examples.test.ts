/**
 * Runs every program in examples/ as a user would (a subprocess of the pinned
 * Node: vitest's own execPath) and checks what it prints against DynamoRIO's
 * published results for the same trace, or against an independent source
 * (the scheduler's own counters, the trace reader), so the examples cannot rot.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Analyzer from "../src/analyzer/Analyzer.ts"
import * as Scheduler from "../src/scheduler/Scheduler.ts"
import * as Info from "../src/trace/Info.ts"

const EXPECTED = "../shared/traces/expected/threadsig.basic_counts.txt"
const TRACE = "examples/traces/threadsig"

const spawnNode = (argv: ReadonlyArray<string>) =>
  Effect.callback<{ code: number | null; stdout: string; stderr: string }>((resume) => {
    const child = spawn(process.execPath, argv, {
      env: { ...process.env, CI: "true" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d) => (stdout += d))
    child.stderr!.on("data", (d) => (stderr += d))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })
const example = (file: string, args: ReadonlyArray<string> = []) => spawnNode([`examples/${file}`, ...args])

/** DynamoRIO's basic_counts for threadsig: the totals, and each thread's counts. */
const dynamorio = () => {
  const text = fs.readFileSync(EXPECTED, "utf8")
  const value = (block: string, label: string) => Number(new RegExp(`(\\d+) ${label}\\n`).exec(block)![1])
  const [totals, ...threads] = text.split(/^Thread /m)
  const counts = (block: string, prefix: string) => ({
    instructions: value(block, `${prefix}\\(fetched\\) instructions`),
    loads: value(block, `${prefix}data loads`),
    stores: value(block, `${prefix}data stores`),
    syscalls: value(block, `${prefix}system call number markers`)
  })
  return {
    total: counts(totals!, "total "),
    threads: new Map(threads.map((b) => [Number(/^(\d+) counts:/.exec(b)![1]), counts(b, "")]))
  }
}

describe("examples", () => {
  it.live(
    "custom-tool.ts: a parallel tool matches DynamoRIO's counts on fibers and threads; a serial tool counts the recorded switches",
    () =>
      Effect.gen(function* () {
        const r = yield* example("custom-tool.ts")
        assert.strictEqual(r.stderr, "")
        assert.strictEqual(r.code, 0)
        const dr = dynamorio()
        const rows = [...r.stdout.matchAll(/^\s+(\d+|total)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/gm)]
        assert.strictEqual(rows.length, 10, "nine threads and a total")
        for (const [, who, instructions, , loads, stores, syscalls] of rows) {
          const expected = who === "total" ? dr.total : dr.threads.get(Number(who))
          assert.isDefined(expected, `thread ${who}`)
          assert.deepStrictEqual(
            {
              instructions: Number(instructions),
              loads: Number(loads),
              stores: Number(stores),
              syscalls: Number(syscalls)
            },
            expected,
            `thread ${who}`
          )
        }
        assert.include(r.stdout, "worker threads: 2 threads, same results: true")
        const m = /recorded schedule: (\d+) runs, so (\d+) switches; tool counted (\d+)/.exec(r.stdout)
        assert.isNotNull(m)
        assert.isAbove(Number(m![1]), 9, "the serial stream switched threads")
        assert.strictEqual(m![3], m![2])
      })
  )

  it.live(
    "mini-simulator.ts: every thread runs on some core, every instruction once, switches as the scheduler counts them",
    () =>
      Effect.gen(function* () {
        const r = yield* example("mini-simulator.ts", [TRACE, "4"])
        assert.strictEqual(r.stderr, "")
        assert.strictEqual(r.code, 0)
        const cores = [
          ...r.stdout.matchAll(
            /^core (\d+): (\d+) instructions, (\d+) memrefs, (\d+) idle, (\d+) wait, [\d.]+% busy; threads ([\d,]*)$/gm
          )
        ]
        assert.strictEqual(cores.length, 4)
        const total = cores.reduce((a, m) => a + Number(m[2]), 0)
        const dr = dynamorio().total
        assert.strictEqual(total, dr.instructions)
        assert.strictEqual(
          cores.reduce((a, m) => a + Number(m[3]), 0),
          dr.loads + dr.stores,
          "memrefs: DynamoRIO's loads + stores (threadsig has no prefetches)"
        )
        assert.include(r.stdout, `total instructions: ${dr.instructions} on 4 cores, 9 threads`)
        const ran = cores.flatMap((m) => m[6]!.split(",").map(Number)).sort((a, b) => a - b)
        assert.deepStrictEqual(
          ran.filter((x, i) => ran.indexOf(x) === i),
          [0, 1, 2, 3, 4, 5, 6, 7, 8]
        )
        const switches = [
          ...r.stdout.matchAll(
            /switches seen: (\d+) input-input, (\d+) input-idle, (\d+) idle-input; scheduler says: (\d+), (\d+), (\d+);/g
          )
        ]
        assert.strictEqual(switches.length, 4)
        for (const s of switches) assert.deepStrictEqual([s[1], s[2], s[3]], [s[4], s[5], s[6]])
      })
  )

  it.live(
    "fault-tolerant.ts: continue keeps every other thread whole and names the failure; runTimeout stops a slow run",
    () =>
      Effect.gen(function* () {
        const r = yield* example("fault-tolerant.ts")
        assert.strictEqual(r.stderr, "")
        assert.strictEqual(r.code, 0)
        assert.include(r.stdout, "continue: 8 shards finished")
        const failures = r.stdout.split("\n").filter((l) => l.startsWith("failure: "))
        assert.deepStrictEqual(failures, [
          "failure: ToolError: picky refused record 5000 of thread 872884 (worker 1, thread shard 1, tid 872884, input drmemtrace.threadsig.872884.3060.trace.zip, tool picky, record 5000)"
        ])
        assert.include(r.stdout, 'tool error: {"_tag":"PickyError","tid":872884,"record":5000}')
        // Every other thread: all of its records, as the trace reader counts them.
        const summaries = yield* Effect.scoped(Info.describe(TRACE))
        const printed = new Map(
          [...r.stdout.matchAll(/^tid (\d+): (\d+) records$/gm)].map((m) => [Number(m[1]), Number(m[2])])
        )
        assert.strictEqual(printed.size, 8)
        for (const s of summaries) {
          if (s.tid === 872884) assert.isFalse(printed.has(s.tid))
          else assert.strictEqual(printed.get(s.tid), s.records, `tid ${s.tid}`)
        }
        const t = /runTimeout: failed after (\d+) ms: Timeout$/m.exec(r.stdout)
        assert.isNotNull(t, r.stdout)
        assert.isBelow(Number(t![1]), 30_000)
      })
  )
})

/** The rows of a markdown table whose first cell is a code span: first cell → other cells. */
const tableRows = (doc: string): Map<string, ReadonlyArray<string>> =>
  new Map(
    doc
      .split("\n")
      .filter((l) => /^\| `[^`]+` \|/.test(l))
      .map((l) => {
        const cells = l.split(" | ").map((c) => c.replace(/^\| |\s*\|$/g, ""))
        return [cells[0]!.replace(/`/g, ""), cells.slice(1)] as const
      })
  )

describe("docs stay true to the code", () => {
  it.live("docs/reference/json.md names the keys memtrace --json prints, for every tool", () =>
    Effect.gen(function* () {
      const r = yield* spawnNode([
        "src/cli/main.ts",
        "-infile",
        "../shared/traces/drmemtrace.small.x64.trace",
        "-tool",
        "basic_counts:histogram:reuse_distance:reuse_time:syscall_mix:view:cache_simulator:TLB_simulator",
        "-no_core_sharded",
        "-exit_after_records",
        "100",
        "-json"
      ])
      assert.strictEqual(r.code, 0, r.stderr)
      const json = JSON.parse(r.stdout) as {
        readonly tools: ReadonlyArray<{ readonly name: string; readonly result: object }>
      }
      const doc = fs.readFileSync("docs/reference/json.md", "utf8")
      const rows = tableRows(doc)
      for (const key of Object.keys(json)) assert.isTrue(rows.has(key), `top-level key ${key} documented`)
      assert.strictEqual(json.tools.length, 8)
      for (const tool of json.tools) {
        const row = rows.get(tool.name)
        assert.isDefined(row, `tool ${tool.name} documented`)
        const documented = [...row![1]!.replace(/\([^)]*\)/g, "").matchAll(/`(\w+)`/g)].map((m) => m[1])
        assert.deepStrictEqual(documented, Object.keys(tool.result), tool.name)
      }
    })
  )

  it("docs/guides/driving-the-scheduler.md gives every scheduler default", () => {
    const rows = tableRows(fs.readFileSync("docs/guides/driving-the-scheduler.md", "utf8"))
    for (const [key, value] of Object.entries(Scheduler.defaults)) {
      if (key === "waitSleep") continue
      const row = rows.get(key)
      assert.isDefined(row, key)
      assert.strictEqual(row![0]!.replace(/[,`"]/g, ""), String(value), key)
    }
  })

  it("docs/architecture.md and docs/reference give the analyzer's defaults", () => {
    const arch = tableRows(fs.readFileSync("docs/architecture.md", "utf8"))
    const ref = tableRows(fs.readFileSync("docs/reference/README.md", "utf8"))
    const d = Analyzer.defaults
    assert.strictEqual(arch.get("stallTimeout")![0], `${Duration.toSeconds(d.stallTimeout)} s`)
    assert.strictEqual(arch.get("progressInterval")![0], `${Duration.toMillis(d.progressInterval)} ms`)
    assert.strictEqual(ref.get("stallTimeout")![0], `${Duration.toSeconds(d.stallTimeout)} seconds`)
    assert.strictEqual(ref.get("cores")![0], String(d.cores))
    assert.strictEqual(ref.get("failure")![0], `\`"${d.failure}"\``)
    assert.strictEqual(ref.get("backend")![0], `\`"${d.backend}"\``)
  })
})
