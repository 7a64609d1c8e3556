/**
 * Test tools for the analyzer: a record counter whose shards can be told to
 * fail in each way a tool can fail, at a chosen input and record.
 */
import * as Schema from "effect/Schema"
import * as Tool from "../../src/analyzer/Tool.ts"
import { isInstr } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"

export type Fault =
  | "error"
  | "defect"
  | "stop"
  | "init"
  | "exit"
  | "merge"
  | "print"
  // Faults that kill or freeze a worker thread (threads backend).
  | "processExit"
  // Blocks the thread for 1 s, then process.exit: the other threads move on meanwhile.
  | "lateExit"
  | "uncaught"
  | "hang"
  | "oom"
  // Sleeps 100 ms every 200 records of the shard (drives run timeouts and interrupts).
  | "slow"
  // After the shard ended (finishShard), a timer left behind throws or exits the thread.
  | "afterThrow"
  | "afterExit"

export interface FaultPlan {
  readonly fault: Fault
  /** Shard (input ordinal, or core) where it happens. */
  readonly shard: number
  /** Input record ordinal at which error/defect/stop happen. */
  readonly record?: number
}

export class CountError extends Schema.TaggedError<CountError>()("CountError", {
  shard: Schema.Number,
  record: Schema.Number
}) {}

export const ShardCount = Schema.Struct({
  shard: Schema.Number,
  tid: Schema.Number,
  records: Schema.Number,
  instrs: Schema.Number,
  idles: Schema.Number,
  /** Input record ordinals seen, as [input, first, last] runs (checks exactly-once, in order). */
  runs: Schema.Array(Schema.Tuple([Schema.Number, Schema.Number, Schema.Number]))
})
export type ShardCount = typeof ShardCount.Type

interface State {
  shard: number
  tid: number
  records: number
  instrs: number
  idles: number
  runs: Array<[number, number, number]>
}

/** The counter, rebuildable in a worker thread. */
export const counterSpec = (plan?: FaultPlan) =>
  Tool.withSpec(counter(plan), { module: import.meta.url, export: "counter", args: plan === undefined ? [] : [plan] })

/**
 * Counts records per shard; `plan` injects one fault.
 */
export const counter = (plan?: FaultPlan, options?: { readonly parallel?: boolean; readonly name?: string }) =>
  Tool.make<State, ShardCount, ReadonlyArray<ShardCount>, CountError>({
    name: options?.name ?? "counter",
    parallel: options?.parallel ?? true,
    makeShard: (info) => {
      if (plan?.fault === "init" && plan.shard === info.shardIndex)
        throw new Error(`init failed on shard ${info.shardIndex}`)
      return { shard: info.shardIndex, tid: 0, records: 0, instrs: 0, idles: 0, runs: [] }
    },
    processBatch: (s, batch, start, end, ctx) => {
      // Once per 200 records, whatever the segment sizes (lockstep hands out one record at a time).
      if (plan?.fault === "slow" && (plan.shard === s.shard || plan.shard < 0)) {
        if (Math.floor((s.records + end - start) / 200) > Math.floor(s.records / 200)) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
        }
      }
      const first = RecordBatch.firstRecordOrdinal(batch)
      for (let i = start; i < end; i++) {
        const ordinal = first + i
        if (plan !== undefined && plan.shard === s.shard && ctx.input >= 0 && ordinal === plan.record) {
          if (plan.fault === "error") return Tool.fail(new CountError({ shard: s.shard, record: ordinal }), i)
          if (plan.fault === "defect") throw new Error(`boom at record ${ordinal}`)
          if (plan.fault === "stop") {
            s.records += i - start
            return Tool.stop()
          }
          if (plan.fault === "processExit") process.exit(7)
          if (plan.fault === "lateExit") {
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000)
            process.exit(7)
          }
          if (plan.fault === "uncaught") {
            setTimeout(() => {
              throw new Error("uncaught in worker")
            }, 0)
          }
          if (plan.fault === "hang") while (Date.now() >= 0) {}
          if (plan.fault === "oom") {
            const hog: Array<Array<number>> = []
            while (hog.length >= 0) hog.push(new Array(1 << 16).fill(hog.length))
          }
        }
        if (isInstr(batch.type[i]!)) s.instrs++
        if (batch.tid[i]! > 0 && s.tid === 0) s.tid = batch.tid[i]!
      }
      if (ctx.input < 0) {
        s.idles += end - start
      } else {
        const last = s.runs.at(-1)
        const a = ctx.inputRecordsBefore + 1
        const b = ctx.inputRecordsBefore + (end - start)
        if (last !== undefined && last[0] === ctx.input && last[2] + 1 === a) last[2] = b
        else s.runs.push([ctx.input, a, b])
      }
      s.records += end - start
      return undefined
    },
    finishShard: (s) => {
      if (plan?.fault === "afterThrow" && plan.shard === s.shard) {
        setTimeout(() => {
          throw new Error("late throw")
        }, 50)
      }
      if (plan?.fault === "afterExit" && plan.shard === s.shard) setTimeout(() => process.exit(9), 50)
      if (plan?.fault === "exit" && plan.shard === s.shard)
        return Tool.fail(new CountError({ shard: s.shard, record: -1 }), 0)
      return { shard: s.shard, tid: s.tid, records: s.records, instrs: s.instrs, idles: s.idles, runs: s.runs }
    },
    merge: (shards) => {
      if (plan?.fault === "merge") throw new Error("merge failed")
      return shards.map((o) => o.result)
    },
    print: (result) => {
      if (plan?.fault === "print") throw new Error("print failed")
      return result.map((r) => `shard ${r.shard}: ${r.records} records`).join("\n") + "\n"
    },
    shardResultSchema: ShardCount,
    resultSchema: Schema.Array(ShardCount),
    describeError: (e) => `count error on shard ${e.shard} at record ${e.record}`
  })
