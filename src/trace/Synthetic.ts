/**
 * Builds small in-memory traces, entry by entry, for tests, examples and
 * scheduler experiments: the equivalent of DynamoRIO's `test_util`
 * `make_thread` / `make_pid` / `make_timestamp` / `make_instr` / `make_marker` /
 * `make_exit` helpers.
 *
 * **When to use**: to make an input whose exact records you control. The result
 * is real final-format bytes (12-byte `trace_entry_t`s), so it goes through the
 * same decoder as files on disk (`Trace.fromEntries`, `Trace.fromBytes`).
 *
 * **Gotchas**
 * - {@link thread} emits HEADER, VERSION, FILETYPE, THREAD and PID the way the
 *   tracer lays out a file's start; the reader hides HEADER/THREAD/PID, so the
 *   first visible records are the VERSION and FILETYPE markers.
 * - Values are BigInt-or-number for convenience: this module is not on any hot
 *   path.
 *
 * @example
 * ```ts
 * import { Synthetic } from "memtrace"
 * const a = Synthetic.thread(1, [Synthetic.timestamp(10), Synthetic.instr(0x1000), Synthetic.exit(1)])
 * ```
 *
 * @since 0.1.0
 */
import { FileType, MarkerType, TraceType, TraceVersion } from "./Record.ts"

/**
 * One raw `trace_entry_t`.
 *
 * @category models
 */
export interface Entry {
  readonly type: number
  readonly size: number
  readonly addr: bigint
}

const big = (v: number | bigint): bigint => (typeof v === "bigint" ? v : BigInt(v))

/** Any raw entry. @category constructors */
export const entry = (type: number, size: number, addr: number | bigint = 0): Entry => ({
  type,
  size,
  addr: BigInt.asUintN(64, big(addr))
})

/** HEADER carrying the version. @category constructors */
export const header = (version: number = TraceVersion.CURRENT): Entry => entry(TraceType.HEADER, 0, version)
/** FOOTER. @category constructors */
export const footer = (): Entry => entry(TraceType.FOOTER, 0, 0)
/** THREAD entry (sets the current tid). @category constructors */
export const threadEntry = (tid: number | bigint): Entry => entry(TraceType.THREAD, 4, tid)
/** PID entry. @category constructors */
export const pid = (p: number | bigint): Entry => entry(TraceType.PID, 4, p)
/** A marker. @category constructors */
export const marker = (markerType: number, value: number | bigint = 0): Entry =>
  entry(TraceType.MARKER, markerType, value)
/** VERSION marker. @category constructors */
export const version = (v: number = TraceVersion.CURRENT): Entry => marker(MarkerType.VERSION, v)
/** FILETYPE marker. @category constructors */
export const filetype = (ft: number): Entry => marker(MarkerType.FILETYPE, ft)
/** TIMESTAMP marker. @category constructors */
export const timestamp = (ts: number | bigint): Entry => marker(MarkerType.TIMESTAMP, ts)
/** CPU_ID marker. @category constructors */
export const cpu = (id: number | bigint): Entry => marker(MarkerType.CPU_ID, id)
/** An instruction fetch (default: a 1-byte plain instruction). @category constructors */
export const instr = (pc: number | bigint, type: number = TraceType.INSTR, size: number = 1): Entry =>
  entry(type, size, pc)
/** A data read. @category constructors */
export const read = (addr: number | bigint, size: number = 8): Entry => entry(TraceType.READ, size, addr)
/** A data write. @category constructors */
export const write = (addr: number | bigint, size: number = 8): Entry => entry(TraceType.WRITE, size, addr)
/** THREAD_EXIT. @category constructors */
export const exit = (tid: number | bigint): Entry => entry(TraceType.THREAD_EXIT, 4, tid)
/** ENCODING entry holding up to 8 bytes of an instruction's encoding. @category constructors */
export const encoding = (bytes: ReadonlyArray<number>): Entry => {
  let v = 0n
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]! & 0xff)
  return entry(TraceType.ENCODING, bytes.length, v)
}

/**
 * A whole thread: the file-start entries DynamoRIO writes, the body, and a
 * FOOTER. Add your own `exit(tid)` at the end of the body, as real traces do.
 *
 * @category constructors
 */
export const thread = (
  tid: number,
  body: ReadonlyArray<Entry>,
  options?: { readonly pid?: number; readonly version?: number; readonly filetype?: number }
): Array<Entry> => [
  header(options?.version ?? TraceVersion.CURRENT),
  version(options?.version ?? TraceVersion.CURRENT),
  filetype(options?.filetype ?? FileType.ARCH_X86_64),
  threadEntry(tid),
  pid(options?.pid ?? 1),
  ...body,
  footer()
]

/**
 * Serialises entries into the 12-byte little-endian on-disk layout.
 *
 * @category encoding
 */
export const encode = (entries: ReadonlyArray<Entry>): Uint8Array => {
  const out = new Uint8Array(entries.length * 12)
  const view = new DataView(out.buffer)
  entries.forEach((e, i) => {
    view.setUint16(i * 12, e.type, true)
    view.setUint16(i * 12 + 2, e.size, true)
    view.setBigUint64(i * 12 + 4, e.addr, true)
  })
  return out
}
