/**
 * schedule_stats' aggregation and printing (DynamoRIO's `aggregate_results`,
 * `print_counters`, `print_results`): per-core counts in core order, the
 * total, observed migrations, cores per thread, and the text with DynamoRIO's
 * stream formatting and libstdc++ container orders.
 */
import { fixed, setw } from "../format.ts"
import { StdUnordered } from "../StdUnordered.ts"

export type Histogram = ReadonlyArray<readonly [number, number]>

export interface PerThreadBins {
  readonly workload: number
  readonly tid: number
  readonly bins: Histogram
}

export interface PerSysnumBins {
  readonly sysnum: number
  readonly bins: Histogram
}

export interface SwitchRecordData {
  readonly workload: number
  readonly tid: number
  readonly instructions: number
  readonly syscallNumber: number
  readonly syscallLatency: number
  readonly voluntary: boolean
  readonly direct: boolean
  readonly inputInstrStart: number
}

/** What one core shard hands over. */
export interface CoreData {
  readonly shardIndex: number
  readonly core: number
  readonly filetype: number
  readonly instrs: number
  readonly totalSwitches: number
  readonly voluntarySwitches: number
  readonly directSwitches: number
  readonly syscalls: number
  readonly maybeBlockingSyscalls: number
  readonly directSwitchRequests: number
  readonly waits: number
  readonly idles: number
  readonly cpuMicros: number
  readonly waitMicros: number
  readonly idleMicros: number
  readonly idleMicrosAtLastInstr: number
  /** [workload, tid] in first-seen order. */
  readonly threads: ReadonlyArray<readonly [number, number]>
  readonly instrsPerSwitch: Histogram
  /** In first-switch-out order. */
  readonly tidInstrsPerSwitch: ReadonlyArray<PerThreadBins>
  /** In first-use order. */
  readonly sysnumSwitchLatency: ReadonlyArray<PerSysnumBins>
  readonly sysnumNoswitchLatency: ReadonlyArray<PerSysnumBins>
  readonly schedule: string
  readonly switchRecords: ReadonlyArray<SwitchRecordData>
  readonly switchRecordCount: number
  /** Flattened (workload, tid, core time) triples, one per switch-in to a thread. */
  readonly switchIns: ReadonlyArray<number>
}

/** The scheduler's statistics of one output, as printed (zero when the run gave none). */
export interface SchedulerCounts {
  readonly switchesInputToInput: number
  readonly switchesInputToIdle: number
  readonly switchesIdleToInput: number
  readonly switchesNop: number
  readonly quantumPreempts: number
  readonly migrations: number
  readonly steals: number
  readonly rebalances: number
  readonly atOutputLimit: number
  readonly switchSequenceInjections: number
  readonly syscallSequenceInjections: number
}

/** A `counters_t`, ready to print (containers already in DynamoRIO's iteration order). */
export interface Counts extends SchedulerCounts {
  readonly threads: ReadonlyArray<readonly [number, number]>
  readonly instrs: number
  readonly totalSwitches: number
  readonly voluntarySwitches: number
  readonly directSwitches: number
  readonly syscalls: number
  readonly maybeBlockingSyscalls: number
  readonly directSwitchRequests: number
  readonly observedMigrations: number
  readonly waits: number
  readonly idles: number
  readonly cpuMicros: number
  readonly waitMicros: number
  readonly idleMicros: number
  readonly idleMicrosAtLastInstr: number
  readonly instrsPerSwitch: Histogram
  readonly tidInstrsPerSwitch: ReadonlyArray<PerThreadBins>
  readonly coresPerThread: Histogram
  readonly sysnumSwitchLatency: ReadonlyArray<PerSysnumBins>
  readonly sysnumNoswitchLatency: ReadonlyArray<PerSysnumBins>
}

export interface CoreReport {
  readonly shardIndex: number
  readonly core: number
  readonly counts: Counts
  readonly schedule: string
  readonly switchRecords: ReadonlyArray<SwitchRecordData>
  readonly switchRecordCount: number
}

export interface Report {
  readonly total: Counts
  readonly cores: ReadonlyArray<CoreReport>
  /** Largest and smallest instructions + idles of a core (DynamoRIO prints their ratio). */
  readonly maxActivity: number
  readonly minActivity: number
  readonly maxInstrs: number
  readonly minInstrs: number
  /** Switch records printed per core (DynamoRIO: 4, 24 with -verbose 1, all with 2). */
  readonly entriesPerShard: number
}

/** Statistics per output in `schedule_statistic_t` order (the scheduler's `stats(output)`). */
export type SchedulerStats = (output: number) => ReadonlyArray<number> | undefined

const schedulerCounts = (stats: ReadonlyArray<number> | undefined): SchedulerCounts => {
  const s = (k: number) => stats?.[k] ?? 0
  return {
    switchesInputToInput: s(0),
    switchesInputToIdle: s(1),
    switchesIdleToInput: s(2),
    switchesNop: s(3),
    quantumPreempts: s(4),
    migrations: s(7),
    steals: s(8),
    rebalances: s(9),
    atOutputLimit: s(10),
    switchSequenceInjections: s(11),
    syscallSequenceInjections: s(12)
  }
}

type Tid = readonly [number, number]
const tidSet = () =>
  new StdUnordered<Tid>(
    (k) => k[0],
    (k) => `${k[0]}:${k[1]}`
  )

const sorted = (bins: Map<number, number>): Histogram => [...bins.entries()].sort((a, b) => a[0] - b[0])

const addAll = (into: Map<number, number>, bins: Histogram): void => {
  for (const [bin, count] of bins) into.set(bin, (into.get(bin) ?? 0) + count)
}

/** Per-thread histograms in a libstdc++ unordered_map's order after inserting `order`. */
const tidHistograms = (entries: ReadonlyArray<PerThreadBins>): Array<PerThreadBins> => {
  const map = tidSet()
  const byKey = new Map<string, Map<number, number>>()
  for (const e of entries) {
    map.insert([e.workload, e.tid])
    const key = `${e.workload}:${e.tid}`
    let bins = byKey.get(key)
    if (bins === undefined) {
      bins = new Map()
      byKey.set(key, bins)
    }
    addAll(bins, e.bins)
  }
  return map.ordered().map(([workload, tid]) => ({ workload, tid, bins: sorted(byKey.get(`${workload}:${tid}`)!) }))
}

const sysnumHistograms = (entries: ReadonlyArray<PerSysnumBins>): Array<PerSysnumBins> => {
  const map = new StdUnordered<number>(
    (k) => k,
    (k) => String(k)
  )
  const bySysnum = new Map<number, Map<number, number>>()
  for (const e of entries) {
    map.insert(e.sysnum)
    let bins = bySysnum.get(e.sysnum)
    if (bins === undefined) {
      bins = new Map()
      bySysnum.set(e.sysnum, bins)
    }
    addAll(bins, e.bins)
  }
  return map.ordered().map((sysnum) => ({ sysnum, bins: sorted(bySysnum.get(sysnum)!) }))
}

/**
 * Migrations a core observed: a thread switched in on this core whose
 * previous switch-in (in core time: instructions + idles + waits, the
 * scheduler's clock) was on another core. DynamoRIO keeps a global last-core
 * map updated as its workers run; ordering by core time gives the same count
 * for lockstep or scheduled runs, deterministically.
 */
const observedMigrations = (cores: ReadonlyArray<CoreData>): Array<number> => {
  const perCore = cores.map(() => 0)
  const byThread = new Map<string, Array<readonly [number, number]>>()
  cores.forEach((c, ci) => {
    const s = c.switchIns
    for (let k = 0; k < s.length; k += 3) {
      const key = `${s[k]}:${s[k + 1]}`
      let list = byThread.get(key)
      if (list === undefined) {
        list = []
        byThread.set(key, list)
      }
      list.push([s[k + 2]!, ci])
    }
  })
  for (const list of byThread.values()) {
    // Stable: equal times keep core order.
    list.sort((a, b) => a[0] - b[0])
    for (let k = 1; k < list.length; k++) {
      const core = list[k]![1]
      if (cores[core]!.core !== cores[list[k - 1]![1]]!.core) perCore[core]!++
    }
  }
  return perCore
}

const coreCounts = (c: CoreData, migrations: number, sched: SchedulerCounts): Counts => {
  const threads = tidSet()
  for (const t of c.threads) threads.insert(t)
  return {
    ...sched,
    threads: threads.ordered(),
    instrs: c.instrs,
    totalSwitches: c.totalSwitches,
    voluntarySwitches: c.voluntarySwitches,
    directSwitches: c.directSwitches,
    syscalls: c.syscalls,
    maybeBlockingSyscalls: c.maybeBlockingSyscalls,
    directSwitchRequests: c.directSwitchRequests,
    observedMigrations: migrations,
    waits: c.waits,
    idles: c.idles,
    cpuMicros: c.cpuMicros,
    waitMicros: c.waitMicros,
    idleMicros: c.idleMicros,
    idleMicrosAtLastInstr: c.idleMicrosAtLastInstr,
    instrsPerSwitch: [...c.instrsPerSwitch].sort((a, b) => a[0] - b[0]),
    tidInstrsPerSwitch: tidHistograms(c.tidInstrsPerSwitch),
    coresPerThread: [],
    sysnumSwitchLatency: sysnumHistograms(c.sysnumSwitchLatency),
    sysnumNoswitchLatency: sysnumHistograms(c.sysnumNoswitchLatency)
  }
}

const SUMMED = [
  "switchesInputToInput",
  "switchesInputToIdle",
  "switchesIdleToInput",
  "switchesNop",
  "quantumPreempts",
  "migrations",
  "steals",
  "rebalances",
  "atOutputLimit",
  "switchSequenceInjections",
  "syscallSequenceInjections",
  "instrs",
  "totalSwitches",
  "voluntarySwitches",
  "directSwitches",
  "syscalls",
  "maybeBlockingSyscalls",
  "directSwitchRequests",
  "observedMigrations",
  "waits",
  "idles",
  "cpuMicros",
  "waitMicros",
  "idleMicros",
  "idleMicrosAtLastInstr"
] as const

/** DynamoRIO's `counters_t::operator+=` over the cores in order, then cores per thread. */
const totalCounts = (cores: ReadonlyArray<CoreReport>): Counts => {
  const sums = Object.fromEntries(SUMMED.map((k) => [k, 0])) as Record<(typeof SUMMED)[number], number>
  const threads = tidSet()
  const instrsPerSwitch = new Map<number, number>()
  const footprint = new Map<string, Set<number>>()
  for (const { counts, core } of cores) {
    for (const k of SUMMED) sums[k] += counts[k]
    for (const t of counts.threads) {
      threads.insert(t)
      const key = `${t[0]}:${t[1]}`
      let set = footprint.get(key)
      if (set === undefined) {
        set = new Set()
        footprint.set(key, set)
      }
      set.add(core)
    }
    addAll(instrsPerSwitch, counts.instrsPerSwitch)
  }
  const coresPerThread = new Map<number, number>()
  for (const set of footprint.values()) coresPerThread.set(set.size, (coresPerThread.get(set.size) ?? 0) + 1)
  return {
    ...sums,
    threads: threads.ordered(),
    instrsPerSwitch: sorted(instrsPerSwitch),
    tidInstrsPerSwitch: tidHistograms(cores.flatMap((c) => c.counts.tidInstrsPerSwitch)),
    coresPerThread: sorted(coresPerThread),
    sysnumSwitchLatency: sysnumHistograms(cores.flatMap((c) => c.counts.sysnumSwitchLatency)),
    sysnumNoswitchLatency: sysnumHistograms(cores.flatMap((c) => c.counts.sysnumNoswitchLatency))
  }
}

/** Merges the cores of every shard (sorted by shard index, as DynamoRIO's ordered shard map). */
export const aggregate = (
  data: ReadonlyArray<CoreData>,
  entriesPerShard: number,
  stats: SchedulerStats | undefined
): Report => {
  const cores = [...data].sort((a, b) => a.shardIndex - b.shardIndex)
  const migrations = observedMigrations(cores)
  const reports = cores.map(
    (c, i): CoreReport => ({
      shardIndex: c.shardIndex,
      core: c.core,
      counts: coreCounts(c, migrations[i]!, schedulerCounts(stats?.(c.shardIndex))),
      schedule: c.schedule,
      switchRecords: c.switchRecords,
      switchRecordCount: c.switchRecordCount
    })
  )
  let maxActivity = Number.MIN_SAFE_INTEGER
  let minActivity = Number.MAX_SAFE_INTEGER
  let maxInstrs = Number.MIN_SAFE_INTEGER
  let minInstrs = Number.MAX_SAFE_INTEGER
  for (const c of cores) {
    const activity = c.instrs + c.idles
    maxActivity = Math.max(maxActivity, activity)
    minActivity = Math.min(minActivity, activity)
    maxInstrs = Math.max(maxInstrs, c.instrs)
    minInstrs = Math.min(minInstrs, c.instrs)
  }
  return {
    total: totalCounts(reports),
    cores: reports,
    maxActivity,
    minActivity,
    maxInstrs,
    minInstrs,
    entriesPerShard
  }
}

const percentage = (numerator: number, denominator: number, label: string): string => {
  const fraction = denominator === 0 ? (numerator === 0 ? 0 : 1) : numerator / denominator
  return setw(fixed(100 * fraction, 2), 12) + label
}

const histogramText = (out: Array<string>, bins: Histogram, binSize: number): void => {
  for (const [bin, count] of bins) out.push(`${setw(bin, 12)}..${setw(bin + binSize, 8)} ${setw(count, 5)}`)
}

const printCounts = (out: Array<string>, c: Counts, switchBin: number, latencyBin: number): void => {
  const line = (n: number | string, label: string) => out.push(setw(n, 12) + label)
  out.push(
    setw(c.threads.length, 12) +
      " threads" +
      (c.threads.length > 0 ? `: ${c.threads.map(([w, t]) => `W${w}.T${t}`).join(", ")}` : "")
  )
  line(c.instrs, " instructions")
  line(c.totalSwitches, " total context switches")
  const cspki = c.instrs > 0 ? (1000 * c.totalSwitches) / c.instrs : 0
  line(fixed(cspki, 7), " CSPKI (context switches per 1000 instructions)")
  const ipcs = c.totalSwitches > 0 ? c.instrs / c.totalSwitches : 0
  line(fixed(ipcs, 0), " instructions per context switch")
  line(c.voluntarySwitches, " voluntary context switches")
  line(c.directSwitches, " direct context switches")
  line(c.switchSequenceInjections, " context switch sequence injections")
  line(c.syscallSequenceInjections, " system call sequence injections")
  out.push(percentage(c.voluntarySwitches, c.totalSwitches, "% voluntary switches"))
  out.push(percentage(c.directSwitches, c.totalSwitches, "% direct switches"))
  line(c.switchesInputToInput, " switches input-to-input")
  line(c.switchesInputToIdle, " switches input-to-idle")
  line(c.switchesIdleToInput, " switches idle-to-input")
  line(c.switchesNop, " switches nop-ed")
  line(c.quantumPreempts, " quantum_preempts")
  line(c.migrations, " migrations")
  line(c.steals, " work steals")
  line(c.rebalances, " rebalances")
  line(c.atOutputLimit, " output limits hit")
  line(c.syscalls, " system calls")
  line(c.maybeBlockingSyscalls, " maybe-blocking system calls")
  line(c.directSwitchRequests, " direct switch requests")
  line(c.observedMigrations, " observed migrations")
  line(c.waits, " waits")
  line(c.idles, " idles")
  out.push(percentage(c.instrs, c.instrs + c.idles, "% cpu busy by record count"))
  line(c.cpuMicros, " cpu microseconds")
  line(c.waitMicros, " wait microseconds")
  line(c.idleMicros, " idle microseconds")
  line(c.idleMicrosAtLastInstr, " idle microseconds at last instr")
  out.push(percentage(c.cpuMicros, c.cpuMicros + c.idleMicros, "% cpu busy by time"))
  out.push(
    percentage(c.cpuMicros, c.cpuMicros + c.idleMicrosAtLastInstr, "% cpu busy by time, ignoring idle past last instr")
  )
  out.push("  Instructions per context switch histogram:")
  histogramText(out, c.instrsPerSwitch, switchBin)
  for (const h of c.tidInstrsPerSwitch) {
    out.push(`  Thread W${h.workload}.T${h.tid} instructions per context switch histogram:`)
    histogramText(out, h.bins, switchBin)
  }
  if (c.coresPerThread.length > 0) {
    out.push("  Cores per thread:")
    histogramText(out, c.coresPerThread, 1)
  }
  out.push("  Latencies for syscalls that incurred a switch:")
  for (const h of c.sysnumSwitchLatency) {
    out.push(`    #${h.sysnum}`)
    histogramText(out, h.bins, latencyBin)
  }
  out.push("  Latencies for syscalls that did not incur a switch:")
  for (const h of c.sysnumNoswitchLatency) {
    out.push(`    #${h.sysnum}`)
    histogramText(out, h.bins, latencyBin)
  }
}

/** DynamoRIO's `print_results` text. */
export const printReport = (r: Report, switchBin: number, latencyBin: number): string => {
  const out: Array<string> = ["Schedule stats tool results:", "Total counts:", `${setw(r.cores.length, 12)} cores`]
  printCounts(out, r.total, switchBin, latencyBin)
  for (const c of r.cores) {
    out.push(`Core #${c.core} counts:`)
    printCounts(out, c.counts, switchBin, latencyBin)
  }
  for (const c of r.cores) out.push(`Core #${c.core} schedule: ${c.schedule}`)
  for (const c of r.cores) {
    out.push(`Core #${c.core} switch-outs:`)
    const n = Math.min(r.entriesPerShard, c.switchRecords.length)
    for (let i = 0; i < n; i++) {
      const s = c.switchRecords[i]!
      out.push(
        `${setw(i, 5)} W${s.workload}.T${String(s.tid).padEnd(6)} @ ${setw(s.inputInstrStart, 11)} instrs=${setw(
          s.instructions,
          9
        )} sys#=${setw(s.syscallNumber, 4)} latency=${setw(s.syscallLatency, 7)}${setw(
          s.voluntary ? "vol" : "invol",
          6
        )}${setw(s.direct ? "direct" : "", 7)}`
      )
    }
    if (n < c.switchRecordCount) out.push("    ... (increase -verbose to see more)")
  }
  // DynamoRIO divides doubles: an empty core gives inf (or -nan for 0/0).
  const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? Number.NaN : Number.POSITIVE_INFINITY) : a / b)
  out.push(`Max activity ratio between cores: ${fixed(ratio(r.maxActivity, r.minActivity), 2)}`)
  out.push(`Max instruction ratio between cores: ${fixed(ratio(r.maxInstrs, r.minInstrs), 2)}`)
  return out.join("\n") + "\n"
}
