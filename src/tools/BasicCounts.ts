/**
 * DynamoRIO's `basic_counts` tool: counts of instructions, data accesses,
 * markers and threads per shard and in total, printed exactly as
 * `drmemtrace -tool basic_counts` prints them.
 *
 * **When to use**: the cheapest whole-trace summary; the reference for what a
 * trace contains. `basicCounts` is the tool value; {@link make} takes no
 * options (DynamoRIO's only knob is verbosity).
 *
 * **Details**
 * - Instructions are DynamoRIO's `type_is_instr` records; non-fetched ones
 *   (`INSTR_NO_FETCH`) are counted apart. Unique PCs are a set per shard; the
 *   total is the union over shards (not the sum).
 * - Markers: TIMESTAMP + CPU_ID are "timestamp + cpuid", KERNEL_EVENT +
 *   KERNEL_XFER "kernel transfer", HARDWARE_EVENT + HARDWARE_CONTEXT_RETURN
 *   "hardware transfer", PHYSICAL_ADDRESS "physical address + virtual address
 *   pairs" (VIRTUAL_ADDRESS is not counted); every other marker (VERSION,
 *   FILETYPE, CHUNK_FOOTER, WINDOW_ID, …) is an "other" marker.
 * - Encodings count instructions whose encoding came with them, once a FILETYPE
 *   marker with the ENCODINGS bit was seen in the shard.
 * - A WINDOW_ID marker with a new value starts a new set of counters (window);
 *   with more than one window the totals are followed by every window of every
 *   shard, and the per-shard sections show window 0 only, as DynamoRIO does.
 * - Shards print sorted by instructions (of window 0), most first, as
 *   `Thread <tid> counts:` or `Core <n> counts:`; the `threads` line appears in
 *   the totals, for core shards, and for thread shards that saw several tids.
 * - Without a FILETYPE marker (legacy traces) the file type stays -1, every
 *   file-type bit tests true, and the user/kernel split and hardware transfer
 *   lines are printed too (DynamoRIO's behaviour on `small` and `chase-snappy`).
 *
 * **Gotchas**
 * - A FILETYPE marker that disagrees with an earlier one fails the shard
 *   (`FiletypeMismatch`). DynamoRIO sets only its global error string there,
 *   which its analyzer treats as the tool stopping early without an error.
 * - Ties in the shard order (equal instruction counts) are broken by shard
 *   index; DynamoRIO leaves them to `std::sort`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Tool from "../analyzer/Tool.ts"
import { FileType, MarkerType, TraceType } from "../trace/Record.ts"
import { decoded, FLAG_ENCODING_IS_NEW, type RecordBatch } from "../trace/RecordBatch.ts"
import { setw } from "./internal/format.ts"
import { PcSet } from "./internal/PcSet.ts"
import { type SubShardOrigin, SubShards } from "./internal/shards.ts"

/**
 * The counters of one shard window, in DynamoRIO's `counters_t` order.
 *
 * @category models
 */
export const COUNTER_NAMES = [
  "instrs",
  "userInstrs",
  "kernelInstrs",
  "instrsNofetch",
  "userNofetchInstrs",
  "kernelNofetchInstrs",
  "prefetches",
  "loads",
  "stores",
  "schedMarkers",
  "idleMarkers",
  "waitMarkers",
  "xferMarkers",
  "hardwareXferMarkers",
  "funcIdMarkers",
  "funcRetaddrMarkers",
  "funcArgMarkers",
  "funcRetvalMarkers",
  "physAddrMarkers",
  "physUnavailMarkers",
  "syscallNumberMarkers",
  "syscallBlockingMarkers",
  "skippedMemrefMarkers",
  "otherMarkers",
  "icacheFlushes",
  "dcacheFlushes",
  "encodings"
] as const

/** @category models */
export type CounterName = (typeof COUNTER_NAMES)[number]

const C = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i])) as { readonly [K in CounterName]: number }
const COUNTER_COUNT = COUNTER_NAMES.length

/**
 * Counters as numbers, one field per counter.
 *
 * @category schemas
 */
export const Counters = Schema.Struct({
  instrs: Schema.Number,
  userInstrs: Schema.Number,
  kernelInstrs: Schema.Number,
  instrsNofetch: Schema.Number,
  userNofetchInstrs: Schema.Number,
  kernelNofetchInstrs: Schema.Number,
  prefetches: Schema.Number,
  loads: Schema.Number,
  stores: Schema.Number,
  schedMarkers: Schema.Number,
  idleMarkers: Schema.Number,
  waitMarkers: Schema.Number,
  xferMarkers: Schema.Number,
  hardwareXferMarkers: Schema.Number,
  funcIdMarkers: Schema.Number,
  funcRetaddrMarkers: Schema.Number,
  funcArgMarkers: Schema.Number,
  funcRetvalMarkers: Schema.Number,
  physAddrMarkers: Schema.Number,
  physUnavailMarkers: Schema.Number,
  syscallNumberMarkers: Schema.Number,
  syscallBlockingMarkers: Schema.Number,
  skippedMemrefMarkers: Schema.Number,
  otherMarkers: Schema.Number,
  icacheFlushes: Schema.Number,
  dcacheFlushes: Schema.Number,
  encodings: Schema.Number
})

/** @category models */
export type Counters = typeof Counters.Type

/**
 * One window of one shard: its counters, its unique fetched PCs (u64 as hi/lo
 * halves) and its thread ids.
 *
 * @category schemas
 */
export const WindowCounts = Schema.Struct({
  counters: Counters,
  pcHi: Schema.Array(Schema.Number),
  pcLo: Schema.Array(Schema.Number),
  threads: Schema.Array(Schema.Number)
})

/** @category models */
export type WindowCounts = typeof WindowCounts.Type

/**
 * The counts of one DynamoRIO shard (`per_shard_t`).
 *
 * @category schemas
 */
export const ShardCounts = Schema.Struct({
  shardIndex: Schema.Number,
  /** Thread id of the shard's first record (DynamoRIO's `stream->get_tid()`). */
  tid: Schema.Number,
  /** DynamoRIO's `get_output_cpuid()`. */
  core: Schema.Number,
  /** The FILETYPE marker value; -1 when none was seen. */
  filetype: Schema.Number,
  windows: Schema.Array(WindowCounts)
})

/** @category models */
export type ShardCounts = typeof ShardCounts.Type

/**
 * What one analyzer shard returns: usually one `ShardCounts`; a serial
 * core-sharded stream returns one per core.
 *
 * @category schemas
 */
export const ShardResult = Schema.Struct({ shards: Schema.Array(ShardCounts) })

/** @category models */
export type ShardResult = typeof ShardResult.Type

/**
 * Counters with their set sizes, ready to print.
 *
 * @category schemas
 */
export const CountsSummary = Schema.Struct({
  counters: Counters,
  uniquePcs: Schema.Number,
  threads: Schema.Number
})

/** @category models */
export type CountsSummary = typeof CountsSummary.Type

/**
 * The merged result.
 *
 * @category schemas
 */
export const Result = Schema.Struct({
  shardType: Schema.Literals(["thread", "core"]),
  forKernelTrace: Schema.Boolean,
  forWholeSystemTrace: Schema.Boolean,
  total: CountsSummary,
  /** Per window, the counts of every shard that reached it (only when there are several windows). */
  windows: Schema.Array(Schema.Array(CountsSummary)),
  /** Window 0 of every shard, in print order (most instructions first). */
  shards: Schema.Array(
    Schema.Struct({ shardIndex: Schema.Number, tid: Schema.Number, core: Schema.Number, counts: CountsSummary })
  )
})

/** @category models */
export type Result = typeof Result.Type

/**
 * Why a shard failed.
 *
 * @category errors
 */
export class BasicCountsError extends Schema.TaggedError<BasicCountsError>()("BasicCountsError", {
  reason: Schema.Literals(["MultiWindowNotAtZero", "FiletypeMismatch"]),
  shardIndex: Schema.Number,
  detail: Schema.String
}) {}

interface Window {
  readonly counters: Float64Array
  readonly pcs: PcSet
  readonly threads: Set<number>
}

interface SubState {
  readonly origin: SubShardOrigin
  tid: number
  seenRecord: boolean
  windows: Array<Window>
  lastWindow: number
  filetype: number
  lastTid: number
  // DynamoRIO's kernel_tracker_t.
  inSyscall: boolean
  inContextSwitch: boolean
  hardwareEventDepth: number
  lastUpdateWasEndMarker: boolean
}

/** @category models */
export interface State {
  readonly subs: SubShards<SubState>
  readonly shardType: Tool.ShardType
}

const newWindow = (): Window => ({
  counters: new Float64Array(COUNTER_COUNT),
  pcs: new PcSet(),
  threads: new Set()
})

const newSub = (origin: SubShardOrigin): SubState => ({
  origin,
  tid: 0,
  seenRecord: false,
  windows: [newWindow()],
  lastWindow: -1,
  filetype: -1,
  lastTid: 0,
  inSyscall: false,
  inContextSwitch: false,
  hardwareEventDepth: 0,
  lastUpdateWasEndMarker: false
})

// Record kinds, by trace type: one table lookup instead of a chain of range tests per record.
const K_OTHER = 0
const K_INSTR = 1
const K_NOFETCH = 2
const K_PREFETCH = 3
const K_LOAD = 4
const K_STORE = 5
const K_MARKER = 6
const K_IFLUSH = 7
const K_DFLUSH = 8
const KIND = new Uint8Array(256)
for (let t = 0; t < 256; t++) {
  KIND[t] =
    (t >= TraceType.INSTR && t <= TraceType.INSTR_RETURN) || t === 31 || t === 48 || t === 49
      ? K_INSTR
      : t === TraceType.INSTR_NO_FETCH
        ? K_NOFETCH
        : (t >= TraceType.PREFETCH && t <= TraceType.PREFETCH_INSTR) || (t >= 32 && t <= 46) || t === 27
          ? K_PREFETCH
          : t === TraceType.READ
            ? K_LOAD
            : t === TraceType.WRITE
              ? K_STORE
              : t === TraceType.MARKER
                ? K_MARKER
                : t === TraceType.INSTR_FLUSH
                  ? K_IFLUSH
                  : t === TraceType.DATA_FLUSH
                    ? K_DFLUSH
                    : K_OTHER
}
const M_SYSCALL_TRACE_START = MarkerType.SYSCALL_TRACE_START
const M_SYSCALL_TRACE_END = MarkerType.SYSCALL_TRACE_END
const M_CONTEXT_SWITCH_START = MarkerType.CONTEXT_SWITCH_START
const M_CONTEXT_SWITCH_END = MarkerType.CONTEXT_SWITCH_END
const M_HARDWARE_EVENT = MarkerType.HARDWARE_EVENT
const M_HARDWARE_CONTEXT_RETURN = MarkerType.HARDWARE_CONTEXT_RETURN
const FT_ENCODINGS = FileType.ENCODINGS
const C_INSTRS = C.instrs
const C_USER = C.userInstrs
const C_KERNEL = C.kernelInstrs
const C_PREFETCHES = C.prefetches
const C_LOADS = C.loads
const C_STORES = C.stores
const C_ENCODINGS = C.encodings

/**
 * Counts records `[start, end)` of one sub-shard. The frequent counters and
 * the kernel tracker (DynamoRIO's kernel_tracker_t) live in locals and are
 * written back when the window changes and at the end.
 */
const processSub = (
  s: SubState,
  batch: RecordBatch,
  start: number,
  end: number
): Tool.Fail<BasicCountsError> | undefined => {
  const { type: types, size: sizes, tid: tids, addrLo, addrHi, flags } = batch
  if (!s.seenRecord && start < end) {
    s.seenRecord = true
    s.tid = tids[start]!
  }
  let w = s.windows[s.windows.length - 1]!
  let ctr = w.counters
  let pcs = w.pcs
  let inSyscall = s.inSyscall
  let inContextSwitch = s.inContextSwitch
  let hardwareEventDepth = s.hardwareEventDepth
  let inKernel = inSyscall || inContextSwitch || hardwareEventDepth > 0
  let lastWasEnd = s.lastUpdateWasEndMarker
  let lastTid = s.lastTid
  let encodings = (s.filetype & FT_ENCODINGS) !== 0
  let user = 0
  let kernel = 0
  let prefetches = 0
  let loads = 0
  let stores = 0
  let encoded = 0
  // The PC set's current page in locals: `PcSet.add` inlined (see PcSet).
  let pcBits = pcs.bits
  let pcPage = pcs.lastPage
  let pcHi = pcs.lastHi
  let pcBase = pcs.lastBase
  let pcAdded = 0
  const flush = () => {
    pcs.size += pcAdded
    pcAdded = 0
    ctr[C_INSTRS]! += user + kernel
    ctr[C_USER]! += user
    ctr[C_KERNEL]! += kernel
    ctr[C_PREFETCHES]! += prefetches
    ctr[C_LOADS]! += loads
    ctr[C_STORES]! += stores
    ctr[C_ENCODINGS]! += encoded
    user = kernel = prefetches = loads = stores = encoded = 0
    s.inSyscall = inSyscall
    s.inContextSwitch = inContextSwitch
    s.hardwareEventDepth = hardwareEventDepth
    s.lastUpdateWasEndMarker = lastWasEnd
    s.lastTid = lastTid
  }
  // A decoded batch holds one thread's records: its thread is noted once, not at each record.
  const oneThread = decoded(batch)
  if (oneThread && start < end) {
    const tid = tids[start]!
    if (tid !== lastTid && tid !== 0 && tid !== -1) {
      w.threads.add(tid)
      lastTid = tid
    }
  }
  for (let i = start; i < end; i++) {
    if (!oneThread) {
      const tid = tids[i]!
      if (tid !== lastTid && tid !== 0 && tid !== -1) {
        w.threads.add(tid)
        lastTid = tid
      }
    }
    const kind = KIND[types[i]!]!
    // The kernel tracker's "last update was an end marker" holds for the end marker's own record only.
    lastWasEnd = false
    if (kind === K_INSTR) {
      if (inKernel) kernel++
      else user++
      const lo = addrLo[i]!
      const hi = addrHi[i]!
      if (lo >>> 12 !== pcPage || hi !== pcHi) {
        pcs.turnTo(hi, lo >>> 12)
        pcBits = pcs.bits
        pcPage = pcs.lastPage
        pcHi = pcs.lastHi
        pcBase = pcs.lastBase
      }
      const at = pcBase + ((lo & 4095) >>> 5)
      const word = pcBits[at]!
      const bit = 1 << (lo & 31)
      if ((word & bit) === 0) {
        pcBits[at] = word | bit
        pcAdded++
      }
      if (encodings && (flags[i]! & FLAG_ENCODING_IS_NEW) !== 0) encoded++
    } else if (kind === K_LOAD) {
      loads++
    } else if (kind === K_STORE) {
      stores++
    } else if (kind === K_MARKER) {
      const mt = sizes[i]!
      if (mt === M_SYSCALL_TRACE_START) inSyscall = true
      else if (mt === M_CONTEXT_SWITCH_START) inContextSwitch = true
      else if (mt === M_HARDWARE_EVENT) hardwareEventDepth++
      else if (mt === M_SYSCALL_TRACE_END) {
        inSyscall = false
        lastWasEnd = true
      } else if (mt === M_CONTEXT_SWITCH_END) {
        inContextSwitch = false
        lastWasEnd = true
      } else if (mt === M_HARDWARE_CONTEXT_RETURN) {
        if (--hardwareEventDepth === 0) lastWasEnd = true
      }
      inKernel = inSyscall || inContextSwitch || hardwareEventDepth > 0
      if (mt === MarkerType.TIMESTAMP || mt === MarkerType.CPU_ID) ctr[C.schedMarkers]!++
      else if (mt === MarkerType.KERNEL_EVENT || mt === MarkerType.KERNEL_XFER) ctr[C.xferMarkers]!++
      else if (mt === M_HARDWARE_EVENT || mt === M_HARDWARE_CONTEXT_RETURN) {
        ctr[C.hardwareXferMarkers]!++
      } else if (mt === MarkerType.CORE_IDLE) ctr[C.idleMarkers]!++
      else if (mt === MarkerType.CORE_WAIT) ctr[C.waitMarkers]!++
      else {
        if (mt === MarkerType.WINDOW_ID) {
          const value = addrHi[i]! * 4294967296 + addrLo[i]!
          if (value !== s.lastWindow) {
            if (s.lastWindow === -1 && value !== 0) {
              // A file split out of a multi-window trace may start at a high window.
              s.lastWindow = value
            } else if (s.lastWindow !== -1 && s.windows.length !== s.lastWindow + 1) {
              flush()
              return Tool.fail(
                new BasicCountsError({
                  reason: "MultiWindowNotAtZero",
                  shardIndex: s.origin.shardIndex,
                  detail: "Multi-window file must start at 0"
                }),
                i
              )
            } else {
              flush()
              s.lastWindow = value
              // DynamoRIO resizes its window vector to value + 1 (which may also shrink it).
              if (s.windows.length > value + 1) s.windows.length = value + 1
              while (s.windows.length < value + 1) s.windows.push(newWindow())
              w = s.windows[value]!
              ctr = w.counters
              pcs = w.pcs
              pcBits = pcs.bits
              pcPage = pcs.lastPage
              pcHi = pcs.lastHi
              pcBase = pcs.lastBase
            }
          }
        }
        switch (mt) {
          case MarkerType.FUNC_ID:
            ctr[C.funcIdMarkers]!++
            break
          case MarkerType.FUNC_RETADDR:
            ctr[C.funcRetaddrMarkers]!++
            break
          case MarkerType.FUNC_ARG:
            ctr[C.funcArgMarkers]!++
            break
          case MarkerType.FUNC_RETVAL:
            ctr[C.funcRetvalMarkers]!++
            break
          case MarkerType.PHYSICAL_ADDRESS:
            ctr[C.physAddrMarkers]!++
            break
          case MarkerType.VIRTUAL_ADDRESS:
            break
          case MarkerType.PHYSICAL_ADDRESS_NOT_AVAILABLE:
            ctr[C.physUnavailMarkers]!++
            break
          case MarkerType.SYSCALL:
            ctr[C.syscallNumberMarkers]!++
            break
          case MarkerType.MAYBE_BLOCKING_SYSCALL:
            ctr[C.syscallBlockingMarkers]!++
            break
          case MarkerType.SKIPPED_MEMREF:
            ctr[C.skippedMemrefMarkers]!++
            break
          case MarkerType.FILETYPE: {
            const value = addrHi[i]! * 4294967296 + addrLo[i]!
            if (s.filetype === -1) {
              s.filetype = value
              encodings = (value & FT_ENCODINGS) !== 0
            } else if (s.filetype !== value) {
              flush()
              return Tool.fail(
                new BasicCountsError({
                  reason: "FiletypeMismatch",
                  shardIndex: s.origin.shardIndex,
                  detail: `Filetype mismatch: 0x${value.toString(16)} after 0x${s.filetype.toString(16)}`
                }),
                i
              )
            }
            ctr[C.otherMarkers]!++
            break
          }
          default:
            ctr[C.otherMarkers]!++
        }
      }
    } else if (kind === K_PREFETCH) {
      prefetches++
    } else if (kind === K_NOFETCH) {
      ctr[C.instrsNofetch]!++
      if (inKernel) ctr[C.kernelNofetchInstrs]!++
      else ctr[C.userNofetchInstrs]!++
      if (encodings && (flags[i]! & FLAG_ENCODING_IS_NEW) !== 0) encoded++
    } else if (kind === K_IFLUSH) {
      ctr[C.icacheFlushes]!++
    } else if (kind === K_DFLUSH) {
      ctr[C.dcacheFlushes]!++
    }
  }
  flush()
  return undefined
}

const toCounters = (arr: ArrayLike<number>): Counters =>
  Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, arr[i]!])) as unknown as Counters

const finishSub = (s: SubState): ShardCounts => ({
  shardIndex: s.origin.shardIndex,
  tid: s.tid,
  core: s.origin.core,
  filetype: s.filetype,
  windows: s.windows.map((w) => {
    const pcHi: Array<number> = []
    const pcLo: Array<number> = []
    w.pcs.appendTo(pcHi, pcLo)
    return { counters: toCounters(w.counters), pcHi, pcLo, threads: [...w.threads] }
  })
})

/** Sums windows into one summary: counters add up, PC and thread sets unite. */
const summarize = (windows: ReadonlyArray<WindowCounts>): CountsSummary => {
  // One window's PCs and threads are sets already.
  if (windows.length === 1) {
    const w = windows[0]!
    return { counters: w.counters, uniquePcs: w.pcHi.length, threads: new Set(w.threads).size }
  }
  const sums = new Float64Array(COUNTER_COUNT)
  const pcs = new PcSet()
  const threads = new Set<number>()
  for (const w of windows) {
    COUNTER_NAMES.forEach((n, i) => {
      sums[i]! += w.counters[n]
    })
    for (let k = 0; k < w.pcHi.length; k++) pcs.add(w.pcHi[k]!, w.pcLo[k]!)
    for (const t of w.threads) threads.add(t)
  }
  return { counters: toCounters(sums), uniquePcs: pcs.size, threads: threads.size }
}

const KERNEL_BITS = FileType.KERNEL_SYSCALLS | FileType.KERNEL_SYSCALL_INSTR_ONLY

const merge = (outcomes: ReadonlyArray<Tool.ShardOutcome<ShardResult>>): Result => {
  const shardType = outcomes[0]?.shardType ?? "thread"
  const shards = outcomes.flatMap((o) => o.result.shards)
  let forKernelTrace = false
  let forWholeSystemTrace = false
  for (const s of shards) {
    // A shard that never saw FILETYPE has -1: every bit tests true.
    if ((s.filetype & KERNEL_BITS) !== 0) forKernelTrace = true
    if ((s.filetype & FileType.WHOLE_SYSTEM) !== 0) forWholeSystemTrace = true
  }
  const total = summarize(shards.flatMap((s) => s.windows))
  // Context-switch injection can add kernel instructions to a user-only trace.
  if (total.counters.kernelInstrs > 0) forKernelTrace = true
  const numWindows = Math.max(1, ...shards.map((s) => s.windows.length))
  const windows: Array<Array<CountsSummary>> = []
  if (numWindows > 1) {
    for (let i = 0; i < numWindows; i++) {
      windows.push(shards.filter((s) => s.windows.length > i).map((s) => summarize([s.windows[i]!])))
    }
  }
  const perShard = shards
    .map((s) => ({ shardIndex: s.shardIndex, tid: s.tid, core: s.core, counts: summarize([s.windows[0]!]) }))
    .sort((a, b) => b.counts.counters.instrs - a.counts.counters.instrs || a.shardIndex - b.shardIndex)
  return { shardType, forKernelTrace, forWholeSystemTrace, total, windows, shards: perShard }
}

const printCounters = (
  out: Array<string>,
  summary: CountsSummary,
  prefix: string,
  r: { readonly shardType: Tool.ShardType; readonly forKernelTrace: boolean; readonly forWholeSystemTrace: boolean },
  uniquePcs = true
): void => {
  const c = summary.counters
  const line = (n: number, label: string) => out.push(setw(n, 12) + prefix + label)
  const split = r.forKernelTrace || r.forWholeSystemTrace
  line(c.instrs, " (fetched) instructions")
  if (uniquePcs) line(summary.uniquePcs, " unique (fetched) instructions")
  if (split) {
    line(c.userInstrs, " userspace instructions")
    line(c.kernelInstrs, " kernel instructions")
  }
  line(c.instrsNofetch, " non-fetched instructions")
  if (split) {
    line(c.userNofetchInstrs, " non-fetched userspace instructions")
    line(c.kernelNofetchInstrs, " non-fetched kernel instructions")
  }
  line(c.prefetches, " prefetches")
  line(c.loads, " data loads")
  line(c.stores, " data stores")
  line(c.icacheFlushes, " icache flushes")
  line(c.dcacheFlushes, " dcache flushes")
  if (r.shardType !== "thread" || summary.threads > 1 || prefix === " total") line(summary.threads, " threads")
  line(c.schedMarkers, " timestamp + cpuid markers")
  line(c.idleMarkers, " idle markers")
  line(c.waitMarkers, " wait markers")
  line(c.xferMarkers, " kernel transfer markers")
  if (r.forWholeSystemTrace) line(c.hardwareXferMarkers, " hardware transfer markers")
  line(c.funcIdMarkers, " function id markers")
  line(c.funcRetaddrMarkers, " function return address markers")
  line(c.funcArgMarkers, " function argument markers")
  line(c.funcRetvalMarkers, " function return value markers")
  line(c.physAddrMarkers, " physical address + virtual address marker pairs")
  line(c.physUnavailMarkers, " physical address unavailable markers")
  line(c.syscallNumberMarkers, " system call number markers")
  line(c.syscallBlockingMarkers, " blocking system call markers")
  line(c.skippedMemrefMarkers, " skipped memref markers")
  line(c.otherMarkers, " other markers")
  line(c.encodings, " encodings")
}

const print = (r: Result): string => {
  const out: Array<string> = ["Basic counts tool results:", "Total counts:"]
  printCounters(out, r.total, " total", r)
  if (r.windows.length > 1) {
    out.push(`Total windows: ${r.windows.length}`)
    r.windows.forEach((shards, i) => {
      out.push(`Window #${i}:`)
      for (const s of shards) printCounters(out, s, " window", r)
    })
  }
  for (const s of r.shards) {
    out.push(r.shardType === "thread" ? `Thread ${s.tid} counts:` : `Core ${s.core} counts:`)
    printCounters(out, s.counts, "", r)
  }
  return out.join("\n") + "\n"
}

/**
 * An interval snapshot: the shard's counters so far (every window summed) and
 * its thread ids; unique PCs are not tracked in snapshots (DynamoRIO's choice).
 *
 * @category schemas
 */
export const Snapshot = Schema.Struct({
  shardType: Schema.Literals(["thread", "core"]),
  counters: Counters,
  threads: Schema.Array(Schema.Number)
})

/** @category models */
export type Snapshot = typeof Snapshot.Type

const snapshotOf = (shardType: Tool.ShardType, windows: ReadonlyArray<Window>): Snapshot => {
  const sums = new Float64Array(COUNTER_COUNT)
  const threads = new Set<number>()
  for (const w of windows) {
    for (let i = 0; i < COUNTER_COUNT; i++) sums[i]! += w.counters[i]!
    for (const t of w.threads) threads.add(t)
  }
  return { shardType, counters: toCounters(sums), threads: [...threads] }
}

const combineSnapshots = (latest: ReadonlyArray<Tool.IntervalSnapshot<Snapshot> | undefined>): Snapshot => {
  const sums = new Float64Array(COUNTER_COUNT)
  const threads = new Set<number>()
  let shardType: Tool.ShardType = "thread"
  for (const s of latest) {
    if (s === undefined) continue
    shardType = s.data.shardType
    COUNTER_NAMES.forEach((n, i) => {
      sums[i]! += s.data.counters[n]
    })
    for (const t of s.data.threads) threads.add(t)
  }
  return { shardType, counters: toCounters(sums), threads: [...threads] }
}

/** DynamoRIO's `print_interval_results`: each interval's delta from the previous one. */
const printIntervals = (snapshots: ReadonlyArray<Tool.IntervalSnapshot<Snapshot>>): string => {
  const first = snapshots[0]
  const out: Array<string> = [
    first !== undefined && first.shardId !== Tool.WHOLE_TRACE_SHARD_ID
      ? `Counts per trace interval for TID ${first.shardId}:`
      : "Counts per trace interval for whole trace:"
  ]
  let last: Snapshot | undefined
  for (const snap of snapshots) {
    out.push(`Interval #${snap.intervalId} ending at timestamp ${snap.endTimestamp}:`)
    const seen = new Set(last?.threads ?? [])
    const diff = toCounters(COUNTER_NAMES.map((n) => snap.data.counters[n] - (last?.counters[n] ?? 0)))
    const threads = snap.data.threads.filter((t) => !seen.has(t)).length
    printCounters(
      out,
      { counters: diff, uniquePcs: 0, threads },
      " interval delta",
      {
        shardType: snap.data.shardType,
        forKernelTrace: false,
        forWholeSystemTrace: false
      },
      false
    )
    last = snap.data
  }
  return out.join("\n") + "\n"
}

/**
 * Options of basic_counts (none besides DynamoRIO's verbosity, which only adds
 * debug output).
 *
 * @category models
 */
export type Options = Record<string, never>

/** @category constructors */
export const make = (): Tool.Tool<State, ShardResult, Result, BasicCountsError> =>
  Tool.make({
    name: "basic_counts",
    makeShard: (info) => ({ subs: new SubShards(info, newSub), shardType: info.shardType }),
    processBatch: (state, batch, start, end, ctx) => processSub(state.subs.get(ctx), batch, start, end),
    finishShard: (state) => ({ shards: state.subs.all().map(finishSub) }),
    merge,
    print,
    shardResultSchema: ShardResult,
    resultSchema: Result,
    describeError: (e) => `basic_counts: ${e.detail} (shard ${e.shardIndex})`,
    intervals: {
      snapshot: (state) =>
        snapshotOf(
          state.shardType,
          state.subs.all().flatMap((s) => s.windows)
        ),
      combine: combineSnapshots,
      print: printIntervals,
      snapshotSchema: Snapshot
    }
  })

/**
 * The basic_counts tool.
 *
 * @category tools
 */
export const basicCounts: Tool.Tool<State, ShardResult, Result, BasicCountsError> = make()
