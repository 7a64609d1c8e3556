/**
 * Child process of gc.test.ts: loads the whole library (a live heap like the
 * command's), reads every record of threadsig 30 times (≈ 28 M records, the
 * bytes of the benchmark's 30 copies) and prints the number of major GCs and
 * of records. `tuned` as the first argument applies the command's GC triggers.
 */
import { constants, PerformanceObserver } from "node:perf_hooks"
import { tuneGc } from "../../../src/cli/internal/gc.ts"
import { InputReader } from "../../../src/trace/internal/inputReader.ts"
import { listInputs } from "../../../src/trace/internal/listing.ts"
import { openSource } from "../../../src/trace/internal/source.ts"
import * as RecordBatch from "../../../src/trace/RecordBatch.ts"

await import("../../../src/index.ts")
if (process.argv[2] === "tuned") tuneGc()
let major = 0
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++
  }
}).observe({ entryTypes: ["gc"] })
const paths = await listInputs("../shared/traces/drmemtrace.threadsig.x64.tracedir")
let records = 0
for (let rep = 0; rep < 30; rep++) {
  for (const [i, path] of paths.entries()) {
    const reader = new InputReader(await openSource(path), i)
    for (let b = await reader.next(); b !== undefined; b = await reader.next()) {
      records += RecordBatch.length(b)
      reader.recycle(b)
    }
    await reader.close()
  }
}
// GC entries are delivered asynchronously.
await new Promise((resolve) => setTimeout(resolve, 50))
console.log(JSON.stringify({ major, records }))
