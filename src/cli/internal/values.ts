/**
 * Value kinds of command-line options: how the text after an option becomes
 * a typed value, following DynamoRIO's `droption_t` conversions but refusing
 * what DynamoRIO silently turns into 0 (`-jobs abc`, `-cores 4x`).
 *
 * @internal
 */

/** Why a value was refused; the parser turns it into a message. */
export type Refusal = { readonly _tag: "Invalid"; readonly expected: string } | { readonly _tag: "OutOfRange" }

/** A value kind. */
export interface Kind<A> {
  /** Name shown in help (`int`, `bytesize`, …). */
  readonly name: string
  /** False for boolean switches (`-flag`, `-no_flag`). */
  readonly takesValue: boolean
  readonly parse: (text: string) => A | Refusal
  /** The value as a user would type it (defaults in help and docs). */
  readonly show: (value: A) => string
}

const invalid = (expected: string): Refusal => ({ _tag: "Invalid", expected })
const outOfRange: Refusal = { _tag: "OutOfRange" }

/** True when `parse` refused the text. */
export const isRefusal = (u: unknown): u is Refusal =>
  typeof u === "object" &&
  u !== null &&
  "_tag" in u &&
  ((u as Refusal)._tag === "Invalid" || (u as Refusal)._tag === "OutOfRange")

// strtol/strtoull with base 0: 0x… hex, 0… octal, else decimal. Unlike strtol,
// the whole text must be the number.
const INTEGER = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/

const parseInteger = (text: string): bigint | undefined => {
  const m = INTEGER.exec(text.trim())
  if (m === null) return undefined
  const digits = m[2]!
  const magnitude =
    digits.length > 1 && digits[0] === "0" && digits[1] !== "x" && digits[1] !== "X"
      ? BigInt(`0o${digits.slice(1)}`)
      : BigInt(digits)
  return m[1] === "-" ? -magnitude : magnitude
}

const integerKind = (name: string, min: bigint, max: bigint): Kind<number> => ({
  name,
  takesValue: true,
  parse: (text) => {
    const v = parseInteger(text)
    if (v === undefined) return invalid("an integer")
    if (v < min || v > max) return outOfRange
    return Number(v)
  },
  show: (v) => String(v)
})

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** DynamoRIO `int` (32-bit signed). */
export const int: Kind<number> = integerKind("int", -(2n ** 31n), 2n ** 31n - 1n)

/** DynamoRIO `unsigned int` (32-bit). */
export const uint: Kind<number> = integerKind("uint", 0n, 2n ** 32n - 1n)

/**
 * A core count: DynamoRIO's `unsigned int`, up to {@link MAX_CORES}. Per-core state and the idle
 * bookkeeping of each scheduling step grow with it: tens of thousands of cores would exhaust the heap
 * or starve the process's signal handling, where DynamoRIO would try anyway.
 */
export const MAX_CORES = 4096
export const cores: Kind<number> = integerKind("uint", 0n, BigInt(MAX_CORES))

/** DynamoRIO `int64_t`, kept as a safe JS integer. */
export const int64: Kind<number> = integerKind("int64", -MAX_SAFE, MAX_SAFE)

/** DynamoRIO `uint64_t` where values stay below 2^53 (counts, microseconds). */
export const uint64: Kind<number> = integerKind("uint64", 0n, MAX_SAFE)

/** DynamoRIO `uint64_t` kept exact (timestamps exceed 2^53). */
export const uint64Exact: Kind<bigint> = {
  name: "uint64",
  takesValue: true,
  parse: (text) => {
    const v = parseInteger(text)
    if (v === undefined) return invalid("an integer")
    if (v < 0n || v >= 2n ** 64n) return outOfRange
    return v
  },
  show: (v) => String(v)
}

const SIZE = /^([+-]?[0-9]+)([kKmMgG]?)$/
const SCALE: Record<string, number> = { "": 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 }

/** DynamoRIO `bytesize_t`: decimal with an optional K/M/G (binary) suffix. */
export const bytesize: Kind<number> = {
  name: "bytesize",
  takesValue: true,
  parse: (text) => {
    const m = SIZE.exec(text.trim())
    if (m === null) return invalid("a size (digits with an optional K, M or G suffix)")
    const n = BigInt(m[1]!) * BigInt(SCALE[m[2]!.toLowerCase()]!)
    if (n < 0n || n > 2n ** 63n) return outOfRange
    return Number(n)
  },
  show: (v) => {
    for (const [suffix, scale] of [
      ["G", 1024 ** 3],
      ["M", 1024 ** 2],
      ["K", 1024]
    ] as const) {
      if (v >= scale && v % scale === 0 && v / scale < 1024 * 1024) return `${v / scale}${suffix}`
    }
    // Exact digits: String(2 ** 63) would print a rounded 9223372036854776000.
    return BigInt(v).toString()
  }
}

const DECIMAL = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/

/** DynamoRIO `double`, optionally bounded (DynamoRIO clamps and reports "out of range"). */
export const double = (min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY): Kind<number> => ({
  name: "double",
  takesValue: true,
  parse: (text) => {
    const t = text.trim()
    if (!DECIMAL.test(t)) return invalid("a number")
    const v = Number(t)
    if (!Number.isFinite(v)) return invalid("a number")
    if (v < min || v > max) return outOfRange
    return v
  },
  show: (v) => (Number.isInteger(v) ? v.toFixed(1) : String(v))
})

/** An integer kind with a DynamoRIO-style range (`-verbose` is 0..64). */
export const uintBetween = (min: number, max: number): Kind<number> => integerKind("uint", BigInt(min), BigInt(max))

/** Free text (paths, lists parsed later). */
export const string: Kind<string> = {
  name: "string",
  takesValue: true,
  parse: (text) => text,
  show: (v) => (v === "" ? '""' : v)
}

/** A switch: `-name` sets it, `-no_name` clears it. */
export const bool: Kind<boolean> = {
  name: "bool",
  takesValue: false,
  parse: (text) => {
    if (text === "true" || text === "1") return true
    if (text === "false" || text === "0") return false
    return invalid("true or false")
  },
  show: (v) => (v ? "true" : "false")
}

/** One of a fixed set of words. */
export const choice = <const A extends string>(choices: ReadonlyArray<A>): Kind<A> => ({
  name: choices.join("|"),
  takesValue: true,
  parse: (text) =>
    (choices as ReadonlyArray<string>).includes(text) ? (text as A) : invalid(`one of ${choices.join(", ")}`),
  show: (v) => v
})

const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** A duration in milliseconds: `500ms`, `30s`, `5m`, `1h`, or plain seconds; 0 = none. */
export const duration: Kind<number> = {
  name: "duration",
  takesValue: true,
  parse: (text) => {
    const m = DURATION.exec(text.trim())
    if (m === null) return invalid("a duration such as 30s, 500ms, 5m or 1h")
    return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? "s"]!)
  },
  show: (v) =>
    v === 0
      ? "0"
      : v % 3_600_000 === 0
        ? `${v / 3_600_000}h`
        : v % 60_000 === 0
          ? `${v / 60_000}m`
          : v % 1000 === 0
            ? `${v / 1000}s`
            : `${v}ms`
}
