/**
 * An open-addressing hash table keyed by exact 64-bit values given as
 * (hi, lo) u32 halves, mapping each key to a dense id (0, 1, 2, …).
 *
 * The tools keep their per-key data (counts, time stamps) in their own typed
 * arrays indexed by that id, so the per-record path neither allocates nor
 * touches BigInt. Linear probing over an `Int32Array` of `id + 1` (0 = empty),
 * load factor ≤ 1/2, backward-shift deletion (ids of removed keys are never
 * reused).
 */

const hash = (hi: number, lo: number): number => {
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b)
  h ^= h >>> 15
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

export class PairTable {
  /** Keys by id. Entries of removed ids keep their stale keys. */
  keyHi: Uint32Array
  keyLo: Uint32Array
  /** Ids handed out so far (removed ones included). */
  ids = 0
  /** Keys currently present. */
  size = 0
  /** Set by {@link findOrInsert}: whether the last call inserted. */
  inserted = false
  private slots: Int32Array
  private mask: number

  constructor(initialCapacity = 1024) {
    let cap = 16
    while (cap < initialCapacity * 2) cap *= 2
    this.slots = new Int32Array(cap)
    this.mask = cap - 1
    this.keyHi = new Uint32Array(cap >>> 1)
    this.keyLo = new Uint32Array(cap >>> 1)
  }

  /** The id of (hi, lo), or -1. */
  find(hi: number, lo: number): number {
    const slots = this.slots
    const mask = this.mask
    let i = hash(hi, lo) & mask
    for (;;) {
      const s = slots[i]!
      if (s === 0) return -1
      const id = s - 1
      if (this.keyLo[id] === lo && this.keyHi[id] === hi) return id
      i = (i + 1) & mask
    }
  }

  /** The id of (hi, lo), inserting it if absent (then {@link inserted} is true). */
  findOrInsert(hi: number, lo: number): number {
    const slots = this.slots
    const mask = this.mask
    let i = hash(hi, lo) & mask
    for (;;) {
      const s = slots[i]!
      if (s === 0) break
      const id = s - 1
      if (this.keyLo[id] === lo && this.keyHi[id] === hi) {
        this.inserted = false
        return id
      }
      i = (i + 1) & mask
    }
    const id = this.ids++
    if (id >= this.keyHi.length) this.growKeys()
    this.keyHi[id] = hi
    this.keyLo[id] = lo
    slots[i] = id + 1
    this.size++
    this.inserted = true
    if (this.size * 2 > mask) this.rehash(slots.length * 2)
    return id
  }

  /** Removes (hi, lo) if present; returns its id or -1. */
  remove(hi: number, lo: number): number {
    const slots = this.slots
    const mask = this.mask
    let i = hash(hi, lo) & mask
    let id = -1
    for (;;) {
      const s = slots[i]!
      if (s === 0) return -1
      if (this.keyLo[s - 1] === lo && this.keyHi[s - 1] === hi) {
        id = s - 1
        break
      }
      i = (i + 1) & mask
    }
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    let hole = i
    let j = (i + 1) & mask
    for (;;) {
      const s = slots[j]!
      if (s === 0) break
      const home = hash(this.keyHi[s - 1]!, this.keyLo[s - 1]!) & mask
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        slots[hole] = s
        hole = j
      }
      j = (j + 1) & mask
    }
    slots[hole] = 0
    this.size--
    return id
  }

  /** Calls `f` with the id of every present key (in slot order). */
  forEach(f: (id: number) => void): void {
    const slots = this.slots
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!
      if (s !== 0) f(s - 1)
    }
  }

  private growKeys(): void {
    const hi = new Uint32Array(this.keyHi.length * 2)
    const lo = new Uint32Array(this.keyLo.length * 2)
    hi.set(this.keyHi)
    lo.set(this.keyLo)
    this.keyHi = hi
    this.keyLo = lo
  }

  private rehash(capacity: number): void {
    const old = this.slots
    const slots = new Int32Array(capacity)
    const mask = capacity - 1
    for (let k = 0; k < old.length; k++) {
      const s = old[k]!
      if (s === 0) continue
      let i = hash(this.keyHi[s - 1]!, this.keyLo[s - 1]!) & mask
      while (slots[i] !== 0) i = (i + 1) & mask
      slots[i] = s
    }
    this.slots = slots
    this.mask = mask
  }
}

/** Returns `arr`, or a copy at least twice as long holding it, so that index `n` fits. */
export const ensureF64 = <A extends Float64Array>(arr: A, n: number): A | Float64Array<ArrayBuffer> => {
  if (n < arr.length) return arr
  let len = Math.max(16, arr.length * 2)
  while (len <= n) len *= 2
  const out = new Float64Array(len)
  out.set(arr)
  return out
}
