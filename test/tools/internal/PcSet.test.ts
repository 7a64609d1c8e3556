import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { PcSet } from "../../../src/tools/internal/PcSet.ts"

const key = (hi: number, lo: number) => (BigInt(hi) << 32n) | BigInt(lo)

// Addresses like code: a few high halves, runs of nearby low halves, jumps between pages,
// and the edges (0, the last page below 2^32, a page's first and last byte).
const address = fc.oneof(
  fc.tuple(fc.constantFrom(0, 1, 0x7fff, 0xffff8000, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff })),
  fc.tuple(fc.constantFrom(0, 0x7fff), fc.integer({ min: 0x401000, max: 0x409fff })),
  fc.tuple(fc.constantFrom(0, 0xffffffff), fc.constantFrom(0, 4095, 4096, 0xfffff000, 0xffffffff))
)

describe("PcSet", () => {
  it("agrees with a Set of 64-bit keys at every add, and lists exactly its members", () => {
    fc.assert(
      fc.property(fc.array(address, { maxLength: 3000 }), (adds) => {
        const set = new PcSet()
        const model = new Set<bigint>()
        for (const [hi, lo] of adds) {
          const k = key(hi, lo)
          assert.strictEqual(set.add(hi, lo), !model.has(k))
          model.add(k)
          assert.strictEqual(set.size, model.size)
        }
        const hi: Array<number> = []
        const lo: Array<number> = []
        set.appendTo(hi, lo)
        assert.strictEqual(hi.length, model.size)
        assert.deepStrictEqual(new Set(hi.map((h, i) => key(h, lo[i]!))), model)
      }),
      { numRuns: 200, seed: 20261126 }
    )
  })

  it("keeps its bits when many pages are touched (the bitmap grows)", () => {
    const set = new PcSet()
    // 5,000 pages, three addresses each, every one added twice.
    for (let round = 0; round < 2; round++) {
      for (let p = 0; p < 5000; p++) {
        for (const off of [0, 2048, 4095]) assert.strictEqual(set.add(p & 1, p * 4096 + off), round === 0)
      }
    }
    assert.strictEqual(set.size, 15_000)
    const hi: Array<number> = []
    const lo: Array<number> = []
    set.appendTo(hi, lo)
    assert.strictEqual(new Set(hi.map((h, i) => key(h, lo[i]!))).size, 15_000)
  })
})
