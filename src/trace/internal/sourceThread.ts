/**
 * The source thread: one worker thread per process that opens zip inputs,
 * inflates their members and checks them, and hands their decompressed
 * chunks to the main thread, so that the main thread of a reader only
 * decodes.
 *
 * **Why**: read on the main thread, a zip input costs it about twelve round
 * trips to Node's thread pool (opening, the directory, the local header, a
 * read and an inflate per piece), each a wake-up and callbacks, plus the
 * CRC-32. On the source thread the directory is read as before (yauzl), but
 * members are read and inflated synchronously (`container/syncInflate.ts`),
 * no round trip per piece, and a chunk arrives on the main thread as one
 * message with its memory transferred (and sent back once consumed).
 *
 * **When to use**: opt in (`openSource`'s `thread`, `Trace.Options`'
 * `sourceThread`) when the main thread is the bottleneck and a core is free:
 * reading and decoding a large trace on the main thread measured 1.5–1.9 ×
 * as fast with it (docs/benchmarks.md, section 18). It is not the default:
 * on two cores with analysis worker threads, or for a trace read in well
 * under a second, the thread's start (about 0.1 s) and its core cost more
 * than they save. Only the main thread has one (a worker thread's `thread`
 * option is ignored).
 *
 * **Details**: a source opened here is a `ByteSource` like any other (same
 * bytes, components and `TraceError`s, built by the same container code on
 * the other thread; chunks are full `chunkSize` pieces but the last of each
 * member). Before `stream()` it holds at most one chunk (inflated as soon as
 * it is opened); after, {@link SourceThread.readAhead} more. The thread
 * serves first the sources the main thread waits on, then the oldest, so an
 * input opened ahead is inflated while the one before it is decoded.
 *
 * **Gotchas**
 * - The worker is unreferenced except while a source waits for it (an open,
 *   a pull, a close), so an idle thread never keeps a process alive and a
 *   waiting reader never lets it end early.
 * - If the thread dies, every source it served fails with an `IoError`
 *   naming its file (never a hang); the next open starts a new thread.
 * - Opens do not wait for the thread to start: until it says it is ready,
 *   zip inputs are read on the calling thread. `SourceThread.start()`
 *   starts it and waits; `Trace.open` does so when the workload is large
 *   enough (`startFor`).
 * - A chunk's memory goes back to the thread at the next pull: a consumer
 *   must not keep a chunk's bytes past it (the `ByteSource` contract; a
 *   Buffer's `slice()` is a view, not a copy).
 */
import { stat } from "node:fs/promises"
import { isMainThread, Worker } from "node:worker_threads"
import type { TraceError, TraceErrorReason } from "../TraceError.ts"
import { traceError } from "./container/errors.ts"
import { guard } from "./container/guard.ts"
import type { ByteSource, ContainerKind, SourceChunk } from "./source.ts"
import { workerExecArgv } from "./workerArgv.ts"

/** A `TraceError` as it crosses threads. */
export interface EncodedError {
  readonly reason: TraceErrorReason
  readonly path: string
  readonly detail: string
  readonly component?: string | undefined
  readonly offset?: number | undefined
}

export type ToSourceThread =
  | {
      readonly _tag: "Open"
      readonly id: number
      readonly path: string
      readonly chunkSize: number
      readonly eager: boolean
      readonly credit: number
    }
  | { readonly _tag: "Stream"; readonly id: number; readonly credit: number }
  | {
      readonly _tag: "Credit"
      readonly id: number
      readonly credit: number
      /** The consumer waits on this source: serve it before the others. */
      readonly urgent: boolean
      /** Buffers of chunks the consumer is done with, for the thread to fill again. */
      readonly returned: ReadonlyArray<ArrayBuffer>
    }
  | { readonly _tag: "Close"; readonly id: number }

export type FromSourceThread =
  | { readonly _tag: "Opened"; readonly id: number; readonly container: ContainerKind }
  | {
      readonly _tag: "Chunk"
      readonly id: number
      readonly buffer: ArrayBuffer
      readonly length: number
      readonly component: string | undefined
      readonly componentIndex: number
      readonly offset: number
    }
  | { readonly _tag: "End"; readonly id: number }
  | { readonly _tag: "Failed"; readonly id: number; readonly error: EncodedError }
  | { readonly _tag: "Closed"; readonly id: number }
  | { readonly _tag: "Ready"; readonly id?: undefined }

const workerUrl = new URL("./sourceEntry.ts", import.meta.url)

interface Thread {
  readonly worker: Worker
  readonly remotes: Map<number, Remote>
  /** Settles once the thread takes sources (or died before it did). */
  readonly started: Promise<void>
  ready: boolean
  /** Opens, pulls and closes waiting on this thread: it is referenced exactly while this is not zero. */
  waiting: number
}

/**
 * The process's source thread and the sources it serves.
 * Concurrency: touched only by this thread's event loop.
 */
let thread: Thread | undefined
let nextId = 0

/** Set when a thread died before it was ready: none is started again in this process. */
let cannotStart = false

const connect = (): Thread | undefined => {
  if (thread !== undefined || cannotStart || !isMainThread) return thread
  const worker = new Worker(workerUrl, { execArgv: workerExecArgv() })
  let started!: () => void
  const t: Thread = {
    worker,
    remotes: new Map(),
    started: new Promise<void>((resolve) => {
      started = resolve
    }),
    ready: false,
    waiting: 0
  }
  worker.on("message", (m: FromSourceThread) => {
    if (m._tag === "Ready") {
      t.ready = true
      started()
    } else t.remotes.get(m.id)?.receive(m)
  })
  const lost = (why: string) => {
    if (!t.ready) cannotStart = true
    started()
    if (thread === t) thread = undefined
    const remotes = [...t.remotes.values()]
    t.remotes.clear()
    for (const remote of remotes) remote.lose(why)
  }
  worker.on("error", (e) => lost(e.message))
  worker.on("exit", (code) => lost(`it exited with code ${code}`))
  // After the listeners: a "message" listener references the worker's port again.
  worker.unref()
  thread = t
  return t
}

const waitFor = async <A>(t: Thread, promise: Promise<A>): Promise<A> => {
  if (t.waiting++ === 0) t.worker.ref()
  try {
    return await promise
  } finally {
    if (--t.waiting === 0) t.worker.unref()
  }
}

export const SourceThread = {
  /** Chunks sent ahead of the consumer once it streams, as `ZlibPump.readAhead` (4 and 8 measured no faster). */
  readAhead: 2,
  /** Stops the source thread (fault-injection tests: its sources must fail, not hang). */
  terminate: (): Promise<number> | undefined => thread?.worker.terminate(),
  /**
   * Starts the thread if it is not running; resolves once it takes sources
   * (or could not start). Zip inputs opened before then are read on the
   * calling thread, so no open ever waits for the thread to start.
   */
  start: (): Promise<void> => {
    const t = connect()
    return t === undefined ? Promise.resolve() : waitFor(t, t.started)
  },
  /**
   * Starts the thread and waits for it when the zip inputs among `paths`
   * hold at least `STARTUP_WORTH` compressed bytes in all: enough reading
   * for the thread to pay for its start (about 0.1 s, while reading on the
   * calling thread goes at about 40 MiB/s of zip). Smaller workloads do not
   * wait (their inputs are read on the calling thread while it starts).
   */
  startFor: async (paths: ReadonlyArray<string>): Promise<void> => {
    if (thread?.ready === true || cannotStart || !isMainThread) return
    const zips = paths.filter((p) => p.endsWith(".zip"))
    if (zips.length === 0) return
    const sizes = await Promise.all(
      zips.map((p) =>
        stat(p).then(
          (s) => s.size,
          () => 0
        )
      )
    )
    if (sizes.reduce((a, b) => a + b, 0) >= SourceThread.STARTUP_WORTH) await SourceThread.start()
  },
  /** Compressed zip bytes from which `startFor` waits for the thread. */
  STARTUP_WORTH: 8 * 1024 * 1024,
  /** Sources opened on the thread so far (diagnostics, tests). */
  opened: 0
}

/** Whether the thread takes sources now; if it is not running, starts it for later opens. */
export const readyThread = (): boolean => {
  const t = connect()
  return t?.ready === true
}

/** One source served by the thread: its chunks as they arrive, and the credit it gave. */
class Remote {
  readonly id = nextId++
  readonly path: string
  readonly thread: Thread
  container: ContainerKind = "zip"
  private readonly chunks: Array<SourceChunk> = []
  private opened: { resolve: () => void; reject: (e: TraceError) => void } | undefined
  private closed: (() => void) | undefined
  private eager = false
  private ended = false
  /** The thread has let this source go (after its End or Failed, or its Closed): its files are closed. */
  private done = false
  private failure: TraceError | undefined
  private granted = 1
  private taken = 0
  /** The memory of the chunk handed out last, and of those before it not yet sent back. */
  private held: ArrayBuffer | undefined
  private returned: Array<ArrayBuffer> = []
  private wake: (() => void) | undefined

  constructor(path: string, t: Thread) {
    this.path = path
    this.thread = t
  }

  open(chunkSize: number, eager: boolean): Promise<void> {
    this.eager = eager
    this.granted = this.want(true)
    const opening = new Promise<void>((resolve, reject) => {
      this.opened = { resolve, reject }
    })
    this.thread.remotes.set(this.id, this)
    this.post({ _tag: "Open", id: this.id, path: this.path, chunkSize, eager, credit: this.granted })
    return waitFor(this.thread, opening)
  }

  private post(m: ToSourceThread, transfer?: ReadonlyArray<ArrayBuffer>): void {
    this.thread.worker.postMessage(m, transfer)
  }

  private want(waitingForOne: boolean): number {
    return this.eager ? SourceThread.readAhead + 1 : waitingForOne ? 1 : 0
  }

  /** Grants the chunks that top the credit up to what is wanted; how many. */
  private grant(waiting: boolean): number {
    const more = Math.max(0, this.want(waiting) - (this.granted - this.taken))
    this.granted += more
    return more
  }

  /** Tops the credit up to the read-ahead; `waiting`: the consumer waits for a chunk. */
  private refill(waiting: boolean): void {
    if (this.ended || this.failure !== undefined) return
    const more = this.grant(waiting)
    if (more > 0 || waiting) {
      const returned = this.returned
      this.returned = []
      this.post({ _tag: "Credit", id: this.id, credit: more, urgent: waiting, returned }, returned)
    }
  }

  async next(): Promise<SourceChunk | undefined> {
    // The chunk handed out last is only valid until this pull: its memory goes back to the thread.
    if (this.held !== undefined) {
      this.returned.push(this.held)
      this.held = undefined
    }
    for (;;) {
      const chunk = this.chunks.shift()
      if (chunk !== undefined) {
        this.taken++
        this.held = chunk.bytes.buffer as ArrayBuffer
        this.refill(false)
        return chunk
      }
      if (this.failure !== undefined) throw this.failure
      if (this.ended) return undefined
      this.refill(true)
      await waitFor(
        this.thread,
        new Promise<void>((resolve) => {
          this.wake = resolve
        })
      )
    }
  }

  stream(): void {
    if (this.eager || this.ended || this.failure !== undefined) return
    this.eager = true
    this.post({ _tag: "Stream", id: this.id, credit: this.grant(false) })
  }

  /** Lets the source go; resolves once the thread has closed its files. */
  release(): Promise<void> {
    this.chunks.length = 0
    this.held = undefined
    this.returned = []
    this.failure ??= traceError("IoError", this.path, "source was closed")
    this.signal()
    if (this.done) return Promise.resolve()
    const closing = new Promise<void>((resolve) => {
      this.closed = resolve
    })
    this.post({ _tag: "Close", id: this.id })
    return waitFor(this.thread, closing)
  }

  receive(m: FromSourceThread): void {
    switch (m._tag) {
      case "Opened":
        this.container = m.container
        this.opened?.resolve()
        this.opened = undefined
        return
      case "Chunk":
        this.chunks.push({
          bytes: Buffer.from(m.buffer, 0, m.length),
          component: m.component,
          componentIndex: m.componentIndex,
          offset: m.offset
        })
        break
      case "End":
        this.ended = true
        this.letGo()
        break
      case "Failed":
        this.letGo()
        if (this.failure === undefined) {
          this.fail(traceError(m.error.reason, m.error.path || this.path, m.error.detail, m.error))
        }
        return
      case "Closed":
        this.letGo()
        return
    }
    this.signal()
  }

  /** The thread is done with this source: its files are closed. */
  private letGo(): void {
    this.done = true
    this.thread.remotes.delete(this.id)
    this.closed?.()
    this.closed = undefined
  }

  /** The thread stopped before this source's end. */
  lose(why: string): void {
    this.letGo()
    if (this.ended || this.failure !== undefined) return
    this.fail(traceError("IoError", this.path, `the source thread stopped (${why})`))
  }

  private fail(error: TraceError): void {
    this.failure = error
    this.opened?.reject(error)
    this.opened = undefined
    this.signal()
  }

  private signal(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}

/**
 * Opens `path` on the source thread; rejects as `openSource` would, with the
 * same `TraceError`. `eager`: read ahead from the open on (`stream()`).
 */
export const openOnThread = async (path: string, chunkSize: number, eager: boolean): Promise<ByteSource> => {
  const t = thread
  if (t === undefined || !t.ready) throw new Error("the source thread is not running")
  const remote = new Remote(path, t)
  SourceThread.opened++
  await remote.open(chunkSize, eager)
  return guard(path, remote.container, {
    next: () => remote.next(),
    stream: () => remote.stream(),
    release: () => remote.release(),
    describe: (cause) => traceError("IoError", path, cause instanceof Error ? cause.message : String(cause))
  })
}
