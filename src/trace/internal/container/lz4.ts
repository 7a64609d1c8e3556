/**
 * LZ4 frame format (`.lz4`, what DynamoRIO's `lz4_ostream_t` writes through
 * LZ4F), parsed here block by block from a bounded file window; blocks are
 * decompressed with `lz4js`'s block decoder.
 *
 * Frames may be concatenated and interleaved with skippable frames
 * (magic 0x184D2A50–5F). Linked blocks (LZ4F's default) may copy from the
 * previous 64 KiB of output, so that much history is kept. Header, block and
 * content checksums are verified when the frame has them; a content size, when
 * present, is checked. Dictionary frames are not supported.
 *
 * Gotcha: lz4js does not bounds-check a block, so a corrupt block without
 * checksums is caught only when its output size is impossible.
 */
import { decompressBlock } from "lz4js"
import type { ByteSource } from "../source.ts"
import { fromIoError, traceError } from "./errors.ts"
import { FileWindow } from "./fileWindow.ts"
import { guard } from "./guard.ts"
import type { ReadHandle } from "./readHandle.ts"
import { Xxh32, xxh32 } from "./xxh32.ts"

const FRAME_MAGIC = 0x184d2204
const SKIPPABLE_MASK = 0xfffffff0
const SKIPPABLE_MAGIC = 0x184d2a50
const HISTORY = 64 * 1024
const READ_SIZE = 256 * 1024
const BLOCK_SIZES: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 }

interface Frame {
  readonly blockMax: number
  readonly blockChecksum: boolean
  readonly contentChecksum: Xxh32 | undefined
  readonly contentSize: number | undefined
  /** Output so far: the previous output at `[0, history)`, the next block decodes after it. */
  readonly window: Uint8Array
  history: number
  produced: number
}

type Lz4Reason = "Truncated" | "Corrupt" | "BadMagic" | "BadChecksum" | "BadHeader" | "UnsupportedContainer"

export const openLz4 = (path: string, handle: ReadHandle, chunkSize: number, sequential = false): ByteSource => {
  const file = new FileWindow(handle, READ_SIZE, sequential)
  let frame: Frame | undefined
  let frames = 0
  let offset = 0
  let done = false

  /** Framing faults carry the file offset; the detail names the decompressed offset too. */
  const fail = (reason: Lz4Reason, detail: string, at: number) =>
    traceError(reason, path, `lz4: ${detail} (at file offset ${at}, decompressed offset ${offset})`, { offset: at })

  const need = async (n: number, what: string, at: number): Promise<void> => {
    if ((await file.ensure(n)) < n) throw fail("Truncated", `file ends inside ${what}`, at)
  }

  /** Reads frame headers (skipping skippable frames) until a data frame starts; false at a clean end of file. */
  const startFrame = async (): Promise<boolean> => {
    for (;;) {
      const at = file.offset
      const got = await file.ensure(4)
      if (got === 0) return false
      if (got < 4) throw fail(frames === 0 ? "BadMagic" : "Truncated", "file ends inside a frame magic number", at)
      const magic = file.buf.readUInt32LE(file.pos)
      if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
        await need(8, "a skippable frame header", at)
        const size = file.buf.readUInt32LE(file.pos + 4)
        file.pos += 8
        if ((await file.skip(size)) < size) throw fail("Truncated", "file ends inside a skippable frame", at)
        continue
      }
      if (magic !== FRAME_MAGIC) {
        throw fail("BadMagic", `not an LZ4 frame (magic 0x${magic.toString(16).padStart(8, "0")})`, at)
      }
      await need(7, "a frame header", at)
      const b = file.buf
      const p = file.pos
      const flg = b[p + 4]!
      const bd = b[p + 5]!
      if (flg >> 6 !== 1) throw fail("BadHeader", `frame version ${flg >> 6} (only 1 is defined)`, at)
      if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) throw fail("BadHeader", "reserved frame header bits are set", at)
      if ((flg & 0x01) !== 0) throw fail("UnsupportedContainer", "frames with a dictionary ID are not supported", at)
      const blockMax = BLOCK_SIZES[(bd >> 4) & 7]
      if (blockMax === undefined) throw fail("BadHeader", `block size code ${(bd >> 4) & 7}`, at)
      const hasContentSize = (flg & 0x08) !== 0
      const headerLength = 4 + 2 + (hasContentSize ? 8 : 0) + 1
      await need(headerLength, "a frame header", at)
      const h = file.buf
      const q = file.pos
      const expected = (xxh32(h, q + 4, q + headerLength - 1) >>> 8) & 0xff
      if (h[q + headerLength - 1] !== expected) throw fail("BadChecksum", "frame header checksum mismatch", at)
      const contentSize = hasContentSize ? h.readUInt32LE(q + 6) + h.readUInt32LE(q + 10) * 2 ** 32 : undefined
      file.pos += headerLength
      const linked = (flg & 0x20) === 0
      frame = {
        blockMax,
        blockChecksum: (flg & 0x10) !== 0,
        contentChecksum: (flg & 0x04) !== 0 ? new Xxh32() : undefined,
        contentSize,
        window: new Uint8Array((linked ? HISTORY : 0) + blockMax),
        history: 0,
        produced: 0
      }
      frames++
      return true
    }
  }

  /** Ends the current frame after its end mark: content checksum and size. */
  const endFrame = async (current: Frame, at: number): Promise<void> => {
    if (current.contentChecksum !== undefined) {
      await need(4, "the content checksum", at)
      const stored = file.buf.readUInt32LE(file.pos)
      file.pos += 4
      if (stored !== current.contentChecksum.digest()) throw fail("BadChecksum", "content checksum mismatch", at)
    }
    if (current.contentSize !== undefined && current.contentSize !== current.produced) {
      throw fail("Corrupt", `frame holds ${current.produced} bytes, its header says ${current.contentSize}`, at)
    }
    frame = undefined
  }

  /** Decodes the next block of the current frame into its window; returns its [start, end) or undefined at the end mark. */
  const nextBlock = async (current: Frame): Promise<readonly [number, number] | undefined> => {
    const at = file.offset
    await need(4, "a block header (frame without end mark)", at)
    const word = file.buf.readUInt32LE(file.pos)
    if (word === 0) {
      file.pos += 4
      await endFrame(current, at + 4)
      return undefined
    }
    const stored = (word & 0x80000000) !== 0
    const size = word & 0x7fffffff
    if (size > current.blockMax) throw fail("Corrupt", `block of ${size} bytes in a frame of ${current.blockMax}`, at)
    const total = 4 + size + (current.blockChecksum ? 4 : 0)
    await need(total, `a block of ${size} bytes`, at)
    const b = file.buf
    const start = file.pos + 4
    const end = start + size
    file.pos += total
    if (current.blockChecksum && b.readUInt32LE(end) !== xxh32(b, start, end)) {
      throw fail("BadChecksum", "block checksum mismatch", at)
    }
    const w = current.window
    const from = current.history
    let to: number
    if (stored) {
      w.set(b.subarray(start, end), from)
      to = from + size
    } else {
      to = decompressBlock(b.subarray(start, end), w, 0, size, from)
      if (!(to >= from && to <= w.length)) throw fail("Corrupt", "block decodes past the frame's block size", at)
    }
    current.contentChecksum?.update(w, from, to)
    current.produced += to - from
    return [from, to] as const
  }

  /** After a block is copied out: keep the last 64 KiB as history for linked blocks. */
  const slide = (current: Frame, to: number): void => {
    if (current.window.length === current.blockMax) return
    const keep = Math.min(HISTORY, to)
    current.window.copyWithin(0, to - keep, to)
    current.history = keep
  }

  return guard(path, "lz4", {
    next: async () => {
      if (done) return undefined
      let out: Uint8Array | undefined
      let filled = 0
      for (;;) {
        if (frame === undefined && !(await startFrame())) {
          done = true
          break
        }
        const current = frame!
        if (out !== undefined && filled + current.blockMax > out.length) {
          if (filled > 0) break
          out = undefined
        }
        const block = await nextBlock(current)
        if (block === undefined) continue
        const [from, to] = block
        out ??= new Uint8Array(Math.max(chunkSize, current.blockMax))
        out.set(current.window.subarray(from, to), filled)
        filled += to - from
        slide(current, to)
      }
      if (out === undefined || filled === 0) return undefined
      const chunk = { bytes: out.subarray(0, filled), component: undefined, componentIndex: 0, offset }
      offset += filled
      return chunk
    },
    release: () => handle.close(),
    describe: (cause) => fromIoError(path, cause, { offset })
  })
}
