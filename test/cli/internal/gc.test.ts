import { spawnSync } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"

const probe = (mode: "default" | "tuned"): { readonly major: number; readonly records: number } => {
  const r = spawnSync(process.execPath, ["test/cli/internal/gcProbe.ts", mode], { encoding: "utf8", timeout: 120_000 })
  assert.strictEqual(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!)
}

describe("tuneGc", () => {
  it("reading a large trace takes fewer major GCs with the command's triggers than with V8's", () => {
    const v8 = probe("default")
    const tuned = probe("tuned")
    assert.strictEqual(tuned.records, v8.records)
    assert.strictEqual(v8.records, 30 * 928_110)
    // Measured: 12–21 with V8's triggers, 6 with the command's (eight runs each).
    assert.isBelow(tuned.major, v8.major)
  })
})
