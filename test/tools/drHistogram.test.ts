/**
 * DynamoRIO's clients/drcachesim/tests/histogram_test.cpp, ported: the same
 * memrefs (memref_gen.h's `gen_instr` is a 1-byte TRACE_TYPE_INSTR unless a
 * size is given; `gen_data` a READ or WRITE of the given size), tid 1, one
 * shard, through memtrace's histogram tool.
 *
 * DynamoRIO's `reduce_results(&icache, &dcache)` is the merged result's
 * unique counts; `get_icache_counts()` the merged instruction-side line
 * counts (here: the shard's full icache table, summed by `merge`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Histogram from "../../src/tools/Histogram.ts"
import { TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import { runEntriesSync } from "../utils/runTool.ts"

const LINE_SIZE = 64

/** memref_gen.h's gen_instr(tid, pc, size = 1). */
const genInstr = (pc: number, size = 1): S.Entry => S.instr(pc, TraceType.INSTR, size)
/** memref_gen.h's gen_data(tid, load, addr, size). */
const genData = (load: boolean, addr: number, size: number): S.Entry =>
  load ? S.read(addr, size) : S.write(addr, size)

/** The memrefs both sub-cases use. */
const memrefs = (): Array<S.Entry> => [
  genInstr(20 * LINE_SIZE),
  genData(true, 10 * LINE_SIZE, 8),
  genInstr(21 * LINE_SIZE),
  genData(true, 11 * LINE_SIZE, 8),
  genInstr(22 * LINE_SIZE),
  genData(true, 12 * LINE_SIZE, 8),
  // Test repeated lines: should not affect unique.
  genInstr(20 * LINE_SIZE),
  genData(true, 10 * LINE_SIZE, 8),
  // Test crossing a cache line.
  genData(false, 30 * LINE_SIZE - 4, 8),
  genData(false, 40 * LINE_SIZE - 4, LINE_SIZE + 5),
  genInstr(50 * LINE_SIZE - 3, 4)
]

const icacheCounts = (lines: Histogram.LineCounts): Map<number, number> =>
  new Map(lines.lo.map((lo, k) => [lines.hi[k]! * 2 ** 32 + lo, lines.count[k]!]))

describe("histogram_test.cpp", () => {
  it("check_cross_line", () => {
    const tool = Histogram.make({ lineSize: LINE_SIZE, reportTop: 0 })
    const r = runEntriesSync(tool, [S.thread(1, [...memrefs(), S.exit(1)])])
    const result: Histogram.Result = r.result
    assert.deepStrictEqual([result.icacheUnique, result.dcacheUnique], [5, 8])
  })

  it("check_parallel_reduce", () => {
    const tool = Histogram.make({ lineSize: LINE_SIZE, reportTop: 10 })
    const r = runEntriesSync(tool, [S.thread(1, [...memrefs(), S.exit(1)])])
    const checkIcache = () => {
      // get_icache_counts() reduces again: merge the shard results once more.
      const again: Histogram.Result = tool.merge(r.shards)
      assert.strictEqual(again.icacheUnique, 5)
      const counts = icacheCounts(r.shards[0]!.result.icache)
      assert.strictEqual(counts.get(20 * LINE_SIZE), 2)
      assert.strictEqual(counts.get(21 * LINE_SIZE), 1)
      const top = icacheCounts(again.icacheTop)
      assert.strictEqual(top.get(20 * LINE_SIZE), 2)
      assert.strictEqual(top.get(21 * LINE_SIZE), 1)
    }
    checkIcache()
    // Another reduce inside print_results must not change the result; printing
    // stops before 10 lines when there are fewer.
    const text = tool.print(tool.merge(r.shards))
    assert.strictEqual(text, r.text)
    const expect =
      /Cache line histogram tool results:\nicache: 5 unique cache lines\ndcache: 8 unique cache lines\nicache top 10\n {13}0x500: 2\n {13}0x..0: 1\n {13}0x..0: 1\n {13}0x..0: 1\n {13}0x..0: 1\ndcache top 10\n {13}0x280: 2\n {13}0x..0: 1\n {13}0x..0: 1\n {13}0x..0: 1\n {13}0x..0: 1\n {13}0x..0: 1\n {13}0x..0: 1\n {13}0x..0: 1\n/
    assert.match(text, expect)
    checkIcache()
  })
})
