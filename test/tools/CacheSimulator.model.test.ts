/**
 * The caching-device model on hand-made access sequences. Each expectation is
 * worked out from DynamoRIO's rules (semantics §6 and simulator/*.cpp), with
 * the reasoning written above it:
 *
 * - LRU: counters start at 1; on every hit or fill of way w with counter
 *   c > 0, every other way with counter <= c gets +1 and w gets 0; the victim
 *   is the first invalid way, else the first way with the largest counter.
 * - A miss is compulsory when that block never missed in this device before.
 * - A hit counts as a child hit in every device above; a miss goes on to the
 *   parent with the same type.
 * - After a demand miss, L1D requests the next line as a hardware prefetch
 *   (counted as prefetch hit/miss), before the next piece of a split access.
 */
import { assert, describe, it } from "@effect/vitest"
import { Device, flush, type PolicyName, request, Stat } from "../../src/tools/internal/cache/Device.ts"
import { TraceType } from "../../src/trace/Record.ts"

const lo = (a: bigint) => Number(a & 0xffffffffn)
const hi = (a: bigint) => Number(a >> 32n)

const access = (d: Device, addr: bigint, size = 8, type: number = TraceType.READ, pid = 1) =>
  request(d, type, lo(addr), hi(addr), size, pid)

const holdsLine = (d: Device, line: bigint) => d.holds(lo(line), hi(line))

const counts = (d: Device) => ({
  hits: d.stats[Stat.HITS],
  misses: d.stats[Stat.MISSES],
  compulsory: d.stats[Stat.COMPULSORY],
  childHits: d.stats[Stat.CHILD_HITS],
  prefetchHits: d.stats[Stat.PREFETCH_HITS],
  prefetchMisses: d.stats[Stat.PREFETCH_MISSES]
})

const cache = (
  numBlocks: number,
  assoc: number,
  options?: { policy?: PolicyName; parent?: Device; prefetch?: boolean; name?: string }
) =>
  new Device({
    name: options?.name ?? "C",
    assoc,
    blockSize: 64,
    numBlocks,
    policy: options?.policy ?? "LRU",
    parent: options?.parent,
    nextLinePrefetcher: options?.prefetch ?? false
  })

/** Address of 64-byte line `n`. */
const line = (n: number) => BigInt(n) * 64n

describe("LRU replacement", () => {
  it("evicts the least recently used way of the set", () => {
    // One set of 2 ways; lines A=0, B=1, C=2.
    // A: miss, fills way 0 (first invalid); counters [1,1] -> [0,2].
    // B: miss, fills way 1; counters [0,2] -> way 0 (0 <= 2) +1 -> [1,0].
    // A: hit in way 0; [1,0] -> way 1 (0 <= 1) +1 -> [0,1].
    // C: miss, no invalid way; largest counter is way 1 (B): B is evicted; [0,1] -> [1,0].
    // B: miss again (not compulsory: it missed before); victim is way 0 (A).
    const d = cache(2, 2)
    for (const n of [0, 1, 0, 2, 1]) access(d, line(n))
    assert.deepStrictEqual(counts(d), {
      hits: 1,
      misses: 4,
      compulsory: 3,
      childHits: 0,
      prefetchHits: 0,
      prefetchMisses: 0
    })
    assert.isFalse(holdsLine(d, 0n))
    assert.isTrue(holdsLine(d, 1n))
    assert.isTrue(holdsLine(d, 2n))
  })

  it("maps lines to sets by their low bits, each set replacing on its own", () => {
    // 4 sets of 1 way: lines 0, 4, 8 share set 0; line 1 is alone in set 1.
    // 0 miss, 1 miss, 4 miss (evicts 0), 1 hit, 0 miss (evicts 4, not compulsory), 8 miss.
    const d = cache(4, 1)
    for (const n of [0, 1, 4, 1, 0, 8]) access(d, line(n))
    assert.strictEqual(d.stats[Stat.HITS], 1)
    assert.strictEqual(d.stats[Stat.MISSES], 5)
    assert.strictEqual(d.stats[Stat.COMPULSORY], 4)
    assert.isTrue(holdsLine(d, 8n))
    assert.isTrue(holdsLine(d, 1n))
    assert.isFalse(holdsLine(d, 0n))
  })

  it("fills all ways before evicting, then evicts in true LRU order", () => {
    // One set of 4 ways: fill 0,1,2,3; touch 0 and 2; lines 4 and 5 then evict 1 and 3 (oldest first).
    const d = cache(4, 4)
    for (const n of [0, 1, 2, 3, 0, 2, 4, 5]) access(d, line(n))
    assert.isTrue(holdsLine(d, 0n))
    assert.isTrue(holdsLine(d, 2n))
    assert.isFalse(holdsLine(d, 1n))
    assert.isFalse(holdsLine(d, 3n))
    assert.strictEqual(d.stats[Stat.MISSES], 6)
    assert.strictEqual(d.stats[Stat.HITS], 2)
  })
})

describe("LFU and FIFO replacement", () => {
  it("LFU evicts the way with the fewest accesses since it was filled", () => {
    // One set of 2 ways. Fills reset the way's count to 0 and then count the access (1).
    // A: way 0 count 1; A, A: count 3; B: way 1 count 1.
    // C: victim = fewest accesses = way 1 (B), count restarts at 1 for C.
    // B: victim = way 1 again (C has 1 < A's 3), so A survives throughout.
    const d = cache(2, 2, { policy: "LFU" })
    for (const n of [0, 0, 0, 1, 2, 1]) access(d, line(n))
    assert.isTrue(holdsLine(d, 0n))
    assert.isTrue(holdsLine(d, 1n))
    assert.isFalse(holdsLine(d, 2n))
    assert.strictEqual(d.stats[Stat.HITS], 2)
    assert.strictEqual(d.stats[Stat.MISSES], 4)
  })

  it("FIFO evicts the oldest fill even if it was just used", () => {
    // One set of 2 ways; the queue starts [0,1]. Filling way 0 moves it to the back: [1,0];
    // filling way 1: [0,1]. The hit on A changes nothing, so C replaces way 0 (A).
    const d = cache(2, 2, { policy: "FIFO" })
    for (const n of [0, 1, 0, 2]) access(d, line(n))
    assert.isFalse(holdsLine(d, 0n))
    assert.isTrue(holdsLine(d, 1n))
    assert.isTrue(holdsLine(d, 2n))
  })
})

describe("hierarchy", () => {
  it("forwards misses to the parent and counts hits as child hits above", () => {
    // L1 (1 set, 1 way) under an LLC (1 set, 4 ways).
    // 0: L1 miss -> LLC miss. 0: L1 hit (LLC child hit). 1: L1 miss (evicts 0) -> LLC miss.
    // 0: L1 miss -> LLC hit.
    const ll = cache(4, 4, { name: "LL" })
    const l1 = cache(1, 1, { parent: ll })
    for (const n of [0, 0, 1, 0]) access(l1, line(n))
    assert.deepStrictEqual(counts(l1), {
      hits: 1,
      misses: 3,
      compulsory: 2,
      childHits: 0,
      prefetchHits: 0,
      prefetchMisses: 0
    })
    assert.deepStrictEqual(counts(ll), {
      hits: 1,
      misses: 2,
      compulsory: 2,
      childHits: 1,
      prefetchHits: 0,
      prefetchMisses: 0
    })
  })

  it("counts child hits at every level above, not just the parent", () => {
    // Three levels; one miss fills all three, then 15 hits in the L1 are child hits of both L2 and L3.
    const l3 = cache(16, 4)
    const l2 = cache(8, 4, { parent: l3 })
    const l1 = cache(4, 4, { parent: l2 })
    for (let i = 0; i < 16; i++) access(l1, 64n + BigInt(i), 1)
    assert.strictEqual(l1.stats[Stat.HITS], 15)
    assert.strictEqual(l2.stats[Stat.CHILD_HITS], 15)
    assert.strictEqual(l3.stats[Stat.CHILD_HITS], 15)
    assert.strictEqual(l2.stats[Stat.MISSES], 1)
    assert.strictEqual(l3.stats[Stat.MISSES], 1)
  })
})

describe("next-line prefetcher", () => {
  it("prefetches the next line after a demand miss, not after a hit", () => {
    // 0x1000: L1D miss -> LLC miss; prefetch 0x1040: L1D prefetch miss -> LLC prefetch miss.
    // 0x1040: L1D hit (prefetched), no prefetch. 0x1000: hit.
    // Compulsory counts prefetch misses too: 2 in each cache.
    const ll = cache(64, 8, { name: "LL" })
    const l1d = cache(16, 4, { parent: ll, prefetch: true })
    access(l1d, 0x1000n)
    access(l1d, 0x1040n)
    access(l1d, 0x1000n)
    assert.deepStrictEqual(counts(l1d), {
      hits: 2,
      misses: 1,
      compulsory: 2,
      childHits: 0,
      prefetchHits: 0,
      prefetchMisses: 1
    })
    assert.deepStrictEqual(counts(ll), {
      hits: 0,
      misses: 1,
      compulsory: 2,
      childHits: 2,
      prefetchHits: 0,
      prefetchMisses: 1
    })
  })

  it("counts a prefetch of a line already held as a prefetch hit (and a child hit above)", () => {
    // 0x1000 misses and prefetches 0x1040. 0x0fc0 misses and prefetches 0x1000, which is held:
    // an L1D prefetch hit, which the LLC sees as a child hit.
    const ll = cache(64, 8, { name: "LL" })
    const l1d = cache(16, 4, { parent: ll, prefetch: true })
    access(l1d, 0x1000n)
    access(l1d, 0x0fc0n)
    assert.strictEqual(l1d.stats[Stat.MISSES], 2)
    assert.strictEqual(l1d.stats[Stat.PREFETCH_MISSES], 1)
    assert.strictEqual(l1d.stats[Stat.PREFETCH_HITS], 1)
    assert.strictEqual(ll.stats[Stat.CHILD_HITS], 1)
    assert.strictEqual(ll.stats[Stat.MISSES], 2)
    assert.strictEqual(ll.stats[Stat.PREFETCH_MISSES], 1)
  })

  it("issues no prefetch for software prefetches, which count as prefetch accesses", () => {
    const l1d = cache(16, 4, { prefetch: true })
    access(l1d, 0x2000n, 8, TraceType.PREFETCHT0)
    access(l1d, 0x2000n, 8, TraceType.PREFETCHT0)
    assert.strictEqual(l1d.stats[Stat.PREFETCH_MISSES], 1)
    assert.strictEqual(l1d.stats[Stat.PREFETCH_HITS], 1)
    assert.strictEqual(l1d.stats[Stat.MISSES]! + l1d.stats[Stat.HITS]!, 0)
    assert.isFalse(holdsLine(l1d, 0x2040n / 64n))
  })

  it("prefetches after the first piece of a split access, so the second piece hits", () => {
    // 8 bytes at 0x103c cover lines 0x40 and 0x41. Piece [0x103c,0x103f] misses and prefetches
    // [0x107c,0x107f] (line 0x41); the piece [0x1040,0x1043] then hits.
    const ll = cache(64, 8, { name: "LL" })
    const l1d = cache(16, 4, { parent: ll, prefetch: true })
    access(l1d, 0x103cn, 8)
    assert.strictEqual(l1d.stats[Stat.MISSES], 1)
    assert.strictEqual(l1d.stats[Stat.HITS], 1)
    assert.strictEqual(l1d.stats[Stat.PREFETCH_MISSES], 1)
    assert.strictEqual(ll.stats[Stat.CHILD_HITS], 1)
  })
})

describe("addresses", () => {
  it("splits an access into every line it touches", () => {
    // 200 bytes from 0x1010 touch lines 0x40..0x43 (0x1010..0x10d7).
    const d = cache(16, 4)
    access(d, 0x1010n, 200)
    assert.strictEqual(d.stats[Stat.MISSES], 4)
    for (const n of [0x40n, 0x41n, 0x42n, 0x43n]) assert.isTrue(holdsLine(d, n))
  })

  it("keeps 64-bit line numbers exact (kernel addresses)", () => {
    // Lines 0x3fffffffffffffc and ..fd are distinct; as doubles both addresses round to 2^64.
    const d = cache(16, 4)
    access(d, 0xffffffffffffff00n)
    access(d, 0xffffffffffffff40n)
    access(d, 0x00000000ffffff00n)
    assert.strictEqual(d.stats[Stat.MISSES], 3)
    assert.strictEqual(d.stats[Stat.COMPULSORY], 3)
    assert.strictEqual(d.stats[Stat.HITS], 0)
    assert.isTrue(holdsLine(d, 0x3fffffffffffffcn))
    assert.isTrue(holdsLine(d, 0x3fffffffffffffdn))
  })

  it("carries across the 2^32 boundary", () => {
    // 8 bytes at 0xfffffffc: lines 0x3ffffff and 0x4000000.
    const d = cache(16, 4)
    access(d, 0xfffffffcn, 8)
    assert.strictEqual(d.stats[Stat.MISSES], 2)
    assert.isTrue(holdsLine(d, 0x3ffffffn))
    assert.isTrue(holdsLine(d, 0x4000000n))
  })

  it("like DynamoRIO, skips an access whose end wraps past 2^64 and a 0-byte access at a line start", () => {
    // addr + size - 1 wraps below addr, so no line is visited; 0 bytes at 0x1000 end at 0xfff.
    // 0 bytes at 0x1001 end at 0x1000, inside the same line: one access.
    const d = cache(16, 4)
    access(d, 0xfffffffffffffffcn, 8)
    access(d, 0x1000n, 0)
    assert.strictEqual(d.stats[Stat.MISSES]! + d.stats[Stat.HITS]!, 0)
    access(d, 0x1001n, 0)
    assert.strictEqual(d.stats[Stat.MISSES], 1)
  })

  it("skips 0 bytes at address 0, whose end wraps to 2^64 - 1 (DynamoRIO would walk 2^58 lines)", () => {
    const d = cache(16, 4)
    access(d, 0n, 0)
    access(d, 0n, 0, TraceType.INSTR)
    assert.strictEqual(d.stats[Stat.MISSES]! + d.stats[Stat.HITS]!, 0)
    access(d, 0n, 1)
    assert.strictEqual(d.stats[Stat.MISSES], 1)
  })
})

describe("flush", () => {
  it("invalidates the lines in this cache and its parent and counts a flush at each level", () => {
    const ll = cache(64, 8)
    const l1 = cache(16, 4, { parent: ll })
    access(l1, line(5))
    flush(l1, lo(line(5)), 0, 64, 0)
    assert.isFalse(holdsLine(l1, 5n))
    assert.isFalse(holdsLine(ll, 5n))
    assert.strictEqual(l1.stats[Stat.FLUSHES], 1)
    assert.strictEqual(ll.stats[Stat.FLUSHES], 1)
    // The next access misses again but is not compulsory.
    access(l1, line(5))
    assert.strictEqual(l1.stats[Stat.MISSES], 2)
    assert.strictEqual(l1.stats[Stat.COMPULSORY], 1)
  })

  it("updates the LRU counters of set `set * assoc`, as DynamoRIO does", () => {
    // 4 sets of 2 ways. Set 2: lines 2 and 6 fill ways 0 and 1; a hit on 2 leaves counters [0,1].
    // Line 1 (set 1) fills way 0 of set 1. Flushing it hands DynamoRIO's policy the block index
    // 1 * 2 = 2 as a set index: set 2's way 0 becomes max + 1 = 2, so [2,1].
    // Line 10 (set 2) then evicts way 0 (line 2, the most recently used) rather than line 6.
    const d = cache(8, 2)
    for (const n of [2, 6, 2, 1]) access(d, line(n))
    flush(d, lo(line(1)), 0, 64, 0)
    access(d, line(10))
    assert.isFalse(holdsLine(d, 2n))
    assert.isTrue(holdsLine(d, 6n))
    assert.isTrue(holdsLine(d, 10n))
  })

  it("visits held lines in line order for huge ranges", () => {
    const d = cache(16, 4)
    for (const n of [3, 200, 7]) access(d, line(n))
    flush(d, 0, 0, 0, 1) // 4 GiB from address 0
    assert.isFalse(holdsLine(d, 3n))
    assert.isFalse(holdsLine(d, 200n))
    assert.isFalse(holdsLine(d, 7n))
  })
})

describe("TLB entries", () => {
  const tlb = (entries: number, assoc: number, parent?: Device) =>
    new Device({ name: "T", assoc, blockSize: 4096, numBlocks: entries, policy: "LFU", parent, tlb: true })

  it("tags entries by page and process id", () => {
    // Same page, pid 1 then pid 2: two misses; pid 1 again: hit.
    const t = tlb(4, 4)
    access(t, 0x400010n, 8, TraceType.READ, 1)
    access(t, 0x400020n, 8, TraceType.READ, 2)
    access(t, 0x400030n, 8, TraceType.READ, 1)
    assert.strictEqual(t.stats[Stat.MISSES], 2)
    assert.strictEqual(t.stats[Stat.HITS], 1)
    // Compulsory misses are per page, whatever the pid.
    assert.strictEqual(t.stats[Stat.COMPULSORY], 1)
  })

  it("does not count prefetch types separately", () => {
    const t = tlb(4, 4)
    access(t, 0x1000n, 8, TraceType.PREFETCH)
    assert.strictEqual(t.stats[Stat.MISSES], 1)
    assert.strictEqual(t.stats[Stat.PREFETCH_MISSES], 0)
  })
})
