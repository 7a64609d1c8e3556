/**
 * Test helper: runs a serial simulator tool over one synthetic record stream
 * the way the analyzer's serial loop does (one shard, batches in order), with
 * a chosen output per record for core-sharded runs, and round-trips the
 * results through their Schemas as a worker thread would.
 */
import * as Schema from "effect/Schema"
import type * as Tool from "../../src/analyzer/Tool.ts"
import { FileType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"

const roundTrip = <A>(schema: Schema.Codec<A, any>, value: A): A =>
  Schema.decodeUnknownSync(schema)(JSON.parse(JSON.stringify(Schema.encodeSync(schema)(value))))

/** A serial stream file: header entries, then `body` (switch threads with {@link as}). */
export const stream = (body: ReadonlyArray<Synthetic.Entry>): Array<Synthetic.Entry> => [
  Synthetic.header(),
  Synthetic.version(),
  Synthetic.filetype(FileType.ARCH_X86_64),
  ...body,
  Synthetic.footer()
]

/** Entries of thread `tid` (process 100), starting with the THREAD/PID switch. */
export const as = (tid: number, ...entries: ReadonlyArray<Synthetic.Entry>): Array<Synthetic.Entry> => [
  Synthetic.threadEntry(tid),
  Synthetic.pid(100),
  ...entries
]

export interface SimRun<R, E> {
  readonly result: R
  readonly text: string
  readonly signal: Tool.Signal<E> | undefined
  /** Stream index (0-based, over visible records) of the record a Fail signal names. */
  readonly failedAt: number | undefined
}

/** Decodes `entries` and runs `tool` over them as one serial shard. */
export const simulate = <S, R, E>(
  tool: Tool.Tool<S, R, R, E>,
  entries: ReadonlyArray<Synthetic.Entry>,
  options?: {
    readonly shardType?: Tool.ShardType
    /** Output (core) of the record at each visible-record index; default 0. */
    readonly outputOf?: (index: number) => number
    readonly batchCapacity?: number
  }
): SimRun<R, E> => {
  const shardType = options?.shardType ?? "thread"
  const outputOf = options?.outputOf ?? (() => 0)
  const batches = Trace.decodeSync(Synthetic.encode(entries), { batchCapacity: options?.batchCapacity })
  return simulateBatches(tool, batches, shardType, outputOf)
}

/** Runs `tool` over decoded batches as one serial shard. */
export const simulateBatches = <S, R, E>(
  tool: Tool.Tool<S, R, R, E>,
  batches: ReadonlyArray<RecordBatch.RecordBatch>,
  shardType: Tool.ShardType,
  outputOf: (index: number) => number = () => 0
): SimRun<R, E> => {
  const state = tool.makeShard({ shardIndex: 0, shardType, serial: true, outputCount: 1 })
  const ctx: Tool.BatchContext = { output: 0, input: 0, outputRecordsBefore: 0, inputRecordsBefore: 0 }
  let signal: Tool.Signal<E> | undefined
  let failedAt: number | undefined
  let seen = 0
  outer: for (const b of batches) {
    const n = RecordBatch.length(b)
    let s = 0
    while (s < n) {
      const output = outputOf(seen + s)
      let e = s + 1
      while (e < n && outputOf(seen + e) === output) e++
      ctx.output = output
      ctx.outputRecordsBefore = seen + s
      signal = tool.processBatch(state, b, s, e, ctx)
      if (signal !== undefined) {
        if (signal._tag === "Fail") failedAt = seen + signal.index
        break outer
      }
      s = e
    }
    seen += n
  }
  const finished = tool.finishShard(state) as R
  const shard = roundTrip(tool.shardResultSchema, finished)
  const result = roundTrip(tool.resultSchema, tool.merge([{ shardIndex: 0, shardType, result: shard }]))
  return { result, text: tool.print(result), signal, failedAt }
}

/** `prefix << setw(18) << left << label << setw(20) << right << value` (DynamoRIO's stats rows). */
export const row = (label: string, value: string | number): string =>
  `    ${label.padEnd(18)}${String(value).padStart(20)}\n`

/** A rate row: the value in 20 columns, then `%`. */
export const rate = (label: string, value: string): string => `    ${label.padEnd(18)}${value.padStart(20)}%\n`
