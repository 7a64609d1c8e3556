/**
 * Option handling shared by the tools with options. Options are plain data
 * (they travel to worker threads); a key set to `undefined` means "not given"
 * (the CLI passes every knob it knows).
 */

/** Options as callers give them: any subset, `undefined` meaning "default". */
export type Input<O> = { readonly [K in keyof O]?: O[K] | undefined }

/** `defaults` overridden by every key of `options` whose value is not undefined. */
export const withDefaults = <O extends object>(defaults: O, options: Input<O> | undefined): O => {
  const out = { ...defaults }
  if (options !== undefined) {
    for (const [k, v] of Object.entries(options)) {
      if (v !== undefined) (out as Record<string, unknown>)[k] = v
    }
  }
  return out
}

/**
 * True for 1, 2, 4, … 2^31. DynamoRIO takes `log2(line_size)` and assumes a
 * power of two; a line size above 2^31 would need the high address half
 * masked too, which no DynamoRIO option allows.
 */
export const isPowerOfTwo = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 2 ** 31 && (n & (n - 1)) === 0
