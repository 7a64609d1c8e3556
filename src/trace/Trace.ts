/**
 * Reading drmemtrace traces: open a directory or file (or in-memory bytes) as a
 * list of inputs, each pulling {@link RecordBatch}es of decoded records with
 * DynamoRIO `reader_t` semantics.
 *
 * **When to use**: {@link open} for files on disk, {@link fromEntries} for
 * synthetic inputs built with `Synthetic`, {@link decodeSync} to decode bytes
 * in pure code and tests.
 *
 * **Details**
 * - Directories are listed as DynamoRIO does: trace files sorted by path (so
 *   input ordinals match DynamoRIO's), schedule files and logs skipped, a
 *   tracer output directory read from its `trace/` folder.
 * - Containers: `.zip` (one `chunk.NNNN` member after another), gzip (by
 *   content: members one after another, trailing bytes that start no member
 *   ignored, as zlib's `gzread` does), `.sz` (snappy framing, DynamoRIO's
 *   no-CRC chunk types included), `.zst`, `.lz4`, and uncompressed files.
 * - `open` and `openFiles` open every input eagerly (as DynamoRIO does) and
 *   decode its first batch, so {@link InputInfo} already holds the thread
 *   id, version, file type and header values when they return. Opening costs
 *   about 1 ms per input: a consumer that reads inputs one after another can
 *   open each with `openFile` when it gets to it (as thread-sharded analysis
 *   does).
 * - Memory is bounded: a reader holds one decompressed chunk and the batch it
 *   is filling.
 *
 * **Gotchas**
 * - File handles are scoped: they close when the enclosing `Scope` closes,
 *   on success, failure or interruption. Opening thousands of files needs a
 *   matching `ulimit -n`.
 * - Batches are not reused by the reader: a consumer may keep one as long as
 *   it likes.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { RecordBatch, Trace } from "memtrace"
 *
 * const count = Effect.scoped(Effect.gen(function*() {
 *   const inputs = yield* Trace.open("examples/traces/threadsig")
 *   let records = 0
 *   for (const input of inputs) {
 *     for (let b = yield* input.next; b !== undefined; b = yield* input.next) records += RecordBatch.length(b)
 *   }
 *   return records
 * }))
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { abandonStdin } from "./internal/container/readHandle.ts"
import { decodeBytesSync } from "./internal/decodeSync.ts"
import { InputReader, memorySource } from "./internal/inputReader.ts"
import { listInputs } from "./internal/listing.ts"
import { type ContainerKind, openSource, STDIN as STDIN_PATH } from "./internal/source.ts"
import { SourceThread } from "./internal/sourceThread.ts"
import type * as RecordBatch from "./RecordBatch.ts"
import { type Entry, encode } from "./Synthetic.ts"
import { TraceError } from "./TraceError.ts"

/**
 * What is known about an input once it is open (DynamoRIO's stream header
 * values, taken from the first records).
 *
 * @category models
 */
export interface InputInfo {
  /** Position in the workload (DynamoRIO's input ordinal). */
  readonly ordinal: number
  readonly path: string
  /** File name without its directory (DynamoRIO's stream name). */
  readonly name: string
  readonly container: ContainerKind
  /** First thread id in the input; -1 if none was seen. */
  readonly tid: number
  readonly pid: number
  readonly version: number
  /** The FILETYPE marker's value; 0 when the trace has none (legacy version 1). */
  readonly filetype: number
  readonly hasFiletype: boolean
  readonly cacheLineSize: number
  readonly chunkInstrCount: number
  readonly pageSize: number
  /** First timestamp as a BigInt (exact), or undefined when not seen in the first batch. */
  readonly firstTimestamp: bigint | undefined
}

/**
 * One input stream.
 *
 * @category models
 */
export interface TraceInput {
  readonly info: InputInfo
  /** The next batch of records, or undefined once the input is exhausted. */
  readonly next: Effect.Effect<RecordBatch.RecordBatch | undefined, TraceError>
  /**
   * Hands back a batch of this input once nothing refers to it any more; the
   * next `next` of any input read in the same thread may refill it rather
   * than allocate. Optional: never calling it is correct, only slower.
   */
  readonly recycle: (batch: RecordBatch.RecordBatch) => void
  /** The decoder's running ordinals (records and fetched instructions delivered so far). */
  readonly ordinals: () => { readonly records: number; readonly instrs: number; readonly lastTimestamp: bigint }
}

/**
 * Reading options.
 *
 * @category models
 */
export interface Options {
  /** Records per batch. Default {@link RecordBatch.DEFAULT_CAPACITY}. */
  readonly batchCapacity?: number | undefined
  /** Keep instruction encodings in batches (for `view`). Default false. */
  readonly encodings?: boolean | undefined
  /**
   * Read zip inputs on the source thread, a worker thread that opens,
   * inflates and checks them so that this thread only decodes. Faster when
   * this thread is the bottleneck and a core is free (read + decode of a
   * large trace here: 1.5–1.9 × as fast, docs/benchmarks.md, section 18);
   * slower when no core is free or the trace is small. Default false.
   */
  readonly sourceThread?: boolean | undefined
}

/**
 * The path that names standard input, as DynamoRIO's `-infile -`: an
 * uncompressed or gzip trace read in order, once. (Any pipe or device path is
 * read in order too; a zip archive needs a file.)
 *
 * @category constants
 */
export const STDIN: string = STDIN_PATH

const basename = (path: string): string => path.slice(path.lastIndexOf("/") + 1)

/**
 * Inputs opened at once by `open`: each open waits for its first inflated
 * piece (the thread pool's latency), so overlapping a few keeps the main
 * thread busy; results keep DynamoRIO's input order.
 *
 * @category constants
 */
export const OPEN_CONCURRENCY = 8

const asTraceError = (path: string) => (cause: unknown) =>
  cause instanceof TraceError
    ? cause
    : new TraceError({ reason: "IoError", path, detail: cause instanceof Error ? cause.message : String(cause) })

const u64 = (lo: number, hi: number): bigint => (BigInt(hi) << 32n) | BigInt(lo)

const makeInput = (reader: InputReader, ordinal: number, path: string) =>
  Effect.gen(function* () {
    const first = yield* Effect.tryPromise({ try: () => reader.next(), catch: asTraceError(path) })
    const d = reader.decoder
    const info: InputInfo = {
      ordinal,
      path,
      name: basename(path),
      container: reader.source.container,
      tid: d.firstTid === 0 ? -1 : d.firstTid,
      pid: d.firstPid === 0 ? -1 : d.firstPid,
      version: d.version,
      filetype: d.filetype,
      hasFiletype: d.foundFiletype,
      cacheLineSize: d.cacheLineSize,
      chunkInstrCount: d.chunkInstrCount,
      pageSize: d.pageSize,
      firstTimestamp: d.hasFirstTimestamp ? u64(d.firstTimestampLo, d.firstTimestampHi) : undefined
    }
    let pending: RecordBatch.RecordBatch | undefined = first
    const pull = Effect.tryPromise({ try: () => reader.next(), catch: asTraceError(path) })
    const next = Effect.suspend(() => {
      if (pending !== undefined) {
        const b = pending
        pending = undefined
        // After the scope closed, the reader's error, not the batch read at opening.
        if (!reader.isClosed) return Effect.succeed<RecordBatch.RecordBatch | undefined>(b)
      }
      return pull
    })
    const input: TraceInput = {
      info,
      next,
      recycle: (batch) => reader.recycle(batch),
      ordinals: () => ({
        records: d.records,
        instrs: d.instrs,
        lastTimestamp: u64(d.lastTimestampLo, d.lastTimestampHi)
      })
    }
    return input
  })

/** How long an interrupted open may take to finish, so that it is closed before the interruption completes. */
const INTERRUPT_GRACE_MS = 250

const openReader = (
  open: () => Promise<InputReader>,
  path: string
): Effect.Effect<InputReader, TraceError, Scope.Scope> =>
  // Opening may wait on a pipe that sends nothing: it stays interruptible (a timeout can end it). An
  // interruption waits a little for an open under way (a file opens in milliseconds) and closes what
  // it opened before the interruption completes; a reader that arrives later still is closed then.
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      restore(
        Effect.callback<InputReader, TraceError>((resume) => {
          let state: "open" | "interrupting" | "abandoned" = "open"
          const opening = open()
          opening.then(
            (reader) => {
              if (state === "abandoned") void reader.close().catch(() => undefined)
              else if (state === "open") resume(Effect.succeed(reader))
            },
            (cause: unknown) => {
              if (state === "open") resume(Effect.fail(asTraceError(path)(cause)))
            }
          )
          return Effect.promise(async () => {
            state = "interrupting"
            const reader = await Promise.race([
              opening.catch(() => undefined),
              new Promise<undefined>((r) => setTimeout(() => r(undefined), INTERRUPT_GRACE_MS))
            ])
            if (reader !== undefined) await reader.close().catch(() => undefined)
            else {
              state = "abandoned"
              // Standard input waited on holds the process open: let it go (its open then ends, and is closed).
              if (path === STDIN) abandonStdin()
            }
          })
        })
      ),
      (reader) =>
        Effect.as(
          Effect.addFinalizer(() => Effect.promise(() => reader.close().catch(() => undefined))),
          reader
        )
    )
  )

/**
 * Opens one trace file as input `ordinal`.
 *
 * @category constructors
 */
export const openFile = (
  path: string,
  ordinal: number = 0,
  options?: Options
): Effect.Effect<TraceInput, TraceError, Scope.Scope> =>
  Effect.gen(function* () {
    const reader = yield* openReader(
      async () => new InputReader(await openSource(path, { thread: options?.sourceThread }), ordinal, options),
      path
    )
    return yield* makeInput(reader, ordinal, path)
  })

/**
 * Lists the trace files of a directory (or the file itself) in DynamoRIO's
 * input order.
 *
 * @category constructors
 */
export const list = (path: string): Effect.Effect<ReadonlyArray<string>, TraceError> =>
  Effect.tryPromise({ try: () => listInputs(path), catch: asTraceError(path) })

/**
 * Opens a directory or a file as the inputs of a workload, in DynamoRIO's
 * input order.
 *
 * @category constructors
 */
export const open = (
  path: string,
  options?: Options
): Effect.Effect<ReadonlyArray<TraceInput>, TraceError, Scope.Scope> =>
  Effect.flatMap(list(path), (paths) => openFiles(paths, options))

/**
 * Opens trace files as the inputs of a workload, input i being `paths[i]`,
 * a few at a time. `open`, when given, opens each instead of {@link openFile}
 * (to hand back an input the caller already opened).
 *
 * @category constructors
 */
export const openFiles = (
  paths: ReadonlyArray<string>,
  options?: Options,
  open?: (path: string, ordinal: number) => Effect.Effect<TraceInput, TraceError, Scope.Scope>
): Effect.Effect<ReadonlyArray<TraceInput>, TraceError, Scope.Scope> =>
  Effect.andThen(
    // A large zip workload read on the source thread is read there from its first input on.
    options?.sourceThread === true ? Effect.promise(() => SourceThread.startFor(paths)) : Effect.void,
    Effect.forEach(paths, (p, i) => (open === undefined ? openFile(p, i, options) : open(p, i)), {
      concurrency: OPEN_CONCURRENCY
    })
  )

/**
 * An input over raw trace bytes held in memory.
 *
 * @category constructors
 */
export const fromBytes = (
  bytes: Uint8Array,
  options?: Options & { readonly ordinal?: number | undefined; readonly name?: string | undefined }
): Effect.Effect<TraceInput, TraceError, Scope.Scope> => {
  const ordinal = options?.ordinal ?? 0
  const name = options?.name ?? `memory.${ordinal}`
  return Effect.gen(function* () {
    const reader = yield* openReader(async () => new InputReader(memorySource(name, bytes), ordinal, options), name)
    return yield* makeInput(reader, ordinal, name)
  })
}

/**
 * An input over synthetic entries (see `Synthetic`).
 *
 * @category constructors
 */
export const fromEntries = (
  entries: ReadonlyArray<Entry>,
  options?: Options & { readonly ordinal?: number | undefined; readonly name?: string | undefined }
): Effect.Effect<TraceInput, TraceError, Scope.Scope> => fromBytes(encode(entries), options)

/**
 * Every remaining batch of an input.
 *
 * @category destructors
 */
export const readAll = (input: TraceInput): Effect.Effect<Array<RecordBatch.RecordBatch>, TraceError> =>
  Effect.gen(function* () {
    const out: Array<RecordBatch.RecordBatch> = []
    for (let b = yield* input.next; b !== undefined; b = yield* input.next) out.push(b)
    return out
  })

/**
 * Decodes raw trace bytes synchronously (pure code, tests). Throws TraceError
 * on bad input.
 *
 * @category destructors
 */
export const decodeSync: (
  bytes: Uint8Array,
  options?: Options & { readonly ordinal?: number | undefined; readonly name?: string | undefined }
) => Array<RecordBatch.RecordBatch> = decodeBytesSync
