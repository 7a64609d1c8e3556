/**
 * The scheduler: takes N trace inputs and M outputs and hands each output a
 * stream of record runs with DynamoRIO `scheduler_t` semantics — consistent
 * (thread-sharded), serial (timestamp interleave), dynamic (core-sharded:
 * quanta, blocking syscalls, run queues, steals, rebalancing, direct
 * switches, `set_active`), replay of a recorded schedule (`asPreviously`)
 * or of the as-traced cpu schedule (`recorded` with `cpuSchedule`).
 *
 * **When to use**: {@link make} over `Trace.open`'s inputs, then one caller
 * (fiber or worker coordinator) per output loops on `next(output)` until
 * `Eof`. A failing caller calls `unread` for the records of its last run it
 * did not process and `setActive(output, false)`, so another output finishes
 * its input (DynamoRIO #6666); it then stops polling its output.
 *
 * **Details**
 * - A `Records` step is a range `batch[start, end)` of one input's batch,
 *   handed out by reference (no copy). In dynamic mode the scheduler rewrites
 *   TIMESTAMP (output time) and CPU_ID (output ordinal) values and tags the
 *   tids/pids of workloads > 0 inside the range, as DynamoRIO does; addresses
 *   are canonicalized in every mode (option `canonicalizeAddresses`).
 * - A run ends where DynamoRIO would decide something (a quantum end, a
 *   blocking syscall, a timestamp in serial mode, an input's end), at the
 *   batch end, or after `maxRecords`. With `maxRecords: 1` the sequence of
 *   steps is exactly DynamoRIO's `next_record` sequence.
 * - Time is DynamoRIO's: `1 + instructions + idles` of the output, unless the
 *   caller passes `now` (quantum by time). Every idle decision is one time
 *   unit; with DynamoRIO's default block times an idle output makes millions
 *   of them (DynamoRIO #6945): pass `maxIdles` to get them in batches (an
 *   `Idle` step's `count`).
 * - The scheduling itself is a pure synchronous core (`internal/core.ts`);
 *   this module only loads input batches when the core asks for them.
 * - Regions of interest (per input, or `regions` for all), skipping,
 *   `timesOfInterest` (through the cpu schedule), `onlyThreads` /
 *   `onlyShards`, several workloads (`inputs[i].workload`, tids tagged with
 *   the workload << 48), per-workload output limits, and kernel context
 *   switch / system call sequence injection (`kernelSwitchSequences`,
 *   `kernelSyscallSequences`, see {@link readKernelSequences}).
 * - `recordSchedule: true` keeps DynamoRIO's record of the schedule:
 *   {@link writeRecordedSchedule} writes it as a `-record_file` zip that
 *   {@link readRecordedSchedule} reads back for `asPreviously`.
 *
 * **Concurrency rules**
 * - JavaScript runs one fiber at a time and every core call is synchronous,
 *   so each scheduling decision is atomic with respect to every fiber: no
 *   locks.
 * - The only interleaving point is the load of an input's next batch after
 *   the core answered `NeedData(input)`. The core asks only for an input the
 *   asking output owns (its current input, not in any run queue, so no other
 *   output can pick it), and the layer runs at most one load per input: a
 *   second request for an input being loaded (possible if its owner was
 *   deactivated meanwhile and another output took it, or when a replayed
 *   schedule has two outputs hold one input, as DynamoRIO allows) waits for
 *   the same load. Loads are uninterruptible so a batch is never lost
 *   between the reader and the core.
 * - A failed load fails the `next` that asked for it with the `TraceError`;
 *   the input then counts as ended, so its error stays with that output
 *   (DynamoRIO: a shard error is the shard's, not a global abort).
 * - Each output must have one caller at a time.
 * - `Idle` and `Wait` never block inside the scheduler: `next` yields
 *   (`Effect.yieldNow`) before returning `Idle` and sleeps `waitSleep`
 *   (default 1 ms, DynamoRIO #7054; `TestClock` controls it) before returning
 *   `Wait`, so a caller's loop never busy-spins.
 *
 * **Gotchas**
 * - A step's range is valid until the next `next`/`unread` on the same
 *   output, and so is its batch: once the input has moved past it and no
 *   output's last step points into it, the batch goes back to its reader
 *   and is refilled. Copy what must outlive the step (`RecordBatch.slice`),
 *   or pass `recycleBatches: false`.
 * - An inactive output returns `Idle` forever, never `Eof` (DynamoRIO).
 * - `setActive` is supported by the dynamic mapping, and by the consistent
 *   one with `handOffInputs` (the inactive output's unstarted inputs go to
 *   the others); DynamoRIO returns STATUS_INVALID otherwise, and so do other
 *   mappings here: they fail with `NotSupported`.
 * - Replays follow DynamoRIO: an output whose input has not reached its
 *   next segment yet returns `Wait`; the inputs must be the recorded ones.
 * - Not supported: speculation.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Scheduler, Trace } from "memtrace"
 *
 * const count = Effect.scoped(Effect.gen(function* () {
 *   const inputs = yield* Trace.open("../shared/traces/drmemtrace.threadsig.x64.tracedir")
 *   const s = yield* Scheduler.make(inputs, 1, { mapping: "recorded", deps: "timestamps" })
 *   let records = 0
 *   for (let step = yield* s.next(0); step._tag !== "Eof"; step = yield* s.next(0))
 *     if (step._tag === "Records") records += step.end - step.start
 *   return records
 * }))
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { fromIoError } from "../trace/internal/container/errors.ts"
import {
  type CpuSchedule,
  readCpuSchedule as readCpuScheduleFile,
  readRecordedSchedule as readRecordedScheduleFile,
  type ScheduleRecord,
  writeRecordedSchedule as writeRecordedScheduleFile
} from "../trace/internal/scheduleFile.ts"
import type { TraceWriterError } from "../trace/internal/writer/error.ts"
import type { RecordBatch } from "../trace/RecordBatch.ts"
import type { InputInfo, TraceInput } from "../trace/Trace.ts"
import * as Trace from "../trace/Trace.ts"
import { TraceError } from "../trace/TraceError.ts"
import { Core } from "./internal/core.ts"
import { BatchLeases } from "./internal/leases.ts"
import { type Options as CoreOptions, defaults as coreDefaults, type InputOptions } from "./internal/options.ts"
import { clockSeed } from "./internal/random.ts"
import { Stat, Status } from "./internal/state.ts"
import { SchedulerError } from "./SchedulerError.ts"

export type { CpuSchedule, CpuScheduleEntry, ScheduleRecord } from "../trace/internal/scheduleFile.ts"
export { RecordType } from "../trace/internal/scheduleFile.ts"
export type { TemplateRecords } from "./internal/kernel.ts"
export type { InputOptions, Mapping, Region, TimeRange } from "./internal/options.ts"

/**
 * Scheduler options: DynamoRIO's `scheduler_options_t` (see {@link defaults}
 * for every default) plus input filters and the Wait pacing.
 *
 * @category models
 */
export interface Options extends CoreOptions {
  /** Keep only inputs with these thread ids (DynamoRIO `only_threads`). Input ordinals are renumbered. */
  readonly onlyThreads?: ReadonlyArray<number> | undefined
  /** Keep only inputs with these ordinals (DynamoRIO `only_shards`). Input ordinals are renumbered. */
  readonly onlyShards?: ReadonlyArray<number> | undefined
  /** How long `next` sleeps before returning `Wait`. Default 1 millisecond. */
  readonly waitSleep?: Duration.Input | undefined
  /**
   * Give each input's batches back to its reader for reuse once every
   * record was delivered and no output's last step still points into them.
   * Default true; false keeps every batch valid for as long as it is
   * referenced (at the cost of an allocation per batch).
   */
  readonly recycleBatches?: boolean | undefined
}

/**
 * Every default (DynamoRIO's `scheduler_options_t` defaults).
 *
 * @category defaults
 */
export const defaults = { ...coreDefaults, waitSleep: Duration.millis(1) } as const

/**
 * A run of records of one input: `batch[start, end)`.
 *
 * @category models
 */
export interface Records {
  readonly _tag: "Records"
  /** Input ordinal (after `onlyThreads`/`onlyShards` filtering). */
  readonly input: number
  readonly batch: RecordBatch
  readonly start: number
  readonly end: number
  /** Records the output delivered before `batch[start]` (its record ordinal − 1). */
  readonly outputRecordsBefore: number
  /** Instructions the output delivered before `batch[start]`. */
  readonly outputInstrsBefore: number
}

/**
 * What `next` returns: records, an idle output (advance simulated time), a
 * wait (do not), or the end of the output.
 *
 * @category models
 */
export type Step =
  | Records
  | {
      readonly _tag: "Idle"
      /** Consecutive idle decisions (one time unit and one DynamoRIO idle record each); 1 unless `maxIdles` > 1. */
      readonly count: number
    }
  | { readonly _tag: "Wait" }
  | { readonly _tag: "Eof" }

/**
 * DynamoRIO's `schedule_statistic_t` counters of one output.
 *
 * @category models
 */
export interface Statistics {
  readonly switchInputToInput: number
  readonly switchInputToIdle: number
  readonly switchIdleToInput: number
  /** Quantum ends where the same input kept running. */
  readonly switchNop: number
  readonly quantumPreempts: number
  readonly directSwitchAttempts: number
  readonly directSwitchSuccesses: number
  /** Counted on the output an input was taken from (steals, rebalances), or that received a direct switch. */
  readonly migrations: number
  readonly runqueueSteals: number
  readonly runqueueRebalances: number
  readonly hitOutputLimit: number
  readonly kernelSwitchSequenceInjections: number
  readonly kernelSyscallSequenceInjections: number
  readonly canonicalizedAddresses: number
}

/**
 * Per-call options of `next`.
 *
 * @category models
 */
export interface NextOptions {
  /** Simulated time (> 0) for quantum-by-time; default DynamoRIO's instruction-count time. */
  readonly now?: number | undefined
  /** Cap on the records of a run (1 = DynamoRIO's record at a time): a positive integer. Default: no cap (Infinity). */
  readonly maxRecords?: number | undefined
  /**
   * Let one call make up to this many consecutive idle decisions (as if the
   * output's calls ran back to back; a legal DynamoRIO interleaving) and
   * report them as one `Idle` step with a `count`. With DynamoRIO's default
   * block times an idle output makes millions of decisions. A positive
   * integer (finite: an output that can only idle would never return);
   * default 1; ignored with `now`.
   */
  readonly maxIdles?: number | undefined
}

/**
 * A scheduler over a set of inputs. The synchronous accessors (`stats`,
 * `outputOrdinals`, `outputCpuid`, `inputOrdinals`) throw a `RangeError`
 * for an output or input out of range, a caller's bug; `isActive` and
 * `currentInput` answer `false` and -1.
 *
 * @category models
 */
export interface Scheduler {
  readonly outputCount: number
  /** The scheduled inputs (after filtering), indexed by the input ordinal steps carry. */
  readonly inputs: ReadonlyArray<InputInfo>
  /** The next step of `output`. */
  readonly next: (output: number, options?: NextOptions) => Effect.Effect<Step, TraceError | SchedulerError>
  /**
   * DynamoRIO's `set_active`. Deactivating gives the output's current input
   * back to a run queue (resuming at its next undelivered record) and moves
   * its queue to the active outputs; the output then returns `Idle`.
   * Re-activating makes it pick an input on its next call. Deactivating an
   * inactive output is a no-op. Inputs that no active output can take wait
   * (never dropped) until one can.
   */
  readonly setActive: (output: number, active: boolean) => Effect.Effect<void, SchedulerError>
  /**
   * Gives back the last `count` records of the output's last `Records` step
   * (only right after it): they are delivered again, here or, after
   * `setActive(false)`, on another output. False if not possible.
   */
  readonly unread: (output: number, count: number) => Effect.Effect<boolean, SchedulerError>
  readonly isActive: (output: number) => boolean
  readonly stats: (output: number) => Statistics
  /** DynamoRIO's `get_output_cpuid`: the traced cpu id when replaying the as-traced schedule, else the output ordinal. */
  readonly outputCpuid: (output: number) => number
  /**
   * The schedule recorded so far (`recordSchedule: true`), one record list
   * per output, VERSION first and FOOTER last: what
   * {@link writeRecordedSchedule} writes. Empty lists without recording.
   */
  readonly recordedSchedule: () => ReadonlyArray<ReadonlyArray<ScheduleRecord>>
  /** The output's current input, or -1. */
  readonly currentInput: (output: number) => number
  /** The output's ordinals: records and instructions delivered, idles returned. */
  readonly outputOrdinals: (output: number) => {
    readonly records: number
    readonly instrs: number
    readonly idles: number
  }
  /** Records and instructions of `input` delivered so far. */
  readonly inputOrdinals: (input: number) => { readonly records: number; readonly instrs: number }
  /** Inputs not yet at their end. */
  readonly liveInputCount: () => number
}

const statistics = (s: ReadonlyArray<number>): Statistics => ({
  switchInputToInput: s[Stat.SWITCH_INPUT_TO_INPUT]!,
  switchInputToIdle: s[Stat.SWITCH_INPUT_TO_IDLE]!,
  switchIdleToInput: s[Stat.SWITCH_IDLE_TO_INPUT]!,
  switchNop: s[Stat.SWITCH_NOP]!,
  quantumPreempts: s[Stat.QUANTUM_PREEMPTS]!,
  directSwitchAttempts: s[Stat.DIRECT_SWITCH_ATTEMPTS]!,
  directSwitchSuccesses: s[Stat.DIRECT_SWITCH_SUCCESSES]!,
  migrations: s[Stat.MIGRATIONS]!,
  runqueueSteals: s[Stat.RUNQUEUE_STEALS]!,
  runqueueRebalances: s[Stat.RUNQUEUE_REBALANCES]!,
  hitOutputLimit: s[Stat.HIT_OUTPUT_LIMIT]!,
  kernelSwitchSequenceInjections: s[Stat.KERNEL_SWITCH_SEQUENCE_INJECTIONS]!,
  kernelSyscallSequenceInjections: s[Stat.KERNEL_SYSCALL_SEQUENCE_INJECTIONS]!,
  canonicalizedAddresses: s[Stat.CANONICALIZED_ADDRESSES]!
})

/**
 * Applies only_threads / only_shards (DynamoRIO: one or the other, every
 * entry must name an input) and remaps per-input options.
 */
const filterInputs = (
  inputs: ReadonlyArray<TraceInput>,
  options: Options | undefined
):
  | { readonly kept: ReadonlyArray<TraceInput>; readonly perInput: ReadonlyArray<InputOptions | undefined> }
  | SchedulerError => {
  const threads = options?.onlyThreads ?? []
  const shards = options?.onlyShards ?? []
  if (threads.length > 0 && shards.length > 0)
    return new SchedulerError({
      reason: "InvalidOption",
      option: "onlyThreads",
      detail: "only_threads and only_shards cannot both be set"
    })
  for (const ord of shards) {
    if (!Number.isInteger(ord) || ord < 0 || ord >= inputs.length)
      return new SchedulerError({
        reason: "InvalidOption",
        option: "onlyShards",
        detail: `only_shards entry ${ord} out of bounds for a shard ordinal`
      })
  }
  for (const tid of threads) {
    if (!inputs.some((inp) => inp.info.tid === tid))
      return new SchedulerError({
        reason: "InvalidOption",
        option: "onlyThreads",
        detail: `only_threads entry ${tid} not found in workload inputs`
      })
  }
  const keep = inputs.map((inp, i) =>
    threads.length > 0 ? threads.includes(inp.info.tid) : shards.length > 0 ? shards.includes(i) : true
  )
  const perInput = options?.inputs ?? []
  return {
    kept: inputs.filter((_, i) => keep[i]),
    perInput: inputs.flatMap((_, i) => (keep[i] ? [perInput[i]] : []))
  }
}

/** The core's error reasons as the scheduler's. */
const errorReason = (reason: string): SchedulerError["reason"] =>
  reason === "InvalidTime" ||
  reason === "ImpossibleBinding" ||
  reason === "InvalidInput" ||
  reason === "RegionInvalid" ||
  reason === "ReplayInvalid"
    ? reason
    : "InvalidOption"

/** `next`'s options: counts are positive integers (`maxRecords` may be unbounded), `now` a finite time. */
const checkNextOptions = (opts: NextOptions, output: number): SchedulerError | undefined => {
  const refuse = (option: string, detail: string) =>
    new SchedulerError({ reason: "InvalidOption", option, output, detail })
  const max = opts.maxRecords
  if (max !== undefined && !(max === Number.POSITIVE_INFINITY || (Number.isInteger(max) && max >= 1)))
    return refuse("maxRecords", `maxRecords must be a positive integer (or Infinity), got ${max}`)
  const idles = opts.maxIdles
  if (idles !== undefined && !(Number.isInteger(idles) && idles >= 1))
    return refuse("maxIdles", `maxIdles must be a positive integer, got ${idles}`)
  const now = opts.now
  if (now !== undefined && !(Number.isFinite(now) && now >= 0))
    return refuse("now", `now must be a finite, non-negative time, got ${now}`)
  return undefined
}

const outputError = (output: number, count: number): SchedulerError =>
  new SchedulerError({
    reason: "InvalidOutput",
    output,
    detail: `output ${output} is not in 0..${count - 1}`
  })

/**
 * Makes a scheduler over `inputs` for `outputCount` outputs. Reads each input
 * ahead to its file type (and first timestamp when ordering by timestamps)
 * and lays out the initial schedule before returning.
 *
 * @category constructors
 */
export const make = (
  inputs: ReadonlyArray<TraceInput>,
  outputCount: number,
  options?: Options
): Effect.Effect<Scheduler, SchedulerError | TraceError, Scope.Scope> =>
  Effect.gen(function* () {
    if ((options?.inputs?.length ?? 0) > inputs.length)
      return yield* new SchedulerError({
        reason: "InvalidOption",
        option: "inputs",
        detail: `modifiers given for ${options!.inputs!.length} inputs but there are ${inputs.length}`
      })
    const waitSleep = options?.waitSleep ?? defaults.waitSleep
    const waitDuration = Duration.fromInput(waitSleep)
    if (
      Option.isNone(waitDuration) ||
      !Duration.isFinite(waitDuration.value) ||
      Duration.toMillis(waitDuration.value) < 0
    )
      return yield* new SchedulerError({
        reason: "InvalidOption",
        option: "waitSleep",
        detail: `waitSleep must be a finite, non-negative duration, got ${String(waitSleep)}`
      })
    const filtered = filterInputs(inputs, options)
    if (filtered instanceof SchedulerError) return yield* filtered
    const { kept, perInput } = filtered
    let randomInitialLayout = options?.randomInitialLayout
    if (randomInitialLayout === 0) randomInitialLayout = (yield* Clock.currentTimeMillis) % 2147483647 || 1
    const made = Core.make(
      kept.map((inp) => ({
        tid: inp.info.tid,
        zip: inp.info.container === "zip",
        chunkInstrCount: inp.info.chunkInstrCount
      })),
      outputCount,
      { ...options, randomInitialLayout, inputs: perInput },
      options?.randomizeNextInput ? yield* clockSeed : undefined
    )
    if (!(made instanceof Core))
      return yield* new SchedulerError({ reason: "InvalidOption", option: made.option, detail: made.detail })
    const core = made
    const leases =
      options?.recycleBatches === false
        ? undefined
        : new BatchLeases(outputCount, (input, batch) => kept[input]!.recycle(batch))
    if (leases !== undefined) core.onRetire = (input, batch) => leases.retire(input, batch)

    const inflight = new Map<number, Deferred.Deferred<void, TraceError>>()
    const failed = new Map<number, TraceError>()
    /** Loads `input`'s next batch into the core, once per request even with several askers. */
    const load = (input: number): Effect.Effect<void, TraceError> =>
      Effect.suspend(() => {
        const f = failed.get(input)
        if (f !== undefined) return Effect.fail(f)
        // Several askers of one input wait for the same load (see `again` on NeedData).
        const pending = inflight.get(input)
        if (pending !== undefined) return Deferred.await(pending)
        const done = Deferred.makeUnsafe<void, TraceError>()
        inflight.set(input, done)
        // One step per batch on the hot path: read, then settle everything from the exit.
        return Effect.uninterruptible(
          Effect.flatMap(Effect.exit(kept[input]!.next), (exit): Effect.Effect<void, TraceError> => {
            inflight.delete(input)
            if (Exit.isSuccess(exit)) {
              core.supply(input, exit.value)
              Deferred.doneUnsafe(done, Exit.void)
              return Effect.void
            }
            // The error goes to the output that asked; the input then counts as
            // ended, so an output taking it over later is not failed by it too.
            const error = Cause.findErrorOption(exit.cause)
            if (Option.isSome(error)) {
              failed.set(input, error.value)
              core.supply(input, undefined)
            }
            const failure = Exit.asVoid(exit)
            Deferred.doneUnsafe(done, failure)
            return failure
          })
        )
      })

    for (;;) {
      const s = core.init()
      if (s._tag === "Ready") break
      if (s._tag === "NeedData") {
        yield* load(s.input)
        continue
      }
      return yield* new SchedulerError({
        reason: errorReason(s.reason),
        ...(s.option !== undefined ? { option: s.option } : {}),
        detail: s.detail
      })
    }

    const checkOutput = (output: number): SchedulerError | undefined =>
      Number.isInteger(output) && output >= 0 && output < outputCount ? undefined : outputError(output, outputCount)

    /** Steps `output` until the core gives it something (loading batches it asks for). No generator: one step per batch is the hot path. */
    const step = (
      output: number,
      now: number,
      max: number,
      maxIdles: number
    ): Effect.Effect<Step, TraceError | SchedulerError> => {
      const s = core.next(output, now, max, maxIdles)
      switch (s._tag) {
        case "NeedData":
          return Effect.flatMap(load(s.input), () => step(output, now, max, maxIdles))
        case "Records":
          leases?.hold(output, s.batch)
          return Effect.succeed({
            _tag: "Records",
            input: s.input,
            batch: s.batch,
            start: s.start,
            end: s.end,
            outputRecordsBefore: s.outputRecordsBefore,
            outputInstrsBefore: s.outputInstrsBefore
          } satisfies Records)
        case "Idle":
          return Effect.as(Effect.yieldNow, { _tag: "Idle", count: s.count } satisfies Step)
        case "Wait":
          return Effect.as(Effect.sleep(waitDuration.value), s)
        case "Eof":
          return Effect.succeed(s)
        case "Error":
          return Effect.fail(
            new SchedulerError({
              reason: errorReason(s.reason),
              output,
              ...(s.option !== undefined ? { option: s.option } : {}),
              detail: s.detail
            })
          )
      }
    }

    const next = (output: number, opts?: NextOptions): Effect.Effect<Step, TraceError | SchedulerError> =>
      Effect.suspend(() => {
        const bad = checkOutput(output) ?? (opts === undefined ? undefined : checkNextOptions(opts, output))
        if (bad !== undefined) return Effect.fail(bad)
        leases?.hold(output, undefined)
        return step(output, opts?.now ?? 0, opts?.maxRecords ?? Number.POSITIVE_INFINITY, opts?.maxIdles ?? 1)
      })

    const setActive = (output: number, active: boolean): Effect.Effect<void, SchedulerError> =>
      Effect.suspend(() => {
        const bad = checkOutput(output)
        if (bad !== undefined) return Effect.fail(bad)
        const st = core.setActive(output, active)
        // IMPOSSIBLE_BINDING is informational here: the inputs wait for an allowed output.
        if (st === Status.OK || st === Status.IMPOSSIBLE_BINDING) return Effect.void
        return Effect.fail(
          new SchedulerError({
            reason: "NotSupported",
            option: "mapping",
            output,
            detail: `setActive needs the dynamic mapping, or the consistent one with handOffInputs (this one is ${core.opts.mapping})`
          })
        )
      })

    const unread = (output: number, count: number): Effect.Effect<boolean, SchedulerError> =>
      Effect.suspend(() => {
        const bad =
          checkOutput(output) ??
          (Number.isInteger(count) && count >= 0
            ? undefined
            : new SchedulerError({
                reason: "InvalidOption",
                option: "count",
                output,
                detail: `unread needs a non-negative integer count, got ${count}`
              }))
        return bad !== undefined ? Effect.fail(bad) : Effect.succeed(core.unread(output, count))
      })
    /** An output the synchronous accessors are asked about: out of range is a caller's bug, named. */
    const outputAt = (output: number, what: string) => {
      const o = Number.isInteger(output) ? core.outputs[output] : undefined
      if (o === undefined) throw new RangeError(`${what}: output ${output} is not in 0..${outputCount - 1}`)
      return o
    }

    const scheduler: Scheduler = {
      outputCount,
      inputs: kept.map((k) => k.info),
      next,
      setActive,
      unread,
      isActive: (output) => core.outputs[output]?.active ?? false,
      stats: (output) => {
        outputAt(output, "stats")
        return statistics(core.stats(output))
      },
      outputCpuid: (output) => {
        outputAt(output, "outputCpuid")
        return core.outputCpuid(output)
      },
      currentInput: (output) => core.outputs[output]?.curInput ?? -1,
      outputOrdinals: (output) => {
        const o = outputAt(output, "outputOrdinals")
        return { records: o.records, instrs: o.instrs, idles: o.idleCount }
      },
      inputOrdinals: (input) => {
        const i = Number.isInteger(input) ? core.inputs[input] : undefined
        if (i === undefined)
          throw new RangeError(`inputOrdinals: input ${input} is not in 0..${core.inputs.length - 1}`)
        return { records: i.recordsDelivered, instrs: i.instrsDelivered }
      },
      liveInputCount: () => core.liveInputCount,
      recordedSchedule: () => (core.opts.recordSchedule ? core.recordedSchedule() : core.outputs.map(() => []))
    }
    return scheduler
  })

const readError = (path: string) => (cause: unknown) => fromIoError(path, cause)

/**
 * Reads an as-traced cpu schedule (`cpu_schedule.bin.zip` in a trace
 * directory) for the `cpuSchedule` option.
 *
 * @category files
 */
export const readCpuSchedule = (path: string): Effect.Effect<CpuSchedule, TraceError> =>
  Effect.tryPromise({ try: () => readCpuScheduleFile(path), catch: readError(path) })

/**
 * Reads a recorded schedule (a `-record_file` zip, ours or DynamoRIO's) for
 * the `replaySchedule` option.
 *
 * @category files
 */
export const readRecordedSchedule = (
  path: string
): Effect.Effect<ReadonlyMap<string, ReadonlyArray<ScheduleRecord>>, TraceError> =>
  Effect.tryPromise({ try: () => readRecordedScheduleFile(path), catch: readError(path) })

/**
 * Writes a recorded schedule (DynamoRIO's `-record_file` layout: one
 * `output.NNNN` member per output). Replayable by DynamoRIO and by
 * `asPreviously`.
 *
 * @category files
 */
export const writeRecordedSchedule = (
  path: string,
  schedule: ReadonlyArray<ReadonlyArray<ScheduleRecord>>
): Effect.Effect<void, TraceWriterError> =>
  Effect.tryPromise({
    try: () => writeRecordedScheduleFile(path, schedule),
    catch: (e) => e as TraceWriterError
  })

/**
 * Reads a kernel sequence template file (`-sched_switch_file`,
 * `-sched_syscall_file`) for `kernelSwitchSequences` /
 * `kernelSyscallSequences`.
 *
 * @category files
 */
export const readKernelSequences = (path: string): Effect.Effect<ReadonlyArray<RecordBatch>, TraceError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const inputs = yield* Trace.open(path)
      const out: Array<RecordBatch> = []
      for (const input of inputs) out.push(...(yield* Trace.readAll(input)))
      return out
    })
  ).pipe(Effect.mapError((e) => (e instanceof TraceError ? e : fromIoError(path, e))))
