/**
 * The trace-writing commands: `memtrace filter` (DynamoRIO's
 * `record_filter`, see `Filter`) and `memtrace replicate` (see
 * `TraceWriter.replicate`).
 *
 * **Details**
 * - `filter (--indir DIR | --infile FILE) --out DIR [--only-threads 1,2]
 *   [--trim-before-instr N] [--trim-after-instr N] [--trim-before-timestamp T]
 *   [--trim-after-timestamp T] [--drop-encodings] [--format zip|gz|zst|raw]
 *   [--chunk-instr-count N]`.
 * - `replicate SRC DST --copies N`.
 * - A value that does not parse, or options that contradict each other, are
 *   usage errors (exit 2); trace reading and writing failures exit 1.
 *   One line per file written goes to stdout.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import { Argument, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Filter from "../trace/Filter.ts"
import type { TraceError } from "../trace/TraceError.ts"
import * as TraceWriter from "../trace/TraceWriter.ts"
import { type UsageError, usageError } from "./UsageError.ts"

const FORMATS: ReadonlyArray<Filter.Format> = ["zip", "gz", "zst", "raw"]

const invalid = (option: string, text: string, expected: string) =>
  usageError("InvalidValue", `Option ${option} value "${text}" is not ${expected}`, option)

const count = (text: Option.Option<string>, option: string): Effect.Effect<number | undefined, UsageError> => {
  if (Option.isNone(text)) return Effect.succeed(undefined)
  const t = text.value.trim()
  const n = /^\d+$/.test(t) ? Number(t) : Number.NaN
  return Number.isSafeInteger(n) ? Effect.succeed(n) : Effect.fail(invalid(option, text.value, "a count"))
}

const timestamp = (text: Option.Option<string>, option: string): Effect.Effect<bigint | undefined, UsageError> => {
  if (Option.isNone(text)) return Effect.succeed(undefined)
  const t = text.value.trim()
  const v = /^\d+$/.test(t) ? BigInt(t) : -1n
  return v >= 0n && v < 1n << 64n ? Effect.succeed(v) : Effect.fail(invalid(option, text.value, "a 64-bit time stamp"))
}

const optionFlag: Record<string, string> = {
  trimBeforeInstr: "--trim-before-instr",
  trimAfterInstr: "--trim-after-instr",
  trimBeforeTimestamp: "--trim-before-timestamp",
  trimAfterTimestamp: "--trim-after-timestamp",
  chunkInstrCount: "--chunk-instr-count",
  onlyThreads: "--only-threads"
}

/** The library's option names in a message, as the command's flags (`trimAfterInstr` → `--trim-after-instr`). */
const flagWords = (message: string): string =>
  Object.entries(optionFlag).reduce((m, [name, flag]) => m.replaceAll(name, flag), message)

const value = (name: string, metavar: string, doc: string) =>
  Flag.String(name).pipe(Flag.withMetavar(metavar), Flag.withDescription(doc), Flag.optional)

/**
 * `memtrace filter`.
 *
 * @category commands
 */
export const filter = Command.make(
  "filter",
  {
    indir: value("indir", "dir", "Trace directory to filter"),
    infile: value("infile", "file", "One trace file to filter"),
    out: Flag.String("out").pipe(Flag.withMetavar("dir"), Flag.withDescription("Output directory (created)")),
    onlyThreads: value("only-threads", "tid[,tid…]", "Keep only the inputs of these threads"),
    trimBeforeInstr: value("trim-before-instr", "n", "Drop each input's first n instructions"),
    trimAfterInstr: value("trim-after-instr", "n", "Drop each input's instructions from the n-th (0-based) on"),
    trimBeforeTimestamp: value("trim-before-timestamp", "t", "Drop what comes before the first time stamp ≥ t"),
    trimAfterTimestamp: value("trim-after-timestamp", "t", "Drop from the first time stamp > t on"),
    dropEncodings: Flag.Boolean("drop-encodings").pipe(
      Flag.withDescription("Remove instruction encodings (and the ENCODINGS file type bit)"),
      Flag.withDefault(false)
    ),
    format: value("format", "zip|gz|zst|raw", "Output container (default: the input's; zip for .sz/.lz4)"),
    chunkInstrCount: value("chunk-instr-count", "n", "Instructions per zip chunk (default: the input's)")
  },
  (flags) =>
    Effect.gen(function* () {
      if (Option.isSome(flags.indir) === Option.isSome(flags.infile)) {
        return yield* usageError("MissingInput", "give one of --indir or --infile", "--indir")
      }
      const input = Option.isSome(flags.indir) ? flags.indir.value : Option.getOrThrow(flags.infile)
      let format: Filter.Format | undefined
      if (Option.isSome(flags.format)) {
        const f = flags.format.value as Filter.Format
        if (!FORMATS.includes(f)) return yield* invalid("--format", flags.format.value, FORMATS.join(", "))
        format = f
      }
      let onlyThreads: Array<number> | undefined
      if (Option.isSome(flags.onlyThreads)) {
        onlyThreads = []
        for (const part of flags.onlyThreads.value.split(/[,:]/)) {
          const t = part.trim()
          const tid = /^\d+$/.test(t) ? Number(t) : Number.NaN
          if (!Number.isSafeInteger(tid)) return yield* invalid("--only-threads", part, "a thread id")
          onlyThreads.push(tid)
        }
      }
      const options: Filter.Options = {
        onlyThreads,
        trimBeforeInstr: yield* count(flags.trimBeforeInstr, "--trim-before-instr"),
        trimAfterInstr: yield* count(flags.trimAfterInstr, "--trim-after-instr"),
        trimBeforeTimestamp: yield* timestamp(flags.trimBeforeTimestamp, "--trim-before-timestamp"),
        trimAfterTimestamp: yield* timestamp(flags.trimAfterTimestamp, "--trim-after-timestamp"),
        dropEncodings: flags.dropEncodings,
        format,
        chunkInstrCount: yield* count(flags.chunkInstrCount, "--chunk-instr-count")
      }
      const summary = yield* Filter.run(input, flags.out, options).pipe(
        Effect.mapError((e): Filter.FilterError | TraceError | TraceWriter.TraceWriterError | UsageError =>
          e._tag === "FilterError" && e.reason === "InvalidOptions"
            ? usageError("Conflict", flagWords(e.detail), optionFlag[e.option ?? ""])
            : e
        )
      )
      for (const f of summary.files) {
        yield* Console.log(`${f.path}: ${f.entriesOut} entries, ${f.instructions} instructions, ${f.bytes} bytes`)
      }
      for (const source of summary.dropped) {
        yield* Console.log(`${source}: no instruction left, not written (as DynamoRIO's record_filter)`)
      }
      if (summary.skipped.length > 0) yield* Console.log(`${summary.skipped.length} inputs of other threads skipped`)
    })
).pipe(
  Command.withDescription(
    "Write a filtered copy of a trace (DynamoRIO's record_filter): threads, instruction or timestamp window, encodings, container"
  ),
  Command.withExamples([
    {
      command: "memtrace filter --indir trace.dir --out first-million --trim-after-instr 1000000 --format gz",
      description: "Keep each thread's first million instructions, as gzip files"
    }
  ])
)

/**
 * `memtrace replicate`.
 *
 * @category commands
 */
export const replicate = Command.make(
  "replicate",
  {
    src: Argument.String("src").pipe(Argument.withDescription("Trace directory to copy")),
    dst: Argument.String("dst").pipe(Argument.withDescription("Output directory (created)")),
    copies: Flag.Int("copies").pipe(Flag.withDescription("Copies of every input (each a new process)"))
  },
  ({ copies, dst, src }) =>
    Effect.gen(function* () {
      if (copies < 1 || copies > TraceWriter.MAX_REPLICAS) {
        return yield* usageError(
          "OutOfRange",
          `Option --copies value out of range (1 to ${TraceWriter.MAX_REPLICAS})`,
          "--copies"
        )
      }
      const s = yield* TraceWriter.replicate(src, dst, copies)
      yield* Console.log(
        `${s.files.length} files (${s.inputs} inputs × ${s.copies}), ${s.entries} entries, ${s.bytes} bytes`
      )
    })
).pipe(Command.withDescription("Multiply a trace: every input written N times under new thread and process ids"))
