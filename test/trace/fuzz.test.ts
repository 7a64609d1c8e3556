/**
 * Seeded corruptions of the shipped traces: every read must end, within a
 * bound, in success or a TraceError naming the file — never an untyped
 * exception, a crash or a hang. FUZZ_RUNS sets the number of cases (default
 * 300); FUZZ_SEED replays a run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import fc from "fast-check"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Trace from "../../src/trace/Trace.ts"
import type { TraceError } from "../../src/trace/TraceError.ts"

const TRACES = "../shared/traces"
const FILES = [
  "drmemtrace.small.x64.trace",
  "drmemtrace.allasm_x86_64.trace.zip",
  "drmemtrace.threadsig.x64.tracedir/drmemtrace.threadsig.872906.1041.trace.zip",
  "drmemtrace.threadsig.x64.tracedir/drmemtrace.threadsig.872805.4975.trace.zip",
  "mock_syscall_sequences.x64"
]
const RUNS = Number(process.env.FUZZ_RUNS ?? 300)
const SEED = Number(process.env.FUZZ_SEED ?? 20261126)

const readEverything = (path: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      let records = 0
      for (const input of yield* Trace.open(path)) {
        for (let b = yield* input.next; b !== undefined; b = yield* input.next) records += RecordBatch.length(b)
      }
      return records
    })
  )

describe("reader fuzzing", () => {
  const dir = mkdtempSync(join(tmpdir(), "memtrace-fuzz-"))
  const originals = FILES.map((f) => ({ name: f.slice(f.lastIndexOf("/") + 1), bytes: readFileSync(`${TRACES}/${f}`) }))

  const corruption = fc.record({
    file: fc.nat({ max: originals.length - 1 }),
    kind: fc.constantFrom("flip", "truncate", "flip+truncate", "zero-run"),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    flips: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 255 })), {
      minLength: 1,
      maxLength: 8
    })
  })

  it.live(
    `${RUNS} seeded corruptions end in success or a typed TraceError, within a bound`,
    () =>
      Effect.gen(function* () {
        const outcomes = { ok: 0, typed: 0 }
        const cases = fc.sample(corruption, { numRuns: RUNS, seed: SEED })
        for (const [n, c] of cases.entries()) {
          const original = originals[c.file]!
          const bytes = Uint8Array.from(original.bytes)
          let length = bytes.length
          if (c.kind !== "truncate") {
            for (const [pos, xor] of c.flips) {
              const i = Math.floor(pos * bytes.length)
              if (c.kind === "zero-run") bytes.fill(0, i, Math.min(bytes.length, i + xor))
              else bytes[i]! ^= xor
            }
          }
          if (c.kind === "truncate" || c.kind === "flip+truncate") length = Math.floor(c.at * bytes.length)
          const path = join(dir, `${n}.${original.name}`)
          writeFileSync(path, bytes.subarray(0, length))
          const exit = yield* Effect.exit(readEverything(path).pipe(Effect.timeout("20 seconds")))
          rmSync(path)
          if (Exit.isSuccess(exit)) {
            outcomes.ok++
            continue
          }
          const error = Cause.findErrorOption(exit.cause)
          assert.isTrue(
            error._tag === "Some" && (error.value as { _tag?: string })._tag === "TraceError",
            `case ${n} (${c.kind} of ${original.name}, seed ${SEED}) ended with ${Cause.pretty(exit.cause)}`
          )
          const e = error._tag === "Some" ? (error.value as TraceError) : undefined
          assert.include(e?.path ?? "", original.name)
          outcomes.typed++
        }
        assert.strictEqual(outcomes.ok + outcomes.typed, RUNS)
        // The corruptions are not all harmless: most must be detected.
        assert.isAbove(outcomes.typed, RUNS / 2)
      }).pipe(Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true })))),
    300_000
  )
})
