/**
 * The vocabulary of drmemtrace records: entry types, marker types, file-type
 * bits, and the classification predicates every layer shares.
 *
 * **When to use**: whenever code looks at a record's `type` or a marker's
 * sub-type. The numeric values are DynamoRIO's (`trace_entry.h`), so a value
 * read from disk can be compared directly.
 *
 * **Gotchas**
 * - These are plain `const` objects, not TypeScript enums (Node strips types,
 *   enums are not erasable syntax).
 * - `isInstr` follows DynamoRIO's `type_is_instr`: it excludes
 *   `INSTR_NO_FETCH` (29) and `INSTR_BUNDLE` (17).
 *
 * @since 0.1.0
 */

/**
 * `trace_type_t`: the `type` field of a raw entry and of a decoded record.
 *
 * @category constants
 */
export const TraceType = {
  READ: 0,
  WRITE: 1,
  PREFETCH: 2,
  PREFETCHT0: 3,
  PREFETCHT1: 4,
  PREFETCHT2: 5,
  PREFETCHNTA: 6,
  PREFETCH_READ: 7,
  PREFETCH_WRITE: 8,
  PREFETCH_INSTR: 9,
  INSTR: 10,
  INSTR_DIRECT_JUMP: 11,
  INSTR_INDIRECT_JUMP: 12,
  INSTR_CONDITIONAL_JUMP: 13,
  INSTR_DIRECT_CALL: 14,
  INSTR_INDIRECT_CALL: 15,
  INSTR_RETURN: 16,
  INSTR_BUNDLE: 17,
  INSTR_FLUSH: 18,
  INSTR_FLUSH_END: 19,
  DATA_FLUSH: 20,
  DATA_FLUSH_END: 21,
  THREAD: 22,
  THREAD_EXIT: 23,
  PID: 24,
  HEADER: 25,
  FOOTER: 26,
  HARDWARE_PREFETCH: 27,
  MARKER: 28,
  INSTR_NO_FETCH: 29,
  INSTR_MAYBE_FETCH: 30,
  INSTR_SYSENTER: 31,
  PREFETCH_READ_L1_NT: 32,
  PREFETCH_READ_L2_NT: 33,
  PREFETCH_READ_L3_NT: 34,
  PREFETCH_INSTR_L1: 35,
  PREFETCH_INSTR_L1_NT: 36,
  PREFETCH_INSTR_L2: 37,
  PREFETCH_INSTR_L2_NT: 38,
  PREFETCH_INSTR_L3: 39,
  PREFETCH_INSTR_L3_NT: 40,
  PREFETCH_WRITE_L1: 41,
  PREFETCH_WRITE_L1_NT: 42,
  PREFETCH_WRITE_L2: 43,
  PREFETCH_WRITE_L2_NT: 44,
  PREFETCH_WRITE_L3: 45,
  PREFETCH_WRITE_L3_NT: 46,
  ENCODING: 47,
  INSTR_TAKEN_JUMP: 48,
  INSTR_UNTAKEN_JUMP: 49,
  INVALID: 50
} as const

/**
 * `trace_marker_type_t`: a marker record's sub-type (stored in `size`).
 *
 * @category constants
 */
export const MarkerType = {
  KERNEL_EVENT: 0,
  KERNEL_XFER: 1,
  TIMESTAMP: 2,
  CPU_ID: 3,
  FUNC_ID: 4,
  FUNC_RETADDR: 5,
  FUNC_ARG: 6,
  FUNC_RETVAL: 7,
  SPLIT_VALUE: 8,
  FILETYPE: 9,
  CACHE_LINE_SIZE: 10,
  INSTRUCTION_COUNT: 11,
  VERSION: 12,
  RSEQ_ABORT: 13,
  WINDOW_ID: 14,
  PHYSICAL_ADDRESS: 15,
  PHYSICAL_ADDRESS_NOT_AVAILABLE: 16,
  VIRTUAL_ADDRESS: 17,
  PAGE_SIZE: 18,
  SYSCALL_IDX: 19,
  CHUNK_INSTR_COUNT: 20,
  CHUNK_FOOTER: 21,
  RECORD_ORDINAL: 22,
  FILTER_ENDPOINT: 23,
  RSEQ_ENTRY: 24,
  SYSCALL: 25,
  MAYBE_BLOCKING_SYSCALL: 26,
  SYSCALL_TRACE_START: 27,
  SYSCALL_TRACE_END: 28,
  BRANCH_TARGET: 29,
  SYSCALL_FAILED: 30,
  DIRECT_THREAD_SWITCH: 31,
  CORE_WAIT: 32,
  CORE_IDLE: 33,
  CONTEXT_SWITCH_START: 34,
  CONTEXT_SWITCH_END: 35,
  VECTOR_LENGTH: 36,
  SYSCALL_UNSCHEDULE: 37,
  SYSCALL_SCHEDULE: 38,
  SYSCALL_ARG_TIMEOUT: 39,
  SIGNAL_NUMBER: 40,
  UNCOMPLETED_INSTRUCTION: 41,
  MIDBLOCK_END_PC: 42,
  HARDWARE_EVENT: 43,
  HARDWARE_CONTEXT_RETURN: 44,
  KERNEL_EVENT_RAW: 45,
  SKIPPED_MEMREF: 46,
  RESERVED_END: 100
} as const

/**
 * `offline_file_type_t` bits carried by the FILETYPE marker.
 *
 * @category constants
 */
export const FileType = {
  FILTERED: 0x1,
  NO_OPTIMIZATIONS: 0x2,
  INSTRUCTION_ONLY: 0x4,
  ARCH_AARCH64: 0x8,
  ARCH_ARM32: 0x10,
  ARCH_X86_32: 0x20,
  ARCH_X86_64: 0x40,
  IFILTERED: 0x80,
  DFILTERED: 0x100,
  ENCODINGS: 0x200,
  SYSCALL_NUMBERS: 0x400,
  BLOCKING_SYSCALLS: 0x800,
  KERNEL_SYSCALLS: 0x1000,
  BIMODAL_FILTERED_WARMUP: 0x2000,
  KERNEL_SYSCALL_TRACE_TEMPLATES: 0x4000,
  KERNEL_SYSCALL_INSTR_ONLY: 0x8000,
  CORE_SHARDED: 0x10000,
  ARCH_REGDEPS: 0x20000,
  WHOLE_SYSTEM: 0x40000
} as const

/**
 * `trace_version_t`: the versions of the final trace format.
 *
 * @category constants
 */
export const TraceVersion = {
  LEGACY: 1,
  NO_KERNEL_PC: 2,
  KERNEL_PC: 3,
  ENCODINGS: 4,
  BRANCH_INFO: 5,
  FREQUENT_TIMESTAMPS: 6,
  RETIRED_INSTRUCTIONS_ONLY: 7,
  CURRENT: 7
} as const

/** Thread id DynamoRIO gives synthetic idle records. @category constants */
export const IDLE_THREAD_ID = -1
/** Thread id meaning "no thread". @category constants */
export const INVALID_THREAD_ID = 0
/** Bits a workload ordinal is shifted by inside a tagged tid/pid. @category constants */
export const WORKLOAD_SHIFT = 48

/**
 * Names of the FILETYPE bits that are set in `fileType`, in bit order.
 *
 * @category formatting
 */
export const fileTypeNames = (fileType: number): Array<string> => {
  const names: Array<string> = []
  for (const [name, bit] of Object.entries(FileType)) {
    if ((fileType & bit) !== 0) names.push(name)
  }
  return names
}

/** DynamoRIO's `type_is_instr`. @category predicates */
export const isInstr = (type: number): boolean =>
  (type >= TraceType.INSTR && type <= TraceType.INSTR_RETURN) ||
  type === TraceType.INSTR_SYSENTER ||
  type === TraceType.INSTR_TAKEN_JUMP ||
  type === TraceType.INSTR_UNTAKEN_JUMP

/** An instruction record of any kind, including non-fetched ones. @category predicates */
export const isAnyInstr = (type: number): boolean => isInstr(type) || type === TraceType.INSTR_NO_FETCH

/** DynamoRIO's `type_is_prefetch`. @category predicates */
export const isPrefetch = (type: number): boolean =>
  (type >= TraceType.PREFETCH && type <= TraceType.PREFETCH_INSTR) ||
  (type >= TraceType.PREFETCH_READ_L1_NT && type <= TraceType.PREFETCH_WRITE_L3_NT) ||
  type === TraceType.HARDWARE_PREFETCH

/** A data access: read, write or prefetch. @category predicates */
export const isData = (type: number): boolean => type === TraceType.READ || type === TraceType.WRITE || isPrefetch(type)

/** Indirect branches carry a target in the record (version ≥ 5). @category predicates */
export const isIndirectBranch = (type: number): boolean =>
  type === TraceType.INSTR_INDIRECT_JUMP || type === TraceType.INSTR_INDIRECT_CALL || type === TraceType.INSTR_RETURN
