/**
 * Interrupting an open: what it opened is closed by the time the
 * interruption completes (within the enclosing scope), not some time later;
 * and an open waiting on standard input lets the process go. Read options
 * that cannot be met are refused, typed.
 */
import { execFileSync, spawn } from "node:child_process"
import { closeSync, copyFileSync, mkdtempSync, openSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { TraceError } from "../../src/trace/TraceError.ts"
import { openUnder } from "./container/fixtures.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

describe("interrupted opens", () => {
  it.live("Trace.open interrupted at any point has closed every file it opened when its scope closes", () =>
    Effect.gen(function* () {
      // A private copy: no other test's descriptors are counted.
      const dir = mkdtempSync(join(tmpdir(), "memtrace-interrupt-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      for (const f of readdirSync(THREADSIG)) copyFileSync(join(THREADSIG, f), join(dir, f))
      for (const delay of [0, 1, 2, 4, 8, 16]) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const fiber = yield* Effect.forkChild(Trace.open(dir))
            yield* Effect.sleep(`${delay} millis`)
            yield* Fiber.interrupt(fiber)
          })
        )
        assert.strictEqual(openUnder(dir), 0, `interrupted after ${delay} ms`)
      }
    }).pipe(Effect.scoped)
  )

  it.live("a run timeout over standard input that sends nothing lets a program's process end by itself", () =>
    Effect.gen(function* () {
      // Standard input: a FIFO no one writes to (a spawned process's "pipe" would be a socket), opened
      // read-write here so that opening it does not wait; the program does not call process.exit.
      const dir = mkdtempSync(join(tmpdir(), "memtrace-stdin-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const fifo = join(dir, "stdin.fifo")
      execFileSync("mkfifo", [fifo])
      const fd = openSync(fifo, "r+")
      yield* Effect.addFinalizer(() => Effect.sync(() => closeSync(fd)))
      const r = yield* Effect.callback<{ stdout: string; ms: number }>((resume) => {
        const started = Date.now()
        const child = spawn(process.execPath, ["test/utils/stdinTimeoutProgram.ts"], {
          env: { ...process.env, CI: "true" },
          stdio: [fd, "pipe", "inherit"]
        })
        let stdout = ""
        child.stdout!.on("data", (d) => {
          stdout += d
        })
        child.on("close", () => resume(Effect.succeed({ stdout, ms: Date.now() - started })))
        return Effect.sync(() => child.kill("SIGKILL"))
      }).pipe(Effect.timeout("30 seconds"))
      assert.include(r.stdout, "the run did not finish within 1s (it was still opening its inputs)")
    }).pipe(Effect.scoped)
  )
})

describe("read options", () => {
  it.effect("a batch capacity that cannot be met is TraceError InvalidOptions naming it, from every entry point", () =>
    Effect.gen(function* () {
      const bytes = S.encode(S.thread(7, [S.instr(0x10), S.exit(7)]))
      for (const batchCapacity of [Number.NaN, Number.POSITIVE_INFINITY, 17.5, 0, -1, 2 ** 40]) {
        const opened = yield* Effect.flip(Trace.open(THREADSIG, { batchCapacity }))
        assert.strictEqual(opened.reason, "InvalidOptions", String(batchCapacity))
        assert.include(opened.detail, `batchCapacity must be an integer from 1 to 1048576, got ${batchCapacity}`)
        const fromBytes = yield* Effect.flip(Trace.fromBytes(bytes, { batchCapacity }))
        assert.strictEqual(fromBytes.reason, "InvalidOptions")
        const thrown = (() => {
          try {
            Trace.decodeSync(bytes, { batchCapacity })
            return undefined
          } catch (e) {
            return e
          }
        })()
        assert.instanceOf(thrown, TraceError)
      }
      // Small capacities are raised to the minimum, as documented.
      const small = yield* Trace.fromBytes(bytes, { batchCapacity: 1 })
      const batch = yield* small.next
      assert.strictEqual(batch?.capacity, RecordBatch.MIN_CAPACITY)
    }).pipe(Effect.scoped)
  )
})
