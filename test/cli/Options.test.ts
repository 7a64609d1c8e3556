import { assert, describe, it } from "@effect/vitest"
import * as V from "../../src/cli/internal/values.ts"
import * as Options from "../../src/cli/Options.ts"
import * as Registry from "../../src/tools/Registry.ts"
import { drDefaults } from "./drDefaults.ts"

describe("Options", () => {
  it("defaults are DynamoRIO's (options.cpp) plus memtrace's documented ones", () => {
    const input: Options.Input = { kind: "dir", path: "t" }
    assert.deepStrictEqual(Options.defaults(input), drDefaults([input]))
  })

  it("names every option once, in both forms", () => {
    const dr = Options.table.flatMap((s) => [s.dr, ...s.aliases])
    const flags = Options.table.map((s) => s.flag)
    const keys = Options.table.map((s) => s.key)
    assert.strictEqual(new Set(dr).size, dr.length)
    assert.strictEqual(new Set(flags).size, flags.length)
    assert.strictEqual(new Set(keys).size, keys.length)
    for (const s of Options.table) {
      assert.match(s.flag, /^[a-z0-9]+(-[a-z0-9]+)*$/, s.dr)
      assert.isFalse(Options.unsupported.has(s.dr), `${s.dr} is both supported and unsupported`)
    }
  })

  it("shows every default so that it parses back to itself", () => {
    for (const row of Options.table) {
      const s = row as Options.Spec
      if (!s.kind.takesValue) continue
      const text = s.kind.show(s.default)
      const back = s.kind.parse(text === '""' ? "" : text)
      assert.isFalse(V.isRefusal(back), `${s.dr}: ${text}`)
      assert.deepStrictEqual(back, s.default, s.dr)
    }
  })

  it("parses durations in ms, s, m, h, and plain seconds", () => {
    assert.strictEqual(V.duration.parse("250ms"), 250)
    assert.strictEqual(V.duration.parse("1.5s"), 1500)
    assert.strictEqual(V.duration.parse("2m"), 120_000)
    assert.strictEqual(V.duration.parse("1h"), 3_600_000)
    assert.strictEqual(V.duration.parse("30"), 30_000)
    assert.isTrue(V.isRefusal(V.duration.parse("soon")))
  })

  it("lists only implemented tools as available, with aliases resolving to canonical names", () => {
    for (const t of Options.availableTools) assert.isTrue(Options.toolTable[t].implemented)
    for (const target of Object.values(Options.toolAliases)) assert.isTrue(Object.hasOwn(Options.toolTable, target))
  })

  it("marks as implemented exactly the tools the registry builds", () => {
    const registry = Registry.names.map((n) => Options.toolAliases[n] ?? n).sort()
    assert.deepStrictEqual([...Options.availableTools].sort(), registry)
  })

  it("derives sharding from the switches as DynamoRIO does", () => {
    const sharding = (values: Partial<Options.Raw>, specified: ReadonlyArray<Options.Key>) => {
      const r = Options.resolve({
        values: { ...Options.rawDefaults, indir: "t", ...values },
        specified: new Set(specified),
        style: "dr"
      })
      assert.strictEqual(r._tag, "Success")
      return r._tag === "Success" ? r.success.sharding : undefined
    }
    assert.strictEqual(sharding({}, []), "auto")
    assert.strictEqual(sharding({ coreSharded: true }, ["coreSharded"]), "core-sharded")
    assert.strictEqual(sharding({ coreSerial: true }, ["coreSerial"]), "core-serial")
    // -no_core_sharded counts as specified: thread-sharded, no auto-selection.
    assert.strictEqual(sharding({ coreSharded: false }, ["coreSharded"]), "thread")
    assert.strictEqual(sharding({ coreSerial: true, coreSharded: false }, ["coreSerial", "coreSharded"]), "core-serial")
    // -cpu_scheduling implies thread-sharded (analyzer_multi.cpp).
    assert.strictEqual(sharding({ cpuScheduling: true }, ["cpuScheduling"]), "thread")
  })
})
