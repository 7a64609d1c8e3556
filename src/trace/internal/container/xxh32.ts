/**
 * Streaming XXH32 (seed 0 by default), the checksum of the LZ4 frame format
 * (header, block and content checksums).
 */
const P1 = 0x9e3779b1
const P2 = 0x85ebca77
const P3 = 0xc2b2ae3d
const P4 = 0x27d4eb2f
const P5 = 0x165667b1

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r))
const round = (acc: number, lane: number): number => Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1)
const u32 = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)

export class Xxh32 {
  private v1: number
  private v2: number
  private v3: number
  private v4: number
  private total = 0
  private readonly seed: number
  private readonly tail = new Uint8Array(16)
  private tailLength = 0

  constructor(seed = 0) {
    this.seed = seed | 0
    this.v1 = (this.seed + P1 + P2) | 0
    this.v2 = (this.seed + P2) | 0
    this.v3 = this.seed
    this.v4 = (this.seed - P1) | 0
  }

  update(data: Uint8Array, start = 0, end = data.length): this {
    this.total += end - start
    let i = start
    if (this.tailLength > 0) {
      while (this.tailLength < 16 && i < end) this.tail[this.tailLength++] = data[i++]!
      if (this.tailLength < 16) return this
      this.stripe(this.tail, 0)
      this.tailLength = 0
    }
    let v1 = this.v1
    let v2 = this.v2
    let v3 = this.v3
    let v4 = this.v4
    for (; i + 16 <= end; i += 16) {
      v1 = round(v1, u32(data, i))
      v2 = round(v2, u32(data, i + 4))
      v3 = round(v3, u32(data, i + 8))
      v4 = round(v4, u32(data, i + 12))
    }
    this.v1 = v1
    this.v2 = v2
    this.v3 = v3
    this.v4 = v4
    while (i < end) this.tail[this.tailLength++] = data[i++]!
    return this
  }

  digest(): number {
    let h =
      this.total >= 16
        ? (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0
        : (this.seed + P5) | 0
    h = (h + this.total) | 0
    let i = 0
    for (; i + 4 <= this.tailLength; i += 4) {
      h = Math.imul(rotl((h + Math.imul(u32(this.tail, i), P3)) | 0, 17), P4)
    }
    for (; i < this.tailLength; i++) h = Math.imul(rotl((h + Math.imul(this.tail[i]!, P5)) | 0, 11), P1)
    h = Math.imul(h ^ (h >>> 15), P2)
    h = Math.imul(h ^ (h >>> 13), P3)
    return (h ^ (h >>> 16)) >>> 0
  }

  private stripe(b: Uint8Array, i: number): void {
    this.v1 = round(this.v1, u32(b, i))
    this.v2 = round(this.v2, u32(b, i + 4))
    this.v3 = round(this.v3, u32(b, i + 8))
    this.v4 = round(this.v4, u32(b, i + 12))
  }
}

/** XXH32 of `data[start, end)`. */
export const xxh32 = (data: Uint8Array, start = 0, end = data.length, seed = 0): number =>
  new Xxh32(seed).update(data, start, end).digest()
