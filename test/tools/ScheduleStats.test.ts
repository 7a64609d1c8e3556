import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import type * as Tool from "../../src/analyzer/Tool.ts"
import { StdUnordered } from "../../src/tools/internal/StdUnordered.ts"
import * as Registry from "../../src/tools/Registry.ts"
import * as ScheduleStats from "../../src/tools/ScheduleStats.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { TRACE_PATHS } from "../utils/expected.ts"
import { runPath, runTool } from "../utils/runTool.ts"

// ---------------------------------------------------------------------------
// A lockstep driver like DynamoRIO's schedule_stats_test.cpp: every core gets
// one record per round, each as a one-record batch whose origin carries the
// input's instruction count so far (inputs are the (workload, tid) pairs).

interface Rec {
  readonly type: number
  readonly marker?: number
  readonly tid: number
  readonly workload?: number
  readonly value?: number
}

const instr = (tid: number, workload = 0): Rec => ({ type: TraceType.INSTR, tid, workload })
const marker = (tid: number, m: number, value = 0): Rec => ({ type: TraceType.MARKER, marker: m, tid, value })
const exit = (tid: number): Rec => ({ type: TraceType.THREAD_EXIT, tid })
const idle = (): Rec => marker(-1, MarkerType.CORE_IDLE)
const wait = (tid: number): Rec => marker(tid, MarkerType.CORE_WAIT)
const timestamp = (tid: number, ts: number) => marker(tid, MarkerType.TIMESTAMP, ts)
// DynamoRIO's mock stream reports the current trace version: the tool reads ours from the VERSION marker.
const version = (tid: number) => marker(tid, MarkerType.VERSION, 7)

const lockstep = (
  tool: ReturnType<typeof ScheduleStats.make>,
  cores: ReadonlyArray<ReadonlyArray<Rec>>
): { readonly shards: Array<ScheduleStats.CoreData>; readonly result: ScheduleStats.Result } => {
  const states = cores.map((_, c) =>
    tool.makeShard({ shardIndex: c, shardType: "core", serial: false, outputCount: cores.length })
  )
  const inputs = new Map<string, { ordinal: number; instrs: number; records: number }>()
  const ctx: Tool.BatchContext = { output: 0, input: -1, outputRecordsBefore: 0, inputRecordsBefore: 0 }
  const rounds = Math.max(...cores.map((c) => c.length))
  for (let step = 0; step < rounds; step++) {
    cores.forEach((records, c) => {
      const r = records[step]
      if (r === undefined) return
      const synthetic = r.marker === MarkerType.CORE_IDLE || r.marker === MarkerType.CORE_WAIT
      const key = `${r.workload ?? 0}:${r.tid}`
      let input = inputs.get(key)
      if (input === undefined && synthetic) input = { ordinal: -1, instrs: 0, records: 0 }
      else if (input === undefined) {
        input = { ordinal: inputs.size, instrs: 0, records: 0 }
        inputs.set(key, input)
      }
      const b = RecordBatch.make(16)
      b.type[0] = r.type
      b.size[0] = r.marker ?? 1
      b.addrLo[0] = r.value === undefined ? 0x1000 : r.value % 2 ** 32
      b.addrHi[0] = r.value === undefined ? 0 : Math.floor(r.value / 2 ** 32)
      b.tid[0] = (r.workload ?? 0) * 2 ** 48 + r.tid
      RecordBatch.setLength(b, 1)
      RecordBatch.setOrigin(b, synthetic ? -1 : input.ordinal, input.records + 1, input.instrs)
      ctx.output = c
      ctx.input = synthetic ? -1 : input.ordinal
      ctx.inputRecordsBefore = synthetic ? 0 : input.records
      const signal = tool.processBatch(states[c]!, b, 0, 1, ctx)
      assert.isUndefined(signal)
      ctx.outputRecordsBefore++
      if (!synthetic) input.records++
      if (r.type === TraceType.INSTR) input.instrs++
    })
  }
  const outcomes = states.map((s, c) => {
    const finished = tool.finishShard(s) as ScheduleStats.ShardResult
    // As across a worker thread.
    const result = Schema.decodeUnknownSync(ScheduleStats.ShardResult)(
      JSON.parse(JSON.stringify(Schema.encodeSync(ScheduleStats.ShardResult)(finished)))
    )
    return { shardIndex: c, shardType: "core" as const, result }
  })
  return { shards: outcomes.flatMap((o) => o.result.cores), result: tool.merge(outcomes) }
}

type Expected = readonly [
  workload: number,
  tid: number,
  instructions: number,
  syscallNumber: number,
  latency: number,
  voluntary: boolean,
  direct: boolean,
  start: number
]
const records = (core: ScheduleStats.CoreData): Array<Expected> =>
  core.switchRecords.map((r) => [
    r.workload,
    r.tid,
    r.instructions,
    r.syscallNumber,
    r.syscallLatency,
    r.voluntary,
    r.direct,
    r.inputInstrStart
  ])

const VOL = true
const INVOL = false
const DIRECT = true
const DEFAULT = false

const TID_A = 42
const TID_B = 142
const TID_C = 242

const allRecords = () => ScheduleStats.make({ verbose: 2 })

const section = (text: string, heading: string): Array<string> => {
  const lines = text.split("\n")
  const at = lines.indexOf(heading)
  assert.isAtLeast(at, 0, heading)
  const out: Array<string> = []
  for (let i = at + 1; i < lines.length && lines[i]!.startsWith("   "); i++) out.push(lines[i]!)
  return out
}

describe("schedule_stats", () => {
  describe("switch classification (DynamoRIO's schedule_stats_test vectors)", () => {
    it("counts swap-outs: involuntary, voluntary after a syscall or exit, direct to the requested thread", () => {
      const { shards, result } = lockstep(allRecords(), [
        [
          version(TID_A),
          instr(TID_A),
          // Involuntary switch.
          instr(TID_B),
          timestamp(TID_B, 1100),
          marker(TID_B, MarkerType.SYSCALL, 0),
          timestamp(TID_B, 1600),
          // Voluntary switch, on a syscall not marked maybe-blocking.
          instr(TID_A),
          instr(TID_A),
          instr(TID_A),
          timestamp(TID_A, 2100),
          marker(TID_A, MarkerType.SYSCALL, 0),
          marker(TID_A, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
          marker(TID_A, MarkerType.DIRECT_THREAD_SWITCH, TID_C),
          timestamp(TID_A, 2300),
          // Direct switch.
          instr(TID_C),
          // No switch: the latency is too small.
          timestamp(TID_C, 2500),
          marker(TID_C, MarkerType.SYSCALL, 0),
          marker(TID_C, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
          timestamp(TID_C, 2599),
          instr(TID_C),
          timestamp(TID_C, 3100),
          marker(TID_C, MarkerType.SYSCALL, 0),
          marker(TID_C, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
          marker(TID_C, MarkerType.DIRECT_THREAD_SWITCH, TID_A),
          timestamp(TID_C, 3300),
          // The direct switch was requested but did not happen.
          instr(TID_C),
          exit(TID_C),
          // An exit is a voluntary switch.
          exit(TID_A)
        ],
        [
          version(TID_B),
          instr(TID_B),
          // Involuntary switch.
          instr(TID_A),
          // Involuntary switch.
          instr(TID_C),
          instr(TID_C),
          instr(TID_C),
          wait(TID_C),
          wait(TID_C),
          wait(TID_C),
          // Involuntary switch.
          instr(TID_B),
          instr(TID_B),
          instr(TID_B),
          exit(TID_B)
        ]
      ])
      assert.deepStrictEqual(records(shards[0]!), [
        [0, TID_A, 1, -1, -1, INVOL, DEFAULT, 1],
        [0, TID_B, 1, 0, 500, VOL, DEFAULT, 2],
        [0, TID_A, 3, 0, 200, VOL, DIRECT, 3],
        [0, TID_C, 3, -1, -1, VOL, DEFAULT, 4]
      ])
      assert.deepStrictEqual(records(shards[1]!), [
        [0, TID_B, 1, -1, -1, INVOL, DEFAULT, 1],
        [0, TID_A, 1, -1, -1, INVOL, DEFAULT, 2],
        [0, TID_C, 3, -1, -1, INVOL, DEFAULT, 1]
      ])
      const t = result.total
      assert.strictEqual(t.instrs, 16)
      assert.strictEqual(t.totalSwitches, 7)
      assert.strictEqual(t.voluntarySwitches, 3)
      assert.strictEqual(t.directSwitches, 1)
      assert.strictEqual(t.syscalls, 4)
      assert.strictEqual(t.maybeBlockingSyscalls, 3)
      assert.strictEqual(t.directSwitchRequests, 2)
      // A 0->1, B 1->0, A 1->0, C 1->0, B 0->1.
      assert.strictEqual(t.observedMigrations, 5)
      assert.strictEqual(t.waits, 3)
      assert.strictEqual(t.idleMicros, 0)
      // Every switch ran fewer than 50,000 instructions: A 3 times, B and C twice.
      assert.deepStrictEqual(t.instrsPerSwitch, [[0, 7]])
      // Listed in libstdc++'s order: core 0's map iterates C, B, A (newest first),
      // and the total, filled from it, iterates A, B, C.
      assert.deepStrictEqual(
        t.tidInstrsPerSwitch.map((h) => [h.tid, h.bins]),
        [
          [TID_A, [[0, 3]]],
          [TID_B, [[0, 2]]],
          [TID_C, [[0, 2]]]
        ]
      )
    })

    it("counts a switch to idle but not from idle, and starts a segment after idle at the input's next instruction", () => {
      const { shards, result } = lockstep(allRecords(), [
        [
          instr(TID_B),
          instr(TID_B),
          // A switch to idle without a syscall is involuntary.
          idle(),
          idle(),
          idle(),
          // A switch from idle is not counted.
          instr(TID_B),
          instr(TID_B),
          instr(TID_B),
          exit(TID_B)
        ],
        [
          // A core that starts idle.
          idle(),
          instr(TID_C),
          instr(TID_A),
          instr(TID_C),
          idle(),
          idle(),
          idle(),
          instr(TID_C),
          instr(TID_C),
          wait(TID_C),
          wait(TID_C),
          wait(TID_C),
          instr(TID_A),
          instr(TID_A),
          instr(TID_A),
          exit(TID_A),
          exit(TID_C)
        ]
      ])
      assert.deepStrictEqual(records(shards[0]!), [[0, TID_B, 2, -1, -1, INVOL, DEFAULT, 1]])
      assert.deepStrictEqual(records(shards[1]!), [
        [0, TID_C, 1, -1, -1, INVOL, DEFAULT, 1],
        [0, TID_A, 1, -1, -1, INVOL, DEFAULT, 1],
        [0, TID_C, 1, -1, -1, INVOL, DEFAULT, 2],
        [0, TID_C, 2, -1, -1, INVOL, DEFAULT, 3],
        [0, TID_A, 3, -1, -1, VOL, DEFAULT, 2]
      ])
      const t = result.total
      assert.strictEqual(t.instrs, 13)
      assert.strictEqual(t.totalSwitches, 6)
      assert.strictEqual(t.voluntarySwitches, 1)
      assert.strictEqual(t.directSwitches, 0)
      assert.strictEqual(t.observedMigrations, 0)
      assert.strictEqual(t.waits, 3)
      assert.strictEqual(t.idles, 7)
      // Letters are input ordinals in order of appearance (B is A, C is B, A is C);
      // core 1's last record, C's exit, switches back to C.
      assert.deepStrictEqual(
        result.cores.map((c) => c.schedule),
        ["A_A", "_BCB_B-CB"]
      )
    })

    it("counts the cores each (workload, tid) ran on", () => {
      // DynamoRIO's test uses pids 1234 and 5678 as workloads X and Y.
      const X = 1
      const Y = 2
      const { shards, result } = lockstep(allRecords(), [
        [instr(TID_A, X), instr(TID_B, X), instr(TID_A, Y)],
        [instr(TID_A, Y)],
        [instr(TID_C, Y), instr(TID_A, X)],
        [instr(TID_C, Y)],
        [instr(TID_C, Y)]
      ])
      assert.deepStrictEqual(
        shards.map((s) => records(s).map((r) => r.slice(0, 5))),
        [
          [
            [X, TID_A, 1, -1, -1],
            [X, TID_B, 1, -1, -1]
          ],
          [],
          [[Y, TID_C, 1, -1, -1]],
          [],
          []
        ]
      )
      assert.strictEqual(result.total.instrs, 8)
      // X.A on 2 cores, X.B on 1, Y.A on 2, Y.C on 3.
      assert.deepStrictEqual(result.total.coresPerThread, [
        [1, 1],
        [2, 2],
        [3, 1]
      ])
      assert.deepStrictEqual(section(ScheduleStats.make().print(result), "  Cores per thread:"), [
        "           1..       2     1",
        "           2..       3     2",
        "           3..       4     1"
      ])
    })

    it("bins syscall latencies by number, split by whether the syscall ended in a switch", () => {
      const TID_D = 199
      const TID_E = 222
      const X = 12
      const Y = 167
      const { shards, result } = lockstep(allRecords(), [
        [
          version(TID_A),
          instr(TID_A),
          // Involuntary switch: no latency.
          instr(TID_B),
          timestamp(TID_B, 1100),
          marker(TID_B, MarkerType.SYSCALL, X),
          timestamp(TID_B, 1600),
          // Voluntary switch: latency 500.
          instr(TID_A),
          instr(TID_A),
          instr(TID_A),
          timestamp(TID_A, 2100),
          marker(TID_A, MarkerType.SYSCALL, Y),
          marker(TID_A, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
          marker(TID_A, MarkerType.DIRECT_THREAD_SWITCH, TID_C),
          timestamp(TID_A, 2300),
          // Direct switch: latency 200.
          instr(TID_C),
          timestamp(TID_C, 2500),
          marker(TID_C, MarkerType.SYSCALL, X),
          timestamp(TID_C, 2599),
          // No switch: latency 99.
          instr(TID_C),
          timestamp(TID_C, 3100),
          marker(TID_C, MarkerType.SYSCALL, Y),
          marker(TID_C, MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
          marker(TID_C, MarkerType.DIRECT_THREAD_SWITCH, TID_A),
          timestamp(TID_C, 3300),
          // A direct switch that did not happen: no-switch latency 200.
          instr(TID_C),
          exit(TID_C),
          exit(TID_A)
        ],
        [
          version(TID_C),
          timestamp(TID_C, 3400),
          marker(TID_C, MarkerType.SYSCALL, X),
          timestamp(TID_C, 4400),
          // Voluntary switch: latency 1000. E starts at a recorded syscall after another thread.
          timestamp(TID_E, 4500),
          marker(TID_E, MarkerType.FUNC_ID, 202),
          marker(TID_E, MarkerType.FUNC_RETVAL, 2 ** 32 - 4),
          marker(TID_E, MarkerType.SYSCALL_FAILED, 4),
          timestamp(TID_E, 5200),
          // Preempted to D: no latency, although no instruction came since a syscall.
          instr(TID_D),
          exit(TID_E),
          exit(TID_B)
        ],
        [
          version(TID_D),
          // A thread starting at a recorded syscall, first thing on a core.
          timestamp(TID_D, 1500),
          marker(TID_D, MarkerType.FUNC_ID, 202),
          marker(TID_D, MarkerType.FUNC_RETVAL, 2 ** 32 - 4),
          marker(TID_D, MarkerType.SYSCALL_FAILED, 4),
          timestamp(TID_D, 3200),
          instr(TID_E),
          exit(TID_D)
        ]
      ])
      assert.deepStrictEqual(
        shards.map((s) => records(s)),
        [
          [
            [0, TID_A, 1, -1, -1, INVOL, DEFAULT, 1],
            [0, TID_B, 1, X, 500, VOL, DEFAULT, 1],
            [0, TID_A, 3, Y, 200, VOL, DIRECT, 2],
            [0, TID_C, 3, -1, -1, VOL, DEFAULT, 1]
          ],
          [
            [0, TID_C, 0, X, 1000, VOL, DEFAULT, 1],
            [0, TID_E, 0, -1, -1, VOL, DEFAULT, 1],
            [0, TID_D, 1, -1, -1, INVOL, DEFAULT, 1],
            [0, TID_E, 0, -1, -1, VOL, DEFAULT, 2]
          ],
          [
            [0, TID_D, 0, -1, -1, INVOL, DEFAULT, 1],
            [0, TID_E, 1, -1, -1, INVOL, DEFAULT, 1]
          ]
        ]
      )
      const text = ScheduleStats.make().print(result)
      const totals = text.slice(0, text.indexOf("Core #0 counts:")).split("\n")
      const latencies = (heading: string, sysnum: number) => {
        const at = totals.indexOf(heading)
        const from = totals.indexOf(`    #${sysnum}`, at)
        const out: Array<string> = []
        for (let i = from + 1; i < totals.length && totals[i]!.startsWith("     "); i++) out.push(totals[i]!)
        return out
      }
      const switched = "  Latencies for syscalls that incurred a switch:"
      const notSwitched = "  Latencies for syscalls that did not incur a switch:"
      assert.deepStrictEqual(latencies(switched, X), ["         500..     505     1", "        1000..    1005     1"])
      assert.deepStrictEqual(latencies(notSwitched, X), ["          95..     100     1"])
      assert.deepStrictEqual(latencies(switched, Y), ["         200..     205     1"])
      assert.deepStrictEqual(latencies(notSwitched, Y), ["         200..     205     1"])
    })
  })

  describe("schedule strings", () => {
    it("rejects a printEvery below 1, naming the option `<tool>: <option> …`", () => {
      // The library's option name: the CLI names -schedule_stats_print_every instead.
      assert.throws(
        () => ScheduleStats.make({ printEvery: 0 }),
        RangeError,
        "schedule_stats: printEvery must be a positive integer, got 0"
      )
    })

    it("adds a lower-case letter every printEvery instructions and another _ every printEvery idles", () => {
      const { result } = lockstep(ScheduleStats.make({ printEvery: 2 }), [
        [
          instr(TID_A),
          instr(TID_A),
          instr(TID_A),
          instr(TID_A),
          instr(TID_A),
          idle(),
          idle(),
          idle(),
          idle(),
          idle(),
          instr(TID_B)
        ]
      ])
      // Inputs are lettered by ordinal: A is input 0, B input 1.
      assert.strictEqual(result.cores[0]!.schedule, "Aaa___B")
    })
  })

  describe("DynamoRIO's vectors on real traces", () => {
    it.effect("core-sharded on disk, -no_core_sharded: each core's string is one DynamoRIO lists", () =>
      Effect.gen(function* () {
        const r = yield* runPath(ScheduleStats.make(), TRACE_PATHS["threadsig-core-sharded"]!)
        const allowed = ["WHL_L_H_L_L_L_L_W", "DI_D_D__", "EM_E_M_", "GF_F_F_"]
        const lines = r.text.split("\n").filter((l) => l.includes(" schedule: "))
        assert.strictEqual(lines.length, 4)
        for (const [core, line] of lines.entries()) {
          assert.strictEqual(line.slice(0, line.indexOf(" schedule: ")), `Core #${core}`)
          assert.include(allowed, line.slice(line.indexOf(" schedule: ") + 11))
        }
        // The same 9 threads and 650,576 instructions basic_counts finds, 2-3 threads a core,
        // each thread on one core, and every on-disk idle record counted.
        assert.strictEqual(r.result.total.threads.length, 9)
        assert.strictEqual(r.result.total.instrs, 650_576)
        assert.strictEqual(r.result.total.idles, 3_026_416)
        assert.deepStrictEqual(r.result.total.coresPerThread, [[1, 9]])
        assert.strictEqual(r.result.total.observedMigrations, 0)
        assert.deepStrictEqual(
          r.result.cores.map((c) => c.counts.threads.map(([, tid]) => tid).sort()),
          [
            [872805, 872894, 872905],
            [872901, 872906],
            [872884, 872902],
            [872903, 872904]
          ]
        )
        assert.deepStrictEqual(
          r.result.cores.map((c) => c.counts.instrs),
          [211131, 98108, 217931, 123406]
        )
      })
    )

    it.live("on worker threads (the Registry's tool rebuilt in each), with -schedule_stats_print_every", () =>
      Effect.gen(function* () {
        const tool = yield* Registry.make("schedule_stats", { printEvery: 20_000 })
        const run = yield* Analyzer.run(TRACE_PATHS["threadsig-core-sharded"]!, {
          tools: [tool],
          backend: "threads",
          jobs: 2
        })
        const result = run.tools[0]!.result as ScheduleStats.Result
        // A letter more for every 20,000 instructions of a segment (and every 20,000 idles):
        // the strings lengthen, the upper-case letters and idles stay DynamoRIO's.
        const allowed = ["WHL_L_H_L_L_L_L_W", "DI_D_D__", "EM_E_M_", "GF_F_F_"]
        for (const core of result.cores) {
          assert.isAbove(core.schedule.length, 8)
          const collapsed = core.schedule.replace(/[a-z]/g, "").replace(/_+/g, "_")
          assert.include(
            allowed.map((a) => a.replace(/_+/g, "_")),
            collapsed
          )
        }
        assert.strictEqual(result.total.instrs, 650_576)
      })
    )

    it.effect("-only_shards 2,3: two cores, DynamoRIO's thread order and strings", () =>
      Effect.scoped(
        Effect.gen(function* () {
          // The CLI has no -only_shards yet: open the selected core files as the workload.
          const files = yield* Trace.list(TRACE_PATHS["threadsig-core-sharded"]!)
          const inputs: Array<Trace.TraceInput> = []
          for (const f of files.slice(2, 4)) inputs.push(yield* Trace.openFile(f, inputs.length))
          const r = yield* runTool(ScheduleStats.make(), inputs)
          const lines = r.text.split("\n")
          assert.deepStrictEqual(lines.slice(0, 4), [
            "Schedule stats tool results:",
            "Total counts:",
            "           2 cores",
            "           4 threads: W0.T872904, W0.T872903, W0.T872902, W0.T872884"
          ])
          assert.deepStrictEqual(
            lines.filter((l) => l.includes(" schedule: ")),
            ["Core #0 schedule: EM_E_M_", "Core #1 schedule: GF_F_F_"]
          )
          assert.include(lines, "Core #0 switch-outs:")
        })
      )
    )

    it.effect("-core_serial -sched_block_scale 0.01 on threadsig (DynamoRIO's core_serial vector)", () =>
      Effect.gen(function* () {
        // Core-serial: one worker walks the cores in lockstep, so the schedule is
        // deterministic (core-sharded fibers interleave as they are scheduled).
        const tool = ScheduleStats.make()
        const run = yield* Analyzer.run(TRACE_PATHS.threadsig!, {
          tools: [tool],
          mode: "core-serial",
          recordSchedule: true,
          scheduler: { blockTimeMultiplier: 0.01 }
        })
        const schedule = run.schedule!
        const result = tool.merge(run.tools[0]!.shards as ReadonlyArray<Tool.ShardOutcome<ScheduleStats.ShardResult>>, {
          schedulerStats: (o) => schedule[o]?.stats
        })
        const lines = tool.print(result).split("\n")
        const total = lines.slice(0, lines.indexOf("Core #0 counts:"))
        // DynamoRIO's expected lines (core_serial.templatex) that come from the records.
        for (const line of [
          "           4 cores",
          "      650576 instructions",
          "          21 total context switches",
          "   0.0322791 CSPKI (context switches per 1000 instructions)",
          "       30980 instructions per context switch",
          "          21 voluntary context switches",
          "           0 direct context switches",
          "           0 context switch sequence injections",
          "           0 system call sequence injections",
          "      100.00% voluntary switches",
          "        0.00% direct switches",
          "         480 system calls",
          "         183 maybe-blocking system calls",
          "           0 direct switch requests",
          "           0 observed migrations",
          "           0 waits",
          "  Instructions per context switch histogram:",
          "           0..   50000    15",
          "       50000..  100000     6",
          "  Cores per thread:",
          "           1..       2     9",
          // Scheduler statistics passed to merge (DynamoRIO's figures for the others
          // differ from our scheduler's, which is not this tool's business).
          "           0 switches nop-ed",
          "           0 quantum_preempts",
          "           0 migrations"
        ]) {
          assert.include(total, line)
        }
        assert.match(total[3]!, /^ {11}9 threads: W0\.T872/)
        assert.deepStrictEqual(
          lines.filter((l) => /^Core #\d counts:$/.test(l)),
          ["Core #0 counts:", "Core #1 counts:", "Core #2 counts:", "Core #3 counts:"]
        )
        for (const l of lines.filter((l) => l.includes(" schedule: "))) assert.match(l, /^Core #\d schedule: [A-I_]*$/)
        assert.match(lines.at(-3)!, /^Max activity ratio between cores: \d+\.\d\d$/)
      })
    )

    it.effect(
      "-core_sharded -sched_quantum 10000000 -sched_block_scale 0.01 (DynamoRIO's schedule_stats_nopreempt vector)",
      () =>
        Effect.gen(function* () {
          const tool = ScheduleStats.make()
          const run = yield* Analyzer.run(TRACE_PATHS.threadsig!, {
            tools: [tool],
            mode: "core-sharded",
            recordSchedule: true,
            scheduler: { blockTimeMultiplier: 0.01, quantumDurationInstrs: 10_000_000 }
          })
          const schedule = run.schedule!
          const result = tool.merge(
            run.tools[0]!.shards as ReadonlyArray<Tool.ShardOutcome<ScheduleStats.ShardResult>>,
            {
              schedulerStats: (o) => schedule[o]?.stats
            }
          )
          const lines = tool.print(result).split("\n")
          const total = lines.slice(0, lines.indexOf("Core #0 counts:"))
          for (const line of [
            "          21 total context switches",
            "          21 voluntary context switches",
            "           0 direct context switches",
            "           5 switches input-to-input",
            "          16 switches input-to-idle",
            "          13 switches idle-to-input",
            "           0 switches nop-ed",
            "           0 quantum_preempts",
            "           0 migrations",
            "           1 work steals",
            "           0 output limits hit",
            "           0 observed migrations",
            "           0..   50000    15",
            "       50000..  100000     6",
            "           1..       2     9"
          ]) {
            assert.include(total, line)
          }
        })
    )

    it.effect("refuses a thread-sharded run of a trace that is not core-sharded on disk", () =>
      Effect.gen(function* () {
        const e = yield* Effect.flip(runPath(ScheduleStats.make(), TRACE_PATHS.small!))
        assert.instanceOf(e, Error)
        const error = (e as { readonly error?: unknown }).error
        assert.instanceOf(error, ScheduleStats.ScheduleStatsError)
        assert.strictEqual(
          (error as ScheduleStats.ScheduleStatsError).detail,
          "Only core-sharded operation is supported"
        )
      })
    )
  })

  describe("libstdc++ container order", () => {
    // Iteration orders printed by g++ 12.2 (libstdc++) for std::unordered_set of
    // DynamoRIO's workload_tid_t with its hash (which comes to the workload id).
    const order = (keys: ReadonlyArray<readonly [number, number]>) => {
      const set = new StdUnordered<readonly [number, number]>(
        (k) => k[0],
        (k) => `${k[0]}:${k[1]}`
      )
      for (const k of keys) set.insert(k)
      return set
        .ordered()
        .map(([w, t]) => `${w}:${t}`)
        .join(" ")
    }

    it("lists one workload's threads newest first, until the rehash at the 14th", () => {
      assert.strictEqual(
        order([
          [0, 872902],
          [0, 872884],
          [0, 872904],
          [0, 872903]
        ]),
        "0:872903 0:872904 0:872884 0:872902"
      )
      assert.strictEqual(
        order(Array.from({ length: 20 }, (_, i) => [0, i + 1] as const)),
        "0:20 0:19 0:18 0:17 0:16 0:15 0:14 0:1 0:2 0:3 0:4 0:5 0:6 0:7 0:8 0:9 0:10 0:11 0:12 0:13"
      )
    })

    it("groups by workload bucket", () => {
      assert.strictEqual(
        order([
          [1, 5],
          [2, 7],
          [0, 3],
          [1, 9],
          [3, 3],
          [0, 1],
          [1, 5]
        ]),
        "3:3 0:1 0:3 2:7 1:9 1:5"
      )
    })
  })
})
