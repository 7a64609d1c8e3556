#!/usr/bin/env node
// The `memtrace` command. The CLI is TypeScript run without a build step, so it
// needs a Node that strips types: the project's pinned Node (the `node` npm
// package). When this shim runs under another Node, it re-runs the CLI with the
// pinned one, passing arguments, stdio, signals and the exit status through.
import { spawn } from "node:child_process"
import { existsSync, realpathSync } from "node:fs"
import module from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const main = join(root, "src", "cli", "main.ts")
const pinned = join(root, "node_modules", "node", "bin", "node")

const same = (a, b) => {
  try {
    return realpathSync(a) === realpathSync(b)
  } catch {
    return false
  }
}

const canStripTypes = () => {
  const [major, minor] = process.versions.node.split(".").map(Number)
  return process.features.typescript !== undefined && (major > 22 || (major === 22 && minor >= 19))
}

// Node's module compile cache (in the system's temporary directory; NODE_DISABLE_COMPILE_CACHE=1
// turns it off): later starts load the CLI's modules as cached code instead of stripping and
// compiling them again.
if (same(process.execPath, pinned) || (!existsSync(pinned) && canStripTypes())) {
  module.enableCompileCache?.()
  await import(pathToFileURL(main).href)
} else if (existsSync(pinned)) {
  const env = { NODE_COMPILE_CACHE: join(tmpdir(), "node-compile-cache"), ...process.env }
  const child = spawn(pinned, [main, ...process.argv.slice(2)], { stdio: "inherit", env })
  // The terminal sends Ctrl-C to both processes; the child decides the status.
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => {})
  child.on("exit", (code, signal) => {
    process.exitCode = code ?? (signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 1)
  })
  child.on("error", (error) => {
    process.stderr.write(`ERROR: cannot start ${pinned}: ${error.message}\n`)
    process.exitCode = 1
  })
} else {
  process.stderr.write(
    `ERROR: memtrace needs Node >= 22.19 with type stripping (this is ${process.version}); run npm install in ${root}\n`
  )
  process.exitCode = 1
}
