/**
 * What a container reads its file through: the part of `FileHandle` it uses.
 * A file opened by path is a `FileHandle`; standard input is file descriptor
 * 0 as it stands (`/dev/stdin` cannot be reopened when it is a socket, as
 * a spawned process's input is).
 *
 * **Gotchas**: reads at positions need a regular file; a pipe, a socket or a
 * terminal is read with `position` null, in order.
 */
import { close, constants, fstat, openSync, read, type Stats } from "node:fs"

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

/** Milliseconds to wait before reading again when standard input has nothing yet. */
const RETRY_MS = 2

/** Closes the standard input handle now open, if any: its open was abandoned (a timeout or an interruption). */
export const abandonStdin = (): void => {
  void openStdin?.close()
}

let openStdin: ReadHandle | undefined

/**
 * Standard input, read in order. A pipe, a FIFO or a terminal is opened
 * again (`/proc/self/fd/0`) without blocking, and polled: a read never holds
 * one of the thread pool's threads while the writer sends nothing, so an
 * abandoned read (a run timeout) lets the process exit. A socket (a spawned
 * process's standard input), which cannot be opened again, is read through
 * descriptor 0, which Node made non-blocking. Closing leaves descriptor 0
 * open (it is the process's).
 */
export const stdinHandle = (): ReadHandle => {
  let fd = STDIN_FD
  let own = false
  try {
    fd = openSync("/proc/self/fd/0", constants.O_RDONLY | constants.O_NONBLOCK)
    own = true
  } catch {
    // A socket, or no /proc: descriptor 0 as it is.
  }
  let closed = false
  let retry: ReturnType<typeof setTimeout> | undefined
  const handle: ReadHandle = {
    read: (buffer, offset, length, position) =>
      new Promise((resolve, reject) => {
        const attempt = () => {
          retry = undefined
          if (closed) return resolve({ bytesRead: 0 })
          // Positions are asked for only of a regular file (`< trace`), which reads at them.
          read(fd, buffer, offset, length, position, (error, bytesRead) => {
            if (error === null) resolve({ bytesRead })
            else if (error.code === "EAGAIN") retry = setTimeout(attempt, RETRY_MS)
            else if (closed) resolve({ bytesRead: 0 })
            else reject(error)
          })
        }
        attempt()
      }),
    stat: () => new Promise((resolve, reject) => fstat(fd, (error, stats) => (error ? reject(error) : resolve(stats)))),
    close: () => {
      if (openStdin === handle) openStdin = undefined
      if (closed) return Promise.resolve()
      closed = true
      if (retry !== undefined) clearTimeout(retry)
      return own ? new Promise((resolve) => close(fd, () => resolve())) : Promise.resolve()
    }
  }
  openStdin = handle
  return handle
}
