/**
 * DynamoRIO's analyzer load balancing (`-max_load_imbalance`, i#7860):
 * in a dynamically scheduled parallel run, a worker whose activity runs
 * far ahead of the slowest worker's pauses, so that the simulated cores
 * stay roughly in step even when the machine gives the workers unequal
 * shares of its CPUs.
 *
 * **The rule** (analyzer.cpp `check_load_balance`): a worker's activity is
 * the instructions plus idle records it was handed. Every `cadence`
 * activities (DynamoRIO's `load_balance_cadence_`, 100,000) the worker
 * publishes its activity and looks at the published activity of every
 * worker that has not exited; if its own activity is above `maxImbalance` ×
 * the least of them, it waits for that slowest worker: it sleeps 1 ms at a
 * time while it is still above `maxImbalance` × the slowest worker's
 * published activity, at most 99 times, then goes back to work (it checks
 * again at its next cadence point). A worker that has not published yet
 * counts as 0, so at the first cadence point the leader waits for the
 * others to publish, as in DynamoRIO.
 *
 * **One difference**: DynamoRIO keeps waiting on a slowest worker that
 * exits meanwhile (its published count stays where it was); here the wait
 * ends as soon as it exits, so an exited or failed worker never holds the
 * others back, and every wait is bounded whatever happens.
 *
 * **Where it runs**: `LoadBalance` is the pure state and decision (plain
 * numbers, no Effect); {@link throttle} is the sleeping. Activity counts
 * come from the scheduler source (`SchedulerSource.activity`), which is on
 * the main thread in both backends: the fiber backend checks between steps,
 * the threads backend before answering a thread's request for its next
 * segment (the thread waits for the answer, which is its sleep).
 *
 * Concurrency: one `LoadBalance` per run, touched only by fibers of the
 * main thread, synchronously (each fiber updates its own worker's slots and
 * reads the others').
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** DynamoRIO's wait loop: `++iters < MAX_ITERS` with MAX_ITERS = 100, so at most 99 sleeps per wait. */
export const MAX_SLEEPS = 99
/** One sleep of a waiting worker (DynamoRIO: `sleep_for(1ms)`; a yield would not give the slow worker time). */
export const SLEEP = Duration.millis(1)

/** What the run reports about load balancing (per worker). */
export interface LoadBalanceStats {
  readonly maxImbalance: number
  readonly cadence: number
  /** Per worker: times it found itself too far ahead and waited (DynamoRIO's `imbalance_wait_count`). */
  readonly waits: ReadonlyArray<number>
  /** Per worker: 1 ms sleeps it took while waiting. */
  readonly sleeps: ReadonlyArray<number>
}

export class LoadBalance {
  readonly maxImbalance: number
  readonly cadence: number
  /** Activity each worker published at its last cadence point (DynamoRIO's `shared_activity_count`). */
  readonly published: Float64Array
  /** Activity at each worker's last check (DynamoRIO's `prev_ord_balance_check`). */
  private readonly lastCheck: Float64Array
  readonly exited: Array<boolean>
  readonly waits: Array<number>
  readonly sleeps: Array<number>

  constructor(workers: number, maxImbalance: number, cadence: number) {
    this.maxImbalance = maxImbalance
    this.cadence = cadence
    this.published = new Float64Array(workers)
    this.lastCheck = new Float64Array(workers)
    this.exited = Array.from({ length: workers }, () => false)
    this.waits = Array.from({ length: workers }, () => 0)
    this.sleeps = Array.from({ length: workers }, () => 0)
  }

  /**
   * DynamoRIO's `check_load_balance` decision for worker `w` at `activity`:
   * the slowest worker to wait for, or -1 to go on. Publishes `w`'s
   * activity when it is at a cadence point (and only then, as DynamoRIO).
   */
  check(w: number, activity: number): number {
    if (activity - this.lastCheck[w]! < this.cadence) return -1
    this.published[w] = activity
    this.lastCheck[w] = activity
    let least = Number.POSITIVE_INFINITY
    let slowest = -1
    for (let o = 0; o < this.published.length; o++) {
      // A finished worker can no longer catch up: never wait for it.
      if (this.exited[o]) continue
      const a = this.published[o]!
      if (a < least) {
        least = a
        slowest = o
      }
    }
    if (slowest < 0 || activity <= this.maxImbalance * least) return -1
    this.waits[w]!++
    return slowest
  }

  /** Whether `w` (at `activity`) must keep waiting for `slowest` (DynamoRIO's wait loop condition). */
  stillAhead(w: number, activity: number, slowest: number): boolean {
    return !this.exited[w] && !this.exited[slowest] && activity > this.maxImbalance * this.published[slowest]!
  }

  /** Worker `w` is done (finished, failed or interrupted): nobody waits for it any more. */
  exit(w: number): void {
    this.exited[w] = true
  }

  stats(): LoadBalanceStats {
    return { maxImbalance: this.maxImbalance, cadence: this.cadence, waits: [...this.waits], sleeps: [...this.sleeps] }
  }
}

/**
 * Waits while worker `w` is too far ahead of `slowest` (found by
 * {@link LoadBalance.check}): 1 ms sleeps through the Clock (TestClock
 * drives them in tests), at most {@link MAX_SLEEPS}.
 */
export const throttle = (lb: LoadBalance, w: number, activity: number, slowest: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let n = 0; n < MAX_SLEEPS && lb.stillAhead(w, activity, slowest); n++) {
      lb.sleeps[w]!++
      yield* Effect.sleep(SLEEP)
    }
  })

/**
 * Whether a run balances load (DynamoRIO: dynamic mapping, load balancing
 * not disabled): core-sharded runs on the dynamic scheduler (not replays of
 * a recorded or as-traced schedule) with more than one worker, and
 * `maxImbalance` ≥ 1 (below 1 is off).
 */
export const balances = (maxImbalance: number | undefined, workers: number, dynamic: boolean): boolean =>
  dynamic && workers > 1 && (maxImbalance ?? 0) >= 1
