/**
 * Pulls decompressed chunks from a byte source and decodes them into record
 * batches. Promise-based and Effect-free so that worker threads and the
 * benchmark floor share it; `Trace.ts` wraps it in scoped Effects.
 */

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
    close: () => Promise.resolve()
  }
}

let open = 0
/** Readers created and not yet closed in this thread (diagnostics: leak checks in tests). */
export const openReaders = (): number => open

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
  private scratch = new ArrayBuffer(0)
  private ended = false
  private lastComponentIndex = -1

  readonly source: ByteSource
  readonly ordinal: number

  constructor(source: ByteSource, ordinal: number, options?: ReaderOptions) {
    this.source = source
    this.ordinal = ordinal
    open++
    this.capacity = Math.max(RecordBatch.MIN_CAPACITY, options?.batchCapacity ?? RecordBatch.DEFAULT_CAPACITY)
    this.encodings = options?.encodings ?? false
    this.decoder = new Decoder({ keepEncodings: this.encodings })
  }

  get path(): string {
    return this.source.path
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
   * Points `words` at the whole entries of `carry + bytes`. When there is a
   * carried partial entry, or `bytes` is not 4-byte aligned, the entries are
   * copied into an aligned scratch buffer first (one memcpy per chunk).
   */
  private setWords(bytes: Uint8Array): void {
    const carried = this.carryLen
    const usable = carried + bytes.length
    const whole = usable - (usable % 12)
    if (carried === 0 && bytes.byteOffset % 4 === 0) {
      this.words = new Uint32Array(bytes.buffer, bytes.byteOffset, whole / 4)
    } else if (whole > 0) {
      if (this.scratch.byteLength < whole) this.scratch = new ArrayBuffer(Math.max(whole, 1 << 16))
      const dst = new Uint8Array(this.scratch, 0, whole)
      dst.set(this.carry.subarray(0, carried))
      dst.set(bytes.subarray(0, whole - carried), carried)
      this.words = new Uint32Array(this.scratch, 0, whole / 4)
    }
    this.wordsBase = -carried
    this.entryPos = 0
    this.entryCount = whole / 12
    const rest = usable - whole
    if (whole === 0) {
      this.carry.set(bytes, carried)
    } else if (rest > 0) {
      this.carry.set(bytes.subarray(bytes.length - rest), 0)
    }
    this.carryLen = rest
  }

  /** Loads the next chunk. Returns false at the end of the source. */
  private async load(): Promise<boolean> {
    const next = await this.source.pull()
    if (next === undefined) {
      if (this.carryLen > 0)
        throw this.error("Truncated", `the stream ends inside an entry (${this.carryLen} of 12 bytes)`)
      return false
    }
    if (next.componentIndex !== this.lastComponentIndex && this.carryLen > 0) {
      throw this.error("Truncated", `component ends inside an entry (${this.carryLen} of 12 bytes)`)
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
    const d = this.decoder
    const batch = this.takeBatch()
    RecordBatch.setOrigin(batch, this.ordinal, d.records + 1, d.instrs)
    const limit = batch.capacity - 9
    while (RecordBatch.length(batch) <= limit) {
      if (this.entryPos >= this.entryCount) {
        if (!(await this.load())) {
          d.finish(batch)
          this.ended = true
          if (!d.started) throw this.error("NotATrace", "the input holds no trace entries")
          if (!d.atFooter) throw this.error("Truncated", "the input ends without a footer entry")
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
    return batch
  }

  private closed = false
  private spare: RecordBatch.RecordBatch | undefined = undefined

  /**
   * Hands back a batch this reader produced, once the consumer is done with
   * it: the next `next()` refills it instead of allocating (fresh batches
   * cost an allocation, a zero-fill and, in bulk, major GCs).
   */
  recycle(batch: RecordBatch.RecordBatch): void {
    if (batch.capacity === this.capacity && batch.enc.length > 0 === this.encodings) this.spare = batch
  }

  private takeBatch(): RecordBatch.RecordBatch {
    const b = this.spare
    if (b === undefined) return RecordBatch.make(this.capacity, { encodings: this.encodings })
    this.spare = undefined
    // The decoder's fast paths rely on zeroed flags and aux fields.
    b.flags.fill(0)
    b.auxLo.fill(0)
    b.auxHi.fill(0)
    RecordBatch.setLength(b, 0)
    return b
  }

  async close(): Promise<void> {
    this.ended = true
    if (!this.closed) {
      this.closed = true
      open--
    }
    await this.source.close()
  }
}
