import { assert, describe, it } from "@effect/vitest"
import { LruStack } from "../../../src/tools/internal/LruStack.ts"

const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return (t ^ (t >>> 14)) >>> 0
}

describe("LruStack", () => {
  it("gives every id's depth as a move-to-front list would, through compactions and growth", () => {
    const next = prng(7)
    const stack = new LruStack(16)
    const list: Array<number> = [] // index 0 = most recent
    let nextId = 0
    const mismatches: Array<string> = []
    for (let step = 0; step < 40_000; step++) {
      const op = next() % 100
      if (list.length === 0 || op < 8 || (step > 20_000 && step < 22_000 && op < 60)) {
        stack.pushFront(nextId)
        list.unshift(nextId++)
      } else if (op < 10 && list.length > 1) {
        const tail = stack.removeTail()
        const expected = list.pop()
        if (tail !== expected) mismatches.push(`removeTail at ${step}: ${tail} vs ${expected}`)
      } else {
        const id = list[next() % list.length]!
        const depth = list.indexOf(id)
        const got = stack.depth(id)
        if (got !== depth) mismatches.push(`depth of ${id} at ${step}: ${got} vs ${depth}`)
        stack.moveToFront(id)
        list.splice(depth, 1)
        list.unshift(id)
      }
      if (stack.live !== list.length) mismatches.push(`live at ${step}`)
      if (mismatches.length > 10) break
    }
    assert.deepStrictEqual(mismatches, [])
    assert.isAbove(list.length, 1000)
    list.forEach((id, depth) => {
      assert.strictEqual(stack.depth(id), depth)
    })
  })
})
