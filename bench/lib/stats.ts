/**
 * Small measuring helpers for the benchmarks: wall time of an async step,
 * medians, and number formatting.
 */

export interface Sample {
  readonly ms: number
}

/**
 * Runs `f` and returns its result, its wall time and the CPU time the whole
 * process used meanwhile (all threads: the main thread and Node's thread
 * pool, where zlib inflates), in milliseconds.
 */
export const timed = async <A>(
  f: () => Promise<A>
): Promise<{ readonly value: A; readonly ms: number; readonly cpuMs: number }> => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  const value = await f()
  const ms = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { value, ms, cpuMs: (used.user + used.system) / 1000 }
}

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** 12,345,678 → "12.35 M". */
export const mega = (n: number): string => `${(n / 1e6).toFixed(2)} M`

export const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(1)} MiB`

export const pad = (s: string, n: number): string => (s.length >= n ? s : s + " ".repeat(n - s.length))
export const lpad = (s: string, n: number): string => (s.length >= n ? s : " ".repeat(n - s.length) + s)

/** A plain text table with a header row; the first column left-aligned, the others right-aligned. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows
    .map((r) => r.map((cell, c) => (c === 0 ? pad(cell, widths[c]!) : lpad(cell, widths[c]!))).join("  "))
    .join("\n")
}
