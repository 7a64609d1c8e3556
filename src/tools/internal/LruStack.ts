/**
 * An LRU stack of ids answering "how many distinct ids were touched since this
 * one was last touched" (its depth; 0 = the most recent) in O(log n).
 *
 * Every touch gives the id a fresh, increasing position; a Fenwick tree over
 * positions marks the positions still in use, so an id's depth is the number
 * of marks after its position. When positions run out the live ids are
 * renumbered in order (compaction), growing the tree when more than half of it
 * is live; that keeps the amortised cost of a touch at O(log n).
 */
export class LruStack {
  /** Ids in the stack. */
  live = 0
  private capacity: number
  private tree: Int32Array
  /** Id at each position, -1 when the position is free. */
  private owner: Int32Array
  /** Position of each id, -1 when absent. */
  private posOf: Int32Array
  private nextPos = 0

  constructor(initialCapacity = 4096) {
    let cap = 16
    while (cap < initialCapacity) cap *= 2
    this.capacity = cap
    this.tree = new Int32Array(cap + 1)
    this.owner = new Int32Array(cap).fill(-1)
    this.posOf = new Int32Array(1024).fill(-1)
  }

  /** Depth of `id` (which must be in the stack): 0 for the most recent. */
  depth(id: number): number {
    let i = this.posOf[id]! + 1
    let s = 0
    const tree = this.tree
    while (i > 0) {
      s += tree[i]!
      i -= i & -i
    }
    return this.live - s
  }

  /** Puts a new id on top. */
  pushFront(id: number): void {
    if (id >= this.posOf.length) {
      let len = this.posOf.length * 2
      while (len <= id) len *= 2
      const p = new Int32Array(len).fill(-1)
      p.set(this.posOf)
      this.posOf = p
    }
    this.live++
    this.place(id)
  }

  /** Moves an id already in the stack to the top. */
  moveToFront(id: number): void {
    const pos = this.posOf[id]!
    this.owner[pos] = -1
    this.add(pos, -1)
    this.place(id)
  }

  /** Removes and returns the least recent id (the stack must not be empty). */
  removeTail(): number {
    // The first marked position: descend the tree for the smallest prefix reaching 1.
    const tree = this.tree
    let pos = 0
    let step = 1
    while (step * 2 <= this.capacity) step *= 2
    for (; step > 0; step >>= 1) {
      const next = pos + step
      if (next <= this.capacity && tree[next]! < 1) pos = next
    }
    const id = this.owner[pos]!
    this.owner[pos] = -1
    this.add(pos, -1)
    this.posOf[id] = -1
    this.live--
    return id
  }

  private place(id: number): void {
    if (this.nextPos === this.capacity) this.compact()
    const pos = this.nextPos++
    this.owner[pos] = id
    this.posOf[id] = pos
    this.add(pos, 1)
  }

  private add(pos: number, delta: number): void {
    const tree = this.tree
    const n = this.capacity
    for (let i = pos + 1; i <= n; i += i & -i) tree[i]! += delta
  }

  private compact(): void {
    // `live` already counts the id being placed; keep at least half the positions free.
    const grow = this.live * 2 > this.capacity
    const capacity = grow ? this.capacity * 2 : this.capacity
    const owner = grow ? new Int32Array(capacity) : this.owner
    // Live ids slide down in order (p <= q, so in place is safe when not growing).
    let p = 0
    for (let q = 0; q < this.nextPos; q++) {
      const id = this.owner[q]!
      if (id < 0) continue
      owner[p] = id
      this.posOf[id] = p
      p++
    }
    owner.fill(-1, p)
    // Positions 0..p-1 are marked: node i covers (i - lowbit(i), i].
    const tree = grow ? new Int32Array(capacity + 1) : this.tree
    for (let i = 1; i <= capacity; i++) tree[i] = Math.min(i, p) - Math.min(i - (i & -i), p)
    this.capacity = capacity
    this.owner = owner
    this.tree = tree
    this.nextPos = p
  }
}
