/**
 * Trace replication: every input of a trace directory written `copies` times
 * as DynamoRIO-style `.zip` files under new thread and process ids, to make
 * large workloads out of small real traces (the read benchmark's input).
 *
 * The raw entry stream is copied, not the decoded records, so a copy holds
 * exactly the source's entries (same encodings, branch targets, chunk
 * layout when the chunk size is kept) except for the rewritten ids:
 * copy `k` (0-based) adds `k × 2^22` to every thread id and process id in
 * THREAD, THREAD_EXIT, PID entries and DIRECT_THREAD_SWITCH and
 * SYSCALL_SCHEDULE markers (both name a target thread). Linux
 * ids are below 2^22 (`PID_MAX_LIMIT`), so copies never collide, and copy 0
 * keeps the original ids. Each copy is its own process (new pid), as if the
 * application had been run `copies` times. Ids 0 and -1 (none, idle) are
 * kept.
 *
 * File names follow DynamoRIO's `drmemtrace.<app>.<tid>.<nnnn>.trace.zip`
 * with the copy's tid; inputs not named that way become
 * `drmemtrace.<name>.<tid>.<kkkk>.trace.zip`.
 */

import { basename, join } from "node:path"
import { MarkerType, TraceType } from "../../Record.ts"
import { listInputs } from "../listing.ts"
import { openSource } from "../source.ts"
import { fromCause, TraceWriterError } from "./error.ts"
import { makeDirectory } from "./makeDirectory.ts"
import { FileEntrySink, type SinkOptions } from "./sink.ts"

/** Added to thread and process ids per copy: Linux's `PID_MAX_LIMIT`. */
export const ID_STRIDE = 1 << 22
/** Ids of copy k stay below 2^31 (DynamoRIO's 4-byte thread id entries). */
export const MAX_COPIES = 512

export interface ReplicateOptions {
  /** Zip compression level (default 6, DynamoRIO's). */
  readonly level?: number | undefined
  /** Instructions per chunk; default: each source's own. */
  readonly chunkInstrCount?: number | undefined
  /** Files written at once (default 2). */
  readonly concurrency?: number | undefined
  /** fsync each file before it is renamed into place (default true). */
  readonly durable?: boolean | undefined
  /** Called after each file is complete. */
  readonly onFile?: ((file: ReplicatedFile) => void) | undefined
  readonly signal?: AbortSignal | undefined
}

export interface ReplicatedFile {
  readonly source: string
  readonly path: string
  /** 0-based copy index. */
  readonly copy: number
  /** The copy's first thread id. */
  readonly tid: number
  readonly entries: number
  readonly bytes: number
}

export interface ReplicateSummary {
  readonly inputs: number
  readonly copies: number
  readonly files: ReadonlyArray<ReplicatedFile>
  readonly entries: number
  readonly bytes: number
}

const DR_NAME = /^drmemtrace\.(.+)\.(\d+)\.(\d+)\.trace(?:\.[A-Za-z0-9]+)?$/
const TRACE_SUFFIX = /(\.(trace|memtrace))?(\.(zip|gz|zst|sz|lz4))?$/

/** The copy's file name. */
export const replicaName = (sourceName: string, tid: number, copy: number): string => {
  const m = DR_NAME.exec(sourceName)
  if (m !== null) return `drmemtrace.${m[1]}.${tid}.${m[3]}.trace.zip`
  const stem = sourceName.replace(TRACE_SUFFIX, "").replace(/^drmemtrace\./, "")
  return `drmemtrace.${stem}.${tid}.${String(copy).padStart(4, "0")}.trace.zip`
}

const T_THREAD = TraceType.THREAD
const T_THREAD_EXIT = TraceType.THREAD_EXIT
const T_PID = TraceType.PID
const T_MARKER = TraceType.MARKER
const M_DIRECT_THREAD_SWITCH = MarkerType.DIRECT_THREAD_SWITCH
const M_SYSCALL_SCHEDULE = MarkerType.SYSCALL_SCHEDULE

const isId = (type: number, size: number): boolean =>
  type === T_THREAD ||
  type === T_THREAD_EXIT ||
  type === T_PID ||
  (type === T_MARKER && (size === M_DIRECT_THREAD_SWITCH || size === M_SYSCALL_SCHEDULE))

/** Thrown by `copyEntries` when an id cannot be offset. */
class IdTooLarge extends Error {}

/**
 * Copies entries `[from, to)` of `words` into the sink with ids offset by
 * `offset`; stops early (returning the next index) when the sink asks to be
 * drained.
 */
const copyEntries = (words: Uint32Array, from: number, to: number, sink: FileEntrySink, offset: number): number => {
  for (let e = from; e < to; e++) {
    const w = e * 3
    const w0 = words[w]!
    const type = w0 & 0xffff
    const size = w0 >>> 16
    let lo = words[w + 1]!
    const hi = words[w + 2]!
    if (offset !== 0 && isId(type, size) && hi === 0 && lo !== 0) {
      if (lo >= ID_STRIDE) throw new IdTooLarge(`id ${lo} in a ${type === T_PID ? "PID" : "thread"} entry`)
      lo += offset
    }
    if (!sink.write(type, size, lo, hi)) return e + 1
  }
  return to
}

/** The first THREAD entry's id in some entry bytes, or 0. */
const firstTid = (bytes: Uint8Array): number => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  for (let o = 0; o + 12 <= bytes.length; o += 12) {
    if (view.getUint16(o, true) === TraceType.THREAD) {
      return view.getUint32(o + 8, true) === 0 ? view.getUint32(o + 4, true) : 0
    }
  }
  return 0
}

const copyOne = async (
  source: string,
  dstDir: string,
  copy: number,
  options: ReplicateOptions,
  used: Set<string>
): Promise<ReplicatedFile> => {
  const offset = copy * ID_STRIDE
  const src = await openSource(source)
  src.stream()
  let sink: FileEntrySink | undefined
  try {
    let chunk = await src.pull()
    const tid0 = chunk === undefined ? 0 : firstTid(chunk.bytes)
    if (offset !== 0 && tid0 >= ID_STRIDE) {
      // Refused before the name is taken, so the copy that keeps the ids is never the one refused.
      throw new TraceWriterError({
        reason: "Replication",
        path: join(dstDir, basename(source)),
        detail: `id ${tid0} in a thread entry of ${source} is not below 2^22: cannot make distinct copies`
      })
    }
    const tid = tid0 !== 0 ? tid0 + offset : tid0
    const name = replicaName(basename(source), tid, copy)
    if (used.has(name)) {
      throw new TraceWriterError({
        reason: "Replication",
        path: join(dstDir, name),
        detail: `two inputs would both be written as ${name}`
      })
    }
    used.add(name)
    const path = join(dstDir, name)
    const sinkOptions: SinkOptions = {
      container: "zip",
      level: options.level,
      chunkInstrCount: options.chunkInstrCount,
      durable: options.durable
    }
    const out = await FileEntrySink.open(path, sinkOptions)
    sink = out
    const carry = new Uint8Array(12)
    let carryLen = 0
    for (; chunk !== undefined; chunk = await src.pull()) {
      if (options.signal?.aborted) throw options.signal.reason
      let bytes = chunk.bytes
      if (carryLen > 0 || bytes.byteOffset % 4 !== 0) {
        // A partial entry carried over, or an unaligned view: one copy per chunk realigns it.
        const joined = new Uint8Array(carryLen + bytes.length)
        joined.set(carry.subarray(0, carryLen))
        joined.set(bytes, carryLen)
        bytes = joined
      }
      const whole = bytes.length - (bytes.length % 12)
      carryLen = bytes.length - whole
      carry.set(bytes.subarray(whole))
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, whole / 4)
      const entries = whole / 12
      let e = 0
      while (e < entries) {
        try {
          e = copyEntries(words, e, entries, out, offset)
        } catch (cause) {
          if (!(cause instanceof IdTooLarge)) throw cause
          throw new TraceWriterError({
            reason: "Replication",
            path,
            detail: `${cause.message} of ${source} is not below 2^22: cannot make distinct copies`
          })
        }
        if (e < entries) await out.drain()
      }
      await out.drain()
    }
    if (carryLen > 0) {
      throw new TraceWriterError({ reason: "InvalidStream", path, detail: `${source} ends inside an entry` })
    }
    const summary = await out.close()
    return { source, path, copy, tid, entries: summary.entriesOut, bytes: summary.bytes }
  } catch (cause) {
    await sink?.abort()
    throw cause
  } finally {
    await src.close()
  }
}

/**
 * Writes `copies` copies of every input of `srcDir` into `dstDir` (created
 * if missing). Every file is complete or absent, even on failure; files
 * already finished when another fails are kept.
 */
export const replicateTrace = async (
  srcDir: string,
  dstDir: string,
  copies: number,
  options: ReplicateOptions = {}
): Promise<ReplicateSummary> => {
  if (!Number.isSafeInteger(copies) || copies < 1 || copies > MAX_COPIES) {
    throw new TraceWriterError({
      reason: "Replication",
      path: dstDir,
      detail: `copies must be between 1 and ${MAX_COPIES}, not ${copies}`
    })
  }
  const inputs = await listInputs(srcDir)
  try {
    await makeDirectory(dstDir)
  } catch (cause) {
    throw fromCause(dstDir, cause)
  }
  const tasks: Array<{ source: string; copy: number }> = []
  for (let copy = 0; copy < copies; copy++) for (const source of inputs) tasks.push({ source, copy })
  const files: Array<ReplicatedFile> = []
  const used = new Set<string>()
  let next = 0
  let failure: unknown
  let failed = false
  const worker = async () => {
    while (!failed && next < tasks.length) {
      const task = tasks[next++]!
      try {
        if (options.signal?.aborted) throw options.signal.reason
        const file = await copyOne(task.source, dstDir, task.copy, options, used)
        files.push(file)
        options.onFile?.(file)
      } catch (cause) {
        if (!failed) {
          failed = true
          failure = cause
        }
      }
    }
  }
  const concurrency = Math.max(1, Math.min(tasks.length, Math.floor(options.concurrency ?? 2)))
  await Promise.all(Array.from({ length: concurrency }, worker))
  if (failed) throw failure
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return {
    inputs: inputs.length,
    copies,
    files,
    entries: files.reduce((n, f) => n + f.entries, 0),
    bytes: files.reduce((n, f) => n + f.bytes, 0)
  }
}
