/**
 * A run that survives a failing tool, and one that hits its time limit.
 *
 *   npx node examples/fault-tolerant.ts [trace-dir]
 *
 * 1. `failure: "continue"`: one thread's shard fails with a typed error;
 *    the other workers finish every other thread, and the run succeeds with
 *    partial results and the failure, attributed to its worker, shard,
 *    thread, input, tool and record.
 * 2. `runTimeout`: a slow tool cannot finish in time; the run stops its
 *    workers, releases them, and fails with `AnalysisFailed` (reason
 *    "Timeout"), which the program handles like any typed error.
 */
import { Effect } from "effect"
import { Analyzer } from "memtrace"
import * as Picky from "./tools/Picky.ts"

const trace = process.argv[2] ?? "examples/traces/threadsig"
const FAIL_TID = 872884

const program = Effect.gen(function* () {
  const partial = yield* Analyzer.run(trace, {
    tools: [Picky.make({ failTid: FAIL_TID, failRecord: 5000 })],
    jobs: 2,
    failure: "continue",
    runTimeout: "60 seconds"
  })
  console.log(`continue: ${partial.tools[0]!.shards.length} shards finished`)
  console.log(partial.tools[0]!.text.trimEnd())
  for (const f of partial.failures) console.log(`failure: ${f.line}`)
  console.log(`tool error: ${JSON.stringify(partial.failures[0]?.toolError)}`)

  const started = Date.now()
  const timedOut = yield* Analyzer.run(trace, {
    tools: [Picky.make({ slowMs: 20 })],
    jobs: 2,
    runTimeout: "500 millis"
  }).pipe(
    Effect.map(() => "finished (unexpected)"),
    Effect.catchTag("AnalysisFailed", (e) =>
      Effect.succeed(`failed after ${Date.now() - started} ms: ${e.failures.map((f) => f.reason).join(", ")}`)
    )
  )
  console.log(`runTimeout: ${timedOut}`)
})

Effect.runPromise(program).catch((e) => {
  console.error(e)
  process.exit(1)
})
