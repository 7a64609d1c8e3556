/**
 * An open-addressing hash table keyed by a 64-bit PC given as exact u32
 * halves, with one int value per key, over typed arrays: no allocation per
 * lookup. `clear()` is O(1) (a generation stamp), which the chunker uses to
 * forget the PCs of a chunk when the next one starts.
 */
export class PcTable {
  private bits: number
  private keyLo: Uint32Array
  private keyHi: Uint32Array
  private values: Int32Array
  private stamps: Uint32Array
  private generation = 1
  private count = 0

  constructor(initialBits: number = 12) {
    this.bits = initialBits
    const n = 1 << initialBits
    this.keyLo = new Uint32Array(n)
    this.keyHi = new Uint32Array(n)
    this.values = new Int32Array(n)
    this.stamps = new Uint32Array(n)
  }

  get size(): number {
    return this.count
  }

  private slotOf(lo: number, hi: number): number {
    const mask = (1 << this.bits) - 1
    let s = (Math.imul(lo ^ Math.imul(hi, 0x85ebca77), 0x9e3779b1) >>> (32 - this.bits)) & mask
    const stamps = this.stamps
    const gen = this.generation
    while (stamps[s] === gen) {
      if (this.keyLo[s] === lo && this.keyHi[s] === hi) return s
      s = (s + 1) & mask
    }
    return s
  }

  /** The value stored for the PC, or -1. */
  get(lo: number, hi: number): number {
    const s = this.slotOf(lo, hi)
    return this.stamps[s] === this.generation ? this.values[s]! : -1
  }

  has(lo: number, hi: number): boolean {
    return this.stamps[this.slotOf(lo, hi)] === this.generation
  }

  set(lo: number, hi: number, value: number): void {
    let s = this.slotOf(lo, hi)
    if (this.stamps[s] !== this.generation) {
      if ((this.count + 1) * 2 > 1 << this.bits) {
        this.grow()
        s = this.slotOf(lo, hi)
      }
      this.stamps[s] = this.generation
      this.keyLo[s] = lo
      this.keyHi[s] = hi
      this.count++
    }
    this.values[s] = value
  }

  /** Forgets every key. */
  clear(): void {
    this.count = 0
    this.generation++
    if (this.generation === 0xffffffff) {
      this.stamps.fill(0)
      this.generation = 1
    }
  }

  private grow(): void {
    const { keyLo, keyHi, values, stamps, generation } = this
    this.bits++
    const n = 1 << this.bits
    this.keyLo = new Uint32Array(n)
    this.keyHi = new Uint32Array(n)
    this.values = new Int32Array(n)
    this.stamps = new Uint32Array(n)
    this.generation = 1
    for (let i = 0; i < stamps.length; i++) {
      if (stamps[i] !== generation) continue
      const s = this.slotOf(keyLo[i]!, keyHi[i]!)
      this.stamps[s] = 1
      this.keyLo[s] = keyLo[i]!
      this.keyHi[s] = keyHi[i]!
      this.values[s] = values[i]!
    }
  }
}
