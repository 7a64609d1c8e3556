/**
 * The cache simulator tool: DynamoRIO's unit-test scenarios restated on
 * synthetic streams, core placement, ref counting options, printing, errors,
 * and the chase-snappy serial vector against DynamoRIO's own output.
 */

import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as CacheSimulator from "../../src/tools/CacheSimulator.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import { as, rate, row, simulate, simulateBatches, stream } from "./CacheSimulator.run.ts"

const { instr, read, write, entry, marker, cpu, exit } = Synthetic

/** DynamoRIO's `make_test_knobs()`: one core, three 32-line fully associative caches, no prefetcher. */
const small = {
  cores: 1,
  l1iSize: 32 * 64,
  l1dSize: 32 * 64,
  l1iAssoc: 32,
  l1dAssoc: 32,
  llSize: 32 * 64,
  llAssoc: 32,
  dataPrefetcher: "none"
} as const

const make = (options: Partial<CacheSimulator.Options>) => Effect.runSync(CacheSimulator.make(options))

const times = <A>(n: number, f: (i: number) => A): Array<A> => Array.from({ length: n }, (_, i) => f(i))

describe("DynamoRIO's unit-test scenarios", () => {
  // Four writes to 0, four instruction fetches at 0, four software prefetches of line 1, four
  // data flushes of line 1 (drcachesim_unit_tests unit_test_metrics_API).
  // L1D: write miss (line 0), 3 hits; prefetch miss (line 1), 3 prefetch hits; 4 flushes.
  // L1I: miss, 3 hits. LLC: line 0 missed for the write, hit for the fetch; line 1 a prefetch miss;
  // 4 flushes (a flush goes on to the parent). Child hits = 3 + 3 + 3 = 9.
  const body = [
    ...times(4, () => write(0, 8)),
    ...times(4, () => instr(0, TraceType.INSTR, 8)),
    ...times(4, () => entry(TraceType.PREFETCH, 8, 64)),
    ...times(4, () => entry(TraceType.DATA_FLUSH, 8, 64)),
    exit(1)
  ]
  const expected =
    "Cache simulation results:\n" +
    "Core #0 (1 thread(s))\n" +
    "  L1I0 (size=2048, assoc=32, block=64, LRU) stats:\n" +
    row("Hits:", 3) +
    row("Misses:", 1) +
    row("Compulsory misses:", 1) +
    row("Invalidations:", 0) +
    rate("Miss rate:", "25.00") +
    "  L1D0 (size=2048, assoc=32, block=64, LRU) stats:\n" +
    row("Hits:", 3) +
    row("Misses:", 1) +
    row("Compulsory misses:", 2) +
    row("Invalidations:", 0) +
    row("Flushes:", 4) +
    row("Prefetch hits:", 3) +
    row("Prefetch misses:", 1) +
    rate("Miss rate:", "25.00") +
    "LL (size=2048, assoc=32, block=64, LRU) stats:\n" +
    row("Hits:", 1) +
    row("Misses:", 1) +
    row("Compulsory misses:", 2) +
    row("Invalidations:", 0) +
    row("Flushes:", 4) +
    row("Prefetch hits:", 0) +
    row("Prefetch misses:", 1) +
    rate("Local miss rate:", "50.00") +
    row("Child hits:", 9) +
    rate("Total miss rate:", "9.09")

  it("counts demand, instruction, prefetch and flush records as DynamoRIO's metrics test does", () => {
    const run = simulate(make(small), stream(as(1, ...body)))
    assert.isUndefined(run.signal)
    assert.strictEqual(run.text, expected)
    const ll = run.result.ll
    assert.strictEqual(ll.flushes, 4)
    assert.strictEqual(run.result.cores[0]!.l1d.prefetchHits, 3)
  })

  it("gives the same results whatever the batch boundaries", () => {
    // Capacity 9 makes the decoder hand out batches of one or two records.
    const a = simulate(make(small), stream(as(1, ...body)))
    const b = simulate(make(small), stream(as(1, ...body)), { batchCapacity: 9 })
    assert.deepStrictEqual(b.result, a.result)
  })

  it("counts compulsory misses once per line (unit_test_compulsory_misses)", () => {
    // A 4-line fully associative L1I: lines 0..4 miss (line 4 evicts line 0), then line 0 misses again.
    const sim = make({ ...small, l1iSize: 4 * 64, l1iAssoc: 4 })
    const run = simulate(sim, stream(as(1, ...times(5, (i) => instr(i * 64, TraceType.INSTR, 8)), instr(0))))
    assert.strictEqual(run.result.cores[0]!.l1i.misses, 6)
    assert.strictEqual(run.result.cores[0]!.l1i.compulsoryMisses, 5)
  })

  it("invalidates flushed lines in the core's L1 and the LLC", () => {
    // Read lines 0..3 and fetch line 8; flush data [0x40, 0xbf] (start/end entry pair: lines 1
    // and 2) and instructions at line 8 (8 bytes). Re-reading lines 0..3 then hits 0 and 3 and
    // misses 1 and 2 in both L1D and LLC (none compulsory); re-fetching line 8 misses in L1I and LLC.
    const run = simulate(
      make(small),
      stream(
        as(
          1,
          ...times(4, (i) => read(i * 64)),
          instr(0x200),
          entry(TraceType.DATA_FLUSH, 0, 0x40),
          entry(TraceType.DATA_FLUSH_END, 0, 0xc0),
          entry(TraceType.INSTR_FLUSH, 8, 0x200),
          ...times(4, (i) => read(i * 64)),
          instr(0x200)
        )
      )
    )
    const { l1i, l1d } = run.result.cores[0]!
    assert.deepStrictEqual([l1d.hits, l1d.misses, l1d.compulsoryMisses, l1d.flushes], [2, 6, 4, 1])
    assert.deepStrictEqual([l1i.hits, l1i.misses, l1i.compulsoryMisses, l1i.flushes], [0, 2, 1, 1])
    assert.deepStrictEqual([run.result.ll.misses, run.result.ll.compulsoryMisses, run.result.ll.flushes], [8, 5, 2])
  })

  it("halves sequential misses with the next-line prefetcher (unit_test_nextline_prefetcher)", () => {
    const reads = as(1, ...times(6, (i) => read(i * 64, 4)))
    assert.strictEqual(simulate(make(small), stream(reads)).result.cores[0]!.l1d.misses, 6)
    const nextline = make({ ...small, dataPrefetcher: "nextline" })
    assert.strictEqual(simulate(nextline, stream(reads)).result.cores[0]!.l1d.misses, 3)
  })
})

describe("core placement in thread-sharded serial runs", () => {
  it("puts a new thread on the core with the fewest live threads and frees it at exit", () => {
    // 2 cores. T1 -> core 0; T2 -> core 1 (fewest); T1 exits; T3 -> core 0, where it finds T1's line.
    const sim = make({ cores: 2 })
    const run = simulate(
      sim,
      stream([
        ...as(1, instr(0x1000)),
        ...as(2, instr(0x2000)),
        ...as(1, exit(1)),
        ...as(3, instr(0x1000)),
        ...as(2, exit(2)),
        ...as(3, exit(3))
      ])
    )
    const [c0, c1] = run.result.cores
    assert.strictEqual(c0!.summary.threads, 2)
    assert.strictEqual(c1!.summary.threads, 1)
    assert.strictEqual(c0!.l1i.hits, 1)
    assert.strictEqual(c0!.l1i.misses, 1)
    assert.strictEqual(c1!.l1i.misses, 1)
    assert.isTrue(run.text.includes("Core #0 (2 thread(s))\n  L1I0 (size=32768, assoc=8, block=64, LRU) stats:\n"))
    assert.isTrue(run.text.includes("Core #1 (1 thread(s))\n"))
  })

  it("places a thread at its first record of any kind once any non-marker was seen", () => {
    // T1's fetch is the first non-marker. T2 only has a timestamp: it is placed there, on core 1.
    // T3 then finds both cores with one thread and takes core 0 (lowest), hitting T1's line.
    // Core 1 is printed (it had a thread) with empty caches and no miss-rate rows.
    const run = simulate(
      make({ cores: 2, dataPrefetcher: "none" }),
      stream([...as(1, instr(0x1000)), ...as(2, Synthetic.timestamp(5)), ...as(3, instr(0x1000))])
    )
    const [c0, c1] = run.result.cores
    assert.strictEqual(c0!.summary.threads, 2)
    assert.strictEqual(c1!.summary.threads, 1)
    assert.strictEqual(c0!.l1i.hits, 1)
    assert.isTrue(
      run.text.includes(
        "Core #1 (1 thread(s))\n  L1I1 (size=32768, assoc=8, block=64, LRU) stats:\n" +
          row("Hits:", 0) +
          row("Misses:", 0) +
          row("Compulsory misses:", 0) +
          row("Invalidations:", 0) +
          "  L1D1 "
      )
    )
  })

  it("does not place anything before the first non-marker record", () => {
    // The stream's VERSION/FILETYPE markers and T9's timestamp come before any access: no placement.
    const run = simulate(make({ cores: 2 }), stream([...as(9, Synthetic.timestamp(1)), ...as(1, instr(0x1000))]))
    assert.deepStrictEqual(
      run.result.cores.map((c) => c.summary.threads),
      [1, 0]
    )
    assert.isTrue(run.text.includes("Core #0 (1 thread(s))\n"))
    assert.isTrue(run.text.includes("Core #1 (0 thread(s))\nLL "))
  })

  it("maps traced cpus to cores with -cpu_scheduling and lists them in libstdc++ map order", () => {
    // cpu 5 -> core 0, cpu 3 -> core 1, cpu 7 -> core 0 (both cores have one cpu; lowest wins).
    // T3 on cpu 7 runs on core 0 and hits T1's line. DynamoRIO walks an unordered_map<int64,int>
    // whose keys 5, 3, 7 fall in distinct buckets, each new one linked first: 7, 3, 5.
    const run = simulate(
      make({ cores: 2, cpuScheduling: true }),
      stream([...as(1, cpu(5), instr(0x1000)), ...as(2, cpu(3), instr(0x2000)), ...as(3, cpu(7), instr(0x1000))])
    )
    assert.strictEqual(run.result.cores[0]!.l1i.hits, 1)
    assert.isTrue(run.text.includes("Core #0 (2 traced CPU(s): #7, #5)\n"))
    assert.isTrue(run.text.includes("Core #1 (1 traced CPU(s): #3)\n"))
  })

  it("ignores unknown (-1) cpus with -cpu_scheduling and falls back to thread counts", () => {
    const run = simulate(make({ cores: 2, cpuScheduling: true }), stream([...as(1, cpu(-1), instr(0x1000))]))
    assert.strictEqual(run.result.cores[0]!.l1i.misses, 1)
    assert.isTrue(run.text.includes("Core #0 (0 traced CPU(s))\nCore #1 (0 traced CPU(s))\n"))
  })
})

describe("core-sharded runs", () => {
  const body = stream([
    ...as(1, instr(0x1000), read(0x8000)),
    ...as(2, instr(0x1000), read(0x8000)),
    ...as(2, marker(MarkerType.CORE_IDLE, 0))
  ])
  // Visible records: 0 VERSION, 1 FILETYPE, 2-3 T1, 4-5 T2, 6 idle.
  const outputOf = (i: number) => (i < 4 ? 2 : i < 6 ? 0 : 1)

  it("runs each record on its output's core and lists the output's cpu", () => {
    const run = simulate(CacheSimulator.tool, body, { shardType: "core", outputOf })
    const [c0, c1, c2] = run.result.cores
    assert.strictEqual(c2!.l1i.misses, 1)
    assert.strictEqual(c0!.l1i.misses, 1)
    assert.strictEqual(run.result.ll.hits, 2)
    // The idle record on output 1 does not make core 1 active.
    assert.isTrue(run.text.startsWith("Cache simulation results:\nCore #0 (traced CPU(s): #0)\n  L1I0 "))
    assert.isTrue(run.text.includes("Core #1 (traced CPU(s): )\nCore #2 (traced CPU(s): #2)\n  L1I2 "))
    assert.isTrue(run.text.includes("Core #3 (traced CPU(s): )\nLL "))
    assert.deepStrictEqual(c1!.summary.cpus, [])
  })

  it("lists the cpu ids given for the outputs", () => {
    const run = simulate(Effect.runSync(CacheSimulator.make({ outputCpuids: [10, 11, 12, 13] })), body, {
      shardType: "core",
      outputOf
    })
    assert.isTrue(run.text.includes("Core #2 (traced CPU(s): #12)\n"))
  })

  it("fails on an output beyond the core count", () => {
    const run = simulate(make({ cores: 2 }), body, { shardType: "core", outputOf })
    assert.strictEqual(run.signal?._tag, "Fail")
    assert.strictEqual(run.failedAt, 0)
    const error = (run.signal as { error: CacheSimulator.SimulatorError }).error
    assert.strictEqual(error.reason, "TooSmallCoreCount")
    assert.strictEqual(error.detail, "Too-small core count 2 for trace core #2")
  })

  it("refuses -cpu_scheduling with core shards, before any shard starts", () => {
    const tool = make({ cpuScheduling: true })
    const error = tool.initializeShardType?.("core")
    assert.strictEqual(error?.reason, "InvalidOptions")
    assert.isTrue(error?.detail.startsWith("Usage error: -cpu_scheduling not supported with -core_serial"))
    assert.isUndefined(tool.initializeShardType?.("thread"))
    assert.isUndefined(make({}).initializeShardType?.("core"))
  })
})

describe("ref counting options", () => {
  it("stops after -sim_refs non-marker records (soft exit)", () => {
    // Three markers, then 20 reads of distinct lines; only 8 reads are simulated.
    const run = simulate(
      make({ ...small, simRefs: 8 }),
      stream(as(1, ...times(3, (i) => Synthetic.timestamp(i + 1)), ...times(20, (i) => read(i * 128))))
    )
    assert.strictEqual(run.signal?._tag, "Stop")
    const l1d = run.result.cores[0]!.l1d
    assert.strictEqual(l1d.hits + l1d.misses, 8)
  })

  it("skips -skip_refs records, warms up on -warmup_refs, then resets the counters", () => {
    // Lines 0..3 read three times. The first 4 refs are skipped (not simulated); the next 4 miss
    // and end the warmup (counters reset, misses kept as warmup misses); the last 4 hit.
    const sim = make({ ...small, skipRefs: 4, warmupRefs: 4 })
    const run = simulate(sim, stream(as(1, ...times(12, (i) => read((i % 4) * 64)))))
    const l1d = run.result.cores[0]!.l1d
    assert.deepStrictEqual(
      [l1d.warmupHits, l1d.warmupMisses, l1d.hits, l1d.misses, l1d.compulsoryMisses],
      [0, 4, 4, 0, 0]
    )
    assert.isTrue(run.text.includes(`  L1D0 (size=2048, assoc=32, block=64, LRU) stats:\n${row("Warmup hits:", 0)}`))
    assert.isTrue(run.text.includes(`LL (size=2048, assoc=32, block=64, LRU) stats:\n${row("Warmup hits:", 0)}`))
    assert.isTrue(run.text.includes(row("Warmup misses:", 4) + row("Hits:", 0) + row("Misses:", 0)))
  })

  it("ends warmup when the LLC is -warmup_fraction full (unit_test_warmup_fraction)", () => {
    // A 32-line LLC and fraction 0.5: the 16th distinct line fills it half; the 17th is simulated.
    const sim = make({ ...small, warmupFraction: 0.5 })
    const run = simulate(sim, stream(as(1, ...times(17, (i) => read(i * 128)))))
    const l1d = run.result.cores[0]!.l1d
    assert.deepStrictEqual([l1d.warmupMisses, l1d.misses, l1d.compulsoryMisses], [16, 1, 1])
  })
})

describe("options and errors", () => {
  const failure = (options: Partial<CacheSimulator.Options>) =>
    Effect.runSync(Effect.flip(CacheSimulator.make(options)))

  it("rejects impossible geometries with DynamoRIO's usage messages, without its `Usage error: ` prefix", () => {
    assert.isTrue(failure({ llSize: 3000 }).detail.startsWith("failed to initialize LL cache."))
    assert.isTrue(failure({ l1dAssoc: 3 }).detail.startsWith("failed to initialize L1 caches."))
    assert.isTrue(failure({ lineSize: 48 }).detail.startsWith("failed to initialize LL cache."))
    assert.strictEqual(
      failure({ l1dSize: 100 }).message,
      "cache_simulator: failed to initialize L1 caches.  Ensure sizes divided by associativities are powers of 2 " +
        "and that the total sizes are multiples of the line size. (L1D_size 100, L1D_assoc 8 and line_size 64: " +
        "the number of lines must be a multiple of the associativity)"
    )
    assert.strictEqual(
      failure({ warmupRefs: 5, warmupFraction: 0.5 }).detail,
      "Either warmup_refs OR warmup_fraction can be set"
    )
    assert.strictEqual(failure({ cores: 0 }).reason, "InvalidOptions")
  })

  it("rejects sizes, associativities and line sizes from 2^31 on (DynamoRIO's int) when built, not when run", () => {
    // DynamoRIO passes them to cache_t::init as int: negative (or wrapped) values fail its init.
    const ll = (o: Partial<CacheSimulator.Options>) => failure(o).detail.startsWith("failed to initialize LL cache.")
    const l1 = (o: Partial<CacheSimulator.Options>) => failure(o).detail.startsWith("failed to initialize L1 caches.")
    assert.isTrue(ll({ llSize: 2 ** 31 }))
    assert.isTrue(ll({ llSize: 64 * 2 ** 30 }))
    assert.isTrue(ll({ llSize: 1024 * 2 ** 30 }))
    assert.isTrue(ll({ llSize: 2 ** 32 + 8 * 2 ** 20 }))
    assert.isTrue(ll({ llAssoc: 2 ** 32 - 1 }))
    assert.isTrue(ll({ lineSize: 2 ** 31 }))
    assert.isTrue(l1({ l1iSize: 2 ** 31 }))
    assert.isTrue(l1({ l1dSize: 4 * 2 ** 30 }))
    assert.isTrue(l1({ l1dAssoc: 2 ** 31 }))
    // The largest that pass stay valid: a 1 GiB LLC, 2^30 - 1 bytes short of the limit.
    const big = make({ llSize: 2 ** 30, llAssoc: 16 })
    assert.strictEqual(big.name, "cache_simulator")
  })

  it("treats options set to undefined as unspecified", () => {
    const sim = make({ cores: undefined, llSize: undefined } as unknown as Partial<CacheSimulator.Options>)
    const run = simulate(sim, stream(as(1, read(0))))
    assert.strictEqual(run.result.cores.length, 4)
    assert.strictEqual(run.result.ll.sizeBytes, 8 * 1024 * 1024)
  })

  it("accepts non-power-of-2 associativities and sizes when the set count is a power of 2", () => {
    // 24 KiB 6-way: 384 lines, 64 sets.
    const sim = make({ l1dSize: 24 * 1024, l1dAssoc: 6 })
    const run = simulate(sim, stream(as(1, read(0))))
    assert.isTrue(run.text.includes("L1D0 (size=24576, assoc=6, block=64, LRU)"))
  })

  it("fails on a record type it does not handle", () => {
    const b = RecordBatch.make(4)
    RecordBatch.pushMarker(b, MarkerType.TIMESTAMP, 1, 0, 1, 1)
    b.type[1] = TraceType.INVALID
    b.tid[1] = 1
    RecordBatch.setLength(b, 2)
    const run = simulateBatches(CacheSimulator.tool, [b], "thread")
    assert.strictEqual(run.failedAt, 1)
    assert.strictEqual(
      (run.signal as { error: CacheSimulator.SimulatorError }).error.detail,
      "Unhandled memref type 50"
    )
  })

  it("prints counts with a digit separator when asked", () => {
    const sim = make({ ...small, digitSeparator: "," })
    const run = simulate(sim, stream(as(1, ...times(1500, () => read(0)))))
    assert.isTrue(run.text.includes(row("Hits:", "1,499")))
  })
})

describe("real traces", () => {
  it.effect("reproduces DynamoRIO's serial run on chase-snappy exactly (LL hits 78,312)", () =>
    Effect.gen(function* () {
      // drmemtrace_launcher -indir drmemtrace.chase-snappy.x64.tracedir -tool cache_simulator -no_core_sharded:
      // thread shards over the serial timestamp interleave of both inputs, default geometry.
      const run = yield* Analyzer.run("../shared/traces/drmemtrace.chase-snappy.x64.tracedir", {
        tools: [CacheSimulator.tool],
        mode: "serial"
      })
      const expected = readFileSync("../shared/traces/expected/chase-snappy.cache_simulator.thread.txt", "utf8")
      assert.strictEqual(run.tools[0]!.text, expected)
      assert.strictEqual((run.tools[0]!.result as CacheSimulator.Result).ll.hits, 78312)
    })
  )
})
