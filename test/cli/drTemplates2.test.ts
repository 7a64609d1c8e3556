/**
 * DynamoRIO's release tests that analyze the kernel-sequence files, the
 * threadsig trace with injected kernel code, the core-sharded-on-disk trace,
 * the chase-snappy trace and the as-traced cpu schedule
 * (suite/tests/CMakeLists.txt of DynamoRIO commit 05e316505beb, the commit the
 * shared traces come from), ported: memtrace's command line runs with
 * DynamoRIO's options on the same trace files, and its whole output must match
 * the test's clients/drcachesim/tests/<name>.templatex as DynamoRIO's CMake
 * matches it. A failing case documents a difference from DynamoRIO.
 *
 * How DynamoRIO's suite turns a .templatex into the regex it applies (torun()
 * in suite/tests/CMakeLists.txt, then runmulti.cmake or ctest):
 * - With `<key>_rawtemp` set (the torunonly_simtool tests here, and the
 *   as-traced ones), the file is the regex as read (file(READ)).
 * - Without it, template2expect() runs `cpp -E -P -traditional-cpp` with the
 *   build's defines and `-D` forms of the run's options, then drops lines
 *   starting with `//` and every blank line, strips leading newlines and turns
 *   `@&` into a space and `@@` into nothing (plus SEC_VIO_*, OUT_OF_MEMORY and
 *   STOP rewrites). {@link template2expect} does these steps and refuses a
 *   template the preprocessor would change (directives, comments, macro names),
 *   which none of these is (checked with gcc's cpp).
 * - runmulti.cmake (torunonly_simtool, and any test with `_runcmp` set): the
 *   text to match is the precmd's output, then the command's stderr followed by
 *   its stdout; a command that exits non-zero fails the test; it passes when
 *   `"${tomatch}" MATCHES "^${str}$"`.
 * - Other tests (torunonly_api): ctest's PASS_REGULAR_EXPRESSION `^${expect}$`
 *   on the test's output (stdout and stderr as they come), exit status ignored.
 *   The property is a list: a `;` would split it into alternatives (none here).
 * - CMake's regex (kwsys RegularExpression, after Henry Spencer): `.` is any
 *   character, newline included; `^` and `$` match only at the ends of the
 *   text; `\c` is the character c (no `\d`-like classes); in `[...]` a leading
 *   `]` or `-` is literal and a backslash is not an escape; `{` `}` are
 *   literals. {@link cmakeRegex} converts that syntax to a JavaScript RegExp.
 *
 * Adaptations (kept minimal): the trace paths are those of the shared traces
 * (DynamoRIO's `${PROJECT_SOURCE_DIR}/clients/drcachesim/tests/X` is
 * `../shared/traces/X`); torunonly_simtool also passes
 * `-ipc_name drtestpipe_<name>`, the pipe of online tracing, which an offline
 * run (`-indir`/`-infile`) never opens and memtrace rejects as unsupported
 * (docs/cli.md), so it is left out; the command line runs in-process
 * (`Cli.run`) with its console captured.
 *
 * Templates: DynamoRIO's, copied verbatim (BSD license, see
 * ../shared/traces/README.md).
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Cli from "../../src/cli/Cli.ts"

const TRACES = "../shared/traces"
/** thread_trace_dir */
const THREADSIG = `${TRACES}/drmemtrace.threadsig.x64.tracedir`
/** thread_trace_scale */
const SCALE = "-sched_block_scale 0.01"
/** switch_file */
const SWITCH_FILE = `${TRACES}/mock_switch_sequences.x64.zip`
/** syscall_file */
const SYSCALL_FILE = `${TRACES}/mock_syscall_sequences.x64`
/** core_sharded_dir */
const CORE_SHARDED_DIR = `${TRACES}/drmemtrace.threadsig-core-sharded.x64.tracedir`
const CHASE_SNAPPY = `${TRACES}/drmemtrace.chase-snappy.x64.tracedir`
/** cpu_sched_path */
const CPU_SCHEDULE = `${THREADSIG}/cpu_schedule.bin.zip`
const ALLASM = `${TRACES}/drmemtrace.allasm_x86_64.trace.zip`

// ---------------------------------------------------------------------------
// DynamoRIO's conversion.

/**
 * A CMake regular expression as a JavaScript RegExp matching the same texts
 * (kwsys RegularExpression.cxx: regatom/regpiece). Throws where kwsys refuses
 * the expression.
 */
const cmakeRegex = (source: string): RegExp => {
  const literal = (c: string) => (/[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c)
  let out = ""
  // Whether the last piece can take a `*`, `+` or `?` (kwsys: "?+* follows nothing", "Nested *?+").
  let operand = false
  let i = 0
  while (i < source.length) {
    const c = source[i++]!
    switch (c) {
      case ".":
        out += "[^]"
        operand = true
        break
      case "*":
      case "+":
      case "?":
        if (!operand) throw new Error(`CMake regex: ${c} follows nothing at ${i - 1}`)
        out += c
        operand = false
        break
      case "(":
      case "|":
      case "^":
      case "$":
        out += c
        operand = false
        break
      case ")":
        out += c
        operand = true
        break
      case "\\":
        if (i >= source.length) throw new Error("CMake regex: trailing backslash")
        out += literal(source[i++]!)
        operand = true
        break
      case "[": {
        let negate = false
        if (source[i] === "^") {
          negate = true
          i++
        }
        const set = new Set<number>()
        if (source[i] === "]" || source[i] === "-") set.add(source.charCodeAt(i++))
        while (i < source.length && source[i] !== "]") {
          if (source[i] === "-") {
            i++
            if (i >= source.length || source[i] === "]") set.add(0x2d)
            else {
              // From the character before the dash to this one.
              for (let k = source.charCodeAt(i - 2) + 1; k <= source.charCodeAt(i); k++) set.add(k)
              i++
            }
          } else set.add(source.charCodeAt(i++))
        }
        if (i >= source.length) throw new Error("CMake regex: unmatched []")
        i++
        const members = [...set].map((k) => `\\u${k.toString(16).padStart(4, "0")}`).join("")
        out += `[${negate ? "^" : ""}${members}]`
        operand = true
        break
      }
      default:
        out += literal(c)
        operand = true
    }
  }
  return new RegExp(out)
}

/** Macro names of DynamoRIO's build (make/configure.cmake.h) and gcc's own that could appear as words. */
const MACROS =
  /\b(AARCH64|AARCHXX|ANDROID|ARM|DEBUG|INTERNAL|LINUX|MACOS|RISCV64|UNIX|WINDOWS|X64|X86|CLANG|linux|unix|\w+___\w*)\b/

/**
 * template2expect() of suite/tests/CMakeLists.txt after its `cpp` step, for a
 * template cpp leaves as it is (checked: no directive, comment or macro name).
 */
const template2expect = (template: string): string => {
  if (/^[ \t]*#/m.test(template) || template.includes("/*") || MACROS.test(template)) {
    throw new Error("this template needs a C preprocessor")
  }
  if (/SEC_VIO_|OUT_OF_MEMORY|UNHANDLED_EXCEPTION|^ *STOP$/m.test(template)) {
    throw new Error("this template needs template2expect's message macros")
  }
  return template
    .replace(/(\r?\n)\/\/[^\n]*/g, "")
    .replace(/^\/\/[^\n]*/, "")
    .replace(/(\r?\n)+/g, "$1")
    .replace(/^(\r?\n)+/, "")
    .replace(/@&/g, " ")
    .replace(/@@/g, "")
}

// ---------------------------------------------------------------------------
// Running the command line.

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  /** Both, in the order printed (what ctest sees). */
  readonly merged: string
}

/** Runs `memtrace <line>` in-process. */
const memtrace = (line: string) =>
  Effect.gen(function* () {
    let stdout = ""
    let stderr = ""
    let merged = ""
    const console: Console.Console = Object.assign(Object.create(globalThis.console), {
      log: (...args: ReadonlyArray<unknown>) => {
        const text = `${args.join(" ")}\n`
        stdout += text
        merged += text
      },
      error: (...args: ReadonlyArray<unknown>) => {
        const text = `${args.join(" ")}\n`
        stderr += text
        merged += text
      }
    })
    const code = yield* Cli.run(line.trim().split(/\s+/)).pipe(
      Effect.provideService(Console.Console, console),
      Effect.provide(NodeServices.layer)
    )
    return { code, stdout, stderr, merged } satisfies Ran
  })

const assertMatches = (output: string, expect: string) => {
  if (!cmakeRegex(`^${expect}$`).test(output)) {
    // runmulti.cmake's message.
    assert.fail(`output |${output}| failed to match expected output |${expect}|`)
  }
}

interface Case {
  /** DynamoRIO's test name. */
  readonly test: string
  /** The .templatex (expectbase). */
  readonly template: keyof typeof TEMPLATES
  /** DynamoRIO's options for the analyzer. */
  readonly options: string
  /** Whether `<key>_rawtemp` is set (no preprocessing). */
  readonly raw: boolean
  /** runmulti.cmake (stderr then stdout, exit 0 required) or ctest's PASS_REGULAR_EXPRESSION. */
  readonly runner: "runmulti" | "ctest"
}

const check = (c: Case) =>
  Effect.gen(function* () {
    const template = TEMPLATES[c.template]
    const expect = c.raw ? template : template2expect(template)
    const r = yield* memtrace(c.options)
    if (c.runner === "runmulti") {
      assertMatches(r.stderr + r.stdout, expect)
      assert.strictEqual(r.code, 0, "runmulti.cmake fails a command that exits non-zero")
    } else {
      assert.notInclude(expect, ";", "a list of regexes")
      assertMatches(r.merged, expect)
    }
  })

// ---------------------------------------------------------------------------
// The templates (clients/drcachesim/tests/<name>.templatex), verbatim.

const TEMPLATES = {
  switch_insertion: `Schedule stats tool results:
Total counts:
           4 cores
.*
      650672 instructions
          35 total context switches
.*
          21 voluntary context switches
           0 direct context switches
          32 context switch sequence injections
           0 system call sequence injections
.*
          19 switches input-to-input
          16 switches input-to-idle
          13 switches idle-to-input
.*
`,
  switch_file_invariants: `Trace invariant checks passed
`,
  syscall_insertion: `Schedule stats tool results:
Total counts:
           4 cores
.*
      651070 instructions
.*
           0 context switch sequence injections
         480 system call sequence injections
.*
`,
  syscall_insertion_invariants: `Trace invariant checks passed
`,
  serial_invariants: `Trace invariant checks passed
`,
  syscall_insertion_core_sharded: `Schedule stats tool results:
Total counts:
           4 cores
.*
      651070 instructions
.*
           0 context switch sequence injections
         480 system call sequence injections
.*
`,
  kernel_insertion_core_invariants: `Trace invariant checks passed
`,
  syscall_file_invariants: `Trace invariant checks passed
`,
  core_on_disk: `Basic counts tool results:
Total counts:
.*
           9 total threads
.*
Core [0-3] counts:
.*
           [2-3] threads
.*
Core [0-3] counts:
.*
           [2-3] threads
.*
Core [0-3] counts:
.*
           [2-3] threads
.*
Core [0-3] counts:
.*
           [2-3] threads
.*
`,
  core_on_disk_schedule: `.*
Core #0 schedule: (WHL_L_H_L_L_L_L_W|DI_D_D__|EM_E_M_|GF_F_F_)
Core #1 schedule: (WHL_L_H_L_L_L_L_W|DI_D_D__|EM_E_M_|GF_F_F_)
Core #2 schedule: (WHL_L_H_L_L_L_L_W|DI_D_D__|EM_E_M_|GF_F_F_)
Core #3 schedule: (WHL_L_H_L_L_L_L_W|DI_D_D__|EM_E_M_|GF_F_F_)
Core #0 switch-outs:
.*
`,
  core_on_disk_invariants: `Trace invariant checks passed
`,
  only_shards: `Schedule stats tool results:
Total counts:
           2 cores
           4 threads: W0.T872904, W0.T872903, W0.T872902, W0.T872884
.*
Core #0 schedule: EM_E_M_
Core #1 schedule: GF_F_F_
Core #0 switch-outs:
.*
`,
  "offline-snappy": String.raw`Basic counts tool results:
Total counts:
     2299781 total \(fetched\) instructions
.*
Thread 23700 counts:
     1432080 \(fetched\) instructions
.*
Thread 23699 counts:
      867701 \(fetched\) instructions
.*
`,
  "offline-snappy-serial": String.raw`Cache simulation results:
.*
LL .* stats:
    Hits:                     *78[,\.]?312
.*
`,
  simulate_as_traced: String.raw`Cache simulation results:
Core #0 \(traced CPU\(s\): #0\)
  L1I0 \(size=32768, assoc=8, block=64, LRU\) stats:
.*
Core #10 \(traced CPU\(s\): #11\)
.*
LL \(size=8388608, assoc=16, block=64, LRU\) stats:
.*
`,
  skip_to_timestamp: String.raw`Basic counts tool results:
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
}

// ---------------------------------------------------------------------------
// The tests.

const simtool = (test: string, options: string, raw = true): Case => ({
  test: `tool.${test}`,
  template: test as keyof typeof TEMPLATES,
  options,
  raw,
  runner: "runmulti"
})

const CASES: ReadonlyArray<Case> = [
  // Use round-robin layout for a simpler output template.
  simtool(
    "switch_insertion",
    `-indir ${THREADSIG} ${SCALE} -tool schedule_stats -core_sharded -sched_quantum 1000 -sched_switch_file ${SWITCH_FILE} -sched_random_initial_layout -1`
  ),
  // Defined twice in the CMakeLists, with the same options.
  simtool("switch_file_invariants", `-infile ${SWITCH_FILE} -tool invariant_checker`),
  simtool("syscall_insertion", `-indir ${THREADSIG} ${SCALE} -tool schedule_stats -sched_syscall_file ${SYSCALL_FILE}`),
  // Fails (findings F1): the checker is not told of the injection and injected records' ordinals advance.
  simtool(
    "syscall_insertion_invariants",
    `-indir ${THREADSIG} ${SCALE} -tool invariant_checker -sched_syscall_file ${SYSCALL_FILE}`
  ),
  simtool("serial_invariants", `-indir ${THREADSIG} -jobs 0 -tool invariant_checker`),
  simtool(
    "syscall_insertion_core_sharded",
    `-indir ${THREADSIG} ${SCALE} -tool schedule_stats -core_sharded -sched_quantum 1000 -sched_syscall_file ${SYSCALL_FILE}`
  ),
  // Fails (findings F2): an injected sequence's last branch keeps the template's target when the
  // input's next PC is in a batch not yet read.
  simtool(
    "kernel_insertion_core_invariants",
    `-indir ${THREADSIG} ${SCALE} -tool invariant_checker -core_sharded -sched_quantum 1000 -sched_syscall_file ${SYSCALL_FILE} -sched_switch_file ${SWITCH_FILE}`
  ),
  simtool("syscall_file_invariants", `-infile ${SYSCALL_FILE} -tool invariant_checker`),
  simtool("core_on_disk", `-indir ${CORE_SHARDED_DIR} -tool basic_counts`),
  simtool("core_on_disk_schedule", `-indir ${CORE_SHARDED_DIR} -tool schedule_stats -no_core_sharded`),
  simtool("core_on_disk_invariants", `-indir ${CORE_SHARDED_DIR} -tool invariant_checker -no_core_sharded`),
  // Its CMakeLists entry sets tool.core_on_disk_rawtemp, not tool.only_shards_rawtemp: the
  // template goes through template2expect.
  simtool("only_shards", `-indir ${CORE_SHARDED_DIR} -tool schedule_stats -only_shards 2,3 -no_core_sharded`, false),
  // The as-traced cpu schedule.
  simtool("simulate_as_traced", `-indir ${THREADSIG} -core_serial -cpu_schedule_file ${CPU_SCHEDULE} -cores 11`),
  simtool(
    "skip_to_timestamp",
    `-indir ${THREADSIG} -tool basic_counts -skip_to_timestamp 13386385969691570 -cpu_schedule_file ${CPU_SCHEDULE}`
  ),
  // torunonly_api tests: no _rawtemp, no _runcmp.
  {
    test: "tool.drcacheoff.snappy_parallel",
    template: "offline-snappy",
    options: `-indir ${CHASE_SNAPPY} -tool basic_counts`,
    raw: false,
    runner: "ctest"
  },
  {
    test: "tool.drcacheoff.snappy_serial",
    template: "offline-snappy-serial",
    options: `-indir ${CHASE_SNAPPY} -no_core_sharded`,
    raw: false,
    runner: "ctest"
  }
]

describe("DynamoRIO's template tests on shared traces (suite/tests/CMakeLists.txt)", () => {
  for (const c of CASES) {
    it.live(c.test, () => check(c))
  }
})

describe("not ported: memtrace refuses their options with a usage error (docs/cli.md)", () => {
  const refused = (options: string, line: string) =>
    Effect.gen(function* () {
      const r = yield* memtrace(options)
      assert.deepStrictEqual([r.code, r.stderr, r.stdout], [2, `ERROR: Usage error: ${line}\n`, ""])
    })
  const opcodeMix =
    "the opcode_mix tool is not implemented by memtrace. Please choose basic_counts, cache_simulator, histogram, invariant_checker, reuse_distance, reuse_time, schedule_stats, syscall_mix, TLB_simulator or view."

  it.live("tool.drcacheoff.skip, skip2, trim, trim-instr: -view_syntax (view's disassembly)", () =>
    refused(
      `-tool view -view_syntax dr -infile ${ALLASM} -test_mode -skip_instrs 62 -exit_after_records 10`,
      "Option -view_syntax is not supported by memtrace"
    )
  )
  it.live("tool.drcacheoff.one_early: opcode_mix", () =>
    refused(`-verbose 1 -tool TLB:opcode_mix -core_serial -sim_refs 10 -infile ${ALLASM}`, opcodeMix)
  )
  it.live("tool.drcacheoff.all_early, all_early_instrs, skip_records: opcode_mix", () =>
    refused(`-verbose 1 -tool view:opcode_mix -skip_instrs 10 -exit_after_records 5 -infile ${ALLASM}`, opcodeMix)
  )
  it.live("tool.drcacheoff.trim (precmd): record_filter's -trim_before_timestamp", () =>
    refused(
      `-tool record_filter -trim_before_timestamp 13352268558646120 -trim_after_timestamp 13352268558646661 -indir ${ALLASM} -outdir out`,
      "Option -trim_before_timestamp is not supported by memtrace (to filter a trace into a new one, use memtrace filter: see docs/cli.md)"
    )
  )
  it.live("tool.record_filter_as_traced (precmd): record_filter's -outdir", () =>
    refused(
      `-tool record_filter -cpu_schedule_file ${CPU_SCHEDULE} -core_sharded -cores 11 -indir ${THREADSIG} -outdir out`,
      "Option -outdir is not supported by memtrace"
    )
  )
})

describe("the CMake regex conversion", () => {
  it("follows kwsys RegularExpression", () => {
    const matches = (re: string, text: string) => cmakeRegex(`^${re}$`).test(text)
    assert.isTrue(matches("a.*b", "a\nx\nb"), ". matches a newline")
    assert.isFalse(matches("a", "a\n"), "$ only at the end")
    assert.isTrue(matches("\\d\\(", "d("), "\\c is the character c")
    assert.isTrue(matches("x{2}", "x{2}"), "braces are literals")
    assert.isTrue(matches("[2-3]", "3") && !matches("[2-3]", "4"), "ranges")
    assert.isTrue(matches("[]a]", "]") && matches("[-a]", "-") && matches("[a-]", "-"), "leading ] or -, trailing -")
    assert.isTrue(matches("[\\]", "\\"), "no escapes in brackets")
    assert.isTrue(matches("[^a]", "\n") && !matches("[^a]", "a"), "complement")
    assert.isTrue(matches("(WHL|DI)_", "DI_"), "alternatives")
    assert.throws(() => cmakeRegex("*a"))
    assert.throws(() => cmakeRegex("a**"))
  })

  it("keeps a template cpp leaves alone, without blank lines", () => {
    assert.strictEqual(template2expect("\na\n\n\nb @&\n@@\n"), "a\nb  \n\n")
    assert.throws(() => template2expect("#if X64\na\n#endif\n"))
    assert.throws(() => template2expect("on linux\n"))
  })
})
