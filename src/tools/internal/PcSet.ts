/**
 * A set of exact 64-bit code addresses given as (hi, lo) u32 halves, kept as
 * one bitmap per 4 KiB page: a page table (`PairTable`, keyed by the page)
 * gives each touched page 128 words of bits.
 *
 * Use it for instruction addresses (basic_counts' unique PCs): consecutive
 * instructions fall in the same page, so almost every `add` is two compares
 * with the last page and one bit test, with no hashing. Each touched page
 * costs 512 bytes, so a set of sparse data addresses belongs in a `PairTable`.
 *
 * A hot loop may inline `add` (basic_counts does: 14 % of its time, measured
 * on threadsig): keep `bits`, `lastHi`, `lastPage` and `lastBase` in locals,
 * call `turnTo` when the page differs and reload them, set the bit in
 * `bits[lastBase + (lo & 4095) / 32]`, and add the new members to `size`.
 */
import { PairTable } from "./PairTable.ts"

const WORDS_PER_PAGE = 128

export class PcSet {
  /** Members. */
  size = 0
  private readonly pages = new PairTable(64)
  /** Bits of the pages: page `id`'s are at `id × 128`. */
  bits = new Uint32Array(16 * WORDS_PER_PAGE)
  /** The page `add` looked at last (high half, `lo >>> 12`) and where its bits start. */
  lastHi = -1
  lastPage = -1
  lastBase = 0

  /** Adds (hi, lo); returns true when it was not a member. */
  add(hi: number, lo: number): boolean {
    const page = lo >>> 12
    if (page !== this.lastPage || hi !== this.lastHi) this.turnTo(hi, page)
    const off = lo & 4095
    const at = this.lastBase + (off >>> 5)
    const bit = 1 << (off & 31)
    const word = this.bits[at]!
    if ((word & bit) !== 0) return false
    this.bits[at] = word | bit
    this.size++
    return true
  }

  /** Makes (hi, page) the current page, adding it if new (`bits` may be replaced). */
  turnTo(hi: number, page: number): void {
    const id = this.pages.findOrInsert(hi, page)
    const base = id * WORDS_PER_PAGE
    if (base + WORDS_PER_PAGE > this.bits.length) {
      const grown = new Uint32Array(this.bits.length * 2)
      grown.set(this.bits)
      this.bits = grown
    }
    this.lastHi = hi
    this.lastPage = page
    this.lastBase = base
  }

  /** Appends every member's halves to `hi` and `lo` (page by page, ascending within a page). */
  appendTo(hi: Array<number>, lo: Array<number>): void {
    const bits = this.bits
    for (let id = 0; id < this.pages.ids; id++) {
      const pageHi = this.pages.keyHi[id]!
      const pageLo = this.pages.keyLo[id]! * 4096
      const base = id * WORDS_PER_PAGE
      for (let k = 0; k < WORDS_PER_PAGE; k++) {
        let word = bits[base + k]!
        while (word !== 0) {
          const b = 31 - Math.clz32(word & -word)
          hi.push(pageHi)
          lo.push(pageLo + k * 32 + b)
          word &= word - 1
        }
      }
    }
  }
}
