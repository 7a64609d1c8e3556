/**
 * Splits a zstd stream at frame boundaries and drops skippable frames, so
 * each write into Node's zstd decompressor ends at or before the end of a
 * frame. Node's decompressor discards whatever follows the end of a frame in
 * the same write (Node 24.21: `zstdDecompressSync` of two concatenated frames
 * returns only the first), which would silently lose every frame after the
 * first one of a piece.
 *
 * Only the frame structure is parsed (RFC 8878 §3.1): magic, frame header,
 * block headers and sizes, optional checksum; block contents pass through.
 */
import { Transform, type TransformCallback } from "node:stream"
import { traceError } from "./errors.ts"

const FRAME_MAGIC = 0xfd2fb528
const SKIPPABLE_MASK = 0xfffffff0
const SKIPPABLE_MAGIC = 0x184d2a50

type State = "magic" | "descriptor" | "header" | "block" | "body" | "checksum" | "skipSize" | "skipBody"

export class ZstdFrameSplitter extends Transform {
  private readonly path: string
  private state: State = "magic"
  /** Header fields, gathered a byte at a time across pieces (at most 14 bytes). */
  private readonly field = Buffer.alloc(16)
  private fieldLength = 0
  private fieldStartedHere = false
  private fieldStart = 0
  /** Bytes still to pass (block body) or to drop (skippable frame). */
  private remaining = 0
  private headerRest = 0
  private lastBlock = false
  private checksum = false
  /** Whether the bytes being read belong to a data frame (and are forwarded). */
  private inFrame = false
  /** File offset of the first byte of the current piece, and of the current frame. */
  private position = 0
  private frameStart = 0

  constructor(path: string) {
    super()
    this.path = path
  }

  override _transform(piece: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.split(piece)
      callback()
    } catch (e) {
      callback(e as Error)
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.state !== "magic" || this.fieldLength !== 0) {
      callback(
        traceError("Truncated", this.path, "zstd: file ends inside a frame", { offset: this.frameStart }) as never
      )
      return
    }
    callback()
  }

  private split(piece: Buffer): void {
    const n = piece.length
    let i = 0
    let runStart = this.inFrame ? 0 : -1
    const endRun = (end: number) => {
      if (runStart >= 0 && end > runStart) this.push(piece.subarray(runStart, end))
      runStart = -1
    }
    this.fieldStartedHere = false
    while (i < n) {
      if (this.state === "body" || this.state === "skipBody") {
        const step = Math.min(this.remaining, n - i)
        i += step
        this.remaining -= step
        if (this.remaining === 0) {
          if (this.state === "skipBody") this.state = "magic"
          else if (!this.lastBlock) this.state = "block"
          else if (this.checksum) this.state = "checksum"
          else {
            endRun(i)
            this.endFrame()
          }
        }
        continue
      }
      if (this.fieldLength === 0) {
        this.fieldStartedHere = true
        this.fieldStart = i
      }
      this.field[this.fieldLength++] = piece[i++]!
      if (this.fieldLength < this.fieldSize()) continue
      const at = this.fieldStartedHere ? this.position + this.fieldStart : this.position + i - this.fieldLength
      const fieldWasHere = this.fieldStartedHere
      this.fieldLength = 0
      this.fieldStartedHere = false
      const wasInFrame = this.inFrame
      this.fieldDone(at)
      if (!wasInFrame && this.inFrame) {
        // A data frame starts: forward its magic, from this piece when it lies here.
        if (fieldWasHere) runStart = this.fieldStart
        else {
          this.push(Buffer.from(this.field.subarray(0, 4)))
          runStart = i
        }
      } else if (wasInFrame && !this.inFrame) {
        endRun(i)
      }
    }
    if (this.inFrame) endRun(n)
    this.position += n
  }

  private endFrame(): void {
    this.inFrame = false
    this.state = "magic"
  }

  private fieldSize(): number {
    switch (this.state) {
      case "magic":
      case "checksum":
      case "skipSize":
        return 4
      case "descriptor":
        return 1
      case "header":
        return this.headerRest
      default:
        return 3
    }
  }

  private fieldDone(at: number): void {
    const f = this.field
    switch (this.state) {
      case "magic": {
        const magic = f.readUInt32LE(0)
        this.frameStart = at
        if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
          this.state = "skipSize"
          return
        }
        if (magic !== FRAME_MAGIC) {
          throw traceError(
            "BadMagic",
            this.path,
            `zstd: not a zstd frame (magic 0x${magic.toString(16).padStart(8, "0")})`,
            { offset: at }
          )
        }
        this.inFrame = true
        this.state = "descriptor"
        return
      }
      case "descriptor": {
        const d = f[0]!
        if ((d & 0x08) !== 0)
          throw traceError("Corrupt", this.path, "zstd: reserved frame header bit set", { offset: at })
        const singleSegment = (d & 0x20) !== 0
        const fcsFlag = d >> 6
        const fcsSize = fcsFlag === 0 ? (singleSegment ? 1 : 0) : 2 ** fcsFlag
        const dictSize = [0, 1, 2, 4][d & 3]!
        this.checksum = (d & 0x04) !== 0
        this.headerRest = (singleSegment ? 0 : 1) + dictSize + fcsSize
        this.state = this.headerRest > 0 ? "header" : "block"
        return
      }
      case "header":
        this.state = "block"
        return
      case "block": {
        const word = f[0]! | (f[1]! << 8) | (f[2]! << 16)
        this.lastBlock = (word & 1) !== 0
        const type = (word >> 1) & 3
        if (type === 3) throw traceError("Corrupt", this.path, "zstd: reserved block type", { offset: at })
        this.remaining = type === 1 ? 1 : word >>> 3
        if (this.remaining > 0) this.state = "body"
        else if (!this.lastBlock) this.state = "block"
        else if (this.checksum) this.state = "checksum"
        else this.endFrame()
        return
      }
      case "checksum":
        this.endFrame()
        return
      case "skipSize":
        this.remaining = f.readUInt32LE(0)
        this.state = this.remaining > 0 ? "skipBody" : "magic"
        return
      default:
        return
    }
  }
}
