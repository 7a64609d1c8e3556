/**
 * The per-record state machine of DynamoRIO's `cache_simulator_t::
 * process_memref` over record batches: ref skipping, warmup and `sim_refs`
 * accounting, core choice, and dispatch to the L1I/L1D of the core (whose
 * misses go on to the shared LLC).
 *
 * `runGeneral` applies every rule at every record. Once nothing is left to
 * skip, count down or warm up, core shards take shortcuts (`runCoreShard`,
 * `runLockstep`, and `cacheHit` for L1 hits) that must leave exactly the same
 * state; test/tools/internal/cache/CacheSimulation.test.ts compares them with
 * `runGeneral` on random records. A change to a rule goes into both.
 */

import type { LockstepSpan } from "../../../analyzer/Tool.ts"
import { isInstr, isPrefetch, MarkerType, TraceType } from "../../../trace/Record.ts"
import type { RecordBatch } from "../../../trace/RecordBatch.ts"
import { CoreMap, NO_CORE } from "./CoreMap.ts"
import { cacheHit, Device, flush, type PolicyName, request } from "./Device.ts"

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
  // Scratch for runLockstep, per step: its L1 devices, its first placed round, its next round.
  private readonly stepL1i: Array<Device | undefined> = []
  private readonly stepL1d: Array<Device | undefined> = []
  private readonly stepFirst: Array<number> = []
  private readonly stepPos: Array<number> = []

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
    return this.cores.byCore && this.steady()
      ? this.runCoreShard(b, start, end, output)
      : this.runGeneral(b, start, end, output)
  }

  /** Nothing left to skip, count down or warm up: the per-record rules that only those need can be left out. */
  private steady(): boolean {
    return (
      this.skipRefs === 0 &&
      this.simRefs >= NO_STEP &&
      (this.warmedUp || (this.warmupRefs === 0 && this.warmupFraction === 0))
    )
  }

  /**
   * `run` for a core shard with nothing left to skip, count down or warm up:
   * the core is the shard's for every record of the span (DynamoRIO asks
   * `core_for_thread` at each one, with the same answer), and hits go through
   * `cacheHit`. Thread exits change nothing for core shards.
   */
  private runCoreShard(b: RecordBatch, start: number, end: number, output: number): number {
    const types = b.type
    const sizes = b.size
    const lo = b.addrLo
    const hi = b.addrHi
    const cm = this.cores
    let core = NO_CORE
    let l1i: Device | undefined
    let l1d: Device | undefined
    let nonMarkers = 0
    for (let i = start; i < end; i++) {
      const type = types[i]!
      const isMarker = type === TraceType.MARKER
      if (isMarker) {
        if (sizes[i] === MarkerType.CORE_IDLE) continue
      } else nonMarkers++
      if (core === NO_CORE) {
        core = cm.coreForShard(output, this.outputCpuids?.[output] ?? output)
        if (core >= this.numCores) {
          cm.nonMarkerCount += nonMarkers
          this.outcome = "tooSmallCoreCount"
          this.outcomeValue = core
          return i
        }
        l1i = this.l1i[core]!
        l1d = this.l1d[core]!
      }
      switch (DISPATCH[type]) {
        case ICACHE:
          if (!cacheHit(l1i!, type, lo[i]!, hi[i]!, sizes[i]!)) request(l1i!, type, lo[i]!, hi[i]!, sizes[i]!, 0)
          break
        case DCACHE:
          if (!cacheHit(l1d!, type, lo[i]!, hi[i]!, sizes[i]!)) request(l1d!, type, lo[i]!, hi[i]!, sizes[i]!, 0)
          break
        case IFLUSH:
          flush(l1i!, lo[i]!, hi[i]!, sizes[i]!, 0)
          break
        case DFLUSH:
          flush(l1d!, lo[i]!, hi[i]!, sizes[i]!, 0)
          break
        case EXIT:
          cm.lastThread = 0
          break
        case MARKER:
          if (sizes[i] === MarkerType.CPU_ID) cm.lastThread = 0
          break
        case IGNORE:
          break
        default:
          cm.nonMarkerCount += nonMarkers
          this.outcome = "unhandledType"
          this.outcomeValue = type
          return i
      }
    }
    cm.nonMarkerCount += nonMarkers
    return -1
  }

  /**
   * A core-serial lockstep span (see `Tool.LockstepSpan`), leaving the state
   * one `run` call per record in span order would. Returns -1 when all were
   * consumed, else `round × steps + step` of the record it stopped at (see
   * `outcome`).
   *
   * Why it may walk each step's records in a row: the steps are distinct cores,
   * and an L1 hit (or a marker, an exit, an ignored record) touches only its
   * own core's L1 and counters that commute (the LLC's child hits). Only the
   * other records (misses, flushes) reach shared state, so those alone must
   * keep their order: each step runs up to its next such record, and the
   * earliest one in span order goes next. Core choice (`core_for_shard`, whose
   * order fixes the report's cpu lists) is done first, in span order.
   */
  runLockstep(span: LockstepSpan): number {
    const { batches, starts, outputs, steps, rounds } = span
    if (!this.cores.byCore || !this.steady() || !this.placeSteps(span)) {
      return this.lockstepEachRecord(span)
    }
    const pos = this.stepPos
    for (let j = 0; j < steps; j++) pos[j] = this.advance(batches[j]!, starts[j]!, 0, rounds, j)
    for (;;) {
      let next = -1
      for (let j = 0; j < steps; j++) {
        if (pos[j]! < rounds && (next < 0 || pos[j]! < pos[next]!)) next = j
      }
      if (next < 0) break
      const at = starts[next]! + pos[next]!
      this.runCoreShard(batches[next]!, at, at + 1, outputs[next]!)
      pos[next] = this.advance(batches[next]!, starts[next]!, pos[next]! + 1, rounds, next)
    }
    // `last_core_index_` ends on the shard of the span's last record that is not an idle marker.
    for (let k = rounds * steps - 1; k >= 0; k--) {
      const j = k % steps
      const at = starts[j]! + (k - j) / steps
      const b = batches[j]!
      if (b.type[at] !== TraceType.MARKER || b.size[at] !== MarkerType.CORE_IDLE) {
        this.cores.lastCoreIndex = outputs[j]!
        break
      }
    }
    return -1
  }

  /**
   * Before a span is walked step by step: false when some record in it has a
   * type the simulator refuses (the span then goes record by record, to stop
   * exactly there); else places each step on its core in the order of its
   * first record that is not an idle marker, and false if a core is out of
   * range (likewise).
   */
  private placeSteps(span: LockstepSpan): boolean {
    const { batches, starts, outputs, steps, rounds } = span
    const first = this.stepFirst
    for (let j = 0; j < steps; j++) {
      const b = batches[j]!
      const types = b.type
      const start = starts[j]!
      first[j] = rounds
      for (let i = 0; i < rounds; i++) {
        const type = types[start + i]!
        if (DISPATCH[type] === UNHANDLED) return false
        if (first[j] === rounds && (type !== TraceType.MARKER || b.size[start + i] !== MarkerType.CORE_IDLE)) {
          first[j] = i
        }
      }
    }
    const placed = this.stepL1i
    for (let j = 0; j < steps; j++) placed[j] = undefined
    for (;;) {
      let next = -1
      for (let j = 0; j < steps; j++) {
        if (placed[j] === undefined && first[j]! < rounds && (next < 0 || first[j]! < first[next]!)) next = j
      }
      if (next < 0) return true
      const output = outputs[next]!
      const core = this.cores.coreForShard(output, this.outputCpuids?.[output] ?? output)
      if (core >= this.numCores) return false
      placed[next] = this.l1i[core]!
      this.stepL1d[next] = this.l1d[core]!
    }
  }

  /**
   * Runs step `j` from round `from` while its records stay on its own core
   * (see `runLockstep`); returns the round of the first one that does not (or
   * `rounds`), untouched.
   */
  private advance(b: RecordBatch, start: number, from: number, rounds: number, j: number): number {
    const types = b.type
    const sizes = b.size
    const lo = b.addrLo
    const hi = b.addrHi
    const l1i = this.stepL1i[j]
    const l1d = this.stepL1d[j]
    let nonMarkers = 0
    let exited = false
    let i = from
    for (; i < rounds; i++) {
      const at = start + i
      const type = types[at]!
      const kind = DISPATCH[type]
      if (kind === ICACHE || kind === DCACHE) {
        if (!cacheHit(kind === ICACHE ? l1i! : l1d!, type, lo[at]!, hi[at]!, sizes[at]!)) break
        nonMarkers++
      } else if (kind === MARKER) {
        if (sizes[at] === MarkerType.CPU_ID) exited = true
      } else if (kind === IGNORE || kind === EXIT) {
        nonMarkers++
        if (kind === EXIT) exited = true
      } else break
    }
    this.cores.nonMarkerCount += nonMarkers
    if (exited) this.cores.lastThread = 0
    return i
  }

  private lockstepEachRecord(span: LockstepSpan): number {
    const { batches, starts, outputs, steps, rounds } = span
    for (let i = 0; i < rounds; i++) {
      for (let j = 0; j < steps; j++) {
        const at = starts[j]! + i
        if (this.run(batches[j]!, at, at + 1, outputs[j]!) >= 0) return i * steps + j
      }
    }
    return -1
  }

  /** `run` record by record with every rule checked at each one: the reference the shortcuts are tested against. */
  runGeneral(b: RecordBatch, start: number, end: number, output: number): number {
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
        case ICACHE: {
          const d = this.l1i[core]!
          if (!cacheHit(d, type, lo[i]!, hi[i]!, sizes[i]!)) request(d, type, lo[i]!, hi[i]!, sizes[i]!, 0)
          break
        }
        case DCACHE: {
          const d = this.l1d[core]!
          if (!cacheHit(d, type, lo[i]!, hi[i]!, sizes[i]!)) request(d, type, lo[i]!, hi[i]!, sizes[i]!, 0)
          break
        }
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
