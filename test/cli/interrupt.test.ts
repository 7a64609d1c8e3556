/**
 * SIGINT during a long run on worker threads: the CLI must shut down within a
 * bound (every finalizer run, worker threads terminated) and exit 130.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TraceWriter from "../../src/trace/TraceWriter.ts"

const entry = path.resolve("src/cli/main.ts")
const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

interface Ran {
  readonly code: number | null
  readonly stderr: string
  /** Time from the signal to the process's end; -1 when it ended before the signal. */
  readonly afterSignalMs: number
}

describe("memtrace (spawned), interrupted", () => {
  it.live(
    "SIGINT during a long worker-thread run exits 130 within a bound, with a one-line summary",
    () =>
      Effect.gen(function* () {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-sigint-"))
        // 6 copies of threadsig: 54 inputs, 5.6 M records. The cache simulator's default run
        // (core-serial over 4 cores, in one worker thread) with a quantum of one instruction
        // (a scheduling decision at every instruction, so no lockstep spans) lasts about
        // 10 s, far longer than the signal's delay, however loaded the machine is.
        yield* TraceWriter.replicate(THREADSIG, dir, 6)
        const started = Date.now()
        const args = [
          entry,
          "analyze",
          "--indir",
          dir,
          "--tool",
          "cache_simulator",
          "--backend",
          "threads",
          "--sched-quantum",
          "1"
        ]
        const result = yield* Effect.callback<Ran>((resume) => {
          const child = spawn(process.execPath, [...args, "--verbose", "1"], {
            stdio: ["ignore", "pipe", "pipe"],
            env: { ...process.env, CI: "true" }
          })
          let stderr = ""
          let signalledAt = 0
          let timer: ReturnType<typeof setTimeout> | undefined
          child.stderr!.on("data", (d) => {
            stderr += d
            // Interrupt once the run is under way (its worker thread started and busy).
            if (timer === undefined && stderr.includes("memtrace: running")) {
              timer = setTimeout(() => {
                signalledAt = Date.now()
                child.kill("SIGINT")
              }, 2500)
            }
          })
          child.on("close", (code) => {
            if (timer !== undefined) clearTimeout(timer)
            resume(Effect.succeed({ code, stderr, afterSignalMs: signalledAt === 0 ? -1 : Date.now() - signalledAt }))
          })
          return Effect.sync(() => child.kill("SIGKILL"))
        }).pipe(Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))))
        assert.isAbove(
          result.afterSignalMs,
          -1,
          `the run ended before it was interrupted (${Date.now() - started} ms, exit ${result.code}): ${result.stderr}`
        )
        assert.strictEqual(result.code, 130, result.stderr)
        // Bounded shutdown: the thread terminated and finalizers run well within 10 s of the signal.
        assert.isBelow(result.afterSignalMs, 10_000)
        assert.match(result.stderr.trim().split("\n").at(-1) ?? "", /interrupt/i)
      }),
    120_000
  )
})
