import { assert, describe, it } from "@effect/vitest"
import { PairTable } from "../../../src/tools/internal/PairTable.ts"

const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return (t ^ (t >>> 14)) >>> 0
}

describe("PairTable", () => {
  it("agrees with a Map of 64-bit keys under random inserts, lookups and removals", () => {
    const next = prng(42)
    const table = new PairTable(4)
    const model = new Map<bigint, number>()
    // Few distinct high halves and clustered low halves, like addresses.
    const his = [0, 1, 0x7fff, 0xffffffff]
    const mismatches: Array<string> = []
    const check = (ok: boolean, what: string) => {
      if (!ok && mismatches.length < 10) mismatches.push(what)
    }
    for (let step = 0; step < 60_000; step++) {
      const hi = his[next() % his.length]!
      const lo = (next() % 3000) * 64
      const key = (BigInt(hi) << 32n) | BigInt(lo)
      const op = next() % 10
      if (op < 6) {
        const id = table.findOrInsert(hi, lo)
        check(table.inserted === !model.has(key), `inserted ${key} at ${step}`)
        if (model.has(key)) check(id === model.get(key), `id of ${key} at ${step}`)
        else model.set(key, id)
        check(table.keyHi[id] === hi && table.keyLo[id] === lo, `key of id ${id} at ${step}`)
      } else if (op < 8) {
        check(table.find(hi, lo) === (model.get(key) ?? -1), `find ${key} at ${step}`)
      } else {
        check(table.remove(hi, lo) === (model.get(key) ?? -1), `remove ${key} at ${step}`)
        model.delete(key)
      }
      check(table.size === model.size, `size at ${step}`)
    }
    assert.deepStrictEqual(mismatches, [])
    const seen = new Set<number>()
    table.forEach((id) => {
      seen.add(id)
    })
    assert.deepStrictEqual(seen, new Set(model.values()))
  })
})
