/**
 * Records per second of each standard tool's hot path (`processBatch` over
 * every shard, then `finishShard`, `merge` and `print`), over a trace already
 * decoded into memory, so the reader's cost is left out; plus the reader alone
 * for scale.
 *
 * usage: npx node bench/tools.ts [trace dir or file] [repetitions]
 * (default ../shared/traces/drmemtrace.threadsig.x64.tracedir, 7). Prints the best and
 * the median of the repetitions: on a shared machine the best run is the
 * better estimate of the tool's own cost.
 */
import * as Effect from "effect/Effect"
import type * as Tool from "../src/analyzer/Tool.ts"
import { basicCounts } from "../src/tools/BasicCounts.ts"
import { histogram } from "../src/tools/Histogram.ts"
import { reuseDistance } from "../src/tools/ReuseDistance.ts"
import { reuseTime } from "../src/tools/ReuseTime.ts"
import { syscallMix } from "../src/tools/SyscallMix.ts"
import { FileType } from "../src/trace/Record.ts"
import * as RecordBatch from "../src/trace/RecordBatch.ts"
import * as Trace from "../src/trace/Trace.ts"

const path = process.argv[2] || "../shared/traces/drmemtrace.threadsig.x64.tracedir"
const reps = Number(process.argv[3] || 7)

const readTrace = Effect.scoped(
  Effect.gen(function* () {
    const inputs = yield* Trace.open(path)
    const shardType: Tool.ShardType = inputs.some((i) => (i.info.filetype & FileType.CORE_SHARDED) !== 0)
      ? "core"
      : "thread"
    const shards: Array<Array<RecordBatch.RecordBatch>> = []
    for (const input of inputs) shards.push(yield* Trace.readAll(input))
    return { shards, shardType }
  })
)

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = async () => {
  const t0 = performance.now()
  const { shards, shardType } = await Effect.runPromise(readTrace)
  const readMs = performance.now() - t0
  const records = shards.flat().reduce((n, b) => n + RecordBatch.length(b), 0)
  const readTimes: Array<number> = []
  for (let r = 0; r < Math.min(reps, 3); r++) {
    const s = performance.now()
    await Effect.runPromise(readTrace)
    readTimes.push(performance.now() - s)
  }
  console.log(`${path}: ${shards.length} shards (${shardType}), ${records} records`)
  console.log(
    `reader (open + decode, all inputs): ${median(readTimes).toFixed(0)} ms, ${(((records / median(readTimes)) * 1e3) / 1e6).toFixed(1)} M records/s (first run ${readMs.toFixed(0)} ms)`
  )
  const tools: Array<Tool.Tool<any, any, any, any> | Tool.Tool<any, any, any, never>> = [
    basicCounts,
    histogram,
    reuseDistance,
    reuseTime,
    syscallMix
  ]
  for (const tool of tools) {
    const hot: Array<number> = []
    const whole: Array<number> = []
    for (let r = 0; r < reps; r++) {
      const start = performance.now()
      const outcomes: Array<Tool.ShardOutcome<unknown>> = []
      let hotMs = 0
      shards.forEach((batches, shardIndex) => {
        const state = tool.makeShard({ shardIndex, shardType, serial: false, outputCount: shards.length })
        const ctx: Tool.BatchContext = { output: 0, input: shardIndex, outputRecordsBefore: 0, inputRecordsBefore: 0 }
        const h = performance.now()
        for (const b of batches) tool.processBatch(state, b, 0, RecordBatch.length(b), ctx)
        hotMs += performance.now() - h
        outcomes.push({ shardIndex, shardType, result: tool.finishShard(state) })
      })
      tool.print(tool.merge(outcomes as never))
      hot.push(hotMs)
      whole.push(performance.now() - start)
    }
    // On a shared machine the best run estimates the tool's own cost; the median shows the spread.
    const mrs = (ms: number) => (((records / ms) * 1e3) / 1e6).toFixed(1).padStart(6)
    const best = Math.min(...hot)
    const h = median(hot)
    const w = median(whole)
    console.log(
      `${tool.name.padEnd(15)} processBatch best ${best.toFixed(1).padStart(6)} ms = ${mrs(best)} M records/s, median ${mrs(h)}; with finish+merge+print (median) ${mrs(w)} M records/s`
    )
  }
}

main()
