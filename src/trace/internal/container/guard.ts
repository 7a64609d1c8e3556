/**
 * The behaviour every byte source shares, wrapped once around a container
 * driver: pulls run one at a time in call order, the first failure is sticky,
 * resources are released at the end of the stream, after a failure and on
 * `close()`, and a pull pending at `close()` settles instead of hanging.
 */
import type { TraceError } from "../../TraceError.ts"
import type { ByteSource, ContainerKind, SourceChunk } from "../source.ts"
import { isTraceError, traceError } from "./errors.ts"

/** One container's decoding loop: what `guard` turns into a `ByteSource`. */
export interface Driver {
  /** The next decompressed piece, or undefined at the end of the last component. May reject with anything. */
  readonly next: () => Promise<SourceChunk | undefined>
  /** Frees handles and codecs; makes a pending `next` settle. Called at most once. */
  readonly release: () => Promise<void>
  /** Turns a non-TraceError rejection of `next` into a TraceError. */
  readonly describe: (cause: unknown) => TraceError
  /** Starts decompressing ahead of the consumer (see `ByteSource.stream`); absent when there is no read-ahead. */
  readonly stream?: () => void
}

export const guard = (path: string, container: ContainerKind, driver: Driver): ByteSource => {
  let finished = false
  let closed = false
  let failure: TraceError | undefined
  let released: Promise<void> | undefined
  let queue: Promise<unknown> = Promise.resolve()

  const release = (): Promise<void> => {
    if (released === undefined) {
      released = driver.release().then(
        () => undefined,
        () => undefined
      )
    }
    return released
  }
  const closedError = () => traceError("IoError", path, "source was closed")

  const step = async (): Promise<SourceChunk | undefined> => {
    if (closed) throw closedError()
    if (failure !== undefined) throw failure
    if (finished) return undefined
    try {
      const chunk = await driver.next()
      if (closed) throw closedError()
      if (chunk === undefined) {
        finished = true
        await release()
      }
      return chunk
    } catch (cause) {
      if (closed) throw closedError()
      failure = isTraceError(cause) ? cause : driver.describe(cause)
      await release()
      throw failure
    }
  }

  return {
    path,
    container,
    pull: () => {
      const result = queue.then(step, step)
      queue = result.catch(() => undefined)
      return result
    },
    stream: () => {
      if (!closed && !finished && failure === undefined) driver.stream?.()
    },
    close: () => {
      closed = true
      return release()
    }
  }
}
