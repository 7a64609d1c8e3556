/**
 * How the `memtrace` command ends its process: with its status, the way Node
 * ends a process that has nothing left to do, and with `process.exit` only
 * as a fallback.
 *
 * Why: `process.exit` can deadlock. It shuts V8's platform down, joining V8's
 * background threads, without first tearing the heap down; a background
 * compile job that is waiting for the main thread to collect garbage then
 * never finishes, and the process sleeps forever with its work done
 * (nodejs/node#54918, the exit-time variant; seen here once in about 330
 * benchmark processes, in Maglev jobs). When the event loop empties, Node
 * drains V8's tasks with the main thread still collecting, which does not
 * wait on itself so.
 *
 * **Gotchas**
 * - Something that still holds the event loop (a handle a failure left open)
 *   delays the exit by the grace period, after which `process.exit` runs.
 */

/** How long a process may take to end by itself before {@link exitGently} calls `process.exit`. */
export const EXIT_GRACE_MS = 2000

/** The part of `process` that {@link exitGently} uses (a stand-in in tests). */
export interface ExitingProcess {
  exitCode?: number | string | null | undefined
  exit(code?: number): void
}

/** The part of the timer API that {@link exitGently} uses (a stand-in in tests). */
export interface ExitTimers {
  setTimeout(run: () => void, ms: number): { unref(): unknown }
}

/**
 * Sets the process's exit status and lets it end once nothing holds its
 * event loop; if it is still running after `graceMs`, calls `exit(code)`.
 * The fallback timer does not itself keep the process alive.
 */
export const exitGently = (
  code: number,
  options?: {
    readonly graceMs?: number | undefined
    readonly process?: ExitingProcess | undefined
    readonly timers?: ExitTimers | undefined
  }
): void => {
  const proc = options?.process ?? process
  const timers = options?.timers ?? globalThis
  proc.exitCode = code
  timers.setTimeout(() => proc.exit(code), options?.graceMs ?? EXIT_GRACE_MS).unref()
}
