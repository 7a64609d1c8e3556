/**
 * Entry point of an analysis worker thread. It rebuilds the tools from their
 * specs and then does one of three tasks (threadProtocol.ts `Task`): analyze
 * the inputs the main thread hands it (reading and decompressing them here),
 * process the record segments the main thread's scheduler hands it, or run a
 * whole single-worker analysis locally. It reports progress as a heartbeat;
 * the main thread owns all supervision.
 */
import { parentPort, workerData } from "node:worker_threads"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { InputReader } from "../../trace/internal/inputReader.ts"
import { type ByteSource, openSource } from "../../trace/internal/source.ts"
import * as RecordBatch from "../../trace/RecordBatch.ts"
import { TraceError } from "../../trace/TraceError.ts"
import type { Options as AnalyzerOptions } from "../Analyzer.ts"
import type * as Tool from "../Tool.ts"
import { threadCodec } from "./plainData.ts"
import { encodeIntervals, type FromWorker, type InitData, type ToWorker } from "./threadProtocol.ts"
import { type FailureInfo, type SegmentOutcome, WorkerCore } from "./worker.ts"

const port = parentPort!
const init = workerData as InitData
const post = (m: FromWorker, transfer?: ReadonlyArray<ArrayBuffer>) =>
  port.postMessage(m, transfer as Array<ArrayBuffer> | undefined)

const loadTool = async (spec: Tool.Spec): Promise<Tool.Any> => {
  const mod = (await import(spec.module)) as Record<string, (...args: ReadonlyArray<unknown>) => unknown>
  const made = mod[spec.export]!(...spec.args)
  return (Effect.isEffect(made) ? Effect.runSync(made as Effect.Effect<Tool.Any>) : made) as Tool.Any
}

const inbox: Array<ToWorker> = []
let wake: (() => void) | undefined
port.on("message", (m: ToWorker) => {
  inbox.push(m)
  wake?.()
})
const receive = async (): Promise<ToWorker> => {
  while (inbox.length === 0) await new Promise<void>((r) => (wake = r))
  wake = undefined
  return inbox.shift()!
}

const encoders = new WeakMap<Tool.Any, (result: unknown) => unknown>()
/** A tool's shard-result encoder (`threadCodec`), made once per tool. */
const encoderOf = (tool: Tool.Any): ((result: unknown) => unknown) => {
  let encode = encoders.get(tool)
  if (encode === undefined) {
    encode = threadCodec(tool.shardResultSchema).encode
    encoders.set(tool, encode)
  }
  return encode
}

const encodeResults = (
  tools: ReadonlyArray<Tool.Any>,
  results: ReadonlyArray<ReadonlyArray<Tool.ShardOutcome<unknown>>>
): ReadonlyArray<ReadonlyArray<readonly [number, unknown]>> =>
  tools.map((tool, t) => {
    const encode = encoderOf(tool)
    return results[t]!.map((o) => [o.shardIndex, encode(o.result)] as const)
  })

let tools: ReadonlyArray<Tool.Any> = []
/** Sends the shards finished since the last call (so a crash later loses none of them). */
const sendResults = (core: WorkerCore) => {
  const fresh = core.takeNewResults()
  const iv = core.takeNewIntervals()
  if (fresh !== undefined || iv !== undefined) {
    post({
      _tag: "Results",
      results: encodeResults(tools, fresh ?? tools.map(() => [])),
      ...(iv !== undefined ? { intervals: encodeIntervals(tools, iv) } : {})
    })
  }
}

interface Handed {
  readonly input: Extract<ToWorker, { _tag: "Input" }>
  /** The input's source, opened and inflating ahead (rejects with its TraceError). */
  readonly opening: Promise<ByteSource>
}

/**
 * Asks the main thread for an input and starts opening it. Asked `ahead`
 * (while the current input is analyzed), the file opens and its first pieces
 * inflate meanwhile: one input after another, each input's opening and first
 * inflate were idle time of this thread (≈ 1.7 ms an input).
 */
const ask = async (ahead: boolean): Promise<Handed | "later" | undefined> => {
  post({ _tag: "NeedInput", ahead })
  const m = await receive()
  if (m._tag === "NoInputYet") return "later"
  if (m._tag !== "Input") return undefined
  const opening = openSource(m.path).then((source) => {
    source.stream()
    return source
  })
  // Awaited (and its rejection handled) when the input's turn comes.
  opening.catch(() => undefined)
  return { input: m, opening }
}

/** Closes what a request ahead opened, once the thread stops taking inputs. */
const discard = (next: Promise<Handed | "later" | undefined>) =>
  void next
    .then((h) => (typeof h === "object" ? h.opening.then((source) => source.close()) : undefined))
    .catch(() => undefined)

/** Reads and analyzes handed-out inputs (thread-sharded), each opened while the one before is analyzed. */
const runInputs = async (core: WorkerCore, names: Map<number, string>, counters: { inputsDone: number }) => {
  let next = ask(false)
  while (true) {
    let handed = await next
    if (handed === "later") handed = await ask(false)
    if (handed === "later" || handed === undefined) return undefined
    const m = handed.input
    names.set(m.ordinal, m.name)
    next = ask(true)
    let reader: InputReader | undefined
    try {
      reader = new InputReader(await handed.opening, m.ordinal, {
        batchCapacity: init.batchCapacity,
        encodings: init.encodings
      })
      for (let b = await reader.next(); b !== undefined; b = await reader.next()) {
        const outcome = core.processSegment(b, 0, b.header[0]!, m.ordinal, init.coreOnDisk ? m.ordinal : init.worker)
        if (outcome !== undefined) {
          discard(next)
          return outcome
        }
        reader.recycle(b)
      }
      counters.inputsDone++
      sendResults(core)
    } catch (e) {
      discard(next)
      const te = e instanceof TraceError ? e : undefined
      const failure: FailureInfo = {
        reason: "ReadError",
        worker: init.worker,
        shard: init.shardType === "thread" ? m.ordinal : init.worker,
        shardType: init.shardType,
        input: m.name,
        record: te?.record,
        message: te !== undefined ? te.message : String(e)
      }
      return { _tag: "Failed", failure } as const
    } finally {
      await reader?.close()
    }
  }
}

/** Processes segments of `outputs` handed out by the main thread's scheduler. */
const runSegments = async (core: WorkerCore, outputs: ReadonlyArray<number>, names: Map<number, string>) => {
  const eof = outputs.map(() => false)
  let live = outputs.length
  let k = 0
  while (live > 0) {
    if (!eof[k]) {
      const output = outputs[k]!
      post({ _tag: "NeedSegment", output })
      const m = await receive()
      let outcome: SegmentOutcome
      switch (m._tag) {
        case "Segment": {
          names.set(m.input, m.name)
          const batch = RecordBatch.fromBuffer(m.buffer)
          // A trace already core-sharded on disk: each input is its own core (as on fibers).
          outcome = core.processSegment(
            batch,
            0,
            RecordBatch.length(batch),
            m.input,
            init.coreOnDisk ? m.input : output
          )
          // A thread shard ends at its thread's exit: send it now, so a later failure or crash keeps it.
          if (init.shardType === "thread") sendResults(core)
          break
        }
        case "Idle":
          outcome = core.idle(output, false, m.count)
          break
        case "Wait":
          outcome = core.idle(output, true)
          break
        default:
          eof[k] = true
          live--
          outcome = undefined
      }
      if (outcome !== undefined) return { outcome, output }
    }
    k = (k + 1) % outputs.length
  }
  return undefined
}

const main = async () => {
  tools = await Promise.all(init.tools.map(loadTool))
  const task = init.task
  if (task._tag === "Local") return runLocal(tools, task)
  const names = new Map<number, string>()
  const core = new WorkerCore({
    worker: init.worker,
    tools,
    shardType: init.shardType,
    serial: init.serial,
    outputCount: init.outputCount,
    skipRecords: init.skipRecords,
    exitAfterRecords: init.exitAfterRecords,
    inputName: (i) => names.get(i) ?? `input ${i}`,
    intervals: init.intervals,
    ...(init.outputCpuids !== undefined ? { outputCpuid: (o: number) => init.outputCpuids![o] ?? o } : {})
  })
  const counters = { inputsDone: 0 }
  const beat = () =>
    post({
      _tag: "Progress",
      processed: core.processed,
      lastShard: core.lastShard,
      lastInput: core.lastInput,
      lastRecord: core.lastRecord,
      inputsDone: counters.inputsDone
    })
  const heartbeat = setInterval(beat, init.heartbeatMs)
  post({ _tag: "Ready" })
  let outcome: SegmentOutcome
  let output = init.worker
  if (task._tag === "Inputs") outcome = await runInputs(core, names, counters)
  else {
    const r = await runSegments(core, task.outputs, names)
    outcome = r?.outcome
    if (r !== undefined) output = r.output
  }
  if (outcome?._tag === "Failed") {
    clearInterval(heartbeat)
    sendResults(core)
    return post({
      _tag: "Failed",
      failures: [outcome.failure],
      processed: core.processed,
      unconsumed: core.unconsumed,
      output
    })
  }
  const end = core.finishAll()
  clearInterval(heartbeat)
  if (end !== undefined && end._tag === "Failed") {
    return post({ _tag: "Failed", failures: [end.failure], processed: core.processed, unconsumed: 0, output })
  }
  beat()
  post({
    _tag: "Done",
    results: encodeResults(tools, core.takeNewResults() ?? tools.map(() => [])),
    intervals: encodeIntervals(tools, core.takeNewIntervals() ?? tools.map(() => [])),
    processed: core.processed,
    early: outcome !== undefined,
    ...(outcome !== undefined && core.unconsumed > 0 ? { unconsumed: core.unconsumed, output } : {})
  })
}

/** A whole serial or core-serial analysis in this thread (scheduler and reading included). */
const runLocal = async (tools: ReadonlyArray<Tool.Any>, task: Extract<InitData["task"], { _tag: "Local" }>) => {
  const Analyzer = await import("../Analyzer.ts")
  post({ _tag: "Ready" })
  let processed = 0
  // The main thread merges and prints, once: here the tools only make their shards.
  const shardOnly = tools.map((t) => ({ ...t, merge: () => null, print: () => "" }))
  // A failure of no worker (the run's timeout, an input no core may run) stays one of no worker.
  const ours = (f: FailureInfo): FailureInfo => ({ ...f, worker: f.worker < 0 ? f.worker : init.worker })
  const exit = await Effect.runPromiseExit(
    Analyzer.run(task.files, {
      tools: shardOnly,
      mode: task.mode,
      cores: task.cores,
      failure: task.failure,
      scheduler: task.scheduler as AnalyzerOptions["scheduler"],
      skipRecords: init.skipRecords,
      exitAfterRecords: init.exitAfterRecords,
      encodings: init.encodings,
      intervalMicroseconds: init.intervals?.microseconds,
      intervalInstrCount: init.intervals?.instrCount,
      stallTimeout: Number.isFinite(task.stallTimeoutMs) ? Duration.millis(task.stallTimeoutMs) : Duration.infinity,
      // The main thread merges and reports: it needs the schedule's statistics (schedule_stats) and runs.
      recordSchedule: true,
      progressInterval: `${init.heartbeatMs} millis`,
      onProgress: (p) => {
        processed = p.records
        post({
          _tag: "Progress",
          processed: p.records,
          lastShard: -1,
          lastInput: -1,
          lastRecord: 0,
          inputsDone: p.inputsDone
        })
      }
    })
  )
  if (exit._tag === "Success") {
    const result = exit.value
    if (result.failures.length > 0) {
      // Under continue: the partial results, then the failures.
      post({
        _tag: "Results",
        results: encodeResults(
          tools,
          result.tools.map((t) => t.shards)
        ),
        schedule: result.schedule
      })
      return post({
        _tag: "Failed",
        failures: result.failures.map(ours),
        processed: result.records,
        unconsumed: 0,
        output: init.worker
      })
    }
    return post({
      _tag: "Done",
      results: encodeResults(
        tools,
        result.tools.map((t) => t.shards)
      ),
      schedule: result.schedule,
      ...(result.intervals !== undefined
        ? {
            intervals: encodeIntervals(
              tools,
              result.intervals.tools.map((t) => t.lists)
            )
          }
        : {}),
      processed: result.records,
      early: false
    })
  }
  const error = Cause.findErrorOption(exit.cause)
  const failures: Array<FailureInfo> =
    error._tag === "Some" && error.value._tag === "AnalysisFailed"
      ? error.value.failures.map(ours)
      : [
          {
            reason: error._tag === "Some" && error.value._tag === "TraceError" ? "ReadError" : "WorkerCrashed",
            worker: init.worker,
            shard: -1,
            shardType: init.shardType,
            message: error._tag === "Some" ? error.value.message : Cause.pretty(exit.cause)
          }
        ]
  post({ _tag: "Failed", failures, processed, unconsumed: 0, output: init.worker })
}

main().catch((e) => {
  // A defect outside the tool driver (e.g. a tool module that fails to load).
  post({
    _tag: "Failed",
    processed: 0,
    unconsumed: 0,
    output: init.worker,
    failures: [
      {
        reason: "WorkerCrashed",
        worker: init.worker,
        shard: -1,
        shardType: init.shardType,
        message: `worker failed to run: ${e instanceof Error ? e.message : String(e)}`
      }
    ]
  })
})
