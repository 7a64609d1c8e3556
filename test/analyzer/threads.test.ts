import { basename } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import { heartbeatMillis } from "../../src/analyzer/internal/threadBackend.ts"
import * as Registry from "../../src/tools/Registry.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { counterSpec, type FaultPlan, type ShardCount } from "../utils/faultTools.ts"
import { make as twoFault } from "../utils/twoFaultTool.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

const releases = () => {
  const seen = new Map<number, Exit.Exit<unknown, unknown>>()
  return { seen, onWorkerReleased: (w: number, exit: Exit.Exit<unknown, unknown>) => void seen.set(w, exit) }
}

const failWith = (plan: FaultPlan, extra?: Partial<Analyzer.Options>) =>
  Effect.gen(function* () {
    const r = releases()
    const t0 = Date.now()
    const error = yield* Effect.flip(
      Analyzer.run(THREADSIG, {
        tools: [counterSpec(plan)],
        backend: "threads",
        jobs: 2,
        onWorkerReleased: r.onWorkerReleased,
        ...extra
      })
    )
    assert.strictEqual(error._tag, "AnalysisFailed")
    if (error._tag !== "AnalysisFailed") throw new Error("unreachable")
    // Every worker thread was released (output inactive, thread terminated).
    assert.deepStrictEqual([...r.seen.keys()].sort(), [0, 1])
    return { failure: error.failures[0]!, ms: Date.now() - t0 }
  })

describe("Analyzer (worker-thread backend)", () => {
  it.live("gives the same basic_counts as the fiber backend, reading inputs inside the threads", () =>
    Effect.gen(function* () {
      const tool = yield* Registry.make("basic_counts")
      const threads = yield* Analyzer.run(THREADSIG, { tools: [tool], backend: "threads", jobs: 2 })
      const fibers = yield* Analyzer.run(THREADSIG, { tools: [tool], backend: "fibers", jobs: 2 })
      assert.strictEqual(threads.tools[0]!.text, fibers.tools[0]!.text)
      assert.include(threads.tools[0]!.text, "650576 total (fetched) instructions")
      assert.strictEqual(threads.records, 928_110)
    })
  )

  it.live("a typed tool error inside a thread comes back typed and attributed", () =>
    Effect.gen(function* () {
      const { failure } = yield* failWith({ fault: "error", shard: 4, record: 1000 })
      assert.strictEqual(failure.reason, "ToolError")
      assert.strictEqual(failure.worker, 0)
      assert.strictEqual(failure.shard, 4)
      assert.strictEqual(failure.tid, 872902)
      assert.strictEqual(failure.input, "drmemtrace.threadsig.872902.5666.trace.zip")
      assert.strictEqual(failure.record, 1000)
      assert.deepStrictEqual(failure.toolError, { _tag: "CountError", shard: 4, record: 1000 })
    })
  )

  it.live("process.exit in a worker thread becomes WorkerCrashed", () =>
    Effect.gen(function* () {
      const { failure } = yield* failWith({ fault: "processExit", shard: 1, record: 50 })
      assert.strictEqual(failure.reason, "WorkerCrashed")
      assert.strictEqual(failure.worker, 1)
      assert.include(failure.message, "exited with code 7")
    })
  )

  it.live("an uncaught throw outside the tool driver becomes WorkerCrashed", () =>
    Effect.gen(function* () {
      const { failure } = yield* failWith({ fault: "uncaught", shard: 0, record: 50 })
      assert.strictEqual(failure.reason, "WorkerCrashed")
      assert.strictEqual(failure.worker, 0)
      assert.include(failure.message, "uncaught in worker")
    })
  )

  it.live("an infinite loop in a worker thread is stopped as WorkerStalled within the stall timeout", () =>
    Effect.gen(function* () {
      const { failure, ms } = yield* failWith({ fault: "hang", shard: 3, record: 10 }, { stallTimeout: "2 seconds" })
      assert.strictEqual(failure.reason, "WorkerStalled")
      assert.strictEqual(failure.worker, 1)
      // Generous bound: 2 s of silence, plus thread start-up and termination.
      assert.isBelow(ms, 20_000)
    })
  )

  it.live("a thread that exceeds its memory limit becomes WorkerCrashed naming the limits", () =>
    Effect.gen(function* () {
      const { failure } = yield* failWith({ fault: "oom", shard: 2, record: 10 }, { workerMaxMemoryMb: 64 })
      assert.strictEqual(failure.reason, "WorkerCrashed")
      assert.include(failure.message, "resource limits")
    })
  )

  it.live("continue: a crashed thread's unstarted inputs are analyzed by the other thread", () =>
    Effect.gen(function* () {
      const result = yield* Analyzer.run(THREADSIG, {
        tools: [counterSpec({ fault: "processExit", shard: 1, record: 10 })],
        backend: "threads",
        jobs: 2,
        failure: "continue"
      })
      assert.strictEqual(result.failures.length, 1)
      assert.strictEqual(result.failures[0]!.reason, "WorkerCrashed")
      const shards = result.tools[0]!.result as ReadonlyArray<ShardCount>
      // Shard 1 died with its thread; every other input was analyzed exactly once.
      assert.deepStrictEqual(
        shards.map((s) => s.shard),
        [0, 2, 3, 4, 5, 6, 7, 8]
      )
      for (const s of shards) assert.deepStrictEqual(s.runs, [[s.shard, 1, s.records]])
    })
  )

  it.live("continue, through the scheduler: a crashed thread is named with its input, the rest analyzed once", () =>
    Effect.gen(function* () {
      const result = yield* Analyzer.run(THREADSIG, {
        tools: [counterSpec({ fault: "processExit", shard: 1, record: 2000 })],
        backend: "threads",
        jobs: 2,
        skipInstrs: 1,
        failure: "continue"
      })
      const inputs = yield* Trace.list(THREADSIG)
      assert.deepStrictEqual(
        result.failures.map((f) => [f.reason, f.shard, f.input]),
        [["WorkerCrashed", 1, basename(inputs[1]!)]]
      )
      const shards = result.tools[0]!.result as ReadonlyArray<ShardCount>
      assert.deepStrictEqual(shards.map((s) => s.shard).sort(), [0, 2, 3, 4, 5, 6, 7, 8])
    })
  )

  it.live("continue: shards a thread finished before it crashed are kept", () =>
    Effect.gen(function* () {
      // Worker 1 owns inputs 1, 3, 5, 7: it finishes shard 1, then dies in shard 3.
      const result = yield* Analyzer.run(THREADSIG, {
        tools: [counterSpec({ fault: "processExit", shard: 3, record: 10 })],
        backend: "threads",
        jobs: 2,
        failure: "continue"
      })
      assert.deepStrictEqual(
        result.failures.map((f) => [f.reason, f.worker]),
        [["WorkerCrashed", 1]]
      )
      const shards = result.tools[0]!.result as ReadonlyArray<ShardCount>
      assert.deepStrictEqual(
        shards.map((s) => s.shard),
        [0, 1, 2, 4, 5, 6, 7, 8]
      )
      for (const s of shards) assert.deepStrictEqual(s.runs, [[s.shard, 1, s.records]])
    })
  )

  it.live("continue on a serial run in a thread returns the partial results with the failure", () =>
    Effect.gen(function* () {
      const result = yield* Analyzer.run(THREADSIG, {
        tools: [counterSpec({ fault: "error", shard: 2, record: 100 })],
        mode: "serial",
        backend: "threads",
        failure: "continue"
      })
      assert.deepStrictEqual(
        result.failures.map((f) => f.reason),
        ["ToolError"]
      )
      // The one worker stopped at the failure: the shards it had finished are returned.
      const shards = result.tools[0]!.result as ReadonlyArray<ShardCount>
      assert.notInclude(
        shards.map((s) => s.shard),
        2
      )
    })
  )

  it.live("a serial run in a thread: a failing merge is one Merge failure of no worker, as on fibers", () =>
    Effect.gen(function* () {
      for (const failure of ["fail-fast", "continue"] as const) {
        const failures = yield* Effect.forEach(["fibers", "threads"] as const, (backend) =>
          Effect.flip(
            Analyzer.run(THREADSIG, {
              tools: [counterSpec({ fault: "merge", shard: 0 })],
              mode: "serial",
              failure,
              backend
            })
          ).pipe(Effect.map((e) => (e._tag === "AnalysisFailed" ? e.failures.map((f) => [f.reason, f.worker]) : e)))
        )
        assert.deepStrictEqual(failures[1], [["Merge", -1]], failure)
        assert.deepStrictEqual(failures[1], failures[0], failure)
      }
    })
  )

  it.live("core-sharded on threads: the scheduler stays on the main thread and hands segments out", () =>
    Effect.gen(function* () {
      const tool = yield* Registry.make("basic_counts")
      const options = {
        tools: [tool],
        mode: "core-sharded" as const,
        cores: 2,
        scheduler: { blockTimeMultiplier: 0.0001 }
      }
      const threads = yield* Analyzer.run(THREADSIG, { ...options, backend: "threads" })
      const totals = (text: string) =>
        text
          .slice(0, text.indexOf("Core "))
          .split("\n")
          .filter((l) => !l.includes("idle markers"))
      assert.strictEqual(threads.workers, 2)
      assert.include(threads.tools[0]!.text, "Core 1 counts:")
      const fibers = yield* Analyzer.run(THREADSIG, options)
      assert.deepStrictEqual(totals(threads.tools[0]!.text), totals(fibers.tools[0]!.text))
    })
  )

  it.live("core-sharded on threads: a tool error on one core fails fast; under continue the run completes", () =>
    Effect.gen(function* () {
      const plan = { fault: "error" as const, shard: 1, record: 500 }
      const options = { mode: "core-sharded" as const, cores: 2, backend: "threads" as const, jobs: 2 }
      const { failure } = yield* failWith(plan, options)
      assert.strictEqual(failure.reason, "ToolError")
      assert.strictEqual(failure.worker, 1)
      assert.strictEqual(failure.shard, 1)
      assert.strictEqual(failure.record, 500)
      const result = yield* Analyzer.run(THREADSIG, {
        ...options,
        tools: [counterSpec(plan)],
        failure: "continue",
        scheduler: { blockTimeMultiplier: 0.0001 }
      })
      assert.deepStrictEqual(
        result.failures.map((f) => [f.reason, f.worker]),
        [["ToolError", 1]]
      )
      const shards = result.tools[0]!.result as ReadonlyArray<ShardCount>
      assert.deepStrictEqual(
        shards.map((s) => s.shard),
        [0]
      )
    })
  )

  it.live("serial on threads: the whole run goes to one thread and matches thread-sharded output", () =>
    Effect.gen(function* () {
      const tool = yield* Registry.make("basic_counts")
      const serial = yield* Analyzer.run(THREADSIG, { tools: [tool], mode: "serial", backend: "threads" })
      const sharded = yield* Analyzer.run(THREADSIG, { tools: [tool], jobs: 2 })
      assert.strictEqual(serial.workers, 1)
      assert.strictEqual(serial.tools[0]!.text, sharded.tools[0]!.text)
    })
  )

  it.live("rejects tools that cannot be rebuilt in a thread", () =>
    Effect.gen(function* () {
      const { counter } = yield* Effect.promise(() => import("../utils/faultTools.ts"))
      const e = yield* Effect.flip(Analyzer.run(THREADSIG, { tools: [counter()], backend: "threads" }))
      assert.strictEqual(e._tag, "AnalyzerOptionError")
    })
  )
})

describe("worker threads agree with fibers", () => {
  const CORE_SHARDED = "../shared/traces/drmemtrace.threadsig-core-sharded.x64.tracedir"

  it.live("a trace core-sharded on disk, through the scheduler (-skip_instrs): one shard per core file", () =>
    Effect.gen(function* () {
      const run = (backend: Analyzer.Backend) =>
        Effect.gen(function* () {
          const tool = yield* Registry.make("basic_counts")
          return yield* Analyzer.run(CORE_SHARDED, {
            tools: [tool],
            backend,
            jobs: 2,
            skipInstrs: 1000,
            exitAfterInstrs: 5000
          })
        })
      const [fibers, threads] = [yield* run("fibers"), yield* run("threads")]
      assert.strictEqual(threads.tools[0]!.text, fibers.tools[0]!.text)
      assert.deepStrictEqual(
        threads.tools[0]!.shards.map((s) => [s.shardIndex, s.shardType]),
        fibers.tools[0]!.shards.map((s) => [s.shardIndex, s.shardType])
      )
      assert.strictEqual(threads.tools[0]!.shards.length, 4)
    })
  )

  it.live("schedule_stats core-serial on a thread has the scheduler's statistics, as on fibers", () =>
    Effect.gen(function* () {
      const run = (backend: Analyzer.Backend) =>
        Effect.gen(function* () {
          const tool = yield* Registry.make("schedule_stats")
          return yield* Analyzer.run(THREADSIG, { tools: [tool], backend, mode: "core-serial", recordSchedule: true })
        })
      const [fibers, threads] = [yield* run("fibers"), yield* run("threads")]
      // The scheduler's counters (not the wall-clock-based figures, which differ from run to run).
      const counters = (text: string) =>
        text.split("\n").filter((l) => /switches input-to|switches idle-to|work steals|rebalances|migrations/.test(l))
      const fromThreads = counters(threads.tools[0]!.text)
      assert.isAbove(fromThreads.length, 0)
      assert.deepStrictEqual(fromThreads, counters(fibers.tools[0]!.text))
      assert.isTrue(fromThreads.some((l) => /^\s*[1-9]\d* switches input-to-input/.test(l)))
      // And the schedule, for --report and --json.
      assert.strictEqual(threads.schedule?.length, 4)
      assert.deepStrictEqual(
        threads.schedule?.map((o) => o.stats),
        fibers.schedule?.map((o) => o.stats)
      )
    })
  )

  it.live("core-sharded exitAfterRecords: records past a core's limit go back, so no input has a hole", () =>
    Effect.gen(function* () {
      // The hole depended on timing (4 of 6 runs before the fix): three runs.
      for (let round = 0; round < 3; round++) {
        const r = yield* Analyzer.run(THREADSIG, {
          tools: [counterSpec()],
          mode: "core-sharded",
          cores: 4,
          backend: "threads",
          exitAfterRecords: 30_000,
          scheduler: { quantumDurationInstrs: 5000 }
        })
        const byInput = new Map<number, Array<[number, number]>>()
        for (const s of r.tools[0]!.result as ReadonlyArray<ShardCount>) {
          assert.strictEqual(s.records, 30_000)
          for (const [input, a, b] of s.runs) byInput.set(input, [...(byInput.get(input) ?? []), [a, b]])
        }
        for (const [input, runs] of byInput) {
          runs.sort((x, y) => x[0] - y[0])
          let next = 1
          for (const [a, b] of runs) {
            assert.strictEqual(a, next, `round ${round}: input ${input} resumes at record ${a}, expected ${next}`)
            next = b + 1
          }
        }
      }
    })
  )

  it("a stall timeout shorter than four heartbeats shortens the heartbeat to a quarter of it", () => {
    assert.strictEqual(heartbeatMillis(60_000), 250)
    assert.strictEqual(heartbeatMillis(1000), 250)
    assert.strictEqual(heartbeatMillis(600), 150)
    assert.strictEqual(heartbeatMillis(900), 225)
    assert.strictEqual(heartbeatMillis(200), 50)
    assert.strictEqual(heartbeatMillis(20), 10)
  })

  it.live("a core that only idles is not a stall while another core works; a busy thread is heard from in time", () =>
    Effect.gen(function* () {
      // One thread on two cores: core 1 idles the whole run, longer than the stall timeout.
      const tools = yield* Effect.forEach(["reuse_distance", "reuse_time", "histogram", "basic_counts"], (n) =>
        Registry.make(n)
      )
      const result = yield* Analyzer.run("../shared/traces/drmemtrace.chase-snappy.x64.tracedir", {
        tools,
        mode: "core-sharded",
        cores: 2,
        backend: "threads",
        onlyThreads: [23700],
        stallTimeout: "600 millis"
      })
      assert.strictEqual(result.failures.length, 0)
      assert.isAbove(result.records, 0)
      // Below four default heartbeats the heartbeat shortens (225 ms here), and busy threads are heard
      // from in time. The bound stays well above it: on a loaded machine a thread can wait 200 ms to run.
      const quick = yield* Analyzer.run(THREADSIG, {
        tools: [yield* Registry.make("basic_counts")],
        backend: "threads",
        jobs: 2,
        stallTimeout: "900 millis"
      })
      assert.strictEqual(quick.records, 928_110)
    })
  )

  it.live("under continue, an input a thread took from the pool ahead is not lost when the thread ends early", () =>
    Effect.gen(function* () {
      // Worker 0 fails on input 0 (its other inputs go to the pool); the thread of input 7 soft-exits
      // there, perhaps holding a pooled input it asked for ahead. Timing decides: five runs.
      for (let round = 0; round < 5; round++) {
        const r = yield* Analyzer.run(THREADSIG, {
          tools: [twoFault(0, 7)],
          jobs: 3,
          backend: "threads",
          failure: "continue"
        })
        assert.deepStrictEqual(
          r.tools[0]!.shards.map((s) => s.shardIndex),
          [1, 2, 3, 4, 5, 6, 7, 8],
          `round ${round}`
        )
      }
    })
  )

  it.live("a crash right after a thread moves to its next input names that input, not the finished one", () =>
    Effect.gen(function* () {
      const r = yield* Analyzer.run(THREADSIG, {
        tools: [counterSpec({ fault: "processExit", shard: 3, record: 10 })],
        jobs: 2,
        backend: "threads",
        failure: "continue"
      })
      const f = r.failures.find((x) => x.reason === "WorkerCrashed")
      assert.strictEqual(f?.shard, 3)
      assert.strictEqual(f?.input, "drmemtrace.threadsig.872901.9125.trace.zip")
      assert.include(
        r.tools[0]!.shards.map((s) => s.shardIndex),
        1
      )
    })
  )

  it.live("scheduled thread-sharded (-only_shards): a thread that fails or crashes keeps the shards it finished", () =>
    Effect.gen(function* () {
      for (const fault of ["error", "processExit"] as const) {
        const run = (backend: Analyzer.Backend) =>
          Analyzer.run(THREADSIG, {
            tools: [counterSpec({ fault, shard: 3, record: 10 })],
            backend,
            jobs: 2,
            failure: "continue",
            onlyShards: [0, 1, 2, 3, 4, 5, 6, 7, 8]
          })
        const threads = yield* run("threads")
        const kept = threads.tools[0]!.shards.map((s) => s.shardIndex)
        // Worker 1 finished input 1 before it failed in input 3.
        assert.include(kept, 1, fault)
        if (fault === "error") {
          const fibers = yield* run("fibers")
          assert.deepStrictEqual(
            kept,
            fibers.tools[0]!.shards.map((s) => s.shardIndex)
          )
        }
      }
    })
  )

  it.live("stallTimeout Duration.infinity on a serial run handed whole to a thread", () =>
    Effect.gen(function* () {
      const tool = yield* Registry.make("basic_counts")
      const result = yield* Analyzer.run(THREADSIG, {
        tools: [tool],
        backend: "threads",
        jobs: 0,
        stallTimeout: Duration.infinity
      })
      assert.strictEqual(result.records, 928_110)
    })
  )
})
