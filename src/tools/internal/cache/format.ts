/**
 * DynamoRIO's iostream formatting of simulator statistics: `setw` columns,
 * optional locale digit grouping, and rates computed in single precision
 * (`(float)misses * 100 / total`) printed with `std::fixed` and 2 decimals,
 * i.e. the exact binary value rounded half to even.
 */

/** A count, with `separator` between groups of three digits when non-empty. @internal */
export const formatCount = (n: number, separator: string): string => {
  const digits = String(n)
  if (separator === "" || digits.length <= 3) return digits
  let out = ""
  for (let i = 0; i < digits.length; i++) {
    if (i > 0 && (digits.length - i) % 3 === 0) out += separator
    out += digits[i]
  }
  return out
}

/**
 * `(float)num * 100 / den` as C++ computes it in single precision, printed
 * with two decimals the way glibc does (exact value, ties to even).
 *
 * @internal
 */
export const formatRate = (num: number, den: number): string => {
  const x = Math.fround(Math.fround(Math.fround(num) * 100) / Math.fround(den))
  // x has 24 significant bits, so x * 100 is exact in a double.
  const y = x * 100
  let n = Math.floor(y)
  const frac = y - n
  if (frac > 0.5 || (frac === 0.5 && n % 2 === 1)) n += 1
  const whole = Math.floor(n / 100)
  const cents = n - whole * 100
  return `${whole}.${cents < 10 ? "0" : ""}${cents}`
}

/** `prefix << setw(labelWidth) << left << label << setw(valueWidth) << right << value`. @internal */
export const line = (prefix: string, label: string, labelWidth: number, value: string, valueWidth: number): string =>
  `${prefix}${label.padEnd(labelWidth)}${value.padStart(valueWidth)}\n`
