/**
 * Which trace files a path names, in DynamoRIO's order (`open_readers` over
 * the directory `tracedir_from_rawdir` picks).
 *
 * **When to use**: `Trace.open` calls it first; the index of a path in the
 * result is the input ordinal.
 *
 * **Details**
 * - A file is itself (`-`, standard input, too); a directory gives its files sorted by path bytewise
 *   (DynamoRIO's `std::sort` of the joined paths), skipping `.`, `..`, names
 *   starting `serial_schedule.bin`, `cpu_schedule.bin.zip`, `modules.log`,
 *   `funclist.log`, `encodings.bin`, `v2p.textproto`, and subdirectories.
 * - A tracer output directory (`drmemtrace.APP.PID.NNNN.dir/` with `trace/`
 *   and `raw/`), its `raw/` or its `trace/` all read the files of `trace/`
 *   (or of `trace/window.0000/` when the trace was windowed).
 * - A tracer directory with raw files but no converted trace fails with
 *   `RawTraceNeedsConversion`: DynamoRIO would run raw2trace first, which
 *   needs DynamoRIO itself and the traced binaries.
 *
 * **Gotchas**: DynamoRIO would try to open a subdirectory as an input and
 * fail; we skip it instead. A file name that is not valid UTF-8 is an
 * `IoError` naming its bytes: Node opens files by UTF-8 names.
 */
import type { Dirent } from "node:fs"
import { readdir, stat } from "node:fs/promises"
import { fromIoError, isTraceError, traceError } from "./container/errors.ts"
import { STDIN } from "./source.ts"

const TRACE_SUBDIR = "trace"
const RAW_SUBDIR = "raw"
const WINDOW_PREFIX = "window"
const WINDOW_FIRST = "window.0000"

/** DynamoRIO's names of auxiliary files that live next to trace files. */
const isAuxiliary = (name: string): boolean =>
  name === "." ||
  name === ".." ||
  name.startsWith("serial_schedule.bin") ||
  name === "cpu_schedule.bin.zip" ||
  name === "modules.log" ||
  name === "funclist.log" ||
  name === "encodings.bin" ||
  name === "v2p.textproto"

const kind = async (path: string): Promise<"file" | "directory" | "missing" | "other"> => {
  try {
    const s = await stat(path)
    return s.isDirectory() ? "directory" : s.isFile() ? "file" : "other"
  } catch (cause) {
    const code = (cause as { code?: unknown }).code
    if (code === "ENOENT" || code === "ENOTDIR") return "missing"
    throw cause
  }
}

/** DynamoRIO's `is_directory`: false when the path cannot be inspected at all. */
const isDirectory = async (path: string): Promise<boolean> => {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

const join = (dir: string, name: string): string => (dir.endsWith("/") ? dir + name : `${dir}/${name}`)

/** DynamoRIO's `is_window_subdir`: "window" occurs within the last 11 characters. */
const isWindowDir = (dir: string): boolean => {
  const at = dir.lastIndexOf(WINDOW_PREFIX)
  return at !== -1 && at >= dir.length - WINDOW_FIRST.length
}

const windowIfPresent = async (dir: string): Promise<string> => {
  if (isWindowDir(dir)) return dir
  const first = join(dir, WINDOW_FIRST)
  return (await isDirectory(first)) ? first : dir
}

/** The directory DynamoRIO reads for `dir` (`tracedir_from_rawdir`), and the raw directory it came from, if any. */
const traceDirFor = async (given: string): Promise<{ readonly dir: string; readonly raw: string | undefined }> => {
  let dir = given
  while (dir.length > 1 && dir.endsWith("/")) dir = dir.slice(0, -1)
  const traceSub = `/${TRACE_SUBDIR}`
  const rawSub = `/${RAW_SUBDIR}`
  if (dir.length > traceSub.length && dir.endsWith(traceSub)) return { dir: await windowIfPresent(dir), raw: undefined }
  if ((dir.length > rawSub.length && dir.endsWith(rawSub)) || isWindowDir(dir)) {
    const at = dir.lastIndexOf(rawSub)
    if (at !== -1) return { dir: dir.slice(0, at) + traceSub + dir.slice(at + rawSub.length), raw: dir }
    return { dir, raw: undefined }
  }
  const hasRaw = await isDirectory(dir + rawSub)
  if (hasRaw || (await isDirectory(dir + traceSub))) {
    return { dir: await windowIfPresent(dir + traceSub), raw: hasRaw ? dir + rawSub : undefined }
  }
  return { dir, raw: undefined }
}

/** Files of `dir` DynamoRIO would open, sorted; subdirectories skipped. */
const traceFiles = async (dir: string): Promise<Array<string>> => {
  const entries: Array<Dirent<Buffer>> = await readdir(dir, { withFileTypes: true, encoding: "buffer" })
  const files: Array<string> = []
  for (const entry of entries) {
    const name = entry.name.toString("utf8")
    if (isAuxiliary(name) || entry.isDirectory()) continue
    if (!Buffer.from(name, "utf8").equals(entry.name)) {
      // Node opens files by UTF-8 names: this one would be reported missing.
      throw traceError(
        "IoError",
        dir,
        `the file name ${JSON.stringify(name)} is not valid UTF-8 (bytes ${entry.name.toString("hex")}); rename it to read this trace`
      )
    }
    const path = join(dir, name)
    if (entry.isSymbolicLink() && (await isDirectory(path))) continue
    files.push(path)
  }
  const keyed = files.map((path) => ({ path, key: Buffer.from(path, "utf8") }))
  keyed.sort((a, b) => Buffer.compare(a.key, b.key))
  return keyed.map((k) => k.path)
}

export const listInputs = async (path: string): Promise<ReadonlyArray<string>> => {
  try {
    return await list(path)
  } catch (cause) {
    if (isTraceError(cause)) throw cause
    // Faults inside the directory (an unreadable trace/ subdirectory, say) name the path the caller gave.
    const inner = (cause as { path?: unknown }).path
    const where = typeof inner === "string" && inner !== path ? ` (${inner})` : ""
    const error = fromIoError(path, cause)
    throw traceError(error.reason, path, `${error.detail}${where}`)
  }
}

const list = async (path: string): Promise<ReadonlyArray<string>> => {
  if (path === STDIN) return [path]
  const what = await kind(path)
  if (what === "missing") throw traceError("NotFound", path, "no such file or directory")
  if (what !== "directory") return [path]
  const { dir, raw } = await traceDirFor(path)
  const converted = (await isDirectory(dir)) ? await traceFiles(dir) : []
  if (converted.length > 0) return converted
  if (raw !== undefined && (await isDirectory(raw))) {
    throw traceError(
      "RawTraceNeedsConversion",
      path,
      `only raw tracer output in ${raw}: raw traces must first be converted with DynamoRIO's raw2trace ` +
        "(it needs DynamoRIO and the traced binaries)"
    )
  }
  if (dir !== path && !(await isDirectory(dir))) throw traceError("NotFound", path, `no trace directory ${dir}`)
  throw traceError("EmptyDirectory", path, `no trace files in ${dir}`)
}
