/**
 * The Promise-level trace file writer under `TraceWriter`: entries are
 * appended synchronously to a segment buffer (three u32 words each, the
 * on-disk little-endian layout), full segments are compressed and written
 * while the next one fills (two buffers), and the file appears under its
 * final name only at `close`.
 *
 * Flow control is Node-stream style: `write` returns false once the current
 * segment is full; the caller then awaits `drain()`, which waits for the
 * previous segment to be written and starts writing this one. A caller that
 * ignores the signal still gets correct output, but the buffer grows.
 */
import { Chunker, ChunkFault, type ChunkOutput } from "./chunker.ts"
import { type Container, type ContainerKind, type Cut, containerForPath, makeContainer } from "./containers.ts"
import { TraceWriterError } from "./error.ts"
import { TempFile } from "./tempFile.ts"

export interface SinkOptions {
  /** Container; default from the path's extension (`.zip`, `.gz`, `.zst`, else uncompressed). */
  readonly container?: ContainerKind | undefined
  /** Zip only: instructions per chunk, overriding (and rewriting) the stream's CHUNK_INSTR_COUNT marker. */
  readonly chunkInstrCount?: number | undefined
  /** Compression level (zlib 0–9 for zip/gzip, default 6; zstd level for zstd). */
  readonly level?: number | undefined
  /** fsync the file before renaming it into place. Default true. */
  readonly durable?: boolean | undefined
  /** Entries per segment buffer. Default 65,536 (768 KiB). */
  readonly segmentEntries?: number | undefined
  /** Zip only, for tests: write zip64 end records even when not needed. */
  readonly forceZip64?: boolean | undefined
}

export interface WriteSummary {
  readonly path: string
  readonly container: ContainerKind
  /** Entries given to `write`. */
  readonly entriesIn: number
  /** Entries written to the file (differs from `entriesIn` when zip chunking adds or removes entries). */
  readonly entriesOut: number
  /** Size of the file. */
  readonly bytes: number
  /** Zip members, in order (empty for other containers). */
  readonly components: ReadonlyArray<string>
}

/** Room kept in a segment for the entries one `write` can add (chunk header, re-emitted encoding). */
const SLACK = 64

interface Segment {
  words: Uint32Array
  count: number
  cuts: Array<Cut>
}

const makeSegment = (entries: number): Segment => ({ words: new Uint32Array(entries * 3), count: 0, cuts: [] })

export class FileEntrySink implements ChunkOutput {
  readonly path: string
  readonly kind: ContainerKind
  private readonly file: TempFile
  private readonly container: Container
  private readonly chunker: Chunker | undefined
  private readonly durable: boolean
  private readonly highWater: number
  private cur: Segment
  private spare: Segment
  private inFlight: Promise<void> | undefined
  private failure: TraceWriterError | undefined
  private closed = false
  private entriesIn = 0
  private entriesOut = 0

  private constructor(path: string, kind: ContainerKind, file: TempFile, container: Container, options?: SinkOptions) {
    this.path = path
    this.kind = kind
    this.file = file
    this.container = container
    this.durable = options?.durable ?? true
    const entries = Math.max(4 * SLACK, Math.floor(options?.segmentEntries ?? 65536))
    this.highWater = entries - SLACK
    this.cur = makeSegment(entries)
    this.spare = makeSegment(entries)
    this.chunker = kind === "zip" ? new Chunker(this, { chunkInstrCount: options?.chunkInstrCount }) : undefined
  }

  static async open(path: string, options?: SinkOptions): Promise<FileEntrySink> {
    const kind = options?.container ?? containerForPath(path)
    const c = options?.chunkInstrCount
    if (c !== undefined && (!Number.isSafeInteger(c) || c < 0)) {
      throw new TraceWriterError({
        reason: "InvalidStream",
        path,
        detail: `chunk instruction count ${c} is not a count`
      })
    }
    const file = await TempFile.create(path)
    try {
      return new FileEntrySink(path, kind, file, makeContainer(kind, file, options), options)
    } catch (cause) {
      await file.abort()
      throw cause
    }
  }

  // --- ChunkOutput (also the direct path for single-stream containers) ---

  put(type: number, size: number, lo: number, hi: number): void {
    let seg = this.cur
    const n = seg.count
    if ((n + 1) * 3 > seg.words.length) seg = this.grow()
    const w = seg.words
    const k = n * 3
    w[k] = (type & 0xffff) | ((size & 0xffff) << 16)
    w[k + 1] = lo
    w[k + 2] = hi
    seg.count = n + 1
    this.entriesOut++
  }

  cut(name: string): void {
    this.cur.cuts.push({ at: this.cur.count * 12, name })
  }

  private grow(): Segment {
    const seg = this.cur
    const bigger = new Uint32Array(seg.words.length * 2)
    bigger.set(seg.words)
    seg.words = bigger
    return seg
  }

  // --- the public face ---

  /**
   * Appends one entry. Returns false when the caller should await `drain()`
   * before writing more; also after a failure or `close`, in which case the
   * next `drain()` rejects with the reason.
   */
  write(type: number, size: number, lo: number, hi: number): boolean {
    if (this.failure !== undefined || this.closed) return false
    const chunker = this.chunker
    if (chunker !== undefined) {
      try {
        chunker.write(type, size, lo >>> 0, hi >>> 0)
      } catch (cause) {
        this.fail(this.describe(cause))
        return false
      }
    } else this.put(type, size, lo, hi)
    this.entriesIn++
    return this.cur.count < this.highWater
  }

  /** Appends whole 12-byte entries from raw trace bytes (their length must be a multiple of 12). */
  writeBytes(bytes: Uint8Array): boolean {
    if (bytes.length % 12 !== 0) {
      this.fail(
        new TraceWriterError({
          reason: "InvalidStream",
          path: this.path,
          entry: this.entriesIn,
          detail: `${bytes.length} bytes is not a whole number of 12-byte entries`
        })
      )
      return false
    }
    let ok = true
    if (bytes.byteOffset % 4 === 0) {
      const w = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
      for (let k = 0; k < w.length; k += 3) ok = this.write(w[k]! & 0xffff, w[k]! >>> 16, w[k + 1]!, w[k + 2]!)
      return ok
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
    for (let o = 0; o < bytes.length; o += 12) {
      const w0 = view.getUint32(o, true)
      ok = this.write(w0 & 0xffff, w0 >>> 16, view.getUint32(o + 4, true), view.getUint32(o + 8, true))
    }
    return ok
  }

  /** Waits for the segment in flight, then starts writing the current one. */
  async drain(): Promise<void> {
    if (this.failure !== undefined || this.closed) throw this.unusable()
    await this.settle()
    const seg = this.cur
    if (seg.count === 0 && seg.cuts.length === 0) return
    this.cur = this.spare
    this.spare = seg
    const bytes = new Uint8Array(seg.words.buffer, 0, seg.count * 12)
    this.inFlight = this.container.segment(bytes, seg.cuts).then(
      () => {
        seg.count = 0
        seg.cuts = []
      },
      (cause) => {
        throw this.fail(this.describe(cause))
      }
    )
    // Handled here so a failure surfacing while the caller is busy filling the next segment is not
    // reported as unhandled; the next drain/close awaits it and throws.
    this.inFlight.catch(() => undefined)
  }

  private async settle(): Promise<void> {
    const flight = this.inFlight
    if (flight === undefined) return
    this.inFlight = undefined
    await flight
  }

  /** Writes everything, finishes the container and moves the file to its final name. */
  async close(): Promise<WriteSummary> {
    if (this.closed || this.failure !== undefined) throw this.unusable()
    try {
      if (this.entriesIn === 0) {
        throw new TraceWriterError({ reason: "InvalidStream", path: this.path, detail: "no entries were written" })
      }
      this.chunker?.finish()
      await this.drain()
      await this.settle()
      await this.container.finish()
      this.closed = true
      await this.file.commit(this.durable)
    } catch (cause) {
      const error = this.fail(this.describe(cause))
      await this.abort()
      throw error
    }
    return {
      path: this.path,
      container: this.kind,
      entriesIn: this.entriesIn,
      entriesOut: this.entriesOut,
      bytes: this.container.bytesWritten,
      components: this.container.components
    }
  }

  /** Drops the output: nothing appears under the final name. Idempotent; a no-op after a successful close. */
  async abort(): Promise<void> {
    if (this.failure === undefined && !this.closed) {
      this.failure = new TraceWriterError({ reason: "Closed", path: this.path, detail: "the write was aborted" })
    }
    this.container.destroy()
    await this.inFlight?.catch(() => undefined)
    this.inFlight = undefined
    await this.file.abort()
  }

  private fail(error: TraceWriterError): TraceWriterError {
    if (this.failure === undefined) this.failure = error
    return error
  }

  private unusable(): TraceWriterError {
    return this.failure ?? new TraceWriterError({ reason: "Closed", path: this.path, detail: "the sink is closed" })
  }

  private describe(cause: unknown): TraceWriterError {
    if (cause instanceof TraceWriterError) return cause
    if (cause instanceof ChunkFault) {
      return new TraceWriterError({
        reason: "InvalidStream",
        path: this.path,
        entry: cause.entry,
        detail: cause.message
      })
    }
    return new TraceWriterError({
      reason: "IoError",
      path: this.path,
      detail: cause instanceof Error ? cause.message : String(cause)
    })
  }
}
