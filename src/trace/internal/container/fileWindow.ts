/**
 * A bounded read-ahead window over a file handle, for the containers whose
 * framing we parse ourselves (snappy, lz4): `ensure(n)` makes `n` contiguous
 * bytes available at `buf[pos]`, reading the file in pieces; memory is the
 * larger of the read size and the largest frame asked for.
 *
 * Its reads are in file order, so a pipe works too (`sequential`: read where
 * the file stands, not at positions).
 */
import type { ReadHandle } from "./readHandle.ts"

export class FileWindow {
  buf: Buffer
  /** Index in `buf` of the next unread byte. */
  pos = 0
  /** Index in `buf` past the last valid byte. */
  end = 0
  /** File offset of `buf[0]`. */
  private base = 0
  private eof = false
  private readonly handle: ReadHandle
  private readonly readSize: number
  private readonly sequential: boolean

  constructor(handle: ReadHandle, readSize: number, sequential = false) {
    this.handle = handle
    this.readSize = readSize
    this.sequential = sequential
    this.buf = Buffer.allocUnsafe(readSize)
  }

  /** File offset of the next unread byte. */
  get offset(): number {
    return this.base + this.pos
  }

  get available(): number {
    return this.end - this.pos
  }

  /** Makes at least `n` bytes available at `pos`; returns how many are (fewer only at end of file). */
  async ensure(n: number): Promise<number> {
    while (this.end - this.pos < n && !this.eof) {
      if (this.pos + n > this.buf.length) this.compact(n)
      const room = this.buf.length - this.end
      const at = this.sequential ? null : this.base + this.end
      const { bytesRead } = await this.handle.read(this.buf, this.end, room, at)
      if (bytesRead === 0) this.eof = true
      this.end += bytesRead
    }
    return this.end - this.pos
  }

  /** Skips `n` bytes, reading past them if needed; returns how many were skipped (fewer only at end of file). */
  async skip(n: number): Promise<number> {
    let left = n
    while (left > 0) {
      if (this.available === 0 && (await this.ensure(1)) === 0) break
      const step = Math.min(left, this.available)
      this.pos += step
      left -= step
    }
    return n - left
  }

  private compact(n: number): void {
    const live = this.end - this.pos
    const size = Math.max(this.readSize, n)
    const target = size > this.buf.length ? Buffer.allocUnsafe(size) : this.buf
    this.buf.copy(target, 0, this.pos, this.end)
    this.buf = target
    this.base += this.pos
    this.pos = 0
    this.end = live
  }
}
