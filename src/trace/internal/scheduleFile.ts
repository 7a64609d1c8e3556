/**
 * DynamoRIO's schedule files, read and written byte for byte:
 *
 * - the as-traced cpu schedule (`cpu_schedule.bin.zip`, written by the
 *   tracer): one zip member per traced cpu, named by the cpu id, members not
 *   sorted; each a run of 32-byte `schedule_entry_t` records (four
 *   little-endian u64: thread, timestamp, cpu, start_instruction), one per
 *   timestamp the thread saw on that cpu;
 * - a recorded schedule (`-record_file` / `-replay_file`): one member per
 *   output named `output.` + the output ordinal in 4 digits, each a run of
 *   32-byte `schedule_record_t` records (u32 type, i32 input (the version in
 *   a VERSION record), u64 start instruction (the idle count of an idle
 *   record), u64 stop instruction (exclusive; 2^64 − 1 = to the end), u64
 *   timestamp), VERSION first and FOOTER last.
 *
 * Instruction counts are numbers (2^64 − 1 reads as +Infinity); timestamps
 * are BigInts (trace timestamps exceed 2^53). Parsing is pure and keeps
 * every record (VERSION and FOOTER included): the scheduler checks them and
 * words the errors as DynamoRIO does.
 */

import { traceError } from "./container/errors.ts"
import { readZipComponents } from "./source.ts"
import { makeContainer } from "./writer/containers.ts"
import { fromCause } from "./writer/error.ts"
import { TempFile } from "./writer/tempFile.ts"

/** Bytes of one schedule_entry_t or schedule_record_t. */
export const ENTRY_BYTES = 32

const U64_MAX = (1n << 64n) - 1n

/** One as-traced schedule entry (DynamoRIO's `schedule_entry_t`). */
export interface CpuScheduleEntry {
  readonly thread: number
  readonly timestamp: bigint
  readonly cpu: number
  /** Instructions the thread had executed before this entry's timestamp. */
  readonly startInstruction: number
}

/** One member of a cpu schedule file, in archive order. */
export interface CpuScheduleComponent {
  readonly name: string
  readonly entries: ReadonlyArray<CpuScheduleEntry>
}

/** A cpu schedule file: its members in archive order (DynamoRIO reads them that way). */
export type CpuSchedule = ReadonlyArray<CpuScheduleComponent>

/** `schedule_record_t::record_type_t`. */
export const RecordType = {
  DEFAULT: 0,
  VERSION: 1,
  FOOTER: 2,
  SKIP: 3,
  SYNTHETIC_END: 4,
  /** Legacy: `start` is an idle duration in microseconds. */
  IDLE: 5,
  /** `start` is a count of idle records. */
  IDLE_BY_COUNT: 6
} as const

/** DynamoRIO's `schedule_record_t::VERSION_CURRENT`. */
export const RECORD_VERSION_CURRENT = 0

/** One recorded-schedule record (DynamoRIO's `schedule_record_t`). */
export interface ScheduleRecord {
  readonly type: number
  /** Input ordinal (the version number in a VERSION record). */
  readonly input: number
  /** First instruction ordinal of the segment; the idle count of IDLE records. */
  readonly start: number
  /** Exclusive end instruction ordinal; +Infinity = to the input's end. */
  readonly stop: number
  /** Orders segments across outputs. */
  readonly timestamp: bigint
}

/** The name of output `output`'s member in a recorded schedule (`output.0003`). */
export const recordedComponentName = (output: number): string => `output.${String(output).padStart(4, "0")}`

const readU64 = (view: DataView, at: number): bigint => view.getBigUint64(at, true)

const u64ToNumber = (v: bigint): number => (v === U64_MAX ? Number.POSITIVE_INFINITY : Number(v))

const numberToU64 = (v: number): bigint =>
  v === Number.POSITIVE_INFINITY ? U64_MAX : BigInt(Math.max(0, Math.trunc(v)))

/** Parses the members of a cpu schedule file. Fails on a member whose size is not a multiple of 32. */
export const parseCpuSchedule = (
  members: ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array }>
): CpuSchedule | string => {
  const out: Array<CpuScheduleComponent> = []
  for (const m of members) {
    if (m.bytes.length % ENTRY_BYTES !== 0)
      return `member ${m.name} has ${m.bytes.length} bytes, not a multiple of ${ENTRY_BYTES}`
    const view = new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength)
    const entries: Array<CpuScheduleEntry> = []
    for (let at = 0; at < m.bytes.length; at += ENTRY_BYTES) {
      entries.push({
        thread: Number(BigInt.asIntN(64, readU64(view, at))),
        timestamp: readU64(view, at + 8),
        cpu: Number(readU64(view, at + 16)),
        startInstruction: u64ToNumber(readU64(view, at + 24))
      })
    }
    out.push({ name: m.name, entries })
  }
  return out
}

/** Parses one member of a recorded schedule (every record, VERSION and FOOTER included). */
export const parseRecords = (bytes: Uint8Array): ReadonlyArray<ScheduleRecord> | string => {
  if (bytes.length % ENTRY_BYTES !== 0) return `${bytes.length} bytes is not a multiple of ${ENTRY_BYTES}`
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Array<ScheduleRecord> = []
  for (let at = 0; at < bytes.length; at += ENTRY_BYTES) {
    out.push({
      type: view.getUint32(at, true),
      input: view.getInt32(at + 4, true),
      start: u64ToNumber(readU64(view, at + 8)),
      stop: u64ToNumber(readU64(view, at + 16)),
      timestamp: readU64(view, at + 24)
    })
  }
  return out
}

/** Encodes records as DynamoRIO lays them out. */
export const encodeRecords = (records: ReadonlyArray<ScheduleRecord>): Uint8Array => {
  const bytes = new Uint8Array(records.length * ENTRY_BYTES)
  const view = new DataView(bytes.buffer)
  records.forEach((r, k) => {
    const at = k * ENTRY_BYTES
    view.setUint32(at, r.type, true)
    view.setInt32(at + 4, r.input, true)
    view.setBigUint64(at + 8, numberToU64(r.start), true)
    view.setBigUint64(at + 16, numberToU64(r.stop), true)
    view.setBigUint64(at + 24, BigInt.asUintN(64, r.timestamp), true)
  })
  return bytes
}

/** Reads a cpu schedule zip (`cpu_schedule.bin.zip`). */
export const readCpuSchedule = async (path: string): Promise<CpuSchedule> => {
  const members = await readZipComponents(path)
  const parsed = parseCpuSchedule(members)
  if (typeof parsed === "string") throw traceError("Corrupt", path, `not a cpu schedule: ${parsed}`)
  return parsed
}

/** The members of a recorded schedule zip, by name. */
export const readRecordedSchedule = async (
  path: string
): Promise<ReadonlyMap<string, ReadonlyArray<ScheduleRecord>>> => {
  const members = await readZipComponents(path)
  const out = new Map<string, ReadonlyArray<ScheduleRecord>>()
  for (const m of members) {
    const parsed = parseRecords(m.bytes)
    if (typeof parsed === "string")
      throw traceError("Corrupt", path, `not a recorded schedule: ${parsed}`, { component: m.name })
    out.set(m.name, parsed)
  }
  return out
}

/**
 * Writes a recorded schedule: one `output.NNNN` member per output, in output
 * order, through the trace writer's zip container (crash-safe: the file
 * appears under `path` only once complete).
 */
export const writeRecordedSchedule = async (
  path: string,
  outputs: ReadonlyArray<ReadonlyArray<ScheduleRecord>>
): Promise<void> => {
  const file = await TempFile.create(path)
  const zip = makeContainer("zip", file)
  try {
    const parts = outputs.map(encodeRecords)
    const total = parts.reduce((n, p) => n + p.length, 0)
    const all = new Uint8Array(total)
    const cuts: Array<{ at: number; name: string }> = []
    let at = 0
    parts.forEach((p, o) => {
      cuts.push({ at, name: recordedComponentName(o) })
      all.set(p, at)
      at += p.length
    })
    await zip.segment(all, cuts)
    await zip.finish()
    await file.commit(false)
  } catch (cause) {
    zip.destroy()
    await file.abort()
    throw fromCause(path, cause)
  }
}
