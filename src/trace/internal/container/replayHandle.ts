/**
 * Reads at positions over a file that can only be read in order (a pipe,
 * standard input): the bytes read are kept for a while, so a reader may go
 * back over the last `window` bytes. The gzip reader needs that: a member's
 * inflater reads on past the member's end, and its trailer and the next
 * member's header are found by going back to where the inflater stopped.
 *
 * **Gotchas**: a read may not start past the bytes read so far (nothing is
 * skipped), nor before the window; either is an `Error` the container turns
 * into a typed one. Reads from the pipe happen one at a time, in the order
 * they were asked for, even when a reader drops a read it started.
 */
import type { Stats } from "node:fs"
import type { ReadHandle } from "./readHandle.ts"

/** Bytes asked of the pipe at least per read. */
const PIECE = 64 * 1024

export class ReplayHandle implements ReadHandle {
  private readonly handle: ReadHandle
  private readonly window: number
  /** Kept bytes, in file order, contiguous: `pieces[0]` starts at `low`, the last ends at `high`. */
  private readonly pieces: Array<Buffer> = []
  private low = 0
  private high = 0
  private queue: Promise<unknown> = Promise.resolve()

  /** `head`: the bytes already read from the file's start (to recognise its container). */
  constructor(handle: ReadHandle, head: Buffer | undefined, window: number) {
    this.handle = handle
    this.window = window
    if (head !== undefined && head.length > 0) {
      this.pieces.push(head)
      this.high = head.length
    }
  }

  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null
  ): Promise<{ readonly bytesRead: number }> {
    const next = this.queue.then(() => this.readAt(buffer, offset, length, position ?? this.high))
    this.queue = next.catch(() => undefined)
    return next
  }

  private async readAt(buffer: Uint8Array, offset: number, length: number, at: number) {
    if (at < this.low) {
      throw new Error(`cannot go back to byte ${at} of a file read in order: bytes before ${this.low} are gone`)
    }
    if (at > this.high) throw new Error(`cannot skip to byte ${at} of a file read in order, at byte ${this.high}`)
    if (length === 0) return { bytesRead: 0 }
    if (at === this.high) {
      const piece = Buffer.allocUnsafe(Math.max(length, PIECE))
      const { bytesRead } = await this.handle.read(piece, 0, piece.length, null)
      if (bytesRead === 0) return { bytesRead: 0 }
      this.pieces.push(piece.subarray(0, bytesRead))
      this.high += bytesRead
      this.trim(at)
    }
    let start = this.low
    let copied = 0
    for (const p of this.pieces) {
      const end = start + p.length
      const from = at + copied
      if (from < end && from >= start) {
        const n = Math.min(length - copied, end - from)
        buffer.set(p.subarray(from - start, from - start + n), offset + copied)
        copied += n
        if (copied === length) break
      }
      start = end
    }
    return { bytesRead: copied }
  }

  /** Drops pieces wholly before the window (never the one holding `at`, being read now). */
  private trim(at: number): void {
    while (this.pieces.length > 1) {
      const first = this.pieces[0]!
      const end = this.low + first.length
      if (end > this.high - this.window || end > at) break
      this.pieces.shift()
      this.low = end
    }
  }

  stat(): Promise<Stats> {
    return this.handle.stat()
  }

  close(): Promise<void> {
    return this.handle.close()
  }
}
