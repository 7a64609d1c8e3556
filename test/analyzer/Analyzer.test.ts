import { execFileSync, spawn } from "node:child_process"
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Tool from "../../src/analyzer/Tool.ts"
import { openReaders } from "../../src/trace/internal/inputReader.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { counter, counterSpec, type ShardCount } from "../utils/faultTools.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

/** Five synthetic threads of 20 instructions each (tids 101..105). */
const synthetic = (count = 5, instrs = 20) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i),
    (i) =>
      Trace.fromEntries(
        S.thread(101 + i, [
          S.timestamp(1000 + i),
          ...Array.from({ length: instrs }, (_, k) => S.instr(0x1000 + k)),
          S.exit(101 + i)
        ]),
        { ordinal: i, name: `synthetic.${101 + i}` }
      )
  )

/** Records each worker's release and how it ended. */
const releases = () => {
  const seen = new Map<number, Exit.Exit<unknown, unknown>>()
  return { seen, onWorkerReleased: (w: number, exit: Exit.Exit<unknown, unknown>) => void seen.set(w, exit) }
}

const counts = (result: Analyzer.AnalysisResult) => result.tools[0]!.result as ReadonlyArray<ShardCount>

describe("Analyzer (fiber backend, thread-sharded)", () => {
  it.effect("gives every record of every input to exactly one shard, in order, and releases every worker", () =>
    Effect.gen(function* () {
      const r = releases()
      const result = yield* Analyzer.run(THREADSIG, {
        tools: [counter()],
        jobs: 3,
        onWorkerReleased: r.onWorkerReleased
      })
      assert.strictEqual(result.mode, "thread-sharded")
      assert.strictEqual(result.workers, 3)
      const shards = counts(result)
      assert.deepStrictEqual(
        shards.map((s) => s.shard),
        [0, 1, 2, 3, 4, 5, 6, 7, 8]
      )
      assert.strictEqual(
        shards.reduce((a, s) => a + s.records, 0),
        928_110
      )
      assert.strictEqual(
        shards.reduce((a, s) => a + s.instrs, 0),
        650_576
      )
      for (const s of shards) assert.deepStrictEqual(s.runs, [[s.shard, 1, s.records]])
      assert.deepStrictEqual([...r.seen.keys()].sort(), [0, 1, 2])
      for (const exit of r.seen.values()) assert.isTrue(Exit.isSuccess(exit))
    })
  )

  it.effect("opens each input when its worker reaches it and closes it at its end", () =>
    Effect.gen(function* () {
      const before = openReaders()
      let most = 0
      const probe = Tool.make<{ shard: number }, number, number>({
        name: "open-probe",
        parallel: true,
        shardResultSchema: Schema.Number,
        resultSchema: Schema.Number,
        makeShard: (info) => ({ shard: info.shardIndex }),
        processBatch: () => {
          most = Math.max(most, openReaders() - before)
          return undefined
        },
        finishShard: (s) => s.shard,
        merge: (shards) => shards.length,
        print: (n) => `${n} shards\n`
      })
      const result = yield* Analyzer.run(THREADSIG, { tools: [probe], jobs: 2 })
      assert.strictEqual(result.tools[0]!.result, 9)
      // One input per worker at a time, never the nine of the trace.
      assert.isAtLeast(most, 1)
      assert.isAtMost(most, 2)
      assert.strictEqual(openReaders(), before)
    })
  )

  it.effect("a bad input met mid-run (inputs open lazily) fails the run with a ReadError naming it", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "memtrace-lazy-"))
      try {
        for (const f of readdirSync(THREADSIG)
          .filter((f) => f.endsWith(".zip"))
          .slice(0, 3))
          copyFileSync(join(THREADSIG, f), join(dir, f))
        // Sorted last: every good input comes first.
        writeFileSync(join(dir, "zz.not-a-trace.zip"), "not a zip archive")
        const error = yield* Effect.flip(Analyzer.run(dir, { tools: [counter()], jobs: 1 }))
        assert.strictEqual(error._tag, "AnalysisFailed")
        if (error._tag !== "AnalysisFailed") return
        const f = error.failures[0]!
        assert.strictEqual(f.reason, "ReadError")
        // Attributed as on worker threads: the input by name and its shard, the third input (of the
        // three zips copied, cpu_schedule.bin.zip is no input).
        assert.strictEqual(f.input, "zz.not-a-trace.zip")
        assert.strictEqual(f.shard, 2)
        assert.strictEqual(f.shardType, "thread")
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  )

  it.effect("fail-fast: a typed tool error fails the run with full attribution and releases every worker", () =>
    Effect.gen(function* () {
      const inputs = yield* synthetic()
      const r = releases()
      const error = yield* Effect.flip(
        Analyzer.runInputs(inputs, {
          tools: [counter({ fault: "error", shard: 3, record: 7 })],
          jobs: 2,
          onWorkerReleased: r.onWorkerReleased
        })
      )
      assert.strictEqual(error._tag, "AnalysisFailed")
      if (error._tag !== "AnalysisFailed") return
      assert.strictEqual(error.failures.length, 1)
      const f = error.failures[0]!
      assert.strictEqual(f.reason, "ToolError")
      assert.strictEqual(f.worker, 1) // input 3 -> output 3 mod 2
      assert.strictEqual(f.shard, 3)
      assert.strictEqual(f.tid, 104)
      assert.strictEqual(f.input, "synthetic.104")
      assert.strictEqual(f.tool, "counter")
      assert.strictEqual(f.record, 7)
      assert.strictEqual(f.message, "count error on shard 3 at record 7")
      assert.deepStrictEqual(f.toolError, { _tag: "CountError", shard: 3, record: 7 })
      assert.deepStrictEqual([...r.seen.keys()].sort(), [0, 1])
      assert.isTrue(Exit.isFailure(r.seen.get(1)!))
    })
  )

  it.effect("continue: the other shards are all processed exactly once and the failure is returned", () =>
    Effect.gen(function* () {
      const inputs = yield* synthetic(6)
      const result = yield* Analyzer.runInputs(inputs, {
        tools: [counter({ fault: "error", shard: 1, record: 5 })],
        jobs: 2,
        failure: "continue"
      })
      assert.strictEqual(result.failures.length, 1)
      assert.strictEqual(result.failures[0]!.shard, 1)
      // Worker 1 owned inputs 1, 3, 5; it failed on 1, so 3 and 5 went to worker 0.
      const shards = counts(result)
      assert.deepStrictEqual(
        shards.map((s) => s.shard),
        [0, 2, 3, 4, 5]
      )
      for (const s of shards) {
        assert.strictEqual(s.records, 24) // version, filetype, timestamp, 20 instrs, exit
        assert.deepStrictEqual(s.runs, [[s.shard, 1, 24]])
      }
    })
  )

  it.effect("a tool that throws is reported as a defect with the shard and records", () =>
    Effect.gen(function* () {
      const inputs = yield* synthetic()
      const error = yield* Effect.flip(
        Analyzer.runInputs(inputs, { tools: [counter({ fault: "defect", shard: 2, record: 4 })], jobs: 2 })
      )
      assert.strictEqual(error._tag, "AnalysisFailed")
      if (error._tag !== "AnalysisFailed") return
      const f = error.failures[0]!
      assert.strictEqual(f.reason, "ToolDefect")
      assert.strictEqual(f.shard, 2)
      assert.include(f.message, "boom at record 4")
    })
  )

  it.effect("a soft exit stops the tool on that worker without failing the run", () =>
    Effect.gen(function* () {
      const inputs = yield* synthetic(4)
      const result = yield* Analyzer.runInputs(inputs, {
        tools: [counter({ fault: "stop", shard: 0, record: 10 })],
        jobs: 2
      })
      assert.strictEqual(result.failures.length, 0)
      const shards = counts(result)
      // Worker 0 (inputs 0, 2) stopped inside input 0: shard 0 kept 9 records, input 2 never reached the tool.
      assert.deepStrictEqual(
        shards.map((s) => [s.shard, s.records]),
        [
          [0, 9],
          [1, 24],
          [3, 24]
        ]
      )
    })
  )

  it.effect("errors in shard init, shard exit, merge and print are attributed", () =>
    Effect.gen(function* () {
      const run = (fault: "init" | "exit" | "merge" | "print") =>
        Effect.flatMap(synthetic(3), (inputs) =>
          Effect.flip(Analyzer.runInputs(inputs, { tools: [counter({ fault, shard: 1 })], jobs: 1 }))
        )
      const init = yield* run("init")
      const exit = yield* run("exit")
      const merge = yield* run("merge")
      const print = yield* run("print")
      for (const e of [init, exit, merge, print]) assert.strictEqual(e._tag, "AnalysisFailed")
      const reasons = [init, exit, merge, print].map((e) => (e._tag === "AnalysisFailed" ? e.failures[0]!.reason : ""))
      assert.deepStrictEqual(reasons, ["ShardInit", "ShardExit", "Merge", "Merge"])
      if (init._tag === "AnalysisFailed") {
        assert.strictEqual(init.failures[0]!.shard, 1)
        assert.include(init.failures[0]!.message, "init failed on shard 1")
      }
    })
  )

  it.effect("a tool that refuses the run's shard type fails it before any shard starts", () =>
    Effect.gen(function* () {
      const made: Array<Tool.ShardType> = []
      const picky = (refuse: "core" | "throw") =>
        Tool.make<number, number, number, string>({
          name: "picky",
          initializeShardType: (shardType) => {
            if (refuse === "throw") throw new Error("no shard type for me")
            return shardType === refuse ? `no ${shardType} shards` : undefined
          },
          makeShard: (info) => {
            made.push(info.shardType)
            return 0
          },
          processBatch: () => undefined,
          finishShard: () => 0,
          merge: () => 0,
          print: () => "",
          shardResultSchema: Schema.Number,
          resultSchema: Schema.Number
        })
      const core = yield* Effect.flip(
        Effect.flatMap(synthetic(3), (inputs) =>
          Analyzer.runInputs(inputs, { tools: [picky("core")], mode: "core-sharded", cores: 2 })
        )
      )
      assert.strictEqual(core._tag, "AnalysisFailed")
      if (core._tag === "AnalysisFailed") {
        assert.strictEqual(core.failures.length, 1)
        const f = core.failures[0]!
        assert.deepStrictEqual(
          [f.reason, f.worker, f.shard, f.shardType, f.tool],
          ["ToolInit", -1, -1, "core", "picky"]
        )
        assert.strictEqual(f.message, "no core shards")
        assert.strictEqual(f.toolError, "no core shards")
        assert.isUndefined(f.record)
      }
      assert.deepStrictEqual(made, [])
      const thrown = yield* Effect.flip(
        Effect.flatMap(synthetic(3), (inputs) => Analyzer.runInputs(inputs, { tools: [picky("throw")], jobs: 1 }))
      )
      assert.strictEqual(
        thrown._tag === "AnalysisFailed" ? thrown.failures[0]!.line : "",
        "ToolInit: Error: no shard type for me (tool picky)"
      )
      assert.deepStrictEqual(made, [])
      // The same tool runs where it accepts the shard type.
      const result = yield* Effect.flatMap(synthetic(3), (inputs) =>
        Analyzer.runInputs(inputs, { tools: [picky("core")], jobs: 1 })
      )
      assert.strictEqual(result.mode, "thread-sharded")
      assert.deepStrictEqual(made, ["thread", "thread", "thread"])
    })
  )

  it.effect("a read error in the middle of an input fails the run naming the input and record", () =>
    Effect.gen(function* () {
      const good = yield* synthetic(2)
      const body = Array.from({ length: 40 }, (_, i) => S.instr(0x100 + i))
      const bytes = S.encode(S.thread(9, [...body, S.entry(99, 0, 0), S.exit(9)]))
      // Small batches: the first batch (read when the input is opened) is good.
      const bad = yield* Trace.fromBytes(bytes, { ordinal: 2, name: "corrupt.trace", batchCapacity: 16 })
      const error = yield* Effect.flip(Analyzer.runInputs([...good, bad], { tools: [counter()], jobs: 2 }))
      assert.strictEqual(error._tag, "AnalysisFailed")
      if (error._tag !== "AnalysisFailed") return
      const f = error.failures[0]!
      assert.strictEqual(f.reason, "ReadError")
      assert.strictEqual(f.worker, 0)
      assert.strictEqual(f.input, "corrupt.trace")
      // VERSION, FILETYPE and 40 instructions come before the bad entry.
      assert.strictEqual(f.record, 43)
      assert.include(f.message, "unknown trace entry type 99")
    })
  )

  it.effect("a run timeout ends a run whose input never delivers, and releases the workers", () =>
    Effect.gen(function* () {
      const inputs = yield* synthetic(2)
      const stuck: Trace.TraceInput = { ...inputs[1]!, next: Effect.never }
      const r = releases()
      const fiber = yield* Effect.forkChild(
        Effect.flip(
          Analyzer.runInputs([inputs[0]!, stuck], {
            tools: [counter()],
            jobs: 2,
            runTimeout: "10 seconds",
            stallTimeout: "1 hour",
            onWorkerReleased: r.onWorkerReleased
          })
        )
      )
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "AnalysisFailed")
      if (error._tag === "AnalysisFailed") assert.strictEqual(error.failures[0]!.reason, "Timeout")
      assert.deepStrictEqual([...r.seen.keys()].sort(), [0, 1])
    })
  )

  it.effect("the stall watchdog fails a run where no record is processed for stallTimeout", () =>
    Effect.gen(function* () {
      const inputs = yield* synthetic(2)
      const stuck: Trace.TraceInput = { ...inputs[1]!, next: Effect.never }
      const fiber = yield* Effect.forkChild(
        Effect.flip(
          Analyzer.runInputs([inputs[0]!, stuck], { tools: [counter()], jobs: 2, stallTimeout: "30 seconds" })
        )
      )
      // The watchdog samples every stallTimeout / 4, so it fires by 30 s + 7.5 s.
      yield* TestClock.adjust("40 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "AnalysisFailed")
      if (error._tag !== "AnalysisFailed") return
      assert.deepStrictEqual(
        error.failures.map((f) => [f.reason, f.worker]),
        [["WorkerStalled", 1]]
      )
    })
  )

  it.effect("interrupting the run runs every worker's release", () =>
    Effect.gen(function* () {
      const inputs = yield* synthetic(2)
      const stuck: Trace.TraceInput = { ...inputs[1]!, next: Effect.never }
      const r = releases()
      const fiber = yield* Effect.forkChild(
        Analyzer.runInputs([inputs[0]!, stuck], { tools: [counter()], jobs: 2, onWorkerReleased: r.onWorkerReleased })
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual([...r.seen.keys()].sort(), [0, 1])
      assert.isTrue(Exit.hasInterrupts(r.seen.get(1)!))
    })
  )

  it.effect("rejects a serial-only tool in thread-sharded mode and an empty tool list", () =>
    Effect.gen(function* () {
      const inputs = yield* synthetic(1)
      const e1 = yield* Effect.flip(
        Analyzer.runInputs(inputs, { tools: [counter(undefined, { parallel: false })], mode: "thread-sharded" })
      )
      assert.strictEqual(e1._tag, "AnalyzerOptionError")
      const e2 = yield* Effect.flip(Analyzer.runInputs(inputs, { tools: [] }))
      assert.strictEqual(e2._tag, "AnalyzerOptionError")
    })
  )
})

describe("the run timeout covers opening the inputs", () => {
  it.live("a pipe that sends nothing fails the run with Timeout, within its time, not when the writer ends", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "memtrace-fifo-"))
      const fifo = join(dir, "silent.trace")
      execFileSync("mkfifo", [fifo])
      // A writer that holds the pipe open for a minute and writes nothing.
      const writer = spawn("sh", ["-c", `exec 3>"${fifo}"; sleep 60`], { stdio: "ignore" })
      try {
        const started = Date.now()
        for (const backend of ["fibers", "threads"] as const) {
          const e = yield* Effect.flip(
            Analyzer.run(fifo, {
              tools: [counterSpec()],
              backend,
              runTimeout: "300 millis",
              stallTimeout: Duration.infinity
            })
          )
          assert.strictEqual(e._tag, "AnalysisFailed", backend)
          if (e._tag === "AnalysisFailed") {
            assert.strictEqual(e.failures[0]!.reason, "Timeout", backend)
            assert.match(e.failures[0]!.message, /still opening its inputs/, backend)
          }
        }
        // Generous: the writer holds the pipe for 60 s; waiting on it would take that long.
        assert.isBelow(Date.now() - started, 20_000)
      } finally {
        writer.kill("SIGKILL")
        rmSync(dir, { recursive: true, force: true })
      }
    })
  )
})
