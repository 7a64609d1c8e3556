/**
 * `mkdir -p` for output directories. Node's `mkdir(path, { recursive: true })`
 * never settles when the parent exists but refuses new entries with ENOENT
 * (`/proc/x` on Linux: it retries forever), so every output directory is made
 * here, one component at a time, with plain `mkdir`.
 */
import { mkdir, stat } from "node:fs/promises"
import { dirname, resolve } from "node:path"

/**
 * Creates `path` and its missing parents; resolves to the first directory it
 * created (as `mkdir(…, { recursive: true })` does), or undefined if `path`
 * was already a directory. Rejects with the system error otherwise.
 */
export const makeDirectory = async (path: string): Promise<string | undefined> => {
  const target = resolve(path)
  try {
    await mkdir(target)
    return target
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === "EEXIST") {
      if ((await stat(target)).isDirectory()) return undefined
      throw e
    }
    const parent = dirname(target)
    if (code !== "ENOENT" || parent === target) throw e
    const first = await makeDirectory(parent)
    // Once only: a parent that exists and still yields ENOENT is an error, not a reason to retry.
    await mkdir(target)
    return first ?? target
  }
}
