import { assert, describe, it } from "@effect/vitest"
import * as SyscallMix from "../../src/tools/SyscallMix.ts"
import { MarkerType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import { runEntriesSync } from "../utils/runTool.ts"

const sys = (n: number | bigint) => S.marker(MarkerType.SYSCALL, n)
const failed = (code: number) => S.marker(MarkerType.SYSCALL_FAILED, code)

describe("syscall_mix", () => {
  it("counts system calls, most first and then the highest number first", () => {
    const r = runEntriesSync(SyscallMix.syscallMix, [
      S.thread(1, [sys(3), sys(60), sys(3), sys(0), sys(0xffff_ffff), S.instr(0x10), sys(1), S.exit(1)]),
      S.thread(2, [sys(60), sys(202), sys(1), S.exit(2)])
    ])
    assert.strictEqual(
      r.text,
      [
        "Syscall mix tool results:",
        "  syscall count : syscall_num",
        "              2 :        60",
        "              2 :         3",
        "              2 :         1",
        "              1 :       202",
        "              1 :         0",
        // A marker value is read as a C int.
        "              1 :        -1",
        ""
      ].join("\n")
    )
  })

  it("files failures under the shard's last system call, or -1 before any", () => {
    const r = runEntriesSync(SyscallMix.syscallMix, [
      S.thread(1, [failed(4), sys(202), failed(11), failed(11), sys(0), failed(4), S.exit(1)]),
      // This shard's failure comes before its own system call, whatever other shards saw.
      S.thread(2, [failed(4), sys(202), failed(4), S.exit(2)])
    ])
    const text = r.text.split("\n")
    const at = text.indexOf("Failures for syscall -1:")
    assert.isAbove(at, 0)
    assert.deepStrictEqual(text.slice(at), [
      "Failures for syscall -1:",
      "  failure count : failure code",
      "              2 :         4",
      "Failures for syscall 0:",
      "  failure count : failure code",
      "              1 :         4",
      "Failures for syscall 202:",
      "  failure count : failure code",
      "              2 :        11",
      "              1 :         4",
      ""
    ])
  })

  it("counts system call traces and the instructions inside them", () => {
    const r = runEntriesSync(SyscallMix.syscallMix, [
      S.thread(1, [
        sys(0),
        S.marker(MarkerType.SYSCALL_TRACE_START, 0),
        S.instr(0x10),
        S.instr(0x11),
        S.marker(MarkerType.SYSCALL_TRACE_END, 0),
        S.instr(0x12),
        sys(1),
        S.marker(MarkerType.SYSCALL_TRACE_START, 1),
        S.instr(0x10),
        S.marker(MarkerType.SYSCALL_TRACE_END, 1),
        sys(1),
        S.marker(MarkerType.SYSCALL_TRACE_START, 1),
        S.marker(MarkerType.SYSCALL_TRACE_END, 1),
        S.exit(1)
      ])
    ])
    const result: SyscallMix.Result = r.result
    assert.deepStrictEqual(result.syscallInstrs, { key: [0, 1], count: [2, 1] })
    const text = r.text.split("\n")
    const at = text.indexOf(" syscall trace count :    total instr count : syscall_num")
    assert.isAbove(at, 0)
    assert.deepStrictEqual(text.slice(at + 1), [
      "                   2 :                    1 :         1",
      "                   1 :                    2 :         0",
      ""
    ])
  })
})
