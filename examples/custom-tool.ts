/**
 * Runs two custom tools from an Effect program:
 * - instruction_mix (parallel, one shard per thread) on fibers, then on
 *   worker threads: the same numbers either way;
 * - switch_counter (serial-only) over the timestamp-interleaved stream,
 *   checked against the schedule the analyzer recorded.
 *
 *   npx node examples/custom-tool.ts [trace-dir]
 */
import { Effect } from "effect"
import { Analyzer } from "memtrace"
import * as InstructionMix from "./tools/InstructionMix.ts"
import * as SwitchCounter from "./tools/SwitchCounter.ts"

const trace = process.argv[2] ?? "examples/traces/threadsig"

const program = Effect.gen(function* () {
  // Thread-sharded on fibers (the default backend), two workers.
  const onFibers = yield* Analyzer.run(trace, { tools: [InstructionMix.make()], jobs: 2 })
  console.log(`${onFibers.mode} on fibers, ${onFibers.workers} workers:`)
  console.log(Analyzer.formatText(onFibers))

  // The same tool on worker threads: it carries a spec, so each thread rebuilds it.
  const onThreads = yield* Analyzer.run(trace, { tools: [InstructionMix.make()], jobs: 2, backend: "threads" })
  const same = onThreads.tools[0]!.text === onFibers.tools[0]!.text
  console.log(`worker threads: ${onThreads.workers} threads, same results: ${same}`)

  // A serial tool: one shard over the interleaved stream of every thread.
  const serial = yield* Analyzer.run(trace, { tools: [SwitchCounter.make()], recordSchedule: true })
  const counted = serial.tools[0]!.result as SwitchCounter.Result
  const runs = serial.schedule![0]!.runs.length
  console.log(`\n${serial.mode}:`)
  console.log(Analyzer.formatText(serial))
  console.log(`recorded schedule: ${runs} runs, so ${runs - 1} switches; tool counted ${counted.switches}`)
})

Effect.runPromise(program).catch((e) => {
  console.error(e)
  process.exit(1)
})
