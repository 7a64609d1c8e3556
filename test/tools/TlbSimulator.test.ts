/**
 * The TLB simulator tool: printed layout, LFU default, process-id tagging,
 * what it ignores, warmup, DynamoRIO's last-thread shortcut, option errors,
 * and the allasm `-sim_refs 10` vector.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as TlbSimulator from "../../src/tools/TlbSimulator.ts"
import { TraceType } from "../../src/trace/Record.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import { as, rate, row, simulate, stream } from "./CacheSimulator.run.ts"

const { instr, read, write, entry, exit } = Synthetic

const make = (options: Partial<TlbSimulator.Options>) => Effect.runSync(TlbSimulator.make(options))

describe("TLB simulator", () => {
  it("prints DynamoRIO's layout: per core L1I, L1D and LL stats", () => {
    // One thread on core 0. Fetches on page 0x401 (miss, hit); reads on page 0x70000 (miss, hit).
    // Each L1 miss goes to core 0's L2 TLB (2 misses); the 2 L1 hits are its child hits.
    const run = simulate(
      TlbSimulator.tool,
      stream(as(1, instr(0x401000), read(0x70000000), read(0x70000010), instr(0x401004), exit(1)))
    )
    assert.strictEqual(
      run.text,
      "TLB simulation results:\n" +
        "Core #0 (1 thread(s))\n" +
        "  L1I stats:\n" +
        row("Hits:", 1) +
        row("Misses:", 1) +
        row("Compulsory misses:", 1) +
        row("Invalidations:", 0) +
        rate("Miss rate:", "50.00") +
        "  L1D stats:\n" +
        row("Hits:", 1) +
        row("Misses:", 1) +
        row("Compulsory misses:", 1) +
        row("Invalidations:", 0) +
        rate("Miss rate:", "50.00") +
        "  LL stats:\n" +
        row("Hits:", 0) +
        row("Misses:", 2) +
        row("Compulsory misses:", 2) +
        row("Invalidations:", 0) +
        rate("Local miss rate:", "100.00") +
        row("Child hits:", 2) +
        rate("Total miss rate:", "50.00") +
        "Core #1 (0 thread(s))\n" +
        "Core #2 (0 thread(s))\n" +
        "Core #3 (0 thread(s))\n"
    )
  })

  it("replaces the least frequently used entry by default (LFU), unlike LRU", () => {
    // A 2-entry L1 DTLB. Page A is read 3 times, then B, then C, then A.
    // LFU: C evicts B (1 access) rather than A (3): the last A hits.
    // LRU: C evicts A (least recent): the last A misses.
    const body = stream(as(1, read(0xa000), read(0xa008), read(0xa010), read(0xb000), read(0xc000), read(0xa018)))
    const lfu = simulate(make({ l1dEntries: 2, l1dAssoc: 2 }), body).result.cores[0]!.l1d
    const lru = simulate(make({ l1dEntries: 2, l1dAssoc: 2, replacePolicy: "LRU" }), body).result.cores[0]!.l1d
    assert.deepStrictEqual([lfu.hits, lfu.misses], [3, 3])
    assert.deepStrictEqual([lru.hits, lru.misses], [2, 4])
  })

  it("tags entries with the process id", () => {
    // One core; threads of processes 100 and 200 read the same page, then process 100 again.
    const run = simulate(
      make({ cores: 1 }),
      stream([
        ...[Synthetic.threadEntry(1), Synthetic.pid(100), read(0x5000)],
        ...[Synthetic.threadEntry(2), Synthetic.pid(200), read(0x5008)],
        ...[Synthetic.threadEntry(1), Synthetic.pid(100), read(0x5010)]
      ])
    )
    const l1d = run.result.cores[0]!.l1d
    assert.deepStrictEqual([l1d.hits, l1d.misses, l1d.compulsoryMisses], [1, 2, 1])
  })

  it("ignores prefetches, flushes and non-fetched instructions", () => {
    const run = simulate(
      TlbSimulator.tool,
      stream(
        as(
          1,
          entry(TraceType.PREFETCHT0, 8, 0x9000),
          entry(TraceType.PREFETCH_INSTR, 8, 0x9000),
          entry(TraceType.DATA_FLUSH, 64, 0x9000),
          instr(0x9000, TraceType.INSTR_NO_FETCH),
          write(0x9000)
        )
      )
    )
    const c = run.result.cores[0]!
    assert.deepStrictEqual([c.l1i.hits + c.l1i.misses, c.l1d.misses, c.l1d.hits], [0, 1, 0])
  })

  it("resets its counters after -warmup_refs, printing no warmup lines", () => {
    // Two warmup reads of page 0x6 (miss, hit), then a hit on it and a miss on page 0x7.
    const run = simulate(make({ warmupRefs: 2 }), stream(as(1, read(0x6000), read(0x6008), read(0x6010), read(0x7000))))
    const l1d = run.result.cores[0]!.l1d
    assert.deepStrictEqual([l1d.warmupMisses, l1d.warmupHits, l1d.hits, l1d.misses], [1, 1, 1, 1])
    assert.isFalse(run.text.includes("Warmup"))
  })

  it("keeps the last record's core for the same thread even on another output (DynamoRIO's shortcut)", () => {
    // Core shards: T1's records go to output 0 then output 1 back to back. The TLB simulator
    // reuses the core it found for T1, so everything lands on core 0 and core 1 lists no cpu.
    const body = stream(as(1, read(0x5000), read(0x5008), read(0x6000)))
    // Visible records: 0 VERSION, 1 FILETYPE (both T1), 2-4 reads.
    const run = simulate(TlbSimulator.tool, body, { shardType: "core", outputOf: (i) => (i < 3 ? 0 : 1) })
    const [c0, c1] = run.result.cores
    assert.strictEqual(c0!.l1d.hits + c0!.l1d.misses, 3)
    assert.strictEqual(c1!.l1d.hits + c1!.l1d.misses, 0)
    assert.isTrue(run.text.includes("Core #1 (traced CPU(s): )\n"))
  })

  it("stops after -sim_refs non-marker records", () => {
    const run = simulate(make({ simRefs: 3 }), stream(as(1, ...Array.from({ length: 10 }, (_, i) => read(i * 4096)))))
    assert.strictEqual(run.signal?._tag, "Stop")
    assert.strictEqual(run.result.cores[0]!.l1d.misses, 3)
  })

  it("rejects impossible TLB geometries with DynamoRIO's usage messages", () => {
    const failure = (options: Partial<TlbSimulator.Options>) =>
      Effect.runSync(Effect.flip(TlbSimulator.make(options))).detail
    assert.strictEqual(
      failure({ l2Entries: 1000 }),
      "failed to initialize lltlbs_. Ensure (entry number / associativity) is a power of 2. " +
        "(TLB_L2_entries 1000, TLB_L2_assoc 4 and page_size 4096: the number of entries divided by associativity must be a power of 2)"
    )
    assert.match(
      failure({ pageSize: 3000 }),
      /\(TLB_L1I_entries 32, TLB_L1I_assoc 32 and page_size 3000: the page size must be/
    )
    assert.isTrue(failure({ pageSize: 3000 }).startsWith("failed to initialize itlbs_."))
    assert.isTrue(failure({ l1dAssoc: 5 }).startsWith("failed to initialize dtlbs_."))
  })

  it("rejects entries, associativities and page sizes from 2^31 on (DynamoRIO's int) when built, not when run", () => {
    const failure = (options: Partial<TlbSimulator.Options>) =>
      Effect.runSync(Effect.flip(TlbSimulator.make(options))).message
    const lltlbs = (o: Partial<TlbSimulator.Options>) =>
      failure(o).startsWith(
        "TLB: failed to initialize lltlbs_. Ensure (entry number / associativity) is a power of 2. ("
      )
    // 2^31 blocks per way: more than DynamoRIO's INT_MAX.
    assert.isTrue(lltlbs({ l2Entries: 2 ** 31, l2Assoc: 1 }))
    // An associativity of 2^32 - 1 is -1 as an int.
    assert.isTrue(lltlbs({ l2Entries: 2 ** 32 - 1, l2Assoc: 2 ** 32 - 1 }))
    assert.isTrue(lltlbs({ l2Entries: 2 ** 32 - 2, l2Assoc: 2 }))
    assert.isTrue(failure({ l1iEntries: 2 ** 31, l1iAssoc: 2 ** 31 }).startsWith("TLB: failed to initialize itlbs_."))
    assert.isTrue(failure({ pageSize: 2 ** 31 }).startsWith("TLB: failed to initialize itlbs_."))
    assert.isTrue(failure({ pageSize: 2 ** 32 + 4096 }).startsWith("TLB: failed to initialize itlbs_."))
  })

  it.effect("allasm with -core_serial -sim_refs 10: L1I hits 9, misses 1 (offline-one-early)", () =>
    Effect.gen(function* () {
      // drmemtrace_launcher -infile drmemtrace.allasm_x86_64.trace.zip -tool TLB:opcode_mix -core_serial
      // -sim_refs 10: the dynamic scheduler puts the single input on core 0 of 4.
      const run = yield* Analyzer.run("../shared/traces/drmemtrace.allasm_x86_64.trace.zip", {
        tools: [make({ simRefs: 10 })],
        mode: "core-serial",
        cores: 4
      })
      assert.isTrue(
        run.tools[0]!.text.startsWith(
          "TLB simulation results:\nCore #0 (traced CPU(s): #0)\n  L1I stats:\n" + row("Hits:", 9) + row("Misses:", 1)
        )
      )
    })
  )
})
