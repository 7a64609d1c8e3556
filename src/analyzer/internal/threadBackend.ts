/**
 * The worker-thread backend for thread-sharded runs: one Node worker thread
 * per worker, each with its own message channel, reading and decompressing
 * the inputs it is handed (work moves, bytes do not). The main thread hands
 * out input paths, collects Schema-encoded shard results, and supervises:
 * a thread that exits, throws outside the tool driver, hits its resource
 * limits, or goes silent becomes a typed WorkerCrashed / WorkerStalled, and
 * its release terminates the thread and returns its unstarted inputs.
 *
 * Concurrency: the dispatcher state (`lists`, `pool`, `active`) is touched
 * only by the worker fibers of this one JS thread, synchronously between
 * awaits, so no two fibers can take the same input.
 */
import { Worker } from "node:worker_threads"
import { Clock, Duration, Effect, Queue, Schema } from "effect"
import type { Options } from "../Analyzer.ts"
import { AnalyzerOptionError } from "../AnalyzerError.ts"
import type * as Tool from "../Tool.ts"
import { defaults } from "./defaults.ts"
import type { Backend, Plan } from "./orchestrate.ts"
import { WorkerFailed } from "./orchestrate.ts"
import type { FromWorker, InitData, ToWorker } from "./threadProtocol.ts"
import type { FailureInfo } from "./worker.ts"

type Event =
  | { readonly _tag: "Message"; readonly message: FromWorker }
  | { readonly _tag: "Error"; readonly error: unknown }
  | { readonly _tag: "Exit"; readonly code: number }

/** How long a new worker thread may take to load Effect and its tools before it counts as stalled. */
const STARTUP_MS = 30_000
const workerUrl = new URL("./threadWorker.ts", import.meta.url)
const basename = (path: string) => path.slice(path.lastIndexOf("/") + 1)

export const makeThreadBackend = (
  files: ReadonlyArray<string>,
  p: Plan,
  options: Options
): Effect.Effect<Backend, AnalyzerOptionError> =>
  Effect.gen(function* () {
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
    const n = p.workers
    const lists: Array<Array<number>> = Array.from({ length: n }, () => [])
    for (let i = 0; i < files.length; i++) lists[i % n]!.push(i)
    const pool: Array<number> = []
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
    const decoders = options.tools.map((t) => Schema.decodeUnknownSync(Schema.toCodecJson(t.shardResultSchema)))
    const stallMs = Duration.toMillis(Duration.fromInputUnsafe(options.stallTimeout ?? defaults.stallTimeout))
    const heartbeatMs = Duration.toMillis(defaults.heartbeat)

    const take = (w: number): number => {
      if (lists[w]!.length > 0) return lists[w]!.shift()!
      if (pool.length > 0) return pool.shift()!
      return -1
    }
    const othersHoldWork = (w: number) => lists.some((l, o) => o !== w && active[o] && l.length > 0)

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
          outputCount: p.outputs,
          skipRecords: options.skipRecords ?? 0,
          exitAfterRecords: options.exitAfterRecords ?? 0,
          encodings: options.encodings ?? false,
          batchCapacity: 8192,
          heartbeatMs
        }
        const thread = new Worker(workerUrl, {
          workerData: init,
          ...(options.workerMaxMemoryMb !== undefined
            ? { resourceLimits: { maxOldGenerationSizeMb: options.workerMaxMemoryMb } }
            : {})
        })
        thread.on("message", (message: FromWorker) => Queue.offerUnsafe(events, { _tag: "Message", message }))
        thread.on("error", (error) => Queue.offerUnsafe(events, { _tag: "Error", error }))
        thread.on("exit", (code) => Queue.offerUnsafe(events, { _tag: "Exit", code }))
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
              holding = false
              let next = take(w)
              while (next < 0 && othersHoldWork(w)) {
                yield* Effect.sleep(Duration.millis(5))
                next = take(w)
              }
              if (next < 0) send({ _tag: "NoMoreInputs" })
              else {
                holding = true
                lastChange = yield* Clock.currentTimeMillis
                last[w] = { shard: p.shardType === "thread" ? next : w, input: next, record: 0 }
                send({ _tag: "Input", ordinal: next, path: files[next]!, name: basename(files[next]!) })
              }
              break
            }
            case "Progress":
              if (m.processed !== processed[w]) lastChange = now
              processed[w] = m.processed
              inputsDone[w] = m.inputsDone
              if (m.lastShard >= 0) last[w] = { shard: m.lastShard, input: m.lastInput, record: m.lastRecord }
              break
            case "Done":
              processed[w] = m.processed
              for (const [t, list] of m.results.entries()) {
                for (const [shardIndex, encoded] of list) {
                  results[t]!.push({ shardIndex, shardType: p.shardType, result: decoders[t]!(encoded) })
                }
              }
              if (m.early) lists[w] = []
              finished[w] = true
              return
            case "Failed":
              processed[w] = m.processed
              return yield* Effect.fail(new WorkerFailed(m.failure as FailureInfo))
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
            if (exit._tag === "Failure") pool.push(...lists[w]!.splice(0))
            yield* Effect.promise(() => h.thread.terminate().catch(() => 0))
            options.onWorkerReleased?.(w, exit)
          })
      )

    const backend: Backend = {
      workers: Array.from({ length: n }, (_, w) => worker(w)),
      results: (t) => results[t]!,
      processed: () => processed.reduce((a, b) => a + b, 0),
      perWorker: () => [...processed],
      inputsDone: () => inputsDone.reduce((a, b) => a + b, 0),
      inputsTotal: files.length,
      snapshot: (w) => ({
        finished: finished[w]!,
        lastShard: last[w]!.shard,
        lastInput: last[w]!.input >= 0 ? basename(files[last[w]!.input]!) : undefined,
        lastRecord: last[w]!.record
      }),
      needsWatchdog: false
    }
    return backend
  })
