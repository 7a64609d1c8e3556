/**
 * Cluster runs against a real PostgreSQL and real runner processes on
 * 127.0.0.1: the same output as a local run, typed tool errors, deduplicated
 * resubmissions, run timeouts and coordinator interrupts that stop the shards
 * on their runners, and a runner SIGKILLed in the middle of a run.
 */
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import * as PgClient from "@effect/sql-pg/PgClient"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import { SqlClient } from "effect/sql"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Cluster from "../../src/cluster/Cluster.ts"
import * as Registry from "../../src/tools/Registry.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { counterSpec } from "../utils/faultTools.ts"
import { delayed } from "./delayedTool.ts"
import {
  events,
  type Postgres,
  type Runner,
  settled,
  spawnRunner,
  startPostgres,
  stopPostgres,
  stopRunner
} from "./harness.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"
// Every timing derives from it (docs/cluster.md); 6 s keeps the lock
// refresh deadline (1.5 s) clear of a loaded 2-core machine's stalls.
const LOCK_EXPIRATION = "6 seconds"
const RUNNER_ARGS = ["--lock-expiration", "6s", "--tool-module", "test/cluster/delayedTool.ts"]
const RUNNER_ARGS_FAULTS = [...RUNNER_ARGS, "--tool-module", "test/utils/faultTools.ts"]

const pg: Postgres | undefined = await startPostgres()

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Waits until `check` holds, polling every 100 ms; fails with `what` after `timeoutMs`. */
const eventually = async (what: string, timeoutMs: number, check: () => boolean) => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`)
    await sleep(100)
  }
}

const local = (tools: ReadonlyArray<Parameters<typeof Registry.makeSync>>) =>
  Effect.runPromise(Analyzer.run(THREADSIG, { tools: tools.map(([n, o]) => Registry.makeSync(n, o)) }))

describe.skipIf(pg === undefined)("Cluster on PostgreSQL with 3 runner processes", () => {
  const url = pg?.url ?? ""
  const runners: Array<Runner> = []
  const analyze = (options: Omit<Cluster.AnalyzeOptions, "url">) =>
    Cluster.analyze(THREADSIG, { url, lockExpiration: LOCK_EXPIRATION, ...options })
  const query = <A extends object>(f: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<A>, unknown>) =>
    Effect.gen(function* () {
      return yield* f(yield* SqlClient.SqlClient)
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })), Effect.orDie)
  const eventsOf = (runId: string) => runners.flatMap((r) => events(r, runId).map(([s, e]) => [r, s, e] as const))

  beforeAll(async () => {
    runners.push(...(await Promise.all([0, 1, 2].map(() => spawnRunner(url, RUNNER_ARGS_FAULTS)))))
    // Shards move while runners join; start once each holds its share.
    await settled(
      () =>
        Effect.runPromise(
          query<{ pid: number; n: number }>(
            (sql) => sql`SELECT pid, COUNT(*)::int AS n FROM pg_locks
              WHERE locktype = 'advisory' AND granted AND objsubid = 2 GROUP BY pid`
          )
        ),
      3,
      300,
      60_000
    )
  }, 120_000)

  afterAll(async () => {
    await Promise.all(runners.map(stopRunner))
    if (pg !== undefined) await stopPostgres(pg)
  }, 60_000)

  it.live("prints what a local run prints: basic_counts and histogram over threadsig's 9 threads", () =>
    Effect.gen(function* () {
      const runId = randomUUID()
      const tools = [Registry.makeSync("basic_counts"), Registry.makeSync("histogram")]
      const result = yield* analyze({ tools, runId })
      const expected = yield* Effect.promise(() => local([["basic_counts"], ["histogram"]]))
      assert.strictEqual(Analyzer.formatText(result), Analyzer.formatText(expected))
      assert.strictEqual(result.records, expected.records)
      assert.deepStrictEqual(
        result.tools.map((t) => t.shards.map((s) => s.shardIndex)),
        expected.tools.map((t) => t.shards.map((s) => s.shardIndex))
      )
      // Every shard was analyzed by one of the runners.
      const done = eventsOf(runId).filter(([, , e]) => e === "done")
      assert.deepStrictEqual(
        [...new Set(done.map(([, s]) => s))].sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8]
      )
      assert.isAtMost(result.workers, 3)
    })
  )

  it.live("the CLI's analyze --cluster prints what the local analyze prints", () =>
    Effect.gen(function* () {
      const cli = (args: ReadonlyArray<string>) =>
        Effect.promise(
          () =>
            new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
              execFile(
                process.execPath,
                ["src/cli/main.ts", ...args],
                { maxBuffer: 1 << 26 },
                (error, stdout, stderr) =>
                  resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })
              )
            )
        )
      const args = ["analyze", "--indir", THREADSIG, "--tool", "reuse_distance"]
      const [onCluster, locally] = yield* Effect.all([cli([...args, "--cluster", url]), cli(args)])
      assert.strictEqual(onCluster.code, 0, onCluster.stderr)
      assert.strictEqual(locally.code, 0, locally.stderr)
      assert.include(onCluster.stdout, "Reuse distance tool results")
      assert.strictEqual(onCluster.stdout, locally.stdout)
      // --json too (it asks for no schedule on a cluster run): the same tool results.
      const json = ["analyze", "--indir", THREADSIG, "--tool", "basic_counts", "--json"]
      const [jsonCluster, jsonLocal] = yield* Effect.all([cli([...json, "--cluster", url]), cli(json)])
      assert.strictEqual(jsonCluster.code, 0, jsonCluster.stderr)
      const toolsOf = (out: string) => (JSON.parse(out) as { tools: ReadonlyArray<{ result: unknown }> }).tools
      assert.deepStrictEqual(
        toolsOf(jsonCluster.stdout).map((t) => t.result),
        toolsOf(jsonLocal.stdout).map((t) => t.result)
      )
    })
  )

  it.live("options a cluster run does not apply are refused, never dropped", () =>
    Effect.gen(function* () {
      const given: ReadonlyArray<[string, Partial<Cluster.AnalyzeOptions>]> = [
        ["onlyThreads", { onlyThreads: [872905] }],
        ["onlyShards", { onlyShards: [0] }],
        ["skipInstrs", { skipInstrs: 10 }],
        ["exitAfterInstrs", { exitAfterInstrs: 1000 }],
        ["skipToTimestamp", { skipToTimestamp: 5n }],
        ["intervalInstrCount", { intervalInstrCount: 10_000 }],
        ["cpuScheduleFile", { cpuScheduleFile: "x.zip" }]
      ]
      for (const [option, o] of given) {
        const e = yield* Effect.flip(analyze({ tools: [Registry.makeSync("basic_counts")], ...o }))
        assert.strictEqual(e._tag, "AnalyzerOptionError", option)
        if (e._tag === "AnalyzerOptionError") assert.strictEqual(e.option, option)
      }
      // The coordinator's lock expiration is checked as a runner's is.
      for (const lockExpiration of ["banana" as Duration.Input, 0, "100 millis" as const]) {
        const e = yield* Effect.flip(analyze({ tools: [Registry.makeSync("basic_counts")], lockExpiration }))
        assert.strictEqual(e._tag === "ClusterError" ? e.reason : e._tag, "InvalidOptions", String(lockExpiration))
      }
    })
  )

  it.live("a tool's typed error comes back typed and attributed as in the local run", () =>
    Effect.gen(function* () {
      const plan = { fault: "error" as const, shard: 2, record: 100 }
      const exit = yield* Effect.exit(analyze({ tools: [counterSpec(plan)] }))
      const localExit = yield* Effect.exit(Analyzer.run(THREADSIG, { tools: [counterSpec(plan)] }))
      const failed = (e: typeof exit | typeof localExit) => {
        assert.isTrue(Exit.isFailure(e))
        const error = Cause.findErrorOption((e as Exit.Failure<unknown, unknown>).cause)
        assert.isTrue(error._tag === "Some" && (error.value as { _tag: string })._tag === "AnalysisFailed")
        return (error as { value: Analyzer.AnalysisFailed }).value.failures
      }
      const [remote] = failed(exit)
      const [here] = failed(localExit)
      assert.strictEqual(failed(exit).length, 1)
      assert.deepStrictEqual(
        { ...remote!, worker: 0 },
        { ...here!, worker: 0 },
        "the same failure, but for the worker index (a cluster shard is its own worker)"
      )
      assert.strictEqual(remote!.reason, "ToolError")
      assert.strictEqual(remote!.record, 100)
      assert.deepStrictEqual(remote!.toolError, { _tag: "CountError", shard: 2, record: 100 })
    })
  )

  it.live("under failure: continue, the other shards' results come back with the failure, as locally", () =>
    Effect.gen(function* () {
      const tools = [counterSpec({ fault: "error", shard: 5, record: 1000 })]
      const result = yield* analyze({ tools, failure: "continue" })
      const expected = yield* Analyzer.run(THREADSIG, { tools, failure: "continue" })
      assert.strictEqual(Analyzer.formatText(result), Analyzer.formatText(expected))
      // The failed shard's records before its failure count too.
      assert.strictEqual(result.records, expected.records)
      assert.deepStrictEqual(
        result.tools[0]!.shards.map((s) => s.shardIndex),
        [0, 1, 2, 3, 4, 6, 7, 8]
      )
      assert.deepStrictEqual(
        result.failures.map((f) => ({ ...f, worker: 0 })),
        expected.failures.map((f) => ({ ...f, worker: 0 }))
      )
    })
  )

  it.live("a tool module a runner does not allow fails the shards with ShardInit, naming the module", () =>
    Effect.gen(function* () {
      const sneaky = { ...counterSpec(), spec: { module: "file:///tmp/not-allowed.ts", export: "counter", args: [] } }
      const error = yield* Effect.flip(analyze({ tools: [sneaky] }))
      assert.strictEqual(error._tag, "AnalysisFailed")
      const failures = (error as Analyzer.AnalysisFailed).failures
      assert.isAbove(failures.length, 0)
      for (const f of failures) {
        assert.strictEqual(f.reason, "ShardInit")
        assert.include(f.message, "file:///tmp/not-allowed.ts is not allowed on this runner")
      }
    })
  )

  it.live("resubmitting a run id attaches to the stored requests: no second execution, one row per shard", () =>
    Effect.gen(function* () {
      const runId = randomUUID()
      const tools = [Registry.makeSync("basic_counts")]
      const first = yield* analyze({ tools, runId })
      const startedBefore = eventsOf(runId).filter(([, , e]) => e === "started").length
      const second = yield* analyze({ tools, runId })
      assert.strictEqual(Analyzer.formatText(second), Analyzer.formatText(first))
      assert.isAtLeast(startedBefore, 9)
      assert.strictEqual(eventsOf(runId).filter(([, , e]) => e === "started").length, startedBefore)
      const rows = yield* query<{ n: number }>(
        (sql) => sql`SELECT COUNT(*)::int AS n FROM cluster_messages
          WHERE entity_type = 'ShardAnalysis' AND entity_id LIKE ${`${runId}/%`}`
      )
      assert.strictEqual(rows[0]!.n, 9)
      // The same run id for another analysis is another request, not the stored reply.
      const other = yield* analyze({ tools: [Registry.makeSync("histogram")], runId })
      const expected = yield* Effect.promise(() => local([["histogram"]]))
      assert.strictEqual(Analyzer.formatText(other), Analyzer.formatText(expected))
    })
  )

  it.live("a run timeout fails with every unanswered shard and interrupts the shards on their runners", () =>
    Effect.gen(function* () {
      const runId = randomUUID()
      const started = Date.now()
      const error = yield* Effect.flip(
        analyze({ tools: [delayed("basic_counts", {}, 700)], runId, runTimeout: "3 seconds" })
      )
      assert.isBelow(Date.now() - started, 15_000)
      assert.strictEqual(error._tag, "AnalysisFailed")
      const failures = (error as Analyzer.AnalysisFailed).failures
      assert.deepStrictEqual(
        failures.map((f) => [f.reason, f.shard]),
        [0, 1, 2, 3, 4, 5, 6, 7, 8].map((s) => ["Timeout", s])
      )
      // Every shard a runner started stops there: interrupted, never done.
      yield* Effect.promise(() =>
        eventually("the interrupts", 20_000, () => {
          const evs = eventsOf(runId)
          const started = evs.filter(([, , e]) => e === "started")
          return started.every(([r, s]) => evs.some(([r2, s2, e]) => r2 === r && s2 === s && e === "interrupted"))
        })
      )
      assert.isAbove(eventsOf(runId).filter(([, , e]) => e === "started").length, 0)
      assert.strictEqual(eventsOf(runId).filter(([, , e]) => e === "done").length, 0)
      // The cluster keeps the interrupted replies under this run id: a resubmission gets a typed
      // failure saying so, not an interruption out of nowhere.
      const again = yield* Effect.flip(
        analyze({ tools: [delayed("basic_counts", {}, 700)], runId, runTimeout: "60 seconds" })
      )
      assert.strictEqual(again._tag, "AnalysisFailed")
      const stale = (again as Analyzer.AnalysisFailed).failures.filter((f) =>
        f.message.includes("an earlier submission of this run id was interrupted")
      )
      assert.isAbove(stale.length, 0, again.message)
    })
  )

  it.live("interrupting the coordinator interrupts the shards in flight on their runners", () =>
    Effect.gen(function* () {
      const runId = randomUUID()
      const fiber = yield* Effect.forkChild(analyze({ tools: [delayed("basic_counts", {}, 700)], runId }))
      yield* Effect.promise(() =>
        eventually("a shard start", 20_000, () => eventsOf(runId).some(([, , e]) => e === "started"))
      )
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() =>
        eventually("the interrupts", 20_000, () => {
          const evs = eventsOf(runId)
          return evs
            .filter(([, , e]) => e === "started")
            .every(([r, s]) => evs.some(([r2, s2, e]) => r2 === r && s2 === s && e === "interrupted"))
        })
      )
      assert.strictEqual(eventsOf(runId).filter(([, , e]) => e === "done").length, 0)
    })
  )

  it.live("with no runner at all, the run timeout fails every shard instead of waiting forever", () =>
    Effect.gen(function* () {
      // A database of its own: this cluster has no runner.
      yield* query((sql) => sql`CREATE DATABASE memtrace_empty`)
      const empty = url.replace(/\/memtrace$/, "/memtrace_empty")
      const started = Date.now()
      const error = yield* Effect.flip(
        Cluster.analyze(THREADSIG, {
          url: empty,
          lockExpiration: LOCK_EXPIRATION,
          tools: [Registry.makeSync("basic_counts")],
          runTimeout: "2 seconds"
        })
      )
      assert.isBelow(Date.now() - started, 20_000)
      assert.strictEqual(error._tag, "AnalysisFailed")
      assert.deepStrictEqual(
        (error as Analyzer.AnalysisFailed).failures.map((f) => [f.reason, f.shard, f.input]),
        (yield* Trace.list(THREADSIG)).map((file, i) => ["Timeout", i, path.basename(file)])
      )
    })
  )

  it.live("a database that refuses the login fails with ClusterError DatabaseUnavailable, password redacted", () =>
    Effect.gen(function* () {
      const bad = url.replace(/:[^:@/]+@/, ":wrong-password@")
      const error = yield* Effect.flip(
        Cluster.analyze(THREADSIG, { url: bad, tools: [Registry.makeSync("basic_counts")], runTimeout: "30 seconds" })
      )
      assert.strictEqual(error._tag, "ClusterError")
      assert.strictEqual((error as Cluster.ClusterError).reason, "DatabaseUnavailable")
      assert.notInclude(error.message, "wrong-password")
      assert.include(error.message, ":***@127.0.0.1")
      // The driver takes a password as a query parameter too.
      const inQuery = `${url.replace(/:[^:@/]+@/, "@")}?password=wrong-password`
      const queried = yield* Effect.flip(
        Cluster.analyze(THREADSIG, {
          url: inQuery,
          tools: [Registry.makeSync("basic_counts")],
          runTimeout: "30 seconds"
        })
      )
      assert.strictEqual(queried._tag, "ClusterError")
      assert.notInclude(queried.message, "wrong-password")
      assert.include(queried.message, "password=***")
    })
  )

  it.live(
    "a runner stopped (SIGTERM) mid-run exits at once and its shards resume on the others, totals identical",
    () =>
      Effect.gen(function* () {
        const runId = randomUUID()
        const fiber = yield* Effect.forkChild(analyze({ tools: [delayed("basic_counts", {}, 150)], runId }))
        yield* Effect.promise(() =>
          eventually("a shard start", 20_000, () => eventsOf(runId).some(([, , e]) => e === "started"))
        )
        const leaving = eventsOf(runId).find(([, , e]) => e === "started")![0]
        yield* Effect.sleep("300 millis")
        const stopping = Date.now()
        leaving.process.kill("SIGTERM")
        // A stop is a runner's normal end: status 0.
        assert.strictEqual(yield* Effect.promise(() => leaving.exited), 0)
        const stopMs = Date.now() - stopping
        const handedOver = (() => {
          const evs = events(leaving, runId)
          return evs
            .filter(([, e]) => e === "started")
            .map(([s]) => s)
            .filter((s) => !evs.some(([s2, e]) => s2 === s && e === "done"))
        })()
        assert.isAbove(handedOver.length, 0, "the runner left in the middle of a shard")
        for (const s of handedOver) {
          assert.isTrue(
            events(leaving, runId).some(([s2, e]) => s2 === s && e === "interrupted"),
            `shard ${s} interrupted on the leaving runner`
          )
        }
        const result = yield* Fiber.join(fiber)
        const expected = yield* Effect.promise(() => local([["basic_counts"]]))
        assert.strictEqual(Analyzer.formatText(result), Analyzer.formatText(expected))
        for (const s of handedOver) {
          const finishers = runners.filter(
            (r) => r !== leaving && events(r, runId).some(([s2, e]) => s2 === s && e === "done")
          )
          assert.strictEqual(finishers.length, 1, `shard ${s} finished once, by another runner`)
        }
        assert.isBelow(stopMs, 10_000)
        console.log(`cluster graceful stop: runner exited in ${stopMs} ms; handed over shards ${handedOver.join(", ")}`)
        runners.splice(runners.indexOf(leaving), 1)
      }),
    60_000
  )

  it.live(
    "a runner SIGKILLed mid-run: its shards are re-run elsewhere after lock expiry, totals identical, bounded time",
    () =>
      Effect.gen(function* () {
        const runId = randomUUID()
        const started = Date.now()
        const fiber = yield* Effect.forkChild(analyze({ tools: [delayed("basic_counts", {}, 150)], runId }))
        // The victim: the first runner to start a shard, killed while the shard runs.
        yield* Effect.promise(() =>
          eventually("a shard start", 20_000, () => eventsOf(runId).some(([, , e]) => e === "started"))
        )
        const victim = eventsOf(runId).find(([, , e]) => e === "started")![0]
        yield* Effect.sleep("300 millis")
        victim.process.kill("SIGKILL")
        yield* Effect.promise(() => victim.exited)
        const inFlight = (() => {
          const evs = events(victim, runId)
          return evs
            .filter(([, e]) => e === "started")
            .map(([s]) => s)
            .filter((s) => !evs.some(([s2, e]) => s2 === s && e === "done"))
        })()
        assert.isAbove(inFlight.length, 0, "the victim was killed in the middle of a shard")

        const result = yield* Fiber.join(fiber)
        const elapsed = Date.now() - started
        const expected = yield* Effect.promise(() => local([["basic_counts"]]))
        assert.strictEqual(Analyzer.formatText(result), Analyzer.formatText(expected))
        assert.strictEqual(result.records, expected.records)
        // Each shard the victim did not finish was finished once by a survivor.
        const survivors = runners.filter((r) => r !== victim)
        for (const s of inFlight) {
          const finishers = survivors.filter((r) => events(r, runId).some(([s2, e]) => s2 === s && e === "done"))
          assert.strictEqual(finishers.length, 1, `shard ${s} finished once, by a survivor`)
        }
        assert.isBelow(elapsed, 60_000)
        console.log(`cluster failover: run done in ${elapsed} ms; re-ran shards ${inFlight.join(", ")}`)
      }),
    90_000
  )
})
