/**
 * The iteration order of a libstdc++ `std::unordered_map<int64_t, …>` after a
 * sequence of insertions (identity hash, prime bucket counts, new buckets
 * linked at the front). DynamoRIO prints a core's traced CPUs by walking such
 * a map, so reproducing its output needs this order. Checked against g++ 12.
 */

const BUCKET_COUNTS = [
  13, 29, 59, 127, 257, 541, 1109, 2357, 5087, 10273, 20753, 42043, 85229, 172933, 351061, 712697, 1447153, 2938679
]

const BEFORE_BEGIN = -2
const NONE = -1

const bucketOf = (key: number, count: number): number =>
  key >= 0 ? key % count : Number(BigInt.asUintN(64, BigInt(key)) % BigInt(count))

/** @internal */
export class StdUnorderedKeys {
  private readonly keyOf: Array<number> = []
  private readonly next: Array<number> = []
  private readonly present = new Set<number>()
  private head = NONE
  private buckets: Array<number> = [NONE]
  private growth = -1

  has(key: number): boolean {
    return this.present.has(key)
  }

  /** Inserts `key` unless present (like `operator[]` on a missing key). */
  insert(key: number): void {
    if (this.present.has(key)) return
    this.present.add(key)
    const size = this.keyOf.length
    if (this.growth < 0 || size + 1 > this.buckets.length) {
      this.growth++
      this.rehash(BUCKET_COUNTS[this.growth] ?? this.buckets.length * 2 + 1)
    }
    const node = size
    this.keyOf.push(key)
    this.next.push(NONE)
    const b = bucketOf(key, this.buckets.length)
    const before = this.buckets[b]!
    if (before !== NONE) {
      this.next[node] = this.after(before)
      this.link(before, node)
    } else {
      this.next[node] = this.head
      this.head = node
      const following = this.next[node]!
      if (following !== NONE) this.buckets[bucketOf(this.keyOf[following]!, this.buckets.length)] = node
      this.buckets[b] = BEFORE_BEGIN
    }
  }

  /** Keys in iteration order. */
  keys(): Array<number> {
    const out: Array<number> = []
    for (let p = this.head; p !== NONE; p = this.next[p]!) out.push(this.keyOf[p]!)
    return out
  }

  private after(p: number): number {
    return p === BEFORE_BEGIN ? this.head : this.next[p]!
  }

  private link(p: number, node: number): void {
    if (p === BEFORE_BEGIN) this.head = node
    else this.next[p] = node
  }

  private rehash(count: number): void {
    const buckets: Array<number> = new Array(count).fill(NONE)
    let p = this.head
    this.head = NONE
    let beginBucket = 0
    while (p !== NONE) {
      const following = this.next[p]!
      const b = bucketOf(this.keyOf[p]!, count)
      if (buckets[b] === NONE) {
        this.next[p] = this.head
        this.head = p
        buckets[b] = BEFORE_BEGIN
        if (this.next[p] !== NONE) buckets[beginBucket] = p
        beginBucket = b
      } else {
        const before = buckets[b]!
        this.next[p] = before === BEFORE_BEGIN ? this.head : this.next[before]!
        if (before === BEFORE_BEGIN) this.head = p
        else this.next[before] = p
      }
      p = following
    }
    this.buckets = buckets
  }
}
