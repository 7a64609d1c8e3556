/**
 * DynamoRIO's invariant checker unit tests, second part
 * (clients/drcachesim/tests/invariant_checker_test.cpp:
 * check_timestamps_increase_monotonically, check_exit_found,
 * check_kernel_trace_and_signal_markers, check_kernel_context_switch_trace,
 * check_kernel_syscall_trace, check_has_instructions, check_regdeps,
 * check_chunk_order, check_core_sharded, check_core_sharded_with_kernel,
 * check_hardware_event_markers), one `it` per sub-case, with DynamoRIO's
 * record sequences and expected errors copied as they are.
 *
 * How DynamoRIO's `run_checker` is mirrored:
 * - Its `memref_t` vector becomes one synthetic input per thread (HEADER,
 *   THREAD, PID, then one entry per memref, FOOTER): the reader hides the
 *   header entries, so the n-th memref is record n, as in DynamoRIO's test.
 *   An indirect branch's `indirect_branch_target` travels, as on disk, in a
 *   BRANCH_TARGET marker (hidden) right before it.
 * - DynamoRIO runs each vector twice, serial (one checker fed the vector in
 *   order, one shard per tid) and parallel (one shard per tid), and wants
 *   the same result from both. Here: a thread-sharded run (`runEntriesSync`,
 *   one shard per input) and a serial run fed the vector's records in its
 *   order, one shard per tid, as the analyzer's serial mode builds them
 *   (`serialShards` set; the analyzer itself is not used: its serial mode
 *   schedules by timestamp, which DynamoRIO's test does not). Both runs are
 *   repeated with the smallest batches (at most 7 records) to cross batch
 *   boundaries.
 * - `run_csod_checker` (core-sharded on disk) runs only the serial checker,
 *   sharded by core: here one core shard (`shardType: "core"`, core 0) fed
 *   the whole vector, thread switches as THREAD entries in the one input.
 * - DynamoRIO checks that exactly one error (or none) is reported and its
 *   name, id (tid, or core index when core-sharded), record ordinal, last
 *   timestamp and instructions since that timestamp. Every one of them is
 *   asserted here, on every run.
 * - One adaptation: in `run_csod_checker`, DynamoRIO's mock stream never gets
 *   a tid (0), so the checker's first record looks like a switch from thread
 *   0 and `reset_at_context_switch` re-bases its own record count on the mock
 *   stream's ordinal (always 0) before the FILETYPE marker makes the shard
 *   core-sharded-on-disk: every ordinal DynamoRIO's csod sub-cases expect is
 *   the record's position minus one. The real tool prints the stream's record
 *   ordinal (the position). The csod expectations below are DynamoRIO's value
 *   plus one (`csodRef`).
 *
 * Sub-cases whose expectation depends on decoding an instruction's encoding
 * (read/write operand counts, `instr_is_syscall`, sti/hlt/iret relaxations)
 * are not ported: memtrace has no instruction decoder.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as Tool from "../../src/analyzer/Tool.ts"
import * as InvariantChecker from "../../src/tools/InvariantChecker.ts"
import { FileType, IDLE_THREAD_ID, MarkerType, TraceType, TraceVersion } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { runEntriesSync } from "../utils/runTool.ts"

// ---------------------------------------------------------------------------------------------
// DynamoRIO's memref_t and its test generators (memref_gen.h).

interface MemRef {
  readonly tid: number
  /** trace_type_t. */
  readonly type: number
  /** Access size, instruction length, or the marker type for markers. */
  readonly size: number
  /** Address, PC or marker value. */
  readonly addr: number | bigint
  /** `indirect_branch_target` of an instruction. */
  readonly target: number | bigint
}

/** Assumes there are at most 3 threads with tids 1, 2, and 3 (DynamoRIO's TID_BASE). */
const TID_BASE = 1
const TID_A = TID_BASE
const TID_B = TID_BASE + 1
const TID_C = TID_BASE + 2

const genMarker = (tid: number, markerType: number, value: number | bigint): MemRef => ({
  tid,
  type: TraceType.MARKER,
  size: markerType,
  addr: value,
  target: 0
})
const genInstrType = (type: number, tid: number, pc: number | bigint = 1, size = 1, target: number | bigint = 0) => ({
  tid,
  type,
  size,
  addr: pc,
  target
})
const genInstr = (tid: number, pc: number | bigint = 1, size = 1): MemRef =>
  genInstrType(TraceType.INSTR, tid, pc, size)
const genData = (tid: number, load: boolean, addr: number, size: number): MemRef => ({
  tid,
  type: load ? TraceType.READ : TraceType.WRITE,
  size,
  addr,
  target: 0
})
const genExit = (tid: number): MemRef => ({ tid, type: TraceType.THREAD_EXIT, size: 4, addr: tid, target: 0 })

const isIndirectBranch = (t: number) =>
  t === TraceType.INSTR_INDIRECT_JUMP || t === TraceType.INSTR_INDIRECT_CALL || t === TraceType.INSTR_RETURN

// ---------------------------------------------------------------------------------------------
// Instructions built with DynamoRIO's IR in the syscall tests, encoded for x86-64 at
// BASE_ADDR 0x123450 as add_encodings_to_memrefs lays them out (one after another).
// memtrace does not decode: only their PCs and lengths matter.

interface Encoded {
  readonly pc: number
  readonly size: number
}
const layout = (base: number, sizes: ReadonlyArray<readonly [string, number]>): Record<string, Encoded> => {
  const out: Record<string, Encoded> = {}
  let pc = base
  for (const [name, size] of sizes) {
    out[name] = { pc, size }
    pc += size
  }
  return out
}
const BASE_ADDR = 0x123450
/** ilist: syscall (0f 05), nop (90), nop, mov rax,rdx (48 8b c2), mov rax,[rax] (48 8b 00), sysret (0f 07). */
const IL = layout(BASE_ADDR, [
  ["sys", 2],
  ["postSys", 1],
  ["nop", 1],
  ["move", 3],
  ["load", 3],
  ["sysReturn", 2]
])
/** ilist2 of the x86 sub-cases: only move1, iret, sti, sys1, nop5 and nop6 are used by the ported ones. */
const IL2 = layout(BASE_ADDR, [
  ["move1", 3],
  ["iret", 2],
  ["sti", 1],
  ["nop1", 1],
  ["nop2", 1],
  ["xrstors", 4],
  ["xsaves", 4],
  ["xsaveopt", 4],
  ["hlt", 1],
  ["nop3", 1],
  ["prefetch", 3],
  ["sysret", 2],
  ["nop4", 1],
  ["sys1", 2],
  ["nop5", 1],
  ["sys2", 2],
  ["nop6", 1]
])
/** gen_instr / gen_instr_type of an encoded instruction. */
const enc = (tid: number, i: Encoded, type: number = TraceType.INSTR, target: Encoded | 0 = 0): MemRef =>
  genInstrType(type, tid, i.pc, i.size, target === 0 ? 0 : target.pc)

// ---------------------------------------------------------------------------------------------
// Constants of trace_entry.h and Linux x86-64.

const TRACE_ENTRY_VERSION_BRANCH_INFO = TraceVersion.BRANCH_INFO
/** func_trace_t::TRACE_FUNC_ID_SYSCALL_BASE on 64-bit hosts. */
const TRACE_FUNC_ID_SYSCALL_BASE = 0x1_0000_0000
const DEFAULT_SYSCALL_TRACE_TEMPLATE_SYSNUM = 0x0fffffff
const SWITCH_THREAD = 1
const SWITCH_PROCESS = 2
const INVALID_CPU_MARKER_VALUE = -1n
const SYS_rt_sigreturn = 15
const SYS_futex = 202

// ---------------------------------------------------------------------------------------------
// run_checker.

/** DynamoRIO's error_info_t. */
interface ErrorInfo {
  readonly name: string
  readonly id: number
  readonly ref: number
  readonly lastTimestamp: string
  readonly sinceTimestamp: number
}
const err = (name: string, id: number, ref: number, lastTimestamp: number, sinceTimestamp: number): ErrorInfo => ({
  name,
  id,
  ref,
  lastTimestamp: String(lastTimestamp),
  sinceTimestamp
})
/** The smallest batch a reader fills (RecordBatch.MIN_CAPACITY): it holds at most 7 records. */
const SMALL_BATCHES = RecordBatch.MIN_CAPACITY
/** See the file comment: DynamoRIO's csod ordinals are the position minus one. */
const csodRef = (drRefOrdinal: number) => drRefOrdinal + 1

/** One input: the entries a tracer would write for these memrefs. */
const toEntries = (refs: ReadonlyArray<MemRef>): Array<S.Entry> => {
  let tid = refs[0]!.tid
  const out: Array<S.Entry> = [S.header(TraceVersion.CURRENT), S.threadEntry(tid), S.pid(0)]
  for (const r of refs) {
    if (r.tid !== tid) {
      out.push(S.threadEntry(r.tid))
      tid = r.tid
    }
    if (isIndirectBranch(r.type) && r.target !== 0) out.push(S.marker(MarkerType.BRANCH_TARGET, r.target))
    out.push(S.entry(r.type, r.size, r.addr))
  }
  out.push(S.footer())
  return out
}

const tidsOf = (refs: ReadonlyArray<MemRef>) => [...new Set(refs.map((r) => r.tid))].sort((a, b) => a - b)

const found = (r: InvariantChecker.Result, where: "T" | "core") => {
  assert.strictEqual(r.count, r.violations.length)
  for (const v of r.violations) assert.strictEqual(v.where, where)
  return r.violations.map((v) => ({
    name: v.name,
    id: v.id,
    ref: v.ref,
    lastTimestamp: v.lastTimestamp,
    sinceTimestamp: v.sinceTimestamp
  }))
}

/** DynamoRIO's parallel run: one shard per thread (shard index = tid - TID_BASE). */
const runParallel = (refs: ReadonlyArray<MemRef>, batchCapacity?: number) =>
  runEntriesSync(
    InvariantChecker.make(),
    tidsOf(refs).map((t) => toEntries(refs.filter((r) => r.tid === t))),
    { batchCapacity }
  ).result

/**
 * DynamoRIO's serial run: the vector's records in its order, one shard per
 * tid, `serialShards` counting the shards started (the analyzer's serial mode
 * for a parallel tool).
 */
const runSerial = (refs: ReadonlyArray<MemRef>, batchCapacity?: number): InvariantChecker.Result => {
  const tool = InvariantChecker.make()
  const records = new Map<number, Array<readonly [RecordBatch.RecordBatch, number]>>()
  for (const t of tidsOf(refs)) {
    const batches = Trace.decodeSync(S.encode(toEntries(refs.filter((r) => r.tid === t))), {
      ordinal: t - TID_BASE,
      batchCapacity
    })
    records.set(
      t,
      batches.flatMap((b) => Array.from({ length: RecordBatch.length(b) }, (_, i) => [b, i] as const))
    )
  }
  const shards = new Map<number, InvariantChecker.State>()
  const consumed = new Map<number, number>()
  let output = 0
  for (let k = 0; k < refs.length; ) {
    const tid = refs[k]!.tid
    let n = 1
    while (k + n < refs.length && refs[k + n]!.tid === tid) n++
    const input = tid - TID_BASE
    let state = shards.get(input)
    if (state === undefined) {
      state = tool.makeShard({
        shardIndex: input,
        shardType: "thread",
        serial: false,
        outputCount: 1,
        serialShards: () => shards.size
      })
      shards.set(input, state)
    }
    for (let left = n; left > 0; ) {
      const done = consumed.get(tid) ?? 0
      const [batch, start] = records.get(tid)![done]!
      const end = Math.min(RecordBatch.length(batch), start + left)
      const ctx: Tool.BatchContext = { output: 0, input, outputRecordsBefore: output, inputRecordsBefore: done }
      assert.isUndefined(tool.processBatch(state, batch, start, end, ctx))
      consumed.set(tid, done + end - start)
      output += end - start
      left -= end - start
    }
    k += n
  }
  const outcomes = [...shards.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([shardIndex, state]) => ({
      shardIndex,
      shardType: "thread" as const,
      result: tool.finishShard(state) as InvariantChecker.ShardResult
    }))
  return tool.merge(outcomes)
}

/** run_checker(memrefs, expect_error, expected_error_info). */
const runChecker = (refs: ReadonlyArray<MemRef>, expected?: ErrorInfo) => {
  const want = expected === undefined ? [] : [expected]
  assert.deepStrictEqual(found(runSerial(refs), "T"), want, "serial")
  assert.deepStrictEqual(found(runParallel(refs), "T"), want, "parallel")
  // Batches of at most 7 records: the same, across batch boundaries.
  assert.deepStrictEqual(found(runSerial(refs, SMALL_BATCHES), "T"), want, "serial, small batches")
  assert.deepStrictEqual(found(runParallel(refs, SMALL_BATCHES), "T"), want, "parallel, small batches")
}

/** run_csod_checker(memrefs, expect_error, expected_error_info). */
const runCsodChecker = (refs: ReadonlyArray<MemRef>, expected?: ErrorInfo) => {
  const want = expected === undefined ? [] : [expected]
  for (const batchCapacity of [undefined, SMALL_BATCHES]) {
    const r = runEntriesSync(InvariantChecker.make(), [toEntries(refs)], { shardType: "core", batchCapacity }).result
    assert.deepStrictEqual(found(r, "core"), want, `batch capacity ${batchCapacity ?? "default"}`)
  }
}

/**
 * run_checker(..., set_skipped=true): parallel only, each shard told it
 * skipped instructions. Here the input's stream says so: its first batch
 * claims 100 records and 50 instructions were delivered before it.
 */
const runCheckerSkipped = (refs: ReadonlyArray<MemRef>) => {
  const tool = InvariantChecker.make()
  const outcomes = tidsOf(refs).map((t) => {
    const input = t - TID_BASE
    const batches = Trace.decodeSync(S.encode(toEntries(refs.filter((r) => r.tid === t))), { ordinal: input })
    const state = tool.makeShard({ shardIndex: input, shardType: "thread", serial: false, outputCount: 1 })
    let before = 100
    let instrs = 50
    for (const b of batches) {
      RecordBatch.setOrigin(b, input, before + 1, instrs)
      const ctx: Tool.BatchContext = { output: 0, input, outputRecordsBefore: before, inputRecordsBefore: before }
      assert.isUndefined(tool.processBatch(state, b, 0, RecordBatch.length(b), ctx))
      before += RecordBatch.length(b)
      for (let i = 0; i < RecordBatch.length(b); i++) if (b.type[i] === TraceType.INSTR) instrs++
    }
    return {
      shardIndex: input,
      shardType: "thread" as const,
      result: tool.finishShard(state) as InvariantChecker.ShardResult
    }
  })
  assert.deepStrictEqual(found(tool.merge(outcomes), "T"), [])
}

const m = genMarker
const M = MarkerType
const T = TraceType

// ---------------------------------------------------------------------------------------------

describe("DynamoRIO invariant_checker_test.cpp (part 2)", () => {
  describe("check_timestamps_increase_monotonically", () => {
    it("correct: timestamps increase monotonically", () => {
      runChecker([
        m(TID_A, M.CACHE_LINE_SIZE, 64),
        m(TID_A, M.PAGE_SIZE, 4096),
        m(TID_A, M.TIMESTAMP, 0),
        m(TID_A, M.TIMESTAMP, 10),
        m(TID_A, M.TIMESTAMP, 10),
        genInstr(TID_A),
        genExit(TID_A)
      ])
    })

    it("incorrect: timestamp does not increase monotonically", () => {
      runChecker(
        [
          m(TID_A, M.CACHE_LINE_SIZE, 64),
          m(TID_A, M.PAGE_SIZE, 4096),
          m(TID_A, M.TIMESTAMP, 0),
          m(TID_A, M.TIMESTAMP, 10),
          m(TID_A, M.TIMESTAMP, 5),
          genInstr(TID_A),
          genExit(TID_A)
        ],
        err("Timestamp does not increase monotonically", 1, 5, 10, 0)
      )
    })
  })

  describe("check_exit_found", () => {
    it("correct: all threads have exits", () => {
      runChecker([
        m(TID_A, M.CACHE_LINE_SIZE, 64),
        m(TID_A, M.PAGE_SIZE, 4096),
        genInstr(TID_A),
        genExit(TID_A),
        m(TID_B, M.CACHE_LINE_SIZE, 64),
        m(TID_B, M.PAGE_SIZE, 4096),
        genInstr(TID_B),
        genExit(TID_B),
        m(TID_C, M.CACHE_LINE_SIZE, 64),
        m(TID_C, M.PAGE_SIZE, 4096),
        genInstr(TID_C),
        genExit(TID_C)
      ])
    })

    it("incorrect: a thread is missing an exit", () => {
      runChecker(
        [
          m(TID_A, M.CACHE_LINE_SIZE, 64),
          m(TID_A, M.PAGE_SIZE, 4096),
          genInstr(TID_A),
          genExit(TID_A),
          m(TID_B, M.CACHE_LINE_SIZE, 64),
          m(TID_B, M.PAGE_SIZE, 4096),
          genInstr(TID_B),
          // Missing exit.
          m(TID_C, M.CACHE_LINE_SIZE, 64),
          m(TID_C, M.PAGE_SIZE, 4096),
          genInstr(TID_C),
          genExit(TID_C)
        ],
        err("Thread is missing exit", TID_B, 3, 0, 1)
      )
    })
  })

  // test_main runs it with for_syscall = false, then true.
  for (const forSyscall of [false, true]) {
    describe(`check_kernel_trace_and_signal_markers(for_syscall=${forSyscall})`, () => {
      // The syscall number when for_syscall, otherwise the context switch type.
      const KERNEL_TRACE_TYPE = 1
      const start = forSyscall ? M.SYSCALL_TRACE_START : M.CONTEXT_SWITCH_START
      const end = forSyscall ? M.SYSCALL_TRACE_END : M.CONTEXT_SWITCH_END
      const fileType = FileType.SYSCALL_NUMBERS | (forSyscall ? FileType.KERNEL_SYSCALLS : 0)
      const testType = forSyscall ? "Syscall" : "Context switch"
      const head = [m(TID_A, M.FILETYPE, fileType), m(TID_A, M.CACHE_LINE_SIZE, 64), m(TID_A, M.PAGE_SIZE, 4096)]

      it("matching interrupt kernel_event and kernel_xfer in the kernel trace", () => {
        runChecker([
          ...head,
          genInstr(TID_A, 1),
          // The syscall marker is needed for the syscall test but doesn't make any
          // difference for the context switch test.
          m(TID_A, M.SYSCALL, KERNEL_TRACE_TYPE),
          m(TID_A, start, KERNEL_TRACE_TYPE),
          genInstr(TID_A, 10),
          m(TID_A, M.KERNEL_EVENT, 11),
          genInstr(TID_A, 101),
          m(TID_A, M.KERNEL_XFER, 102),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 11),
          m(TID_A, end, KERNEL_TRACE_TYPE),
          genInstr(TID_A, 2),
          genExit(TID_A)
        ])
      })

      it("extra interrupt kernel_event in the kernel trace", () => {
        runChecker(
          [
            ...head,
            genInstr(TID_A, 1),
            m(TID_A, M.SYSCALL, KERNEL_TRACE_TYPE),
            m(TID_A, start, KERNEL_TRACE_TYPE),
            genInstr(TID_A, 10),
            m(TID_A, M.KERNEL_EVENT, 11),
            genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 101),
            m(TID_A, end, KERNEL_TRACE_TYPE),
            genInstr(TID_A, 2),
            genExit(TID_A)
          ],
          err(`${testType} trace has extra context event marker`, TID_A, 10, 0, 3)
        )
      })

      it("extra interrupt kernel_xfer in the kernel trace", () => {
        runChecker(
          [
            ...head,
            genInstr(TID_A, 1),
            m(TID_A, M.SYSCALL, KERNEL_TRACE_TYPE),
            m(TID_A, start, KERNEL_TRACE_TYPE),
            genInstr(TID_A, 101),
            m(TID_A, M.KERNEL_XFER, 102),
            genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 102),
            m(TID_A, end, KERNEL_TRACE_TYPE),
            genExit(TID_A)
          ],
          err(`${testType} trace has extra kernel_xfer marker`, TID_A, 8, 0, 2)
        )
      })

      it("signal immediately after kernel trace", () => {
        runChecker([
          ...head,
          genInstr(TID_A, 1),
          m(TID_A, M.SYSCALL, KERNEL_TRACE_TYPE),
          m(TID_A, start, KERNEL_TRACE_TYPE),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 10),
          m(TID_A, end, KERNEL_TRACE_TYPE),
          // Consecutive kernel trace, for a stronger test.
          genInstr(TID_A, 2),
          m(TID_A, M.SYSCALL, KERNEL_TRACE_TYPE),
          m(TID_A, start, KERNEL_TRACE_TYPE),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 10, 1, 3),
          m(TID_A, end, KERNEL_TRACE_TYPE),
          // pc=3 is the next instruction in the outer-most trace context.
          m(TID_A, M.KERNEL_EVENT, 3),
          genInstr(TID_A, 101),
          m(TID_A, M.KERNEL_XFER, 102),
          genInstr(TID_A, 3),
          genExit(TID_A)
        ])
      })

      it("signal immediately after kernel trace, with incorrect kernel_event marker value", () => {
        // A context switch does not report an error vs the prior pc (another thread's context).
        const expected = forSyscall
          ? "Non-explicit control flow has no marker @ kernel_event marker"
          : "Kernel trace-end branch marker does not match context-first kernel_event marker"
        runChecker(
          [
            ...head,
            genInstr(TID_A, 1),
            m(TID_A, M.SYSCALL, KERNEL_TRACE_TYPE),
            m(TID_A, start, KERNEL_TRACE_TYPE),
            genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 10),
            m(TID_A, end, KERNEL_TRACE_TYPE),
            // Consecutive kernel trace, for a stronger test.
            genInstr(TID_A, 2),
            m(TID_A, M.SYSCALL, KERNEL_TRACE_TYPE),
            m(TID_A, start, KERNEL_TRACE_TYPE),
            genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 10, 1, 2),
            m(TID_A, end, KERNEL_TRACE_TYPE),
            // Incorrectly pc=11, the next instruction in the kernel trace.
            m(TID_A, M.KERNEL_EVENT, 11),
            genInstr(TID_A, 101),
            m(TID_A, M.KERNEL_XFER, 102),
            genExit(TID_A)
          ],
          err(expected, TID_A, 14, 0, 4)
        )
      })

      it("interrupt inside a kernel trace, with function markers around it", () => {
        const FUNC_ID = 1
        const START_PC = 1
        const FUNC_PC = 10
        const SYSCALL_LAST_PC = 100
        const INTERRUPT_HANDLER_LAST_PC = 1000
        runChecker([
          ...head,
          genInstrType(T.INSTR_DIRECT_CALL, TID_A, START_PC),
          m(TID_A, M.FUNC_ID, FUNC_ID),
          m(TID_A, M.FUNC_RETADDR, START_PC + 1),
          genInstr(TID_A, FUNC_PC),
          m(TID_A, M.SYSCALL, KERNEL_TRACE_TYPE),
          // An interrupt inside a kernel trace.
          m(TID_A, start, KERNEL_TRACE_TYPE),
          m(TID_A, M.KERNEL_EVENT, SYSCALL_LAST_PC),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, INTERRUPT_HANDLER_LAST_PC),
          m(TID_A, M.KERNEL_XFER, INTERRUPT_HANDLER_LAST_PC + 1),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, SYSCALL_LAST_PC),
          m(TID_A, end, KERNEL_TRACE_TYPE),
          // For tail calls, we see function markers following a non-call instr.
          genInstrType(T.INSTR_DIRECT_JUMP, TID_A, FUNC_PC + 1),
          m(TID_A, M.FUNC_ID, FUNC_ID),
          // Same return address as the original direct_call above.
          m(TID_A, M.FUNC_RETADDR, START_PC + 1),
          genExit(TID_A)
        ])
      })
    })
  }

  describe("check_kernel_context_switch_trace", () => {
    const TEMPLATES = FileType.KERNEL_SYSCALL_TRACE_TEMPLATES
    const head = (ft: number) => [
      m(TID_A, M.FILETYPE, ft),
      m(TID_A, M.CACHE_LINE_SIZE, 64),
      m(TID_A, M.PAGE_SIZE, 4096)
    ]
    const plainHead = [m(TID_A, M.CACHE_LINE_SIZE, 64), m(TID_A, M.PAGE_SIZE, 4096)]

    it("good context switch trace template file", () => {
      runChecker([
        ...head(TEMPLATES),
        m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
        genInstr(TID_A, 10),
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 11, 1, 2),
        m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_THREAD),
        m(TID_A, M.CHUNK_FOOTER, 0),
        m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_PROCESS),
        genInstr(TID_A, 10),
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 11, 1, 2),
        m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_PROCESS),
        genExit(TID_A)
      ])
    })

    it("PC discontinuity in one of the traces", () => {
      runChecker(
        [
          ...head(TEMPLATES),
          m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
          genInstr(TID_A, 10),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 12, 1, 2),
          m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_THREAD),
          m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_PROCESS),
          genInstr(TID_A, 10),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 11, 1, 2),
          m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_PROCESS),
          genExit(TID_A)
        ],
        err("Non-explicit control flow has no marker", TID_A, 6, 0, 2)
      )
    })

    it("trace not available for one type of context switch", () => {
      runChecker(
        [
          ...head(TEMPLATES),
          m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
          genInstr(TID_A, 10),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 11, 1, 2),
          m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_THREAD),
          genExit(TID_A)
        ],
        err("Missing switch traces in template file", TID_A, 8, 0, 2)
      )
    })

    it("invalid context switch type", () => {
      runChecker(
        [
          ...head(TEMPLATES),
          m(TID_A, M.CONTEXT_SWITCH_START, 3),
          genInstr(TID_A, 10),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 11, 1, 2),
          m(TID_A, M.CONTEXT_SWITCH_END, 3),
          m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
          genInstr(TID_A, 10),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 11, 1, 2),
          m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_THREAD),
          m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_PROCESS),
          genInstr(TID_A, 10),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 11, 1, 2),
          m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_PROCESS),
          genExit(TID_A)
        ],
        err("Invalid switch type", TID_A, 4, 0, 0)
      )
    })

    it("context switch trace in a thread, returning to the next pc", () => {
      runChecker([
        ...plainHead,
        genInstr(TID_A, 1),
        m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
        genInstr(TID_A, 10),
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 11, 1, 2),
        m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_THREAD),
        genInstr(TID_A, 2),
        genExit(TID_A)
      ])
    })

    it("switch trace does not end with an indirect branch", () => {
      runChecker(
        [
          ...plainHead,
          genInstr(TID_A, 1),
          m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
          genInstr(TID_A, 10),
          m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_THREAD),
          genExit(TID_A)
        ],
        err("Switch trace does not end with indirect branch", TID_A, 6, 0, 2)
      )
    })

    it("switch trace-end branch target does not match the next pc", () => {
      runChecker(
        [
          ...plainHead,
          genInstr(TID_A, 1),
          m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
          genInstr(TID_A, 10),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 11, 1, 2),
          m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_THREAD),
          genInstr(TID_A, 3),
          genExit(TID_A)
        ],
        err("Kernel trace-end branch marker does not match next pc", TID_A, 8, 0, 4)
      )
    })

    it("PC discontinuity inside a context switch trace", () => {
      runChecker(
        [
          ...plainHead,
          genInstr(TID_A, 1),
          m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
          genInstr(TID_A, 10),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 12, 1, 2),
          m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_THREAD),
          genInstr(TID_A, 2),
          genExit(TID_A)
        ],
        err("Non-explicit control flow has no marker", TID_A, 6, 0, 3)
      )
    })

    it("nested kernel context switch traces", () => {
      runChecker(
        [
          ...plainHead,
          genInstr(TID_A, 1),
          m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
          genInstr(TID_A, 10),
          m(TID_A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
          genExit(TID_A)
        ],
        err("Nested kernel context switch traces are not expected", TID_A, 6, 0, 2)
      )
    })

    it("kernel context switch trace end without start", () => {
      runChecker(
        [
          ...plainHead,
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 1, 1, 2),
          m(TID_A, M.CONTEXT_SWITCH_END, SWITCH_THREAD),
          genInstr(TID_A, 2),
          genExit(TID_A)
        ],
        err("Found kernel context switch trace end without start", TID_A, 4, 0, 1)
      )
    })
  })

  describe("check_kernel_syscall_trace", () => {
    const A = TID_A
    const FILE_TYPE = FileType.ENCODINGS | FileType.SYSCALL_NUMBERS | FileType.KERNEL_SYSCALL_INSTR_ONLY
    const FILE_TYPE_FULL_SYSCALL_TRACE = FileType.ENCODINGS | FileType.SYSCALL_NUMBERS | FileType.KERNEL_SYSCALLS
    const version = m(A, M.VERSION, TRACE_ENTRY_VERSION_BRANCH_INFO)
    const head = (ft: number) => [m(A, M.FILETYPE, ft), m(A, M.CACHE_LINE_SIZE, 64), m(A, M.PAGE_SIZE, 4096)]
    const syscallFuncId = m(A, M.FUNC_ID, TRACE_FUNC_ID_SYSCALL_BASE + 42)
    const read = genData(A, true, 0x1234, 4)
    /** The injected trace: move, load (+ its read unless `noRead`), the sysret to `target`. */
    const injected = (num: number, target: Encoded | 0, noRead = false) => [
      m(A, M.SYSCALL_TRACE_START, num),
      enc(A, IL.move!),
      enc(A, IL.load!),
      ...(noRead ? [] : [read]),
      enc(A, IL.sysReturn!, T.INSTR_INDIRECT_JUMP, target),
      m(A, M.SYSCALL_TRACE_END, num)
    ]

    it("control resumes at the instruction at the pc specified in the syscall-end branch target marker", () => {
      runChecker([
        version,
        ...head(FILE_TYPE_FULL_SYSCALL_TRACE | FileType.BLOCKING_SYSCALLS),
        enc(A, IL.sys!),
        m(A, M.SYSCALL, 42),
        m(A, M.MAYBE_BLOCKING_SYSCALL, 42),
        syscallFuncId,
        m(A, M.FUNC_ARG, 1),
        // Markers that may be added based on the syscall's func tracing markers (not all at once in a real trace).
        m(A, M.SYSCALL_UNSCHEDULE, 1),
        m(A, M.SYSCALL_SCHEDULE, 1),
        m(A, M.SYSCALL_ARG_TIMEOUT, 1),
        m(A, M.DIRECT_THREAD_SWITCH, 1),
        ...injected(42, IL.postSys!),
        syscallFuncId,
        m(A, M.FUNC_RETVAL, 1),
        m(A, M.SYSCALL_FAILED, 42),
        enc(A, IL.postSys!),
        genExit(A)
      ])
    })

    it("syscall trace injected before func_arg marker", () => {
      runChecker(
        [
          version,
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          ...injected(42, IL.postSys!),
          syscallFuncId,
          m(A, M.FUNC_ARG, 1),
          enc(A, IL.postSys!),
          genExit(A)
        ],
        err("Found unexpected func_arg or syscall marker after injected syscall trace", A, 14, 0, 4)
      )
    })

    it("syscall trace injected before a non-syscall func_arg marker", () => {
      runChecker([
        version,
        ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
        enc(A, IL.sys!),
        m(A, M.SYSCALL, 42),
        ...injected(42, IL.postSys!),
        m(A, M.KERNEL_XFER, 1),
        m(A, M.TIMESTAMP, 1),
        m(A, M.CPU_ID, 1),
        // A non-syscall function traced with -record_function may follow an injected syscall trace directly.
        m(A, M.FUNC_ID, TRACE_FUNC_ID_SYSCALL_BASE - 1),
        m(A, M.FUNC_ARG, 1),
        enc(A, IL.postSys!),
        genExit(A)
      ])
    })

    it("syscall trace injected before syscall_schedule marker", () => {
      runChecker(
        [
          version,
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          ...injected(42, IL.postSys!),
          m(A, M.SYSCALL_SCHEDULE, 1),
          enc(A, IL.postSys!),
          genExit(A)
        ],
        err("Found unexpected func_arg or syscall marker after injected syscall trace", A, 13, 0, 4)
      )
    })

    it("syscall trace injected after func_retval marker", () => {
      runChecker(
        [
          version,
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          syscallFuncId,
          m(A, M.FUNC_ARG, 1),
          syscallFuncId,
          m(A, M.FUNC_RETVAL, 1),
          ...injected(42, IL.postSys!),
          enc(A, IL.postSys!),
          genExit(A)
        ],
        err("System call trace found without prior syscall marker or unexpected intervening records", A, 11, 0, 1)
      )
    })

    it("missing indirect branch target at the syscall trace end", () => {
      runChecker(
        [
          version,
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          // No BRANCH_TARGET marker before the sysret.
          ...injected(42, 0),
          enc(A, IL.postSys!),
          genExit(A)
        ],
        err("Expected thread exit after branch-to-zero in syscall trace", A, 13, 0, 5)
      )
    })

    it("incorrect indirect branch target at the syscall trace end", () => {
      runChecker(
        [
          version,
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          // Should have been post_sys.
          ...injected(42, IL.move!),
          enc(A, IL.postSys!),
          genExit(A)
        ],
        err("Kernel trace-end branch marker does not match next pc", A, 13, 0, 5)
      )
    })

    it("correct-looking syscall-end branch target, but a PC discontinuity vs the pre-syscall instr", () => {
      runChecker(
        [
          version,
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          ...injected(42, IL.move!),
          enc(A, IL.move!),
          genExit(A)
        ],
        err("Non-explicit control flow has no marker", A, 13, 0, 5)
      )
    })

    it("control resumes at the kernel_event marker with the pc of the syscall-end branch target", () => {
      runChecker([
        version,
        ...head(FILE_TYPE_FULL_SYSCALL_TRACE | FileType.BLOCKING_SYSCALLS),
        enc(A, IL.sys!),
        m(A, M.SYSCALL, 42),
        m(A, M.MAYBE_BLOCKING_SYSCALL, 42),
        syscallFuncId,
        m(A, M.FUNC_ARG, 1),
        ...injected(42, IL.postSys!),
        syscallFuncId,
        m(A, M.FUNC_RETVAL, 1),
        m(A, M.SYSCALL_FAILED, 42),
        m(A, M.KERNEL_EVENT, IL.postSys!.pc),
        enc(A, IL.move!),
        m(A, M.KERNEL_XFER, IL.load!.pc),
        enc(A, IL.postSys!),
        genExit(A)
      ])
    })

    it("control resumes at the kernel_event marker with the sys pc, also the syscall-end branch target", () => {
      runChecker([
        version,
        ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
        enc(A, IL.sys!),
        m(A, M.SYSCALL, 42),
        // The auto-restarted sys is next: the kernel_event value takes precedence.
        ...injected(42, IL.sys!),
        m(A, M.KERNEL_EVENT, IL.sys!.pc),
        enc(A, IL.move!),
        m(A, M.KERNEL_XFER, IL.load!.pc),
        enc(A, IL.sys!),
        genExit(A)
      ])
    })

    it("syscall-end branch target mismatching the next kernel_event marker", () => {
      runChecker(
        [
          version,
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          ...injected(42, IL.postSys!),
          m(A, M.KERNEL_EVENT, IL.load!.pc),
          enc(A, IL.move!),
          m(A, M.KERNEL_XFER, IL.load!.pc),
          enc(A, IL.load!),
          read,
          genExit(A)
        ],
        // Reported at the kernel_event marker, not at the syscall-trace-end branch target.
        err("Non-explicit control flow has no marker @ kernel_event marker", A, 13, 0, 4)
      )
    })

    it("correct-looking syscall-end branch target, but a PC discontinuity at the signal resumption point", () => {
      runChecker(
        [
          version,
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          ...injected(42, IL.postSys!),
          m(A, M.KERNEL_EVENT, IL.postSys!.pc),
          enc(A, IL.move!),
          m(A, M.KERNEL_XFER, IL.load!.pc),
          // PC discontinuity at the signal resumption point.
          enc(A, IL.nop!),
          genExit(A)
        ],
        err("Signal handler return point incorrect", A, 16, 0, 6)
      )
    })

    it("instr-only kernel syscall trace", () => {
      runChecker([
        version,
        ...head(FILE_TYPE),
        enc(A, IL.sys!),
        m(A, M.SYSCALL, 42),
        // No read record for the load: allowed in an instr-only syscall trace.
        ...injected(42, IL.postSys!, true),
        enc(A, IL.postSys!),
        genExit(A)
      ])
    })

    it("signal return right after a sigreturn syscall trace whose branch target is the resumption instr", () => {
      runChecker([
        version,
        ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
        enc(A, IL.sys!),
        m(A, M.SYSCALL, SYS_rt_sigreturn),
        ...injected(SYS_rt_sigreturn, IL.move!),
        m(A, M.KERNEL_XFER, 42),
        enc(A, IL.move!),
        genExit(A)
      ])
    })

    it("signal return right after a sigreturn syscall trace whose branch target is the next kernel_event", () => {
      runChecker([
        version,
        ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
        enc(A, IL.sys!),
        m(A, M.SYSCALL, SYS_rt_sigreturn),
        ...injected(SYS_rt_sigreturn, IL.nop!),
        m(A, M.KERNEL_XFER, 42),
        // The syscall-trace-end branch target vs next-pc check happens at this kernel_event marker.
        m(A, M.KERNEL_EVENT, IL.nop!.pc),
        enc(A, IL.load!),
        read,
        genExit(A)
      ])
    })

    it("signal return right after a sigreturn syscall trace whose branch target mismatches the next kernel_event", () => {
      runChecker(
        [
          version,
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, SYS_rt_sigreturn),
          // Incorrectly the load: the kernel_event below resumes at the nop.
          ...injected(SYS_rt_sigreturn, IL.load!),
          m(A, M.KERNEL_XFER, 42),
          m(A, M.KERNEL_EVENT, IL.nop!.pc),
          genExit(A)
        ],
        err("Kernel trace-end branch marker does not match context-first kernel_event marker", A, 14, 0, 4)
      )
    })

    it("no version marker, so no branch target marker is expected", () => {
      runChecker([
        ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
        enc(A, IL.sys!),
        m(A, M.SYSCALL, 42),
        ...injected(42, 0),
        enc(A, IL.postSys!),
        genExit(A)
      ])
    })

    it("consecutive system call traces after the same user-space instr", () => {
      runChecker(
        [
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          ...injected(42, 0),
          // Another trace for the same system call instr.
          m(A, M.SYSCALL, 42),
          ...injected(42, 0),
          enc(A, IL.postSys!),
          genExit(A)
        ],
        err("Found multiple syscall traces after a user-space instr", A, 13, 0, 4)
      )
    })

    it("unexpected instr at the end of a syscall trace", () => {
      runChecker(
        [
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          m(A, M.SYSCALL_TRACE_START, 42),
          enc(A, IL.move!),
          enc(A, IL.load!),
          read,
          // Missing return instruction.
          m(A, M.SYSCALL_TRACE_END, 42),
          enc(A, IL.postSys!),
          genExit(A)
        ],
        err("System call trace does not end with indirect branch", A, 10, 0, 3)
      )
    })

    it("syscall trace in a trace whose file type has no kernel syscall traces", () => {
      runChecker(
        [
          ...head(FileType.ENCODINGS | FileType.SYSCALL_NUMBERS),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          ...injected(42, 0),
          genExit(A)
        ],
        err("Found kernel syscall trace without corresponding file type", A, 6, 0, 1)
      )
    })

    it("mismatching syscall number in the trace start marker", () => {
      runChecker(
        [
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          m(A, M.SYSCALL_TRACE_START, 41),
          enc(A, IL.move!),
          enc(A, IL.load!),
          read,
          enc(A, IL.sysReturn!, T.INSTR_INDIRECT_JUMP),
          m(A, M.SYSCALL_TRACE_END, 42),
          genExit(A)
        ],
        err("Mismatching syscall num in trace start and syscall marker", A, 6, 0, 1)
      )
    })

    it("mismatching syscall number in the trace end marker", () => {
      runChecker(
        [
          ...head(FILE_TYPE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          m(A, M.SYSCALL_TRACE_START, 42),
          enc(A, IL.move!),
          enc(A, IL.load!),
          enc(A, IL.sysReturn!, T.INSTR_INDIRECT_JUMP),
          m(A, M.SYSCALL_TRACE_END, 41),
          genExit(A)
        ],
        err("Mismatching syscall num in trace end and syscall marker", A, 10, 0, 4)
      )
    })

    it("syscall trace end without start", () => {
      runChecker(
        [
          ...head(FILE_TYPE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          enc(A, IL.postSys!),
          enc(A, IL.nop!),
          m(A, M.SYSCALL_TRACE_END, 42),
          genExit(A)
        ],
        err("Found kernel syscall trace end without start", A, 8, 0, 3)
      )
    })

    it("record between the syscall marker and the syscall trace", () => {
      runChecker(
        [
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          m(A, M.CPU_ID, 11),
          ...injected(42, 0),
          genExit(A)
        ],
        err("System call trace found without prior syscall marker or unexpected intervening records", A, 7, 0, 1)
      )
    })

    it("record between the syscall marker and an instr-only syscall trace", () => {
      runChecker([
        ...head(FILE_TYPE),
        enc(A, IL.sys!),
        m(A, M.SYSCALL, 42),
        m(A, M.CPU_ID, 11),
        // Not an error for OFFLINE_FILE_TYPE_KERNEL_SYSCALL_INSTR_ONLY.
        ...injected(42, 0, true),
        genExit(A)
      ])
    })

    it("nested syscall traces", () => {
      runChecker(
        [
          ...head(FILE_TYPE),
          enc(A, IL.sys!),
          m(A, M.SYSCALL, 42),
          m(A, M.SYSCALL_TRACE_START, 42),
          m(A, M.SYSCALL, 42),
          ...injected(42, 0, true),
          genExit(A)
        ],
        err("Nested kernel syscall traces are not expected", A, 8, 0, 1)
      )
    })

    const templateHead = [...head(FileType.KERNEL_SYSCALL_TRACE_TEMPLATES | FileType.ENCODINGS), m(A, M.TIMESTAMP, 0)]

    it("a syscall template file", () => {
      runChecker([
        ...templateHead,
        // First template (its BRANCH_TARGET marker has no instr: target 0).
        m(A, M.SYSCALL_TRACE_START, 42),
        enc(A, IL.load!),
        read,
        enc(A, IL.sysReturn!, T.INSTR_INDIRECT_JUMP),
        m(A, M.SYSCALL_TRACE_END, 42),
        // Second template.
        m(A, M.SYSCALL_TRACE_START, DEFAULT_SYSCALL_TRACE_TEMPLATE_SYSNUM),
        m(A, M.KERNEL_EVENT, IL.load!.pc),
        enc(A, IL.move!),
        m(A, M.KERNEL_XFER, IL.load!.pc),
        enc(A, IL.load!),
        read,
        enc(A, IL.sysReturn!, T.INSTR_INDIRECT_JUMP),
        m(A, M.SYSCALL_TRACE_END, DEFAULT_SYSCALL_TRACE_TEMPLATE_SYSNUM),
        genExit(A)
      ])
    })

    it("missing default syscall trace template", () => {
      runChecker(
        [
          ...templateHead,
          m(A, M.SYSCALL_TRACE_START, 42),
          enc(A, IL.load!),
          read,
          enc(A, IL.sysReturn!, T.INSTR_INDIRECT_JUMP),
          m(A, M.SYSCALL_TRACE_END, 42),
          genExit(A)
        ],
        err("Missing default syscall trace in template file", A, 10, 0, 2)
      )
    })

    it("mixed syscall and switch trace templates", () => {
      runChecker(
        [
          ...templateHead,
          // Syscall template.
          m(A, M.SYSCALL_TRACE_START, DEFAULT_SYSCALL_TRACE_TEMPLATE_SYSNUM),
          enc(A, IL.load!),
          read,
          enc(A, IL.sysReturn!, T.INSTR_INDIRECT_JUMP),
          m(A, M.SYSCALL_TRACE_END, DEFAULT_SYSCALL_TRACE_TEMPLATE_SYSNUM),
          // Switch template.
          m(A, M.CONTEXT_SWITCH_START, SWITCH_THREAD),
          enc(A, IL.load!),
          read,
          enc(A, IL.sysReturn!, T.INSTR_INDIRECT_JUMP),
          m(A, M.CONTEXT_SWITCH_END, SWITCH_THREAD),
          genExit(A)
        ],
        err("Expected either switch or syscall traces in the template file", A, 15, 0, 4)
      )
    })

    it("PC discontinuity in the trace template", () => {
      runChecker(
        [
          ...templateHead,
          // Only one template, which has a PC discontinuity.
          m(A, M.SYSCALL_TRACE_START, DEFAULT_SYSCALL_TRACE_TEMPLATE_SYSNUM),
          enc(A, IL.move!),
          // Missing load.
          enc(A, IL.sysReturn!, T.INSTR_INDIRECT_JUMP),
          m(A, M.SYSCALL_TRACE_END, DEFAULT_SYSCALL_TRACE_TEMPLATE_SYSNUM),
          genExit(A)
        ],
        err("Non-explicit control flow has no marker", A, 7, 0, 2)
      )
    })

    it("x86: without encodings in the file type the instr before the trace need not be a syscall", () => {
      runChecker([
        ...head(FileType.SYSCALL_NUMBERS | FileType.KERNEL_SYSCALLS),
        genInstr(A),
        m(A, M.SYSCALL, 42),
        m(A, M.SYSCALL_TRACE_START, 42),
        genInstrType(T.INSTR_INDIRECT_JUMP, A),
        m(A, M.SYSCALL_TRACE_END, 42),
        genExit(A)
      ])
    })

    it("x86: discontinuity on return from a syscall", () => {
      runChecker(
        [
          ...head(FILE_TYPE_FULL_SYSCALL_TRACE),
          enc(A, IL2.sys1!),
          m(A, M.SYSCALL, 42),
          m(A, M.SYSCALL_TRACE_START, 42),
          enc(A, IL2.move1!),
          enc(A, IL2.iret!, T.INSTR_RETURN),
          read,
          m(A, M.SYSCALL_TRACE_END, 42),
          // Missing instrs.
          enc(A, IL2.nop6!),
          genExit(A)
        ],
        err("Non-explicit control flow has no marker", A, 11, 0, 4)
      )
    })
  })

  describe("check_has_instructions", () => {
    it("correct: 1 regular instruction", () => {
      runChecker([m(TID_A, M.CACHE_LINE_SIZE, 64), m(TID_A, M.PAGE_SIZE, 4096), genInstr(TID_A), genExit(TID_A)])
    })

    it("correct: 1 unfetched instruction", () => {
      runChecker([
        m(TID_A, M.CACHE_LINE_SIZE, 64),
        m(TID_A, M.PAGE_SIZE, 4096),
        genInstrType(T.INSTR_NO_FETCH, TID_A, 1),
        genExit(TID_A)
      ])
    })

    it("incorrect: no instructions", () => {
      runChecker(
        [m(TID_A, M.CACHE_LINE_SIZE, 64), m(TID_A, M.PAGE_SIZE, 4096), genExit(TID_A)],
        err("An unfiltered thread should have at least 1 user-space instruction", TID_A, 3, 0, 0)
      )
    })
  })

  describe("check_regdeps", () => {
    const REGDEPS = FileType.ARCH_REGDEPS
    const one = (ft: number, marker: MemRef) => [
      m(TID_A, M.FILETYPE, ft),
      m(TID_A, M.CACHE_LINE_SIZE, 64),
      m(TID_A, M.PAGE_SIZE, 4096),
      marker,
      genInstr(TID_A),
      genExit(TID_A)
    ]
    const cannot = (what: string) =>
      `OFFLINE_FILE_TYPE_ARCH_REGDEPS traces cannot have TRACE_MARKER_TYPE_${what} markers`

    it("incorrect: TRACE_MARKER_TYPE_SIGNAL_NUMBER not allowed", () => {
      runChecker(one(REGDEPS, m(TID_A, M.SIGNAL_NUMBER, 42)), err(cannot("SIGNAL_NUMBER"), TID_A, 4, 0, 0))
    })

    it("incorrect: TRACE_MARKER_TYPE_UNCOMPLETED_INSTRUCTION not allowed", () => {
      runChecker(
        one(REGDEPS, m(TID_A, M.UNCOMPLETED_INSTRUCTION, 42)),
        err(cannot("UNCOMPLETED_INSTRUCTION"), TID_A, 4, 0, 0)
      )
    })

    it("incorrect: OFFLINE_FILE_TYPE_ARCH_AARCH64 not allowed", () => {
      runChecker(
        one(REGDEPS | FileType.ARCH_AARCH64, m(TID_A, M.CPU_ID, INVALID_CPU_MARKER_VALUE)),
        err("OFFLINE_FILE_TYPE_ARCH_REGDEPS traces cannot have otherOFFLINE_FILE_TYPE_ARCH_*", TID_A, 1, 0, 0)
      )
    })

    it("incorrect: TRACE_MARKER_TYPE_CPU_ID with a value other than -1 not allowed", () => {
      runChecker(
        one(REGDEPS, m(TID_A, M.CPU_ID, 1)),
        err("OFFLINE_FILE_TYPE_ARCH_REGDEPS traces cannot have a valid TRACE_MARKER_TYPE_CPU_ID", TID_A, 4, 0, 0)
      )
    })

    it("incorrect: TRACE_MARKER_TYPE_SYSCALL_IDX not allowed", () => {
      runChecker(one(REGDEPS, m(TID_A, M.SYSCALL_IDX, 102)), err(cannot("SYSCALL_IDX"), TID_A, 4, 0, 0))
    })

    it("incorrect: TRACE_MARKER_TYPE_SYSCALL not allowed", () => {
      runChecker(
        one(FileType.SYSCALL_NUMBERS | REGDEPS, m(TID_A, M.SYSCALL, 102)),
        err(cannot("SYSCALL"), TID_A, 4, 0, 0)
      )
    })

    it("incorrect: non SYS_futex TRACE_MARKER_TYPE_FUNC_ID not allowed", () => {
      runChecker(
        one(REGDEPS, m(TID_A, M.FUNC_ID, 102)),
        err(
          "OFFLINE_FILE_TYPE_ARCH_REGDEPS traces cannot have TRACE_MARKER_TYPE_FUNC_ID markers related to functions that are not SYS_futex",
          TID_A,
          4,
          0,
          0
        )
      )
    })

    it("correct: SYS_futex TRACE_MARKER_TYPE_FUNC_ID allowed", () => {
      runChecker(one(REGDEPS, m(TID_A, M.FUNC_ID, TRACE_FUNC_ID_SYSCALL_BASE + SYS_futex)))
    })
  })

  describe("check_chunk_order", () => {
    /** CHUNK_INSTR_COUNT `count`, then instrs at pcs 1, 2, … each followed by a chunk footer from `footers`. */
    const chunks = (
      count: number,
      footers: ReadonlyArray<number>,
      fileType?: number,
      tail: ReadonlyArray<MemRef> = []
    ) => [
      ...(fileType === undefined ? [] : [m(TID_A, M.FILETYPE, fileType)]),
      m(TID_A, M.CACHE_LINE_SIZE, 64),
      m(TID_A, M.CHUNK_INSTR_COUNT, count),
      m(TID_A, M.PAGE_SIZE, 4096),
      ...footers.flatMap((f, k) => [genInstr(TID_A, k + 1), m(TID_A, M.CHUNK_FOOTER, f)]),
      ...tail,
      genExit(TID_A)
    ]

    it("correct: monotonic increase", () => {
      runChecker(chunks(1, [0, 1, 2]))
    })

    it("incorrect: skipped chunk ordinals", () => {
      runChecker(chunks(1, [0, 1, 3]), err("Chunks do not increase monotonically", TID_A, 9, 0, 3))
    })

    it("incorrect: no increase in chunk ordinal", () => {
      runChecker(chunks(1, [0, 1, 1]), err("Chunks do not increase monotonically", TID_A, 9, 0, 3))
    })

    it("correct: the ordinal check is skipped for dynamically core-sharded traces", () => {
      runCsodChecker(chunks(1, [0, 1, 1]))
    })

    it("incorrect: no increase in chunk ordinal, in a core-sharded-on-disk trace (not skipped)", () => {
      runCsodChecker(
        chunks(1, [0, 1, 1], FileType.CORE_SHARDED),
        err("Chunks do not increase monotonically", 0, csodRef(9), 0, 3)
      )
    })

    it("incorrect: inconsistent chunk instr count", () => {
      runChecker(
        chunks(2, [0], undefined, [genInstr(TID_A, 2)]),
        err("Chunk instruction counts are inconsistent", TID_A, 5, 0, 1)
      )
    })

    it("correct: the count check is skipped for dynamically core-sharded traces", () => {
      runCsodChecker(chunks(2, [0], undefined, [genInstr(TID_A, 2)]))
    })

    it("incorrect: inconsistent chunk instr count, in a core-sharded-on-disk trace (not skipped)", () => {
      runCsodChecker(
        chunks(2, [0], FileType.CORE_SHARDED, [genInstr(TID_A, 2)]),
        err("Chunk instruction counts are inconsistent", 0, csodRef(5), 0, 1)
      )
    })

    it("correct: no ordinal check after an explicit skip", () => {
      runCheckerSkipped(chunks(1, [7, 8, 9]))
    })
  })

  describe("check_core_sharded", () => {
    const FILE_TYPE = FileType.CORE_SHARDED
    const head = (tid: number) => [
      m(tid, M.FILETYPE, FILE_TYPE),
      m(tid, M.CACHE_LINE_SIZE, 64),
      m(tid, M.PAGE_SIZE, 4096)
    ]
    const threadB = [...head(TID_B), genInstr(TID_B, 1), genInstr(TID_B, 2), genInstr(TID_B, 3), genExit(TID_B)]

    it("no PC discontinuity is reported at a switch to another thread", () => {
      runCsodChecker([
        ...head(TID_A),
        genInstr(TID_A, 1),
        // Thread switch.
        ...threadB,
        // Thread switch.
        genInstr(TID_A, 2),
        genInstr(TID_A, 3),
        genExit(TID_A)
      ])
    })

    it("a PC discontinuity is reported when there is no switch", () => {
      runCsodChecker(
        [
          ...head(TID_A),
          genInstr(TID_A, 1),
          // Thread switch.
          ...threadB,
          genInstr(TID_A, 2),
          // PC discontinuity.
          genInstr(TID_A, 4),
          genExit(TID_A)
        ],
        err("Non-explicit control flow has no marker", 0, csodRef(12), 0, 6)
      )
    })

    it("no PC discontinuity is reported across core_idle markers", () => {
      runCsodChecker([
        ...head(TID_A),
        genInstr(TID_A, 1),
        // Thread switch.
        ...threadB,
        // Thread switch.
        genInstr(TID_A, 2),
        m(IDLE_THREAD_ID, M.CORE_IDLE, 1),
        // TID_A back on this stream.
        genInstr(TID_A, 4),
        genExit(TID_A)
      ])
    })

    // Fails: memtrace accepts any tid on a CORE_IDLE record of a CORE_SHARDED file (checker.ts, the
    // CORE_IDLE branch); see .scratch/review-invariants-2/findings.md.
    it("incorrect tid on a core_idle marker", () => {
      runCsodChecker(
        [
          ...head(TID_A),
          genInstr(TID_A, 1),
          // Incorrect tid: should always be IDLE_THREAD_ID.
          m(TID_A, M.CORE_IDLE, 1),
          genInstr(TID_A, 4),
          genExit(TID_A)
        ],
        err("Unexpected tid for core_idle marker", 0, csodRef(4), 0, 1)
      )
    })

    it("no missing thread exit is reported for core-sharded", () => {
      runCsodChecker([
        ...head(TID_A),
        genInstr(TID_A, 1),
        genInstr(TID_B, 2),
        genInstr(TID_B, 3),
        m(IDLE_THREAD_ID, M.CORE_IDLE, 1)
      ])
    })
  })

  describe("check_core_sharded_with_kernel", () => {
    const FILE_TYPE = FileType.CORE_SHARDED | FileType.KERNEL_SYSCALLS | FileType.SYSCALL_NUMBERS
    const SYSNUM = 42
    const head = (tid: number) => [
      m(tid, M.FILETYPE, FILE_TYPE),
      m(tid, M.CACHE_LINE_SIZE, 64),
      m(tid, M.PAGE_SIZE, 4096)
    ]

    it("no error with switch and syscall sequences wherever required", () => {
      runCsodChecker([
        ...head(TID_A),
        // Syscall that ends with core_idles.
        genInstr(TID_A, 1),
        m(TID_A, M.SYSCALL, SYSNUM),
        m(TID_A, M.SYSCALL_TRACE_START, SYSNUM),
        // The next instr on TID_A is at pc=2, seen only after the idles and switches.
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 101, 1, 2),
        m(TID_A, M.SYSCALL_TRACE_END, SYSNUM),
        // core_idles: a blocked output with nothing else to run yet.
        m(IDLE_THREAD_ID, M.CORE_IDLE, 1),
        m(IDLE_THREAD_ID, M.CORE_IDLE, 1),
        // Switch to TID_B, with a switch sequence ending with an indirect branch to the right pc.
        m(TID_B, M.CONTEXT_SWITCH_START, 1),
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_B, 101, 1, 1),
        m(TID_B, M.CONTEXT_SWITCH_END, 1),
        ...head(TID_B),
        genInstr(TID_B, 1),
        genInstr(TID_B, 2),
        m(TID_B, M.SYSCALL, SYSNUM),
        m(TID_B, M.SYSCALL_TRACE_START, SYSNUM),
        // A branch target of zero is acceptable: the thread exits next.
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_B, 101, 1, 0),
        m(TID_B, M.SYSCALL_TRACE_END, SYSNUM),
        genExit(TID_B),
        // Switch to TID_A, with a switch sequence ending with an indirect branch to the right pc.
        m(TID_A, M.CONTEXT_SWITCH_START, 1),
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 10, 1, 2),
        m(TID_A, M.CONTEXT_SWITCH_END, 1),
        genInstr(TID_A, 2),
        m(TID_A, M.SYSCALL, SYSNUM),
        // Syscall trace ending with a branch to zero: acceptable, a thread exit is next.
        m(TID_A, M.SYSCALL_TRACE_START, SYSNUM),
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 101, 1, 0),
        m(TID_A, M.SYSCALL_TRACE_END, SYSNUM),
        genExit(TID_A)
      ])
    })

    it("missing syscall trace", () => {
      runCsodChecker(
        [
          ...head(TID_A),
          genInstr(TID_A, 1),
          m(TID_A, M.SYSCALL, SYSNUM),
          // Missing syscall trace.
          genInstr(TID_A, 2),
          genExit(TID_A)
        ],
        err("Missing system call trace", 0, csodRef(5), 0, 2)
      )
    })

    it("missing switch trace", () => {
      runCsodChecker(
        [
          ...head(TID_A),
          genInstr(TID_A, 1),
          // Thread switch but no switch trace.
          ...head(TID_B),
          genInstr(TID_B, 1),
          genExit(TID_B)
        ],
        err("Missing context switch trace", 0, csodRef(4), 0, 1)
      )
    })

    it("switch trace marked with the wrong tid", () => {
      runCsodChecker(
        [
          ...head(TID_A),
          genInstr(TID_A, 1),
          // Switch traces should be marked with the next tid.
          m(TID_A, M.CONTEXT_SWITCH_START, 1),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 101, 1, 1),
          m(TID_A, M.CONTEXT_SWITCH_END, 1),
          genInstr(TID_B, 1),
          genExit(TID_B)
        ],
        err("Missing context switch trace", 0, csodRef(7), 0, 3)
      )
    })
  })

  describe("check_hardware_event_markers", () => {
    const FILE_TYPE = FileType.SYSCALL_NUMBERS | FileType.WHOLE_SYSTEM
    const WS = FileType.WHOLE_SYSTEM
    const head = (ft: number) => [
      m(TID_A, M.FILETYPE, ft),
      m(TID_A, M.CACHE_LINE_SIZE, 64),
      m(TID_A, M.PAGE_SIZE, 4096)
    ]

    it("incorrect: hardware event markers in a non-whole-system trace", () => {
      runChecker(
        [
          m(TID_A, M.CACHE_LINE_SIZE, 64),
          m(TID_A, M.PAGE_SIZE, 4096),
          genInstr(TID_A, 1),
          m(TID_A, M.HARDWARE_EVENT, 2),
          genExit(TID_A)
        ],
        err("Hardware context marker found in non-whole-system trace", TID_A, 4, 0, 1)
      )
    })

    it("correct: hardware event markers in a whole-system trace, seamless transitions", () => {
      runChecker([
        ...head(WS),
        genInstr(TID_A, 1),
        m(TID_A, M.HARDWARE_EVENT, 2),
        genInstr(TID_A, 101),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 102),
        genInstr(TID_A, 2),
        genExit(TID_A)
      ])
    })

    it("incorrect: both whole_system and kernel_syscalls bits in the file type", () => {
      runChecker(
        [...head(FileType.KERNEL_SYSCALLS | WS), genInstr(TID_A, 1), genExit(TID_A)],
        err("Trace cannot have both whole_system and kernel_syscalls bit set", TID_A, 1, 0, 0)
      )
    })

    it("incorrect: discontinuous PC in a hardware event marker", () => {
      runChecker(
        [...head(WS), genInstr(TID_A, 1), m(TID_A, M.HARDWARE_EVENT, 3), genExit(TID_A)],
        err("Non-explicit control flow has no marker @ hardware_event marker", TID_A, 5, 0, 1)
      )
    })

    it("incorrect: hardware context return to an incorrect resumption PC", () => {
      runChecker(
        [
          ...head(WS),
          genInstr(TID_A, 1),
          m(TID_A, M.HARDWARE_EVENT, 2),
          genInstr(TID_A, 101),
          m(TID_A, M.HARDWARE_CONTEXT_RETURN, 102),
          genInstr(TID_A, 5),
          genExit(TID_A)
        ],
        err("Interrupt handler return point incorrect", TID_A, 8, 0, 3)
      )
    })

    it("correct: nested hardware events", () => {
      runChecker([
        ...head(WS),
        genInstr(TID_A, 1),
        m(TID_A, M.HARDWARE_EVENT, 2),
        genInstr(TID_A, 10),
        m(TID_A, M.HARDWARE_EVENT, 11),
        genInstr(TID_A, 20),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 21),
        genInstr(TID_A, 11),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 12),
        genInstr(TID_A, 2),
        genExit(TID_A)
      ])
    })

    it("incorrect: mismatched hardware context return inside a syscall trace", () => {
      runChecker(
        [
          ...head(FILE_TYPE),
          genInstr(TID_A, 1),
          m(TID_A, M.HARDWARE_EVENT, 1),
          genInstr(TID_A, 10),
          m(TID_A, M.SYSCALL, 1),
          m(TID_A, M.SYSCALL_TRACE_START, 1),
          m(TID_A, M.HARDWARE_CONTEXT_RETURN, 102),
          genExit(TID_A)
        ],
        err("Syscall trace has extra hardware_context_return marker", TID_A, 9, 0, 2)
      )
    })

    it("correct: interrupted indirect branch returns to its target", () => {
      runChecker([
        ...head(WS),
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 1, 1, 2),
        m(TID_A, M.HARDWARE_EVENT, 2),
        genInstr(TID_A, 10),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 102),
        genInstr(TID_A, 2),
        genExit(TID_A)
      ])
    })

    it("incorrect: interrupted indirect branch returns to an incorrect PC", () => {
      runChecker(
        [
          ...head(WS),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 1, 1, 2),
          m(TID_A, M.HARDWARE_EVENT, 2),
          genInstr(TID_A, 10),
          m(TID_A, M.HARDWARE_CONTEXT_RETURN, 102),
          genInstr(TID_A, 5),
          genExit(TID_A)
        ],
        err("Interrupt handler return point incorrect", TID_A, 8, 0, 3)
      )
    })

    it("correct: consecutive hardware events without an intervening instruction", () => {
      runChecker([
        ...head(WS),
        genInstr(TID_A, 101),
        m(TID_A, M.HARDWARE_EVENT, 102),
        genInstr(TID_A, 201),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 202),
        m(TID_A, M.HARDWARE_EVENT, 102),
        genInstr(TID_A, 201),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 202),
        genInstr(TID_A, 102),
        genExit(TID_A)
      ])
    })

    it("correct: nested hardware events without any intervening instruction", () => {
      runChecker([
        ...head(WS),
        genInstr(TID_A, 1),
        m(TID_A, M.HARDWARE_EVENT, 2),
        m(TID_A, M.HARDWARE_EVENT, 10),
        genInstr(TID_A, 20),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 21),
        genInstr(TID_A, 10),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 11),
        genInstr(TID_A, 2),
        genExit(TID_A)
      ])
    })

    it("correct: syscall trace with hardware_event and hardware_context_return", () => {
      runChecker([
        ...head(FILE_TYPE),
        genInstr(TID_A, 1),
        m(TID_A, M.SYSCALL, 123),
        m(TID_A, M.SYSCALL_TRACE_START, 123),
        m(TID_A, M.HARDWARE_EVENT, 2),
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 10, 1, 2),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 11),
        m(TID_A, M.SYSCALL_TRACE_END, 123),
        genInstr(TID_A, 2),
        genExit(TID_A)
      ])
    })

    it("incorrect: enters with HARDWARE_EVENT but exits with KERNEL_XFER", () => {
      runChecker(
        [
          ...head(WS),
          genInstr(TID_A, 1),
          m(TID_A, M.HARDWARE_EVENT, 2),
          genInstr(TID_A, 10),
          m(TID_A, M.KERNEL_XFER, 11),
          genExit(TID_A)
        ],
        err("Mismatched signal/interrupt context return marker", TID_A, 7, 0, 2)
      )
    })

    it("incorrect: enters with KERNEL_EVENT but exits with HARDWARE_CONTEXT_RETURN", () => {
      runChecker(
        [
          ...head(WS),
          genInstr(TID_A, 1),
          m(TID_A, M.KERNEL_EVENT, 2),
          genInstr(TID_A, 10),
          m(TID_A, M.HARDWARE_CONTEXT_RETURN, 11),
          genExit(TID_A)
        ],
        err("Mismatched signal/interrupt context return marker", TID_A, 7, 0, 2)
      )
    })

    it("incorrect: syscall trace with an extra (unpopped) hardware_event marker", () => {
      runChecker(
        [
          ...head(FILE_TYPE),
          genInstr(TID_A, 1),
          m(TID_A, M.SYSCALL, 123),
          m(TID_A, M.SYSCALL_TRACE_START, 123),
          m(TID_A, M.HARDWARE_EVENT, 2),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 10, 1, 2),
          m(TID_A, M.SYSCALL_TRACE_END, 123),
          genExit(TID_A)
        ],
        err("Syscall trace has extra context event marker", TID_A, 9, 0, 2)
      )
    })

    it("correct: syscall in a whole-system trace returns to the hardware_event pc, not the fall-through", () => {
      runChecker([
        ...head(FILE_TYPE),
        genInstr(TID_A, 1),
        m(TID_A, M.SYSCALL, 123),
        m(TID_A, M.SYSCALL_TRACE_START, 123),
        // A known discontinuity at the syscall event itself.
        m(TID_A, M.HARDWARE_EVENT, 5),
        genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 10, 1, 5),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 11),
        m(TID_A, M.SYSCALL_TRACE_END, 123),
        genInstr(TID_A, 5),
        genExit(TID_A)
      ])
    })

    it("incorrect: syscall in a whole-system trace returns to an incorrect pc", () => {
      runChecker(
        [
          ...head(FILE_TYPE),
          genInstr(TID_A, 1),
          m(TID_A, M.SYSCALL, 123),
          m(TID_A, M.SYSCALL_TRACE_START, 123),
          m(TID_A, M.HARDWARE_EVENT, 5),
          genInstrType(T.INSTR_INDIRECT_JUMP, TID_A, 10, 1, 6),
          m(TID_A, M.HARDWARE_CONTEXT_RETURN, 11),
          m(TID_A, M.SYSCALL_TRACE_END, 123),
          genInstr(TID_A, 6),
          genExit(TID_A)
        ],
        err("Syscall return point incorrect in wholesys trace", TID_A, 11, 0, 3)
      )
    })

    it("correct: starts inside a hardware context event", () => {
      runChecker([
        ...head(WS),
        genInstr(TID_A, 10),
        m(TID_A, M.HARDWARE_CONTEXT_RETURN, 11),
        // Never-before-seen context; no discontinuity.
        genInstr(TID_A, 2),
        genExit(TID_A)
      ])
    })
  })
})
