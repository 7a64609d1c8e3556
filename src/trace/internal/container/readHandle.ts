/**
 * What a container reads its file through: the part of `FileHandle` it uses.
 * A file opened by path is a `FileHandle`; standard input is file descriptor
 * 0 as it stands (`/dev/stdin` cannot be reopened when it is a socket, as
 * a spawned process's input is).
 *
 * **Gotchas**: reads at positions need a regular file; a pipe, a socket or a
 * terminal is read with `position` null, in order.
 */
import { fstat, read, type Stats } from "node:fs"

export interface ReadHandle {
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null
  ): Promise<{ readonly bytesRead: number }>
  stat(): Promise<Stats>
  close(): Promise<void>
}

/** How a file is read: at positions (a regular file), or in order from where it stands (a pipe). */
export interface InputOrder {
  /** Read in order: every read continues where the last ended (reading starts at the file's start). */
  readonly sequential?: boolean | undefined
  /** Bytes already read from the start, delivered before any read. */
  readonly head?: Buffer | undefined
}

/**
 * Reads until `length` bytes are in `buffer` from `offset`, or the file ends; returns how many came.
 * `position` null reads in order, where the file stands.
 */
export const readFully = async (
  handle: ReadHandle,
  buffer: Uint8Array,
  offset: number,
  length: number,
  position: number | null
): Promise<number> => {
  let filled = 0
  while (filled < length) {
    const at = position === null ? null : position + filled
    const { bytesRead } = await handle.read(buffer, offset + filled, length - filled, at)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return filled
}

const STDIN_FD = 0

/** Milliseconds to wait before reading again when a non-blocking standard input has nothing yet. */
const RETRY_MS = 2

const readStdin = (buffer: Uint8Array, offset: number, length: number): Promise<{ readonly bytesRead: number }> =>
  new Promise((resolve, reject) => {
    const attempt = () =>
      read(STDIN_FD, buffer, offset, length, null, (error, bytesRead) => {
        if (error === null) resolve({ bytesRead })
        else if (error.code === "EAGAIN") setTimeout(attempt, RETRY_MS)
        else reject(error)
      })
    attempt()
  })

/** Standard input, read in order; closing it leaves the descriptor open (it is the process's). */
export const stdinHandle = (): ReadHandle => ({
  read: (buffer, offset, length) => readStdin(buffer, offset, length),
  stat: () =>
    new Promise((resolve, reject) => fstat(STDIN_FD, (error, stats) => (error ? reject(error) : resolve(stats)))),
  close: () => Promise.resolve()
})
