/**
 * The cluster tests' world: a throwaway PostgreSQL (scripts/postgres.sh) and
 * runner processes (`memtrace runner`, spawned through the pinned node) on
 * 127.0.0.1, with their stderr lines kept for assertions.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export interface Postgres {
  readonly url: string
  readonly dir: string
}

const run = (file: string, args: ReadonlyArray<string>) =>
  new Promise<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resolve) => {
    execFile(file, args, { timeout: 300_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout, stderr })
    })
  })

/**
 * Starts PostgreSQL; undefined (after a loud warning) only when it is not
 * installed and cannot be installed. Any other failure throws.
 */
export const startPostgres = async (): Promise<Postgres | undefined> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memtrace-cluster-pg-"))
  const r = await run("scripts/postgres.sh", ["start", dir])
  if (r.code === 3) {
    fs.rmSync(dir, { recursive: true, force: true })
    const banner = "!".repeat(78)
    console.warn(
      `\n${banner}\nCLUSTER TESTS SKIPPED: PostgreSQL is not installed and could not be installed.\n${r.stderr}${banner}\n`
    )
    return undefined
  }
  if (r.code !== 0) throw new Error(`scripts/postgres.sh start failed (${r.code}):\n${r.stderr}`)
  return { url: r.stdout.trim(), dir }
}

export const stopPostgres = async (pg: Postgres): Promise<void> => {
  await run("scripts/postgres.sh", ["stop", pg.dir])
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

export interface Runner {
  readonly address: string
  readonly process: ChildProcess
  /** stderr and stdout lines so far. */
  readonly lines: Array<string>
  /** Resolves with the first line (already seen or future) matching `re`. */
  readonly waitFor: (re: RegExp, timeoutMs: number) => Promise<string>
  readonly exited: Promise<number | null>
}

/** Spawns `memtrace runner` and waits until it is ready. */
export const spawnRunner = async (url: string, args: ReadonlyArray<string>): Promise<Runner> => {
  const port = await freePort()
  const address = `127.0.0.1:${port}`
  const child = spawn(
    process.execPath,
    ["src/cli/main.ts", "runner", "--cluster", url, "--host", "127.0.0.1", "--port", String(port), ...args],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  const lines: Array<string> = []
  const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = []
  const onData = (() => {
    let partial = ""
    return (chunk: Buffer) => {
      const text = partial + chunk.toString("utf8")
      const parts = text.split("\n")
      partial = parts.pop()!
      for (const line of parts) {
        lines.push(line)
        for (let k = waiters.length - 1; k >= 0; k--) {
          if (waiters[k]!.re.test(line)) {
            waiters[k]!.resolve(line)
            waiters.splice(k, 1)
          }
        }
      }
    }
  })()
  child.stdout!.on("data", onData)
  child.stderr!.on("data", onData)
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const waitFor = (re: RegExp, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => re.test(l))
      if (seen !== undefined) return resolve(seen)
      const timer = setTimeout(
        () =>
          reject(new Error(`runner ${address}: no line matching ${re} within ${timeoutMs} ms:\n${lines.join("\n")}`)),
        timeoutMs
      )
      waiters.push({
        re,
        resolve: (line) => {
          clearTimeout(timer)
          resolve(line)
        }
      })
    })
  const runner: Runner = { address, process: child, lines, waitFor, exited }
  await Promise.race([
    waitFor(/: ready$/, 60_000),
    exited.then((code) => {
      throw new Error(`runner ${address} exited (${code}) before it was ready:\n${lines.join("\n")}`)
    })
  ])
  return runner
}

/** Stops a runner (SIGTERM, then SIGKILL after 10 s). */
export const stopRunner = async (runner: Runner): Promise<void> => {
  if (runner.process.exitCode !== null || runner.process.signalCode !== null) return
  runner.process.kill("SIGTERM")
  const timer = setTimeout(() => runner.process.kill("SIGKILL"), 10_000)
  await runner.exited
  clearTimeout(timer)
}

/** Shard events of run `runId` in a runner's lines: [shard index, event]. */
export const events = (
  runner: Runner,
  runId: string
): Array<readonly [number, "started" | "done" | "failed" | "interrupted"]> => {
  const re = new RegExp(`shard ${runId}/(\\d+) (started|done|failed|interrupted)`)
  const out: Array<readonly [number, "started" | "done" | "failed" | "interrupted"]> = []
  for (const line of runner.lines) {
    const m = re.exec(line)
    if (m !== null) out.push([Number(m[1]), m[2] as "started" | "done" | "failed" | "interrupted"])
  }
  return out
}

/**
 * Resolves once the cluster is settled: `runners` lock sessions hold all
 * `shards` shard locks between them, the same way over three polls 500 ms
 * apart (runners that just joined have taken their shards, nobody is
 * handing shards over).
 */
export const settled = async (
  query: () => Promise<ReadonlyArray<{ readonly pid: number; readonly n: number }>>,
  runners: number,
  shards: number,
  timeoutMs: number
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  let last = ""
  let stable = 0
  while (stable < 3) {
    if (Date.now() > deadline) throw new Error(`cluster not settled within ${timeoutMs} ms: ${last}`)
    const rows = await query()
    const now = JSON.stringify([...rows].sort((a, b) => a.pid - b.pid))
    const ok = rows.length === runners && rows.reduce((a, r) => a + r.n, 0) === shards
    stable = ok && now === last ? stable + 1 : ok ? 1 : 0
    last = now
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}
