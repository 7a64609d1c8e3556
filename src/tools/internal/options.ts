/**
 * Cache-line option checks shared by the line-based tools. DynamoRIO takes
 * `log2(line_size)` and assumes a power of two; a line size above 2^31 would
 * need the high address half masked too, which no DynamoRIO option allows.
 */

/** True for 1, 2, 4, … 2^31. */
export const isPowerOfTwo = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 2 ** 31 && (n & (n - 1)) === 0
