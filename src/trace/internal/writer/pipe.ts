/**
 * A Node zlib/zstd compressor driven by promises: `write` hands it one piece
 * and resolves, once the piece is consumed, with the compressed output
 * produced so far; `end` resolves with the rest. Output is collected from
 * the transform's `data` events in order, so concatenating every resolved
 * array gives the whole compressed stream. One call at a time.
 */
import type { Transform } from "node:stream"

export class CompressorPipe {
  private readonly transform: Transform
  private out: Array<Buffer> = []
  private failure: unknown
  private failed = false
  private ended = false
  private onEnd: (() => void) | undefined
  private onFail: ((e: unknown) => void) | undefined

  constructor(transform: Transform) {
    this.transform = transform
    transform.on("data", (piece: Buffer) => {
      this.out.push(piece)
    })
    transform.on("end", () => {
      this.ended = true
      this.onEnd?.()
    })
    transform.on("error", (e) => {
      if (this.failed) return
      this.failed = true
      this.failure = e
      this.onFail?.(e)
    })
  }

  private take(): Array<Buffer> {
    const out = this.out
    this.out = []
    return out
  }

  write(piece: Uint8Array): Promise<Array<Buffer>> {
    if (this.failed) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.onFail = reject
      this.transform.write(piece, (err) => {
        this.onFail = undefined
        if (err) reject(err)
        else if (this.failed) reject(this.failure)
        else resolve(this.take())
      })
    })
  }

  end(): Promise<Array<Buffer>> {
    if (this.failed) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.onFail = reject
      this.onEnd = () => resolve(this.take())
      if (this.ended) resolve(this.take())
      else this.transform.end()
    })
  }

  destroy(): void {
    this.transform.destroy()
  }
}
