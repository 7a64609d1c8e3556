/**
 * The worker-thread backend: one Node worker thread per worker, each with its
 * own message channel, so one thread's death never touches another's
 * messages. What a thread does depends on the mode (threadProtocol `Task`):
 * - thread-sharded: the main thread hands out input paths and the thread
 *   reads and decompresses them itself (work moves, bytes do not); a thread
 *   asks for its next input as it starts one, and opens that next one while
 *   it analyzes the current (an input handed out and never started goes back
 *   to the pool if the thread fails);
 * - core-sharded: the main thread runs the scheduler and hands each thread
 *   copies of its outputs' segments, transferred without copying again;
 * - serial and core-serial: the one thread runs the whole analysis locally.
 * The main thread collects Schema-encoded shard results and supervises: a
 * thread that exits, throws outside the tool driver, hits its resource
 * limits, or goes silent becomes a typed WorkerCrashed / WorkerStalled, and
 * its release terminates the thread and deactivates its outputs (their
 * inputs go to the other threads).
 *
 * Load balancing (core-sharded, when the run has a `LoadBalance`): the
 * scheduler is here, so this thread knows every output's activity; a
 * thread asks for its next segment only after processing the last one, so
 * delaying the answer (1 ms sleeps of that thread's fiber) pauses it, as
 * DynamoRIO's worker sleeps in `check_load_balance`.
 *
 * Concurrency: the dispatcher state (`lists`, `pool`, `unstarted`, `active`), the
 * scheduler and the load balancer are touched only by the worker fibers of
 * this one JS thread, synchronously between awaits, so no two fibers can
 * take the same input.
 */
import { Worker } from "node:worker_threads"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import { workerExecArgv } from "../../trace/internal/workerArgv.ts"
import * as RecordBatch from "../../trace/RecordBatch.ts"
import type { TraceError } from "../../trace/TraceError.ts"
import type { Options } from "../Analyzer.ts"
import { AnalyzerOptionError } from "../AnalyzerError.ts"
import type * as Tool from "../Tool.ts"
import { defaults } from "./defaults.ts"
import { type LoadBalance, throttle } from "./loadBalance.ts"
import type { Backend, Plan } from "./orchestrate.ts"
import { intervalConfig, WorkerFailed } from "./orchestrate.ts"
import type { OutputSource } from "./outputSource.ts"
import { threadCodec } from "./plainData.ts"
import { IDLE, type OutputSchedule, ScheduleLog, WAIT } from "./scheduleLog.ts"
import { decodeIntervals, type FromWorker, type InitData, type ToWorker } from "./threadProtocol.ts"
import type { ShardIntervals } from "./worker.ts"

type Event =
  | { readonly _tag: "Message"; readonly message: FromWorker }
  | { readonly _tag: "Error"; readonly error: unknown }
  | { readonly _tag: "Exit"; readonly code: number }

/** How long a new worker thread may take to load Effect and its tools before it counts as stalled. */
const STARTUP_MS = 30_000
let live = 0
/** Worker threads spawned by this backend and not yet exited (diagnostics: leak checks in tests). */
/**
 * How often a worker thread reports (ms) under a stall timeout of `stallMs`:
 * the default heartbeat, or a quarter of a shorter timeout (at least 10 ms), so
 * that a thread is heard from within the timeout however short it is.
 */
export const heartbeatMillis = (stallMs: number): number =>
  Math.max(10, Math.min(Duration.toMillis(defaults.heartbeat), Math.floor(stallMs / 4)))

export const liveThreads = (): number => live

const workerUrl = new URL("./threadEntry.ts", import.meta.url)
const basename = (path: string) => path.slice(path.lastIndexOf("/") + 1)

/** What the threads work on. */
export type ThreadWork =
  | { readonly _tag: "Inputs"; readonly files: ReadonlyArray<string> }
  | { readonly _tag: "Segments"; readonly source: OutputSource; readonly names: ReadonlyArray<string> }
  | { readonly _tag: "Local"; readonly files: ReadonlyArray<string> }

export const makeThreadBackend = (
  work: ThreadWork,
  p: Plan,
  options: Options,
  balance?: LoadBalance | undefined
): Effect.Effect<Backend, AnalyzerOptionError> =>
  Effect.gen(function* () {
    const files = work._tag === "Segments" ? work.names : work.files
    const specs: Array<Tool.Spec> = []
    for (const tool of options.tools) {
      if (tool.spec === undefined) {
        return yield* new AnalyzerOptionError({
          option: "backend",
          message: `tool ${tool.name} has no spec (Tool.withSpec), so it cannot be rebuilt in a worker thread`
        })
      }
      specs.push(tool.spec)
    }
    const n = work._tag === "Local" ? 1 : p.workers
    const source = work._tag === "Segments" ? work.source : undefined
    const outputsOf = (w: number): ReadonlyArray<number> => (work._tag === "Segments" ? [w] : [])
    const lists: Array<Array<number>> = Array.from({ length: n }, () => [])
    if (work._tag === "Inputs") for (let i = 0; i < files.length; i++) lists[i % n]!.push(i)
    const pool: Array<number> = []
    /** Per thread: the input handed out last, until the thread asks again (which says it started it); -1 for none. */
    const unstarted: Array<number> = Array.from({ length: n }, () => -1)
    const active: Array<boolean> = Array.from({ length: n }, () => true)
    const processed: Array<number> = Array.from({ length: n }, () => 0)
    const inputsDone: Array<number> = Array.from({ length: n }, () => 0)
    const last: Array<{ shard: number; input: number; record: number }> = Array.from({ length: n }, () => ({
      shard: -1,
      input: -1,
      record: 0
    }))
    const finished: Array<boolean> = Array.from({ length: n }, () => false)
    const results: Array<Array<Tool.ShardOutcome<unknown>>> = options.tools.map(() => [])
    const log = options.recordSchedule && work._tag === "Segments" ? new ScheduleLog(p.outputs) : undefined
    const decoders = options.tools.map((t) => threadCodec(t.shardResultSchema).decode)
    const intervalLists: Array<Array<ShardIntervals>> = options.tools.map(() => [])
    // A serial or core-serial run scheduled inside its thread: its schedule, when the thread sends it.
    let localSchedule: ReadonlyArray<OutputSchedule> | undefined
    const decodeIv = decodeIntervals(options.tools)
    const stallMs = Duration.toMillis(Duration.fromInputUnsafe(options.stallTimeout ?? defaults.stallTimeout))
    const heartbeatMs = heartbeatMillis(stallMs)

    // Inputs a thread took from the pool (a failed worker's): if it ends early without starting one,
    // it goes back there, not away with the thread's own list (DynamoRIO's abandoned work).
    const fromPool = new Set<number>()
    const take = (w: number): number => {
      if (lists[w]!.length > 0) return lists[w]!.shift()!
      if (pool.length > 0) {
        const input = pool.shift()!
        fromPool.add(input)
        return input
      }
      return -1
    }
    // An input handed out ahead and not started is still work: it comes back if its thread fails.
    const othersHoldWork = (w: number) =>
      lists.some((l, o) => o !== w && active[o] && (l.length > 0 || unstarted[o]! >= 0))

    const readFailed = (w: number, e: TraceError): WorkerFailed =>
      new WorkerFailed({
        reason: "ReadError",
        worker: w,
        shard: -1,
        shardType: p.shardType,
        input: basename(e.path),
        record: e.record,
        message: e.message
      })

    const crashed = (w: number, message: string): WorkerFailed => {
      const l = last[w]!
      return new WorkerFailed({
        reason: "WorkerCrashed",
        worker: w,
        shard: l.shard,
        shardType: p.shardType,
        input: l.input >= 0 ? basename(files[l.input]!) : undefined,
        record: l.record > 0 ? l.record : undefined,
        message
      })
    }

    const spawn = (w: number) =>
      Effect.gen(function* () {
        const events = yield* Queue.unbounded<Event>()
        const init: InitData = {
          worker: w,
          tools: specs,
          shardType: p.shardType,
          serial: p.serial,
          coreOnDisk: p.coreOnDisk,
          outputCount: p.outputs,
          ...(source?.outputCpuid !== undefined
            ? { outputCpuids: Array.from({ length: p.outputs }, (_, o) => source.outputCpuid!(o)) }
            : {}),
          skipRecords: options.skipRecords ?? 0,
          intervals: intervalConfig(options),
          exitAfterRecords: options.exitAfterRecords ?? 0,
          encodings: options.encodings ?? false,
          batchCapacity: work._tag === "Inputs" ? RecordBatch.DEFAULT_CAPACITY : 8192,
          heartbeatMs,
          task:
            work._tag === "Inputs"
              ? { _tag: "Inputs" }
              : work._tag === "Segments"
                ? { _tag: "Segments", outputs: outputsOf(w) }
                : {
                    _tag: "Local",
                    files: work.files,
                    mode: p.mode === "core-serial" ? "core-serial" : "serial",
                    cores: p.outputs,
                    failure: options.failure ?? defaults.failure,
                    scheduler: options.scheduler,
                    stallTimeoutMs: stallMs
                  }
        }
        const thread = new Worker(workerUrl, {
          workerData: init,
          execArgv: workerExecArgv(),
          ...(options.workerMaxMemoryMb !== undefined
            ? { resourceLimits: { maxOldGenerationSizeMb: options.workerMaxMemoryMb } }
            : {})
        })
        thread.on("message", (message: FromWorker) => Queue.offerUnsafe(events, { _tag: "Message", message }))
        thread.on("error", (error) => Queue.offerUnsafe(events, { _tag: "Error", error }))
        live++
        thread.on("exit", (code) => {
          live--
          Queue.offerUnsafe(events, { _tag: "Exit", code })
        })
        return { thread, events }
      })

    const loop = (w: number, h: Effect.Success<ReturnType<typeof spawn>>): Effect.Effect<void, WorkerFailed> =>
      Effect.gen(function* () {
        const send = (m: ToWorker) => h.thread.postMessage(m)
        let lastChange = yield* Clock.currentTimeMillis
        let holding = false // the worker has an input (so it should be making progress)
        let ready = false // start-up (loading Effect and the tools) gets its own, longer allowance
        while (true) {
          const wait = ready ? stallMs : Math.max(stallMs, STARTUP_MS)
          const ev = yield* Queue.take(h.events).pipe(
            Effect.timeoutOrElse({ duration: Duration.millis(wait), orElse: () => Effect.succeed(undefined) })
          )
          const now = yield* Clock.currentTimeMillis
          if (ev === undefined || (holding && now - lastChange >= stallMs)) {
            const l = last[w]!
            return yield* Effect.fail(
              new WorkerFailed({
                reason: "WorkerStalled",
                worker: w,
                shard: l.shard,
                shardType: p.shardType,
                input: l.input >= 0 ? basename(files[l.input]!) : undefined,
                record: l.record > 0 ? l.record : undefined,
                message:
                  ev === undefined
                    ? `the worker thread sent nothing for ${wait} ms (heartbeat every ${heartbeatMs} ms)`
                    : `no record processed for ${stallMs} ms`
              })
            )
          }
          if (ev._tag === "Error") {
            const e = ev.error as { code?: string; message?: string }
            const limits = e?.code === "ERR_WORKER_OUT_OF_MEMORY"
            return yield* Effect.fail(
              crashed(
                w,
                limits
                  ? `the worker thread hit its resource limits: ${e.message}`
                  : `the worker thread threw outside the tool driver: ${e?.message ?? String(ev.error)}`
              )
            )
          }
          if (ev._tag === "Exit") return yield* Effect.fail(crashed(w, `the worker thread exited with code ${ev.code}`))
          const m = ev.message
          switch (m._tag) {
            case "Ready":
              ready = true
              lastChange = now
              break
            case "NeedInput": {
              // Whatever was handed out before has been started: it is what the thread works on now.
              if (unstarted[w]! >= 0) {
                const started = unstarted[w]!
                last[w] = { shard: p.shardType === "thread" ? started : w, input: started, record: 0 }
              }
              unstarted[w] = -1
              let next = take(w)
              if (m.ahead) {
                // The thread is busy with its current input: never wait here, or its other messages (a failure, say) would.
                if (next >= 0) {
                  unstarted[w] = next
                  send({ _tag: "Input", ordinal: next, path: files[next]!, name: basename(files[next]!) })
                } else send({ _tag: othersHoldWork(w) ? "NoInputYet" : "NoMoreInputs" })
                break
              }
              holding = false
              while (next < 0 && othersHoldWork(w)) {
                yield* Effect.sleep(Duration.millis(5))
                next = take(w)
              }
              if (next < 0) send({ _tag: "NoMoreInputs" })
              else {
                holding = true
                unstarted[w] = next
                lastChange = yield* Clock.currentTimeMillis
                last[w] = { shard: p.shardType === "thread" ? next : w, input: next, record: 0 }
                send({ _tag: "Input", ordinal: next, path: files[next]!, name: basename(files[next]!) })
              }
              break
            }
            case "NeedSegment": {
              const src = source!
              if (balance !== undefined) {
                // Activity so far is what the thread has processed: it asks only when done with the last segment.
                const activity = src.activity!(m.output)
                const slowest = balance.check(w, activity)
                if (slowest >= 0) yield* throttle(balance, w, activity, slowest)
              }
              let step = src.poll!(m.output, Number.POSITIVE_INFINITY)
              while (typeof step === "number" || step._tag === "Pause") {
                // Pause: out of inputs while another worker may still hand some off; it is not a stall.
                if (typeof step !== "number") {
                  holding = false
                  yield* Effect.sleep(Duration.millis(5))
                } else yield* src.supply!(step).pipe(Effect.mapError((e: TraceError) => readFailed(w, e)))
                step = src.poll!(m.output, Number.POSITIVE_INFINITY)
              }
              switch (step._tag) {
                case "Records": {
                  // Records to process: from now on, no progress is a stall. An output that only idles
                  // is not stalled (the fiber backend's watchdog sees it that way too).
                  if (!holding) lastChange = yield* Clock.currentTimeMillis
                  holding = true
                  log?.add(m.output, step.input, step.end - step.start)
                  // What the thread now works on, should it crash before it reports progress.
                  last[w] = {
                    shard: p.shardType === "thread" ? step.input : w,
                    input: step.input,
                    record: RecordBatch.firstRecordOrdinal(step.batch) + step.start
                  }
                  const copy = RecordBatch.slice(step.batch, step.start, step.end)
                  const name = basename(files[step.input] ?? `input ${step.input}`)
                  h.thread.postMessage(
                    { _tag: "Segment", output: m.output, input: step.input, name, buffer: copy.buffer },
                    [copy.buffer]
                  )
                  break
                }
                case "Idle":
                  holding = false
                  log?.add(m.output, IDLE, step.count)
                  send({ _tag: "Idle", output: m.output, count: step.count })
                  break
                case "Wait":
                case "Eof":
                  holding = false
                  if (step._tag === "Wait") log?.add(m.output, WAIT, 1)
                  send({ _tag: step._tag, output: m.output })
                  break
                case "Error":
                  return yield* Effect.fail(
                    new WorkerFailed({
                      reason: "SchedulerError",
                      worker: w,
                      shard: m.output,
                      shardType: p.shardType,
                      message: step.message
                    })
                  )
              }
              break
            }
            case "Progress":
              if (m.processed !== processed[w]) lastChange = now
              processed[w] = m.processed
              inputsDone[w] = m.inputsDone
              if (m.lastShard >= 0) last[w] = { shard: m.lastShard, input: m.lastInput, record: m.lastRecord }
              break
            case "Results":
              if (m.schedule !== undefined) localSchedule = m.schedule
              if (m.intervals !== undefined) decodeIv(m.intervals, intervalLists)
              for (const [t, list] of m.results.entries()) {
                for (const [shardIndex, encoded] of list) {
                  results[t]!.push({ shardIndex, shardType: p.shardType, result: decoders[t]!(encoded) })
                }
              }
              break
            case "Done":
              if (m.schedule !== undefined) localSchedule = m.schedule
              processed[w] = m.processed
              if (m.intervals !== undefined) decodeIv(m.intervals, intervalLists)
              for (const [t, list] of m.results.entries()) {
                for (const [shardIndex, encoded] of list) {
                  results[t]!.push({ shardIndex, shardType: p.shardType, result: decoders[t]!(encoded) })
                }
              }
              if (m.early) {
                lists[w] = []
                if (unstarted[w]! >= 0 && fromPool.has(unstarted[w]!)) pool.push(unstarted[w]!)
                unstarted[w] = -1
                // Scheduled: the thread's unstarted inputs stay unread too, as on fibers.
                for (const o of outputsOf(w)) source?.abandon(o)
              }
              // Records past exit_after_records go back to the scheduler, as on fibers.
              if ((m.unconsumed ?? 0) > 0 && m.output !== undefined) source?.unread?.(m.output, m.unconsumed!)
              finished[w] = true
              return
            case "Failed":
              processed[w] = m.processed
              if (m.unconsumed > 0) source?.unread?.(m.output, m.unconsumed)
              return yield* Effect.fail(new WorkerFailed(m.failures))
          }
        }
      })

    const worker = (w: number) =>
      Effect.acquireUseRelease(
        spawn(w),
        (h) => loop(w, h),
        (h, exit) =>
          Effect.gen(function* () {
            // setActive(false): this worker gets no more inputs; those it never started go to the others.
            active[w] = false
            balance?.exit(w)
            if (exit._tag === "Failure") {
              // An input handed out ahead and never started is not lost with the thread. The input
              // the thread was last seen in is its failed shard, even if its next request never arrived.
              if (unstarted[w]! >= 0 && unstarted[w] !== last[w]!.input) pool.push(unstarted[w]!)
              unstarted[w] = -1
              pool.push(...lists[w]!.splice(0))
            }
            if (source !== undefined && !options.unsafeSkipDeactivation) {
              for (const o of outputsOf(w)) yield* source.setActive(o, false, exit._tag === "Failure")
            }
            yield* Effect.promise(() => h.thread.terminate().catch(() => 0))
            options.onWorkerReleased?.(w, exit)
          })
      )

    const backend: Backend = {
      workers: Array.from({ length: n }, (_, w) => worker(w)),
      results: (t) => results[t]!,
      intervals: (t) => intervalLists[t]!,
      processed: () => processed.reduce((a, b) => a + b, 0),
      perWorker: () => [...processed],
      inputsDone: () => (source !== undefined ? source.inputsDone() : inputsDone.reduce((a, b) => a + b, 0)),
      unrunnable: source?.unrunnable,
      inputsTotal: files.length,
      snapshot: (w) => ({
        finished: finished[w]!,
        lastShard: last[w]!.shard,
        lastInput: last[w]!.input >= 0 ? basename(files[last[w]!.input]!) : undefined,
        lastRecord: last[w]!.record
      }),
      schedule:
        log !== undefined
          ? () => log.snapshot((o) => source?.stats?.(o))
          : options.recordSchedule === true && work._tag === "Local"
            ? () => localSchedule ?? []
            : undefined,
      stats: source?.stats ?? (work._tag === "Local" ? (o) => localSchedule?.[o]?.stats : undefined),
      ...(balance !== undefined ? { loadBalance: () => balance.stats() } : {}),
      needsWatchdog: false
    }
    return backend
  })
