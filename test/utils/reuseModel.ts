/**
 * DynamoRIO's reuse_distance shard (`shard_data_t` with its
 * `line_ref_list_t`), walked literally with pointers: the move-to-front list,
 * the gate moved with `prev` (so it reaches NULL where DynamoRIO's does, at
 * threshold 0), time stamps, `unique_lines_` (never decremented), the pruned
 * set. O(depth) per access; the reference the tool is tested against.
 */
import { assert } from "@effect/vitest"
import type * as ReuseDistance from "../../src/tools/ReuseDistance.ts"

/** A shard's accesses with their lines numbered densely (the model's cache map is then an array). */
export interface Stream {
  readonly instr: ReadonlyArray<boolean>
  /** Line number of each access. */
  readonly ids: Int32Array
  /** Line address (the line's first byte) of each line number. */
  readonly lineAddr: ReadonlyArray<bigint>
}

/** Numbers the lines of accesses at `addrs` (`instr[k]`: access k is an instruction fetch). */
export const toStream = (instr: ReadonlyArray<boolean>, addrs: ReadonlyArray<bigint>, lineSize = 64): Stream => {
  const size = BigInt(lineSize)
  const idOf = new Map<bigint, number>()
  const lineAddr: Array<bigint> = []
  const ids = new Int32Array(instr.length)
  for (let k = 0; k < ids.length; k++) {
    const tag = addrs[k]! / size
    let id = idOf.get(tag)
    if (id === undefined) {
      id = lineAddr.length
      idOf.set(tag, id)
      lineAddr.push(tag * size)
    }
    ids[k] = id
  }
  return { instr, ids, lineAddr }
}

interface Line {
  readonly id: number
  prev: Line | null
  next: Line | null
  ts: number
  refs: number
  distant: number
}

/**
 * One DynamoRIO shard (`shard_data_t` with its `line_ref_list_t`), with
 * pointers: head, gate, tail, time stamps, `unique_lines_` (never decremented),
 * the pruned set. Distances by walking from the head.
 */
export const model = (a: Stream, threshold: number, limit: number) => {
  let head: Line | null = null
  let gate: Line | null = null
  let tail: Line | null = null
  let curTime = 0
  let uniqueLines = 0
  // cache_map and pruned_addresses, by line number.
  const map: Array<Line | undefined> = new Array(a.lineAddr.length).fill(undefined)
  let mapSize = 0
  const pruned = new Uint8Array(a.lineAddr.length)
  let prunedCount = 0
  let prunedHits = 0
  const instrHist = new Map<number, number>()
  const dataHist = new Map<number, number>()
  /** Distant references, including those of lines pruned later (whose counts DynamoRIO drops). */
  let distantEvents = 0
  for (let k = 0; k < a.instr.length; k++) {
    const id = a.ids[k]!
    const found = map[id]
    if (found === undefined) {
      const line: Line = { id, prev: null, next: null, ts: 0, refs: 1, distant: 0 }
      map[id] = line
      mapSize++
      // add_to_front
      line.next = head
      if (head !== null) head.prev = line
      head = line
      if (gate === null) gate = head
      if (uniqueLines > threshold) gate = gate.prev
      if (tail === null) tail = line
      uniqueLines++
      line.ts = curTime++
      if (pruned[id] === 1) {
        pruned[id] = 0
        prunedHits++
      }
      if (limit > 0 && limit < mapSize) {
        // prune_tail
        const old: Line = tail!
        map[old.id] = undefined
        mapSize--
        pruned[old.id] = 1
        prunedCount++
        const newTail: Line = old.prev!
        newTail.next = null
        if (old === gate) gate = old.prev
        tail = newTail
      }
    } else {
      // move_to_front
      const line = found
      line.refs++
      let dist = 0
      if (line !== head) {
        if (gate !== null && line.ts < gate.ts) {
          line.distant++
          distantEvents++
          gate = gate.prev
        } else if (line === gate) {
          gate = gate.prev
        }
        if (line === tail) tail = tail.prev
        for (let n: Line | null = head; n !== line; n = n!.next) dist++
        line.prev!.next = line.next
        if (line.next !== null) line.next.prev = line.prev
        line.prev = null
        line.next = head
        head!.prev = line
        head = line
        line.ts = curTime++
      }
      const hist = a.instr[k] ? instrHist : dataHist
      hist.set(dist, (hist.get(dist) ?? 0) + 1)
    }
  }
  const sorted = (m: Map<number, number>) => {
    const key = [...m.keys()].sort((x, y) => x - y)
    return { key, count: key.map((d) => m.get(d)!) }
  }
  return {
    uniqueAccesses: curTime,
    prunedCount,
    prunedHits,
    instrHist: sorted(instrHist),
    dataHist: sorted(dataHist),
    lines: new Map(map.flatMap((l) => (l === undefined ? [] : [[a.lineAddr[l.id]!, [l.refs, l.distant]]]))),
    pruned: new Set(a.lineAddr.filter((_, id) => pruned[id] === 1)),
    distantEvents
  }
}

export type Model = ReturnType<typeof model>

const u64 = (hi: number, lo: number) => (BigInt(hi) << 32n) | BigInt(lo)

/** Asserts that the tool's shard `shard` of `refs` accesses is what the model `m` computed. */
export const assertShard = (shard: ReuseDistance.ShardDistances, refs: number, m: Model, label?: string): void => {
  assert.strictEqual(shard.totalRefs, refs, label)
  assert.strictEqual(shard.uniqueAccesses, m.uniqueAccesses, label)
  assert.strictEqual(shard.prunedAddressCount, m.prunedCount, label)
  assert.strictEqual(shard.prunedAddressHits, m.prunedHits, label)
  assert.deepStrictEqual(shard.instrHistogram, m.instrHist, label)
  assert.deepStrictEqual(shard.dataHistogram, m.dataHist, label)
  const lines = new Map(
    shard.lines.hi.map((hi, k) => [u64(hi, shard.lines.lo[k]!), [shard.lines.refs[k]!, shard.lines.distantRefs[k]!]])
  )
  assert.deepStrictEqual(lines, m.lines, label)
  assert.deepStrictEqual(new Set(shard.prunedHi.map((hi, k) => u64(hi, shard.prunedLo[k]!))), m.pruned, label)
}
