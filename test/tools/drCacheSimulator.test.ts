/**
 * DynamoRIO's clients/drcachesim/tests/drcachesim_unit_tests.cpp cache
 * simulator tests, ported onto memtrace's `cache_simulator` tool
 * (src/tools/CacheSimulator.ts): one `it` per DynamoRIO sub-case, asserting
 * DynamoRIO's expectation.
 *
 * How DynamoRIO's objects map onto the tool:
 * - `cache_simulator_t(knobs)` / `process_memref` = `CacheSimulator.make(options)`,
 *   then `makeShard` and `processBatch` (record by record where DynamoRIO
 *   looks at the simulator between records); `is_warmed_up()` and
 *   `remaining_sim_refs()` are the shard's `sim.warmedUp` and `sim.simRefs`;
 *   `get_cache_metric(m, 1, 0, DATA)` = `result.cores[0].l1d`, level 2 =
 *   `result.ll`.
 * - A bare `cache_t` (no parent) driven by `cache.request` is the tool's L1D:
 *   the tool's L1D is non-inclusive, non-exclusive and without coherence, so
 *   its own hits and misses do not depend on the LLC above it. The LLC and
 *   L1I are given a small valid geometry for the same line size.
 * - `cache_t::init` returning false = `CacheSimulator.make` failing.
 *
 * Already covered in CacheSimulator.test.ts (not repeated here):
 * unit_test_compulsory_misses, unit_test_nextline_prefetcher,
 * unit_test_warmup_fraction, unit_test_metrics_API, and
 * unit_test_core_sharded's first and third blocks. Not expressible, as
 * memtrace has none of them: exclusive caches, cache config files, custom
 * prefetchers, cache names and re-parenting (unit_test_exclusive_cache*,
 * unit_test_custom_prefetcher, unit_test_set_parent, most of
 * unit_test_cache_accessors), and a third cache level (unit_test_child_hits'
 * last check).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Tool from "../../src/analyzer/Tool.ts"
import * as CacheSimulator from "../../src/tools/CacheSimulator.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import { simulateBatches } from "./CacheSimulator.run.ts"

/** DynamoRIO's `MY_TID`. */
const MY_TID = 1

/** DynamoRIO's `make_test_knobs()`: one core, three 32-line fully associative caches, no prefetcher. */
const testKnobs = {
  cores: 1,
  l1iSize: 32 * 64,
  l1dSize: 32 * 64,
  l1iAssoc: 32,
  l1dAssoc: 32,
  llSize: 32 * 64,
  llAssoc: 32,
  dataPrefetcher: "none"
} as const

type SimTool = Tool.Tool<
  CacheSimulator.State,
  CacheSimulator.Result,
  CacheSimulator.Result,
  CacheSimulator.SimulatorError
>

const make = (options: Partial<CacheSimulator.Options>): SimTool => Effect.runSync(CacheSimulator.make(options))

/** One memref: `type`, `size`, `addr` (markers: `size` = marker type, `addr` = value). */
interface Ref {
  readonly type: number
  readonly size: number
  readonly addr: number
}

/** DynamoRIO's `make_memref(addr, type = READ, size = 4)`. */
const memref = (addr: number, type: number = TraceType.READ, size = 4): Ref => ({ type, size, addr })

/** The CACHE_LINE_SIZE marker (value 64) DynamoRIO's ref-counting tests start with. */
const lineSizeMarker: Ref = { type: TraceType.MARKER, size: MarkerType.CACHE_LINE_SIZE, addr: 64 }

/** The refs as one batch of thread MY_TID's records. */
const batchOf = (refs: ReadonlyArray<Ref>): RecordBatch.RecordBatch => {
  const b = RecordBatch.make(Math.max(RecordBatch.MIN_CAPACITY, refs.length))
  refs.forEach((r, i) => {
    b.type[i] = r.type
    b.size[i] = r.size
    b.addrLo[i] = r.addr >>> 0
    b.addrHi[i] = Math.floor(r.addr / 4294967296)
    b.tid[i] = MY_TID
    b.pid[i] = MY_TID
  })
  RecordBatch.setLength(b, refs.length)
  return b
}

/** Runs the refs through a fresh thread-sharded simulator and returns its merged result and text. */
const run = (tool: SimTool, refs: ReadonlyArray<Ref>) => {
  const r = simulateBatches(tool, [batchOf(refs)], "thread")
  assert.isUndefined(r.signal)
  return r
}

/** A simulator fed one record at a time, its state open to inspection between records. */
const stepper = (tool: SimTool) => {
  const state = tool.makeShard({ shardIndex: 0, shardType: "thread", serial: true, outputCount: 1 })
  const ctx: Tool.BatchContext = { output: 0, input: 0, outputRecordsBefore: 0, inputRecordsBefore: 0 }
  return {
    state,
    /** `process_memref`: undefined = true; a signal = false (Stop: soft exit; Fail: error string). */
    process: (ref: Ref) => tool.processBatch(state, batchOf([ref]), 0, 1, ctx)
  }
}

/** DynamoRIO's `generate_2D_accesses`: 4-byte reads at start + a * stepA + b * stepB, `loops` times. */
const accesses2D = (
  start: number,
  stepA: number,
  countA: number,
  stepB: number,
  countB: number,
  loops = 1
): Array<Ref> => {
  const refs: Array<Ref> = []
  for (let i = 0; i < loops; ++i) {
    for (let a = 0; a < countA; ++a) {
      for (let b = 0; b < countB; ++b) refs.push(memref(start + a * stepA + b * stepB))
    }
  }
  return refs
}

/** DynamoRIO's `generate_1D_accesses`. */
const accesses1D = (start: number, step: number, count: number, loops = 1) =>
  accesses2D(start, step, count, 0, 1, loops)

/**
 * Options whose L1D is DynamoRIO's bare `cache_t`; the L1I and LLC get a
 * small valid geometry (16 lines, direct mapped) for the same line size.
 */
const l1dAlone = (
  assoc: number,
  lineSize: number,
  size: number,
  replacePolicy: CacheSimulator.Options["replacePolicy"] = "LRU"
): Partial<CacheSimulator.Options> => ({
  cores: 1,
  lineSize,
  l1dAssoc: assoc,
  l1dSize: size,
  l1iAssoc: 1,
  l1iSize: 16 * lineSize,
  llAssoc: 1,
  llSize: 16 * lineSize,
  replacePolicy,
  dataPrefetcher: "none"
})

const isPowerOf2 = (n: number) => n > 0 && (n & (n - 1)) === 0

describe("drcachesim_unit_tests.cpp on memtrace's cache_simulator", () => {
  it("unit_test_warmup_refs: markers do not count towards -warmup_refs; warmed up exactly at the 16th read", () => {
    const tool = make({ ...testKnobs, warmupRefs: 16 })
    const sim = stepper(tool)
    const WARMUP_REFS = 16
    const MARKER_COUNT = 4
    for (let i = 0; i < MARKER_COUNT + WARMUP_REFS; ++i) {
      assert.isFalse(sim.state.sim.warmedUp, `warmed up too early, before record ${i}`)
      const ref = i < MARKER_COUNT ? lineSizeMarker : memref(i * 128, TraceType.READ, 8)
      assert.isUndefined(sim.process(ref), `process_memref failed at record ${i}`)
    }
    assert.isTrue(sim.state.sim.warmedUp)
  })

  it("unit_test_sim_refs: markers do not count towards -sim_refs; stops at the record after the 8th read", () => {
    const tool = make({ ...testKnobs, simRefs: 8 })
    const sim = stepper(tool)
    const REF_LIMIT = 8
    const MARKER_COUNT = 3
    let i: number
    for (i = 0; i < MARKER_COUNT + REF_LIMIT + 100; ++i) {
      const ref = i < MARKER_COUNT ? lineSizeMarker : memref(i * 128, TraceType.READ, 8)
      const signal = sim.process(ref)
      if (signal !== undefined) {
        // A soft exit, never an error.
        assert.strictEqual(signal._tag, "Stop", `process_memref failed with an error at record ${i}`)
        break
      }
    }
    // The exit is on the subsequent memref, so allow ==.
    assert.isAtMost(i, MARKER_COUNT + REF_LIMIT, "went too far")
    assert.strictEqual(sim.state.sim.simRefs, 0, "has remaining refs")
  })

  it("unit_test_skip_refs: markers do not count towards -skip_refs; warmed up exactly at the 16th read after 16 skipped", () => {
    const tool = make({ ...testKnobs, skipRefs: 16, warmupRefs: 16 })
    const sim = stepper(tool)
    const SKIP_REFS = 16
    const WARMUP_REFS = 16
    const MARKER_COUNT = 4
    for (let i = 0; i < MARKER_COUNT + SKIP_REFS + WARMUP_REFS; ++i) {
      assert.isFalse(sim.state.sim.warmedUp, `warmed up too early, before record ${i}`)
      const ref = i < MARKER_COUNT ? lineSizeMarker : memref(i * 128, TraceType.READ, 8)
      assert.isUndefined(sim.process(ref), `process_memref failed at record ${i}`)
    }
    assert.isTrue(sim.state.sim.warmedUp)
  })

  it("unit_test_child_hits: hits below count as child hits above (L1D and L2; memtrace's LL plays L2)", () => {
    // DynamoRIO's 3-level config: L1I/L1D 256 B 4-way, L2 8K 8-way inclusive, LLC 1M 8-way inclusive.
    // memtrace has two levels: its LL takes L2's geometry; the level-3 assertion cannot be made.
    const tool = make({
      cores: 1,
      lineSize: 64,
      l1iSize: 256,
      l1iAssoc: 4,
      l1dSize: 256,
      l1dAssoc: 4,
      llSize: 8 * 1024,
      llAssoc: 8,
      dataPrefetcher: "none"
    })
    const num_accesses = 16
    const refs = Array.from({ length: num_accesses }, (_, i) => memref(64 + i, TraceType.READ, 1))
    const { result } = run(tool, refs)
    const l1d = result.cores[0]!.l1d
    assert.deepStrictEqual(
      {
        l1dChildHits: l1d.childHits,
        l1dMisses: l1d.misses,
        l1dHits: l1d.hits,
        l2Misses: result.ll.misses,
        l2Hits: result.ll.hits,
        l2ChildHits: result.ll.childHits
      },
      {
        l1dChildHits: 0,
        l1dMisses: 1,
        l1dHits: num_accesses - 1,
        l2Misses: 1,
        l2Hits: 0,
        l2ChildHits: num_accesses - 1
      }
    )
  })

  /** DynamoRIO's regex over print_results() for unit_test_core_sharded's second block. */
  const CORES_123400_567800 =
    /[\s\S]*\nCore #0 \(traced CPU\(s\): #123400\)\n[\s\S]*\nCore #1 \(traced CPU\(s\): #567800\)\n[\s\S]*\n/

  it("unit_test_core_sharded: large cpu ids from the stream map to cores 0 and 1 and are listed in the report", () => {
    // DynamoRIO sets the cpu ids on the stream (set_output_cpuid); memtrace's stream-side equivalent is the
    // ShardInfo the analyzer gives a core-serial shard (`outputCpuids`, DynamoRIO's get_output_cpuid per output).
    const tool = make({ ...testKnobs, cores: 2 })
    assert.isUndefined(tool.initializeShardType?.("core"))
    const state = tool.makeShard({
      shardIndex: 0,
      shardType: "core",
      serial: true,
      outputCount: 2,
      outputCpuids: [123400, 567800]
    })
    const b = batchOf([memref(42), memref(42)])
    for (const output of [0, 1]) {
      const ctx: Tool.BatchContext = { output, input: 0, outputRecordsBefore: output, inputRecordsBefore: output }
      assert.isUndefined(tool.processBatch(state, b, output, output + 1, ctx))
    }
    const result = tool.merge([
      { shardIndex: 0, shardType: "core", result: tool.finishShard(state) as CacheSimulator.Result }
    ])
    assert.match(tool.print(result), CORES_123400_567800)
  })

  it("unit_test_core_sharded: large cpu ids given as the outputCpuids option map to cores 0 and 1 and are listed", () => {
    const tool = make({ ...testKnobs, cores: 2, outputCpuids: [123400, 567800] })
    // initialize_shard_type(SHARD_BY_CORE) returns no error.
    assert.isUndefined(tool.initializeShardType?.("core"))
    // make_memref(42) on shard 0 (cpu 123400), then on shard 1 (cpu 567800).
    const r = simulateBatches(tool, [batchOf([memref(42), memref(42)])], "core", (i) => i)
    assert.isUndefined(r.signal)
    assert.match(r.text, CORES_123400_567800)
  })

  it("unit_test_cache_accessors: geometry and replacement policy of every tested combination", () => {
    const TEST_ASSOCIATIVITIES = [1, 7, 16]
    const TEST_SET_COUNTS = [16, 128, 512]
    const TEST_LINE_SIZES = [16, 64, 256]
    const expected: Array<object> = []
    const actual: Array<object> = []
    for (const associativity of TEST_ASSOCIATIVITIES) {
      for (const set_count of TEST_SET_COUNTS) {
        for (const line_size of TEST_LINE_SIZES) {
          const total_size = associativity * set_count * line_size
          // initialized
          const l1d = run(make(l1dAlone(associativity, line_size, total_size)), []).result.cores[0]!.l1d
          expected.push({
            policy: "LRU",
            associativity,
            sizeBytes: total_size,
            blockSize: line_size,
            numBlocks: total_size / line_size
          })
          actual.push({
            policy: l1d.policy,
            associativity: l1d.assoc,
            sizeBytes: l1d.sizeBytes,
            blockSize: l1d.blockSize,
            numBlocks: l1d.sizeBytes / l1d.blockSize
          })
        }
      }
    }
    assert.deepStrictEqual(actual, expected)
  })

  describe("unit_test_cache_associativity", () => {
    const LINE_SIZE = 32
    const BLOCKS_PER_WAY = 16
    const NUM_LOOPS = 3
    for (let assoc = 1; assoc <= 16; ++assoc) {
      it(`LRU assoc=${assoc}: test_assoc 1..${2 * assoc} conflicting lines per set`, () => {
        const total_size = LINE_SIZE * BLOCKS_PER_WAY * assoc
        const tool = make(l1dAlone(assoc, LINE_SIZE, total_size))
        const expected: Array<object> = []
        const actual: Array<object> = []
        for (let test_assoc = 1; test_assoc <= 2 * assoc; ++test_assoc) {
          const start_address = test_assoc * total_size
          const refs = accesses2D(start_address, LINE_SIZE, BLOCKS_PER_WAY, total_size, test_assoc, NUM_LOOPS)
          const read_count = refs.length
          assert.strictEqual(read_count, NUM_LOOPS * BLOCKS_PER_WAY * test_assoc)
          const l1d = run(tool, refs).result.cores[0]!.l1d
          assert.strictEqual(l1d.assoc, assoc)
          const expected_misses = test_assoc <= assoc ? BLOCKS_PER_WAY * test_assoc : read_count
          expected.push({ test_assoc, hits: read_count - expected_misses, misses: expected_misses })
          actual.push({ test_assoc, hits: l1d.hits, misses: l1d.misses })
        }
        assert.deepStrictEqual(actual, expected)
      })
    }
  })

  describe("unit_test_cache_size", () => {
    const LINE_SIZE = 64
    const NUM_LOOPS = 3
    for (const cache_size_kb of [16, 32, 48, 256, 768, 2048]) {
      const cache_size = cache_size_kb * 1024
      const associativity = isPowerOf2(cache_size_kb) ? 2 : 3
      it(`LRU ${cache_size_kb} KiB ${associativity}-way: buffers of half and full size`, () => {
        const tool = make(l1dAlone(associativity, LINE_SIZE, cache_size))
        const expected: Array<object> = []
        const actual: Array<object> = []
        for (let buffer_size = cache_size / 2; buffer_size < cache_size * 2; buffer_size *= 2) {
          const refs = accesses1D(0, LINE_SIZE, buffer_size / LINE_SIZE, NUM_LOOPS)
          const l1d = run(tool, refs).result.cores[0]!.l1d
          assert.strictEqual(l1d.sizeBytes, cache_size)
          const expected_misses =
            buffer_size <= cache_size ? buffer_size / LINE_SIZE : (buffer_size * NUM_LOOPS) / LINE_SIZE
          expected.push({ buffer_size, hits: refs.length - expected_misses, misses: expected_misses })
          actual.push({ buffer_size, hits: l1d.hits, misses: l1d.misses })
        }
        assert.deepStrictEqual(actual, expected)
      })
    }
  })

  describe("unit_test_cache_line_size", () => {
    const BLOCKS_PER_WAY = 16
    const ASSOCIATIVITY = 2
    for (let line_size = 16; line_size <= 256; line_size *= 2) {
      it(`LFU line_size=${line_size}: strides of half and one line`, () => {
        const cache_line_count = BLOCKS_PER_WAY * ASSOCIATIVITY
        const total_cache_size = line_size * cache_line_count
        const tool = make(l1dAlone(ASSOCIATIVITY, line_size, total_cache_size, "LFU"))
        const expected: Array<object> = []
        const actual: Array<object> = []
        for (let stride = line_size / 2; stride < line_size * 2; stride *= 2) {
          const refs = accesses1D(0, stride, total_cache_size / stride)
          const read_count = refs.length
          assert.strictEqual(read_count, total_cache_size / stride)
          const l1d = run(tool, refs).result.cores[0]!.l1d
          const expected_misses = stride <= line_size ? cache_line_count : total_cache_size / stride
          expected.push({ stride, hits: read_count - expected_misses, misses: expected_misses })
          actual.push({ stride, hits: l1d.hits, misses: l1d.misses })
        }
        assert.deepStrictEqual(actual, expected)
      })
    }
  })

  describe("unit_test_cache_bad_configs", () => {
    // Safe values DynamoRIO is not testing.
    const SAFE_ASSOC = 1
    const SAFE_LINE_SIZE = 32
    const SAFE_CACHE_SIZE = 1024
    const safe = l1dAlone(SAFE_ASSOC, SAFE_LINE_SIZE, SAFE_CACHE_SIZE)

    /** Each option's names: memtrace's, and DynamoRIO's flag. */
    const NAMES = {
      l1dAssoc: ["l1dAssoc", "L1D_assoc"],
      l1dSize: ["l1dSize", "L1D_size"],
      lineSize: ["lineSize", "line_size"],
      replacePolicy: ["replacePolicy", "replace_policy"]
    } as const
    type Option = keyof typeof NAMES

    interface Case {
      readonly label: string
      readonly options: Partial<CacheSimulator.Options>
      /** The option(s) at fault: the error should name one of them. */
      readonly culprits: ReadonlyArray<Option>
    }

    const zeroes: ReadonlyArray<Case> = [
      { label: "assoc 0", options: { ...safe, l1dAssoc: 0 }, culprits: ["l1dAssoc"] },
      { label: "line size 0", options: { ...safe, lineSize: 0 }, culprits: ["lineSize"] },
      { label: "size 0", options: { ...safe, l1dSize: 0 }, culprits: ["l1dSize"] },
      // DynamoRIO's null replacement policy: at the tool level, a policy name create_cache_replacement_policy
      // does not know (it returns nullptr, and init fails).
      {
        label: "no replacement policy",
        options: { ...safe, replacePolicy: "NONE" as CacheSimulator.Options["replacePolicy"] },
        culprits: ["replacePolicy"]
      }
    ]
    const lineSizes: ReadonlyArray<Case> = [1, 2, 7, 65].map((lineSize) => ({
      label: `line size ${lineSize}`,
      options: { ...safe, lineSize },
      culprits: ["lineSize"]
    }))
    const combos: ReadonlyArray<Case> = [
      { assoc: 3, size: 1024 },
      { assoc: 4, size: 768 },
      { assoc: 64, size: 64 },
      { assoc: 16, size: 8 * SAFE_LINE_SIZE }
    ].map((c) => ({
      label: `assoc ${c.assoc} size ${c.size}`,
      options: { ...safe, l1dAssoc: c.assoc, l1dSize: c.size },
      culprits: ["l1dAssoc", "l1dSize"]
    }))

    const outcome = (c: Case) => Effect.runSync(Effect.result(CacheSimulator.make(c.options)))

    /** The cases not refused with a typed InvalidOptions error (DynamoRIO: `init` returns false for all). */
    const accepted = (cases: ReadonlyArray<Case>) =>
      cases.flatMap((c) => {
        const r = outcome(c)
        return r._tag === "Failure" &&
          r.failure instanceof CacheSimulator.SimulatorError &&
          r.failure.reason === "InvalidOptions"
          ? []
          : [c.label]
      })

    /** The refused cases whose error does not name the option at fault, with the error's text. */
    const unnamed = (cases: ReadonlyArray<Case>) =>
      cases.flatMap((c) => {
        const r = outcome(c)
        if (r._tag !== "Failure") return [{ label: c.label, detail: "(accepted)" }]
        const detail = r.failure.detail
        const named = c.culprits.some((o) => NAMES[o].some((n) => new RegExp(`\\b${n}\\b`, "i").test(detail)))
        return named ? [] : [{ label: c.label, detail }]
      })

    it("the safe configuration itself is accepted", () => {
      assert.strictEqual(outcome({ label: "safe", options: safe, culprits: [] })._tag, "Success")
    })

    it("0 parameters (and no replacement policy) are refused", () => {
      assert.deepStrictEqual(accepted(zeroes), [])
    })
    it("bad line sizes (<4 and/or non-power-of-two) are refused", () => {
      assert.deepStrictEqual(accepted(lineSizes), [])
    })
    it("bad associativity and size combinations are refused", () => {
      assert.deepStrictEqual(accepted(combos), [])
    })

    // memtrace's own requirement: a refused configuration is a typed error naming the option at fault.
    it("0 parameters: the error names the option", () => {
      assert.deepStrictEqual(unnamed(zeroes), [])
    })
    it("bad line sizes: the error names the option", () => {
      assert.deepStrictEqual(unnamed(lineSizes), [])
    })
    it("bad associativity and size combinations: the error names the option", () => {
      assert.deepStrictEqual(unnamed(combos), [])
    })
  })

  it("unit_test_custom_prefetcher (not expressible): data_prefetcher 'custom' is refused with a typed error naming the option", () => {
    // DynamoRIO's test plugs in a prefetcher_factory_t; memtrace has no custom prefetchers.
    const r = Effect.runSync(
      Effect.result(
        CacheSimulator.make({ ...testKnobs, dataPrefetcher: "custom" as CacheSimulator.Options["dataPrefetcher"] })
      )
    )
    assert.strictEqual(r._tag, "Failure")
    if (r._tag === "Failure") {
      assert.strictEqual(r.failure.reason, "InvalidOptions")
      assert.match(r.failure.detail, /\b(dataPrefetcher|data_prefetcher)\b/i)
    }
  })
})
