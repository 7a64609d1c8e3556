/**
 * A binary heap of input ordinals with constant-time membership and removal
 * from the middle: the run-queue container of the dynamic scheduler.
 *
 * The layout rules are DynamoRIO's `flexible_queue_t` (parent of node n is
 * n / 2, children 2n and 2n + 1, so the root's only child is node 1; removal
 * swaps with the last slot then sifts down and up). Only `top` is defined by
 * the ordering alone; `back` (used when a rebalance trims a queue) and
 * `randomEntry` depend on the layout, so the layout must match DynamoRIO's
 * for schedules to match.
 */
import type { MinStdRand } from "./random.ts"

/** `worse(a, b)` is true when `a` has lower priority than `b` (std::priority_queue convention). */
export type Worse = (a: number, b: number) => boolean

/** @internal */
export class Heap {
  private readonly entries: Array<number> = []
  private readonly index: Int32Array

  private readonly worse: Worse
  /** Bumped by every change of contents: lets a caller know the heap is as it left it. */
  version = 0

  constructor(capacity: number, worse: Worse) {
    this.worse = worse
    this.index = new Int32Array(capacity).fill(-1)
  }

  get size(): number {
    return this.entries.length
  }

  isEmpty(): boolean {
    return this.entries.length === 0
  }

  has(entry: number): boolean {
    return this.index[entry]! >= 0
  }

  /** Adds `entry`; false (and no change) if it is already queued. */
  push(entry: number): boolean {
    if (this.index[entry]! >= 0) return false
    this.version++
    this.entries.push(entry)
    const node = this.entries.length - 1
    this.index[entry] = node
    this.up(node)
    return true
  }

  /** The best entry; the heap must not be empty. */
  top(): number {
    return this.entries[0]!
  }

  pop(): number {
    const t = this.entries[0]!
    this.erase(t)
    return t
  }

  /** The last slot: not the worst entry, only "not the best". */
  back(): number {
    return this.entries[this.entries.length - 1]!
  }

  randomEntry(rand: MinStdRand): number {
    return this.entries[rand.next() % this.entries.length]!
  }

  erase(entry: number): boolean {
    const node = this.index[entry]!
    if (node < 0) return false
    this.version++
    const last = this.entries.length - 1
    if (node === last) {
      this.index[entry] = -1
      this.entries.pop()
      return true
    }
    this.swap(node, last)
    this.index[entry] = -1
    this.entries.pop()
    this.down(node)
    this.up(node)
    return true
  }

  /** Entries in slot order (a snapshot). */
  toArray(): Array<number> {
    return this.entries.slice()
  }

  clear(): void {
    this.version++
    for (const e of this.entries) this.index[e] = -1
    this.entries.length = 0
  }

  private swap(a: number, b: number): void {
    const ea = this.entries[a]!
    const eb = this.entries[b]!
    this.entries[a] = eb
    this.entries[b] = ea
    this.index[ea] = b
    this.index[eb] = a
  }

  private down(node: number): void {
    for (;;) {
      const n = this.entries.length
      let best = node
      const left = node * 2 < n ? node * 2 : -1
      const right = node * 2 + 1 < n ? node * 2 + 1 : -1
      if (left >= 0 && !this.worse(this.entries[left]!, this.entries[node]!)) best = left
      if (right >= 0 && !this.worse(this.entries[right]!, this.entries[node]!)) {
        if (best !== left || !this.worse(this.entries[right]!, this.entries[left]!)) best = right
      }
      if (best === node) return
      this.swap(node, best)
      node = best
    }
  }

  private up(node: number): void {
    while (node > 0) {
      const parent = node >> 1
      if (!this.worse(this.entries[parent]!, this.entries[node]!)) return
      this.swap(node, parent)
      node = parent
    }
  }
}
