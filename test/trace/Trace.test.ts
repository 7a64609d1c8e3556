import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { readZipComponents } from "../../src/trace/internal/source.ts"
import { FileType, isInstr, MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as S from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { tempDir, writeZip } from "./container/fixtures.ts"

const TRACES = "../shared/traces"

interface Counts {
  records: number
  instrs: number
  nofetch: number
  loads: number
  stores: number
  encodings: number
  timestampsCpus: number
  idles: number
  tids: Set<number>
}

const count = (inputs: ReadonlyArray<Trace.TraceInput>) =>
  Effect.gen(function* () {
    const per: Array<Counts> = []
    for (const input of inputs) {
      const c: Counts = {
        records: 0,
        instrs: 0,
        nofetch: 0,
        loads: 0,
        stores: 0,
        encodings: 0,
        timestampsCpus: 0,
        idles: 0,
        tids: new Set()
      }
      for (let b = yield* input.next; b !== undefined; b = yield* input.next) {
        const n = RecordBatch.length(b)
        assert.strictEqual(RecordBatch.firstRecordOrdinal(b), c.records + 1)
        c.records += n
        for (let i = 0; i < n; i++) {
          const t = b.type[i]!
          c.tids.add(b.tid[i]!)
          if (isInstr(t)) {
            c.instrs++
            if ((b.flags[i]! & RecordBatch.FLAG_ENCODING_IS_NEW) !== 0) c.encodings++
          } else if (t === TraceType.INSTR_NO_FETCH) c.nofetch++
          else if (t === TraceType.READ) c.loads++
          else if (t === TraceType.WRITE) c.stores++
          else if (t === TraceType.MARKER) {
            const m = b.size[i]!
            if (m === MarkerType.TIMESTAMP || m === MarkerType.CPU_ID) c.timestampsCpus++
            if (m === MarkerType.CORE_IDLE) c.idles++
          }
        }
      }
      const o = input.ordinals()
      assert.strictEqual(o.records, c.records)
      assert.strictEqual(o.instrs, c.instrs)
      per.push(c)
    }
    return per
  })

const sum = (per: ReadonlyArray<Counts>, k: Exclude<keyof Counts, "tids">) => per.reduce((a, c) => a + c[k], 0)

describe("Trace.open on the shipped traces", () => {
  it.effect("threadsig: 9 inputs sorted by path with semantics-doc totals and per-thread counts", () =>
    Effect.gen(function* () {
      const inputs = yield* Trace.open(`${TRACES}/drmemtrace.threadsig.x64.tracedir`)
      assert.deepStrictEqual(
        inputs.map((i) => i.info.tid),
        [872805, 872884, 872894, 872901, 872902, 872903, 872904, 872905, 872906]
      )
      assert.deepStrictEqual(
        inputs.map((i) => i.info.ordinal),
        [0, 1, 2, 3, 4, 5, 6, 7, 8]
      )
      const info = inputs[7]!.info
      assert.strictEqual(info.pid, 872805)
      assert.strictEqual(info.version, 7)
      assert.strictEqual(info.filetype, 0xe40)
      assert.strictEqual(info.cacheLineSize, 64)
      assert.strictEqual(info.chunkInstrCount, 10_000_000)
      assert.strictEqual(info.pageSize, 4096)
      assert.strictEqual(info.firstTimestamp, 13386385969186755n)
      const per = yield* count(inputs)
      assert.strictEqual(sum(per, "records"), 928_110)
      assert.strictEqual(sum(per, "instrs"), 650_576)
      assert.strictEqual(sum(per, "loads"), 172_208)
      assert.strictEqual(sum(per, "stores"), 100_150)
      assert.strictEqual(sum(per, "nofetch"), 126)
      assert.strictEqual(sum(per, "encodings"), 21_842)
      assert.strictEqual(sum(per, "timestampsCpus"), 3314)
      // Semantics doc §9: instrs/loads/stores/encodings per thread.
      assert.deepStrictEqual(
        per.map((c) => [c.instrs, c.loads, c.stores, c.encodings]),
        [
          [22052, 6303, 3559, 4423],
          [156381, 41274, 24168, 2256],
          [123958, 32775, 19174, 2819],
          [48615, 12833, 7400, 2244],
          [61550, 16232, 9388, 2255],
          [78051, 20590, 11964, 2272],
          [45355, 11990, 6910, 2239],
          [65121, 17160, 9997, 1671],
          [49493, 13051, 7590, 1663]
        ]
      )
      for (const [i, c] of per.entries()) assert.deepStrictEqual([...c.tids], [inputs[i]!.info.tid])
    })
  )

  it.effect("threadsig core-sharded on disk: 4 cores, idle markers and the 9 threads", () =>
    Effect.gen(function* () {
      const inputs = yield* Trace.open(`${TRACES}/drmemtrace.threadsig-core-sharded.x64.tracedir`)
      assert.strictEqual(inputs.length, 4)
      for (const i of inputs) assert.isTrue((i.info.filetype & FileType.CORE_SHARDED) !== 0)
      const per = yield* count(inputs)
      assert.deepStrictEqual(
        per.map((c) => c.instrs),
        [211131, 98108, 217931, 123406]
      )
      assert.strictEqual(sum(per, "loads"), 172_208)
      assert.strictEqual(sum(per, "stores"), 100_150)
      assert.strictEqual(sum(per, "idles"), 3_026_416)
      assert.strictEqual(sum(per, "encodings"), 13_727)
      const threads = new Set(per.flatMap((c) => [...c.tids]))
      assert.deepStrictEqual(
        [...threads].sort(),
        [872805, 872884, 872894, 872901, 872902, 872903, 872904, 872905, 872906].sort()
      )
    })
  )

  it.effect("chase-snappy (legacy v1, snappy framing): per-thread instructions", () =>
    Effect.gen(function* () {
      const inputs = yield* Trace.open(`${TRACES}/drmemtrace.chase-snappy.x64.tracedir`)
      assert.deepStrictEqual(
        inputs.map((i) => [i.info.tid, i.info.version, i.info.hasFiletype, i.info.container]),
        [
          [23699, 1, false, "snappy"],
          [23700, 1, false, "snappy"]
        ]
      )
      const per = yield* count(inputs)
      assert.deepStrictEqual(
        per.map((c) => c.instrs),
        [867701, 1432080]
      )
      assert.strictEqual(sum(per, "nofetch"), 48)
      assert.strictEqual(sum(per, "loads"), 566_891)
      assert.strictEqual(sum(per, "stores"), 36_914)
      assert.strictEqual(sum(per, "timestampsCpus"), 700)
    })
  )

  it.effect("small (uncompressed v1) and allasm (7 zip chunks, v6)", () =>
    Effect.gen(function* () {
      const [small] = yield* Trace.open(`${TRACES}/drmemtrace.small.x64.trace`)
      const [s] = yield* count([small!])
      assert.deepStrictEqual([s!.instrs, s!.loads, s!.stores, s!.timestampsCpus], [173, 42, 14, 2])
      const [allasm] = yield* Trace.open(`${TRACES}/drmemtrace.allasm_x86_64.trace.zip`)
      assert.strictEqual(allasm!.info.version, 6)
      assert.strictEqual(allasm!.info.chunkInstrCount, 20)
      const [a] = yield* count([allasm!])
      assert.strictEqual(a!.instrs, 133)
      assert.deepStrictEqual([...a!.tids], [1992554])
    })
  )

  it.effect("small batches give the same records as large ones", () =>
    Effect.gen(function* () {
      const path = `${TRACES}/drmemtrace.threadsig.x64.tracedir/drmemtrace.threadsig.872905.5783.trace.zip`
      const big = yield* Trace.openFile(path, 0)
      const small = yield* Trace.openFile(path, 0, { batchCapacity: 100 })
      const flat = (bs: ReadonlyArray<RecordBatch.RecordBatch>) => {
        const out: Array<number> = []
        for (const b of bs) {
          for (let i = 0; i < RecordBatch.length(b); i++) out.push(b.type[i]!, b.size[i]!, b.addrLo[i]!, b.addrHi[i]!)
        }
        return out
      }
      const a = flat(yield* Trace.readAll(big))
      const b = flat(yield* Trace.readAll(small))
      assert.strictEqual(a.length, 92697 * 4)
      assert.deepStrictEqual(a, b)
    })
  )

  it.effect(
    "a batch handed back by one input is refilled by the next input that reads, once, with that input's records",
    () =>
      Effect.gen(function* () {
        // A capacity no other test uses: the thread's pool holds only this test's batches.
        const options = { batchCapacity: 1001 }
        const [a, b, c] = yield* Trace.open(`${TRACES}/drmemtrace.threadsig.x64.tracedir`, options)
        const full = function* (input: Trace.TraceInput) {
          // The first batch is the small one decoded at opening; the second has the asked capacity.
          yield* input.next
          const batch = (yield* input.next)!
          assert.strictEqual(batch.capacity, 1001)
          return batch
        }
        const fromA = yield* full(a!)
        a!.recycle(fromA)
        const fromB = yield* full(b!)
        assert.strictEqual(fromB, fromA, "b refills the batch a handed back")
        assert.strictEqual(fromB.tid[0], b!.info.tid)
        assert.notStrictEqual(b!.info.tid, a!.info.tid)
        // Handed back twice, it is still refilled once: two readers never fill one batch.
        b!.recycle(fromB)
        b!.recycle(fromB)
        const fromC = yield* full(c!)
        const nextOfA = (yield* a!.next)!
        assert.strictEqual(fromC, fromB)
        assert.notStrictEqual(nextOfA, fromC)
        assert.strictEqual(fromC.tid[0], c!.info.tid)
        assert.strictEqual(nextOfA.tid[0], a!.info.tid)
      })
  )

  it.effect("every batch carries its input's file type (the stream's), slices too; a made batch has none", () =>
    Effect.gen(function* () {
      const path = `${TRACES}/drmemtrace.threadsig.x64.tracedir/drmemtrace.threadsig.872905.5783.trace.zip`
      const input = yield* Trace.openFile(path, 0, { batchCapacity: 100 })
      assert.strictEqual(input.info.filetype, 0xe40)
      const batches = yield* Trace.readAll(input)
      assert.isAbove(batches.length, 900)
      for (const b of batches) assert.strictEqual(RecordBatch.filetype(b), 0xe40)
      assert.strictEqual(RecordBatch.filetype(RecordBatch.slice(batches[5]!, 10, 20)), 0xe40)
      assert.strictEqual(RecordBatch.filetype(RecordBatch.make(16)), -1)
      const [memory] = Trace.decodeSync(S.encode(S.thread(42, [S.instr(0x10), S.exit(42)], { filetype: 0x40 })))
      assert.strictEqual(RecordBatch.filetype(memory!), 0x40)
    })
  )

  it.effect("fromEntries reads synthetic inputs through the same decoder", () =>
    Effect.gen(function* () {
      const input = yield* Trace.fromEntries(S.thread(42, [S.timestamp(9), S.instr(0x10), S.exit(42)]), {
        ordinal: 3
      })
      assert.strictEqual(input.info.tid, 42)
      assert.strictEqual(input.info.ordinal, 3)
      const batches = yield* Trace.readAll(input)
      assert.strictEqual(RecordBatch.input(batches[0]!), 3)
      assert.strictEqual(RecordBatch.length(batches[0]!), 5)
    })
  )

  it.effect("a zip component that another follows must end with a chunk footer, as DynamoRIO's zip reader checks", () =>
    Effect.gen(function* () {
      const { dir, cleanup } = tempDir()
      yield* Effect.addFinalizer(() => Effect.sync(cleanup))
      const members = yield* Effect.promise(() => readZipComponents(`${TRACES}/drmemtrace.allasm_x86_64.trace.zip`))
      const rebuilt = (name: string, cut: number) => {
        const path = join(dir, name)
        writeZip(
          path,
          members.map((m) => ({
            name: m.name,
            bytes: m.name === "chunk.0002" ? m.bytes.subarray(0, m.bytes.length - cut) : m.bytes
          }))
        )
        return path
      }
      const records = (path: string) =>
        Effect.scoped(
          Effect.gen(function* () {
            const batches = yield* Trace.readAll(yield* Trace.openFile(path))
            return batches.reduce((n, b) => n + RecordBatch.length(b), 0)
          })
        )
      // The rebuilt archive reads as the shipped one; without its last entry (the chunk footer), chunk.0002 is truncated.
      assert.strictEqual(
        yield* records(rebuilt("whole.zip", 0)),
        yield* records(`${TRACES}/drmemtrace.allasm_x86_64.trace.zip`)
      )
      const e = yield* Effect.flip(records(rebuilt("cut.zip", 12)))
      assert.strictEqual(e.reason, "Truncated")
      assert.strictEqual(e.component, "chunk.0002")
      assert.strictEqual(e.offset, members.find((m) => m.name === "chunk.0002")!.bytes.length - 24)
      assert.include(e.detail, "chunk footer")
    })
  )

  it.effect("a truncated stream names the byte where its last, partial or missing, entry begins", () =>
    Effect.gen(function* () {
      const { dir, cleanup } = tempDir()
      yield* Effect.addFinalizer(() => Effect.sync(cleanup))
      const [chunk] = yield* Effect.promise(() =>
        readZipComponents(`${TRACES}/drmemtrace.threadsig.x64.tracedir/drmemtrace.threadsig.872884.3060.trace.zip`)
      )
      const failure = (length: number) =>
        Effect.gen(function* () {
          const path = join(dir, `cut-${length}.trace`)
          writeFileSync(path, chunk!.bytes.subarray(0, length))
          return yield* Effect.flip(Effect.scoped(Effect.flatMap(Trace.openFile(path), Trace.readAll)))
        })
      // Past the first 256 KiB pieces: the offset is in the stream, not the start of the last piece.
      const partial = yield* failure(600_005)
      assert.strictEqual(partial.reason, "Truncated")
      assert.include(partial.detail, "5 of 12 bytes")
      assert.strictEqual(partial.offset, 600_000)
      const noFooter = yield* failure(600_000)
      assert.strictEqual(noFooter.reason, "Truncated")
      assert.include(noFooter.detail, "footer")
      assert.strictEqual(noFooter.offset, 600_000)
    })
  )

  it.effect("a missing path fails with a typed NotFound naming it", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(Trace.open(`${TRACES}/no-such-trace`))
      assert.strictEqual(e._tag, "TraceError")
      assert.strictEqual(e.reason, "NotFound")
      assert.include(e.path, "no-such-trace")
    })
  )
})
