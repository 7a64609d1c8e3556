/**
 * The source thread itself (started by `sourceThread.ts`, which holds the
 * protocol and the reasons): opens byte sources by path, with zip members
 * inflated synchronously here (`container/syncInflate.ts`), and sends their
 * chunks to the main thread as credit allows, each chunk's memory
 * transferred.
 *
 * Sources are served one chunk per turn of the event loop (so credit and
 * close messages are seen between chunks): first those the main thread waits
 * on, then the oldest, so the input being read gets its chunks before an
 * input opened ahead. Chunk memory the main thread sends back is filled
 * again before new memory is taken. A source's files are
 * closed before its `End` or `Failed` is sent (a byte source releases itself
 * then), and before a `Close` is acknowledged.
 */
import { parentPort } from "node:worker_threads"
import { isTraceError } from "./container/errors.ts"
import { SyncInflate } from "./container/syncInflate.ts"
import { type ByteSource, openSource } from "./source.ts"
import type { EncodedError, FromSourceThread, ToSourceThread } from "./sourceThread.ts"

SyncInflate.enabled = true

/** Memory of chunks the main thread is done with, filled again before new memory is taken. */
const spare: Array<ArrayBuffer> = []
const MAX_SPARE = 32
SyncInflate.allocate = (size) => {
  for (let i = spare.length - 1; i >= 0; i--) {
    if (spare[i]!.byteLength === size) return Buffer.from(spare.splice(i, 1)[0]!)
  }
  return Buffer.allocUnsafeSlow(size)
}

interface Served {
  readonly id: number
  /** Settles once the open has (the source is then set, or the open failed). */
  readonly opening: Promise<void>
  source: ByteSource | undefined
  credit: number
  eager: boolean
  pulling: boolean
}

const port = parentPort!
/** Sources opening or open, until they end, fail or are closed. */
const served = new Map<number, Served>()
/** Sources the main thread waits on, served first, oldest wait first. */
const urgent: Array<Served> = []
let scheduled = false

const calm = (s: Served) => {
  const at = urgent.indexOf(s)
  if (at >= 0) urgent.splice(at, 1)
}

const send = (m: FromSourceThread, transfer?: Array<ArrayBuffer>) => port.postMessage(m, transfer)

const encode = (cause: unknown): EncodedError =>
  isTraceError(cause)
    ? { reason: cause.reason, path: cause.path, detail: cause.detail, component: cause.component, offset: cause.offset }
    : { reason: "IoError", path: "", detail: cause instanceof Error ? cause.message : String(cause) }

/** Whether a chunk's memory can be handed over as it is: its own buffer, not a slice of Node's shared pool. */
const transferable = (bytes: Uint8Array): boolean =>
  bytes.byteOffset === 0 && bytes.buffer instanceof ArrayBuffer && bytes.buffer.byteLength > Buffer.poolSize

const pull = (s: Served, source: ByteSource) => {
  s.pulling = true
  s.credit--
  source.pull().then(
    (chunk) => {
      s.pulling = false
      calm(s)
      if (served.get(s.id) !== s) return
      if (chunk === undefined) {
        served.delete(s.id)
        send({ _tag: "End", id: s.id })
        return
      }
      const bytes = transferable(chunk.bytes) ? chunk.bytes : new Uint8Array(chunk.bytes)
      const buffer = bytes.buffer as ArrayBuffer
      send(
        {
          _tag: "Chunk",
          id: s.id,
          buffer,
          length: bytes.length,
          component: chunk.component,
          componentIndex: chunk.componentIndex,
          offset: chunk.offset
        },
        [buffer]
      )
      schedule()
    },
    (cause: unknown) => {
      s.pulling = false
      calm(s)
      if (served.get(s.id) !== s) return
      served.delete(s.id)
      send({ _tag: "Failed", id: s.id, error: encode(cause) })
    }
  )
}

const ready = (s: Served): boolean => s.source !== undefined && !s.pulling && s.credit > 0

const next = (): Served | undefined => {
  const waited = urgent.find(ready)
  if (waited !== undefined) return waited
  for (const s of served.values()) if (ready(s)) return s
  return undefined
}

const turn = () => {
  scheduled = false
  const s = next()
  if (s !== undefined) {
    pull(s, s.source!)
    schedule()
  }
}

const schedule = () => {
  if (scheduled) return
  scheduled = true
  setImmediate(turn)
}

const open = (m: Extract<ToSourceThread, { _tag: "Open" }>) => {
  const s: Served = {
    id: m.id,
    opening: openSource(m.path, { chunkSize: m.chunkSize }).then(
      (source) => {
        s.source = source
        if (served.get(m.id) !== s) return
        if (s.eager) source.stream()
        send({ _tag: "Opened", id: m.id, container: source.container })
        schedule()
      },
      (cause: unknown) => {
        if (served.get(m.id) !== s) return
        served.delete(m.id)
        send({ _tag: "Failed", id: m.id, error: encode(cause) })
      }
    ),
    source: undefined,
    credit: m.credit,
    eager: m.eager,
    pulling: false
  }
  served.set(m.id, s)
}

/** Closes a source the main thread let go of, and says so once its files are closed. */
const close = (id: number) => {
  const s = served.get(id)
  served.delete(id)
  if (s !== undefined) calm(s)
  const closing = s === undefined ? Promise.resolve() : s.opening.then(() => s.source?.close())
  closing.then(
    () => send({ _tag: "Closed", id }),
    () => send({ _tag: "Closed", id })
  )
}

port.on("message", (m: ToSourceThread) => {
  const s = served.get(m.id)
  switch (m._tag) {
    case "Open":
      open(m)
      return
    case "Stream":
      if (s !== undefined) {
        s.eager = true
        s.source?.stream()
        s.credit += m.credit
      }
      break
    case "Credit":
      for (const buffer of m.returned) if (spare.length < MAX_SPARE) spare.push(buffer)
      if (s !== undefined) {
        s.credit += m.credit
        if (m.urgent && !urgent.includes(s)) urgent.push(s)
      }
      break
    case "Close":
      close(m.id)
      return
  }
  schedule()
})
