import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, assert, describe, it } from "@effect/vitest"
import { makeDirectory } from "../../../src/trace/internal/writer/makeDirectory.ts"

const dirs: Array<string> = []
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), "memtrace-mkdir-"))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** Settles within `ms`, or rejects saying it did not (Node's recursive mkdir hangs on /proc). */
const within = <A>(p: Promise<A>, ms: number): Promise<A> =>
  Promise.race([p, new Promise<A>((_, reject) => setTimeout(() => reject(new Error(`not settled in ${ms} ms`)), ms))])

describe("makeDirectory", () => {
  it("creates missing parents and returns the first directory it created", async () => {
    const base = fresh()
    const target = join(base, "a", "b", "c")
    assert.strictEqual(await makeDirectory(target), join(base, "a"))
    assert.isTrue(statSync(target).isDirectory())
    // Already there: nothing created.
    assert.isUndefined(await makeDirectory(target))
  })

  it("refuses a path that is a file, and a file on the way", async () => {
    const base = fresh()
    const file = join(base, "f")
    writeFileSync(file, "x")
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: NodeJS.ErrnoException) => e.code
      )
    assert.strictEqual(await codeOf(makeDirectory(file)), "EEXIST")
    assert.strictEqual(await codeOf(makeDirectory(join(file, "sub"))), "ENOTDIR")
  })

  it("a parent that refuses new entries is an error at once, not a retry loop (/proc)", async () => {
    const code = await within(
      makeDirectory("/proc/memtrace-no-such/x").then(
        () => "ok",
        (e: NodeJS.ErrnoException) => e.code
      ),
      5000
    )
    assert.strictEqual(code, "ENOENT")
  })
})
