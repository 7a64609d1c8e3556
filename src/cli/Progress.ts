/**
 * The progress bar the CLI draws on stderr while an analysis runs: records and
 * instructions processed, inputs done, bytes read and elapsed time.
 * Drawn with `cli-progress` (throttled to 10 frames a second, erased when the
 * run ends).
 *
 * **When to use**: {@link make} in the scope of a run gives a
 * {@link Reporter}; hand its `update` to the analyzer (its `onProgress`
 * callback) or pipe a stream of {@link Snapshot}s into it with
 * {@link consume}. {@link isEnabled} decides whether to draw at all.
 *
 * **Details**
 * - Off under `--quiet`, when stderr is not a terminal, and when the
 *   environment says `CI=true`: the reporter is then {@link none}, whose
 *   `update` does nothing.
 * - `update` only stores the snapshot; drawing happens on the bar's own
 *   timer, so calling it from a batch loop costs next to nothing.
 * - The bar measures bytes when the snapshot carries `bytesTotal`, else
 *   finished inputs.
 *
 * **Gotchas**: results go to stdout; the bar only ever writes to its stream
 * (stderr), and erases its line when the scope closes, on success, failure and
 * interruption alike, so it never mixes with diagnostics printed afterwards.
 *
 * @since 0.1.0
 */
import { SingleBar } from "cli-progress"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/**
 * What the analyzer reports about a run in progress (the shape of
 * `Analyzer.Progress`, plus optional byte counts).
 *
 * @category models
 */
export interface Snapshot {
  readonly records: number
  readonly instructions: number
  readonly inputsDone: number
  readonly inputsTotal: number
  /** Compressed bytes read so far, when the reader reports them. */
  readonly bytesRead?: number | undefined
  /** Compressed bytes of every input. */
  readonly bytesTotal?: number | undefined
}

/**
 * Receives snapshots.
 *
 * @category models
 */
export interface Reporter {
  readonly update: (snapshot: Snapshot) => void
}

/**
 * A reporter that draws nothing.
 *
 * @category constructors
 */
export const none: Reporter = { update: () => {} }

/**
 * Whether a bar should be drawn: not quiet, stream is a terminal, not in CI.
 *
 * @category constructors
 */
export const isEnabled = (options: {
  readonly quiet: boolean
  readonly isTTY: boolean | undefined
  readonly env: Readonly<Record<string, string | undefined>>
}): boolean => !options.quiet && options.isTTY === true && options.env.CI !== "true"

const compact = (n: number): string => {
  if (n < 10_000) return String(n)
  const units = ["K", "M", "G", "T"]
  let v = n
  let u = -1
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  // Three significant digits of the value as rounded: 9,999,999 is 10.0M (not 10.00M), 999,999 is 1.00M.
  for (;;) {
    const text = v.toFixed(v < 9.995 ? 2 : v < 99.95 ? 1 : 0)
    if (Number(text) < 1000 || u === units.length - 1) return `${text}${units[u]}`
    v /= 1000
    u++
  }
}

const bytes = (n: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`
}

/**
 * The text after the bar for a snapshot (exported for tests).
 *
 * @category formatting
 */
export const describe = (s: Snapshot): string => {
  const parts = [`${compact(s.records)} records`]
  // Thread backends report no instruction count (0): say nothing rather than "0 instrs".
  if (s.instructions > 0) parts.push(`${compact(s.instructions)} instrs`)
  parts.push(`inputs ${s.inputsDone}/${s.inputsTotal}`)
  if (s.bytesTotal !== undefined && s.bytesTotal > 0) parts.push(`${bytes(s.bytesRead ?? 0)}/${bytes(s.bytesTotal)}`)
  return parts.join(" | ")
}

/**
 * A reporter drawing on `stream` (stderr by default) when `enabled`, for the
 * lifetime of the enclosing scope.
 *
 * @category constructors
 */
export const make = (options: {
  readonly enabled: boolean
  readonly stream?: NodeJS.WritableStream | undefined
}): Effect.Effect<Reporter, never, Scope.Scope> => {
  if (!options.enabled) return Effect.succeed(none)
  return Effect.acquireRelease(
    Effect.sync(() => {
      const bar = new SingleBar({
        stream: options.stream ?? process.stderr,
        // No ETA: progress by finished inputs is too coarse for one.
        format: "{bar} {percentage}% | {detail} | {duration_formatted}",
        clearOnComplete: true,
        hideCursor: false,
        fps: 10,
        barsize: 24
      })
      let started = false
      const reporter: Reporter = {
        update: (s) => {
          const byBytes = s.bytesTotal !== undefined && s.bytesTotal > 0
          const total = byBytes ? s.bytesTotal! : Math.max(1, s.inputsTotal)
          const value = byBytes ? (s.bytesRead ?? 0) : s.inputsDone
          const payload = { detail: describe(s) }
          if (!started) {
            started = true
            bar.start(total, value, payload)
          } else {
            if (bar.getTotal() !== total) bar.setTotal(total)
            bar.update(value, payload)
          }
        }
      }
      return { bar, reporter, stop: () => started && bar.stop() }
    }),
    (r) => Effect.sync(r.stop)
  ).pipe(Effect.map((r) => r.reporter))
}

/**
 * Feeds every snapshot of `snapshots` to `reporter`.
 *
 * @category combinators
 */
export const consume = <E, R>(
  snapshots: Stream.Stream<Snapshot, E, R>,
  reporter: Reporter
): Effect.Effect<void, E, R> => Stream.runForEach(snapshots, (s) => Effect.sync(() => reporter.update(s)))
