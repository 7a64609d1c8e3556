import { assert, describe, it } from "@effect/vitest"
import { PairSet } from "../../../src/tools/internal/PairSet.ts"

const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return (t ^ (t >>> 14)) >>> 0
}

const key = (hi: number, lo: number) => (BigInt(hi) << 32n) | BigInt(lo)

describe("PairSet", () => {
  it("agrees with a Set of 64-bit keys, including the key that marks empty slots", () => {
    const next = prng(7)
    const set = new PairSet(4)
    const model = new Set<bigint>()
    // Few distinct high halves and clustered low halves, like addresses; the all-ones key
    // (the empty-slot marker) and zero are in the mix.
    const his = [0, 1, 0x7fff, 0xffffffff]
    const mismatches: Array<string> = []
    for (let step = 0; step < 60_000; step++) {
      const hi = his[next() % his.length]!
      const r = next() % 3002
      const lo = r === 3000 ? 0xffffffff : r === 3001 ? 0 : r * 64
      const k = key(hi, lo)
      const added = set.add(hi, lo)
      if (added === model.has(k) && mismatches.length < 10) mismatches.push(`add ${k} at ${step}`)
      model.add(k)
      if (set.size !== model.size && mismatches.length < 10) mismatches.push(`size at ${step}`)
    }
    assert.deepStrictEqual(mismatches, [])
    assert.isTrue(model.has(key(0xffffffff, 0xffffffff)))
    const hi: Array<number> = []
    const lo: Array<number> = []
    set.appendTo(hi, lo)
    assert.strictEqual(hi.length, model.size)
    assert.deepStrictEqual(new Set(hi.map((h, i) => key(h, lo[i]!))), model)
  })
})
