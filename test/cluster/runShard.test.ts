/**
 * What a runner does with one request, without a cluster: the shard driver
 * (runShard) against the local analyzer's shards, the tool allow list, the
 * failures it reports, and the worker threads shards run on.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import type * as Tool from "../../src/analyzer/Tool.ts"
import { runShard } from "../../src/cluster/internal/runShard.ts"
import { moduleUrl, toToolRef } from "../../src/cluster/internal/tools.ts"
import * as WorkerPool from "../../src/cluster/internal/workerPool.ts"
import { ShardFailed, type ShardReply, type ToolRef } from "../../src/cluster/ShardAnalysis.ts"
import * as Registry from "../../src/tools/Registry.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { counterSpec } from "../utils/faultTools.ts"
import { delayed } from "./delayedTool.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"
const FAULT_TOOLS = pathToFileURL(path.resolve("test/utils/faultTools.ts")).href
const DELAYED_TOOL = pathToFileURL(path.resolve("test/cluster/delayedTool.ts")).href
const context = { runner: "test:1", allowedModules: new Set([FAULT_TOOLS, DELAYED_TOOL]), traceRoots: [] }

const refs = (tools: ReadonlyArray<Tool.Any>): ReadonlyArray<ToolRef> => tools.map((t) => toToolRef(t)!)

const request = (files: ReadonlyArray<string>, shard: number, tools: ReadonlyArray<Tool.Any>) => ({
  runId: "test",
  shard,
  shards: files.length,
  path: path.resolve(files[shard]!),
  name: path.basename(files[shard]!),
  tools: refs(tools),
  coreOnDisk: false,
  encodings: false
})

const decoded = (tools: ReadonlyArray<Tool.Any>, reply: ShardReply) =>
  tools.map((tool, t) =>
    reply.results[t]!.map((o) => ({
      shard: o.shard,
      result: Schema.decodeUnknownSync(Schema.toCodecJson(tool.shardResultSchema))(o.result)
    }))
  )

describe("toToolRef / moduleUrl", () => {
  it("names registry tools by name and options, other tools by module, export and arguments", () => {
    assert.deepStrictEqual(toToolRef(Registry.makeSync("histogram", { lineSize: 128 })), {
      _tag: "Registry",
      name: "histogram",
      options: { lineSize: 128 }
    })
    const plan = { fault: "error" as const, shard: 1, record: 5 }
    assert.deepStrictEqual(toToolRef(counterSpec(plan)), {
      _tag: "Module",
      module: FAULT_TOOLS,
      export: "counter",
      args: [plan]
    })
    const { spec: _, ...noSpec } = counterSpec()
    assert.isUndefined(toToolRef(noSpec as Tool.Any))
  })

  it("turns paths (relative to the working directory) and URLs into the URLs import() sees", () => {
    assert.strictEqual(moduleUrl("test/utils/faultTools.ts"), FAULT_TOOLS)
    assert.strictEqual(moduleUrl(FAULT_TOOLS), FAULT_TOOLS)
  })
})

describe("runShard", () => {
  it.live("analyzes one input exactly as the local run analyzes that shard", () =>
    Effect.gen(function* () {
      const files = yield* Trace.list(THREADSIG)
      const tools = [Registry.makeSync("basic_counts"), Registry.makeSync("reuse_distance")]
      const local = yield* Analyzer.run(THREADSIG, { tools })
      for (const shard of [0, 3, 8]) {
        const reply = yield* runShard(request(files, shard, tools), context)
        assert.strictEqual(reply.runner, "test:1")
        assert.deepStrictEqual(
          decoded(tools, reply),
          local.tools.map((t) =>
            t.shards.filter((s) => s.shardIndex === shard).map((s) => ({ shard: s.shardIndex, result: s.result }))
          )
        )
      }
    })
  )

  it.live("a core-sharded-on-disk shard sees its stored idle records as the local run does (tid -1)", () =>
    Effect.gen(function* () {
      const dir = "../shared/traces/drmemtrace.threadsig-core-sharded.x64.tracedir"
      const files = yield* Trace.list(dir)
      const tools = [Registry.makeSync("invariant_checker"), Registry.makeSync("basic_counts")]
      const local = yield* Analyzer.run(dir, { tools })
      assert.strictEqual(local.tools[0]!.text.trim(), "Trace invariant checks passed")
      const shard = 0
      const reply = yield* runShard({ ...request(files, shard, tools), coreOnDisk: true }, context)
      assert.deepStrictEqual(
        decoded(tools, reply),
        local.tools.map((t) =>
          t.shards.filter((s) => s.shardIndex === shard).map((s) => ({ shard: s.shardIndex, result: s.result }))
        )
      )
    })
  )

  it.live("reports a typed tool error with its record and encoded error", () =>
    Effect.gen(function* () {
      const files = yield* Trace.list(THREADSIG)
      const error = yield* Effect.flip(
        runShard(request(files, 4, [counterSpec({ fault: "error", shard: 4, record: 77 })]), context)
      )
      assert.instanceOf(error, ShardFailed)
      const [f] = error.failures
      assert.strictEqual(f!.reason, "ToolError")
      assert.strictEqual(f!.shard, 4)
      assert.strictEqual(f!.worker, 4)
      assert.strictEqual(f!.record, 77)
      assert.strictEqual(f!.input, path.basename(files[4]!))
      assert.deepStrictEqual(f!.toolError, { _tag: "CountError", shard: 4, record: 77 })
    })
  )

  it.live("refuses a tool module that is not on the allow list, and a registry tool's bad options", () =>
    Effect.gen(function* () {
      const files = yield* Trace.list(THREADSIG)
      const notAllowed = yield* Effect.flip(
        runShard(request(files, 0, [counterSpec()]), { ...context, allowedModules: new Set() })
      )
      assert.strictEqual(notAllowed.failures[0]!.reason, "ShardInit")
      assert.include(notAllowed.failures[0]!.message, `${FAULT_TOOLS} is not allowed on this runner`)
      const badOptions = yield* Effect.flip(
        runShard(
          {
            ...request(files, 0, []),
            tools: [{ _tag: "Registry", name: "reuse_distance", options: { lineSize: 3 } }]
          },
          context
        )
      )
      assert.strictEqual(badOptions.failures[0]!.reason, "ShardInit")
      assert.strictEqual(badOptions.failures[0]!.tool, "reuse_distance")
    })
  )

  it.live("opens trace files only under the runner's trace roots, symbolic links resolved", () =>
    Effect.gen(function* () {
      const files = yield* Trace.list(THREADSIG)
      const tools = [Registry.makeSync("basic_counts")]
      const inside = { ...context, traceRoots: [fs.realpathSync(THREADSIG)] }
      const reply = yield* runShard(request(files, 0, tools), inside)
      assert.isAbove(reply.records, 0)
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-roots-"))
      try {
        const link = path.join(dir, "escape.zip")
        fs.symlinkSync(path.resolve(files[0]!), link)
        const error = yield* Effect.flip(
          runShard({ ...request(files, 0, tools), path: link }, { ...context, traceRoots: [fs.realpathSync(dir)] })
        )
        assert.strictEqual(error.failures[0]!.reason, "ReadError")
        assert.include(error.failures[0]!.message, "outside this runner's trace roots")
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  )

  it.live("a missing trace file is a ReadError naming it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        runShard(
          { ...request(["/nonexistent/t.zip"], 0, [Registry.makeSync("basic_counts")]), path: "/nonexistent/t.zip" },
          context
        )
      )
      assert.strictEqual(error.failures[0]!.reason, "ReadError")
      assert.include(error.failures[0]!.message, "/nonexistent/t.zip")
    })
  )
})

describe("WorkerPool", () => {
  it.live("runs shards on worker threads with the same results as runShard", () =>
    Effect.gen(function* () {
      const files = yield* Trace.list(THREADSIG)
      const tools = [Registry.makeSync("histogram")]
      const pool = yield* WorkerPool.make(2)
      const [a, b] = yield* Effect.all(
        [pool.run(request(files, 1, tools), context), runShard(request(files, 1, tools), context)],
        {
          concurrency: 2
        }
      )
      assert.deepStrictEqual(decoded(tools, a), decoded(tools, b))
    })
  )

  it.live("a worker thread that dies fails its shard with WorkerCrashed, and the pool goes on", () =>
    Effect.gen(function* () {
      const files = yield* Trace.list(THREADSIG)
      const pool = yield* WorkerPool.make(1)
      const crash = yield* Effect.flip(
        pool.run(request(files, 2, [counterSpec({ fault: "processExit", shard: 2, record: 10 })]), context)
      )
      assert.strictEqual(crash.failures[0]!.reason, "WorkerCrashed")
      assert.strictEqual(crash.failures[0]!.shard, 2)
      assert.include(crash.failures[0]!.message, "exited with code 7")
      const reply = yield* pool.run(request(files, 2, [Registry.makeSync("basic_counts")]), context)
      assert.isAbove(reply.records, 0)
    })
  )

  it.live("a thread that dies after its shard ended (a timer left behind) is dropped; the next shard runs", () =>
    Effect.gen(function* () {
      const files = yield* Trace.list(THREADSIG)
      const pool = yield* WorkerPool.make(1)
      for (const fault of ["afterThrow", "afterExit"] as const) {
        const first = yield* pool.run(request(files, 2, [counterSpec({ fault, shard: 2 })]), context)
        assert.isAbove(first.records, 0, fault)
        // The timer fires while the thread is idle in the pool.
        yield* Effect.sleep("300 millis")
        const next = yield* pool
          .run(request(files, 2, [Registry.makeSync("basic_counts")]), context)
          .pipe(Effect.timeout("30 seconds"))
        assert.strictEqual(next.records, first.records, fault)
      }
    })
  )

  it.live("interrupting a shard stops its thread at once, even inside a tool's synchronous work", () =>
    Effect.gen(function* () {
      const files = yield* Trace.list(THREADSIG)
      const pool = yield* WorkerPool.make(1)
      // 30 batches of 2 s: minutes of synchronous work if nothing stopped it.
      const fiber = yield* Effect.forkChild(pool.run(request(files, 1, [delayed("basic_counts", {}, 2000)]), context))
      yield* Effect.sleep("500 millis")
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      assert.isBelow(Date.now() - started, 1500)
      const reply = yield* pool.run(request(files, 0, [Registry.makeSync("basic_counts")]), context)
      assert.isAbove(reply.records, 0)
    })
  )
})
