/**
 * Which shard-result schemas the thread backend may send by structured clone
 * alone (src/analyzer/internal/plainData.ts), and that for every standard
 * tool this gives what the JSON codec's round trip gives, on real shards.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Analyzer from "../../src/analyzer/Analyzer.ts"
import { isPlainData, threadCodec } from "../../src/analyzer/internal/plainData.ts"
import * as Registry from "../../src/tools/Registry.ts"

const THREADSIG = "../shared/traces/drmemtrace.threadsig.x64.tracedir"

class Point extends Schema.Class<Point>("Point")({ x: Schema.Number }) {}
interface Tree {
  readonly children: ReadonlyArray<Tree>
}
const Tree: Schema.Codec<Tree> = Schema.Struct({
  children: Schema.Array(Schema.suspend((): Schema.Codec<Tree> => Tree))
})

describe("isPlainData", () => {
  it("accepts structs, arrays, records, unions and literals of primitives", () => {
    const plain = Schema.Struct({
      n: Schema.Number,
      s: Schema.String,
      b: Schema.Boolean,
      big: Schema.BigInt,
      lits: Schema.Literals(["a", 1]),
      list: Schema.Array(Schema.Tuple([Schema.Number, Schema.NullOr(Schema.String)])),
      byName: Schema.Record(Schema.String, Schema.Number),
      maybe: Schema.optionalKey(Schema.Union([Schema.Number, Schema.Undefined])),
      positive: Schema.Number.check(Schema.isGreaterThan(0))
    })
    assert.isTrue(isPlainData(plain))
  })

  it("rejects classes, declarations, transformations and recursion", () => {
    assert.isFalse(isPlainData(Point))
    assert.isFalse(isPlainData(Schema.Struct({ at: Point })))
    assert.isFalse(isPlainData(Schema.Array(Schema.Date)))
    assert.isFalse(isPlainData(Schema.Struct({ n: Schema.NumberFromString })))
    assert.isFalse(isPlainData(Schema.ReadonlyMap(Schema.String, Schema.Number)))
    assert.isFalse(isPlainData(Tree))
  })

  it("threadCodec sends plain data as it is and anything else through its JSON codec", () => {
    const plain = { n: 3, s: "x", list: [1, 2] }
    const p = threadCodec(Schema.Struct({ n: Schema.Number, s: Schema.String, list: Schema.Array(Schema.Number) }))
    assert.strictEqual(p.encode(plain), plain)
    assert.strictEqual(p.decode(plain), plain)
    const at = new Date(Date.UTC(2026, 10, 27))
    const d = threadCodec(Schema.Struct({ at: Schema.Date }))
    const encoded = d.encode({ at })
    assert.deepStrictEqual(JSON.parse(JSON.stringify(encoded)), encoded)
    assert.deepStrictEqual(d.decode(structuredClone(encoded)), { at })
  })

  it.live("for each standard tool, structured clone of a real shard result equals its JSON codec round trip", () =>
    Effect.gen(function* () {
      for (const name of Registry.names) {
        const tool = yield* Registry.make(name)
        const result = yield* Analyzer.run(THREADSIG, { tools: [tool] })
        const shards = result.tools[0]!.shards
        assert.isAbove(shards.length, 0, name)
        const codec = Schema.toCodecJson(tool.shardResultSchema)
        const roundTrip = (v: unknown) => Schema.decodeUnknownSync(codec)(Schema.encodeUnknownSync(codec)(v))
        for (const s of shards) {
          if (isPlainData(tool.shardResultSchema)) {
            assert.deepStrictEqual(structuredClone(s.result), roundTrip(s.result), `${name}, shard ${s.shardIndex}`)
          } else {
            assert.deepStrictEqual(roundTrip(s.result), s.result, `${name}, shard ${s.shardIndex}`)
          }
        }
      }
    })
  )
})
