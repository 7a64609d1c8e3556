/**
 * The per-record state machine of DynamoRIO's `cache_simulator_t::
 * process_memref` over record batches: ref skipping, warmup and `sim_refs`
 * accounting, core choice, and dispatch to the L1I/L1D of the core (whose
 * misses go on to the shared LLC).
 */
import { isInstr, isPrefetch, MarkerType, TraceType } from "../../../trace/Record.ts"
import type { RecordBatch } from "../../../trace/RecordBatch.ts"
import { CoreMap, NO_CORE } from "./CoreMap.ts"
import { Device, flush, type PolicyName, request } from "./Device.ts"

/** @internal */
export interface CacheConfig {
  readonly cores: number
  readonly lineSize: number
  readonly l1iSize: number
  readonly l1iAssoc: number
  readonly l1dSize: number
  readonly l1dAssoc: number
  readonly llSize: number
  readonly llAssoc: number
  readonly replacePolicy: PolicyName
  readonly dataPrefetcher: "nextline" | "none"
  readonly skipRefs: number
  readonly warmupRefs: number
  readonly warmupFraction: number
  readonly simRefs: number
  readonly cpuScheduling: boolean
  readonly outputCpuids: ReadonlyArray<number> | undefined
}

const UNHANDLED = 0
const ICACHE = 1
const DCACHE = 2
const IFLUSH = 3
const DFLUSH = 4
const EXIT = 5
const MARKER = 6
const IGNORE = 7

const DISPATCH = new Uint8Array(256)
for (let t = 0; t < 256; t++) {
  DISPATCH[t] =
    isInstr(t) || t === TraceType.PREFETCH_INSTR
      ? ICACHE
      : t === TraceType.READ || t === TraceType.WRITE || isPrefetch(t)
        ? DCACHE
        : t === TraceType.INSTR_FLUSH
          ? IFLUSH
          : t === TraceType.DATA_FLUSH
            ? DFLUSH
            : t === TraceType.THREAD_EXIT
              ? EXIT
              : t === TraceType.MARKER
                ? MARKER
                : t === TraceType.INSTR_NO_FETCH
                  ? IGNORE
                  : UNHANDLED
}

/** Why `run` stopped early. @internal */
export type Outcome = "stop" | "tooSmallCoreCount" | "unhandledType"

// 2^64 - 1 (a wrapped uint64 counter), as the nearest double.
const U64_MAX = 2 ** 64
// From 2^54 on, subtracting 1 leaves a double unchanged: the default limit (2^63) needs no store per record.
const NO_STEP = 2 ** 54

/** @internal */
export class CacheSimulation {
  readonly numCores: number
  readonly l1i: Array<Device> = []
  readonly l1d: Array<Device> = []
  readonly ll: Device
  readonly cores: CoreMap
  readonly warmupEnabled: boolean
  readonly outputCpuids: ReadonlyArray<number> | undefined
  skipRefs: number
  warmupRefs: number
  readonly warmupFraction: number
  simRefs: number
  warmedUp = false
  outcome: Outcome = "stop"
  /** The offending core (tooSmallCoreCount) or type (unhandledType). */
  outcomeValue = 0

  constructor(config: CacheConfig, byCore: boolean) {
    this.numCores = config.cores
    this.ll = new Device({
      name: "LL",
      assoc: config.llAssoc,
      blockSize: config.lineSize,
      numBlocks: Math.floor(config.llSize / config.lineSize),
      policy: config.replacePolicy
    })
    for (let i = 0; i < config.cores; i++) {
      this.l1i.push(
        new Device({
          name: `L1I${i}`,
          assoc: config.l1iAssoc,
          blockSize: config.lineSize,
          numBlocks: Math.floor(config.l1iSize / config.lineSize),
          policy: config.replacePolicy,
          parent: this.ll
        })
      )
      this.l1d.push(
        new Device({
          name: `L1D${i}`,
          assoc: config.l1dAssoc,
          blockSize: config.lineSize,
          numBlocks: Math.floor(config.l1dSize / config.lineSize),
          policy: config.replacePolicy,
          parent: this.ll,
          nextLinePrefetcher: config.dataPrefetcher === "nextline"
        })
      )
    }
    this.cores = new CoreMap(config.cores, byCore, config.cpuScheduling)
    this.warmupEnabled = config.warmupRefs > 0 || config.warmupFraction > 0
    this.outputCpuids = config.outputCpuids
    this.skipRefs = config.skipRefs
    this.warmupRefs = config.warmupRefs
    this.warmupFraction = config.warmupFraction
    this.simRefs = config.simRefs
  }

  private checkWarmedUp(): boolean {
    if (this.warmedUp) return true
    if (this.warmupFraction > 0) {
      if (this.ll.loadedBlocks / this.ll.numBlocks >= this.warmupFraction) {
        this.warmedUp = true
        return true
      }
    }
    if (this.warmupRefs > 0) {
      this.warmupRefs--
      if (this.warmupRefs === 0) {
        this.warmedUp = true
        return true
      }
    }
    return false
  }

  private resetStats(): void {
    for (const d of this.l1i) d.resetStats()
    for (const d of this.l1d) d.resetStats()
    this.ll.resetStats()
  }

  /**
   * Simulates records `[start, end)` delivered on `output`. Returns -1 when
   * all were consumed, else the index where it stopped (see `outcome`).
   */
  run(b: RecordBatch, start: number, end: number, output: number): number {
    const types = b.type
    const sizes = b.size
    const lo = b.addrLo
    const hi = b.addrHi
    const tids = b.tid
    const cm = this.cores
    const byCore = cm.byCore
    for (let i = start; i < end; i++) {
      const type = types[i]!
      const isMarker = type === TraceType.MARKER
      if (this.skipRefs > 0) {
        if (!isMarker) this.skipRefs--
        continue
      }
      if (this.simRefs === 0 && (this.warmedUp || (this.warmupRefs === 0 && this.warmupFraction === 0))) {
        this.outcome = "stop"
        return i
      }
      const tid = tids[i]!
      const markerType = isMarker ? sizes[i]! : -1
      if (!isMarker) cm.nonMarkerCount++
      else if (markerType === MarkerType.CPU_ID && cm.cpuScheduling) cm.cpuMarker(lo[i]!, hi[i]!, tid)
      let core = NO_CORE
      if (markerType !== MarkerType.CORE_IDLE) {
        if (byCore) core = cm.coreForShard(output, this.outputCpuids?.[output] ?? output)
        else if (tid === cm.lastThread && cm.lastCoreIndex !== NO_CORE) core = cm.lastCoreIndex
        else {
          core = cm.coreForThread(tid)
          if (core !== NO_CORE) {
            cm.lastThread = tid
            cm.lastCoreIndex = core
          }
        }
        if (core >= this.numCores) {
          this.outcome = "tooSmallCoreCount"
          this.outcomeValue = core
          return i
        }
      }
      switch (DISPATCH[type]) {
        case ICACHE:
          request(this.l1i[core]!, type, lo[i]!, hi[i]!, sizes[i]!, 0)
          break
        case DCACHE:
          request(this.l1d[core]!, type, lo[i]!, hi[i]!, sizes[i]!, 0)
          break
        case IFLUSH:
          flush(this.l1i[core]!, lo[i]!, hi[i]!, sizes[i]!, 0)
          break
        case DFLUSH:
          flush(this.l1d[core]!, lo[i]!, hi[i]!, sizes[i]!, 0)
          break
        case EXIT:
          cm.threadExit(tid)
          cm.lastThread = 0
          break
        case MARKER:
          if (markerType === MarkerType.CPU_ID) cm.lastThread = 0
          break
        case IGNORE:
          break
        default:
          this.outcome = "unhandledType"
          this.outcomeValue = type
          return i
      }
      if (!isMarker) {
        if (!this.warmedUp && this.checkWarmedUp()) this.resetStats()
        else if (this.simRefs < NO_STEP) this.simRefs = this.simRefs === 0 ? U64_MAX : this.simRefs - 1
      }
    }
    return -1
  }
}
