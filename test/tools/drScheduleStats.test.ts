/**
 * DynamoRIO's clients/drcachesim/tests/schedule_stats_test.cpp, ported sub-case
 * by sub-case (one `it` each, named after it), against ScheduleStats.
 *
 * The driver is DynamoRIO's `run_schedule_stats_with_tool`: the per-core
 * record lists are walked in lockstep, one record per core per round, each
 * handed to the tool as a one-record batch whose origin carries the input's
 * instruction count so far (DynamoRIO's `mock_input_stream_t`, one per
 * (workload, tid), counting every instruction, kernel ones included).
 *
 * What DynamoRIO's mocks do, and how the port does the same:
 * - `mock_schedule_stats_t::get_current_microseconds` is a global counter that
 *   starts at 1 and advances by one before each record: `performance.now`
 *   (the tool's clock) is mocked to that counter while the driver runs.
 * - `create_histogram` uses bin size 1 for the instructions-per-switch
 *   histograms; memtrace's bin is fixed at 50,000 (`SWITCH_BIN`). The tool
 *   adds each switch record's instruction count to those histograms, so the
 *   bin-1 histograms are rebuilt from the switch records (all kept at
 *   `verbose: 2`) and checked with DynamoRIO's regexes, and the tool's own
 *   histograms are checked to hold the same values at its bin size.
 * - `mock_stream_t::get_version` reports the current trace version; the tool
 *   reads the version from the VERSION marker, so every core of a test that
 *   needs syscall latencies starts with one (every core gets it, so the
 *   lockstep rounds keep their relative order).
 * - DynamoRIO's workloads are the records' pids (1234, 5678 in
 *   test_cpu_footprint and test_core_ratio); memtrace's workload is the tid's
 *   tag (`w << 48`, w ≤ 31), so those pids become workloads 1 and 2.
 */
import { assert, describe, it, vi } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import type * as Tool from "../../src/analyzer/Tool.ts"
import * as ScheduleStats from "../../src/tools/ScheduleStats.ts"
import { IDLE_THREAD_ID, MarkerType, TraceType, TraceVersion } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"

// ---------------------------------------------------------------------------
// DynamoRIO's memref_gen.h helpers.

interface Rec {
  readonly type: number
  readonly marker?: number
  readonly tid: number
  readonly workload: number
  readonly value?: bigint
}

/** `gen_instr(tid, pc, size, pid)`: the pid is the workload. */
const gen_instr = (tid: number, workload = 0): Rec => ({ type: TraceType.INSTR, tid, workload })
const gen_marker = (tid: number, marker: number, value: number | bigint): Rec => ({
  type: TraceType.MARKER,
  marker,
  tid,
  workload: 0,
  value: BigInt.asUintN(64, BigInt(value))
})
const gen_exit = (tid: number): Rec => ({ type: TraceType.THREAD_EXIT, tid, workload: 0 })
/** What DynamoRIO's mock stream's `get_version()` gives (TRACE_ENTRY_VERSION). */
const version = (tid: number): Rec => gen_marker(tid, MarkerType.VERSION, TraceVersion.CURRENT)

const SWITCH_THREAD = 1

// ---------------------------------------------------------------------------
// DynamoRIO's run_schedule_stats_with_tool.

interface Run {
  readonly cores: ReadonlyArray<ScheduleStats.CoreData>
  readonly result: ScheduleStats.Result
}

const runScheduleStatsWithTool = (
  tool: ReturnType<typeof ScheduleStats.make>,
  memrefs: ReadonlyArray<ReadonlyArray<Rec>>
): Run => {
  // mock_schedule_stats_t's clock: starts at 1, one more before each record.
  let globalTime = 1
  const clock = vi.spyOn(performance, "now").mockImplementation(() => (globalTime + 0.5) / 1000)
  try {
    const states = memrefs.map((_, cpu) =>
      tool.makeShard({ shardIndex: cpu, shardType: "core", serial: false, outputCount: memrefs.length })
    )
    const inputs = new Map<string, { ordinal: number; instrs: number; records: number }>()
    const ctx: Tool.BatchContext = { output: 0, input: -1, outputRecordsBefore: 0, inputRecordsBefore: 0 }
    const idx = memrefs.map(() => 0)
    let finished = memrefs.filter((m) => m.length === 0).length
    while (finished < memrefs.length) {
      for (let cpu = 0; cpu < memrefs.length; cpu++) {
        if (idx[cpu]! >= memrefs[cpu]!.length) continue
        const r = memrefs[cpu]![idx[cpu]!]!
        const synthetic = r.marker === MarkerType.CORE_IDLE || r.marker === MarkerType.CORE_WAIT
        const key = `${r.workload}:${r.tid}`
        let input = inputs.get(key)
        if (input === undefined) {
          input = { ordinal: inputs.size, instrs: 0, records: 0 }
          inputs.set(key, input)
        }
        const b = RecordBatch.make(16)
        b.type[0] = r.type
        b.size[0] = r.marker ?? 1
        const value = r.value ?? 1n
        b.addrLo[0] = Number(value & 0xffffffffn)
        b.addrHi[0] = Number(value >> 32n)
        b.tid[0] = r.tid < 0 ? r.tid : r.workload * 2 ** 48 + r.tid
        RecordBatch.setLength(b, 1)
        RecordBatch.setOrigin(b, synthetic ? -1 : input.ordinal, input.records + 1, input.instrs)
        ctx.output = cpu
        ctx.input = synthetic ? -1 : input.ordinal
        ctx.inputRecordsBefore = synthetic ? 0 : input.records
        // mock_schedule_stats_t::parallel_shard_memref: ++global_time_ first.
        globalTime++
        const signal = tool.processBatch(states[cpu]!, b, 0, 1, ctx)
        assert.isUndefined(signal)
        ctx.outputRecordsBefore++
        if (!synthetic) input.records++
        if (++idx[cpu]! >= memrefs[cpu]!.length) finished++
        // The mock input stream counts the instruction after the tool saw it.
        if (r.type === TraceType.INSTR) input.instrs++
      }
    }
    const outcomes = states.map((s, cpu) => {
      const done = tool.finishShard(s) as ScheduleStats.ShardResult
      // As across a worker thread.
      const result = Schema.decodeUnknownSync(ScheduleStats.ShardResult)(
        JSON.parse(JSON.stringify(Schema.encodeSync(ScheduleStats.ShardResult)(done)))
      )
      return { shardIndex: cpu, shardType: "core" as const, result }
    })
    return { cores: outcomes.flatMap((o) => o.result.cores), result: tool.merge(outcomes) }
  } finally {
    clock.mockRestore()
  }
}

/**
 * DynamoRIO's run_schedule_stats makes `mock_schedule_stats_t tool(print_every 1,
 * verbosity 1)`; its verbosity only limits what is printed, while memtrace keeps
 * no more switch records than it prints: verbose 2 keeps them all, as
 * DynamoRIO's `switch_record` vector does.
 */
const makeTool = () => ScheduleStats.make({ printEvery: 1, verbose: 2 })

const runScheduleStats = (memrefs: ReadonlyArray<ReadonlyArray<Rec>>): Run =>
  runScheduleStatsWithTool(makeTool(), memrefs)

// schedule_record_t in aggregate-initialisation order.
type Expected = readonly [
  workload: number,
  tid: number,
  instructions: number,
  syscallNumber: number,
  latency: number,
  voluntary?: boolean,
  direct?: boolean,
  start?: number
]

const VOLUNTARY = true
const INVOLUNTARY = false
const DIRECT = true
const DEFAULT = false

/** The switch records of every core, against DynamoRIO's expected_record (member defaults filled in). */
const assertRecords = (run: Run, expected: ReadonlyArray<ReadonlyArray<Expected>>) => {
  assert.strictEqual(run.cores.length, expected.length)
  const got = run.cores.map((c) =>
    c.switchRecords.map((r) => [
      r.workload,
      r.tid,
      r.instructions,
      r.syscallNumber,
      r.syscallLatency,
      r.voluntary,
      r.direct,
      r.inputInstrStart
    ])
  )
  const want = expected.map((core) =>
    core.map(([w, t, n, s, l, v = false, d = false, start = 1]) => [w, t, n, s, l, v, d, start])
  )
  assert.deepStrictEqual(got, want)
}

/** histogram_t::to_string: `%12d..%8d %5d` per non-empty bin, ascending. */
const histText = (bins: ReadonlyArray<readonly [number, number]>, binSize: number): string =>
  [...bins]
    .sort((a, b) => a[0] - b[0])
    .map(([bin, n]) => `${String(bin).padStart(12)}..${String(bin + binSize).padStart(8)} ${String(n).padStart(5)}\n`)
    .join("")

/** A bin-size-1 histogram of values (DynamoRIO's mock create_histogram for kSwitchBinSize). */
const bin1 = (values: ReadonlyArray<number>): Array<[number, number]> => {
  const m = new Map<number, number>()
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1)
  return [...m.entries()]
}

/** The instruction counts the tool added to its instructions-per-switch histograms (one per switch record). */
const switchInstrs = (run: Run, tid?: number): Array<number> =>
  run.cores.flatMap((c) => c.switchRecords.filter((r) => tid === undefined || r.tid === tid).map((r) => r.instructions))

/** The tool's own histogram holds the same values, at its bin size (50,000). */
const atSwitchBin = (values: ReadonlyArray<number>): Array<[number, number]> =>
  bin1(values.map((v) => v - (v % 50_000))).sort((a, b) => a[0] - b[0])

const latencyText = (
  list: ReadonlyArray<{ readonly sysnum: number; readonly bins: ReadonlyArray<readonly [number, number]> }>,
  sysnum: number
) => {
  const h = list.find((e) => e.sysnum === sysnum)
  assert.isDefined(h, `no histogram for sysnum ${sysnum}`)
  return histText(h!.bins, 5)
}

describe("DynamoRIO schedule_stats_test.cpp", () => {
  const TID_A = 42
  const TID_B = 142
  const TID_C = 242

  it("test_basic_stats", () => {
    const memrefs: Array<Array<Rec>> = [
      [
        version(TID_A),
        gen_instr(TID_A),
        // Involuntary switch.
        gen_instr(TID_B),
        gen_marker(TID_B, MarkerType.TIMESTAMP, 1100),
        gen_marker(TID_B, MarkerType.SYSCALL, 0),
        gen_marker(TID_B, MarkerType.TIMESTAMP, 1600),
        // Voluntary switch, on non-maybe-blocking-marked syscall.
        gen_instr(TID_A),
        gen_instr(TID_A),
        gen_instr(TID_A),
        gen_marker(TID_A, MarkerType.TIMESTAMP, 2100),
        gen_marker(TID_A, MarkerType.SYSCALL, 0),
        gen_marker(TID_A, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        gen_marker(TID_A, MarkerType.DIRECT_THREAD_SWITCH, TID_C),
        gen_marker(TID_A, MarkerType.TIMESTAMP, 2300),
        // Direct switch.
        gen_instr(TID_C),
        // No switch: latency too small.
        gen_marker(TID_C, MarkerType.TIMESTAMP, 2500),
        gen_marker(TID_C, MarkerType.SYSCALL, 0),
        gen_marker(TID_C, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 2599),
        gen_instr(TID_C),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 3100),
        gen_marker(TID_C, MarkerType.SYSCALL, 0),
        gen_marker(TID_C, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        gen_marker(TID_C, MarkerType.DIRECT_THREAD_SWITCH, TID_A),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 3300),
        // Direct switch requested but failed.
        gen_instr(TID_C),
        gen_exit(TID_C),
        // An exit is a voluntary switch.
        gen_exit(TID_A)
      ],
      [
        version(TID_B),
        gen_instr(TID_B),
        // Involuntary switch.
        gen_instr(TID_A),
        // Involuntary switch.
        gen_instr(TID_C),
        gen_instr(TID_C),
        gen_instr(TID_C),
        // Wait.
        gen_marker(TID_C, MarkerType.CORE_WAIT, 0),
        gen_marker(TID_C, MarkerType.CORE_WAIT, 0),
        gen_marker(TID_C, MarkerType.CORE_WAIT, 0),
        // Involuntary switch.
        gen_instr(TID_B),
        gen_instr(TID_B),
        gen_instr(TID_B),
        gen_exit(TID_B)
      ]
    ]
    const run = runScheduleStats(memrefs)
    assertRecords(run, [
      [
        [0, TID_A, 1, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_B, 1, 0, 500, VOLUNTARY, DEFAULT, 2],
        [0, TID_A, 3, 0, 200, VOLUNTARY, DIRECT, 3],
        [0, TID_C, 3, -1, -1, VOLUNTARY, DEFAULT, 4]
      ],
      [
        [0, TID_B, 1, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_A, 1, -1, -1, INVOLUNTARY, DEFAULT, 2],
        [0, TID_C, 3, -1, -1, INVOLUNTARY, DEFAULT, 1]
      ]
    ])
    const result = run.result.total
    assert.strictEqual(result.instrs, 16)
    assert.strictEqual(result.totalSwitches, 7)
    assert.strictEqual(result.voluntarySwitches, 3)
    assert.strictEqual(result.directSwitches, 1)
    assert.strictEqual(result.syscalls, 4)
    assert.strictEqual(result.maybeBlockingSyscalls, 3)
    assert.strictEqual(result.directSwitchRequests, 2)
    // 5 migrations: A 0->1; B 1->0; A 1->0; C 0->1; B 0->1.
    assert.strictEqual(result.observedMigrations, 5)
    assert.strictEqual(result.waits, 3)
    assert.strictEqual(result.idleMicros, 0)
    assert.isAbove(result.cpuMicros, 20)
    assert.isAtLeast(result.waitMicros, 3)

    // Sanity check the histograms (bin size 1, rebuilt from what the tool added).
    const globalHist = histText(bin1(switchInstrs(run)), 1)
    assert.match(globalHist, /1.. *2 *4\n *3.. *4 *3\n/)
    assert.deepStrictEqual(result.instrsPerSwitch, atSwitchBin(switchInstrs(run)))
    assert.strictEqual(result.tidInstrsPerSwitch.length, 3)
    for (const { workload, tid, bins } of result.tidInstrsPerSwitch) {
      assert.strictEqual(workload, 0)
      const hist = histText(bin1(switchInstrs(run, tid)), 1)
      assert.deepStrictEqual(bins, atSwitchBin(switchInstrs(run, tid)))
      switch (tid) {
        case TID_A:
          assert.match(hist, /1.. *2 *2\n *3.. *4 *1\n/)
          break
        case TID_B:
          assert.match(hist, /1.. *2 *2\n/)
          break
        case TID_C:
          assert.match(hist, / *3.. *4 *2\n/)
          break
        default:
          assert.fail(`unexpected tid ${tid}`)
      }
    }
  })

  it("test_basic_stats_with_syscall_trace", () => {
    const memrefs: Array<Array<Rec>> = [
      [
        version(TID_A),
        gen_instr(TID_A),
        // Involuntary switch.
        gen_instr(TID_B),
        gen_marker(TID_B, MarkerType.TIMESTAMP, 1100),
        gen_marker(TID_B, MarkerType.SYSCALL, 0),
        gen_marker(TID_B, MarkerType.TIMESTAMP, 1600),
        gen_marker(TID_B, MarkerType.SYSCALL_TRACE_START, 0),
        gen_instr(TID_B),
        gen_marker(TID_B, MarkerType.SYSCALL_TRACE_END, 0),
        // Voluntary switch, on non-maybe-blocking-marked syscall.
        gen_instr(TID_A),
        gen_instr(TID_A),
        gen_instr(TID_A),
        gen_marker(TID_A, MarkerType.TIMESTAMP, 2100),
        gen_marker(TID_A, MarkerType.SYSCALL, 0),
        gen_marker(TID_A, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        gen_marker(TID_A, MarkerType.DIRECT_THREAD_SWITCH, TID_C),
        gen_marker(TID_A, MarkerType.SYSCALL_TRACE_START, 0),
        gen_instr(TID_A),
        gen_marker(TID_A, MarkerType.SYSCALL_TRACE_END, 0),
        gen_marker(TID_A, MarkerType.TIMESTAMP, 2300),
        // Direct switch.
        gen_marker(TID_C, MarkerType.CONTEXT_SWITCH_START, SWITCH_THREAD),
        gen_instr(TID_C),
        gen_marker(TID_C, MarkerType.CONTEXT_SWITCH_END, SWITCH_THREAD),
        gen_instr(TID_C),
        // No switch: latency too small.
        gen_marker(TID_C, MarkerType.TIMESTAMP, 2500),
        gen_marker(TID_C, MarkerType.SYSCALL, 0),
        gen_marker(TID_C, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        gen_marker(TID_C, MarkerType.SYSCALL_TRACE_START, 0),
        gen_instr(TID_C),
        gen_marker(TID_C, MarkerType.SYSCALL_TRACE_END, 0),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 2599),
        gen_instr(TID_C),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 3100),
        gen_marker(TID_C, MarkerType.SYSCALL, 0),
        gen_marker(TID_C, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        gen_marker(TID_C, MarkerType.DIRECT_THREAD_SWITCH, TID_A),
        gen_marker(TID_C, MarkerType.SYSCALL_TRACE_START, 0),
        gen_instr(TID_C),
        gen_marker(TID_C, MarkerType.SYSCALL_TRACE_END, 0),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 3300),
        // Direct switch requested but failed.
        gen_instr(TID_C),
        gen_exit(TID_C),
        // An exit is a voluntary switch.
        gen_exit(TID_A)
      ],
      [
        version(TID_B),
        gen_instr(TID_B),
        // Involuntary switch.
        gen_instr(TID_A),
        // Involuntary switch.
        gen_instr(TID_C),
        gen_instr(TID_C),
        gen_instr(TID_C),
        // Wait.
        gen_marker(TID_C, MarkerType.CORE_WAIT, 0),
        gen_marker(TID_C, MarkerType.CORE_WAIT, 0),
        gen_marker(TID_C, MarkerType.CORE_WAIT, 0),
        // Involuntary switch.
        gen_instr(TID_B),
        gen_instr(TID_B),
        gen_instr(TID_B),
        gen_exit(TID_B)
      ]
    ]
    const run = runScheduleStats(memrefs)
    assertRecords(run, [
      [
        [0, TID_A, 1, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_B, 1, 0, 500, VOLUNTARY, DEFAULT, 2],
        [0, TID_A, 3, 0, 200, VOLUNTARY, DIRECT, 3],
        [0, TID_C, 3, -1, -1, VOLUNTARY, DEFAULT, 4]
      ],
      [
        [0, TID_B, 1, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_A, 1, -1, -1, INVOLUNTARY, DEFAULT, 2],
        [0, TID_C, 3, -1, -1, INVOLUNTARY, DEFAULT, 1]
      ]
    ])
    const result = run.result.total
    assert.strictEqual(result.instrs, 21)
    // Following are the same as test_basic_stats.
    assert.strictEqual(result.totalSwitches, 7)
    assert.strictEqual(result.voluntarySwitches, 3)
    assert.strictEqual(result.directSwitches, 1)
    assert.strictEqual(result.syscalls, 4)
    assert.strictEqual(result.maybeBlockingSyscalls, 3)
    assert.strictEqual(result.directSwitchRequests, 2)
    // 5 migrations: A 0->1; B 1->0; A 1->0; C 0->1; B 0->1.
    assert.strictEqual(result.observedMigrations, 5)
    assert.strictEqual(result.waits, 3)
    assert.strictEqual(result.idleMicros, 0)
    assert.isAbove(result.cpuMicros, 20)
    assert.isAtLeast(result.waitMicros, 3)
  })

  it("test_idle", () => {
    const memrefs: Array<Array<Rec>> = [
      [
        gen_instr(TID_B),
        gen_instr(TID_B),
        // A switch to idle w/ no syscall is an involuntary switch.
        gen_marker(IDLE_THREAD_ID, MarkerType.CORE_IDLE, 0),
        gen_marker(IDLE_THREAD_ID, MarkerType.CORE_IDLE, 0),
        gen_marker(IDLE_THREAD_ID, MarkerType.CORE_IDLE, 0),
        // A switch from idle is not counted.
        gen_instr(TID_B),
        gen_instr(TID_B),
        gen_instr(TID_B),
        gen_exit(TID_B)
      ],
      [
        // This is a start-idle core.
        gen_marker(IDLE_THREAD_ID, MarkerType.CORE_IDLE, 0),
        // Switch to the first thread from the start-idle state.
        // A switch from idle is not counted.
        gen_instr(TID_C),
        // Involuntary switch.
        gen_instr(TID_A),
        // Involuntary switch.
        gen_instr(TID_C),
        // A switch to idle w/ no syscall is an involuntary switch.
        gen_marker(IDLE_THREAD_ID, MarkerType.CORE_IDLE, 0),
        gen_marker(IDLE_THREAD_ID, MarkerType.CORE_IDLE, 0),
        gen_marker(IDLE_THREAD_ID, MarkerType.CORE_IDLE, 0),
        // A switch from idle is not counted.
        gen_instr(TID_C),
        gen_instr(TID_C),
        // Involuntary switch.
        // Wait.
        gen_marker(TID_C, MarkerType.CORE_WAIT, 0),
        gen_marker(TID_C, MarkerType.CORE_WAIT, 0),
        gen_marker(TID_C, MarkerType.CORE_WAIT, 0),
        gen_instr(TID_A),
        gen_instr(TID_A),
        gen_instr(TID_A),
        gen_exit(TID_A),
        // An exit is a voluntary switch.
        gen_exit(TID_C)
      ]
    ]
    const run = runScheduleStats(memrefs)
    assertRecords(run, [
      [[0, TID_B, 2, -1, -1, INVOLUNTARY, DEFAULT, 1]],
      [
        [0, TID_C, 1, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_A, 1, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_C, 1, -1, -1, INVOLUNTARY, DEFAULT, 2],
        [0, TID_C, 2, -1, -1, INVOLUNTARY, DEFAULT, 3],
        [0, TID_A, 3, -1, -1, VOLUNTARY, DEFAULT, 2]
      ]
    ])
    const result = run.result.total
    assert.strictEqual(result.instrs, 13)
    assert.strictEqual(result.totalSwitches, 6)
    assert.strictEqual(result.voluntarySwitches, 1)
    assert.strictEqual(result.directSwitches, 0)
    assert.strictEqual(result.syscalls, 0)
    assert.strictEqual(result.maybeBlockingSyscalls, 0)
    assert.strictEqual(result.directSwitchRequests, 0)
    assert.strictEqual(result.observedMigrations, 0)
    assert.strictEqual(result.waits, 3)
    assert.strictEqual(result.idles, 7)
    assert.isAtLeast(result.idleMicros, 6)
    assert.isTrue(
      result.idleMicrosAtLastInstr > 0 && result.idleMicrosAtLastInstr <= result.idleMicros,
      `idle_micros_at_last_instr ${result.idleMicrosAtLastInstr}, idle_microseconds ${result.idleMicros}`
    )
    assert.isAbove(result.cpuMicros, 10)
    assert.isAtLeast(result.waitMicros, 3)
  })

  it("test_cpu_footprint", () => {
    // PID_X 1234 and PID_Y 5678 as workloads 1 and 2.
    const PID_X = 1
    const PID_Y = 2
    const memrefs: Array<Array<Rec>> = [
      [
        gen_instr(TID_A, PID_X),
        gen_instr(TID_B, PID_X),
        // Test identical tids in different workloads.
        gen_instr(TID_A, PID_Y)
      ],
      [gen_instr(TID_A, PID_Y)],
      [gen_instr(TID_C, PID_Y), gen_instr(TID_A, PID_X)],
      [gen_instr(TID_C, PID_Y)],
      [gen_instr(TID_C, PID_Y)]
    ]
    const run = runScheduleStats(memrefs)
    assertRecords(run, [
      [
        [PID_X, TID_A, 1, -1, -1],
        [PID_X, TID_B, 1, -1, -1]
      ],
      [],
      [[PID_Y, TID_C, 1, -1, -1]],
      [],
      []
    ])
    assert.strictEqual(run.result.total.instrs, 8)
    const hist = histText(run.result.total.coresPerThread, 1)
    // We expect X.A=2, X.B=1, Y.A=2, Y.C=3:
    assert.strictEqual(
      hist,
      "           1..       2     1\n" + "           2..       3     2\n" + "           3..       4     1\n"
    )
  })

  const TID_D = 199
  const TID_E = 222
  const SYSNUM_X = 12
  const SYSNUM_Y = 167

  it("test_syscall_latencies", () => {
    const memrefs: Array<Array<Rec>> = [
      [
        version(TID_A),
        gen_instr(TID_A),
        // Involuntary switch: ignored for syscall latencies.
        gen_instr(TID_B),
        gen_marker(TID_B, MarkerType.TIMESTAMP, 1100),
        gen_marker(TID_B, MarkerType.SYSCALL, SYSNUM_X),
        gen_marker(TID_B, MarkerType.TIMESTAMP, 1600),
        // Voluntary switch: latency 500.
        gen_instr(TID_A),
        gen_instr(TID_A),
        gen_instr(TID_A),
        gen_marker(TID_A, MarkerType.TIMESTAMP, 2100),
        gen_marker(TID_A, MarkerType.SYSCALL, SYSNUM_Y),
        gen_marker(TID_A, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        gen_marker(TID_A, MarkerType.DIRECT_THREAD_SWITCH, TID_C),
        gen_marker(TID_A, MarkerType.TIMESTAMP, 2300),
        // Direct switch: latency 200.
        gen_instr(TID_C),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 2500),
        gen_marker(TID_C, MarkerType.SYSCALL, SYSNUM_X),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 2599),
        // No switch: latency 99 too small.
        gen_instr(TID_C),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 3100),
        gen_marker(TID_C, MarkerType.SYSCALL, SYSNUM_Y),
        gen_marker(TID_C, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        gen_marker(TID_C, MarkerType.DIRECT_THREAD_SWITCH, TID_A),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 3300),
        // Direct switch requested but failed: latency 200.
        gen_instr(TID_C),
        gen_exit(TID_C),
        gen_exit(TID_A)
      ],
      [
        version(TID_C),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 3400),
        gen_marker(TID_C, MarkerType.SYSCALL, SYSNUM_X),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 4400),
        // Voluntary switch: latency 1000.
        // Test a thread starting at a recorded syscall after another thread on a
        // core.
        gen_marker(TID_E, MarkerType.TIMESTAMP, 4500),
        gen_marker(TID_E, MarkerType.FUNC_ID, 202),
        gen_marker(TID_E, MarkerType.FUNC_RETVAL, -4),
        gen_marker(TID_E, MarkerType.SYSCALL_FAILED, 4),
        gen_marker(TID_E, MarkerType.TIMESTAMP, 5200),
        // Preempt to D so no latency should be recorded here, despite
        // there being a syscall with no regular instr records in between.
        gen_instr(TID_D),
        gen_exit(TID_E),
        gen_exit(TID_B)
      ],
      [
        version(TID_D),
        // Test a thread starting at a recorded syscall first thing on a core.
        gen_marker(TID_D, MarkerType.TIMESTAMP, 1500),
        gen_marker(TID_D, MarkerType.FUNC_ID, 202),
        gen_marker(TID_D, MarkerType.FUNC_RETVAL, -4),
        gen_marker(TID_D, MarkerType.SYSCALL_FAILED, 4),
        gen_marker(TID_D, MarkerType.TIMESTAMP, 3200),
        // Preempt to E so no latency should be recorded here.
        gen_instr(TID_E),
        gen_exit(TID_D)
      ]
    ]
    const run = runScheduleStats(memrefs)
    assertRecords(run, [
      [
        [0, TID_A, 1, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_B, 1, 12, 500, VOLUNTARY, DEFAULT, 1],
        [0, TID_A, 3, 167, 200, VOLUNTARY, DIRECT, 2],
        [0, TID_C, 3, -1, -1, VOLUNTARY, DEFAULT, 1]
      ],
      [
        [0, TID_C, 0, 12, 1000, VOLUNTARY, DEFAULT, 1],
        [0, TID_E, 0, -1, -1, VOLUNTARY, DEFAULT, 1],
        [0, TID_D, 1, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_E, 0, -1, -1, VOLUNTARY, DEFAULT, 2]
      ],
      [
        [0, TID_D, 0, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_E, 1, -1, -1, INVOLUNTARY, DEFAULT, 1]
      ]
    ])
    const result = run.result.total
    assert.strictEqual(
      latencyText(result.sysnumSwitchLatency, SYSNUM_X),
      "         500..     505     1\n        1000..    1005     1\n"
    )
    assert.strictEqual(latencyText(result.sysnumNoswitchLatency, SYSNUM_X), "          95..     100     1\n")
    assert.strictEqual(latencyText(result.sysnumSwitchLatency, SYSNUM_Y), "         200..     205     1\n")
    assert.strictEqual(latencyText(result.sysnumNoswitchLatency, SYSNUM_Y), "         200..     205     1\n")
  })

  it("test_syscall_latencies_with_kernel_trace", () => {
    const kernel = (tid: number, n: number) => Array.from({ length: n }, () => gen_instr(tid))
    const memrefs: Array<Array<Rec>> = [
      [
        version(TID_A),
        gen_instr(TID_A),
        // Involuntary switch: ignored for syscall latencies.
        gen_instr(TID_B),
        gen_marker(TID_B, MarkerType.TIMESTAMP, 1100),
        gen_marker(TID_B, MarkerType.SYSCALL, SYSNUM_X),
        gen_marker(TID_B, MarkerType.SYSCALL_TRACE_START, SYSNUM_X),
        ...kernel(TID_B, 5),
        gen_marker(TID_B, MarkerType.SYSCALL_TRACE_END, SYSNUM_X),
        gen_marker(TID_B, MarkerType.TIMESTAMP, 1600),
        // Voluntary switch: latency 500.
        gen_instr(TID_A),
        gen_instr(TID_A),
        gen_instr(TID_A),
        gen_marker(TID_A, MarkerType.TIMESTAMP, 2100),
        gen_marker(TID_A, MarkerType.SYSCALL, SYSNUM_Y),
        gen_marker(TID_A, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        gen_marker(TID_A, MarkerType.DIRECT_THREAD_SWITCH, TID_C),
        gen_marker(TID_A, MarkerType.SYSCALL_TRACE_START, SYSNUM_Y),
        ...kernel(TID_A, 6),
        gen_marker(TID_A, MarkerType.SYSCALL_TRACE_END, SYSNUM_Y),
        gen_marker(TID_A, MarkerType.TIMESTAMP, 2300),
        // Direct switch: latency 200.
        gen_marker(TID_C, MarkerType.CONTEXT_SWITCH_START, SWITCH_THREAD),
        ...kernel(TID_C, 4),
        gen_marker(TID_C, MarkerType.CONTEXT_SWITCH_END, SWITCH_THREAD),
        gen_instr(TID_C),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 2500),
        gen_marker(TID_C, MarkerType.SYSCALL, SYSNUM_X),
        gen_marker(TID_C, MarkerType.SYSCALL_TRACE_START, SYSNUM_X),
        ...kernel(TID_C, 6),
        gen_marker(TID_C, MarkerType.SYSCALL_TRACE_END, SYSNUM_X),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 2599),
        // No switch: latency 99 too small.
        gen_instr(TID_C),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 3100),
        gen_marker(TID_C, MarkerType.SYSCALL, SYSNUM_Y),
        gen_marker(TID_C, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        gen_marker(TID_C, MarkerType.DIRECT_THREAD_SWITCH, TID_A),
        gen_marker(TID_C, MarkerType.SYSCALL_TRACE_START, SYSNUM_Y),
        ...kernel(TID_C, 6),
        gen_marker(TID_C, MarkerType.SYSCALL_TRACE_END, SYSNUM_Y),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 3300),
        // Direct switch requested but failed: latency 200.
        gen_instr(TID_C),
        gen_exit(TID_C),
        gen_exit(TID_A)
      ],
      [
        version(TID_C),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 3400),
        gen_marker(TID_C, MarkerType.SYSCALL, SYSNUM_X),
        gen_marker(TID_C, MarkerType.SYSCALL_TRACE_START, SYSNUM_X),
        ...kernel(TID_C, 7),
        gen_marker(TID_C, MarkerType.SYSCALL_TRACE_END, SYSNUM_X),
        gen_marker(TID_C, MarkerType.TIMESTAMP, 4400),
        // Voluntary switch: latency 1000.
        // Test a thread starting at a recorded syscall after another thread on a
        // core.
        gen_marker(TID_E, MarkerType.TIMESTAMP, 4500),
        gen_marker(TID_E, MarkerType.FUNC_ID, 202),
        gen_marker(TID_E, MarkerType.FUNC_RETVAL, -4),
        gen_marker(TID_E, MarkerType.SYSCALL_FAILED, 4),
        gen_marker(TID_E, MarkerType.TIMESTAMP, 5200),
        // Preempt to D so no latency should be recorded here, despite
        // there being a syscall with no regular instr records in between.
        gen_instr(TID_D),
        gen_exit(TID_E),
        gen_exit(TID_B)
      ],
      [
        version(TID_D),
        // Test a thread starting at a recorded syscall first thing on a core.
        gen_marker(TID_D, MarkerType.TIMESTAMP, 1500),
        gen_marker(TID_D, MarkerType.FUNC_ID, 202),
        gen_marker(TID_D, MarkerType.FUNC_RETVAL, -4),
        gen_marker(TID_D, MarkerType.SYSCALL_FAILED, 4),
        gen_marker(TID_D, MarkerType.TIMESTAMP, 3200),
        // Preempt to E so no latency should be recorded here.
        gen_instr(TID_E),
        gen_exit(TID_D)
      ]
    ]
    const run = runScheduleStats(memrefs)
    // Ensure the schedule record only includes user-mode instructions.
    assertRecords(run, [
      [
        [0, TID_A, 1, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_B, 1, 12, 500, VOLUNTARY, DEFAULT, 1],
        [0, TID_A, 3, 167, 200, VOLUNTARY, DIRECT, 2],
        [0, TID_C, 3, -1, -1, VOLUNTARY, DEFAULT, 8]
      ],
      [
        [0, TID_C, 0, 12, 1000, VOLUNTARY, DEFAULT, 1],
        [0, TID_E, 0, -1, -1, VOLUNTARY, DEFAULT, 2],
        [0, TID_D, 1, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_E, 0, -1, -1, VOLUNTARY, DEFAULT, 2]
      ],
      [
        [0, TID_D, 0, -1, -1, INVOLUNTARY, DEFAULT, 1],
        [0, TID_E, 1, -1, -1, INVOLUNTARY, DEFAULT, 1]
      ]
    ])
    const result = run.result.total
    // Following are the same as test_syscall_latencies.
    assert.strictEqual(
      latencyText(result.sysnumSwitchLatency, SYSNUM_X),
      "         500..     505     1\n        1000..    1005     1\n"
    )
    assert.strictEqual(latencyText(result.sysnumNoswitchLatency, SYSNUM_X), "          95..     100     1\n")
    assert.strictEqual(latencyText(result.sysnumSwitchLatency, SYSNUM_Y), "         200..     205     1\n")
    assert.strictEqual(latencyText(result.sysnumNoswitchLatency, SYSNUM_Y), "         200..     205     1\n")

    // Ensure the switch rate histograms do not count kernel templates.
    // The kernel templates above have more instructions than the user
    // sequences, and if counted produce segments from 6 to 20 instructions,
    // so we ensure we see at most 4 instructions in a segment.
    const globalHist = histText(bin1(switchInstrs(run)), 1)
    assert.match(globalHist, /0.. *1 *4\n *1.. *2 *4\n *3.. *4 *2\n/)
    assert.deepStrictEqual(result.instrsPerSwitch, atSwitchBin(switchInstrs(run)))
  })

  it("test_core_ratio", () => {
    // PID 1234 as workload 1.
    const PID = 1
    const TID = 242
    const instrs = (n: number) => Array.from({ length: n }, () => gen_instr(TID, PID))
    const memrefs = [instrs(4), instrs(9), instrs(3)]
    const tool = makeTool()
    const { result } = runScheduleStatsWithTool(tool, memrefs)
    // DynamoRIO's max_core_activity_ratio_ and max_core_instruction_ratio_.
    const activityRatio = result.maxActivity / result.minActivity
    assert.isTrue(activityRatio > 2.999 && activityRatio <= 3.001, `core activity ratio ${activityRatio}`)
    const instructionRatio = result.maxInstrs / result.minInstrs
    assert.isTrue(instructionRatio > 2.999 && instructionRatio <= 3.001, `core instruction ratio ${instructionRatio}`)
  })
})

/**
 * Not a sub-case of schedule_stats_test.cpp: what its mock stream's
 * `get_version()` stands for in a real run. DynamoRIO's scheduler sets each
 * output stream's version (and filetype, timestamps, …) from its first input
 * up front, "in case we did a skip for ROI" (scheduler_impl.cpp,
 * set_cur_input), so schedule_stats computes syscall latencies after
 * -skip_instrs too; memtrace's tool learns the version only from VERSION
 * markers, which a skip passes over.
 */
describe("DynamoRIO schedule_stats_test.cpp's mock get_version in a real run", () => {
  it.live("syscall latencies after -skip_instrs (the stream's version, set before any record)", () =>
    Effect.gen(function* () {
      const tool = ScheduleStats.make()
      const run = yield* Analyzer.run("../shared/traces/drmemtrace.threadsig.x64.tracedir", {
        tools: [tool],
        mode: "core-sharded",
        skipInstrs: 1000,
        scheduler: { blockTimeMultiplier: 0.01 }
      })
      const result = run.tools[0]!.result as ScheduleStats.Result
      const samples = (l: ReadonlyArray<{ readonly bins: ReadonlyArray<readonly [number, number]> }>) =>
        l.reduce((n, h) => n + h.bins.reduce((m, [, c]) => m + c, 0), 0)
      // Every core that saw system calls timed some of them (without the skip: 471 samples of 480 syscalls).
      for (const core of result.cores) {
        if (core.counts.syscalls === 0) continue
        assert.isAbove(
          samples(core.counts.sysnumSwitchLatency) + samples(core.counts.sysnumNoswitchLatency),
          0,
          `core ${core.core}: ${core.counts.syscalls} system calls, no latency`
        )
      }
    })
  )
})
