/**
 * `-infile -`: a trace on standard input, read once, as DynamoRIO's
 * offline-stdin test feeds it (the core-sharded trace's first core, unzipped,
 * through `view -exit_after_records 10`; semantics doc §9).
 */
import { spawnSync } from "node:child_process"
import { closeSync, openSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { gzipSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import { basicCounts } from "../../src/tools/BasicCounts.ts"
import { openSource } from "../../src/trace/internal/source.ts"
import * as Trace from "../../src/trace/Trace.ts"
import { drain } from "../trace/container/fixtures.ts"

const entry = path.resolve("src/cli/main.ts")
const CORE0 = "../shared/traces/drmemtrace.threadsig-core-sharded.x64.tracedir/drmemtrace.core.000000.trace.zip"

const memtrace = (args: ReadonlyArray<string>, input?: Uint8Array) =>
  spawnSync(process.execPath, [entry, ...args], {
    encoding: "utf8",
    input,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, CI: "true" }
  })

describe("memtrace -infile -", () => {
  it("views the records DynamoRIO's offline-stdin test expects, as from the file", async () => {
    const { bytes } = await drain(await openSource(CORE0))
    const view = ["-tool", "view", "-exit_after_records", "10"]
    const piped = memtrace(["-infile", "-", ...view], bytes)
    assert.strictEqual(piped.status, 0, piped.stderr)
    const fromFile = memtrace(["-infile", CORE0, ...view])
    assert.strictEqual(fromFile.status, 0, fromFile.stderr)
    assert.strictEqual(piped.stdout, fromFile.stdout)
    const records = piped.stdout.split("\n").filter((l) => /^\s+\d+\s+\d+:/.test(l))
    assert.strictEqual(records.length, 10)
    assert.include(records[0]!, "<marker: version 7>")
    assert.include(records[1]!, "<marker: filetype 0x10e40>")
    assert.include(records[5]!, "<marker: timestamp 13386385969186755>")
    assert.match(records[7]!, /^\s+8\s+1:.*ifetch\s+6 byte\(s\) @ 0x00007f87daf7ecc9/)
    assert.match(records[8]!, /read\s+32 byte\(s\) @ 0x00007f8590000d51/)
    assert.match(records[9]!, /^\s+10\s+2:.*ifetch\s+4 byte\(s\) @ 0x00007f87daf7eccf/)
    assert.match(piped.stdout, /\s2 : total instructions/)
  })

  it("reads standard input redirected from a file (< trace), as from the file", () => {
    const small = "../shared/traces/drmemtrace.small.x64.trace"
    const counts = ["-tool", "basic_counts"]
    const fromFile = memtrace(["-infile", small, ...counts])
    const fd = openSync(small, "r")
    try {
      const redirected = spawnSync(process.execPath, [entry, "-infile", "-", ...counts], {
        encoding: "utf8",
        stdio: [fd, "pipe", "pipe"],
        env: { ...process.env, CI: "true" }
      })
      assert.strictEqual(redirected.status, 0, redirected.stderr)
      assert.strictEqual(redirected.stdout, fromFile.stdout)
    } finally {
      closeSync(fd)
    }
  })

  it("counts a gzip trace on standard input as from its file", () => {
    const small = "../shared/traces/drmemtrace.small.x64.trace"
    const counts = ["-tool", "basic_counts"]
    const fromFile = memtrace(["-infile", small, ...counts])
    assert.strictEqual(fromFile.status, 0, fromFile.stderr)
    const piped = memtrace(["-infile", "-", ...counts], gzipSync(readFileSync(small)))
    assert.strictEqual(piped.status, 0, piped.stderr)
    assert.strictEqual(piped.stdout, fromFile.stdout)
    assert.match(piped.stdout, /\s173 total \(fetched\) instructions/)
  })

  it.effect("the threads backend refuses standard input before reading it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Analyzer.run(Trace.STDIN, { tools: [basicCounts], backend: "threads" }))
      assert.strictEqual(error._tag, "AnalyzerOptionError")
      if (error._tag === "AnalyzerOptionError") {
        assert.strictEqual(error.option, "backend")
        assert.include(error.message, "standard input")
      }
    })
  )
})
