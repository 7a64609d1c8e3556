/**
 * What a trace holds, input by input: the library function behind
 * `memtrace info`. Reads every input to its end once and reports its file,
 * container, header values (version, file type and the names of its bits),
 * thread and process ids, record and instruction counts, and first and last
 * timestamps.
 *
 * **When to use**: {@link describe} on a path for a quick inventory of a
 * trace before analysing it; {@link format} for the CLI's table;
 * {@link InputSummaries} to print it as JSON.
 *
 * **Details**
 * - Inputs are listed as DynamoRIO orders them (`Trace.open`): the input
 *   ordinal is the position in that list.
 * - Records are the records a tool sees (DynamoRIO's record ordinal: headers,
 *   THREAD/PID entries, encodings and hidden markers are not records);
 *   instructions are DynamoRIO's `type_is_instr` records (non-fetched ones
 *   not included).
 * - Timestamps are exact (`bigint`; strings in JSON). A core-sharded input
 *   (file type bit CORE_SHARDED) holds several threads: `threads` counts the
 *   distinct thread ids in it, `tid` is the first.
 * - `hasFiletype` is false for legacy traces (version 1) that carry no
 *   FILETYPE marker; their `filetype` is then 0 and `filetypeNames` empty.
 *
 * **Gotchas**
 * - Every input is decompressed and decoded in full: on large traces this
 *   takes as long as a `basic_counts` run.
 *
 * @example
 * ```ts
 * import * as Effect from "effect/Effect"
 * import { Info } from "memtrace"
 *
 * const table = Effect.scoped(Effect.map(Info.describe("examples/traces/threadsig"), Info.format))
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { fileTypeNames, IDLE_THREAD_ID, INVALID_THREAD_ID, MarkerType, TraceType } from "./Record.ts"
import * as RecordBatch from "./RecordBatch.ts"
import * as Trace from "./Trace.ts"
import type { TraceError } from "./TraceError.ts"

/**
 * One input's summary.
 *
 * @category models
 */
export const InputSummary = Schema.Struct({
  /** Position in DynamoRIO's input order. */
  ordinal: Schema.Number,
  path: Schema.String,
  /** File name without its directory. */
  file: Schema.String,
  container: Schema.Literals(["zip", "gzip", "snappy", "zstd", "lz4", "raw"]),
  version: Schema.Number,
  hasFiletype: Schema.Boolean,
  filetype: Schema.Number,
  filetypeNames: Schema.Array(Schema.String),
  /** First thread id of the input (-1 if none). */
  tid: Schema.Number,
  pid: Schema.Number,
  /** Distinct thread ids among the input's records (idle and invalid ids left out). */
  threads: Schema.Number,
  /** Those thread ids, in the order they first appear. */
  tids: Schema.Array(Schema.Number),
  records: Schema.Number,
  instructions: Schema.Number,
  cacheLineSize: Schema.Number,
  chunkInstrCount: Schema.Number,
  pageSize: Schema.Number,
  firstTimestamp: Schema.optional(Schema.BigIntFromString),
  lastTimestamp: Schema.optional(Schema.BigIntFromString)
})

/** @category models */
export type InputSummary = typeof InputSummary.Type

/**
 * Every input's summary: the JSON shape of `memtrace info --json`
 * (`Schema.encodeSync(InputSummaries)(summaries)`).
 *
 * @category models
 */
export const InputSummaries = Schema.Array(InputSummary)

const INSTR = (() => {
  const t = new Uint8Array(256)
  for (let k = TraceType.INSTR; k <= TraceType.INSTR_RETURN; k++) t[k] = 1
  t[TraceType.INSTR_SYSENTER] = 1
  t[TraceType.INSTR_TAKEN_JUMP] = 1
  t[TraceType.INSTR_UNTAKEN_JUMP] = 1
  return t
})()

const IDLE_U64 = 2 ** 64

const u64 = (hi: number, lo: number): bigint => (BigInt(hi) << 32n) | BigInt(lo)

/**
 * Reads an opened input to its end and summarises it.
 *
 * @category constructors
 */
export const summarize = (input: Trace.TraceInput): Effect.Effect<InputSummary, TraceError> =>
  Effect.gen(function* () {
    let records = 0
    let instructions = 0
    let hasTimestamp = false
    let firstHi = 0
    let firstLo = 0
    let lastHi = 0
    let lastLo = 0
    const tids = new Set<number>()
    let lastTid = Number.NaN
    for (let b = yield* input.next; b !== undefined; b = yield* input.next) {
      const n = RecordBatch.length(b)
      const type = b.type
      const size = b.size
      const tid = b.tid
      records += n
      for (let i = 0; i < n; i++) {
        const t = type[i]!
        instructions += INSTR[t]!
        if (t === TraceType.MARKER && size[i] === MarkerType.TIMESTAMP) {
          if (!hasTimestamp) {
            hasTimestamp = true
            firstHi = b.addrHi[i]!
            firstLo = b.addrLo[i]!
          }
          lastHi = b.addrHi[i]!
          lastLo = b.addrLo[i]!
        }
        if (tid[i] !== lastTid) {
          lastTid = tid[i]!
          // DynamoRIO counts neither INVALID_THREAD_ID (0) nor IDLE_THREAD_ID (-1, read from
          // disk as the u64 2^64 - 1, which a double rounds to 2^64) as threads.
          if (lastTid !== INVALID_THREAD_ID && lastTid !== IDLE_THREAD_ID && lastTid !== IDLE_U64) tids.add(lastTid)
        }
      }
    }
    const info = input.info
    const summary: InputSummary = {
      ordinal: info.ordinal,
      path: info.path,
      file: info.name,
      container: info.container,
      version: info.version,
      hasFiletype: info.hasFiletype,
      filetype: info.filetype,
      filetypeNames: info.hasFiletype ? fileTypeNames(info.filetype) : [],
      tid: info.tid,
      pid: info.pid,
      threads: tids.size,
      tids: [...tids],
      records,
      instructions,
      cacheLineSize: info.cacheLineSize,
      chunkInstrCount: info.chunkInstrCount,
      pageSize: info.pageSize,
      ...(hasTimestamp ? { firstTimestamp: u64(firstHi, firstLo), lastTimestamp: u64(lastHi, lastLo) } : {})
    }
    return summary
  })

/**
 * Summarises every input of an opened trace, in input order.
 *
 * @category constructors
 */
export const describeInputs = (
  inputs: ReadonlyArray<Trace.TraceInput>
): Effect.Effect<ReadonlyArray<InputSummary>, TraceError> => Effect.forEach(inputs, summarize)

/**
 * Opens a trace directory or file and summarises every input.
 *
 * @category constructors
 */
export const describe = (path: string): Effect.Effect<ReadonlyArray<InputSummary>, TraceError, Scope.Scope> =>
  Effect.flatMap(Trace.open(path), describeInputs)

const COLUMNS = [
  "input",
  "file",
  "format",
  "version",
  "filetype",
  "tid",
  "pid",
  "threads",
  "records",
  "instructions",
  "first timestamp",
  "last timestamp"
] as const
const LEFT = new Set(["file", "format", "filetype"])

const filetypeHex = (s: InputSummary): string => (s.hasFiletype ? "0x" + s.filetype.toString(16) : "-")

/**
 * A readable table: one row per input, a total row when there are several,
 * then what each file type means.
 *
 * @category formatting
 */
export const format = (summaries: ReadonlyArray<InputSummary>): string => {
  const rows: Array<Array<string>> = summaries.map((s) => [
    String(s.ordinal),
    s.file,
    s.container,
    String(s.version),
    filetypeHex(s),
    String(s.tid),
    String(s.pid),
    String(s.threads),
    String(s.records),
    String(s.instructions),
    s.firstTimestamp === undefined ? "-" : String(s.firstTimestamp),
    s.lastTimestamp === undefined ? "-" : String(s.lastTimestamp)
  ])
  if (summaries.length > 1) {
    const tids = new Set<number>()
    for (const s of summaries) for (const t of s.tids) tids.add(t)
    const stamps = summaries.flatMap((s) =>
      s.firstTimestamp === undefined || s.lastTimestamp === undefined ? [] : [s.firstTimestamp, s.lastTimestamp]
    )
    const min = stamps.reduce<bigint | undefined>((m, t) => (m === undefined || t < m ? t : m), undefined)
    const max = stamps.reduce<bigint | undefined>((m, t) => (m === undefined || t > m ? t : m), undefined)
    rows.push([
      "total",
      `${summaries.length} inputs`,
      "",
      "",
      "",
      "",
      "",
      String(tids.size),
      String(summaries.reduce((n, s) => n + s.records, 0)),
      String(summaries.reduce((n, s) => n + s.instructions, 0)),
      min === undefined ? "-" : String(min),
      max === undefined ? "-" : String(max)
    ])
  }
  const widths = COLUMNS.map((c, k) => Math.max(c.length, ...rows.map((r) => r[k]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, k) => (LEFT.has(COLUMNS[k]!) ? cell.padEnd(widths[k]!) : cell.padStart(widths[k]!)))
      .join("  ")
      .trimEnd()
  const out = [line(COLUMNS), ...rows.map(line)]
  const legend = new Map<string, string>()
  for (const s of summaries) {
    const key = filetypeHex(s)
    if (legend.has(key)) continue
    legend.set(
      key,
      s.hasFiletype
        ? s.filetypeNames.length > 0
          ? s.filetypeNames.join(" | ")
          : "no flags"
        : "no FILETYPE marker (legacy trace)"
    )
  }
  out.push("")
  for (const [key, meaning] of legend) out.push(`filetype ${key}: ${meaning}`)
  return out.join("\n") + "\n"
}
