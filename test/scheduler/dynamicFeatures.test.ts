import { assert, describe, it } from "@effect/vitest"
import { Stat, type Step } from "../../src/scheduler/internal/state.ts"
import { MarkerType, TraceType } from "../../src/trace/Record.ts"
import { lockstep } from "../utils/scheduleString.ts"
import {
  cpu,
  Driver,
  type Entry,
  exit,
  instr,
  marker,
  maybeBlocking,
  mockThread,
  syscall,
  timestamp,
  version
} from "./fixtures.ts"

/** One record's (tid, type) or the status, for step-by-step checks. */
const one = (s: Step): string => {
  if (s._tag !== "Records") return s._tag
  return `${s.batch.tid[s.start]}:${s.batch.type[s.start]}`
}
const rec = (tid: number, type: number) => `${tid}:${type}`
const M = TraceType.MARKER
const I = TraceType.INSTR
const X = TraceType.THREAD_EXIT

describe("dynamic scheduling: time quanta and blocking syscalls", () => {
  it("test_synthetic_time_quanta: record by record with caller time", () => {
    const inputs = [0, 1, 2].map((i) => {
      const tid = 42 + i
      const body: Array<Entry> = [version(7), timestamp(10), instr(10), instr(30)]
      if (i === 0) body.push(timestamp(20), syscall(42), maybeBlocking(), timestamp(220))
      body.push(instr(50), exit(tid))
      return mockThread(tid, body)
    })
    const d = new Driver(inputs, 2, {
      mapping: "dynamic",
      randomInitialLayout: -1,
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      quantumDurationUs: 3,
      blockingSwitchThreshold: 100,
      // The 200 µs syscall blocks for 10 time units.
      blockTimeMultiplier: 10 / 200,
      migrationThresholdUs: 0
    })
    const A = 42
    const B = 43
    const C = 44
    let time = 1
    const check = (output: number, t: number, expect: string) => assert.strictEqual(one(d.next(output, t, 1)), expect)
    // cpu0 reaches its first instruction at time 2.
    check(0, time, rec(A, M))
    check(0, time, rec(A, M))
    check(0, ++time, rec(A, I))
    // cpu1 reaches its first instruction at time 3.
    check(1, time, rec(B, M))
    check(1, time, rec(B, M))
    check(1, ++time, rec(B, I))
    // cpu0 hits its quantum end at time 4 and picks up C.
    check(0, ++time, rec(C, M))
    check(0, time, rec(C, M))
    check(0, ++time, rec(C, I))
    // cpu1's quantum ends at time 6 but its queue is empty: it keeps B.
    check(1, ++time, rec(B, I))
    check(1, ++time, rec(B, I))
    check(1, time, rec(B, X))
    // cpu1 steals A from cpu0.
    check(1, ++time, rec(A, I))
    for (let k = 0; k < 4; k++) check(1, time, rec(A, M))
    // A blocks in its syscall and there is nothing else to run.
    check(1, ++time, "Idle")
    // C finishes on cpu0 (a quantum end with no one else to run).
    check(0, ++time, rec(C, I))
    check(0, ++time, rec(C, I))
    check(0, time, rec(C, X))
    // Both wait for A.
    check(1, ++time, "Idle")
    check(0, ++time, "Idle")
    check(1, ++time, "Idle")
    check(0, ++time, "Idle")
    check(1, ++time, "Idle")
    check(0, ++time, "Idle")
    check(1, ++time, "Idle")
    check(1, ++time, rec(A, I))
    check(1, time, rec(A, X))
    check(1, ++time, "Eof")
    check(0, ++time, "Eof")
    // One quantum-end NOP each; the steal is cpu0's migration.
    const s0 = d.core.stats(0)
    const s1 = d.core.stats(1)
    assert.deepStrictEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((k) => s0[k]),
      [1, 1, 0, 1, 2, 0, 0, 1]
    )
    assert.deepStrictEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((k) => s1[k]),
      [1, 1, 1, 1, 1, 0, 0, 0]
    )
  })

  it("test_synthetic_with_syscalls_multiple", () => {
    const inputs: Array<Array<Entry>> = []
    const opts: Array<{ workload: number; priority: number }> = []
    for (let w = 0; w < 3; w++) {
      for (let k = 0; k < 3; k++) {
        const tid = 100 + w * 3 + k
        const body: Array<Entry> = [version(7)]
        let stamp = 10000 * w + 1000 * (3 - k)
        for (let j = 0; j < 9; j++) {
          const last = body[body.length - 1]!
          if (j % 2 === 0 && !(last.type === M && last.size === MarkerType.TIMESTAMP)) body.push(timestamp(stamp))
          body.push(instr(42 + j * 4))
          if (k === 1 && j % (w + 1) === w) {
            body.push(timestamp(stamp + 10), syscall(42), maybeBlocking(), timestamp(stamp + 10 + 10 * 100))
          } else {
            body.push(cpu(0), cpu(0), cpu(0), cpu(0))
          }
          stamp += 10
        }
        body.push(exit(tid))
        inputs.push(mockThread(tid, body))
        opts.push({ workload: w, priority: k === 1 ? 1 : 0 })
      }
    }
    const body: Array<Entry> = []
    for (let j = 0; j < 9; j++) {
      if (j % 2 === 0) body.push(timestamp(1 + j))
      body.push(instr(42 + j * 4))
    }
    body.push(exit(109))
    inputs.push(mockThread(109, body))
    opts.push({ workload: 3, priority: 0 })
    const d = new Driver(inputs, 2, {
      mapping: "dynamic",
      deps: "timestamps",
      randomInitialLayout: -1,
      quantumDurationUs: 3,
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      blockingSwitchThreshold: 100,
      blockTimeMultiplier: 1 / 100,
      exitIfFractionInputsLeft: 0.1,
      inputs: opts
    })
    const s = lockstep(d.lockstep(), 2, { tidBase: 100, sendTime: true, printMarkers: false })
    // B blocks after every instruction and E after every other, so neither
    // reaches a 3-instruction quantum; H's syscalls coincide with its
    // quantum ends. While B, E and H are blocked the lower-priority C and F
    // run; at the end the cores idle waiting for B.
    assert.strictEqual(
      s[0],
      "BHHHFFFJJJJJJBHHHJJJFFFFFFBHHHDDDDDDDDDB__________B__________B__________B__________B__________B"
    )
    assert.strictEqual(s[1], "EECCCIIICCCIIIEECCCIIIAAAGGGEEAAAGGEEGAAEGGAG")
    const s0 = d.core.stats(0)
    const s1 = d.core.stats(1)
    assert.deepStrictEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((k) => s0[k]),
      [11, 5, 5, 4, 10, 0, 0, 0]
    )
    assert.deepStrictEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((k) => s1[k]),
      [19, 0, 0, 3, 16, 0, 0, 0]
    )
  })

  it("test_synthetic_with_syscalls_single: a lone blocked input is waited for, not lost", () => {
    const body: Array<Entry> = [version(7)]
    let stamp = 1000
    for (let j = 0; j < 9; j++) {
      const last = body[body.length - 1]!
      if (j % 2 === 0 && !(last.type === M && last.size === MarkerType.TIMESTAMP)) body.push(timestamp(stamp))
      body.push(instr(42 + j * 4))
      if (j % 3 === 1) body.push(timestamp(stamp + 10), syscall(42), maybeBlocking(), timestamp(stamp + 10 + 300))
      else body.push(cpu(0), cpu(0), cpu(0), cpu(0))
      stamp += 10
    }
    body.push(exit(100))
    const d = new Driver([mockThread(100, body)], 2, {
      mapping: "dynamic",
      deps: "timestamps",
      quantumDurationUs: 3,
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      blockingSwitchThreshold: 100,
      blockTimeMultiplier: 1 / 100
    })
    const s = lockstep(d.lockstep(), 2, { tidBase: 100, sendTime: true })
    // An idle stretch every 3 instructions from the 2nd; cpu1 never runs it.
    assert.strictEqual(s[0], "..A....A....__A....A.....A....__A.....A....A....__A.....")
    assert.strictEqual(s[1], "________________________________________________________")
  })
})

describe("dynamic scheduling: steals, migrations, early exit", () => {
  const stealInputs = (): Array<Array<Entry>> => {
    const start = 10
    const pre = start + 100
    const A = [
      version(7),
      timestamp(start),
      cpu(0),
      instr(10),
      timestamp(pre),
      syscall(42),
      maybeBlocking(),
      timestamp(pre + 500),
      instr(11),
      exit(100)
    ]
    const B = [version(7), timestamp(start + 10), cpu(0), instr(10), exit(101)]
    const C = [
      version(7),
      timestamp(start + 20),
      cpu(0),
      instr(10),
      instr(11),
      instr(12),
      timestamp(pre),
      syscall(42),
      maybeBlocking(),
      timestamp(pre + 500),
      instr(13),
      exit(102)
    ]
    const D = [version(7), timestamp(start + 30), cpu(0), instr(10), exit(103)]
    const E = [version(7), timestamp(start + 40), cpu(0), ...Array.from({ length: 35 }, () => instr(10)), exit(104)]
    const F = [version(7), timestamp(start + 50), cpu(0), instr(10), exit(105)]
    return [A, B, C, D, E, F].map((b, i) => mockThread(100 + i, b))
  }
  const stealOptions = {
    mapping: "dynamic" as const,
    deps: "timestamps" as const,
    exitIfFractionInputsLeft: 0,
    randomInitialLayout: -1,
    blockTimeMultiplier: 0.001,
    blockingSwitchThreshold: 500,
    timeUnitsPerUs: 1,
    migrationThresholdUs: 10,
    stealAttemptPeriod: 4
  }

  it("test_steal_period: an idle output retries steals every period", () => {
    const d = new Driver(stealInputs(), 2, stealOptions)
    const s = lockstep(d.lockstep(), 2, { tidBase: 100, sendTime: true })
    // Core1 finishes B, D, F and idles; A and C have not reached the
    // migration threshold at first, so the steals succeed only after some
    // idles, each at a multiple of the period (4).
    assert.strictEqual(s[0], "...A.......CCC.......EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE.")
    assert.strictEqual(s[1], "...B....D....F.________A.____C.__________________________")
    assert.strictEqual(d.core.stats(0)[Stat.MIGRATIONS], 2)
    assert.strictEqual(d.core.stats(1)[Stat.RUNQUEUE_STEALS], 2)
  })

  it("test_steal_period: without retries there is no steal", () => {
    const d = new Driver(stealInputs(), 2, { ...stealOptions, stealAttemptPeriod: 400 })
    const s = lockstep(d.lockstep(), 2, { tidBase: 100, sendTime: true })
    assert.strictEqual(s[0], "...A.......CCC.......EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE.A.C.")
    assert.strictEqual(s[1], "...B....D....F.______________________________________________")
    assert.strictEqual(d.core.stats(0)[Stat.MIGRATIONS], 0)
    assert.strictEqual(d.core.stats(1)[Stat.MIGRATIONS], 0)
    assert.strictEqual(d.core.stats(1)[Stat.RUNQUEUE_STEALS], 0)
  })

  const exitInputs = (): Array<Array<Entry>> =>
    Array.from({ length: 12 }, (_, i) => {
      const tid = 100 + i
      const body: Array<Entry> = [version(7), timestamp(101)]
      for (let j = 0; j < 9; j++) {
        body.push(instr(42 + j * 4))
        if (i === 0 && j === 7) body.push(timestamp(101), syscall(42), maybeBlocking(), timestamp(101 + 1500))
      }
      body.push(exit(tid))
      return mockThread(tid, body)
    })
  const exitOptions = {
    mapping: "dynamic" as const,
    randomInitialLayout: -1,
    timeUnitsPerUs: 1,
    quantumDurationInstrs: 3,
    blockingSwitchThreshold: 1500
  }

  it("test_exit_early: without an exit fraction every input runs to its end", () => {
    const d = new Driver(exitInputs(), 2, { ...exitOptions, exitIfFractionInputsLeft: 0 })
    const s = lockstep(d.lockstep(), 2, { tidBase: 100, sendTime: true })
    // A long idle wait just for A's last instruction (blocked 150 units).
    assert.strictEqual(
      s[0],
      "..AAA..CCC..EEE..GGG..III..KKKAAACCCEEEGGGIIIKKKAA....CCC.EEE.GGG.III.KKK.__" +
        "_________________________________________________________________A."
    )
    assert.strictEqual(
      s[1],
      "..BBB..DDD..FFF..HHH..JJJ..LLLBBBDDDFFFHHHJJJLLLBBB.DDD.FFF.HHH.JJJ.LLL.____" +
        "___________________________________________________________________"
    )
  })

  it("test_exit_early: with 12 × 0.1 = 1 input left every output gets EOF", () => {
    const d = new Driver(exitInputs(), 2, { ...exitOptions, exitIfFractionInputsLeft: 0.1 })
    const s = lockstep(d.lockstep(), 2, { tidBase: 100, sendTime: true })
    assert.strictEqual(s[0], "..AAA..CCC..EEE..GGG..III..KKKAAACCCEEEGGGIIIKKKAA....CCC.EEE.GGG.III.KKK.")
    assert.strictEqual(s[1], "..BBB..DDD..FFF..HHH..JJJ..LLLBBBDDDFFFHHHJJJLLLBBB.DDD.FFF.HHH.JJJ.LLL.__")
  })

  it("test_initial_migrate: never-run inputs must also wait for the migration threshold", () => {
    const A = [version(4), timestamp(10), cpu(0), ...[10, 11, 12, 13, 14, 15].map(instr), exit(100)]
    const B = [version(4), timestamp(10), cpu(0), instr(20), exit(101)]
    const C = [version(4), timestamp(20), cpu(0), instr(30), instr(31), instr(32), exit(102)]
    const d = new Driver(
      [A, B, C].map((b, i) => mockThread(100 + i, b)),
      2,
      {
        mapping: "dynamic",
        deps: "timestamps",
        randomInitialLayout: -1
      }
    )
    const s = lockstep(d.lockstep(), 2, { tidBase: 100, sendTime: true })
    // Core1 finishes B and fails to steal C (not yet past the threshold).
    assert.strictEqual(s[0], "...AAAAAA....CCC.")
    assert.strictEqual(s[1], "...B.____________")
    assert.strictEqual(d.core.stats(0)[Stat.MIGRATIONS], 0)
    assert.strictEqual(d.core.stats(1)[Stat.MIGRATIONS], 0)
  })
})

describe("dynamic scheduling: direct switches and unscheduled inputs", () => {
  const directInputs = (): Array<Array<Entry>> => {
    const A = [
      version(7),
      timestamp(1001),
      cpu(0),
      instr(101),
      instr(102),
      timestamp(1002),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      marker(MarkerType.SYSCALL_ARG_TIMEOUT, 2000),
      marker(MarkerType.DIRECT_THREAD_SWITCH, 102),
      timestamp(4001),
      instr(401),
      exit(100)
    ]
    const B = [version(7), timestamp(2001), cpu(0), instr(201), instr(202), instr(203), instr(204), exit(101)]
    const C = [
      version(7),
      timestamp(3001),
      cpu(0),
      instr(301),
      instr(302),
      timestamp(3002),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      marker(MarkerType.SYSCALL_ARG_TIMEOUT, 2000),
      marker(MarkerType.DIRECT_THREAD_SWITCH, 100),
      timestamp(5001),
      instr(501),
      // A switch to a thread that does not exist is ignored.
      maybeBlocking(),
      marker(MarkerType.SYSCALL_ARG_TIMEOUT, 2000),
      marker(MarkerType.DIRECT_THREAD_SWITCH, 103),
      exit(102)
    ]
    return [A, B, C].map((b, i) => mockThread(100 + i, b))
  }
  const directOptions = {
    mapping: "dynamic" as const,
    deps: "timestamps" as const,
    quantumDurationUs: 100,
    quantumUnit: "time" as const,
    timeUnitsPerUs: 1,
    blockingSwitchThreshold: 100,
    blockTimeMultiplier: 1 / 100
  }

  it("test_direct_switch_base: direct switches override timestamps and blocked time", () => {
    const d = new Driver(directInputs(), 1, directOptions)
    const s = lockstep(d.lockstep(), 1, { tidBase: 100, sendTime: true })
    // A switches to C although B has the earlier timestamp; C's switch to A
    // happens at once although A is still blocked; after B we idle for C.
    assert.strictEqual(s[0], "...AA..........CC.......A....BBBB._______________C....")
    const st = d.core.stats(0)
    assert.deepStrictEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((k) => st[k]),
      [3, 1, 1, 0, 0, 3, 2, 0]
    )
  })

  it("test_direct_switch_base: with direct switches ignored", () => {
    const d = new Driver(directInputs(), 1, { ...directOptions, honorDirectSwitches: false })
    const s = lockstep(d.lockstep(), 1, { tidBase: 100, sendTime: true })
    assert.strictEqual(s[0], "...AA..........BBBB....CC.......___________________C....___A.")
    const st = d.core.stats(0)
    assert.deepStrictEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((k) => st[k]),
      [2, 2, 2, 0, 0, 0, 0, 0]
    )
  })

  const unschedInputs = (): Array<Array<Entry>> => {
    const U = (v = 0) => marker(MarkerType.SYSCALL_UNSCHEDULE, v)
    const S = (tid: number) => marker(MarkerType.SYSCALL_SCHEDULE, tid)
    const T = (t: number) => marker(MarkerType.SYSCALL_ARG_TIMEOUT, t)
    const SW = (tid: number) => marker(MarkerType.DIRECT_THREAD_SWITCH, tid)
    const A = [
      version(7),
      timestamp(1001),
      cpu(0),
      instr(101),
      instr(102),
      timestamp(1002),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      U(),
      timestamp(4202),
      instr(103),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      T(1000),
      SW(101),
      timestamp(4402),
      instr(401),
      exit(100)
    ]
    const B = [
      version(7),
      timestamp(2001),
      cpu(0),
      instr(200),
      syscall(999),
      maybeBlocking(),
      T(1000),
      U(),
      timestamp(4001),
      instr(201),
      timestamp(4002),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      S(102),
      timestamp(4004),
      instr(202),
      timestamp(4006),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      S(100),
      timestamp(4011),
      instr(202),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      U(),
      instr(203),
      instr(204),
      instr(205),
      instr(206),
      exit(101)
    ]
    const C = [
      version(7),
      timestamp(3001),
      cpu(0),
      instr(301),
      instr(302),
      timestamp(3002),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      timestamp(7002),
      instr(501),
      timestamp(7004),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      U(),
      timestamp(7008),
      instr(502),
      exit(102)
    ]
    return [A, B, C].map((b, i) => mockThread(100 + i, b))
  }

  it("test_unscheduled_base", () => {
    const d = new Driver(unschedInputs(), 1, directOptions)
    const s = lockstep(d.lockstep(), 1, { tidBase: 100, sendTime: true })
    // A goes unscheduled; B runs and goes unscheduled with a timeout; C runs
    // and blocks; idle while A is unscheduled and B blocked; B makes A
    // schedulable and unschedules itself; A switches to B with a timeout; B
    // ends; A's timeout has lapsed; we idle for C's long block, then C does
    // not unschedule because B asked it not to.
    assert.strictEqual(
      s[0],
      "...AA.........B........CC.....________B......B......B....A......BBBB.______A._________________C......C."
    )
  })

  it("test_unscheduled_base: with direct switches ignored", () => {
    const d = new Driver(unschedInputs(), 1, { ...directOptions, honorDirectSwitches: false })
    const s = lockstep(d.lockstep(), 1, { tidBase: 100, sendTime: true })
    assert.strictEqual(
      s[0],
      "...AA.........B........CC.....__________________B......B......B....BBBB.____A......__A._______C......C."
    )
  })
})

describe("dynamic scheduling: more DynamoRIO goldens", () => {
  it("test_synthetic_with_output_limit: workloads capped at 1 and 2 simultaneous outputs", () => {
    const inputs: Array<Array<Entry>> = []
    for (let w = 0; w < 3; w++) {
      for (let k = 0; k < 4; k++) {
        const tid = 100 + w * 4 + k
        const body: Array<Entry> = []
        for (let j = 0; j < 6; j++) {
          if (j % 2 === 0) body.push(timestamp(1000 * w + 100 * (4 - k) + 10 * j))
          body.push(instr(42 + j * 4))
        }
        body.push(exit(tid))
        inputs.push(mockThread(tid, body))
      }
    }
    const d = new Driver(inputs, 8, {
      mapping: "dynamic",
      deps: "timestamps",
      randomInitialLayout: -1,
      exitIfFractionInputsLeft: 0,
      inputs: inputs.map((_, i) => ({ workload: Math.floor(i / 4) })),
      workloadOutputLimits: [0, 1, 2]
    })
    const s = lockstep(d.lockstep(), 8, { tidBase: 100 })
    // ABCD (no limit) all run at once; EFGH (1 output) run one after the
    // other; IJKL (2 outputs) run two at a time: KL, then IJ.
    assert.deepStrictEqual(s, [
      ".DD.DD.DD._.JJ.JJ.JJ.____________________",
      ".HH.HH.HH._______________________________",
      ".LL.LL.LL..EE.EE.EE._____________________",
      ".CC.CC.CC..II.II.II._____________________",
      ".KK.KK.KK.__________.GG.GG.GG.___________",
      ".BB.BB.BB._______________________________",
      ".AA.AA.AA._______________________________",
      "______________________________.FF.FF.FF."
    ])
    let limits = 0
    for (let o = 0; o < 8; o++) limits += d.core.stats(o)[Stat.HIT_OUTPUT_LIMIT]!
    assert.isAbove(limits, 0)
  })

  const initiallyUnscheduled = (): Array<Array<Entry>> => [
    mockThread(100, [
      version(7),
      timestamp(1001),
      cpu(0),
      marker(MarkerType.SYSCALL_UNSCHEDULE),
      timestamp(4202),
      instr(102),
      exit(100)
    ]),
    mockThread(101, [
      version(7),
      timestamp(3001),
      cpu(0),
      instr(200),
      timestamp(3002),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      timestamp(7002),
      instr(201),
      syscall(999),
      maybeBlocking(),
      marker(MarkerType.SYSCALL_SCHEDULE, 100),
      timestamp(7021),
      instr(202),
      exit(101)
    ])
  ]
  const unschedOptions = {
    mapping: "dynamic" as const,
    deps: "timestamps" as const,
    quantumUnit: "time" as const,
    timeUnitsPerUs: 1,
    blockingSwitchThreshold: 100,
    blockTimeMultiplier: 1 / 100,
    blockTimeMaxUs: 500
  }

  it("test_unscheduled_initially: an input attached mid-unschedule starts unscheduled", () => {
    const run = (options: object) =>
      lockstep(new Driver(initiallyUnscheduled(), 1, { ...unschedOptions, ...options }).lockstep(), 1, {
        tidBase: 100,
        sendTime: true
      })[0]
    // Infinite timeouts: idle while B blocks and A stays unscheduled until B wakes it.
    assert.strictEqual(
      run({ honorInfiniteTimeouts: true }),
      "...B.....________________________________________B....B......A."
    )
    // Finite timeouts: A wakes after the cap (500 µs × 1/100 = 5 units).
    assert.strictEqual(
      run({ honorInfiniteTimeouts: false }),
      "...B....._____.....A.__________________________________B....B."
    )
    // Direct switches ignored: A is not unscheduled at all.
    assert.strictEqual(
      run({ honorDirectSwitches: false }),
      ".....A....B.....________________________________________B....B."
    )
  })

  it("test_unscheduled_small_timeout: an unschedule with a 4 µs timeout (× 0.1 rounds to 0) still blocks 1", () => {
    const A = mockThread(100, [
      version(7),
      timestamp(1001),
      cpu(0),
      instr(101),
      timestamp(1002),
      cpu(0),
      syscall(999),
      maybeBlocking(),
      marker(MarkerType.SYSCALL_ARG_TIMEOUT, 4),
      marker(MarkerType.SYSCALL_UNSCHEDULE),
      timestamp(2002),
      instr(102),
      exit(100)
    ])
    const d = new Driver([A], 1, {
      mapping: "dynamic",
      deps: "timestamps",
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      blockTimeMultiplier: 0.1
    })
    assert.strictEqual(lockstep(d.lockstep(), 1, { tidBase: 100, sendTime: true })[0], "...A......._A.")
  })

  it("test_unscheduled_no_alternative (i#6959): a lone unscheduled input is rescued", () => {
    const A = () =>
      mockThread(100, [
        version(7),
        timestamp(1001),
        cpu(0),
        instr(101),
        timestamp(1002),
        cpu(0),
        syscall(999),
        maybeBlocking(),
        marker(MarkerType.SYSCALL_UNSCHEDULE),
        timestamp(2002),
        instr(102),
        exit(100)
      ])
    const run = (honorInfiniteTimeouts: boolean) =>
      lockstep(
        new Driver([A()], 1, {
          mapping: "dynamic",
          deps: "timestamps",
          quantumUnit: "time",
          timeUnitsPerUs: 1,
          rebalancePeriodUs: 50,
          blockTimeMaxUs: 200,
          honorInfiniteTimeouts
        }).lockstep(),
        1,
        { tidBase: 100, sendTime: true }
      )[0]
    // Infinitely unscheduled: the periodic rebalance finds every live input
    // unscheduled and makes them runnable.
    assert.strictEqual(run(true), "...A......__________________________________________________A.")
    // Otherwise the maximum block time (200 × 0.1 = 20) applies.
    assert.strictEqual(run(false), "...A......____________________A.")
  })

  it("test_rebalancing: periodic rebalances spread 24 inputs woken on one output", () => {
    const inputs: Array<Array<Entry>> = [
      mockThread(100, [
        version(7),
        timestamp(1001),
        cpu(0),
        instr(101),
        instr(102),
        timestamp(1101),
        cpu(0),
        syscall(999),
        marker(MarkerType.SYSCALL_ARG_TIMEOUT, 100),
        marker(MarkerType.DIRECT_THREAD_SWITCH, 101),
        timestamp(1201),
        cpu(0),
        instr(401),
        exit(100)
      ])
    ]
    for (let i = 0; i < 24; i++) {
      const tid = 101 + i
      const body: Array<Entry> = [
        version(7),
        timestamp(2001),
        cpu(0),
        syscall(999),
        maybeBlocking(),
        marker(MarkerType.SYSCALL_UNSCHEDULE),
        timestamp(3001),
        cpu(0),
        timestamp(1101 + 100 * i),
        cpu(0),
        syscall(999),
        marker(MarkerType.SYSCALL_ARG_TIMEOUT, 100),
        marker(MarkerType.DIRECT_THREAD_SWITCH, tid + 1),
        timestamp(9999),
        cpu(0)
      ]
      for (let k = 0; k < 72; k++) body.push(instr(200 + k))
      body.push(exit(tid))
      inputs.push(mockThread(tid, body))
    }
    const d = new Driver(inputs, 8, {
      mapping: "dynamic",
      deps: "timestamps",
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      quantumDurationUs: 24,
      blockTimeMultiplier: 1 / 100,
      migrationThresholdUs: 24,
      rebalancePeriodUs: 8 * 20 * 24,
      blockTimeMaxUs: 250000
    })
    const s = lockstep(d.lockstep(), 8, { tidBase: 100, sendTime: true })
    // The direct-switch chain wakes every input on output 0; rebalancing
    // migrates them away: at least (24 / 8) × 7 − 1 migrations from output 0,
    // and every output runs several inputs.
    assert.isAtLeast(d.core.stats(0)[Stat.MIGRATIONS]!, 3 * 7 - 1)
    for (const str of s) assert.isAtLeast(new Set(str.replace(/[^A-Z]/g, "")).size, 3 - 1)
  })
})

describe("dynamic scheduling: blocking-syscall thresholds, scale and cap", () => {
  // A blocks in a syscall whose as-traced latency is 1000 µs; B is ready.
  // Time is instructions + idles (1 unit per µs). A is switched out at its
  // next instruction at time 2 and blocked for
  // min(1000 × multiplier, cap) units; B runs (2 instrs → time 3) and ends;
  // then the output idles until A's blocked time has passed.
  const inputs = () => [
    mockThread(100, [
      version(7),
      timestamp(100),
      instr(1),
      timestamp(100),
      syscall(1),
      maybeBlocking(),
      timestamp(1100),
      instr(2),
      exit(100)
    ]),
    mockThread(101, [version(7), timestamp(200), instr(3), exit(101)])
  ]
  const run = (options: object) =>
    lockstep(
      new Driver(inputs(), 1, {
        mapping: "dynamic",
        randomInitialLayout: -1,
        timeUnitsPerUs: 1,
        blockingSwitchThreshold: 100,
        ...options
      }).lockstep(),
      1,
      { tidBase: 100 }
    )[0]

  it("the scaled latency is the blocked time", () => {
    // 1000 × 0.004 = 4 units: blocked from time 2 to 6, idle at times 3, 4, 5.
    assert.strictEqual(run({ blockTimeMultiplier: 0.004 }), "..A......B.___A.")
  })

  it("the cap bounds the blocked time", () => {
    // 1000 × 1 = 1000, capped at 5 units: idle at times 3..6.
    assert.strictEqual(run({ blockTimeMultiplier: 1, blockTimeMaxUs: 5 }), "..A......B.____A.")
  })

  it("below the threshold the input keeps running", () => {
    assert.strictEqual(run({ blockTimeMultiplier: 1, blockingSwitchThreshold: 2000 }), "..A....A...B.")
  })

  it("the non-maybe-blocking threshold applies without the MAYBE_BLOCKING marker", () => {
    const plain = [
      mockThread(100, [
        version(7),
        timestamp(100),
        instr(1),
        timestamp(100),
        syscall(1),
        timestamp(1100),
        instr(2),
        exit(100)
      ]),
      mockThread(101, [version(7), timestamp(200), instr(3), exit(101)])
    ]
    const sched = (syscallSwitchThreshold: number) =>
      lockstep(
        new Driver(plain, 1, {
          mapping: "dynamic",
          randomInitialLayout: -1,
          timeUnitsPerUs: 1,
          blockingSwitchThreshold: 1,
          syscallSwitchThreshold,
          blockTimeMultiplier: 0.004
        }).lockstep(),
        1,
        { tidBase: 100 }
      )[0]
    assert.strictEqual(sched(1000), "..A.....B.___A.")
    assert.strictEqual(sched(1001), "..A...A...B.")
  })
})

describe("dynamic scheduling: settled waits", () => {
  // A unschedules itself with a long timeout on core 0 and waits there
  // (core 0 idles on a queue of blocked inputs only, which it stops
  // re-checking input by input); B, on core 1, wakes it 30 instructions
  // later: core 0 must take A back at its next pick, not at the timeout.
  const inputs = (): Array<Array<Entry>> => {
    const A = [
      version(7),
      timestamp(1001),
      instr(101),
      instr(102),
      syscall(999),
      maybeBlocking(),
      marker(MarkerType.SYSCALL_ARG_TIMEOUT, 100_000),
      marker(MarkerType.SYSCALL_UNSCHEDULE),
      timestamp(1002),
      instr(103),
      instr(104),
      instr(105),
      exit(100)
    ]
    const B = [version(7), timestamp(1001)]
    for (let k = 0; k < 30; k++) B.push(instr(200 + k))
    B.push(syscall(998), marker(MarkerType.SYSCALL_SCHEDULE, 100), timestamp(1003))
    for (let k = 0; k < 30; k++) B.push(instr(300 + k))
    B.push(exit(101))
    return [A, B].map((b, i) => mockThread(100 + i, b))
  }
  const options = {
    mapping: "dynamic" as const,
    randomInitialLayout: -1,
    timeUnitsPerUs: 1,
    blockTimeMultiplier: 1,
    blockTimeMaxUs: 1_000_000,
    migrationThresholdUs: 0,
    exitIfFractionInputsLeft: 0
  }

  it("a wake-up ends the wait at once", () => {
    const schedule = (settling: boolean): Array<string> => {
      const d = new Driver(inputs(), 2, options)
      if (!settling) (d.core.mode as unknown as { settle: () => void }).settle = () => undefined
      return lockstep(d.lockstep(), 2, { tidBase: 100 })
    }
    const s = schedule(true)
    assert.deepStrictEqual(s, schedule(false))
    // A's last three instructions run on core 0 right after B's wake-up
    // (within a few idles), long before the 100,000-unit timeout.
    const resumed = s[0]!.indexOf("AAA", s[0]!.indexOf("AA") + 2)
    const woken = s[1]!.indexOf("B".repeat(30)) + 30
    assert.isAbove(resumed, woken)
    assert.isBelow(resumed, woken + 10)
    assert.match(s[0]!.slice(s[0]!.indexOf("AA") + 2, resumed), /^[._]+$/)
  })
})
