/**
 * Golden schedule strings, DynamoRIO's `run_lockstep_simulation`
 * (clients/drcachesim/tests/scheduler_unit_tests.cpp): the outputs are polled
 * round-robin, one record each per round, and every output gets a string with
 * one character per poll:
 * - an upper-case letter for an instruction: `A` + (tid − tidBase), the
 *   workload tag (bits 48 and up) ignored;
 * - `.` for any other record (markers, data, thread exit);
 * - `_` for IDLE, `-` for WAIT.
 * An output stops being polled at EOF. With `sendTime`, the time passed is the
 * output's instruction ordinal + 1 + the count of idle and wait results so
 * far (all outputs), like DynamoRIO's test. The same letter on two outputs in
 * one round means one input ran on two outputs at once: that throws.
 */
import { TraceType } from "../../src/trace/Record.ts"
import type { RecordBatch } from "../../src/trace/RecordBatch.ts"

/** One poll's outcome, as the renderer needs it. */
export type Polled =
  | { readonly _tag: "Records"; readonly batch: RecordBatch; readonly start: number; readonly end: number }
  | { readonly _tag: "Idle" }
  | { readonly _tag: "Wait" }
  | { readonly _tag: "Eof" }

/** What the renderer drives: one record per call. */
export interface Lockstep {
  /** The next single record (or status) of `output`; `now` is 0 unless `sendTime`. */
  readonly next: (output: number, now: number) => Polled
  /** The output's instruction ordinal (for `sendTime`). */
  readonly instrOrdinal: (output: number) => number
}

export interface LockstepOptions {
  readonly tidBase: number
  readonly sendTime?: boolean
  /** Keep the `.` characters (default true). */
  readonly printMarkers?: boolean
  /** Fail after this many rounds (a hang guard; default 100,000). */
  readonly maxRounds?: number
}

const WORKLOAD_SHIFT = 2 ** 48
const isInstr = (t: number): boolean =>
  (t >= TraceType.INSTR && t <= TraceType.INSTR_RETURN) ||
  t === TraceType.INSTR_SYSENTER ||
  t === TraceType.INSTR_TAKEN_JUMP ||
  t === TraceType.INSTR_UNTAKEN_JUMP

export const lockstep = (driver: Lockstep, outputCount: number, options: LockstepOptions): Array<string> => {
  const strings: Array<Array<string>> = Array.from({ length: outputCount }, () => [])
  const eof = new Array<boolean>(outputCount).fill(false)
  let eofCount = 0
  let metaRecords = 0
  let rounds = 0
  const maxRounds = options.maxRounds ?? 100_000
  while (eofCount < outputCount) {
    if (++rounds > maxRounds) throw new Error(`lockstep: no EOF after ${maxRounds} rounds`)
    for (let o = 0; o < outputCount; o++) {
      if (eof[o]) continue
      const now = options.sendTime ? driver.instrOrdinal(o) + 1 + metaRecords : 0
      const s = driver.next(o, now)
      switch (s._tag) {
        case "Eof":
          eof[o] = true
          eofCount++
          break
        case "Wait":
          strings[o]!.push("-")
          metaRecords++
          break
        case "Idle":
          strings[o]!.push("_")
          metaRecords++
          break
        case "Records": {
          if (s.end - s.start !== 1) throw new Error(`lockstep: expected one record, got ${s.end - s.start}`)
          const type = s.batch.type[s.start]!
          if (isInstr(type)) {
            const tid = s.batch.tid[s.start]! % WORKLOAD_SHIFT
            strings[o]!.push(String.fromCharCode(65 + tid - options.tidBase))
          } else {
            strings[o]!.push(".")
          }
          break
        }
      }
    }
  }
  const longest = Math.max(0, ...strings.map((s) => s.length))
  for (let step = 0; step < longest; step++) {
    const seen = new Set<string>()
    for (let o = 0; o < outputCount; o++) {
      const c = strings[o]![step]
      if (c === undefined || c < "A" || c > "Z") continue
      if (seen.has(c)) throw new Error(`lockstep: input ${c} on two outputs at step ${step}`)
      seen.add(c)
    }
  }
  return strings.map((s) => (options.printMarkers === false ? s.filter((c) => c !== ".") : s).join(""))
}
