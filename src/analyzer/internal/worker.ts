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
import { MarkerType, TraceType } from "../../trace/Record.ts"
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
}

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

const defectMessage = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))

/**
 * Encodes a tool's typed error to JSON through its schema when it has one, so
 * it can cross threads; falls back to a plain description.
 */
export const encodeToolError = (error: unknown): unknown => {
  if (error === null || typeof error !== "object") return error
  try {
    return JSON.parse(JSON.stringify(error))
  } catch {
    return String(error)
  }
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

  constructor(config: WorkerConfig) {
    this.config = config
    this.slots = config.tools.map(() => new Map())
    this.toolExited = config.tools.map(() => false)
    this.liveTools = config.tools.length
    this.results = config.tools.map(() => [])
    this.taken = config.tools.map(() => 0)
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
      const info: Tool.ShardInfo = {
        shardIndex: shard,
        shardType: this.config.shardType,
        serial: this.config.serial && !tool.parallel,
        outputCount: this.config.outputCount
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
    // Synthetic idle/wait records do not count as output records (DynamoRIO's
    // output record ordinal skips them), so skip/exit-after ignore them.
    const real = input >= 0
    if (real) this.outputRecords += end - start
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
    const ctx = this.ctx
    ctx.output = output
    ctx.input = input
    ctx.outputRecordsBefore = before + (start - origStart)
    ctx.inputRecordsBefore = input >= 0 ? firstOrdinal + start - 1 : 0
    const tid = batch.tid[start]!
    this.lastInput = input
    for (let t = 0; t < cfg.tools.length; t++) {
      if (this.toolExited[t]) continue
      const tool = cfg.tools[t]!
      const shard = this.shardOf(t, input, output)
      const s = this.slotFor(t, shard, input, tid)
      if ("_tag" in s) {
        // No tool saw this segment's records: all of them go back.
        if (t === 0) this.unconsumed = origEnd - origStart
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
      if (signal !== undefined) {
        if (signal._tag === "Fail") {
          this.unconsumed = origEnd - (signal.index + 1)
          return this.fail(
            "ToolError",
            shard,
            slot,
            tool,
            describe(tool, signal.error),
            input >= 0 ? firstOrdinal + signal.index : undefined,
            encodeToolError(signal.error),
            { tid: batch.tid[signal.index] ?? 0, input }
          )
        }
        this.toolExited[t] = true
        this.liveTools--
      }
    }
    if (input >= 0) this.processed += end - start
    else this.synthetic += end - start
    this.lastRecord = input >= 0 ? firstOrdinal + end - 1 : this.lastRecord
    if (this.liveTools === 0) return done
    if (cfg.shardType === "thread" && batch.type[end - 1] === TraceType.THREAD_EXIT) {
      const r = this.finishShardsOfInput(input)
      if (r !== undefined) return r
    }
    return stopAfter ? done : undefined
  }

  /**
   * Hands `count` synthetic CORE_IDLE (or CORE_WAIT) records to the tools, as
   * DynamoRIO's analyzer hands one per IDLE (WAIT) status.
   */
  idle(output: number, wait: boolean, count = 1): SegmentOutcome {
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
    return this.processSegment(b, 0, count, -1, output)
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
