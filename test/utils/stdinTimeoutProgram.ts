/**
 * A library program (no process.exit) that analyzes standard input with a
 * one-second run timeout and prints how the run ended: the process must then
 * exit by itself, whatever standard input is (interrupt.test.ts).
 */
import * as Effect from "effect/Effect"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import * as Registry from "../../src/tools/Registry.ts"
import * as Trace from "../../src/trace/Trace.ts"

const exit = await Effect.runPromiseExit(
  Effect.gen(function* () {
    const tool = yield* Registry.make("basic_counts")
    return yield* Analyzer.run(Trace.STDIN, { tools: [tool], runTimeout: "1 second" })
  })
)
console.log(exit._tag === "Failure" ? String(exit.cause) : "success")
