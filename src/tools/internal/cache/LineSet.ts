/**
 * A growable open-addressing set of 64-bit line (or page) numbers held as
 * exact hi/lo u32 halves: DynamoRIO's `access_count_t`, which remembers every
 * block that ever missed so that a later miss on it is not compulsory.
 *
 * Line numbers are addresses shifted right by at least 2 bits, so the high
 * half never reaches 0xffffffff, which therefore marks an empty slot.
 */

const EMPTY = 0xffffffff

export class LineSet {
  size = 0
  private mask: number
  private lo: Uint32Array
  private hi: Uint32Array

  constructor(initialCapacity = 1024) {
    let cap = 16
    while (cap < initialCapacity * 2) cap *= 2
    this.mask = cap - 1
    this.lo = new Uint32Array(cap)
    this.hi = new Uint32Array(cap).fill(EMPTY)
  }

  /** Adds the line; true if it was not there before. */
  add(lineLo: number, lineHi: number): boolean {
    const mask = this.mask
    const los = this.lo
    const his = this.hi
    let h = Math.imul(lineLo ^ Math.imul(lineHi, 0x9e3779b1), 0x85ebca6b)
    h ^= h >>> 15
    let slot = h & mask
    for (;;) {
      const sh = his[slot]!
      if (sh === EMPTY) break
      if (sh === lineHi && los[slot] === lineLo) return false
      slot = (slot + 1) & mask
    }
    los[slot] = lineLo
    his[slot] = lineHi
    this.size++
    if (this.size * 2 > mask) this.grow()
    return true
  }

  has(lineLo: number, lineHi: number): boolean {
    const mask = this.mask
    let h = Math.imul(lineLo ^ Math.imul(lineHi, 0x9e3779b1), 0x85ebca6b)
    h ^= h >>> 15
    let slot = h & mask
    for (;;) {
      const sh = this.hi[slot]!
      if (sh === EMPTY) return false
      if (sh === lineHi && this.lo[slot] === lineLo) return true
      slot = (slot + 1) & mask
    }
  }

  private grow(): void {
    const oldLo = this.lo
    const oldHi = this.hi
    const cap = oldLo.length * 2
    this.mask = cap - 1
    this.lo = new Uint32Array(cap)
    this.hi = new Uint32Array(cap).fill(EMPTY)
    this.size = 0
    for (let i = 0; i < oldLo.length; i++) {
      if (oldHi[i] !== EMPTY) this.add(oldLo[i]!, oldHi[i]!)
    }
  }
}
