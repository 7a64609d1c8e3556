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
import { Effect, Exit } from "effect"
import * as Runtime from "effect/Runtime"
import * as Cli from "./Cli.ts"

Cli.run(process.argv.slice(2)).pipe(
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) =>
      Exit.isSuccess(exit) ? onExit(exit.value as number) : Runtime.defaultTeardown(exit, onExit)
  })
)
