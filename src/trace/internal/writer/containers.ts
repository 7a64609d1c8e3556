/**
 * Container back ends of the trace writer: each takes segments of entry
 * bytes, compresses them and writes them to the temporary output file.
 *
 * - `zip`: one deflate member per chunk (`chunk.NNNNNNNN`), as DynamoRIO's
 *   minizip writer lays them out: local header without a data descriptor
 *   (its CRC-32 and sizes are written back once the member ends), central
 *   directory, end record; zip64 end records when the member count or the
 *   offsets need them. A member larger than 4 GiB is refused (`TooLarge`).
 * - `gzip`, `zstd`: one stream (Node's zlib).
 * - `raw`: the entry bytes as they are.
 *
 * Segments are written one at a time: `segment` must resolve before the next
 * call, and the bytes passed may be reused once it resolves.
 */
import * as zlib from "node:zlib"
import { crc32 } from "@node-rs/crc32"
import { fromCause, TraceWriterError } from "./error.ts"
import { CompressorPipe } from "./pipe.ts"
import type { TempFile } from "./tempFile.ts"

export type ContainerKind = "zip" | "gzip" | "zstd" | "raw"

/** A new zip member starts at byte `at` of a segment. */
export interface Cut {
  readonly at: number
  readonly name: string
}

export interface Container {
  readonly kind: ContainerKind
  /** Compressed bytes written so far (the file's size once finished). */
  readonly bytesWritten: number
  /** Zip member names written so far, in order. */
  readonly components: ReadonlyArray<string>
  segment(bytes: Uint8Array, cuts: ReadonlyArray<Cut>): Promise<void>
  /** Ends the last member or stream and writes the trailers. */
  finish(): Promise<void>
  /** Frees the codec after a failure. */
  destroy(): void
}

export interface ContainerOptions {
  /** zlib level for zip/gzip (0–9; default 6 as DynamoRIO's `Z_DEFAULT_COMPRESSION`), zstd level for zstd. */
  readonly level?: number | undefined
  /** Zip: write zip64 end records even when the archive does not need them (tests). */
  readonly forceZip64?: boolean | undefined
}

/** The container a path's name asks for, as the reader picks them. */
export const containerForPath = (path: string): ContainerKind =>
  path.endsWith(".zip") ? "zip" : path.endsWith(".gz") ? "gzip" : path.endsWith(".zst") ? "zstd" : "raw"

export const makeContainer = (kind: ContainerKind, file: TempFile, options?: ContainerOptions): Container => {
  switch (kind) {
    case "zip":
      return new ZipContainer(file, options?.level ?? 6, options?.forceZip64 ?? false)
    case "gzip":
      return new StreamContainer("gzip", file, () =>
        zlib.createGzip({ level: options?.level ?? 6, chunkSize: 64 * 1024 })
      )
    case "zstd": {
      if (typeof zlib.createZstdCompress !== "function") {
        throw new TraceWriterError({
          reason: "Unsupported",
          path: file.finalPath,
          detail: "this Node.js has no zstd compressor (needs Node >= 22.15)"
        })
      }
      const level = options?.level
      return new StreamContainer("zstd", file, () =>
        zlib.createZstdCompress(
          level !== undefined ? { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } } : {}
        )
      )
    }
    case "raw":
      return new StreamContainer("raw", file, undefined)
  }
}

class StreamContainer implements Container {
  readonly kind: ContainerKind
  readonly components: ReadonlyArray<string> = []
  bytesWritten = 0
  private readonly file: TempFile
  private readonly pipe: CompressorPipe | undefined

  constructor(kind: ContainerKind, file: TempFile, make: (() => zlib.Gzip | zlib.ZstdCompress) | undefined) {
    this.kind = kind
    this.file = file
    this.pipe = make !== undefined ? new CompressorPipe(make()) : undefined
  }

  private async put(pieces: ReadonlyArray<Uint8Array>): Promise<void> {
    await this.file.writeAt(pieces, this.bytesWritten)
    for (const p of pieces) this.bytesWritten += p.length
  }

  async segment(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return
    try {
      await this.put(this.pipe === undefined ? [bytes] : await this.pipe.write(bytes))
    } catch (cause) {
      throw fromCause(this.file.finalPath, cause)
    }
  }

  async finish(): Promise<void> {
    if (this.pipe === undefined) return
    try {
      await this.put(await this.pipe.end())
    } catch (cause) {
      throw fromCause(this.file.finalPath, cause)
    }
  }

  destroy(): void {
    this.pipe?.destroy()
  }
}

interface ZipMember {
  readonly name: Buffer
  readonly offset: number
  readonly crc: number
  readonly compressedSize: number
  readonly size: number
}

const U32_MAX = 0xffffffff
const LOCAL_HEADER = 0x04034b50
const CENTRAL_HEADER = 0x02014b50
const END_RECORD = 0x06054b50
const ZIP64_END_RECORD = 0x06064b50
const ZIP64_LOCATOR = 0x07064b50
const DEFLATE = 8
/** Version 2.0 (deflate), made on "MS-DOS": what DynamoRIO's minizip writes. */
const VERSION = 20
const VERSION_ZIP64 = 45

class ZipContainer implements Container {
  readonly kind = "zip" as const
  readonly components: Array<string> = []
  bytesWritten = 0
  private readonly file: TempFile
  private readonly level: number
  private readonly members: Array<ZipMember> = []
  private current:
    | { name: string; nameBytes: Buffer; offset: number; crc: number; size: number; compressed: number }
    | undefined
  private pipe: CompressorPipe | undefined
  private pending: Array<Uint8Array> = []
  private pendingBytes = 0
  private pendingAt = 0

  private readonly forceZip64: boolean

  constructor(file: TempFile, level: number, forceZip64: boolean) {
    this.file = file
    this.level = level
    this.forceZip64 = forceZip64
  }

  private emit(piece: Uint8Array): void {
    if (piece.length === 0) return
    this.pending.push(piece)
    this.pendingBytes += piece.length
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return
    const pieces = this.pending
    const at = this.pendingAt
    this.pending = []
    this.pendingAt += this.pendingBytes
    this.pendingBytes = 0
    await this.file.writeAt(pieces, at)
    this.bytesWritten = this.pendingAt
  }

  private get position(): number {
    return this.pendingAt + this.pendingBytes
  }

  private error(reason: "InvalidStream" | "TooLarge", detail: string): TraceWriterError {
    return new TraceWriterError({
      reason,
      path: this.file.finalPath,
      ...(this.current !== undefined ? { component: this.current.name } : {}),
      detail
    })
  }

  private async feed(piece: Uint8Array): Promise<void> {
    const m = this.current
    if (m === undefined) throw this.error("InvalidStream", "entries before the first zip member was named")
    m.crc = crc32(piece, m.crc)
    m.size += piece.length
    if (m.size > U32_MAX) throw this.error("TooLarge", "zip member exceeds 4 GiB: write smaller chunks")
    for (const out of await this.pipe!.write(piece)) {
      m.compressed += out.length
      this.emit(out)
    }
  }

  private async endMember(): Promise<void> {
    const m = this.current
    if (m === undefined) return
    for (const out of await this.pipe!.end()) {
      m.compressed += out.length
      this.emit(out)
    }
    this.pipe = undefined
    if (m.compressed > U32_MAX)
      throw this.error("TooLarge", "compressed zip member exceeds 4 GiB: write smaller chunks")
    await this.flush()
    // The local header was written with a zero CRC and sizes: fill them in now.
    const patch = Buffer.alloc(12)
    patch.writeUInt32LE(m.crc >>> 0, 0)
    patch.writeUInt32LE(m.compressed, 4)
    patch.writeUInt32LE(m.size, 8)
    await this.file.writeAt([patch], m.offset + 14)
    this.members.push({
      name: m.nameBytes,
      offset: m.offset,
      crc: m.crc >>> 0,
      compressedSize: m.compressed,
      size: m.size
    })
    this.current = undefined
  }

  private startMember(name: string): void {
    const nameBytes = Buffer.from(name, "utf8")
    const header = Buffer.alloc(30 + nameBytes.length)
    header.writeUInt32LE(LOCAL_HEADER, 0)
    header.writeUInt16LE(VERSION, 4)
    header.writeUInt16LE(0, 6) // flags: sizes are in this header, no data descriptor
    header.writeUInt16LE(DEFLATE, 8)
    // time, date (10, 12) stay 0 as DynamoRIO writes them; CRC and sizes (14–25) are patched at the end.
    header.writeUInt16LE(nameBytes.length, 26)
    header.writeUInt16LE(0, 28)
    nameBytes.copy(header, 30)
    this.current = { name, nameBytes, offset: this.position, crc: 0, size: 0, compressed: 0 }
    this.components.push(name)
    this.emit(header)
    this.pipe = new CompressorPipe(zlib.createDeflateRaw({ level: this.level, chunkSize: 64 * 1024 }))
  }

  async segment(bytes: Uint8Array, cuts: ReadonlyArray<Cut>): Promise<void> {
    try {
      let start = 0
      for (const cut of cuts) {
        if (cut.at > start) await this.feed(bytes.subarray(start, cut.at))
        await this.endMember()
        this.startMember(cut.name)
        start = cut.at
      }
      if (start < bytes.length) await this.feed(bytes.subarray(start))
      await this.flush()
    } catch (cause) {
      throw fromCause(this.file.finalPath, cause, this.current?.name)
    }
  }

  async finish(): Promise<void> {
    try {
      await this.endMember()
      const cdStart = this.position
      for (const m of this.members) this.emit(centralHeader(m, this.forceZip64))
      const cdSize = this.position - cdStart
      const count = this.members.length
      const zip64 = this.forceZip64 || count >= 0xffff || cdStart >= U32_MAX || cdSize >= U32_MAX
      if (zip64) {
        const endAt = this.position
        const record = Buffer.alloc(56)
        record.writeUInt32LE(ZIP64_END_RECORD, 0)
        record.writeBigUInt64LE(44n, 4)
        record.writeUInt16LE(VERSION_ZIP64, 12)
        record.writeUInt16LE(VERSION_ZIP64, 14)
        record.writeBigUInt64LE(BigInt(count), 24)
        record.writeBigUInt64LE(BigInt(count), 32)
        record.writeBigUInt64LE(BigInt(cdSize), 40)
        record.writeBigUInt64LE(BigInt(cdStart), 48)
        const locator = Buffer.alloc(20)
        locator.writeUInt32LE(ZIP64_LOCATOR, 0)
        locator.writeBigUInt64LE(BigInt(endAt), 8)
        locator.writeUInt32LE(1, 16)
        this.emit(record)
        this.emit(locator)
      }
      const end = Buffer.alloc(22)
      end.writeUInt32LE(END_RECORD, 0)
      end.writeUInt16LE(zip64 ? 0xffff : count, 8)
      end.writeUInt16LE(zip64 ? 0xffff : count, 10)
      end.writeUInt32LE(zip64 ? U32_MAX : cdSize, 12)
      end.writeUInt32LE(zip64 ? U32_MAX : cdStart, 16)
      this.emit(end)
      await this.flush()
    } catch (cause) {
      throw fromCause(this.file.finalPath, cause, this.current?.name)
    }
  }

  destroy(): void {
    this.pipe?.destroy()
  }
}

const centralHeader = (m: ZipMember, forceZip64: boolean): Buffer => {
  const far = forceZip64 || m.offset >= U32_MAX
  const extra = far ? 12 : 0
  const h = Buffer.alloc(46 + m.name.length + extra)
  h.writeUInt32LE(CENTRAL_HEADER, 0)
  h.writeUInt16LE(VERSION, 4)
  h.writeUInt16LE(far ? VERSION_ZIP64 : VERSION, 6)
  h.writeUInt16LE(0, 8)
  h.writeUInt16LE(DEFLATE, 10)
  h.writeUInt32LE(m.crc, 16)
  h.writeUInt32LE(m.compressedSize, 20)
  h.writeUInt32LE(m.size, 24)
  h.writeUInt16LE(m.name.length, 28)
  h.writeUInt16LE(extra, 30)
  h.writeUInt32LE(far ? U32_MAX : m.offset, 42)
  m.name.copy(h, 46)
  if (far) {
    const x = 46 + m.name.length
    h.writeUInt16LE(0x0001, x)
    h.writeUInt16LE(8, x + 2)
    h.writeBigUInt64LE(BigInt(m.offset), x + 4)
  }
  return h
}
