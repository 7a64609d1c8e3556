import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

// End-to-end: the real CLI through the pinned Node (vitest's own execPath).
const TRACES = "../shared/traces"

interface Ran {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

const memtrace = (
  args: ReadonlyArray<string>,
  onStart?: (child: ChildProcess, stderr: () => string) => void,
  entry = "src/cli/main.ts"
) =>
  Effect.callback<Ran>((resume) => {
    const child = spawn(process.execPath, [entry, ...args], {
      env: { ...process.env, CI: "true" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d) => (stdout += d))
    child.stderr!.on("data", (d) => {
      stderr += d
      onStart?.(child, () => stderr)
    })
    child.on("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("memtrace (spawned)", () => {
  it.live("DynamoRIO form: prints basic_counts exactly as DynamoRIO does, exit 0", () =>
    Effect.gen(function* () {
      const r = yield* memtrace(["-indir", `${TRACES}/drmemtrace.threadsig.x64.tracedir`, "-tool", "basic_counts"])
      assert.strictEqual(r.stderr, "")
      assert.strictEqual(r.code, 0)
      assert.strictEqual(r.stdout, fs.readFileSync(`${TRACES}/expected/threadsig.basic_counts.txt`, "utf8"))
    })
  )

  it.live("bin/memtrace.js runs the CLI and passes its exit status through", () =>
    Effect.gen(function* () {
      const r = yield* memtrace(["-indir", "t", "-foo"], undefined, "bin/memtrace.js")
      assert.strictEqual(r.code, 2)
      assert.strictEqual(r.stderr, "ERROR: Usage error: Unknown option: -foo\n")
    })
  )

  it.live("modern form: a DynamoRIO-style option is one error line naming the word as typed, exit 2", () =>
    Effect.gen(function* () {
      // effect/cli reads -exit_after_records as the short options -e -x -i …: one line, not one per letter.
      const r = yield* memtrace(["analyze", "--indir", "t", "--tool", "view", "-exit_after_records", "30"])
      assert.strictEqual(r.code, 2)
      const lines = r.stderr.trimEnd().split("\n")
      assert.strictEqual(lines.length, 1, r.stderr)
      assert.match(lines[0]!, /^ERROR: Usage error: Unknown option: -exit_after_records \(/)
      const typo = yield* memtrace(["analyze", "--indir", "t", "--exit-after-recordz", "3"])
      assert.strictEqual(typo.code, 2)
      assert.strictEqual(
        typo.stderr,
        "ERROR: Usage error: Unknown option: --exit-after-recordz (did you mean --exit-after-records?)\n"
      )
    })
  )

  it.live("info: one row per input in DynamoRIO's order and a total, exit 0", () =>
    Effect.gen(function* () {
      const r = yield* memtrace(["info", `${TRACES}/drmemtrace.threadsig.x64.tracedir`])
      assert.strictEqual(r.code, 0)
      const lines = r.stdout.split("\n")
      const files = lines.flatMap((l) => l.match(/drmemtrace\.threadsig\.\d+\.\d+\.trace\.zip/g) ?? [])
      assert.deepStrictEqual(files, [...files].sort())
      assert.strictEqual(files.length, 9)
      // Totals of threadsig (semantics §9): 650,576 instructions; 928,110 records.
      const total = lines.find((l) => l.startsWith("total"))!
      assert.match(total, /\b9 inputs\b.*\b928110\s+650576\b/)
    })
  )

  it.live("view: DynamoRIO's record listing of a trace without encodings, exit 0", () =>
    Effect.gen(function* () {
      const r = yield* memtrace(["view", `${TRACES}/drmemtrace.small.x64.trace`, "--exit-after-records", "60"])
      assert.strictEqual(r.stderr, "")
      assert.strictEqual(r.code, 0)
      assert.strictEqual(r.stdout, fs.readFileSync(`${TRACES}/expected/small.view.txt`, "utf8"))
    })
  )

  it.live("view: a reader that goes away (| head) ends the run at once with the shell's SIGPIPE status, no error", () =>
    Effect.gen(function* () {
      const r = yield* Effect.callback<{
        readonly code: number | null
        readonly stderr: string
        readonly lines: number
      }>((resume) => {
        const child = spawn(
          process.execPath,
          ["src/cli/main.ts", "view", `${TRACES}/drmemtrace.chase-snappy.x64.tracedir`],
          { env: { ...process.env, CI: "true" }, stdio: ["ignore", "pipe", "pipe"] }
        )
        let stdout = ""
        let stderr = ""
        child.stdout!.on("data", (d) => {
          stdout += d
          // Like head -3: read three lines, then close the pipe.
          if (stdout.split("\n").length > 3) child.stdout!.destroy()
        })
        child.stderr!.on("data", (d) => (stderr += d))
        child.on("close", (code) => resume(Effect.succeed({ code, stderr, lines: stdout.split("\n").length - 1 })))
        return Effect.sync(() => child.kill("SIGKILL"))
      })
      assert.isAtLeast(r.lines, 3)
      assert.strictEqual(r.stderr, "")
      assert.strictEqual(r.code, 141)
    })
  )

  it.live("a missing trace: exit 1 with the TraceError line", () =>
    Effect.gen(function* () {
      const r = yield* memtrace(["analyze", "--indir", `${TRACES}/no-such-trace`, "--tool", "basic_counts"])
      assert.strictEqual(r.code, 1)
      assert.strictEqual(r.stdout, "")
      const lines = r.stderr.trimEnd().split("\n")
      assert.strictEqual(lines.length, 1)
      assert.match(lines[0]!, /^ERROR: NotFound: .*\(\.\.\/shared\/traces\/no-such-trace\)$/)
    })
  )

  it.live("-skip_instrs past an input's end: exit 1 with DynamoRIO's too-far line, not a usage error", () =>
    Effect.gen(function* () {
      const r = yield* memtrace([
        "-infile",
        `${TRACES}/drmemtrace.allasm_x86_64.trace.zip`,
        "-tool",
        "basic_counts",
        "-skip_instrs",
        "500"
      ])
      assert.strictEqual(r.code, 1)
      assert.strictEqual(r.stdout, "")
      assert.match(
        r.stderr,
        /^ERROR: SchedulerError: Too-far -skip_instrs for: drmemtrace\.allasm_x86_64\.trace\.zip: /
      )
    })
  )

  it.live("exit 1 with results (--failure continue): stdout is written whole through a pipe before the exit", () =>
    Effect.gen(function* () {
      // threadsig with one input corrupt mid-file: its shard fails, the others' results (with their raw shard
      // results ≈ 1.2 MB of JSON, far more than a pipe holds) must all reach the reader before the process exits.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-pipe-"))
      try {
        const src = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
        for (const name of fs.readdirSync(src)) fs.copyFileSync(path.join(src, name), path.join(dir, name))
        const bad = path.join(dir, "drmemtrace.threadsig.872884.3060.trace.zip")
        const bytes = fs.readFileSync(bad)
        bytes.fill(0x55, 60_000, 60_400)
        fs.writeFileSync(bad, bytes)
        const r = yield* memtrace([
          "-indir",
          dir,
          "-tool",
          "basic_counts",
          "-failure",
          "continue",
          "-json",
          "-json_shards"
        ])
        assert.strictEqual(r.code, 1)
        assert.isAbove(r.stdout.length, 1 << 20)
        const json = JSON.parse(r.stdout) as { failures: ReadonlyArray<{ reason: string }> }
        assert.strictEqual(json.failures.length, 1)
        assert.strictEqual(json.failures[0]!.reason, "ReadError")
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  )

  it.live("an unknown tool: exit 2, one line listing the available tools", () =>
    Effect.gen(function* () {
      const r = yield* memtrace(["analyze", "--indir", `${TRACES}/drmemtrace.threadsig.x64.tracedir`, "--tool", "frob"])
      assert.strictEqual(r.code, 2)
      assert.strictEqual(r.stdout, "")
      assert.strictEqual(
        r.stderr,
        'ERROR: Usage error: unsupported analyzer type "frob". Please choose basic_counts, cache_simulator, histogram, invariant_checker, reuse_distance, reuse_time, schedule_stats, syscall_mix, TLB_simulator or view.\n'
      )
    })
  )

  it.live("interrupted (SIGINT) while reading: exit 130", () =>
    Effect.gen(function* () {
      // A FIFO nobody writes to: opening it blocks until the process is interrupted.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-cli-"))
      const fifo = path.join(dir, "blocked.trace")
      yield* Effect.sync(() => execFileSync("mkfifo", [fifo]))
      let sent = false
      const r = yield* memtrace(["-infile", fifo, "-tool", "basic_counts", "-verbose", "1"], (child, stderr) => {
        if (!sent && stderr().includes("memtrace: running")) {
          sent = true
          child.kill("SIGINT")
        }
      })
      fs.rmSync(dir, { recursive: true, force: true })
      assert.isTrue(sent)
      assert.strictEqual(r.code, 130)
    })
  )
})
