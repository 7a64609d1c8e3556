/**
 * The command line of cluster runs: the `memtrace runner` subcommand (one per
 * process, serving shards until interrupted) and the `--cluster URL` flag of
 * `memtrace analyze` (run on the cluster's runners instead of locally).
 *
 * **When to use**: `Commands` registers {@link runner} and {@link clusterFlag};
 * `Analyze` runs a cluster analysis through {@link runOn}.
 *
 * **Details**
 * - `memtrace runner --cluster URL --port N [--host H] [--listen-host H]
 *   [--concurrency N] [--tool-module PATH]… [--trace-root DIR]…
 *   [--lock-expiration 10s]`; the URL
 *   may come from `MEMTRACE_CLUSTER_URL` instead (keeps the password out of
 *   `ps`). It prints one line per shard on stderr (`… shard RUN/3 started`,
 *   `done`, `failed`, `interrupted`) and stops, handing its shards over, on
 *   SIGINT or SIGTERM.
 * - The cluster modules load only when a cluster is used: a local run never
 *   pays for them.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import { Command, Flag } from "effect/cli"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Analyzer from "../analyzer/Analyzer.ts"
import { usageError } from "./UsageError.ts"

/**
 * The `--cluster` selection carried next to the analyze options.
 *
 * @category models
 */
export interface ClusterSelection {
  /** PostgreSQL URL of the cluster to run on; undefined runs locally. */
  readonly cluster?: string | undefined
}

/**
 * `memtrace analyze --cluster URL`.
 *
 * @category flags
 */
export const clusterFlag = Flag.String("cluster").pipe(
  Flag.withMetavar("postgres-url"),
  Flag.withDescription(
    "Run thread-sharded on the runners of this cluster (PostgreSQL URL) instead of locally; see docs/cluster.md"
  ),
  Flag.optional
)

/**
 * Durations as `10s`, `500ms`, `2m` (or `10 seconds`, `500 millis`, `2 minutes`).
 *
 * @category parsing
 */
export const parseDuration = (text: string): Duration.Duration | undefined => {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|millis|s|seconds?|m|minutes?)$/.exec(text.trim())
  if (m === null) return undefined
  const unit = m[2]!
  const factor = unit === "ms" || unit === "millis" ? 1 : unit.startsWith("s") ? 1000 : 60_000
  return Duration.millis(Number(m[1]) * factor)
}

/**
 * Runs `Analyzer.run`'s work on the cluster at `url`: same arguments, same
 * result.
 *
 * @category running
 */
export const runOn = (url: string) => (paths: ReadonlyArray<string>, options: Analyzer.Options) =>
  Effect.flatMap(
    Effect.promise(() => import("../cluster/Cluster.ts")),
    (Cluster) => Cluster.analyze(paths, { ...options, url })
  )

const line = (text: string) => process.stderr.write(`${text}\n`)

/**
 * `memtrace runner`.
 *
 * @category commands
 */
export const runner = Command.make(
  "runner",
  {
    cluster: Flag.String("cluster").pipe(
      Flag.withMetavar("postgres-url"),
      Flag.withDescription("PostgreSQL URL of the cluster (default: $MEMTRACE_CLUSTER_URL)"),
      Flag.withFallbackConfig(Config.String("MEMTRACE_CLUSTER_URL"))
    ),
    host: Flag.String("host").pipe(
      Flag.withDescription("Address other runners and coordinators reach this runner at (default: 127.0.0.1)"),
      Flag.withDefault("127.0.0.1")
    ),
    port: Flag.Int("port").pipe(Flag.withDescription("TCP port of this runner")),
    listenHost: Flag.String("listen-host").pipe(
      Flag.withDescription("Address to listen on (default: --host; 0.0.0.0 for every interface)"),
      Flag.optional
    ),
    concurrency: Flag.Int("concurrency").pipe(
      Flag.withDescription("Shards analyzed at once, one worker thread each (default: the number of cores)"),
      Flag.optional
    ),
    toolModule: Flag.String("tool-module").pipe(
      Flag.withMetavar("path"),
      Flag.withDescription("A tool module this runner may load besides the standard tools (repeatable)"),
      Flag.atLeast(0)
    ),
    traceRoot: Flag.String("trace-root").pipe(
      Flag.withMetavar("dir"),
      Flag.withDescription("Open trace files only under this directory (repeatable; default: any path)"),
      Flag.atLeast(0)
    ),
    lockExpiration: Flag.String("lock-expiration").pipe(
      Flag.withMetavar("duration"),
      Flag.withDescription("Shard lock expiration, the same on every runner (default: 10s)"),
      Flag.optional
    )
  },
  (flags) =>
    Effect.gen(function* () {
      let lockExpiration: Duration.Duration | undefined
      if (Option.isSome(flags.lockExpiration)) {
        lockExpiration = parseDuration(flags.lockExpiration.value)
        if (lockExpiration === undefined) {
          return yield* usageError(
            "InvalidValue",
            `Option --lock-expiration value "${flags.lockExpiration.value}" is not a duration (10s, 500ms, 2m)`,
            "--lock-expiration"
          )
        }
      }
      const Cluster = yield* Effect.promise(() => import("../cluster/Cluster.ts"))
      return yield* Cluster.runner({
        url: flags.cluster,
        host: flags.host,
        port: flags.port,
        listenHost: Option.getOrUndefined(flags.listenHost),
        concurrency: Option.getOrUndefined(flags.concurrency),
        toolModules: flags.toolModule,
        traceRoots: flags.traceRoot,
        lockExpiration,
        onEvent: (e) => {
          const who = `memtrace runner ${e.runner}`
          switch (e._tag) {
            case "Ready":
              return line(`${who}: ready`)
            case "Started":
              return line(`${who}: shard ${e.shard} started (${e.path})`)
            case "Completed":
              return line(`${who}: shard ${e.shard} done: ${e.reply.records} records in ${e.reply.elapsedMs} ms`)
            case "Failed":
              return line(`${who}: shard ${e.shard} failed: ${e.error.message.split("\n")[0]}`)
            case "Interrupted":
              return line(`${who}: shard ${e.shard} interrupted`)
          }
        }
      })
    })
).pipe(
  Command.withDescription(
    "Join a memtrace cluster (PostgreSQL) and analyze the shards it assigns to this process, until interrupted"
  )
)
