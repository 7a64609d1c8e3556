/**
 * Byte sources: the decompressed bytes of one trace file, component by
 * component, streaming and bounded in memory, with every failure a
 * `TraceError`.
 *
 * **When to use**: the record decoder pulls from a `ByteSource`; nothing
 * above the decoder sees containers. It is Promise-based on purpose (it also
 * runs in worker threads and on the per-chunk path); the Effect wrapper lives
 * in `Trace.ts`.
 *
 * **Details**
 * - The container is picked as DynamoRIO's `get_reader` does, by extension:
 *   `.zip` zip, `.sz` snappy framing, `.lz4` lz4 frames, `.zst` zstd (ours),
 *   anything else gzip when it starts with the gzip magic `1f 8b`, else raw.
 * - Zip members are read in central-directory order, one component each;
 *   single-stream containers have one component with `component` undefined.
 *   With the `thread` option a zip input is read and inflated on the source
 *   thread (`sourceThread.ts`), which hands its chunks over.
 * - `chunkSize` is the size of the decompressed pieces (the last piece of a
 *   component, and snappy/lz4 pieces, may be shorter; an lz4 block larger
 *   than `chunkSize` comes whole).
 * - `-` is standard input (DynamoRIO's `-infile -`). It, and any file that
 *   cannot be read at positions (a pipe, a device), is read in order: raw or
 *   gzip by content, snappy, lz4 or zstd by name; a zip archive needs a
 *   seekable file.
 *
 * **Gotchas**
 * - A chunk's `bytes` are only valid until the next `pull()`.
 * - Zip, gzip and zstd inflate ahead only after `stream()`; call it once the
 *   header is read, or every piece waits for its own inflate.
 * - Pulls are served one at a time in call order; `close()` makes a pending
 *   pull reject with `IoError` ("source was closed") rather than hang.
 * - Resources are released at the end of the last component and after the
 *   first failure, so `close()` is only needed to stop early (it is always
 *   safe and idempotent).
 */
import { open as openFile } from "node:fs/promises"
import { fromIoError, traceError } from "./container/errors.ts"
import { openGzip } from "./container/gzip.ts"
import { openLz4 } from "./container/lz4.ts"
import { openRaw } from "./container/raw.ts"
import { type ReadHandle, readFully, stdinHandle } from "./container/readHandle.ts"
import { openSnappy } from "./container/snappy.ts"
import { openZip, readZipMembers } from "./container/zip.ts"
import { openZstd } from "./container/zstd.ts"
import { openOnThread, readyThread } from "./sourceThread.ts"

export type ContainerKind = "zip" | "gzip" | "snappy" | "zstd" | "lz4" | "raw"

export interface SourceChunk {
  /** Decompressed bytes (its own ArrayBuffer or a view); valid until the next pull. */
  readonly bytes: Uint8Array
  /** Zip member name (e.g. "chunk.0003"); undefined for single-stream containers. */
  readonly component: string | undefined
  /** 0-based; changes when a new component starts (the decoder checks entry alignment at component ends). */
  readonly componentIndex: number
  /** Byte offset of bytes[0] in the decompressed stream of this component. */
  readonly offset: number
}

export interface ByteSource {
  readonly path: string
  readonly container: ContainerKind
  /** Next chunk, undefined after the last component. Rejects only with TraceError naming path, component and offset. */
  pull(): Promise<SourceChunk | undefined>
  /**
   * The consumer reads on from here (it is past the input's header):
   * decompress ahead of it. Until then a source holds at most one piece, so
   * hundreds of inputs opened for their headers stay small.
   */
  stream(): void
  /** Releases file handles/decompressors. Idempotent; safe while a pull is pending or after an error. */
  close(): Promise<void>
}

/** The path that names standard input. */
export const STDIN = "-"

/** Bytes read from a pipe to recognise its container. */
const HEAD_SIZE = 64 * 1024

/** `PK\x03\x04`, how a zip archive starts. */
const ZIP_LOCAL_HEADER = 0x04034b50

/** Default decompressed piece size, picked by measurement (test/trace/container/sourceBench.ts). */
export const DEFAULT_CHUNK_SIZE = 256 * 1024

/** Smaller requested chunk sizes are raised to this. */
export const MIN_CHUNK_SIZE = 4096

/** The container DynamoRIO would pick from the name alone; `undefined` means "gzip or raw, by content". */
export const containerByName = (path: string): ContainerKind | undefined => {
  if (path.endsWith(".zip")) return "zip"
  if (path.endsWith(".sz")) return "snappy"
  if (path.endsWith(".lz4")) return "lz4"
  if (path.endsWith(".zst")) return "zstd"
  return undefined
}

export interface SourceOptions {
  readonly chunkSize?: number | undefined
  /**
   * Read ahead from the start, as `stream()` called at once would: for an
   * input opened ahead of its turn, so that it is read while the one before
   * it is consumed (a source on the source thread learns it with the open).
   */
  readonly stream?: boolean | undefined
  /**
   * Read a zip input on the source thread (`sourceThread.ts`) once it has
   * started (this starts it); on the main thread only. Default false.
   */
  readonly thread?: boolean | undefined
}

export const openSource = async (path: string, options?: SourceOptions): Promise<ByteSource> => {
  const source = await openSourceOnly(path, options)
  if (options?.stream === true) source.stream()
  return source
}

const openSourceOnly = async (path: string, options?: SourceOptions): Promise<ByteSource> => {
  const chunkSize = Math.max(MIN_CHUNK_SIZE, Math.floor(options?.chunkSize ?? DEFAULT_CHUNK_SIZE))
  const byName = path === STDIN ? undefined : containerByName(path)
  if (byName === "zip") {
    return options?.thread === true && readyThread()
      ? openOnThread(path, chunkSize, options.stream === true)
      : openZip(path, chunkSize)
  }
  let handle: ReadHandle
  try {
    handle = path === STDIN ? stdinHandle() : await openFile(path, "r")
  } catch (cause) {
    throw fromIoError(path, cause)
  }
  try {
    const stat = await handle.stat()
    if (stat.isDirectory()) throw traceError("NotATrace", path, "is a directory, not a trace file")
    const sequential = !stat.isFile() && !stat.isBlockDevice()
    switch (byName) {
      case "snappy":
        return openSnappy(path, handle, chunkSize, sequential)
      case "lz4":
        return openLz4(path, handle, chunkSize, sequential)
      case "zstd":
        return openZstd(path, handle, chunkSize, { sequential })
    }
    // A pipe's first bytes are read once, to recognise it, and handed on; a file's are read again.
    const head = sequential ? await readStart(handle, HEAD_SIZE, null) : undefined
    if (head !== undefined && head.length >= 4 && head.readUInt32LE(0) === ZIP_LOCAL_HEADER) {
      throw traceError("UnsupportedContainer", path, "a zip archive is read at positions: give a file, not a pipe")
    }
    const magic = head ?? (await readStart(handle, 2, 0))
    const order = { sequential, head }
    return magic.length >= 2 && magic[0] === 0x1f && magic[1] === 0x8b
      ? openGzip(path, handle, chunkSize, order)
      : openRaw(path, handle, chunkSize, order)
  } catch (cause) {
    await handle.close().catch(() => undefined)
    throw fromIoError(path, cause)
  }
}

/** The file's first `length` bytes (fewer only at its end). */
const readStart = async (handle: ReadHandle, length: number, position: 0 | null): Promise<Buffer> => {
  const start = Buffer.allocUnsafe(length)
  return start.subarray(0, await readFully(handle, start, 0, length, position))
}

/** Every member of a small zip file (cpu_schedule.bin.zip, recorded schedules), whole, in archive order. */
export const readZipComponents = (
  path: string
): Promise<ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array }>> => readZipMembers(path)
