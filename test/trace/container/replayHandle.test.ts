import { assert, describe, it } from "@effect/vitest"
import type { ReadHandle } from "../../../src/trace/internal/container/readHandle.ts"
import { ReplayHandle } from "../../../src/trace/internal/container/replayHandle.ts"

/** A file readable only in order, giving at most `most` bytes a read, after a tick. */
const inOrder = (bytes: Buffer, most: number): ReadHandle & { readonly reads: () => number } => {
  let at = 0
  let reads = 0
  return {
    read: async (buffer, offset, length, position) => {
      if (position !== null) throw new Error("a pipe has no positions")
      await new Promise((r) => setTimeout(r, 0))
      reads++
      const n = Math.min(length, most, bytes.length - at)
      buffer.set(bytes.subarray(at, at + n), offset)
      at += n
      return { bytesRead: n }
    },
    stat: () => Promise.reject(new Error("unused")),
    close: () => Promise.resolve(),
    reads: () => reads
  }
}

const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff))

const readAt = async (h: ReadHandle, at: number, length: number): Promise<Buffer> => {
  const b = Buffer.alloc(length)
  let got = 0
  while (got < length) {
    const { bytesRead } = await h.read(b, got, length - got, at + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return b.subarray(0, got)
}

describe("ReplayHandle", () => {
  it("serves reads at positions, going back within the window, with the head first", async () => {
    const h = new ReplayHandle(inOrder(bytes.subarray(1000), 5000), bytes.subarray(0, 1000), 100_000)
    assert.isTrue((await readAt(h, 0, 70_000)).equals(bytes.subarray(0, 70_000)))
    assert.isTrue((await readAt(h, 500, 2000)).equals(bytes.subarray(500, 2500)), "back into the head")
    assert.isTrue((await readAt(h, 60_000, 200_000)).equals(bytes.subarray(60_000, 260_000)))
    assert.isTrue((await readAt(h, 255_000, 100_000)).equals(bytes.subarray(255_000)), "to the end")
    assert.strictEqual((await h.read(Buffer.alloc(10), 0, 10, bytes.length)).bytesRead, 0)
  })

  it("refuses to go back past the window or to skip ahead, naming the byte", async () => {
    const h = new ReplayHandle(inOrder(bytes, 4096), undefined, 65_536)
    await readAt(h, 0, 200_000)
    const back = await h.read(Buffer.alloc(10), 0, 10, 1000).then(
      () => undefined,
      (e: Error) => e.message
    )
    assert.match(back ?? "", /cannot go back to byte 1000 of a file read in order/)
    const ahead = await h.read(Buffer.alloc(10), 0, 10, 250_000).then(
      () => undefined,
      (e: Error) => e.message
    )
    // The pipe gives 4,096 bytes a read: what was read ends at the first multiple past 200,000.
    assert.strictEqual(
      ahead,
      `cannot skip to byte 250000 of a file read in order, at byte ${Math.ceil(200_000 / 4096) * 4096}`
    )
  })

  it("runs reads one at a time, in the order asked, so a read dropped by its caller loses no bytes", async () => {
    const pipe = inOrder(bytes, 3000)
    const h = new ReplayHandle(pipe, undefined, 1 << 20)
    const a = Buffer.alloc(3000)
    const b = Buffer.alloc(3000)
    // Both asked before either settles: the second starts where the first ended.
    const [ra, rb] = await Promise.all([h.read(a, 0, 3000, 0), h.read(b, 0, 3000, 3000)])
    assert.deepStrictEqual([ra.bytesRead, rb.bytesRead], [3000, 3000])
    assert.isTrue(a.equals(bytes.subarray(0, 3000)) && b.equals(bytes.subarray(3000, 6000)))
    // A read nobody awaits still keeps what it read.
    void h.read(Buffer.alloc(3000), 0, 3000, 6000)
    assert.isTrue((await readAt(h, 4000, 8000)).equals(bytes.subarray(4000, 12_000)))
  })
})
