import { assert, describe, it } from "@effect/vitest"
import { FileType, MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as S from "../../src/trace/Synthetic.ts"
import { decodeSync } from "../../src/trace/Trace.ts"
import { TraceError } from "../../src/trace/TraceError.ts"

interface Rec {
  type: number
  size: number
  addr: bigint
  aux: bigint
  tid: number
  pid: number
  flags: number
  enc?: Array<number>
}

const records = (entries: ReadonlyArray<S.Entry>, options?: { encodings?: boolean; batchCapacity?: number }) => {
  const out: Array<Rec> = []
  for (const b of decodeSync(S.encode(entries), options)) {
    for (let i = 0; i < RecordBatch.length(b); i++) {
      const r: Rec = {
        type: b.type[i]!,
        size: b.size[i]!,
        addr: RecordBatch.addrBig(b, i),
        aux: RecordBatch.auxBig(b, i),
        tid: b.tid[i]!,
        pid: b.pid[i]!,
        flags: b.flags[i]!
      }
      if ((b.flags[i]! & RecordBatch.FLAG_HAS_ENCODING) !== 0) {
        const slot = b.enc.subarray(i * 16, i * 16 + 16)
        r.enc = Array.from(slot.subarray(0, slot[15]!))
      }
      out.push(r)
    }
  }
  return out
}

const thrown = (f: () => unknown): TraceError => {
  try {
    f()
  } catch (e) {
    assert.instanceOf(e, TraceError)
    return e as TraceError
  }
  assert.fail("expected a TraceError")
}

describe("decoder", () => {
  it("hides header, thread and pid entries and gives the header markers the thread's ids", () => {
    const recs = records(S.thread(7, [S.timestamp(5), S.instr(0x100), S.exit(7)], { pid: 3 }))
    assert.deepStrictEqual(
      recs.map((r) => [r.type, r.size, r.tid, r.pid]),
      [
        [TraceType.MARKER, MarkerType.VERSION, 7, 3],
        [TraceType.MARKER, MarkerType.FILETYPE, 7, 3],
        [TraceType.MARKER, MarkerType.TIMESTAMP, 7, 3],
        [TraceType.INSTR, 1, 7, 3],
        [TraceType.THREAD_EXIT, 4, 7, 3]
      ]
    )
  })

  it("gives data records the PC of the instruction before them", () => {
    const recs = records(S.thread(1, [S.instr(0x4000, TraceType.INSTR, 3), S.read(0x9000, 4), S.write(0x9008, 8)]))
    const data = recs.filter((r) => r.type === TraceType.READ || r.type === TraceType.WRITE)
    assert.deepStrictEqual(
      data.map((r) => [r.addr, r.aux, r.size]),
      [
        [0x9000n, 0x4000n, 4],
        [0x9008n, 0x4000n, 8]
      ]
    )
  })

  it("keeps 64-bit addresses and marker values exact", () => {
    const kernel = 0xffffffff81000123n
    const ts = 13386385969186755n
    const recs = records(
      S.thread(1, [S.timestamp(ts), S.instr(kernel, TraceType.INSTR, 2), S.read(0xfffffffffffffff8n)])
    )
    assert.strictEqual(recs[2]!.addr, ts)
    assert.strictEqual(recs[3]!.addr, kernel)
    assert.strictEqual(recs[4]!.addr, 0xfffffffffffffff8n)
    assert.strictEqual(recs[4]!.aux, kernel)
  })

  it("attaches encodings to the next instruction and flags them as new", () => {
    const entries = S.thread(
      1,
      [
        S.encoding([0x48, 0x89, 0xd5]),
        S.instr(0x10, TraceType.INSTR, 3),
        S.instr(0x10, TraceType.INSTR, 3),
        S.encoding([1, 2, 3, 4, 5, 6, 7, 8]),
        S.encoding([9, 10]),
        S.instr(0x20, TraceType.INSTR, 10)
      ],
      { filetype: FileType.ARCH_X86_64 | FileType.ENCODINGS }
    )
    const plain = records(entries).filter((r) => r.type === TraceType.INSTR)
    assert.deepStrictEqual(
      plain.map((r) => r.flags),
      [RecordBatch.FLAG_ENCODING_IS_NEW, 0, RecordBatch.FLAG_ENCODING_IS_NEW]
    )
    const withBytes = records(entries, { encodings: true }).filter((r) => r.type === TraceType.INSTR)
    assert.deepStrictEqual(withBytes[0]!.enc, [0x48, 0x89, 0xd5])
    // The second fetch of 0x10 has no new encoding but gets the cached one.
    assert.deepStrictEqual(withBytes[1]!.enc, [0x48, 0x89, 0xd5])
    assert.deepStrictEqual(withBytes[2]!.enc, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  })

  it("rejects an encoding whose size differs from its instruction's", () => {
    const e = thrown(() => records(S.thread(1, [S.encoding([1, 2]), S.instr(0x10, TraceType.INSTR, 3)])))
    assert.strictEqual(e.reason, "Corrupt")
  })

  it("turns MAYBE_FETCH into NO_FETCH when it repeats the previous PC, else into INSTR", () => {
    const recs = records(
      S.thread(1, [
        S.instr(0x50, TraceType.INSTR, 2),
        S.instr(0x50, TraceType.INSTR_MAYBE_FETCH, 2),
        S.instr(0x52, TraceType.INSTR_MAYBE_FETCH, 2)
      ])
    )
    assert.deepStrictEqual(
      recs.filter((r) => r.size === 2).map((r) => r.type),
      [TraceType.INSTR, TraceType.INSTR_NO_FETCH, TraceType.INSTR]
    )
  })

  it("expands an instruction bundle into consecutive instructions", () => {
    // Bundle lengths live in the payload bytes: 3, 5, 1.
    const bundle = S.entry(TraceType.INSTR_BUNDLE, 3, 0x010503n)
    const recs = records(S.thread(1, [S.instr(0x1000, TraceType.INSTR, 4), bundle, S.read(0x50)]))
    assert.deepStrictEqual(
      recs.filter((r) => r.type === TraceType.INSTR).map((r) => [r.addr, r.size]),
      [
        [0x1000n, 4],
        [0x1004n, 3],
        [0x1007n, 5],
        [0x100cn, 1]
      ]
    )
    assert.strictEqual(recs.at(-1)!.aux, 0x100cn)
  })

  it("hides BRANCH_TARGET markers and gives their value to the next indirect branch", () => {
    const recs = records(
      S.thread(1, [
        S.marker(MarkerType.BRANCH_TARGET, 0x7777),
        S.instr(0x10, TraceType.INSTR_INDIRECT_CALL, 2),
        S.instr(0x7777, TraceType.INSTR_RETURN, 1)
      ])
    )
    assert.isFalse(recs.some((r) => r.type === TraceType.MARKER && r.size === MarkerType.BRANCH_TARGET))
    const branches = recs.filter((r) => r.type === TraceType.INSTR_INDIRECT_CALL || r.type === TraceType.INSTR_RETURN)
    assert.deepStrictEqual(
      branches.map((r) => r.aux),
      [0x7777n, 0n]
    )
  })

  it("shows CHUNK_FOOTER but hides RECORD_ORDINAL and the duplicated timestamp and cpu after it", () => {
    const recs = records(
      S.thread(1, [
        S.marker(MarkerType.CHUNK_INSTR_COUNT, 2),
        S.timestamp(100),
        S.cpu(3),
        S.instr(1),
        S.instr(2),
        S.marker(MarkerType.CHUNK_FOOTER, 0),
        S.marker(MarkerType.RECORD_ORDINAL, 7),
        S.timestamp(100),
        S.cpu(3),
        S.instr(3),
        S.timestamp(200),
        S.cpu(4)
      ])
    )
    const markers = recs.filter((r) => r.type === TraceType.MARKER).map((r) => [r.size, r.addr])
    assert.deepStrictEqual(markers, [
      [MarkerType.VERSION, 7n],
      [MarkerType.FILETYPE, BigInt(FileType.ARCH_X86_64)],
      [MarkerType.CHUNK_INSTR_COUNT, 2n],
      [MarkerType.TIMESTAMP, 100n],
      [MarkerType.CPU_ID, 3n],
      [MarkerType.CHUNK_FOOTER, 0n],
      [MarkerType.TIMESTAMP, 200n],
      [MarkerType.CPU_ID, 4n]
    ])
  })

  it("ends a batch where the thread changes, so a batch holds one thread", () => {
    const entries = [
      ...S.thread(1, [S.instr(1), S.instr(2)]).slice(0, -1),
      S.threadEntry(2),
      S.pid(9),
      S.instr(3),
      S.threadEntry(1),
      S.instr(4),
      S.footer()
    ]
    const batches = decodeSync(S.encode(entries))
    const tids = batches.map((b) => Array.from(b.tid.subarray(0, RecordBatch.length(b))))
    assert.deepStrictEqual(tids, [[1, 1, 1, 1], [2], [1]])
    assert.deepStrictEqual(Array.from(batches[1]!.pid.subarray(0, 1)), [9])
    assert.deepStrictEqual(Array.from(batches[2]!.pid.subarray(0, 1)), [1])
  })

  it("counts ordinals across batches: the first record ordinal and instructions before", () => {
    const body = Array.from({ length: 50 }, (_, i) => S.instr(0x1000 + i))
    const batches = decodeSync(S.encode(S.thread(1, body)), { batchCapacity: 16 })
    let records = 0
    let instrs = 0
    for (const b of batches) {
      assert.strictEqual(RecordBatch.firstRecordOrdinal(b), records + 1)
      assert.strictEqual(RecordBatch.instrOrdinalBefore(b), instrs)
      for (let i = 0; i < RecordBatch.length(b); i++) if (b.type[i] === TraceType.INSTR) instrs++
      records += RecordBatch.length(b)
    }
    assert.strictEqual(records, 52)
    assert.strictEqual(instrs, 50)
  })

  it("replays a header longer than a small batch over several batches, losing no marker", () => {
    // 40 markers before THREAD/PID are held back, then replayed with the thread's ids: more than a batch of 16 holds.
    const held = Array.from({ length: 40 }, (_, i) => S.marker(MarkerType.CPU_ID, i))
    const entries = [S.header(), ...held, S.threadEntry(5), S.pid(6), S.instr(0x1000), S.exit(5), S.footer()]
    for (const batchCapacity of [16, 17, 25, 64]) {
      const batches = decodeSync(S.encode(entries), { batchCapacity })
      assert.isTrue(
        batches.every((b) => RecordBatch.length(b) <= b.capacity),
        `capacity ${batchCapacity}`
      )
      const values: Array<number> = []
      let records = 0
      for (const b of batches) {
        assert.strictEqual(RecordBatch.firstRecordOrdinal(b), records + 1)
        for (let i = 0; i < RecordBatch.length(b); i++) {
          assert.strictEqual(b.tid[i], 5)
          if (b.type[i] === TraceType.MARKER) values.push(b.addrLo[i]!)
        }
        records += RecordBatch.length(b)
      }
      assert.deepStrictEqual(
        values,
        Array.from({ length: 40 }, (_, i) => i),
        `capacity ${batchCapacity}`
      )
      assert.strictEqual(records, 42)
    }
  })

  it("names the reason of each kind of bad stream", () => {
    assert.strictEqual(thrown(() => decodeSync(S.encode([S.instr(1)]))).reason, "BadHeader")
    assert.strictEqual(thrown(() => decodeSync(S.encode([S.header(9)]))).reason, "UnsupportedVersion")
    const unknown = thrown(() => decodeSync(S.encode(S.thread(1, [S.instr(1), S.entry(77, 0, 0)]))))
    assert.strictEqual(unknown.reason, "UnknownEntryType")
    // Visible before it: VERSION, FILETYPE and the instruction; the bad entry is the 7th (byte 72).
    assert.strictEqual(unknown.record, 4)
    assert.strictEqual(unknown.offset, 6 * 12)
    const bytes = S.encode(S.thread(1, [S.instr(1)]))
    assert.strictEqual(thrown(() => decodeSync(bytes.subarray(0, bytes.length - 5))).reason, "Truncated")
    assert.strictEqual(thrown(() => decodeSync(bytes.subarray(0, bytes.length - 12))).reason, "Truncated")
    assert.strictEqual(thrown(() => decodeSync(new Uint8Array(0))).reason, "NotATrace")
  })
})

describe("decoder ids and flushes", () => {
  it("reads thread and process ids as signed 64-bit values", () => {
    const recs = records([
      S.header(),
      S.version(),
      S.filetype(FileType.ARCH_X86_64),
      S.threadEntry(-1),
      S.pid(-1),
      S.instr(0x10),
      S.footer()
    ])
    assert.deepStrictEqual(
      recs.map((r) => [r.tid, r.pid]),
      [
        [-1, -1],
        [-1, -1],
        [-1, -1]
      ]
    )
  })

  it("gives a flush its start address, its length in size and the last PC in aux", () => {
    const recs = records(
      S.thread(1, [
        S.instr(0x500, TraceType.INSTR, 2),
        S.entry(TraceType.DATA_FLUSH, 0, 0x1000),
        S.entry(TraceType.DATA_FLUSH_END, 0, 0x1040)
      ])
    )
    const flush = recs.find((r) => r.type === TraceType.DATA_FLUSH)!
    assert.deepStrictEqual([flush.addr, flush.size, flush.aux], [0x1000n, 0x40, 0x500n])
  })
})
