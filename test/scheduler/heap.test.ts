import { assert, describe, it } from "@effect/vitest"
import { Heap } from "../../src/scheduler/internal/heap.ts"
import { MinStdRand } from "../../src/scheduler/internal/random.ts"

describe("run-queue heap (DynamoRIO flexible_queue_t layout)", () => {
  it("keeps DynamoRIO's slot layout, which decides back()", () => {
    // A max-heap of ordinals. Parent of n is n / 2 (node 1's parent is the
    // root), so pushing 1..5 sifts each new entry to the root:
    // [1] → [2,1] → [3,2,1] → [4,3,1,2] → [5,4,3,2,1].
    const h = new Heap(8, (a, b) => a < b)
    for (const v of [1, 2, 3, 4, 5]) h.push(v)
    assert.deepStrictEqual(h.toArray(), [5, 4, 3, 2, 1])
    assert.strictEqual(h.back(), 1)
    // pop: the last slot (1) replaces the root and sifts down; the root's
    // only child is node 1: [1,4,3,2] → [4,1,3,2] → [4,3,1,2].
    assert.strictEqual(h.pop(), 5)
    assert.deepStrictEqual(h.toArray(), [4, 3, 1, 2])
    assert.strictEqual(h.back(), 2)
    assert.isFalse(h.push(3))
    assert.isTrue(h.has(3))
    assert.isTrue(h.erase(3))
    assert.isFalse(h.has(3))
    assert.deepStrictEqual([h.pop(), h.pop(), h.pop()], [4, 2, 1])
    assert.isTrue(h.isEmpty())
  })

  it("minstd_rand matches the C++ engine (seed 1: 48271, 182605794, …)", () => {
    const r = new MinStdRand(1)
    assert.deepStrictEqual([r.next(), r.next(), r.next()], [48271, 182605794, 1291394886])
    // A zero seed is replaced by 1, as std::minstd_rand::seed(0) does.
    assert.strictEqual(new MinStdRand(0).next(), 48271)
  })
})
