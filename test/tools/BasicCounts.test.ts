import { assert, describe, it } from "@effect/vitest"
import type * as Tool from "../../src/analyzer/Tool.ts"
import { type BasicCountsError, basicCounts, type Counters, type Result } from "../../src/tools/BasicCounts.ts"
import { FileType, MarkerType, TraceType, TraceVersion } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { runEntriesSync } from "../utils/runTool.ts"

const zero: Counters = {
  instrs: 0,
  userInstrs: 0,
  kernelInstrs: 0,
  instrsNofetch: 0,
  userNofetchInstrs: 0,
  kernelNofetchInstrs: 0,
  prefetches: 0,
  loads: 0,
  stores: 0,
  schedMarkers: 0,
  idleMarkers: 0,
  waitMarkers: 0,
  xferMarkers: 0,
  hardwareXferMarkers: 0,
  funcIdMarkers: 0,
  funcRetaddrMarkers: 0,
  funcArgMarkers: 0,
  funcRetvalMarkers: 0,
  physAddrMarkers: 0,
  physUnavailMarkers: 0,
  syscallNumberMarkers: 0,
  syscallBlockingMarkers: 0,
  skippedMemrefMarkers: 0,
  otherMarkers: 0,
  icacheFlushes: 0,
  dcacheFlushes: 0,
  encodings: 0
}

const run = (threads: ReadonlyArray<ReadonlyArray<S.Entry>>, shardType: Tool.ShardType = "thread") =>
  runEntriesSync(basicCounts, threads, { shardType })

const lines = (text: string) => text.split("\n")

/** Feeds entries to one shard of basic_counts directly and returns the first signal. */
const signalOf = (entries: ReadonlyArray<S.Entry>) => {
  const state = basicCounts.makeShard({ shardIndex: 0, shardType: "thread", serial: false, outputCount: 1 })
  const ctx: Tool.BatchContext = { output: 0, input: 0, outputRecordsBefore: 0, inputRecordsBefore: 0 }
  for (const b of Trace.decodeSync(S.encode(entries))) {
    const signal = basicCounts.processBatch(state, b, 0, RecordBatch.length(b), ctx)
    if (signal !== undefined) return { signal, batch: b }
  }
  return undefined
}

describe("basic_counts", () => {
  it("puts every record kind in DynamoRIO's counter", () => {
    const r: Result = run([
      S.thread(7, [
        S.timestamp(100),
        S.cpu(1),
        S.instr(0x1000),
        S.instr(0x1001, TraceType.INSTR_DIRECT_CALL),
        S.instr(0x1002, TraceType.INSTR_TAKEN_JUMP),
        S.instr(0x1003, TraceType.INSTR_NO_FETCH),
        S.read(0x2000),
        S.read(0x2008),
        S.write(0x2010),
        S.entry(TraceType.PREFETCHT0, 8, 0x3000),
        S.entry(TraceType.HARDWARE_PREFETCH, 8, 0x3040),
        S.entry(TraceType.PREFETCH_INSTR, 8, 0x3080),
        S.entry(TraceType.INSTR_FLUSH, 64, 0x1000),
        S.entry(TraceType.DATA_FLUSH, 64, 0x2000),
        S.marker(MarkerType.KERNEL_EVENT, 0x1004),
        S.marker(MarkerType.KERNEL_XFER, 0x1004),
        S.marker(MarkerType.HARDWARE_EVENT, 1),
        S.marker(MarkerType.HARDWARE_CONTEXT_RETURN, 1),
        S.marker(MarkerType.FUNC_ID, 3),
        S.marker(MarkerType.FUNC_RETADDR, 0x1005),
        S.marker(MarkerType.FUNC_ARG, 1),
        S.marker(MarkerType.FUNC_ARG, 2),
        S.marker(MarkerType.FUNC_RETVAL, 0),
        S.marker(MarkerType.PHYSICAL_ADDRESS, 0x9000),
        S.marker(MarkerType.VIRTUAL_ADDRESS, 0x2000),
        S.marker(MarkerType.PHYSICAL_ADDRESS_NOT_AVAILABLE, 0x2000),
        S.marker(MarkerType.SYSCALL, 1),
        S.marker(MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
        S.marker(MarkerType.SKIPPED_MEMREF, 0),
        S.marker(MarkerType.CORE_IDLE, 0),
        S.marker(MarkerType.CORE_WAIT, 0),
        S.marker(MarkerType.SIGNAL_NUMBER, 26),
        S.marker(MarkerType.SYSCALL_FAILED, 4),
        S.exit(7)
      ])
    ]).result
    assert.deepStrictEqual(r.total.counters, {
      ...zero,
      instrs: 3,
      userInstrs: 3,
      instrsNofetch: 1,
      userNofetchInstrs: 1,
      prefetches: 3,
      loads: 2,
      stores: 1,
      schedMarkers: 2,
      idleMarkers: 1,
      waitMarkers: 1,
      xferMarkers: 2,
      hardwareXferMarkers: 2,
      funcIdMarkers: 1,
      funcRetaddrMarkers: 1,
      funcArgMarkers: 2,
      funcRetvalMarkers: 1,
      physAddrMarkers: 1,
      physUnavailMarkers: 1,
      syscallNumberMarkers: 1,
      syscallBlockingMarkers: 1,
      skippedMemrefMarkers: 1,
      // VERSION, FILETYPE, SIGNAL_NUMBER, SYSCALL_FAILED
      otherMarkers: 4,
      icacheFlushes: 1,
      dcacheFlushes: 1
    })
    assert.strictEqual(r.total.uniquePcs, 3)
    assert.strictEqual(r.total.threads, 1)
  })

  it("prints DynamoRIO's layout: totals, then one section per thread without a threads line", () => {
    const { text } = run([S.thread(42, [S.timestamp(1), S.instr(0x10), S.read(0x20), S.instr(0x10), S.exit(42)])])
    const numbers = (prefix: string) =>
      [
        [2, " (fetched) instructions"],
        [1, " unique (fetched) instructions"],
        [0, " non-fetched instructions"],
        [0, " prefetches"],
        [1, " data loads"],
        [0, " data stores"],
        [0, " icache flushes"],
        [0, " dcache flushes"],
        ...(prefix === " total" ? [[1, " threads"]] : []),
        [1, " timestamp + cpuid markers"],
        [0, " idle markers"],
        [0, " wait markers"],
        [0, " kernel transfer markers"],
        [0, " function id markers"],
        [0, " function return address markers"],
        [0, " function argument markers"],
        [0, " function return value markers"],
        [0, " physical address + virtual address marker pairs"],
        [0, " physical address unavailable markers"],
        [0, " system call number markers"],
        [0, " blocking system call markers"],
        [0, " skipped memref markers"],
        [2, " other markers"],
        [0, " encodings"]
      ].map(([n, label]) => String(n).padStart(12) + prefix + label)
    assert.deepStrictEqual(lines(text), [
      "Basic counts tool results:",
      "Total counts:",
      ...numbers(" total"),
      "Thread 42 counts:",
      ...numbers(""),
      ""
    ])
  })

  it("counts encodings only after a FILETYPE marker with the ENCODINGS bit", () => {
    const body = [
      S.encoding([0x90]),
      S.instr(0x10),
      S.instr(0x10),
      S.encoding([0x48, 0x89, 0xd5]),
      S.instr(0x11, TraceType.INSTR, 3)
    ]
    const r: Result = run([
      S.thread(1, [...body, S.exit(1)], { filetype: FileType.ARCH_X86_64 | FileType.ENCODINGS }),
      S.thread(2, [...body, S.exit(2)], { filetype: FileType.ARCH_X86_64 })
    ]).result
    const byTid = Object.fromEntries(r.shards.map((s) => [s.tid, s.counts.counters.encodings]))
    assert.deepStrictEqual(byTid, { 1: 2, 2: 0 })
  })

  it("keeps unique PCs as a set per shard, and their union (exact 64-bit) in the total", () => {
    const high = 0xffff_ffff_ffff_fff0n
    const r: Result = run([
      S.thread(1, [S.instr(0x10), S.instr(0x20), S.instr(0x30), S.instr(0x20), S.instr(high), S.exit(1)]),
      S.thread(2, [S.instr(0x30), S.instr(0x40), S.instr(high + 1n), S.instr(high + 1n), S.exit(2)])
    ]).result
    const unique = Object.fromEntries(r.shards.map((s) => [s.tid, s.counts.uniquePcs]))
    assert.deepStrictEqual(unique, { 1: 4, 2: 3 })
    // {0x10, 0x20, 0x30, high} ∪ {0x30, 0x40, high + 1}: high and high + 1 are one double apart from equal.
    assert.strictEqual(r.total.uniquePcs, 6)
    assert.strictEqual(r.total.counters.instrs, 9)
  })

  it("prints shards by instruction count, most first", () => {
    const t = (tid: number, n: number) =>
      S.thread(tid, [...Array.from({ length: n }, (_, i) => S.instr(0x100 + i)), S.exit(tid)])
    const { text } = run([t(11, 1), t(12, 3), t(13, 2)])
    assert.deepStrictEqual(
      lines(text).filter((l) => l.startsWith("Thread")),
      ["Thread 12 counts:", "Thread 13 counts:", "Thread 11 counts:"]
    )
  })

  it("prints a threads line for core shards and for thread shards that saw several tids", () => {
    const twoThreads = [
      S.header(),
      S.version(),
      S.filetype(FileType.ARCH_X86_64 | FileType.CORE_SHARDED),
      S.threadEntry(5),
      S.pid(1),
      S.instr(0x10),
      S.threadEntry(6),
      S.pid(1),
      S.instr(0x20),
      S.marker(MarkerType.CORE_IDLE, 0),
      S.threadEntry(5),
      S.instr(0x30),
      S.footer()
    ]
    const core = run([twoThreads], "core")
    const coreResult: Result = core.result
    assert.strictEqual(coreResult.shards[0]!.counts.threads, 2)
    assert.include(core.text, "Core 0 counts:\n")
    assert.include(core.text, "\n           2 threads\n")
    const thread = run([twoThreads], "thread")
    assert.include(thread.text, "Thread 5 counts:\n")
    assert.include(thread.text, "\n           2 threads\n")
    const single = run([S.thread(9, [S.instr(0x10), S.exit(9)])])
    assert.strictEqual(lines(single.text).filter((l) => l.endsWith(" threads")).length, 1)
  })

  it("splits counts into windows at WINDOW_ID markers and prints every window", () => {
    const r = run([
      S.thread(1, [
        S.marker(MarkerType.WINDOW_ID, 0),
        S.instr(0x10),
        S.instr(0x11),
        S.marker(MarkerType.WINDOW_ID, 1),
        S.instr(0x12),
        S.instr(0x12),
        S.read(0x100),
        S.instr(0x13),
        S.exit(1)
      ]),
      S.thread(2, [S.instr(0x10), S.exit(2)])
    ])
    const result: Result = r.result
    assert.strictEqual(result.windows.length, 2)
    assert.deepStrictEqual(
      result.windows.map((w) => w.map((c) => [c.counters.instrs, c.uniquePcs, c.counters.otherMarkers, c.threads])),
      [
        [
          [2, 2, 3, 1],
          [1, 1, 2, 1]
        ],
        // The tid was counted in window 0: DynamoRIO only adds a tid when it changes.
        [[3, 2, 1, 0]]
      ]
    )
    assert.strictEqual(result.total.counters.instrs, 6)
    assert.strictEqual(result.total.uniquePcs, 4)
    const text = lines(r.text)
    const at = text.indexOf("Total windows: 2")
    assert.isAbove(at, 0)
    assert.strictEqual(text[at + 1], "Window #0:")
    assert.strictEqual(text[at + 2], "           2 window (fetched) instructions")
    assert.include(text, "Window #1:")
    // Per-shard sections show window 0 only.
    const t1 = text.indexOf("Thread 1 counts:")
    assert.strictEqual(text[t1 + 1], "           2 (fetched) instructions")
  })

  it("fails a shard whose windows do not start at 0 (after a split file's first window)", () => {
    const ok = signalOf(
      S.thread(1, [S.marker(MarkerType.WINDOW_ID, 5), S.instr(0x10), S.marker(MarkerType.WINDOW_ID, 5), S.exit(1)])
    )
    assert.isUndefined(ok)
    const bad = signalOf(
      S.thread(1, [S.marker(MarkerType.WINDOW_ID, 5), S.instr(0x10), S.marker(MarkerType.WINDOW_ID, 6), S.exit(1)])
    )
    assert.isDefined(bad)
    const signal = bad!.signal as Tool.Fail<BasicCountsError>
    assert.strictEqual(signal._tag, "Fail")
    assert.strictEqual(signal.error.reason, "MultiWindowNotAtZero")
    assert.strictEqual(bad!.batch.size[signal.index], MarkerType.WINDOW_ID)
    assert.strictEqual(bad!.batch.addrLo[signal.index], 6)
  })

  it("fails a shard whose FILETYPE changes", () => {
    const bad = signalOf(S.thread(1, [S.instr(0x10), S.filetype(FileType.ARCH_AARCH64), S.exit(1)]))
    const signal = bad?.signal as Tool.Fail<BasicCountsError>
    assert.strictEqual(signal._tag, "Fail")
    assert.strictEqual(signal.error.reason, "FiletypeMismatch")
  })

  it("splits user and kernel instructions of system call traces and prints the split for kernel traces", () => {
    const r = run([
      S.thread(
        3,
        [
          S.instr(0x10),
          S.marker(MarkerType.SYSCALL_TRACE_START, 1),
          S.instr(0xffff_ffff_8100_0000n),
          S.instr(0xffff_ffff_8100_0004n, TraceType.INSTR_NO_FETCH),
          S.instr(0xffff_ffff_8100_0008n),
          S.marker(MarkerType.SYSCALL_TRACE_END, 1),
          S.instr(0x11),
          S.exit(3)
        ],
        { filetype: FileType.ARCH_X86_64 | FileType.KERNEL_SYSCALLS }
      )
    ])
    const result: Result = r.result
    const c = result.total.counters
    assert.deepStrictEqual(
      [c.instrs, c.userInstrs, c.kernelInstrs, c.instrsNofetch, c.kernelNofetchInstrs],
      [4, 2, 2, 1, 1]
    )
    assert.isTrue(result.forKernelTrace)
    assert.isFalse(result.forWholeSystemTrace)
    assert.include(r.text, "\n           2 total userspace instructions\n           2 total kernel instructions\n")
    assert.notInclude(r.text, "hardware transfer")
  })

  it("treats a legacy trace without FILETYPE as every file type: split and hardware lines printed", () => {
    const legacy = [
      S.header(TraceVersion.LEGACY),
      S.threadEntry(4),
      S.pid(4),
      S.timestamp(1),
      S.instr(0x10),
      S.exit(4),
      S.footer()
    ]
    const r = run([legacy])
    const result: Result = r.result
    assert.isTrue(result.forKernelTrace)
    assert.isTrue(result.forWholeSystemTrace)
    assert.include(r.text, "           1 total userspace instructions\n")
    assert.include(r.text, "           0 total hardware transfer markers\n")
    assert.include(r.text, "           0 non-fetched kernel instructions\n")
  })

  it("counts the instructions of a bundle at consecutive PCs", () => {
    // INSTR_BUNDLE: 3 more instructions of lengths 2, 3, 4 after the 1-byte instruction at 0x1000.
    const bundle = S.entry(TraceType.INSTR_BUNDLE, 3, 0x04_03_02)
    const r: Result = run([S.thread(1, [S.instr(0x1000), bundle, S.instr(0x1000), S.exit(1)])]).result
    assert.strictEqual(r.total.counters.instrs, 5)
    // 0x1000, then 0x1001, 0x1003, 0x1006.
    assert.strictEqual(r.total.uniquePcs, 4)
  })

  it("gives the same result whatever the batch size", () => {
    const threads = [
      S.thread(1, [
        S.marker(MarkerType.WINDOW_ID, 0),
        ...Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? S.read(0x100 + i) : S.instr(0x10 + (i % 17)))),
        S.marker(MarkerType.WINDOW_ID, 1),
        ...Array.from({ length: 100 }, (_, i) => S.instr(0x40 + (i % 5))),
        S.exit(1)
      ]),
      S.thread(2, [...Array.from({ length: 150 }, (_, i) => S.instr(0x10 + (i % 23))), S.exit(2)])
    ]
    const big = runEntriesSync(basicCounts, threads)
    const small = runEntriesSync(basicCounts, threads, { batchCapacity: 16 })
    assert.deepStrictEqual(small.result, big.result)
    assert.strictEqual(small.text, big.text)
  })

  it("splits a serial core-sharded stream by core, as DynamoRIO's get_shard_index does", () => {
    const state = basicCounts.makeShard({ shardIndex: 0, shardType: "core", serial: true, outputCount: 2 })
    const [batch] = Trace.decodeSync(S.encode(S.thread(8, [S.instr(0x10), S.instr(0x20), S.instr(0x30), S.exit(8)])))
    const ctx: Tool.BatchContext = { output: 0, input: 0, outputRecordsBefore: 0, inputRecordsBefore: 0 }
    const n = RecordBatch.length(batch!)
    const firstInstr = batch!.type.indexOf(TraceType.INSTR)
    basicCounts.processBatch(state, batch!, 0, firstInstr + 1, ctx)
    ctx.output = 1
    basicCounts.processBatch(state, batch!, firstInstr + 1, n, ctx)
    const shard = basicCounts.finishShard(state) as { shards: ReadonlyArray<{ core: number }> }
    const result = basicCounts.merge([{ shardIndex: 0, shardType: "core", result: shard as never }])
    assert.deepStrictEqual(
      result.shards.map((s) => [s.core, s.counts.counters.instrs]),
      [
        [1, 2],
        [0, 1]
      ]
    )
  })
})
