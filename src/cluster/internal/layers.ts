/**
 * The effect/cluster wiring for a coordinator (client only) and a runner:
 * PostgreSQL through @effect/sql-pg, SQL message and runner storage, runners
 * talking over TCP sockets, ping health checks, and every timing derived from
 * one knob, the shard lock expiration.
 */
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import { RunnerAddress, type ShardingConfig } from "effect/cluster"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { SqlClient } from "effect/sql"
import { ClusterError } from "../ClusterError.ts"

/** The URL without its password, for messages. */
export const redactUrl = (url: string): string => {
  try {
    const u = new URL(url)
    if (u.password !== "") u.password = "***"
    // The driver also takes the password as a query parameter.
    for (const key of [...u.searchParams.keys()]) {
      if (/pass/i.test(key)) u.searchParams.set(key, "***")
    }
    return u.href
  } catch {
    return "<invalid URL>"
  }
}

/**
 * Every cluster timing, derived from the shard lock expiration `e`: locks and
 * heartbeats refresh every e/4, runners look for membership changes every
 * min(1 s, e/4), the health check pings every runner every e/4, and storage is
 * polled every e/4 when no notification arrives.
 */
export const shardingConfig = (lockExpiration: Duration.Input): Partial<ShardingConfig.ShardingConfig["Service"]> => {
  const e = Duration.toMillis(Duration.fromInputUnsafe(lockExpiration))
  const quarter = Duration.millis(Math.max(100, Math.floor(e / 4)))
  return {
    shardLockExpiration: Duration.millis(e),
    shardLockRefreshInterval: quarter,
    refreshAssignmentsInterval: Duration.millis(Math.min(1000, Math.max(100, Math.floor(e / 4)))),
    runnerHealthCheckInterval: quarter,
    entityMessagePollInterval: quarter,
    entityMaxIdleTime: Duration.seconds(30)
  }
}

/**
 * An error's message followed by those of its `reason` and `cause` chain
 * (SqlError → AuthenticationError → the server's message), without repeats.
 */
export const describe = (u: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = u
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (typeof current !== "object") {
      parts.push(String(current))
      break
    }
    const c = current as { readonly message?: unknown; readonly reason?: unknown; readonly cause?: unknown }
    const message = typeof c.message === "string" && c.message !== "" ? c.message : undefined
    if (message !== undefined && !parts.includes(message)) parts.push(message)
    current = typeof c.reason === "object" ? c.reason : c.cause
    if (typeof c.reason === "string" && !parts.includes(c.reason) && message === undefined) parts.push(c.reason)
  }
  return parts.length > 0 ? parts.join(": ") : String(u)
}

/** PostgreSQL, checked with a first query so that a bad URL fails as a ClusterError, not later as a defect. */
const database = (url: string) => {
  const unavailable = (cause: unknown) =>
    new ClusterError({
      reason: "DatabaseUnavailable",
      message: `cannot use the cluster database ${redactUrl(url)}: ${describe(cause)}`
    })
  const probe = Layer.effectDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`SELECT 1`.pipe(Effect.mapError(unavailable))
    })
  )
  return probe.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), connectTimeout: "10 seconds" })))
}

/** A failed start as a ClusterError (a database error names the redacted URL). */
export const toClusterError = (cause: Cause.Cause<unknown>, what: string, url: string): ClusterError => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some" && error.value instanceof ClusterError) return error.value
  if (error._tag === "Some" && (error.value as { _tag?: unknown })._tag === "SqlError") {
    return new ClusterError({
      reason: "DatabaseUnavailable",
      message: `cannot use the cluster database ${redactUrl(url)}: ${describe(error.value)}`
    })
  }
  return new ClusterError({
    reason: "StartFailed",
    message: `${what} could not start: ${describe(error._tag === "Some" ? error.value : Cause.squash(cause))}`
  })
}

/** Builds `layer` into the current scope, failing with a ClusterError. */
export const build = <A, E, R>(
  layer: Layer.Layer<A, E, R>,
  what: string,
  url: string
): Effect.Effect<Context.Context<A>, ClusterError, R | Scope.Scope> =>
  Layer.build(layer).pipe(
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause) ? Effect.interrupt : Effect.fail(toClusterError(cause, what, url))
    )
  )

/** A coordinator: sends persisted requests and reads their replies; owns no shard. */
export const clientLayer = (url: string, lockExpiration: Duration.Input) =>
  NodeClusterSocket.layer({
    clientOnly: true,
    storage: "sql",
    shardingConfig: { ...shardingConfig(lockExpiration), runnerAddress: Option.none() }
  }).pipe(Layer.provide(database(url)))

export interface RunnerAddressOptions {
  /** The address other runners and coordinators reach this runner at. */
  readonly host: string
  readonly port: number
  /** The address to listen on (default: host). */
  readonly listenHost?: string | undefined
}

/** A runner: owns shards, serves their entities, answers pings. */
export const runnerLayer = (url: string, lockExpiration: Duration.Input, address: RunnerAddressOptions) =>
  NodeClusterSocket.layer({
    storage: "sql",
    shardingConfig: {
      ...shardingConfig(lockExpiration),
      runnerAddress: Option.some(RunnerAddress.make(address.host, address.port)),
      runnerListenAddress: Option.some(RunnerAddress.make(address.listenHost ?? address.host, address.port))
    }
  }).pipe(Layer.provide(database(url)))
