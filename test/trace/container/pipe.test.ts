/**
 * Pipes: a file that cannot be read at positions (a FIFO here, standard input
 * in the CLI test) is read in order, for every container that allows it, and
 * gives the same bytes as the file it carries; a zip archive through a pipe is
 * a typed error, not a misread.
 */
import { createWriteStream, readFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync, zstdCompressSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { compress as lz4FrameCompress } from "lz4js"
import { afterAll } from "vitest"
import { type ContainerKind, openSource } from "../../../src/trace/internal/source.ts"
import {
  drain,
  failureOf,
  gzipWithHeader,
  run,
  snappyFrames,
  TRACES,
  tempDir,
  traceLikeBytes,
  withinTime,
  writeZip
} from "./fixtures.ts"

const { dir, cleanup } = tempDir()
afterAll(cleanup)

// 1.44 MB: more than the 64 KiB taken to recognise the container, and several pieces.
const data = traceLikeBytes(120_000, 11)

/** A FIFO named `name` that `bytes` are written into once a reader opens it (a reader that stops early breaks the pipe). */
const pipeOf = (name: string, bytes: Uint8Array): string => {
  const path = join(dir, name)
  run("mkfifo", [path])
  createWriteStream(path)
    .on("error", () => undefined)
    .end(bytes)
  return path
}

const readsInOrder = async (name: string, file: Uint8Array, container: ContainerKind, chunkSize?: number) => {
  const source = await withinTime(openSource(pipeOf(name, file), chunkSize === undefined ? undefined : { chunkSize }))
  assert.strictEqual(source.container, container)
  const { bytes } = await withinTime(drain(source))
  assert.strictEqual(bytes.length, data.length, name)
  assert.isTrue(Buffer.from(bytes).equals(data), `${name}: same bytes`)
}

describe("ByteSource over a pipe", () => {
  it("raw, recognised by content, with pieces smaller and larger than what was read to recognise it", async () => {
    await readsInOrder("raw-small.trace", data, "raw", 4096)
    await readsInOrder("raw.trace", data, "raw")
  })

  it("gzip, recognised by content", () => readsInOrder("trace.gz", gzipSync(data), "gzip"))

  it("gzip as gzread reads it, as from a file: several members, header fields, trailing bytes that start no member ignored", async () => {
    const members = [
      gzipSync(data.subarray(0, 700_000)),
      gzipSync(new Uint8Array(0)),
      gzipWithHeader(data.subarray(700_000, 1_000_000)),
      ...Array.from({ length: 40 }, (_, i) =>
        gzipSync(data.subarray(1_000_000 + i * 11_000, 1_000_000 + (i + 1) * 11_000))
      )
    ]
    const whole = Buffer.concat([...members, gzipSync(data.subarray(1_440_000))])
    const tails: ReadonlyArray<[string, Uint8Array]> = [
      ["none", new Uint8Array(0)],
      ["text", Buffer.from("trailing garbage\n")],
      ["a-lone-1f", Buffer.from([0x1f])],
      ["zeros", new Uint8Array(4096)]
    ]
    for (const [name, tail] of tails) await readsInOrder(`tail-${name}.gz`, Buffer.concat([whole, tail]), "gzip")
  })

  it("gzip through a pipe: a bad second member or a wrong trailer is the file's typed error", async () => {
    const gz = gzipSync(data)
    const bad = Buffer.from(gz)
    bad[bad.length - 6]! ^= 0xff
    const method = gzipSync(data)
    method[2] = 7
    const cases: ReadonlyArray<[string, Uint8Array, string, RegExp]> = [
      ["badcrc.gz", bad, "BadChecksum", /incorrect data check in member 1/],
      ["cuttrailer.gz", gz.subarray(0, gz.length - 3), "Truncated", /ends inside the trailer of member 1/],
      [
        "badsecond.gz",
        Buffer.concat([gz, method]),
        "Corrupt",
        new RegExp(`unknown compression method \\(file byte ${gz.length + 2}\\)`)
      ]
    ]
    for (const [name, bytes, reason, detail] of cases) {
      const path = pipeOf(name, bytes)
      const error = await withinTime(failureOf(() => openSource(path)))
      assert.strictEqual(error.reason, reason, name)
      assert.strictEqual(error.path, path)
      assert.match(error.detail, detail)
    }
  })

  it("snappy, lz4 and zstd, recognised by name", async () => {
    await readsInOrder("trace.sz", snappyFrames(data).file, "snappy")
    await readsInOrder("trace.lz4", lz4FrameCompress(data), "lz4")
    await readsInOrder("trace.zst", zstdCompressSync(data), "zstd")
  })

  it("a real trace gives the same records through a pipe as from its file", async () => {
    const file = `${TRACES}/drmemtrace.small.x64.trace`
    const fromFile = await drain(await openSource(file))
    const source = await withinTime(openSource(pipeOf("small.x64.trace", readFileSync(file))))
    const { bytes } = await withinTime(drain(source))
    assert.isTrue(Buffer.from(bytes).equals(fromFile.bytes))
  })

  it("a zip archive through a pipe is UnsupportedContainer, by name or by content", async () => {
    const zip = join(dir, "made.zip")
    writeZip(zip, [{ name: "chunk.0000", bytes: data.subarray(0, 12_000) }])
    const bytes = readFileSync(zip)
    for (const name of ["piped.zip", "piped.trace"]) {
      const path = pipeOf(name, bytes)
      const error = await withinTime(failureOf(() => openSource(path)))
      assert.strictEqual(error.reason, "UnsupportedContainer", name)
      assert.strictEqual(error.path, path)
      assert.include(error.detail, "pipe")
    }
  })
})
