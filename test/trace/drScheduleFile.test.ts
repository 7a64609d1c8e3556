/**
 * DynamoRIO's clients/drcachesim/tests/schedule_file_test.cpp (the
 * `schedule_file_t` library: serial schedule files), ported to memtrace's
 * equivalent, the serial-schedule code of the invariant checker
 * (src/tools/internal/invariants/schedule.ts, and the per-shard recording in
 * checker.ts):
 *
 * - `read_serial_file` = `readScheduleFile` (from a file: DynamoRIO reads an
 *   istream over the same bytes);
 * - `get_full_serial_records` / `get_serial_records` (sorted by timestamp,
 *   cpu, thread, instruction; then same-thread entries collapsed) =
 *   `serialOrder(...).full` / `.redux`;
 * - `per_shard_t::record_cpu_id(tid, cpu, timestamp, instrs)` = the entry
 *   the invariant checker's shard records at a CPU_ID marker (the thread, the
 *   last timestamp, the cpu, the instructions so far), so each shard here is
 *   a synthetic thread with TIMESTAMP, CPU_ID and instructions laid out to
 *   produce DynamoRIO's calls; `merge_shard_data` = concatenating the shards'
 *   entries before `serialOrder`.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as InvariantChecker from "../../src/tools/InvariantChecker.ts"
import {
  readScheduleFile,
  type ScheduleEntry,
  serialOrder,
  shardEntries
} from "../../src/tools/internal/invariants/schedule.ts"
import * as S from "../../src/trace/Synthetic.ts"
import { runEntriesSync } from "../utils/runTool.ts"

/** schedule_entry_t(thread, timestamp, cpu, start_instruction). */
const entry = (thread: number, timestamp: number, cpu: number, start: number): ScheduleEntry => ({
  thread: BigInt(thread),
  timestamp: BigInt(timestamp),
  cpu: BigInt(cpu),
  start: BigInt(start)
})

/** The bytes of schedule_entry_t records (four little-endian u64 each). */
const bytesOf = (records: ReadonlyArray<ScheduleEntry>): Uint8Array => {
  const out = new Uint8Array(records.length * 32)
  const view = new DataView(out.buffer)
  records.forEach((r, k) => {
    view.setBigUint64(k * 32, r.thread, true)
    view.setBigUint64(k * 32 + 8, r.timestamp, true)
    view.setBigUint64(k * 32 + 16, r.cpu, true)
    view.setBigUint64(k * 32 + 24, r.start, true)
  })
  return out
}

describe("schedule_file_test.cpp", () => {
  it("check_read_and_collapse", () => {
    const TIMESTAMP_BASE = 100
    const CPU_BASE = 6
    const TID_A = 42
    const TID_B = 43
    const TID_C = 44
    const records = [
      entry(TID_A, TIMESTAMP_BASE, CPU_BASE, 0),
      // Include same-timestamp records to stress handling that.
      entry(TID_C, TIMESTAMP_BASE, CPU_BASE + 1, 0),
      entry(TID_B, TIMESTAMP_BASE, CPU_BASE + 2, 0),
      entry(TID_A, TIMESTAMP_BASE + 1, CPU_BASE + 1, 2),
      entry(TID_B, TIMESTAMP_BASE + 2, CPU_BASE, 1),
      // Same thread, timestamp and cpu, different start_instruction.
      entry(TID_C, TIMESTAMP_BASE + 3, CPU_BASE + 2, 3),
      entry(TID_C, TIMESTAMP_BASE + 3, CPU_BASE + 2, 4)
    ]
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-schedfile-"))
    try {
      const file = path.join(dir, "serial_schedule.bin")
      fs.writeFileSync(file, bytesOf(records))
      const { full: serial, redux: serialRedux } = serialOrder(readScheduleFile(file))
      assert.strictEqual(serial.length, records.length)
      for (let i = 0; i < serial.length; i++) assert.deepStrictEqual(serial[i], records[i], `serial[${i}]`)
      // One identical-thread record collapses.
      assert.strictEqual(serialRedux.length, records.length - 1)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("check_aggregate", () => {
    const TIMESTAMP_BASE = 100
    const CPU_X = 6
    const CPU_Y = 7
    const TID_A = 42
    const TID_B = 43
    /**
     * A thread whose shard calls record_cpu_id(tid, cpu, TIMESTAMP_BASE + offset, instrs)
     * for each (offset, instrs): a TIMESTAMP and a CPU_ID marker once `instrs` instructions ran.
     */
    const shard = (tid: number, cpu: number, points: ReadonlyArray<readonly [number, number]>) => {
      const body: Array<S.Entry> = []
      let instrs = 0
      let pc = 0x1000
      for (const [offset, at] of points) {
        for (; instrs < at; instrs++) body.push(S.instr(pc++))
        body.push(S.timestamp(TIMESTAMP_BASE + offset), S.cpu(cpu))
      }
      body.push(S.instr(pc), S.exit(tid))
      return S.thread(tid, body)
    }
    const shardA = shard(TID_A, CPU_X, [
      [0, 0],
      [20, 4],
      [40, 8]
    ])
    const shardB = shard(TID_B, CPU_Y, [
      [10, 0],
      [30, 4],
      [50, 8]
    ])
    const run = runEntriesSync(InvariantChecker.make(), [shardA, shardB])
    const sched = run.shards.map((s) => shardEntries(s.result.sched))
    // Each shard recorded DynamoRIO's three record_cpu_id calls.
    assert.deepStrictEqual(sched, [
      [entry(TID_A, 100, CPU_X, 0), entry(TID_A, 120, CPU_X, 4), entry(TID_A, 140, CPU_X, 8)],
      [entry(TID_B, 110, CPU_Y, 0), entry(TID_B, 130, CPU_Y, 4), entry(TID_B, 150, CPU_Y, 8)]
    ])
    // merge_shard_data(shardA); merge_shard_data(shardB); get_full_serial_records()
    const serial = serialOrder(sched.flat()).full
    assert.strictEqual(serial.length, 6)
    let lastTimestamp = 0n
    for (let i = 0; i < serial.length; i++) {
      assert.isTrue(serial[i]!.timestamp >= lastTimestamp, `serial[${i}] timestamp`)
      lastTimestamp = serial[i]!.timestamp
      assert.strictEqual(serial[i]!.thread, BigInt(i % 2 === 0 ? TID_A : TID_B), `serial[${i}] thread`)
    }
  })
})
