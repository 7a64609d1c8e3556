/**
 * DynamoRIO's interval-analysis unit tests
 * (clients/drcachesim/tests/trace_interval_analysis_unit_tests.cpp):
 * test_non_zero_interval, test_non_zero_interval_i6793_workaround,
 * test_non_zero_instr_interval and test_non_zero_instr_interval_i6793_workaround,
 * each for every (parallel, combine_only_active_shards) DynamoRIO runs.
 *
 * DynamoRIO feeds one worker a hand-made stream interleaving threads 51 and
 * 52 (each thread one shard). Here each thread is an input of its own (the
 * reader wants a HEADER/THREAD/PID first and a FOOTER last: hidden records,
 * the tool sees exactly DynamoRIO's memrefs), run
 * - serial (`mode: "serial"`): the scheduler's timestamp interleave gives
 *   DynamoRIO's exact record order (checked first in each serial case);
 * - parallel (`mode: "thread-sharded"`, `jobs: 1`: one worker, like
 *   DynamoRIO's `worker_count_ = 1`): per-shard lists do not depend on how
 *   the worker interleaves the shards; the only order-dependent rule (i#6793:
 *   at the end, a shard without thread exit keeps its last interval only if
 *   the stream is still on it) sees thread 52 last in both.
 *
 * The test tool is DynamoRIO's `test_analysis_tool_t`: it counts the records
 * it sees and snapshots (tool shard id, [(tid, seen_memrefs, interval_id)]);
 * `combine` concatenates the components of the latest shard snapshots (only
 * those ending at the interval end when `combine_only_active_shards`); the
 * lists `print` receives are compared with DynamoRIO's expected snapshots
 * (framework shard id, tool shard id, interval id, end timestamp, cumulative
 * and delta instruction counts, sorted components). In serial runs the tool is
 * serial-only (`parallel: false`): DynamoRIO's serial mode drives the single
 * tool object through `process_memref` / `generate_interval_snapshot`, which
 * is memtrace's one shard over the whole stream. The dummy tool
 * (`dummy_analysis_tool_t`) returns no snapshot and counts the calls.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Tool from "../../src/analyzer/Tool.ts"
import { TraceType } from "../../src/trace/Record.ts"
import type * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"

const SERIAL_TID = 0
const WHOLE = Tool.WHOLE_TRACE_SHARD_ID

// ---------------------------------------------------------------------------
// DynamoRIO's memrefs (memref_gen.h: gen_instr size 1, gen_data(tid, true, ..) a read).

interface Ref {
  readonly tid: number
  readonly entry: S.Entry
}
const ts = (tid: number, v: number): Ref => ({ tid, entry: S.timestamp(v) })
const instr = (tid: number, pc: number): Ref => ({ tid, entry: S.instr(pc, TraceType.INSTR, 1) })
const load = (tid: number, addr: number, size: number): Ref => ({ tid, entry: S.read(addr, size) })
const exit = (tid: number): Ref => ({ tid, entry: S.exit(tid) })

const withExits = (exit51: boolean, exit52: boolean): ReadonlyArray<Ref> => [
  ts(51, 40),
  instr(51, 10000),
  load(51, 1234, 4),
  ts(52, 151),
  instr(52, 20000),
  ts(51, 170),
  instr(51, 10008),
  ts(51, 201),
  instr(51, 20004),
  ts(52, 210),
  instr(52, 20008),
  ts(52, 270),
  instr(52, 20008),
  ts(52, 490),
  instr(52, 20012),
  ts(51, 590),
  ...(exit51 ? [exit(51)] : []),
  ts(52, 610),
  instr(52, 20016),
  ...(exit52 ? [exit(52)] : [])
]

/** The refs of test_non_zero_interval and test_non_zero_instr_interval. */
const REFS = withExits(true, true)
/** The i6793_workaround variants: no thread exit for 51 nor 52. */
const REFS_I6793 = withExits(false, false)

const TIDS = [51, 52]

const inputsOf = (refs: ReadonlyArray<Ref>) =>
  Effect.forEach(TIDS, (tid, ordinal) =>
    Trace.fromEntries(
      [
        S.header(),
        S.threadEntry(tid),
        S.pid(tid),
        ...refs.filter((r) => r.tid === tid).map((r) => r.entry),
        S.footer()
      ],
      { ordinal, name: `t${tid}` }
    )
  )

// ---------------------------------------------------------------------------
// test_analysis_tool_t and dummy_analysis_tool_t.

/** interval_end_point_t: [tid, seen_memrefs, interval_id]. */
type Component = ReadonlyArray<number>

/** recorded_snapshot_t's tool part. */
interface Recorded {
  readonly toolShardId: number
  readonly components: ReadonlyArray<Component>
}
const Recorded = Schema.Struct({
  toolShardId: Schema.Number,
  components: Schema.Array(Schema.Array(Schema.Number))
})

interface Shard {
  tid: number
  seen: number
}

interface Log {
  readonly printed: Array<ReadonlyArray<Tool.IntervalSnapshot<Recorded>>>
  readonly errors: Array<string>
  /** The records the tool saw, in order: [tid, type, marker type or size, value]. */
  readonly seen: Array<readonly [number, number, number, number]>
  generateCalls: number
}

const newLog = (): Log => ({ printed: [], errors: [], seen: [], generateCalls: 0 })

const shardTool = <R>(
  name: string,
  parallel: boolean,
  process: (state: Shard, batch: RecordBatch.RecordBatch, i: number) => void,
  intervals: Tool.Intervals<Shard, R>
) =>
  Tool.make({
    name,
    parallel,
    makeShard: (): Shard => ({ tid: -1, seen: 0 }),
    processBatch: (state: Shard, batch, start, end) => {
      for (let i = start; i < end; i++) process(state, batch, i)
      return undefined
    },
    finishShard: (state) => state.seen,
    merge: (shards) => shards.reduce((a, s) => a + s.result, 0),
    print: () => "",
    shardResultSchema: Schema.Number,
    resultSchema: Schema.Number,
    intervals
  })

/**
 * DynamoRIO's test_analysis_tool_t. `expectedLists` is the number of
 * print_interval_results calls it expects (more than one: no combine calls).
 */
const testAnalysisTool = (log: Log, parallel: boolean, combineOnlyActiveShards: boolean, expectedLists: number) =>
  shardTool<Recorded>(
    "test_analysis_tool",
    parallel,
    (state, batch, i) => {
      ++state.seen
      log.seen.push([batch.tid[i]!, batch.type[i]!, batch.size[i]!, batch.addrLo[i]!])
      if (!parallel) return
      if (state.tid === -1) state.tid = batch.tid[i]!
      else if (state.tid !== batch.tid[i]) log.errors.push("Unexpected TID in memref")
    },
    {
      snapshot: (state, intervalId) => {
        if (!parallel) return { toolShardId: WHOLE, components: [[SERIAL_TID, state.seen, intervalId]] }
        if (state.tid === -1) log.errors.push("Expected TID to be found by now")
        return { toolShardId: state.tid, components: [[state.tid, state.seen, intervalId]] }
      },
      combine: (latest, endTimestamp) => {
        if (expectedLists !== 1) log.errors.push("Did not expect any combine_interval_snapshots() calls")
        if (!parallel) log.errors.push("Did not expect any combine_interval_snapshots() calls in serial mode.")
        const components: Array<Component> = []
        for (const s of latest) {
          if (s === undefined || (combineOnlyActiveShards && s.endTimestamp !== endTimestamp)) continue
          if (s.data.toolShardId !== s.shardId) {
            log.errors.push(`shard_id stored by tool (${s.data.toolShardId}) and framework (${s.shardId}) mismatch`)
          }
          components.push(...s.data.components)
        }
        return { toolShardId: WHOLE, components }
      },
      print: (snapshots) => {
        log.printed.push(snapshots)
        return ""
      },
      snapshotSchema: Recorded
    }
  )

/** DynamoRIO's dummy_analysis_tool_t: no snapshot kept; combine and print must not be called. */
const dummyAnalysisTool = (log: Log, parallel: boolean) =>
  shardTool<Recorded>("dummy_analysis_tool", parallel, () => {}, {
    snapshot: () => {
      ++log.generateCalls
      return undefined
    },
    combine: () => {
      log.errors.push("Did not expect combine_interval_snapshots to be invoked")
      return { toolShardId: WHOLE, components: [] }
    },
    print: () => {
      log.errors.push("Did not expect print_interval_results to be invoked")
      return ""
    },
    snapshotSchema: Recorded
  })

// ---------------------------------------------------------------------------
// Expected snapshots (recorded_snapshot_t) and the comparison.

interface Expected {
  readonly shardId: number
  readonly intervalId: number
  readonly end: number
  readonly cumulative: number
  readonly delta: number
  readonly components: ReadonlyArray<Component>
}
/** recorded_snapshot_t(shard_id, interval_id, end, cumulative, delta, components). */
const shard = (
  shardId: number,
  intervalId: number,
  end: number,
  cumulative: number,
  delta: number,
  components: ReadonlyArray<Component>
): Expected => ({ shardId, intervalId, end, cumulative, delta, components })
/** recorded_snapshot_t(interval_id, end, cumulative, delta, components): a whole-trace snapshot. */
const whole = (
  intervalId: number,
  end: number,
  cumulative: number,
  delta: number,
  components: ReadonlyArray<Component>
) => shard(WHOLE, intervalId, end, cumulative, delta, components)

const byComponent = (a: Component, b: Component) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!

/** recorded_snapshot_t::operator== fields, components sorted as compare_results sorts them. */
const rowOf = (s: Tool.IntervalSnapshot<Recorded>) => ({
  shardId: s.shardId,
  toolShardId: s.data.toolShardId,
  intervalId: s.intervalId,
  end: s.endTimestamp,
  cumulative: s.instrCountCumulative,
  delta: s.instrCountDelta,
  components: [...s.data.components].map((c) => [...c]).sort(byComponent)
})
const expectedRow = (e: Expected) => ({
  shardId: e.shardId,
  toolShardId: e.shardId,
  intervalId: e.intervalId,
  end: BigInt(e.end),
  cumulative: e.cumulative,
  delta: e.delta,
  components: [...e.components].map((c) => [...c]).sort(byComponent)
})

interface Case {
  readonly refs: ReadonlyArray<Ref>
  readonly parallel: boolean
  readonly combineOnlyActiveShards: boolean
  readonly intervalMicroseconds: number
  readonly intervalInstrCount: number
  readonly expected: ReadonlyArray<ReadonlyArray<Expected>>
  readonly expectedGenerateCallCount: number
}

/** DynamoRIO's memref order as [tid, type, marker type or size, value], for the serial order check. */
const refKey = (r: Ref) =>
  [r.tid, r.entry.type, r.entry.size, Number(r.entry.addr & 0xffffffffn)] as readonly [number, number, number, number]

/** Runs DynamoRIO's test_analyzer_t over `c.refs` and makes every check the DynamoRIO test makes. */
const runCase = (c: Case) =>
  Effect.scoped(
    Effect.gen(function* () {
      const log = newLog()
      const dummyLog = newLog()
      const tools = [
        testAnalysisTool(log, c.parallel, c.combineOnlyActiveShards, c.expected.length),
        dummyAnalysisTool(dummyLog, c.parallel)
      ]
      const inputs = yield* inputsOf(c.refs)
      const r = yield* Analyzer.runInputs(inputs, {
        tools,
        mode: c.parallel ? "thread-sharded" : "serial",
        jobs: 1,
        intervalMicroseconds: c.intervalMicroseconds,
        intervalInstrCount: c.intervalInstrCount
      })
      // Port precondition: DynamoRIO's serial stream is the refs in their order.
      if (!c.parallel) assert.deepStrictEqual(log.seen, c.refs.map(refKey), "serial record order")
      assert.deepStrictEqual([...log.errors, ...dummyLog.errors], [], "tool errors")
      // print_interval_results: one call per expected list, each with the expected snapshots.
      assert.deepStrictEqual(
        log.printed.map((list) => list.map(rowOf)),
        c.expected.map((list) => list.map(expectedRow)),
        "Unexpected state snapshots"
      )
      assert.strictEqual(dummyLog.generateCalls, c.expectedGenerateCallCount, "dummy tool interval API calls")
      // The run's result holds the same lists: whole-trace (serial, or time intervals merged
      // across shards) or one per shard (instruction intervals of a parallel run).
      const iv = r.intervals!
      assert.strictEqual(iv.kind, !c.parallel || c.intervalMicroseconds > 0 ? "whole-trace" : "per-shard")
      assert.deepStrictEqual(
        iv.tools[0]!.lists.map((l) => (l.snapshots as ReadonlyArray<Tool.IntervalSnapshot<Recorded>>).map(rowOf)),
        c.expected.map((list) => list.map(expectedRow)),
        "result intervals"
      )
      assert.isTrue(
        iv.tools[1]!.lists.every((l) => l.snapshots.length === 0),
        "the dummy tool keeps no snapshot"
      )
    })
  )

// ---------------------------------------------------------------------------

describe("DynamoRIO trace_interval_analysis_unit_tests.cpp", () => {
  // test_non_zero_interval: interval_microseconds 100.
  const timeCase = (parallel: boolean, combineOnlyActiveShards: boolean, expected: Array<Array<Expected>>): Case => ({
    refs: REFS,
    parallel,
    combineOnlyActiveShards,
    intervalMicroseconds: 100,
    intervalInstrCount: 0,
    expected,
    expectedGenerateCallCount: parallel ? 8 : 6
  })

  it.effect("test_non_zero_interval(parallel=false)", () =>
    runCase(
      timeCase(false, true, [
        [
          whole(1, 100, 1, 1, [[SERIAL_TID, 3, 1]]),
          whole(2, 200, 3, 2, [[SERIAL_TID, 7, 2]]),
          whole(3, 300, 6, 3, [[SERIAL_TID, 13, 3]]),
          whole(5, 500, 7, 1, [[SERIAL_TID, 15, 5]]),
          whole(6, 600, 7, 0, [[SERIAL_TID, 17, 6]]),
          whole(7, 700, 8, 1, [[SERIAL_TID, 20, 7]])
        ]
      ])
    )
  )

  it.effect("test_non_zero_interval(parallel=true, combine_only_active_shards=true)", () =>
    runCase(
      timeCase(true, true, [
        [
          whole(1, 100, 1, 1, [[51, 3, 1]]),
          whole(2, 200, 3, 2, [
            [51, 5, 2],
            [52, 2, 1]
          ]),
          whole(3, 300, 6, 3, [
            [51, 7, 3],
            [52, 6, 2]
          ]),
          whole(5, 500, 7, 1, [[52, 8, 4]]),
          whole(6, 600, 7, 0, [[51, 9, 6]]),
          whole(7, 700, 8, 1, [[52, 11, 6]])
        ]
      ])
    )
  )

  it.effect("test_non_zero_interval(parallel=true, combine_only_active_shards=false)", () =>
    runCase(
      timeCase(true, false, [
        [
          whole(1, 100, 1, 1, [[51, 3, 1]]),
          whole(2, 200, 3, 2, [
            [51, 5, 2],
            [52, 2, 1]
          ]),
          whole(3, 300, 6, 3, [
            [51, 7, 3],
            [52, 6, 2]
          ]),
          whole(5, 500, 7, 1, [
            [51, 7, 3],
            [52, 8, 4]
          ]),
          whole(6, 600, 7, 0, [
            [51, 9, 6],
            [52, 8, 4]
          ]),
          whole(7, 700, 8, 1, [
            [51, 9, 6],
            [52, 11, 6]
          ])
        ]
      ])
    )
  )

  // test_non_zero_interval_i6793_workaround: no thread exits.
  const timeCaseI6793 = (
    parallel: boolean,
    combineOnlyActiveShards: boolean,
    expected: Array<Array<Expected>>
  ): Case => ({
    ...timeCase(parallel, combineOnlyActiveShards, expected),
    refs: REFS_I6793,
    // One fewer generate snapshot call in parallel mode because of the missing thread exit for tid=51.
    expectedGenerateCallCount: parallel ? 7 : 6
  })

  it.effect("test_non_zero_interval_i6793_workaround(parallel=false)", () =>
    runCase(
      timeCaseI6793(false, true, [
        [
          whole(1, 100, 1, 1, [[SERIAL_TID, 3, 1]]),
          whole(2, 200, 3, 2, [[SERIAL_TID, 7, 2]]),
          whole(3, 300, 6, 3, [[SERIAL_TID, 13, 3]]),
          whole(5, 500, 7, 1, [[SERIAL_TID, 15, 5]]),
          whole(6, 600, 7, 0, [[SERIAL_TID, 16, 6]]),
          whole(7, 700, 8, 1, [[SERIAL_TID, 18, 7]])
        ]
      ])
    )
  )

  it.effect("test_non_zero_interval_i6793_workaround(parallel=true, combine_only_active_shards=true)", () =>
    runCase(
      timeCaseI6793(true, true, [
        [
          whole(1, 100, 1, 1, [[51, 3, 1]]),
          whole(2, 200, 3, 2, [
            [51, 5, 2],
            [52, 2, 1]
          ]),
          whole(3, 300, 6, 3, [
            [51, 7, 3],
            [52, 6, 2]
          ]),
          whole(5, 500, 7, 1, [[52, 8, 4]]),
          // No interval 6 including tid=51: its last interval is dropped (missing thread exit).
          whole(7, 700, 8, 1, [[52, 10, 6]])
        ]
      ])
    )
  )

  it.effect("test_non_zero_interval_i6793_workaround(parallel=true, combine_only_active_shards=false)", () =>
    runCase(
      timeCaseI6793(true, false, [
        [
          whole(1, 100, 1, 1, [[51, 3, 1]]),
          whole(2, 200, 3, 2, [
            [51, 5, 2],
            [52, 2, 1]
          ]),
          whole(3, 300, 6, 3, [
            [51, 7, 3],
            [52, 6, 2]
          ]),
          whole(5, 500, 7, 1, [
            [51, 7, 3],
            [52, 8, 4]
          ]),
          whole(7, 700, 8, 1, [
            [51, 7, 3],
            [52, 10, 6]
          ])
        ]
      ])
    )
  )

  // test_non_zero_instr_interval: interval_instr_count 2.
  const instrCase = (parallel: boolean, refs: ReadonlyArray<Ref>, expected: Array<Array<Expected>>, calls: number) => ({
    refs,
    parallel,
    // kNopCombineOnlyActiveShards: no combine calls are expected.
    combineOnlyActiveShards: false,
    intervalMicroseconds: 0,
    intervalInstrCount: 2,
    expected,
    expectedGenerateCallCount: calls
  })

  it.effect("test_non_zero_instr_interval(parallel=false)", () =>
    runCase(
      instrCase(
        false,
        REFS,
        [
          [
            whole(1, 170, 2, 2, [[SERIAL_TID, 6, 1]]),
            whole(2, 210, 4, 2, [[SERIAL_TID, 10, 2]]),
            whole(3, 490, 6, 2, [[SERIAL_TID, 14, 3]]),
            whole(4, 610, 8, 2, [[SERIAL_TID, 20, 4]])
          ]
        ],
        4
      )
    )
  )

  it.effect("test_non_zero_instr_interval(parallel=true)", () =>
    runCase(
      instrCase(
        true,
        REFS,
        [
          [shard(51, 1, 201, 2, 2, [[51, 6, 1]]), shard(51, 2, 590, 3, 1, [[51, 9, 2]])],
          [
            shard(52, 1, 270, 2, 2, [[52, 5, 1]]),
            shard(52, 2, 610, 4, 2, [[52, 9, 2]]),
            shard(52, 3, 610, 5, 1, [[52, 11, 3]])
          ]
        ],
        5
      )
    )
  )

  it.effect("test_non_zero_instr_interval_i6793_workaround(parallel=false)", () =>
    runCase(
      instrCase(
        false,
        REFS_I6793,
        [
          [
            whole(1, 170, 2, 2, [[SERIAL_TID, 6, 1]]),
            whole(2, 210, 4, 2, [[SERIAL_TID, 10, 2]]),
            whole(3, 490, 6, 2, [[SERIAL_TID, 14, 3]]),
            whole(4, 610, 8, 2, [[SERIAL_TID, 18, 4]])
          ]
        ],
        4
      )
    )
  )

  it.effect("test_non_zero_instr_interval_i6793_workaround(parallel=true)", () =>
    runCase(
      instrCase(
        true,
        REFS_I6793,
        [
          // tid=51 misses its thread exit: its last interval is dropped.
          [shard(51, 1, 201, 2, 2, [[51, 6, 1]])],
          [
            shard(52, 1, 270, 2, 2, [[52, 5, 1]]),
            shard(52, 2, 610, 4, 2, [[52, 9, 2]]),
            // tid=52 also misses its exit but the stream ends on it: its final interval stays.
            shard(52, 3, 610, 5, 1, [[52, 10, 3]])
          ]
        ],
        4
      )
    )
  )
})
