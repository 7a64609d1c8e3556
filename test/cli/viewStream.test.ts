/**
 * The CLI's view prints its listing while the run goes on, as DynamoRIO's
 * view does, instead of holding it whole (hundreds of megabytes on a large
 * trace) until the end; the bytes printed are the listing the tool gives.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Cli from "../../src/cli/Cli.ts"
import * as View from "../../src/tools/View.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

/** Runs the CLI in-process; every print to stdout, as printed. */
const prints = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const logs: Array<string> = []
    const console: Console.Console = Object.assign(Object.create(globalThis.console), {
      log: (...args: ReadonlyArray<unknown>) => void logs.push(args.join(" ")),
      error: () => {}
    })
    const code = yield* Cli.run(argv).pipe(
      Effect.provideService(Console.Console, console),
      Effect.provide(NodeServices.layer)
    )
    return { code, logs }
  })

describe("memtrace view prints as it reads", () => {
  it.live("the listing comes in many prints of whole lines, and adds up to the tool's listing", () =>
    Effect.gen(function* () {
      const { code, logs } = yield* prints(["view", THREADSIG, "--exit-after-records", "300000"])
      assert.strictEqual(code, 0)
      const whole = yield* Analyzer.run(THREADSIG, { tools: [View.make()], encodings: true, exitAfterRecords: 300_000 })
      const expected = Analyzer.formatText(whole)
      // About 100 bytes a record: a print per batch or so, none holding much of the listing.
      assert.isAbove(logs.length, 100)
      assert.isBelow(Math.max(...logs.map((l) => l.length)), expected.length / 20)
      assert.strictEqual(`${logs.join("\n")}\n`, expected)
    })
  )

  it.live("--json keeps the listing in the result", () =>
    Effect.gen(function* () {
      const { code, logs } = yield* prints([
        "analyze",
        "--indir",
        THREADSIG,
        "--tool",
        "view",
        "--exit-after-records",
        "1000",
        "--json"
      ])
      assert.strictEqual(code, 0)
      assert.strictEqual(logs.length, 1)
      const json = JSON.parse(logs[0]!) as { tools: ReadonlyArray<{ result: { text: string; instructions: number } }> }
      const whole = yield* Analyzer.run(THREADSIG, { tools: [View.make()], encodings: true, exitAfterRecords: 1000 })
      assert.deepStrictEqual(json.tools[0]!.result, whole.tools[0]!.result)
      assert.isTrue(json.tools[0]!.result.text.startsWith(View.header))
    })
  )
})
