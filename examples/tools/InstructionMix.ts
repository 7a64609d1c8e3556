/**
 * A parallel tool: per thread, how many instructions, branches, loads,
 * stores and system calls it executed. It shows every part of a tool: a
 * shard state, a hot loop over the batch's typed arrays, a Schema for the
 * shard results (they cross worker threads), a merge, and a printer.
 *
 * It lives in its own module so that worker threads can rebuild it: the
 * spec names this module and its `make` export.
 */
import { Schema } from "effect"
import { Record, Tool } from "memtrace"

const { TraceType, MarkerType } = Record

/** One thread's counts. */
export const Counts = Schema.Struct({
  tid: Schema.Number,
  instructions: Schema.Number,
  branches: Schema.Number,
  loads: Schema.Number,
  stores: Schema.Number,
  syscalls: Schema.Number
})
export type Counts = typeof Counts.Type

/** The merged result: every thread, in shard order, and the totals. */
export const Result = Schema.Struct({ threads: Schema.Array(Counts), total: Counts })
export type Result = typeof Result.Type

const isBranch = (type: number): boolean =>
  (type >= TraceType.INSTR_DIRECT_JUMP && type <= TraceType.INSTR_RETURN) ||
  type === TraceType.INSTR_TAKEN_JUMP ||
  type === TraceType.INSTR_UNTAKEN_JUMP

/** The shard state: plain mutable numbers, updated in place by the hot loop. */
interface State {
  tid: number
  instructions: number
  branches: number
  loads: number
  stores: number
  syscalls: number
}

export const make = () =>
  Tool.withSpec(
    Tool.make<State, Counts, Result>({
      name: "instruction_mix",
      // parallel: true and preferredShardType: "thread" are the defaults.
      makeShard: () => ({ tid: 0, instructions: 0, branches: 0, loads: 0, stores: 0, syscalls: 0 }),
      processBatch: (s, batch, start, end) => {
        // The hot path: typed arrays only, no allocation, no Effect.
        const type = batch.type
        for (let i = start; i < end; i++) {
          const t = type[i]!
          if (Record.isInstr(t)) {
            s.instructions++
            if (isBranch(t)) s.branches++
          } else if (t === TraceType.READ) s.loads++
          else if (t === TraceType.WRITE) s.stores++
          else if (t === TraceType.MARKER && batch.size[i] === MarkerType.SYSCALL) s.syscalls++
        }
        if (s.tid === 0 && batch.tid[start]! > 0) s.tid = batch.tid[start]!
        return undefined
      },
      finishShard: (s) => ({ ...s }),
      merge: (shards) => {
        const threads = shards.map((o) => o.result)
        const total = { tid: 0, instructions: 0, branches: 0, loads: 0, stores: 0, syscalls: 0 }
        for (const t of threads) {
          total.instructions += t.instructions
          total.branches += t.branches
          total.loads += t.loads
          total.stores += t.stores
          total.syscalls += t.syscalls
        }
        return { threads, total }
      },
      print: (r) => {
        const row = (name: string, c: Counts) =>
          `${name.padStart(8)} ${[c.instructions, c.branches, c.loads, c.stores, c.syscalls].map((n) => String(n).padStart(10)).join(" ")}`
        return [
          "Instruction mix tool results:",
          `${"thread".padStart(8)} ${["instrs", "branches", "loads", "stores", "syscalls"].map((h) => h.padStart(10)).join(" ")}`,
          ...r.threads.map((t) => row(String(t.tid), t)),
          row("total", r.total),
          ""
        ].join("\n")
      },
      shardResultSchema: Counts,
      resultSchema: Result
    }),
    { module: import.meta.url, export: "make", args: [] }
  )
