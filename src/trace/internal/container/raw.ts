/**
 * Uncompressed files: reads of `chunkSize` bytes, at positions, or in order
 * for a pipe (after the bytes already taken to recognise the container).
 */
import type { ByteSource } from "../source.ts"
import { fromIoError } from "./errors.ts"
import { guard } from "./guard.ts"
import { type InputOrder, type ReadHandle, readFully } from "./readHandle.ts"

export const openRaw = (path: string, handle: ReadHandle, chunkSize: number, order?: InputOrder): ByteSource => {
  let offset = 0
  let head = order?.head
  const sequential = order?.sequential === true
  return guard(path, "raw", {
    next: async () => {
      const bytes = Buffer.allocUnsafe(chunkSize)
      let filled = 0
      if (head !== undefined) {
        filled = head.copy(bytes, 0, 0, Math.min(head.length, chunkSize))
        head = filled < head.length ? head.subarray(filled) : undefined
      }
      filled += await readFully(handle, bytes, filled, chunkSize - filled, sequential ? null : offset + filled)
      if (filled === 0) return undefined
      const chunk = { bytes: bytes.subarray(0, filled), component: undefined, componentIndex: 0, offset }
      offset += filled
      return chunk
    },
    release: () => handle.close(),
    describe: (cause) => fromIoError(path, cause, { offset })
  })
}
