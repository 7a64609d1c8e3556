import { assert, describe, it } from "@effect/vitest"
import * as Histogram from "../../src/tools/Histogram.ts"
import { TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import { runEntriesSync } from "../utils/runTool.ts"

const run = (threads: ReadonlyArray<ReadonlyArray<S.Entry>>, options?: Parameters<typeof Histogram.make>[0]) =>
  runEntriesSync(Histogram.make(options), threads)

const top = (lines: Histogram.LineCounts) =>
  lines.hi.map((hi, k) => [((BigInt(hi) << 32n) | BigInt(lines.lo[k]!)).toString(16), lines.count[k]!])

describe("histogram", () => {
  it("counts every line an access overlaps, on the instruction or the data side", () => {
    const r: Histogram.Result = run([
      S.thread(1, [
        S.instr(0x103e, TraceType.INSTR, 4), // 0x1000 and 0x1040
        S.instr(0x1040, TraceType.INSTR_DIRECT_JUMP, 2),
        S.instr(0x1080, TraceType.INSTR_NO_FETCH, 2), // ignored
        S.entry(TraceType.PREFETCH_INSTR, 1, 0x10c0), // instruction side
        S.read(0x2000, 0), // no line
        S.read(0x2010, 8),
        S.write(0x203c, 16), // 0x2000 and 0x2040
        S.entry(TraceType.PREFETCHNTA, 64, 0x2080),
        S.entry(TraceType.HARDWARE_PREFETCH, 1, 0x20c0),
        S.entry(TraceType.DATA_FLUSH, 64, 0x3000), // ignored
        S.exit(1)
      ])
    ]).result
    assert.deepStrictEqual([r.icacheUnique, r.dcacheUnique], [3, 4])
    assert.deepStrictEqual(top(r.icacheTop), [
      ["1040", 2],
      ["1000", 1],
      ["10c0", 1]
    ])
    assert.deepStrictEqual(top(r.dcacheTop), [
      ["2000", 2],
      ["2040", 1],
      ["2080", 1],
      ["20c0", 1]
    ])
  })

  it("unites lines across shards, summing their counts", () => {
    const r: Histogram.Result = run([
      S.thread(1, [S.instr(0x1000), S.instr(0x1001), S.read(0x5000), S.exit(1)]),
      S.thread(2, [S.instr(0x1002), S.instr(0x2000), S.read(0x5008), S.exit(2)])
    ]).result
    assert.deepStrictEqual([r.icacheUnique, r.dcacheUnique], [2, 1])
    assert.deepStrictEqual(top(r.icacheTop), [
      ["1000", 3],
      ["2000", 1]
    ])
    assert.deepStrictEqual(top(r.dcacheTop), [["5000", 2]])
  })

  it("keeps 64-bit lines exact and never counts the last line of the address space", () => {
    const r: Histogram.Result = run([
      S.thread(1, [
        S.read(0xffff_8000_0000_0000n),
        S.read(0xffff_8000_0000_0040n),
        S.read(0xffff_8000_0000_0040n),
        S.read(0xffff_ffff_ffff_ff80n, 64), // the line before the last: counted
        S.read(0xffff_ffff_ffff_ffc0n, 8), // DynamoRIO's overflow guard stops here
        S.read(0xffff_ffff_ffff_ffc0n, 64), // the end wraps to 0: nothing
        S.exit(1)
      ])
    ]).result
    assert.deepStrictEqual(top(r.dcacheTop), [
      ["ffff800000000040", 2],
      ["ffff800000000000", 1],
      ["ffffffffffffff80", 1]
    ])
  })

  it("lists the top lines with ties by address, for any line size and top size", () => {
    const r = run(
      [
        S.thread(1, [S.read(0x300), S.read(0x100), S.read(0x200), S.read(0x180), S.read(0x80), S.read(0x10), S.exit(1)])
      ],
      { lineSize: 256, reportTop: 2 }
    )
    const result: Histogram.Result = r.result
    assert.strictEqual(result.dcacheUnique, 4)
    assert.strictEqual(
      r.text,
      [
        "Cache line histogram tool results:",
        "icache: 0 unique cache lines",
        "dcache: 4 unique cache lines",
        "icache top 2",
        "dcache top 2",
        // Line 0 prints as a bare 0 (std::showbase).
        "                 0: 2",
        "             0x100: 2",
        ""
      ].join("\n")
    )
  })

  it("takes undefined options as defaults and rejects a line size that is not a power of two", () => {
    const threads = [S.thread(1, [S.read(0x10), S.read(0x50), S.read(0x90), S.exit(1)])]
    assert.strictEqual(
      run(threads, { lineSize: undefined, reportTop: undefined }).text,
      runEntriesSync(Histogram.histogram, threads).text
    )
    // Worded `<tool>: <option> …` with the library's option name: the CLI names -line_size instead.
    assert.throws(
      () => Histogram.make({ lineSize: 48 }),
      RangeError,
      "histogram: lineSize must be a power of two, got 48"
    )
  })
})
