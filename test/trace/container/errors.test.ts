import { spawnSync } from "node:child_process"
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { gzipSync, zstdCompressSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { compress as lz4FrameCompress } from "lz4js"
import { afterAll } from "vitest"
import { fromCodecError, fromIoError } from "../../../src/trace/internal/container/errors.ts"
import { listInputs } from "../../../src/trace/internal/listing.ts"
import { openSource, readZipComponents } from "../../../src/trace/internal/source.ts"
import type { TraceError } from "../../../src/trace/TraceError.ts"
import {
  failureOf,
  gzipWithHeader,
  rejection,
  run,
  SNAPPY_STREAM_ID,
  snappyChunk,
  snappyFrames,
  tempDir,
  traceLikeBytes,
  writeZip
} from "./fixtures.ts"

const { dir, cleanup } = tempDir()
afterAll(cleanup)

const data = traceLikeBytes(40_000, 11) // 480 KB
const file = (name: string, bytes: Uint8Array): string => {
  const path = join(dir, name)
  writeFileSync(path, bytes)
  return path
}
const failure = (path: string): Promise<TraceError> => failureOf(() => openSource(path))

const expectError = (
  error: TraceError,
  reason: TraceError["reason"],
  path: string,
  where: { component?: string; offset?: number } = {}
) => {
  assert.strictEqual(error._tag, "TraceError")
  assert.strictEqual(error.reason, reason, error.message)
  assert.strictEqual(error.path, path)
  if ("component" in where) assert.strictEqual(error.component, where.component)
  if ("offset" in where) assert.strictEqual(error.offset, where.offset)
}

/** Offset of the first member's data in a zip written by python (local header 30 bytes + name + extra). */
const firstDataOffset = (zip: Buffer): number => 30 + zip.readUInt16LE(26) + zip.readUInt16LE(28)

describe("missing and unreadable paths", () => {
  it("a missing file is NotFound whatever its container", async () => {
    for (const name of ["x.trace", "x.trace.zip", "x.memtrace.sz", "x.trace.lz4", "x.trace.zst", "x.trace.gz"]) {
      const path = join(dir, "nowhere", name)
      expectError(await rejection(openSource(path)), "NotFound", path)
    }
    expectError(await rejection(readZipComponents(join(dir, "none.zip"))), "NotFound", join(dir, "none.zip"))
    expectError(await rejection(listInputs(join(dir, "nowhere"))), "NotFound", join(dir, "nowhere"))
  })

  it("a directory given as a trace file is NotATrace", async () => {
    expectError(await rejection(openSource(dir)), "NotATrace", dir)
    const zipDir = join(dir, "dir.zip")
    mkdirSync(zipDir)
    expectError(await rejection(openSource(zipDir)), "NotATrace", zipDir)
  })

  it("unreadable files and directories are PermissionDenied (checked as an unprivileged user when run as root)", async () => {
    const locked = file("locked.trace", data)
    const lockedZip = join(dir, "locked.zip")
    writeZip(lockedZip, [{ name: "chunk.0000", bytes: data }])
    const lockedDir = join(dir, "lockeddir")
    mkdirSync(lockedDir)
    writeFileSync(join(lockedDir, "a.trace"), data)
    for (const p of [locked, lockedZip, lockedDir]) chmodSync(p, 0o000)
    const probe = async () => {
      const outcome = async (f: () => Promise<unknown>) => {
        try {
          await f()
          return "ok"
        } catch (e) {
          const t = e as TraceError
          return `${t._tag}:${t.reason}:${t.path}`
        }
      }
      return [
        await outcome(() => openSource(locked)),
        await outcome(() => openSource(lockedZip)),
        await outcome(() => listInputs(lockedDir))
      ]
    }
    let outcomes: Array<string>
    if (process.getuid?.() === 0) {
      // root reads mode-000 files anyway: run the same probe as "nobody", so the EACCES is real.
      for (const p of [dir]) chmodSync(p, 0o755)
      const source = pathToFileURL(join(process.cwd(), "src/trace/internal/source.ts")).href
      const listing = pathToFileURL(join(process.cwd(), "src/trace/internal/listing.ts")).href
      const script = `
        import { openSource } from ${JSON.stringify(source)}
        import { listInputs } from ${JSON.stringify(listing)}
        const outcome = async (f) => { try { await f(); return "ok" } catch (e) { return e._tag + ":" + e.reason + ":" + e.path } }
        console.log(JSON.stringify([
          await outcome(() => openSource(${JSON.stringify(locked)})),
          await outcome(() => openSource(${JSON.stringify(lockedZip)})),
          await outcome(() => listInputs(${JSON.stringify(lockedDir)}))
        ]))`
      const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        uid: 65534,
        gid: 65534,
        encoding: "utf8",
        timeout: 20_000
      })
      assert.strictEqual(child.status, 0, child.stderr)
      outcomes = JSON.parse(child.stdout)
    } else {
      outcomes = await probe()
    }
    assert.deepStrictEqual(outcomes, [
      `TraceError:PermissionDenied:${locked}`,
      `TraceError:PermissionDenied:${lockedZip}`,
      `TraceError:PermissionDenied:${lockedDir}`
    ])
    for (const p of [locked, lockedZip, lockedDir]) chmodSync(p, 0o755)
  })

  it("errno codes map to reasons, and stream errors carrying one keep it", () => {
    const errno = (code: string) => Object.assign(new Error(`${code}: failed`), { code, syscall: "open" })
    assert.strictEqual(fromIoError("p", errno("EACCES")).reason, "PermissionDenied")
    assert.strictEqual(fromIoError("p", errno("EPERM")).reason, "PermissionDenied")
    assert.strictEqual(fromIoError("p", errno("ENOENT")).reason, "NotFound")
    assert.strictEqual(fromIoError("p", errno("EIO")).reason, "IoError")
    assert.match(fromIoError("p", errno("EMFILE")).detail, /open-file limit/)
    assert.strictEqual(fromCodecError("p", "gzip", errno("EIO")).reason, "IoError")
  })
})

describe("zip", () => {
  const members = [
    { name: "chunk.0000", bytes: data.subarray(0, 200_000) },
    { name: "chunk.0001", bytes: data.subarray(200_000) }
  ]
  const good = join(dir, "good.zip")
  writeZip(good, members)
  const zip = readFileSync(good)

  it("a zip cut short is Truncated", async () => {
    const path = file("cut.zip", zip.subarray(0, Math.floor(zip.length * 0.6)))
    expectError(await failure(path), "Truncated", path)
    expectError(await rejection(readZipComponents(path)), "Truncated", path)
  })

  it("a non-zip file named .zip is BadMagic", async () => {
    const path = file("notes.zip", new TextEncoder().encode("just some notes, not an archive\n".repeat(10)))
    expectError(await failure(path), "BadMagic", path)
  })

  it("a wrong CRC-32 in the central directory is BadChecksum, naming the member and its end", async () => {
    const bad = Buffer.from(zip)
    const central = bad.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]))
    const second = bad.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]))
    assert.isAbove(central, second, "two central directory entries")
    bad[central + 16]! ^= 0x01 // CRC-32 of chunk.0001
    const path = file("badcrc.zip", bad)
    expectError(await failure(path), "BadChecksum", path, { component: "chunk.0001", offset: data.length - 200_000 })
  })

  it("a flipped byte in a stored member is BadChecksum", async () => {
    const storedPath = join(dir, "stored.zip")
    writeZip(storedPath, [{ name: "chunk.0000", bytes: data.subarray(0, 5000), stored: true }])
    const bad = readFileSync(storedPath)
    bad[firstDataOffset(bad) + 100]! ^= 0x40
    const path = file("stored-bad.zip", bad)
    expectError(await failure(path), "BadChecksum", path, { component: "chunk.0000", offset: 5000 })
  })

  it("invalid deflate data is Corrupt, naming the member", async () => {
    const bad = Buffer.from(zip)
    bad[firstDataOffset(bad)] = 0xff // BTYPE 11: reserved block type
    const path = file("baddeflate.zip", bad)
    expectError(await failure(path), "Corrupt", path, { component: "chunk.0000" })
  })

  it("a damaged local header is Corrupt", async () => {
    const bad = Buffer.from(zip)
    bad[0] = 0x51
    const path = file("badlocal.zip", bad)
    expectError(await failure(path), "Corrupt", path, { component: "chunk.0000" })
  })

  it("a member whose data runs past the end of the file is Truncated or Corrupt, never a hang", async () => {
    const bad = Buffer.from(zip)
    const central = bad.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]))
    bad.writeUInt32LE(zip.length * 4, central + 20) // compressed size of chunk.0000
    const path = file("oversized.zip", bad)
    const error = await failure(path)
    assert.include(["Truncated", "Corrupt"], error.reason, error.message)
    assert.strictEqual(error.path, path)
  })
})

describe("gzip", () => {
  const gz = gzipSync(data)

  it("a gzip cut short is Truncated", async () => {
    const path = file("cut.trace.gz", gz.subarray(0, Math.floor(gz.length / 2)))
    expectError(await failure(path), "Truncated", path)
  })

  it("a wrong CRC in the trailer is BadChecksum", async () => {
    const bad = Buffer.from(gz)
    bad[bad.length - 6]! ^= 0xff
    const path = file("badcrc.trace.gz", bad)
    expectError(await failure(path), "BadChecksum", path)
  })

  it("a member's trailer cut short is Truncated; a wrong length is BadChecksum; a wrong header CRC too", async () => {
    const cut = file("cuttrailer.trace.gz", gz.subarray(0, gz.length - 3))
    expectError(await failure(cut), "Truncated", cut)
    const bad = Buffer.from(gz)
    bad[bad.length - 2]! ^= 0xff
    const length = file("badlength.trace.gz", bad)
    const error = await failure(length)
    expectError(error, "BadChecksum", length)
    assert.match(error.detail, /incorrect length check in member 1/)
    const headed = gzipWithHeader(data)
    headed[10 + 2 + 300 + 10 + 10]! ^= 0xff // the header CRC's low byte
    const hcrc = file("badhcrc.trace.gz", headed)
    expectError(await failure(hcrc), "BadChecksum", hcrc)
  })

  it("a second member that is cut short or corrupt is an error, not ignored", async () => {
    const second = gzipSync(data)
    const cut = file("cutsecond.trace.gz", Buffer.concat([gz, second.subarray(0, 40)]))
    expectError(await failure(cut), "Truncated", cut, { offset: data.length })
    const method = Buffer.from(second)
    method[2] = 7
    const path = file("badsecond.trace.gz", Buffer.concat([gz, method]))
    const error = await failure(path)
    expectError(error, "Corrupt", path, { offset: data.length })
    assert.match(error.detail, new RegExp(`unknown compression method \\(file byte ${gz.length + 2}\\)`))
  })

  it("a bad header after the magic is Corrupt", async () => {
    const bad = Buffer.from(gz)
    bad[2] = 7 // compression method: only 8 (deflate) exists
    const path = file("badmethod.trace.gz", bad)
    expectError(await failure(path), "Corrupt", path)
  })
})

describe("zstd", () => {
  const zst = zstdCompressSync(data)

  it("a zstd file cut short is Truncated", async () => {
    const path = file("cut.trace.zst", zst.subarray(0, Math.floor(zst.length / 2)))
    expectError(await failure(path), "Truncated", path)
  })

  it("a non-zstd file named .zst is BadMagic", async () => {
    const path = file("notes.zst", new TextEncoder().encode("not zstd"))
    expectError(await failure(path), "BadMagic", path, { offset: 0 })
  })

  it("a wrong content checksum is BadChecksum", async () => {
    const plain = file("checked.trace", data)
    run("zstd", ["-q", "-f", "--check", plain, "-o", `${plain}.zst`])
    const bad = readFileSync(`${plain}.zst`)
    bad[bad.length - 1]! ^= 0xff
    const path = file("badsum.trace.zst", bad)
    expectError(await failure(path), "BadChecksum", path)
  })
})

describe("snappy", () => {
  const { file: sz, chunkOffsets } = snappyFrames(data)

  it("a file cut inside a chunk is Truncated at that chunk's offset", async () => {
    const path = file("cut.memtrace.sz", sz.subarray(0, chunkOffsets[2]! + 50))
    expectError(await failure(path), "Truncated", path, { offset: chunkOffsets[2]! })
  })

  it("a wrong CRC is BadChecksum at the chunk's offset", async () => {
    const bad = Buffer.from(sz)
    // chunk 4 is type 0x00 (compressed, with CRC): its CRC follows the 4-byte header.
    assert.strictEqual(bad[chunkOffsets[4]!], 0x00)
    bad[chunkOffsets[4]! + 5]! ^= 0x10
    const path = file("badcrc.memtrace.sz", bad)
    expectError(await failure(path), "BadChecksum", path, { offset: chunkOffsets[4]! })
    const uncompressed = Buffer.from(sz)
    assert.strictEqual(uncompressed[chunkOffsets[1]!], 0x01)
    uncompressed[chunkOffsets[1]! + 4 + 4 + 1000]! ^= 0x01 // a data byte of an uncompressed chunk
    const path2 = file("baddata.memtrace.sz", uncompressed)
    expectError(await failure(path2), "BadChecksum", path2, { offset: chunkOffsets[1]! })
  })

  it("a file without the stream identifier is BadMagic", async () => {
    const path = file("nomagic.memtrace.sz", sz.subarray(SNAPPY_STREAM_ID.length))
    expectError(await failure(path), "BadMagic", path, { offset: 0 })
    const text = file("notes.sz", new TextEncoder().encode("plain text, not snappy"))
    expectError(await failure(text), "BadMagic", text, { offset: 0 })
    const empty = file("empty.sz", new Uint8Array(0))
    expectError(await failure(empty), "BadMagic", empty)
  })

  it("a reserved unskippable chunk type is Corrupt", async () => {
    const reserved = Buffer.concat([SNAPPY_STREAM_ID, Buffer.from([0x10, 2, 0, 0, 1, 2]), snappyChunk(1, data)])
    const path = file("reserved.memtrace.sz", reserved.subarray(0, 200))
    expectError(await failure(path), "Corrupt", path, { offset: SNAPPY_STREAM_ID.length })
  })

  it("a chunk longer than the format allows is Corrupt, before it is read", async () => {
    const path = file(
      "huge.memtrace.sz",
      Buffer.concat([SNAPPY_STREAM_ID, Buffer.from([0x01, 0xff, 0xff, 0xff, 1, 2, 3])])
    )
    expectError(await failure(path), "Corrupt", path, { offset: SNAPPY_STREAM_ID.length })
  })

  it("a damaged compressed block is Corrupt", async () => {
    const block = Buffer.from(snappyChunk(2, data.subarray(0, 60_000)))
    block.fill(0xff, 10, 40)
    const path = file("badblock.memtrace.sz", Buffer.concat([SNAPPY_STREAM_ID, block]))
    expectError(await failure(path), "Corrupt", path, { offset: SNAPPY_STREAM_ID.length })
  })
})

describe("lz4", () => {
  const frame = Buffer.from(lz4FrameCompress(data))

  it("a file cut inside a block, or after a block without the end mark, is Truncated", async () => {
    const cut = file("cut.trace.lz4", frame.subarray(0, Math.floor(frame.length / 2)))
    expectError(await failure(cut), "Truncated", cut, { offset: 7 })
    const noEnd = file("noend.trace.lz4", frame.subarray(0, frame.length - 4))
    expectError(await failure(noEnd), "Truncated", noEnd, { offset: frame.length - 4 })
  })

  it("a non-lz4 file is BadMagic", async () => {
    const path = file("notes.lz4", new TextEncoder().encode("plain text, not lz4"))
    expectError(await failure(path), "BadMagic", path, { offset: 0 })
  })

  it("wrong header, block and content checksums are BadChecksum", async () => {
    const badHeader = Buffer.from(frame)
    badHeader[6]! ^= 0xff
    const p1 = file("badheader.trace.lz4", badHeader)
    expectError(await failure(p1), "BadChecksum", p1, { offset: 0 })

    const plain = file("lz4sums.trace", data)
    run("lz4", ["-q", "-f", "-B4", "-BD", "-BX", plain, `${plain}.lz4`])
    const checked = readFileSync(`${plain}.lz4`)
    const badBlock = Buffer.from(checked)
    badBlock[7 + 4 + 10]! ^= 0x01 // a byte of the first block
    const p2 = file("badblock.trace.lz4", badBlock)
    expectError(await failure(p2), "BadChecksum", p2, { offset: 7 })
    const badContent = Buffer.from(checked)
    badContent[badContent.length - 1]! ^= 0x01
    const p3 = file("badcontent.trace.lz4", badContent)
    expectError(await failure(p3), "BadChecksum", p3)
  })
})

describe("errors stick", () => {
  it("after a failure, every later pull rejects with the same TraceError", async () => {
    const gz = gzipSync(data)
    const path = file("sticky.trace.gz", gz.subarray(0, 3000))
    const source = await openSource(path)
    let first: TraceError | undefined
    try {
      for (;;) if ((await source.pull()) === undefined) break
    } catch (e) {
      first = e as TraceError
    }
    assert.isDefined(first)
    assert.strictEqual(await rejection(source.pull()), first)
    await source.close()
    await source.close()
  })

  it("a text file with no container extension is passed through as raw bytes (the decoder rejects it)", async () => {
    const text = new TextEncoder().encode("hello, not a trace\n")
    const path = file("notes.txt", text)
    const source = await openSource(path)
    assert.strictEqual(source.container, "raw")
    const chunk = await source.pull()
    assert.deepStrictEqual(chunk?.bytes, text)
    assert.strictEqual(await source.pull(), undefined)
  })
})
