import { assert, describe, it } from "@effect/vitest"
import * as ReuseDistance from "../../src/tools/ReuseDistance.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import { assertShard, model, toStream } from "../utils/reuseModel.ts"
import { runEntriesSync } from "../utils/runTool.ts"

/** A small deterministic PRNG (mulberry32). */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Access {
  readonly addr: bigint
  readonly instr: boolean
}

/** The model of one shard over `accesses`. */
const modelOf = (accesses: ReadonlyArray<Access>, threshold: number, distanceLimit: number, lineSize = 64) =>
  model(
    toStream(
      accesses.map((a) => a.instr),
      accesses.map((a) => a.addr),
      lineSize
    ),
    threshold,
    distanceLimit
  )

const toEntries = (tid: number, accesses: ReadonlyArray<Access>): Array<S.Entry> =>
  S.thread(tid, [...accesses.map((a) => (a.instr ? S.instr(a.addr) : S.read(a.addr))), S.exit(tid)])

const u64 = (hi: number, lo: number) => (BigInt(hi) << 32n) | BigInt(lo)

/** Random accesses over `lines` lines: mostly a hot set, sometimes anywhere, at high addresses. */
const randomAccesses = (seed: number, n: number, lines: number): Array<Access> => {
  const rnd = prng(seed)
  const base = 0x7fff_f000_0000_0000n
  return Array.from({ length: n }, () => {
    const line = rnd() < 0.7 ? Math.floor(rnd() * Math.min(lines, 40)) : Math.floor(rnd() * lines)
    return { addr: base + BigInt(line) * 64n + BigInt(Math.floor(rnd() * 64)), instr: rnd() < 0.6 }
  })
}

const checkAgainstModel = (accesses: ReadonlyArray<Access>, options: Partial<ReuseDistance.Options>) => {
  const o = { ...ReuseDistance.defaults, ...options }
  const tool = ReuseDistance.make(options)
  const run = runEntriesSync(tool, [toEntries(1, accesses)], { batchCapacity: 1000 })
  const shard: ReuseDistance.ShardDistances = run.shards[0]!.result.shards[0]!
  const m = modelOf(accesses, o.distanceThreshold, o.distanceLimit, o.lineSize)
  assert.strictEqual(shard.dataRefs, accesses.filter((a) => !a.instr).length)
  assertShard(shard, accesses.length, m)
  return { run, model: m }
}

describe("reuse_distance", () => {
  it("matches DynamoRIO's move-to-front list on random accesses (distances, distant refs, unique accesses)", () => {
    const { model: m } = checkAgainstModel(randomAccesses(1, 20_000, 400), {})
    // The data exercises distant references and every Fenwick compaction path.
    assert.isAbove(
      [...m.lines.values()].reduce((s, [, d]) => s + d!, 0),
      100
    )
  })

  it("matches with a small threshold and another line size", () => {
    checkAgainstModel(randomAccesses(2, 10_000, 120), { distanceThreshold: 3, lineSize: 256 })
  })

  it("matches with pruning (distance limit), including pruned lines touched again", () => {
    const { model: m } = checkAgainstModel(randomAccesses(3, 10_000, 200), { distanceLimit: 50, distanceThreshold: 20 })
    assert.isAbove(m.prunedHits, 100)
    checkAgainstModel(randomAccesses(4, 3_000, 50), { distanceLimit: 1, distanceThreshold: 0 })
    checkAgainstModel(randomAccesses(5, 3_000, 50), { distanceLimit: 10, distanceThreshold: 30 })
  })

  it("matches when the stack grows past thousands of lines", () => {
    const rnd = prng(6)
    const accesses: Array<Access> = []
    for (let i = 0; i < 6000; i++) accesses.push({ addr: BigInt(i) * 64n, instr: false })
    for (let i = 0; i < 6000; i++) accesses.push({ addr: BigInt(Math.floor(rnd() * 6000)) * 64n, instr: true })
    checkAgainstModel(accesses, {})
  })

  it("sums shards: unique accesses added, lines united with their references summed", () => {
    const a = randomAccesses(7, 3000, 60)
    const b = randomAccesses(8, 2000, 60)
    const run = runEntriesSync(ReuseDistance.reuseDistance, [toEntries(1, a), toEntries(2, b)])
    const r: ReuseDistance.Result = run.result
    const ma = modelOf(a, 100, 0)
    const mb = modelOf(b, 100, 0)
    assert.strictEqual(r.aggregate.totalRefs, 5000)
    assert.strictEqual(r.aggregate.uniqueAccesses, ma.uniqueAccesses + mb.uniqueAccesses)
    assert.strictEqual(r.aggregate.uniqueLines, new Set([...ma.lines.keys(), ...mb.lines.keys()]).size)
    const top = r.aggregate.topByRefs
    for (let k = 0; k < top.hi.length; k++) {
      const line = u64(top.hi[k]!, top.lo[k]!)
      assert.strictEqual(top.refs[k], (ma.lines.get(line)?.[0] ?? 0) + (mb.lines.get(line)?.[0] ?? 0))
    }
    assert.deepStrictEqual(
      r.shards.map((s) => s.tid),
      [1, 2]
    )
    assert.include(run.text, "\nReuse distance tool results for shard 0 (thread 1):\n")
  })

  it("prints -nan and no median when nothing was reused, and only the total for a shard without accesses", () => {
    const run = runEntriesSync(ReuseDistance.reuseDistance, [
      S.thread(1, [S.instr(0x1000), S.instr(0x2000), S.exit(1)]),
      S.thread(2, [S.marker(MarkerType.CPU_ID, 0), S.exit(2)])
    ])
    const text = run.text.split("\n")
    assert.include(text, "Reuse distance mean: -nan")
    assert.include(text, "Reuse distance standard deviation: -nan")
    assert.isFalse(text.some((l) => l.startsWith("Reuse distance median")))
    const shard2 = text.indexOf("Reuse distance tool results for shard 1 (thread 2):")
    assert.deepStrictEqual(text.slice(shard2 + 1), ["Total accesses: 0", ""])
  })

  it("prints DynamoRIO's sections and orders top lines by references, distant references, then address", () => {
    // Lines 0x1040 and 0x1000 get 2 references each; 0x1080 one.
    const run = runEntriesSync(ReuseDistance.make({ reportTop: 2 }), [
      S.thread(1, [S.instr(0x1040), S.read(0x1000), S.instr(0x1041), S.read(0x1080), S.read(0x1001), S.exit(1)])
    ])
    assert.strictEqual(
      run.text,
      [
        "Reuse distance tool aggregated results:",
        "Total accesses: 5",
        "Instruction accesses: 2",
        "Data accesses: 3",
        "Unique accesses: 5",
        "Unique cache lines accessed: 3",
        "Distance limit: 0",
        "Pruned addresses: 0",
        "Pruned address hits: 0",
        "",
        // Distances 1 (0x1040 under 0x1000) and 2 (0x1000 under 0x1080, 0x1040).
        "Reuse distance mean: 1.50",
        "Reuse distance median: 1",
        "Reuse distance standard deviation: 0.50",
        "(Pass -reuse_distance_histogram to see all the data.)",
        "",
        "Reuse distance threshold = 100 cache lines",
        "Top 2 frequently referenced cache lines",
        "        cache line:     #references   #distant refs",
        "            0x1000:            2,            0",
        "            0x1040:            2,            0",
        "Top 2 distant repeatedly referenced cache lines",
        "        cache line:     #references   #distant refs",
        "            0x1000:            2,            0",
        "            0x1040:            2,            0",
        ""
      ].join("\n")
    )
  })

  it("prints geometric histogram bins with their ranges when the bin multiplier is above 1", () => {
    const A = 0x100
    const B = 0x140
    const C = 0x180
    // Distances: 0, 0, 0 (A repeated), 1 (A under B), 1 (B under A), 2 (A under C, B), 5 (B under 3 new lines, A, C).
    const pcs = [A, A, A, A, B, A, B, C, A, 0x1c0, 0x200, 0x240, B]
    const run = runEntriesSync(ReuseDistance.make({ reportHistogram: true, histogramBinMultiplier: 2 }), [
      S.thread(1, [...pcs.map((pc) => S.instr(pc)), S.exit(1)])
    ])
    const text = run.text.split("\n")
    const at = text.indexOf("Reuse distance histogram bin multiplier: 2.00")
    assert.isAbove(at, 0)
    const row = (lo: number, hi: number, n: number, pct: string, cum: string) =>
      `${String(lo).padStart(8)} - ${String(hi).padStart(8)}${String(n).padStart(12)}${pct.padStart(8)}%${cum.padStart(8)}%     : ${"0".padStart(11)}${"0.00".padStart(8)}%${"0.00".padStart(8)}%`
    assert.deepStrictEqual(text.slice(at + 1, at + 7), [
      "Reuse distance histogram:",
      " ".repeat(11) + "                      All References       :            Data References",
      "Distance [min-max] " + "       Count  Percent  Cumulative  :       Count  Percent  Cumulative",
      row(0, 0, 3, "42.86", "42.86"),
      row(1, 2, 3, "42.86", "85.71"),
      row(3, 5, 1, "14.29", "100.00")
    ])
  })

  it("counts prefetches as data and ignores non-fetched instructions and markers", () => {
    const run = runEntriesSync(ReuseDistance.reuseDistance, [
      S.thread(1, [
        S.instr(0x10),
        S.instr(0x10, TraceType.INSTR_NO_FETCH),
        S.entry(TraceType.PREFETCH_INSTR, 8, 0x10),
        S.entry(TraceType.HARDWARE_PREFETCH, 8, 0x10),
        S.marker(MarkerType.TIMESTAMP, 5),
        S.exit(1)
      ])
    ])
    const r: ReuseDistance.Result = run.result
    assert.deepStrictEqual([r.aggregate.totalRefs, r.aggregate.dataRefs], [3, 2])
    assert.deepStrictEqual(r.aggregate.dataHistogram, { key: [0], count: [2] })
  })
})
