/**
 * Pull-based reading of a Node zlib/zstd transform fed from a byte range of a
 * file handle. Output is pulled one piece (≤ the transform's chunkSize) at a
 * time; the transform is paused while `ZlibPump.readAhead` pieces wait, so
 * memory stays bounded by the transform's own buffers whatever the
 * compression ratio.
 *
 * A pipe, stdin or a device cannot be read at positions: such a file is read
 * in order (`InputOrder.sequential`), from its start, after the bytes already
 * taken from it to recognise its container (`InputOrder.head`).
 */
import { Readable, type Transform } from "node:stream"
import type { InputOrder, ReadHandle } from "./readHandle.ts"

export interface PumpOptions extends InputOrder {
  /** A transform the bytes go through before `transform` (zstd's frame splitter). */
  readonly prefilter?: Transform | undefined
  /** Read ahead from the start (`stream()` already called). */
  readonly eager?: boolean | undefined
}

export class ZlibPump {
  /**
   * Pieces inflated ahead of the consumer before the transform pauses (one
   * more waits inside the paused transform). Deeper read-ahead measured no
   * faster (docs/benchmarks.md, section 5) and holds more memory per open
   * input; `bench/read.ts --readahead N` measures other depths.
   */
  static readAhead = 2

  private readonly out: Array<Buffer> = []
  private eager = false
  private ended = false
  private failure: unknown
  private failed = false
  private wake: (() => void) | undefined
  private readonly input: Readable
  private readonly prefilter: Transform | undefined
  private readonly transform: Transform

  /** Reads `[start, end)` of `handle` (to end of file when `end` is undefined) through `prefilter`, then `transform`. */
  constructor(
    handle: ReadHandle,
    transform: Transform,
    readSize: number,
    start: number,
    end: number | undefined,
    options?: PumpOptions
  ) {
    const prefilter = options?.prefilter
    this.eager = options?.eager ?? false
    this.transform = transform
    this.prefilter = prefilter
    this.input = rangeStream(handle, start, end, readSize, options)
    const signal = () => {
      const wake = this.wake
      this.wake = undefined
      wake?.()
    }
    this.input.on("error", (e) => transform.destroy(e))
    prefilter?.on("error", (e) => transform.destroy(e))
    transform.on("data", (piece: Buffer) => {
      this.out.push(piece)
      if (this.out.length >= (this.eager ? ZlibPump.readAhead : 1)) transform.pause()
      signal()
    })
    transform.on("end", () => {
      this.ended = true
      signal()
    })
    transform.on("error", (e) => {
      // After its end a transform has delivered everything: input written past a raw inflater's end is not an error.
      if (!this.failed && !this.ended) {
        this.failed = true
        this.failure = e
      }
      signal()
    })
    transform.on("close", () => {
      if (!this.ended && !this.failed) {
        this.failed = true
        this.failure = Object.assign(new Error("stream closed before its end"), { code: "ERR_STREAM_PREMATURE_CLOSE" })
      }
      signal()
    })
    // Empty ranges: an empty input must still end the transform (gzip/zstd then report truncation).
    if (end !== undefined && end <= start) transform.end()
    else if (prefilter !== undefined) this.input.pipe(prefilter).pipe(transform)
    else this.input.pipe(transform)
  }

  /** The next output piece, or undefined at the end of the stream. Rejects with the transform's error. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const piece = this.out.shift()
      if (piece !== undefined) {
        // Read ahead only once the consumer streams: an input opened for its
        // header (every input of a scheduled run is) holds one piece, not
        // readAhead more, until it is really read.
        if (this.eager && this.out.length < ZlibPump.readAhead && this.transform.isPaused()) this.transform.resume()
        return piece
      }
      if (this.failed) throw this.failure
      if (this.ended) return undefined
      if (this.transform.isPaused()) this.transform.resume()
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
    }
  }

  /** Inflated pieces waiting for `next` (diagnostics: tests of the read-ahead bound). */
  get buffered(): number {
    return this.out.length
  }

  /** Reads ahead from now on (`ByteSource.stream`). */
  stream(): void {
    if (this.eager) return
    this.eager = true
    if (this.out.length < ZlibPump.readAhead && this.transform.isPaused()) this.transform.resume()
  }

  /** Stops reading and frees the transform; a pending `next` settles. */
  destroy(): void {
    this.input.unpipe()
    this.prefilter?.unpipe()
    this.input.destroy()
    this.prefilter?.destroy()
    this.transform.destroy()
  }
}

/**
 * `[start, end)` of a file handle as a byte stream (to end of file when `end`
 * is undefined). Unlike `handle.createReadStream`, destroying it never closes
 * the handle, so several ranges of one zip can be read in turn.
 */
export const rangeStream = (
  handle: ReadHandle,
  start: number,
  end: number | undefined,
  pieceSize: number,
  order?: InputOrder
): Readable => {
  let head = order?.head
  let position = start
  const sequential = order?.sequential === true
  return new Readable({
    highWaterMark: pieceSize,
    read() {
      if (head !== undefined) {
        const first = head
        head = undefined
        position += first.length
        if (first.length > 0) {
          this.push(first)
          return
        }
      }
      const want = end === undefined ? pieceSize : Math.min(pieceSize, end - position)
      if (want <= 0) {
        this.push(null)
        return
      }
      const piece = Buffer.allocUnsafe(want)
      handle.read(piece, 0, want, sequential ? null : position).then(
        ({ bytesRead }) => {
          if (this.destroyed) return
          if (bytesRead === 0) {
            if (end === undefined) this.push(null)
            else this.destroy(new Error(`unexpected end of file at byte ${position}, expected data up to ${end}`))
            return
          }
          position += bytesRead
          this.push(piece.subarray(0, bytesRead))
        },
        (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err)))
      )
    }
  })
}
