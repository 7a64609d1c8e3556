/**
 * DynamoRIO's `syscall_mix` tool: how many times each system call number was
 * seen, how often each traced system call's kernel trace appeared (and its
 * instructions), and the failure codes of failed system calls.
 *
 * **When to use**: to see which system calls a workload makes.
 * `syscallMix` is the tool value; {@link make} takes no options.
 *
 * **Details**
 * - Counts SYSCALL markers by value; SYSCALL_TRACE_START markers (kernel
 *   system-call traces) by value, with the instructions up to the matching
 *   SYSCALL_TRACE_END; SYSCALL_FAILED markers by (last system call number seen
 *   in the shard, failure code). Values are read as C `int`s (low 32 bits,
 *   signed). A failure before any system call in its shard is filed under -1.
 * - Rows are sorted by count, most first, then by number, highest first, as
 *   DynamoRIO sorts them.
 *
 * **Gotchas**
 * - DynamoRIO prints the "Failures for syscall N" sections in hash-map order;
 *   here they are in ascending system call number.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Tool from "../analyzer/Tool.ts"
import { MarkerType, TraceType } from "../trace/Record.ts"
import type { RecordBatch } from "../trace/RecordBatch.ts"
import { setw } from "./internal/format.ts"

/**
 * `(key, count)` pairs.
 *
 * @category schemas
 */
export const Counts = Schema.Struct({ key: Schema.Array(Schema.Number), count: Schema.Array(Schema.Number) })

/** @category models */
export type Counts = typeof Counts.Type

/**
 * DynamoRIO's `statistics_t` (per shard, or totals).
 *
 * @category schemas
 */
export const Statistics = Schema.Struct({
  syscallCounts: Counts,
  syscallTraceCounts: Counts,
  syscallInstrs: Counts,
  /** Per system call number, its failure codes and their counts. */
  failures: Schema.Array(Schema.Struct({ sysnum: Schema.Number, codes: Counts }))
})

/** @category models */
export type Statistics = typeof Statistics.Type

/** @category schemas */
export const ShardResult = Statistics

/** @category models */
export type ShardResult = Statistics

/** @category schemas */
export const Result = Statistics

/** @category models */
export type Result = Statistics

/** @category models */
export interface State {
  readonly syscallCounts: Map<number, number>
  readonly syscallTraceCounts: Map<number, number>
  readonly syscallInstrs: Map<number, number>
  readonly failures: Map<number, Map<number, number>>
  lastSysnum: number
  /** The system call whose kernel trace is being read, or undefined. */
  currentTrace: number | undefined
  /** Instructions of the current kernel trace not yet added to `syscallInstrs`. */
  pendingInstrs: number
}

const bump = (m: Map<number, number>, k: number, n = 1): void => {
  m.set(k, (m.get(k) ?? 0) + n)
}

const flushInstrs = (s: State): void => {
  if (s.currentTrace !== undefined && s.pendingInstrs > 0) bump(s.syscallInstrs, s.currentTrace, s.pendingInstrs)
  s.pendingInstrs = 0
}

const processBatch = (s: State, batch: RecordBatch, start: number, end: number): undefined => {
  const { type: types, size: sizes, addrLo } = batch
  for (let i = start; i < end; i++) {
    const t = types[i]!
    if ((t >= TraceType.INSTR && t <= TraceType.INSTR_RETURN) || t === 31 || t === 48 || t === 49) {
      if (s.currentTrace !== undefined) s.pendingInstrs++
      continue
    }
    if (t !== TraceType.MARKER) continue
    const mt = sizes[i]!
    if (mt === MarkerType.SYSCALL) {
      const sysnum = addrLo[i]! | 0
      bump(s.syscallCounts, sysnum)
      s.lastSysnum = sysnum
    } else if (mt === MarkerType.SYSCALL_TRACE_START) {
      flushInstrs(s)
      const sysnum = addrLo[i]! | 0
      bump(s.syscallTraceCounts, sysnum)
      s.currentTrace = sysnum
    } else if (mt === MarkerType.SYSCALL_TRACE_END) {
      flushInstrs(s)
      s.currentTrace = undefined
    } else if (mt === MarkerType.SYSCALL_FAILED) {
      let codes = s.failures.get(s.lastSysnum)
      if (codes === undefined) {
        codes = new Map()
        s.failures.set(s.lastSysnum, codes)
      }
      bump(codes, addrLo[i]! | 0)
    }
  }
  return undefined
}

const toCounts = (m: ReadonlyMap<number, number>): Counts => {
  const key = [...m.keys()].sort((a, b) => a - b)
  return { key, count: key.map((k) => m.get(k)!) }
}

const finishShard = (s: State): ShardResult => {
  flushInstrs(s)
  return {
    syscallCounts: toCounts(s.syscallCounts),
    syscallTraceCounts: toCounts(s.syscallTraceCounts),
    syscallInstrs: toCounts(s.syscallInstrs),
    failures: [...s.failures.keys()]
      .sort((a, b) => a - b)
      .map((sysnum) => ({ sysnum, codes: toCounts(s.failures.get(sysnum)!) }))
  }
}

const merge = (outcomes: ReadonlyArray<Tool.ShardOutcome<ShardResult>>): Result => {
  const counts = new Map<number, number>()
  const traceCounts = new Map<number, number>()
  const instrs = new Map<number, number>()
  const failures = new Map<number, Map<number, number>>()
  const addAll = (into: Map<number, number>, c: Counts) =>
    c.key.forEach((k, j) => {
      bump(into, k, c.count[j]!)
    })
  for (const { result } of outcomes) {
    addAll(counts, result.syscallCounts)
    addAll(traceCounts, result.syscallTraceCounts)
    addAll(instrs, result.syscallInstrs)
    for (const f of result.failures) {
      let codes = failures.get(f.sysnum)
      if (codes === undefined) {
        codes = new Map()
        failures.set(f.sysnum, codes)
      }
      addAll(codes, f.codes)
    }
  }
  return {
    syscallCounts: toCounts(counts),
    syscallTraceCounts: toCounts(traceCounts),
    syscallInstrs: toCounts(instrs),
    failures: [...failures.keys()]
      .sort((a, b) => a - b)
      .map((sysnum) => ({ sysnum, codes: toCounts(failures.get(sysnum)!) }))
  }
}

/** DynamoRIO's order: count descending, then key descending. */
const byCountThenKey = (c: Counts): Array<readonly [number, number]> =>
  c.key.map((k, j) => [k, c.count[j]!] as const).sort((a, b) => b[1] - a[1] || b[0] - a[0])

const print = (r: Result): string => {
  const out = ["Syscall mix tool results:", setw("syscall count", 15) + " : " + "syscall_num"]
  for (const [sysnum, count] of byCountThenKey(r.syscallCounts)) out.push(setw(count, 15) + " : " + setw(sysnum, 9))
  if (r.syscallTraceCounts.key.length > 0) {
    out.push(setw("syscall trace count", 20) + " : " + setw("total instr count", 20) + " : " + "syscall_num")
    const instrs = new Map(r.syscallInstrs.key.map((k, j) => [k, r.syscallInstrs.count[j]!] as const))
    for (const [sysnum, count] of byCountThenKey(r.syscallTraceCounts)) {
      out.push(setw(count, 20) + " : " + setw(instrs.get(sysnum) ?? 0, 20) + " : " + setw(sysnum, 9))
    }
  }
  for (const f of r.failures) {
    out.push(`Failures for syscall ${f.sysnum}:`, setw("failure count", 15) + " : " + "failure code")
    for (const [code, count] of byCountThenKey(f.codes)) out.push(setw(count, 15) + " : " + setw(code, 9))
  }
  return out.join("\n") + "\n"
}

/** @category constructors */
export const make = (): Tool.Tool<State, ShardResult, Result> =>
  Tool.make({
    name: "syscall_mix",
    makeShard: (): State => ({
      syscallCounts: new Map(),
      syscallTraceCounts: new Map(),
      syscallInstrs: new Map(),
      failures: new Map(),
      lastSysnum: -1,
      currentTrace: undefined,
      pendingInstrs: 0
    }),
    processBatch: (state, batch, start, end) => processBatch(state, batch, start, end),
    finishShard,
    merge,
    print,
    shardResultSchema: ShardResult,
    resultSchema: Result
  })

/**
 * The syscall_mix tool.
 *
 * @category tools
 */
export const syscallMix: Tool.Tool<State, ShardResult, Result> = make()
