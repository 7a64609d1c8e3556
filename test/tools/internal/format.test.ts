import { assert, describe, it } from "@effect/vitest"
import { fixed, hex64, setw, showbaseHex } from "../../../src/tools/internal/format.ts"

describe("format", () => {
  it("rounds exact binary ties half to even, as glibc's printf does", () => {
    assert.strictEqual(fixed(0.125, 2), "0.12")
    assert.strictEqual(fixed(0.375, 2), "0.38")
    assert.strictEqual(fixed(2.5, 0), "2")
    assert.strictEqual(fixed(3.5, 0), "4")
    assert.strictEqual(fixed(-0.125, 2), "-0.12")
    // 1.005 is stored below the tie, so both round down.
    assert.strictEqual(fixed(1.005, 2), "1.00")
    assert.strictEqual(fixed(100, 2), "100.00")
    assert.strictEqual(fixed(2 / 3, 2), "0.67")
  })

  it("prints NaN as -nan (DynamoRIO's 0.0/0 on x86) and infinities as inf", () => {
    assert.strictEqual(fixed(0 / 0, 2), "-nan")
    assert.strictEqual(fixed(1 / 0, 2), "inf")
  })

  it("prints u64 halves in hex, zero without the 0x prefix", () => {
    assert.strictEqual(hex64(0, 0x400100), "400100")
    assert.strictEqual(hex64(0x7fff, 0x413f5bc0), "7fff413f5bc0")
    assert.strictEqual(hex64(1, 2), "100000002")
    assert.strictEqual(showbaseHex(0xffffffff, 0xffffffc0), "0xffffffffffffffc0")
    assert.strictEqual(showbaseHex(0, 0), "0")
    assert.strictEqual(setw("ab", 5), "   ab")
    assert.strictEqual(setw("abcdef", 5), "abcdef")
  })
})
