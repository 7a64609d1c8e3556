/**
 * SIGINT during a long multi-threaded run: the CLI must shut down within a
 * bound (every finalizer run, worker threads terminated) and exit 130.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as TraceWriter from "../../src/trace/TraceWriter.ts"

const entry = path.resolve("src/cli/main.ts")
const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

describe("memtrace (spawned), interrupted", () => {
  it.live(
    "SIGINT during a long worker-thread run exits 130 within a bound, with a one-line summary",
    () =>
      Effect.gen(function* () {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-sigint-"))
        // 8 copies of threadsig: 72 inputs, 7.4 M records; reuse_distance keeps two threads busy for seconds.
        yield* TraceWriter.replicate(THREADSIG, dir, 8)
        const started = Date.now()
        const result = yield* Effect.callback<{ code: number | null; stderr: string; afterSignalMs: number }>(
          (resume) => {
            const child = spawn(
              process.execPath,
              [
                entry,
                "analyze",
                "--indir",
                dir,
                "--tool",
                "reuse_distance",
                "--backend",
                "threads",
                "--jobs",
                "2",
                "--verbose",
                "1"
              ],
              { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CI: "true" } }
            )
            let stderr = ""
            let signalledAt = 0
            child.stderr!.on("data", (d) => (stderr += d))
            // Give it time to spawn its threads and get going.
            const timer = setTimeout(() => {
              signalledAt = Date.now()
              child.kill("SIGINT")
            }, 3000)
            child.on("close", (code) => {
              clearTimeout(timer)
              resume(Effect.succeed({ code, stderr, afterSignalMs: signalledAt === 0 ? -1 : Date.now() - signalledAt }))
            })
            return Effect.sync(() => child.kill("SIGKILL"))
          }
        ).pipe(Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))))
        assert.isAbove(
          result.afterSignalMs,
          -1,
          `the run ended before it was interrupted (${Date.now() - started} ms, exit ${result.code}): ${result.stderr}`
        )
        assert.strictEqual(result.code, 130, result.stderr)
        // Bounded shutdown: threads terminated and finalizers run well within 10 s of the signal.
        assert.isBelow(result.afterSignalMs, 10_000)
        assert.match(result.stderr.trim().split("\n").at(-1) ?? "", /interrupt/i)
      }),
    120_000
  )
})
