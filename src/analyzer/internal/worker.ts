/**
 * The synchronous heart of an analysis worker: hands record segments to every
 * tool's shard state, starts and ends shards, applies skip/exit-after, and
 * turns tool failures and defects into attributed failures. It knows nothing
 * about fibers, threads or schedulers, so the fiber backend and the worker
 * thread backend run the same code (DynamoRIO's `process_tasks_internal`).
 *
 * Concurrency: one WorkerCore belongs to one worker (one fiber or one worker
 * thread) and is never touched by another.
 */
import { FileType, isInstr, MarkerType, TraceType } from "../../trace/Record.ts"
import * as RecordBatch from "../../trace/RecordBatch.ts"
import type { FailureReason } from "../AnalyzerError.ts"
import type * as Tool from "../Tool.ts"

/** A failure before it is wrapped into a ShardFailure (plain data: it crosses threads). */
export interface FailureInfo {
  readonly reason: FailureReason
  readonly worker: number
  readonly shard: number
  readonly shardType: Tool.ShardType
  readonly tid?: number | undefined
  readonly input?: string | undefined
  readonly tool?: string | undefined
  readonly record?: number | undefined
  readonly message: string
  readonly toolError?: unknown
}

export interface WorkerConfig {
  readonly worker: number
  readonly tools: ReadonlyArray<Tool.Any>
  /** How each tool keys its shards. */
  readonly shardType: Tool.ShardType
  /** Serial run: serial-only tools get one shard over the whole stream. */
  readonly serial: boolean
  readonly outputCount: number
  readonly skipRecords: number
  readonly exitAfterRecords: number
  readonly inputName: (input: number) => string
  /** The scheduler's output cpuid (as-traced replays: the traced cpu), given to core shards. */
  readonly outputCpuid?: ((output: number) => number) | undefined
  /** Interval analysis: DynamoRIO's -interval_microseconds / -interval_instr_count (at most one non-zero). */
  readonly intervals?: IntervalConfig | undefined
}

export interface IntervalConfig {
  readonly microseconds: number
  readonly instrCount: number
}

/** One tracker's snapshots of one tool: a shard's list, or the whole trace's in serial runs. */
export interface ShardIntervals {
  /** The interval shard: input (thread shards), output (core shards), 0 (serial runs). */
  readonly shardIndex: number
  readonly snapshots: ReadonlyArray<Tool.IntervalSnapshot<unknown>>
}

/**
 * floor((hi·2^32 + lo) / d) exactly, without BigInt (timestamps pass 2^53):
 * long division by 16-bit digits, exact for d < 2^37.
 */
export const quotient = (hi: number, lo: number, d: number): number => {
  const qHi = Math.floor(hi / d)
  const a = (hi - qHi * d) * 65536 + (lo >>> 16)
  const q1 = Math.floor(a / d)
  const b = (a - q1 * d) * 65536 + (lo & 0xffff)
  return qHi * 4294967296 + q1 * 65536 + Math.floor(b / d)
}

/** DynamoRIO's per-shard interval state plus the stream ordinals it reads. */
interface Tracker {
  readonly key: number
  shardId: number
  curIndex: number
  curInit: number
  /** Whether a TIMESTAMP was seen; the first one's quotient by the interval (exact). */
  seenTs: boolean
  firstQ: number
  lastQ: number
  /** The last TIMESTAMP as exact u32 halves. */
  lastHi: number
  lastLo: number
  instrs: number
  done: boolean
  /** Per tool. */
  readonly snapshots: Array<Array<Tool.IntervalSnapshot<unknown>>>
}

/** One output's step of a core-serial lockstep span, as `processSpan` takes it. */
type SpanStep =
  | {
      readonly _tag: "Records"
      readonly batch: RecordBatch.RecordBatch
      readonly start: number
      readonly input: number
    }
  | { readonly _tag: "Idle" }

interface Slot {
  readonly state: unknown
  readonly shardIndex: number
  tid: number
  input: number
  exited: boolean
}

export interface Failed {
  readonly _tag: "Failed"
  readonly failure: FailureInfo
}

/** undefined: go on; Done: every tool soft-exited or exit_after_records was reached. */
export type SegmentOutcome = undefined | { readonly _tag: "Done" } | Failed

const done = { _tag: "Done" } as const

const describe = (tool: Tool.Any, error: unknown): string => {
  try {
    return tool.describeError(error)
  } catch {
    return String(error)
  }
}

export const defectMessage = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))

/**
 * A tool's typed error as plain JSON data, so that it crosses threads and
 * prints with `--json`: an `Error` keeps its name and message, 64-bit
 * integers become decimal strings, and what cannot be encoded becomes its
 * description.
 */
export const encodeToolError = (error: unknown): unknown => {
  if (typeof error === "bigint") return error.toString()
  if (error === null || typeof error !== "object") return error
  try {
    // A plain Error's name and message are not enumerable: kept by hand (a tagged error's fields are
    // its data); 64-bit values as decimal strings.
    const plain =
      error instanceof Error && !("_tag" in error) ? { ...error, name: error.name, message: error.message } : error
    return JSON.parse(JSON.stringify(plain, (_k, v) => (typeof v === "bigint" ? v.toString() : v)))
  } catch {
    return String(error)
  }
}

/**
 * Gives the CORE_IDLE and CORE_WAIT markers stored in a core-sharded-on-disk
 * file, in records `[start, end)`, the tids and pids of the idle and wait
 * records the analyzer makes (-1 and 0), as DynamoRIO's scheduler turns
 * stored markers into idle and wait statuses: the reader leaves them those of
 * the thread before. Only runs without the scheduler (one file per shard, on
 * any backend) hand stored markers on; scheduled ones make Idle and Wait
 * steps of them. Other batches cost one header test.
 */
const markStoredIdles = (batch: RecordBatch.RecordBatch, start: number, end: number): void => {
  const filetype = RecordBatch.filetype(batch)
  // -1: not read from a file (or before its FILETYPE), so not core-sharded on disk.
  if (filetype < 0 || (filetype & FileType.CORE_SHARDED) === 0) return
  const markers = RecordBatch.indexedMarkers(batch, false)
  const n = markers >= 0 ? markers : end
  for (let k = markers >= 0 ? 0 : start; k < n; k++) {
    const i = markers >= 0 ? batch.markerAt[k]! : k
    if (i < start || batch.type[i] !== TraceType.MARKER) continue
    if (i >= end) break
    const m = batch.size[i]
    if (m === MarkerType.CORE_IDLE) batch.tid[i] = batch.pid[i] = -1
    else if (m === MarkerType.CORE_WAIT) batch.tid[i] = batch.pid[i] = 0
  }
}

/**
 * Asks every tool whether it runs with `shardType` (`initializeShardType`),
 * as DynamoRIO asks each tool once before starting its workers: the first
 * refusal, or a throw, as a whole-run `ToolInit` failure.
 */
export const refusedShardType = (
  tools: ReadonlyArray<Tool.Any>,
  shardType: Tool.ShardType
): FailureInfo | undefined => {
  for (const tool of tools) {
    if (tool.initializeShardType === undefined) continue
    const refusal = (() => {
      try {
        const error = tool.initializeShardType!(shardType)
        return error === undefined ? undefined : { message: describe(tool, error), toolError: encodeToolError(error) }
      } catch (e) {
        return { message: defectMessage(e) }
      }
    })()
    if (refusal !== undefined)
      return { reason: "ToolInit", worker: -1, shard: -1, shardType, tool: tool.name, ...refusal }
  }
  return undefined
}

export class WorkerCore {
  readonly config: WorkerConfig
  /** Per tool: shard index → slot. */
  private readonly slots: Array<Map<number, Slot>>
  private readonly toolExited: Array<boolean>
  private liveTools: number
  private readonly ctx: Tool.BatchContext = { output: 0, input: -1, outputRecordsBefore: 0, inputRecordsBefore: 0 }
  private idleBatch: RecordBatch.RecordBatch | undefined = undefined
  private idleBatchWait = false
  /** Records this worker's stream delivered (DynamoRIO's output record ordinal). */
  outputRecords = 0
  /** Trace records handed to tools (progress: what the stall watchdog watches). */
  processed = 0
  /** Synthetic idle/wait records handed to tools (not progress: an output can idle forever). */
  synthetic = 0
  instructions = 0
  /** Finished shard results, per tool. */
  readonly results: Array<Array<Tool.ShardOutcome<unknown>>>
  private readonly taken: Array<number>
  /**
   * Records at the end of the last segment that were handed out but not
   * consumed when processing stopped (after a failing record, or past
   * exit_after_records): the worker gives them back to the scheduler, so the
   * input resumes, elsewhere, right after the last consumed record.
   */
  unconsumed = 0
  /** What the worker was doing last (for stall and crash reports). */
  lastShard = -1
  lastInput = -1
  lastRecord = 0
  /** Finished interval lists, per tool. */
  readonly intervalResults: Array<Array<ShardIntervals>>
  private readonly intervalsTaken: Array<number>
  private readonly trackers = new Map<number, Tracker>()
  private lastTracker: Tracker | undefined = undefined

  constructor(config: WorkerConfig) {
    this.config = config
    this.slots = config.tools.map(() => new Map())
    this.toolExited = config.tools.map(() => false)
    this.liveTools = config.tools.length
    this.results = config.tools.map(() => [])
    this.taken = config.tools.map(() => 0)
    this.intervalResults = config.tools.map(() => [])
    this.intervalsTaken = config.tools.map(() => 0)
  }

  /** Interval lists finished since the last call, per tool. */
  takeNewIntervals(): Array<Array<ShardIntervals>> | undefined {
    let any = false
    const out = this.intervalResults.map((list, t) => {
      const fresh = list.slice(this.intervalsTaken[t]!)
      this.intervalsTaken[t] = list.length
      if (fresh.length > 0) any = true
      return fresh
    })
    return any ? out : undefined
  }

  /** Results finished since the last call, per tool (a worker thread sends them as they come). */
  takeNewResults(): Array<Array<Tool.ShardOutcome<unknown>>> | undefined {
    let any = false
    const out = this.results.map((list, t) => {
      const fresh = list.slice(this.taken[t]!)
      this.taken[t] = list.length
      if (fresh.length > 0) any = true
      return fresh
    })
    return any ? out : undefined
  }

  /** Which shard of tool `t` a record from `input` on `output` belongs to. */
  private shardOf(t: number, input: number, output: number): number {
    if (this.config.serial && !this.config.tools[t]!.parallel) return 0
    if (this.config.shardType === "core") return output
    return input
  }

  private fail(
    reason: FailureReason,
    shard: number,
    slot: Slot | undefined,
    tool: Tool.Any | undefined,
    message: string,
    record?: number,
    toolError?: unknown,
    at?: { readonly tid: number; readonly input: number }
  ): Failed {
    // The failing record's thread and input when known (a core shard sees many), else the shard's.
    const tid = at?.tid ?? slot?.tid ?? 0
    const input = at?.input ?? slot?.input ?? -1
    return {
      _tag: "Failed",
      failure: {
        reason,
        worker: this.config.worker,
        shard,
        shardType: this.config.shardType,
        tid: tid > 0 ? tid : undefined,
        input: input >= 0 ? this.config.inputName(input) : undefined,
        tool: tool?.name,
        record,
        message,
        toolError
      }
    }
  }

  private slotFor(t: number, shard: number, input: number, tid: number): Slot | Failed {
    const map = this.slots[t]!
    let slot = map.get(shard)
    if (slot === undefined) {
      const tool = this.config.tools[t]!
      const serial = this.config.serial && !tool.parallel
      const info: Tool.ShardInfo = {
        shardIndex: shard,
        shardType: this.config.shardType,
        serial,
        outputCount: this.config.outputCount,
        ...(this.config.serial ? { serialShards: () => map.size } : {}),
        ...(this.config.shardType === "core" && this.config.outputCpuid !== undefined
          ? serial
            ? { outputCpuids: Array.from({ length: this.config.outputCount }, (_, o) => this.config.outputCpuid!(o)) }
            : { cpuid: this.config.outputCpuid(shard) }
          : {})
      }
      let state: unknown
      try {
        state = tool.makeShard(info)
      } catch (e) {
        const s: Slot = { state: undefined, shardIndex: shard, tid, input, exited: true }
        return this.fail("ShardInit", shard, s, tool, defectMessage(e))
      }
      slot = { state, shardIndex: shard, tid, input, exited: false }
      map.set(shard, slot)
    }
    return slot
  }

  /**
   * Processes records `[start, end)` of `batch`, from `input`, scheduled on
   * `output`. Never throws.
   */
  processSegment(
    batch: RecordBatch.RecordBatch,
    start: number,
    end: number,
    input: number,
    output: number
  ): SegmentOutcome {
    const cfg = this.config
    const before = this.outputRecords
    const origStart = start
    const origEnd = end
    this.unconsumed = 0
    if (input >= 0) markStoredIdles(batch, start, end)
    // Synthetic idle/wait records do not count as output records (DynamoRIO's
    // output record ordinal skips them), so skip/exit-after ignore them; nor
    // do the duplicate timestamp and cpu markers a skip re-inserts (flagged
    // synthetic, each in a batch of its own: the scheduler never mixes them
    // with counted records).
    const real = input >= 0
    if (real && (batch.flags[start]! & RecordBatch.FLAG_SYNTHETIC) === 0) this.outputRecords += end - start
    if (real && cfg.skipRecords > 0) {
      if (this.outputRecords <= cfg.skipRecords) return undefined
      if (before < cfg.skipRecords) start += cfg.skipRecords - before
    }
    let stopAfter = false
    if (real && cfg.exitAfterRecords > 0) {
      const limit = cfg.skipRecords + cfg.exitAfterRecords
      if (before >= limit) return done
      if (this.outputRecords >= limit) {
        end -= this.outputRecords - limit
        this.outputRecords = limit
        this.unconsumed = origEnd - end
        stopAfter = true
      }
    }
    if (start >= end) return stopAfter ? done : undefined
    const firstOrdinal = RecordBatch.firstRecordOrdinal(batch)
    const iv = cfg.intervals
    let outcome: SegmentOutcome | "ok"
    if (iv === undefined || input < 0) {
      outcome = this.runTools(batch, start, end, input, output, before + (start - origStart), firstOrdinal, origEnd)
    } else {
      outcome = this.runWithIntervals(batch, origStart, start, end, input, output, before, firstOrdinal, origEnd, iv)
    }
    if (outcome !== "ok") return outcome
    if (cfg.shardType === "thread" && batch.type[end - 1] === TraceType.THREAD_EXIT) {
      const r = this.finishShardsOfInput(input)
      if (r !== undefined) return r
    }
    return stopAfter ? done : undefined
  }

  /** The tracker of the interval shard a record from `input` on `output` belongs to. */
  private trackerFor(input: number, output: number): Tracker {
    const cfg = this.config
    const key = cfg.serial ? 0 : cfg.shardType === "core" ? output : input
    let tr = this.trackers.get(key)
    if (tr === undefined) {
      tr = {
        key,
        shardId: cfg.serial ? -1 : cfg.shardType === "core" ? cfg.worker : 0,
        curIndex: 1,
        curInit: 0,
        seenTs: false,
        firstQ: 0,
        lastQ: 0,
        lastHi: 0,
        lastLo: 0,
        instrs: 0,
        done: false,
        snapshots: cfg.tools.map(() => [])
      }
      this.trackers.set(key, tr)
    }
    return tr
  }

  /**
   * DynamoRIO's interval steps around the tools: the stream's ordinals advance
   * on every delivered record (skipped ones too); at a TIMESTAMP marker or an
   * instruction whose interval id moved on, the tools get the records before
   * it, then the finished interval is snapshot.
   */
  private runWithIntervals(
    batch: RecordBatch.RecordBatch,
    origStart: number,
    start: number,
    end: number,
    input: number,
    output: number,
    before: number,
    firstOrdinal: number,
    origEnd: number,
    iv: IntervalConfig
  ): SegmentOutcome | "ok" {
    const tr = this.trackerFor(input, output)
    this.lastTracker = tr
    const { type: types, size: sizes, tid: tids, addrHi, addrLo } = batch
    const byTime = iv.microseconds > 0
    const I = iv.microseconds
    const N = iv.instrCount
    let piece = start
    const byTid = !this.config.serial && this.config.shardType === "thread"
    for (let i = origStart; i < end; i++) {
      const t = types[i]!
      const ins = isInstr(t)
      const ts = !ins && t === TraceType.MARKER && sizes[i] === MarkerType.TIMESTAMP
      if (byTid && tr.shardId === 0 && tids[i]! > 0) tr.shardId = tids[i]!
      if (!ins && !ts) continue
      if (ins) tr.instrs++
      else {
        tr.lastHi = addrHi[i]!
        tr.lastLo = addrLo[i]!
        if (byTime) tr.lastQ = quotient(tr.lastHi, tr.lastLo, I)
        if (!tr.seenTs) {
          tr.seenTs = true
          tr.firstQ = tr.lastQ
        }
      }
      if (i < start) continue
      const next = byTime ? tr.lastQ - tr.firstQ + 1 : tr.instrs === 0 ? 1 : Math.floor((tr.instrs - 1) / N) + 1
      if (next === tr.curIndex) continue
      const prevIndex = tr.curIndex
      const prevInit = tr.curInit
      tr.curIndex = next
      tr.curInit = tr.instrs - (ins ? 1 : 0)
      if (i > piece) {
        const r = this.runTools(batch, piece, i, input, output, before + (piece - origStart), firstOrdinal, origEnd)
        if (r !== "ok") return r
        piece = i
      }
      const f = this.processInterval(tr, prevIndex, prevInit, ins, input, output)
      if (f !== undefined) {
        this.unconsumed = origEnd - i
        return f
      }
    }
    return this.runTools(batch, piece, end, input, output, before + (piece - origStart), firstOrdinal, origEnd)
  }

  /** DynamoRIO's `process_interval`: every tool with interval hooks snapshots interval `id`. */
  private processInterval(
    tr: Tracker,
    id: number,
    init: number,
    atInstr: boolean,
    input: number,
    output: number
  ): Failed | undefined {
    const cfg = this.config
    const iv = cfg.intervals!
    const endTimestamp =
      iv.microseconds > 0
        ? BigInt(tr.firstQ + id) * BigInt(iv.microseconds)
        : (BigInt(tr.lastHi) << 32n) | BigInt(tr.lastLo)
    const cumulative = tr.instrs - (atInstr ? 1 : 0)
    for (let t = 0; t < cfg.tools.length; t++) {
      const tool = cfg.tools[t]!
      const hooks = tool.intervals
      if (hooks === undefined) continue
      let data: unknown
      try {
        if (!cfg.serial) {
          const s = this.slotFor(t, this.shardOf(t, input, output), input, 0)
          if ("_tag" in s) return s
          data = hooks.snapshot(s.state, id)
        } else {
          // A serial run snapshots the whole tool: every data set it keeps, combined.
          const slots = [...this.slots[t]!.values()].sort((a, b) => a.shardIndex - b.shardIndex)
          if (slots.length === 1 && slots[0]!.state !== undefined) data = hooks.snapshot(slots[0]!.state, id)
          else if (hooks.combine !== undefined) {
            const parts = slots.map((s) => {
              const d = s.state === undefined ? undefined : hooks.snapshot(s.state, id)
              return d === undefined
                ? undefined
                : { shardId: -1, intervalId: id, endTimestamp, instrCountCumulative: 0, instrCountDelta: 0, data: d }
            })
            data = hooks.combine(parts, endTimestamp)
          } else if (slots.length > 1) {
            throw new Error("a serial run keeps several shards of this tool and it has no interval combine")
          }
        }
      } catch (e) {
        return this.fail("ToolDefect", tr.key, undefined, tool, `${tool.name} interval snapshot: ${defectMessage(e)}`)
      }
      if (data === undefined) continue
      tr.snapshots[t]!.push({
        shardId: tr.shardId,
        intervalId: id,
        endTimestamp,
        instrCountCumulative: cumulative,
        instrCountDelta: cumulative - init,
        data
      })
    }
    return undefined
  }

  /** DynamoRIO's interval part of `process_shard_exit`: the last interval, then the list is final. */
  private finishTracker(tr: Tracker, processFinal: boolean): Failed | undefined {
    if (tr.done) return undefined
    tr.done = true
    if (processFinal) {
      const f = this.processInterval(tr, tr.curIndex, tr.curInit, false, tr.key, tr.key)
      if (f !== undefined) return f
    }
    for (let t = 0; t < this.config.tools.length; t++) {
      this.intervalResults[t]!.push({ shardIndex: tr.key, snapshots: tr.snapshots[t]! })
    }
    return undefined
  }

  /** The tools' part of a segment piece `[start, end)`. */
  private runTools(
    batch: RecordBatch.RecordBatch,
    start: number,
    end: number,
    input: number,
    output: number,
    outputRecordsBefore: number,
    firstOrdinal: number,
    origEnd: number
  ): SegmentOutcome | "ok" {
    const cfg = this.config
    const ctx = this.ctx
    ctx.output = output
    ctx.input = input
    ctx.outputRecordsBefore = outputRecordsBefore
    ctx.inputRecordsBefore = input >= 0 ? firstOrdinal + start - 1 : 0
    const tid = batch.tid[start]!
    this.lastInput = input
    for (let t = 0; t < cfg.tools.length; t++) {
      if (this.toolExited[t]) continue
      const tool = cfg.tools[t]!
      const shard = this.shardOf(t, input, output)
      const s = this.slotFor(t, shard, input, tid)
      if ("_tag" in s) {
        // No tool saw these records: all of them go back.
        if (t === 0) this.unconsumed = origEnd - start
        return s
      }
      const slot = s
      if (slot.exited) continue
      if (slot.tid <= 0 && tid > 0) slot.tid = tid
      this.lastShard = shard
      let signal: Tool.Signal<unknown> | undefined
      try {
        signal = tool.processBatch(slot.state, batch, start, end, ctx)
      } catch (e) {
        return this.toolThrew(tool, shard, slot, batch, start, end, input, firstOrdinal, e)
      }
      if (signal !== undefined) {
        const f = this.toolSignalled(t, tool, shard, slot, batch, signal, input, firstOrdinal, start, origEnd)
        if (f !== undefined) return f
      }
    }
    if (input >= 0) this.processed += end - start
    else this.synthetic += end - start
    this.lastRecord = input >= 0 ? firstOrdinal + end - 1 : this.lastRecord
    if (this.liveTools === 0) return done
    return "ok"
  }

  private toolThrew(
    tool: Tool.Any,
    shard: number,
    slot: Slot,
    batch: RecordBatch.RecordBatch,
    start: number,
    end: number,
    input: number,
    firstOrdinal: number,
    e: unknown
  ): Failed {
    return this.fail(
      "ToolDefect",
      shard,
      slot,
      tool,
      `${tool.name} threw while processing records ${firstOrdinal + start}–${firstOrdinal + end - 1}: ${defectMessage(e)}`,
      input >= 0 ? firstOrdinal + start : undefined,
      undefined,
      { tid: batch.tid[start]!, input }
    )
  }

  /** A tool's Fail (the failure) or soft exit (undefined: the tool is done). */
  private toolSignalled(
    t: number,
    tool: Tool.Any,
    shard: number,
    slot: Slot,
    batch: RecordBatch.RecordBatch,
    signal: Tool.Signal<unknown>,
    input: number,
    firstOrdinal: number,
    start: number,
    origEnd: number
  ): Failed | undefined {
    if (signal._tag === "Fail") {
      // An index outside the records the tool was given names the first of them.
      const at =
        Number.isInteger(signal.index) && signal.index >= start && signal.index < origEnd ? signal.index : start
      this.unconsumed = origEnd - (at + 1)
      return this.fail(
        "ToolError",
        shard,
        slot,
        tool,
        describe(tool, signal.error),
        input >= 0 ? firstOrdinal + at : undefined,
        encodeToolError(signal.error),
        { tid: batch.tid[at] ?? 0, input }
      )
    }
    this.toolExited[t] = true
    this.liveTools--
    return undefined
  }

  /**
   * A core-serial lockstep span: `n` rounds, each handing record
   * `start + i` of every Records step (an idle record for an Idle step) to
   * the tools, in step order, with exactly the effects of `processSegment`
   * (or `idle`) per record. `spanSeen` gets, when it stops early, how many
   * records of each step the tools saw. Returns undefined when the span
   * needs the general path (intervals, skip/exit-after, a shard not begun
   * yet): nothing was processed then.
   */
  processSpan(
    steps: ReadonlyArray<SpanStep>,
    outputs: ReadonlyArray<number>,
    n: number,
    spanSeen: Array<number>
  ): SegmentOutcome | "ok" | "general" {
    const cfg = this.config
    if (cfg.intervals !== undefined || cfg.skipRecords > 0 || cfg.exitAfterRecords > 0 || cfg.shardType !== "core")
      return "general"
    const tools = cfg.tools
    // `steps` may be longer (a reused array): the span is one step per output.
    const m = outputs.length
    // Every shard's slot must exist already: creating one is the general path's business.
    const slots: Array<Slot> = []
    for (let j = 0; j < m; j++) {
      const st = steps[j]!
      const input = st._tag === "Records" ? st.input : -1
      for (let t = 0; t < tools.length; t++) {
        const slot = this.slots[t]!.get(this.shardOf(t, input, outputs[j]!))
        if (slot === undefined) return "general"
        slots.push(slot)
      }
    }
    if (tools.length === 1 && tools[0]!.processLockstep !== undefined && !this.toolExited[0]) {
      const slot = slots[0]!
      let shared = !slot.exited
      for (let j = 1; j < m && shared; j++) shared = slots[j] === slot
      if (shared) return this.lockstep(tools[0]!, slot, steps, outputs, n, spanSeen)
    }
    const idle = this.idleBatchFor(false, 1)
    // Per step, hoisted out of the record loop (steps differ in shape).
    const batches: Array<RecordBatch.RecordBatch> = []
    const starts: Array<number> = []
    const inputs: Array<number> = []
    const firsts: Array<number> = []
    for (let j = 0; j < m; j++) {
      const st = steps[j]!
      const real = st._tag === "Records"
      batches.push(real ? st.batch : idle)
      starts.push(real ? st.start : 0)
      inputs.push(real ? st.input : -1)
      firsts.push(real ? RecordBatch.firstRecordOrdinal(st.batch) : 0)
    }
    const ctx = this.ctx
    const toolCount = tools.length
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        const input = inputs[j]!
        const real = input >= 0
        const batch = batches[j]!
        const at = real ? starts[j]! + i : 0
        const firstOrdinal = firsts[j]!
        ctx.output = outputs[j]!
        ctx.input = input
        ctx.outputRecordsBefore = this.outputRecords
        ctx.inputRecordsBefore = real ? firstOrdinal + at - 1 : 0
        if (real && (batch.flags[at]! & RecordBatch.FLAG_SYNTHETIC) === 0) this.outputRecords++
        this.unconsumed = 0
        this.lastInput = input
        const tid = batch.tid[at]!
        for (let t = 0; t < toolCount; t++) {
          if (this.toolExited[t]) continue
          const slot = slots[j * toolCount + t]!
          if (slot.exited) continue
          if (slot.tid <= 0 && tid > 0) slot.tid = tid
          this.lastShard = slot.shardIndex
          const tool = tools[t]!
          let signal: Tool.Signal<unknown> | undefined
          try {
            signal = tool.processBatch(slot.state, batch, at, at + 1, ctx)
          } catch (e) {
            this.stopSpan(spanSeen, m, i, j, 0)
            return this.toolThrew(tool, slot.shardIndex, slot, batch, at, at + 1, input, firstOrdinal, e)
          }
          if (signal !== undefined) {
            const f = this.toolSignalled(t, tool, slot.shardIndex, slot, batch, signal, input, firstOrdinal, at, at + 1)
            if (f !== undefined) {
              this.stopSpan(spanSeen, m, i, j, this.unconsumed)
              return f
            }
          }
        }
        if (real) {
          this.processed++
          this.lastRecord = firstOrdinal + at
        } else {
          this.synthetic++
        }
        if (this.liveTools === 0) {
          this.stopSpan(spanSeen, m, i, j, 0)
          return done
        }
      }
    }
    return "ok"
  }

  private readonly span = {
    batches: [] as Array<RecordBatch.RecordBatch>,
    starts: [] as Array<number>,
    outputs: [] as ReadonlyArray<number>,
    steps: 0,
    rounds: 0,
    stoppedAt: -1
  }
  private readonly spanInputs: Array<number> = []
  private readonly spanFirsts: Array<number> = []

  /**
   * `processSpan` for one tool whose one shard takes every step (a serial
   * tool in core-serial runs) and that has `processLockstep`: one call for
   * the whole span, then the per-record bookkeeping in bulk; a signal is
   * handled at its record as the per-record path handles it.
   */
  private lockstep(
    tool: Tool.Any,
    slot: Slot,
    steps: ReadonlyArray<SpanStep>,
    outputs: ReadonlyArray<number>,
    n: number,
    spanSeen: Array<number>
  ): SegmentOutcome | "ok" {
    const m = outputs.length
    const span = this.span
    const inputs = this.spanInputs
    const firsts = this.spanFirsts
    span.batches.length = m
    span.starts.length = m
    inputs.length = m
    firsts.length = m
    const idle = this.idleBatchFor(false, n)
    for (let j = 0; j < m; j++) {
      const st = steps[j]!
      const real = st._tag === "Records"
      span.batches[j] = real ? st.batch : idle
      span.starts[j] = real ? st.start : 0
      inputs[j] = real ? st.input : -1
      firsts[j] = real ? RecordBatch.firstRecordOrdinal(st.batch) : 0
    }
    span.outputs = outputs
    span.steps = m
    span.rounds = n
    span.stoppedAt = -1
    if (slot.tid <= 0) {
      for (let i = 0; i < n && slot.tid <= 0; i++) {
        for (let j = 0; j < m; j++) {
          const tid = span.batches[j]!.tid[span.starts[j]! + i]!
          if (tid > 0) {
            slot.tid = tid
            break
          }
        }
      }
    }
    this.lastShard = slot.shardIndex
    let signal: Tool.Signal<unknown> | undefined
    try {
      signal = tool.processLockstep!(slot.state, span)
    } catch (e) {
      this.stopSpan(spanSeen, m, 0, 0, 0)
      const b = span.batches[0]!
      return this.toolThrew(
        tool,
        slot.shardIndex,
        slot,
        b,
        span.starts[0]!,
        span.starts[0]! + 1,
        inputs[0]!,
        firsts[0]!,
        e
      )
    }
    if (signal === undefined) {
      this.countSpan(n * m, m)
      return "ok"
    }
    const f = span.stoppedAt
    const i = Math.floor(f / m)
    const j = f - i * m
    this.countSpan(f, m)
    const batch = span.batches[j]!
    const at = span.starts[j]! + i
    const input = inputs[j]!
    const real = input >= 0
    if (real && (batch.flags[at]! & RecordBatch.FLAG_SYNTHETIC) === 0) this.outputRecords++
    this.unconsumed = 0
    this.lastInput = input
    const failed = this.toolSignalled(0, tool, slot.shardIndex, slot, batch, signal, input, firsts[j]!, at, at + 1)
    if (failed !== undefined) {
      this.stopSpan(spanSeen, m, i, j, this.unconsumed)
      return failed
    }
    if (real) {
      this.processed++
      this.lastRecord = firsts[j]! + at
    } else {
      this.synthetic++
    }
    // One tool, and it stopped.
    this.stopSpan(spanSeen, m, i, j, 0)
    return done
  }

  /** The per-record bookkeeping of the first `count` records (in span order) of the current lockstep span. */
  private countSpan(count: number, m: number): void {
    if (count === 0) return
    const span = this.span
    const inputs = this.spanInputs
    const full = Math.floor(count / m)
    const part = count - full * m
    for (let j = 0; j < m; j++) {
      const k = full + (j < part ? 1 : 0)
      if (k === 0) continue
      if (inputs[j]! < 0) {
        this.synthetic += k
        continue
      }
      const batch = span.batches[j]!
      let synthetic = 0
      if (!RecordBatch.decoded(batch)) {
        const flags = batch.flags
        const start = span.starts[j]!
        for (let q = start; q < start + k; q++) synthetic += flags[q]! & RecordBatch.FLAG_SYNTHETIC ? 1 : 0
      }
      this.outputRecords += k - synthetic
      this.processed += k
    }
    // The last record handed over, and the last real one (every round has every step).
    this.lastInput = inputs[(count - 1) % m]!
    this.unconsumed = 0
    for (let f = count - 1; f >= 0 && f >= count - m; f--) {
      const j = f % m
      if (inputs[j]! >= 0) {
        this.lastRecord = this.spanFirsts[j]! + span.starts[j]! + Math.floor(f / m)
        break
      }
    }
  }

  private stopSpan(spanSeen: Array<number>, count: number, i: number, j: number, unconsumed: number): void {
    for (let q = 0; q < count; q++) spanSeen[q] = q < j ? i + 1 : q === j ? i + 1 - unconsumed : i
  }

  /**
   * Hands `count` synthetic CORE_IDLE (or CORE_WAIT) records to the tools, as  /**
   * Hands `count` synthetic CORE_IDLE (or CORE_WAIT) records to the tools, as
   * DynamoRIO's analyzer hands one per IDLE (WAIT) status.
   */
  idle(output: number, wait: boolean, count = 1): SegmentOutcome {
    return this.processSegment(this.idleBatchFor(wait, count), 0, count, -1, output)
  }

  /** A batch of `count` prefilled idle (or wait) markers. */
  private idleBatchFor(wait: boolean, count: number): RecordBatch.RecordBatch {
    let b = this.idleBatch
    if (b === undefined || b.capacity < count || this.idleBatchWait !== wait) {
      b = RecordBatch.make(Math.max(count, 64))
      for (let i = 0; i < b.capacity; i++) {
        RecordBatch.pushMarker(
          b,
          wait ? MarkerType.CORE_WAIT : MarkerType.CORE_IDLE,
          0,
          0,
          wait ? 0 : -1,
          wait ? 0 : -1
        )
      }
      RecordBatch.setOrigin(b, -1, 0, 0)
      this.idleBatch = b
      this.idleBatchWait = wait
    }
    // Tools never write into batches, so the prefilled markers stay valid.
    RecordBatch.setLength(b, count)
    return b
  }

  private finishSlot(t: number, slot: Slot): SegmentOutcome {
    if (slot.exited) return undefined
    slot.exited = true
    const tool = this.config.tools[t]!
    let r: unknown
    try {
      r = tool.finishShard(slot.state)
    } catch (e) {
      return this.fail("ShardExit", slot.shardIndex, slot, tool, defectMessage(e))
    }
    if (r !== null && typeof r === "object" && (r as { _tag?: unknown })._tag === "Fail") {
      const f = r as Tool.Fail<unknown>
      return this.fail(
        "ShardExit",
        slot.shardIndex,
        slot,
        tool,
        describe(tool, f.error),
        undefined,
        encodeToolError(f.error)
      )
    }
    this.results[t]!.push({ shardIndex: slot.shardIndex, shardType: this.config.shardType, result: r })
    return undefined
  }

  private finishShardsOfInput(input: number): SegmentOutcome {
    const tr = this.config.serial ? undefined : this.trackers.get(input)
    if (tr !== undefined) {
      const f = this.finishTracker(tr, true)
      if (f !== undefined) return f
    }
    for (let t = 0; t < this.config.tools.length; t++) {
      const slot = this.slots[t]!.get(input)
      if (slot !== undefined && (!this.config.serial || this.config.tools[t]!.parallel)) {
        const r = this.finishSlot(t, slot)
        if (r !== undefined) return r
      }
    }
    return undefined
  }

  /** Ends every shard not yet ended (DynamoRIO's missing-exit fallback). */
  finishAll(): SegmentOutcome {
    const trackers = [...this.trackers.values()].sort((a, b) => a.key - b.key)
    for (const tr of trackers) {
      // DynamoRIO (i#6793) skips the last interval of a thread shard that ended
      // without its exit record unless the stream is still on it.
      const final = this.config.serial || this.config.shardType === "core" || tr === this.lastTracker
      const f = this.finishTracker(tr, final)
      if (f !== undefined) return f
    }
    for (let t = 0; t < this.config.tools.length; t++) {
      const shards = [...this.slots[t]!.values()].sort((a, b) => a.shardIndex - b.shardIndex)
      for (const slot of shards) {
        const r = this.finishSlot(t, slot)
        if (r !== undefined) return r
      }
    }
    return undefined
  }
}
