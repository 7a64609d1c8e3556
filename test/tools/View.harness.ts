/**
 * Test-only serial run for serial tools such as `view`, until the scheduler's
 * serial mode is available to tests:
 *
 * - an interleaver following DynamoRIO's serial schedule (semantics §2.5:
 *   MAP_TO_RECORDED_OUTPUT, one output, DEPENDENCY_TIMESTAMPS): each input is
 *   read ahead to its first TIMESTAMP; the run starts with the smallest first
 *   timestamp (strict `<` in input order, so the lowest index wins ties); every
 *   TIMESTAMP record (read ahead or not) sets its input's next timestamp and the
 *   non-EOF input with the smallest non-zero next timestamp is picked; if that
 *   is another input, the TIMESTAMP stays with the old input and is delivered
 *   when it resumes; at an input's end the pick is made again.
 * - a driver that hands the tool the ranges of the inputs' own batches
 *   (`makeShard`, `processBatch`, `finishShard`, `merge`, `print`) with the
 *   context the analyzer gives, honouring DynamoRIO's `-skip_records` (records
 *   are read and counted but not given to the tool) and `-exit_after_records`
 *   (stop once the output record ordinal reaches skip + exit).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Tool from "../../src/analyzer/Tool.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import type { TraceError } from "../../src/trace/TraceError.ts"

/** One input: its ordinal and a pull of its next batch. */
export interface Source {
  readonly ordinal: number
  readonly next: Effect.Effect<RecordBatch.RecordBatch | undefined, TraceError>
}

/** A range of one input's batch, in serial order. */
export interface Segment {
  readonly input: number
  readonly batch: RecordBatch.RecordBatch
  readonly start: number
  readonly end: number
}

interface Cursor {
  readonly source: Source
  readonly ahead: Array<RecordBatch.RecordBatch>
  batch: RecordBatch.RecordBatch | undefined
  pos: number
  nextTs: bigint
  eof: boolean
}

const isTimestamp = (b: RecordBatch.RecordBatch, i: number) =>
  b.type[i] === TraceType.MARKER && b.size[i] === MarkerType.TIMESTAMP

/**
 * The serial interleave of `sources` as segments, each a run of records of one
 * input up to (not including) its next TIMESTAMP. `visit` returns false to stop.
 * A single input is passed through whole, timestamps or not.
 */
export const interleave = (
  sources: ReadonlyArray<Source>,
  visit: (segment: Segment) => boolean
): Effect.Effect<void, TraceError> =>
  Effect.gen(function* () {
    if (sources.length === 1) {
      const only = sources[0]!
      for (let b = yield* only.next; b !== undefined; b = yield* only.next) {
        const n = RecordBatch.length(b)
        if (n > 0 && !visit({ input: only.ordinal, batch: b, start: 0, end: n })) return
      }
      return
    }
    const cursors: Array<Cursor> = []
    for (const source of sources) {
      const c: Cursor = { source, ahead: [], batch: undefined, pos: 0, nextTs: 0n, eof: false }
      // Read ahead to the first timestamp, as the scheduler's init does.
      search: for (let b = yield* source.next; b !== undefined; b = yield* source.next) {
        c.ahead.push(b)
        for (let i = 0; i < RecordBatch.length(b); i++) {
          if (isTimestamp(b, i)) {
            c.nextTs = RecordBatch.addrBig(b, i)
            break search
          }
        }
      }
      cursors.push(c)
    }
    const pick = (): number => {
      let best = -1
      let min = 0n
      cursors.forEach((c, i) => {
        if (!c.eof && c.nextTs > 0n && (best < 0 || c.nextTs < min)) {
          best = i
          min = c.nextTs
        }
      })
      return best
    }
    const current = (c: Cursor) =>
      Effect.gen(function* () {
        while (c.batch === undefined || c.pos >= RecordBatch.length(c.batch)) {
          c.batch = c.ahead.length > 0 ? c.ahead.shift() : yield* c.source.next
          c.pos = 0
          if (c.batch === undefined) return undefined
        }
        return c.batch
      })
    let cur = pick()
    while (cur >= 0) {
      const c = cursors[cur]!
      const b = yield* current(c)
      if (b === undefined) {
        c.eof = true
        cur = pick()
        continue
      }
      const i = c.pos
      if (isTimestamp(b, i)) {
        c.nextTs = RecordBatch.addrBig(b, i)
        const next = pick()
        if (next !== cur) {
          cur = next
          continue
        }
      }
      let j = i + 1
      const n = RecordBatch.length(b)
      while (j < n && !isTimestamp(b, j)) j++
      c.pos = j
      if (!visit({ input: c.source.ordinal, batch: b, start: i, end: j })) return
    }
  })

export interface SerialRun<R> {
  readonly result: R
  readonly text: string
}

export interface SerialOptions {
  readonly skipRecords?: number | undefined
  readonly exitAfterRecords?: number | undefined
}

const roundTrip = <A>(schema: Schema.Codec<A, any>, value: A): A =>
  Schema.decodeUnknownSync(schema)(JSON.parse(JSON.stringify(Schema.encodeSync(schema)(value))))

/** Runs a serial tool over the serial interleave of `sources`. Fails with the tool's error. */
export const runSerial = <S, SR, R, E>(
  tool: Tool.Tool<S, SR, R, E>,
  sources: ReadonlyArray<Source>,
  options?: SerialOptions
): Effect.Effect<SerialRun<R>, TraceError | E> =>
  Effect.gen(function* () {
    const skip = options?.skipRecords ?? 0
    const limit = (options?.exitAfterRecords ?? 0) > 0 ? skip + options!.exitAfterRecords! : Infinity
    const state = tool.makeShard({ shardIndex: 0, shardType: "thread", serial: true, outputCount: 1 })
    const ctx: Tool.BatchContext = { output: 0, input: -1, outputRecordsBefore: 0, inputRecordsBefore: 0 }
    let delivered = 0
    let failure: { error: E } | undefined
    yield* interleave(sources, (seg) => {
      let start = seg.start
      let end = seg.end
      const before = delivered
      delivered += end - start
      if (delivered <= skip) return true
      if (before < skip) start += skip - before
      let last = false
      if (delivered >= limit) {
        end -= delivered - limit
        last = true
      }
      ctx.input = seg.input
      ctx.outputRecordsBefore = before + (start - seg.start)
      ctx.inputRecordsBefore = RecordBatch.firstRecordOrdinal(seg.batch) + start - 1
      const signal = tool.processBatch(state, seg.batch, start, end, ctx)
      if (signal?._tag === "Fail") {
        failure = { error: signal.error }
        return false
      }
      return signal === undefined && !last
    })
    if (failure !== undefined) return yield* Effect.fail(failure.error)
    const finished = tool.finishShard(state)
    if ((finished as { _tag?: unknown })?._tag === "Fail") return yield* Effect.fail((finished as Tool.Fail<E>).error)
    const shard = roundTrip(tool.shardResultSchema, finished as SR)
    const result = roundTrip(tool.resultSchema, tool.merge([{ shardIndex: 0, shardType: "thread", result: shard }]))
    return { result, text: tool.print(result) }
  })

/** Sources over opened trace inputs. */
export const fromInputs = (inputs: ReadonlyArray<Trace.TraceInput>): Array<Source> =>
  inputs.map((input) => ({ ordinal: input.info.ordinal, next: input.next }))

/** Sources over synthetic threads decoded with `Trace.decodeSync` (encodings kept). */
export const fromEntries = (
  threads: ReadonlyArray<ReadonlyArray<Synthetic.Entry>>,
  options?: { readonly batchCapacity?: number | undefined }
): Array<Source> =>
  threads.map((entries, ordinal) => {
    const batches = Trace.decodeSync(Synthetic.encode(entries), {
      ordinal,
      encodings: true,
      batchCapacity: options?.batchCapacity
    })
    let k = 0
    return { ordinal, next: Effect.sync(() => batches[k++]) }
  })

/** Opens `path` and runs a serial tool over it. */
export const runSerialPath = <S, SR, R, E>(
  tool: Tool.Tool<S, SR, R, E>,
  path: string,
  options?: SerialOptions & { readonly encodings?: boolean | undefined; readonly batchCapacity?: number | undefined }
): Effect.Effect<SerialRun<R>, TraceError | E> =>
  Effect.scoped(
    Effect.flatMap(
      Trace.open(path, { encodings: options?.encodings ?? true, batchCapacity: options?.batchCapacity }),
      (inputs) => runSerial(tool, fromInputs(inputs), options)
    )
  )
