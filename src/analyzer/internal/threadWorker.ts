/**
 * Entry point of an analysis worker thread: rebuilds the tools from their
 * specs, then reads and analyzes the inputs the main thread hands it, one at a
 * time, reporting progress as a heartbeat. Plain async code (no Effect
 * runtime) keeps its start-up short; the main thread owns all supervision.
 */
import { parentPort, workerData } from "node:worker_threads"
import { Effect, Schema } from "effect"
import { InputReader } from "../../trace/internal/inputReader.ts"
import { openSource } from "../../trace/internal/source.ts"
import { TraceError } from "../../trace/TraceError.ts"
import type * as Tool from "../Tool.ts"
import type { FromWorker, InitData, ToWorker } from "./threadProtocol.ts"
import { type FailureInfo, WorkerCore } from "./worker.ts"

const port = parentPort!
const init = workerData as InitData
const post = (m: FromWorker) => port.postMessage(m)

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

const main = async () => {
  const tools = await Promise.all(init.tools.map(loadTool))
  const names = new Map<number, string>()
  const core = new WorkerCore({
    worker: init.worker,
    tools,
    shardType: init.shardType,
    serial: init.serial,
    outputCount: init.outputCount,
    skipRecords: init.skipRecords,
    exitAfterRecords: init.exitAfterRecords,
    inputName: (i) => names.get(i) ?? `input ${i}`
  })
  let inputsDone = 0
  const beat = () =>
    post({
      _tag: "Progress",
      processed: core.processed,
      lastShard: core.lastShard,
      lastInput: core.lastInput,
      lastRecord: core.lastRecord,
      inputsDone
    })
  const heartbeat = setInterval(beat, init.heartbeatMs)
  const failed = (failure: FailureInfo) => {
    clearInterval(heartbeat)
    post({ _tag: "Failed", failure, processed: core.processed })
  }
  post({ _tag: "Ready" })
  let early = false
  work: while (true) {
    post({ _tag: "NeedInput" })
    const m = await receive()
    if (m._tag === "NoMoreInputs") break
    names.set(m.ordinal, m.name)
    let reader: InputReader | undefined
    try {
      reader = new InputReader(await openSource(m.path), m.ordinal, {
        batchCapacity: init.batchCapacity,
        encodings: init.encodings
      })
      for (let b = await reader.next(); b !== undefined; b = await reader.next()) {
        const outcome = core.processSegment(b, 0, b.header[0]!, m.ordinal, init.worker)
        if (outcome !== undefined) {
          if (outcome._tag === "Failed") return failed(outcome.failure)
          early = true
          break work
        }
      }
      inputsDone++
    } catch (e) {
      const te = e instanceof TraceError ? e : undefined
      return failed({
        reason: "ReadError",
        worker: init.worker,
        shard: init.shardType === "thread" ? m.ordinal : init.worker,
        shardType: init.shardType,
        input: m.name,
        record: te?.record,
        message: te !== undefined ? te.message : String(e)
      })
    } finally {
      await reader?.close()
    }
  }
  const end = core.finishAll()
  if (end !== undefined && end._tag === "Failed") return failed(end.failure)
  const results = tools.map((tool, t) => {
    const encode = Schema.encodeUnknownSync(Schema.toCodecJson(tool.shardResultSchema))
    return core.results[t]!.map((o) => [o.shardIndex, encode(o.result)] as const)
  })
  clearInterval(heartbeat)
  beat()
  post({ _tag: "Done", results, processed: core.processed, early })
}

main().catch((e) => {
  // A defect outside the tool driver (e.g. a tool module that fails to load).
  post({
    _tag: "Failed",
    processed: 0,
    failure: {
      reason: "WorkerCrashed",
      worker: init.worker,
      shard: -1,
      shardType: init.shardType,
      message: `worker failed to run: ${e instanceof Error ? e.message : String(e)}`
    }
  })
})
