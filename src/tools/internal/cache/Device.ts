/**
 * DynamoRIO's `caching_device_t` (with `cache_t` and `tlb_t` request rules),
 * its replacement policies (`policy_lru_t`, `policy_lfu_t`, `policy_fifo_t`)
 * and its statistics (`caching_device_stats_t`, `cache_stats_t`) over typed
 * arrays: the hot path of the cache and TLB simulators.
 *
 * Tags are exact 64-bit block numbers kept as u32 halves (a kernel address
 * shifted by 6 is a 58-bit number). A block whose high half is 0xffffffff is
 * invalid: no real block number reaches it (block sizes are at least 4 bytes).
 *
 * The order of every update follows DynamoRIO's, because LRU counters and
 * compulsory-miss sets are order sensitive: victim choice (with the policy's
 * eviction update), statistics, request to the parent, insertion, policy access
 * update, then the next-line prefetch, then the "last tag" shortcut.
 */
import { isPrefetch, TraceType } from "../../../trace/Record.ts"
import { LineSet } from "./LineSet.ts"

/** Replacement policies implemented. @internal */
export type PolicyName = "LRU" | "LFU" | "FIFO"

const LRU = 0
const LFU = 1
const FIFO = 2

const INVALID = 0xffffffff
const TWO32 = 4294967296

/** Indexes into `Device.stats`. @internal */
export const Stat = {
  HITS: 0,
  MISSES: 1,
  COMPULSORY: 2,
  CHILD_HITS: 3,
  INCLUSIVE_INVALIDATES: 4,
  COHERENCE_INVALIDATES: 5,
  EXCLUSIVE_INVALIDATES: 6,
  HITS_AT_RESET: 7,
  MISSES_AT_RESET: 8,
  CHILD_HITS_AT_RESET: 9,
  PREFETCH_HITS: 10,
  PREFETCH_MISSES: 11,
  FLUSHES: 12
} as const

const STAT_COUNT = 13

const PREFETCH_TYPE = new Uint8Array(256)
for (let t = 0; t < 256; t++) PREFETCH_TYPE[t] = isPrefetch(t) ? 1 : 0

/**
 * The largest value DynamoRIO's simulators take for a size, entry count,
 * associativity or block size: they hand them to the caches as `int`
 * (associativities and block sizes, cache sizes before division), index
 * blocks with `int`, and refuse more than `INT_MAX` blocks per way; from
 * 2^31 on a value turns negative (or wraps) and `init` fails. Checked before
 * anything is allocated, so a huge size is a usage error, not an
 * allocation failure.
 *
 * @internal
 */
export const INT_MAX = 0x7fffffff

const isPowerOf2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 0x40000000

/**
 * Why DynamoRIO's `caching_device_t::init` would refuse this geometry, or
 * undefined when it accepts it. `names` words the reason for the device's
 * options (a cache's lines and line size, a TLB's entries and page size).
 *
 * @internal
 */
export const geometryProblem = (
  assoc: number,
  blockSize: number,
  numBlocks: number,
  names: { readonly blocks: string; readonly blockSize: string } = { blocks: "capacity", blockSize: "block size" }
): string | undefined => {
  if (!Number.isInteger(assoc) || !Number.isInteger(numBlocks) || assoc < 1 || numBlocks < 1) {
    return `associativity and ${names.blocks} must be at least 1`
  }
  if (assoc > INT_MAX || numBlocks > INT_MAX) return `associativity and ${names.blocks} must be below 2^31`
  if (!isPowerOf2(blockSize) || blockSize < 4)
    return `${names.blockSize} must be a power of 2, at least 4 and below 2^31`
  const perWay = numBlocks / assoc
  if (!Number.isInteger(perWay)) return `${names.blocks} must be a multiple of the associativity`
  if (!isPowerOf2(perWay)) return `${names.blocks} divided by associativity must be a power of 2`
  return undefined
}

/** @internal */
export interface DeviceConfig {
  readonly name: string
  readonly assoc: number
  readonly blockSize: number
  readonly numBlocks: number
  readonly policy: PolicyName
  readonly parent?: Device | undefined
  /** DynamoRIO's `prefetcher_t` (next line) on this device. */
  readonly nextLinePrefetcher?: boolean | undefined
  /** `tlb_t` (pid-tagged, plain statistics) instead of `cache_t`. */
  readonly tlb?: boolean | undefined
}

/**
 * One cache or TLB. Mutable; owned by one simulator shard.
 *
 * @internal
 */
export class Device {
  readonly name: string
  readonly assoc: number
  readonly blockSize: number
  readonly blockBits: number
  readonly numBlocks: number
  readonly numSets: number
  readonly setMask: number
  readonly policy: number
  readonly policyName: PolicyName
  readonly tlb: boolean
  readonly parent: Device | undefined
  readonly prefetcher: boolean
  readonly tagLo: Uint32Array
  readonly tagHi: Uint32Array
  /** Process id of each TLB entry (empty for caches). */
  readonly pid: Float64Array
  /** Per-set policy state: LRU counters, LFU counts, or the FIFO queue of ways (front first). */
  readonly pol: Int32Array
  readonly stats = new Float64Array(STAT_COUNT)
  /** Blocks that ever missed here (DynamoRIO's `access_count_t`). */
  readonly missed = new LineSet()
  lastTagLo = 0
  lastTagHi = INVALID
  lastWay = 0
  lastBlock = 0
  lastPid = 0
  loadedBlocks = 0

  constructor(config: DeviceConfig) {
    const problem = geometryProblem(config.assoc, config.blockSize, config.numBlocks)
    if (problem !== undefined) throw new Error(`${config.name}: ${problem}`)
    this.name = config.name
    this.assoc = config.assoc
    this.blockSize = config.blockSize
    this.blockBits = Math.log2(config.blockSize)
    this.numBlocks = config.numBlocks
    this.numSets = config.numBlocks / config.assoc
    this.setMask = this.numSets - 1
    this.policyName = config.policy
    this.policy = config.policy === "LRU" ? LRU : config.policy === "LFU" ? LFU : FIFO
    this.tlb = config.tlb === true
    this.parent = config.parent
    this.prefetcher = config.nextLinePrefetcher === true
    this.tagLo = new Uint32Array(config.numBlocks)
    this.tagHi = new Uint32Array(config.numBlocks).fill(INVALID)
    this.pid = new Float64Array(this.tlb ? config.numBlocks : 0)
    this.pol = new Int32Array(config.numBlocks)
    if (this.policy === LRU) this.pol.fill(1)
    else if (this.policy === FIFO) {
      for (let b = 0; b < config.numBlocks; b++) this.pol[b] = b % config.assoc
    }
  }

  /** Bytes of capacity (DynamoRIO's `get_size_bytes`). */
  get sizeBytes(): number {
    return this.numBlocks * this.blockSize
  }

  /** True when the block number is held (any pid for TLBs). */
  holds(tagLo: number, tagHi: number): boolean {
    const block = (tagLo & this.setMask) * this.assoc
    for (let w = 0; w < this.assoc; w++) {
      if (this.tagLo[block + w] === tagLo && this.tagHi[block + w] === tagHi) return true
    }
    return false
  }

  /** DynamoRIO's `caching_device_stats_t::reset` (end of warmup). */
  resetStats(): void {
    const s = this.stats
    s[Stat.HITS_AT_RESET] = s[Stat.HITS]!
    s[Stat.MISSES_AT_RESET] = s[Stat.MISSES]!
    s[Stat.CHILD_HITS_AT_RESET] = s[Stat.CHILD_HITS]!
    s[Stat.HITS] = 0
    s[Stat.MISSES] = 0
    s[Stat.COMPULSORY] = 0
    s[Stat.CHILD_HITS] = 0
    s[Stat.INCLUSIVE_INVALIDATES] = 0
    s[Stat.COHERENCE_INVALIDATES] = 0
    s[Stat.EXCLUSIVE_INVALIDATES] = 0
    s[Stat.PREFETCH_HITS] = 0
    s[Stat.PREFETCH_MISSES] = 0
    s[Stat.FLUSHES] = 0
  }
}

// ---------------------------------------------------------------------------
// Replacement policies. `base` is the set's first block (set * assoc), which is
// also the set's offset in `pol`.

const accessUpdate = (d: Device, base: number, way: number): void => {
  const pol = d.pol
  if (d.policy === LRU) {
    const count = pol[base + way]!
    if (count === 0) return
    const end = base + d.assoc
    for (let i = base; i < end; i++) {
      if (pol[i]! <= count) pol[i]!++
    }
    pol[base + way] = 0
  } else if (d.policy === LFU) {
    pol[base + way]!++
  }
}

const evictionUpdate = (d: Device, base: number, way: number): void => {
  const pol = d.pol
  if (d.policy === LFU) {
    pol[base + way] = 0
  } else if (d.policy === FIFO) {
    const end = base + d.assoc - 1
    let i = base
    while (pol[i] !== way) i++
    for (; i < end; i++) pol[i] = pol[i + 1]!
    pol[end] = way
  }
}

const invalidationUpdate = (d: Device, base: number, way: number): void => {
  const pol = d.pol
  if (d.policy === LRU) {
    let max = pol[base]!
    for (let i = base + 1; i < base + d.assoc; i++) if (pol[i]! > max) max = pol[i]!
    pol[base + way] = max + 1
  } else if (d.policy === LFU) {
    pol[base + way] = 0
  }
}

const policyVictim = (d: Device, base: number): number => {
  const pol = d.pol
  if (d.policy === LRU) {
    let max = 0
    let maxWay = 0
    for (let w = 0; w < d.assoc; w++) {
      if (pol[base + w]! > max) {
        max = pol[base + w]!
        maxWay = w
      }
    }
    return maxWay
  }
  if (d.policy === LFU) {
    let min = pol[base]!
    let minWay = 0
    for (let w = 1; w < d.assoc; w++) {
      if (pol[base + w]! < min) {
        min = pol[base + w]!
        minWay = w
      }
    }
    return minWay
  }
  return pol[base]!
}

/** `replace_which_way`: the first invalid way, else the policy's victim; then the eviction update. */
const replaceWhichWay = (d: Device, base: number): number => {
  let way = -1
  const tagHi = d.tagHi
  for (let w = 0; w < d.assoc; w++) {
    if (tagHi[base + w] === INVALID) {
      way = w
      break
    }
  }
  if (way < 0) way = policyVictim(d, base)
  evictionUpdate(d, base, way)
  return way
}

// ---------------------------------------------------------------------------
// Statistics.

const recordAccess = (d: Device, type: number, tagLo: number, tagHi: number, hit: boolean): void => {
  const s = d.stats
  if (!d.tlb && PREFETCH_TYPE[type] === 1) {
    if (hit) s[Stat.PREFETCH_HITS]!++
    else {
      s[Stat.PREFETCH_MISSES]!++
      if (d.missed.add(tagLo, tagHi)) s[Stat.COMPULSORY]!++
    }
  } else if (hit) s[Stat.HITS]!++
  else {
    s[Stat.MISSES]!++
    if (d.missed.add(tagLo, tagHi)) s[Stat.COMPULSORY]!++
  }
  // Hits count as child hits all the way up; misses are the parent's own access.
  if (hit) for (let up = d.parent; up !== undefined; up = up.parent) up.stats[Stat.CHILD_HITS]!++
}

// ---------------------------------------------------------------------------
// Requests.

/**
 * The common case of `request` on a cache (not a TLB), small enough for V8 to
 * inline into a simulator's record loop: a single-block access that hits. It
 * makes exactly the updates `request` would make for it and returns true;
 * for anything else (a miss, an access over several blocks, an empty one) it
 * changes nothing and returns false, and the caller goes through `request`.
 *
 * @internal
 */
export const cacheHit = (d: Device, type: number, addrLo: number, addrHi: number, size: number): boolean => {
  const off = addrLo & (d.blockSize - 1)
  if (d.tlb || size <= 0 || off + size > d.blockSize) return false
  const bits = d.blockBits
  const tagLo = ((addrLo >>> bits) | (addrHi << (32 - bits))) >>> 0
  const tagHi = addrHi >>> bits
  let base: number
  let way: number
  if (tagLo === d.lastTagLo && tagHi === d.lastTagHi && type !== TraceType.WRITE) {
    base = d.lastBlock
    way = d.lastWay
  } else {
    const assoc = d.assoc
    const tLo = d.tagLo
    const tHi = d.tagHi
    base = (tagLo & d.setMask) * assoc
    way = -1
    for (let w = 0; w < assoc; w++) {
      if (tLo[base + w] === tagLo && tHi[base + w] === tagHi) {
        way = w
        break
      }
    }
    if (way < 0) return false
    d.lastTagLo = tagLo
    d.lastTagHi = tagHi
    d.lastWay = way
    d.lastBlock = base
  }
  const s = d.stats
  if (PREFETCH_TYPE[type] === 1) s[Stat.PREFETCH_HITS]!++
  else s[Stat.HITS]!++
  for (let up = d.parent; up !== undefined; up = up.parent) up.stats[Stat.CHILD_HITS]!++
  accessUpdate(d, base, way)
  return true
}

/**
 * `cache_t::request` / `tlb_t::request` for the access `[addr, addr + size - 1]`
 * (64-bit, wrapping like DynamoRIO's `addr_t`), split into blocks.
 *
 * @internal
 */
export const request = (d: Device, type: number, addrLo: number, addrHi: number, size: number, pid: number): void => {
  const bits = d.blockBits
  const inv = 32 - bits
  let endLo = addrLo + size - 1
  let endHi = addrHi
  if (endLo >= TWO32) {
    endLo -= TWO32
    endHi = (endHi + 1) >>> 0
  } else if (endLo < 0) {
    // 0 bytes at address 0: the end wraps to 2^64 - 1, and DynamoRIO would walk
    // 2^58 lines (in effect, hang). Skipped, as accesses wrapping the other way are.
    if (addrHi === 0) return
    endLo += TWO32
    endHi = (endHi - 1) >>> 0
  }
  let tagLo = ((addrLo >>> bits) | (addrHi << inv)) >>> 0
  let tagHi = addrHi >>> bits
  const endTagLo = ((endLo >>> bits) | (endHi << inv)) >>> 0
  const endTagHi = endHi >>> bits
  if (tagLo === endTagLo && tagHi === endTagHi) {
    // DynamoRIO's repeated-block shortcut: same block as the previous request.
    if (tagLo === d.lastTagLo && tagHi === d.lastTagHi && (d.tlb ? pid === d.lastPid : type !== TraceType.WRITE)) {
      recordAccess(d, type, tagLo, tagHi, true)
      accessUpdate(d, d.lastBlock, d.lastWay)
      return
    }
    if (d.tlb) tlbBlock(d, type, addrLo, addrHi, size, tagLo, tagHi, pid)
    else cacheBlock(d, type, addrLo, addrHi, size, tagLo, tagHi, pid)
    return
  }
  if (endTagHi < tagHi || (endTagHi === tagHi && endTagLo < tagLo)) return
  const lineMask = d.blockSize - 1
  let pLo = addrLo
  let pHi = addrHi
  for (;;) {
    const last = tagLo === endTagLo && tagHi === endTagHi
    // A middle piece runs to the end of its block; the last one to the end of the access.
    const pSize = last ? (endLo & lineMask) + 1 : d.blockSize - (pLo & lineMask)
    if (d.tlb) tlbBlock(d, type, pLo, pHi, pSize, tagLo, tagHi, pid)
    else cacheBlock(d, type, pLo, pHi, pSize, tagLo, tagHi, pid)
    if (last) return
    tagLo = (tagLo + 1) >>> 0
    if (tagLo === 0) tagHi = (tagHi + 1) >>> 0
    pLo = (tagLo << bits) >>> 0
    pHi = ((tagHi << bits) | (tagLo >>> inv)) >>> 0
  }
}

const cacheBlock = (
  d: Device,
  type: number,
  pLo: number,
  pHi: number,
  pSize: number,
  tagLo: number,
  tagHi: number,
  pid: number
): void => {
  const assoc = d.assoc
  const base = (tagLo & d.setMask) * assoc
  const tLo = d.tagLo
  const tHi = d.tagHi
  let way = -1
  for (let w = 0; w < assoc; w++) {
    if (tLo[base + w] === tagLo && tHi[base + w] === tagHi) {
      way = w
      break
    }
  }
  let missed = false
  if (way >= 0) {
    recordAccess(d, type, tagLo, tagHi, true)
  } else {
    missed = true
    way = replaceWhichWay(d, base)
    recordAccess(d, type, tagLo, tagHi, false)
    if (d.parent !== undefined) request(d.parent, type, pLo, pHi, pSize, pid)
    if (tHi[base + way] === INVALID) d.loadedBlocks++
    tLo[base + way] = tagLo
    tHi[base + way] = tagHi
  }
  accessUpdate(d, base, way)
  // The prefetch goes before the shortcut update, so the shortcut remembers this block.
  if (missed && d.prefetcher && PREFETCH_TYPE[type] === 0) {
    let nLo = pLo + d.blockSize
    let nHi = pHi
    if (nLo >= TWO32) {
      nLo -= TWO32
      nHi = (nHi + 1) >>> 0
    }
    request(d, TraceType.HARDWARE_PREFETCH, nLo, nHi, pSize, pid)
  }
  d.lastTagLo = tagLo
  d.lastTagHi = tagHi
  d.lastWay = way
  d.lastBlock = base
}

const tlbBlock = (
  d: Device,
  type: number,
  pLo: number,
  pHi: number,
  pSize: number,
  tagLo: number,
  tagHi: number,
  pid: number
): void => {
  const assoc = d.assoc
  const base = (tagLo & d.setMask) * assoc
  const tLo = d.tagLo
  const tHi = d.tagHi
  let way = -1
  for (let w = 0; w < assoc; w++) {
    if (tLo[base + w] === tagLo && tHi[base + w] === tagHi && d.pid[base + w] === pid) {
      way = w
      break
    }
  }
  if (way >= 0) {
    recordAccess(d, type, tagLo, tagHi, true)
  } else {
    way = replaceWhichWay(d, base)
    recordAccess(d, type, tagLo, tagHi, false)
    if (d.parent !== undefined) request(d.parent, type, pLo, pHi, pSize, pid)
    // tlb_t writes the entry directly: no loaded-block count, unlike insert_tag.
    tLo[base + way] = tagLo
    tHi[base + way] = tagHi
    d.pid[base + way] = pid
  }
  accessUpdate(d, base, way)
  d.lastTagLo = tagLo
  d.lastTagHi = tagHi
  d.lastWay = way
  d.lastBlock = base
  d.lastPid = pid
}

/**
 * `cache_t::flush` of `[addr, addr + length - 1]` here and in every parent,
 * counting a flush at each level.
 *
 * DynamoRIO passes the set's first block index where the policy expects a set
 * index, so the policy update lands on set `set * assoc` (when that set
 * exists; otherwise it lands in policy storage no set reads). We reproduce it.
 *
 * @internal
 */
export const flush = (d: Device, addrLo: number, addrHi: number, lenLo: number, lenHi: number): void => {
  const bits = d.blockBits
  const inv = 32 - bits
  // end = addr + length - 1 (mod 2^64)
  let endLo = addrLo + lenLo - 1
  let endHi = addrHi + lenHi
  if (endLo >= TWO32) {
    endLo -= TWO32
    endHi += 1
  } else if (endLo < 0) {
    endLo += TWO32
    endHi -= 1
  }
  endHi = endHi >>> 0
  const tagLo = ((addrLo >>> bits) | (addrHi << inv)) >>> 0
  const tagHi = addrHi >>> bits
  const endTagLo = ((endLo >>> bits) | (endHi << inv)) >>> 0
  const endTagHi = endHi >>> bits
  d.lastTagHi = INVALID
  const ordered = endTagHi > tagHi || (endTagHi === tagHi && endTagLo >= tagLo)
  if (ordered) {
    const count = (endTagHi - tagHi) * TWO32 + (endTagLo - tagLo) + 1
    const hits: Array<[number, number, number, number]> = []
    if (count <= d.numBlocks) {
      let lo = tagLo
      let hi = tagHi
      for (let k = 0; k < count; k++) {
        const base = (lo & d.setMask) * d.assoc
        for (let w = 0; w < d.assoc; w++) {
          if (d.tagLo[base + w] === lo && d.tagHi[base + w] === hi) {
            hits.push([base, w, 0, 0])
            break
          }
        }
        lo = (lo + 1) >>> 0
        if (lo === 0) hi = (hi + 1) >>> 0
      }
    } else {
      // A huge range: visit the held blocks inside it in block-number order instead.
      for (let b = 0; b < d.numBlocks; b++) {
        const hi = d.tagHi[b]!
        const lo = d.tagLo[b]!
        if (hi === INVALID) continue
        const afterStart = hi > tagHi || (hi === tagHi && lo >= tagLo)
        const beforeEnd = hi < endTagHi || (hi === endTagHi && lo <= endTagLo)
        if (afterStart && beforeEnd) hits.push([b - (b % d.assoc), b % d.assoc, hi, lo])
      }
      hits.sort((a, b) => (a[2] !== b[2] ? a[2] - b[2] : a[3] - b[3]))
    }
    for (const [base, way] of hits) {
      // `base` is set * assoc; DynamoRIO uses it as a set index.
      if (base < d.numSets) invalidationUpdate(d, base * d.assoc, way)
      d.tagHi[base + way] = INVALID
    }
  }
  if (d.parent !== undefined) flush(d.parent, addrLo, addrHi, lenLo, lenHi)
  d.stats[Stat.FLUSHES]!++
}
