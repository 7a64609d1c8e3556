/**
 * invariant_checker's check of the serial schedule file the tracer wrote
 * (`serial_schedule.bin`, optionally gzipped) against the trace: DynamoRIO's
 * `check_schedule_data`. Each shard notes a `schedule_entry_t` at every
 * CPU_ID marker; merged and sorted by (timestamp, cpu, thread, instruction),
 * they must equal the file's entries, either all of them or with consecutive
 * same-thread entries collapsed.
 */
import { readFileSync } from "node:fs"
import { gunzipSync } from "node:zlib"
import { SCHED_FIELDS, type Violation } from "./checker.ts"

/** One `schedule_entry_t`: four u64 fields. */
export interface ScheduleEntry {
  readonly thread: bigint
  readonly timestamp: bigint
  readonly cpu: bigint
  readonly start: bigint
}

const ENTRY_BYTES = 32

/** Parses a serial schedule file (raw or gzip) into its entries. */
export const readScheduleFile = (path: string): Array<ScheduleEntry> => {
  let bytes: Uint8Array = readFileSync(path)
  if (path.endsWith(".gz")) bytes = gunzipSync(bytes)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Array<ScheduleEntry> = []
  // A trailing partial entry is ignored, as DynamoRIO's istream read stops there.
  for (let off = 0; off + ENTRY_BYTES <= bytes.byteLength; off += ENTRY_BYTES) {
    out.push({
      thread: view.getBigUint64(off, true),
      timestamp: view.getBigUint64(off + 8, true),
      cpu: view.getBigUint64(off + 16, true),
      start: view.getBigUint64(off + 24, true)
    })
  }
  return out
}

const u64 = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)

/** The entries the shards saw (flattened SCHED_FIELDS numbers each). */
export const shardEntries = (sched: ReadonlyArray<number>): Array<ScheduleEntry> => {
  const out: Array<ScheduleEntry> = []
  for (let k = 0; k + SCHED_FIELDS <= sched.length; k += SCHED_FIELDS) {
    out.push({
      thread: BigInt.asUintN(64, BigInt(sched[k]!)),
      timestamp: u64(sched[k + 1]!, sched[k + 2]!),
      cpu: u64(sched[k + 3]!, sched[k + 4]!),
      start: BigInt(sched[k + 5]!)
    })
  }
  return out
}

const cmp = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0)

const same = (a: ScheduleEntry, b: ScheduleEntry): boolean =>
  a.thread === b.thread && a.timestamp === b.timestamp && a.cpu === b.cpu && a.start === b.start

/** The serial order of `entries` (full) and with consecutive same-thread entries collapsed (redux). */
export const serialOrder = (
  entries: ReadonlyArray<ScheduleEntry>
): { readonly full: Array<ScheduleEntry>; readonly redux: Array<ScheduleEntry> } => {
  const full = [...entries].sort(
    (a, b) => cmp(a.timestamp, b.timestamp) || cmp(a.cpu, b.cpu) || cmp(a.thread, b.thread) || cmp(a.start, b.start)
  )
  const redux: Array<ScheduleEntry> = []
  for (const e of full) if (redux.length === 0 || redux[redux.length - 1]!.thread !== e.thread) redux.push(e)
  return { full, redux }
}

/** A violation of the whole-trace check: DynamoRIO reports it against a synthetic stream. */
const globalViolation = (name: string, thread: bigint, start: bigint): Violation => ({
  where: "T",
  id: Number(BigInt.asIntN(64, thread)),
  ref: Number(start),
  instr: 0,
  sinceTimestamp: 0,
  lastTimestamp: "0",
  name
})

/**
 * Compares the trace's entries with the file's. `coreSharded` tolerates a
 * count mismatch (a core-sharded run re-bases counts at every switch).
 */
export const checkSerialSchedule = (
  path: string,
  traceEntries: ReadonlyArray<ScheduleEntry>,
  coreSharded: boolean
): Array<Violation> => {
  let file: Array<ScheduleEntry>
  try {
    // Entries with one timestamp may be in any order: the file is sorted the same way.
    file = serialOrder(readScheduleFile(path)).full
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e)
    return [globalViolation(`Failed to read serial schedule file: ${why}`, -1n, 0n)]
  }
  const { full, redux } = serialOrder(traceEntries)
  const tomatch = file.length === full.length ? full : file.length === redux.length ? redux : undefined
  if (tomatch === undefined) {
    return coreSharded ? [] : [globalViolation("Serial schedule entry count does not match trace", -1n, 0n)]
  }
  const out: Array<Violation> = []
  for (let i = 0; i < tomatch.length && i < file.length; i++) {
    if (!same(tomatch[i]!, file[i]!)) {
      out.push(globalViolation("Serial schedule entry does not match trace", file[i]!.thread, file[i]!.start))
    }
  }
  return out
}
