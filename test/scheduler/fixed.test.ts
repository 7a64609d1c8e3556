import { assert, describe, it } from "@effect/vitest"
import { Stat } from "../../src/scheduler/internal/state.ts"
import { TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import { Driver, type Entry, exit, instr, mockThread, timestamp, version } from "./fixtures.ts"

/** Every record an output delivers, as "tid:type:value" (value = address or marker value). */
const records = (d: Driver, output: number, maxRecords?: number): Array<string> => {
  const out: Array<string> = []
  for (let s = d.next(output, 0, maxRecords); s._tag !== "Eof"; s = d.next(output, 0, maxRecords)) {
    if (s._tag !== "Records") throw new Error(`unexpected ${s._tag}`)
    for (let i = s.start; i < s.end; i++)
      out.push(`${s.batch.tid[i]}:${s.batch.type[i]}:${RecordBatch.addrNumber(s.batch, i)}`)
  }
  return out
}
const M = TraceType.MARKER
const I = TraceType.INSTR
const X = TraceType.THREAD_EXIT
const TS = (tid: number, v: number) => `${tid}:${M}:${v}`
const V = (tid: number) => `${tid}:${M}:4`
const IN = (tid: number, pc: number) => `${tid}:${I}:${pc}`
const EX = (tid: number) => `${tid}:${X}:${tid}`

describe("consistent mapping", () => {
  it("test_parallel: input i runs only on output i mod M, in order, each to its end", () => {
    const inputs = [100, 101, 102].map((tid) => mockThread(tid, [instr(42), exit(tid)]))
    const d = new Driver(inputs, 2, { mapping: "consistent" })
    // Output 0 has inputs 0 and 2, output 1 has input 1.
    assert.deepStrictEqual(records(d, 0), [IN(100, 42), EX(100), IN(102, 42), EX(102)])
    assert.deepStrictEqual(records(d, 1), [IN(101, 42), EX(101)])
  })

  it("outputs without inputs are at EOF at once", () => {
    const d = new Driver([mockThread(100, [instr(1), exit(100)])], 3, { mapping: "consistent" })
    assert.strictEqual(d.next(1)._tag, "Eof")
    assert.strictEqual(d.next(2)._tag, "Eof")
    assert.deepStrictEqual(records(d, 0), [IN(100, 1), EX(100)])
  })

  it("one step per batch: never switches mid-input", () => {
    const body: Array<Entry> = [version(7), timestamp(5)]
    for (let j = 0; j < 100; j++) body.push(instr(j), timestamp(6 + j))
    body.push(exit(7))
    const d = new Driver([mockThread(7, body)], 1, { mapping: "consistent" })
    const s = d.next(0)
    assert.strictEqual(s._tag, "Records")
    if (s._tag === "Records") assert.strictEqual(s.end - s.start, 203)
    assert.deepStrictEqual(d.core.stats(0), new Array(14).fill(0))
  })
})

describe("serial mapping (timestamp interleave)", () => {
  // DynamoRIO's test_serial inputs: every timestamp is followed by an
  // instruction whose PC is the timestamp.
  const serialInputs = () => [
    mockThread(42, [
      version(4),
      timestamp(10),
      instr(10),
      timestamp(30),
      instr(30),
      timestamp(50),
      instr(50),
      exit(42)
    ]),
    mockThread(99, [version(4), timestamp(20), instr(20), timestamp(40), instr(40), timestamp(60), instr(60), exit(99)])
  ]

  it("an input whose next timestamp is 0 is a typed error naming it, not an idle output forever", () => {
    // DynamoRIO never picks an input whose next timestamp is 0: once the other input ends, its output
    // would idle forever.
    const d = new Driver(
      [
        mockThread(42, [version(4), timestamp(10), instr(10), timestamp(0), instr(11), exit(42)]),
        mockThread(99, [version(4), timestamp(20), instr(20), timestamp(40), instr(40), exit(99)])
      ],
      1,
      { mapping: "recorded", deps: "timestamps" }
    )
    const steps: Array<string> = []
    for (let k = 0; k < 100; k++) {
      const s = d.next(0)
      steps.push(s._tag)
      if (s._tag === "Error") {
        assert.strictEqual(s.reason, "InvalidInput")
        assert.strictEqual(s.option, "deps")
        assert.match(s.detail, /^input 0 has a timestamp of 0/)
        // Every later step fails the same way.
        assert.deepStrictEqual(d.next(0), s)
        break
      }
      assert.notStrictEqual(s._tag, "Idle", "an idle step: the output would wait forever")
      assert.notStrictEqual(s._tag, "Eof", "input 0's last instruction was never delivered")
    }
    assert.strictEqual(steps[steps.length - 1], "Error")
  })

  it("test_serial: alternates on every timestamp; the old input re-reads its timestamp later", () => {
    const d = new Driver(serialInputs(), 1, { mapping: "recorded", deps: "timestamps" })
    // A (first timestamp 10) starts. At A's TIMESTAMP 30, B (next 20) is
    // earlier: B runs and A's 30 stays with A. B's 40 > A's 30: back to A,
    // which now reads its 30. And so on; at A's end B finishes.
    assert.deepStrictEqual(records(d, 0), [
      V(42),
      TS(42, 10),
      IN(42, 10),
      V(99),
      TS(99, 20),
      IN(99, 20),
      TS(42, 30),
      IN(42, 30),
      TS(99, 40),
      IN(99, 40),
      TS(42, 50),
      IN(42, 50),
      EX(42),
      TS(99, 60),
      IN(99, 60),
      EX(99)
    ])
  })

  it("the same records one at a time and with tiny batches", () => {
    const expected = records(new Driver(serialInputs(), 1, { mapping: "recorded", deps: "timestamps" }), 0)
    assert.deepStrictEqual(
      records(new Driver(serialInputs(), 1, { mapping: "recorded", deps: "timestamps" }), 0, 1),
      expected
    )
    assert.deepStrictEqual(
      records(new Driver(serialInputs(), 1, { mapping: "recorded", deps: "timestamps" }, 10), 0),
      expected
    )
  })

  it("ties go to the lowest input index", () => {
    const inputs = [5, 6, 7].map((tid) =>
      mockThread(tid, [timestamp(100), instr(tid), timestamp(200), instr(tid + 10), exit(tid)])
    )
    const d = new Driver(inputs, 1, { mapping: "recorded", deps: "timestamps" })
    assert.deepStrictEqual(records(d, 0), [
      TS(5, 100),
      IN(5, 5),
      TS(6, 100),
      IN(6, 6),
      TS(7, 100),
      IN(7, 7),
      TS(5, 200),
      IN(5, 15),
      EX(5),
      TS(6, 200),
      IN(6, 16),
      EX(6),
      TS(7, 200),
      IN(7, 17),
      EX(7)
    ])
  })

  it("timestamps beyond 2^53 are compared exactly", () => {
    const base = 13386385969186755n
    const inputs = [
      mockThread(1, [timestamp(base + 1n), instr(1), timestamp(base + 3n), instr(3), exit(1)]),
      mockThread(2, [timestamp(base + 2n), instr(2), timestamp(base + 4n), instr(4), exit(2)])
    ]
    const d = new Driver(inputs, 1, { mapping: "recorded", deps: "timestamps" })
    const pcs = records(d, 0)
      .filter((r) => r.split(":")[1] === `${I}`)
      .map((r) => Number(r.split(":")[2]))
    assert.deepStrictEqual(pcs, [1, 2, 3, 4])
  })

  it("a single input runs through; timestamps are NOP switch points", () => {
    const d = new Driver(serialInputs().slice(0, 1), 1, { mapping: "recorded", deps: "timestamps" })
    assert.strictEqual(records(d, 0).length, 8)
    assert.strictEqual(d.core.stats(0)[Stat.SWITCH_NOP], 3)
  })

  it("an input without a timestamp before its first instruction is refused", () => {
    const inputs = [mockThread(1, [instr(1), exit(1)]), mockThread(2, [timestamp(5), instr(2), exit(2)])]
    const d = new Driver(inputs, 1, { mapping: "recorded", deps: "timestamps" })
    const s = d.next(0)
    assert.strictEqual(s._tag, "Error")
  })

  it("markers are not rewritten", () => {
    const d = new Driver(serialInputs(), 1, { mapping: "recorded", deps: "timestamps" })
    const markerValues = records(d, 0)
      .filter((r) => r.split(":")[1] === `${M}`)
      .map((r) => Number(r.split(":")[2]))
    // Two VERSION markers (4) and the six timestamps, as in the inputs.
    assert.deepStrictEqual(markerValues, [4, 10, 4, 20, 30, 40, 50, 60])
  })
})
