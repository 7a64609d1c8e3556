/**
 * Filtering traces into new traces, as DynamoRIO's `record_filter` tool
 * does: keep some threads, trim to an instruction or timestamp window, drop
 * instruction encodings, convert the container. Streaming, bounded in
 * memory, and crash-safe (every output file is written through
 * `TraceWriter`: complete or absent).
 *
 * **When to use**: {@link run} to write a smaller or converted copy of a
 * trace directory or file (the `memtrace filter` command).
 *
 * **Details**
 * - One output file per input file, in the output directory (created if
 *   missing), named after the input with the container suffix of the
 *   output format (`.zip`, `.gz`, `.zst`, none for raw). Schedule files
 *   are not copied.
 * - The raw entries are filtered, not decoded records: everything the
 *   filters keep is written as it came (encodings, branch targets, markers),
 *   and the input's chunk artifacts are replaced by the writer's.
 * - `onlyThreads` drops whole input files whose (first) thread is not
 *   listed.
 * - Timestamp trims switch at TIMESTAMP markers, as DynamoRIO's
 *   `trim_filter`: a stretch is kept when the time stamp opening it is in
 *   `[trimBeforeTimestamp, trimAfterTimestamp]`. The header (everything
 *   before the first time stamp), the first WINDOW_ID, THREAD_EXIT and
 *   FOOTER are always kept.
 * - Instruction trims are exact (DynamoRIO's `trim_filter` only cuts at the
 *   next time stamp): `trimBeforeInstr = B`, `trimAfterInstr = A` keep the
 *   instructions of 0-based ordinals `[B, A)` of each input, each with its
 *   data records, and the markers after it up to the next time stamp or
 *   instruction. The kept part starts with the last TIMESTAMP and CPU_ID
 *   before the cut (unless it starts at a time stamp), after the header.
 * - Instructions whose PC had its encoding in a removed part get it again
 *   (the first kept instance carries it), as `record_filter` does.
 *
 * **Gotchas**
 * - Trims apply to each input on its own: an instruction window of a
 *   multi-threaded trace keeps `A - B` instructions of every thread.
 * - A core-sharded-on-disk input (several threads in one file) is filtered
 *   as one stream; `onlyThreads` looks at its first thread only.
 * - Files written before a failure stay; the failing one is absent.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Filter } from "memtrace"
 *
 * const program = Filter.run("trace.dir", "/tmp/first-million", { trimAfterInstr: 1_000_000, format: "gz" })
 * ```
 *
 * @since 0.1.0
 */
import { realpath, rm } from "node:fs/promises"
import { basename, join } from "node:path"
import * as Effect from "effect/Effect"
import type { FilterConfig } from "./internal/filter/entryFilter.ts"
import { FilterError } from "./internal/filter/error.ts"
import { type FileResult, filterFile, firstTid, openBytes } from "./internal/filter/run.ts"
import type { ContainerKind } from "./internal/source.ts"
import { makeDirectory } from "./internal/writer/makeDirectory.ts"
import * as Trace from "./Trace.ts"
import { TraceError } from "./TraceError.ts"
import * as TraceWriter from "./TraceWriter.ts"

export { FilterError, FilterErrorReason } from "./internal/filter/error.ts"
export type { FileResult }

/**
 * Output formats.
 *
 * @category models
 */
export type Format = "zip" | "gz" | "zst" | "raw"

/**
 * What to filter. Every operation is off by default; with none, the output
 * holds the same records (re-chunked if `chunkInstrCount` says so).
 *
 * @category models
 */
export interface Options {
  /** Keep only the input files of these thread ids. */
  readonly onlyThreads?: ReadonlyArray<number> | undefined
  /** Drop the first N instructions of each input (0: none). */
  readonly trimBeforeInstr?: number | undefined
  /** Drop from instruction N (0-based) on (0: none). */
  readonly trimAfterInstr?: number | undefined
  /** Drop what comes before the first time stamp ≥ T (0: none). */
  readonly trimBeforeTimestamp?: bigint | undefined
  /** Drop from the first time stamp > T on (0: none). */
  readonly trimAfterTimestamp?: bigint | undefined
  /** Remove ENCODING entries and clear the ENCODINGS file type bit. */
  readonly dropEncodings?: boolean | undefined
  /** Output container; default: the input's (zip for snappy and lz4 inputs). */
  readonly format?: Format | undefined
  /** Zip only: instructions per chunk (default: the input's). */
  readonly chunkInstrCount?: number | undefined
  /** Compression level (zlib 0–9, default 6; zstd's own scale). */
  readonly level?: number | undefined
  /** fsync each file before it is renamed into place. Default true. */
  readonly durable?: boolean | undefined
  /** Files written at once. Default 2 (the codecs run on Node's thread pool). */
  readonly concurrency?: number | undefined
}

/**
 * Default option values.
 *
 * @category constants
 */
export const defaults = { concurrency: 2, durable: true } as const

/**
 * What a run wrote.
 *
 * @category models
 */
export interface Summary {
  readonly inputs: number
  /** One per file written, in input order. */
  readonly files: ReadonlyArray<FileResult>
  /** Inputs left out by `onlyThreads`. */
  readonly skipped: ReadonlyArray<string>
  /**
   * Inputs with no instruction left (a trim past a thread's end): not written,
   * as DynamoRIO's `record_filter` deletes such outputs.
   */
  readonly dropped: ReadonlyArray<string>
}

const KIND: Record<Format, TraceWriter.ContainerKind> = { zip: "zip", gz: "gzip", zst: "zstd", raw: "raw" }
const SUFFIX: Record<TraceWriter.ContainerKind, string> = { zip: ".zip", gzip: ".gz", zstd: ".zst", raw: "" }
const CONTAINER_SUFFIX = /\.(zip|gz|zst|sz|lz4)$/

/**
 * The output name of an input file for a container.
 *
 * @category naming
 */
export const outputName = (inputName: string, container: TraceWriter.ContainerKind): string =>
  inputName.replace(CONTAINER_SUFFIX, "") + SUFFIX[container]

const outputContainer = (format: Format | undefined, input: ContainerKind): TraceWriter.ContainerKind => {
  if (format !== undefined) return KIND[format]
  return input === "zip" || input === "gzip" || input === "zstd" || input === "raw" ? input : "zip"
}

const MAX_U64 = (1n << 64n) - 1n

const invalid = (path: string, option: string, detail: string) =>
  new FilterError({ reason: "InvalidOptions", path, option, detail })

const isCount = (n: number | undefined): boolean => n === undefined || (Number.isSafeInteger(n) && n >= 0)

/**
 * Checks the options and turns them into the entry filter's configuration.
 *
 * @category constructors
 */
export const config = (path: string, options: Options): Effect.Effect<FilterConfig, FilterError> =>
  Effect.gen(function* () {
    const bi = options.trimBeforeInstr ?? 0
    const ai = options.trimAfterInstr ?? 0
    const bt = options.trimBeforeTimestamp ?? 0n
    const at = options.trimAfterTimestamp ?? 0n
    for (const [name, n] of [
      ["trimBeforeInstr", bi],
      ["trimAfterInstr", ai],
      ["chunkInstrCount", options.chunkInstrCount]
    ] as const) {
      if (!isCount(n)) return yield* invalid(path, name, `${name} ${n} is not a count`)
    }
    for (const [name, t] of [
      ["trimBeforeTimestamp", bt],
      ["trimAfterTimestamp", at]
    ] as const) {
      if (t < 0n || t > MAX_U64) return yield* invalid(path, name, `${name} ${t} is not a 64-bit time stamp`)
    }
    const byTs = bt > 0n || at > 0n
    if (byTs && (bi > 0 || ai > 0)) {
      return yield* invalid(path, "trimBeforeInstr", "instruction and timestamp trims cannot be used together")
    }
    if (ai > 0 && ai <= bi) {
      return yield* invalid(path, "trimAfterInstr", `trimAfterInstr ${ai} must be greater than trimBeforeInstr ${bi}`)
    }
    if (at > 0n && at <= bt) {
      return yield* invalid(
        path,
        "trimAfterTimestamp",
        `trimAfterTimestamp ${at} must be greater than trimBeforeTimestamp ${bt}`
      )
    }
    if (options.chunkInstrCount !== undefined && options.format !== undefined && options.format !== "zip") {
      return yield* invalid(path, "chunkInstrCount", `chunkInstrCount applies to zip output, not ${options.format}`)
    }
    for (const tid of options.onlyThreads ?? []) {
      if (!Number.isSafeInteger(tid)) return yield* invalid(path, "onlyThreads", `${tid} is not a thread id`)
    }
    const after = at === 0n ? MAX_U64 : at
    return {
      dropEncodings: options.dropEncodings ?? false,
      trimBeforeInstr: bi,
      trimAfterInstr: ai === 0 ? Infinity : ai,
      trimByTimestamp: byTs,
      tsBeforeHi: Number(bt >> 32n),
      tsBeforeLo: Number(bt & 0xffffffffn),
      tsAfterHi: Number(after >> 32n),
      tsAfterLo: Number(after & 0xffffffffn)
    }
  })

/**
 * Filters the trace at `input` (a directory or one file) into the directory
 * `output`.
 *
 * @category running
 */
export const run = (
  input: string,
  output: string,
  options: Options = {}
): Effect.Effect<Summary, FilterError | TraceError | TraceWriter.TraceWriterError> =>
  Effect.gen(function* () {
    const cfg = yield* config(input, options)
    const files = yield* Trace.list(input)
    const ioError = (path: string) => (cause: unknown) =>
      new TraceWriter.TraceWriterError({
        reason: "IoError",
        path,
        detail: cause instanceof Error ? cause.message : String(cause)
      })
    const created = yield* Effect.tryPromise({
      try: () => makeDirectory(output),
      catch: ioError(output)
    })
    // Real paths: an output directory reached through a symbolic link is still the input's.
    const realOutput = yield* Effect.tryPromise({ try: () => realpath(output), catch: ioError(output) })
    const realInputs = new Set<string>()
    for (const file of files) {
      if (file === Trace.STDIN) continue
      realInputs.add(yield* Effect.tryPromise({ try: () => realpath(file), catch: ioError(file) }))
    }
    // Every output name, decided before anything is written: two inputs must not share one.
    const plan = new Map<string, string>()
    const only = options.onlyThreads === undefined ? undefined : new Set(options.onlyThreads)
    const skipped: Array<string> = []
    const one = (file: string) =>
      Effect.scoped(
        Effect.gen(function* () {
          const source = yield* openBytes(file)
          const first = yield* Effect.tryPromise({
            try: () => source.pull(),
            catch: (cause) =>
              cause instanceof TraceError
                ? cause
                : new TraceError({ reason: "IoError", path: file, detail: String(cause) })
          })
          if (only !== undefined) {
            if (!only.has(first === undefined ? -1 : firstTid(first.bytes))) {
              skipped.push(file)
              return undefined
            }
          }
          const container = outputContainer(options.format, source.container)
          if (options.chunkInstrCount !== undefined && container !== "zip") {
            return yield* invalid(
              file,
              "chunkInstrCount",
              `chunkInstrCount applies to zip output; this input is written as ${container}, as it came: add format zip`
            )
          }
          const name = outputName(file === Trace.STDIN ? "stdin" : basename(file), container)
          const path = join(output, name)
          if (realInputs.has(join(realOutput, name))) {
            return yield* new FilterError({
              reason: "WouldOverwriteInput",
              path,
              detail: "the output file would replace an input: choose another output directory or format"
            })
          }
          const taken = plan.get(name)
          if (taken !== undefined) {
            return yield* new FilterError({
              reason: "OutputNameTaken",
              path,
              detail: `inputs ${taken} and ${file} would both be written as ${name}`
            })
          }
          plan.set(name, file)
          return yield* filterFile(source, first, path, cfg, {
            container,
            chunkInstrCount: options.chunkInstrCount,
            level: options.level,
            durable: options.durable ?? defaults.durable
          })
        })
      )
    const results = yield* Effect.forEach(files, one, {
      concurrency: Math.max(1, Math.floor(options.concurrency ?? defaults.concurrency))
    })
    const written = results.filter((r): r is FileResult => r !== undefined && !r.dropped)
    const dropped = results.filter((r): r is FileResult => r?.dropped === true).map((r) => r.source)
    if (only !== undefined && written.length + dropped.length === 0) {
      // Nothing to write: the directory made for it goes too.
      if (created !== undefined) yield* Effect.promise(() => rm(created, { recursive: true, force: true }))
      return yield* new FilterError({
        reason: "NoMatchingThreads",
        path: input,
        option: "onlyThreads",
        detail: `no input has thread ${[...only].join(", ")}`
      })
    }
    return { inputs: files.length, files: written, skipped: files.filter((f) => skipped.includes(f)), dropped }
  })
