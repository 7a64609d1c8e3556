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
import { tuneGc } from "./internal/gc.ts"

tuneGc()

/** Resolves once everything written to `stream` so far has been handed to the system. */
const drained = (stream: NodeJS.WriteStream): Promise<void> =>
  new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) resolve()
    else stream.write("", () => resolve())
  })

Cli.run(process.argv.slice(2)).pipe(
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit)) {
        // Exiting drops what a pipe has not taken yet (the results of a run that exits 1 under
        // --failure continue, piped to jq): let stdout and stderr drain first.
        const status = exit.value as number
        void Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => onExit(status))
        return
      }
      // Interrupted (SIGINT/SIGTERM): every finalizer has run by now, worker
      // threads included; say so in one line and exit 130.
      if (Exit.hasInterrupts(exit))
        process.stderr.write("memtrace: interrupted; the run was stopped and its workers shut down\n")
      return Runtime.defaultTeardown(exit, onExit)
    }
  })
)
