/**
 * DynamoRIO's tools keep one data set per `get_shard_index()`. In parallel
 * runs that is the shard itself; in a serial core-sharded run (`-core_serial`)
 * the single stream walks every core and the index is the core, so the tools
 * split the stream by `ctx.output`. A serial thread-sharded run has one index.
 *
 * Data sets are created on their first record, as DynamoRIO creates shard data
 * on a shard's first record: a shard that sees nothing prints nothing.
 */
import type { BatchContext, ShardInfo } from "../../analyzer/Tool.ts"

/** Where a data set came from, for section titles (`Thread N` / `Core N`). */
export interface SubShardOrigin {
  readonly shardIndex: number
  /** DynamoRIO's `get_output_cpuid()`: the analyzer's `cpuid` when it gives one, else the core ordinal. */
  readonly core: number
}

export class SubShards<S> {
  private readonly info: ShardInfo
  private readonly make: (origin: SubShardOrigin) => S
  private readonly subs = new Map<number, S>()
  private lastKey = Number.NaN
  private last: S | undefined = undefined
  private readonly byOutput: boolean

  constructor(info: ShardInfo, make: (origin: SubShardOrigin) => S) {
    this.info = info
    this.make = make
    this.byOutput = info.serial && info.shardType === "core"
  }

  /** The data set the records of this batch belong to. */
  get(ctx: BatchContext): S {
    const key = this.byOutput ? ctx.output : this.info.shardIndex
    if (key === this.lastKey) return this.last!
    let sub = this.subs.get(key)
    if (sub === undefined) {
      // A shard's traced cpu id (as-traced replays), or, in the single stream of
      // a core-serial run, the cpu id of the output the records came from.
      const cpuid = this.byOutput ? this.info.outputCpuids?.[key] : this.info.cpuid
      sub = this.make({ shardIndex: key, core: cpuid ?? key })
      this.subs.set(key, sub)
    }
    this.lastKey = key
    this.last = sub
    return sub
  }

  /** Every data set, by index. */
  all(): Array<S> {
    return [...this.subs.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1])
  }
}
