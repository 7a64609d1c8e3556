import { Writable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Progress from "../../src/cli/Progress.ts"

/** A writable that says it is a terminal and keeps what is written. */
const fakeStream = (isTTY: boolean) => {
  const chunks: Array<string> = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk))
      done()
    }
  }) as Writable & { isTTY: boolean; columns: number }
  stream.isTTY = isTTY
  stream.columns = 160
  return { stream, text: () => chunks.join("") }
}

const snapshot: Progress.Snapshot = {
  records: 928_110,
  instructions: 650_576,
  inputsDone: 3,
  inputsTotal: 9,
  bytesRead: 300 * 1024,
  bytesTotal: 643_514
}

describe("Progress", () => {
  it("draws only on a terminal, without --quiet, outside CI", () => {
    assert.isTrue(Progress.isEnabled({ quiet: false, isTTY: true, env: {} }))
    assert.isFalse(Progress.isEnabled({ quiet: true, isTTY: true, env: {} }))
    assert.isFalse(Progress.isEnabled({ quiet: false, isTTY: false, env: {} }))
    assert.isFalse(Progress.isEnabled({ quiet: false, isTTY: undefined, env: {} }))
    assert.isFalse(Progress.isEnabled({ quiet: false, isTTY: true, env: { CI: "true" } }))
  })

  it("rounds counts to three significant digits before choosing the unit", () => {
    const records = (n: number) => Progress.describe({ records: n, instructions: 0, inputsDone: 0, inputsTotal: 1 })
    const cases: ReadonlyArray<readonly [number, string]> = [
      [9_999, "9999"],
      [10_000, "10.0K"],
      [99_999, "100K"],
      [999_499, "999K"],
      [999_999, "1.00M"],
      [1_234_567, "1.23M"],
      [9_999_999, "10.0M"],
      [99_999_999, "100M"],
      [999_999_999, "1.00G"],
      [2 ** 50, "1126T"]
    ]
    for (const [n, text] of cases) assert.strictEqual(records(n), `${text} records | inputs 0/1`, String(n))
  })

  it("describes records, instructions, inputs and bytes", () => {
    assert.strictEqual(Progress.describe(snapshot), "928K records | 651K instrs | inputs 3/9 | 300.0 KiB/628.4 KiB")
    assert.strictEqual(
      Progress.describe({ records: 12, instructions: 5, inputsDone: 0, inputsTotal: 1 }),
      "12 records | 5 instrs | inputs 0/1"
    )
    assert.strictEqual(
      Progress.describe({ records: 12, instructions: 0, inputsDone: 0, inputsTotal: 1 }),
      "12 records | inputs 0/1"
    )
  })

  it.effect("draws the bar on a terminal and erases it when the scope closes", () =>
    Effect.gen(function* () {
      const out = fakeStream(true)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const reporter = yield* Progress.make({ enabled: true, stream: out.stream })
          // Half of the bytes read.
          reporter.update({ ...snapshot, bytesRead: 321_757, bytesTotal: 643_514 })
          assert.include(out.text(), "928K records | 651K instrs | inputs 3/9")
          assert.include(out.text(), " 50% |")
        })
      )
      // cli-progress erases the line on stop (clearOnComplete): ESC[2K after the last frame.
      assert.isTrue(out.text().endsWith("\u001b[2K"))
    })
  )

  it.effect("writes nothing when disabled or not on a terminal", () =>
    Effect.gen(function* () {
      const off = fakeStream(true)
      const pipe = fakeStream(false)
      yield* Effect.scoped(
        Effect.gen(function* () {
          ;(yield* Progress.make({ enabled: false, stream: off.stream })).update(snapshot)
          ;(yield* Progress.make({ enabled: true, stream: pipe.stream })).update(snapshot)
        })
      )
      assert.strictEqual(off.text(), "")
      assert.strictEqual(pipe.text(), "")
    })
  )

  it.effect("consumes a stream of snapshots", () =>
    Effect.gen(function* () {
      const seen: Array<number> = []
      yield* Progress.consume(Stream.fromIterable([1, 2, 3].map((n) => ({ ...snapshot, records: n }))), {
        update: (s) => seen.push(s.records)
      })
      assert.deepStrictEqual(seen, [1, 2, 3])
    })
  )
})
