/**
 * Ports of DynamoRIO scheduler unit tests (clients/drcachesim/tests/
 * scheduler_unit_tests.cpp) with their golden strings, statistics and
 * ordinals: test_replay_limit, test_replay_multi_threaded,
 * test_replay_as_traced_i6107_workaround, test_times_of_interest,
 * test_static_marker_updates,
 * test_synthetic_with_syscall_seq, test_synthetic_time_quanta_with_kernel and
 * test_parallel_with_syscall_injection. The inputs, options and expected
 * values are DynamoRIO's; what could not be expressed is said where the
 * sub-case would be (test_record_scheduler and test_record_scheduler_i7574
 * need DynamoRIO's record_scheduler_t over raw trace_entry_t records, which
 * memtrace does not have).
 *
 * DynamoRIO drives its outputs from threads; these ports drive them in
 * lockstep (one record per output per round), one legal interleaving of
 * those threads, so the assertions that hold for every interleaving are
 * the ones checked.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Core, type CoreInput } from "../../src/scheduler/internal/core.ts"
import type { Options } from "../../src/scheduler/internal/options.ts"
import { Stat, type Step } from "../../src/scheduler/internal/state.ts"
import {
  type CpuSchedule,
  RecordType,
  readRecordedSchedule,
  type ScheduleRecord,
  writeRecordedSchedule
} from "../../src/trace/internal/scheduleFile.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import * as RecordBatch from "../../src/trace/RecordBatch.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { Driver, decode, type Entry, exit, instr, marker, mockThread, timestamp, version } from "./fixtures.ts"

// ---------------------------------------------------------------------------
// Harness: DynamoRIO's helpers, over memtrace's pure core.

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"
const THREAD = 1
const PROCESS = 2
const DEFAULT_SYSNUM = 0x0fffffff
const INDIRECT = TraceType.INSTR_INDIRECT_JUMP

const isInstrType = (t: number): boolean =>
  (t >= TraceType.INSTR && t <= TraceType.INSTR_RETURN) ||
  t === TraceType.INSTR_SYSENTER ||
  t === TraceType.INSTR_TAKEN_JUMP ||
  t === TraceType.INSTR_UNTAKEN_JUMP

/** Something that steps outputs one DynamoRIO next_record call at a time. */
interface Stepper {
  readonly core: Core
  next(output: number, now?: number, maxRecords?: number): Step
}

/**
 * A driver over batch sources (pre-read batches or a lazy generator), for
 * inputs that are not small Entry lists: the real threadsig trace and the
 * 11M-instruction inputs of the i#6107 test.
 */
class SourceDriver implements Stepper {
  readonly core: Core
  private readonly sources: ReadonlyArray<() => RecordBatch.RecordBatch | undefined>

  constructor(
    inputs: ReadonlyArray<CoreInput>,
    sources: ReadonlyArray<() => RecordBatch.RecordBatch | undefined>,
    outputs: number,
    options: Options
  ) {
    const core = Core.make(inputs, outputs, options)
    if (!(core instanceof Core)) throw new Error(`bad options: ${core.option}: ${core.detail}`)
    this.core = core
    this.sources = sources
  }

  next(output: number, now = 0, maxRecords = 1): Step {
    for (;;) {
      const s = this.core.next(output, now, maxRecords)
      if (s._tag !== "NeedData") return s
      this.core.supply(s.input, this.sources[s.input]!())
    }
  }
}

const fromList = (batches: Array<RecordBatch.RecordBatch>) => () => batches.shift()

/** The entries' driver, stepping one record per call unless told otherwise. */
const entriesDriver = (inputs: ReadonlyArray<ReadonlyArray<Entry>>, outputs: number, options: Options): Stepper => {
  const d = new Driver(inputs, outputs, options)
  return { core: d.core, next: (o, now = 0, max = 1) => d.next(o, now, max) }
}

/**
 * DynamoRIO's run_lockstep_simulation: one character per next_record call
 * per output, round-robin; `A`+tid−base for an instruction (`a`+… while the
 * output's kernel tracker is in a system call or context switch trace, i.e.
 * is_record_kernel()), `.` any other record, `_` IDLE, `-` WAIT. With
 * `sendTime` the time passed is the output's instruction ordinal + 1 + the
 * idle and wait results so far. Checks no input letter is on two outputs in
 * one step.
 */
const drLockstep = (
  d: Stepper,
  outputs: number,
  tidBase: number,
  options: { readonly sendTime?: boolean; readonly maxRounds?: number } = {}
): Array<string> => {
  const strings: Array<string> = new Array<string>(outputs).fill("")
  const eof = new Array<boolean>(outputs).fill(false)
  const inSyscall = new Array<boolean>(outputs).fill(false)
  const inSwitch = new Array<boolean>(outputs).fill(false)
  const lastWasEnd = new Array<boolean>(outputs).fill(false)
  let eofs = 0
  let meta = 0
  let rounds = 0
  while (eofs < outputs) {
    if (++rounds > (options.maxRounds ?? 100_000)) throw new Error("lockstep: no EOF")
    for (let o = 0; o < outputs; o++) {
      if (eof[o]) continue
      const now = options.sendTime ? d.core.outputs[o]!.instrs + 1 + meta : 0
      const s = d.next(o, now, 1)
      if (s._tag === "Eof") {
        eof[o] = true
        eofs++
        continue
      }
      if (s._tag === "Wait") {
        strings[o] += "-"
        meta++
        continue
      }
      if (s._tag === "Idle") {
        strings[o] += "_"
        meta++
        continue
      }
      if (s._tag !== "Records") throw new Error(`lockstep: ${show(s)}`)
      const b = s.batch
      const i = s.start
      // DynamoRIO's kernel_tracker_t::update for this record.
      lastWasEnd[o] = false
      if (b.type[i] === TraceType.MARKER) {
        const m = b.size[i]!
        if (m === MarkerType.SYSCALL_TRACE_START) inSyscall[o] = true
        else if (m === MarkerType.CONTEXT_SWITCH_START) inSwitch[o] = true
        else if (m === MarkerType.SYSCALL_TRACE_END) {
          inSyscall[o] = false
          lastWasEnd[o] = true
        } else if (m === MarkerType.CONTEXT_SWITCH_END) {
          inSwitch[o] = false
          lastWasEnd[o] = true
        }
      }
      if (isInstrType(b.type[i]!)) {
        const kernel = inSyscall[o] || inSwitch[o] || lastWasEnd[o]
        strings[o] += String.fromCharCode((kernel ? 97 : 65) + b.tid[i]! - tidBase)
      } else {
        strings[o] += "."
      }
    }
  }
  const longest = Math.max(...strings.map((s) => s.length))
  for (let step = 0; step < longest; step++) {
    const seen = new Set<string>()
    for (const s of strings) {
      const c = s[step]
      if (c === undefined || c < "A" || c > "Z") continue
      if (seen.has(c)) throw new Error(`lockstep: input ${c} on two outputs at step ${step}`)
      seen.add(c)
    }
  }
  return strings
}

/** A step, briefly (a Records step's batch is large). */
const show = (s: Step): string =>
  s._tag === "Records"
    ? `Records(input ${s.input}, type ${s.batch.type[s.start]})`
    : s._tag === "Error"
      ? `Error(${s.reason}: ${s.detail})`
      : s._tag

/** DynamoRIO's verify_scheduler_stats: the first eight statistics of an output. */
const stats8 = (d: Stepper, output: number): Array<number> => d.core.stats(output).slice(0, 8)

/** DynamoRIO's replay_file_checker_t: no two consecutive idle records. */
const replayFileCheck = (schedule: ReadonlyArray<ReadonlyArray<ScheduleRecord>>): string => {
  for (const out of schedule) {
    let prevIdle = false
    for (const r of out) {
      const idle = r.type === RecordType.IDLE || r.type === RecordType.IDLE_BY_COUNT
      if (idle && prevIdle) return "Error: consecutive idle records"
      prevIdle = idle
    }
  }
  return ""
}

/** Writes the recorded schedule to a zip and reads it back (DynamoRIO's zipfile_ostream_t / istream_t). */
const throughFile = async (
  schedule: ReadonlyArray<ReadonlyArray<ScheduleRecord>>
): Promise<ReadonlyMap<string, ReadonlyArray<ScheduleRecord>>> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-drreplay-"))
  try {
    const file = path.join(dir, "record.zip")
    await writeRecordedSchedule(file, schedule)
    return await readRecordedSchedule(file)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** DynamoRIO's get_mock_switch_sequence. */
const switchTemplates = (threadPc = 0xcafe101, processPc = 0xf00d101): Array<Entry> => [
  Synthetic.header(),
  Synthetic.threadEntry(1),
  Synthetic.pid(1),
  Synthetic.version(7),
  timestamp(1),
  marker(MarkerType.CONTEXT_SWITCH_START, PROCESS),
  Synthetic.instr(processPc),
  marker(MarkerType.BRANCH_TARGET, 0xd041ca4e),
  Synthetic.instr(processPc + 1, INDIRECT),
  marker(MarkerType.CONTEXT_SWITCH_END, PROCESS),
  Synthetic.exit(1),
  Synthetic.footer(),
  Synthetic.header(),
  Synthetic.threadEntry(1),
  Synthetic.pid(1),
  Synthetic.version(7),
  marker(MarkerType.CONTEXT_SWITCH_START, THREAD),
  Synthetic.instr(threadPc),
  marker(MarkerType.BRANCH_TARGET, 0xd041ca4e),
  Synthetic.instr(threadPc + 1, INDIRECT),
  marker(MarkerType.CONTEXT_SWITCH_END, THREAD),
  Synthetic.exit(1),
  Synthetic.footer()
]

/** DynamoRIO's get_mock_syscall_sequence. */
const syscallTemplates = (base: number, pc = 0xfeed101): Array<Entry> => [
  Synthetic.header(),
  Synthetic.threadEntry(1),
  Synthetic.pid(1),
  Synthetic.version(7),
  timestamp(1),
  marker(MarkerType.SYSCALL_TRACE_START, base),
  Synthetic.instr(pc),
  marker(MarkerType.BRANCH_TARGET, 0xd041ca4e),
  Synthetic.instr(pc + 1, INDIRECT),
  marker(MarkerType.SYSCALL_TRACE_END, base),
  marker(MarkerType.SYSCALL_TRACE_START, base + 1),
  Synthetic.instr(pc + 10),
  Synthetic.instr(pc + 11),
  marker(MarkerType.BRANCH_TARGET, 0xd041ca4e),
  Synthetic.instr(pc + 12, INDIRECT),
  marker(MarkerType.SYSCALL_TRACE_END, base + 1),
  marker(MarkerType.SYSCALL_TRACE_START, DEFAULT_SYSNUM),
  marker(MarkerType.BRANCH_TARGET, 0xd041ca4e),
  Synthetic.instr(pc + 20, INDIRECT),
  marker(MarkerType.SYSCALL_TRACE_END, DEFAULT_SYSNUM),
  Synthetic.exit(1),
  Synthetic.footer()
]

// ---------------------------------------------------------------------------

describe("test_replay_limit (record and replay of ROI-limited inputs)", () => {
  const NUM_INSTRS = 1000
  const BASE_TID = 100
  const inputs = () =>
    [0, 1, 2].map((i) => {
      const body: Array<Entry> = [marker(MarkerType.PAGE_SIZE, 4096), timestamp(10), marker(MarkerType.CPU_ID, 1)]
      for (let k = 0; k < NUM_INSTRS; k++) body.push(instr(k))
      body.push(exit(BASE_TID + i))
      return mockThread(BASE_TID + i, body)
    })
  // Instruction counts are 1-based; stop just before the end (i#6336).
  const regions = [{ start: 1, stop: NUM_INSTRS - 10 }]
  const perInput = [{ regions }, { regions }, { regions }]

  /** DynamoRIO's simulate_core, for every output (lockstep): instructions and their letters. */
  const simulate = (d: Stepper, outputs: number) => {
    const counts = new Array<number>(outputs).fill(0)
    const schedules = new Array<string>(outputs).fill("")
    const eof = new Array<boolean>(outputs).fill(false)
    let left = outputs
    for (let rounds = 0; left > 0; rounds++) {
      if (rounds > 1_000_000) throw new Error("no EOF")
      for (let o = 0; o < outputs; o++) {
        if (eof[o]) continue
        const s = d.next(o, 0, 1)
        if (s._tag === "Eof") {
          eof[o] = true
          left--
          continue
        }
        if (s._tag === "Wait" || s._tag === "Idle") continue
        assert.strictEqual(s._tag, "Records", show(s))
        if (s._tag !== "Records") continue
        if (isInstrType(s.batch.type[s.start]!)) {
          counts[o]!++
          schedules[o] += String.fromCharCode(65 + s.batch.tid[s.start]! - BASE_TID)
        }
      }
    }
    return { counts, schedules }
  }

  const recordThenReplay = async (quantum: number | undefined) => {
    const rec = entriesDriver(inputs(), 2, {
      mapping: "dynamic",
      deps: "ignore",
      inputs: perInput,
      recordSchedule: true,
      ...(quantum === undefined ? {} : { quantumDurationInstrs: quantum })
    })
    const recorded = simulate(rec, 2)
    const schedule = rec.core.recordedSchedule()
    const file = await throughFile(schedule)
    const rep = entriesDriver(inputs(), 2, {
      mapping: "asPreviously",
      deps: "ignore",
      inputs: perInput,
      replaySchedule: file
    })
    const replayed = simulate(rep, 2)
    return { recorded, replayed, schedule }
  }

  it("no interleaving (default quantum): replay matches the recording", async () => {
    const { recorded, replayed, schedule } = await recordThenReplay(undefined)
    assert.strictEqual(replayFileCheck(schedule), "")
    for (let o = 0; o < 2; o++) {
      assert.strictEqual(replayed.counts[o], recorded.counts[o], `output ${o} instruction count`)
      assert.strictEqual(replayed.schedules[o], recorded.schedules[o], `output ${o} schedule`)
    }
  })

  it("smaller quantum (100 instructions) with interleaving: replay matches the recording", async () => {
    const { recorded, replayed, schedule } = await recordThenReplay(NUM_INSTRS / 10)
    assert.strictEqual(replayFileCheck(schedule), "")
    let switches = 0
    for (const s of recorded.schedules) for (let k = 1; k < s.length; k++) if (s[k] !== s[k - 1]) switches++
    assert.isAbove(switches, 0)
    for (let o = 0; o < 2; o++) {
      assert.strictEqual(replayed.counts[o], recorded.counts[o], `output ${o} instruction count`)
      assert.strictEqual(replayed.schedules[o], recorded.schedules[o], `output ${o} schedule`)
    }
  })
})

describe("test_replay_multi_threaded (threadsig, 4 outputs, record then replay)", () => {
  /** The decoded inputs of threadsig, with what the core needs of each. */
  const load = Effect.fn(function* () {
    const inputs = yield* Trace.open(THREADSIG)
    const core: Array<CoreInput> = inputs.map((i) => ({
      tid: i.info.tid,
      zip: i.info.container === "zip",
      chunkInstrCount: i.info.chunkInstrCount
    }))
    const batches: Array<Array<RecordBatch.RecordBatch>> = []
    for (const i of inputs) batches.push(yield* Trace.readAll(i))
    return { core, batches }
  })

  /**
   * DynamoRIO's simulate_core_and_record_schedule on every output (lockstep):
   * at each record whose tid differs from the previous record's, the
   * context switch with the output's position (record ordinal, instruction
   * ordinal, last timestamp) and the previous and new inputs' reader
   * positions (get_input_stream_interface: what the input's reader has read).
   */
  const simulate = (d: Stepper, outputs: number): Array<Array<string>> => {
    const core = d.core
    const seqs: Array<Array<string>> = Array.from({ length: outputs }, () => [])
    const prevTid = new Array<number>(outputs).fill(0)
    const prevInput = new Array<number>(outputs).fill(-1)
    const lastTs = new Array<bigint>(outputs).fill(0n)
    const eof = new Array<boolean>(outputs).fill(false)
    const inputPos = (input: number) => {
      const inp = core.inputs[input]!
      return `<${inp.readCount},${core.readerInstrOrdinal(inp)},${BigInt(inp.lastTsHi) * 2n ** 32n + BigInt(inp.lastTsLo)}>`
    }
    let left = outputs
    for (let rounds = 0; left > 0; rounds++) {
      if (rounds > 50_000_000) throw new Error("no EOF")
      for (let o = 0; o < outputs; o++) {
        if (eof[o]) continue
        const s = d.next(o, 0, 1)
        if (s._tag === "Eof") {
          eof[o] = true
          left--
          continue
        }
        if (s._tag === "Wait" || s._tag === "Idle") continue
        if (s._tag !== "Records") throw new Error(`output ${o}: ${show(s)}`)
        const b = s.batch
        const i = s.start
        // The stream's last timestamp is that of the last TIMESTAMP it returned.
        if (b.type[i] === TraceType.MARKER && b.size[i] === MarkerType.TIMESTAMP) lastTs[o] = RecordBatch.addrBig(b, i)
        const tid = b.tid[i]!
        if (tid !== prevTid[o] && prevTid[o] !== 0) {
          const out = core.outputs[o]!
          seqs[o]!.push(
            `${prevTid[o]} => ${tid} @ <${out.records},${out.instrs},${lastTs[o]}> (${inputPos(prevInput[o]!)} => ${inputPos(s.input)})`
          )
        }
        prevTid[o] = tid
        prevInput[o] = s.input
      }
    }
    for (let o = 0; o < outputs; o++) if (seqs[o]!.length === 0) seqs[o]!.push(String(prevTid[o]))
    return seqs
  }

  it.effect("the replay's context switches are the recording's, positions included", () =>
    Effect.gen(function* () {
      const first = yield* load()
      const rec = new SourceDriver(first.core, first.batches.map(fromList), 4, {
        mapping: "dynamic",
        deps: "timestamps",
        quantumDurationInstrs: 2000,
        blockTimeMaxUs: 50,
        recordSchedule: true
      })
      const recorded = simulate(rec, 4)
      const schedule = rec.core.recordedSchedule()
      assert.strictEqual(replayFileCheck(schedule), "")
      const file = yield* Effect.promise(() => throughFile(schedule))
      const second = yield* load()
      const rep = new SourceDriver(second.core, second.batches.map(fromList), 4, {
        mapping: "asPreviously",
        deps: "timestamps",
        replaySchedule: file
      })
      const replayed = simulate(rep, 4)
      for (let o = 0; o < 4; o++) {
        assert.strictEqual(replayed[o]!.length, recorded[o]!.length, `output ${o}: number of switches`)
        assert.deepStrictEqual(replayed[o], recorded[o], `output ${o}`)
      }
    })
  )
})

describe("test_replay_as_traced_i6107_workaround (10M-instruction chunks)", () => {
  const CHUNK = 10_000_000
  const STEP = 1_000_000
  const STEPS = CHUNK / STEP // Steps 0..10: 11M instructions per input.
  const TID_BASE = 100
  const CPU = 6
  const BLOCK = 250_000

  /** Writes 12-byte trace entries straight into bytes (Synthetic.encode makes an object per entry). */
  const put = (view: DataView, k: number, type: number, size: number, lo: number) => {
    view.setUint16(k * 12, type, true)
    view.setUint16(k * 12 + 2, size, true)
    view.setUint32(k * 12 + 4, lo >>> 0, true)
    view.setUint32(k * 12 + 8, 0, true)
  }

  /**
   * DynamoRIO's input: thread, pid, [version], then per step a timestamp
   * (101 + step) and 1M instructions (pc 42 + k), then the exit. Decoded
   * lazily, a block of instructions at a time (each block a small trace of
   * its own: the decoder hides its header, thread, pid and footer).
   */
  const source = (tid: number, withVersion: boolean) => {
    let step = 0
    let k = 0
    let first = true
    let done = false
    const pending: Array<RecordBatch.RecordBatch> = []
    return (): RecordBatch.RecordBatch | undefined => {
      while (pending.length === 0) {
        if (done) return undefined
        const n = Math.min(BLOCK, STEP - k)
        const bytes = new Uint8Array((n + 8) * 12)
        const view = new DataView(bytes.buffer)
        let e = 0
        put(view, e++, TraceType.HEADER, 0, 7)
        put(view, e++, TraceType.THREAD, 4, tid)
        put(view, e++, TraceType.PID, 4, 1)
        if (first && withVersion) put(view, e++, TraceType.MARKER, MarkerType.VERSION, 5)
        first = false
        if (k === 0) put(view, e++, TraceType.MARKER, MarkerType.TIMESTAMP, 101 + step)
        for (let j = 0; j < n; j++) put(view, e++, TraceType.INSTR, 1, 42 + k + j)
        k += n
        if (k === STEP) {
          k = 0
          step++
          if (step > STEPS) {
            put(view, e++, TraceType.THREAD_EXIT, 4, tid)
            done = true
          }
        }
        put(view, e++, TraceType.FOOTER, 0, 0)
        pending.push(...Trace.decodeSync(bytes.subarray(0, e * 12)))
      }
      return pending.shift()
    }
  }

  const run = (withVersion: boolean, cpuSchedule: CpuSchedule) => {
    const d = new SourceDriver(
      [{ tid: TID_BASE }, { tid: TID_BASE + 1 }],
      [source(TID_BASE, withVersion), source(TID_BASE + 1, withVersion)],
      1,
      { mapping: "recorded", deps: "timestamps", cpuSchedule }
    )
    // Since it initialized we did not get an invalid schedule order; the stream works too.
    let instrs = 0
    for (let s = d.next(0, 0, Number.POSITIVE_INFINITY); s._tag !== "Eof"; s = d.next(0, 0, Number.POSITIVE_INFINITY)) {
      assert.strictEqual(s._tag, "Records", show(s))
      if (s._tag !== "Records") break
      for (let i = s.start; i < s.end; i++) if (isInstrType(s.batch.type[i]!)) instrs++
    }
    return instrs
  }

  it("a schedule with the i#6107 modulo bug (no version marker) replays to the end, all OK", () => {
    const entries = []
    for (let step = 0; step <= STEPS; step++)
      for (let i = 0; i < 2; i++)
        entries.push({
          thread: TID_BASE + i,
          timestamp: BigInt(100 + step),
          cpu: CPU,
          // The bug has modulo chunk count as the count.
          startInstruction: (step * STEP) % CHUNK
        })
    const instrs = run(false, [{ name: String(CPU), entries }])
    assert.strictEqual(instrs, 2 * (STEPS + 1) * STEP)
  })

  it("identical timestamps with a version known not to have the bug replay to the end, all OK", () => {
    const entries = []
    for (let step = 0; step <= STEPS; step++)
      for (let i = 0; i < 2; i++)
        entries.push({
          thread: TID_BASE + i,
          // Duplicate the prior timestamp.
          timestamp: BigInt(100 + step - (step === 1 && i === 1 ? 1 : 0)),
          cpu: CPU,
          startInstruction: step * STEP
        })
    const instrs = run(true, [{ name: String(CPU), entries }])
    assert.strictEqual(instrs, 2 * (STEPS + 1) * STEP)
  })
})

describe("test_times_of_interest", () => {
  const TID_BASE = 100
  const PC_BASE = 42
  const inputs = () =>
    [0, 1, 2].map((i) => {
      const body: Array<Entry> = []
      for (let j = 0; j < 3; j++) {
        body.push(timestamp(i === 2 ? 1 + 5 * (j + 1) : 10 * (j + 1) + 10 * i))
        for (let k = 0; k < 3; k++) body.push(instr(PC_BASE + 1 + j * 3 + k))
      }
      body.push(exit(TID_BASE + i))
      return mockThread(TID_BASE + i, body)
    })
  const e = (thread: number, ts: number, cpu: number, start: number) => ({
    thread,
    timestamp: BigInt(ts),
    cpu,
    startInstruction: start
  })
  const cpuSchedule: CpuSchedule = [
    {
      name: "6",
      entries: [
        e(TID_BASE, 10, 6, 0),
        e(TID_BASE, 20, 6, 4),
        e(TID_BASE, 30, 6, 7),
        e(TID_BASE + 1, 20, 6, 0),
        e(TID_BASE + 1, 30, 6, 4),
        e(TID_BASE + 1, 40, 6, 7)
      ]
    },
    { name: "9", entries: [e(TID_BASE + 2, 6, 9, 0), e(TID_BASE + 2, 11, 9, 4), e(TID_BASE + 2, 16, 9, 7)] }
  ]
  const options = (times: Array<[number, number]>): Options => ({
    mapping: "dynamic",
    deps: "timestamps",
    cpuSchedule,
    timesOfInterest: times.map(([start, stop]) => ({ start: BigInt(start), stop: BigInt(stop) }))
  })

  it("an erroneous range request with no gap is an invalid parameter", () => {
    // 30 and 32 have a time gap but no instruction gap.
    const made = Core.make(
      [0, 1, 2].map((i) => ({ tid: TID_BASE + i })),
      1,
      options([
        [25, 30],
        [32, 33]
      ])
    )
    assert.isFalse(made instanceof Core, "init must fail with STATUS_ERROR_INVALID_PARAMETER")
  })

  it("a valid range request: A from 5 to the end, B 2-4 and 6-7, C not at all", () => {
    const d = entriesDriver(
      inputs(),
      1,
      options([
        [25, 30],
        [38, 39]
      ])
    )
    const check = (tid: number, type: number, addr = 0) => {
      const s = d.next(0, 0, 1)
      assert.strictEqual(s._tag, "Records", show(s))
      if (s._tag !== "Records") return
      assert.strictEqual(s.batch.tid[s.start], tid)
      assert.strictEqual(s.batch.type[s.start], type)
      if (addr !== 0) assert.strictEqual(RecordBatch.addrNumber(s.batch, s.start), addr)
    }
    const M = TraceType.MARKER
    const I = TraceType.INSTR
    // Range is 5 until the end.
    check(TID_BASE, I, PC_BASE + 5)
    check(TID_BASE, I, PC_BASE + 6)
    check(TID_BASE, M)
    check(TID_BASE, I, PC_BASE + 7)
    check(TID_BASE, I, PC_BASE + 8)
    check(TID_BASE, I, PC_BASE + 9)
    check(TID_BASE, TraceType.THREAD_EXIT)
    // Two ranges: 2-4 and 6-7.
    check(TID_BASE + 1, I, PC_BASE + 2)
    check(TID_BASE + 1, I, PC_BASE + 3)
    check(TID_BASE + 1, M)
    check(TID_BASE + 1, I, PC_BASE + 4)
    // Window id marker in between.
    check(TID_BASE + 1, M)
    check(TID_BASE + 1, I, PC_BASE + 6)
    check(TID_BASE + 1, M)
    check(TID_BASE + 1, I, PC_BASE + 7)
    check(TID_BASE + 1, TraceType.THREAD_EXIT)
    assert.strictEqual(d.next(0, 0, 1)._tag, "Eof")
  })
})

describe("test_static_marker_updates", () => {
  it("consistent mapping: CORE_IDLE and CORE_WAIT markers become IDLE and WAIT, one each per instruction", () => {
    const NUM_INSTRS = 12
    const TID = 100
    const inputs = [0, 1].map((i) => {
      const body: Array<Entry> = [version(7), timestamp(12340000 + i), marker(MarkerType.CPU_ID, 1)]
      for (let j = 0; j < NUM_INSTRS; j++)
        body.push(instr(42 + j * 4), marker(MarkerType.CORE_IDLE, 0), marker(MarkerType.CORE_WAIT, 0))
      body.push(exit(TID))
      return mockThread(TID, body, 200)
    })
    const d = entriesDriver(inputs, 2, { mapping: "consistent", deps: "ignore" })
    let idles = 0
    let waits = 0
    let instrs = 0
    const eof = [false, false]
    let left = 2
    for (let rounds = 0; left > 0; rounds++) {
      if (rounds > 10_000) throw new Error("no EOF")
      for (let o = 0; o < 2; o++) {
        if (eof[o]) continue
        const s = d.next(o, 0, 1)
        if (s._tag === "Eof") {
          eof[o] = true
          left--
        } else if (s._tag === "Idle") idles++
        else if (s._tag === "Wait") waits++
        else {
          assert.strictEqual(s._tag, "Records")
          if (s._tag !== "Records") continue
          const b = s.batch
          const i = s.start
          // The idle and wait markers should have turned into statuses.
          assert.isFalse(
            b.type[i] === TraceType.MARKER && (b.size[i] === MarkerType.CORE_IDLE || b.size[i] === MarkerType.CORE_WAIT)
          )
          if (isInstrType(b.type[i]!)) instrs++
        }
      }
    }
    assert.strictEqual(instrs, NUM_INSTRS * 2)
    assert.strictEqual(idles, instrs)
    assert.strictEqual(waits, instrs)
  })
})

describe("test_synthetic_with_syscall_seq (system call traces in the input)", () => {
  const QUANTUM = 3
  const SYSTRACE_NUM = 84
  const KERNEL_CODE_OFFSET = 123456
  const inputs = () =>
    Array.from({ length: 7 }, (_, i) => {
      const tid = 100 + i
      const body: Array<Entry> = [version(7), timestamp(10)]
      for (let j = 0; j < 9; j++) {
        body.push(instr(42 + j * 4))
        // A syscall sequence starting at each offset within a quantum.
        if (i <= QUANTUM && i === j) {
          body.push(timestamp(20), marker(MarkerType.SYSCALL, SYSTRACE_NUM))
          // Only A and B block (a voluntary switch, maybe delayed by the trace).
          if (i < 2) body.push(marker(MarkerType.MAYBE_BLOCKING_SYSCALL, 0))
          body.push(timestamp(120), marker(MarkerType.SYSCALL_TRACE_START, SYSTRACE_NUM))
          const n = i === 0 || i === 3 ? 1 : QUANTUM
          for (let k = 1; k <= n; k++) body.push(instr(KERNEL_CODE_OFFSET + k))
          body.push(marker(MarkerType.SYSCALL_TRACE_END, SYSTRACE_NUM))
        }
      }
      body.push(exit(tid))
      return mockThread(tid, body)
    })
  const CORE0 = "..A.....a...CCC....ccc...EEE..GGGACCCEEEGGGAAACCC.EEE.AAAA."
  const CORE1 = "..BB.....bbb...DDD..FFFBBBD....d.DFFFBBBDDDFFF.B.D.GGG.____"

  /**
   * DynamoRIO's non-Windows acceptance of the instruction-quanta schedule:
   * the golden strings, or else these patterns (a single A, B and D; the
   * four system call traces).
   */
  const relaxedPatternsHold = (s: ReadonlyArray<string>): boolean => {
    const single = (c: string) =>
      s.some((str) => {
        for (let i = 1; i < str.length - 1; i++) if (str[i] === c && str[i - 1] !== c && str[i + 1] !== c) return true
        return false
      })
    const has = (p: string) => s.some((str) => str.includes(p))
    return single("A") && single("B") && single("D") && has(".a.") && has(".bbb.") && has(".ccc.") && has(".d.")
  }

  it("instruction quanta: statistics", () => {
    const d = entriesDriver(inputs(), 2, {
      mapping: "dynamic",
      deps: "ignore",
      randomInitialLayout: -1,
      quantumDurationInstrs: QUANTUM,
      blockingSwitchThreshold: 100,
      blockTimeMultiplier: 0.01,
      timeUnitsPerUs: 1,
      migrationThresholdUs: 0
    })
    drLockstep(d, 2, 100)
    // in->in, in->idle, idle->in, nop, preempts, direct attempts, direct successes, migrations.
    assert.deepStrictEqual(stats8(d, 0), [11, 0, 0, 1, 9, 0, 0, 1])
    assert.deepStrictEqual(stats8(d, 1), [11, 1, 0, 0, 8, 0, 0, 0])
    assert.strictEqual(d.core.stats(0)[Stat.RUNQUEUE_STEALS], 0)
    assert.strictEqual(d.core.stats(1)[Stat.RUNQUEUE_STEALS], 1)
  })

  it("instruction quanta: schedule (DynamoRIO accepts the golden strings or its relaxed patterns)", () => {
    const d = entriesDriver(inputs(), 2, {
      mapping: "dynamic",
      deps: "ignore",
      randomInitialLayout: -1,
      quantumDurationInstrs: QUANTUM,
      blockingSwitchThreshold: 100,
      blockTimeMultiplier: 0.01,
      timeUnitsPerUs: 1,
      migrationThresholdUs: 0
    })
    const s = drLockstep(d, 2, 100)
    if (s[0] !== CORE0 || s[1] !== CORE1)
      assert.isTrue(relaxedPatternsHold(s), `neither the golden strings nor the relaxed patterns: ${JSON.stringify(s)}`)
  })

  it("time quanta: DynamoRIO's schedule", () => {
    const d = entriesDriver(inputs(), 2, {
      mapping: "dynamic",
      deps: "ignore",
      randomInitialLayout: -1,
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      blockingSwitchThreshold: 100,
      quantumDurationUs: QUANTUM,
      blockTimeMultiplier: 0.01,
      migrationThresholdUs: 0
    })
    const s = drLockstep(d, 2, 100, { sendTime: true })
    assert.strictEqual(s[0], CORE0)
    assert.strictEqual(s[1], CORE1)
  })
})

describe("test_synthetic_time_quanta_with_kernel (switch and syscall injection together)", () => {
  const TID_A = 42
  const TID_B = 43
  const TID_C = 44
  const SYSCALL_BASE = 42
  const SYSCALL_PC_START = 0xfeed101
  const THREAD_SWITCH_PC_START = 0xcafe101
  const PROCESS_SWITCH_PC_START = 0xf00d101
  const INSTR_1_TID_C_PC = 100 * 2 + 10
  const INSTR_2_TID_A_PC = 30
  const INSTR_3_TID_A_PC = 50
  const refs = () =>
    [0, 1, 2].map((i) => {
      const body: Array<Entry> = [version(7), timestamp(10), instr(100 * i + 10), instr(100 * i + 30)]
      if (i === 0)
        body.push(
          timestamp(20),
          marker(MarkerType.SYSCALL, SYSCALL_BASE),
          marker(MarkerType.MAYBE_BLOCKING_SYSCALL, 0),
          timestamp(220)
        )
      body.push(instr(100 * i + 50), exit(TID_A + i))
      return mockThread(TID_A + i, body)
    })

  const record = () => {
    const d = entriesDriver(refs(), 2, {
      mapping: "dynamic",
      deps: "ignore",
      randomInitialLayout: -1,
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      quantumDurationUs: 3,
      blockingSwitchThreshold: 100,
      blockTimeMultiplier: 10 / (220 - 20),
      migrationThresholdUs: 0,
      kernelSyscallSequences: decode(syscallTemplates(SYSCALL_BASE, SYSCALL_PC_START)),
      kernelSwitchSequences: decode(switchTemplates(THREAD_SWITCH_PC_START, PROCESS_SWITCH_PC_START)),
      recordSchedule: true
    })
    const sched = ["", ""]
    /** DynamoRIO's check_next lambda: the status, then tid, pc or marker type and value, branch target. */
    const check = (
      output: number,
      time: number,
      status: "Records" | "Idle" | "Eof",
      tid = 0,
      pcOrMarkerValue = 0,
      markerType = -1,
      indirectTarget = 0
    ) => {
      const s = d.next(output, time, 1)
      assert.strictEqual(s._tag, status, `output ${output} at time ${time}: ${show(s)}`)
      if (s._tag === "Idle") sched[output] += "_"
      if (s._tag !== "Records") return
      const b = s.batch
      const i = s.start
      assert.strictEqual(b.tid[i], tid, `tid at time ${time}`)
      const type = b.type[i]!
      if (isInstrType(type)) {
        sched[output] += String.fromCharCode(65 + ((b.tid[i]! - TID_A) % 26))
        if (pcOrMarkerValue !== 0) assert.strictEqual(RecordBatch.addrNumber(b, i), pcOrMarkerValue, `pc at ${time}`)
        if (indirectTarget !== 0)
          assert.strictEqual(Number(RecordBatch.auxBig(b, i)), indirectTarget, `target at ${time}`)
      }
      if (type === TraceType.MARKER) {
        const m = b.size[i]!
        if (markerType !== -1) {
          assert.strictEqual(m, markerType, `marker type at time ${time}`)
          if (pcOrMarkerValue !== 0)
            assert.strictEqual(RecordBatch.addrNumber(b, i), pcOrMarkerValue, `marker value at ${time}`)
        }
        sched[output] +=
          m === MarkerType.CONTEXT_SWITCH_START || m === MarkerType.CONTEXT_SWITCH_END
            ? "c"
            : m === MarkerType.SYSCALL_TRACE_START || m === MarkerType.SYSCALL_TRACE_END
              ? "s"
              : "."
      }
    }
    const OK = "Records" as const
    let time = 1
    // Advance cpu0 to its switch from TID_A to TID_C.
    check(0, time, OK, TID_A)
    check(0, time, OK, TID_A)
    check(0, ++time, OK, TID_A)
    // Advance cpu1 to its next quantum end.
    check(1, time, OK, TID_B)
    check(1, time, OK, TID_B)
    check(1, ++time, OK, TID_B)
    // Switch sequence on cpu0.
    check(0, ++time, OK, TID_C, THREAD, MarkerType.CONTEXT_SWITCH_START)
    check(0, time, OK, TID_C, THREAD_SWITCH_PC_START)
    // The indirect branch target is the 1st instruction of TID_C.
    check(0, time, OK, TID_C, THREAD_SWITCH_PC_START + 1, -1, INSTR_1_TID_C_PC)
    check(0, time, OK, TID_C, THREAD, MarkerType.CONTEXT_SWITCH_END)
    // Now TID_C starts.
    check(0, time, OK, TID_C, INSTR_1_TID_C_PC)
    check(0, time, OK, TID_C)
    check(0, ++time, OK, TID_C)
    // cpu1 at its quantum end at time 6, but nobody else in its run queue: it keeps TID_B.
    check(1, ++time, OK, TID_B)
    check(1, ++time, OK, TID_B)
    check(1, time, OK, TID_B)
    // cpu1 steals TID_A from cpu0: switch sequence on cpu1.
    check(1, ++time, OK, TID_A, THREAD, MarkerType.CONTEXT_SWITCH_START)
    check(1, time, OK, TID_A, THREAD_SWITCH_PC_START)
    // The indirect branch target is the 2nd instruction of TID_A.
    check(1, time, OK, TID_A, THREAD_SWITCH_PC_START + 1, -1, INSTR_2_TID_A_PC)
    check(1, time, OK, TID_A, THREAD, MarkerType.CONTEXT_SWITCH_END)
    check(1, time, OK, TID_A, INSTR_2_TID_A_PC)
    check(1, time, OK, TID_A, 0, MarkerType.TIMESTAMP)
    check(1, time, OK, TID_A, SYSCALL_BASE, MarkerType.SYSCALL)
    check(1, time, OK, TID_A, 0, MarkerType.MAYBE_BLOCKING_SYSCALL)
    // The syscall sequence injected after the syscall marker of TID_A.
    check(1, time, OK, TID_A, SYSCALL_BASE, MarkerType.SYSCALL_TRACE_START)
    check(1, time, OK, TID_A, SYSCALL_PC_START)
    // Its branch target is TID_A's next instruction, not the switch sequence that follows.
    check(1, ++time, OK, TID_A, SYSCALL_PC_START + 1, -1, INSTR_3_TID_A_PC)
    check(1, time, OK, TID_A, SYSCALL_BASE, MarkerType.SYSCALL_TRACE_END)
    check(1, time, OK, TID_A, 0, MarkerType.TIMESTAMP)
    // A blocking syscall in A, and nothing else to run.
    check(1, ++time, "Idle")
    // Finish off C on cpu0: a quantum end but no one else.
    check(0, ++time, OK, TID_C)
    check(0, ++time, OK, TID_C)
    check(0, time, OK, TID_C)
    // Both cpus wait until A is unblocked.
    check(1, ++time, "Idle")
    check(0, ++time, "Idle")
    check(1, ++time, "Idle")
    check(0, ++time, "Idle")
    check(1, ++time, "Idle")
    check(0, ++time, "Idle")
    check(1, ++time, "Idle")
    // A switch sequence right after the syscall sequence on cpu1.
    check(1, ++time, OK, TID_A, THREAD, MarkerType.CONTEXT_SWITCH_START)
    check(1, time, OK, TID_A, THREAD_SWITCH_PC_START)
    // The indirect branch target is the 3rd instruction of TID_A.
    check(1, time, OK, TID_A, THREAD_SWITCH_PC_START + 1, -1, INSTR_3_TID_A_PC)
    check(1, time, OK, TID_A, THREAD, MarkerType.CONTEXT_SWITCH_END)
    check(1, ++time, OK, TID_A, INSTR_3_TID_A_PC)
    check(1, time, OK, TID_A)
    check(1, ++time, "Eof")
    check(0, ++time, "Eof")
    return { sched, schedule: d.core.recordedSchedule() }
  }

  it("record: the record-by-record sequence and DynamoRIO's strings", () => {
    const { sched } = record()
    assert.strictEqual(sched[0], "..AcCCc..CCC___")
    assert.strictEqual(sched[1], "..BBBcAAcA...sAAs._____cAAcA")
  })

  it("replay: the recording passes the file checker and replays (without kernel) to DynamoRIO's prefixes", async () => {
    const { schedule } = record()
    assert.strictEqual(replayFileCheck(schedule), "")
    const file = await throughFile(schedule)
    const d = entriesDriver(refs(), 2, { mapping: "asPreviously", deps: "ignore", replaySchedule: file })
    const s = drLockstep(d, 2, TID_A)
    // Replay idles by wall-clock in DynamoRIO: only the starts are checked.
    assert.strictEqual(s[0]!.slice(0, 10), "..A..CCC._")
    assert.strictEqual(s[1]!.slice(0, 12), "..BBB.A...._")
  })
})

describe("test_parallel_with_syscall_injection", () => {
  it("consistent mapping with input ordinals: injected sequences keep the input's ordinals", () => {
    const SYSCALL_BASE = 10
    const inputs = [0, 1, 2].map((i) =>
      mockThread(100 + i, [
        marker(MarkerType.PAGE_SIZE, 4096),
        timestamp(10),
        marker(MarkerType.CPU_ID, 1),
        instr(43),
        marker(MarkerType.SYSCALL, SYSCALL_BASE),
        marker(MarkerType.FUNC_ID, 20),
        marker(MarkerType.FUNC_ARG, 1),
        // Expected syscall injection point.
        marker(MarkerType.FUNC_ID, 20),
        marker(MarkerType.FUNC_RETVAL, 20),
        marker(MarkerType.TIMESTAMP, 101),
        marker(MarkerType.CPU_ID, 102),
        instr(42),
        exit(100 + i)
      ])
    )
    // make_scheduler_parallel_options: consistent, no dependencies, input ordinals.
    const d = entriesDriver(inputs, 2, {
      mapping: "consistent",
      deps: "ignore",
      useInputOrdinals: true,
      kernelSyscallSequences: decode(syscallTemplates(SYSCALL_BASE))
    })
    const core = d.core
    const tid2stream = new Map<number, number>()
    let injected = 0
    for (let o = 0; o < 2; o++) {
      let inSyscall = false
      let sawSyscallEnd = false
      let lastRecordOrdinal = 0
      let lastInstrOrdinal = 0
      let lastBranchTarget = 0
      for (let s = d.next(o, 0, 1); s._tag !== "Eof"; s = d.next(o, 0, 1)) {
        assert.strictEqual(s._tag, "Records", show(s))
        if (s._tag !== "Records") break
        const b = s.batch
        const i = s.start
        const tid = b.tid[i]!
        const type = b.type[i]!
        // One input thread is only in one output stream.
        if (!tid2stream.has(tid)) tid2stream.set(tid, o)
        else assert.strictEqual(tid2stream.get(tid), o)
        if (type === TraceType.MARKER) {
          if (b.size[i] === MarkerType.SYSCALL_TRACE_START) {
            inSyscall = true
            injected++
          } else if (b.size[i] === MarkerType.SYSCALL_TRACE_END) sawSyscallEnd = true
        }
        if (
          type === TraceType.INSTR_INDIRECT_JUMP ||
          type === TraceType.INSTR_INDIRECT_CALL ||
          type === TraceType.INSTR_RETURN
        )
          lastBranchTarget = Number(RecordBatch.auxBig(b, i))
        if (isInstrType(type) && sawSyscallEnd) {
          // The syscall trace's final branch target is the pc of the instruction after the syscall.
          assert.strictEqual(lastBranchTarget, RecordBatch.addrNumber(b, i))
          sawSyscallEnd = false
        }
        // The stream's ordinals are the input's (SCHEDULER_USE_INPUT_ORDINALS).
        const inp = core.inputs[core.outputs[o]!.curInput]!
        const recordOrdinal = inp.recordsDelivered
        const instrOrdinal = core.streamInstrOrdinal(core.outputs[o]!, inp)
        // Every syscall record has the record and instruction ordinals of the last user-space one.
        if (inSyscall) {
          assert.strictEqual(recordOrdinal, lastRecordOrdinal, "record ordinal inside the injected sequence")
          assert.strictEqual(instrOrdinal, lastInstrOrdinal, "instruction ordinal inside the injected sequence")
        } else {
          lastRecordOrdinal = recordOrdinal
          lastInstrOrdinal = instrOrdinal
        }
        assert.strictEqual(instrOrdinal, inp.instrsDelivered)
        // get_tid() and get_shard_index() in parallel mode.
        assert.strictEqual(inp.tid, tid)
        assert.strictEqual(core.shardIndex(core.outputs[o]!, inp), s.input)
        if (type === TraceType.MARKER && b.size[i] === MarkerType.SYSCALL_TRACE_END) inSyscall = false
      }
    }
    // (Not asserted by DynamoRIO: that the sequences went in at all, once per input.)
    assert.strictEqual(injected, 3)
  })
})
