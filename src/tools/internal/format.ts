/**
 * Text formatting that reproduces what DynamoRIO's C++ streams print:
 * `std::setw` right alignment, `std::fixed` with a precision (glibc rounds the
 * exact binary value half-to-even; NaN prints as `-nan` because DynamoRIO's
 * NaNs come from 0.0/0 on x86), and `std::hex << std::showbase` (which prints
 * zero as a bare `0`).
 */

/** `std::setw(width)` with the default right alignment. */
export const setw = (value: string | number, width: number): string => String(value).padStart(width)

/**
 * `std::fixed << std::setprecision(digits)`: the exact binary value rounded
 * half-to-even (JavaScript's `toFixed` rounds exact ties away from zero).
 */
export const fixed = (x: number, digits: number): string => {
  if (Number.isNaN(x)) return "-nan"
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf"
  const rounded = x.toFixed(digits)
  if (Math.abs(x) >= 1e21) return rounded
  const exact = Math.abs(x).toFixed(100)
  const dot = exact.indexOf(".")
  const rest = exact.slice(dot + 1 + digits)
  if (rest[0] !== "5" || !/^50*$/.test(rest)) return rounded
  // An exact tie: keep the truncated value when its last digit is even.
  const truncated = exact.slice(0, digits === 0 ? dot : dot + 1 + digits)
  const last = truncated.charCodeAt(truncated.length - 1) - 48
  if (last % 2 === 1) return rounded
  return (x < 0 ? "-" : "") + truncated
}

/** A u64 given as (hi, lo) halves, in lower-case hex without a prefix. */
export const hex64 = (hi: number, lo: number): string =>
  hi === 0 ? (lo >>> 0).toString(16) : (hi >>> 0).toString(16) + (lo >>> 0).toString(16).padStart(8, "0")

/** `std::hex << std::showbase`: `0x…`, but plain `0` for zero. */
export const showbaseHex = (hi: number, lo: number): string => (hi === 0 && lo === 0 ? "0" : "0x" + hex64(hi, lo))

/** Compares two u64 values given as (hi, lo) halves. */
export const compare64 = (aHi: number, aLo: number, bHi: number, bLo: number): number =>
  aHi !== bHi ? (aHi < bHi ? -1 : 1) : aLo !== bLo ? (aLo < bLo ? -1 : 1) : 0

/** The low 32 bits of a marker value read as a C `int` (DynamoRIO's `static_cast<int>`). */
export const toInt32 = (lo: number): number => lo | 0
