/**
 * The read benchmark (issue #2): how fast memtrace reads and decodes a large
 * trace, against the bare cost of inflating it.
 *
 * It builds a large input by replicating a real trace (30 copies of threadsig
 * by default, ≈ 29 M records, DynamoRIO zip level 6), then measures in one
 * run, single-threaded, one input after another:
 *
 * - `floor`: every decompressed chunk of every input pulled through the byte
 *   source (`openSource`), not decoded: the inflate floor.
 * - `floor, next input opened ahead`: the same with each input opened (and
 *   read ahead) while the one before it is pulled, as an analysis worker
 *   thread reads its inputs.
 * - `floor on the source thread` (with and without the next input ahead):
 *   the floors with zip inputs read on the source thread
 *   (src/trace/internal/sourceThread.ts, the `thread` option), started
 *   before the runs. The fastest floor of all is the one the goal line also
 *   compares the fastest reader with.
 * - `floor, inputs opened up front`: the same, with the inputs opened as
 *   `Trace.open` opens them (all at the start, `Trace.OPEN_CONCURRENCY` at a
 *   time, each holding its first piece): the floor that `Trace.open` is
 *   compared with on equal terms (opening overlaps the thread pool's
 *   latencies and inflates first pieces on both cores, for both).
 * - `InputReader`: read + decode into record batches through the
 *   Promise-level reader (what worker threads use); also with the next input
 *   opened ahead, and on the source thread (both ways).
 * - `Trace.open`: the same through the Effect API, all inputs opened at once
 *   as `Trace.open` does.
 * - `Trace.openFile`: the Effect API one input at a time (same shape as the
 *   InputReader row, so the difference is the Effect wrapper's cost).
 * - `decoder alone`: `Trace.decodeSync` over entries already in memory (the
 *   source's inputs, decoded `copies` times: same record count), no I/O or
 *   inflate; and the decoder filling one reused batch (no allocation at all),
 *   which shows what batch allocation and GC cost.
 *
 * Each is repeated (`--reps`, default 3) after one warm-up pass, in that
 * order; the table shows medians of the wall time and of the CPU time the
 * process used (all threads, so the thread pool's inflate counts), and their
 * ratios to the floor's medians. The
 * goal of the issue: decode ≤ 1.5 × floor. `--profile` adds a CPU profile of
 * one pass of the floor, InputReader, Trace.open and Trace.openFile (top functions by self
 * time; `.cpuprofile` files are saved, in `--profile-dir` or a new temporary
 * directory, for a flame graph).
 *
 * The machine is shared and noisy: compare ratios measured in one run, not
 * absolute times across runs.
 *
 * usage: npm run bench:read -- [--copies N] [--reps N] [--src DIR] [--dir DIR] [--keep]
 *                              [--profile] [--profile-dir DIR] [--json]
 *   --dir DIR   read an already replicated trace instead of building one
 *   --keep      keep the built trace (its path is printed)
 *   --only KEY  measure the floor and one phase (with the floor read the same way): InputReader,
 *               InputReaderAhead, InputReaderThread, InputReaderThreadAhead (with both floors read
 *               ahead), Trace.open, Trace.openFile, decodeSync or reusedBatch (e.g. under --trace-gc)
 *   --v8-defaults  V8's own GC triggers instead of the memtrace command's (src/cli/internal/gc.ts)
 *   --readahead LIST  read-ahead depths (ZlibPump.readAhead, SourceThread.readAhead) to compare, e.g. 2,4,8:
 *               the floor and InputReader at each depth, in the same rounds (ratios to the
 *               floor at the first depth)
 */
import { mkdtempSync, rmSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { tuneGc } from "../src/cli/internal/gc.ts"
import { ZlibPump } from "../src/trace/internal/container/zlibPump.ts"
import { Decoder } from "../src/trace/internal/decoder.ts"
import { InputReader } from "../src/trace/internal/inputReader.ts"
import { listInputs } from "../src/trace/internal/listing.ts"
import { type ByteSource, openSource } from "../src/trace/internal/source.ts"
import { SourceThread } from "../src/trace/internal/sourceThread.ts"
import * as RecordBatch from "../src/trace/RecordBatch.ts"
import * as Trace from "../src/trace/Trace.ts"
import * as TraceWriter from "../src/trace/TraceWriter.ts"
import { type CpuProfile, profile, save, summary } from "./lib/cpuProfile.ts"
import { median, mib, table, timed } from "./lib/stats.ts"

const args = process.argv.slice(2)
const take = (name: string): string | undefined => {
  const at = args.indexOf(name)
  if (at < 0) return undefined
  const v = args[at + 1]
  args.splice(at, 2)
  return v
}
const has = (name: string): boolean => {
  const at = args.indexOf(name)
  if (at >= 0) args.splice(at, 1)
  return at >= 0
}
const copies = Number(take("--copies") ?? 30)
const reps = Number(take("--reps") ?? 3)
const src = take("--src") ?? "../shared/traces/drmemtrace.threadsig.x64.tracedir"
const given = take("--dir")
const profileDir = take("--profile-dir")
const keep = has("--keep")
const wantProfile = has("--profile") || profileDir !== undefined
const json = has("--json")
const only = take("--only")
const v8Defaults = has("--v8-defaults")
const readAhead = take("--readahead")
  ?.split(",")
  .map((d) => Number(d))
if (
  args.length > 0 ||
  !(copies >= 1) ||
  !(reps >= 1) ||
  (readAhead !== undefined && !readAhead.every((d) => Number.isInteger(d) && d >= 1))
) {
  console.error(
    "usage: npm run bench:read -- [--copies N] [--reps N] [--src DIR] [--dir DIR] [--keep] [--profile] [--profile-dir DIR] [--json] [--v8-defaults]"
  )
  process.exit(2)
}
if (!v8Defaults) tuneGc()

const log = (s: string) => {
  if (!json) console.log(s)
}

interface Pass {
  readonly records: number
  readonly bytes: number
}

// --- the measured passes -------------------------------------------------

/** Streams the rest of a source's decompressed bytes and closes it; returns how many there were. */
const drain = async (source: ByteSource): Promise<number> => {
  let bytes = 0
  source.stream()
  for (let c = await source.pull(); c !== undefined; c = await source.pull()) bytes += c.bytes.length
  await source.close()
  return bytes
}

/** Pulls every decompressed chunk of every input; no decoding. */
const floor = async (paths: ReadonlyArray<string>, thread = false): Promise<Pass> => {
  let bytes = 0
  for (const path of paths) bytes += await drain(await openSource(path, { thread }))
  return { records: 0, bytes }
}

/**
 * The inputs in order, each opened (and read ahead: `stream`) while the one
 * before it is consumed, as an analysis worker thread reads its inputs.
 */
async function* openedAhead(paths: ReadonlyArray<string>, thread: boolean): AsyncGenerator<ByteSource> {
  let next = paths.length > 0 ? openSource(paths[0]!, { thread }) : undefined
  for (let i = 0; i < paths.length; i++) {
    const source = await next!
    next = i + 1 < paths.length ? openSource(paths[i + 1]!, { stream: true, thread }) : undefined
    yield source
  }
}

/** The floor with each input opened ahead. */
const floorAhead = async (paths: ReadonlyArray<string>, thread = false): Promise<Pass> => {
  let bytes = 0
  for await (const source of openedAhead(paths, thread)) bytes += await drain(source)
  return { records: 0, bytes }
}

/**
 * The floor with the inputs opened as `Trace.open` opens them: all up front,
 * a few at a time, each holding its first piece; then pulled through in order.
 * The floor to compare `Trace.open` with: the same opening, no decoding.
 */
const floorUpFront = async (paths: ReadonlyArray<string>): Promise<Pass> => {
  const opened: Array<{ source: ByteSource; first: number }> = []
  let next = 0
  const opener = async () => {
    while (next < paths.length) {
      const i = next++
      const source = await openSource(paths[i]!)
      const c = await source.pull()
      opened[i] = { source, first: c === undefined ? 0 : c.bytes.length }
    }
  }
  await Promise.all(Array.from({ length: Trace.OPEN_CONCURRENCY }, opener))
  let bytes = 0
  for (const { source, first } of opened) bytes += first + (await drain(source))
  return { records: 0, bytes }
}

/** Read + decode of one input through the Promise-level reader; its record count. */
const readInput = async (source: ByteSource, ordinal: number): Promise<number> => {
  let records = 0
  const reader = new InputReader(source, ordinal)
  for (let b = await reader.next(); b !== undefined; b = await reader.next()) {
    records += RecordBatch.length(b)
    reader.recycle(b)
  }
  await reader.close()
  return records
}

/** Read + decode through the Promise-level reader, one input after another. */
const inputReader = async (paths: ReadonlyArray<string>, thread = false): Promise<Pass> => {
  let records = 0
  for (const [i, path] of paths.entries()) records += await readInput(await openSource(path, { thread }), i)
  return { records, bytes: 0 }
}

/** Read + decode with each input opened ahead. */
const inputReaderAhead = async (paths: ReadonlyArray<string>, thread = false): Promise<Pass> => {
  let records = 0
  let i = 0
  for await (const source of openedAhead(paths, thread)) records += await readInput(source, i++)
  return { records, bytes: 0 }
}

/** Read + decode through `Trace.open` (every input opened up front). */
const traceOpen = (dir: string): Promise<Pass> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const inputs = yield* Trace.open(dir)
        let records = 0
        for (const input of inputs) {
          for (let b = yield* input.next; b !== undefined; b = yield* input.next) {
            records += RecordBatch.length(b)
            input.recycle(b)
          }
        }
        return { records, bytes: 0 }
      })
    )
  )

/** Read + decode through `Trace.openFile`, one input at a time. */
const traceOpenFile = (paths: ReadonlyArray<string>): Promise<Pass> =>
  Effect.runPromise(
    Effect.gen(function* () {
      let records = 0
      for (const [i, path] of paths.entries()) {
        records += yield* Effect.scoped(
          Effect.gen(function* () {
            const input = yield* Trace.openFile(path, i)
            let n = 0
            for (let b = yield* input.next; b !== undefined; b = yield* input.next) {
              n += RecordBatch.length(b)
              input.recycle(b)
            }
            return n
          })
        )
      }
      return { records, bytes: 0 }
    })
  )

/** The decompressed entries of every input of the source trace, in memory. */
const loadEntries = async (dir: string): Promise<Array<Uint8Array>> => {
  const out: Array<Uint8Array> = []
  for (const path of await listInputs(dir)) {
    const source = await openSource(path)
    source.stream()
    const pieces: Array<Uint8Array> = []
    for (let c = await source.pull(); c !== undefined; c = await source.pull()) pieces.push(new Uint8Array(c.bytes))
    out.push(new Uint8Array(Buffer.concat(pieces)))
  }
  return out
}

/** The decoder with no allocation at all: one batch, emptied after each fill. */
const decoderReusedBatch = (entries: ReadonlyArray<Uint8Array>) => async (): Promise<Pass> => {
  let records = 0
  let bytes = 0
  const words = entries.map((e) => new Uint32Array(e.buffer, e.byteOffset, e.length / 4))
  const batch = RecordBatch.make()
  for (let k = 0; k < copies; k++) {
    for (const w of words) {
      const decoder = new Decoder()
      const n = w.length / 3
      let pos = 0
      while (pos < n) {
        RecordBatch.setLength(batch, 0)
        pos = decoder.decode(w, pos, n, batch)
        decoder.split = false
        if (decoder.fault !== undefined) throw new Error(decoder.fault.detail)
      }
      decoder.finish(batch)
      records += decoder.records
      bytes += w.length * 4
    }
  }
  return { records, bytes }
}

/** The decoder alone: the source's entries decoded `copies` times from memory. */
const decoderAlone = (entries: ReadonlyArray<Uint8Array>) => async (): Promise<Pass> => {
  let records = 0
  let bytes = 0
  for (let k = 0; k < copies; k++) {
    for (const e of entries) {
      for (const b of Trace.decodeSync(e)) records += RecordBatch.length(b)
      bytes += e.length
    }
  }
  return { records, bytes }
}

// --- the run ---------------------------------------------------------------

const main = async () => {
  const startLoad = loadavg()
  log(
    `memtrace read benchmark: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), ` +
      `load average ${startLoad.map((l) => l.toFixed(2)).join(" ")}; GC triggers: ${v8Defaults ? "V8's defaults" : "the memtrace command's"}`
  )
  let dir = given
  let built: { ms: number; files: number; zipped: number } | undefined
  let cleanup: (() => void) | undefined
  if (dir === undefined) {
    const tmp = mkdtempSync(join(tmpdir(), "memtrace-bench-read-"))
    dir = tmp
    cleanup = keep ? undefined : () => rmSync(tmp, { recursive: true, force: true })
    log(`building ${copies} copies of ${src} in ${tmp} …`)
    const b = await timed(() =>
      Effect.runPromise(TraceWriter.replicate(src, tmp, copies, { durable: false, concurrency: 2 }))
    )
    built = { ms: b.ms, files: b.value.files.length, zipped: b.value.bytes }
    log(
      `  ${b.value.files.length} files, ${b.value.entries.toLocaleString("en-US")} entries, ` +
        `${mib(b.value.entries * 12)} of entries, ${mib(b.value.bytes)} zipped, built in ${(b.ms / 1000).toFixed(1)} s`
    )
  }
  const traceDir = dir
  try {
    const paths = await listInputs(traceDir)
    const entries = await loadEntries(src)
    const phases: Array<{ readonly key: string; readonly name: string; readonly run: () => Promise<Pass> }> = [
      { key: "floor", name: "floor: inflate only (openSource)", run: () => floor(paths) },
      { key: "floorAhead", name: "floor, next input opened ahead", run: () => floorAhead(paths) },
      { key: "floorThread", name: "floor on the source thread", run: () => floor(paths, true) },
      {
        key: "floorThreadAhead",
        name: "floor on the source thread, next input ahead",
        run: () => floorAhead(paths, true)
      },
      { key: "floorUpFront", name: "floor, inputs opened up front", run: () => floorUpFront(paths) },
      { key: "InputReader", name: "read+decode: InputReader (Promise)", run: () => inputReader(paths) },
      {
        key: "InputReaderAhead",
        name: "read+decode: InputReader, next input ahead",
        run: () => inputReaderAhead(paths)
      },
      {
        key: "InputReaderThread",
        name: "read+decode: InputReader, source thread",
        run: () => inputReader(paths, true)
      },
      {
        key: "InputReaderThreadAhead",
        name: "read+decode: InputReader, source thread, ahead",
        run: () => inputReaderAhead(paths, true)
      },
      { key: "Trace.open", name: "read+decode: Trace.open (Effect)", run: () => traceOpen(traceDir) },
      { key: "Trace.openFile", name: "read+decode: Trace.openFile (Effect)", run: () => traceOpenFile(paths) },
      { key: "decodeSync", name: "decoder alone (entries in memory)", run: decoderAlone(entries) },
      { key: "reusedBatch", name: "decoder alone, one reused batch", run: decoderReusedBatch(entries) }
    ]
    if (readAhead !== undefined) {
      const atDepth = (d: number, run: () => Promise<Pass>) => () => {
        ZlibPump.readAhead = d
        SourceThread.readAhead = d
        return run()
      }
      phases.splice(
        0,
        phases.length,
        ...readAhead.flatMap((d) => [
          {
            key: d === readAhead[0] ? "floor" : `floor@${d}`,
            name: `floor, read-ahead ${d}`,
            run: atDepth(d, () => floor(paths))
          },
          {
            key: d === readAhead[0] ? "InputReader" : `InputReader@${d}`,
            name: `InputReader, read-ahead ${d}`,
            run: atDepth(d, () => inputReader(paths))
          }
        ])
      )
    }
    const chosen =
      only === undefined || readAhead !== undefined
        ? phases
        : phases.filter(
            (p) =>
              p.key === "floor" ||
              p.key === only ||
              (only === "Trace.open" && p.key === "floorUpFront") ||
              (only === "InputReaderAhead" && p.key === "floorAhead") ||
              (only === "InputReaderThread" && p.key === "floorThread") ||
              (only === "InputReaderThreadAhead" && p.key.startsWith("floor") && p.key.endsWith("Ahead"))
          )
    if (only !== undefined) {
      log(`only: ${chosen.map((p) => p.name).join(", ")} (the floor is always measured)`)
      phases.splice(0, phases.length, ...chosen)
    }
    // Started before any pass, so that no pass includes its start (≈ 0.1 s).
    await SourceThread.start()
    log(`${paths.length} inputs; 1 warm-up pass, then ${reps} repetitions of each phase in turn`)
    for (const p of phases) await p.run()
    const times = phases.map(() => [] as Array<number>)
    const cpuTimes = phases.map(() => [] as Array<number>)
    const results: Array<Pass> = phases.map(() => ({ records: 0, bytes: 0 }))
    for (let r = 0; r < reps; r++) {
      for (const [i, p] of phases.entries()) {
        const t = await timed(p.run)
        times[i]!.push(t.ms)
        cpuTimes[i]!.push(t.cpuMs)
        results[i] = t.value
      }
    }
    const floorBytes = results[0]!.bytes
    const records = Math.max(...results.map((r) => r.records))
    for (const [i, r] of results.entries()) {
      const p = phases[i]!
      if (!p.key.startsWith("floor") && r.records !== records)
        throw new Error(`${p.name} saw ${r.records} records, not ${records}`)
      if (r.bytes !== 0 && r.bytes !== floorBytes) throw new Error(`${p.name} decoded other bytes than the floor read`)
    }
    const floorMs = median(times[0]!)
    const floorCpuMs = median(cpuTimes[0]!)
    const rows = phases.map((p, i) => {
      const ms = median(times[i]!)
      const cpuMs = median(cpuTimes[i]!)
      return {
        phase: p.name,
        medianMs: ms,
        minMs: Math.min(...times[i]!),
        maxMs: Math.max(...times[i]!),
        cpuMs,
        recordsPerS: p.key.startsWith("floor") ? undefined : (records / ms) * 1000,
        mibPerS: (floorBytes / (1 << 20) / ms) * 1000,
        ratio: ms / floorMs,
        cpuRatio: cpuMs / floorCpuMs
      }
    })
    const endLoad = loadavg()
    const profiles: Record<string, string> = {}
    if (wantProfile) {
      const pdir = profileDir ?? mkdtempSync(join(tmpdir(), "memtrace-bench-profile-"))
      const take = async (name: string, run: () => Promise<Pass>) => {
        const { profile: p } = await profile(run)
        const file = join(pdir, `read-${name}.cpuprofile`)
        save(p as CpuProfile, file)
        profiles[name] = summary(p)
        log(`\n--- CPU profile: ${name} (saved to ${file}) ---\n${profiles[name]}`)
      }
      for (const p of phases) {
        if (p.key === "floor" || p.key === "InputReader" || p.key.startsWith("Trace.")) await take(p.key, p.run)
      }
    }
    const result = {
      node: process.version,
      cpus: cpus().length,
      loadAverage: { start: startLoad, end: endLoad },
      source: src,
      copies,
      inputs: paths.length,
      records,
      entries: floorBytes / 12,
      decompressedBytes: floorBytes,
      built,
      reps,
      rows
    }
    if (json) {
      console.log(JSON.stringify({ ...result, profiles }, null, 2))
      return
    }
    log(
      `\n${records.toLocaleString("en-US")} records, ${(floorBytes / 12).toLocaleString("en-US")} entries, ` +
        `${mib(floorBytes)} decompressed${built !== undefined ? `, ${mib(built.zipped)} zipped` : ""}; ` +
        `load average at the end ${endLoad.map((l) => l.toFixed(2)).join(" ")}\n`
    )
    log(
      table([
        ["phase", "wall (median)", "min–max", "records/s", "MiB/s", "× floor", "CPU", "CPU × floor"],
        ...rows.map((r) => [
          r.phase,
          `${(r.medianMs / 1000).toFixed(2)} s`,
          `${(r.minMs / 1000).toFixed(2)}–${(r.maxMs / 1000).toFixed(2)}`,
          r.recordsPerS === undefined ? "—" : `${(r.recordsPerS / 1e6).toFixed(1)} M`,
          r.mibPerS.toFixed(0),
          r.ratio.toFixed(2),
          `${(r.cpuMs / 1000).toFixed(2)} s`,
          r.cpuRatio.toFixed(2)
        ])
      ])
    )
    const row = (key: string) => {
      const i = phases.findIndex((p) => p.key === key)
      return i < 0 ? undefined : rows[i]
    }
    const against = (readerKey: string, floorKey: string, what: string) => {
      const r = row(readerKey)
      const f = row(floorKey)
      if (r !== undefined && f !== undefined) {
        log(`  ${what}: ${(r.medianMs / f.medianMs).toFixed(2)} × (wall), ${(r.cpuMs / f.cpuMs).toFixed(2)} × (CPU)`)
      }
    }
    log("\ngoal (issue #2): read+decode ≤ 1.5 × floor; each reader against the floor read the same way:")
    against("InputReader", "floor", "InputReader, one input after another")
    against("InputReaderAhead", "floorAhead", "InputReader, next input ahead")
    against("InputReaderThread", "floorThread", "InputReader on the source thread")
    against("InputReaderThreadAhead", "floorThreadAhead", "InputReader on the source thread, next input ahead")
    const floors = rows.filter((_, i) => phases[i]!.key.startsWith("floor"))
    const fastest = floors.reduce((a, b) => (b.medianMs < a.medianMs ? b : a), floors[0]!)
    const best = rows
      .filter((_, i) => phases[i]!.key.startsWith("InputReader"))
      .reduce<(typeof rows)[number] | undefined>(
        (a, b) => (a === undefined || b.medianMs < a.medianMs ? b : a),
        undefined
      )
    if (best !== undefined) {
      log(
        `  the fastest reader (${best.phase}) against the fastest floor (${fastest.phase}): ` +
          `${(best.medianMs / fastest.medianMs).toFixed(2)} × (wall)`
      )
    }
    const upFront = row("floorUpFront")
    const opened = row("Trace.open")
    if (upFront !== undefined && opened !== undefined) {
      log(
        `Trace.open against the floor opened the same way: ${(opened.medianMs / upFront.medianMs).toFixed(2)} × (wall), ` +
          `${(opened.cpuMs / upFront.cpuMs).toFixed(2)} × (CPU)`
      )
    }
    if (keep && given === undefined) log(`the replicated trace is kept in ${traceDir}`)
  } finally {
    cleanup?.()
  }
}

await main()
