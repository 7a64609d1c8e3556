/**
 * DynamoRIO's clients/drcachesim/tests/cache_replacement_policy_unit_test.cpp,
 * ported for the replacement policies memtrace implements (LRU, LFU, FIFO, on
 * caches and on TLBs), through memtrace's caching device
 * (src/tools/internal/cache/Device.ts).
 *
 * DynamoRIO's test, after every access (`access_and_check`: a 1-byte READ,
 * pid 1) or invalidation (`invalidate_and_check`: `invalidate(tag,
 * INVALIDATION_INCLUSIVE)`), asserts `get_next_way_to_replace(block_idx)`:
 * the first invalid way of the set, else the policy's victim. memtrace's
 * device has no such query, so each check is observed instead: a fresh device
 * replays the same operations, then takes one miss on a new tag of the same set
 * (`replace_which_way` picks exactly `get_next_way_to_replace`), and the way
 * that new tag lands in is the answer. An invalidation is memtrace's `flush`
 * of that one line (DynamoRIO's `invalidate` and `flush` both clear the block
 * and call the policy's `invalidation_update`; for set 0, the only set used
 * here, flush's set-index quirk makes no difference).
 *
 * The operation strings are DynamoRIO's sequences verbatim: `aX n` =
 * access_and_check(addr_vec[ADDR_X], n), `iX n` = invalidate_and_check.
 *
 * Not ported (memtrace implements neither RRIP nor BIT_PLRU, nor exclusive
 * caches): unit_test_cache_srrip_four_way, unit_test_cache_brrip_four_way,
 * unit_test_cache_srrip_exclusive, unit_test_tlb_plru_four_way.
 */
import { assert, describe, it } from "@effect/vitest"
import { Device, flush, type PolicyName, request } from "../../src/tools/internal/cache/Device.ts"
import { TraceType } from "../../src/trace/Record.ts"

/** DynamoRIO's addr_vec: ADDR_A..ADDR_L, same set and different tags for these geometries. */
const ADDR = (letter: string): number => 128 * (letter.charCodeAt(0) - "A".charCodeAt(0))
const LETTERS = "ABCDEFGHIJKL"
/** A tag no sequence uses, in the same set (set 0) as every ADDR. */
const PROBE = 128 * 100

interface Geometry {
  readonly policy: PolicyName
  readonly assoc: number
  readonly lineSize: number
  /** Total bytes for caches; entries for TLBs. */
  readonly size: number
  readonly tlb?: boolean
}

const makeDevice = (g: Geometry) =>
  new Device({
    name: g.tlb === true ? "TLB" : "cache",
    assoc: g.assoc,
    blockSize: g.lineSize,
    numBlocks: g.tlb === true ? g.size : g.size / g.lineSize,
    policy: g.policy,
    tlb: g.tlb
  })

interface Op {
  readonly kind: "a" | "i"
  readonly letter: string
  readonly expected: number
}

const parse = (ops: string): Array<Op> =>
  ops
    .trim()
    .split(/\s+/)
    .map((s) => ({ kind: s[0] as "a" | "i", letter: s[1]!, expected: Number(s.slice(2)) }))

const apply = (d: Device, op: Op, lineSize: number) => {
  if (op.kind === "a") request(d, TraceType.READ, ADDR(op.letter), 0, 1, 1)
  else flush(d, ADDR(op.letter), 0, lineSize, 0)
}

/** The way a miss on a new tag of set 0 takes after `ops`: DynamoRIO's get_next_way_to_replace. */
const nextWayToReplace = (g: Geometry, ops: ReadonlyArray<Op>): number => {
  const d = makeDevice(g)
  for (const op of ops) apply(d, op, g.lineSize)
  request(d, TraceType.READ, PROBE, 0, 1, 1)
  const tag = PROBE >>> d.blockBits
  for (let w = 0; w < d.assoc; w++) {
    if (d.tagLo[w] === tag && d.tagHi[w] === 0) return w
  }
  return -1
}

/** DynamoRIO's test: the sanity checks on the geometry, then every check of the sequence. */
const runSequence = (g: Geometry, sequence: string) => {
  const d = makeDevice(g)
  // get_replace_policy()
  assert.strictEqual(d.policyName, g.policy)
  // block_indices_are_identical(addr_vec) and tags_are_different(addr_vec)
  const tags = [...LETTERS].map((l) => ADDR(l) >>> d.blockBits)
  assert.deepStrictEqual(new Set(tags.map((t) => t & d.setMask)), new Set([0]))
  assert.strictEqual(new Set(tags).size, LETTERS.length)
  const ops = parse(sequence)
  const label = (k: number) => `#${k + 1} ${ops[k]!.kind === "a" ? "access" : "invalidate"} ${ops[k]!.letter}`
  const actual = ops.map((_, k) => `${label(k)} -> ${nextWayToReplace(g, ops.slice(0, k + 1))}`)
  const expected = ops.map((op, k) => `${label(k)} -> ${op.expected}`)
  assert.deepStrictEqual(actual, expected)
}

describe("cache_replacement_policy_unit_test.cpp", () => {
  it("unit_test_cache_lru_four_way", () => {
    runSequence(
      { policy: "LRU", assoc: 4, lineSize: 32, size: 256 },
      `aA1 aB2 aC3 aD0 aA1 aA1 aA1 aE2 iA0 aF2 aA3 aB1 aC0 iC1 aD0 aC2 aA3 aE1`
    )
  })

  it("unit_test_cache_lru_eight_way", () => {
    runSequence(
      { policy: "LRU", assoc: 8, lineSize: 64, size: 1024 },
      `aA1 aB2 aC3 aD4 aE5 aF6 aG7 aH0 aE0 aA1 aA1 aI2 aJ3 aK5 aL6 aL6 iG6 aB7 aC4 iL5 iJ2 iC2 aI2 aC5 aD7 aF4`
    )
  })

  it("unit_test_cache_fifo_four_way", () => {
    runSequence(
      { policy: "FIFO", assoc: 4, lineSize: 32, size: 256 },
      `aA1 aB2 aC3 aD0 aA0 aA0 aA0 aE1 aF2 aF2 aG3 aG3 aH0 aA1 iG2 aG1 aB3 iH3 iA0 aA3 aB3 aC2 aD1`
    )
  })

  it("unit_test_cache_fifo_eight_way", () => {
    runSequence(
      { policy: "FIFO", assoc: 8, lineSize: 64, size: 1024 },
      `aA1 aB2 aC3 aD4 aE5 aF6 aG7 aH0 aE0 aA0 aA0 aI1 aJ2 aK3 aL4 aL4 iG6 iK2 aA6 aB4 aC5 aD7`
    )
  })

  it("unit_test_cache_lfu_four_way", () => {
    runSequence(
      { policy: "LFU", assoc: 4, lineSize: 32, size: 256 },
      `aA1 aB2 aC3 aD0 aA1 aD1 aD1 aB2 aC0 aB0 aA2 aC0 iC2 aE2 aE2 iB1 aF1 aG1 aG1 aG2 aE0 aB0`
    )
  })

  it("unit_test_cache_lfu_eight_way", () => {
    runSequence(
      { policy: "LFU", assoc: 8, lineSize: 64, size: 1024 },
      `aA1 aB2 aC3 aD4 aE5 aF6 aG7 aH0 aE0 aD0 aC0 aA1 aB5 iC2 aI2 aI5 iG6 iB1 aJ6 aK1 aL1 aL5 aF6 aA6 aL6 aK7 aH2
       aD2 aI4`
    )
  })

  it("unit_test_tlb_lfu_four_way", () => {
    runSequence({ policy: "LFU", assoc: 4, lineSize: 64, size: 4, tlb: true }, `aA1 aB2 aC3 aD0 aA1 aC1 aB3 aE3 aD3`)
  })
})
