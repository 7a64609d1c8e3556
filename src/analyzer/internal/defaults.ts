/**
 * The analyzer's documented defaults (re-exported as `Analyzer.defaults`).
 */
import * as os from "node:os"
import * as Duration from "effect/Duration"

export const defaults = {
  /** Outputs (simulated cores) of core-sharded and core-serial runs. */
  cores: 4,
  failure: "fail-fast" as "fail-fast" | "continue",
  backend: "fibers" as "fibers" | "threads",
  /** No record processed for this long fails the run with WorkerStalled. */
  stallTimeout: Duration.seconds(60),
  /** How often `onProgress` is called. */
  progressInterval: Duration.millis(200),
  /** A worker thread reports progress this often; silence for stallTimeout means it is stuck. */
  heartbeat: Duration.millis(250),
  /** Load balancing is off unless asked for (DynamoRIO's launcher, and the CLI, use 2.0). */
  maxLoadImbalance: 0,
  /** Activities (instructions + idles) between a worker's load-balance checks (DynamoRIO's cadence). */
  loadBalanceCadence: 100_000,
  /** Workers of thread-sharded runs: the available cores. */
  jobs: (): number => os.availableParallelism()
}

/**
 * The run timeout as the caller gave it, kept on the options whose
 * `runTimeout` is what is left after opening the inputs (the workers' share),
 * so that a Timeout names the caller's figure.
 */
const givenRunTimeout: unique symbol = Symbol.for("memtrace/givenRunTimeout")

interface TimedOptions {
  readonly runTimeout?: Duration.Input | undefined
  readonly [givenRunTimeout]?: Duration.Input | undefined
}

/** `options` with `left` of the run timeout for the workers, remembering the one given. */
export const withRunTimeoutLeft = <O extends TimedOptions>(options: O, left: Duration.Duration): O => ({
  ...options,
  runTimeout: left,
  [givenRunTimeout]: options.runTimeout
})

/** The run timeout the caller gave (before {@link withRunTimeoutLeft}). */
export const runTimeoutGiven = (options: TimedOptions): Duration.Input | undefined =>
  options[givenRunTimeout] ?? options.runTimeout
