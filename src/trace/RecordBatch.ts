/**
 * A batch of decoded trace records (DynamoRIO `memref_t`s) in struct-of-arrays
 * form over one `ArrayBuffer`: the unit every layer (reader, scheduler,
 * analyzer, tools, worker threads) moves around.
 *
 * **When to use**: a tool's batch callback receives `(batch, start, end)` and
 * loops `for (let i = start; i < end; i++)` over the typed arrays. Nothing on
 * that path allocates or calls Effect.
 *
 * **Details**
 * - Field meanings follow `memref_t`: `type` is the `trace_type_t`; `size` is
 *   the access size, the instruction length, or (for markers) the
 *   `trace_marker_type_t`; `addr` is the address or the marker value; `aux` is
 *   the PC of the last instruction for data and flush records, and the
 *   indirect-branch target for indirect branches. A flush's length is in
 *   `size`, clamped to 65,535.
 * - 64-bit values are split into exact 32-bit halves (`addrLo`/`addrHi`,
 *   `auxLo`/`auxHi`): timestamps and kernel addresses exceed 2^53.
 * - `tid`/`pid` are signed doubles (the idle tid is -1): exact for every real thread id, and for
 *   workload-tagged ids (`workload * 2^48 + tid`) while the workload ordinal is
 *   below 32.
 * - All arrays, plus a small header (length, input ordinal, ordinals), live in
 *   one `ArrayBuffer`, so `transfer(batch)` can post it to a worker thread and
 *   {@link fromBuffer} rebuilds the views there without copying.
 * - Records are in stream order; `firstRecordOrdinal` is the input's record
 *   ordinal (1-based, as DynamoRIO counts visible records) of record 0 and
 *   `instrOrdinalBefore` the input's instruction count before record 0.
 *
 * **Gotchas**
 * - A batch handed to a consumer is owned by it until the consumer returns;
 *   producers never write into a batch they have handed out.
 * - `enc` holds instruction encodings (16 bytes a record: up to 15 encoding
 *   bytes, then the length) only when the reader was asked to keep
 *   them (`encodings: true`, used by `view`); otherwise `FLAG_HAS_ENCODING` is
 *   never set.
 * - The **marker index** (`markerAt`, `markerInstrs`, {@link markerIndex}) is written
 *   by the trace decoder alone, as it fills a batch: where the markers are, the
 *   instructions before each, and whether every non-marker address is canonical.
 *   The scheduler skips plain runs with it instead of reading each record. Only
 *   the decoder sets it valid; {@link setLength}, {@link pushMarker} and
 *   {@link copyRecord} clear it, and a writer that changes the `type` of records
 *   in place must call {@link clearMarkerIndex}.
 *
 * @since 0.1.0
 */
import { isInstr, MarkerType, TraceType } from "./Record.ts"

/** The instruction's encoding bytes came with it (DynamoRIO `encoding_is_new`). @category flags */
export const FLAG_ENCODING_IS_NEW = 1
/** Inserted by the scheduler or analyzer, not read from the trace. @category flags */
export const FLAG_SYNTHETIC = 2
/** `enc[i * 16 …]` holds this instruction's encoding; its length is at `enc[i * 16 + 15]`. @category flags */
export const FLAG_HAS_ENCODING = 4

/**
 * Default records per batch: large enough to amortise Effect, small enough
 * that a batch (72 KiB) is still in cache when the scheduler and tools read
 * it after the decoder wrote it. Measured on 30 copies of threadsig: the
 * dynamic scheduler ran 13 % faster (median of 8) than with 8,192, reading
 * alone no slower. @category constants
 */
export const DEFAULT_CAPACITY = 2048

/**
 * Smallest capacity a reader fills: the decoder keeps 9 slots free for an
 * instruction bundle (up to 8 records), so smaller requests are raised to this.
 *
 * @category constants
 */
export const MIN_CAPACITY = 16

/** Largest capacity a reader accepts (a batch of it takes 36 MiB, 18 GiB with encodings). @category constants */
export const MAX_CAPACITY = 1 << 20

/**
 * The capacity a reader fills for a requested `batchCapacity` (undefined:
 * the default; below {@link MIN_CAPACITY}: raised to it), or a description
 * of why the request cannot be met.
 *
 * @category constructors
 */
export const capacityFor = (requested: number | undefined): number | string =>
  requested === undefined
    ? DEFAULT_CAPACITY
    : Number.isSafeInteger(requested) && requested >= 1 && requested <= MAX_CAPACITY
      ? Math.max(MIN_CAPACITY, requested)
      : `batchCapacity must be an integer from 1 to ${MAX_CAPACITY}, got ${requested}`

/** Bytes of encoding kept per record when encodings are captured. @category constants */
export const ENCODING_BYTES_PER_RECORD = 16

// length, input, firstRecordOrdinal, instrOrdinalBefore, capacity, encodingCapacity,
// then the marker index: valid (1), markers, instructions, all canonical (1); then the input's file type.
const HEADER_SLOTS = 13
const H_INDEXED = 6
const H_MARKERS = 7
const H_INSTRS = 8
const H_CANONICAL = 9
const H_FILETYPE = 10
const H_VERSION = 11
const H_INSERTED = 12

/** Markers a batch's index can hold: a batch with more is not indexed. @category constants */
export const markerIndexCapacity = (capacity: number): number => Math.max(8, capacity >> 2)

/**
 * @category models
 */
export interface RecordBatch {
  readonly buffer: ArrayBuffer
  readonly capacity: number
  readonly header: Float64Array
  readonly tid: Float64Array
  readonly pid: Float64Array
  readonly addrLo: Uint32Array
  readonly addrHi: Uint32Array
  readonly auxLo: Uint32Array
  readonly auxHi: Uint32Array
  readonly size: Uint16Array
  readonly type: Uint8Array
  readonly flags: Uint8Array
  readonly enc: Uint8Array
  /** Marker index: positions of the marker records, ascending (the first `markerIndex().markers`). */
  readonly markerAt: Int32Array
  /** Marker index: fetched instructions (`Record.isInstr`) in the batch before `markerAt[k]`. */
  readonly markerInstrs: Int32Array
}

const layout = (capacity: number, encodingCapacity: number) => {
  const pad8 = (n: number) => (n + 7) & ~7
  let off = HEADER_SLOTS * 8
  const tid = off
  off += capacity * 8
  const pid = off
  off += capacity * 8
  const addrLo = off
  off += capacity * 4
  const addrHi = off
  off += capacity * 4
  const auxLo = off
  off += capacity * 4
  const auxHi = off
  off += capacity * 4
  const size = off
  off += capacity * 2
  const type = off
  off += capacity
  const flags = off
  off += capacity
  off = (off + 3) & ~3
  const markerAt = off
  off += markerIndexCapacity(capacity) * 4
  const markerInstrs = off
  off += markerIndexCapacity(capacity) * 4
  const enc = off
  off += encodingCapacity
  return { tid, pid, addrLo, addrHi, auxLo, auxHi, size, type, flags, markerAt, markerInstrs, enc, total: pad8(off) }
}

const views = (buffer: ArrayBuffer, capacity: number, encodingCapacity: number): RecordBatch => {
  const l = layout(capacity, encodingCapacity)
  return {
    buffer,
    capacity,
    header: new Float64Array(buffer, 0, HEADER_SLOTS),
    tid: new Float64Array(buffer, l.tid, capacity),
    pid: new Float64Array(buffer, l.pid, capacity),
    addrLo: new Uint32Array(buffer, l.addrLo, capacity),
    addrHi: new Uint32Array(buffer, l.addrHi, capacity),
    auxLo: new Uint32Array(buffer, l.auxLo, capacity),
    auxHi: new Uint32Array(buffer, l.auxHi, capacity),
    size: new Uint16Array(buffer, l.size, capacity),
    type: new Uint8Array(buffer, l.type, capacity),
    flags: new Uint8Array(buffer, l.flags, capacity),
    enc: new Uint8Array(buffer, l.enc, encodingCapacity),
    markerAt: new Int32Array(buffer, l.markerAt, markerIndexCapacity(capacity)),
    markerInstrs: new Int32Array(buffer, l.markerInstrs, markerIndexCapacity(capacity))
  }
}

/**
 * Allocates an empty batch.
 *
 * @category constructors
 */
export const make = (
  capacity: number = DEFAULT_CAPACITY,
  options?: { readonly encodings?: boolean | undefined; readonly shared?: boolean | undefined }
): RecordBatch => {
  const encodingCapacity = options?.encodings ? capacity * ENCODING_BYTES_PER_RECORD : 0
  const bytes = layout(capacity, encodingCapacity).total
  const buffer = options?.shared ? (new SharedArrayBuffer(bytes) as unknown as ArrayBuffer) : new ArrayBuffer(bytes)
  const batch = views(buffer, capacity, encodingCapacity)
  batch.header[1] = -1
  batch.header[2] = 1
  batch.header[4] = capacity
  batch.header[5] = encodingCapacity
  batch.header[H_FILETYPE] = -1
  batch.header[H_VERSION] = 0
  batch.header[H_INSERTED] = 0
  return batch
}

/**
 * Rebuilds a batch's views over a buffer received from another thread.
 *
 * @category constructors
 */
export const fromBuffer = (buffer: ArrayBuffer): RecordBatch => {
  const header = new Float64Array(buffer, 0, HEADER_SLOTS)
  return views(buffer, header[4]!, header[5]!)
}

/** Records filled. @category getters */
export const length = (batch: RecordBatch): number => batch.header[0]!
/** Sets the number of records filled; drops the marker index (the records are no longer the decoder's). @category mutations */
export const setLength = (batch: RecordBatch, n: number): void => {
  batch.header[0] = n
  batch.header[H_INDEXED] = 0
}

/**
 * The batch's marker index, when the decoder wrote one for all of its
 * records: `markers` positions in `markerAt`, `instrs` instructions in the
 * whole batch, `canonical` when no non-marker record has a non-canonical
 * address. `undefined` when the batch has none (another writer filled it).
 * Allocates: for tests and tools, not for hot loops (they read the header
 * through {@link indexedMarkers}).
 *
 * @category getters
 */
export const markerIndex = (
  batch: RecordBatch
): { readonly markers: number; readonly instrs: number; readonly canonical: boolean } | undefined =>
  batch.header[H_INDEXED] === 1
    ? {
        markers: batch.header[H_MARKERS]!,
        instrs: batch.header[H_INSTRS]!,
        canonical: batch.header[H_CANONICAL] === 1
      }
    : undefined

/**
 * Hot-loop form of {@link markerIndex}: the number of indexed markers, or
 * -1 when the batch has no valid index (or, with `canonical`, when some
 * address in it is not canonical).
 *
 * @category getters
 */
export const indexedMarkers = (batch: RecordBatch, canonical: boolean): number =>
  batch.header[H_INDEXED] === 1 && (!canonical || batch.header[H_CANONICAL] === 1) ? batch.header[H_MARKERS]! : -1

/**
 * True when the decoder filled the batch and no other writer touched its
 * records since: it then has a marker index, holds no synthetic record (the
 * decoder never writes one), and holds one thread's records (the decoder
 * ends a batch where the thread changes).
 *
 * @category getters
 */
export const decoded = (batch: RecordBatch): boolean => batch.header[H_INDEXED] === 1

/** Instructions in the whole batch, from its marker index (valid only when {@link indexedMarkers} is ≥ 0). @category getters */
export const indexedInstrs = (batch: RecordBatch): number => batch.header[H_INSTRS]!

/**
 * Writes the marker index's summary (the decoder's, once it filled `markerAt`
 * and `markerInstrs`); `markers` beyond the index's capacity leave the batch
 * without an index.
 *
 * @category mutations
 */
export const setMarkerIndex = (batch: RecordBatch, markers: number, instrs: number, canonical: boolean): void => {
  const h = batch.header
  h[H_INDEXED] = markers <= batch.markerAt.length ? 1 : 0
  h[H_MARKERS] = markers
  h[H_INSTRS] = instrs
  h[H_CANONICAL] = canonical ? 1 : 0
}

/** Drops the batch's marker index (after changing records' types in place). @category mutations */
export const clearMarkerIndex = (batch: RecordBatch): void => {
  batch.header[H_INDEXED] = 0
}
/** Ordinal of the input the records came from (-1: none or mixed). @category getters */
export const input = (batch: RecordBatch): number => batch.header[1]!
/** Input record ordinal (1-based) of record 0. @category getters */
export const firstRecordOrdinal = (batch: RecordBatch): number => batch.header[2]!
/** Instructions the input delivered before record 0. @category getters */
export const instrOrdinalBefore = (batch: RecordBatch): number => batch.header[3]!

/** Sets the origin fields of a batch. @category mutations */
export const setOrigin = (
  batch: RecordBatch,
  inputOrdinal: number,
  firstRecord: number,
  instrsBefore: number
): void => {
  batch.header[1] = inputOrdinal
  batch.header[2] = firstRecord
  batch.header[3] = instrsBefore
}

/**
 * The file type of the input the batch was read from (`FileType` bits), as
 * its reader knew it: DynamoRIO's stream `get_filetype()`, which still holds
 * after a skip past the header's FILETYPE marker. -1 when unknown (batches
 * the scheduler or a tool made).
 *
 * @category getters
 */
export const filetype = (batch: RecordBatch): number => batch.header[H_FILETYPE]!
/** @category mutations */
export const setFiletype = (batch: RecordBatch, filetype: number): void => {
  batch.header[H_FILETYPE] = filetype
}

/**
 * The trace version of the input the batch was read from, as its reader knew
 * it: DynamoRIO's stream `get_version()`, which still holds after a skip past
 * the VERSION marker. 0 when unknown (batches the scheduler or a tool made).
 *
 * @category getters
 */
export const version = (batch: RecordBatch): number => batch.header[H_VERSION]!
/** @category mutations */
export const setVersion = (batch: RecordBatch, version: number): void => {
  batch.header[H_VERSION] = version
}

/**
 * True when the scheduler inserted the batch's records into its input (a
 * kernel context-switch or system-call sequence): like DynamoRIO's injected
 * records, they do not advance the input's ordinals, so each of them reports
 * the batch's `firstRecordOrdinal` and `instrOrdinalBefore`. Output ordinals
 * count them.
 *
 * @category getters
 */
export const inserted = (batch: RecordBatch): boolean => batch.header[H_INSERTED] === 1
/** @category mutations */
export const setInserted = (batch: RecordBatch, value: boolean): void => {
  batch.header[H_INSERTED] = value ? 1 : 0
}

/** True if the batch can take `n` more records. @category getters */
export const hasRoom = (batch: RecordBatch, n: number): boolean => batch.header[0]! + n <= batch.capacity

/** The 64-bit address/value of record `i` as a BigInt (formatting only, never on the hot path). @category getters */
export const addrBig = (batch: RecordBatch, i: number): bigint =>
  (BigInt(batch.addrHi[i]!) << 32n) | BigInt(batch.addrLo[i]!)

/** The 64-bit aux value (data PC / indirect target) of record `i` as a BigInt. @category getters */
export const auxBig = (batch: RecordBatch, i: number): bigint =>
  (BigInt(batch.auxHi[i]!) << 32n) | BigInt(batch.auxLo[i]!)

/** The address/value of record `i` as a double (exact below 2^53). @category getters */
export const addrNumber = (batch: RecordBatch, i: number): number => batch.addrHi[i]! * 4294967296 + batch.addrLo[i]!

/**
 * Appends a synthetic marker record (idle, wait, window id, …) and returns its index.
 *
 * @category mutations
 */
export const pushMarker = (
  batch: RecordBatch,
  markerType: number,
  valueLo: number,
  valueHi: number,
  tid: number,
  pid: number
): number => {
  const i = batch.header[0]!
  batch.type[i] = TraceType.MARKER
  batch.size[i] = markerType
  batch.addrLo[i] = valueLo >>> 0
  batch.addrHi[i] = valueHi >>> 0
  batch.auxLo[i] = 0
  batch.auxHi[i] = 0
  batch.tid[i] = tid
  batch.pid[i] = pid
  batch.flags[i] = FLAG_SYNTHETIC
  batch.header[0] = i + 1
  batch.header[H_INDEXED] = 0
  return i
}

/**
 * Copies record `i` of `from` to the end of `to` (encodings included).
 *
 * @category mutations
 */
export const copyRecord = (from: RecordBatch, i: number, to: RecordBatch): void => {
  const j = to.header[0]!
  to.type[j] = from.type[i]!
  to.size[j] = from.size[i]!
  to.addrLo[j] = from.addrLo[i]!
  to.addrHi[j] = from.addrHi[i]!
  to.auxLo[j] = from.auxLo[i]!
  to.auxHi[j] = from.auxHi[i]!
  to.tid[j] = from.tid[i]!
  to.pid[j] = from.pid[i]!
  let flags = from.flags[i]!
  if ((flags & FLAG_HAS_ENCODING) !== 0 && to.enc.length >= (j + 1) * ENCODING_BYTES_PER_RECORD) {
    const src = i * ENCODING_BYTES_PER_RECORD
    to.enc.set(from.enc.subarray(src, src + ENCODING_BYTES_PER_RECORD), j * ENCODING_BYTES_PER_RECORD)
  } else {
    flags &= ~FLAG_HAS_ENCODING
  }
  to.flags[j] = flags
  to.header[0] = j + 1
  to.header[H_INDEXED] = 0
}

/** True if record `i` is a marker of the given sub-type. @category predicates */
export const isMarker = (batch: RecordBatch, i: number, markerType: number): boolean =>
  batch.type[i] === TraceType.MARKER && batch.size[i] === markerType

export { MarkerType }

/**
 * Copies records `[start, end)` into a new batch of their own (for handing a
 * segment to another thread: the copy's buffer can be transferred without
 * detaching the original). Keeps the origin fields consistent: the copy's
 * first record ordinal is that of `batch[start]`.
 *
 * @category constructors
 */
export const slice = (batch: RecordBatch, start: number, end: number): RecordBatch => {
  const n = Math.max(0, end - start)
  const out = make(Math.max(n, 1), { encodings: batch.enc.length > 0 })
  out.tid.set(batch.tid.subarray(start, end))
  out.pid.set(batch.pid.subarray(start, end))
  out.addrLo.set(batch.addrLo.subarray(start, end))
  out.addrHi.set(batch.addrHi.subarray(start, end))
  out.auxLo.set(batch.auxLo.subarray(start, end))
  out.auxHi.set(batch.auxHi.subarray(start, end))
  out.size.set(batch.size.subarray(start, end))
  out.type.set(batch.type.subarray(start, end))
  out.flags.set(batch.flags.subarray(start, end))
  if (batch.enc.length > 0) {
    out.enc.set(batch.enc.subarray(start * ENCODING_BYTES_PER_RECORD, end * ENCODING_BYTES_PER_RECORD))
  }
  let instrs = batch.header[3]!
  for (let i = 0; i < start; i++) if (isInstr(batch.type[i]!)) instrs++
  out.header[0] = n
  out.header[1] = batch.header[1]!
  out.header[2] = batch.header[2]! + start
  out.header[3] = instrs
  out.header[H_FILETYPE] = batch.header[H_FILETYPE]!
  out.header[H_VERSION] = batch.header[H_VERSION]!
  out.header[H_INSERTED] = batch.header[H_INSERTED]!
  return out
}
