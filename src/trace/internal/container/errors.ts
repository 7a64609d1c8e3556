/**
 * Building `TraceError`s for the container layer: one place that maps errno
 * codes, zlib/zstd codes and library messages to a `reason`, so every
 * rejection of a byte source is a `TraceError` and never a raw `Error`.
 */
import { TraceError, type TraceErrorReason } from "../../TraceError.ts"

/** Where in the input a fault is: the zip member and a byte offset. */
export interface Where {
  readonly component?: string | undefined
  readonly offset?: number | undefined
}

export const traceError = (reason: TraceErrorReason, path: string, detail: string, where?: Where): TraceError =>
  new TraceError({
    reason,
    path,
    detail,
    ...(where?.component !== undefined ? { component: where.component } : {}),
    ...(where?.offset !== undefined ? { offset: where.offset } : {})
  })

export const isTraceError = (u: unknown): u is TraceError => u instanceof TraceError

const codeOf = (cause: unknown): string | undefined => {
  if (typeof cause === "object" && cause !== null && "code" in cause) {
    const code = (cause as { code: unknown }).code
    return typeof code === "string" ? code : undefined
  }
  return undefined
}

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** errno → reason, for failures of the file system itself (open, read, stat, readdir). */
export const ioReason = (cause: unknown): TraceErrorReason => {
  switch (codeOf(cause)) {
    case "ENOENT":
    case "ENOTDIR":
      return "NotFound"
    case "EACCES":
    case "EPERM":
      return "PermissionDenied"
    default:
      return "IoError"
  }
}

/** A file-system failure as a TraceError (`NotFound`, `PermissionDenied` or `IoError`). */
export const fromIoError = (path: string, cause: unknown, where?: Where): TraceError => {
  if (isTraceError(cause)) return cause
  const code = codeOf(cause)
  const hint = code === "EMFILE" || code === "ENFILE" ? " (too many open files: raise the open-file limit)" : ""
  return traceError(ioReason(cause), path, `${messageOf(cause)}${hint}`, where)
}

/**
 * A zlib (gzip, raw inflate) or zstd stream failure as a TraceError. File
 * system errors forwarded into the stream keep their errno mapping.
 */
export const fromCodecError = (path: string, codec: string, cause: unknown, where?: Where): TraceError => {
  if (isTraceError(cause)) return cause
  const code = codeOf(cause)
  const message = messageOf(cause)
  const detail = `${codec}: ${message}`
  if (code?.startsWith("E") && !code.startsWith("ERR_")) return fromIoError(path, cause, where)
  if (code === "Z_BUF_ERROR" || /unexpected end/i.test(message)) {
    return traceError("Truncated", path, `${codec}: compressed data ends early (${message})`, where)
  }
  if (/incorrect header check|prefix_unknown|unknown frame descriptor/i.test(message)) {
    return traceError("BadMagic", path, detail, where)
  }
  if (/incorrect (data|length) check|checksum/i.test(message)) return traceError("BadChecksum", path, detail, where)
  if (code === "ERR_STREAM_PREMATURE_CLOSE") return traceError("IoError", path, "source was closed", where)
  return traceError("Corrupt", path, detail, where)
}
