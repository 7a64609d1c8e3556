/**
 * Writing drmemtrace traces in DynamoRIO's final format, streaming and
 * crash-safe: an {@link EntrySink} takes raw `trace_entry_t`s and writes
 * them as a `.zip` of `chunk.NNNNNNNN` members, a `.gz` or an uncompressed
 * file, which DynamoRIO's analyzer and `Trace.open` read back, or a `.zst`,
 * which only memtrace reads (DynamoRIO has no zstd reader).
 *
 * **When to use**: {@link make} + `write` to produce a trace entry by entry
 * (synthetic traces, filters, conversions); {@link writeFile} for a list of
 * `Synthetic` entries; {@link makeRecordWriter} to write decoded record
 * batches back out; {@link replicate} to multiply a real trace into a large
 * workload (the read benchmark's input).
 *
 * **Details**
 * - Crash safety: bytes go to a hidden temporary file next to the final one
 *   (`.NAME.PID.RANDOM.tmp`), fsynced and renamed over the final name only by
 *   `close`. If the scope closes without `close` — a failure, an
 *   interruption, a source that errors midway — the temporary is removed and
 *   nothing appears under the final name.
 * - Bounded memory: two segment buffers (768 KiB each by default) and the
 *   codec's own buffers. A full segment is compressed on Node's thread pool
 *   while the next fills.
 * - Zip output is chunked as DynamoRIO's `record_filter` writes archives:
 *   `chunk_instr_count` instructions per member (the stream's
 *   CHUNK_INSTR_COUNT marker, or the `chunkInstrCount` option, which then
 *   rewrites the marker); a non-final chunk ends with a CHUNK_FOOTER marker
 *   and the next starts with RECORD_ORDINAL, the repeated TIMESTAMP and
 *   CPU_ID, and the encodings of its first instance of each PC. Chunk
 *   artifacts already in the input are replaced, so copying a DynamoRIO zip
 *   with its own chunk size reproduces its entries exactly.
 * - Other containers store the entries exactly as given.
 *
 * **Gotchas**
 * - `write` is the hot path: synchronous, no allocation. It returns false
 *   when the segment is full: `yield* sink.drain` before writing more (or
 *   the buffer grows). After a failure `write` also returns false and the
 *   next `drain`/`close` fails with the reason.
 * - Values are the entry's 64-bit `addr` as exact u32 halves (`lo`, `hi`).
 * - A hard kill (SIGKILL, power loss) can leave the hidden temporary file
 *   behind; readers listing the directory would see it.
 * - Zip members are limited to 4 GiB each (`TooLarge`): about 350 M entries.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Synthetic, TraceWriter } from "memtrace"
 *
 * const program = TraceWriter.writeFile(
 *   "/tmp/one.trace.zip",
 *   Synthetic.thread(1, [Synthetic.timestamp(10), Synthetic.instr(0x1000), Synthetic.exit(1)])
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ContainerKind } from "./internal/writer/containers.ts"
import { TraceWriterError } from "./internal/writer/error.ts"
import { RecordEncoder } from "./internal/writer/recordEncoder.ts"
import {
  ID_STRIDE,
  MAX_COPIES,
  type ReplicatedFile,
  type ReplicateSummary,
  replicateTrace
} from "./internal/writer/replicate.ts"
import { FileEntrySink, type WriteSummary } from "./internal/writer/sink.ts"
import type * as RecordBatch from "./RecordBatch.ts"
import type { Entry } from "./Synthetic.ts"
import { TraceError } from "./TraceError.ts"

export { TraceWriterError, TraceWriterErrorReason } from "./internal/writer/error.ts"
export type { ContainerKind, ReplicatedFile, ReplicateSummary, WriteSummary }

/**
 * Writing options.
 *
 * @category models
 */
export interface Options {
  /** Container; default from the path's extension (`.zip`, `.gz`, `.zst`, anything else uncompressed). */
  readonly container?: ContainerKind | undefined
  /** Zip only: instructions per chunk, overriding (and rewriting) the stream's CHUNK_INSTR_COUNT marker. */
  readonly chunkInstrCount?: number | undefined
  /** Compression level: zlib 0–9 for zip and gzip (default 6, DynamoRIO's), zstd's own scale for zstd. */
  readonly level?: number | undefined
  /** fsync the file before renaming it into place. Default true. */
  readonly durable?: boolean | undefined
  /** Entries per segment buffer (two are used). Default 65,536 (768 KiB). */
  readonly segmentEntries?: number | undefined
}

/**
 * Default option values.
 *
 * @category constants
 */
export const defaults = {
  level: 6,
  durable: true,
  segmentEntries: 65536
} as const

/**
 * A trace file being written.
 *
 * @category models
 */
export interface EntrySink {
  /** The final path. */
  readonly path: string
  readonly container: ContainerKind
  /**
   * Appends one entry (`type`, `size`, and the 64-bit `addr` as u32 halves).
   * Returns false when the caller should `drain` before writing more.
   */
  write(type: number, size: number, lo: number, hi: number): boolean
  /** Appends raw 12-byte little-endian entries (a multiple of 12 bytes). Returns false like `write`. */
  writeBytes(bytes: Uint8Array): boolean
  /** Waits until the buffered entries may be overwritten; fails with the first write failure. */
  readonly drain: Effect.Effect<void, TraceWriterError>
  /** Writes the rest, finishes the container and renames the file to its final name. */
  readonly close: Effect.Effect<WriteSummary, TraceWriterError>
}

const asWriterError = (path: string) => (cause: unknown) =>
  cause instanceof TraceWriterError
    ? cause
    : new TraceWriterError({ reason: "IoError", path, detail: cause instanceof Error ? cause.message : String(cause) })

/**
 * Opens a trace file for writing. Nothing appears under `path` unless
 * `close` succeeds before the scope closes.
 *
 * @category constructors
 */
export const make = (path: string, options?: Options): Effect.Effect<EntrySink, TraceWriterError, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.tryPromise({ try: () => FileEntrySink.open(path, options), catch: asWriterError(path) }),
      (sink) => Effect.promise(() => sink.abort())
    ),
    (sink): EntrySink => ({
      path,
      container: sink.kind,
      write: (type, size, lo, hi) => sink.write(type, size, lo, hi),
      writeBytes: (bytes) => sink.writeBytes(bytes),
      drain: Effect.tryPromise({ try: () => sink.drain(), catch: asWriterError(path) }),
      close: Effect.tryPromise({ try: () => sink.close(), catch: asWriterError(path) })
    })
  )

const MASK32 = 0xffffffffn

/**
 * Writes `Synthetic` entries to a sink, draining as needed.
 *
 * @category combinators
 */
export const writeEntries = (sink: EntrySink, entries: Iterable<Entry>): Effect.Effect<void, TraceWriterError> =>
  Effect.gen(function* () {
    for (const e of entries) {
      if (!sink.write(e.type, e.size, Number(e.addr & MASK32), Number((e.addr >> 32n) & MASK32))) yield* sink.drain
    }
    yield* sink.drain
  })

/**
 * Writes a whole trace file from `Synthetic` entries.
 *
 * @category constructors
 */
export const writeFile = (
  path: string,
  entries: Iterable<Entry>,
  options?: Options
): Effect.Effect<WriteSummary, TraceWriterError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const sink = yield* make(path, options)
      yield* writeEntries(sink, entries)
      return yield* sink.close
    })
  )

/**
 * Writes decoded records back to a trace file.
 *
 * @category models
 */
export interface RecordWriter {
  readonly sink: EntrySink
  /** Encodes records `[start, end)` of a batch (default: all of it). */
  write(batch: RecordBatch.RecordBatch, start?: number, end?: number): Effect.Effect<void, TraceWriterError>
  /** Adds the FOOTER and closes the file. */
  readonly close: Effect.Effect<WriteSummary, TraceWriterError>
}

/**
 * Opens a file for decoded records (one thread's or one core's stream, as
 * one input delivers them) and re-encodes them as raw entries.
 *
 * **Details**: the entries the decoder hides are restored (header, thread
 * and pid entries, encodings, branch targets, PC-only entries, chunk headers
 * after CHUNK_FOOTER records), so the file reads back to the same records.
 *
 * **Gotchas**: encodings are restored only from batches read with
 * `encodings: true`; otherwise instructions lose `encoding_is_new`. Bundles
 * and MAYBE_FETCH entries come back as the records they decoded to.
 *
 * @category constructors
 */
export const makeRecordWriter = (
  path: string,
  options?: Options
): Effect.Effect<RecordWriter, TraceWriterError, Scope.Scope> =>
  Effect.map(make(path, options), (sink): RecordWriter => {
    const encoder = new RecordEncoder(sink)
    return {
      sink,
      write: (batch, start, end) =>
        Effect.suspend(() => (encoder.encode(batch, start, end) ? Effect.void : sink.drain)),
      close: Effect.suspend(() => {
        encoder.finish()
        return sink.close
      })
    }
  })

/**
 * Replication options.
 *
 * @category models
 */
export interface ReplicateOptions {
  /** Zip compression level (default 6, DynamoRIO's). */
  readonly level?: number | undefined
  /** Instructions per chunk; default: each source's own. */
  readonly chunkInstrCount?: number | undefined
  /** Files written at once (default 2: the codec runs on Node's thread pool). */
  readonly concurrency?: number | undefined
  /** fsync each file before it is renamed into place (default true). */
  readonly durable?: boolean | undefined
  /** Called after each file is complete (progress). */
  readonly onFile?: ((file: ReplicatedFile) => void) | undefined
}

/**
 * Thread and process ids of copy `k` are the source's plus `k × ID_STRIDE`.
 *
 * @category constants
 */
export const REPLICA_ID_STRIDE: number = ID_STRIDE

/**
 * Most copies {@link replicate} makes (ids stay below 2^31).
 *
 * @category constants
 */
export const MAX_REPLICAS: number = MAX_COPIES

/**
 * Writes `copies` copies of every input of the trace `srcDir` into `dstDir`
 * (created if missing) as DynamoRIO-named `.zip` files.
 *
 * **Details**
 * - The raw entries are copied, so copies keep the source's encodings,
 *   branch targets and (with the default chunk size) chunk layout.
 * - Copy `k` (0-based) adds `k × 2^22` to every thread and process id
 *   (THREAD, THREAD_EXIT, PID entries, DIRECT_THREAD_SWITCH and
 *   SYSCALL_SCHEDULE markers): each
 *   copy is a separate process with its own threads, and copy 0 keeps the
 *   original ids. Ids must be below 2^22 (Linux's limit) and `copies` at most
 *   512.
 * - Names: `drmemtrace.<app>.<tid>.<nnnn>.trace.zip` with the copy's tid;
 *   other names become `drmemtrace.<name>.<tid>.<kkkk>.trace.zip`.
 *   Schedule files (`cpu_schedule.bin.zip`, …) are not copied: their tids
 *   would not match.
 * - Every file is complete or absent, also on failure or interruption; files
 *   finished before a failure stay.
 *
 * @category constructors
 */
export const replicate = (
  srcDir: string,
  dstDir: string,
  copies: number,
  options?: ReplicateOptions
): Effect.Effect<ReplicateSummary, TraceError | TraceWriterError> =>
  Effect.tryPromise({
    try: (signal) => replicateTrace(srcDir, dstDir, copies, { ...options, signal }),
    catch: (cause) => (cause instanceof TraceError ? cause : asWriterError(dstDir)(cause))
  })
