/**
 * Adapts the scheduler's pure core to the analyzer's OutputSource: serial
 * (timestamp interleave on one output), core-sharded (dynamic mapping onto
 * `cores` outputs, or a replay of a recorded or as-traced schedule) and
 * core-serial (the same, stepped in lockstep); thread-sharded runs use it
 * (consistent mapping) only when the scheduler has to skip or filter.
 *
 * Time: by default the core's logical clock (instructions + idles of the
 * output). With `quantumUnit: "time"` in a core run (DynamoRIO's
 * -sched_time: its analyzer passes the wall-clock time in microseconds to
 * every `next_record`), each call of the core gets `clock()`, read just
 * before the call. One call hands out a run of records, so all of them
 * share that time: a quantum ends at the first call made after it has
 * elapsed, at a run boundary (a batch end at most), not at the exact record
 * DynamoRIO would stop at; idles are one per call, as DynamoRIO's.
 * (DynamoRIO reads the clock after fetching each record, before the tools
 * process it, so its time lags one record's processing; this one is read
 * after the previous run was processed.)
 *
 * Concurrency: the core is synchronous, so each call is atomic with respect
 * to fibers. The only await is loading an input's next batch after the core
 * asked for it (`NeedData`); the core asks only for an input that the calling
 * output owns, and never twice before it is supplied, so no other fiber can
 * touch that input meanwhile.
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { Core } from "../../scheduler/internal/core.ts"
import { BatchLeases } from "../../scheduler/internal/leases.ts"
import type { Options as SchedulerOptions } from "../../scheduler/internal/options.ts"
import { clockSeed } from "../../scheduler/internal/random.ts"
import type { Step as CoreStep } from "../../scheduler/internal/state.ts"
import type { ScheduleRecord } from "../../trace/internal/scheduleFile.ts"
import type { TraceInput } from "../../trace/Trace.ts"
import type { TraceError } from "../../trace/TraceError.ts"
import { AnalysisFailed, AnalyzerOptionError, ShardFailure } from "../AnalyzerError.ts"
import type { Plan } from "./orchestrate.ts"
import type { OutputSource, Step } from "./outputSource.ts"

/** The scheduler's source, with what only a scheduled run has. */
export interface SchedulerSource extends OutputSource {
  /** DynamoRIO's get_output_cpuid: the traced cpu when replaying as traced, else the output ordinal. */
  readonly outputCpuid: (output: number) => number
  /** The recorded schedule (`recordSchedule`), one record list per output. */
  readonly recordedSchedule: () => ReadonlyArray<ReadonlyArray<ScheduleRecord>>
  /**
   * DynamoRIO's analyzer activity count of `output`: the instructions and
   * idle records handed out on it so far (load balancing).
   */
  readonly activity: (output: number) => number
}

/**
 * The current time in microseconds, for time quanta: monotonic wall-clock
 * time (DynamoRIO's get_microsecond_timestamp, which is not monotonic).
 */
export const wallClockMicros = (): number => Math.floor((performance.timeOrigin + performance.now()) * 1000)

/** Whether a plan's scheduler runs on wall-clock time (DynamoRIO: core-sharded shard type and QUANTUM_TIME). */
export const schedulesByTime = (p: Plan, scheduler: SchedulerOptions | undefined): boolean =>
  (p.mode === "core-sharded" || p.mode === "core-serial") && scheduler?.quantumUnit === "time"

/**
 * The scheduler options of a plan's mode (DynamoRIO's analyzer): the mode
 * fixes the mapping (and, for serial runs, the timestamp order); a recorded
 * schedule (core modes) replays it, a cpu schedule without times of
 * interest (core modes) replays the as-traced schedule; the caller's
 * options tune the rest. Core modes order by timestamps unless told
 * otherwise (DynamoRIO's -sched_order_time default).
 */
export const schedulerOptionsFor = (p: Plan, scheduler: SchedulerOptions | undefined): SchedulerOptions => {
  const lockstep = p.mode === "core-serial"
  const times = (scheduler?.timesOfInterest?.length ?? 0) > 0
  switch (p.mode) {
    case "serial":
      return { ...scheduler, mapping: "recorded", deps: "timestamps", useInputOrdinals: true }
    case "thread-sharded":
      // A failed worker's unstarted inputs go to the others (its output is set inactive).
      return { ...scheduler, mapping: "consistent", deps: "ignore", useInputOrdinals: true, handOffInputs: true }
    default:
      // A failed or soft-exited worker's replayed segments are dropped rather than waited for.
      if (scheduler?.replaySchedule !== undefined)
        return {
          ...scheduler,
          mapping: "asPreviously",
          deps: "timestamps",
          singleLockstepOutput: lockstep,
          handOffInputs: true
        }
      if (scheduler?.cpuSchedule !== undefined && !times)
        return {
          ...scheduler,
          mapping: "recorded",
          deps: "timestamps",
          singleLockstepOutput: lockstep,
          handOffInputs: true
        }
      return {
        deps: "timestamps",
        ...scheduler,
        mapping: "dynamic",
        singleLockstepOutput: lockstep,
        handOffInputs: true
      }
  }
}

const IDLE1: Step = { _tag: "Idle", count: 1 }
/** Consecutive idle decisions one step may make (not in lockstep, where each core takes one record a turn). */
const MAX_IDLES = 4096
const IDLE_SLACK = 512
const WAIT: Step = { _tag: "Wait" }
const PAUSE: Step = { _tag: "Pause" }
const EOF: Step = { _tag: "Eof" }

/**
 * The scheduler source of plan `p`. `clock` (microseconds) is the time of
 * time-quantum runs ({@link schedulesByTime}); default {@link wallClockMicros}.
 */
export const makeSchedulerSource = (
  inputs: ReadonlyArray<TraceInput>,
  p: Plan,
  scheduler: SchedulerOptions | undefined,
  clock: () => number = wallClockMicros
): Effect.Effect<SchedulerSource, AnalysisFailed | AnalyzerOptionError | TraceError> =>
  Effect.gen(function* () {
    const resolved = schedulerOptionsFor(p, scheduler)
    // 0 = the core's own logical clock.
    const now: () => number = schedulesByTime(p, scheduler) ? clock : () => 0
    const idles: Array<number> = Array.from({ length: p.outputs }, () => 0)
    // Outputs deactivated because their worker failed (not because it ended).
    const failedOutputs = new Set<number>()
    const made = Core.make(
      inputs.map((i) => ({
        tid: i.info.tid,
        zip: i.info.container === "zip",
        chunkInstrCount: i.info.chunkInstrCount
      })),
      p.outputs,
      resolved,
      resolved.randomizeNextInput ? yield* clockSeed : undefined
    )
    if (!(made instanceof Core)) {
      return yield* new AnalyzerOptionError({ option: `scheduler.${made.option}`, message: made.detail })
    }
    const core = made
    // Workers process a step synchronously (or copy it, on worker threads)
    // before their next call, so an input's batch goes back to its reader
    // once the core has moved past it and no output's last step is in it.
    const leases = new BatchLeases(p.outputs, (input, batch) => inputs[input]!.recycle(batch))
    core.onRetire = (input, batch) => leases.retire(input, batch)
    let done = 0
    // One load per input at a time: an output that asks for an input whose
    // load is already in flight (its previous owner was deactivated while
    // loading) waits for that load instead of reading the input twice. A
    // load runs uninterruptibly, so a reader is never left half-read; a load
    // that fails ends its input (after failing the worker that asked).
    const loads = new Map<number, Deferred.Deferred<void, TraceError>>()
    const supply = (input: number): Effect.Effect<void, TraceError> =>
      Effect.suspend(() => {
        const pending = loads.get(input)
        if (pending !== undefined) return Deferred.await(pending)
        const d = Deferred.makeUnsafe<void, TraceError>()
        loads.set(input, d)
        // One step per batch on the hot path: read, then settle everything from the exit.
        return Effect.uninterruptible(
          Effect.flatMap(Effect.exit(inputs[input]!.next), (exit): Effect.Effect<void, TraceError> => {
            // A batch, the end, or a read error (which ends the input); a defect changes nothing.
            if (Exit.isSuccess(exit) || Option.isSome(Cause.findErrorOption(exit.cause))) {
              const batch = Exit.isSuccess(exit) ? exit.value : undefined
              if (batch === undefined) done++
              core.supply(input, batch)
            }
            loads.delete(input)
            const result = Exit.asVoid(exit)
            Deferred.doneUnsafe(d, result)
            return result
          })
        )
      })
    // Initialisation reads each input ahead (filetype, first timestamp).
    while (true) {
      const s = core.init()
      if (s._tag === "Ready") break
      if (s._tag === "NeedData") {
        yield* supply(s.input)
        continue
      }
      if (s.reason === "RegionInvalid" && s.input !== undefined) {
        // A window past an input's end is a failure of the run, not of its options: DynamoRIO's
        // worker reports "Too-far -skip_instrs for: <input>" and the launcher exits 1.
        const input = inputs[s.input]!
        return yield* new AnalysisFailed({
          failures: [
            new ShardFailure({
              reason: "SchedulerError",
              worker: -1,
              shard: p.shardType === "thread" ? s.input : -1,
              shardType: p.shardType,
              tid: input.info.tid,
              input: input.info.name,
              message: `Too-far -skip_instrs for: ${input.info.name}: ${s.detail}`
            })
          ]
        })
      }
      return yield* new AnalyzerOptionError({
        option: s.option !== undefined ? `scheduler.${s.option}` : "scheduler",
        message: s.detail
      })
    }
    // Outputs advance in simulated time (instructions + idles), but fibers
    // take turns: a turn of an idle output must not carry its time past the
    // busy outputs', or it would idle far more than a parallel run (where
    // every core's clock advances together) ever would. So idles batch up to
    // the earliest busy output's time; when no output is busy (every input is
    // blocked), time must pass for inputs to unblock, so up to MAX_IDLES.
    const idleBudget = (output: number): number => {
      const own = core.defaultTime(core.outputs[output]!)
      let least = Number.POSITIVE_INFINITY
      for (const o of core.outputs) {
        if (o.index !== output && o.active && o.curInput >= 0) least = Math.min(least, core.defaultTime(o))
      }
      if (least === Number.POSITIVE_INFINITY) return MAX_IDLES
      // A little slack keeps steps from shrinking to a few idles each.
      return Math.max(1, Math.min(MAX_IDLES, least - own + IDLE_SLACK))
    }
    const map = (output: number, maxRecords: number): Step | number => {
      // The idle budget is for the logical clock only (the core makes one idle decision per wall-clock time).
      leases.hold(output, undefined)
      const s = core.next(output, now(), maxRecords, maxRecords === 1 ? 1 : idleBudget(output))
      switch (s._tag) {
        case "Records":
          leases.hold(output, s.batch)
          return { _tag: "Records", input: s.input, batch: s.batch, start: s.start, end: s.end }
        case "Idle":
          idles[output]! += s.count
          return s.count === 1 ? IDLE1 : { _tag: "Idle", count: s.count }
        case "Wait":
          // Consistent mapping waits for inputs another output may hand off: nothing for the tools to see.
          return resolved.mapping === "consistent" ? PAUSE : WAIT
        case "Eof":
          return EOF
        case "NeedData":
          return s.input
        case "Error":
          return { _tag: "Error", message: `${s.reason}: ${s.detail}` }
      }
    }
    const next = (output: number, maxRecords = Number.POSITIVE_INFINITY): Effect.Effect<Step, TraceError> =>
      Effect.gen(function* () {
        while (true) {
          const s = map(output, maxRecords)
          if (typeof s !== "number") return s
          yield* supply(s)
        }
      })
    const spans: Array<CoreStep> = []
    const pollLockstep = (outputs: ReadonlyArray<number>, max: number, steps: Array<Step>): number => {
      for (const o of outputs) leases.hold(o, undefined)
      const n = core.lockstepSpan(outputs, max, spans)
      if (n === 0) return 0
      for (let k = 0; k < outputs.length; k++) {
        const s = spans[k]!
        if (s._tag === "Records") {
          leases.hold(outputs[k]!, s.batch)
          steps[k] = { _tag: "Records", input: s.input, batch: s.batch, start: s.start, end: s.end }
        } else if (s._tag === "Idle") {
          idles[outputs[k]!]! += s.count
          steps[k] = s
        }
      }
      return n
    }
    const source: SchedulerSource = {
      outputCount: p.outputs,
      next,
      poll: map,
      pollLockstep,
      supply,
      unread: (output, count) => {
        core.unread(output, count)
      },
      setActive: (output, active, failed) =>
        Effect.sync(() => {
          if (!active && failed === true) failedOutputs.add(output)
          core.setActive(output, active)
        }),
      // A worker done early leaves its unstarted inputs unread, as DynamoRIO's does.
      abandon: (output) => core.abandon(output),
      inputsDone: () => done,
      // Only inputs a failed worker's core could have run: one that ended normally left nothing to report.
      unrunnable: () =>
        core.unrunnable.flatMap((i) => {
          const bound = core.opts.binding[i]!
          const failed = bound.filter((o) => failedOutputs.has(o))
          if (failed.length === 0) return []
          const info = inputs[i]!.info
          const from = core.inputs[i]!.recordsDelivered + 1
          return [
            {
              reason: "SchedulerError",
              worker: -1,
              shard: -1,
              shardType: p.shardType,
              tid: info.tid,
              input: info.name,
              record: from,
              message: `input ${info.name} may run only on cores ${bound.join(", ")}, and none of them runs any more (failed: ${failed.join(", ")}): its records from ${from} on were not analyzed`
            } as const
          ]
        }),
      stats: (output) => core.stats(output),
      outputCpuid: (output) => core.outputCpuid(output),
      recordedSchedule: () => (core.opts.recordSchedule ? core.recordedSchedule() : []),
      activity: (output) => core.outputs[output]!.instrs + idles[output]!
    }
    return source
  })
