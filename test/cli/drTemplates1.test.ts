/**
 * DynamoRIO's release tests of its analyzer on the traces memtrace has
 * (`torunonly_simtool(NAME …)` in suite/tests/CMakeLists.txt, DynamoRIO commit
 * 05e316505beb69586142243af1647449945772b7), ported one `it` per test, named
 * after it: each runs memtrace's command line with DynamoRIO's exact options
 * (`${thread_trace_dir}` is ../shared/traces/drmemtrace.threadsig.x64.tracedir,
 * `${thread_trace_scale}` is `-sched_block_scale 0.01`) and checks the whole
 * output against DynamoRIO's clients/drcachesim/tests/NAME.templatex (or
 * NAME.expect), copied below verbatim.
 *
 * How DynamoRIO checks a test (suite/tests/CMakeLists.txt `torun`, and
 * runmulti.cmake, which `torunonly_simtool` sets as the test's runcmp script
 * on UNIX):
 * - The expected text: a `.expect` is literal text, whose characters
 *   `\ ^ $ . * + ? | ( ) [ ; ]` are escaped with a backslash (`NOT
 *   ALREADY_REGEX`); a `.templatex` is a regular expression as is when the test
 *   sets `_rawtemp`, else it first goes through `template2expect` (cpp, then
 *   `//` comment lines and blank lines removed, `@&` → space, `@@` removed).
 *   Note the test `schedule_stats_maxcores` sets `schedule_stats_nopreempt_rawtemp`
 *   (sic): its own template goes through `template2expect`, which removes its
 *   `// Ensure 2 cores start idle.` line.
 * - runmulti.cmake runs the command, concatenates its stderr and stdout
 *   (`process_cmdline`: `${cmd_err}${cmd_out}`), fails on a non-zero exit
 *   status, and fails unless `"${tomatch}" MATCHES "^${str}$"`.
 * - CMake's regular expressions (cmsys RegularExpression, Henry Spencer's
 *   engine) are not JavaScript's: `.` and `[^…]` match a newline too, `^` and
 *   `$` match only at the start and the end of the whole text, `\c` is the
 *   literal `c` (there is no `\d`, `\n`, …), a backslash inside `[…]` is
 *   literal, and `{`, `}` are literal. `cmakeFullMatch` below implements that
 *   syntax and matches by NFA simulation: the same language as Spencer's
 *   backtracking (which explores every alternative), without JavaScript's
 *   exponential backtracking over a dozen `.*` on a failing output.
 *
 * The conversion and the matching were checked against cmake 3.25 itself
 * (`MATCHES` on the same outputs and templates): same verdicts.
 *
 * memtrace prints its results on stdout where DynamoRIO prints them on stderr;
 * the concatenation is the same when memtrace's stderr is empty (no progress
 * bar: CI=true).
 *
 * Not ported here: histogram, reuse_distance, basic_counts (they trace a live
 * application), schedule_stats_noise_generator (`-add_noise_generator`, which
 * memtrace refuses as unsupported), the kernel-sequence, invariant_checker and
 * core-sharded-on-disk tests (test/cli/drTemplates2.test.ts).
 */
import { spawn } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

const TRACES = "../shared/traces"
/** `${thread_trace_dir}`. */
const THREADSIG = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
/** `${small_trace_file}`. */
const SMALL = `${TRACES}/drmemtrace.small.x64.trace`
/** `${thread_trace_scale}`. */
const SCALE = "-sched_block_scale 0.01"
/** `${cpu_sched_path}`. */
const CPU_SCHED = `${THREADSIG}/cpu_schedule.bin.zip`

// ---------------------------------------------------------------------------
// CMake's regular expressions (cmsys/RegularExpression.cxx).

type Node =
  | { readonly t: "set"; readonly test: (c: number) => boolean; readonly src: number }
  | { readonly t: "bol" | "eol"; readonly src: number }
  | { readonly t: "alt"; readonly alts: ReadonlyArray<ReadonlyArray<Node>> }
  | { readonly t: "rep"; readonly node: Node; readonly op: "*" | "+" | "?" }

/** regcomp: alternatives of sequences of (repeated) atoms. */
const parseCmakeRegex = (re: string): ReadonlyArray<ReadonlyArray<Node>> => {
  let i = 0
  const alternation = (): ReadonlyArray<ReadonlyArray<Node>> => {
    const alts: Array<Array<Node>> = [[]]
    while (i < re.length && re[i] !== ")") {
      if (re[i] === "|") {
        i++
        alts.push([])
        continue
      }
      let node = atom()
      while (re[i] === "*" || re[i] === "+" || re[i] === "?") {
        if (node.t === "rep") throw new Error(`nested *?+ at ${i}`)
        node = { t: "rep", node, op: re[i++] as "*" | "+" | "?" }
      }
      alts[alts.length - 1]!.push(node)
    }
    return alts
  }
  const literal = (x: number, src: number): Node => ({ t: "set", test: (y) => y === x, src })
  const atom = (): Node => {
    const src = i
    const c = re[i++]!
    switch (c) {
      case "^":
        return { t: "bol", src }
      case "$":
        return { t: "eol", src }
      case ".":
        // ANY: every character but NUL, newlines included.
        return { t: "set", test: (x) => x !== 0, src }
      case "(": {
        const alts = alternation()
        if (re[i++] !== ")") throw new Error("unmatched ()")
        return { t: "alt", alts }
      }
      case "*":
      case "+":
      case "?":
        throw new Error(`?+* follows nothing at ${src}`)
      case "\\":
        // Any escaped character is itself.
        if (i >= re.length) throw new Error("trailing \\")
        return literal(re.charCodeAt(i++), src)
      case "[": {
        // No escapes inside brackets; a leading ']' or '-' is literal, as is a trailing '-'.
        const negate = re[i] === "^"
        if (negate) i++
        const chars = new Set<number>()
        if (re[i] === "]" || re[i] === "-") chars.add(re.charCodeAt(i++))
        while (i < re.length && re[i] !== "]") {
          if (re[i] === "-") {
            i++
            if (i >= re.length || re[i] === "]") chars.add(45)
            else {
              // The range runs from the character before the dash.
              const from = re.charCodeAt(i - 2) + 1
              const to = re.charCodeAt(i++)
              if (from > to + 1) throw new Error("invalid [] range")
              for (let x = from; x <= to; x++) chars.add(x)
            }
          } else chars.add(re.charCodeAt(i++))
        }
        if (re[i++] !== "]") throw new Error("unmatched []")
        return { t: "set", test: negate ? (x) => x !== 0 && !chars.has(x) : (x) => chars.has(x), src }
      }
      default:
        return literal(c.charCodeAt(0), src)
    }
  }
  const alts = alternation()
  if (i < re.length) throw new Error("unmatched ()")
  return alts
}

interface NfaState {
  readonly kind: "set" | "split" | "bol" | "eol" | "match"
  readonly test?: (c: number) => boolean
  /** Offset of the atom in the regex (-1 for structural states). */
  readonly src: number
  out: number
  out2: number
}

/** Thompson's construction. */
const compileNfa = (alts: ReadonlyArray<ReadonlyArray<Node>>) => {
  const states: Array<NfaState> = []
  const add = (kind: NfaState["kind"], src: number, out = -1, out2 = -1, test?: (c: number) => boolean) =>
    states.push({ kind, src, out, out2, ...(test === undefined ? {} : { test }) }) - 1
  type Hole = { readonly s: number; readonly which: "out" | "out2" }
  type Frag = { readonly start: number; readonly holes: ReadonlyArray<Hole> }
  const fill = (holes: ReadonlyArray<Hole>, to: number) => {
    for (const h of holes) states[h.s]![h.which] = to
  }
  const seq = (nodes: ReadonlyArray<Node>): Frag => {
    if (nodes.length === 0) {
      const s = add("split", -1)
      return { start: s, holes: [{ s, which: "out" }] }
    }
    let f = node(nodes[0]!)
    for (const n of nodes.slice(1)) {
      const g = node(n)
      fill(f.holes, g.start)
      f = { start: f.start, holes: g.holes }
    }
    return f
  }
  const alt = (as: ReadonlyArray<ReadonlyArray<Node>>): Frag => {
    let f = seq(as[0]!)
    for (const a of as.slice(1)) {
      const g = seq(a)
      f = { start: add("split", -1, f.start, g.start), holes: [...f.holes, ...g.holes] }
    }
    return f
  }
  const node = (n: Node): Frag => {
    switch (n.t) {
      case "set": {
        const s = add("set", n.src, -1, -1, n.test)
        return { start: s, holes: [{ s, which: "out" }] }
      }
      case "bol":
      case "eol": {
        const s = add(n.t, n.src)
        return { start: s, holes: [{ s, which: "out" }] }
      }
      case "alt":
        return alt(n.alts)
      case "rep": {
        const f = node(n.node)
        const s = add("split", -1, f.start, -1)
        if (n.op === "?") return { start: s, holes: [...f.holes, { s, which: "out2" }] }
        fill(f.holes, s)
        return { start: n.op === "*" ? s : f.start, holes: [{ s, which: "out2" }] }
      }
    }
  }
  const f = alt(alts)
  fill(f.holes, add("match", -1))
  return { states, start: f.start }
}

interface MatchResult {
  readonly matched: boolean
  /** The furthest regex offset any path reached, and the text offset where it first got there. */
  readonly regexOffset: number
  readonly textOffset: number
}

/** CMake's `"${text}" MATCHES "^${re}$"`. */
const cmakeFullMatch = (re: string, text: string): MatchResult => {
  const { states, start } = compileNfa(parseCmakeRegex(re))
  const mark = new Int32Array(states.length).fill(-1)
  let far = -1
  let farAt = 0
  const closure = (list: Array<number>, from: number, pos: number) => {
    const stack = [from]
    while (stack.length > 0) {
      const k = stack.pop()!
      if (k < 0 || mark[k] === pos) continue
      mark[k] = pos
      const st = states[k]!
      if (st.src > far) {
        far = st.src
        farAt = pos
      }
      if (st.kind === "split") stack.push(st.out2, st.out)
      else if (st.kind === "bol") {
        if (pos === 0) stack.push(st.out)
      } else if (st.kind === "eol") {
        if (pos === text.length) stack.push(st.out)
      } else list.push(k)
    }
  }
  let cur: Array<number> = []
  closure(cur, start, 0)
  for (let pos = 0; pos < text.length && cur.length > 0; pos++) {
    const c = text.charCodeAt(pos)
    const next: Array<number> = []
    for (const k of cur) {
      const st = states[k]!
      if (st.kind === "set" && st.test!(c)) closure(next, st.out, pos + 1)
    }
    cur = next
  }
  return { matched: cur.some((k) => states[k]!.kind === "match"), regexOffset: far, textOffset: farAt }
}

// ---------------------------------------------------------------------------
// The expected text, as DynamoRIO's CMake turns it into a regular expression.

type Expected =
  | { readonly kind: "expect"; readonly text: string }
  | { readonly kind: "templatex"; readonly text: string; readonly rawtemp: boolean }

/** A `.expect` file: literal text (`string(REGEX REPLACE … "\\\\\\1" …)` in `torun`). */
const expectToRegex = (text: string): string => text.replace(/[\\^$.*+?|()[;]/g, "\\$&").replace(/]/g, "\\]")

/**
 * `template2expect` for a template without preprocessor directives: cpp
 * (`-E -P -traditional-cpp`) leaves such a text as it is (none of these
 * templates names a macro of DynamoRIO's build or of the run's options), then
 * CMake removes `//` comment lines and blank lines, turns `@&` into a space,
 * removes `@@`, and cuts the text at a `STOP` line.
 */
const template2expect = (text: string): string => {
  if (/^\s*#/m.test(text) || text.includes("/*")) throw new Error("the template needs a C preprocessor")
  return text
    .replace(/(\r?\n)\/\/[^\n]*/g, "")
    .replace(/^\/\/[^\n]*/, "")
    .replace(/(\r?\n)+/g, "$1")
    .replace(/^(\r?\n)+/, "")
    .replace(/@&/g, " ")
    .replace(/@@/g, "")
    .replace(/\n *STOP\n[\s\S]*$/, "\n")
}

const toRegex = (e: Expected): string =>
  e.kind === "expect" ? expectToRegex(e.text) : e.rawtemp ? e.text : template2expect(e.text)

// ---------------------------------------------------------------------------
// runmulti.cmake with memtrace's command line.

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** The `memtrace` command (bin/memtrace.js) through the pinned Node, without a progress bar. */
const memtrace = (args: ReadonlyArray<string>) =>
  Effect.callback<Ran>((resume) => {
    const child = spawn(process.execPath, ["bin/memtrace.js", ...args], {
      env: { ...process.env, CI: "true" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Line `n` (1-based) of `text` holding `offset`, and that line. */
const lineAt = (text: string, offset: number) => {
  const n = text.slice(0, Math.max(0, offset)).split("\n").length
  return { n, line: text.split("\n")[n - 1] ?? "" }
}

/** Runs DynamoRIO's option line and asserts runmulti.cmake's checks. */
const runmulti = (ops: string, expected: Expected) => Effect.map(runmultiText(ops, expected), () => undefined)

/** `runmulti`, returning the matched output. */
const runmultiText = (ops: string, expected: Expected) =>
  Effect.gen(function* () {
    const r = yield* memtrace(ops.trim().split(/\s+/))
    const tomatch = r.stderr + r.stdout
    assert.strictEqual(r.code, 0, `exit status ${r.code}; stderr: ${r.stderr}`)
    const regex = toRegex(expected)
    const m = cmakeFullMatch(regex, tomatch)
    if (!m.matched) {
      // Where the match got stuck: the furthest template line reached, and the output there.
      const t = lineAt(regex, m.regexOffset)
      const o = lineAt(tomatch, m.textOffset)
      const around = tomatch
        .split("\n")
        .slice(Math.max(0, o.n - 3), o.n + 2)
        .join("\n")
      assert.fail(
        `the output does not match the template: the template matched up to its line ${t.n} ` +
          `${JSON.stringify(t.line)}, first reached at the output's line ${o.n} ${JSON.stringify(o.line)}:\n${around}`
      )
    }
    return tomatch
  })

// ---------------------------------------------------------------------------
// DynamoRIO's clients/drcachesim/tests/ files, verbatim.

/** clients/drcachesim/tests/reuse_offline.expect */
const REUSE_OFFLINE = `Reuse distance tool aggregated results:
Total accesses: 229
Instruction accesses: 173
Data accesses: 56
Unique accesses: 126
Unique cache lines accessed: 5
Distance limit: 0
Pruned addresses: 0
Pruned address hits: 0

Reuse distance mean: 1.42
Reuse distance median: 1
Reuse distance standard deviation: 1.64
Reuse distance histogram bin multiplier: 1.00
Reuse distance histogram:
                      All References       :            Data References
Distance       Count  Percent  Cumulative  :       Count  Percent  Cumulative
       0         103   45.98%   45.98%     :           0    0.00%    0.00%
       1          42   18.75%   64.73%     :           0    0.00%    0.00%
       2          13    5.80%   70.54%     :          13    5.80%    5.80%
       3          13    5.80%   76.34%     :           0    0.00%    5.80%
       4          53   23.66%  100.00%     :          40   17.86%   23.66%

Reuse distance threshold = 100 cache lines
Top 10 frequently referenced cache lines
        cache line:     #references   #distant refs
          0x400100:          114,            0
          0x400140:           59,            0
    0x7fff413f5bc0:           28,            0
    0x7fff413f5c00:           14,            0
    0x7fff413f5c40:           14,            0
Top 10 distant repeatedly referenced cache lines
        cache line:     #references   #distant refs
          0x400100:          114,            0
          0x400140:           59,            0
    0x7fff413f5bc0:           28,            0
    0x7fff413f5c00:           14,            0
    0x7fff413f5c40:           14,            0
`

/** clients/drcachesim/tests/reuse_offline_threads.templatex */
const REUSE_OFFLINE_THREADS = String.raw`Reuse distance tool aggregated results:
Total accesses: [0-9]+
Instruction accesses: [0-9]+
Data accesses: [0-9]+
Unique accesses: [0-9]+
Unique cache lines accessed: [0-9]+
Distance limit: 0
Pruned addresses: 0
Pruned address hits: 0

Reuse distance mean: [0-9.]+
Reuse distance median: 1
Reuse distance standard deviation: [0-9.]+
Reuse distance histogram bin multiplier: [0-9.]+
Reuse distance histogram:
                      All References       :            Data References
Distance       Count  Percent  Cumulative  :       Count  Percent  Cumulative
       0     *[0-9]+  *[0-9.]+%  *[0-9.]+%     :     *[0-9]+   *[0-9.]+%   *[0-9.]+%
       1     *[0-9]+  *[0-9.]+%  *[0-9.]+%     :     *[0-9]+   *[0-9.]+%   *[0-9.]+%
.*
Reuse distance threshold = 100 cache lines
Top 10 frequently referenced cache lines
        cache line:     #references   #distant refs
    0x[0-9a-f]+:      *[0-9]+,         *[0-9]+
    0x[0-9a-f]+:      *[0-9]+,         *[0-9]+
.*
Top 10 distant repeatedly referenced cache lines
        cache line:     #references   #distant refs
    0x[0-9a-f]+:      *[0-9]+,         *[0-9]+
    0x[0-9a-f]+:      *[0-9]+,         *[0-9]+
.*==================================================
Reuse distance tool results for shard [0-9]+ \(thread [0-9]+\):
Total accesses: [0-9]+
Instruction accesses: [0-9]+
Data accesses: [0-9]+
Unique accesses: [0-9]+
Unique cache lines accessed: [0-9]+
Distance limit: 0
Pruned addresses: 0
Pruned address hits: 0

Reuse distance mean: [0-9.]+
Reuse distance median: [0-9]+
Reuse distance standard deviation: [0-9.]+
Reuse distance histogram bin multiplier: [0-9.]+
Reuse distance histogram:
                      All References       :            Data References
Distance       Count  Percent  Cumulative  :       Count  Percent  Cumulative
       0     *[0-9]+  *[0-9.]+%  *[0-9.]+%     :     *[0-9]+   *[0-9.]+%   *[0-9.]+%
       1     *[0-9]+  *[0-9.]+%  *[0-9.]+%     :     *[0-9]+   *[0-9.]+%   *[0-9.]+%
.*
`

/** clients/drcachesim/tests/reuse_time_offline.templatex */
const REUSE_TIME_OFFLINE = String.raw`Reuse time tool aggregated results:
Total accesses: [0-9]+
Total instructions: [0-9]+
Mean reuse time: [0-9.]+
Reuse time histogram:
Distance *Count *Percent *Cumulative
       1    *[0-9]+  *[0-9.]+%  *[0-9.]+%
       2    *[0-9]+  *[0-9.]+%  *[0-9.]+%
.*
==================================================
Reuse time tool results for shard [0-9]+ \(thread [0-9]+\):
Total accesses: [0-9]+
Total instructions: [0-9]+
Mean reuse time: [0-9.]+
Reuse time histogram:
Distance *Count *Percent *Cumulative
       1    *[0-9]+  *[0-9.]+%  *[0-9.]+%
       2    *[0-9]+  *[0-9.]+%  *[0-9.]+%
.*
`

/** clients/drcachesim/tests/counts_only_thread.templatex */
const COUNTS_ONLY_THREAD = `Basic counts tool results:
Total counts:
.*
           1 total threads
.*
`

/** clients/drcachesim/tests/schedule_stats_nopreempt.templatex */
const SCHEDULE_STATS_NOPREEMPT = String.raw`Schedule stats tool results:
Total counts:
           4 cores
           9 threads: W0.T872.*
      650576 instructions
          21 total context switches
   0.0322791 CSPKI \(context switches per 1000 instructions\)
       30980 instructions per context switch
          21 voluntary context switches
           0 direct context switches
           0 context switch sequence injections
           0 system call sequence injections
      100.00% voluntary switches
        0.00% direct switches
           5 switches input-to-input
          16 switches input-to-idle
          13 switches idle-to-input
           0 switches nop-ed
           0 quantum_preempts
           0 migrations
           1 work steals
           1 rebalances
           0 output limits hit
         480 system calls
         183 maybe-blocking system calls
           0 direct switch requests
           0 observed migrations
           0 waits
    *[0-9]* idles
     *[0-9\.]*% cpu busy by record count
   *[0-9]* cpu microseconds
   *[0-9]* wait microseconds
   *[0-9]* idle microseconds
   *[0-9]* idle microseconds at last instr
      *[0-9\.]*% cpu busy by time
      *[0-9\.]*% cpu busy by time, ignoring idle past last instr
  Instructions per context switch histogram:
           0..   50000    15
       50000..  100000     6
  Thread W0.T.* instructions per context switch histogram:
.*
  Cores per thread:
           1..       2     9
  Latencies for syscalls that incurred a switch:
.*
  Latencies for syscalls that did not incur a switch:
.*
Core #0 counts:
           . threads: W0.T872.*
      *[0-9]* instructions
      *[0-9]* total context switches
   0\.0[0-9\.]* CSPKI \(context switches per 1000 instructions\)
      *[0-9]* instructions per context switch
      *[0-9]* voluntary context switches
           0 direct context switches
           0 context switch sequence injections
           0 system call sequence injections
      100\.00% voluntary switches
        0\.00% direct switches
.*
Core #1 counts:
           . threads: W0.T872.*
      *[0-9]* instructions
      *[0-9]* total context switches
   0\.0[0-9\.]* CSPKI \(context switches per 1000 instructions\)
      *[0-9]* instructions per context switch
      *[0-9]* voluntary context switches
           0 direct context switches
           0 context switch sequence injections
           0 system call sequence injections
      100\.00% voluntary switches
        0\.00% direct switches
.*
Core #2 counts:
           . threads: W0.T872.*
      *[0-9]* instructions
      *[0-9]* total context switches
   0\.0[0-9\.]* CSPKI \(context switches per 1000 instructions\)
      *[0-9]* instructions per context switch
      *[0-9]* voluntary context switches
           0 direct context switches
           0 context switch sequence injections
           0 system call sequence injections
      100\.00% voluntary switches
        0\.00% direct switches
.*
Core #3 counts:
           . threads: W0.T872.*
      *[0-9]* instructions
      *[0-9]* total context switches
   0\.0[0-9\.]* CSPKI \(context switches per 1000 instructions\)
      *[0-9]* instructions per context switch
      *[0-9]* voluntary context switches
           0 direct context switches
           0 context switch sequence injections
           0 system call sequence injections
      100\.00% voluntary switches
        0\.00% direct switches
.*
Core #0 schedule: [A-Ia-i_]*
Core #1 schedule: [A-Ia-i_]*
Core #2 schedule: [A-Ia-i_]*
Core #3 schedule: [A-Ia-i_]*
Core #0 switch-outs:
    0 W0.T[0-9]* @.*
Core #1 switch-outs:
    0 W0.T[0-9]* @.*
Core #2 switch-outs:
    0 W0.T[0-9]* @.*
Core #3 switch-outs:
    0 W0.T[0-9]* @.*
.*
`

/** clients/drcachesim/tests/schedule_stats_maxcores.templatex */
const SCHEDULE_STATS_MAXCORES = `Schedule stats tool results:
Total counts:
           4 cores
.*
      *[1-9][0-9]* output limits hit
.*
Core #0 counts:
.*
      *[1-9][0-9]* output limits hit
.*
Core #1 counts:
.*
      *[1-9][0-9]* output limits hit
.*
Core #2 counts:
.*
      *[1-9][0-9]* output limits hit
.*
Core #3 counts:
.*
      *[1-9][0-9]* output limits hit
.*
// Ensure 2 cores start idle.
Core #0 schedule: [A-I][A-Ia-i_]*
Core #1 schedule: [A-Z][A-Ia-i_]*
Core #2 schedule: _[A-Ia-i_]*
Core #3 schedule: _[A-Ia-i_]*
Core #0 switch-outs:
.*
Max activity ratio between cores: .*
Max instruction ratio between cores: .*
`

/** clients/drcachesim/tests/core_serial.templatex */
const CORE_SERIAL = String.raw`Schedule stats tool results:
Total counts:
           4 cores
           9 threads: W0.T872.*
      650576 instructions
          21 total context switches
   0.0322791 CSPKI \(context switches per 1000 instructions\)
       30980 instructions per context switch
          21 voluntary context switches
           0 direct context switches
           0 context switch sequence injections
           0 system call sequence injections
      100.00% voluntary switches
        0.00% direct switches
           8 switches input-to-input
          20 switches input-to-idle
          20 switches idle-to-input
           0 switches nop-ed
           0 quantum_preempts
           0 migrations
           0 work steals
           0 rebalances
           0 output limits hit
         480 system calls
         183 maybe-blocking system calls
           0 direct switch requests
           0 observed migrations
           0 waits
   *[0-9]* idles
   *[0-9\.]*% cpu busy by record count
    [0-9 ]* cpu microseconds
    [0-9 ]* wait microseconds
    [0-9 ]* idle microseconds
    [0-9 ]* idle microseconds at last instr
    [0-9\. ]*% cpu busy by time
    [0-9\. ]*% cpu busy by time, ignoring idle past last instr
  Instructions per context switch histogram:
           0..   50000    15
       50000..  100000     6
  Thread W0.T.* instructions per context switch histogram:
.*
  Cores per thread:
           1..       2     9
  Latencies for syscalls that incurred a switch:
.*
  Latencies for syscalls that did not incur a switch:
.*
Core #0 counts:
.*
Core #1 counts:
.*
Core #2 counts:
.*
Core #3 counts:
.*
Core #0 schedule: [A-I_]*
Core #1 schedule: [A-I_]*
Core #2 schedule: [A-I_]*
Core #3 schedule: [A-I_]*
Core #0 switch-outs:
    0 W0.T[0-9]* @.*
Core #1 switch-outs:
    0 W0.T[0-9]* @.*
Core #2 switch-outs:
    0 W0.T[0-9]* @.*
Core #3 switch-outs:
    0 W0.T[0-9]* @.*
.*

===========================================================================
Basic counts tool results:
Total counts:
      650576 total \(fetched\) instructions
        6360 total unique \(fetched\) instructions
         126 total non-fetched instructions
           0 total prefetches
      172208 total data loads
      100150 total data stores
           0 total icache flushes
           0 total dcache flushes
           9 total threads
        3314 total timestamp \+ cpuid markers
   *[0-9]* total idle markers
           0 total wait markers
         530 total kernel transfer markers
          49 total function id markers
           0 total function return address markers
         144 total function argument markers
          25 total function return value markers
           0 total physical address \+ virtual address marker pairs
           0 total physical address unavailable markers
         480 total system call number markers
         183 total blocking system call markers
           0 total skipped memref markers
         316 total other markers
       21842 total encodings
Core [0-9] counts:
.*
Core [0-9] counts:
.*
Core [0-9] counts:
.*
Core [0-9] counts:
.*
`

/** clients/drcachesim/tests/simulate_as_traced.templatex */
const SIMULATE_AS_TRACED = String.raw`Cache simulation results:
Core #0 \(traced CPU\(s\): #0\)
  L1I0 \(size=32768, assoc=8, block=64, LRU\) stats:
.*
Core #10 \(traced CPU\(s\): #11\)
.*
LL \(size=8388608, assoc=16, block=64, LRU\) stats:
.*
`

/** clients/drcachesim/tests/skip_to_timestamp.templatex */
const SKIP_TO_TIMESTAMP = String.raw`Basic counts tool results:
Total counts:
       21363 total \(fetched\) instructions
.*
           2 total threads
.*
Thread 872805 counts:
       21301 \(fetched\) instructions
.*
Thread 872905 counts:
          62 \(fetched\) instructions
.*
`

/** clients/drcachesim/tests/multi_indir.templatex */
const MULTI_INDIR = `Schedule stats tool results:
Total counts:
           3 cores
          27 threads: .*W[012].T872902.*W[012].T872902.*W[012].T872902.*
     1951728 instructions
.*
Core #0 schedule: [A-Za-z_]*
Core #1 schedule: [A-Za-z_]*
Core #2 schedule: [A-Za-z_]*
Core #0 switch-outs:
.*
`

/** clients/drcachesim/tests/core_sharded.templatex */
const CORE_SHARDED = String.raw`Reuse time tool aggregated results:
Total accesses: 272358
Total instructions: 650576
.*
==================================================
Reuse time tool results for shard [0-9] \(core [0-9]\):
Total accesses: .*
.*
==================================================
Reuse time tool results for shard [0-9] \(core [0-9]\):
Total accesses: .*
.*
==================================================
Reuse time tool results for shard [0-9] \(core [0-9]\):
Total accesses: .*
.*
==================================================
Reuse time tool results for shard [0-9] \(core [0-9]\):
Total accesses: .*
.*
===========================================================================
Reuse distance tool aggregated results:
Total accesses: 922934
Instruction accesses: 650576
.*
==================================================
Reuse distance tool results for shard [0-9] \(core [0-9]\):
Total accesses: .*
.*
==================================================
Reuse distance tool results for shard [0-9] \(core [0-9]\):
Total accesses: .*
.*
==================================================
Reuse distance tool results for shard [0-9] \(core [0-9]\):
Total accesses: .*
.*
==================================================
Reuse distance tool results for shard [0-9] \(core [0-9]\):
Total accesses: .*
.*
===========================================================================
Cache line histogram tool results:
icache: 694 unique cache lines
dcache: 1155 unique cache lines
.*
===========================================================================
Opcode mix tool results:
         650702 : total executed instructions
         104851 :       mov
.*
===========================================================================
Syscall mix tool results:
  syscall count : syscall_num
            265 :        15
.*
`

// ---------------------------------------------------------------------------

/** What `-tool …:opcode_mix:…` adds to core_sharded's output: memtrace has no disassembler. */
const OPCODE_MIX_SECTION = `===========================================================================
Opcode mix tool results:
         650702 : total executed instructions
         104851 :       mov
.*
`

const templatex = (text: string, rawtemp: boolean): Expected => ({ kind: "templatex", text, rawtemp })

describe("the template conversion", () => {
  // Each case was checked with cmake 3.25's `if ("${text}" MATCHES "${regex}")`.
  const cases: ReadonlyArray<readonly [regex: string, text: string, matches: boolean]> = [
    ["^a.b$", "a\nb", true], // '.' matches a newline
    [String.raw`^\(x\)$`, "(x)", true],
    [String.raw`^a[\]$`, "a\\", true], // a backslash in brackets is itself
    ["^a{2}$", "a{2}", true], // braces are literal
    ["^a{2}$", "aa", false],
    [String.raw`^\d$`, "d", true], // an escaped character is itself
    [String.raw`^\n$`, "n", true],
    ["^[^z]*$", "x\ny", true], // so is a newline in a negated class
    ["^ab$", "ab\nc", false], // '$' is the end of the text only
    ["^ab\n^c$", "ab\nc", false] // '^' is its start only
  ]
  it("reads CMake's regular expressions as cmake does", () => {
    for (const [regex, text, matches] of cases)
      assert.strictEqual(cmakeFullMatch(regex, text).matched, matches, `${JSON.stringify(text)} MATCHES ${regex}`)
  })
  it("escapes a .expect file into a regular expression matching its text alone", () => {
    const text = "a.b (c) [d]* e+f? g|h ^i$ j;k \\l {m}\n"
    assert.isTrue(cmakeFullMatch(expectToRegex(text), text).matched)
    assert.isFalse(cmakeFullMatch(expectToRegex(text), text.replace(".", "x")).matched)
  })
  it("removes // comment lines and blank lines from a preprocessed template; @& is a space, @@ keeps a blank line", () => {
    assert.strictEqual(template2expect("a\n// c\n\nb@&\n@@\nc\n"), "a\nb \n\nc\n")
  })
})

describe("DynamoRIO torunonly_simtool tests (suite/tests/CMakeLists.txt) on memtrace's command line", () => {
  it.live("reuse_offline", () =>
    runmulti(`-infile ${SMALL} -tool reuse_distance -reuse_distance_histogram`, {
      kind: "expect",
      text: REUSE_OFFLINE
    })
  )

  it.live("reuse_offline_threads", () =>
    runmulti(
      `-indir ${THREADSIG} -tool reuse_distance -reuse_distance_histogram`,
      templatex(REUSE_OFFLINE_THREADS, true)
    )
  )

  it.live("reuse_time_offline", () =>
    runmulti(`-indir ${THREADSIG} -tool reuse_time`, templatex(REUSE_TIME_OFFLINE, true))
  )

  it.live("counts_only_thread", () =>
    runmulti(
      `-indir ${THREADSIG} -tool basic_counts -only_thread 872906 -skip_instrs 10`,
      templatex(COUNTS_ONLY_THREAD, true)
    )
  )

  // Each worker's release deactivates its output, where DynamoRIO's analyzer deactivates only
  // failing workers: once every input has ended, that deactivation must not count a rebalance
  // (DynamoRIO prints 1).
  it.live("schedule_stats_nopreempt", () =>
    runmulti(
      `-indir ${THREADSIG} ${SCALE} -tool schedule_stats -core_sharded -sched_quantum 10000000`,
      templatex(SCHEDULE_STATS_NOPREEMPT, true)
    )
  )

  it.live("schedule_stats_maxcores", () =>
    // Not rawtemp: DynamoRIO's CMakeLists sets schedule_stats_nopreempt_rawtemp here (sic).
    runmulti(
      `-indir ${THREADSIG} ${SCALE} -tool schedule_stats -core_sharded -sched_max_cores 2 -sched_random_initial_layout -1`,
      templatex(SCHEDULE_STATS_MAXCORES, false)
    )
  )

  // One documented difference (docs/guides/migrating-from-drmemtrace.md): DynamoRIO's core-serial
  // schedule_stats reads the scheduler's statistics from its one lockstep stream, so every core
  // shows those of the output the stream ended on, and the totals are 4 × that core's. memtrace
  // shows each core's own. So the five total lines of scheduler statistics are matched as numbers,
  // the totals must be the sums of the cores' own, and one core must have DynamoRIO's figures
  // (its totals / 4); the rest of the template is matched as it is.
  it.live("core_serial", () =>
    Effect.gen(function* () {
      const STATS = [
        ["8", "switches input-to-input"],
        ["20", "switches input-to-idle"],
        ["20", "switches idle-to-input"],
        ["0", "work steals"],
        ["0", "rebalances"]
      ] as const
      let template: string = CORE_SERIAL
      for (const [n, what] of STATS) {
        const line = `${n.padStart(12)} ${what}\n`
        assert.include(template, line)
        template = template.replace(line, ` *[0-9]+ ${what}\n`)
      }
      const out = yield* runmultiText(
        `-indir ${THREADSIG} ${SCALE} -tool schedule_stats:basic_counts -core_serial`,
        templatex(template, true)
      )
      const sections = out.split(/^(?=Total counts:|Core #\d+ counts:)/m).slice(1)
      const statOf = (section: string, what: string) =>
        Number(new RegExp(`^ *([0-9]+) ${what}$`, "m").exec(section)?.[1] ?? Number.NaN)
      const total = sections.find((x) => x.startsWith("Total counts:"))!
      const cores = sections.filter((x) => x.startsWith("Core #"))
      assert.strictEqual(cores.length, 4)
      for (const [, what] of STATS) {
        assert.strictEqual(
          statOf(total, what),
          cores.reduce((a, c) => a + statOf(c, what), 0),
          what
        )
      }
      const drPerCore = STATS.map(([n]) => Number(n) / 4)
      assert.isTrue(
        cores.some((c) => STATS.every(([, what], k) => statOf(c, what) === drPerCore[k])),
        "no core has DynamoRIO's per-core statistics"
      )
    })
  )

  it.live("simulate_as_traced", () =>
    runmulti(
      `-indir ${THREADSIG} -core_serial -cpu_schedule_file ${CPU_SCHED} -cores 11`,
      templatex(SIMULATE_AS_TRACED, true)
    )
  )

  it.live("skip_to_timestamp", () =>
    runmulti(
      `-indir ${THREADSIG} -tool basic_counts -skip_to_timestamp 13386385969691570 -cpu_schedule_file ${CPU_SCHED}`,
      templatex(SKIP_TO_TIMESTAMP, true)
    )
  )

  it.live("multi_indir", () =>
    runmulti(
      `-multi_indir ${THREADSIG}:${THREADSIG}:${THREADSIG} ${SCALE} -tool schedule_stats -cores 3 -sched_exit_if_fraction_inputs_left 0`,
      templatex(MULTI_INDIR, true)
    )
  )

  it.live("core_sharded (without opcode_mix)", () => {
    // Adaptation: DynamoRIO runs -tool reuse_time:reuse_distance:histogram:opcode_mix:syscall_mix.
    // opcode_mix needs a disassembler, which memtrace lacks (it refuses the tool): it is
    // left out of -tool, and its section (the only lines it adds) out of the template.
    assert.include(CORE_SHARDED, OPCODE_MIX_SECTION)
    return runmulti(
      `-indir ${THREADSIG} ${SCALE} -tool reuse_time:reuse_distance:histogram:syscall_mix -core_sharded`,
      templatex(CORE_SHARDED.replace(OPCODE_MIX_SECTION, ""), true)
    )
  })
})
