import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Analyze from "../../src/cli/Analyze.ts"
import * as DrArgs from "../../src/cli/DrArgs.ts"
import * as Progress from "../../src/cli/Progress.ts"
import { dec } from "../../src/tools/internal/view/format.ts"
import * as View from "../../src/tools/View.ts"
import { FileType, MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import { fromEntries, runSerial, runSerialPath } from "./View.harness.ts"

const TRACES = "../shared/traces"
const expectedView = (name: string) => readFileSync(`${TRACES}/expected/${name}.view.txt`, "utf8")

const NO_DECODER_KINDS = new Set(
  [
    "non-branch",
    "jump",
    "indirect jump",
    "conditional jump",
    "taken conditional jump",
    "untaken conditional jump",
    "call",
    "indirect call",
    "return",
    "non-fetched instruction",
    "sysenter"
  ].map((k) => " " + k)
)
const INSTR_LINE = /^(.{38}(?:ifetch|non-fetched) +\d+ byte\(s\) @ 0x[0-9a-f]{16})(.*)$/
const DECORATION = / \((?:taken|untaken|target 0x[0-9a-f]+)\)$/

/**
 * A DynamoRIO view line with the disassembly text taken out: on instruction
 * lines printed with a disassembler, keep the raw-bytes column
 * (`bytesWidth` characters after the address: 22 for x86, 12 for AArch64, 19
 * for REGDEPS) and the branch decoration. Every other line stays as it is.
 */
const withoutDisassembly = (line: string, bytesWidth: number = 22): string => {
  const m = INSTR_LINE.exec(line)
  if (m === null) return line
  const head = m[1]!
  const rest = m[2]!
  if (NO_DECODER_KINDS.has(rest)) return line
  return (head + rest.slice(0, bytesWidth) + (DECORATION.exec(rest)?.[0] ?? "")).trimEnd()
}

const lines = (text: string) => text.split("\n")

/** Compares our text with DynamoRIO's line by line, disassembly column aside. */
const assertSameListing = (ours: string, dynamorio: string, bytesWidth?: number) => {
  const want = lines(dynamorio).map((l) => withoutDisassembly(l, bytesWidth))
  const got = lines(ours)
  for (let k = 0; k < Math.max(want.length, got.length); k++) {
    assert.strictEqual(got[k], want[k], `line ${k + 1}`)
  }
}

type Driver = "analyzer" | "harness"

/**
 * The view's text over a trace in a serial run: through `Analyzer.run`
 * (serial mode over the real scheduler) or through the test-only
 * interleaver of View.harness.ts.
 */
const runOn = (
  path: string,
  options: View.Options,
  run?: { skipRecords?: number; exitAfterRecords?: number },
  driver: Driver = "analyzer"
) =>
  driver === "harness"
    ? Effect.map(runSerialPath(View.make(options), `${TRACES}/${path}`, run), (r) => r.text)
    : Effect.map(
        Analyzer.run(`${TRACES}/${path}`, {
          tools: [View.make(options)],
          mode: "serial",
          encodings: true,
          skipRecords: run?.skipRecords,
          exitAfterRecords: run?.exitAfterRecords
        }),
        (r) => r.tools[0]!.text
      )

const DRIVERS: ReadonlyArray<Driver> = ["analyzer", "harness"]

describe("View on DynamoRIO's traces (-exit_after_records 60)", () => {
  it.effect.each(DRIVERS)("%s: small (one legacy input, no encodings): the listing DynamoRIO printed", (driver) =>
    Effect.gen(function* () {
      const text = yield* runOn("drmemtrace.small.x64.trace", { inputOrdinals: true }, { exitAfterRecords: 60 }, driver)
      assertSameListing(text, expectedView("small"))
    })
  )

  it.effect.each(DRIVERS)(
    "%s: allasm (one input, 7 chunks, encodings): DynamoRIO's listing but the disassembly",
    (driver) =>
      Effect.gen(function* () {
        const text = yield* runOn(
          "drmemtrace.allasm_x86_64.trace.zip",
          { inputOrdinals: true },
          { exitAfterRecords: 60 },
          driver
        )
        assertSameListing(text, expectedView("allasm_x86_64"))
      })
  )

  it.effect.each(DRIVERS)("%s: chase-snappy (two legacy inputs, serial interleave): DynamoRIO's listing", (driver) =>
    Effect.gen(function* () {
      const text = yield* runOn("drmemtrace.chase-snappy.x64.tracedir", {}, { exitAfterRecords: 60 }, driver)
      assertSameListing(text, expectedView("chase-snappy"))
    })
  )

  it.effect.each(DRIVERS)(
    "%s: threadsig (9 inputs interleaved by timestamp, dividers on thread changes): DynamoRIO's listing",
    (driver) =>
      Effect.gen(function* () {
        const text = yield* runOn("drmemtrace.threadsig.x64.tracedir", {}, { exitAfterRecords: 60 }, driver)
        assertSameListing(text, expectedView("threadsig"))
      })
  )

  it.effect.each(DRIVERS)("%s: threadsig core-sharded (4 core inputs, serial): DynamoRIO's listing", (driver) =>
    Effect.gen(function* () {
      const text = yield* runOn("drmemtrace.threadsig-core-sharded.x64.tracedir", {}, { exitAfterRecords: 60 }, driver)
      assertSameListing(text, expectedView("threadsig-core-sharded"))
    })
  )

  it.effect("the listing does not depend on batch boundaries", () =>
    Effect.gen(function* () {
      const path = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
      const small = yield* runSerialPath(View.view, path, { exitAfterRecords: 400, batchCapacity: 16 })
      const large = yield* runSerialPath(View.view, path, { exitAfterRecords: 400 })
      assert.strictEqual(small.text, large.text)
      assert.isAbove(lines(large.text).length, 400)
    })
  )
})

describe("View ordinals (DynamoRIO's test vectors)", () => {
  // clients/drcachesim/tests/offline-stdin.expect: view -exit_after_records 10
  // on drmemtrace.core.000000.trace.zip alone.
  it.effect.each(DRIVERS)("%s: a core-sharded file read alone prints its input's ordinals", (driver) =>
    Effect.gen(function* () {
      const text = yield* runOn(
        "drmemtrace.threadsig-core-sharded.x64.tracedir/drmemtrace.core.000000.trace.zip",
        { inputOrdinals: true },
        { exitAfterRecords: 10 },
        driver
      )
      assertSameListing(
        text,
        `Output format:
<--record#-> <--instr#->: <Wrkld.Tid> <record details>
------------------------------------------------------------
           1           0:  W0.T872894 <marker: version 7>
           2           0:  W0.T872894 <marker: filetype 0x10e40>
           3           0:  W0.T872894 <marker: cache line size 64>
           4           0:  W0.T872894 <marker: chunk instruction count 10000000>
           5           0:  W0.T872894 <marker: page size 4096>
           6           0:  W0.T872894 <marker: timestamp 13386385969186755>
           7           0:  W0.T872894 <marker: W0.T872894 on core 0>
           8           1:  W0.T872894 ifetch       6 byte(s) @ 0x00007f87daf7ecc9 62 e1 fe 28 6f 06    vmovdqu64 (%rsi), %ymm16 {%k0}
           9           1:  W0.T872894 read        32 byte(s) @ 0x00007f8590000d51 by PC 0x00007f87daf7ecc9
          10           2:  W0.T872894 ifetch       4 byte(s) @ 0x00007f87daf7eccf 48 83 fa 40          cmp    %rdx, $0x40
View tool results:
              2 : total instructions
`
      )
    })
  )

  // clients/drcachesim/tests/offline-skip-records.templatex: view
  // -skip_records 10 -exit_after_records 5 on allasm. Skipped records still
  // count in the ordinals; the timestamp that ends the run is printed at exit.
  it.effect.each(DRIVERS)(
    "%s: -skip_records keeps the stream's ordinals and prints a timestamp held at exit",
    (driver) =>
      Effect.gen(function* () {
        const text = yield* runOn(
          "drmemtrace.allasm_x86_64.trace.zip",
          { inputOrdinals: true },
          { skipRecords: 10, exitAfterRecords: 5 },
          driver
        )
        assertSameListing(
          text,
          `${View.header}          11           4: W0.T1992554 ifetch       8 byte(s) @ 0x0000000000401012 48 8d 34 25 00 20 40 lea    0x00402000, %rsi
          11           4: W0.T1992554                                             00
          12           5: W0.T1992554 ifetch       7 byte(s) @ 0x000000000040101a 48 c7 c2 0d 00 00 00 mov    $0x0000000d, %rdx
          13           6: W0.T1992554 ifetch       5 byte(s) @ 0x0000000000401021 b8 01 00 00 00       mov    $0x00000001, %eax
          14           7: W0.T1992554 ifetch       2 byte(s) @ 0x0000000000401026 0f 05                syscall
          15           7: W0.T1992554 <marker: timestamp 13352268558646106>
View tool results:
              4 : total instructions
`
        )
      })
  )

  it.effect.each(DRIVERS)(
    "%s: -skip_records across a multi-input serial stream keeps the output's ordinals",
    (driver) =>
      Effect.gen(function* () {
        const path = "drmemtrace.threadsig.x64.tracedir"
        const full = lines(yield* runOn(path, {}, { exitAfterRecords: 60 }, driver))
        // Records 27..30 hold instructions 1..3: the first record printed (31)
        // must still show instruction ordinal 4.
        const skipped = lines(yield* runOn(path, {}, { skipRecords: 30, exitAfterRecords: 30 }, driver))
        const from = full.findIndex((l) => l.startsWith("          31 "))
        const to = full.findIndex((l) => l.startsWith("View tool results:"))
        assert.isAbove(from, 0)
        assert.deepStrictEqual(skipped.slice(0, 3), full.slice(0, 3))
        assert.deepStrictEqual(skipped.slice(3, 3 + (to - from)), full.slice(from, to))
        assert.strictEqual(skipped[3 + (to - from)], "View tool results:")
        assert.strictEqual(skipped[4 + (to - from)], "             24 : total instructions")
      })
  )
})

const body = (tid: number, entries: ReadonlyArray<S.Entry>, options?: { version?: number; filetype?: number }) =>
  S.thread(tid, [...entries, S.exit(tid)], { pid: tid, ...options })

const viewOf = (threads: ReadonlyArray<ReadonlyArray<S.Entry>>, options?: View.Options, capacity?: number) =>
  Effect.map(runSerial(View.make(options), fromEntries(threads, { batchCapacity: capacity })), (r) => r.text)

/** DynamoRIO's 32-bit-host expectations print addresses with 8 hex digits. */
const widen = (text: string) => text.replaceAll("@ 0x0000002a", "@ 0x000000000000002a")

describe("View on DynamoRIO's unit-test inputs (tests/view_test.cpp)", () => {
  it.effect("run_single_thread_chunk_test: the reader hides a chunk's duplicate timestamp and cpu", () =>
    Effect.gen(function* () {
      const thread = [
        S.header(1),
        S.version(3),
        S.filetype(0),
        S.threadEntry(3),
        S.pid(3),
        S.marker(MarkerType.CACHE_LINE_SIZE, 64),
        S.marker(MarkerType.CHUNK_INSTR_COUNT, 2),
        S.timestamp(1002),
        S.cpu(2),
        S.instr(42, TraceType.INSTR, 4),
        S.instr(42, TraceType.INSTR, 4),
        S.marker(MarkerType.CHUNK_FOOTER, 0),
        S.timestamp(1002),
        S.cpu(3),
        S.instr(42, TraceType.INSTR, 4),
        S.footer()
      ]
      const text = yield* viewOf([thread])
      assert.strictEqual(
        text,
        View.header +
          widen(`           1           0:       W0.T3 <marker: version 3>
           2           0:       W0.T3 <marker: filetype 0x0>
           3           0:       W0.T3 <marker: cache line size 64>
           4           0:       W0.T3 <marker: chunk instruction count 2>
           5           0:       W0.T3 <marker: timestamp 1002>
           6           0:       W0.T3 <marker: W0.T3 on core 2>
           7           1:       W0.T3 ifetch       4 byte(s) @ 0x0000002a non-branch
           8           2:       W0.T3 ifetch       4 byte(s) @ 0x0000002a non-branch
           9           2:       W0.T3 <marker: chunk footer #0>
          10           3:       W0.T3 ifetch       4 byte(s) @ 0x0000002a non-branch
`) +
          "View tool results:\n              3 : total instructions\n"
      )
    })
  )

  it.effect("run_serial_chunk_test: two threads interleaved by timestamp, a divider at each switch", () =>
    Effect.gen(function* () {
      const thread = (tid: number, chunk: number, ts: [number, number, number]) => [
        S.header(1),
        S.version(3),
        S.filetype(0),
        S.threadEntry(tid),
        S.pid(tid),
        S.marker(MarkerType.CACHE_LINE_SIZE, 64),
        S.marker(MarkerType.CHUNK_INSTR_COUNT, chunk),
        S.timestamp(ts[0]),
        S.cpu(2),
        S.instr(42, TraceType.INSTR, 4),
        S.instr(42, TraceType.INSTR, 4),
        S.timestamp(ts[1]),
        S.cpu(3),
        S.instr(42, TraceType.INSTR, 4),
        S.footer()
      ]
      const text = yield* viewOf([thread(3, 20, [1001, 1003, 0]), thread(7, 2, [1002, 1004, 0])])
      assert.strictEqual(
        text,
        View.header +
          widen(`           1           0:       W0.T3 <marker: version 3>
           2           0:       W0.T3 <marker: filetype 0x0>
           3           0:       W0.T3 <marker: cache line size 64>
           4           0:       W0.T3 <marker: chunk instruction count 20>
           5           0:       W0.T3 <marker: timestamp 1001>
           6           0:       W0.T3 <marker: W0.T3 on core 2>
           7           1:       W0.T3 ifetch       4 byte(s) @ 0x0000002a non-branch
           8           2:       W0.T3 ifetch       4 byte(s) @ 0x0000002a non-branch
------------------------------------------------------------
           9           2:       W0.T7 <marker: version 3>
          10           2:       W0.T7 <marker: filetype 0x0>
          11           2:       W0.T7 <marker: cache line size 64>
          12           2:       W0.T7 <marker: chunk instruction count 2>
          13           2:       W0.T7 <marker: timestamp 1002>
          14           2:       W0.T7 <marker: W0.T7 on core 2>
          15           3:       W0.T7 ifetch       4 byte(s) @ 0x0000002a non-branch
          16           4:       W0.T7 ifetch       4 byte(s) @ 0x0000002a non-branch
------------------------------------------------------------
          17           4:       W0.T3 <marker: timestamp 1003>
          18           4:       W0.T3 <marker: W0.T3 on core 3>
          19           5:       W0.T3 ifetch       4 byte(s) @ 0x0000002a non-branch
------------------------------------------------------------
          20           5:       W0.T7 <marker: timestamp 1004>
          21           5:       W0.T7 <marker: W0.T7 on core 3>
          22           6:       W0.T7 ifetch       4 byte(s) @ 0x0000002a non-branch
`) +
          "View tool results:\n              6 : total instructions\n"
      )
    })
  )

  it.effect("run_regdeps_test: REGDEPS encodings print as 4-byte words, the third on a second line", () =>
    Effect.gen(function* () {
      const thread = [
        S.header(1),
        S.version(3),
        S.filetype(FileType.ARCH_REGDEPS | FileType.ENCODINGS | FileType.SYSCALL_NUMBERS | FileType.BLOCKING_SYSCALLS),
        S.threadEntry(3),
        S.pid(3),
        S.marker(MarkerType.CACHE_LINE_SIZE, 64),
        S.marker(MarkerType.CHUNK_INSTR_COUNT, 5),
        S.timestamp(1002),
        S.cpu(2),
        S.entry(TraceType.ENCODING, 8, 0x0006090600010011n),
        S.instr(0x00007f6fdd3ec360n, TraceType.INSTR, 3),
        S.entry(TraceType.ENCODING, 8, 0x004e032100004011n),
        S.instr(0x00007f6fdc76cb35n, TraceType.INSTR, 4),
        S.entry(TraceType.ENCODING, 8, 0x0009492100004811n),
        S.instr(0x00007f6fdc76cb2dn, TraceType.INSTR, 4),
        S.entry(TraceType.ENCODING, 8, 0x0402020400001931n),
        S.entry(TraceType.ENCODING, 4, 0x00000026n),
        S.instr(0x00007f86ef03d107n, TraceType.INSTR, 10),
        S.entry(TraceType.ENCODING, 4, 0x00002200n),
        S.instr(0x00005605ec276c4dn, TraceType.INSTR_TAKEN_JUMP, 2),
        S.footer()
      ]
      const text = yield* viewOf([thread])
      assertSameListing(
        text,
        `${View.header}           1           0:       W0.T3 <marker: version 3>
           2           0:       W0.T3 <marker: filetype 0x20e00>
           3           0:       W0.T3 <marker: cache line size 64>
           4           0:       W0.T3 <marker: chunk instruction count 5>
           5           0:       W0.T3 <marker: timestamp 1002>
           6           0:       W0.T3 <marker: W0.T3 on core 2>
           7           1:       W0.T3 ifetch       3 byte(s) @ 0x00007f6fdd3ec360 00010011 00060906 move [8byte]       %rv4 -> %rv7
           8           2:       W0.T3 ifetch       4 byte(s) @ 0x00007f6fdc76cb35 00004011 004e0321 simd [32byte]       %rv76 -> %rv1
           9           3:       W0.T3 ifetch       4 byte(s) @ 0x00007f6fdc76cb2d 00004811 00094921 load simd [32byte]       %rv7 -> %rv71
          10           4:       W0.T3 ifetch      10 byte(s) @ 0x00007f86ef03d107 00001931 04020204 load store [4byte]       %rv0 %rv2 %rv36 -> %rv0
          10           4:       W0.T3                                             00000026
          11           5:       W0.T3 ifetch       2 byte(s) @ 0x00005605ec276c4d 00002200          branch  (taken)
View tool results:
              5 : total instructions
`,
        19
      )
    })
  )

  it.effect("run_vector_length_test: AArch64 encodings print as one word", () =>
    Effect.gen(function* () {
      const thread = [
        S.header(3),
        S.version(3),
        S.filetype(FileType.ARCH_AARCH64 | FileType.ENCODINGS),
        S.threadEntry(3),
        S.pid(3),
        S.marker(MarkerType.CACHE_LINE_SIZE, 64),
        S.marker(MarkerType.VECTOR_LENGTH, 16),
        S.timestamp(1001),
        S.cpu(2),
        S.entry(TraceType.ENCODING, 4, 0xa401b02cn),
        S.instr(0x1234, TraceType.INSTR, 4),
        S.read(0x42, 4),
        S.entry(TraceType.ENCODING, 4, 0xa400b02cn),
        S.instr(0x1238, TraceType.INSTR, 4),
        S.read(0x42, 4),
        S.footer()
      ]
      const text = yield* viewOf([thread])
      assertSameListing(
        text,
        `${View.header}           1           0:       W0.T3 <marker: version 3>
           2           0:       W0.T3 <marker: filetype 0x208>
           3           0:       W0.T3 <marker: cache line size 64>
           4           0:       W0.T3 <marker: vector length 16 bytes>
           5           0:       W0.T3 <marker: timestamp 1001>
           6           0:       W0.T3 <marker: W0.T3 on core 2>
           7           1:       W0.T3 ifetch       4 byte(s) @ 0x0000000000001234 a401b02c   ld1b   +0x10(%x1)[1byte] %p4/z -> %z12.b
           8           1:       W0.T3 read         4 byte(s) @ 0x0000000000000042 by PC 0x0000000000001234
           9           2:       W0.T3 ifetch       4 byte(s) @ 0x0000000000001238 a400b02c   ld1b   (%x1)[1byte] %p4/z -> %z12.b
          10           2:       W0.T3 read         4 byte(s) @ 0x0000000000000042 by PC 0x0000000000001238
View tool results:
              2 : total instructions
`,
        12
      )
    })
  )
})

describe("View wording (tools/view.cpp)", () => {
  const P = (record: number, instr: number) =>
    `${String(record).padStart(12)}${String(instr).padStart(12)}:       W0.T5 `
  const MINUS_4 = (1n << 64n) - 4n

  it.effect("every marker type reads as DynamoRIO prints it", () =>
    Effect.gen(function* () {
      const markers: Array<[S.Entry, string]> = [
        [S.marker(MarkerType.CACHE_LINE_SIZE, 64), "<marker: cache line size 64>"],
        [S.marker(MarkerType.CHUNK_INSTR_COUNT, 10), "<marker: chunk instruction count 10>"],
        [S.marker(MarkerType.PAGE_SIZE, 4096), "<marker: page size 4096>"],
        [S.cpu((1n << 64n) - 1n), "<marker: W0.T5 on core unknown>"],
        [S.marker(MarkerType.FUNC_ID, 7), "<marker: function #7>"],
        [S.marker(MarkerType.FUNC_ID, (1n << 32n) + 60n), "<marker: function==syscall #60>"],
        [S.marker(MarkerType.FUNC_RETADDR, 0x401000), "<marker: function return address 0x401000>"],
        [S.marker(MarkerType.FUNC_ARG, 0x10), "<marker: function argument 0x10>"],
        [S.marker(MarkerType.FUNC_RETVAL, MINUS_4), "<marker: function return value 0xfffffffffffffffc>"],
        [S.marker(MarkerType.SYSCALL, 60), "<marker: system call 60>"],
        [S.marker(MarkerType.MAYBE_BLOCKING_SYSCALL, 0), "<marker: maybe-blocking system call>"],
        [S.marker(MarkerType.SYSCALL_FAILED, 4), "<marker: system call failed: 4>"],
        [S.marker(MarkerType.KERNEL_EVENT, 0x7f0a), "<marker: kernel xfer from 0x7f0a to handler>"],
        [S.marker(MarkerType.KERNEL_XFER, 0x7f0b), "<marker: syscall xfer from 0x7f0b>"],
        [S.marker(MarkerType.SIGNAL_NUMBER, 26), "<marker: signal #26>"],
        [S.marker(MarkerType.RSEQ_ABORT, 0x500), "<marker: rseq abort from 0x500 to handler>"],
        [S.marker(MarkerType.RSEQ_ENTRY, 0x600), "<marker: rseq entry with end at 0x600>"],
        [S.marker(MarkerType.INSTRUCTION_COUNT, 5), "<marker: instruction count 5>"],
        [S.marker(MarkerType.FILTER_ENDPOINT, 0), "<marker: filter endpoint>"],
        [S.marker(MarkerType.PHYSICAL_ADDRESS, 0xabc000), "<marker: physical address for following virtual: 0xabc000>"],
        [S.marker(MarkerType.VIRTUAL_ADDRESS, 0x7000), "<marker: virtual address for prior physical: 0x7000>"],
        [
          S.marker(MarkerType.PHYSICAL_ADDRESS_NOT_AVAILABLE, 0x7000),
          "<marker: physical address not available for 0x7000>"
        ],
        [S.marker(MarkerType.DIRECT_THREAD_SWITCH, 6), "<marker: direct switch to thread 6>"],
        [S.marker(MarkerType.SYSCALL_UNSCHEDULE, 0), "<marker: current thread going unscheduled>"],
        [S.marker(MarkerType.SYSCALL_SCHEDULE, 6), "<marker: re-schedule thread 6>"],
        [S.marker(MarkerType.SYSCALL_ARG_TIMEOUT, 100), "<marker: syscall timeout arg 100>"],
        [S.marker(MarkerType.SYSCALL_TRACE_START, 60), "<marker: trace start for system call number 60>"],
        [S.marker(MarkerType.SYSCALL_TRACE_END, 60), "<marker: trace end for system call number 60>"],
        [S.marker(MarkerType.CONTEXT_SWITCH_START, 1), "<marker: trace start for context switch type 1>"],
        [S.marker(MarkerType.CONTEXT_SWITCH_END, 1), "<marker: trace end for context switch type 1>"],
        [S.marker(MarkerType.CORE_WAIT, 0), "<marker: wait for another core>"],
        [S.marker(MarkerType.CORE_IDLE, 0), "<marker: core is idle>"],
        [S.marker(MarkerType.VECTOR_LENGTH, 32), "<marker: vector length 32 bytes>"],
        [S.marker(MarkerType.UNCOMPLETED_INSTRUCTION, 0x90), "<marker: uncompleted instruction, encoding 0x90>"],
        [S.marker(MarkerType.HARDWARE_EVENT, 0x800), "<marker: hardware xfer from 0x800 to handler>"],
        [S.marker(MarkerType.HARDWARE_CONTEXT_RETURN, 0), "<marker: hardware context return"],
        [S.marker(MarkerType.SKIPPED_MEMREF, 0x900), "<marker: skipped memref 0x900"],
        [S.marker(MarkerType.SYSCALL_IDX, 3), "<marker: type 19; value 3>"],
        [S.marker(150, 7), "<marker: type 150; value 7>"]
      ]
      const text = yield* viewOf([
        body(
          5,
          markers.map(([e]) => e),
          { version: 7 }
        )
      ])
      const want = [
        ...lines(View.header).slice(0, 3),
        `${P(1, 0)}<marker: version 7>`,
        `${P(2, 0)}<marker: filetype 0x40>`,
        ...markers.map(([, t], k) => `${P(3 + k, 0)}${t}`),
        `${P(3 + markers.length, 0)}<thread W0.T5 exited>`,
        "View tool results:",
        "              0 : total instructions",
        ""
      ]
      assert.deepStrictEqual(lines(text), want)
    })
  )

  it.effect("legacy versions print kernel transfers as module offsets", () =>
    Effect.gen(function* () {
      const text = yield* viewOf([
        body(5, [S.marker(MarkerType.KERNEL_EVENT, 0x1a), S.marker(MarkerType.KERNEL_XFER, 0x1b)], { version: 2 })
      ])
      assert.include(text, `${P(3, 0)}<marker: kernel xfer from module offset +0x1a to handler>\n`)
      assert.include(text, `${P(4, 0)}<marker: syscall xfer from module offset +0x1b>\n`)
    })
  )

  it.effect("without encodings an instruction line names its type; data lines give address and PC", () =>
    Effect.gen(function* () {
      const pc = 0x401000
      // [entry, instruction ordinal after it, text]
      const records: Array<[S.Entry, number, string]> = [
        [S.instr(pc, TraceType.INSTR, 3), 1, "ifetch       3 byte(s) @ 0x0000000000401000 non-branch"],
        [S.read(0x7fff0010, 8), 1, "read         8 byte(s) @ 0x000000007fff0010 by PC 0x0000000000401000"],
        [S.write(0x7fff0018, 4), 1, "write        4 byte(s) @ 0x000000007fff0018 by PC 0x0000000000401000"],
        [
          S.entry(TraceType.PREFETCHT0, 1, 0x5000),
          1,
          "pref-r-L1    1 byte(s) @ 0x0000000000005000 by PC 0x0000000000401000"
        ],
        [
          S.entry(TraceType.PREFETCH_WRITE_L3_NT, 1, 0x5040),
          1,
          "pref-w-L3-NT 1 byte(s) @ 0x0000000000005040 by PC 0x0000000000401000"
        ],
        [
          S.entry(TraceType.HARDWARE_PREFETCH, 64, 0x6000),
          1,
          "pref-HW     64 byte(s) @ 0x0000000000006000 by PC 0x0000000000401000"
        ],
        [S.instr(pc + 3, TraceType.INSTR_DIRECT_JUMP, 2), 2, "ifetch       2 byte(s) @ 0x0000000000401003 jump"],
        [
          S.instr(pc + 5, TraceType.INSTR_CONDITIONAL_JUMP, 2),
          3,
          "ifetch       2 byte(s) @ 0x0000000000401005 conditional jump"
        ],
        [
          S.instr(pc + 7, TraceType.INSTR_TAKEN_JUMP, 2),
          4,
          "ifetch       2 byte(s) @ 0x0000000000401007 taken conditional jump"
        ],
        [
          S.instr(pc + 9, TraceType.INSTR_UNTAKEN_JUMP, 2),
          5,
          "ifetch       2 byte(s) @ 0x0000000000401009 untaken conditional jump"
        ],
        [S.instr(pc + 11, TraceType.INSTR_DIRECT_CALL, 5), 6, "ifetch       5 byte(s) @ 0x000000000040100b call"],
        [
          S.instr(pc + 16, TraceType.INSTR_INDIRECT_CALL, 2),
          7,
          "ifetch       2 byte(s) @ 0x0000000000401010 indirect call"
        ],
        [
          S.instr(pc + 18, TraceType.INSTR_INDIRECT_JUMP, 2),
          8,
          "ifetch       2 byte(s) @ 0x0000000000401012 indirect jump"
        ],
        [S.instr(pc + 20, TraceType.INSTR_RETURN, 1), 9, "ifetch       1 byte(s) @ 0x0000000000401014 return"],
        [S.instr(pc + 21, TraceType.INSTR_SYSENTER, 2), 10, "ifetch       2 byte(s) @ 0x0000000000401015 sysenter"],
        [
          S.instr(pc + 21, TraceType.INSTR_NO_FETCH, 2),
          10,
          "non-fetched  2 byte(s) @ 0x0000000000401015 non-fetched instruction"
        ]
      ]
      const text = yield* viewOf([
        body(
          5,
          records.map(([e]) => e),
          { version: 7 }
        )
      ])
      assert.deepStrictEqual(
        lines(text).slice(5, 5 + records.length),
        records.map(([, instr, t], k) => `${P(3 + k, instr)}${t}`)
      )
      // Non-fetched instructions count among the instructions printed.
      assert.include(text, "             11 : total instructions\n")
    })
  )

  it.effect("with encodings: the bytes column, spilled bytes, and taken/untaken/target decorations", () =>
    Effect.gen(function* () {
      const ft = FileType.ARCH_X86_64 | FileType.ENCODINGS
      const text = yield* viewOf([
        body(
          5,
          [
            S.encoding([0x0f, 0x05]),
            S.instr(0x1000, TraceType.INSTR, 2),
            S.encoding([0x48, 0x8d, 0x34, 0x25, 0x00, 0x20, 0x40, 0x00]),
            S.instr(0x1002, TraceType.INSTR, 8),
            S.encoding([0x75, 0xd9]),
            S.instr(0x100a, TraceType.INSTR_UNTAKEN_JUMP, 2),
            S.marker(MarkerType.BRANCH_TARGET, 0x2000),
            S.encoding([0xc3]),
            S.instr(0x100c, TraceType.INSTR_RETURN, 1),
            // Known PC: the reader reuses its encoding.
            S.instr(0x1000, TraceType.INSTR, 2)
          ],
          { version: 7, filetype: ft }
        )
      ])
      assert.deepStrictEqual(lines(text).slice(5, 11), [
        `${P(3, 1)}ifetch       2 byte(s) @ 0x0000000000001000 0f 05`,
        `${P(4, 2)}ifetch       8 byte(s) @ 0x0000000000001002 48 8d 34 25 00 20 40`,
        `${P(4, 2)}                                            00`,
        `${P(5, 3)}ifetch       2 byte(s) @ 0x000000000000100a 75 d9                 (untaken)`,
        `${P(6, 4)}ifetch       1 byte(s) @ 0x000000000000100c c3                    (target 0x2000)`,
        `${P(7, 5)}ifetch       2 byte(s) @ 0x0000000000001000 0f 05`
      ])
    })
  )

  it.effect("with the header markers skipped, encodings and branch targets still tell what DynamoRIO knew", () =>
    Effect.gen(function* () {
      const thread = body(
        5,
        [
          S.timestamp(10),
          S.encoding([0x0f, 0x05]),
          S.instr(0x1000, TraceType.INSTR, 2),
          S.marker(MarkerType.BRANCH_TARGET, 0x2000),
          S.encoding([0xc3]),
          S.instr(0x1002, TraceType.INSTR_RETURN, 1)
        ],
        { version: 7, filetype: FileType.ARCH_X86_64 | FileType.ENCODINGS }
      )
      // Skip VERSION, FILETYPE and TIMESTAMP: DynamoRIO then asks the stream for
      // the version and file type; we read them off the records.
      const run = yield* runSerial(View.view, fromEntries([thread]), { skipRecords: 3 })
      assert.deepStrictEqual(lines(run.text).slice(3, 5), [
        `${P(4, 1)}ifetch       2 byte(s) @ 0x0000000000001000 0f 05`,
        `${P(5, 2)}ifetch       1 byte(s) @ 0x0000000000001002 c3                    (target 0x2000)`
      ])
    })
  )

  it.effect("timestamps wait for the next marker; window markers get DynamoRIO's dividers and dangling columns", () =>
    Effect.gen(function* () {
      const text = yield* viewOf([
        body(
          5,
          [
            S.timestamp(100),
            S.marker(MarkerType.WINDOW_ID, 0),
            S.instr(0x10, TraceType.INSTR, 1),
            S.timestamp(200),
            S.marker(MarkerType.WINDOW_ID, 1),
            S.instr(0x11, TraceType.INSTR, 1),
            S.timestamp(0),
            S.cpu(1),
            S.timestamp(300)
          ],
          { version: 7 }
        )
      ])
      assert.strictEqual(
        text,
        View.header +
          `${P(1, 0)}<marker: version 7>\n` +
          `${P(2, 0)}<marker: filetype 0x40>\n` +
          // Window 0 is the default: no window divider; the timestamp line has no
          // columns, and the window's columns come after a jump from record 2 to 4.
          "<marker: timestamp 100>\n" +
          "------------------------------------------------------------\n" +
          `${P(4, 0)}<marker: window 0>\n` +
          `${P(4, 0)}${P(5, 1)}ifetch       1 byte(s) @ 0x0000000000000010 non-branch\n` +
          // A new window: a divider, then another for the jump from record 5 to 7.
          "------------------------------------------------------------\n" +
          "------------------------------------------------------------\n" +
          `${P(7, 1)}<marker: timestamp 200>\n` +
          `${P(7, 1)}<marker: window 1>\n` +
          `${P(7, 1)}${P(8, 2)}ifetch       1 byte(s) @ 0x0000000000000011 non-branch\n` +
          // A zero timestamp is never printed (and leaves a jump in the ordinals).
          "------------------------------------------------------------\n" +
          `${P(10, 2)}<marker: W0.T5 on core 1>\n` +
          // Only a marker releases a held timestamp: this one waits for the end,
          // and the exit's columns follow a jump from record 10 to 12.
          "------------------------------------------------------------\n" +
          `${P(12, 2)}<thread W0.T5 exited>\n` +
          `${P(11, 2)}<marker: timestamp 300>\n` +
          "View tool results:\n              2 : total instructions\n"
      )
    })
  )

  it.effect("the same listing streamed through `write`, whatever the batch size", () =>
    Effect.gen(function* () {
      const threads = [
        body(5, [S.timestamp(10), S.cpu(1), S.instr(0x10), S.read(0x20), S.timestamp(30), S.cpu(2), S.instr(0x11)]),
        body(6, [S.timestamp(20), S.cpu(3), S.instr(0x30), S.write(0x40), S.timestamp(40), S.instr(0x31)])
      ]
      const kept = yield* viewOf(threads)
      const parts: Array<string> = []
      const streamed = yield* runSerial(
        View.make({ write: (t) => parts.push(t) }),
        fromEntries(threads, { batchCapacity: 12 })
      )
      assert.strictEqual(streamed.result.text, "")
      assert.strictEqual(parts.join("") + streamed.text, kept)
      assert.include(kept, "------------------------------------------------------------\n")
    })
  )

  it.effect("inputs that disagree on the version stop the view with a ViewError", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        viewOf([body(5, [S.timestamp(10), S.instr(0x10)], { version: 7 }), body(6, [S.timestamp(20)], { version: 6 })])
      )
      assert.instanceOf(error, View.ViewError)
      const e = error as View.ViewError
      assert.strictEqual(e.reason, "VersionMismatch")
      assert.strictEqual(e.expected, 7)
      assert.strictEqual(e.found, 6)
      assert.strictEqual(e.tid, 6)
      assert.include(e.message, "Version mismatch across files")
    })
  )
})

describe("View number formatting", () => {
  it("prints any u64 in decimal exactly", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        assert.strictEqual(dec(Number(v >> 32n), Number(v & 0xffffffffn)), v.toString())
      })
    )
    assert.strictEqual(dec(0xffffffff, 0xffffffff), "18446744073709551615")
    assert.strictEqual(dec(0x2f8ed8, 0xdc8507c3), "13386385969186755")
  })
})

describe("view of inserted kernel sequences", () => {
  it.live("an injected system call's records keep the input's ordinals of the marker before them", () =>
    Effect.gen(function* () {
      const parsed = DrArgs.parseOptions([
        "-indir",
        "../shared/traces/drmemtrace.threadsig.x64.tracedir",
        "-only_thread",
        "872805",
        "-tool",
        "view",
        "-sched_syscall_file",
        "../shared/traces/mock_syscall_sequences.x64",
        "-exit_after_records",
        "48"
      ])
      if (Result.isFailure(parsed)) return assert.fail(parsed.failure.message)
      const out = yield* Analyze.runAnalysis(parsed.success, { progress: Progress.none })
      const lines = out.text.split("\n")
      const at = lines.findIndex((l) => l.includes("<marker: system call 15>"))
      const ordinals = lines.slice(at, at + 6).map((l) => l.trim().split(/\s+/).slice(0, 2).join(" "))
      // DynamoRIO's offline-allasm-dyn-inject-view template shows the same: the sequence's records
      // (trace start, its instruction, trace end) report the system call marker's ordinals.
      assert.deepStrictEqual(ordinals, ["43 15:", "43 15:", "43 15:", "43 15:", "44 15:", "45 15:"])
      assert.include(lines[at + 2]!, "ifetch")
    })
  )
})
