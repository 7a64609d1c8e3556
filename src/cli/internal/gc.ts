/**
 * V8 garbage-collector triggers for a trace run, applied by the `memtrace`
 * command at start-up (and by the benchmarks, which measure the command's
 * configuration).
 *
 * Why: reading a trace allocates its inflated bytes as short-lived buffers
 * (≈ 335 MiB for 30 copies of threadsig) over a small live heap (≈ 20 MiB of
 * modules and state). V8 sizes the old generation's limit from the live heap,
 * and when the room left under that limit is smaller than the young
 * generation it asks for incremental marking at once, at every opportunity:
 * a full mark-compact every ≈ 30 ms, about 18 per pass over that trace, ≈ 20 %
 * of the main thread. With percentage triggers V8 starts marking only once
 * most of the room is used: 75 → 26 mark-compacts over four passes, each pass
 * faster (docs/benchmarks.md, section 7).
 *
 * **Gotchas**
 * - V8 flags are process-wide (worker threads included) and are read when
 *   V8 decides, so setting them after start-up works; a library must not do
 *   it behind its caller's back, hence only the command (and the benchmarks)
 *   call {@link tuneGc}. Effect programs that analyze large traces can call
 *   it, or start Node with the same flags.
 */
import { setFlagsFromString } from "node:v8"

/** The flags {@link tuneGc} sets: start incremental marking at 80 % of the old generation's room, finish it by 95 %. */
export const GC_FLAGS = ["--incremental-marking-soft-trigger=80", "--incremental-marking-hard-trigger=95"] as const

/** Sets {@link GC_FLAGS} for this process. */
export const tuneGc = (): void => {
  for (const flag of GC_FLAGS) setFlagsFromString(flag)
}
