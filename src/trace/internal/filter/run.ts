/**
 * One input file through the entry filter into one output file: the raw
 * entries come from the reader's byte source (any container), go through
 * `EntryFilter` and into a `TraceWriter` sink, chunk by chunk with the
 * sink's flow control. The output is complete or absent (the sink's scope).
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { FileType, TraceType, TraceVersion } from "../../Record.ts"
import { TraceError } from "../../TraceError.ts"
import * as TraceWriter from "../../TraceWriter.ts"
import { type ByteSource, openSource, type SourceChunk } from "../source.ts"
import { EntryFilter, type FilterConfig } from "./entryFilter.ts"
import { FilterError } from "./error.ts"

export interface FileResult {
  readonly source: string
  readonly path: string
  readonly tid: number
  readonly entriesIn: number
  readonly entriesOut: number
  readonly instructions: number
  readonly bytes: number
  /**
   * True when no instruction was left: nothing was written, as DynamoRIO's
   * `record_filter` deletes such an output (unless the input is
   * data-filtered or core-sharded), since a thread without instructions is
   * not a valid trace.
   */
  readonly dropped: boolean
}

/** File types whose outputs may legitimately hold no instruction. */
const MAY_HAVE_NO_INSTRS = FileType.FILTERED | FileType.IFILTERED | FileType.CORE_SHARDED

const asTraceError = (path: string) => (cause: unknown) =>
  cause instanceof TraceError
    ? cause
    : new TraceError({ reason: "IoError", path, detail: cause instanceof Error ? cause.message : String(cause) })

/** Opens a file's byte source for the scope. */
export const openBytes = (path: string): Effect.Effect<ByteSource, TraceError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const source = await openSource(path)
        source.stream()
        return source
      },
      catch: asTraceError(path)
    }),
    (s) => Effect.promise(() => s.close().catch(() => undefined))
  )

/** The first THREAD entry's id in some entry bytes, or -1. */
export const firstTid = (bytes: Uint8Array): number => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  for (let o = 0; o + 12 <= bytes.length; o += 12) {
    if (view.getUint16(o, true) === 22) return view.getUint32(o + 4, true)
  }
  return -1
}

/** DynamoRIO's `TRACE_TYPE_INVALID`: no entry type is this large. */
const MAX_TYPE = TraceType.INVALID
const T_HEADER = TraceType.HEADER

/**
 * Feeds entries `[from, to)` to the filter until the sink asks for a drain
 * or an entry type is unknown (returned as `-1 - index`); returns the next
 * entry index.
 */
const feed = (filter: EntryFilter, words: Uint32Array, from: number, to: number): number => {
  for (let e = from; e < to; e++) {
    const w = e * 3
    const w0 = words[w]!
    if ((w0 & 0xffff) >= MAX_TYPE) return -1 - e
    filter.push(w0 & 0xffff, w0 >>> 16, words[w + 1]!, words[w + 2]!)
    if (filter.full) return e + 1
  }
  return to
}

/**
 * Filters the source (whose first chunk was already pulled as `first`) into
 * `outPath`.
 */
export const filterFile = (
  source: ByteSource,
  first: SourceChunk | undefined,
  outPath: string,
  config: FilterConfig,
  options: TraceWriter.Options
): Effect.Effect<FileResult, TraceError | TraceWriter.TraceWriterError | FilterError, Scope.Scope> =>
  Effect.gen(function* () {
    const sink = yield* TraceWriter.make(outPath, options)
    const filter = new EntryFilter(sink, config)
    const pull = Effect.tryPromise({ try: () => source.pull(), catch: asTraceError(source.path) })
    const tid = first === undefined ? -1 : firstTid(first.bytes)
    const carry = new Uint8Array(12)
    let carryLen = 0
    for (let chunk = first; chunk !== undefined; chunk = yield* pull) {
      let bytes = chunk.bytes
      if (carryLen > 0 || bytes.byteOffset % 4 !== 0) {
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
      const carryBefore = bytes.length - chunk.bytes.length
      if (filter.pushed === 0 && entries > 0) {
        if ((words[0]! & 0xffff) !== T_HEADER) {
          return yield* new TraceError({
            reason: "BadHeader",
            path: source.path,
            offset: 0,
            detail: `the first entry has type ${words[0]! & 0xffff}, not HEADER`
          })
        }
        const version = words[1]!
        if (words[2]! !== 0 || version === 0 || version > TraceVersion.CURRENT) {
          return yield* new TraceError({
            reason: "UnsupportedVersion",
            path: source.path,
            offset: 0,
            detail: `trace version ${words[2]! === 0 ? version : "beyond 2^32"} is not supported (1–${TraceVersion.CURRENT})`
          })
        }
      }
      let e = 0
      while (e < entries) {
        e = feed(filter, words, e, entries)
        if (e < 0) {
          const at = -1 - e
          return yield* new TraceError({
            reason: "UnknownEntryType",
            path: source.path,
            ...(chunk.component !== undefined ? { component: chunk.component } : {}),
            offset: chunk.offset - carryBefore + at * 12,
            detail: `entry type ${words[at * 3]! & 0xffff} is not a trace_type_t`
          })
        }
        if (filter.full) {
          filter.full = false
          yield* sink.drain
        }
        if (filter.multipleWindows !== "") {
          // Not closed: the sink's scope drops the partial file.
          return yield* new FilterError({
            reason: "Unsupported",
            path: source.path,
            detail: `Trimming a trace with multiple windows is not supported. ${filter.multipleWindows}`
          })
        }
      }
    }
    const entriesIn = filter.pushed
    if (carryLen > 0) {
      return yield* new TraceError({ reason: "Truncated", path: source.path, detail: "the file ends inside an entry" })
    }
    if (entriesIn === 0) {
      return yield* new TraceError({
        reason: "NotATrace",
        path: source.path,
        detail: "the input holds no trace entries"
      })
    }
    filter.finish()
    if (filter.instrsWritten === 0 && (Math.max(0, filter.filetype) & MAY_HAVE_NO_INSTRS) === 0) {
      // Not closed: the sink's scope drops the file.
      return {
        source: source.path,
        path: outPath,
        tid,
        entriesIn,
        entriesOut: 0,
        instructions: 0,
        bytes: 0,
        dropped: true
      }
    }
    const summary = yield* sink.close
    return {
      dropped: false,
      source: source.path,
      path: outPath,
      tid,
      entriesIn,
      entriesOut: summary.entriesOut,
      instructions: filter.instrsWritten,
      bytes: summary.bytes
    }
  })
