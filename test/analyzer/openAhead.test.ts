/**
 * Inputs opened ahead (thread-sharded runs): a worker takes its next input
 * while it analyzes the current one. Such an input is still work: if its
 * worker fails, it goes to another, which must not have ended meanwhile.
 * The worker-thread cases use a fault that stops the thread for a second
 * before it exits, so the other worker has run out of work by then.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import * as TraceWriter from "../../src/trace/TraceWriter.ts"
import { counterSpec, type FaultPlan, type ShardCount } from "../utils/faultTools.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

const releases = () => {
  const seen = new Map<number, Exit.Exit<unknown, unknown>>()
  return { seen, onWorkerReleased: (w: number, exit: Exit.Exit<unknown, unknown>) => void seen.set(w, exit) }
}

const lateExit: FaultPlan = { fault: "lateExit", shard: 0, record: 1000 }

/**
 * A trace directory whose sorted names alternate between the two workers: `big` ones are
 * threadsig inputs, `tiny` ones three records each. Runs the counter with `plan` on 2
 * workers under continue.
 */
const runAhead = (
  big: ReadonlyArray<string>,
  tiny: ReadonlyArray<string>,
  backend: Analyzer.Backend,
  plan: FaultPlan
) =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "memtrace-ahead-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const ids = ["872884.3060", "872894.3824", "872903.3218"]
    for (const [k, name] of big.entries()) {
      copyFileSync(`${THREADSIG}/drmemtrace.threadsig.${ids[k]!}.trace.zip`, join(dir, `${name}.trace.zip`))
    }
    for (const [k, name] of tiny.entries()) {
      const tid = 7001 + k
      yield* TraceWriter.writeFile(
        join(dir, `${name}.trace`),
        Synthetic.thread(tid, [Synthetic.timestamp(1), Synthetic.instr(0x1000), Synthetic.exit(tid)])
      )
    }
    const r = releases()
    const result = yield* Analyzer.run(dir, {
      tools: [counterSpec(plan)],
      backend,
      jobs: 2,
      failure: "continue",
      onWorkerReleased: r.onWorkerReleased
    })
    return { result, released: [...r.seen.keys()].sort() }
  })

/** Exactly these shards came back, each with every one of its records once, in order. */
const assertWhole = (result: Analyzer.AnalysisResult, expected: ReadonlyArray<number>) => {
  const shards = result.tools[0]!.result as ReadonlyArray<ShardCount>
  assert.deepStrictEqual(
    shards.map((s) => s.shard),
    expected
  )
  for (const s of shards) assert.deepStrictEqual(s.runs, [[s.shard, 1, s.records]])
}

describe("inputs opened ahead", () => {
  it.live("continue: a thread told to ask later takes a crashed thread's inputs, the one opened ahead included", () =>
    Effect.gen(function* () {
      // Sorted names: thread 0 gets a, c, e (threadsig inputs), thread 1 gets b, d (a few records each).
      // Thread 0 stops for 1 s in a, with c opened ahead and e in its list, then exits; thread 1
      // finishes d meanwhile, is told to ask later, and must then take c and e.
      const { result, released } = yield* runAhead(["a", "c", "e"], ["b", "d"], "threads", lateExit)
      assert.deepStrictEqual(
        result.failures.map((f) => [f.reason, f.worker, f.shard]),
        [["WorkerCrashed", 0, 0]]
      )
      assertWhole(result, [1, 2, 3, 4])
      assert.deepStrictEqual(released, [0, 1])
    }).pipe(Effect.scoped)
  )

  it.live("continue: an input opened ahead keeps the other thread waiting, and goes to it when its thread dies", () =>
    Effect.gen(function* () {
      // Thread 0 gets a and c, thread 1 gets b. Once thread 0 has taken c ahead, its list is
      // empty, but thread 1 must not finish: c is still unstarted, and after thread 0's exit it
      // is thread 1's.
      const { result } = yield* runAhead(["a", "c"], ["b"], "threads", lateExit)
      assert.deepStrictEqual(
        result.failures.map((f) => [f.reason, f.worker, f.shard]),
        [["WorkerCrashed", 0, 0]]
      )
      assertWhole(result, [1, 2])
    }).pipe(Effect.scoped)
  )
})
