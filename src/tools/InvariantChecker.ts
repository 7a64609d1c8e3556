/**
 * DynamoRIO's `invariant_checker` tool: checks that a trace obeys the rules
 * of the drmemtrace format and prints `Trace invariant checks passed`, or
 * each violation in DynamoRIO's words with where it happened, then
 * `Found N invariant errors`.
 *
 * **When to use**: to validate a trace (a new tracer, a filtered or
 * rewritten trace, a scheduler's output in core-sharded runs) before trusting
 * other tools' results.
 *
 * **Details**
 * - The checks that need no disassembler, in DynamoRIO's order: thread exit
 *   present; timestamps non-decreasing; header markers (cache line, page
 *   size, chunk instruction count, version, file type) present and equal to
 *   what the input first said; stream record and instruction ordinals;
 *   chunk footers every `chunk_instr_count` instructions, numbered in
 *   sequence; branch info (version ≥ 5): no CONDITIONAL_JUMP, indirect
 *   branches carry targets, others none; control flow: a PC that neither
 *   falls through nor follows an untaken or indirect branch's target needs a
 *   kernel event marker; signal and interrupt contexts (handler return
 *   points, pairing); rseq regions; SYSCALL markers preceded by timestamp +
 *   cpuid (version ≥ 6), MAYBE_BLOCKING after SYSCALL; kernel syscall and
 *   context-switch traces (nesting, numbers, ending in an indirect branch,
 *   templates); function markers; physical/virtual address pairs; file type
 *   against content (syscall numbers, blocking syscalls, whole-system,
 *   filter endpoints, REGDEPS restrictions).
 * - `serialSchedule` (the trace directory's `serial_schedule.bin[.gz]`):
 *   the trace's timestamp/cpu transitions must match the file's
 *   (thread-sharded and serial runs).
 * - A violation line: `Trace invariant failure in T<tid>` (`in core <n>` in
 *   core-sharded runs) `at ref # <record ordinal> at instruction #
 *   <instruction ordinal> (<n> instrs since timestamp <ts>): <what>`, with
 *   the input's ordinals (the output's in core-sharded runs).
 *
 * **Gotchas**
 * - Without a disassembler, a direct branch's target, the syscall
 *   instruction before a SYSCALL marker, and read/write counts per
 *   instruction are not checked; a discontinuity DynamoRIO would name an
 *   rseq side exit or a duplicate syscall is reported as non-explicit
 *   control flow.
 * - DynamoRIO aborts at the first violation by default; this tool lists them
 *   all (up to `maxReported` per shard, the count stays exact) unless
 *   `abortOnInvariantError`, which fails the shard at the first one. The
 *   command line follows DynamoRIO (`-abort_on_invariant_error`, on by
 *   default).
 * - The file type the checks compare content with is the stream's (the
 *   reader's, `RecordBatch.filetype`) when no FILETYPE marker comes first,
 *   as after a skip. On a serial stream, ordinals are checked only until a
 *   second shard starts (`ShardInfo.serialShards`), as in DynamoRIO.
 * - DynamoRIO's stream header values follow the latest marker, so its
 *   "Stream interface … != trace marker" checks only catch reader bugs; here
 *   a header marker that contradicts the input's first one is reported.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Tool from "../analyzer/Tool.ts"
import { type CheckerOptions, ShardChecker } from "./internal/invariants/checker.ts"
import { checkSerialSchedule, shardEntries } from "./internal/invariants/schedule.ts"
import { type Input, withDefaults } from "./internal/options.ts"
import { SubShards } from "./internal/shards.ts"

/**
 * Options.
 *
 * @category models
 */
export interface Options {
  /** Path of the tracer's serial schedule file to compare with the trace; "" for none. */
  readonly serialSchedule: string
  /** Records were skipped or the run was cut short (skip/exit-after options): no missing-exit check. */
  readonly traceIncomplete: boolean
  /** Fail the shard at its first violation (DynamoRIO's default `-abort_on_invariant_error`). */
  readonly abortOnInvariantError: boolean
  /** Violations kept per shard for printing (all are counted). */
  readonly maxReported: number
}

/** @category defaults */
export const defaults: Options = {
  serialSchedule: "",
  traceIncomplete: false,
  abortOnInvariantError: false,
  maxReported: 1000
}

/**
 * One violation, as DynamoRIO reports it.
 *
 * @category schemas
 */
export const Violation = Schema.Struct({
  where: Schema.Literals(["T", "core"]),
  /** Thread id (`T`) or core shard (`core`). */
  id: Schema.Number,
  /** Record ordinal of the stream (1-based). */
  ref: Schema.Number,
  instr: Schema.Number,
  sinceTimestamp: Schema.Number,
  /** Decimal u64. */
  lastTimestamp: Schema.String,
  name: Schema.String
})

/** @category models */
export type Violation = typeof Violation.Type

/**
 * What one shard found.
 *
 * @category schemas
 */
export const ShardResult = Schema.Struct({
  shardIndex: Schema.Number,
  violations: Schema.Array(Violation),
  violationCount: Schema.Number,
  /** Schedule entries at CPU_ID markers: (tid, timestamp hi, lo, cpu hi, lo, instructions) per entry. */
  sched: Schema.Array(Schema.Number),
  regdeps: Schema.Boolean
})

/** @category models */
export type ShardResult = typeof ShardResult.Type

/**
 * The merged result: every violation, shard by shard, then those of the
 * whole-trace checks.
 *
 * @category schemas
 */
export const Result = Schema.Struct({
  violations: Schema.Array(Violation),
  /** All violations, including those not kept. */
  count: Schema.Number,
  regdeps: Schema.Boolean,
  /** Shards that failed under `failure: "continue"`: their records were not all checked. */
  failedShards: Schema.optional(Schema.Number)
})

/** @category models */
export type Result = typeof Result.Type

/**
 * The first violation of a shard, under `abortOnInvariantError`.
 *
 * @category errors
 */
export class InvariantViolation extends Schema.TaggedError<InvariantViolation>()("InvariantViolation", {
  reason: Schema.String,
  shardIndex: Schema.Number,
  violation: Violation
}) {}

/** DynamoRIO's line for one violation. @category formatting */
export const formatViolation = (v: Violation): string =>
  `Trace invariant failure in ${v.where === "core" ? "core " : "T"}${v.id} at ref # ${v.ref} at instruction # ${
    v.instr
  } (${v.sinceTimestamp} instrs since timestamp ${v.lastTimestamp}): ${v.name}`

/** @category models */
export interface State {
  readonly info: Tool.ShardInfo
  readonly subs: SubShards<ShardChecker>
}

const print = (r: Result): string => {
  const out: Array<string> = r.violations.map(formatViolation)
  if (r.count > r.violations.length) out.push(`... ${r.count - r.violations.length} more not listed`)
  const failed = r.failedShards ?? 0
  out.push(
    r.count > 0
      ? `Found ${r.count} invariant errors`
      : failed > 0
        ? `Trace invariant checks incomplete: ${failed} shard${failed === 1 ? "" : "s"} failed (see the errors)`
        : "Trace invariant checks passed"
  )
  if (r.regdeps) {
    out.push(
      "WARNING: invariant_checker is being run on an OFFLINE_FILE_TYPE_ARCH_REGDEPS trace.",
      "Some invariant checks have been disabled."
    )
  }
  return out.join("\n") + "\n"
}

/**
 * Builds the tool.
 *
 * @category constructors
 */
export const make = (options?: Input<Options>): Tool.Tool<State, ShardResult, Result, InvariantViolation> => {
  const o = withDefaults(defaults, options)
  if (!Number.isInteger(o.maxReported) || o.maxReported < 0) {
    throw new RangeError(`invariant_checker: maxReported must be a non-negative integer, got ${o.maxReported}`)
  }
  const violationError = (c: ShardChecker) => {
    const v = c.violations[0]!
    return new InvariantViolation({ reason: v.name, shardIndex: c.opts.shardIndex, violation: v })
  }
  return Tool.make({
    name: "invariant_checker",
    makeShard: (info): State => ({
      info,
      subs: new SubShards(info, (origin) => {
        const opts: CheckerOptions = {
          coreSharded: info.shardType === "core",
          shardIndex: origin.shardIndex,
          traceIncomplete: o.traceIncomplete,
          // In abort mode the first violation is the error: keep it.
          maxReported: o.abortOnInvariantError ? Math.max(1, o.maxReported) : o.maxReported,
          abortOnError: o.abortOnInvariantError,
          ordinalChecks: info.serialShards === undefined ? undefined : () => info.serialShards!() <= 1
        }
        return new ShardChecker(opts)
      })
    }),
    processBatch: (state, batch, start, end, ctx) => {
      const c = state.subs.get(ctx)
      const at = c.process(batch, start, end, ctx)
      return at < 0 ? undefined : Tool.fail(violationError(c), at)
    },
    finishShard: (state) => {
      const all = state.subs.all()
      for (const c of all) {
        c.finish()
        if (c.aborted) return Tool.fail(violationError(c), -1)
      }
      // One analyzer shard is one checker unless a serial-only caller merged shards.
      return {
        shardIndex: state.info.shardIndex,
        violations: all.flatMap((c) => c.violations),
        violationCount: all.reduce((n, c) => n + c.violationCount, 0),
        sched: all.flatMap((c) => c.sched),
        regdeps: all.some((c) => c.regdeps)
      }
    },
    merge: (shards, context) => {
      const results = shards.map((s) => s.result)
      const violations: Array<Violation> = results.flatMap((r) => r.violations)
      let count = results.reduce((n, r) => n + r.violationCount, 0)
      const isCore = shards.some((s) => s.shardType === "core")
      if (o.serialSchedule !== "") {
        const global = checkSerialSchedule(
          o.serialSchedule,
          results.flatMap((r) => shardEntries(r.sched)),
          isCore
        )
        violations.push(...global)
        count += global.length
      }
      const failedShards = context?.failedShards ?? 0
      return { violations, count, regdeps: results[0]?.regdeps ?? false, ...(failedShards > 0 ? { failedShards } : {}) }
    },
    print,
    shardResultSchema: ShardResult,
    resultSchema: Result,
    describeError: (e) => `invariant_checker: ${formatViolation(e.violation)}`
  })
}

/**
 * The invariant_checker tool with default options.
 *
 * @category tools
 */
export const invariantChecker = make()
