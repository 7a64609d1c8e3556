/**
 * What the source thread starts from: it turns on Node's module compile
 * cache, then loads the thread proper (sourceWorker.ts), as an analysis
 * worker thread does (src/analyzer/internal/threadEntry.ts: the import is
 * dynamic so that the cache is on before anything loads). It says `Ready`
 * once loaded: until then the main thread reads zip inputs itself.
 */
import module from "node:module"
import { parentPort } from "node:worker_threads"

module.enableCompileCache?.()
await import("./sourceWorker.ts")
parentPort!.postMessage({ _tag: "Ready" })
