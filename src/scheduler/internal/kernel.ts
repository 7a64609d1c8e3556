/**
 * Kernel sequence templates (DynamoRIO's `read_kernel_sequences` and
 * `inject_kernel_sequence`): context-switch sequences (between
 * CONTEXT_SWITCH_START/END markers, keyed by `switch_type_t`: 1 thread, 2
 * process) and system-call sequences (between SYSCALL_TRACE_START/END,
 * keyed by the system call number; 0x0fffffff is the default for numbers
 * without their own). The templates are read whole once; each injection
 * copies one, gives it the input's tid and pid, and points a final indirect
 * branch at the input's next PC.
 */
import { MarkerType, TraceType } from "../../trace/Record.ts"
import * as RecordBatch from "../../trace/RecordBatch.ts"
import { CLASS_INDIRECT, CLASS_INSTR, recordClass, TWO32 } from "./state.ts"

/** DynamoRIO's switch_type_t. */
export const SwitchType = { THREAD: 1, PROCESS: 2 } as const

/** DynamoRIO's DEFAULT_SYSCALL_TRACE_TEMPLATE_SYSNUM. */
export const DEFAULT_SYSCALL_SYSNUM = 0x0fffffff

/** One template: its records (START through END) and the PC of its first record with one. */
export interface Sequence {
  readonly records: RecordBatch.RecordBatch
  readonly firstPc: number
}

/** Records of a sequence file, in order (every batch of the decoded file). */
export type TemplateRecords = ReadonlyArray<RecordBatch.RecordBatch>

const value = (b: RecordBatch.RecordBatch, i: number): number => b.addrHi[i]! * TWO32 + b.addrLo[i]!

/**
 * Reads the sequences between `start` and `end` markers, with DynamoRIO's
 * checks and messages. `kind` is "context switch" or "system call".
 */
export const readSequences = (
  batches: TemplateRecords,
  start: number,
  end: number,
  kind: string
): Map<number, Sequence> | string => {
  const out = new Map<number, Sequence>()
  let key = -1
  let current: RecordBatch.RecordBatch | undefined
  let count = 0
  const all: Array<{ b: RecordBatch.RecordBatch; i: number }> = []
  for (const b of batches) for (let i = 0; i < RecordBatch.length(b); i++) all.push({ b, i })
  for (const { b, i } of all) {
    const isMarker = b.type[i] === TraceType.MARKER
    const m = b.size[i]!
    if (isMarker && m === start) {
      if (current !== undefined) return `Found another ${kind} sequence start without prior ending`
      key = value(b, i)
      if (key === -1) return `Invalid ${kind} sequence found with default key`
      if (out.has(key)) return `Duplicate ${kind} sequence found`
      current = RecordBatch.make(64)
      count = 0
    }
    if (current !== undefined) {
      if (!RecordBatch.hasRoom(current, 1)) current = grow(current)
      RecordBatch.copyRecord(b, i, current)
      count++
    }
    if (isMarker && m === end) {
      if (current === undefined) return `Found ${kind} sequence end marker without start marker`
      if (value(b, i) !== key) return `${kind} marker values mismatched`
      if (count === 0) return `${kind} sequence empty`
      out.set(key, { records: current, firstPc: firstPc(current) })
      current = undefined
    }
  }
  if (current !== undefined) return `${kind} sequence ${key} has no end marker`
  return out
}

const grow = (b: RecordBatch.RecordBatch): RecordBatch.RecordBatch => {
  const n = RecordBatch.length(b)
  const bigger = RecordBatch.make(b.capacity * 2)
  for (let i = 0; i < n; i++) RecordBatch.copyRecord(b, i, bigger)
  return bigger
}

/** The PC of a record, when it has one (DynamoRIO's memref_has_pc: fetched instructions, KERNEL_EVENT markers). */
export const pcOf = (b: RecordBatch.RecordBatch, i: number): number | undefined => {
  const t = b.type[i]!
  if ((recordClass[t]! & CLASS_INSTR) !== 0) return value(b, i)
  if (t === TraceType.MARKER && b.size[i] === MarkerType.KERNEL_EVENT) return value(b, i)
  return undefined
}

const firstPc = (b: RecordBatch.RecordBatch): number => {
  for (let i = 0; i < RecordBatch.length(b); i++) {
    const pc = pcOf(b, i)
    if (pc !== undefined) return pc
  }
  return 0
}

/**
 * A copy of `seq` for injection into an input: the input's tid and pid, the
 * default syscall key replaced by `sysnum`, and a last indirect branch
 * without a target pointed at `nextPc` (the input's next PC), as DynamoRIO
 * does. Origin fields carry the input's ordinals so far.
 */
export const instantiate = (
  seq: Sequence,
  tid: number,
  pid: number,
  sysnum: number,
  nextPc: number,
  inputOrdinal: number,
  recordsBefore: number,
  instrsBefore: number
): RecordBatch.RecordBatch => {
  const src = seq.records
  const n = RecordBatch.length(src)
  const out = RecordBatch.make(Math.max(n, RecordBatch.MIN_CAPACITY))
  for (let i = 0; i < n; i++) {
    RecordBatch.copyRecord(src, i, out)
    out.tid[i] = tid
    out.pid[i] = pid
    out.flags[i] = out.flags[i]! & ~RecordBatch.FLAG_SYNTHETIC
    if (
      out.type[i] === TraceType.MARKER &&
      (out.size[i] === MarkerType.SYSCALL_TRACE_START || out.size[i] === MarkerType.SYSCALL_TRACE_END) &&
      value(out, i) === DEFAULT_SYSCALL_SYSNUM
    ) {
      out.addrLo[i] = sysnum >>> 0
      out.addrHi[i] = 0
    }
  }
  // The last instruction, if an indirect branch, goes to the input's next PC (when known).
  for (let i = n - 1; i >= 0; i--) {
    const c = recordClass[out.type[i]!]!
    if ((c & CLASS_INSTR) === 0) continue
    if ((c & CLASS_INDIRECT) !== 0 && nextPc !== 0) {
      out.auxLo[i] = (nextPc % TWO32) >>> 0
      out.auxHi[i] = Math.floor(nextPc / TWO32) >>> 0
    }
    break
  }
  RecordBatch.setOrigin(out, inputOrdinal, recordsBefore, instrsBefore)
  RecordBatch.setInserted(out, true)
  return out
}
