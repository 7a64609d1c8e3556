import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { AnalyzeJson } from "../../src/cli/Json.ts"
import * as BasicCounts from "../../src/tools/BasicCounts.ts"

const entry = path.resolve("src/cli/main.ts")
const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

const analyze = (...args: Array<string>) => {
  const r = spawnSync(process.execPath, [entry, "analyze", "--indir", THREADSIG, "--json", ...args], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, CI: "true" }
  })
  assert.strictEqual(r.status, 0, r.stderr)
  return Schema.decodeUnknownSync(AnalyzeJson)(JSON.parse(r.stdout))
}

describe("memtrace analyze --json", () => {
  it("a thread-sharded run's document decodes with its Schema; shards add up to the totals", () => {
    const doc = analyze("--tool", "basic_counts", "--jobs", "2")
    assert.strictEqual(doc.mode, "thread-sharded")
    assert.strictEqual(doc.records, 928_110)
    assert.isAtLeast(doc.elapsedMs, 0)
    assert.isUndefined(doc.schedule)
    const tool = doc.tools[0]!
    assert.strictEqual(tool.name, "basic_counts")
    // Without --json-shards, the merged result only: its own per-thread counts.
    assert.isUndefined(tool.shards)
    const result = Schema.decodeUnknownSync(BasicCounts.Result)(tool.result)
    assert.strictEqual(result.shards.length, 9)
    assert.strictEqual(
      result.shards.reduce((a, s) => a + s.counts.counters.instrs, 0),
      result.total.counters.instrs
    )
    assert.deepStrictEqual(doc.failures, [])
  })

  it("--json-shards adds each shard's raw result, which merge back into the printed result", () => {
    const doc = analyze("--tool", "basic_counts", "--jobs", "2", "--json-shards")
    const tool = doc.tools[0]!
    const shards = tool.shards!
    assert.deepStrictEqual(
      shards.map((s) => s.shardIndex),
      [0, 1, 2, 3, 4, 5, 6, 7, 8]
    )
    const outcomes = shards.map((s) => ({
      shardIndex: s.shardIndex,
      shardType: s.shardType,
      result: Schema.decodeUnknownSync(Schema.toCodecJson(BasicCounts.ShardResult))(s.result)
    }))
    const merged = BasicCounts.basicCounts.merge(outcomes)
    assert.deepStrictEqual(Schema.encodeUnknownSync(Schema.toCodecJson(BasicCounts.Result))(merged), tool.result)
  })

  it("--json-shards without --json is a usage error", () => {
    const r = spawnSync(
      process.execPath,
      [entry, "analyze", "--indir", THREADSIG, "--tool", "basic_counts", "--json-shards"],
      {
        encoding: "utf8",
        env: { ...process.env, CI: "true" }
      }
    )
    assert.strictEqual(r.status, 2)
    assert.match(r.stderr, /--json-shards requires --json/)
    assert.strictEqual(r.stdout, "")
  })

  it("a core-sharded run carries each core's scheduler statistics and record counts", () => {
    const doc = analyze("--tool", "basic_counts", "--core-sharded", "--cores", "2", "--sched-block-scale", "0.01")
    assert.strictEqual(doc.mode, "core-sharded")
    const schedule = doc.schedule!
    assert.deepStrictEqual(
      schedule.map((o) => o.output),
      [0, 1]
    )
    // Every trace record ran on exactly one core.
    assert.strictEqual(
      schedule.reduce((a, o) => a + o.records, 0),
      doc.records
    )
    // Each core's switches into an input: from another input or from idle; at least one core switched.
    assert.isAbove(
      schedule.reduce((a, o) => a + o.statistics.switchInputToInput + o.statistics.switchIdleToInput, 0),
      0
    )
    assert.isUndefined(doc.tools[0]!.shards)
  })
})

describe("memtrace analyze --json with intervals", () => {
  it("carries the whole-trace interval snapshots, whose deltas add up to the instructions", () => {
    const doc = analyze("--tool", "basic_counts", "--jobs", "2", "--interval-microseconds", "20000")
    const intervals = doc.intervals!
    assert.strictEqual(intervals.kind, "whole-trace")
    const snapshots = intervals.tools[0]!.lists[0]!.snapshots
    assert.isAbove(snapshots.length, 1)
    assert.strictEqual(
      snapshots.reduce((a, s) => a + s.instrCountDelta, 0),
      650_576
    )
    // Time intervals end at exact multiples of the interval (in microseconds).
    for (const s of snapshots) assert.strictEqual(BigInt(s.endTimestamp) % 20000n, 0n)
  })
})
