/**
 * CPU profiles of a section of a benchmark, taken in-process through the
 * inspector (the same data `node --cpu-prof` writes), and a summary of where
 * the main thread's time went: self time per function and per source file.
 *
 * Work Node does on its thread pool (zlib inflate/deflate) does not appear as
 * main-thread samples: the main thread shows it as `(idle)` while it waits.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import { dirname } from "node:path"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
}

export interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/** Profiles `f` (sampling every `intervalUs` microseconds). */
export const profile = async <A>(
  f: () => Promise<A>,
  intervalUs: number = 500
): Promise<{ readonly value: A; readonly profile: CpuProfile }> => {
  const session = new Session()
  session.connect()
  try {
    await session.post("Profiler.enable")
    await session.post("Profiler.setSamplingInterval", { interval: intervalUs })
    await session.post("Profiler.start")
    const value = await f()
    const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: CpuProfile }
    return { value, profile }
  } finally {
    session.disconnect()
  }
}

/** Writes the profile to `path`, making its directory if missing. */
export const save = (p: CpuProfile, path: string): void => {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(p))
}

const shortUrl = (url: string): string => {
  if (url === "") return ""
  const at = url.indexOf("/src/")
  if (at >= 0) return url.slice(at + 1)
  const nm = url.lastIndexOf("node_modules/")
  if (nm >= 0) return url.slice(nm + "node_modules/".length)
  return url.replace(/^file:\/\//, "")
}

export interface Hotspot {
  readonly name: string
  readonly ms: number
  readonly share: number
}

/** Self time by function (`name file:line`) and by file, largest first. */
export const hotspots = (
  p: CpuProfile
): { readonly totalMs: number; readonly functions: Array<Hotspot>; readonly files: Array<Hotspot> } => {
  const byId = new Map<number, ProfileNode>(p.nodes.map((n) => [n.id, n]))
  const fn = new Map<string, number>()
  const file = new Map<string, number>()
  let total = 0
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i]!)
    const us = p.timeDeltas[i] ?? 0
    if (node === undefined) continue
    const cf = node.callFrame
    const url = shortUrl(cf.url)
    // The profiler's own session calls (start/stop) are not the benchmark's.
    if (url === "node:inspector") continue
    const fkey = `${cf.functionName || "(anonymous)"}${url === "" ? "" : ` ${url}:${cf.lineNumber + 1}`}`
    fn.set(fkey, (fn.get(fkey) ?? 0) + us)
    const key = url === "" ? cf.functionName || "(native)" : url
    file.set(key, (file.get(key) ?? 0) + us)
    total += us
  }
  const list = (m: Map<string, number>) =>
    [...m]
      .map(([name, us]) => ({ name, ms: us / 1000, share: total === 0 ? 0 : us / total }))
      .sort((a, b) => b.ms - a.ms)
  return { totalMs: total / 1000, functions: list(fn), files: list(file) }
}

/** A printable top-N summary. */
export const summary = (p: CpuProfile, top: number = 15): string => {
  const h = hotspots(p)
  const line = (x: Hotspot) =>
    `  ${x.ms.toFixed(0).padStart(7)} ms ${(100 * x.share).toFixed(1).padStart(5)} %  ${x.name}`
  return [
    `main thread, ${h.totalMs.toFixed(0)} ms sampled; self time by function:`,
    ...h.functions.slice(0, top).map(line),
    "by file:",
    ...h.files.slice(0, 10).map(line)
  ].join("\n")
}
