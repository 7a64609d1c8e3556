/**
 * DynamoRIO's reference outputs (../shared/traces/expected, see its README):
 * where the traces and expected files are, which command produced each, and a
 * comparison of our text with DynamoRIO's through the team's
 * `compare_dr.py` (figure by figure, per-shard sections as sets).
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

export const TRACES = resolve(process.cwd(), "../shared/traces")
export const EXPECTED = join(TRACES, "expected")
const COMPARE = resolve(process.cwd(), "../shared/tools/compare_dr.py")

/** The trace each short name in COMMANDS.tsv refers to. */
export const TRACE_PATHS: Readonly<Record<string, string>> = {
  threadsig: join(TRACES, "drmemtrace.threadsig.x64.tracedir"),
  "threadsig-core-sharded": join(TRACES, "drmemtrace.threadsig-core-sharded.x64.tracedir"),
  "chase-snappy": join(TRACES, "drmemtrace.chase-snappy.x64.tracedir"),
  small: join(TRACES, "drmemtrace.small.x64.trace"),
  allasm_x86_64: join(TRACES, "drmemtrace.allasm_x86_64.trace.zip")
}

export interface ExpectedRun {
  readonly trace: string
  readonly tool: string
  readonly command: string
  /** The DynamoRIO tool name (`-tool`). */
  readonly drTool: string
  /** Options after `-tool X`, e.g. `["-reuse_distance_histogram"]`. */
  readonly extraOptions: ReadonlyArray<string>
  readonly expectedFile: string
}

/** Every row of COMMANDS.tsv. */
export const expectedRuns = (): Array<ExpectedRun> =>
  readFileSync(join(EXPECTED, "COMMANDS.tsv"), "utf8")
    .split("\n")
    .slice(1)
    .filter((l) => l.trim() !== "")
    .map((line) => {
      const [trace, tool, command] = line.split("\t") as [string, string, string]
      const words = command.split(/\s+/)
      const t = words.indexOf("-tool")
      const drTool = words[t + 1]!
      const extraOptions = words.slice(t + 2)
      const beforeTool = words
        .slice(1, t)
        .filter(
          (w, i, all) => !(w === "-indir" || w === "-infile" || all[i - 1] === "-indir" || all[i - 1] === "-infile")
        )
      return {
        trace,
        tool,
        command,
        drTool,
        extraOptions: [...beforeTool, ...extraOptions],
        expectedFile: join(EXPECTED, `${trace}.${tool}.txt`)
      }
    })

export const readExpected = (file: string): string => readFileSync(file, "utf8")

/** Runs compare_dr.py on DynamoRIO's file and our text. */
export const compareWithDr = (
  expectedFile: string,
  actual: string
): { readonly ok: boolean; readonly report: string } => {
  const dir = mkdtempSync(join(tmpdir(), "memtrace-expected-"))
  try {
    const actualFile = join(dir, "actual.txt")
    writeFileSync(actualFile, actual)
    const r = spawnSync("python3", [COMPARE, expectedFile, actualFile], { encoding: "utf8" })
    return { ok: r.status === 0, report: `${r.stdout}${r.stderr}` }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
