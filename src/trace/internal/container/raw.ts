/**
 * Uncompressed files: positional reads of `chunkSize` bytes.
 */
import type { FileHandle } from "node:fs/promises"
import type { ByteSource } from "../source.ts"
import { fromIoError } from "./errors.ts"
import { guard } from "./guard.ts"

export const openRaw = (path: string, handle: FileHandle, chunkSize: number): ByteSource => {
  let offset = 0
  return guard(path, "raw", {
    next: async () => {
      const bytes = Buffer.allocUnsafe(chunkSize)
      let filled = 0
      while (filled < chunkSize) {
        const { bytesRead } = await handle.read(bytes, filled, chunkSize - filled, offset + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      if (filled === 0) return undefined
      const chunk = { bytes: bytes.subarray(0, filled), component: undefined, componentIndex: 0, offset }
      offset += filled
      return chunk
    },
    release: () => handle.close(),
    describe: (cause) => fromIoError(path, cause, { offset })
  })
}
