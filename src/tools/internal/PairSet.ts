/**
 * A set of exact 64-bit values given as (hi, lo) u32 halves: open addressing
 * with the two halves side by side in one `Uint32Array`, so a probe is two
 * adjacent loads and no indirection (`PairTable` maps keys to ids and costs a
 * slot load plus two key loads).
 *
 * Use it where only membership and the member list are needed (basic_counts'
 * unique PCs). Empty slots hold (2^32-1, 2^32-1); that one key is tracked by a
 * flag of its own. Load factor ≤ 1/2; no removal.
 *
 * In front of the table sits a direct-mapped cache of recent members indexed
 * by the low bits of `lo`: the PCs of a loop hit it without hashing or
 * probing a table larger than L1.
 */

const EMPTY = 0xffffffff
const RECENT = 1024

export class PairSet {
  /** Members. */
  size = 0
  private keys: Uint32Array
  private mask: number
  private hasEmptyKey = false
  private readonly recentLo = new Uint32Array(RECENT).fill(EMPTY)
  private readonly recentHi = new Uint32Array(RECENT).fill(EMPTY)

  constructor(initialCapacity = 256) {
    let cap = 16
    while (cap < initialCapacity * 2) cap *= 2
    this.keys = new Uint32Array(cap * 2).fill(EMPTY)
    this.mask = cap - 1
  }

  /** Adds (hi, lo); returns true when it was not a member. */
  add(hi: number, lo: number): boolean {
    if (lo === EMPTY && hi === EMPTY) {
      if (this.hasEmptyKey) return false
      this.hasEmptyKey = true
      this.size++
      return true
    }
    const r = lo & (RECENT - 1)
    if (this.recentLo[r] === lo && this.recentHi[r] === hi) return false
    this.recentLo[r] = lo
    this.recentHi[r] = hi
    if (!this.insert(hi, lo)) return false
    if (++this.size * 2 > this.mask) this.grow()
    return true
  }

  /** Puts (hi, lo) in the table (not the recent cache); false if it was there. */
  private insert(hi: number, lo: number): boolean {
    const keys = this.keys
    const mask = this.mask
    let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b)
    h ^= h >>> 15
    h = Math.imul(h, 0xc2b2ae35)
    let i = (h ^ (h >>> 16)) & mask
    for (;;) {
      const k = i << 1
      const kl = keys[k]!
      const kh = keys[k + 1]!
      if (kl === lo && kh === hi) return false
      if (kl === EMPTY && kh === EMPTY) {
        keys[k] = lo
        keys[k + 1] = hi
        return true
      }
      i = (i + 1) & mask
    }
  }

  /** Appends every member's halves to `hi` and `lo` (slot order). */
  appendTo(hi: Array<number>, lo: Array<number>): void {
    const keys = this.keys
    for (let k = 0; k < keys.length; k += 2) {
      const kl = keys[k]!
      const kh = keys[k + 1]!
      if (kl !== EMPTY || kh !== EMPTY) {
        hi.push(kh)
        lo.push(kl)
      }
    }
    if (this.hasEmptyKey) {
      hi.push(EMPTY)
      lo.push(EMPTY)
    }
  }

  private grow(): void {
    const old = this.keys
    const cap = (this.mask + 1) * 2
    this.keys = new Uint32Array(cap * 2).fill(EMPTY)
    this.mask = cap - 1
    for (let k = 0; k < old.length; k += 2) {
      const kl = old[k]!
      const kh = old[k + 1]!
      if (kl !== EMPTY || kh !== EMPTY) this.insert(kh, kl)
    }
  }
}
