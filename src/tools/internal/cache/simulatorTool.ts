/**
 * What the cache and TLB simulator tools share: the typed error, the tool
 * built around a simulation (core placement, usage errors, early stops,
 * merging per-shard results) and the validating constructor. Each simulator
 * module supplies its simulation, result shape and printer.
 */
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import * as S from "effect/Schema"
import * as Tool from "../../../analyzer/Tool.ts"
import type { RecordBatch } from "../../../trace/RecordBatch.ts"

/**
 * Why a simulator could not be built or could not go on.
 *
 * `detail` is DynamoRIO's error text. For options refused by `make`
 * (`InvalidOptions`) it leaves out DynamoRIO's `Usage error: ` prefix: the
 * reason says as much, and whoever reports it adds the prefix once (the CLI's
 * `ERROR: Usage error: <tool>: <detail>`). The `-cpu_scheduling` refusal,
 * which only shows once a core-sharded run starts and is reported as a shard
 * failure, keeps it.
 *
 * @category errors
 */
export class SimulatorError extends S.TaggedError<SimulatorError>()("SimulatorError", {
  reason: S.Literals(["InvalidOptions", "TooSmallCoreCount", "UnhandledRecordType"]),
  tool: S.String,
  detail: S.String
}) {
  override get message(): string {
    return `${this.tool}: ${this.detail}`
  }
}

/** The face a simulation shows its tool. */
export interface Simulation {
  /** Simulates records `[start, end)` on `core`; -1 when all were consumed, else where it stopped (see `outcome`). */
  run(batch: RecordBatch, start: number, end: number, core: number): number
  /** A whole lockstep span at once, as `run` per record would; -1, or `round × steps + step` where it stopped. */
  runLockstep?(span: Tool.LockstepSpan): number
  readonly outcome: "stop" | "tooSmallCoreCount" | "unhandledType"
  readonly outcomeValue: number
  readonly numCores: number
}

/** A simulator tool's per-shard state. */
export interface State<Sim extends Simulation> {
  readonly sim: Sim
  readonly shardType: Tool.ShardType
}

export const invalidOptions = (tool: string, detail: string) =>
  new SimulatorError({ reason: "InvalidOptions", tool, detail })

/** The signal for a simulation that stopped at record `at` (see `Simulation.outcome`). */
const signalOf = (tool: string, sim: Simulation, at: number): Tool.Signal<SimulatorError> => {
  switch (sim.outcome) {
    case "stop":
      return Tool.stop()
    case "tooSmallCoreCount":
      return Tool.fail(
        new SimulatorError({
          reason: "TooSmallCoreCount",
          tool,
          detail: `Too-small core count ${sim.numCores} for trace core #${sim.outcomeValue}`
        }),
        at
      )
    case "unhandledType":
      return Tool.fail(
        new SimulatorError({
          reason: "UnhandledRecordType",
          tool,
          detail: `Unhandled memref type ${sim.outcomeValue}`
        }),
        at
      )
  }
}

/**
 * The tool around a simulation: serial, preferring core shards, as DynamoRIO's
 * simulators are.
 */
export const simulatorTool = <Sim extends Simulation, R>(spec: {
  readonly name: string
  readonly cpuScheduling: boolean
  /** `outputCpuids`: the run's traced cpu of each output (`ShardInfo.outputCpuids`), when it has them. */
  readonly simulation: (byCore: boolean, outputCpuids: ReadonlyArray<number> | undefined) => Sim
  readonly resultOf: (sim: Sim, shardType: Tool.ShardType, cpuScheduling: boolean) => R
  readonly sum: (a: R, b: R) => R
  readonly print: (result: R) => string
  readonly schema: Schema.Codec<R, any>
}): Tool.Tool<State<Sim>, R, R, SimulatorError> =>
  Tool.make<State<Sim>, R, R, SimulatorError>({
    name: spec.name,
    parallel: false,
    preferredShardType: "core",
    initializeShardType: (shardType) =>
      shardType === "core" && spec.cpuScheduling
        ? invalidOptions(
            spec.name,
            "Usage error: -cpu_scheduling not supported with -core_serial; use -cpu_schedule_file with -core_serial instead"
          )
        : undefined,
    makeShard: (info) => ({
      sim: spec.simulation(info.shardType === "core", info.outputCpuids),
      shardType: info.shardType
    }),
    processBatch: (state, batch, start, end, ctx) => {
      const at = state.sim.run(batch, start, end, ctx.output)
      return at < 0 ? undefined : signalOf(spec.name, state.sim, at)
    },
    processLockstep: (state, span) => {
      const sim = state.sim
      if (sim.runLockstep !== undefined) {
        const stopped = sim.runLockstep(span)
        if (stopped < 0) return undefined
        span.stoppedAt = stopped
        const step = stopped % span.steps
        return signalOf(spec.name, sim, span.starts[step]! + (stopped - step) / span.steps)
      }
      const { batches, starts, outputs, steps, rounds } = span
      for (let i = 0; i < rounds; i++) {
        for (let j = 0; j < steps; j++) {
          const at = starts[j]! + i
          if (sim.run(batches[j]!, at, at + 1, outputs[j]!) >= 0) {
            span.stoppedAt = i * steps + j
            return signalOf(spec.name, sim, at)
          }
        }
      }
      return undefined
    },
    finishShard: (state) => spec.resultOf(state.sim, state.shardType, spec.cpuScheduling),
    merge: (shards) => {
      if (shards.length === 0) return spec.resultOf(spec.simulation(false, undefined), "thread", spec.cpuScheduling)
      let acc = shards[0]!.result
      for (let i = 1; i < shards.length; i++) acc = spec.sum(acc, shards[i]!.result)
      return acc
    },
    print: spec.print,
    shardResultSchema: spec.schema,
    resultSchema: spec.schema,
    describeError: (e) => e.message
  })

/**
 * A constructor that fills unspecified options (keys set to `undefined`
 * count as unspecified) from `defaults` and fails with DynamoRIO's usage
 * error when `validate` finds a problem.
 */
export const validating =
  <O extends object, T>(defaults: O, validate: (o: O) => SimulatorError | undefined, build: (o: O) => T) =>
  (options: Partial<O> = {}): Effect.Effect<T, SimulatorError> =>
    Effect.suspend(() => {
      const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))
      const full = { ...defaults, ...given } as O
      const problem = validate(full)
      return problem === undefined ? Effect.succeed(build(full)) : Effect.fail(problem)
    })
