/**
 * Scheduler options (DynamoRIO's `scheduler_options_t` and the per-input
 * `input_thread_info_t` modifiers), their defaults and their validation.
 * Shared by the pure core and the Effect layer; `Scheduler.ts` re-exports the
 * public parts.
 */
import type { CpuSchedule, ScheduleRecord } from "../../trace/internal/scheduleFile.ts"
import type { TemplateRecords } from "./kernel.ts"

/**
 * How inputs map to outputs (DynamoRIO's `mapping_t`).
 * - `"consistent"`: input i always runs on output i mod M, inputs of one
 *   output in order (thread-sharded parallel analysis).
 * - `"recorded"`: with one output and no `cpuSchedule`, a strict timestamp
 *   interleave of all inputs (serial analysis). With a `cpuSchedule` (needed
 *   for several outputs), a replay of the as-traced schedule: one output per
 *   traced cpu, sorted by cpu id.
 * - `"dynamic"`: DynamoRIO's dynamic scheduler (`MAP_TO_ANY_OUTPUT`): quanta,
 *   blocking syscalls, run queues, steals, rebalancing (core-sharded analysis).
 * - `"asPreviously"`: replay of a recorded schedule (`replaySchedule`).
 *
 * @category models
 */
export type Mapping = "consistent" | "recorded" | "dynamic" | "asPreviously"

/**
 * Per-input modifiers (DynamoRIO's `input_thread_info_t`).
 *
 * @category models
 */
export interface InputOptions {
  /** Workload ordinal of the input (default 0). Timestamps are compared relative to each workload's first timestamp. */
  readonly workload?: number | undefined
  /** Higher runs first and starves lower (default 0). Outweighs timestamps. */
  readonly priority?: number | undefined
  /** Output ordinals the input may run on; empty or all outputs = no binding. */
  readonly binding?: ReadonlyArray<number> | undefined
  /**
   * Regions of interest (DynamoRIO's `regions_of_interest`): 1-based
   * instruction ranges, `stop` inclusive (0 = to the end), increasing with
   * a gap between them. Records outside are skipped; a WINDOW_ID marker
   * (the region ordinal) comes before each region after the first, and a
   * synthetic THREAD_EXIT after the last. Ignored when replaying a recorded
   * schedule (its SKIP records say where to skip).
   */
  readonly regions?: ReadonlyArray<Region> | undefined
}

/**
 * An instruction range (DynamoRIO's `range_t`).
 *
 * @category models
 */
export interface Region {
  /** First instruction (1-based). */
  readonly start: number
  /** Last instruction, inclusive; 0 = to the end. */
  readonly stop: number
}

/**
 * A time range (DynamoRIO's `timestamp_range_t`), in trace timestamps.
 *
 * @category models
 */
export interface TimeRange {
  readonly start: bigint
  /** Inclusive; 0 = to the end. */
  readonly stop: bigint
}

/**
 * Scheduler options. Every field is optional; see {@link defaults}.
 *
 * @category models
 */
export interface Options {
  /** Default `"dynamic"`. */
  readonly mapping?: Mapping | undefined
  /** `"timestamps"`: order inputs by their timestamps at switch points (DynamoRIO `DEPENDENCY_TIMESTAMPS`). Default `"ignore"`. */
  readonly deps?: "ignore" | "timestamps" | undefined
  /** Unit of the scheduling quantum. Default `"instructions"`. */
  readonly quantumUnit?: "instructions" | "time" | undefined
  /** Quantum in instructions. Default 20,000,000. */
  readonly quantumDurationInstrs?: number | undefined
  /** Quantum in simulated microseconds (`quantumUnit: "time"`). Default 5000. */
  readonly quantumDurationUs?: number | undefined
  /** Latency (µs) at which a non-maybe-blocking syscall counts as blocking. Default 30,000,000. */
  readonly syscallSwitchThreshold?: number | undefined
  /** Latency (µs) at which a maybe-blocking syscall switches the input out. Default 600. */
  readonly blockingSwitchThreshold?: number | undefined
  /** Blocked time = as-traced latency × this. Default 0.1. */
  readonly blockTimeMultiplier?: number | undefined
  /** Cap (µs) on a scaled blocked time; also the timeout of an unscheduled input. Default 2500. */
  readonly blockTimeMaxUs?: number | undefined
  /** Simulation time units per microsecond (default time = instructions + idles: 2 GHz at IPC 0.5). Default 1000. */
  readonly timeUnitsPerUs?: number | undefined
  /** Minimum time (µs) since an input last ran before another output may take it. Default 500. */
  readonly migrationThresholdUs?: number | undefined
  /** Period (µs) of the global run-queue rebalance. Default 50,000. */
  readonly rebalancePeriodUs?: number | undefined
  /** Keep unscheduled-forever inputs unscheduled (else they wake after `blockTimeMaxUs`). Default false. */
  readonly honorInfiniteTimeouts?: boolean | undefined
  /** Dynamic mode: every output gets EOF once live inputs ≤ ⌊inputs × this⌋. Default 0.1. */
  readonly exitIfFractionInputsLeft?: number | undefined
  /** < 0: round-robin initial layout; ≥ 0: seeded random layout (0 = seed from the clock). Default 1. */
  readonly randomInitialLayout?: number | undefined
  /** An idle output tries to steal every this many idles (0: never). Default 10,000. */
  readonly stealAttemptPeriod?: number | undefined
  /** Model DIRECT_THREAD_SWITCH, SYSCALL_UNSCHEDULE and SYSCALL_SCHEDULE markers. Default true. */
  readonly honorDirectSwitches?: boolean | undefined
  /** Ignore an unschedule request whose syscall latency is below the blocking threshold. Default false. */
  readonly ignoreLowLatencyUnsched?: boolean | undefined
  /** When a direct-switch target is busy, retry random earlier targets. Default false. */
  readonly directSwitchFallbacks?: boolean | undefined
  /** Pick a random ready input instead of the best one. Default false. */
  readonly randomizeNextInput?: boolean | undefined
  /** One global stream round-robins over the outputs (DynamoRIO `-core_serial`): time counts global instructions. Default false. */
  readonly singleLockstepOutput?: boolean | undefined
  /** Canonicalize x86-64 addresses (top 16 bits follow bit 47). Default true. */
  readonly canonicalizeAddresses?: boolean | undefined
  /** Read each input ahead to its first timestamp before scheduling. Default true. */
  readonly readInputsInInit?: boolean | undefined
  /** Report input ordinals as shard indices (DynamoRIO `SCHEDULER_USE_INPUT_ORDINALS`). Default false. */
  readonly useInputOrdinals?: boolean | undefined
  /**
   * `setActive(output, false)` where DynamoRIO refuses it (STATUS_INVALID).
   * Consistent mapping: the output's unstarted inputs go to the active
   * outputs, and an output out of inputs waits, rather than ending, while
   * another active output still holds unstarted ones. Replays: the output's
   * remaining segments are dropped, and no other output waits for them (an
   * input they would have advanced skips ahead to the next live segment; one
   * that no live output runs again ends). Dynamic mapping: an inactive
   * output is gone for good, so an input bound only to inactive outputs ends
   * (listed as unrunnable) rather than waiting for one to come back. The
   * analyzer sets it so that a failed worker loses only its own shard's work,
   * and never leaves the others waiting. Default false.
   */
  readonly handOffInputs?: boolean | undefined
  /** Per-input modifiers, indexed by input ordinal. */
  readonly inputs?: ReadonlyArray<InputOptions | undefined> | undefined
  /** Maximum simultaneous outputs per workload (0 = none), indexed by workload ordinal. */
  readonly workloadOutputLimits?: ReadonlyArray<number> | undefined
  /** Regions of interest of every input that has none of its own (see {@link InputOptions.regions}). */
  readonly regions?: ReadonlyArray<Region> | undefined
  /** Record the schedule (DynamoRIO's `schedule_record_ostream`); read it back with `recordedSchedule`. Default false. */
  readonly recordSchedule?: boolean | undefined
  /**
   * The recorded schedule to replay (mapping `asPreviously`): the members
   * of a record file by name (`output.0000`, …), as `scheduleFile` reads them.
   */
  readonly replaySchedule?: ReadonlyMap<string, ReadonlyArray<ScheduleRecord>> | undefined
  /**
   * The as-traced cpu schedule (`cpu_schedule.bin.zip`): replayed with the
   * `recorded` mapping, or only used to turn `timesOfInterest` into regions.
   */
  readonly cpuSchedule?: CpuSchedule | undefined
  /**
   * Time ranges of interest for every input (DynamoRIO's `times_of_interest`,
   * `-skip_to_timestamp`): turned into per-input regions through
   * `cpuSchedule`, interpolating instruction ordinals between its entries.
   */
  readonly timesOfInterest?: ReadonlyArray<TimeRange> | undefined
  /** Context-switch sequence templates (the decoded records of a `-sched_switch_file`). */
  readonly kernelSwitchSequences?: TemplateRecords | undefined
  /** System-call sequence templates (the decoded records of a `-sched_syscall_file`). */
  readonly kernelSyscallSequences?: TemplateRecords | undefined
}

/**
 * The default of every option, DynamoRIO's `scheduler_options_t` defaults.
 *
 * @category defaults
 */
export const defaults = {
  mapping: "dynamic",
  deps: "ignore",
  quantumUnit: "instructions",
  quantumDurationInstrs: 20_000_000,
  quantumDurationUs: 5000,
  syscallSwitchThreshold: 30_000_000,
  blockingSwitchThreshold: 600,
  blockTimeMultiplier: 0.1,
  blockTimeMaxUs: 2500,
  timeUnitsPerUs: 1000,
  migrationThresholdUs: 500,
  rebalancePeriodUs: 50_000,
  honorInfiniteTimeouts: false,
  exitIfFractionInputsLeft: 0.1,
  randomInitialLayout: 1,
  stealAttemptPeriod: 10_000,
  honorDirectSwitches: true,
  ignoreLowLatencyUnsched: false,
  directSwitchFallbacks: false,
  randomizeNextInput: false,
  singleLockstepOutput: false,
  canonicalizeAddresses: true,
  readInputsInInit: true,
  useInputOrdinals: false,
  handOffInputs: false
} as const

/** Options with every default applied and per-input modifiers expanded. @internal */
export interface Resolved {
  readonly mapping: Mapping
  readonly timestampDeps: boolean
  /** Read each input ahead to its first timestamp in init (DynamoRIO's gather_timestamps). */
  readonly gatherTimestamps: boolean
  readonly quantumByTime: boolean
  readonly quantumDurationInstrs: number
  readonly quantumDurationUs: number
  readonly syscallSwitchThreshold: number
  readonly blockingSwitchThreshold: number
  readonly blockTimeMultiplier: number
  readonly blockTimeMaxUs: number
  readonly timeUnitsPerUs: number
  readonly migrationThresholdUs: number
  readonly rebalancePeriodUs: number
  readonly honorInfiniteTimeouts: boolean
  readonly exitIfFractionInputsLeft: number
  readonly randomInitialLayout: number
  readonly stealAttemptPeriod: number
  readonly honorDirectSwitches: boolean
  readonly ignoreLowLatencyUnsched: boolean
  readonly directSwitchFallbacks: boolean
  readonly randomizeNextInput: boolean
  readonly singleLockstepOutput: boolean
  readonly canonicalizeAddresses: boolean
  readonly readInputsInInit: boolean
  readonly useInputOrdinals: boolean
  readonly handOffInputs: boolean
  readonly workload: Int32Array
  readonly priority: Int32Array
  /** Sorted output ordinals per input; empty = unbound. */
  readonly binding: ReadonlyArray<ReadonlyArray<number>>
  readonly workloadCount: number
  readonly workloadOutputLimits: ReadonlyArray<number>
  /** Per input, its regions of interest (validated; empty = all). */
  readonly regions: ReadonlyArray<ReadonlyArray<Region>>
  readonly recordSchedule: boolean
  readonly replaySchedule: ReadonlyMap<string, ReadonlyArray<ScheduleRecord>> | undefined
  readonly cpuSchedule: CpuSchedule | undefined
  /** The recorded mapping replays `cpuSchedule` (DynamoRIO: replay_as_traced_istream with MAP_TO_RECORDED_OUTPUT). */
  readonly asTraced: boolean
  readonly timesOfInterest: ReadonlyArray<TimeRange>
  readonly kernelSwitchSequences: TemplateRecords | undefined
  readonly kernelSyscallSequences: TemplateRecords | undefined
}

/** A validation failure: the option at fault and why. @internal */
export interface OptionFault {
  readonly option: string
  readonly detail: string
}

const isFiniteNumber = (v: number): boolean => typeof v === "number" && Number.isFinite(v)

/**
 * Applies defaults and validates (DynamoRIO's `legacy_field_support` checks
 * plus binding and modifier checks). Returns a fault naming the option.
 *
 * @internal
 */
export const resolve = (
  options: Options | undefined,
  inputCount: number,
  outputCount: number
): Resolved | OptionFault => {
  const o = options ?? {}
  const get = <K extends keyof typeof defaults>(k: K): (typeof defaults)[K] | NonNullable<Options[K]> =>
    (o[k] ?? defaults[k]) as (typeof defaults)[K] | NonNullable<Options[K]>
  if (!Number.isInteger(outputCount) || outputCount < 1)
    return { option: "outputCount", detail: `output count must be a positive integer, got ${outputCount}` }
  const mapping = get("mapping") as Mapping
  if (!["consistent", "recorded", "dynamic", "asPreviously"].includes(mapping))
    return { option: "mapping", detail: `unknown mapping ${String(mapping)}` }
  const deps = get("deps")
  if (deps !== "ignore" && deps !== "timestamps")
    return { option: "deps", detail: `unknown dependency mode ${String(deps)}` }
  const quantumUnit = get("quantumUnit")
  if (quantumUnit !== "instructions" && quantumUnit !== "time")
    return { option: "quantumUnit", detail: `unknown quantum unit ${String(quantumUnit)}` }
  const numbers = [
    "quantumDurationInstrs",
    "quantumDurationUs",
    "syscallSwitchThreshold",
    "blockingSwitchThreshold",
    "blockTimeMultiplier",
    "blockTimeMaxUs",
    "timeUnitsPerUs",
    "migrationThresholdUs",
    "rebalancePeriodUs",
    "exitIfFractionInputsLeft",
    "randomInitialLayout",
    "stealAttemptPeriod"
  ] as const
  for (const k of numbers) {
    const v = get(k) as number
    if (!isFiniteNumber(v)) return { option: k, detail: `${k} must be a finite number, got ${String(v)}` }
    if (k !== "randomInitialLayout" && v < 0) return { option: k, detail: `${k} must not be negative, got ${v}` }
  }
  // The same conditions (and messages) as DynamoRIO's legacy_field_support().
  if (get("timeUnitsPerUs") === 0) return { option: "timeUnitsPerUs", detail: "time_units_per_us must be > 0" }
  if (get("quantumDurationUs") === 0) return { option: "quantumDurationUs", detail: "quantum_duration_us must be > 0" }
  // An instruction count: below 1 every instruction would preempt, and two inputs would swap forever.
  const quantumInstrs = get("quantumDurationInstrs") as number
  if (!Number.isInteger(quantumInstrs) || quantumInstrs < 1)
    return {
      option: "quantumDurationInstrs",
      detail: `quantum_duration_instrs must be a positive integer, got ${quantumInstrs}`
    }
  if (get("blockTimeMultiplier") === 0)
    return { option: "blockTimeMultiplier", detail: "block_time_multiplier must != 0" }
  if (get("blockTimeMaxUs") === 0) return { option: "blockTimeMaxUs", detail: "block_time_max_us must be > 0" }
  const frac = get("exitIfFractionInputsLeft") as number
  if (frac < 0 || frac > 1)
    return { option: "exitIfFractionInputsLeft", detail: "exit_if_fraction_inputs_left must be 0..1" }
  const replaySchedule = o.replaySchedule
  const cpuSchedule = o.cpuSchedule
  const recordSchedule = o.recordSchedule ?? false
  const timesOfInterest = o.timesOfInterest ?? []
  if (mapping === "asPreviously" && replaySchedule === undefined)
    return {
      option: "replaySchedule",
      detail: "the asPreviously mapping replays a recorded schedule: give replaySchedule"
    }
  if (replaySchedule !== undefined && mapping !== "asPreviously")
    return { option: "replaySchedule", detail: "a recorded schedule is replayed only with the asPreviously mapping" }
  if (replaySchedule !== undefined && recordSchedule)
    return { option: "recordSchedule", detail: "cannot record a schedule while replaying one" }
  const asTraced = mapping === "recorded" && cpuSchedule !== undefined && timesOfInterest.length === 0
  if (mapping === "recorded" && outputCount > 1 && !asTraced)
    return {
      option: "cpuSchedule",
      detail: "the recorded mapping with more than one output replays the as-traced schedule: give cpuSchedule"
    }
  if (timesOfInterest.length > 0 && cpuSchedule === undefined)
    return { option: "cpuSchedule", detail: "Missing as-traced istream: timesOfInterest needs cpuSchedule" }
  if (mapping === "recorded" && !asTraced && deps !== "timestamps" && inputCount > 1)
    return {
      option: "deps",
      detail: "recorded mapping with several inputs interleaves by timestamp: set deps to timestamps"
    }
  if (mapping === "consistent" && deps === "timestamps")
    return {
      option: "deps",
      detail: "consistent mapping runs each input on a fixed output: timestamp deps do not apply"
    }
  const timestampDeps = deps === "timestamps"
  const gatherTimestamps =
    ((mapping === "dynamic" || mapping === "asPreviously") && timestampDeps) ||
    (mapping === "recorded" && !asTraced && inputCount > 1)
  if (gatherTimestamps && !get("readInputsInInit"))
    return { option: "readInputsInInit", detail: "Timestamp dependencies require read_inputs_in_init" }

  const perInput = o.inputs ?? []
  if (perInput.length > inputCount)
    return { option: "inputs", detail: `modifiers given for ${perInput.length} inputs but there are ${inputCount}` }
  const workload = new Int32Array(inputCount)
  const priority = new Int32Array(inputCount)
  const binding: Array<ReadonlyArray<number>> = []
  const regions: Array<ReadonlyArray<Region>> = []
  let workloadCount = inputCount > 0 ? 1 : 0
  for (let i = 0; i < inputCount; i++) {
    const m = perInput[i]
    const w = m?.workload ?? 0
    if (!Number.isInteger(w) || w < 0 || w >= 32)
      return { option: "inputs", detail: `input ${i}: workload ordinal must be an integer in 0..31, got ${w}` }
    workload[i] = w
    workloadCount = Math.max(workloadCount, w + 1)
    const p = m?.priority ?? 0
    if (!Number.isInteger(p)) return { option: "inputs", detail: `input ${i}: priority must be an integer, got ${p}` }
    priority[i] = p
    const b = [...new Set(m?.binding ?? [])].sort((x, y) => x - y)
    for (const out of b) {
      if (!Number.isInteger(out) || out < 0 || out >= outputCount)
        return { option: "inputs", detail: `output_binding ${out} out of bounds` }
    }
    // Binding to every output is no binding (DynamoRIO skips it the same way).
    binding.push(b.length < outputCount ? b : [])
    const rs = m?.regions !== undefined && m.regions.length > 0 ? m.regions : (o.regions ?? [])
    if (rs.length > 0 && timesOfInterest.length > 0)
      return { option: "inputs", detail: `input ${i}: regions of interest cannot be combined with timesOfInterest` }
    for (let k = 0; k < rs.length; k++) {
      const r = rs[k]!
      if (
        !Number.isInteger(r.start) ||
        !Number.isInteger(r.stop) ||
        r.start < 1 ||
        r.stop < 0 ||
        (r.stop < r.start && r.stop !== 0)
      )
        return { option: "inputs", detail: "invalid start/stop range in regions of interest" }
      if (k > 0) {
        const prev = rs[k - 1]!
        // DynamoRIO lets a region follow an open-ended one (its stop 0 compares low); it could never start.
        if (r.start <= prev.stop || prev.stop === 0)
          return { option: "inputs", detail: "gap required between regions of interest" }
      }
    }
    regions.push(rs)
  }
  const limits = o.workloadOutputLimits ?? []
  for (const l of limits) {
    if (!Number.isInteger(l) || l < 0)
      return { option: "workloadOutputLimits", detail: `output limit must be a non-negative integer, got ${l}` }
  }
  return {
    mapping,
    timestampDeps,
    gatherTimestamps,
    quantumByTime: quantumUnit === "time",
    quantumDurationInstrs: get("quantumDurationInstrs") as number,
    quantumDurationUs: get("quantumDurationUs") as number,
    syscallSwitchThreshold: get("syscallSwitchThreshold") as number,
    blockingSwitchThreshold: get("blockingSwitchThreshold") as number,
    blockTimeMultiplier: get("blockTimeMultiplier") as number,
    blockTimeMaxUs: get("blockTimeMaxUs") as number,
    timeUnitsPerUs: get("timeUnitsPerUs") as number,
    migrationThresholdUs: get("migrationThresholdUs") as number,
    rebalancePeriodUs: get("rebalancePeriodUs") as number,
    honorInfiniteTimeouts: get("honorInfiniteTimeouts") as boolean,
    exitIfFractionInputsLeft: frac,
    randomInitialLayout: get("randomInitialLayout") as number,
    stealAttemptPeriod: get("stealAttemptPeriod") as number,
    honorDirectSwitches: get("honorDirectSwitches") as boolean,
    ignoreLowLatencyUnsched: get("ignoreLowLatencyUnsched") as boolean,
    directSwitchFallbacks: get("directSwitchFallbacks") as boolean,
    randomizeNextInput: get("randomizeNextInput") as boolean,
    singleLockstepOutput: get("singleLockstepOutput") as boolean,
    canonicalizeAddresses: get("canonicalizeAddresses") as boolean,
    readInputsInInit: get("readInputsInInit") as boolean,
    useInputOrdinals: get("useInputOrdinals") as boolean,
    handOffInputs: get("handOffInputs") as boolean,
    workload,
    priority,
    binding,
    workloadCount,
    workloadOutputLimits: Array.from({ length: workloadCount }, (_, w) => limits[w] ?? 0),
    regions,
    recordSchedule,
    replaySchedule,
    cpuSchedule,
    asTraced,
    timesOfInterest,
    kernelSwitchSequences: o.kernelSwitchSequences,
    kernelSyscallSequences: o.kernelSyscallSequences
  }
}

/** @internal */
export const isFault = (r: Resolved | OptionFault): r is OptionFault => "option" in r && "detail" in r
