/**
 * DynamoRIO's `simulator_t` bookkeeping shared by the cache and TLB
 * simulators: which simulated core a record runs on, and what each core's
 * header line says at the end.
 *
 * - Thread shards (serial interleave of threads): a thread gets the core with
 *   the fewest live threads (lowest index on ties) on its first record once
 *   any non-marker has been seen, and gives it back at THREAD_EXIT.
 * - `cpuScheduling`: a CPU_ID marker maps the traced cpu to the core with the
 *   fewest cpus (first time that cpu is seen) and moves the thread there.
 * - Core shards: the core is the output (shard) index; the output's cpu id is
 *   remembered for the header.
 */

import { StdUnordered } from "../StdUnordered.ts"

/** `INVALID_CORE_INDEX`. @internal */
export const NO_CORE = -1

/** What a core's header line needs (from `print_core`). @internal */
export interface CoreSummary {
  readonly core: number
  /** Threads ever placed on the core (thread shards without cpu scheduling). */
  readonly threads: number
  /** Traced cpus mapped to the core (thread shards with cpu scheduling). */
  readonly tracedCpus: number
  /** Cpu ids mapped to the core, in the order DynamoRIO lists them. */
  readonly cpus: ReadonlyArray<number>
}

/** @internal */
export class CoreMap {
  readonly numCores: number
  readonly byCore: boolean
  readonly cpuScheduling: boolean
  readonly cpuCounts: Int32Array
  readonly threadCounts: Int32Array
  readonly threadEverCounts: Int32Array
  readonly thread2core = new Map<number, number>()
  readonly cpu2core = new Map<number, number>()
  // A std::unordered_map<int64_t, …> has the identity hash.
  readonly cpuOrder = new StdUnordered<number>((cpu) => cpu, String)
  nonMarkerCount = 0
  /** `last_thread_`: -1 before any record, 0 (no thread) after an exit or cpu marker. */
  lastThread = -1
  lastCoreIndex = NO_CORE
  /**
   * A cpu id each core shard last passed that `cpu2core` already holds (NaN:
   * none). Lockstep walks change shard at every record; this spares the map
   * lookup then (entries are never removed, so a remembered id stays known).
   */
  private readonly knownCpu: Float64Array

  constructor(numCores: number, byCore: boolean, cpuScheduling: boolean) {
    this.numCores = numCores
    this.knownCpu = new Float64Array(numCores).fill(Number.NaN)
    this.byCore = byCore
    this.cpuScheduling = cpuScheduling
    this.cpuCounts = new Int32Array(numCores)
    this.threadCounts = new Int32Array(numCores)
    this.threadEverCounts = new Int32Array(numCores)
  }

  private emptiest(counts: Int32Array): number {
    let min = 0x7fffffff
    let core = 0
    for (let i = 0; i < this.numCores; i++) {
      if (counts[i]! < min) {
        min = counts[i]!
        core = i
      }
    }
    return core
  }

  /** A CPU_ID marker under `cpuScheduling` (thread shards only). `cpuHi`'s top bit set = negative = unknown. */
  cpuMarker(cpuLo: number, cpuHi: number, tid: number): void {
    if (cpuHi >= 0x80000000) return
    const cpu = cpuHi * 4294967296 + cpuLo
    let core = this.cpu2core.get(cpu)
    if (core === undefined) {
      core = this.emptiest(this.cpuCounts)
      this.cpuCounts[core]!++
      this.cpu2core.set(cpu, core)
      this.cpuOrder.insert(cpu)
    }
    const prior = this.thread2core.get(tid)
    if (prior !== undefined) this.threadCounts[prior]!--
    this.thread2core.set(tid, core)
    this.threadCounts[core]!++
    this.threadEverCounts[core]!++
    this.lastThread = 0
    this.lastCoreIndex = NO_CORE
  }

  /** `core_for_thread` for core shards: the shard index, remembering its cpu. */
  coreForShard(shardIndex: number, cpuid: number): number {
    if (shardIndex !== this.lastCoreIndex && this.knownCpu[shardIndex] !== cpuid) {
      if (!this.cpu2core.has(cpuid)) {
        this.cpu2core.set(cpuid, shardIndex)
        this.cpuOrder.insert(cpuid)
      }
      if (shardIndex < this.numCores) this.knownCpu[shardIndex] = cpuid
    }
    this.lastCoreIndex = shardIndex
    return shardIndex
  }

  /** `core_for_thread` for thread shards. */
  coreForThread(tid: number): number {
    const known = this.thread2core.get(tid)
    if (known !== undefined) return known
    if (this.nonMarkerCount === 0) return NO_CORE
    const core = this.emptiest(this.threadCounts)
    this.threadCounts[core]!++
    this.threadEverCounts[core]!++
    this.thread2core.set(tid, core)
    return core
  }

  /** `handle_thread_exit`. */
  threadExit(tid: number): void {
    if (this.byCore) return
    const core = this.thread2core.get(tid)
    if (core === undefined) return
    this.threadCounts[core]!--
    this.thread2core.delete(tid)
  }

  summaries(): Array<CoreSummary> {
    const order = this.cpuOrder.ordered()
    const out: Array<CoreSummary> = []
    for (let core = 0; core < this.numCores; core++) {
      out.push({
        core,
        threads: this.threadEverCounts[core]!,
        tracedCpus: this.cpuCounts[core]!,
        cpus: order.filter((cpu) => this.cpu2core.get(cpu) === core)
      })
    }
    return out
  }
}

/**
 * DynamoRIO's `print_core` header for one core, and whether its caches are
 * printed below it.
 *
 * @internal
 */
export const coreHeader = (
  s: CoreSummary,
  byCore: boolean,
  cpuScheduling: boolean
): { readonly text: string; readonly active: boolean } => {
  if (!cpuScheduling && !byCore) {
    return { text: `Core #${s.core} (${s.threads} thread(s))\n`, active: s.threads > 0 }
  }
  if (!byCore && s.tracedCpus === 0) return { text: `Core #${s.core} (0 traced CPU(s))\n`, active: false }
  const count = byCore ? "" : `${s.tracedCpus} `
  const list = s.cpus.map((c) => `#${c}`).join(", ")
  return { text: `Core #${s.core} (${count}traced CPU(s): ${list})\n`, active: s.cpus.length > 0 }
}
