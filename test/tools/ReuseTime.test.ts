import { assert, describe, it } from "@effect/vitest"
import * as ReuseTime from "../../src/tools/ReuseTime.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import { runEntriesSync } from "../utils/runTool.ts"

const run = (threads: ReadonlyArray<ReadonlyArray<S.Entry>>, options?: Partial<ReuseTime.Options>) =>
  runEntriesSync(ReuseTime.make(options), threads)

describe("reuse_time", () => {
  it("measures reuse in data accesses since the line's previous access", () => {
    // Lines A B A A C B: reuse times 2 (A), 1 (A), 4 (B); instructions only counted.
    const A = 0x1000
    const B = 0x2000
    const C = 0x3000
    const r = run([
      S.thread(1, [
        S.read(A),
        S.instr(0x10),
        S.write(B + 8),
        S.read(A + 63),
        S.marker(MarkerType.TIMESTAMP, 1),
        S.entry(TraceType.PREFETCHT1, 8, A),
        S.instr(0x11, TraceType.INSTR_NO_FETCH),
        S.read(C),
        S.read(B),
        S.exit(1)
      ])
    ])
    assert.strictEqual(
      r.text,
      [
        "Reuse time tool aggregated results:",
        "Total accesses: 6",
        "Total instructions: 1",
        "Mean reuse time: 2.33",
        "Reuse time histogram:",
        "Distance       Count  Percent  Cumulative",
        "       1           1   33.33%      33.33%",
        "       2           1   33.33%      66.67%",
        "       4           1   33.33%     100.00%",
        ""
      ].join("\n")
    )
  })

  it("prints -nan for the mean when nothing was reused", () => {
    const r = run([S.thread(1, [S.read(0x1000), S.read(0x2000), S.exit(1)])])
    assert.include(r.text.split("\n"), "Mean reuse time: -nan")
  })

  it("prints 10 histogram rows unless verbose, and keeps long reuse times exact", () => {
    // Reuse times 1..12, then one of 70000.
    const body: Array<S.Entry> = []
    for (let t = 1; t <= 12; t++) {
      body.push(S.read(0x100000 + t * 64))
      for (let k = 1; k < t; k++) body.push(S.read(0x900000 + (t * 100 + k) * 64))
      body.push(S.read(0x100000 + t * 64))
    }
    body.push(S.read(0x5000))
    for (let k = 1; k < 70_000; k++) body.push(S.read(0x10000000 + k * 64))
    body.push(S.read(0x5000))
    const quiet = run([S.thread(1, [...body, S.exit(1)])])
    const rows = quiet.text.split("\n")
    assert.strictEqual(rows[rows.length - 2], "... (increase verbosity to see entire histogram)")
    assert.strictEqual(rows.filter((l) => /^ +\d+ +\d+ /.test(l)).length, 10)
    const verbose = run([S.thread(1, [...body, S.exit(1)])], { verbose: 1 })
    const r: ReuseTime.Result = verbose.result
    assert.deepStrictEqual(r.aggregate.histogram.key, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 70_000])
    assert.deepStrictEqual(r.aggregate.histogram.count, Array(13).fill(1))
    assert.include(verbose.text, "\n   70000           1    7.69%     100.00%\n")
  })

  it("sums shards in the aggregate and prints shards by accesses, most first", () => {
    const r = run([
      S.thread(5, [S.read(0x10), S.read(0x10), S.exit(5)]),
      S.thread(6, [S.read(0x10), S.read(0x10), S.read(0x80), S.read(0x10), S.instr(1), S.exit(6)])
    ])
    const result: ReuseTime.Result = r.result
    assert.deepStrictEqual([result.aggregate.accesses, result.aggregate.instructions], [6, 1])
    assert.deepStrictEqual(result.aggregate.histogram, { key: [1, 2], count: [2, 1] })
    const titles = r.text.split("\n").filter((l) => l.startsWith("Reuse time tool results"))
    assert.deepStrictEqual(titles, [
      "Reuse time tool results for shard 1 (thread 6):",
      "Reuse time tool results for shard 0 (thread 5):"
    ])
  })

  it("rejects a line size that is not a power of two, naming the option `<tool>: <option> …`", () => {
    // The library's option name: the CLI names -line_size instead.
    assert.throws(
      () => ReuseTime.make({ lineSize: 48 }),
      RangeError,
      "reuse_time: lineSize must be a power of two, got 48"
    )
  })
})
