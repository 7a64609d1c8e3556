/**
 * Regions of interest and skipping (DynamoRIO's advance_region_of_interest
 * and skip_instructions), against scheduler_unit_tests.cpp's test_regions_*
 * sequences and its invalid-region checks; thread and shard filters
 * (test_only_threads); the reader's skip rules on a real zip trace.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Options } from "../../src/scheduler/internal/options.ts"
import type { Step } from "../../src/scheduler/internal/state.ts"
import * as Scheduler from "../../src/scheduler/Scheduler.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { cpu, Driver, type Entry, exit, instr, marker, mockThread, timestamp } from "./fixtures.ts"

/** One record as a short label: `i<pc>`, `ts=<v>`, `cpu=<v>`, `window=<v>`, `page`, `exit`. */
const label = (b: RecordBatch.RecordBatch, i: number): string => {
  const v = RecordBatch.addrNumber(b, i)
  if (b.type[i] === TraceType.THREAD_EXIT) return "exit"
  if (b.type[i] !== TraceType.MARKER) return `i${v}`
  switch (b.size[i]) {
    case MarkerType.TIMESTAMP:
      return `ts=${v}`
    case MarkerType.CPU_ID:
      return `cpu=${v}`
    case MarkerType.WINDOW_ID:
      return `window=${v}`
    case MarkerType.PAGE_SIZE:
      return "page"
    case MarkerType.CACHE_LINE_SIZE:
      return "line"
    default:
      return `marker${b.size[i]}`
  }
}

/** Every record output 0 delivers, one call each, and the final step. */
const drain = (d: Driver, output = 0): { records: Array<string>; last: Step } => {
  const records: Array<string> = []
  for (;;) {
    const s = d.next(output, 0, 1)
    if (s._tag !== "Records") return { records, last: s }
    records.push(label(s.batch, s.start))
  }
}

const initStep = (d: Driver) => {
  for (;;) {
    const s = d.core.init()
    if (s._tag !== "NeedData") return s
    d.feed(s.input)
  }
}

/** DynamoRIO's test_regions_timestamps input. */
const timestamped = (): Array<Entry> =>
  mockThread(1, [
    marker(MarkerType.PAGE_SIZE, 4096),
    timestamp(10),
    cpu(1),
    instr(1),
    instr(2), // Region 1 is just this instruction.
    instr(3),
    timestamp(20),
    cpu(2),
    timestamp(30),
    cpu(3),
    instr(4),
    timestamp(40),
    cpu(4),
    instr(5),
    instr(6), // Region 2 starts here.
    timestamp(50),
    cpu(5),
    instr(7), // Region 2 ends here.
    instr(8),
    exit(1)
  ])

const serial: Options = { mapping: "recorded", deps: "timestamps", useInputOrdinals: true }

describe("regions of interest", () => {
  it("skip between regions; a separator before each later one; a synthetic exit after the last (test_regions_timestamps)", () => {
    const d = new Driver([timestamped()], 1, {
      ...serial,
      inputs: [
        {
          regions: [
            { start: 2, stop: 2 },
            { start: 6, stop: 7 }
          ]
        }
      ]
    })
    const { records, last } = drain(d)
    // The skips re-insert the last timestamp and cpu before the region's first instruction.
    assert.deepStrictEqual(records, [
      "ts=10",
      "cpu=1",
      "i2",
      "window=1",
      "ts=40",
      "cpu=4",
      "i6",
      "ts=50",
      "cpu=5",
      "i7",
      "exit"
    ])
    assert.strictEqual(last._tag, "Eof")
  })

  it("the synthetic exit reports the ordinals of DynamoRIO's reader, which has read the instruction past the stop", () => {
    const d = new Driver([timestamped()], 1, { ...serial, inputs: [{ regions: [{ start: 1, stop: 2 }] }] })
    const seen: Array<[string, number, number]> = []
    for (let s = d.next(0, 0, 1); s._tag === "Records"; s = d.next(0, 0, 1)) {
      const b = s.batch
      // The exit is the first record of its own batch: its instruction ordinal is the batch's count before it.
      seen.push([label(b, s.start), RecordBatch.firstRecordOrdinal(b) + s.start, RecordBatch.instrOrdinalBefore(b)])
    }
    const i2 = seen.find(([l]) => l === "i2")!
    const last = seen.at(-1)!
    // i3 (the next record after i2) was read to find the stop: the exit counts it, record and instruction.
    assert.deepStrictEqual(last, ["exit", i2[1] + 1, 3])
  })

  it("works without timestamps, including back-to-back regions (test_regions_bare)", () => {
    const input = mockThread(1, [
      marker(MarkerType.CACHE_LINE_SIZE, 64),
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((pc) => instr(pc)),
      exit(1)
    ])
    const d = new Driver([input], 1, {
      mapping: "dynamic",
      inputs: [
        {
          regions: [
            { start: 2, stop: 2 },
            { start: 4, stop: 4 },
            { start: 5, stop: 5 },
            { start: 8, stop: 9 }
          ]
        }
      ]
    })
    assert.deepStrictEqual(drain(d).records, ["i2", "window=1", "i4", "window=2", "i5", "window=3", "i8", "i9", "exit"])
  })

  it("starts a region after a first instruction (test_regions_bare_no_marker)", () => {
    const input = mockThread(1, [marker(MarkerType.PAGE_SIZE, 4096), instr(1), instr(2), instr(3), instr(4), exit(1)])
    const d = new Driver([input], 1, { mapping: "dynamic", inputs: [{ regions: [{ start: 2, stop: 0 }] }] })
    assert.deepStrictEqual(drain(d).records, ["i2", "i3", "i4", "exit"])
  })

  it("a region from the first instruction still skips the headers (test_regions_start)", () => {
    const input = mockThread(1, [
      marker(MarkerType.PAGE_SIZE, 4096),
      timestamp(10),
      cpu(1),
      instr(1),
      instr(2),
      exit(1)
    ])
    const d = new Driver([input], 1, { ...serial, inputs: [{ regions: [{ start: 1, stop: 0 }] }] })
    assert.deepStrictEqual(drain(d).records, ["ts=10", "cpu=1", "i1", "i2", "exit"])
  })

  it("a region past the end fails at init (test_regions_too_far)", () => {
    const input = mockThread(1, [
      marker(MarkerType.PAGE_SIZE, 4096),
      timestamp(10),
      cpu(1),
      instr(1),
      instr(2),
      exit(1)
    ])
    const d = new Driver([input], 1, { ...serial, inputs: [{ regions: [{ start: 3, stop: 0 }] }] })
    const s = initStep(d)
    assert.strictEqual(s._tag, "Error")
    if (s._tag === "Error") assert.strictEqual(s.reason, "RegionInvalid")
  })

  it("skips across a thread's footer in a core-sharded file (test_regions_core_sharded)", () => {
    const entries: Array<Entry> = [
      Synthetic.header(),
      Synthetic.threadEntry(42),
      Synthetic.pid(1),
      marker(MarkerType.PAGE_SIZE, 4096),
      timestamp(10),
      cpu(1),
      instr(1),
      instr(2),
      exit(42),
      Synthetic.footer(),
      Synthetic.header(),
      Synthetic.threadEntry(99),
      Synthetic.pid(1),
      marker(MarkerType.PAGE_SIZE, 4096),
      timestamp(10),
      cpu(1),
      instr(101),
      instr(102),
      exit(99),
      Synthetic.footer()
    ]
    const d = new Driver([entries], 1, { ...serial, inputs: [{ regions: [{ start: 3, stop: 0 }] }] })
    assert.deepStrictEqual(drain(d).records, ["ts=10", "cpu=1", "i101", "i102", "exit"])
  })

  it("regions per shard of core-sharded inputs across workloads (test_regions_by_shard)", () => {
    // Two workloads of two cores; each core interleaves threads A, B, C.
    const inputs: Array<Array<Entry>> = []
    const options: Array<{ workload: number; regions: Array<{ start: number; stop: number }> }> = []
    for (let w = 0; w < 2; w++) {
      for (let c = 0; c < 2; c++) {
        const e: Array<Entry> = [Synthetic.header()]
        for (let t = 0; t < 3; t++) e.push(Synthetic.threadEntry(100 + t), Synthetic.pid(1))
        for (let k = 0; k < 9; k++)
          for (let t = 0; t < 3; t++) e.push(Synthetic.threadEntry(100 + t), instr(42 + k * 4))
        for (let t = 0; t < 3; t++) e.push(exit(100 + t))
        e.push(Synthetic.footer())
        inputs.push(e)
        options.push({ workload: w, regions: [{ start: 1 + w * 2 + c, stop: 0 }] })
      }
    }
    // Outputs are independent here (and share thread ids), so each is drained on its own.
    const d = new Driver(inputs, 4, { mapping: "consistent", inputs: options })
    const letters = [0, 1, 2, 3].map((o) => {
      const out: Array<string> = []
      for (let s = d.next(o, 0, 1); s._tag === "Records"; s = d.next(o, 0, 1)) {
        const t = s.batch.type[s.start]!
        out.push(
          t === TraceType.MARKER || t === TraceType.THREAD_EXIT
            ? "."
            : String.fromCharCode(65 + s.batch.tid[s.start]! - 100)
        )
      }
      return out.join("")
    })
    // Each core the same length, skipped one further per output ordinal.
    // DynamoRIO's golden strings are one instruction shorter each: its mock
    // readers, without any marker before the first instruction, consume
    // that instruction when initialised; a file's reader does not.
    assert.deepStrictEqual(letters, [
      "ABCABCABCABCABCABCABCABCABC...",
      "BCABCABCABCABCABCABCABCABC...",
      "CABCABCABCABCABCABCABCABC...",
      "ABCABCABCABCABCABCABCABC..."
    ])
  })

  it("refuses invalid regions with DynamoRIO's messages (test_invalid_regions)", () => {
    const input = mockThread(1, [instr(1), exit(1)])
    const fault = (regions: Array<{ start: number; stop: number }>): string => {
      try {
        new Driver([input], 1, { ...serial, inputs: [{ regions }] })
        return ""
      } catch (e) {
        return (e as Error).message
      }
    }
    assert.match(fault([{ start: 0, stop: 2 }]), /invalid start\/stop range in regions of interest/)
    assert.match(fault([{ start: 2, stop: 1 }]), /invalid start\/stop range in regions of interest/)
    assert.match(
      fault([
        { start: 2, stop: 10 },
        { start: 10, stop: 20 }
      ]),
      /gap required between regions of interest/
    )
    assert.match(
      fault([
        { start: 2, stop: 10 },
        { start: 4, stop: 12 }
      ]),
      /gap required between regions of interest/
    )
  })
})

describe("thread and shard filters (test_only_threads)", () => {
  const threads = () =>
    Effect.gen(function* () {
      const make = (tid: number, ordinal: number) =>
        Trace.fromEntries(mockThread(tid, [timestamp(10 + ordinal), instr(50), exit(tid)]), { ordinal })
      return [yield* make(42, 0), yield* make(99, 1), yield* make(7, 2)]
    })
  const tidsOf = (s: Scheduler.Scheduler) =>
    Effect.gen(function* () {
      const tids = new Set<number>()
      for (let step = yield* s.next(0); step._tag !== "Eof"; step = yield* s.next(0)) {
        if (step._tag !== "Records") continue
        for (let i = step.start; i < step.end; i++) tids.add(step.batch.tid[i]!)
      }
      return [...tids].sort((a, b) => a - b)
    })

  it.effect("keeps only the named threads or shards", () =>
    Effect.gen(function* () {
      const inputs = yield* threads()
      const byThread = yield* Scheduler.make(inputs, 1, { mapping: "recorded", deps: "timestamps", onlyThreads: [99] })
      assert.deepStrictEqual(yield* tidsOf(byThread), [99])
      const byShard = yield* Scheduler.make(inputs, 1, { mapping: "consistent", onlyShards: [0, 2] })
      assert.deepStrictEqual(yield* tidsOf(byShard), [7, 42])
      assert.deepStrictEqual(
        byShard.inputs.map((i) => i.tid),
        [42, 7]
      )
    })
  )

  it.effect("refuses entries that name no input, with DynamoRIO's messages", () =>
    Effect.gen(function* () {
      const inputs = yield* threads()
      const cases: Array<[Scheduler.Options, string, string]> = [
        [{ onlyThreads: [42, 100, 7] }, "onlyThreads", "only_threads entry 100 not found in workload inputs"],
        [{ onlyShards: [1, 3] }, "onlyShards", "only_shards entry 3 out of bounds for a shard ordinal"],
        [{ onlyShards: [0, -1, 2] }, "onlyShards", "only_shards entry -1 out of bounds for a shard ordinal"]
      ]
      for (const [options, option, detail] of cases) {
        const e = yield* Effect.flip(Scheduler.make(inputs, 1, { mapping: "recorded", deps: "timestamps", ...options }))
        assert.strictEqual(e._tag, "SchedulerError")
        if (e._tag === "SchedulerError") {
          assert.strictEqual(e.option, option)
          assert.strictEqual(e.detail, detail)
        }
      }
    })
  )
})

const ALLASM = "../shared/traces/drmemtrace.allasm_x86_64.trace.zip"

/** Every record of a one-input serial run with `regions`, with its input ordinals (record, instruction). */
const allasm = (regions: ReadonlyArray<{ start: number; stop: number }>) =>
  Effect.gen(function* () {
    const inputs = yield* Trace.open(ALLASM)
    const s = yield* Scheduler.make(inputs, 1, { ...serial, regions })
    const rows: Array<{ record: number; instrs: number; text: string; hidden: boolean }> = []
    for (let step = yield* s.next(0); step._tag !== "Eof"; step = yield* s.next(0)) {
      if (step._tag !== "Records") continue
      let instrs = RecordBatch.instrOrdinalBefore(step.batch)
      for (let k = 0; k < step.start; k++) if (isInstrType(step.batch.type[k]!)) instrs++
      for (let i = step.start; i < step.end; i++) {
        if (isInstrType(step.batch.type[i]!)) instrs++
        rows.push({
          record: RecordBatch.firstRecordOrdinal(step.batch) + i,
          instrs,
          text: label(step.batch, i),
          hidden: (step.batch.flags[i]! & RecordBatch.FLAG_SYNTHETIC) !== 0
        })
      }
    }
    return rows
  })

const isInstrType = (t: number): boolean => (t >= 10 && t <= 16) || t === 31 || t === 48 || t === 49

describe("skipping a real zip trace (allasm: chunks of 20 instructions)", () => {
  it.effect("a skip into a later chunk re-inserts the chunk header's timestamp and cpu as duplicates", () =>
    Effect.gen(function* () {
      // DynamoRIO's offline-skip.expect (-skip_instrs 62): both markers print
      // record 114 (not counted), then the syscall at 115.
      const rows = yield* allasm([{ start: 63, stop: 0 }])
      assert.deepStrictEqual(rows.slice(0, 3), [
        { record: 114, instrs: 62, text: "ts=13352268558646596", hidden: true },
        { record: 114, instrs: 62, text: "cpu=10", hidden: true },
        { record: 115, instrs: 63, text: "i4198438", hidden: false }
      ])
    })
  )

  it.effect("a skip within the chunk keeps a timestamp met on the way as a real record", () =>
    Effect.gen(function* () {
      // DynamoRIO's offline-skip2.expect (-skip_instrs 63): timestamp 120, cpu 121, then instruction 64 at 122.
      const rows = yield* allasm([{ start: 64, stop: 0 }])
      assert.deepStrictEqual(rows.slice(0, 3), [
        { record: 120, instrs: 63, text: "ts=13352268558646604", hidden: false },
        { record: 121, instrs: 63, text: "cpu=10", hidden: false },
        { record: 122, instrs: 64, text: "i4198440", hidden: false }
      ])
      assert.strictEqual(rows.filter((r) => isInstrLabel(r.text)).length, 133 - 63)
    })
  )
})

const isInstrLabel = (t: string): boolean => t.startsWith("i")

describe("times of interest (DynamoRIO's create_regions_from_times)", () => {
  const input = () => {
    const body: Array<Entry> = [timestamp(100), cpu(0)]
    for (let k = 1; k <= 30; k++) body.push(instr(k))
    body.push(exit(7))
    return mockThread(7, body)
  }
  // The thread ran on cpu 0 from time 100 (instruction 0), 200 (10), 300 (20).
  const cpuSchedule = [
    {
      name: "0",
      entries: [
        { thread: 7, timestamp: 100n, cpu: 0, startInstruction: 0 },
        { thread: 7, timestamp: 200n, cpu: 0, startInstruction: 10 },
        { thread: 7, timestamp: 300n, cpu: 0, startInstruction: 20 }
      ]
    }
  ]

  it("turns times into instruction ranges, interpolating between the schedule's entries", () => {
    const d = new Driver([input()], 1, {
      mapping: "dynamic",
      cpuSchedule,
      timesOfInterest: [{ start: 150n, stop: 250n }]
    })
    // 150 → 0 + 0.5 × 10 = 5; 250 → 10 + 0.5 × 10 = 15: instructions 5 to 15.
    const instrs = drain(d).records.filter((r) => r.startsWith("i"))
    assert.deepStrictEqual(
      instrs,
      Array.from({ length: 11 }, (_, k) => `i${5 + k}`)
    )
  })

  it("refuses times whose ranges touch, with DynamoRIO's message", () => {
    assert.throws(
      () =>
        new Driver([input()], 1, {
          mapping: "dynamic",
          cpuSchedule,
          timesOfInterest: [
            { start: 150n, stop: 200n },
            { start: 200n, stop: 250n }
          ]
        }),
      /times_of_interest are too close together/
    )
  })
})
