import { spawnSync } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { EXIT_GRACE_MS, type ExitingProcess, exitGently } from "../../../src/cli/internal/exit.ts"

/** A process stand-in and timers that run only when told to. */
const fake = () => {
  const exits: Array<number | undefined> = []
  const timers: Array<{ run: () => void; ms: number; unrefed: boolean }> = []
  const proc: ExitingProcess = { exitCode: undefined, exit: (code) => void exits.push(code) }
  const clock = {
    setTimeout: (run: () => void, ms: number) => {
      const t = { run, ms, unrefed: false }
      timers.push(t)
      return { unref: () => (t.unrefed = true) }
    }
  }
  return { exits, timers, proc, clock }
}

/** Runs `script` in a child Node process (killed after 60 s: status null). */
const child = (script: string): { readonly status: number | null; readonly stderr: string } => {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
    cwd: process.cwd()
  })
  return { status: r.status, stderr: r.stderr }
}

const importExit = `import { exitGently } from ${JSON.stringify(`${process.cwd()}/src/cli/internal/exit.ts`)}`

describe("exitGently", () => {
  it("sets the status, and calls exit only from an unreferenced timer after the grace period", () => {
    const { clock, exits, proc, timers } = fake()
    exitGently(3, { process: proc, timers: clock })
    assert.strictEqual(proc.exitCode, 3)
    assert.deepStrictEqual(exits, [])
    assert.strictEqual(timers.length, 1)
    assert.strictEqual(timers[0]!.ms, EXIT_GRACE_MS)
    assert.isTrue(timers[0]!.unrefed)
    timers[0]!.run()
    assert.deepStrictEqual(exits, [3])
  })

  it("takes another grace period", () => {
    const { clock, proc, timers } = fake()
    exitGently(0, { process: proc, timers: clock, graceMs: 50 })
    assert.strictEqual(proc.exitCode, 0)
    assert.strictEqual(timers[0]!.ms, 50)
  })

  it("a real process with nothing left ends by itself, with the status", () => {
    // The fallback would fire after ten minutes, long after the child's 60 s timeout.
    const r = child(`${importExit}\nexitGently(7, { graceMs: 600_000 })`)
    assert.strictEqual(r.status, 7, r.stderr)
  })

  it("a real process that something keeps alive is ended by the fallback, with the status", () => {
    const r = child(`${importExit}\nsetInterval(() => {}, 1000)\nexitGently(5, { graceMs: 100 })`)
    assert.strictEqual(r.status, 5, r.stderr)
  })
})
