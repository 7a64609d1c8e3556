/**
 * zstd: Node's built-in zstd decompressor over the whole file, fed one frame
 * at a time (`zstdFrames.ts`); one stream of pieces, no components. (gzip has
 * its own reader, `gzip.ts`.)
 */
import * as zlib from "node:zlib"
import type { ByteSource } from "../source.ts"
import { fromCodecError, traceError } from "./errors.ts"
import { guard } from "./guard.ts"
import type { InputOrder, ReadHandle } from "./readHandle.ts"
import { ZlibPump } from "./zlibPump.ts"
import { ZstdFrameSplitter } from "./zstdFrames.ts"

/** Compressed bytes read from the file per step. */
const READ_SIZE = 64 * 1024

export const openZstd = (path: string, handle: ReadHandle, chunkSize: number, order?: InputOrder): ByteSource => {
  if (typeof zlib.createZstdDecompress !== "function") {
    void handle.close()
    throw traceError("UnsupportedContainer", path, "this Node.js has no zstd decompressor (needs Node >= 22.15)")
  }
  const pump = new ZlibPump(handle, zlib.createZstdDecompress({ chunkSize }), READ_SIZE, 0, undefined, {
    ...order,
    prefilter: new ZstdFrameSplitter(path)
  })
  let offset = 0
  return guard(path, "zstd", {
    next: async () => {
      const bytes = await pump.next()
      if (bytes === undefined) return undefined
      const chunk = { bytes, component: undefined, componentIndex: 0, offset }
      offset += bytes.length
      return chunk
    },
    stream: () => pump.stream(),
    release: async () => {
      pump.destroy()
      await handle.close()
    },
    describe: (cause) => fromCodecError(path, "zstd", cause, { offset })
  })
}
