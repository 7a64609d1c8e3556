/**
 * Record/replay round trip over random workloads: a dynamic run (random
 * options, regions of interest, run lengths, output order, and outputs
 * deactivated and reactivated) is recorded, written and read back as a
 * DynamoRIO record file, and replayed one record at a time; every output
 * must deliver the very same records in the same order.
 *
 * Outputs are deactivated only where their input's next record is an
 * instruction: DynamoRIO's schedule records are instruction ranges, so a
 * deactivation between an instruction and its trailing records cannot be
 * replayed on the same output (the trailing records follow the instruction).
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { Options, Region } from "../../src/scheduler/internal/options.ts"
import { INJECT_NONE, type Step } from "../../src/scheduler/internal/state.ts"
import { encodeRecords, parseRecords, recordedComponentName } from "../../src/trace/internal/scheduleFile.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import { Driver, type Entry, mockThread } from "./fixtures.ts"

interface InputSpec {
  readonly instrs: number
  readonly startTs: number
  readonly events: ReadonlyArray<{
    readonly at: number
    readonly kind: "ts" | "blocking" | "data"
    readonly arg: number
  }>
  readonly region: { readonly start: number; readonly len: number; readonly gap: number } | undefined
}

const inputSpec: fc.Arbitrary<InputSpec> = fc.record({
  instrs: fc.integer({ min: 1, max: 20 }),
  startTs: fc.integer({ min: 1, max: 300 }),
  events: fc.array(
    fc.record({
      at: fc.nat(20),
      kind: fc.constantFrom("ts" as const, "blocking" as const, "data" as const),
      arg: fc.nat(30)
    }),
    { maxLength: 5 }
  ),
  region: fc.option(
    fc.record({ start: fc.integer({ min: 1, max: 6 }), len: fc.nat(5), gap: fc.integer({ min: 1, max: 4 }) }),
    {
      nil: undefined
    }
  )
})

const build = (specs: ReadonlyArray<InputSpec>): Array<Array<Entry>> =>
  specs.map((spec, i) => {
    const tid = 100 + i
    let ts = spec.startTs
    const body: Array<Entry> = [Synthetic.version(7), Synthetic.timestamp(ts), Synthetic.cpu(i)]
    for (let j = 0; j < spec.instrs; j++) {
      body.push(Synthetic.instr(tid * 1000 + j))
      for (const e of spec.events) {
        if (e.at !== j) continue
        if (e.kind === "ts") body.push(Synthetic.timestamp((ts += e.arg + 1)))
        else if (e.kind === "data") body.push(Synthetic.read(0x10000 + e.arg))
        else
          body.push(
            Synthetic.timestamp(ts),
            Synthetic.marker(MarkerType.SYSCALL, 7),
            Synthetic.marker(MarkerType.MAYBE_BLOCKING_SYSCALL),
            Synthetic.timestamp((ts += e.arg * 10))
          )
      }
    }
    body.push(Synthetic.exit(tid))
    return mockThread(tid, body)
  })

/** Two regions inside the input, or none. */
const regionsOf = (spec: InputSpec): Array<Region> => {
  const r = spec.region
  if (r === undefined || r.start > spec.instrs) return []
  const first = { start: r.start, stop: r.start + r.len }
  const secondStart = first.stop + r.gap + 1
  return secondStart <= spec.instrs ? [first, { start: secondStart, stop: 0 }] : [{ start: r.start, stop: 0 }]
}

const options = (inputs: number, outputs: number): fc.Arbitrary<Options> =>
  fc.record({
    mapping: fc.constant("dynamic" as const),
    deps: fc.constantFrom("ignore" as const, "timestamps" as const),
    quantumDurationInstrs: fc.integer({ min: 1, max: 6 }),
    blockingSwitchThreshold: fc.integer({ min: 1, max: 100 }),
    blockTimeMultiplier: fc.constantFrom(0.1, 0.5),
    blockTimeMaxUs: fc.integer({ min: 1, max: 20 }),
    timeUnitsPerUs: fc.constant(1),
    migrationThresholdUs: fc.integer({ min: 0, max: 5 }),
    rebalancePeriodUs: fc.integer({ min: 5, max: 60 }),
    stealAttemptPeriod: fc.integer({ min: 0, max: 4 }),
    randomInitialLayout: fc.integer({ min: -1, max: 50 }),
    exitIfFractionInputsLeft: fc.constant(0),
    inputs: fc.array(
      fc.record({
        priority: fc.integer({ min: 0, max: 1 }),
        binding: fc.array(fc.nat(outputs - 1), { maxLength: 2 })
      }),
      { minLength: inputs, maxLength: inputs }
    )
  })

/**
 * What identifies a delivered record: its input, type and marker kind, and
 * for other records its address (every instruction's PC is unique). Marker
 * values are left out: timestamps are rewritten to each output's own time.
 */
const keyOf = (s: Step & { _tag: "Records" }, i: number): string => {
  const b = s.batch
  const t = b.type[i]!
  return t === TraceType.MARKER ? `${s.input}:m${b.size[i]}` : `${s.input}:${t}@${RecordBatch.addrNumber(b, i)}`
}

describe("schedule record/replay round trip", () => {
  it("a replayed run delivers each output's records exactly as the recorded run did", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((n) =>
          fc.integer({ min: 1, max: 3 }).chain((m) =>
            fc.record({
              specs: fc.array(inputSpec, { minLength: n, maxLength: n }),
              outputs: fc.constant(m),
              opts: options(n, m),
              caller: fc.array(
                fc.record({ output: fc.nat(m - 1), run: fc.integer({ min: 1, max: 8 }), act: fc.nat(9) }),
                {
                  minLength: 50,
                  maxLength: 200
                }
              )
            })
          )
        ),
        ({ specs, outputs, opts, caller }) => {
          const inputs = build(specs)
          const withRegions: Options = {
            ...opts,
            inputs: opts.inputs!.map((o, i) => ({ ...o, regions: regionsOf(specs[i]!) }))
          }
          // Record, with the caller's run lengths, output order and (de)activations.
          const rec = new Driver(inputs, outputs, { ...withRegions, recordSchedule: true }, 16)
          const recorded: Array<Array<string>> = Array.from({ length: outputs }, () => [])
          const done = new Array<boolean>(outputs).fill(false)
          let calls = 0
          let k = 0
          let deactivations = 0
          while (done.some((d) => !d)) {
            if (++calls > 20_000) throw new Error("recording does not end")
            const c = caller[k++ % caller.length]!
            // The caller's choice, interleaved with a round robin so that every output progresses.
            const pick = calls % 2 === 0 ? c.output : calls % outputs
            const o = done[pick] ? done.findIndex((d) => !d) : pick
            const out = rec.core.outputs[o]!
            if (
              c.act === 0 &&
              deactivations < 4 &&
              out.active &&
              rec.core.outputs.some((x, j) => j !== o && x.active && !done[j])
            ) {
              const cur = out.curInput
              const inp = cur >= 0 ? rec.core.inputs[cur]! : undefined
              const next =
                inp !== undefined && inp.injecting === INJECT_NONE && inp.batch !== undefined && inp.pos < inp.len
                  ? inp.batch.type[inp.pos]!
                  : -1
              if (inp === undefined || (next >= 10 && next <= 16) || next === TraceType.INSTR_TAKEN_JUMP) {
                rec.core.setActive(o, false)
                deactivations++
                continue
              }
            }
            if (c.act === 1 && !out.active) rec.core.setActive(o, true)
            // Inputs bound to inactive outputs wait for them: bring every output back now and then.
            if (calls % 50 === 0) for (let j = 0; j < outputs; j++) if (!done[j]) rec.core.setActive(j, true)
            // An inactive output only idles: poll an active one instead.
            let p = o
            for (let j = 0; !rec.core.outputs[p]!.active || done[p]; j++) {
              p = (o + j) % outputs
              if (j > outputs) {
                p = -1
                break
              }
            }
            if (p < 0) {
              rec.core.setActive(o, true)
              continue
            }
            const s = rec.next(p, 0, c.run)
            const o2 = p
            if (s._tag === "Error") throw new Error(`${s.reason}: ${s.detail}`)
            if (s._tag === "Eof") done[o2] = true
            if (s._tag === "Records") for (let i = s.start; i < s.end; i++) recorded[o2]!.push(keyOf(s, i))
          }
          // Through the file format and back.
          const file = new Map(
            rec.core.recordedSchedule().map((r, o) => {
              const back = parseRecords(encodeRecords(r))
              if (typeof back === "string") throw new Error(back)
              return [recordedComponentName(o), back] as const
            })
          )
          // Replay one record at a time, outputs in turn.
          const rep = new Driver(
            inputs,
            outputs,
            { ...withRegions, mapping: "asPreviously", deps: "timestamps", replaySchedule: file },
            16
          )
          const replayed: Array<Array<string>> = Array.from({ length: outputs }, () => [])
          const over = new Array<boolean>(outputs).fill(false)
          for (let round = 0; over.some((d) => !d); round++) {
            if (round > 50_000) throw new Error("replay does not end")
            for (let o = 0; o < outputs; o++) {
              if (over[o]) continue
              const s = rep.next(o, 0, 1)
              if (s._tag === "Error") throw new Error(`${s.reason}: ${s.detail}`)
              if (s._tag === "Eof") over[o] = true
              if (s._tag === "Records") replayed[o]!.push(keyOf(s, s.start))
            }
          }
          assert.deepStrictEqual(replayed, recorded)
        }
      ),
      // ROUNDTRIP_RUNS=5000 for a longer search.
      { numRuns: Number(process.env.ROUNDTRIP_RUNS ?? 150) }
    )
  })
})
