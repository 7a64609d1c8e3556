/**
 * The source thread: zip inputs read there give exactly what the same
 * container code gives on the calling thread (chunks, components, offsets,
 * errors); closing waits for its files; a dead thread fails its sources and
 * is replaced; and it neither keeps a process alive nor lets one end early.
 */
import { spawnSync } from "node:child_process"
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll } from "vitest"
import { type ByteSource, DEFAULT_CHUNK_SIZE, openSource } from "../../src/trace/internal/source.ts"
import { SourceThread } from "../../src/trace/internal/sourceThread.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { TraceError } from "../../src/trace/TraceError.ts"
import { drain, openUnder, randomBytes, TRACES, tempDir, withinTime } from "./container/fixtures.ts"

const { dir, cleanup } = tempDir()
afterAll(cleanup)
// Opens read on the calling thread until the source thread has started.
beforeAll(() => SourceThread.start())

const shippedZips = (): Array<string> => {
  const found: Array<string> = []
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name))
      else if (e.name.endsWith(".zip")) found.push(join(d, e.name))
    }
  }
  walk(TRACES)
  return found.sort()
}

/**
 * Reads `path` to its end through the source thread or on this thread: its components (name,
 * index and bytes), the length of every chunk, and the error that ended it early, if any.
 */
const readOn = async (onThread: boolean, path: string, chunkSize?: number) => {
  const openedBefore = SourceThread.opened
  const components: Array<{ name: string | undefined; index: number; bytes: Array<Uint8Array> }> = []
  const lengths: Array<number> = []
  const result = (error: string | undefined) => {
    assert.strictEqual(SourceThread.opened - openedBefore, onThread ? 1 : 0, "read where asked")
    return resultOf(error)
  }
  const resultOf = (error: string | undefined) => ({
    components: components.map((c) => ({ name: c.name, index: c.index, bytes: Buffer.concat(c.bytes) })),
    lengths,
    error
  })
  try {
    const source = await openSource(path, { thread: onThread, ...(chunkSize === undefined ? {} : { chunkSize }) })
    source.stream()
    try {
      for (let c = await source.pull(); c !== undefined; c = await source.pull()) {
        let current = components.at(-1)
        if (current === undefined || current.index !== c.componentIndex) {
          current = { name: c.component, index: c.componentIndex, bytes: [] }
          components.push(current)
        }
        assert.strictEqual(
          c.offset,
          current.bytes.reduce((n, b) => n + b.length, 0),
          "offsets run on"
        )
        current.bytes.push(new Uint8Array(c.bytes))
        lengths.push(c.bytes.length)
      }
      return result(undefined)
    } catch (e) {
      return result(describe_(e))
    } finally {
      await source.close()
    }
  } catch (e) {
    return result(describe_(e))
  }
}

/** The error, without its byte offset: where a fault is found depends on how the output was cut into chunks. */
const describe_ = (e: unknown): string =>
  e instanceof TraceError ? `${e.reason} ${e.path} ${e.component}: ${e.detail}` : `untyped: ${String(e)}`

/** Per input of `dir`: its record count, and an FNV-1a hash of every record's type, size, address and tid in order. */
const recordsOf = (dir: string, sourceThread: boolean) =>
  Effect.scoped(
    Effect.gen(function* () {
      const inputs = yield* Trace.open(dir, { sourceThread })
      const out: Array<readonly [number, number]> = []
      for (const input of inputs) {
        let records = 0
        let hash = 0x811c9dc5
        const mix = (v: number) => {
          hash = Math.imul(hash ^ v, 0x01000193) >>> 0
        }
        for (let b = yield* input.next; b !== undefined; b = yield* input.next) {
          for (let r = 0; r < RecordBatch.length(b); r++) {
            mix(b.type[r]!)
            mix(b.size[r]!)
            mix(b.addrLo[r]!)
            mix(b.addrHi[r]!)
            mix(b.tid[r]!)
          }
          records += RecordBatch.length(b)
          input.recycle(b)
        }
        out.push([records, hash])
      }
      return out
    })
  )

describe("the source thread", () => {
  it.effect(
    "Trace.open with sourceThread reads every record of threadsig and the core-sharded trace as without it",
    () =>
      Effect.gen(function* () {
        for (const dir of ["drmemtrace.threadsig.x64.tracedir", "drmemtrace.threadsig-core-sharded.x64.tracedir"]) {
          const before = SourceThread.opened
          const there = yield* recordsOf(join(TRACES, dir), true)
          const inputs = readdirSync(join(TRACES, dir)).filter((n) => n.endsWith(".trace.zip")).length
          assert.strictEqual(SourceThread.opened - before, inputs, dir)
          const here = yield* recordsOf(join(TRACES, dir), false)
          assert.strictEqual(SourceThread.opened - before, inputs, dir)
          assert.deepStrictEqual(there, here, dir)
          assert.isAbove(
            here.reduce((n, [records]) => n + records, 0),
            0
          )
        }
      })
  )

  it.effect(
    "Trace.open waits for a thread that is starting only when the zip inputs are large enough to pay for it",
    () =>
      Effect.gen(function* () {
        const dir = join(TRACES, "drmemtrace.threadsig.x64.tracedir")
        const inputs = readdirSync(dir).filter((n) => n.endsWith(".trace.zip")).length
        const worth = SourceThread.STARTUP_WORTH
        try {
          for (const [threshold, onThread] of [
            [1, inputs],
            [Number.MAX_SAFE_INTEGER, 0]
          ] as const) {
            yield* Effect.promise(async () => SourceThread.terminate())
            SourceThread.STARTUP_WORTH = threshold
            const before = SourceThread.opened
            yield* recordsOf(dir, true)
            assert.strictEqual(SourceThread.opened - before, onThread, `threshold ${threshold}`)
          }
        } finally {
          SourceThread.STARTUP_WORTH = worth
        }
        yield* Effect.promise(() => SourceThread.start())
      })
  )

  it("gives every shipped zip's components and bytes as reading it on this thread does, in full chunks", async () => {
    const zips = shippedZips()
    assert.isAtLeast(zips.length, 14)
    for (const path of zips) {
      for (const chunkSize of [undefined, 4096]) {
        const [there, here] = [await readOn(true, path, chunkSize), await readOn(false, path, chunkSize)]
        assert.isUndefined(here.error, path)
        assert.isUndefined(there.error, path)
        assert.deepStrictEqual(there.components, here.components, path)
        // Chunks are full: each is chunkSize bytes but the last of its component.
        const full = chunkSize ?? DEFAULT_CHUNK_SIZE
        let k = 0
        for (const c of there.components) {
          let left = c.bytes.length
          while (left > 0) {
            assert.strictEqual(there.lengths[k++], Math.min(full, left), path)
            left -= Math.min(full, left)
          }
        }
        assert.strictEqual(k, there.lengths.length)
      }
    }
  })

  it("fails a damaged zip with the same TraceError, at the same chunk, as reading it on this thread", async () => {
    const original = readFileSync(
      join(TRACES, "drmemtrace.threadsig.x64.tracedir/drmemtrace.threadsig.872805.4975.trace.zip")
    )
    const noise = randomBytes(64, 99)
    const damaged: Array<Buffer> = []
    for (let k = 0; k < 24; k++) {
      const copy = Buffer.from(original)
      // Flips across the whole file: local header, deflate data, central directory, end record.
      const at = Math.floor(((k + 0.5) / 24) * copy.length)
      copy[at] = copy[at]! ^ (noise[k]! | 1)
      damaged.push(copy)
    }
    for (const cut of [10, 100, 1000, original.length >> 1, original.length - 30])
      damaged.push(original.subarray(0, cut))
    let failures = 0
    for (const [k, bytes] of damaged.entries()) {
      const path = join(dir, `damaged${k}.zip`)
      writeFileSync(path, bytes)
      const [there, here] = [await readOn(true, path), await readOn(false, path)]
      assert.strictEqual(there.error, here.error, `damage #${k}`)
      assert.notMatch(there.error ?? "", /^untyped/)
      // What came before the fault is the same data on both (each may stop at a different chunk).
      assert.deepStrictEqual(
        there.components.map((c) => c.name),
        here.components.map((c) => c.name)
      )
      there.components.forEach((c, i) => {
        const h = here.components[i]!.bytes
        const n = Math.min(c.bytes.length, h.length)
        assert.isTrue(c.bytes.subarray(0, n).equals(h.subarray(0, n)), `damage #${k}`)
      })
      if (there.error !== undefined) failures++
    }
    // Most damage is caught (a flip in unused header bytes need not be).
    assert.isAtLeast(failures, 20)
  })

  it("a missing zip fails the open with NotFound, as on this thread", async () => {
    const path = join(dir, "absent.zip")
    assert.deepStrictEqual(await readOn(true, path), await readOn(false, path))
    assert.match((await readOn(true, path)).error!, /^NotFound /)
  })

  it("close() resolves once the thread has closed the files, whether the source was read, half read or not at all", async () => {
    const own = join(dir, "own")
    const names = readdirSync(join(TRACES, "drmemtrace.threadsig.x64.tracedir")).filter((n) => n.endsWith(".zip"))
    for (const n of names) {
      copyFileSync(join(TRACES, "drmemtrace.threadsig.x64.tracedir", n), `${own}-${n}`)
    }
    const paths = names.map((n) => `${own}-${n}`)
    for (let round = 0; round < 3; round++) {
      const sources: Array<ByteSource> = []
      for (const [k, p] of paths.entries()) {
        const source = await openSource(p, { stream: k % 2 === 0, thread: true })
        if (k % 3 === 1) await source.pull()
        if (k % 3 === 2) await drain(source)
        sources.push(source)
      }
      await Promise.all(sources.map((s) => s.close()))
      assert.strictEqual(openUnder(own), 0, `round ${round}`)
    }
  })

  it("a dead thread fails what it was reading with IoError naming the file, never a hang; the next open starts a new one", async () => {
    const path = join(TRACES, "drmemtrace.threadsig.x64.tracedir/drmemtrace.threadsig.872805.4975.trace.zip")
    const whole = (await readOn(false, path)).components
    const source = await openSource(path, { chunkSize: 4096, thread: true })
    const first = await source.pull()
    assert.isDefined(first)
    await SourceThread.terminate()
    // An open meanwhile is read on the calling thread, while a new thread starts.
    const before = SourceThread.opened
    const meanwhile = await openSource(path, { thread: true })
    await drain(meanwhile)
    assert.strictEqual(SourceThread.opened, before)
    const error = await withinTime(
      source.pull().then(
        () => undefined,
        (e: unknown) => e
      )
    )
    assert.instanceOf(error, TraceError)
    assert.strictEqual((error as TraceError).reason, "IoError")
    assert.strictEqual((error as TraceError).path, path)
    assert.match((error as TraceError).detail, /source thread stopped/)
    await source.close()
    await SourceThread.start()
    const again = await readOn(true, path)
    assert.isUndefined(again.error)
    assert.deepStrictEqual(again.components, whole)
  })

  it("does not keep a process alive when idle, and does not let one end while a read waits on it", () => {
    const source = pathToFileURL(resolve("src/trace/internal/source.ts")).href
    const thread = pathToFileURL(resolve("src/trace/internal/sourceThread.ts")).href
    const zip = resolve(TRACES, "drmemtrace.threadsig.x64.tracedir/drmemtrace.threadsig.872805.4975.trace.zip")
    // Nothing but the source thread can keep this program's event loop alive while it waits for a chunk.
    // started: the thread is started first, and reads the file; else the file is read on the
    // calling thread while the thread starts (it must not hold the process when it is done).
    const run = (started: boolean) => {
      const script = `
        import { openSource } from ${JSON.stringify(source)}
        import { SourceThread } from ${JSON.stringify(thread)}
        ${started ? "await SourceThread.start()" : ""}
        const s = await openSource(${JSON.stringify(zip)}, { thread: true })
        if (SourceThread.opened !== ${started ? 1 : 0}) throw new Error("not read where expected")
        s.stream()
        let bytes = 0
        for (let c = await s.pull(); c !== undefined; c = await s.pull()) bytes += c.bytes.length
        console.log(bytes)`
      const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        encoding: "utf8",
        timeout: 30_000
      })
      assert.strictEqual(child.status, 0, `started ${started}: ${child.stderr}`)
      return child.stdout.trim()
    }
    const expected = spawnSync("python3", [
      "-c",
      `import zipfile,sys; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))`,
      zip
    ])
    assert.strictEqual(run(true), expected.stdout.toString().trim())
    assert.strictEqual(run(false), expected.stdout.toString().trim())
  })
})
