/**
 * A tiny multi-core simulator driven by the scheduler directly, without the
 * analyzer: DynamoRIO's dynamic scheduler places the threads of a trace onto
 * N simulated cores, and each core counts what it ran — instructions,
 * memory references, idle and wait steps, context switches — as a core
 * simulator would before modelling caches or pipelines.
 *
 *   npx node examples/mini-simulator.ts [trace-dir] [cores]
 *
 * One fiber walks the cores round-robin, one scheduler step each; a
 * simulator with shared state (a shared cache) would pass `maxRecords: 1`
 * to step every core one record at a time instead.
 */
import { Effect } from "effect"
import { Record, Scheduler, Trace } from "memtrace"

const trace = process.argv[2] ?? "examples/traces/threadsig"
const cores = Number(process.argv[3] ?? 4)

interface Core {
  instructions: number
  memrefs: number
  idles: number
  waits: number
  /** Context switches seen from the core: input to input, input to idle, idle to input. */
  inputToInput: number
  inputToIdle: number
  idleToInput: number
  /** -1 before the first step; -2 while idle. */
  current: number
  ran: Set<number>
  done: boolean
}

const program = Effect.scoped(
  Effect.gen(function* () {
    const inputs = yield* Trace.open(trace)
    // DynamoRIO's core-sharded set-up: dynamic mapping, threads ordered by their timestamps;
    // -sched_block_scale 0.01 (as DynamoRIO's own recorded threadsig schedule) shortens blocked time.
    const scheduler = yield* Scheduler.make(inputs, cores, {
      mapping: "dynamic",
      deps: "timestamps",
      blockTimeMultiplier: 0.01
    })
    const state: Array<Core> = Array.from({ length: cores }, () => ({
      instructions: 0,
      memrefs: 0,
      idles: 0,
      waits: 0,
      inputToInput: 0,
      inputToIdle: 0,
      idleToInput: 0,
      current: -1,
      ran: new Set<number>(),
      done: false
    }))
    let live = cores
    while (live > 0) {
      for (let o = 0; o < cores; o++) {
        const core = state[o]!
        if (core.done) continue
        // An idle core makes one idle decision per time unit, millions with DynamoRIO's
        // block times: take them up to 10,000 at a time (an Idle step's count).
        const step = yield* scheduler.next(o, { maxIdles: 10_000 })
        switch (step._tag) {
          case "Records": {
            if (core.current === -2) core.idleToInput++
            else if (core.current >= 0 && core.current !== step.input) core.inputToInput++
            core.current = step.input
            core.ran.add(step.input)
            // The per-record loop: typed arrays only.
            const type = step.batch.type
            for (let i = step.start; i < step.end; i++) {
              const t = type[i]!
              if (Record.isInstr(t)) core.instructions++
              else if (Record.isData(t)) core.memrefs++
            }
            break
          }
          case "Idle":
            if (core.current >= 0) core.inputToIdle++
            core.current = -2
            core.idles += step.count
            break
          case "Wait":
            core.waits++
            break
          case "Eof":
            core.done = true
            live--
            break
        }
      }
    }
    let total = 0
    for (const [o, c] of state.entries()) {
      const s = scheduler.stats(o)
      const busy = (100 * c.instructions) / (c.instructions + c.idles)
      console.log(
        `core ${o}: ${c.instructions} instructions, ${c.memrefs} memrefs, ${c.idles} idle, ${c.waits} wait, ` +
          `${busy.toFixed(1)}% busy; threads ${[...c.ran].sort((a, b) => a - b).join(",")}`
      )
      console.log(
        `  switches seen: ${c.inputToInput} input-input, ${c.inputToIdle} input-idle, ${c.idleToInput} idle-input; ` +
          `scheduler says: ${s.switchInputToInput}, ${s.switchInputToIdle}, ${s.switchIdleToInput}; ` +
          `${s.runqueueSteals} steals, ${s.migrations} migrations, ${s.runqueueRebalances} rebalances`
      )
      total += c.instructions
    }
    console.log(`total instructions: ${total} on ${cores} cores, ${inputs.length} threads`)
  })
)

Effect.runPromise(program).catch((e) => {
  console.error(e)
  process.exit(1)
})
