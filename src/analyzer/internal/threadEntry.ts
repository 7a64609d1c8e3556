/**
 * What an analysis worker thread starts from: it turns on Node's module
 * compile cache, then loads the worker proper (threadWorker.ts). With the
 * cache a thread loads its modules as cached code instead of stripping and
 * compiling them again, which took 100–300 ms of every thread's start.
 *
 * The import is dynamic on purpose: static imports would all load before
 * the cache is on. The cache lives in Node's default place (the system's
 * temporary directory); NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
import module from "node:module"

module.enableCompileCache?.()
await import("./threadWorker.ts")
