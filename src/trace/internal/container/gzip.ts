/**
 * gzip, read as zlib's `gzread` (DynamoRIO's gzip reader) reads it: members
 * one after another, each checked against its trailer's CRC-32 and length;
 * after a member, bytes that do not start another member (`1f 8b`) end the
 * stream and are ignored, as `gzread` ignores trailing garbage.
 *
 * A file is read member by member at positions: each member's deflate data
 * goes through a raw inflater, whose end says where the member's data ends
 * and so where its trailer and the next header are. Node's gunzip cannot be
 * used for that: it treats whatever follows a member as another member, and
 * when that fails it drops the output of the last step.
 *
 * A pipe or standard input is read the same way, through a {@link ReplayHandle}:
 * the inflater reads on past a member's end by a few pieces at most, and the
 * handle keeps that much to go back to.
 */

import * as zlib from "node:zlib"
import { crc32 } from "@node-rs/crc32"
import type { ByteSource } from "../source.ts"
import { fromCodecError, traceError } from "./errors.ts"
import { guard } from "./guard.ts"
import { type InputOrder, type ReadHandle, readFully } from "./readHandle.ts"
import { ReplayHandle } from "./replayHandle.ts"
import { ZlibPump } from "./zlibPump.ts"

/** Compressed bytes read from the file per step. */
const READ_SIZE = 64 * 1024
/** Header bytes read at first; a longer header (extra field, name, comment) is read again whole. */
const HEADER_READ = 512
/** The longest header read: two 64 KiB fields (extra and name or comment) and change. */
const MAX_HEADER = 256 * 1024
const FHCRC = 0x02
const FEXTRA = 0x04
const FNAME = 0x08
const FCOMMENT = 0x10
const FRESERVED = 0xe0
const TWO_32 = 4294967296

/** Bytes of a pipe kept to go back to: far more than an inflater reads past its member's end. */
const PIPE_WINDOW = 4 * 1024 * 1024

export const openGzip = (path: string, handle: ReadHandle, chunkSize: number, order?: InputOrder): ByteSource =>
  openMembers(path, order?.sequential === true ? new ReplayHandle(handle, order.head, PIPE_WINDOW) : handle, chunkSize)

/** Where a member's deflate data starts, or why its header cannot be read (`length`: bytes the header needs at least). */
type Header = { readonly _tag: "Data"; readonly start: number } | { readonly _tag: "More"; readonly length: number }

/** Parses the header at the start of `b` (its magic already checked). */
const parseHeader = (path: string, b: Buffer, at: number, where: () => { offset: number }): Header => {
  const more = (length: number): Header => ({ _tag: "More", length })
  if (b.length < 10) return more(10)
  if (b[2] !== 8) throw traceError("Corrupt", path, `gzip: unknown compression method (file byte ${at + 2})`, where())
  const flags = b[3]!
  if ((flags & FRESERVED) !== 0) {
    throw traceError("Corrupt", path, `gzip: unknown header flags set (file byte ${at + 3})`, where())
  }
  let p = 10
  if ((flags & FEXTRA) !== 0) {
    if (b.length < p + 2) return more(p + 2)
    p += 2 + b.readUInt16LE(p)
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if ((flags & flag) === 0) continue
    const zero = p < b.length ? b.indexOf(0, p) : -1
    if (zero < 0) return more(b.length + HEADER_READ)
    p = zero + 1
  }
  if ((flags & FHCRC) !== 0) {
    if (b.length < p + 2) return more(p + 2)
    if ((crc32(b.subarray(0, p)) & 0xffff) !== b.readUInt16LE(p)) {
      throw traceError("BadChecksum", path, `gzip: header crc mismatch (file byte ${at + p})`, where())
    }
    p += 2
  }
  return b.length < p ? more(p) : { _tag: "Data", start: at + p }
}

const openMembers = (path: string, handle: ReadHandle, chunkSize: number): ByteSource => {
  // Compressed position of the next member's header.
  let next = 0
  let members = 0
  let inflater: zlib.InflateRaw | undefined
  let pump: ZlibPump | undefined
  let dataStart = 0
  let crc = 0
  let size = 0
  let offset = 0
  let streaming = false
  const where = () => ({ offset })

  /** Opens the member at `next`; false at the end of the file or at bytes that start no member. */
  const startMember = async (): Promise<boolean> => {
    let want = HEADER_READ
    for (;;) {
      const b = Buffer.allocUnsafe(want)
      const got = await readFully(handle, b, 0, want, next)
      const head = b.subarray(0, got)
      if (head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) {
        if (members > 0) return false
        throw traceError("BadMagic", path, "gzip: incorrect header check", where())
      }
      const h = parseHeader(path, head, next, where)
      if (h._tag === "Data") {
        dataStart = h.start
        break
      }
      if (got < want || h.length > MAX_HEADER) {
        throw traceError(
          got < want ? "Truncated" : "Corrupt",
          path,
          got < want
            ? `gzip: the file ends inside the header of member ${members + 1} (file byte ${next})`
            : `gzip: the header of member ${members + 1} is longer than ${MAX_HEADER} bytes (file byte ${next})`,
          where()
        )
      }
      want = Math.max(h.length, want * 2)
    }
    members++
    crc = 0
    size = 0
    inflater = zlib.createInflateRaw({ chunkSize })
    pump = new ZlibPump(handle, inflater, READ_SIZE, dataStart, undefined, { eager: streaming })
    return true
  }

  /** Checks the trailer after the member's deflate data and moves `next` past it. */
  const endMember = async (): Promise<void> => {
    const at = dataStart + inflater!.bytesWritten
    pump!.destroy()
    pump = undefined
    inflater = undefined
    const t = Buffer.alloc(8)
    if ((await readFully(handle, t, 0, 8, at)) < 8) {
      throw traceError(
        "Truncated",
        path,
        `gzip: the file ends inside the trailer of member ${members} (file byte ${at})`,
        where()
      )
    }
    if (t.readUInt32LE(0) !== crc >>> 0) {
      throw traceError("BadChecksum", path, `gzip: incorrect data check in member ${members}`, where())
    }
    if (t.readUInt32LE(4) !== size % TWO_32) {
      throw traceError("BadChecksum", path, `gzip: incorrect length check in member ${members}`, where())
    }
    next = at + 8
  }

  return guard(path, "gzip", {
    next: async () => {
      for (;;) {
        if (pump === undefined && !(await startMember())) return undefined
        const bytes = await pump!.next()
        if (bytes === undefined) {
          await endMember()
          continue
        }
        crc = crc32(bytes, crc)
        size += bytes.length
        const chunk = { bytes, component: undefined, componentIndex: 0, offset }
        offset += bytes.length
        return chunk
      }
    },
    stream: () => {
      streaming = true
      pump?.stream()
    },
    release: async () => {
      pump?.destroy()
      await handle.close()
    },
    describe: (cause) => fromCodecError(path, "gzip", cause, { offset })
  })
}
