import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import { Xxh32, xxh32 } from "../../../src/trace/internal/container/xxh32.ts"
import { randomBytes } from "./fixtures.ts"

// lz4js's own (one-shot) XXH32: an independent implementation to compare against.
const reference = createRequire(import.meta.url)("lz4js/xxh32.js") as {
  hash: (seed: number, src: Uint8Array, index: number, length: number) => number
}

describe("xxh32", () => {
  it("matches the published test vectors", () => {
    assert.strictEqual(xxh32(new Uint8Array(0)), 0x02cc5d05)
    assert.strictEqual(xxh32(new TextEncoder().encode("a")), 0x550d7456)
    assert.strictEqual(xxh32(new TextEncoder().encode("abc")), 0x32d153ff)
  })

  it("agrees with lz4js's implementation on every length up to 100 and on large inputs", () => {
    const bytes = randomBytes(200_000, 17)
    for (let length = 0; length <= 100; length++) {
      assert.strictEqual(xxh32(bytes, 3, 3 + length), reference.hash(0, bytes, 3, length) >>> 0, `length ${length}`)
    }
    assert.strictEqual(xxh32(bytes), reference.hash(0, bytes, 0, bytes.length) >>> 0)
  })

  it("gives the same digest however the input is split", () => {
    const bytes = randomBytes(10_000, 23)
    const whole = xxh32(bytes)
    for (const step of [1, 3, 15, 16, 17, 1000]) {
      const h = new Xxh32()
      for (let at = 0; at < bytes.length; at += step) h.update(bytes, at, Math.min(at + step, bytes.length))
      assert.strictEqual(h.digest(), whole, `step ${step}`)
    }
  })
})
