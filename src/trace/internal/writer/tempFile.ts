/**
 * The crash-safe output file: bytes go to a hidden temporary file in the
 * destination directory, which is renamed over the final name only when it
 * is complete (`rename` is atomic within a directory). `abort` removes it, so
 * a failed or interrupted write leaves nothing under the final name; a killed
 * process can leave only the hidden temporary (`.NAME.PID.RANDOM.tmp`).
 */
import { randomBytes } from "node:crypto"
import { type FileHandle, open, rename, unlink } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { fromCause } from "./error.ts"

export class TempFile {
  readonly finalPath: string
  readonly tempPath: string
  private readonly handle: FileHandle
  private done = false

  private constructor(finalPath: string, tempPath: string, handle: FileHandle) {
    this.finalPath = finalPath
    this.tempPath = tempPath
    this.handle = handle
  }

  static tempNameFor(finalPath: string): string {
    const tag = `${process.pid}.${randomBytes(4).toString("hex")}`
    return join(dirname(finalPath), `.${basename(finalPath)}.${tag}.tmp`)
  }

  static async create(finalPath: string): Promise<TempFile> {
    const tempPath = TempFile.tempNameFor(finalPath)
    try {
      return new TempFile(finalPath, tempPath, await open(tempPath, "wx"))
    } catch (cause) {
      throw fromCause(finalPath, cause)
    }
  }

  /** Writes `pieces` one after another starting at byte `position`. */
  async writeAt(pieces: ReadonlyArray<Uint8Array>, position: number): Promise<void> {
    let pos = position
    let list = pieces.filter((p) => p.length > 0)
    while (list.length > 0) {
      const { bytesWritten } = await this.handle.writev(list as Array<Uint8Array>, pos)
      pos += bytesWritten
      let left = bytesWritten
      const rest: Array<Uint8Array> = []
      for (const p of list) {
        if (left >= p.length) left -= p.length
        else {
          rest.push(left > 0 ? p.subarray(left) : p)
          left = 0
        }
      }
      if (bytesWritten === 0 && rest.length > 0) throw new Error("the file system accepted no bytes")
      list = rest
    }
  }

  /** Flushes (when durable), closes and renames the file to its final name. */
  async commit(durable: boolean): Promise<void> {
    if (this.done) return
    this.done = true
    try {
      if (durable) await this.handle.datasync()
      await this.handle.close()
      await rename(this.tempPath, this.finalPath)
    } catch (cause) {
      await this.handle.close().catch(() => undefined)
      await unlink(this.tempPath).catch(() => undefined)
      throw fromCause(this.finalPath, cause)
    }
  }

  /** Closes and deletes the temporary file. Safe to call more than once, and after `commit`. */
  async abort(): Promise<void> {
    if (this.done) return
    this.done = true
    await this.handle.close().catch(() => undefined)
    await unlink(this.tempPath).catch(() => undefined)
  }
}
