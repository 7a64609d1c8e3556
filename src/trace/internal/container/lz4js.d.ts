/** The part of `lz4js` (untyped CommonJS) that the lz4 container uses. */
declare module "lz4js" {
  /** Decodes one raw LZ4 block `src[sIndex, sIndex + sLength)` into `dst` from `dIndex`; returns the end index in `dst`. No bounds checks. */
  export function decompressBlock(
    src: Uint8Array,
    dst: Uint8Array,
    sIndex: number,
    sLength: number,
    dIndex: number
  ): number
  /** Compresses `src` into one LZ4 frame (4 MiB blocks, no checksums). */
  export function compress(src: Uint8Array, maxSize?: number): Uint8Array
  /** Decompresses a whole LZ4 frame. */
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array
}
