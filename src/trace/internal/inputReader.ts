/**
 * Pulls decompressed chunks from a byte source and decodes them into record
 * batches. Promise-based and Effect-free so that worker threads and the
 * benchmark floor share it; `Trace.ts` wraps it in scoped Effects.
 */

import { MarkerType, TraceType } from "../Record.ts"
import * as RecordBatch from "../RecordBatch.ts"
import { TraceError } from "../TraceError.ts"
import { Decoder } from "./decoder.ts"
import type { ByteSource, SourceChunk } from "./source.ts"

export interface ReaderOptions {
  readonly batchCapacity?: number | undefined
  readonly encodings?: boolean | undefined
}

/**
 * A byte source that serves one in-memory buffer (synthetic traces, tests).
 */
export const memorySource = (path: string, bytes: Uint8Array): ByteSource => {
  let done = false
  return {
    path,
    container: "raw",
    pull: () => {
      if (done) return Promise.resolve(undefined)
      done = true
      return Promise.resolve({ bytes, component: undefined, componentIndex: 0, offset: 0 })
    },
    stream: () => undefined,
    close: () => Promise.resolve()
  }
}

let open = 0
/** Readers created and not yet closed in this thread (diagnostics: leak checks in tests). */
export const openReaders = (): number => open

// Batches handed back and realignment buffers of closed readers, for the
// readers of this thread: a reader per input would otherwise allocate both
// afresh, and over hundreds of inputs those external allocations drive major GCs.
const POOL_LIMIT = 8
/** Records in an input's first batch. */
const FIRST_CAPACITY = 512
const batchPool: Array<RecordBatch.RecordBatch> = []
const scratchPool: Array<ArrayBuffer> = []

const takeScratch = (bytes: number): ArrayBuffer => {
  const at = scratchPool.findIndex((b) => b.byteLength >= bytes)
  if (at < 0) return new ArrayBuffer(Math.max(bytes, 1 << 16))
  const b = scratchPool[at]!
  scratchPool.splice(at, 1)
  return b
}

const CHUNK_FOOTER_W0 = TraceType.MARKER | (MarkerType.CHUNK_FOOTER << 16)

/** Whether an entry (its first word) may end a zip component: a chunk footer or the trace's footer. */
const endsChunk = (w0: number): boolean => w0 === CHUNK_FOOTER_W0 || (w0 & 0xffff) === TraceType.FOOTER

export class InputReader {
  readonly decoder: Decoder
  private readonly capacity: number
  private readonly encodings: boolean
  private chunk: SourceChunk | undefined = undefined
  private words: Uint32Array = new Uint32Array(0)
  /** Byte offset within chunk.bytes where `words` starts. */
  private wordsBase = 0
  private entryPos = 0
  private entryCount = 0
  private readonly carry = new Uint8Array(12)
  private carryLen = 0
  /** The one entry split across two chunks, joined. */
  private readonly joined = new Uint32Array(3)
  private readonly joinedBytes = new Uint8Array(this.joined.buffer)
  /** This chunk's entries after the joined one, in place. */
  private rest: Uint32Array | undefined = undefined
  private scratch = new ArrayBuffer(0)
  private ended = false
  private streaming = false
  private lastComponentIndex = -1
  /** The first word (type and size) of the last whole entry loaded, -1 before any. */
  private lastEntryW0 = -1

  readonly source: ByteSource
  readonly ordinal: number

  constructor(source: ByteSource, ordinal: number, options?: ReaderOptions) {
    const capacity = RecordBatch.capacityFor(options?.batchCapacity)
    if (typeof capacity === "string") {
      // The reader would own the source: it is closed here instead.
      void source.close().catch(() => undefined)
      throw new TraceError({ reason: "InvalidOptions", path: source.path, detail: capacity })
    }
    this.source = source
    this.ordinal = ordinal
    open++
    this.capacity = capacity
    this.encodings = options?.encodings ?? false
    this.decoder = new Decoder({ keepEncodings: this.encodings })
  }

  get path(): string {
    return this.source.path
  }

  /** Where the partial entry left at the end of a component starts, from the current chunk's start. */
  private partialEntryByte(): number | undefined {
    return this.chunk === undefined ? undefined : this.chunk.bytes.length - this.carryLen
  }

  private error(reason: TraceError["reason"], detail: string, entryByte?: number): TraceError {
    const c = this.chunk
    return new TraceError({
      reason,
      path: this.source.path,
      component: c?.component,
      offset: entryByte !== undefined && c !== undefined ? c.offset + entryByte : c?.offset,
      record: this.decoder.records + 1,
      detail
    })
  }

  /**
   * Points `words` at the whole entries of `carry + bytes`. An entry split
   * across the previous chunk and this one is joined alone, in `joined`, and
   * the entries after it are read in place (`rest`); only when they are not
   * 4-byte aligned there are all entries copied into an aligned scratch
   * buffer (one memcpy per chunk).
   */
  private setWords(bytes: Uint8Array): void {
    const carried = this.carryLen
    const usable = carried + bytes.length
    const whole = usable - (usable % 12)
    this.rest = undefined
    if (carried === 0 && bytes.byteOffset % 4 === 0) {
      this.words = new Uint32Array(bytes.buffer, bytes.byteOffset, whole / 4)
    } else if (whole > 0 && carried > 0 && (bytes.byteOffset + 12 - carried) % 4 === 0) {
      this.joinedBytes.set(this.carry.subarray(0, carried))
      this.joinedBytes.set(bytes.subarray(0, 12 - carried), carried)
      this.words = this.joined
      if (whole > 12) this.rest = new Uint32Array(bytes.buffer, bytes.byteOffset + 12 - carried, (whole - 12) / 4)
    } else if (whole > 0) {
      if (this.scratch.byteLength < whole) this.scratch = takeScratch(whole)
      const dst = new Uint8Array(this.scratch, 0, whole)
      dst.set(this.carry.subarray(0, carried))
      dst.set(bytes.subarray(0, whole - carried), carried)
      this.words = new Uint32Array(this.scratch, 0, whole / 4)
    }
    this.wordsBase = -carried
    this.entryPos = 0
    this.entryCount = this.words === this.joined ? 1 : whole / 12
    if (whole > 0) {
      const last = this.rest ?? this.words
      this.lastEntryW0 = last[last.length - 3]!
    }
    const rest = usable - whole
    if (whole === 0) {
      this.carry.set(bytes, carried)
    } else if (rest > 0) {
      this.carry.set(bytes.subarray(bytes.length - rest), 0)
    }
    this.carryLen = rest
  }

  /** Moves `words` on to the in-place entries after a joined one; false if there are none. */
  private takeRest(): boolean {
    const rest = this.rest
    if (rest === undefined) return false
    this.rest = undefined
    this.words = rest
    this.wordsBase = 12 + this.wordsBase
    this.entryPos = 0
    this.entryCount = rest.length / 3
    return true
  }

  /** Loads the next chunk. Returns false at the end of the source. */
  private async load(): Promise<boolean> {
    const next = await this.source.pull()
    if (next === undefined) {
      if (this.carryLen > 0)
        throw this.error(
          "Truncated",
          `the stream ends inside an entry (${this.carryLen} of 12 bytes)`,
          this.partialEntryByte()
        )
      return false
    }
    if (next.componentIndex !== this.lastComponentIndex && this.carryLen > 0) {
      throw this.error(
        "Truncated",
        `component ends inside an entry (${this.carryLen} of 12 bytes)`,
        this.partialEntryByte()
      )
    }
    // As DynamoRIO's zip reader: a component that another follows ends with a chunk footer (or the trace's footer).
    if (next.componentIndex !== this.lastComponentIndex && this.lastEntryW0 !== -1 && !endsChunk(this.lastEntryW0)) {
      const c = this.chunk
      throw this.error(
        "Truncated",
        `component ${c?.component ?? "?"} does not end with a chunk footer: truncation detected`,
        c === undefined ? undefined : c.bytes.length - 12
      )
    }
    this.lastComponentIndex = next.componentIndex
    this.chunk = next
    this.setWords(next.bytes)
    return true
  }

  private decodeWords(words: Uint32Array, from: number, to: number, batch: RecordBatch.RecordBatch, byteBase: number) {
    const stop = this.decoder.decode(words, from, to, batch)
    const fault = this.decoder.fault
    if (fault !== undefined) throw this.error(fault.reason, fault.detail, byteBase + fault.entry * 12)
    return stop
  }

  /**
   * The next batch of records, or undefined at the end of the input.
   * Rejects only with TraceError.
   */
  async next(): Promise<RecordBatch.RecordBatch | undefined> {
    if (this.ended) return undefined
    // Not the end of the input: a caller reading on after its scope closed must not see a clean end.
    if (this.closed) throw this.error("IoError", "the input was closed before its end")
    const d = this.decoder
    if (d.records > 0 && !this.streaming) {
      this.streaming = true
      this.source.stream()
    }
    // The first batch is what opening an input decodes (its header and a
    // little more): small, so hundreds of inputs opened up front hold little.
    const batch =
      d.records === 0
        ? RecordBatch.make(Math.min(this.capacity, FIRST_CAPACITY), { encodings: this.encodings })
        : this.takeBatch()
    RecordBatch.setOrigin(batch, this.ordinal, d.records + 1, d.instrs)
    const limit = batch.capacity - 9
    while (RecordBatch.length(batch) <= limit) {
      if (this.entryPos >= this.entryCount) {
        if (this.takeRest()) continue
        if (!(await this.load())) {
          d.finish(batch)
          this.ended = true
          if (!d.started) throw this.error("NotATrace", "the input holds no trace entries")
          if (!d.atFooter)
            throw this.error("Truncated", "the input ends without a footer entry", this.chunk?.bytes.length)
          break
        }
        continue
      }
      this.entryPos = this.decodeWords(this.words, this.entryPos, this.entryCount, batch, this.wordsBase)
      if (d.split) {
        d.split = false
        break
      }
    }
    if (RecordBatch.length(batch) === 0 && this.ended) return undefined
    if (d.foundFiletype) RecordBatch.setFiletype(batch, d.filetype)
    RecordBatch.setVersion(batch, d.version)
    return batch
  }

  private closed = false

  /** True once `close` was called (a later `next` fails unless the input had ended). */
  get isClosed(): boolean {
    return this.closed
  }
  /**
   * Hands back a batch this reader (or another of this thread) produced,
   * once the consumer is done with it: the next `next()` of any reader of
   * this thread refills it instead of allocating (fresh batches cost an
   * allocation, a zero-fill and, in bulk, major GCs). Batches go to one pool
   * per thread, not one per reader: a scheduler keeps hundreds of inputs
   * open and reads a few at a time, and a spare per reader would hold a batch
   * for every input it ever read.
   */
  recycle(batch: RecordBatch.RecordBatch): void {
    // A batch whose buffer was transferred away (detached) has nothing left to refill.
    if (this.fits(batch) && batch.header.length > 0 && batchPool.length < POOL_LIMIT && !batchPool.includes(batch))
      batchPool.push(batch)
  }

  private fits(batch: RecordBatch.RecordBatch): boolean {
    return batch.capacity === this.capacity && batch.enc.length > 0 === this.encodings
  }

  private takeBatch(): RecordBatch.RecordBatch {
    const at = batchPool.findLastIndex((p) => this.fits(p))
    if (at < 0) return RecordBatch.make(this.capacity, { encodings: this.encodings })
    const b = batchPool[at]!
    batchPool.splice(at, 1)
    // The decoder's fast paths rely on zeroed flags and aux fields.
    b.flags.fill(0)
    b.auxLo.fill(0)
    b.auxHi.fill(0)
    RecordBatch.setLength(b, 0)
    // A batch given back to the pool may have been any: only the reader's own count as read.
    RecordBatch.setInserted(b, false)
    return b
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true
      open--
      // The realignment buffer: no one else holds it, and no more words are decoded after close.
      if (this.scratch.byteLength > 0 && scratchPool.length < POOL_LIMIT) scratchPool.push(this.scratch)
      this.scratch = new ArrayBuffer(0)
      this.words = new Uint32Array(0)
      this.rest = undefined
      this.entryCount = 0
      this.entryPos = 0
    }
    await this.source.close()
  }
}
