import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as R from "effect/Result"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Tool from "../../src/analyzer/Tool.ts"
import * as Analyze from "../../src/cli/Analyze.ts"
import * as DrArgs from "../../src/cli/DrArgs.ts"
import * as Progress from "../../src/cli/Progress.ts"
import { basicCounts, type Result as CountsResult, type Snapshot } from "../../src/tools/BasicCounts.ts"
import * as Registry from "../../src/tools/Registry.ts"
import { isInstr, MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

/** A tool whose snapshot is the number of instructions it saw: the framework's counts must agree. */
const probe = Tool.make({
  name: "probe",
  makeShard: () => ({ instrs: 0 }),
  processBatch: (state: { instrs: number }, batch, start, end) => {
    for (let i = start; i < end; i++) if (isInstr(batch.type[i]!)) state.instrs++
    return undefined
  },
  finishShard: (state) => state.instrs,
  merge: (shards) => shards.reduce((a, s) => a + s.result, 0),
  print: (n) => `${n}\n`,
  shardResultSchema: Schema.Number,
  resultSchema: Schema.Number,
  intervals: {
    snapshot: (state: { instrs: number }) => state.instrs,
    combine: (latest) => latest.reduce((a, s) => a + (s?.data ?? 0), 0),
    print: (snaps) => snaps.map((s) => `#${s.intervalId}@${s.endTimestamp}=${s.data}`).join("\n") + "\n",
    snapshotSchema: Schema.Number
  }
})

const instrs = (n: number, base: number) => Array.from({ length: n }, (_, k) => S.instr(base + k * 4))

/** Thread 101: ts 1000, 2 instrs, ts 1150, 3 instrs, ts 1420, 1 instr. Thread 102: ts 1090, 4 instrs, ts 1210, 2 instrs. */
const twoThreads = Effect.all([
  Trace.fromEntries(
    S.thread(101, [
      S.timestamp(1000),
      ...instrs(2, 0x1000),
      S.timestamp(1150),
      ...instrs(3, 0x1100),
      S.timestamp(1420),
      ...instrs(1, 0x1200),
      S.exit(101)
    ]),
    { ordinal: 0, name: "t101" }
  ),
  Trace.fromEntries(
    S.thread(102, [S.timestamp(1090), ...instrs(4, 0x2000), S.timestamp(1210), ...instrs(2, 0x2100), S.exit(102)]),
    { ordinal: 1, name: "t102" }
  )
])

type Row = readonly [id: number, end: bigint, cumulative: number, delta: number, data: unknown]
const rows = (list: ReadonlyArray<Tool.IntervalSnapshot<unknown>>): Array<Row> =>
  list.map((s) => [s.intervalId, s.endTimestamp, s.instrCountCumulative, s.instrCountDelta, s.data])

describe("interval snapshots", () => {
  it.effect("instruction-count intervals are per shard: ids, cumulative and delta counts, last timestamp", () =>
    Effect.gen(function* () {
      const inputs = yield* twoThreads
      const r = yield* Analyzer.runInputs(inputs, { tools: [probe], jobs: 2, intervalInstrCount: 2 })
      const iv = r.intervals!
      assert.strictEqual(iv.kind, "per-shard")
      const [a, b] = iv.tools[0]!.lists
      assert.deepStrictEqual(
        a!.snapshots.map((s) => s.shardId),
        [101, 101, 101]
      )
      // 6 instructions by 2: the snapshot comes before the first instruction of the next interval.
      assert.deepStrictEqual(rows(a!.snapshots), [
        [1, 1150n, 2, 2, 2],
        [2, 1150n, 4, 2, 4],
        [3, 1420n, 6, 2, 6]
      ])
      assert.deepStrictEqual(rows(b!.snapshots), [
        [1, 1090n, 2, 2, 2],
        [2, 1210n, 4, 2, 4],
        [3, 1210n, 6, 2, 6]
      ])
      assert.include(Analyzer.formatText(r), "Printing unmerged per-shard interval results:\n#1@1150=2\n")
    })
  )

  it.effect("time intervals are aligned to multiples and merged across shards as DynamoRIO merges them", () =>
    Effect.gen(function* () {
      const inputs = yield* twoThreads
      const r = yield* Analyzer.runInputs(inputs, { tools: [probe], jobs: 2, intervalMicroseconds: 100 })
      const iv = r.intervals!
      assert.strictEqual(iv.kind, "whole-trace")
      const whole = iv.tools[0]!.lists[0]!.snapshots
      assert.isTrue(whole.every((s) => s.shardId === Tool.WHOLE_TRACE_SHARD_ID))
      // Shard 101: [1100: 2/2, 1200: 5/3, 1500: 6/1]; shard 102: [1100: 4/4, 1300: 6/2].
      // Cumulative sums the latest snapshot of every shard; delta only the shards ending there.
      assert.deepStrictEqual(rows(whole), [
        [1, 1100n, 6, 6, 6],
        [2, 1200n, 9, 3, 9],
        [3, 1300n, 11, 2, 11],
        [5, 1500n, 12, 1, 12]
      ])
      assert.include(Analyzer.formatText(r), "Printing whole-trace interval results:\n#1@1100=6\n#2@1200=9\n")
    })
  )

  it.effect("a serial run keeps one whole-trace list over the interleaved stream", () =>
    Effect.gen(function* () {
      const inputs = yield* twoThreads
      const r = yield* Analyzer.runInputs(inputs, { tools: [probe], mode: "serial", intervalMicroseconds: 100 })
      const whole = r.intervals!.tools[0]!.lists[0]!.snapshots
      // Stream order by time: 1000 (2), 1090 (4), 1150 (3), 1210 (2), 1420 (1).
      assert.deepStrictEqual(rows(whole), [
        [1, 1100n, 6, 6, 6],
        [2, 1200n, 9, 3, 9],
        [3, 1300n, 11, 2, 11],
        [5, 1500n, 12, 1, 12]
      ])
    })
  )

  it.effect("both interval options at once is an option error with DynamoRIO's wording", () =>
    Effect.gen(function* () {
      const inputs = yield* twoThreads
      const e = yield* Effect.flip(
        Analyzer.runInputs(inputs, { tools: [probe], intervalMicroseconds: 10, intervalInstrCount: 10 })
      )
      assert.strictEqual(e._tag, "AnalyzerOptionError")
      assert.strictEqual((e as Analyzer.AnalyzerOptionError).message, "Cannot enable both kinds of interval analysis")
    })
  )

  it.effect("without interval options nothing changes", () =>
    Effect.gen(function* () {
      const inputs = yield* twoThreads
      const r = yield* Analyzer.runInputs(inputs, { tools: [probe], jobs: 2 })
      assert.isUndefined(r.intervals)
      assert.strictEqual(Analyzer.formatText(r), "12\n")
    })
  )
})

/** DynamoRIO's rules, computed here from the records with BigInt: one shard's time-interval list. */
const expectedShard = (
  input: Trace.TraceInput,
  I: bigint
): Effect.Effect<Array<readonly [bigint, number, number]>, unknown> =>
  Effect.gen(function* () {
    const out: Array<readonly [bigint, number, number]> = []
    let first = -1n
    let cur = 1n
    let init = 0
    let n = 0
    while (true) {
      const b = yield* input.next
      if (b === undefined) break
      for (let i = 0; i < RecordBatch.length(b); i++) {
        const t = b.type[i]!
        const ins = isInstr(t)
        const ts = t === TraceType.MARKER && b.size[i] === MarkerType.TIMESTAMP
        if (ins) n++
        if (!ins && !ts) continue
        let last = 0n
        if (ts) {
          last = (BigInt(b.addrHi[i]!) << 32n) | BigInt(b.addrLo[i]!)
          if (first < 0n) first = last
        } else if (first < 0n) continue
        if (ins) continue
        const id = last / I - first / I + 1n
        if (id !== cur) {
          out.push([(first / I + cur) * I, n, n - init])
          cur = id
          init = n
        }
      }
    }
    out.push([(first / I + cur) * I, n, n - init])
    return out
  })

describe("basic_counts intervals on threadsig", () => {
  const I = 20000
  it.live("time intervals: whole-trace merge matches DynamoRIO's rules and adds up to the totals", () =>
    Effect.gen(function* () {
      const r = yield* Analyzer.run(THREADSIG, { tools: [basicCounts], jobs: 2, intervalMicroseconds: I })
      const whole = r.intervals!.tools[0]!.lists[0]!.snapshots as ReadonlyArray<Tool.IntervalSnapshot<Snapshot>>
      const total = (r.tools[0]!.result as CountsResult).total.counters
      // Framework counts agree with the tool's (DynamoRIO's verbose check), deltas add up to the totals.
      for (const s of whole) assert.strictEqual(s.instrCountCumulative, s.data.counters.instrs)
      assert.strictEqual(
        whole.reduce((a, s) => a + s.instrCountDelta, 0),
        total.instrs
      )
      assert.strictEqual(whole[whole.length - 1]!.data.counters.loads, total.loads)
      for (let k = 1; k < whole.length; k++) assert.isTrue(whole[k]!.intervalId > whole[k - 1]!.intervalId)
      // Independent model: per-shard lists from the records, merged by end timestamp.
      const inputs = yield* Trace.open(THREADSIG)
      const shards = yield* Effect.forEach(inputs, (input) => expectedShard(input, BigInt(I)))
      const ends = [...new Set(shards.flatMap((l) => l.map((x) => x[0])))].sort((a, b) => (a < b ? -1 : 1))
      const expected = ends.map((end) => {
        let cumulative = 0
        let delta = 0
        for (const l of shards) {
          const latest = l.filter((x) => x[0] <= end).at(-1)
          if (latest === undefined) continue
          cumulative += latest[1]
          if (latest[0] === end) delta += latest[2]
        }
        return [Number(end / BigInt(I) - ends[0]! / BigInt(I)) + 1, end, cumulative, delta] as const
      })
      assert.deepStrictEqual(
        whole.map((s) => [s.intervalId, s.endTimestamp, s.instrCountCumulative, s.instrCountDelta] as const),
        expected
      )
      const text = Analyzer.formatText(r)
      assert.include(text, "Printing whole-trace interval results:\nCounts per trace interval for whole trace:\n")
      assert.include(text, `Interval #1 ending at timestamp ${expected[0]![1]}:\n`)
    })
  )

  it.live("the threads backend gives the same snapshots as fibers", () =>
    Effect.gen(function* () {
      const tool = Registry.makeSync("basic_counts")
      const options = { tools: [tool], jobs: 2, intervalInstrCount: 50000 }
      const fibers = yield* Analyzer.run(THREADSIG, options)
      const threads = yield* Analyzer.run(THREADSIG, { ...options, backend: "threads" })
      assert.strictEqual(fibers.intervals!.kind, "per-shard")
      assert.deepStrictEqual(threads.intervals!.tools, fibers.intervals!.tools)
      assert.strictEqual(Analyzer.formatText(threads), Analyzer.formatText(fibers))
    })
  )

  it.live("the CLI passes -interval_microseconds and prints the intervals after the tools' results", () =>
    Effect.gen(function* () {
      const parsed = DrArgs.parseOptions(
        `-indir ${THREADSIG} -tool basic_counts -jobs 2 -interval_microseconds 20000`.split(" ")
      )
      if (R.isFailure(parsed)) return assert.fail(parsed.failure.message)
      const out = yield* Analyze.runAnalysis(parsed.success, { progress: Progress.none })
      const sep = "=".repeat(75)
      assert.include(
        out.text,
        `\n${sep}\nPrinting whole-trace interval results:\nCounts per trace interval for whole trace:\n`
      )
      assert.include(out.text, "Interval #1 ending at timestamp 13386385969200000:\n")
      assert.isTrue(out.text.startsWith("Basic counts tool results:\n"))
    })
  )
})
