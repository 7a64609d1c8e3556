/**
 * The per-record state machine of DynamoRIO's `tlb_simulator_t::
 * process_memref`: per core an instruction TLB and a data TLB over a private
 * last-level TLB, entries tagged by page number and process id.
 *
 * Differences from the cache simulator that DynamoRIO has and we keep: the
 * "same thread as last record" shortcut also applies to core shards, warmup
 * is by `warmupRefs` only, prefetches/flushes/markers are ignored, and CPU_ID
 * markers do not reset the shortcut (only `cpuScheduling` does).
 */
import { isInstr, isPrefetch, MarkerType, TraceType } from "../../../trace/Record.ts"
import type { RecordBatch } from "../../../trace/RecordBatch.ts"
import type { Outcome } from "./CacheSimulation.ts"
import { CoreMap, NO_CORE } from "./CoreMap.ts"
import { Device, type PolicyName, request } from "./Device.ts"

/** @internal */
export interface TlbConfig {
  readonly cores: number
  readonly pageSize: number
  readonly l1iEntries: number
  readonly l1iAssoc: number
  readonly l1dEntries: number
  readonly l1dAssoc: number
  readonly l2Entries: number
  readonly l2Assoc: number
  readonly replacePolicy: PolicyName
  readonly skipRefs: number
  readonly warmupRefs: number
  readonly simRefs: number
  readonly cpuScheduling: boolean
  readonly outputCpuids: ReadonlyArray<number> | undefined
}

const UNHANDLED = 0
const ITLB = 1
const DTLB = 2
const EXIT = 3
const IGNORE = 4

const DISPATCH = new Uint8Array(256)
for (let t = 0; t < 256; t++) {
  DISPATCH[t] = isInstr(t)
    ? ITLB
    : t === TraceType.READ || t === TraceType.WRITE
      ? DTLB
      : t === TraceType.THREAD_EXIT
        ? EXIT
        : isPrefetch(t) ||
            t === TraceType.INSTR_FLUSH ||
            t === TraceType.DATA_FLUSH ||
            t === TraceType.MARKER ||
            t === TraceType.INSTR_NO_FETCH
          ? IGNORE
          : UNHANDLED
}

// 2^64 - 1 (a wrapped uint64 counter), as the nearest double.
const U64_MAX = 2 ** 64
// From 2^54 on, subtracting 1 leaves a double unchanged: the default limit (2^63) needs no store per record.
const NO_STEP = 2 ** 54

/** @internal */
export class TlbSimulation {
  readonly numCores: number
  readonly itlb: Array<Device> = []
  readonly dtlb: Array<Device> = []
  readonly lltlb: Array<Device> = []
  readonly cores: CoreMap
  readonly outputCpuids: ReadonlyArray<number> | undefined
  skipRefs: number
  warmupRefs: number
  simRefs: number
  outcome: Outcome = "stop"
  outcomeValue = 0

  constructor(config: TlbConfig, byCore: boolean) {
    this.numCores = config.cores
    for (let i = 0; i < config.cores; i++) {
      const ll = new Device({
        name: `lltlb ${i}`,
        assoc: config.l2Assoc,
        blockSize: config.pageSize,
        numBlocks: config.l2Entries,
        policy: config.replacePolicy,
        tlb: true
      })
      this.lltlb.push(ll)
      this.itlb.push(
        new Device({
          name: `itlb ${i}`,
          assoc: config.l1iAssoc,
          blockSize: config.pageSize,
          numBlocks: config.l1iEntries,
          policy: config.replacePolicy,
          parent: ll,
          tlb: true
        })
      )
      this.dtlb.push(
        new Device({
          name: `dtlb ${i}`,
          assoc: config.l1dAssoc,
          blockSize: config.pageSize,
          numBlocks: config.l1dEntries,
          policy: config.replacePolicy,
          parent: ll,
          tlb: true
        })
      )
    }
    this.cores = new CoreMap(config.cores, byCore, config.cpuScheduling)
    this.outputCpuids = config.outputCpuids
    this.skipRefs = config.skipRefs
    this.warmupRefs = config.warmupRefs
    this.simRefs = config.simRefs
  }

  /** Like `CacheSimulation.run`. */
  run(b: RecordBatch, start: number, end: number, output: number): number {
    const types = b.type
    const sizes = b.size
    const lo = b.addrLo
    const hi = b.addrHi
    const tids = b.tid
    const pids = b.pid
    const cm = this.cores
    const byCore = cm.byCore
    for (let i = start; i < end; i++) {
      const type = types[i]!
      const isMarker = type === TraceType.MARKER
      if (this.skipRefs > 0) {
        if (!isMarker) this.skipRefs--
        continue
      }
      if (this.warmupRefs === 0 && this.simRefs === 0) {
        this.outcome = "stop"
        return i
      }
      const tid = tids[i]!
      const markerType = isMarker ? sizes[i]! : -1
      if (!isMarker) cm.nonMarkerCount++
      else if (markerType === MarkerType.CPU_ID && cm.cpuScheduling) cm.cpuMarker(lo[i]!, hi[i]!, tid)
      let core = NO_CORE
      if (markerType !== MarkerType.CORE_IDLE) {
        if (tid === cm.lastThread) core = cm.lastCoreIndex
        else {
          core = byCore ? cm.coreForShard(output, this.outputCpuids?.[output] ?? output) : cm.coreForThread(tid)
          if (core !== NO_CORE) {
            cm.lastThread = tid
            cm.lastCoreIndex = core
          }
        }
        // DynamoRIO indexes past its arrays here; we report it like the cache simulator.
        if (core >= this.numCores) {
          this.outcome = "tooSmallCoreCount"
          this.outcomeValue = core
          return i
        }
      }
      switch (DISPATCH[type]) {
        case ITLB:
          request(this.itlb[core]!, type, lo[i]!, hi[i]!, sizes[i]!, pids[i]!)
          break
        case DTLB:
          request(this.dtlb[core]!, type, lo[i]!, hi[i]!, sizes[i]!, pids[i]!)
          break
        case EXIT:
          cm.threadExit(tid)
          cm.lastThread = 0
          break
        case IGNORE:
          break
        default:
          this.outcome = "unhandledType"
          this.outcomeValue = type
          return i
      }
      if (!isMarker) {
        if (this.warmupRefs > 0) {
          this.warmupRefs--
          if (this.warmupRefs === 0) {
            for (let c = 0; c < this.numCores; c++) {
              this.itlb[c]!.resetStats()
              this.dtlb[c]!.resetStats()
              this.lltlb[c]!.resetStats()
            }
          }
        } else if (this.simRefs < NO_STEP) this.simRefs = this.simRefs === 0 ? U64_MAX : this.simRefs - 1
      }
    }
    return -1
  }
}
