import { assert, describe, it } from "@effect/vitest"
import { Stat } from "../../src/scheduler/internal/state.ts"
import { lockstep } from "../utils/scheduleString.ts"
import { Driver, type Entry, exit, instr, maybeBlocking, mockThread, syscall, timestamp, version } from "./fixtures.ts"

/**
 * DynamoRIO's test_synthetic inputs: 7 threads of 9 instructions after a
 * VERSION and a TIMESTAMP; A and B make a maybe-blocking syscall (latency
 * 100) after their second instruction.
 */
const syntheticInputs = (): Array<Array<Entry>> =>
  Array.from({ length: 7 }, (_, i) => {
    const tid = 100 + i
    const body: Array<Entry> = [version(7), timestamp(10)]
    for (let j = 0; j < 9; j++) {
      body.push(instr(42 + j * 4))
      if ((i === 0 || i === 1) && j === 1) body.push(timestamp(20), syscall(42), maybeBlocking(), timestamp(120))
    }
    body.push(exit(tid))
    return mockThread(tid, body)
  })

describe("dynamic scheduling: DynamoRIO golden schedules", () => {
  it("test_synthetic with instruction quanta", () => {
    const d = new Driver(syntheticInputs(), 2, {
      mapping: "dynamic",
      randomInitialLayout: -1,
      quantumDurationInstrs: 3,
      blockingSwitchThreshold: 100,
      blockTimeMultiplier: 0.01,
      timeUnitsPerUs: 1,
      migrationThresholdUs: 0
    })
    const s = lockstep(d.lockstep(), 2, { tidBase: 100 })
    // Round-robin layout: A,C,E,G on core0 and B,D,F on core1; quanta of 3
    // instructions. A and B block after 2 instructions (latency 100 >= the
    // threshold 100; blocked 100 * 0.01 = 1 time unit) and keep their used
    // quantum, so their next turn is a single letter. Core1 runs out first
    // and steals G from core0 (no migration threshold).
    assert.strictEqual(s[0], "..AA......CCC..EEE..GGGACCCEEEGGGAAACCC.EEE.AAA.")
    assert.strictEqual(s[1], "..BB......DDD..FFFBDDDFFFBBBDDD.FFF.BBB.GGG.____")
    // Switches are letter transitions; preempts are runs of 3 that are not
    // an input's last; core1's steal of G counts as core0's migration.
    const s0 = d.core.stats(0)
    const s1 = d.core.stats(1)
    assert.deepStrictEqual(
      [
        s0[Stat.SWITCH_INPUT_TO_INPUT],
        s0[Stat.SWITCH_INPUT_TO_IDLE],
        s0[Stat.SWITCH_IDLE_TO_INPUT],
        s0[Stat.SWITCH_NOP],
        s0[Stat.QUANTUM_PREEMPTS],
        s0[Stat.DIRECT_SWITCH_ATTEMPTS],
        s0[Stat.DIRECT_SWITCH_SUCCESSES],
        s0[Stat.MIGRATIONS],
        s0[Stat.RUNQUEUE_STEALS]
      ],
      [11, 0, 0, 0, 8, 0, 0, 1, 0]
    )
    assert.deepStrictEqual(
      [
        s1[Stat.SWITCH_INPUT_TO_INPUT],
        s1[Stat.SWITCH_INPUT_TO_IDLE],
        s1[Stat.SWITCH_IDLE_TO_INPUT],
        s1[Stat.SWITCH_NOP],
        s1[Stat.QUANTUM_PREEMPTS],
        s1[Stat.DIRECT_SWITCH_ATTEMPTS],
        s1[Stat.DIRECT_SWITCH_SUCCESSES],
        s1[Stat.MIGRATIONS],
        s1[Stat.RUNQUEUE_STEALS]
      ],
      [10, 1, 0, 0, 6, 0, 0, 0, 1]
    )
  })

  it("test_synthetic with time quanta gives the same schedule", () => {
    const d = new Driver(syntheticInputs(), 2, {
      mapping: "dynamic",
      randomInitialLayout: -1,
      quantumUnit: "time",
      timeUnitsPerUs: 1,
      blockingSwitchThreshold: 100,
      quantumDurationUs: 3,
      blockTimeMultiplier: 0.01,
      migrationThresholdUs: 0
    })
    // Time = the output's instruction count + 1 + idles so far: one time
    // unit per instruction, so a 3 µs quantum is the 3-instruction quantum.
    const s = lockstep(d.lockstep(), 2, { tidBase: 100, sendTime: true })
    assert.strictEqual(s[0], "..AA......CCC..EEE..GGGACCCEEEGGGAAACCC.EEE.AAA.")
    assert.strictEqual(s[1], "..BB......DDD..FFFBDDDFFFBBBDDD.FFF.BBB.GGG.____")
  })
})

/**
 * DynamoRIO's 3 workloads × 3 inputs + 1 with inverted timestamps: within a
 * workload the later inputs have the earlier timestamps; the last input J has
 * the lowest timestamps of all.
 */
const timestampWorkloads = (withVersion = false): { inputs: Array<Array<Entry>>; workloads: Array<number> } => {
  const inputs: Array<Array<Entry>> = []
  const workloads: Array<number> = []
  for (let w = 0; w < 3; w++) {
    for (let k = 0; k < 3; k++) {
      const tid = 100 + w * 3 + k
      const body: Array<Entry> = withVersion ? [version(7)] : []
      for (let j = 0; j < 9; j++) {
        if (j % 2 === 0) body.push(timestamp(1000 * w + 100 * (3 - k) + 10 * j))
        body.push(instr(42 + j * 4))
      }
      body.push(exit(tid))
      inputs.push(mockThread(tid, body))
      workloads.push(w)
    }
  }
  const body: Array<Entry> = []
  for (let j = 0; j < 9; j++) {
    if (j % 2 === 0) body.push(timestamp(1 + j))
    body.push(instr(42 + j * 4))
  }
  body.push(exit(109))
  inputs.push(mockThread(109, body))
  workloads.push(3)
  return { inputs, workloads }
}

const statsOf = (d: Driver, output: number) => {
  const s = d.core.stats(output)
  return {
    inputToInput: s[Stat.SWITCH_INPUT_TO_INPUT],
    inputToIdle: s[Stat.SWITCH_INPUT_TO_IDLE],
    idleToInput: s[Stat.SWITCH_IDLE_TO_INPUT],
    nop: s[Stat.SWITCH_NOP],
    preempts: s[Stat.QUANTUM_PREEMPTS],
    directAttempts: s[Stat.DIRECT_SWITCH_ATTEMPTS],
    directSuccesses: s[Stat.DIRECT_SWITCH_SUCCESSES],
    migrations: s[Stat.MIGRATIONS]
  }
}

describe("dynamic scheduling: timestamps, priorities, bindings", () => {
  it("test_synthetic_with_timestamps", () => {
    const { inputs, workloads } = timestampWorkloads()
    const d = new Driver(inputs, 2, {
      mapping: "dynamic",
      deps: "timestamps",
      randomInitialLayout: -1,
      quantumDurationInstrs: 3,
      exitIfFractionInputsLeft: 0.1,
      inputs: workloads.map((workload) => ({ workload }))
    })
    const s = lockstep(d.lockstep(), 2, { tidBase: 100 })
    // Priorities by relative timestamp are {C,B,A},{F,E,D},{I,H,G},{J}; the
    // initial round-robin in that order puts C,I,B,H,D on core0 and
    // F,J,E,A,G on core1. Each group interleaves except J, which has the
    // lowest timestamps and is never switched out. The exit fraction (10
    // inputs × 0.1 = 1) drops core0's final idle.
    assert.strictEqual(s[0], ".CC.C.II.IC.CC.I.II.CC.C.II.I..BB.B.HH.HB.BB.H.HH.BB.B.HH.H..DD.DD.DD.DD.D.")
    assert.strictEqual(s[1], ".FF.F.JJ.JJ.JJ.JJ.J.F.FF.FF.F..EE.EE.EE.EE.E..AA.A.GG.GA.AA.G.GG.AA.A.GG.G.")
    assert.deepStrictEqual(statsOf(d, 0), {
      inputToInput: 12,
      inputToIdle: 0,
      idleToInput: 0,
      nop: 2,
      preempts: 10,
      directAttempts: 0,
      directSuccesses: 0,
      migrations: 0
    })
    assert.deepStrictEqual(statsOf(d, 1), {
      inputToInput: 9,
      inputToIdle: 0,
      idleToInput: 0,
      nop: 5,
      preempts: 10,
      directAttempts: 0,
      directSuccesses: 0,
      migrations: 0
    })
  })

  it("test_synthetic_with_priorities", () => {
    const { inputs, workloads } = timestampWorkloads()
    const d = new Driver(inputs, 2, {
      mapping: "dynamic",
      deps: "timestamps",
      randomInitialLayout: -1,
      quantumDurationInstrs: 3,
      exitIfFractionInputsLeft: 0.1,
      inputs: workloads.map((workload, i) => ({ workload, priority: i < 9 && i % 3 === 1 ? 1 : 0 }))
    })
    const s = lockstep(d.lockstep(), 2, { tidBase: 100 })
    // B, E and H have priority 1 and go first; J is still uninterrupted.
    assert.strictEqual(s[0], ".BB.B.HH.HB.BB.H.HH.BB.B.HH.H..FF.F.JJ.JJ.JJ.JJ.J.F.FF.FF.F..DD.DD.DD.DD.D.")
    assert.strictEqual(s[1], ".EE.EE.EE.EE.E..CC.C.II.IC.CC.I.II.CC.C.II.I..AA.A.GG.GA.AA.G.GG.AA.A.GG.G.")
    assert.deepStrictEqual([statsOf(d, 0).inputToInput, statsOf(d, 0).nop, statsOf(d, 0).preempts], [9, 5, 10])
    assert.deepStrictEqual([statsOf(d, 1).inputToInput, statsOf(d, 1).nop, statsOf(d, 1).preempts], [12, 2, 10])
  })

  const bindingInputs = (): Array<Array<Entry>> => {
    const inputs: Array<Array<Entry>> = []
    for (let w = 0; w < 3; w++) {
      for (let k = 0; k < 3; k++) {
        const tid = 100 + w * 3 + k
        const body: Array<Entry> = []
        for (let j = 0; j < 9; j++) {
          if (j % 2 === 0) body.push(timestamp(10 * (j + 1)))
          body.push(instr(42 + j * 4))
        }
        body.push(exit(tid))
        inputs.push(mockThread(tid, body))
      }
    }
    return inputs
  }
  const workloadCores = [
    [2, 4],
    [0, 1],
    [1, 2, 3]
  ]

  for (const deps of ["timestamps", "ignore"] as const) {
    it(`test_synthetic_with_bindings_time (deps ${deps})`, () => {
      const d = new Driver(bindingInputs(), 5, {
        mapping: "dynamic",
        deps,
        randomInitialLayout: -1,
        quantumDurationInstrs: 3,
        migrationThresholdUs: 0,
        inputs: Array.from({ length: 9 }, (_, i) => ({
          workload: Math.floor(i / 3),
          binding: workloadCores[Math.floor(i / 3)]!
        }))
      })
      const s = lockstep(d.lockstep(), 5, { tidBase: 100 })
      // {A,B,C} on {2,4}, {D,E,F} on {0,1}, {G,H,I} on {1,2,3}: no output
      // steals an input it may not run, hence the idle tails; allowed steals
      // happen (no migration threshold). Same schedule with or without
      // timestamp deps (DynamoRIO i#6874 regression).
      assert.deepStrictEqual(s, [
        ".DD.D.EE.E.FF.FD.DD.E.EE.F.FF.EE.E.FF.F.",
        ".GG.G.HH.HG.GG.H.HH.HH.H.DD.D.__________",
        ".AA.A.BB.BA.AA.B.BB.BB.B._______________",
        ".II.II.II.II.I.GG.G.____________________",
        ".CC.CC.CC.CC.C.AA.A.____________________"
      ])
    })
  }

  it("test_synthetic_with_bindings_more_out (seeded random layout)", () => {
    const inputs = [0, 1, 2].map((k) => {
      const tid = 100 + k
      const body: Array<Entry> = [timestamp(10 + k)]
      for (let j = 0; j < 9; j++) body.push(instr(42 + j * 4))
      body.push(exit(tid))
      return mockThread(tid, body)
    })
    const d = new Driver(inputs, 4, {
      mapping: "dynamic",
      quantumDurationInstrs: 3,
      inputs: [{ binding: [0] }, { binding: [0] }, { binding: [0, 1, 2, 3] }]
    })
    const s = lockstep(d.lockstep(), 4, { tidBase: 100 })
    // A and B are bound to core 0; C's binding lists every output, so it is
    // free. The default layout is random with seed 1 (minstd_rand, as
    // DynamoRIO), which puts C on core 1.
    assert.deepStrictEqual(s, [
      ".AAA.BBBAAABBBAAA.BBB.",
      ".CCCCCCCCC.___________",
      "______________________",
      "______________________"
    ])
  })

  it("test_synthetic_with_bindings_weighted", () => {
    const { inputs } = timestampWorkloads()
    const d = new Driver(inputs.slice(0, 9), 5, {
      mapping: "dynamic",
      deps: "timestamps",
      randomInitialLayout: -1,
      quantumDurationInstrs: 3,
      inputs: Array.from({ length: 9 }, (_, i) => ({
        workload: Math.floor(i / 3),
        binding: workloadCores[Math.floor(i / 3)]!
      }))
    })
    const s = lockstep(d.lockstep(), 5, { tidBase: 100 })
    // Inverted timestamps within each workload: C,B,A / F,E,D / I,H,G order.
    assert.deepStrictEqual(s, [
      ".FF.FF.FF.FF.F..EE.EE.EE.EE.E..DD.DD.DD.DD.D.",
      ".II.II.II.II.I..HH.HH.HH.HH.H._______________",
      ".CC.CC.CC.CC.C..BB.BB.BB.BB.B._______________",
      ".GG.GG.GG.GG.G.______________________________",
      ".AA.AA.AA.AA.A.______________________________"
    ])
  })

  it("test_synthetic_with_bindings_overrides (the winning modifier per input)", () => {
    const inputs = [0, 1, 2, 3].map((k) => {
      const tid = 100 + k
      const body: Array<Entry> = [timestamp(10 + k)]
      for (let j = 0; j < 9; j++) body.push(instr(42 + j * 4))
      body.push(exit(tid))
      return mockThread(tid, body)
    })
    // DynamoRIO's modifiers resolve to: A, B on core 1; C on core 0; D on core 2.
    const d = new Driver(inputs, 3, {
      mapping: "dynamic",
      quantumDurationInstrs: 3,
      inputs: [{ binding: [1] }, { binding: [1] }, { binding: [0] }, { binding: [2] }]
    })
    const s = lockstep(d.lockstep(), 3, { tidBase: 100 })
    assert.deepStrictEqual(s, [".CCCCCCCCC.____________", ".AAA.BBBAAABBBAAA.BBB.", ".DDDDDDDDD.___________"])
  })
})
