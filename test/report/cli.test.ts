import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

/** The CLI on `args`; `stdin`: a file descriptor for its standard input (none by default). */
const run = (args: ReadonlyArray<string>, stdin: number | "ignore" = "ignore") =>
  Effect.callback<{ code: number | null; stdout: string; stderr: string }>((resume) => {
    const child = spawn(process.execPath, ["src/cli/main.ts", ...args], {
      env: { ...process.env, CI: "true" },
      stdio: [stdin, "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d) => (stdout += d))
    child.stderr!.on("data", (d) => (stderr += d))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("memtrace --report", () => {
  it.live("writes the schedule report of a core-sharded run next to the usual output", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-report-"))
      const out = path.join(dir, "report.html")
      const r = yield* run([
        "-indir",
        "examples/traces/threadsig",
        "-tool",
        "basic_counts",
        "-core_sharded",
        "-cores",
        "3",
        "-sched_block_scale",
        "0.01",
        "-report",
        out
      ])
      const html = fs.existsSync(out) ? fs.readFileSync(out, "utf8") : ""
      fs.rmSync(dir, { recursive: true, force: true })
      assert.strictEqual(r.stderr, "")
      assert.strictEqual(r.code, 0)
      assert.include(r.stdout, "Basic counts tool results:")
      assert.strictEqual((html.match(/<svg class="lane"/g) ?? []).length, 3)
      assert.strictEqual((html.match(/<li data-input=/g) ?? []).length, 9)
      assert.include(html, "tid 872805")
      // The page holds the same text the command printed.
      assert.include(html, "Basic counts tool results:")
    })
  )

  it.live("a report whose directory cannot be written is a usage error, before the run", () =>
    Effect.gen(function* () {
      const r = yield* run([
        "analyze",
        "--indir",
        "examples/traces/threadsig",
        "--tool",
        "basic_counts",
        "--jobs",
        "0",
        "--report",
        "/nonexistent-dir/x/report.html"
      ])
      assert.strictEqual(r.code, 2)
      assert.strictEqual(r.stdout, "")
      assert.match(r.stderr, /^ERROR: Usage error: cannot write the report \/nonexistent-dir\/x\/report\.html: ENOENT/)
    })
  )

  it.live("a trace on standard input gets its report too (its input labelled, not opened again)", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-report-"))
      const out = path.join(dir, "report.html")
      const trace = "../shared/traces/drmemtrace.small.x64.trace"
      const fd = fs.openSync(trace, "r")
      const r = yield* run(["-infile", "-", "-tool", "basic_counts", "-core_sharded", "-report", out], fd)
      fs.closeSync(fd)
      const html = fs.existsSync(out) ? fs.readFileSync(out, "utf8") : ""
      fs.rmSync(dir, { recursive: true, force: true })
      assert.strictEqual(r.stderr, "")
      assert.strictEqual(r.code, 0)
      assert.include(r.stdout, "Basic counts tool results:")
      assert.include(html, "standard input")
    })
  )
})
