/**
 * Snappy framing format (`.sz`), parsed here chunk by chunk from a bounded
 * file window; blocks are decompressed with the `snappy` package.
 *
 * Chunk types (a 1-byte type, a 3-byte LE length, then the body):
 * - 0xff stream identifier `sNaPpY` (must come first; may repeat, e.g. in
 *   concatenated streams);
 * - 0x00 compressed and 0x01 uncompressed data, each body starting with the
 *   masked CRC-32C of the uncompressed data;
 * - DynamoRIO's 0x02 compressed and 0x03 uncompressed data without the CRC
 *   (the body is the data alone);
 * - 0x80–0xfe skippable (0xfe padding); 0x04–0x7f reserved, unskippable.
 * Uncompressed data is at most 65536 bytes a chunk.
 */
import { crc32c } from "@node-rs/crc32"
import { uncompressSync } from "snappy"
import type { ByteSource } from "../source.ts"
import { fromIoError, traceError } from "./errors.ts"
import { FileWindow } from "./fileWindow.ts"
import { guard } from "./guard.ts"
import type { ReadHandle } from "./readHandle.ts"

const MAX_BLOCK = 65536
/** snappy's MaxCompressedLength(65536) = 32 + n + n / 6. */
const MAX_COMPRESSED = 32 + MAX_BLOCK + Math.floor(MAX_BLOCK / 6)
const MAGIC = Buffer.from("sNaPpY", "latin1")
const READ_SIZE = 256 * 1024

/** The framing format's masked CRC-32C. */
export const maskedCrc32c = (data: Uint8Array): number => {
  const crc = crc32c(data) >>> 0
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0
}

/** Length prefix (varint) of a raw snappy block; -1 when malformed. */
const snappyLength = (buf: Uint8Array, start: number, end: number): number => {
  let value = 0
  let scale = 1
  for (let i = start; i < end && i < start + 5; i++) {
    const b = buf[i]!
    value += (b & 0x7f) * scale
    if ((b & 0x80) === 0) return value
    scale *= 128
  }
  return -1
}

export const openSnappy = (path: string, handle: ReadHandle, chunkSize: number, sequential = false): ByteSource => {
  const window = new FileWindow(handle, READ_SIZE, sequential)
  const target = Math.max(chunkSize, MAX_BLOCK)
  let seenMagic = false
  let offset = 0
  let produced = 0
  let done = false

  /** Framing faults carry the file offset of the chunk; the detail names the decompressed offset too. */
  const fail = (reason: "Truncated" | "Corrupt" | "BadMagic" | "BadChecksum", detail: string, at: number) =>
    traceError(reason, path, `snappy: ${detail} (chunk at file offset ${at}, decompressed offset ${produced})`, {
      offset: at
    })

  /** Decodes data chunks into `out` from `filled`; returns the new fill, stopping before a block could overflow. */
  const fill = async (out: Buffer, start: number): Promise<number> => {
    let filled = start
    while (filled + MAX_BLOCK <= out.length) {
      const at = window.offset
      const got = await window.ensure(4)
      if (got === 0) {
        if (!seenMagic) throw fail("BadMagic", "empty file, no stream identifier", at)
        done = true
        return filled
      }
      if (got < 4) throw fail("Truncated", "file ends inside a chunk header", at)
      const buf = window.buf
      const type = buf[window.pos]!
      const length = buf[window.pos + 1]! | (buf[window.pos + 2]! << 8) | (buf[window.pos + 3]! << 16)
      if (type !== 0xff && !seenMagic) {
        throw fail("BadMagic", "not a snappy framed stream (must start with the sNaPpY stream identifier)", at)
      }
      if (type >= 0x80 && type <= 0xfe) {
        window.pos += 4
        if ((await window.skip(length)) < length) throw fail("Truncated", "file ends inside a skippable chunk", at)
        continue
      }
      if (type > 0x03 && type < 0x80)
        throw fail("Corrupt", `reserved unskippable chunk type 0x${type.toString(16)}`, at)
      const crcSize = type === 0x00 || type === 0x01 ? 4 : 0
      const limit =
        type === 0xff ? MAGIC.length : crcSize + (type === 0x00 || type === 0x02 ? MAX_COMPRESSED : MAX_BLOCK)
      if (length > limit) throw fail(type === 0xff ? "BadMagic" : "Corrupt", `chunk of ${length} bytes`, at)
      if ((await window.ensure(4 + length)) < 4 + length) {
        throw fail("Truncated", `file ends inside a chunk of ${length} bytes`, at)
      }
      const body = window.pos + 4
      const bodyEnd = body + length
      window.pos = bodyEnd
      const wbuf = window.buf
      if (type === 0xff) {
        if (length !== MAGIC.length || wbuf.compare(MAGIC, 0, MAGIC.length, body, bodyEnd) !== 0) {
          throw fail("BadMagic", "bad stream identifier chunk", at)
        }
        seenMagic = true
        continue
      }
      const hasCrc = crcSize > 0
      const compressed = type === 0x00 || type === 0x02
      const dataStart = hasCrc ? body + 4 : body
      if (dataStart > bodyEnd) throw fail("Corrupt", `data chunk of ${length} bytes is too short for its CRC`, at)
      let data: Uint8Array
      if (compressed) {
        const size = snappyLength(wbuf, dataStart, bodyEnd)
        if (size < 0 || size > MAX_BLOCK) {
          throw fail("Corrupt", `compressed block claims ${size < 0 ? "a malformed" : size} uncompressed size`, at)
        }
        try {
          data = uncompressSync(wbuf.subarray(dataStart, bodyEnd), { asBuffer: true }) as Buffer
        } catch (cause) {
          throw fail("Corrupt", `bad compressed block: ${cause instanceof Error ? cause.message : String(cause)}`, at)
        }
      } else {
        data = wbuf.subarray(dataStart, bodyEnd)
      }
      if (hasCrc) {
        const stored = wbuf.readUInt32LE(body)
        const actual = maskedCrc32c(data)
        if (stored !== actual) {
          throw fail(
            "BadChecksum",
            `chunk CRC-32C is 0x${actual.toString(16)}, the chunk records 0x${stored.toString(16)}`,
            at
          )
        }
      }
      out.set(data, filled)
      filled += data.length
      produced += data.length
    }
    return filled
  }

  return guard(path, "snappy", {
    next: async () => {
      if (done) return undefined
      const out = Buffer.allocUnsafe(target)
      let filled = 0
      while (filled === 0 && !done) filled = await fill(out, 0)
      if (filled === 0) return undefined
      const chunk = { bytes: out.subarray(0, filled), component: undefined, componentIndex: 0, offset }
      offset += filled
      return chunk
    },
    release: () => handle.close(),
    describe: (cause) => fromIoError(path, cause, { offset })
  })
}
