import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import type * as Tool from "../../src/analyzer/Tool.ts"
import * as InvariantChecker from "../../src/tools/InvariantChecker.ts"
import { FileType, MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { TRACE_PATHS, TRACES } from "../utils/expected.ts"
import { runEntriesSync, ShardFailed } from "../utils/runTool.ts"

const TID = 7
const FILETYPE = FileType.ARCH_X86_64 | FileType.SYSCALL_NUMBERS | FileType.BLOCKING_SYSCALLS

/**
 * A version-7 thread laid out as the tracer writes one. The reader shows
 * VERSION (record 1) and FILETYPE (2); `headers` are records 3-7, so the
 * body's first record is record 8.
 */
const headers = (ts = 1000) => [
  S.marker(MarkerType.CACHE_LINE_SIZE, 64),
  S.marker(MarkerType.CHUNK_INSTR_COUNT, 10_000_000),
  S.marker(MarkerType.PAGE_SIZE, 4096),
  S.timestamp(ts),
  S.cpu(3)
]
const BODY = 8
const thread = (body: ReadonlyArray<S.Entry>, options?: { filetype?: number; version?: number }) =>
  S.thread(TID, [...headers(), ...body], { filetype: options?.filetype ?? FILETYPE, version: options?.version ?? 7 })

const ins = (pc: number | bigint, type: number = TraceType.INSTR, size = 2) => S.instr(pc, type, size)
const m = (type: number, value: number | bigint = 0) => S.marker(type, value)

/** A few straight-line instructions at 0x1000, 0x1002, … */
const straight = (n: number, from = 0x1000) => Array.from({ length: n }, (_, k) => ins(from + 2 * k))

const check = (threads: ReadonlyArray<ReadonlyArray<S.Entry>>, options?: Parameters<typeof InvariantChecker.make>[0]) =>
  runEntriesSync(InvariantChecker.make(options), threads, { batchCapacity: 16 }).result

/** Each violation as [name, record ordinal]. */
const found = (threads: ReadonlyArray<ReadonlyArray<S.Entry>>, options?: Parameters<typeof InvariantChecker.make>[0]) =>
  check(threads, options).violations.map((v) => [v.name, v.ref] as const)

describe("invariant_checker", () => {
  describe("a well-formed thread", () => {
    it("passes, with branches, a signal, a syscall and function markers", () => {
      const r = runEntriesSync(
        InvariantChecker.make(),
        [
          thread([
            ...straight(3),
            // An untaken conditional branch falls through.
            ins(0x1006, TraceType.INSTR_UNTAKEN_JUMP),
            // A taken direct call: its target is not checked without a decoder.
            ins(0x1008, TraceType.INSTR_DIRECT_CALL, 5),
            m(MarkerType.FUNC_ID, 3),
            m(MarkerType.FUNC_RETADDR, 0x100d),
            ins(0x4000),
            S.read(0x8000),
            // A return carries its target.
            m(MarkerType.BRANCH_TARGET, 0x100d),
            ins(0x4002, TraceType.INSTR_RETURN, 1),
            ins(0x100d),
            // A signal interrupts at 0x100f; its handler returns there.
            m(MarkerType.KERNEL_EVENT, 0x100f),
            ins(0x6000),
            m(MarkerType.BRANCH_TARGET, 0x7000),
            ins(0x6002, TraceType.INSTR_INDIRECT_JUMP),
            ins(0x7000),
            m(MarkerType.KERNEL_XFER, 0x7002),
            ins(0x100f),
            // A syscall, bracketed by timestamps.
            S.timestamp(1001),
            S.cpu(3),
            m(MarkerType.SYSCALL, 202),
            m(MarkerType.MAYBE_BLOCKING_SYSCALL),
            S.timestamp(1005),
            S.cpu(3),
            ins(0x1011),
            S.exit(TID)
          ])
        ],
        { batchCapacity: 16 }
      )
      assert.strictEqual(r.text, "Trace invariant checks passed\n")
      assert.strictEqual(r.result.count, 0)
    })
  })

  describe("one planted violation each, at its record ordinal", () => {
    it("a thread without an exit (reported at its last record)", () => {
      // Records: 8, 9 instructions; nothing after.
      assert.deepStrictEqual(found([S.thread(TID, [...headers(), ...straight(2)], { filetype: FILETYPE })]), [
        ["Thread is missing exit", 9]
      ])
    })

    it("a timestamp going back", () => {
      assert.deepStrictEqual(
        found([thread([...straight(2), S.timestamp(999), S.cpu(3), ...straight(1, 0x1004), S.exit(TID)])]),
        [["Timestamp does not increase monotonically", BODY + 2]]
      )
    })

    it("no cache line size marker, or no page size marker (reported at the exit)", () => {
      const noCacheLine = S.thread(TID, [...headers().filter((_, k) => k !== 0), ...straight(2), S.exit(TID)], {
        filetype: FILETYPE
      })
      // VERSION, FILETYPE, 4 headers, 2 instructions, exit = record 9.
      assert.deepStrictEqual(found([noCacheLine]), [["Missing cache line marker", 9]])
      const noPageSize = S.thread(TID, [...headers().filter((_, k) => k !== 2), ...straight(2), S.exit(TID)], {
        filetype: FILETYPE
      })
      assert.deepStrictEqual(found([noPageSize]), [["Missing page size marker", 9]])
    })

    it("a header marker contradicting the input's", () => {
      assert.deepStrictEqual(
        found([thread([...straight(1), m(MarkerType.CACHE_LINE_SIZE, 128), ...straight(1, 0x1002), S.exit(TID)])]),
        [["Stream interface cache line size != trace marker", BODY + 1]]
      )
    })

    it("chunk footers not every chunk_instr_count instructions, or out of sequence", () => {
      const chunked = (body: ReadonlyArray<S.Entry>) =>
        S.thread(
          TID,
          [
            S.marker(MarkerType.CACHE_LINE_SIZE, 64),
            S.marker(MarkerType.CHUNK_INSTR_COUNT, 2),
            S.marker(MarkerType.PAGE_SIZE, 4096),
            S.timestamp(1000),
            S.cpu(3),
            ...body
          ],
          { filetype: FILETYPE }
        )
      // A chunk ends: footer, then the next chunk's (hidden) record ordinal, timestamp and cpu.
      const footer = (n: number) => [
        m(MarkerType.CHUNK_FOOTER, n),
        m(MarkerType.RECORD_ORDINAL, 0),
        S.timestamp(1000),
        S.cpu(3)
      ]
      assert.deepStrictEqual(found([chunked([...straight(2), ...footer(0), ...straight(2, 0x1004), S.exit(TID)])]), [])
      assert.deepStrictEqual(found([chunked([...straight(3), ...footer(0), ...straight(1, 0x1006), S.exit(TID)])]), [
        ["Chunk instruction counts are inconsistent", BODY + 3]
      ])
      assert.deepStrictEqual(found([chunked([...straight(2), ...footer(1), ...straight(2, 0x1004), S.exit(TID)])]), [
        ["Chunks do not increase monotonically", BODY + 2]
      ])
    })

    it("a CONDITIONAL_JUMP in a version 5+ trace", () => {
      assert.deepStrictEqual(
        found([
          thread([...straight(1), ins(0x1002, TraceType.INSTR_CONDITIONAL_JUMP), ...straight(1, 0x1004), S.exit(TID)])
        ]),
        [["The CONDITIONAL_JUMP type is deprecated and should not appear", BODY + 1]]
      )
      // Version 4 traces have no branch information.
      assert.deepStrictEqual(
        found([
          thread([...straight(1), ins(0x1002, TraceType.INSTR_CONDITIONAL_JUMP), ...straight(1, 0x1004), S.exit(TID)], {
            version: 4
          })
        ]),
        []
      )
    })

    it("an indirect branch without a target", () => {
      assert.deepStrictEqual(
        found([thread([...straight(1), ins(0x1002, TraceType.INSTR_INDIRECT_CALL), S.exit(TID)])]),
        [["Indirect branches must contain targets", BODY + 1]]
      )
    })

    it("an indirect branch, or an untaken one, followed by another PC than its target", () => {
      assert.deepStrictEqual(
        found([
          thread([
            ...straight(1),
            m(MarkerType.BRANCH_TARGET, 0x3000),
            ins(0x1002, TraceType.INSTR_INDIRECT_JUMP),
            ins(0x3004),
            S.exit(TID)
          ])
        ]),
        // BRANCH_TARGET is hidden: the jump is record 9, its successor 10.
        [["Branch does not go to the correct target", BODY + 2]]
      )
      assert.deepStrictEqual(
        found([thread([...straight(1), ins(0x1002, TraceType.INSTR_UNTAKEN_JUMP), ins(0x3000), S.exit(TID)])]),
        [["Branch does not go to the correct target", BODY + 2]]
      )
    })

    it("a jump in the PC with no branch and no kernel event marker", () => {
      assert.deepStrictEqual(found([thread([...straight(2), ins(0x5000), S.exit(TID)])]), [
        ["Non-explicit control flow has no marker", BODY + 2]
      ])
    })

    it("a signal handler returning elsewhere than the interrupted PC", () => {
      assert.deepStrictEqual(
        found([
          thread([
            ...straight(2),
            m(MarkerType.KERNEL_EVENT, 0x1004),
            ins(0x6000),
            m(MarkerType.KERNEL_XFER, 0x6002),
            ins(0x1008),
            S.exit(TID)
          ])
        ]),
        [["Signal handler return point incorrect", BODY + 5]]
      )
    })

    it("a kernel event marker without its PC", () => {
      assert.deepStrictEqual(
        found([thread([...straight(2), m(MarkerType.KERNEL_EVENT, 0), ins(0x6000), S.exit(TID)])]).slice(0, 1),
        [["Kernel event marker value missing", BODY + 2]]
      )
    })

    it("a branch whose target comes after a timestamp", () => {
      assert.deepStrictEqual(
        found([
          thread([
            ...straight(1),
            ins(0x1002, TraceType.INSTR_DIRECT_JUMP),
            S.timestamp(1001),
            S.cpu(3),
            ins(0x3000),
            S.exit(TID)
          ])
        ]),
        [["Branch target not immediately after branch", BODY + 4]]
      )
    })

    it("a SYSCALL marker without the timestamp and cpu before it", () => {
      assert.deepStrictEqual(
        found([thread([...straight(2), m(MarkerType.SYSCALL, 0), ...straight(1, 0x1004), S.exit(TID)])]),
        [["Syscall marker not preceded by timestamp + cpuid", BODY + 2]]
      )
    })

    it("a MAYBE_BLOCKING marker without a SYSCALL marker before it", () => {
      assert.deepStrictEqual(
        found([
          thread([
            ...straight(2),
            S.timestamp(1001),
            S.cpu(3),
            m(MarkerType.MAYBE_BLOCKING_SYSCALL),
            ...straight(1, 0x1004),
            S.exit(TID)
          ])
        ]),
        [["Maybe-blocking marker not preceded by syscall marker", BODY + 4]]
      )
    })

    it("syscall markers in a trace whose file type says there are none (reported at the exit)", () => {
      const body = [
        ...straight(2),
        S.timestamp(1001),
        S.cpu(3),
        m(MarkerType.SYSCALL, 0),
        ...straight(1, 0x1004),
        S.exit(TID)
      ]
      assert.deepStrictEqual(found([thread(body, { filetype: FileType.ARCH_X86_64 })]), [
        ["System call numbers presence does not match filetype", BODY + 6]
      ])
      const blocking = [
        ...straight(2),
        S.timestamp(1001),
        S.cpu(3),
        m(MarkerType.SYSCALL, 0),
        m(MarkerType.MAYBE_BLOCKING_SYSCALL),
        ...straight(1, 0x1004),
        S.exit(TID)
      ]
      assert.deepStrictEqual(found([thread(blocking, { filetype: FileType.ARCH_X86_64 | FileType.SYSCALL_NUMBERS })]), [
        ["Kernel scheduling marker presence does not match filetype", BODY + 7]
      ])
    })

    it("a kernel syscall trace in a trace whose file type has none", () => {
      assert.deepStrictEqual(
        found([
          thread([
            ...straight(2),
            S.timestamp(1001),
            S.cpu(3),
            m(MarkerType.SYSCALL, 1),
            m(MarkerType.SYSCALL_TRACE_START, 1),
            ins(0xffff_8000_0000_1000n),
            m(MarkerType.BRANCH_TARGET, 0x1004),
            ins(0xffff_8000_0000_1002n, TraceType.INSTR_RETURN, 1),
            m(MarkerType.SYSCALL_TRACE_END, 1),
            ...straight(1, 0x1004),
            S.exit(TID)
          ])
        ]),
        [["Found kernel syscall trace without corresponding file type", BODY + 5]]
      )
    })

    it("a function marker between an instruction and its data", () => {
      // A syscall function id (2^32 + n) may follow any instruction.
      assert.deepStrictEqual(
        found([thread([...straight(2), m(MarkerType.FUNC_ID, 2 ** 32 + 202), S.read(0x8000), S.exit(TID)])]),
        [["Function marker misplaced between instr and memref", BODY + 3]]
      )
    })

    it("a physical address marker not followed by its virtual one", () => {
      assert.deepStrictEqual(
        found([thread([...straight(1), m(MarkerType.PHYSICAL_ADDRESS, 0x5123), ...straight(1, 0x1002), S.exit(TID)])]),
        [
          ["Physical addr marker not immediately prior to virtual marker", BODY + 2],
          ["Physical addr bottom 12 bits do not match virtual", BODY + 2]
        ]
      )
    })

    it("a hardware event marker outside a whole-system trace", () => {
      assert.deepStrictEqual(
        found([
          thread([
            ...straight(1),
            m(MarkerType.HARDWARE_EVENT, 0x1002),
            ins(0x9000),
            m(MarkerType.HARDWARE_CONTEXT_RETURN, 0x9002),
            ins(0x1002),
            S.exit(TID)
          ])
        ]),
        [
          ["Hardware context marker found in non-whole-system trace", BODY + 1],
          ["Hardware context marker found in non-whole-system trace", BODY + 3]
        ]
      )
    })

    it("an rseq abort marker not followed by a kernel event", () => {
      assert.deepStrictEqual(
        found([
          thread([
            ...straight(2),
            m(MarkerType.RSEQ_ABORT, 0x1002),
            m(MarkerType.WINDOW_ID, 0),
            ...straight(1, 0x1004),
            S.exit(TID)
          ])
        ]),
        [["Rseq marker not immediately prior to kernel marker", BODY + 3]]
      )
    })

    it("stream ordinals that disagree with the records", () => {
      const [batch] = Trace.decodeSync(S.encode(thread([...straight(1), S.exit(TID)])))
      const n = RecordBatch.length(batch!)
      assert.strictEqual(n, BODY + 1)
      const tool = InvariantChecker.make()
      const state = tool.makeShard({ shardIndex: 0, shardType: "thread", serial: false, outputCount: 1 })
      const ctx: Tool.BatchContext = { output: 0, input: 0, outputRecordsBefore: 0, inputRecordsBefore: 0 }
      assert.isUndefined(tool.processBatch(state, batch!, 0, 1, ctx))
      // The stream then claims record 2 is record 3: every later record disagrees.
      ctx.inputRecordsBefore = 2
      assert.isUndefined(tool.processBatch(state, batch!, 1, n, ctx))
      const shard = tool.finishShard(state) as InvariantChecker.ShardResult
      assert.deepStrictEqual(
        shard.violations.map((v) => [v.name, v.ref]),
        Array.from({ length: n - 1 }, (_, k) => ["Stream record ordinal inaccurate", k + 3])
      )
    })

    it("with abortOnInvariantError, the shard fails at the first violation's record", () => {
      const threads = [thread([...straight(2), ins(0x5000), ins(0x6000), S.exit(TID)])]
      assert.deepStrictEqual(found(threads), [
        ["Non-explicit control flow has no marker", BODY + 2],
        ["Non-explicit control flow has no marker", BODY + 3]
      ])
      try {
        check(threads, { abortOnInvariantError: true })
        assert.fail("the shard should have failed")
      } catch (e) {
        assert.instanceOf(e, ShardFailed)
        const failed = e as ShardFailed<InvariantChecker.InvariantViolation>
        assert.strictEqual(failed.record, BODY + 2)
        assert.strictEqual(failed.error.reason, "Non-explicit control flow has no marker")
      }
    })
  })

  it.effect("under failure: continue, a shard that failed is not reported as checks passed", () =>
    Effect.gen(function* () {
      const good = (tid: number) =>
        S.thread(tid, [...headers(), ...straight(3), S.exit(tid)], { filetype: FILETYPE, version: 7 })
      const bad = S.thread(8, [...headers(), ...straight(2), ins(0x5000), S.exit(8)], {
        filetype: FILETYPE,
        version: 7
      })
      const inputs = yield* Effect.forEach([good(7), bad, good(9)], (entries, i) =>
        Trace.fromEntries(entries, { ordinal: i, name: `t${i}` })
      )
      const result = yield* Analyzer.runInputs(inputs, {
        tools: [InvariantChecker.make({ abortOnInvariantError: true })],
        jobs: 1,
        failure: "continue"
      })
      assert.strictEqual(result.failures.length, 1)
      assert.strictEqual(result.tools[0]!.text, "Trace invariant checks incomplete: 1 shard failed (see the errors)\n")
      assert.strictEqual((result.tools[0]!.result as InvariantChecker.Result).failedShards, 1)
    }).pipe(Effect.scoped)
  )

  describe("printing", () => {
    it("prints each violation in DynamoRIO's words, then the count", () => {
      const r = runEntriesSync(InvariantChecker.make(), [thread([...straight(2), ins(0x5000), S.exit(TID)])])
      assert.strictEqual(
        r.text,
        [
          "Trace invariant failure in T7 at ref # 10 at instruction # 3 (3 instrs since timestamp 1000): Non-explicit control flow has no marker",
          "Found 1 invariant errors",
          ""
        ].join("\n")
      )
    })
  })

  describe("real traces", () => {
    it.effect("threadsig, -jobs 0 (serial), with its serial schedule file: DynamoRIO's serial_invariants vector", () =>
      Effect.gen(function* () {
        const schedule = join(TRACE_PATHS.threadsig!, "serial_schedule.bin.gz")
        const r = yield* Analyzer.run(TRACE_PATHS.threadsig!, {
          tools: [InvariantChecker.make({ serialSchedule: schedule })],
          jobs: 0
        })
        assert.strictEqual(r.mode, "serial")
        assert.strictEqual(r.tools[0]!.text, "Trace invariant checks passed\n")
      })
    )

    it.effect(
      "threadsig thread-sharded, its core-sharded-on-disk copy (-no_core_sharded: DynamoRIO's core_on_disk_invariants), allasm: pass",
      () =>
        Effect.gen(function* () {
          for (const path of [
            TRACE_PATHS.threadsig!,
            TRACE_PATHS["threadsig-core-sharded"]!,
            TRACE_PATHS.allasm_x86_64!
          ]) {
            const r = yield* Analyzer.run(path, { tools: [InvariantChecker.make()], mode: "thread-sharded", jobs: 2 })
            assert.strictEqual(r.tools[0]!.text, "Trace invariant checks passed\n", path)
          }
        })
    )

    it.effect("a serial run of a core-sharded-on-disk trace: ordinals are not checked once a second shard starts", () =>
      Effect.gen(function* () {
        // The serial stream's ordinals are the whole stream's: DynamoRIO checks them only while one shard is known.
        const r = yield* Analyzer.run(TRACE_PATHS["threadsig-core-sharded"]!, {
          tools: [InvariantChecker.make()],
          jobs: 0
        })
        assert.strictEqual(r.mode, "serial")
        assert.strictEqual(r.tools[0]!.text, "Trace invariant checks passed\n")
      })
    )

    it.effect("after -skip_instrs, the file type is the stream's: no filetype-vs-content failures", () =>
      Effect.gen(function* () {
        // The skip passes the FILETYPE marker; threadsig has syscall numbers and blocking syscalls (0xe40).
        for (const jobs of [2, 0]) {
          const r = yield* Analyzer.run(TRACE_PATHS.threadsig!, {
            tools: [InvariantChecker.make({ traceIncomplete: true })],
            skipInstrs: 1000,
            jobs
          })
          assert.strictEqual(r.tools[0]!.text, "Trace invariant checks passed\n", `jobs ${jobs}`)
        }
      })
    )

    it.effect(
      "-exit_after_instrs: the synthetic exit carries the read-ahead instruction, as DynamoRIO's stream does",
      () =>
        Effect.gen(function* () {
          // DynamoRIO's scheduler reads instruction 1001 to find the end of the region; its stream
          // ordinals then count it, and the checker sees one instruction more than it was handed.
          const r = yield* Analyzer.run(TRACE_PATHS.threadsig!, {
            tools: [InvariantChecker.make({ traceIncomplete: true })],
            exitAfterInstrs: 1000,
            onlyShards: [0]
          })
          assert.strictEqual(
            r.tools[0]!.text,
            "Trace invariant failure in T872805 at ref # 1700 at instruction # 1001 (221 instrs since timestamp " +
              "13386385969736244): Stream instr ordinal inaccurate\nFound 1 invariant errors\n"
          )
        })
    )

    it.effect("the kernel template files pass: DynamoRIO's syscall_file_invariants and switch_file_invariants", () =>
      Effect.gen(function* () {
        for (const file of ["mock_syscall_sequences.x64", "mock_switch_sequences.x64.zip"]) {
          const r = yield* Analyzer.run(join(TRACES, file), {
            tools: [InvariantChecker.make()],
            mode: "thread-sharded"
          })
          assert.strictEqual(r.tools[0]!.text, "Trace invariant checks passed\n", file)
        }
      })
    )

    it.effect("threadsig scheduled onto 4 cores (core-serial): the scheduler's output passes too", () =>
      Effect.gen(function* () {
        const r = yield* Analyzer.run(TRACE_PATHS.threadsig!, {
          tools: [InvariantChecker.make()],
          mode: "core-serial",
          scheduler: { blockTimeMultiplier: 0.01 }
        })
        assert.strictEqual(r.tools[0]!.text, "Trace invariant checks passed\n")
      })
    )

    it.effect("version-1 traces break DynamoRIO's rules: no header markers, no kernel event PCs", () =>
      Effect.gen(function* () {
        // drmemtrace.small: one thread whose 232nd and last record is its exit.
        const small = yield* Analyzer.run(TRACE_PATHS.small!, {
          tools: [InvariantChecker.make()],
          mode: "thread-sharded"
        })
        const result = small.tools[0]!.result as InvariantChecker.Result
        assert.deepStrictEqual(
          result.violations.map((v) => [v.id, v.ref, v.name]),
          [
            [21548, 232, "Missing cache line marker"],
            [21548, 232, "Missing page size marker"]
          ]
        )
        const chase = yield* Analyzer.run(TRACE_PATHS["chase-snappy"]!, {
          tools: [InvariantChecker.make()],
          mode: "thread-sharded"
        })
        const names = new Set((chase.tools[0]!.result as InvariantChecker.Result).violations.map((v) => v.name))
        assert.isTrue(names.has("Kernel event marker value missing"))
        assert.isTrue(names.has("Missing cache line marker"))
      })
    )

    describe("the serial schedule file", () => {
      const withFile = (bytes: Uint8Array, body: (path: string) => Effect.Effect<void, unknown>) =>
        Effect.acquireUseRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "memtrace-invariants-"))),
          (dir) =>
            Effect.suspend(() => {
              const path = join(dir, "serial_schedule.bin")
              writeFileSync(path, bytes)
              return body(path)
            }),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
      const original = () => gunzipSync(readFileSync(join(TRACE_PATHS.threadsig!, "serial_schedule.bin.gz")))
      const run = (path: string) =>
        Effect.map(
          Analyzer.run(TRACE_PATHS.threadsig!, {
            tools: [InvariantChecker.make({ serialSchedule: path })],
            mode: "thread-sharded",
            jobs: 2
          }),
          (r) => r.tools[0]!.result as InvariantChecker.Result
        )

      it.effect("an entry that differs is reported with the file's thread and instruction", () => {
        const bytes = original()
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        // Entry 10 claims to start one instruction later.
        const thread = view.getBigUint64(10 * 32, true)
        const start = view.getBigUint64(10 * 32 + 24, true) + 1n
        view.setBigUint64(10 * 32 + 24, start, true)
        return withFile(bytes, (path) =>
          Effect.map(run(path), (r) => {
            assert.deepStrictEqual(
              r.violations.map((v) => [v.id, v.ref, v.name]),
              [[Number(thread), Number(start), "Serial schedule entry does not match trace"]]
            )
          })
        )
      })

      it.effect("a file with another number of entries is reported once", () =>
        withFile(original().subarray(0, 32 * 5), (path) =>
          Effect.map(run(path), (r) => {
            assert.deepStrictEqual(
              r.violations.map((v) => InvariantChecker.formatViolation(v)),
              [
                "Trace invariant failure in T-1 at ref # 0 at instruction # 0 (0 instrs since timestamp 0): Serial schedule entry count does not match trace"
              ]
            )
          })
        )
      )
    })
  })
})
