/**
 * What a worker pulls its records from: one "output" per worker. The analyzer
 * adapts the Scheduler (dynamic, serial, lockstep modes) and its own static
 * thread-sharded partition to this one shape.
 *
 * Concurrency: every method is called from fibers of one JS thread; each call
 * is synchronous up to its first await, and an input is owned by exactly one
 * output between `next` calls, so no two fibers ever read the same input.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { RecordBatch } from "../../trace/RecordBatch.ts"
import type { TraceInput } from "../../trace/Trace.ts"
import type { TraceError } from "../../trace/TraceError.ts"
import type { FailureInfo } from "./worker.ts"

export type Step =
  | {
      readonly _tag: "Records"
      readonly input: number
      readonly batch: RecordBatch
      readonly start: number
      readonly end: number
    }
  /** The output idles `count` times in a row (each one a CORE_IDLE record for the tools). */
  | { readonly _tag: "Idle"; readonly count: number }
  | { readonly _tag: "Wait" }
  /** No work for now, and nothing for the tools to see (not an idle core): poll again shortly. */
  | { readonly _tag: "Pause" }
  /** The scheduler refused the call (DynamoRIO's STATUS_INVALID, STATUS_IMPOSSIBLE_BINDING). */
  | { readonly _tag: "Error"; readonly message: string }
  | { readonly _tag: "Eof" }

export interface OutputSource {
  readonly outputCount: number
  /** The next step of `output`, handing out at most `maxRecords` records (default: as many as fit). */
  readonly next: (output: number, maxRecords?: number) => Effect.Effect<Step, TraceError>
  /**
   * Synchronous fast path (no Effect per step): the next step, or the ordinal
   * of an input whose data must first be loaded with `supply`.
   */
  readonly poll?: ((output: number, maxRecords: number) => Step | number) | undefined
  readonly supply?: ((input: number) => Effect.Effect<void, TraceError>) | undefined
  /**
   * Core-serial walks: at the start of a round, up to `max` rounds at once
   * (see `Core.lockstepSpan`): fills `steps[k]` with `outputs[k]`'s Records
   * step of `n` records and returns `n`, or 0 (poll record by record). The
   * records must reach the tools round by round, interleaved.
   */
  readonly pollLockstep?: ((outputs: ReadonlyArray<number>, max: number, steps: Array<Step>) => number) | undefined
  /** Gives back the last `count` records of `output`'s last segment (they go to the next reader of the input). */
  readonly unread?: ((output: number, count: number) => void) | undefined
  /** DynamoRIO's schedule statistics of `output` (schedule_statistic_t order), when scheduled. */
  readonly stats?: ((output: number) => ReadonlyArray<number>) | undefined
  /**
   * DynamoRIO's `set_active`: an inactive output gets no more work; its work goes to the others.
   * `failed`: the output's worker failed (what it leaves behind is then reported as lost to it).
   */
  readonly setActive: (output: number, active: boolean, failed?: boolean) => Effect.Effect<void>
  /**
   * The worker of `output` is done early (every tool soft-exited, or
   * exit_after_records was reached): its unstarted work is dropped, as
   * DynamoRIO's worker that returns early leaves its inputs unread.
   */
  readonly abandon: (output: number) => void
  /** Inputs read to their end so far. */
  readonly inputsDone: () => number
  /**
   * Inputs the scheduler ended unfinished because no live output may run
   * them (bound only to outputs of failed workers), as failures to report.
   */
  readonly unrunnable?: (() => ReadonlyArray<FailureInfo>) | undefined
  /** DynamoRIO's get_output_cpuid, when scheduled (the traced cpu in as-traced replays). */
  readonly outputCpuid?: ((output: number) => number) | undefined
  /** Instructions and idle records handed out on `output` so far, when scheduled (load balancing). */
  readonly activity?: ((output: number) => number) | undefined
}

const PAUSE: Step = { _tag: "Pause" }
const EOF: Step = { _tag: "Eof" }

/**
 * An input of the thread-sharded partition, opened when an output starts it
 * (in a scope of its own that closes at the input's end) rather than with
 * the others up front: opening hundreds of inputs before any record is
 * processed costs time (about 1 ms each) and holds every input's first
 * decompressed piece at once. An already-open input is `Effect.succeed(input)`.
 */
export type StaticInput = Effect.Effect<TraceInput, TraceError, Scope.Scope>

/**
 * The thread-sharded partition (DynamoRIO's MAP_TO_CONSISTENT_OUTPUT: input i
 * goes to output i mod M, in order). When an output goes inactive, the inputs
 * it has not started move to a shared pool that the active outputs drain once
 * their own lists are done; the input it was in the middle of is not resumed
 * elsewhere (its shard failed), so no record is ever processed twice. An
 * output with no work left pauses, rather than ending, while another active
 * output still holds unstarted inputs it might yet release.
 *
 * Each input is opened in a child of `scope` when its output starts it and
 * closed once read to its end; whatever is still open closes with `scope`.
 */
export const makeStatic = (
  inputs: ReadonlyArray<StaticInput>,
  outputCount: number,
  scope: Scope.Scope
): OutputSource => {
  const lists: Array<Array<number>> = Array.from({ length: outputCount }, () => [])
  for (let i = 0; i < inputs.length; i++) lists[i % outputCount]!.push(i)
  const current: Array<number> = Array.from({ length: outputCount }, () => -1)
  const opened: Array<TraceInput | undefined> = Array.from({ length: outputCount }, () => undefined)
  const scopes: Array<Scope.Closeable | undefined> = Array.from({ length: outputCount }, () => undefined)
  // The batch each output was handed last: processed by the time it asks again.
  const handed: Array<RecordBatch | undefined> = Array.from({ length: outputCount }, () => undefined)
  const active: Array<boolean> = Array.from({ length: outputCount }, () => true)
  const pool: Array<number> = []
  let done = 0
  const othersHoldWork = (output: number) => lists.some((l, o) => o !== output && active[o] && l.length > 0)
  const takeNext = (output: number): number => {
    const own = lists[output]!
    if (own.length > 0) return own.shift()!
    if (pool.length > 0) return pool.shift()!
    return -1
  }
  const next = (output: number): Effect.Effect<Step, TraceError> =>
    Effect.gen(function* () {
      if (!active[output]) return EOF
      while (true) {
        let input = opened[output]
        if (input === undefined) {
          const ordinal = takeNext(output)
          if (ordinal < 0) return othersHoldWork(output) ? PAUSE : EOF
          current[output] = ordinal
          const child = yield* Scope.fork(scope)
          scopes[output] = child
          input = yield* Scope.provide(child)(inputs[ordinal]!)
          opened[output] = input
        }
        const previous = handed[output]
        if (previous !== undefined) {
          handed[output] = undefined
          input.recycle(previous)
        }
        const batch = yield* input.next
        if (batch === undefined) {
          yield* endInput(output)
          done++
          continue
        }
        handed[output] = batch
        const step: Step = { _tag: "Records", input: current[output]!, batch, start: 0, end: batch.header[0]! }
        return step
      }
    })
  const endInput = (output: number): Effect.Effect<void> => {
    const child = scopes[output]
    current[output] = -1
    opened[output] = undefined
    handed[output] = undefined
    scopes[output] = undefined
    return child === undefined ? Effect.void : Scope.close(child, Exit.void)
  }
  const setActive = (output: number, value: boolean) =>
    Effect.suspend(() => {
      if (active[output] === value) return Effect.void
      active[output] = value
      if (value) return Effect.void
      pool.push(...lists[output]!.splice(0))
      return endInput(output)
    })
  return {
    outputCount,
    next,
    setActive,
    abandon: (output) => {
      lists[output] = []
    },
    inputsDone: () => done
  }
}
