import { assert, describe, it } from "@effect/vitest"
import { Status, type Step } from "../../src/scheduler/internal/state.ts"
import { TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import { Driver, type Entry, exit, instr, mockThread, timestamp, version } from "./fixtures.ts"

const M = TraceType.MARKER
const I = TraceType.INSTR
const X = TraceType.THREAD_EXIT
const one = (s: Step): string => (s._tag === "Records" ? `${s.batch.tid[s.start]}:${s.batch.type[s.start]}` : s._tag)
const rec = (tid: number, type: number) => `${tid}:${type}`

/** A thread of `n` instructions with PCs base, base+1, … after a VERSION and a TIMESTAMP. */
const thread = (tid: number, n: number, ts: number = 10): Array<Entry> => {
  const body: Array<Entry> = [version(7), timestamp(ts)]
  for (let j = 0; j < n; j++) body.push(instr(tid * 1000 + j))
  body.push(exit(tid))
  return mockThread(tid, body)
}

/**
 * Drives every active output round-robin (runs, not single records) until
 * all are at EOF; returns each input's PCs in delivery order. An inactive
 * output returns Idle forever (DynamoRIO): its worker has stopped polling.
 */
const drain = (
  d: Driver,
  outputs: number,
  options: { maxRecords?: number; maxRounds?: number; onRound?: (round: number) => void } = {}
): Map<number, Array<number>> => {
  const seen = new Map<number, Array<number>>()
  const eof = new Array<boolean>(outputs).fill(false)
  for (let round = 0; eof.some((e) => !e); round++) {
    if (round > (options.maxRounds ?? 1_000_000)) throw new Error("no EOF: the run hangs")
    options.onRound?.(round)
    for (let o = 0; o < outputs; o++) {
      if (!d.core.outputs[o]!.active) eof[o] = true
      if (eof[o]) continue
      const s = d.next(o, 0, options.maxRecords)
      if (s._tag === "Eof") eof[o] = true
      else if (s._tag === "Records") {
        const list = seen.get(s.input) ?? []
        for (let i = s.start; i < s.end; i++) if (s.batch.type[i] === I) list.push(RecordBatch.addrNumber(s.batch, i))
        seen.set(s.input, list)
      } else if (s._tag === "Error") throw new Error(s.detail)
    }
  }
  return seen
}

describe("setActive and unread", () => {
  it("test_inactive (DynamoRIO): unread, deactivate, the other output resumes the input at the unread record", () => {
    const A = 42
    const B = 43
    const refsA = mockThread(A, [version(7), timestamp(10), instr(10), instr(30), instr(50), exit(A)])
    const refsB = mockThread(B, [version(7), timestamp(20), instr(20), instr(40), instr(60), instr(80), exit(B)])
    const d = new Driver([refsA, refsB], 2, { mapping: "dynamic", randomInitialLayout: -1, quantumDurationInstrs: 2 })
    const check = (o: number, expect: string) => assert.strictEqual(one(d.next(o, 0, 1)), expect)
    // Unreading before reading fails.
    assert.isFalse(d.core.unread(0, 1))
    check(0, rec(A, M))
    check(0, rec(A, M))
    check(0, rec(A, I))
    const out0 = d.core.outputs[0]!
    const [records, instrs] = [out0.records, out0.instrs]
    assert.isTrue(d.core.unread(0, 1))
    assert.deepStrictEqual([out0.records, out0.instrs], [records - 1, instrs - 1])
    check(0, rec(A, I))
    assert.deepStrictEqual([out0.records, out0.instrs], [records, instrs])
    check(1, rec(B, M))
    check(1, rec(B, M))
    check(1, rec(B, I))
    // Read one further than wanted and put it back; a second unread fails.
    check(1, rec(B, I))
    assert.isTrue(d.core.unread(1, 1))
    assert.isFalse(d.core.unread(1, 1))
    assert.strictEqual(d.core.setActive(1, false), Status.OK)
    check(1, "Idle")
    // Deactivating an inactive output is a no-op.
    assert.strictEqual(d.core.setActive(1, false), Status.OK)
    check(1, "Idle")
    // cpu0 reaches its quantum end, then picks up B at the record un-read on cpu1.
    check(0, rec(A, I))
    check(0, rec(B, I))
    assert.strictEqual(RecordBatch.addrNumber(d.core.outputs[0]!.step.batch, d.core.outputs[0]!.step.start), 40)
    // B's quantum (2, kept across the move) ends: back to A.
    check(0, rec(A, I))
    assert.strictEqual(d.core.setActive(1, true), Status.OK)
    assert.strictEqual(d.core.setActive(0, false), Status.OK)
    check(0, "Idle")
    // cpu1 finishes everything.
    check(1, rec(A, X))
    check(1, rec(B, I))
    check(1, rec(B, I))
    check(1, rec(B, X))
    check(1, "Eof")
  })

  it("inactive outputs idle (counting idles) until re-activated", () => {
    const d = new Driver([thread(100, 3), thread(101, 3)], 2, { mapping: "dynamic", randomInitialLayout: -1 })
    assert.strictEqual(d.core.setActive(0, false), Status.OK)
    const idles = d.core.outputs[0]!.idleCount
    for (let k = 0; k < 5; k++) assert.strictEqual(d.next(0)._tag, "Idle")
    assert.strictEqual(d.core.outputs[0]!.idleCount, idles + 5)
    assert.strictEqual(d.core.setActive(0, true), Status.OK)
    assert.isTrue(d.core.outputs[0]!.waiting)
  })

  it("deactivating an output without a current input is fine", () => {
    const d = new Driver([thread(100, 3)], 3, { mapping: "dynamic", randomInitialLayout: -1 })
    d.init()
    assert.strictEqual(d.core.outputs[2]!.curInput, -1)
    assert.strictEqual(d.core.setActive(2, false), Status.OK)
    const seen = drain(d, 3)
    assert.deepStrictEqual(seen.get(0), [100000, 100001, 100002])
  })

  it("an input taken over while its data is being loaded is flagged, so it is not read twice", () => {
    const d = new Driver([thread(100, 40)], 2, { mapping: "dynamic", randomInitialLayout: -1 }, 16)
    d.init()
    assert.strictEqual(d.core.next(0)._tag, "Records")
    const first = d.core.next(0)
    assert.deepStrictEqual(first._tag === "NeedData" ? [first.input, first.again] : first._tag, [0, false])
    // Output 0's worker fails while the load is in flight; the input moves to
    // output 1's queue, which output 1 (idle so far, as DynamoRIO: an idle
    // output without a current input first tries to steal) reads on its
    // next pick.
    assert.strictEqual(d.core.setActive(0, false), Status.OK)
    assert.strictEqual(d.core.next(1)._tag, "Idle")
    const second = d.core.next(1)
    assert.deepStrictEqual(second._tag === "NeedData" ? [second.input, second.again] : second._tag, [0, true])
    // The one load completes; output 1 carries on.
    d.feed(0)
    const s = d.next(1)
    assert.strictEqual(s._tag, "Records")
  })

  it("consistent and serial mappings do not support it (DynamoRIO's STATUS_INVALID)", () => {
    for (const mapping of ["consistent", "recorded"] as const) {
      const d = new Driver([thread(100, 3)], 1, { mapping, deps: mapping === "recorded" ? "timestamps" : "ignore" })
      assert.strictEqual(d.core.setActive(0, false), Status.INVALID)
    }
  })

  /** Steps `output` until it returns something other than Records; the inputs it delivered, in order. */
  const runOut = (d: Driver, output: number): { inputs: Array<number>; last: string } => {
    const inputs: Array<number> = []
    for (let k = 0; k < 1000; k++) {
      const s = d.next(output)
      if (s._tag !== "Records") return { inputs, last: s._tag }
      if (inputs.at(-1) !== s.input) inputs.push(s.input)
    }
    throw new Error("no end")
  }

  it("dynamic with handOffInputs: an input bound only to an inactive output ends and is listed, not stranded", () => {
    const inputs = [0, 1, 2].map((i) => thread(100 + i, 5))
    const options = {
      mapping: "dynamic",
      randomInitialLayout: -1,
      inputs: [undefined, undefined, { binding: [0] }]
    } as const
    const d = new Driver(inputs, 2, { ...options, handOffInputs: true })
    d.init()
    // DynamoRIO's answer when an input cannot be placed.
    assert.strictEqual(d.core.setActive(0, false), Status.IMPOSSIBLE_BINDING)
    assert.deepStrictEqual(d.core.unrunnable, [2])
    // Output 1 runs the inputs it may run and reaches EOF.
    assert.deepStrictEqual([...drain(d, 2).keys()].sort(), [0, 1])
    // Without hand-off the input waits (stranded) for output 0 to come back.
    const plain = new Driver(inputs, 2, options)
    plain.init()
    plain.core.setActive(0, false)
    assert.deepStrictEqual(plain.core.unrunnable, [])
    assert.throws(() => drain(plain, 2, { maxRounds: 2000 }), /no EOF/)
  })

  it("consistent with handOffInputs: an inactive output's unstarted inputs go to the others, its current one stays", () => {
    const inputs = [0, 1, 2, 3, 4].map((i) => thread(100 + i, 5))
    const d = new Driver(inputs, 2, { mapping: "consistent", handOffInputs: true })
    // Output 0 owns inputs 0, 2, 4; it starts input 0, then its worker fails.
    const s = d.next(0, 0, 2)
    assert.strictEqual(s._tag === "Records" ? s.input : s._tag, 0)
    assert.strictEqual(d.core.setActive(0, false), Status.OK)
    // Output 1 runs its own inputs, then 2 and 4; input 0 is never delivered again.
    assert.deepStrictEqual(runOut(d, 1), { inputs: [1, 3, 2, 4], last: "Eof" })
  })

  it("consistent with handOffInputs: an output deactivated before any of its input reached it hands that input off too", () => {
    const inputs = [0, 1, 2].map((i) => thread(100 + i, 5))
    const d = new Driver(inputs, 2, { mapping: "consistent", handOffInputs: true })
    d.init()
    // Output 0 (inputs 0 and 2) dies before its first record: both go to output 1.
    assert.strictEqual(d.core.setActive(0, false), Status.OK)
    assert.deepStrictEqual(runOut(d, 1), { inputs: [1, 0, 2], last: "Eof" })
  })

  it("consistent: a worker done early (abandon) leaves its unstarted inputs unread, not handed off", () => {
    const inputs = [0, 1, 2, 3].map((i) => thread(100 + i, 5))
    const d = new Driver(inputs, 2, { mapping: "consistent", handOffInputs: true })
    d.next(0)
    d.core.abandon(0)
    d.core.setActive(0, false)
    assert.deepStrictEqual(runOut(d, 1), { inputs: [1, 3], last: "Eof" })
  })

  it("consistent with handOffInputs: an output out of inputs waits while another still holds unstarted ones", () => {
    const inputs = [0, 1, 2].map((i) => thread(100 + i, 5))
    const d = new Driver(inputs, 2, { mapping: "consistent", handOffInputs: true })
    // Output 1 owns input 1 only; output 0 has not started input 2 yet.
    assert.deepStrictEqual(runOut(d, 1), { inputs: [1], last: "Wait" })
    assert.strictEqual(d.next(1)._tag, "Wait")
    d.next(0, 0, 1)
    d.core.setActive(0, false)
    assert.deepStrictEqual(runOut(d, 1), { inputs: [2], last: "Eof" })
    // Without hand-off (DynamoRIO), the output ends with its own list.
    const plain = new Driver(inputs, 2, { mapping: "consistent" })
    assert.deepStrictEqual(runOut(plain, 1), { inputs: [1], last: "Eof" })
  })

  it("consistent with handOffInputs: an output made inactive before the first step hands off its whole list", () => {
    const inputs = [0, 1, 2, 3].map((i) => thread(100 + i, 5))
    const d = new Driver(inputs, 3, { mapping: "consistent", handOffInputs: true })
    assert.strictEqual(d.core.setActive(0, false), Status.OK)
    // Output 1 owns 1; output 2 owns 2; inputs 0 and 3 (output 0's) go to whoever runs out first.
    assert.deepStrictEqual(runOut(d, 2), { inputs: [2, 0, 3], last: "Eof" })
    assert.deepStrictEqual(runOut(d, 1), { inputs: [1], last: "Eof" })
    // An output that never had an input (more outputs than inputs) takes handed-off ones too.
    const e = new Driver([thread(100, 5), thread(101, 5)], 3, { mapping: "consistent", handOffInputs: true })
    e.core.setActive(0, false)
    assert.deepStrictEqual(runOut(e, 2), { inputs: [0], last: "Eof" })
    assert.deepStrictEqual(runOut(e, 1), { inputs: [1], last: "Eof" })
  })

  it("a failing worker's input is finished elsewhere: test_tool_errors shape (5 inputs, 2 outputs)", () => {
    // Output 1 fails on the 4th record of its 2nd run: it keeps records up
    // to and including the failing one, gives back the rest, and goes inactive.
    const inputs = [0, 1, 2, 3, 4].map((i) => thread(100 + i, 9))
    const d = new Driver(inputs, 2, { mapping: "dynamic", randomInitialLayout: -1, quantumDurationInstrs: 3 })
    const delivered = new Map<number, Array<number>>()
    const take = (s: Step, upTo: number) => {
      if (s._tag !== "Records") return
      const list = delivered.get(s.input) ?? []
      for (let i = s.start; i < Math.min(s.end, upTo); i++)
        if (s.batch.type[i] === I) list.push(RecordBatch.addrNumber(s.batch, i))
      delivered.set(s.input, list)
    }
    take(d.next(1), Number.POSITIVE_INFINITY)
    const s = d.next(1)
    assert.strictEqual(s._tag, "Records")
    if (s._tag !== "Records") return
    const failAt = s.start + Math.min(3, s.end - s.start - 1)
    take(s, failAt + 1)
    assert.isTrue(d.core.unread(1, s.end - (failAt + 1)))
    assert.strictEqual(d.core.setActive(1, false), Status.OK)
    // Output 0 alone finishes every input: no hang, and every record is delivered once.
    const rest = drain(d, 2, { maxRounds: 100_000 })
    for (const [input, pcs] of rest) delivered.set(input, [...(delivered.get(input) ?? []), ...pcs])
    for (let i = 0; i < 5; i++) {
      assert.deepStrictEqual(
        delivered.get(i),
        Array.from({ length: 9 }, (_, j) => (100 + i) * 1000 + j)
      )
    }
  })

  it("a deactivated output's queue moves to active outputs; with none active nothing is dropped", () => {
    const inputs = [0, 1, 2, 3, 4, 5].map((i) => thread(100 + i, 4))
    const d = new Driver(inputs, 2, { mapping: "dynamic", randomInitialLayout: -1, quantumDurationInstrs: 2 })
    d.next(0, 0, 3)
    d.next(1, 0, 3)
    assert.strictEqual(d.core.setActive(0, false), Status.OK)
    assert.strictEqual(d.core.setActive(1, false), Status.OK)
    for (let k = 0; k < 3; k++) {
      assert.strictEqual(d.next(0)._tag, "Idle")
      assert.strictEqual(d.next(1)._tag, "Idle")
    }
    assert.strictEqual(d.core.setActive(1, true), Status.OK)
    const seen = drain(d, 2, { maxRounds: 100_000 })
    // Every remaining instruction is delivered, by output 1.
    let total = 0
    for (const pcs of seen.values()) total += pcs.length
    assert.strictEqual(total + 2, 6 * 4)
  })

  it("bindings to inactive outputs only: the input waits for its output (DynamoRIO drops it, #7172)", () => {
    const inputs = [thread(100, 4), thread(101, 4)]
    const d = new Driver(inputs, 2, {
      mapping: "dynamic",
      randomInitialLayout: -1,
      quantumDurationInstrs: 2,
      inputs: [{ binding: [1] }, {}]
    })
    d.init()
    assert.strictEqual(d.core.setActive(1, false), Status.IMPOSSIBLE_BINDING)
    // Output 0 runs input 1 to its end, then idles: input 0 may only run on output 1.
    let idles = 0
    for (let k = 0; k < 50; k++) if (d.next(0)._tag === "Idle") idles++
    assert.isAbove(idles, 0)
    assert.strictEqual(d.core.setActive(1, true), Status.OK)
    const seen = drain(d, 2, { maxRounds: 100_000 })
    assert.deepStrictEqual(seen.get(0), [100000, 100001, 100002, 100003])
  })
})
