/**
 * Synchronous streaming inflate of a raw-deflate byte range of a file, on the
 * calling thread: how the source thread (`../sourceThread.ts`) inflates zip
 * members. Each `next()` reads compressed bytes with `readSync` and inflates
 * until one output piece of `chunkSize` bytes is full (or the range ends), so
 * memory stays bounded by one piece and one input buffer whatever the
 * member's size. A piece owns its whole `ArrayBuffer`, so it can be
 * transferred to another thread as it is.
 *
 * **When to use**: only on a thread whose job is reading (the source
 * thread); anywhere else a `ZlibPump` inflates on Node's thread pool without
 * blocking the caller. `SyncInflate.enabled` picks it in `zip.ts`.
 *
 * **Gotchas**
 * - Node has no public synchronous streaming inflate (`inflateRawSync` is
 *   one-shot: it closes its engine after one call). This drives the zlib
 *   binding under a `zlib.InflateRaw` as `inflateRawSync` does inside
 *   (`_handle.writeSync`, the `_writeState` pair, `_handle.onerror`), and
 *   checks they are there: a Node without them fails the member with a clear
 *   error, and the zip tests, which read through the source thread, fail.
 * - Errors are rejections shaped like a zlib stream's (`code` Z_BUF_ERROR
 *   for data that ends early, Z_DATA_ERROR for corrupt data, errno codes for
 *   reads), so `fromCodecError` maps them as it maps `ZlibPump`'s.
 * - Bytes after the end of the deflate stream are ignored, as a zlib stream
 *   does: the member's size and CRC-32 checks judge them.
 */
import { readSync } from "node:fs"
import * as zlib from "node:zlib"

export const SyncInflate = {
  /** Zip members inflate synchronously on this thread (set by the source thread for itself). */
  enabled: false,
  /** Where output pieces come from (the source thread reuses the memory of pieces the consumer is done with). */
  allocate: (size: number): Buffer => Buffer.allocUnsafeSlow(size)
}

/** Compressed bytes read per step. */
const INPUT_SIZE = 64 * 1024

/** The part of Node's zlib binding used here. */
interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number
  ): void
  onerror: (message: string, errno: number, code: string) => void
}

export class SyncPump {
  private readonly fd: number
  private readonly end: number
  private readonly chunkSize: number
  private position: number
  private readonly input: Buffer
  private inOffset = 0
  private inLength = 0
  private engine: zlib.InflateRaw | undefined
  private handle: ZlibHandle | undefined
  private state: Uint32Array | undefined
  private failure: { message: string; errno: number; code: string } | undefined
  /** The fault that stopped inflating, thrown once the bytes inflated before it are taken. */
  private pending: Error | undefined
  private done = false

  /** Inflates `[start, end)` of the open file `fd` (which the caller keeps open while it reads). */
  constructor(fd: number, start: number, end: number, chunkSize: number) {
    this.fd = fd
    this.position = start
    this.end = end
    this.chunkSize = chunkSize
    this.input = Buffer.allocUnsafeSlow(Math.max(1, Math.min(INPUT_SIZE, end - start)))
  }

  /** The next output piece, or undefined at the end of the range. Rejects with the inflate's or the read's error. */
  next(): Promise<Buffer | undefined> {
    try {
      return Promise.resolve(this.piece())
    } catch (cause) {
      this.destroy()
      return Promise.reject(cause)
    }
  }

  /** Nothing to start: every piece is inflated when it is asked for. */
  stream(): void {}

  destroy(): void {
    this.done = true
    this.engine?.close()
    this.engine = undefined
  }

  private start(): void {
    const engine = zlib.createInflateRaw()
    const internals = engine as unknown as { _handle?: ZlibHandle; _writeState?: Uint32Array }
    const handle = internals._handle
    if (typeof handle?.writeSync !== "function" || !(internals._writeState instanceof Uint32Array)) {
      engine.close()
      throw new Error("this Node's zlib has no synchronous handle to inflate with")
    }
    handle.onerror = (message, errno, code) => {
      this.failure = { message, errno, code }
    }
    this.engine = engine
    this.handle = handle
    this.state = internals._writeState
  }

  private piece(): Buffer | undefined {
    if (this.pending !== undefined) throw this.pending
    if (this.done) return undefined
    const out = SyncInflate.allocate(this.chunkSize)
    let filled = 0
    try {
      if (this.engine === undefined) this.start()
      const handle = this.handle!
      const state = this.state!
      for (;;) {
        if (this.inLength === 0 && this.position < this.end) {
          const want = Math.min(this.input.length, this.end - this.position)
          const got = readSync(this.fd, this.input, 0, want, this.position)
          if (got === 0) {
            throw new Error(`unexpected end of file at byte ${this.position}, expected data up to ${this.end}`)
          }
          this.position += got
          this.inOffset = 0
          this.inLength = got
        }
        const last = this.inLength === 0 && this.position >= this.end
        const room = this.chunkSize - filled
        handle.writeSync(
          last ? zlib.constants.Z_FINISH : zlib.constants.Z_NO_FLUSH,
          this.input,
          this.inOffset,
          this.inLength,
          out,
          filled,
          room
        )
        const failure = this.failure
        if (failure !== undefined) throw Object.assign(new Error(failure.message), failure)
        const roomLeft = state[0]!
        const inLeft = state[1]!
        filled += room - roomLeft
        this.inOffset += this.inLength - inLeft
        this.inLength = inLeft
        if (filled === this.chunkSize) return out
        // The range is inflated and finished, or the deflate stream ended with input left over.
        if (last || (roomLeft > 0 && inLeft > 0)) {
          this.destroy()
          return filled > 0 ? out.subarray(0, filled) : undefined
        }
      }
    } catch (cause) {
      // What was inflated before a fault is delivered first, so that the error's offset is where inflating stopped.
      this.pending = cause instanceof Error ? cause : new Error(String(cause))
      if (filled > 0) return out.subarray(0, filled)
      throw this.pending
    }
  }
}
