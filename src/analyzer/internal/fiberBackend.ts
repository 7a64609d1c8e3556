/**
 * The fiber backend: one fiber per worker on the main thread, each pulling
 * segments from its output and driving a WorkerCore. Deterministic under
 * TestClock, which is why it is the default for tests.
 *
 * Load balancing (when the run has a `LoadBalance`): after each step that
 * adds activity (records or idles) and before the tools see it, as
 * DynamoRIO's worker loop checks after fetching a record, the worker checks
 * its activity and, when too far ahead, sleeps (other fibers run meanwhile).
 */
import { basename } from "node:path"
import * as Effect from "effect/Effect"
import type { TraceError } from "../../trace/TraceError.ts"
import type { Options } from "../Analyzer.ts"
import { type LoadBalance, throttle } from "./loadBalance.ts"
import type { Backend, Plan } from "./orchestrate.ts"
import { intervalConfig, WorkerFailed } from "./orchestrate.ts"
import type { OutputSource, Step } from "./outputSource.ts"
import { IDLE, ScheduleLog, WAIT } from "./scheduleLog.ts"
import { type FailureInfo, type SegmentOutcome, WorkerCore } from "./worker.ts"

/**
 * A read error of `output`'s current input, attributed as the thread backend's are: the input by
 * name, and its shard (the input's ordinal in thread-sharded runs, unless two inputs share the
 * name; the output in core-sharded ones).
 */
const readFailure = (
  worker: number,
  output: number,
  e: TraceError,
  p: Plan,
  names: ReadonlyArray<string>
): FailureInfo => {
  const input = basename(e.path)
  const ordinal = names.indexOf(input)
  const shard = p.shardType === "core" ? output : ordinal === names.lastIndexOf(input) ? ordinal : -1
  return { reason: "ReadError", worker, shard, shardType: p.shardType, input, record: e.record, message: e.message }
}

export const makeFiberBackend = (
  source: OutputSource,
  p: Plan,
  options: Options,
  names: ReadonlyArray<string>,
  balance?: LoadBalance | undefined
): Backend => {
  const cores = Array.from(
    { length: p.workers },
    (_, w) =>
      new WorkerCore({
        worker: w,
        tools: options.tools,
        shardType: p.shardType,
        serial: p.serial,
        outputCount: p.outputs,
        skipRecords: options.skipRecords ?? 0,
        exitAfterRecords: options.exitAfterRecords ?? 0,
        inputName: (i) => names[i] ?? `input ${i}`,
        outputCpuid: source.outputCpuid,
        intervals: intervalConfig(options)
      })
  )
  const finished: Array<boolean> = cores.map(() => false)
  const log = options.recordSchedule && p.mode !== "thread-sharded" ? new ScheduleLog(p.outputs) : undefined
  // A core-serial worker walks every output in lockstep; others own one output.
  const outputsOf = (w: number): ReadonlyArray<number> =>
    p.mode === "core-serial" ? Array.from({ length: p.outputs }, (_, o) => o) : [w]

  const lockstep = p.mode === "core-serial"
  // Lockstep walks the cores one record at a time, as DynamoRIO's single
  // lockstep stream does, so that shared state (a shared cache) sees the
  // same interleaving.
  const maxRecords = lockstep ? 1 : Number.POSITIVE_INFINITY
  const mapRead = (w: number, output: number) =>
    Effect.mapError((e: TraceError) => new WorkerFailed(readFailure(w, output, e, p, names)))

  const nextStep = (w: number, output: number): Effect.Effect<Step, WorkerFailed> => {
    const poll = source.poll
    if (poll === undefined) return source.next(output, maxRecords).pipe(mapRead(w, output))
    const s = poll(output, maxRecords)
    if (typeof s !== "number") return Effect.succeed(s)
    return Effect.gen(function* () {
      let r: Step | number = s
      while (typeof r === "number") {
        yield* source.supply!(r).pipe(mapRead(w, output))
        r = poll(output, maxRecords)
      }
      return r
    })
  }

  const spanSeen: Array<number> = []
  /**
   * Hands a lockstep span (`n` records of each of `live`'s steps) to the
   * tools round by round, as the record-at-a-time walk would. On an early
   * end, what no tool saw goes back: the rest of every output's span.
   */
  const feedSpan = (
    core: WorkerCore,
    live: ReadonlyArray<number>,
    steps: ReadonlyArray<Step>,
    n: number
  ): SegmentOutcome => {
    for (let j = 0; j < live.length; j++) {
      const st = steps[j]!
      log?.add(live[j]!, st._tag === "Records" ? st.input : IDLE, n)
    }
    const fast = core.processSpan(
      steps as ReadonlyArray<Extract<Step, { _tag: "Records" | "Idle" }>>,
      p.coreOnDisk ? steps.map((st, j) => (st._tag === "Records" ? st.input : live[j]!)) : live,
      n,
      spanSeen
    )
    if (fast === "ok") return undefined
    if (fast !== "general") {
      if (fast !== undefined)
        for (let q = 0; q < live.length; q++)
          if (steps[q]!._tag === "Records" && n - spanSeen[q]! > 0) source.unread?.(live[q]!, n - spanSeen[q]!)
      return fast
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < live.length; j++) {
        const st = steps[j]!
        const outcome =
          st._tag === "Records"
            ? core.processSegment(
                st.batch,
                st.start + i,
                st.start + i + 1,
                st.input,
                p.coreOnDisk ? st.input : live[j]!
              )
            : core.idle(live[j]!, false, 1)
        if (outcome === undefined) continue
        const unconsumed = st._tag === "Records" ? core.unconsumed : 0
        for (let q = 0; q < live.length; q++) {
          const seen = q < j ? i + 1 : q === j ? i + 1 - unconsumed : i
          if (steps[q]!._tag === "Records" && n - seen > 0) source.unread?.(live[q]!, n - seen)
        }
        return outcome
      }
    }
    return undefined
  }
  /** Rounds a core-serial walk takes at once when no output has anything to decide. */
  const SPAN = 1024
  /**
   * A yield costs a few µs, about what decoding a batch of 2,048 records
   * costs, so where the order in which workers take turns cannot change what
   * they are handed (thread shards are fixed to their worker; a single
   * worker has no one to take turns with), a worker yields only once YIELD_MS
   * of segments have passed. Workers that share a dynamic scheduler yield
   * after every segment: their turns decide who takes which input, and
   * turns by the clock would make runs on fibers depend on machine speed.
   */
  const yieldByTime = p.mode === "thread-sharded" || p.workers === 1
  const YIELD_MS = 1

  const loop = (core: WorkerCore, w: number): Effect.Effect<void, WorkerFailed> =>
    Effect.gen(function* () {
      const outputs = outputsOf(w)
      const eof: Array<boolean> = outputs.map(() => false)
      let live = outputs.length
      let k = 0
      let steps = 0
      let lastYield = performance.now()
      const spanSteps: Array<Step> = []
      while (live > 0) {
        if (lockstep && k === 0 && source.pollLockstep !== undefined) {
          const walk = outputs.filter((_, j) => !eof[j])
          const n = source.pollLockstep(walk, SPAN, spanSteps)
          if (n > 0) {
            const outcome = feedSpan(core, walk, spanSteps, n)
            if (outcome !== undefined) {
              if (outcome._tag === "Failed") return yield* Effect.fail(new WorkerFailed(outcome.failure))
              for (const o of outputs) source.abandon(o)
              break
            }
            yield* Effect.yieldNow
            continue
          }
        }
        if (!eof[k]) {
          const output = outputs[k]!
          const step = yield* nextStep(w, output)
          if (balance !== undefined && (step._tag === "Records" || step._tag === "Idle")) {
            const activity = source.activity!(output)
            const slowest = balance.check(w, activity)
            if (slowest >= 0) yield* throttle(balance, w, activity, slowest)
          }
          let outcome: SegmentOutcome
          switch (step._tag) {
            case "Records":
              log?.add(output, step.input, step.end - step.start)
              // A core-sharded-on-disk input is its own core.
              outcome = core.processSegment(
                step.batch,
                step.start,
                step.end,
                step.input,
                p.coreOnDisk ? step.input : output
              )
              break
            case "Idle":
              log?.add(output, IDLE, step.count)
              outcome = core.idle(output, false, step.count)
              break
            case "Wait":
              log?.add(output, WAIT, 1)
              outcome = core.idle(output, true)
              break
            case "Pause":
              outcome = undefined
              break
            case "Eof":
              eof[k] = true
              live--
              outcome = undefined
              break
            case "Error":
              return yield* Effect.fail(
                new WorkerFailed({
                  reason: "SchedulerError",
                  worker: w,
                  shard: output,
                  shardType: p.shardType,
                  message: step.message
                })
              )
          }
          if (outcome !== undefined) {
            if (core.unconsumed > 0) source.unread?.(output, core.unconsumed)
            if (outcome._tag === "Failed") return yield* Effect.fail(new WorkerFailed(outcome.failure))
            for (const o of outputs) source.abandon(o)
            break
          }
          // Let the other workers, the watchdog and the timeout run: after a
          // segment (see `yieldByTime`), at a pause, and every 256
          // single-record or idle steps.
          if (
            (step._tag === "Records" && !lockstep && (!yieldByTime || performance.now() - lastYield >= YIELD_MS)) ||
            step._tag === "Pause" ||
            ++steps % 256 === 0
          ) {
            yield* Effect.yieldNow
            lastYield = performance.now()
          }
        }
        k = (k + 1) % outputs.length
      }
      const end = core.finishAll()
      if (end !== undefined && end._tag === "Failed") return yield* Effect.fail(new WorkerFailed(end.failure))
      finished[w] = true
    })

  // Each worker is a scoped resource whose release deactivates its outputs,
  // whatever the exit: DynamoRIO's #6666 fix, by construction.
  const worker = (w: number) =>
    Effect.acquireUseRelease(
      Effect.sync(() => cores[w]!),
      (core) => loop(core, w),
      (_, exit) =>
        Effect.gen(function* () {
          balance?.exit(w)
          if (!options.unsafeSkipDeactivation)
            for (const o of outputsOf(w)) yield* source.setActive(o, false, exit._tag === "Failure")
          options.onWorkerReleased?.(w, exit)
        })
    )

  return {
    workers: cores.map((_, w) => worker(w)),
    results: (t) => cores.flatMap((c) => c.results[t]!),
    intervals: (t) => cores.flatMap((c) => c.intervalResults[t]!),
    processed: () => cores.reduce((a, c) => a + c.processed, 0),
    perWorker: () => cores.map((c) => c.processed),
    inputsDone: () => source.inputsDone(),
    unrunnable: source.unrunnable,
    inputsTotal: names.length,
    snapshot: (w) => {
      const c = cores[w]!
      return {
        finished: finished[w]!,
        lastShard: c.lastShard,
        lastInput: c.lastInput >= 0 ? names[c.lastInput] : undefined,
        lastRecord: c.lastRecord
      }
    },
    schedule: log === undefined ? undefined : () => log.snapshot((o) => source.stats?.(o)),
    stats: source.stats,
    ...(balance !== undefined ? { loadBalance: () => balance.stats() } : {}),
    needsWatchdog: true
  }
}
