/**
 * The iteration order of a libstdc++ (g++ 12) `std::unordered_set` /
 * `std::unordered_map` after a sequence of insertions, for any hash: bucket
 * counts 1, 13, 29, 59, … (a rehash when the element count would exceed the
 * bucket count), a new key linked at the front of its bucket (or of the whole
 * list when its bucket is empty), and a rehash that relinks nodes in list
 * order. DynamoRIO's tools print by walking such containers (schedule_stats'
 * thread sets and histograms, the cache simulator's traced CPUs per core), so
 * reproducing their output order needs this. Checked against g++ 12.
 *
 * Keys are compared by `id` (a string); `hash` gives the 64-bit hash as a
 * non-negative number below 2^53 (or a negative number, read as its 64-bit
 * two's complement).
 */

const BUCKET_COUNTS = [
  13, 29, 59, 127, 257, 541, 1109, 2357, 5087, 10273, 20753, 42043, 85229, 172933, 351061, 712697, 1447153, 2938679
]

const BEFORE_BEGIN = -2
const NONE = -1

const bucketOf = (hash: number, count: number): number =>
  hash >= 0 ? hash % count : Number(BigInt.asUintN(64, BigInt(hash)) % BigInt(count))

export class StdUnordered<K> {
  private readonly hashOf: (key: K) => number
  private readonly idOf: (key: K) => string
  private readonly keys: Array<K> = []
  private readonly hashes: Array<number> = []
  private readonly next: Array<number> = []
  private readonly index = new Map<string, number>()
  private head = NONE
  private buckets: Array<number> = [NONE]
  private growth = -1

  constructor(hash: (key: K) => number, id: (key: K) => string) {
    this.hashOf = hash
    this.idOf = id
  }

  get size(): number {
    return this.keys.length
  }

  /** The node of `key`, or -1. */
  find(key: K): number {
    return this.index.get(this.idOf(key)) ?? NONE
  }

  /** Inserts `key` unless present; returns its node (stable: insertion rank). */
  insert(key: K): number {
    const id = this.idOf(key)
    const known = this.index.get(id)
    if (known !== undefined) return known
    const size = this.keys.length
    if (this.growth < 0 || size + 1 > this.buckets.length) {
      this.growth++
      this.rehash(BUCKET_COUNTS[this.growth] ?? this.buckets.length * 2 + 1)
    }
    const node = size
    const hash = this.hashOf(key)
    this.keys.push(key)
    this.hashes.push(hash)
    this.next.push(NONE)
    this.index.set(id, node)
    const b = bucketOf(hash, this.buckets.length)
    const before = this.buckets[b]!
    if (before !== NONE) {
      this.next[node] = before === BEFORE_BEGIN ? this.head : this.next[before]!
      if (before === BEFORE_BEGIN) this.head = node
      else this.next[before] = node
    } else {
      this.next[node] = this.head
      this.head = node
      const following = this.next[node]!
      if (following !== NONE) this.buckets[bucketOf(this.hashes[following]!, this.buckets.length)] = node
      this.buckets[b] = BEFORE_BEGIN
    }
    return node
  }

  /** Keys in iteration order. */
  ordered(): Array<K> {
    const out: Array<K> = []
    for (let p = this.head; p !== NONE; p = this.next[p]!) out.push(this.keys[p]!)
    return out
  }

  private rehash(count: number): void {
    const buckets: Array<number> = new Array(count).fill(NONE)
    let p = this.head
    this.head = NONE
    let beginBucket = 0
    while (p !== NONE) {
      const following = this.next[p]!
      const b = bucketOf(this.hashes[p]!, count)
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
