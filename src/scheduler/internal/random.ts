/**
 * The Park–Miller "minimal standard" generator (C++ `std::minstd_rand`:
 * x' = x · 48271 mod 2^31 − 1). DynamoRIO's dynamic scheduler draws its random
 * initial layout and its random queue picks from this generator, so using the
 * same recurrence makes a seeded layout identical to DynamoRIO's.
 */

import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

const MODULUS = 2147483647
const MULTIPLIER = 48271

/** @internal */
export class MinStdRand {
  private state = 1

  constructor(seed: number = 1) {
    this.seed(seed)
  }

  /** Same rule as `std::linear_congruential_engine::seed`: a seed ≡ 0 (mod m) becomes 1. */
  seed(seed: number): void {
    const s = ((Math.trunc(seed) % MODULUS) + MODULUS) % MODULUS
    this.state = s === 0 ? 1 : s
  }

  /** The next value, in [1, 2^31 − 2]. The product stays below 2^53, so it is exact. */
  next(): number {
    this.state = (this.state * MULTIPLIER) % MODULUS
    return this.state
  }

  copy(): MinStdRand {
    const r = new MinStdRand()
    r.state = this.state
    return r
  }
}

/**
 * A seed from the clock in microseconds (DynamoRIO's `get_time_micros`), for
 * the randomness DynamoRIO seeds from the wall clock: runs differ, and under
 * `TestClock` they repeat.
 *
 * @internal
 */
export const clockSeed: Effect.Effect<number> = Effect.map(
  Clock.currentTimeNanos,
  (nanos) => Number((nanos / 1000n) % BigInt(MODULUS)) || 1
)
