/**
 * The fault-injection matrix: fault kind × mode × backend × policy. Each case
 * states what must happen (docs/architecture.md, "Failure guarantees") and
 * checks that the run ends within a bound, with the typed error and its
 * attribution, that every worker was released (output set inactive), that no
 * worker thread or reader is left open, and, under "continue", that every
 * record of every non-failing thread shard was processed exactly once.
 *
 * Default size: the fiber backend in full, the thread backend for
 * thread-sharded and core-sharded runs under fail-fast. MATRIX=full runs
 * every combination.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import { liveThreads } from "../../src/analyzer/internal/threadBackend.ts"
import { openReaders } from "../../src/trace/internal/inputReader.ts"
import { TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import { counterSpec, type Fault, type ShardCount } from "../utils/faultTools.ts"

const FULL = process.env.MATRIX === "full"
const INPUTS = 6
const INSTRS = 300

// Six small threads as uncompressed trace files, with timestamps so that the
// serial interleave switches between them; a second directory has a
// corrupt input 1 whose damage lies beyond its first batch.
const root = mkdtempSync(join(tmpdir(), "memtrace-matrix-"))
const body = (i: number, n: number) => {
  const out: Array<S.Entry> = []
  for (let k = 0; k < n; k++) {
    if (k % 50 === 0) out.push(S.timestamp(1000 + k * 10 + i))
    out.push(S.instr(0x1000 + k * 4, TraceType.INSTR, 4), S.read(0x8000 + ((k * 8) % 4096)))
  }
  return out
}
const recordsOf: Array<number> = []
const writeDir = (name: string, corrupt: boolean) => {
  const dir = join(root, name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir)
  for (let i = 0; i < INPUTS; i++) {
    const tid = 200 + i
    const entries =
      corrupt && i === 1
        ? [...S.thread(tid, [...body(i, 6000), S.entry(77, 0, 0), S.exit(tid)])]
        : S.thread(tid, [...body(i, INSTRS), S.exit(tid)])
    if (!corrupt) recordsOf[i] = 2 + INSTRS * 2 + Math.ceil(INSTRS / 50) + 1
    writeFileSync(join(dir, `synthetic.${tid}.trace`), S.encode(entries))
  }
  return dir
}
const GOOD = writeDir("good", false)
const BAD = writeDir("bad", true)
afterAll(() => rmSync(root, { recursive: true, force: true }))

type Mode = Analyzer.Mode
type Backend = "fibers" | "threads"
type Policy = "fail-fast" | "continue"
type Kind = Fault | "readError" | "timeout" | "interrupt"

const threadOnly: ReadonlyArray<Kind> = ["processExit", "uncaught", "hang"]
const kinds: ReadonlyArray<Kind> = [
  "error",
  "defect",
  "stop",
  "init",
  "exit",
  "merge",
  "print",
  "processExit",
  "uncaught",
  "hang",
  "readError",
  "timeout",
  "interrupt"
]
const modes: ReadonlyArray<Mode> = ["thread-sharded", "serial", "core-sharded", "core-serial"]

/** What each fault must end in. */
const expectedReason: Partial<Record<Kind, string>> = {
  error: "ToolError",
  defect: "ToolDefect",
  init: "ShardInit",
  exit: "ShardExit",
  merge: "Merge",
  print: "Merge",
  processExit: "WorkerCrashed",
  uncaught: "WorkerCrashed",
  hang: "WorkerStalled",
  readError: "ReadError",
  timeout: "Timeout"
}

const workersOf = (mode: Mode) => (mode === "serial" || mode === "core-serial" ? 1 : 2)

const runCase = (kind: Kind, mode: Mode, backend: Backend, policy: Policy) =>
  Effect.gen(function* () {
    const released = new Set<number>()
    const readersBefore = openReaders()
    // Shard 1 is input 1 in thread modes and core 1 in core modes.
    const fault: Fault | undefined =
      kind === "readError" ? undefined : kind === "timeout" || kind === "interrupt" ? "slow" : kind
    const plan =
      fault === undefined
        ? undefined
        : { fault, shard: kind === "timeout" || kind === "interrupt" ? -1 : 1, record: 100 }
    const options: Analyzer.Options = {
      tools: [counterSpec(plan)],
      mode,
      jobs: 2,
      cores: 2,
      backend,
      failure: policy,
      scheduler: { deps: "ignore", quantumDurationInstrs: 97 },
      stallTimeout: kind === "hang" ? "2 seconds" : "60 seconds",
      runTimeout: kind === "timeout" ? "300 millis" : "60 seconds",
      onWorkerReleased: (w) => void released.add(w)
    }
    const started = Date.now()
    const run = Analyzer.run(kind === "readError" ? BAD : GOOD, options)
    const exit =
      kind === "interrupt"
        ? yield* Effect.gen(function* () {
            const fiber = yield* Effect.forkChild(run)
            yield* Effect.sleep("300 millis")
            yield* Fiber.interrupt(fiber)
            return yield* Fiber.await(fiber)
          })
        : yield* Effect.exit(run)
    const elapsed = Date.now() - started

    // Ends within a bound: generous, thread start-up included.
    assert.isBelow(elapsed, 30_000, "the run ended within 30 s")
    // Every worker released its output; nothing left open.
    assert.strictEqual(released.size, workersOf(mode), "every worker was released")
    assert.strictEqual(liveThreads(), 0, "no worker thread left")
    assert.strictEqual(openReaders(), readersBefore, "no reader left open")

    if (kind === "interrupt") {
      assert.isTrue(Exit.hasInterrupts(exit), "the run was interrupted")
      return
    }
    if (kind === "stop") {
      assert.isTrue(Exit.isSuccess(exit))
      return
    }
    const reason = expectedReason[kind]!
    const fatal =
      policy === "fail-fast" || kind === "merge" || kind === "print" || kind === "timeout" || kind === "hang"
    if (fatal || workersOf(mode) === 1) {
      if (Exit.isSuccess(exit)) {
        // A single worker under continue: the run returns its failure with no results.
        assert.isFalse(fatal)
        assert.strictEqual(exit.value.failures[0]!.reason, reason)
        return
      }
      const error = Cause.findErrorOption(exit.cause)
      assert.isTrue(error._tag === "Some", Cause.pretty(exit.cause))
      if (error._tag !== "Some") return
      assert.strictEqual(error.value._tag, "AnalysisFailed", Cause.pretty(exit.cause))
      if (error.value._tag !== "AnalysisFailed") return
      const failures = error.value.failures
      // Under continue, a stall is reported for the stuck worker only.
      assert.include(
        failures.map((f) => f.reason),
        reason
      )
      const f = failures.find((x) => x.reason === reason)!
      if (kind === "error" || kind === "defect") {
        assert.strictEqual(f.tool, "counter")
        assert.strictEqual(f.shard, 1)
        assert.isDefined(f.input)
        // A typed error names its record; a throw names the segment it happened in.
        if (kind === "error") assert.strictEqual(f.record, 100)
        else {
          assert.isAtMost(f.record!, 100)
          assert.include(f.message, "boom at record 100")
        }
      }
      if (kind === "readError") assert.include(f.input ?? f.message, "synthetic.201.trace")
      if (kind === "processExit" || kind === "uncaught" || kind === "hang") assert.isAtLeast(f.worker, 0)
      return
    }
    // continue with two workers: the run returns partial results and the failure.
    assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "")
    if (!Exit.isSuccess(exit)) return
    const result = exit.value
    assert.include(
      result.failures.map((f) => f.reason),
      reason
    )
    if (mode === "thread-sharded") {
      // Every non-failing thread shard: all its records, exactly once, in order.
      const shards = result.tools[0]!.result as ReadonlyArray<ShardCount>
      const failedInputs = new Set(result.failures.map((f) => f.shard))
      for (let i = 0; i < INPUTS; i++) {
        if (failedInputs.has(i)) continue
        const s = shards.find((x) => x.shard === i)
        if (kind === "processExit" || kind === "uncaught" || kind === "readError") {
          // The crashed thread's finished shards died with it; the rest are whole.
          if (s === undefined) continue
        }
        assert.isDefined(s, `shard ${i} present`)
        assert.deepStrictEqual(s!.runs, [[i, 1, recordsOf[i]!]])
      }
    }
  })

const included = (kind: Kind, mode: Mode, backend: Backend, policy: Policy) => {
  if (backend === "fibers" && threadOnly.includes(kind)) return false // would kill or freeze the test process
  if (FULL || backend === "fibers") return true
  return policy === "fail-fast" && (mode === "thread-sharded" || mode === "core-sharded")
}

describe("fault-injection matrix", () => {
  for (const backend of ["fibers", "threads"] as const) {
    for (const policy of ["fail-fast", "continue"] as const) {
      for (const mode of modes) {
        for (const kind of kinds) {
          if (!included(kind, mode, backend, policy)) continue
          it.live(`${kind} | ${mode} | ${backend} | ${policy}`, () => runCase(kind, mode, backend, policy), 60_000)
        }
      }
    }
  }
})
