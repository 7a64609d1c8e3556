/**
 * Makes a large trace out of a small one: `copies` copies of every input of
 * a trace directory, under new thread and process ids (see
 * `TraceWriter.replicate`).
 *
 * usage: npx node bench/replicate.ts SRC DST [--copies N] [--level 0-9] [--chunk-instrs N] [--concurrency N]
 * (default 30 copies, zip level 6 as DynamoRIO writes, each source's own chunk size, 2 files at a time)
 */
import * as Effect from "effect/Effect"
import * as TraceWriter from "../src/trace/TraceWriter.ts"
import { mib } from "./lib/stats.ts"

const args = process.argv.slice(2)
const flag = (name: string): number | undefined => {
  const at = args.indexOf(name)
  if (at < 0) return undefined
  const v = Number(args[at + 1])
  if (!Number.isFinite(v)) throw new Error(`${name} needs a number`)
  args.splice(at, 2)
  return v
}
const copies = flag("--copies") ?? 30
const level = flag("--level")
const chunkInstrCount = flag("--chunk-instrs")
const concurrency = flag("--concurrency")
const [src, dst] = args
if (src === undefined || dst === undefined || args.length !== 2) {
  console.error(
    "usage: npx node bench/replicate.ts SRC DST [--copies N] [--level 0-9] [--chunk-instrs N] [--concurrency N]"
  )
  process.exit(2)
}

const start = performance.now()
let done = 0
const summary = await Effect.runPromise(
  TraceWriter.replicate(src, dst, copies, {
    level,
    chunkInstrCount,
    concurrency,
    onFile: () => {
      done++
      if (process.stderr.isTTY) process.stderr.write(`\r${done} files`)
    }
  })
)
if (process.stderr.isTTY) process.stderr.write("\n")
const seconds = (performance.now() - start) / 1000
console.log(
  `${summary.files.length} files (${summary.inputs} inputs × ${summary.copies}) in ${dst}: ` +
    `${summary.entries.toLocaleString("en-US")} entries, ${mib(summary.entries * 12)} of entries, ` +
    `${mib(summary.bytes)} zipped, ${seconds.toFixed(1)} s`
)
