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
