/**
 * Entry point of the `memtrace` command (run by `bin/memtrace.js` and
 * `npm run memtrace`): runs `Cli.run` on the process arguments with Node's
 * services and exits with its status (130 when interrupted).
 *
 * @since 0.1.0
 */
// Deep imports: the package index loads HTTP, cluster and Redis modules too (about a second).
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import * as Cli from "./Cli.ts"
import { exitGently } from "./internal/exit.ts"
import { tuneGc } from "./internal/gc.ts"

tuneGc()

/** Resolves once everything written to `stream` so far has been handed to the system. */
const drained = (stream: NodeJS.WriteStream): Promise<void> =>
  new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) resolve()
    else stream.write("", () => resolve())
  })

/** The shell's status for a command killed by SIGPIPE: what `memtrace view … | head` ends with. */
const BROKEN_PIPE = 141

/**
 * Succeeds once standard output's reader has gone away (EPIPE): the run is
 * then interrupted, its finalizers run, and nothing more is printed.
 */
const stdoutClosed = Effect.callback<number>((resume) => {
  const onError = (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") resume(Effect.succeed(BROKEN_PIPE))
  }
  process.stdout.on("error", onError)
  return Effect.sync(() => process.stdout.off("error", onError))
})
// Writes that were under way when the reader went away fail too: nothing is left to tell.
process.stdout.on("error", () => {})

Cli.run(process.argv.slice(2)).pipe(
  Effect.raceFirst(stdoutClosed),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    // Every path ends through exitGently, not runMain's process.exit (see internal/exit.ts).
    teardown: (exit) => {
      if (Exit.isSuccess(exit)) {
        // Exiting drops what a pipe has not taken yet (the results of a run that exits 1 under
        // --failure continue, piped to jq): let stdout and stderr drain first.
        const status = exit.value as number
        void Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => exitGently(status))
        return
      }
      // Interrupted (SIGINT/SIGTERM): every finalizer has run by now, worker
      // threads included; say so in one line and exit 130. A runner stopped so
      // is its normal end (its shards were handed over): exit 0.
      if (Exit.hasInterrupts(exit)) {
        if (process.argv[2] === "runner") {
          process.stderr.write("memtrace runner: stopped; its shards go to the other runners\n")
          exitGently(0)
          return
        }
        process.stderr.write("memtrace: interrupted; the run was stopped and its workers shut down\n")
      }
      Runtime.defaultTeardown(exit, exitGently)
    }
  })
)
