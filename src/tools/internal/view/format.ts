/**
 * The text pieces of DynamoRIO's `view` tool: 64-bit numbers from (hi, lo)
 * halves in the bases C++ streams print them, workload/thread labels, marker
 * wordings, data-record names, and the raw-bytes column DynamoRIO's
 * disassembler prints before an instruction's mnemonic.
 *
 * Pure functions; nothing here allocates beyond the strings it returns, and
 * nothing uses BigInt.
 */
import { MarkerType, TraceType } from "../../../trace/Record.ts"

const TWO_32 = 4294967296
const TWO_48 = 281474976710656
const TWO_63 = 2 ** 63
const TWO_64 = 2 ** 64

/** `std::hex` of a u64 (no prefix, no padding). */
export const hex = (hi: number, lo: number): string =>
  hi === 0 ? (lo >>> 0).toString(16) : (hi >>> 0).toString(16) + (lo >>> 0).toString(16).padStart(8, "0")

const BYTE_HEX: ReadonlyArray<string> = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"))

const hex8 = (v: number): string =>
  BYTE_HEX[v >>> 24]! + BYTE_HEX[(v >>> 16) & 0xff]! + BYTE_HEX[(v >>> 8) & 0xff]! + BYTE_HEX[v & 0xff]!

// Addresses share their high half for long stretches: keep its text.
let lastHi = 0
let lastHiText = "00000000"

/** `std::hex << std::setfill('0') << std::setw(16)` of a u64. */
export const hex16 = (hi: number, lo: number): string => {
  if (hi !== lastHi) {
    lastHi = hi
    lastHiText = hex8(hi)
  }
  return lastHiText + hex8(lo)
}

/**
 * The exact decimal of a u64. Values below 2^53 go through a double; larger
 * ones (timestamps are around 1.3e16) through one long division by 10^7 over
 * 16-bit limbs, every step of which stays exact in a double.
 */
export const dec = (hi: number, lo: number): string => {
  if (hi < 0x200000) return String(hi * TWO_32 + lo)
  const D = 10_000_000
  let r = hi >>> 16
  const q3 = Math.floor(r / D)
  r -= q3 * D
  r = r * 65536 + (hi & 0xffff)
  const q2 = Math.floor(r / D)
  r -= q2 * D
  r = r * 65536 + (lo >>> 16)
  const q1 = Math.floor(r / D)
  r -= q1 * D
  r = r * 65536 + (lo & 0xffff)
  const q0 = Math.floor(r / D)
  r -= q0 * D
  const q = ((q3 * 65536 + q2) * 65536 + q1) * 65536 + q0
  return String(q) + String(r).padStart(7, "0")
}

/** `std::setw(width)` (right alignment). */
export const setw = (s: string | number, width: number): string => String(s).padStart(width)

/**
 * A batch tid as DynamoRIO's signed `memref_tid_t`. Ids read from disk are
 * unsigned 64-bit; the one negative id in practice is IDLE (-1), whose u64
 * form rounds to 2^64 in a double.
 */
export const signedTid = (tid: number): number => (tid >= TWO_63 ? (tid >= TWO_64 ? -1 : tid - TWO_64) : tid)

/** `W<workload>.T<tid>`: `tid >> 48` (arithmetic) and the low 48 bits. */
export const tidLabel = (tid: number): string => {
  const t = signedTid(tid)
  const workload = Math.floor(t / TWO_48)
  return "W" + workload + ".T" + (t - workload * TWO_48)
}

/** DynamoRIO's `func_trace_t::TRACE_FUNC_ID_SYSCALL_BASE` on 64-bit hosts: 2^32. */
const FUNC_ID_SYSCALL_BASE_HI = 1

/**
 * The text of a marker (`<marker: …>` and its newline), for every marker
 * type but TIMESTAMP, WINDOW_ID, VERSION and FILETYPE, which the printer
 * handles with its state. `version` is the trace version the tool knows
 * (-1 if none yet): versions up to 2 print kernel transfers as module
 * offsets.
 */
export const markerText = (markerType: number, hi: number, lo: number, tid: number, version: number): string => {
  switch (markerType) {
    case MarkerType.CPU_ID:
      return hi === 0xffffffff && lo === 0xffffffff
        ? "<marker: " + tidLabel(tid) + " on core unknown>\n"
        : "<marker: " + tidLabel(tid) + " on core " + dec(hi, lo) + ">\n"
    case MarkerType.KERNEL_EVENT:
      return version <= 2
        ? "<marker: kernel xfer from module offset +0x" + hex(hi, lo) + " to handler>\n"
        : "<marker: kernel xfer from 0x" + hex(hi, lo) + " to handler>\n"
    case MarkerType.SIGNAL_NUMBER:
      return "<marker: signal #" + dec(hi, lo) + ">\n"
    case MarkerType.RSEQ_ABORT:
      return "<marker: rseq abort from 0x" + hex(hi, lo) + " to handler>\n"
    case MarkerType.RSEQ_ENTRY:
      return "<marker: rseq entry with end at 0x" + hex(hi, lo) + ">\n"
    case MarkerType.KERNEL_XFER:
      return version <= 2
        ? "<marker: syscall xfer from module offset +0x" + hex(hi, lo) + ">\n"
        : "<marker: syscall xfer from 0x" + hex(hi, lo) + ">\n"
    case MarkerType.INSTRUCTION_COUNT:
      return "<marker: instruction count " + dec(hi, lo) + ">\n"
    case MarkerType.CACHE_LINE_SIZE:
      return "<marker: cache line size " + dec(hi, lo) + ">\n"
    case MarkerType.PAGE_SIZE:
      return "<marker: page size " + dec(hi, lo) + ">\n"
    case MarkerType.CHUNK_INSTR_COUNT:
      return "<marker: chunk instruction count " + dec(hi, lo) + ">\n"
    case MarkerType.CHUNK_FOOTER:
      return "<marker: chunk footer #" + dec(hi, lo) + ">\n"
    case MarkerType.FILTER_ENDPOINT:
      return "<marker: filter endpoint>\n"
    case MarkerType.PHYSICAL_ADDRESS:
      return "<marker: physical address for following virtual: 0x" + hex(hi, lo) + ">\n"
    case MarkerType.VIRTUAL_ADDRESS:
      return "<marker: virtual address for prior physical: 0x" + hex(hi, lo) + ">\n"
    case MarkerType.PHYSICAL_ADDRESS_NOT_AVAILABLE:
      return "<marker: physical address not available for 0x" + hex(hi, lo) + ">\n"
    case MarkerType.FUNC_ID:
      return hi >= FUNC_ID_SYSCALL_BASE_HI
        ? "<marker: function==syscall #" + dec(hi - FUNC_ID_SYSCALL_BASE_HI, lo) + ">\n"
        : "<marker: function #" + dec(hi, lo) + ">\n"
    case MarkerType.FUNC_RETADDR:
      return "<marker: function return address 0x" + hex(hi, lo) + ">\n"
    case MarkerType.FUNC_ARG:
      return "<marker: function argument 0x" + hex(hi, lo) + ">\n"
    case MarkerType.FUNC_RETVAL:
      return "<marker: function return value 0x" + hex(hi, lo) + ">\n"
    case MarkerType.SYSCALL_FAILED:
      return "<marker: system call failed: " + dec(hi, lo) + ">\n"
    case MarkerType.RECORD_ORDINAL:
      return "<marker: record ordinal 0x" + hex(hi, lo) + ">\n"
    case MarkerType.SYSCALL:
      return "<marker: system call " + dec(hi, lo) + ">\n"
    case MarkerType.MAYBE_BLOCKING_SYSCALL:
      return "<marker: maybe-blocking system call>\n"
    case MarkerType.DIRECT_THREAD_SWITCH:
      return "<marker: direct switch to thread " + dec(hi, lo) + ">\n"
    case MarkerType.SYSCALL_UNSCHEDULE:
      return "<marker: current thread going unscheduled>\n"
    case MarkerType.SYSCALL_SCHEDULE:
      return "<marker: re-schedule thread " + dec(hi, lo) + ">\n"
    case MarkerType.SYSCALL_ARG_TIMEOUT:
      return "<marker: syscall timeout arg " + dec(hi, lo) + ">\n"
    case MarkerType.SYSCALL_TRACE_START:
      return "<marker: trace start for system call number " + dec(hi, lo) + ">\n"
    case MarkerType.SYSCALL_TRACE_END:
      return "<marker: trace end for system call number " + dec(hi, lo) + ">\n"
    case MarkerType.CONTEXT_SWITCH_START:
      return "<marker: trace start for context switch type " + dec(hi, lo) + ">\n"
    case MarkerType.CONTEXT_SWITCH_END:
      return "<marker: trace end for context switch type " + dec(hi, lo) + ">\n"
    case MarkerType.BRANCH_TARGET:
      return "<marker: indirect branch target 0x" + hex(hi, lo) + ">\n"
    case MarkerType.CORE_WAIT:
      return "<marker: wait for another core>\n"
    case MarkerType.CORE_IDLE:
      return "<marker: core is idle>\n"
    case MarkerType.VECTOR_LENGTH:
      return "<marker: vector length " + dec(hi, lo) + " bytes>\n"
    case MarkerType.UNCOMPLETED_INSTRUCTION:
      return "<marker: uncompleted instruction, encoding 0x" + hex(hi, lo) + ">\n"
    case MarkerType.HARDWARE_EVENT:
      return "<marker: hardware xfer from 0x" + hex(hi, lo) + " to handler>\n"
    // DynamoRIO prints these two without the closing ">".
    case MarkerType.HARDWARE_CONTEXT_RETURN:
      return "<marker: hardware context return\n"
    case MarkerType.SKIPPED_MEMREF:
      return "<marker: skipped memref 0x" + hex(hi, lo) + "\n"
    default:
      return "<marker: type " + markerType + "; value " + dec(hi, lo) + ">\n"
  }
}

/** Names of the address-carrying record types, by `trace_type_t`. */
const DATA_NAMES: ReadonlyArray<string | undefined> = (() => {
  const names: Array<string | undefined> = []
  const set = (type: number, name: string) => {
    names[type] = name
  }
  set(TraceType.READ, "read")
  set(TraceType.WRITE, "write")
  set(TraceType.INSTR_FLUSH, "iflush")
  set(TraceType.DATA_FLUSH, "dflush")
  set(TraceType.PREFETCH, "pref")
  set(TraceType.PREFETCHT0, "pref-r-L1")
  set(TraceType.PREFETCHT1, "pref-r-L2")
  set(TraceType.PREFETCHT2, "pref-r-L3")
  set(TraceType.PREFETCHNTA, "pref-NTA")
  set(TraceType.PREFETCH_READ, "pref-r")
  set(TraceType.PREFETCH_WRITE, "pref-w")
  set(TraceType.PREFETCH_INSTR, "pref-i")
  set(TraceType.PREFETCH_READ_L1_NT, "pref-r-L1-NT")
  set(TraceType.PREFETCH_READ_L2_NT, "pref-r-L2-NT")
  set(TraceType.PREFETCH_READ_L3_NT, "pref-r-L3-NT")
  set(TraceType.PREFETCH_INSTR_L1, "pref-i-L1")
  set(TraceType.PREFETCH_INSTR_L1_NT, "pref-i-L1-NT")
  set(TraceType.PREFETCH_INSTR_L2, "pref-i-L2")
  set(TraceType.PREFETCH_INSTR_L2_NT, "pref-i-L2-NT")
  set(TraceType.PREFETCH_INSTR_L3, "pref-i-L3")
  set(TraceType.PREFETCH_INSTR_L3_NT, "pref-i-L3-NT")
  set(TraceType.PREFETCH_WRITE_L1, "pref-w-L1")
  set(TraceType.PREFETCH_WRITE_L1_NT, "pref-w-L1-NT")
  set(TraceType.PREFETCH_WRITE_L2, "pref-w-L2")
  set(TraceType.PREFETCH_WRITE_L2_NT, "pref-w-L2-NT")
  set(TraceType.PREFETCH_WRITE_L3, "pref-w-L3")
  set(TraceType.PREFETCH_WRITE_L3_NT, "pref-w-L3-NT")
  set(TraceType.HARDWARE_PREFETCH, "pref-HW")
  return names
})()

/** The 12-column name of an address-carrying record, or undefined for other types. */
export const dataName = (type: number): string | undefined => DATA_NAMES[type]

/** `read        8 byte(s) @ 0x… by PC 0x…` and its newline. */
export const dataText = (name: string, size: number, hi: number, lo: number, pcHi: number, pcLo: number): string =>
  name.padEnd(12) + setw(size, 2) + " byte(s) @ 0x" + hex16(hi, lo) + " by PC 0x" + hex16(pcHi, pcLo) + "\n"

/** What DynamoRIO prints for an instruction when it has no disassembler (no encodings, no binaries). */
export const instrKind = (type: number): string => {
  switch (type) {
    case TraceType.INSTR:
      return "non-branch"
    case TraceType.INSTR_DIRECT_JUMP:
      return "jump"
    case TraceType.INSTR_INDIRECT_JUMP:
      return "indirect jump"
    case TraceType.INSTR_CONDITIONAL_JUMP:
      return "conditional jump"
    case TraceType.INSTR_TAKEN_JUMP:
      return "taken conditional jump"
    case TraceType.INSTR_UNTAKEN_JUMP:
      return "untaken conditional jump"
    case TraceType.INSTR_DIRECT_CALL:
      return "call"
    case TraceType.INSTR_INDIRECT_CALL:
      return "indirect call"
    case TraceType.INSTR_RETURN:
      return "return"
    case TraceType.INSTR_NO_FETCH:
      return "non-fetched instruction"
    default:
      return "sysenter"
  }
}

/** How the disassembler lays out raw bytes: per ISA of the trace. */
export type ByteLayout = "x86" | "aarch64" | "regdeps"

const hex2 = (b: number): string => BYTE_HEX[b]!

const word = (bytes: Uint8Array, at: number, len: number): string => {
  let v = 0
  for (let k = 3; k >= 0; k--) v = v * 256 + (at + k < len ? bytes[at + k]! : 0)
  return v.toString(16).padStart(8, "0")
}

/**
 * The raw-bytes column DynamoRIO's `disassemble_to_buffer(show_bytes)` prints
 * before the mnemonic, and the bytes that spill onto a second line (empty if
 * none). x86: ` %02x` for the first 7 bytes, padded to 7 with 3 spaces each,
 * then a space; the rest on the second line. AArch64: one ` %08x` word and 3
 * spaces. REGDEPS: two ` %08x` words (or 9 spaces for the second), a space;
 * words 3 and 4 on the second line.
 */
export const encodingColumns = (
  bytes: Uint8Array,
  offset: number,
  len: number,
  layout: ByteLayout
): { readonly first: string; readonly second: string } => {
  const at = (k: number) => bytes[offset + k]!
  if (layout === "aarch64") return { first: " " + word(bytes.subarray(offset), 0, len) + "   ", second: "" }
  if (layout === "regdeps") {
    const b = bytes.subarray(offset)
    const first = " " + word(b, 0, len) + (len > 4 ? " " + word(b, 4, len) : "         ") + " "
    let second = ""
    if (len > 8) {
      second = " " + word(b, 8, len)
      if (len > 12) second += " " + word(b, 12, len)
    }
    return { first, second }
  }
  const shown = Math.min(len, 7)
  let first = ""
  for (let k = 0; k < shown; k++) first += " " + hex2(at(k))
  for (let k = shown; k < 7; k++) first += "   "
  first += " "
  let second = ""
  for (let k = 7; k < len; k++) second += " " + hex2(at(k))
  return { first, second }
}
