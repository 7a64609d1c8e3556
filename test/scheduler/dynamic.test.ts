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
