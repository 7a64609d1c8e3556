import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Info from "../../src/trace/Info.ts"
import { FileType } from "../../src/trace/Record.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"

const TRACES = "../shared/traces"

/**
 * Records and instructions as DynamoRIO's own basic_counts counted them
 * (../shared/traces/expected/NAME.basic_counts.txt, "Total counts:"): every
 * record is an instruction, a data access, a flush or a marker that
 * basic_counts counts, or a thread's exit (one per thread).
 */
const fromBasicCounts = (name: string) => {
  const text = readFileSync(`${TRACES}/expected/${name}.basic_counts.txt`, "utf8")
  const totals = new Map<string, number>()
  const section = text.slice(text.indexOf("Total counts:"))
  for (const line of section.split("\n").slice(1)) {
    const m = /^\s+(\d+) total (.*)$/.exec(line)
    if (m === null) break
    totals.set(m[2]!, Number(m[1]))
  }
  const get = (label: string) => {
    const v = totals.get(label)
    assert.isDefined(v, label)
    return v!
  }
  // VIRTUAL_ADDRESS markers are counted nowhere; our traces have no pairs.
  assert.strictEqual(get("physical address + virtual address marker pairs"), 0)
  const recordLabels = [
    "(fetched) instructions",
    "non-fetched instructions",
    "prefetches",
    "data loads",
    "data stores",
    "icache flushes",
    "dcache flushes",
    "timestamp + cpuid markers",
    "idle markers",
    "wait markers",
    "kernel transfer markers",
    "function id markers",
    "function return address markers",
    "function argument markers",
    "function return value markers",
    "physical address unavailable markers",
    "system call number markers",
    "blocking system call markers",
    "skipped memref markers",
    "other markers",
    "threads"
  ]
  const hardware = totals.get("hardware transfer markers") ?? 0
  return {
    records: recordLabels.reduce((n, l) => n + get(l), 0) + hardware,
    instructions: get("(fetched) instructions"),
    threads: get("threads")
  }
}

/** Each input's record and instruction counts and last timestamp as the reader's own counters report them. */
const readerCounts = (path: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const inputs = yield* Trace.open(path)
      const out: Array<{ records: number; instrs: number; first: bigint | undefined; last: bigint }> = []
      for (const input of inputs) {
        yield* Trace.readAll(input)
        const o = input.ordinals()
        out.push({ records: o.records, instrs: o.instrs, first: input.info.firstTimestamp, last: o.lastTimestamp })
      }
      return out
    })
  )

const checkAgainstReader = (path: string, summaries: ReadonlyArray<Info.InputSummary>) =>
  Effect.gen(function* () {
    const reader = yield* readerCounts(path)
    assert.strictEqual(summaries.length, reader.length)
    summaries.forEach((s, k) => {
      assert.strictEqual(s.ordinal, k)
      assert.strictEqual(s.records, reader[k]!.records, `records of input ${k}`)
      assert.strictEqual(s.instructions, reader[k]!.instrs, `instructions of input ${k}`)
      assert.strictEqual(s.firstTimestamp, reader[k]!.first, `first timestamp of input ${k}`)
      assert.strictEqual(s.lastTimestamp, reader[k]!.last, `last timestamp of input ${k}`)
    })
  })

const sum = (summaries: ReadonlyArray<Info.InputSummary>, f: (s: Info.InputSummary) => number) =>
  summaries.reduce((n, s) => n + f(s), 0)

describe("Info.describe on DynamoRIO's traces", () => {
  it.effect("threadsig: 9 thread inputs, 928,110 records, 650,576 instructions", () =>
    Effect.gen(function* () {
      const path = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
      const summaries = yield* Info.describe(path)
      assert.strictEqual(summaries.length, 9)
      // Semantics §9 (DynamoRIO core_serial.templatex and the derived per-thread table).
      assert.strictEqual(
        sum(summaries, (s) => s.records),
        928_110
      )
      assert.strictEqual(
        sum(summaries, (s) => s.instructions),
        650_576
      )
      assert.deepStrictEqual(
        summaries.map((s) => [s.tid, s.instructions]),
        [
          [872805, 22052],
          [872884, 156381],
          [872894, 123958],
          [872901, 48615],
          [872902, 61550],
          [872903, 78051],
          [872904, 45355],
          [872905, 65121],
          [872906, 49493]
        ]
      )
      const dr = fromBasicCounts("threadsig")
      assert.strictEqual(
        sum(summaries, (s) => s.records),
        dr.records
      )
      assert.strictEqual(
        sum(summaries, (s) => s.instructions),
        dr.instructions
      )
      assert.strictEqual(
        sum(summaries, (s) => s.threads),
        dr.threads
      )
      for (const s of summaries) {
        assert.strictEqual(s.pid, 872805)
        assert.strictEqual(s.version, 7)
        assert.strictEqual(s.container, "zip")
        assert.strictEqual(s.filetype, 0xe40)
        assert.deepStrictEqual(s.filetypeNames, ["ARCH_X86_64", "ENCODINGS", "SYSCALL_NUMBERS", "BLOCKING_SYSCALLS"])
        assert.deepStrictEqual(s.tids, [s.tid])
        assert.strictEqual(s.chunkInstrCount, 10_000_000)
        // The first timestamp of every thread (hex decode in semantics §4).
        assert.strictEqual(s.firstTimestamp, 13386385969186755n)
      }
      yield* checkAgainstReader(path, summaries)
    })
  )

  it.effect("threadsig core-sharded: 4 core inputs holding the same 9 threads and the idle markers", () =>
    Effect.gen(function* () {
      const path = `${TRACES}/drmemtrace.threadsig-core-sharded.x64.tracedir`
      const summaries = yield* Info.describe(path)
      assert.deepStrictEqual(
        summaries.map((s) => s.file),
        [0, 1, 2, 3].map((c) => `drmemtrace.core.00000${c}.trace.zip`)
      )
      // Semantics §9: per-core instructions, and 928,110 thread records plus 3,026,416 idle markers.
      assert.deepStrictEqual(
        summaries.map((s) => s.instructions),
        [211131, 98108, 217931, 123406]
      )
      assert.strictEqual(
        sum(summaries, (s) => s.records),
        928_110 + 3_026_416
      )
      const dr = fromBasicCounts("threadsig-core-sharded")
      assert.strictEqual(
        sum(summaries, (s) => s.records),
        dr.records
      )
      assert.strictEqual(
        sum(summaries, (s) => s.instructions),
        dr.instructions
      )
      // Semantics §5: which threads ran on which core.
      assert.deepStrictEqual(
        summaries.map((s) => [...s.tids].sort()),
        [
          [872805, 872894, 872905],
          [872901, 872906],
          [872884, 872902],
          [872903, 872904]
        ]
      )
      for (const s of summaries) {
        assert.strictEqual(s.filetype, 0x10e40)
        assert.include(s.filetypeNames, "CORE_SHARDED")
        assert.strictEqual(s.threads, s.tids.length)
      }
      yield* checkAgainstReader(path, summaries)
    })
  )

  it.effect("chase-snappy: two legacy snappy inputs without a FILETYPE marker", () =>
    Effect.gen(function* () {
      const path = `${TRACES}/drmemtrace.chase-snappy.x64.tracedir`
      const summaries = yield* Info.describe(path)
      // Semantics §9 (DynamoRIO offline-snappy.templatex).
      assert.deepStrictEqual(
        summaries.map((s) => [s.tid, s.instructions]),
        [
          [23699, 867701],
          [23700, 1432080]
        ]
      )
      const dr = fromBasicCounts("chase-snappy")
      assert.strictEqual(
        sum(summaries, (s) => s.records),
        dr.records
      )
      assert.strictEqual(
        sum(summaries, (s) => s.instructions),
        2_299_781
      )
      for (const s of summaries) {
        assert.strictEqual(s.container, "snappy")
        assert.strictEqual(s.version, 1)
        assert.isFalse(s.hasFiletype)
        assert.deepStrictEqual(s.filetypeNames, [])
        assert.strictEqual(s.pid, 23375)
      }
      // The view listing's first record (expected/chase-snappy.view.txt).
      assert.strictEqual(summaries[0]!.firstTimestamp, 13195594426834636n)
      yield* checkAgainstReader(path, summaries)
    })
  )

  it.effect("small: one uncompressed legacy input of 173 instructions", () =>
    Effect.gen(function* () {
      const path = `${TRACES}/drmemtrace.small.x64.trace`
      const [s, ...rest] = yield* Info.describe(path)
      assert.strictEqual(rest.length, 0)
      assert.strictEqual(s!.container, "raw")
      assert.strictEqual(s!.tid, 21548)
      assert.strictEqual(s!.instructions, 173)
      // 173 instructions + 42 loads + 14 stores + 2 markers + 1 thread exit (semantics §9).
      assert.strictEqual(s!.records, 232)
      assert.strictEqual(s!.records, fromBasicCounts("small").records)
      assert.strictEqual(s!.firstTimestamp, 13186525363117589n)
      yield* checkAgainstReader(path, [s!])
    })
  )

  it.effect("allasm: one zip input of 7 chunks, version 6, 133 instructions", () =>
    Effect.gen(function* () {
      const path = `${TRACES}/drmemtrace.allasm_x86_64.trace.zip`
      const [s] = yield* Info.describe(path)
      assert.strictEqual(s!.version, 6)
      assert.strictEqual(s!.filetype, 0xe40)
      assert.strictEqual(s!.tid, 1992554)
      assert.strictEqual(s!.instructions, 133)
      assert.strictEqual(s!.chunkInstrCount, 20)
      assert.strictEqual(s!.records, fromBasicCounts("allasm_x86_64").records)
      // First timestamp as DynamoRIO's view printed it (expected/allasm_x86_64.view.txt).
      assert.strictEqual(s!.firstTimestamp, 13352268558644049n)
      yield* checkAgainstReader(path, [s!])
    })
  )
})

describe("Info output", () => {
  const synthetic = () =>
    Effect.gen(function* () {
      const a = yield* Trace.fromEntries(
        S.thread(11, [S.timestamp((1n << 60n) + 1n), S.instr(0x10), S.read(0x20), S.timestamp(1n << 61n), S.exit(11)], {
          pid: 3,
          filetype: FileType.ARCH_X86_64 | FileType.ENCODINGS
        }),
        { ordinal: 0, name: "a.trace" }
      )
      const b = yield* Trace.fromEntries(S.thread(12, [S.instr(0x30), S.exit(12)], { pid: 3 }), {
        ordinal: 1,
        name: "b.trace"
      })
      return yield* Info.describeInputs([a, b])
    })

  it.effect("summarises synthetic inputs exactly, timestamps beyond 2^53 included", () =>
    Effect.gen(function* () {
      const [a, b] = yield* synthetic()
      // version, filetype, 2 timestamps, instr, read, exit.
      assert.strictEqual(a!.records, 7)
      assert.strictEqual(a!.instructions, 1)
      assert.strictEqual(a!.firstTimestamp, (1n << 60n) + 1n)
      assert.strictEqual(a!.lastTimestamp, 1n << 61n)
      assert.deepStrictEqual(a!.filetypeNames, ["ARCH_X86_64", "ENCODINGS"])
      assert.strictEqual(b!.records, 4)
      assert.isUndefined(b!.firstTimestamp)
      assert.isUndefined(b!.lastTimestamp)
    })
  )

  it.effect("the JSON form keeps timestamps as exact decimal strings and decodes back", () =>
    Effect.gen(function* () {
      const summaries = yield* synthetic()
      const json = JSON.parse(JSON.stringify(Schema.encodeSync(Info.InputSummaries)(summaries)))
      assert.strictEqual(json[0].firstTimestamp, "1152921504606846977")
      assert.notProperty(json[1], "firstTimestamp")
      assert.deepStrictEqual(Schema.decodeUnknownSync(Info.InputSummaries)(json), summaries)
    })
  )

  it.effect("format prints a row per input, the totals, and what the file types mean", () =>
    Effect.gen(function* () {
      const text = Info.format(yield* synthetic())
      const rows = text.split("\n")
      assert.match(rows[0]!, /^input +file +format +version +filetype +tid +pid +threads +records +instructions/)
      assert.match(rows[1]!, /^ +0 +a\.trace +raw +7 +0x240 +11 +3 +1 +7 +1 +1152921504606846977 +2305843009213693952$/)
      assert.match(rows[2]!, /^ +1 +b\.trace +raw +7 +0x40 +12 +3 +1 +4 +1 +- +-$/)
      assert.match(rows[3]!, /^total +2 inputs +2 +11 +2 +1152921504606846977 +2305843009213693952$/)
      assert.include(text, "filetype 0x240: ARCH_X86_64 | ENCODINGS\n")
      assert.include(text, "filetype 0x40: ARCH_X86_64\n")
    })
  )
})
