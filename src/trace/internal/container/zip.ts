/**
 * Zip archives: `yauzl` reads the central directory and local headers; member
 * data is read from our own file handle and inflated piece by piece (by a
 * zlib stream on Node's thread pool, or synchronously on the source thread:
 * `syncInflate.ts`) or passed through for stored members, so a member of any
 * size is never held whole. Members come in central-directory order (DynamoRIO's
 * `unzGoToNextFile` order); directory entries are skipped. Each member's size
 * and CRC-32 are checked when it ends.
 */
import { type FileHandle, open as openFile } from "node:fs/promises"
import * as zlib from "node:zlib"
import { crc32 } from "@node-rs/crc32"
import yauzl from "yauzl"
import type { TraceError } from "../../TraceError.ts"
import type { ByteSource, SourceChunk } from "../source.ts"
import { fromCodecError, fromIoError, isTraceError, traceError } from "./errors.ts"
import { guard } from "./guard.ts"
import { readFully } from "./readHandle.ts"
import { SyncInflate, SyncPump } from "./syncInflate.ts"
import { rangeStream, ZlibPump } from "./zlibPump.ts"

/** Compressed bytes read from the file per step. */
const READ_SIZE = 64 * 1024

interface Member {
  readonly name: string
  readonly method: number
  readonly crc32: number
  readonly compressedSize: number
  readonly uncompressedSize: number
  readonly dataStart: number
}

/** yauzl 3's `readLocalFileHeader`, missing from @types/yauzl 2. */
interface LocalHeaderReader {
  readLocalFileHeader(
    entry: yauzl.Entry,
    options: { readonly minimal: true },
    callback: (err: Error | null, header: { fileDataStart: number }) => void
  ): void
}

/**
 * yauzl's view of our file handle: positional reads, and a `close` that
 * leaves the handle to us (yauzl's own fd reader closes the fd it was given).
 */
class HandleReader extends yauzl.RandomAccessReader {
  private readonly handle: FileHandle
  constructor(handle: FileHandle) {
    super()
    this.handle = handle
  }
  override _readStreamForRange(start: number, end: number): any {
    return rangeStream(this.handle, start, end, READ_SIZE)
  }
  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null) => void
  ): void {
    readFully(this.handle, buffer, offset, length, position).then(
      (got) =>
        callback(got === length ? null : new Error(`unexpected end of file reading ${length} bytes at ${position}`)),
      (err: Error) => callback(err)
    )
  }
  override close(callback: (err: Error | null) => void): void {
    setImmediate(() => callback(null))
  }
}

/** A zip archive opened for sequential reading of its members. */
class ZipArchive {
  readonly path: string
  private readonly handle: FileHandle
  private readonly zipfile: yauzl.ZipFile
  private readonly chunkSize: number
  private index = -1
  private member: Member | undefined
  private pump: ZlibPump | SyncPump | undefined
  private storedRead = 0
  private produced = 0
  private crc = 0
  private closed = false
  private eager = false

  private constructor(path: string, handle: FileHandle, zipfile: yauzl.ZipFile, chunkSize: number) {
    this.path = path
    this.handle = handle
    this.zipfile = zipfile
    this.chunkSize = chunkSize
  }

  static async open(path: string, chunkSize: number): Promise<ZipArchive> {
    let handle: FileHandle
    try {
      handle = await openFile(path, "r")
    } catch (cause) {
      throw fromIoError(path, cause)
    }
    try {
      const stat = await handle.stat()
      if (stat.isDirectory()) throw traceError("NotATrace", path, "is a directory, not a trace file")
      if (!stat.isFile() && !stat.isBlockDevice()) {
        throw traceError("UnsupportedContainer", path, "a zip archive is read at positions: give a file, not a pipe")
      }
      const size = stat.size
      const zipfile = await new Promise<yauzl.ZipFile>((resolve, reject) =>
        yauzl.fromRandomAccessReader(
          new HandleReader(handle),
          size,
          {
            lazyEntries: true,
            autoClose: false,
            decodeStrings: true,
            validateEntrySizes: true,
            strictFileNames: false
          },
          (err, zf) => (err ? reject(err) : resolve(zf))
        )
      )
      return new ZipArchive(path, handle, zipfile, chunkSize)
    } catch (cause) {
      const error = await describeOpenFailure(path, handle, cause)
      await handle.close().catch(() => undefined)
      throw error
    }
  }

  get where(): { component: string | undefined; offset: number } {
    return { component: this.member?.name, offset: this.produced }
  }

  /** The next member's header, or undefined after the last one. */
  async nextMember(): Promise<Member | undefined> {
    this.finishPump()
    for (;;) {
      const entry = await this.nextEntry()
      if (entry === undefined) {
        this.member = undefined
        return undefined
      }
      if (entry.fileName.endsWith("/")) continue
      this.index++
      const where = { component: entry.fileName }
      if (entry.isEncrypted()) throw traceError("UnsupportedContainer", this.path, "encrypted zip member", where)
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        throw traceError(
          "UnsupportedContainer",
          this.path,
          `zip compression method ${entry.compressionMethod} (only stored and deflate are read)`,
          where
        )
      }
      const header = await new Promise<{ fileDataStart: number }>((resolve, reject) =>
        (this.zipfile as unknown as LocalHeaderReader).readLocalFileHeader(entry, { minimal: true }, (err, h) =>
          err ? reject(err) : resolve(h)
        )
      ).catch((cause) => {
        throw zipError(this.path, cause, where)
      })
      const member: Member = {
        name: entry.fileName,
        method: entry.compressionMethod,
        crc32: entry.crc32,
        compressedSize: entry.compressedSize,
        uncompressedSize: entry.uncompressedSize,
        dataStart: header.fileDataStart
      }
      this.member = member
      this.produced = 0
      this.crc = 0
      this.storedRead = 0
      if (member.method === 8 && SyncInflate.enabled) {
        this.pump = new SyncPump(
          this.handle.fd,
          member.dataStart,
          member.dataStart + member.compressedSize,
          this.chunkSize
        )
      } else if (member.method === 8) {
        this.pump = new ZlibPump(
          this.handle,
          zlib.createInflateRaw({ chunkSize: this.chunkSize }),
          READ_SIZE,
          member.dataStart,
          member.dataStart + member.compressedSize,
          { eager: this.eager }
        )
      }
      return member
    }
  }

  get memberIndex(): number {
    return this.index
  }

  /** The next decompressed piece of the current member, or undefined once it is complete and verified. */
  async read(): Promise<Buffer | undefined> {
    const member = this.member
    if (member === undefined) return undefined
    const piece = member.method === 8 ? await this.readDeflated() : await this.readStored(member)
    if (piece !== undefined) {
      // Hardware CRC-32 (node-rs): about 5 × faster than zlib.crc32 on the main thread.
      this.crc = crc32(piece, this.crc)
      this.produced += piece.length
      if (this.produced > member.uncompressedSize) {
        throw traceError(
          "Corrupt",
          this.path,
          `zip member inflates past its recorded size ${member.uncompressedSize}`,
          this.where
        )
      }
      return piece
    }
    if (this.produced !== member.uncompressedSize) {
      throw traceError(
        "Truncated",
        this.path,
        `zip member ended after ${this.produced} of its ${member.uncompressedSize} bytes`,
        this.where
      )
    }
    if (this.crc >>> 0 !== member.crc32 >>> 0) {
      throw traceError(
        "BadChecksum",
        this.path,
        `zip member CRC-32 is ${hex(this.crc)}, the archive records ${hex(member.crc32)}`,
        this.where
      )
    }
    return undefined
  }

  private async readDeflated(): Promise<Buffer | undefined> {
    try {
      return await this.pump!.next()
    } catch (cause) {
      throw fromCodecError(this.path, "inflate", cause, this.where)
    }
  }

  private async readStored(member: Member): Promise<Buffer | undefined> {
    const left = member.compressedSize - this.storedRead
    if (left <= 0) return undefined
    const want = Math.min(left, this.chunkSize)
    const bytes = Buffer.allocUnsafe(want)
    const filled = await readFully(this.handle, bytes, 0, want, member.dataStart + this.storedRead).catch((cause) => {
      throw fromIoError(this.path, cause, this.where)
    })
    this.storedRead += filled
    if (filled === 0) {
      throw traceError("Truncated", this.path, "zip member data runs past the end of the file", this.where)
    }
    return bytes.subarray(0, filled)
  }

  private nextEntry(): Promise<yauzl.Entry | undefined> {
    return new Promise<yauzl.Entry | undefined>((resolve, reject) => {
      const onEntry = (entry: yauzl.Entry) => {
        cleanup()
        resolve(entry)
      }
      const onEnd = () => {
        cleanup()
        resolve(undefined)
      }
      const onError = (err: Error) => {
        cleanup()
        reject(zipError(this.path, err, { component: undefined }))
      }
      const cleanup = () => {
        this.zipfile.off("entry", onEntry)
        this.zipfile.off("end", onEnd)
        this.zipfile.off("error", onError)
      }
      this.zipfile.on("entry", onEntry)
      this.zipfile.on("end", onEnd)
      this.zipfile.on("error", onError)
      this.zipfile.readEntry()
    })
  }

  /** Inflates ahead from now on, in this member and the next ones. */
  stream(): void {
    this.eager = true
    this.pump?.stream()
  }

  private finishPump(): void {
    this.pump?.destroy()
    this.pump = undefined
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.finishPump()
    this.zipfile.close()
    await this.handle.close()
  }
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, "0")}`

const zipError = (path: string, cause: unknown, where: { component: string | undefined }): TraceError => {
  if (isTraceError(cause)) return cause
  const message = cause instanceof Error ? cause.message : String(cause)
  if (typeof cause === "object" && cause !== null && "syscall" in cause) return fromIoError(path, cause, where)
  return traceError("Corrupt", path, `zip: ${message}`, where)
}

/** Why yauzl could not open the archive: a truncated zip keeps its first local header but loses its end record. */
const describeOpenFailure = async (path: string, handle: FileHandle, cause: unknown): Promise<TraceError> => {
  if (isTraceError(cause)) return cause
  if (typeof cause === "object" && cause !== null && "syscall" in cause) return fromIoError(path, cause)
  const message = cause instanceof Error ? cause.message : String(cause)
  if (/end of central directory record signature not found/i.test(message)) {
    const head = Buffer.alloc(4)
    const { bytesRead } = await handle.read(head, 0, 4, 0).catch(() => ({ bytesRead: 0 }))
    if (bytesRead === 4 && head.readUInt32LE(0) === 0x04034b50) {
      return traceError("Truncated", path, "zip archive has no end-of-central-directory record (file cut short?)", {
        offset: 0
      })
    }
    return traceError("BadMagic", path, "not a zip archive (no end-of-central-directory record)", { offset: 0 })
  }
  return traceError("Corrupt", path, `zip: ${message}`)
}

export const openZip = async (path: string, chunkSize: number): Promise<ByteSource> => {
  const archive = await ZipArchive.open(path, chunkSize)
  let inMember = false
  // The first member, started by `stream()` before the first pull: an input
  // opened ahead then reads its directory entry and local header and inflates
  // its first pieces while the input before it is read.
  let starting: Promise<Member | undefined> | undefined
  let begun = false
  return guard(path, "zip", {
    next: async (): Promise<SourceChunk | undefined> => {
      for (;;) {
        if (!inMember) {
          const member = starting ?? archive.nextMember()
          starting = undefined
          begun = true
          if ((await member) === undefined) return undefined
          inMember = true
        }
        const offset = archive.where.offset
        const bytes = await archive.read()
        if (bytes !== undefined) {
          return { bytes, component: archive.where.component, componentIndex: archive.memberIndex, offset }
        }
        inMember = false
      }
    },
    stream: () => {
      archive.stream()
      if (!begun) {
        begun = true
        starting = archive.nextMember()
        // Its failure is thrown by the pull that awaits it.
        starting.catch(() => undefined)
      }
    },
    release: () => archive.close(),
    describe: (cause) => zipError(path, cause, archive.where)
  })
}

/** Every member of a (small) zip archive, whole, in central-directory order. */
export const readZipMembers = async (
  path: string
): Promise<ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array }>> => {
  const archive = await ZipArchive.open(path, 256 * 1024)
  try {
    const members: Array<{ name: string; bytes: Uint8Array }> = []
    for (;;) {
      const member = await archive.nextMember()
      if (member === undefined) return members
      const pieces: Array<Buffer> = []
      for (let piece = await archive.read(); piece !== undefined; piece = await archive.read()) pieces.push(piece)
      members.push({ name: member.name, bytes: new Uint8Array(Buffer.concat(pieces)) })
    }
  } catch (cause) {
    throw zipError(path, cause, archive.where)
  } finally {
    await archive.close().catch(() => undefined)
  }
}
