/**
 * A standard tool made slow for the cluster tests: it blocks `msPerBatch`
 * before handing each batch to the wrapped registry tool, so that shards last
 * long enough to kill a runner or interrupt a run in the middle of them, and
 * it prints exactly what the wrapped tool prints.
 */
import * as Tool from "../../src/analyzer/Tool.ts"
import * as Registry from "../../src/tools/Registry.ts"

const block = (ms: number) => {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

export const delayed = (name: string, options: Record<string, unknown>, msPerBatch: number): Tool.Any => {
  const inner = Registry.makeSync(name, options)
  const tool = Tool.make<unknown, unknown, unknown, unknown>({
    name: inner.name,
    parallel: inner.parallel,
    preferredShardType: inner.preferredShardType,
    makeShard: (info) => inner.makeShard(info),
    processBatch: (state, batch, start, end, ctx) => {
      block(msPerBatch)
      return inner.processBatch(state, batch, start, end, ctx)
    },
    finishShard: (state) => inner.finishShard(state),
    merge: (shards) => inner.merge(shards),
    print: (result) => inner.print(result),
    shardResultSchema: inner.shardResultSchema,
    resultSchema: inner.resultSchema,
    describeError: (e) => inner.describeError(e)
  })
  return Tool.withSpec(tool, { module: import.meta.url, export: "delayed", args: [name, options, msPerBatch] })
}
