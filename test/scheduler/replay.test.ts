/**
 * Replay (DynamoRIO's scheduler_replay.cpp): recorded schedules and the
 * as-traced cpu schedule, against DynamoRIO's golden strings from
 * scheduler_unit_tests.cpp (test_replay, test_replay_timestamps,
 * test_replay_noeof, test_replay_skip, test_replay_as_traced*, test_inactive),
 * and the schedule record/replay round trip through real files.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Options } from "../../src/scheduler/internal/options.ts"
import { Status } from "../../src/scheduler/internal/state.ts"
import * as Scheduler from "../../src/scheduler/Scheduler.ts"
import {
  type CpuSchedule,
  encodeRecords,
  parseRecords,
  RecordType,
  readRecordedSchedule,
  recordedComponentName,
  type ScheduleRecord,
  writeRecordedSchedule
} from "../../src/trace/internal/scheduleFile.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { lockstep } from "../utils/scheduleString.ts"
import { Driver, type Entry, exit, instr, marker, mockThread, timestamp, version } from "./fixtures.ts"

const MAX = Number.POSITIVE_INFINITY

/** DynamoRIO's test inputs: `count` threads of `instrs` instructions each (tids from `base`). */
const threads = (count: number, instrs: number, base: number, withTimestamp = false): Array<Array<Entry>> =>
  Array.from({ length: count }, (_, i) => {
    const tid = base + i
    const body: Array<Entry> = withTimestamp ? [timestamp(10 + i)] : []
    for (let j = 0; j < instrs; j++) body.push(instr(42 + j * 4))
    body.push(exit(tid))
    return mockThread(tid, body)
  })

/** A recorded schedule as the `replaySchedule` option takes it. */
const asFile = (outputs: ReadonlyArray<ReadonlyArray<ScheduleRecord>>): Map<string, ReadonlyArray<ScheduleRecord>> =>
  new Map(outputs.map((recs, o) => [recordedComponentName(o), recs]))

const rec = (type: number, input: number, start: number, stop: number, time: number): ScheduleRecord => ({
  type,
  input,
  start,
  stop,
  timestamp: BigInt(time)
})
const V = (): ScheduleRecord => rec(RecordType.VERSION, 0, 0, 0, 0)
const F = (): ScheduleRecord => rec(RecordType.FOOTER, 0, 0, 0, 0)
const D = (input: number, start: number, stop: number, time: number) =>
  rec(RecordType.DEFAULT, input, start, stop, time)

/** Runs the core's init to completion or failure. */
const initStep = (d: Driver) => {
  for (;;) {
    const s = d.core.init()
    if (s._tag !== "NeedData") return s
    d.feed(s.input)
  }
}

const run = (inputs: ReadonlyArray<ReadonlyArray<Entry>>, outputs: number, options: Options, tidBase: number) => {
  const d = new Driver(inputs, outputs, options)
  return { strings: lockstep(d.lockstep(), outputs, { tidBase }), driver: d }
}

describe("replay of a recorded schedule", () => {
  it("replays what the dynamic scheduler recorded (test_replay)", () => {
    const inputs = threads(7, 9, 100)
    const recorded = run(
      inputs,
      2,
      {
        mapping: "dynamic",
        randomInitialLayout: -1,
        quantumDurationInstrs: 3,
        migrationThresholdUs: 0,
        recordSchedule: true
      },
      100
    )
    // Quanta of 3 alternate odd letters on core 0, even on core 1; the
    // second core, with a smaller run queue, finishes early and steals E.
    assert.deepStrictEqual(recorded.strings, [
      "AAACCCEEEGGGAAACCCEEEGGGAAA.CCC.GGG.",
      "BBBDDDFFFBBBDDDFFFBBB.DDD.FFF.EEE.__"
    ])
    const schedule = recorded.driver.core.recordedSchedule()
    // DynamoRIO's replay_file_checker_t: no consecutive idle records.
    for (const out of schedule) {
      assert.strictEqual(out[0]!.type, RecordType.VERSION)
      assert.strictEqual(out[out.length - 1]!.type, RecordType.FOOTER)
    }
    for (let k = 0; k < 2; k++) {
      const replayed = run(inputs, 2, { mapping: "asPreviously", replaySchedule: asFile(schedule) }, 100)
      assert.deepStrictEqual(replayed.strings, recorded.strings)
    }
  })

  it("waits for timestamps of other outputs' next segments (test_replay_timestamps)", () => {
    const file = asFile([
      // The first output's consumer was slow and only managed 2 segments.
      [V(), D(0, 0, 4, 11), D(2, 7, MAX, 91), F()],
      [
        V(),
        D(1, 0, 4, 10),
        D(2, 0, 4, 20),
        // Input 2 advances early so core 0 waits only for the timestamp.
        D(2, 4, 7, 60),
        D(3, 0, 4, 30),
        D(0, 4, 7, 40),
        D(1, 4, 7, 50),
        D(3, 4, 7, 70),
        D(0, 7, MAX, 80),
        D(1, 7, MAX, 90),
        D(3, 7, MAX, 110),
        F()
      ]
    ])
    const { strings } = run(
      threads(4, 9, 100, true),
      2,
      { mapping: "asPreviously", deps: "timestamps", replaySchedule: file },
      100
    )
    assert.deepStrictEqual(strings, [".AAA-------------------------CCC.____", ".BBB.CCCCCC.DDDAAABBBDDDAAA.BBB.DDD."])
  })

  it("ends when every output is done even if an input is not (test_replay_noeof)", () => {
    const file = asFile([
      [V(), D(0, 0, 4, 11), D(2, 7, MAX, 91), F()],
      [
        V(),
        D(1, 0, 4, 10),
        D(2, 0, 4, 20),
        D(2, 4, 7, 60),
        D(3, 0, 4, 30),
        D(0, 4, 7, 40),
        D(1, 4, 7, 50),
        D(3, 4, 7, 70),
        D(0, 7, MAX, 80),
        D(1, 7, MAX, 90),
        // Input 3 stops before its end (exclusive 9: its last instruction is never run).
        D(3, 7, 9, 110),
        F()
      ]
    ])
    const { strings } = run(
      threads(4, 9, 100, true),
      2,
      { mapping: "asPreviously", deps: "timestamps", replaySchedule: file },
      100
    )
    assert.deepStrictEqual(strings, [".AAA-------------------------CCC.__", ".BBB.CCCCCC.DDDAAABBBDDDAAA.BBB.DD"])
  })

  it("replays a recording with set_active and unread (test_inactive)", () => {
    const A = 42
    const B = 43
    const inputs = [
      mockThread(A, [version(7), timestamp(10), instr(10), instr(30), instr(50), exit(A)]),
      mockThread(B, [version(7), timestamp(20), instr(20), instr(40), instr(60), instr(80), exit(B)])
    ]
    const d = new Driver(inputs, 2, {
      mapping: "dynamic",
      randomInitialLayout: -1,
      quantumDurationInstrs: 2,
      recordSchedule: true
    })
    const one = (output: number) => d.next(output, 0, 1)
    const expect = (output: number, tid: number | "Idle" | "Eof", type?: number) => {
      const s = one(output)
      if (tid === "Idle" || tid === "Eof") {
        assert.strictEqual(s._tag, tid)
        return
      }
      assert.strictEqual(s._tag, "Records")
      if (s._tag !== "Records") return
      assert.strictEqual(s.batch.tid[s.start], tid)
      assert.strictEqual(s.batch.type[s.start], type)
    }
    const M = TraceType.MARKER
    const I = TraceType.INSTR
    // Core 0 to its first instruction; unread it and read it again.
    expect(0, A, M)
    expect(0, A, M)
    expect(0, A, I)
    assert.isTrue(d.core.unread(0, 1))
    expect(0, A, I)
    // Core 1 one instruction further than it processes, which it gives back.
    expect(1, B, M)
    expect(1, B, M)
    expect(1, B, I)
    expect(1, B, I)
    assert.isTrue(d.core.unread(1, 1))
    assert.strictEqual(d.core.setActive(1, false), 0)
    expect(1, "Idle")
    // Deactivating an inactive output is a no-op.
    assert.strictEqual(d.core.setActive(1, false), 0)
    expect(1, "Idle")
    // Core 0 to its quantum end, then B (the record core 1 gave back), then A again.
    expect(0, A, I)
    expect(0, B, I)
    expect(0, A, I)
    assert.strictEqual(d.core.setActive(1, true), 0)
    assert.strictEqual(d.core.setActive(0, false), 0)
    expect(0, "Idle")
    // Core 1 finishes.
    expect(1, A, TraceType.THREAD_EXIT)
    expect(1, B, I)
    expect(1, B, I)
    expect(1, B, TraceType.THREAD_EXIT)
    expect(1, "Eof")
    const schedule = d.core.recordedSchedule()
    const replayed = run(inputs, 2, { mapping: "asPreviously", replaySchedule: asFile(schedule) }, A)
    assert.deepStrictEqual(replayed.strings, ["..AAB.___", "..B-ABB."])
  })

  it("replays skips and the synthetic end of regions of interest (test_replay_skip)", () => {
    const input = mockThread(1, [
      marker(MarkerType.PAGE_SIZE, 4096),
      timestamp(10),
      marker(MarkerType.CPU_ID, 1),
      instr(1),
      instr(2), // Region 1 is just this instruction.
      instr(3),
      timestamp(20),
      marker(MarkerType.CPU_ID, 2),
      timestamp(30),
      marker(MarkerType.CPU_ID, 3),
      instr(4),
      timestamp(40),
      marker(MarkerType.CPU_ID, 4),
      instr(5),
      instr(6), // Region 2 starts here.
      timestamp(50),
      marker(MarkerType.CPU_ID, 5),
      instr(7), // Region 2 ends here.
      instr(8),
      exit(1)
    ])
    const regions = [
      { start: 2, stop: 2 },
      { start: 6, stop: 7 }
    ]
    const recorder = new Driver([input], 1, {
      mapping: "dynamic",
      deps: "timestamps",
      inputs: [{ regions }],
      recordSchedule: true
    })
    for (let s = recorder.next(0, 0, 1); s._tag !== "Eof"; s = recorder.next(0, 0, 1))
      assert.strictEqual(s._tag, "Records")
    const schedule = recorder.core.recordedSchedule()
    assert.deepStrictEqual(
      schedule[0]!.map((r) => [r.type, r.input, r.start, r.stop]),
      [
        [RecordType.VERSION, 0, 0, 0],
        [RecordType.DEFAULT, 0, 0, 0],
        [RecordType.SKIP, 0, 0, 2],
        [RecordType.DEFAULT, 0, 2, 3],
        [RecordType.SKIP, 0, 3, 6],
        [RecordType.DEFAULT, 0, 6, 8],
        [RecordType.SYNTHETIC_END, 0, 8, 0],
        [RecordType.FOOTER, 0, 0, 0]
      ]
    )
    const replay = new Driver([input], 1, {
      mapping: "asPreviously",
      deps: "timestamps",
      inputs: [{ regions }],
      replaySchedule: asFile(schedule)
    })
    const seen: Array<string> = []
    for (let s = replay.next(0, 0, 1); s._tag !== "Eof"; s = replay.next(0, 0, 1)) {
      assert.strictEqual(s._tag, "Records")
      if (s._tag !== "Records") continue
      const b = s.batch
      const i = s.start
      const v = RecordBatch.addrNumber(b, i)
      seen.push(
        b.type[i] === TraceType.MARKER
          ? `${b.size[i] === MarkerType.TIMESTAMP ? "ts" : b.size[i] === MarkerType.CPU_ID ? "cpu" : b.size[i] === MarkerType.WINDOW_ID ? "window" : b.size[i]}=${v}`
          : b.type[i] === TraceType.THREAD_EXIT
            ? "exit"
            : `i${v}`
      )
    }
    // Timestamps are rewritten (the output's time has not advanced a µs), cpus become the shard index 0.
    assert.deepStrictEqual(seen, [
      "ts=10",
      "cpu=0",
      "i2",
      "window=1",
      "ts=10",
      "cpu=0",
      "i6",
      "ts=10",
      "cpu=0",
      "i7",
      "exit"
    ])
  })

  it("replays an idle segment for its recorded count, in bulk or one idle at a time", () => {
    const file = asFile([[V(), D(0, 0, MAX, 1), rec(RecordType.IDLE_BY_COUNT, 0, 50, 0, 2), D(1, 0, MAX, 3), F()]])
    const drive = (maxIdles: number) => {
      const d = new Driver(threads(2, 3, 100), 1, { mapping: "asPreviously", replaySchedule: file })
      const seen: Array<string> = []
      let idles = 0
      for (;;) {
        let s = d.core.next(0, 0, 1, maxIdles)
        while (s._tag === "NeedData") {
          d.feed(s.input)
          s = d.core.next(0, 0, 1, maxIdles)
        }
        if (s._tag === "Eof") break
        if (s._tag === "Idle") idles += s.count
        if (s._tag === "Records") seen.push(`${s.input}:${RecordBatch.addrNumber(s.batch, s.start)}`)
        assert.notStrictEqual(s._tag, "Error")
      }
      return { seen, idles }
    }
    const one = drive(1)
    const bulk = drive(4096)
    assert.strictEqual(one.idles, 50)
    assert.deepStrictEqual(bulk, one)
  })

  it("refuses a schedule that does not fit, with DynamoRIO's messages", () => {
    const inputs = threads(2, 3, 100)
    const fault = (replaySchedule: ReadonlyMap<string, ReadonlyArray<ScheduleRecord>>, outputs = 2): string => {
      const d = new Driver(inputs, outputs, { mapping: "asPreviously", replaySchedule })
      const s = initStep(d)
      assert.strictEqual(s._tag, "Error")
      return s._tag === "Error" ? s.detail : ""
    }
    assert.strictEqual(
      fault(
        asFile([
          [V(), D(0, 0, MAX, 1)],
          [V(), F()]
        ])
      ),
      "Record file missing footer"
    )
    assert.strictEqual(
      fault(
        asFile([
          [V(), F()],
          [V(), F()],
          [V(), F()]
        ])
      ),
      "Not enough output streams for recorded file"
    )
    assert.match(fault(asFile([[V(), F()]])), /^Failed to open schedule_replay_istream component output\.0001/)
    assert.match(
      fault(
        asFile([
          [V(), D(5, 0, MAX, 1), F()],
          [V(), F()]
        ])
      ),
      /input 5 is not in 0\.\.1/
    )
  })

  it("fails, rather than hangs, when an input ended before its segment (test_replay_wrong_inputs)", () => {
    // Input 0 has 3 instructions: its second segment wants the 9th.
    const d = new Driver(threads(2, 3, 100), 1, {
      mapping: "asPreviously",
      replaySchedule: asFile([[V(), D(0, 0, MAX, 1), D(0, 9, MAX, 2), F()]])
    })
    let last = d.next(0)
    for (let k = 0; k < 20 && last._tag === "Records"; k++) last = d.next(0)
    assert.strictEqual(last._tag, "Error")
    if (last._tag === "Error") assert.strictEqual(last.reason, "ReplayInvalid")
  })

  it("fails, rather than waits forever, when no other output's schedule runs the input it waits for", () => {
    // Input 0 (10 instructions) stops at 3 on output 0, which then wants it at 50; no output runs it meanwhile.
    const d = new Driver(threads(1, 10, 100), 2, {
      mapping: "asPreviously",
      replaySchedule: asFile([
        [V(), D(0, 0, 3, 1), D(0, 50, MAX, 2), F()],
        [V(), F()]
      ])
    })
    let last = d.next(0)
    for (let k = 0; k < 20 && last._tag === "Records"; k++) last = d.next(0)
    assert.strictEqual(last._tag, "Error")
    if (last._tag === "Error") {
      assert.strictEqual(last.reason, "ReplayInvalid")
      assert.match(last.detail, /input 0 is wanted at instruction 50 on output 0 but stands at 3, and no other output/)
    }
    // When another output's schedule still runs the input, the output waits for it.
    const waits = new Driver(threads(1, 10, 100), 2, {
      mapping: "asPreviously",
      replaySchedule: asFile([
        [V(), D(0, 0, 3, 1), D(0, 6, MAX, 3), F()],
        [V(), D(0, 3, 6, 2), F()]
      ])
    })
    let first = waits.next(0)
    for (let k = 0; k < 20 && first._tag === "Records"; k++) first = waits.next(0)
    assert.strictEqual(first._tag, "Wait")
  })
})

describe("replay with handOffInputs (an inactive output's segments are dropped)", () => {
  /** The instruction PCs `output` delivers until it returns something else, and that step's tag. */
  const pcs = (d: Driver, output: number): { pcs: Array<number>; last: string } => {
    const out: Array<number> = []
    for (let k = 0; k < 100; k++) {
      const s = d.next(output)
      if (s._tag !== "Records") return { pcs: out, last: s._tag }
      for (let i = s.start; i < s.end; i++)
        if (s.batch.type[i] === TraceType.INSTR) out.push(RecordBatch.addrNumber(s.batch, i))
    }
    throw new Error("no end")
  }
  const schedule = (handOffInputs: boolean): Options => ({
    mapping: "asPreviously",
    handOffInputs,
    replaySchedule: asFile([
      [V(), D(0, 0, 3, 1), D(0, 6, MAX, 3), F()],
      [V(), D(0, 3, 6, 2), F()]
    ])
  })

  it("an output waiting for a dead output's segment skips what it held, and carries on", () => {
    const d = new Driver(threads(1, 10, 100), 2, schedule(true))
    // Instructions 1–2 on output 0; 3–5 belong to output 1, which has not run yet.
    assert.deepStrictEqual(pcs(d, 0), { pcs: [42, 46], last: "Wait" })
    assert.strictEqual(d.core.setActive(1, false), Status.OK)
    // Output 1's segment is gone with it: output 0 resumes at instruction 6, as recorded.
    assert.deepStrictEqual(pcs(d, 0), { pcs: [62, 66, 70, 74, 78], last: "Eof" })
  })

  it("an output made inactive before the segments are read drops its segments all the same", () => {
    const d = new Driver(threads(1, 10, 100), 2, schedule(true))
    assert.strictEqual(d.core.setActive(1, false), Status.OK)
    assert.deepStrictEqual(pcs(d, 0), { pcs: [42, 46, 62, 66, 70, 74, 78], last: "Eof" })
  })

  it("an input that no live output runs again ends, so the others reach EOF", () => {
    const d = new Driver(threads(2, 10, 100), 2, {
      mapping: "asPreviously",
      handOffInputs: true,
      replaySchedule: asFile([
        [V(), D(0, 0, MAX, 1), F()],
        [V(), D(1, 0, MAX, 1), F()]
      ])
    })
    d.next(1, 0, 2)
    assert.strictEqual(d.core.setActive(1, false), Status.OK)
    assert.deepStrictEqual(pcs(d, 0).last, "Eof")
    // Without handOffInputs DynamoRIO's answer stands: the call is refused.
    assert.strictEqual(new Driver(threads(1, 10, 100), 2, schedule(false)).core.setActive(1, false), Status.INVALID)
  })
})

/** A cpu schedule built in memory: [cpu, [tid, timestamp, start]...] per component, in archive order. */
const cpuSchedule = (components: ReadonlyArray<[number, ReadonlyArray<[number, number, number]>]>): CpuSchedule =>
  components.map(([cpu, entries]) => ({
    name: String(cpu),
    entries: entries.map(([thread, ts, start]) => ({ thread, timestamp: BigInt(ts), cpu, startInstruction: start }))
  }))

describe("replay of the as-traced schedule", () => {
  it("follows the traced cpus, an output starting in a wait (test_replay_as_traced)", () => {
    const base = 100
    // The last input runs first, 3 instructions on each core.
    const inputs = Array.from({ length: 5 }, (_, i) => {
      const body: Array<Entry> = []
      for (let j = 0; j < (i === 4 ? 6 : 9); j++) body.push(instr(42 + j * 4))
      body.push(exit(base + i))
      return mockThread(base + i, body)
    })
    const file = cpuSchedule([
      [
        6,
        [
          [base + 4, 10, 0],
          [base, 101, 0],
          [base + 2, 103, 0],
          [base, 105, 4],
          [base + 2, 107, 4],
          [base + 1, 109, 7],
          [base + 3, 111, 7]
        ]
      ],
      [
        9,
        [
          [base + 4, 20, 4],
          [base + 1, 102, 0],
          [base + 3, 104, 0],
          [base + 1, 106, 4],
          [base + 3, 108, 4],
          [base, 110, 7],
          [base + 2, 112, 7]
        ]
      ]
    ])
    const d = new Driver(inputs, 2, { mapping: "recorded", deps: "timestamps", cpuSchedule: file })
    d.init()
    // The traced cpu of each output is known before any record.
    assert.strictEqual(d.core.outputCpuid(0), 6)
    assert.strictEqual(d.core.outputCpuid(1), 9)
    assert.deepStrictEqual(lockstep(d.lockstep(), 2, { tidBase: base }), [
      "EEE-AAA-CCCAAACCCBBB.DDD.___",
      "---EEE.BBBDDDBBBDDDAAA.CCC."
    ])
  })

  it("sorts outputs by cpu id whatever the archive order (test_replay_as_traced_sort)", () => {
    const inputs = threads(4, 3, 100)
    // Archive order 7, 2, 5: outputs are cpus 2, 5, 7.
    const file = cpuSchedule([
      [7, [[102, 10, 0]]],
      [2, [[100, 10, 0]]],
      [
        5,
        [
          [101, 10, 0],
          [103, 20, 0]
        ]
      ]
    ])
    const d = new Driver(inputs, 3, { mapping: "recorded", deps: "timestamps", cpuSchedule: file })
    d.init()
    assert.deepStrictEqual(
      [0, 1, 2].map((o) => d.core.outputCpuid(o)),
      [2, 5, 7]
    )
    const strings = lockstep(d.lockstep(), 3, { tidBase: 100, printMarkers: false })
    assert.deepStrictEqual(
      strings.map((s) => s.replaceAll("_", "").replaceAll("-", "")),
      ["AAA", "BBBDDD", "CCC"]
    )
  })

  it("keeps the later of two entries at one start (test_replay_as_traced_dup_start)", () => {
    const inputs = threads(2, 6, 100)
    // Input 0 has entries at start 0 on both cpus: the later one (cpu 1) wins.
    const file = cpuSchedule([
      [
        0,
        [
          [100, 10, 0],
          [101, 11, 0]
        ]
      ],
      [1, [[100, 12, 0]]]
    ])
    const d = new Driver(inputs, 2, { mapping: "recorded", deps: "timestamps", cpuSchedule: file })
    const strings = lockstep(d.lockstep(), 2, { tidBase: 100, printMarkers: false })
    // An output done with its segments idles until every input is done.
    assert.deepStrictEqual(strings, ["BBBBBB_", "AAAAAA"])
  })

  it("needs as many outputs as traced cpus", () => {
    const file = cpuSchedule([
      [0, [[100, 10, 0]]],
      [1, [[101, 10, 0]]],
      [2, [[102, 10, 0]]]
    ])
    for (const outputs of [2, 4]) {
      const d = new Driver(threads(3, 3, 100), outputs, { mapping: "recorded", deps: "timestamps", cpuSchedule: file })
      const s = initStep(d)
      assert.strictEqual(s._tag, "Error")
      if (s._tag === "Error") assert.match(s.detail, /^replay_as_traced_istream cpu count != output count/)
    }
  })
})

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

/** Each output's sequence of thread ids, as the runs came (consecutive repeats merged). */
const threadSequences = (s: Scheduler.Scheduler) =>
  Effect.gen(function* () {
    const seqs: Array<Array<number>> = Array.from({ length: s.outputCount }, () => [])
    const instrs: Array<number> = new Array<number>(s.outputCount).fill(0)
    const live = new Array<boolean>(s.outputCount).fill(true)
    let left = s.outputCount
    while (left > 0) {
      for (let o = 0; o < s.outputCount; o++) {
        if (!live[o]) continue
        const step = yield* s.next(o, { maxIdles: 4096 })
        if (step._tag === "Eof") {
          live[o] = false
          left--
          continue
        }
        if (step._tag !== "Records") continue
        const tid = s.inputs[step.input]!.tid
        const seq = seqs[o]!
        if (seq[seq.length - 1] !== tid) seq.push(tid)
        for (let i = step.start; i < step.end; i++) {
          const t = step.batch.type[i]!
          if ((t >= 10 && t <= 16) || t === 31 || t === 48 || t === 49) instrs[o]!++
        }
      }
    }
    return { seqs, instrs }
  })

describe("as-traced replay of threadsig (11 cpus)", () => {
  it.effect("each output runs the threads its cpu ran, in order", () =>
    Effect.gen(function* () {
      const inputs = yield* Trace.open(THREADSIG)
      const cpus = yield* Scheduler.readCpuSchedule(`${THREADSIG}/cpu_schedule.bin.zip`)
      const s = yield* Scheduler.make(inputs, 11, {
        mapping: "recorded",
        deps: "timestamps",
        cpuSchedule: cpus,
        waitSleep: 0
      })
      assert.deepStrictEqual(
        Array.from({ length: 11 }, (_, o) => s.outputCpuid(o)),
        [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11]
      )
      const { seqs, instrs } = yield* threadSequences(s)
      // DynamoRIO's test_replay_as_traced_from_file: "Core #0: 872902 => 872905 ...", "Core #10: 872901 => 872905 ...".
      assert.deepStrictEqual(seqs[0]!.slice(0, 2), [872902, 872905])
      assert.deepStrictEqual(seqs[10]!.slice(0, 2), [872901, 872905])
      // Output 7 is cpu 8, which ran only 872884, the whole of it.
      assert.deepStrictEqual(seqs[7], [872884])
      assert.strictEqual(instrs[7], 156381)
      assert.strictEqual(
        instrs.reduce((a, b) => a + b, 0),
        650576
      )
    })
  )
})

describe("schedule files", () => {
  it("encodes records as DynamoRIO's 32-byte schedule_record_t", () => {
    const records = [V(), D(3, 7, MAX, 91), rec(RecordType.IDLE_BY_COUNT, 0, 42, 0, 5), F()]
    const bytes = encodeRecords(records)
    assert.strictEqual(bytes.length, 4 * 32)
    const view = new DataView(bytes.buffer)
    // type, input, start, stop (max = 2^64-1), timestamp.
    assert.strictEqual(view.getUint32(32, true), RecordType.DEFAULT)
    assert.strictEqual(view.getInt32(36, true), 3)
    assert.strictEqual(view.getBigUint64(40, true), 7n)
    assert.strictEqual(view.getBigUint64(48, true), 2n ** 64n - 1n)
    assert.strictEqual(view.getBigUint64(56, true), 91n)
    assert.deepStrictEqual(parseRecords(bytes), records)
  })

  it.effect("reads DynamoRIO's own recording of threadsig on 4 cores", () =>
    Effect.gen(function* () {
      const file = yield* Scheduler.readRecordedSchedule(
        "../shared/traces/schedules/threadsig.recorded_schedule.4cores.zip"
      )
      assert.deepStrictEqual([...file.keys()], ["output.0000", "output.0001", "output.0002", "output.0003"])
      const out0 = file.get("output.0000")!
      assert.deepStrictEqual(
        out0.map((r) => [r.type, r.input, r.start, r.stop]),
        [
          [RecordType.VERSION, 0, 0, 0],
          [RecordType.DEFAULT, 6, 0, MAX],
          [RecordType.FOOTER, 0, 0, 0]
        ]
      )
    })
  )

  it("round-trips through a zip file on disk", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-sched-"))
    try {
      const file = path.join(dir, "record.zip")
      const outputs = [
        [V(), D(0, 0, 4, 1), D(2, 7, MAX, 5), F()],
        [V(), rec(RecordType.IDLE_BY_COUNT, 0, 9, 0, 2), D(1, 0, MAX, 3), F()]
      ]
      await writeRecordedSchedule(file, outputs)
      const back = await readRecordedSchedule(file)
      assert.deepStrictEqual([...back.keys()], ["output.0000", "output.0001"])
      assert.deepStrictEqual(back.get("output.0000"), outputs[0])
      assert.deepStrictEqual(back.get("output.0001"), outputs[1])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
