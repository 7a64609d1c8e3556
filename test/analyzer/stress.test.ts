/**
 * Stress: hundreds of seeded runs over random synthetic workloads, modes,
 * core counts, scheduler settings, failure policies and injected faults
 * (including failures on the first and the last record) and interrupts.
 * Every run must terminate within a bound, release every worker, and, when
 * nothing failed, deliver every record of every input exactly once. This
 * guards against the lock-ordering and rebalance races DynamoRIO hit later
 * (issues 7172, 7741). STRESS_RUNS sets the number of runs (default 200);
 * STRESS_SEED replays one.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import fc from "fast-check"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import { TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { counter, type Fault, type ShardCount } from "../utils/faultTools.ts"

const RUNS = Number(process.env.STRESS_RUNS ?? 200)
const SEED = Number(process.env.STRESS_SEED ?? 7741)

const scenario = fc.record({
  threads: fc.array(
    fc.record({
      instrs: fc.integer({ min: 0, max: 120 }),
      tsEvery: fc.integer({ min: 3, max: 40 }),
      syscalls: fc.boolean()
    }),
    { minLength: 1, maxLength: 7 }
  ),
  mode: fc.constantFrom<Analyzer.Mode>("thread-sharded", "serial", "core-sharded", "core-serial"),
  cores: fc.integer({ min: 1, max: 4 }),
  jobs: fc.integer({ min: 1, max: 4 }),
  quantum: fc.integer({ min: 1, max: 60 }),
  policy: fc.constantFrom<"fail-fast" | "continue">("fail-fast", "continue"),
  fault: fc.option(
    fc.record({
      kind: fc.constantFrom<Fault>("error", "defect", "stop", "init", "exit"),
      shard: fc.integer({ min: 0, max: 6 }),
      at: fc.constantFrom<"first" | "last" | "middle">("first", "last", "middle")
    }),
    { nil: undefined }
  ),
  interruptAfterMs: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined })
})

const recordsOf = (t: { instrs: number; tsEvery: number; syscalls: boolean }) => {
  const body: Array<S.Entry> = [S.timestamp(100)]
  for (let k = 0; k < t.instrs; k++) {
    if (k % t.tsEvery === 0) body.push(S.timestamp(100 + k * 3))
    body.push(S.instr(0x4000 + k * 2, TraceType.INSTR, 2))
    if (t.syscalls && k % 17 === 5) body.push(S.marker(25, 1), S.timestamp(100 + k * 3 + 1))
  }
  return body
}

describe("analyzer stress", () => {
  it.live(
    `${RUNS} seeded random runs all terminate, release every worker and lose no record`,
    () =>
      Effect.gen(function* () {
        const cases = fc.sample(scenario, { numRuns: RUNS, seed: SEED })
        const seen = { complete: 0, failed: 0, interrupted: 0 }
        for (const [n, c] of cases.entries()) {
          const bodies = c.threads.map(recordsOf)
          const inputs = yield* Effect.forEach(bodies, (body, i) =>
            Trace.fromEntries(S.thread(300 + i, [...body, S.exit(300 + i)]), {
              ordinal: i,
              name: `t${i}`,
              batchCapacity: 32
            })
          )
          const total = bodies.map((b) => b.length + 3) // VERSION, FILETYPE, body, exit
          const record = c.fault === undefined ? 0 : c.fault.at === "first" ? 1 : c.fault.at === "last" ? 1e9 : 7
          const plan =
            c.fault === undefined
              ? undefined
              : {
                  fault: c.fault.kind,
                  shard: c.fault.shard,
                  // "last": the last record of whichever input the shard sees last, approximated by its exit.
                  record: c.fault.at === "last" ? Math.max(...total) : record
                }
          const released = new Set<number>()
          const run = Analyzer.runInputs(inputs, {
            tools: [counter(plan)],
            mode: c.mode,
            jobs: c.jobs,
            cores: c.cores,
            failure: c.policy,
            scheduler: { quantumDurationInstrs: c.quantum, blockTimeMultiplier: 0.001, deps: "ignore" },
            onWorkerReleased: (w) => void released.add(w)
          }).pipe(Effect.scoped, Effect.timeout("20 seconds"))
          const label = `case ${n} (seed ${SEED}): ${JSON.stringify(c)}`
          let exit: Exit.Exit<Analyzer.AnalysisResult, unknown>
          if (c.interruptAfterMs !== undefined) {
            const fiber = yield* Effect.forkChild(run)
            yield* Effect.sleep(`${c.interruptAfterMs} millis`)
            yield* Fiber.interrupt(fiber)
            exit = yield* Fiber.await(fiber)
          } else exit = yield* Effect.exit(run)
          if (Exit.isFailure(exit)) {
            if (Exit.hasInterrupts(exit)) seen.interrupted++
            else seen.failed++
            const error = Cause.findErrorOption(exit.cause)
            assert.isFalse(
              error._tag === "Some" && (error.value as { _tag?: string })._tag === "TimeoutError",
              `${label} did not terminate`
            )
            assert.isTrue(
              Exit.hasInterrupts(exit) ||
                (error._tag === "Some" && (error.value as { _tag?: string })._tag === "AnalysisFailed"),
              `${label} ended with ${Cause.pretty(exit.cause)}`
            )
          }
          const workers =
            c.mode === "serial" || c.mode === "core-serial"
              ? 1
              : c.mode === "core-sharded"
                ? c.cores
                : Math.min(c.jobs, inputs.length)
          if (!(Exit.isFailure(exit) && Exit.hasInterrupts(exit) && released.size === 0)) {
            assert.strictEqual(released.size, workers, `${label}: every worker released`)
          }
          if (Exit.isSuccess(exit) && exit.value.failures.length === 0 && c.fault?.kind !== "stop") {
            seen.complete++
            // Nothing failed: every record of every input, exactly once, in order.
            const runs = new Map<number, Array<[number, number]>>()
            for (const s of exit.value.tools[0]!.result as ReadonlyArray<ShardCount>) {
              for (const [input, a, b] of s.runs) runs.set(input, [...(runs.get(input) ?? []), [a, b]])
            }
            for (let i = 0; i < inputs.length; i++) {
              const list = (runs.get(i) ?? []).sort((x, y) => x[0] - y[0])
              let next = 1
              for (const [a, b] of list) {
                assert.strictEqual(a, next, `${label}: input ${i} resumes at ${next}`)
                next = b + 1
              }
              assert.strictEqual(next - 1, total[i], `${label}: input ${i} complete`)
            }
          }
        }
        // The sample exercises every outcome, so no branch above is vacuous.
        if (RUNS >= 100) for (const [k, v] of Object.entries(seen)) assert.isAbove(v, 0, `some runs ${k}`)
      }),
    600_000
  )
})
