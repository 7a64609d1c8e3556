/**
 * Kernel context-switch and system-call sequence injection, against
 * DynamoRIO's test_kernel_switch_sequences and test_kernel_syscall_sequences
 * (scheduler_unit_tests.cpp): the same inputs, templates and expected
 * per-output strings, plus their bad-template errors and the shipped
 * template files.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { Options } from "../../src/scheduler/internal/options.ts"
import * as Scheduler from "../../src/scheduler/Scheduler.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import { Driver, decode, type Entry, marker, mockThread, timestamp, version } from "./fixtures.ts"

const instr = Synthetic.instr

const WORKLOAD_SHIFT = 2 ** 48
const INDIRECT = TraceType.INSTR_INDIRECT_JUMP
const THREAD = 1
const PROCESS = 2
const DEFAULT_SYSNUM = 0x0fffffff

/** DynamoRIO's get_mock_switch_sequence: two complete one-thread traces in one file. */
const switchTemplates = (threadPc = 0xcafe101, processPc = 0xf00d101): Array<Entry> => [
  Synthetic.header(),
  Synthetic.threadEntry(1),
  Synthetic.pid(1),
  Synthetic.version(7),
  timestamp(1),
  marker(MarkerType.CONTEXT_SWITCH_START, PROCESS),
  instr(processPc),
  marker(MarkerType.BRANCH_TARGET, 0xd041ca4e),
  instr(processPc + 1, INDIRECT),
  marker(MarkerType.CONTEXT_SWITCH_END, PROCESS),
  Synthetic.exit(1),
  Synthetic.footer(),
  Synthetic.header(),
  Synthetic.threadEntry(1),
  Synthetic.pid(1),
  Synthetic.version(7),
  marker(MarkerType.CONTEXT_SWITCH_START, THREAD),
  instr(threadPc),
  marker(MarkerType.BRANCH_TARGET, 0xd041ca4e),
  instr(threadPc + 1, INDIRECT),
  marker(MarkerType.CONTEXT_SWITCH_END, THREAD),
  Synthetic.exit(1),
  Synthetic.footer()
]

/** DynamoRIO's get_mock_syscall_sequence. */
const syscallTemplates = (base: number, pc = 0xfeed101): Array<Entry> => [
  Synthetic.header(),
  Synthetic.threadEntry(1),
  Synthetic.pid(1),
  Synthetic.version(7),
  timestamp(1),
  marker(MarkerType.SYSCALL_TRACE_START, base),
  instr(pc),
  marker(MarkerType.BRANCH_TARGET, 0xd041ca4e),
  instr(pc + 1, INDIRECT),
  marker(MarkerType.SYSCALL_TRACE_END, base),
  marker(MarkerType.SYSCALL_TRACE_START, base + 1),
  instr(pc + 10),
  instr(pc + 11),
  marker(MarkerType.BRANCH_TARGET, 0xd041ca4e),
  instr(pc + 12, INDIRECT),
  marker(MarkerType.SYSCALL_TRACE_END, base + 1),
  marker(MarkerType.SYSCALL_TRACE_START, DEFAULT_SYSNUM),
  marker(MarkerType.BRANCH_TARGET, 0xd041ca4e),
  instr(pc + 20, INDIRECT),
  marker(MarkerType.SYSCALL_TRACE_END, DEFAULT_SYSNUM),
  Synthetic.exit(1),
  Synthetic.footer()
]

/**
 * DynamoRIO's run_lockstep_simulation_for_kernel_seq strings: a letter when
 * the thread changes (after a comma), then one character per record: `i`
 * instruction, `v` version, `f` filetype, `0` timestamp, `t`/`p` switch
 * start/end (thread/process), `F` function markers, `s` maybe-blocking or
 * failed syscall, `S` syscall, digits for syscall sequence start/end (value −
 * base + 1), `k` kernel transfer/event, `_` idle. Also returns every record.
 */
const kernelStrings = (d: Driver, outputs: number, tidBase: number, syscallBase: number) => {
  const strings = Array.from({ length: outputs }, () => "")
  const prevTid = new Array<number>(outputs).fill(0)
  const refs: Array<Array<{ tid: number; type: number; marker: number; value: number; target: number }>> = Array.from(
    { length: outputs },
    () => []
  )
  const eof = new Array<boolean>(outputs).fill(false)
  let left = outputs
  for (let rounds = 0; left > 0; rounds++) {
    if (rounds > 10_000) throw new Error("no EOF")
    for (let o = 0; o < outputs; o++) {
      if (eof[o]) continue
      const s = d.next(o, 0, 1)
      if (s._tag === "Eof") {
        eof[o] = true
        left--
        continue
      }
      if (s._tag === "Idle") {
        strings[o] += "_"
        continue
      }
      assert.strictEqual(s._tag, "Records")
      if (s._tag !== "Records") continue
      const b = s.batch
      const i = s.start
      const tid = b.tid[i]!
      const type = b.type[i]!
      const value = RecordBatch.addrNumber(b, i)
      refs[o]!.push({
        tid,
        type,
        marker: type === TraceType.MARKER ? b.size[i]! : -1,
        value,
        target: RecordBatch.auxBig(b, i) === 0n ? 0 : Number(RecordBatch.auxBig(b, i))
      })
      if (tid !== prevTid[o]) {
        if (strings[o] !== "") strings[o] += ","
        strings[o] += String.fromCharCode(65 + (tid % WORKLOAD_SHIFT) - tidBase)
      }
      prevTid[o] = tid
      if ((type >= 10 && type <= 16) || type === 31 || type === 48 || type === 49) strings[o] += "i"
      else if (type === TraceType.MARKER) {
        const m = b.size[i]!
        strings[o] +=
          m === MarkerType.VERSION
            ? "v"
            : m === MarkerType.FILETYPE
              ? "f"
              : m === MarkerType.TIMESTAMP
                ? "0"
                : m === MarkerType.CONTEXT_SWITCH_START || m === MarkerType.CONTEXT_SWITCH_END
                  ? value === PROCESS
                    ? "p"
                    : "t"
                  : m === MarkerType.FUNC_ID || m === MarkerType.FUNC_ARG || m === MarkerType.FUNC_RETVAL
                    ? "F"
                    : m === MarkerType.MAYBE_BLOCKING_SYSCALL || m === MarkerType.SYSCALL_FAILED
                      ? "s"
                      : m === MarkerType.SYSCALL
                        ? "S"
                        : m === MarkerType.SYSCALL_TRACE_START || m === MarkerType.SYSCALL_TRACE_END
                          ? String.fromCharCode(49 + value - syscallBase)
                          : m === MarkerType.KERNEL_EVENT || m === MarkerType.KERNEL_XFER
                            ? "k"
                            : "?"
      }
    }
  }
  return { strings, refs }
}

describe("kernel context-switch sequences (test_kernel_switch_sequences)", () => {
  const TID_BASE = 100
  const inputs: Array<Array<Entry>> = []
  const opts: Array<{ workload: number }> = []
  for (let w = 0; w < 3; w++) {
    for (let k = 0; k < 3; k++) {
      const tid = TID_BASE + w * 3 + k
      const e: Array<Entry> = [
        Synthetic.header(),
        Synthetic.threadEntry(tid),
        Synthetic.pid(1),
        Synthetic.version(7),
        timestamp(44226688)
      ]
      for (let j = 0; j < 9; j++) e.push(instr(tid * 100 + 42 + j * 4))
      e.push(Synthetic.exit(tid), Synthetic.footer())
      inputs.push(e)
      opts.push({ workload: w })
    }
  }
  const options = (templates: Array<Entry>): Options => ({
    mapping: "dynamic",
    deps: "timestamps",
    randomInitialLayout: -1,
    quantumDurationInstrs: 3,
    inputs: opts,
    kernelSwitchSequences: decode(templates)
  })

  it("injects a thread or process switch sequence at each switch; it does not count toward the quantum", () => {
    const d = new Driver(inputs, 2, options(switchTemplates()))
    const { strings, refs } = kernelStrings(d, 2, TID_BASE, 0)
    assert.deepStrictEqual(strings, [
      "Av0iii,Ctiitv0iii,Epiipv0iii,Gpiipv0iii,Itiitv0iii,Apiipiii,Ctiitiii,Epiipiii,Gpiipiii,Itiitiii,Apiipiii,Ctiitiii,Epiipiii,Gpiipiii,Itiitiii",
      "Bv0iii,Dpiipv0iii,Ftiitv0iii,Hpiipv0iii,Bpiipiii,Dpiipiii,Ftiitiii,Hpiipiii,Bpiipiii,Dpiipiii,Ftiitiii,Hpiipiii________________________"
    ])
    // The first switches on output 0, record by record.
    const r = refs[0]!
    const w1 = WORKLOAD_SHIFT + TID_BASE + 4
    const at = (k: number) => r[k]!
    assert.deepStrictEqual(
      [at(5).tid, at(5).marker, at(5).value],
      [TID_BASE + 2, MarkerType.CONTEXT_SWITCH_START, THREAD]
    )
    // The switch's indirect jump goes to the new thread's first instruction.
    assert.deepStrictEqual([at(7).tid, at(7).type, at(7).target], [TID_BASE + 2, INDIRECT, (TID_BASE + 2) * 100 + 42])
    assert.deepStrictEqual([at(8).marker, at(8).value], [MarkerType.CONTEXT_SWITCH_END, THREAD])
    assert.deepStrictEqual([at(14).tid, at(14).marker, at(14).value], [w1, MarkerType.CONTEXT_SWITCH_START, PROCESS])
    assert.deepStrictEqual([at(16).tid, at(16).type, at(16).target], [w1, INDIRECT, (TID_BASE + 4) * 100 + 42])
    const stats = d.core.stats(0)
    assert.strictEqual(stats[11], 14) // KERNEL_SWITCH_SEQUENCE_INJECTIONS: one per switch.
  })

  it("refuses a template file with two sequences of one type", () => {
    const bad: Array<Entry> = [
      Synthetic.header(),
      Synthetic.threadEntry(1),
      Synthetic.pid(1),
      marker(MarkerType.CONTEXT_SWITCH_START, PROCESS),
      instr(0xfeed101),
      marker(MarkerType.CONTEXT_SWITCH_END, PROCESS),
      Synthetic.footer(),
      Synthetic.header(),
      Synthetic.threadEntry(1),
      Synthetic.pid(1),
      marker(MarkerType.CONTEXT_SWITCH_START, PROCESS),
      instr(0xfeed101),
      marker(MarkerType.CONTEXT_SWITCH_END, PROCESS),
      Synthetic.footer()
    ]
    assert.throws(() => new Driver(inputs, 2, options(bad)), /Duplicate context switch sequence found/)
  })
})

describe("kernel system-call sequences (test_kernel_syscall_sequences)", () => {
  const TID_BASE = 100
  const SYSCALL_BASE = 42
  const TIMESTAMP = 44226688
  const SIGNAL_INT_PC = 0xdecafbad
  const FUNC_ID = 2 ** 32 + SYSCALL_BASE
  const inputs: Array<Array<Entry>> = []
  for (let k = 0; k < 3; k++) {
    const tid = TID_BASE + k
    const e: Array<Entry> = [
      Synthetic.header(),
      Synthetic.threadEntry(tid),
      Synthetic.pid(1),
      Synthetic.version(7),
      Synthetic.filetype(0x400),
      timestamp(TIMESTAMP)
    ]
    for (let j = 0; j < 9; j++) {
      e.push(instr(42 * tid + j * 4, TraceType.INSTR, 4))
      if (j % 2 !== 0) continue
      // Every other instruction is a system call, bracketed by timestamps.
      let post = true
      e.push(timestamp(TIMESTAMP + j), marker(MarkerType.SYSCALL, SYSCALL_BASE + ((j / 2) % 3)))
      if (j % 4 === 0) e.push(marker(MarkerType.MAYBE_BLOCKING_SYSCALL, 0))
      if (j === 0) {
        // The first system call was traced with its arguments (-record_syscall).
        e.push(marker(MarkerType.FUNC_ID, FUNC_ID), marker(MarkerType.FUNC_ARG, 10))
        if (k === 0) {
          // Interrupted by a signal: no post-syscall timestamp.
          e.push(marker(MarkerType.KERNEL_EVENT, SIGNAL_INT_PC), marker(MarkerType.KERNEL_XFER, 1))
          post = false
        } else if (k === 1) {
          // A sigreturn.
          e.push(marker(MarkerType.KERNEL_XFER, 1))
        } else {
          e.push(
            marker(MarkerType.FUNC_ID, FUNC_ID),
            marker(MarkerType.FUNC_RETVAL, 1),
            marker(MarkerType.SYSCALL_FAILED, 1)
          )
        }
      }
      if (post) e.push(timestamp(TIMESTAMP + j + 1))
    }
    e.push(Synthetic.exit(tid), Synthetic.footer())
    inputs.push(e)
  }
  const options = (templates: Array<Entry>): Options => ({
    mapping: "dynamic",
    deps: "timestamps",
    randomInitialLayout: -1,
    quantumDurationInstrs: 3,
    kernelSyscallSequences: decode(templates)
  })

  it("injects each system call's sequence where DynamoRIO does; its instructions count toward the quantum", () => {
    const d = new Driver(inputs, 2, options(syscallTemplates(SYSCALL_BASE)))
    const { strings, refs } = kernelStrings(d, 2, TID_BASE, SYSCALL_BASE)
    assert.deepStrictEqual(strings, [
      "Avf0i0SsFF1ii1kk,Cvf0i0SsFF1ii1FFs0,Aii0S2iii20,Cii0S2iii20,Aii0Ss3i30,Cii0Ss3i30,Aii0S1ii10,Cii0S1ii10,Aii0Ss2iii20,Cii0Ss2iii20",
      "Bvf0i0SsFF1ii1k0ii0S2iii20ii0Ss3i30ii0S1ii10ii0Ss2iii20_________________________________________________________"
    ])
    const r = refs[0]!
    // The file type gains KERNEL_SYSCALLS (0x1000) once sequences are loaded.
    assert.deepStrictEqual([r[1]!.marker, r[1]!.value], [MarkerType.FILETYPE, 0x400 | 0x1000])
    // The first sequence's indirect jump goes to the signal's interrupted PC.
    assert.deepStrictEqual([r[11]!.type, r[11]!.target], [INDIRECT, SIGNAL_INT_PC])
    const stats = d.core.stats(0)
    assert.strictEqual(stats[12], 10) // KERNEL_SYSCALL_SEQUENCE_INJECTIONS on output 0.
  })

  it("refuses a template file with two sequences for one system call", () => {
    const bad: Array<Entry> = [
      Synthetic.header(),
      Synthetic.threadEntry(1),
      Synthetic.pid(1),
      Synthetic.version(7),
      marker(MarkerType.SYSCALL_TRACE_START, SYSCALL_BASE),
      instr(0xfeed101),
      instr(0xfeed102),
      marker(MarkerType.SYSCALL_TRACE_END, SYSCALL_BASE),
      marker(MarkerType.SYSCALL_TRACE_START, SYSCALL_BASE),
      instr(0xfeed101),
      instr(0xfeed102),
      marker(MarkerType.SYSCALL_TRACE_END, SYSCALL_BASE),
      Synthetic.exit(1),
      Synthetic.footer()
    ]
    assert.throws(() => new Driver(inputs, 2, options(bad)), /Duplicate system call sequence found/)
  })
})

describe("the shipped template files", () => {
  it.effect("read as sequences (mock_switch_sequences.x64.zip, mock_syscall_sequences.x64)", () =>
    Effect.gen(function* () {
      const switches = yield* Scheduler.readKernelSequences("../shared/traces/mock_switch_sequences.x64.zip")
      const syscalls = yield* Scheduler.readKernelSequences("../shared/traces/mock_syscall_sequences.x64")
      const d = new Driver(inputsOf(2), 1, {
        mapping: "dynamic",
        quantumDurationInstrs: 1,
        kernelSwitchSequences: switches,
        kernelSyscallSequences: syscalls
      })
      for (let s = d.next(0); s._tag !== "Eof"; s = d.next(0)) assert.notStrictEqual(s._tag, "Error")
      assert.isAbove(d.core.stats(0)[11]!, 0)
    })
  )
})

const inputsOf = (n: number): Array<Array<Entry>> =>
  Array.from({ length: n }, (_, k) => [
    Synthetic.header(),
    Synthetic.threadEntry(200 + k),
    Synthetic.pid(1),
    Synthetic.version(7),
    timestamp(10),
    instr(1000 + k),
    instr(1004 + k),
    instr(1008 + k),
    Synthetic.exit(200 + k),
    Synthetic.footer()
  ])

describe("kernel code traced in the input (DynamoRIO's in_syscall_code / in_context_switch_code)", () => {
  const kernelInput = (tid: number, start: number, end: number, kernelInstrs: number): Array<Entry> =>
    mockThread(tid, [
      version(7),
      timestamp(10),
      instr(0x1000),
      marker(start, 0),
      ...Array.from({ length: kernelInstrs }, (_, k) => instr(0xffff_8000_0000 + k * 4)),
      marker(end, 0),
      ...Array.from({ length: 4 }, (_, k) => instr(0x1004 + k * 4)),
      Synthetic.exit(tid)
    ])
  const plainInput = (tid: number): Array<Entry> =>
    mockThread(tid, [
      version(7),
      timestamp(10),
      ...Array.from({ length: 6 }, (_, k) => instr(0x2000 + k * 4)),
      Synthetic.exit(tid)
    ])
  const options: Options = { mapping: "dynamic", deps: "ignore", quantumDurationInstrs: 2, randomInitialLayout: -1 }

  /** Output 0's records as (tid, type) pairs, taking at most `maxRecords` a step. */
  const records = (inputs: ReadonlyArray<ReadonlyArray<Entry>>, maxRecords: number): Array<string> => {
    const d = new Driver(inputs, 1, options)
    const seen: Array<string> = []
    for (let guard = 0; guard < 10_000; guard++) {
      const s = d.next(0, 0, maxRecords)
      if (s._tag === "Eof") return seen
      if (s._tag === "Error") throw new Error(s.detail)
      if (s._tag !== "Records") continue
      for (let i = s.start; i < s.end; i++) seen.push(`${s.batch.tid[i]}:${s.batch.type[i]}`)
    }
    throw new Error("no EOF")
  }
  /** Instructions of each input's runs on output 0, in order: [tid, instructions] per run. */
  const runs = (seen: ReadonlyArray<string>): Array<readonly [number, number]> => {
    const out: Array<[number, number]> = []
    for (const r of seen) {
      const [tid, type] = r.split(":").map(Number) as [number, number]
      if (out.length === 0 || out[out.length - 1]![0] !== tid) out.push([tid, 0])
      if (type === TraceType.INSTR) out[out.length - 1]![1]++
    }
    return out
  }

  it("a system call's trace is not preempted inside; the quantum ends at the first instruction after it", () => {
    const inputs = [kernelInput(100, MarkerType.SYSCALL_TRACE_START, MarkerType.SYSCALL_TRACE_END, 4), plainInput(101)]
    const seen = records(inputs, 1)
    // 1 user instruction + the 4 of the trace, though the quantum is 2; then the other input.
    assert.deepStrictEqual(runs(seen).slice(0, 2), [
      [100, 5],
      [101, 2]
    ])
    assert.deepStrictEqual(records(inputs, Number.POSITIVE_INFINITY), seen)
  })

  it("a context switch's instructions do not count in the quantum", () => {
    const inputs = [
      kernelInput(100, MarkerType.CONTEXT_SWITCH_START, MarkerType.CONTEXT_SWITCH_END, 3),
      plainInput(101)
    ]
    const seen = records(inputs, 1)
    // 1 user instruction, the 3 of the switch (not counted), 1 more user instruction: the quantum of 2.
    assert.deepStrictEqual(runs(seen).slice(0, 2), [
      [100, 5],
      [101, 2]
    ])
    assert.deepStrictEqual(records(inputs, Number.POSITIVE_INFINITY), seen)
  })
})

describe("the next pc of an injected system call's sequence", () => {
  it("is read ahead when the input's next instruction is in a batch not loaded yet", () => {
    const NEXT_PC = 0x7000
    // The system call's KERNEL_XFER (the injection point) ends the input's first batch of 16 (the
    // decoder fills 8 of them at most); the next instruction opens the second batch.
    const input = [
      Synthetic.header(),
      Synthetic.threadEntry(100),
      Synthetic.pid(1),
      Synthetic.version(7),
      timestamp(10),
      instr(0x1000),
      marker(MarkerType.SYSCALL, 42),
      marker(MarkerType.FUNC_ID, 2 ** 32 + 42),
      marker(MarkerType.FUNC_ARG, 1),
      marker(MarkerType.KERNEL_XFER, 0x1004),
      marker(MarkerType.CPU_ID, 0),
      timestamp(20),
      instr(NEXT_PC),
      Synthetic.exit(100),
      Synthetic.footer()
    ]
    const batches = decode(input, 16)
    const nextPcBatch = batches.findIndex((b) => {
      for (let i = 0; i < RecordBatch.length(b); i++)
        if (b.type[i] === TraceType.INSTR && b.addrLo[i] === NEXT_PC) return true
      return false
    })
    assert.isAbove(nextPcBatch, 0, "the next instruction is not in the first batch")
    const d = new Driver(
      [input],
      1,
      { mapping: "dynamic", deps: "ignore", kernelSyscallSequences: decode(syscallTemplates(42)) },
      16
    )
    const targets: Array<number> = []
    for (let guard = 0; guard < 1000; guard++) {
      const s = d.next(0, 0, 1)
      if (s._tag === "Eof") break
      if (s._tag !== "Records") continue
      for (let i = s.start; i < s.end; i++) if (s.batch.type[i] === INDIRECT) targets.push(s.batch.auxLo[i]!)
    }
    // The sequence for system call 42 ends in one indirect jump: to the input's next instruction.
    assert.deepStrictEqual(targets, [NEXT_PC])
  })
})
