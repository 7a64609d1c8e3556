/**
 * Helpers for the container tests: temporary directories, deterministic test
 * data, writers for containers with no writer in Node (zip via python3's
 * zipfile, snappy framing by hand), and a guard that turns a hang into a
 * failure.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { crc32, deflateRawSync } from "node:zlib"
import { crc32c } from "@node-rs/crc32"
import { compressSync } from "snappy"
import type { ByteSource, SourceChunk } from "../../../src/trace/internal/source.ts"
import { TraceError } from "../../../src/trace/TraceError.ts"

export const TRACES = "../shared/traces"

/** A fresh temporary directory, removed by the returned `cleanup`. */
export const tempDir = (): { readonly dir: string; readonly cleanup: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), "memtrace-container-"))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Descriptors of this process open on files under `dir`. */
export const openUnder = (dir: string): number =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)
    } catch {
      return false
    }
  }).length

/** Deterministic pseudo-random bytes (xorshift32). */
export const randomBytes = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Trace-like bytes: 12-byte entries drawn from a small alphabet, so they compress (but not trivially). */
export const traceLikeBytes = (entries: number, seed: number): Uint8Array => {
  const noise = randomBytes(entries * 2, seed)
  const out = new Uint8Array(entries * 12)
  const view = new DataView(out.buffer)
  let pc = 0x401000
  for (let i = 0; i < entries; i++) {
    const kind = noise[2 * i]! % 4
    view.setUint16(i * 12, kind === 0 ? 0 : 10, true)
    view.setUint16(i * 12 + 2, kind === 0 ? 8 : 1 + (noise[2 * i + 1]! % 7), true)
    pc += noise[2 * i + 1]! % 16
    view.setUint32(i * 12 + 4, kind === 0 ? 0x7ffe0000 + noise[2 * i + 1]! * 8 : pc, true)
    view.setUint32(i * 12 + 8, 0, true)
  }
  return out
}

/** Reads a source to its end. */
export const drain = async (
  source: ByteSource
): Promise<{ readonly bytes: Uint8Array; readonly chunks: ReadonlyArray<SourceChunk> }> => {
  const chunks: Array<SourceChunk> = []
  const pieces: Array<Uint8Array> = []
  for (let chunk = await source.pull(); chunk !== undefined; chunk = await source.pull()) {
    // Copies (a Buffer's slice() is a view): a chunk's bytes are only valid until the next pull.
    const copy = new Uint8Array(chunk.bytes)
    chunks.push({ ...chunk, bytes: copy })
    pieces.push(copy)
  }
  return { bytes: new Uint8Array(Buffer.concat(pieces)), chunks }
}

/** Rejects when `promise` does not settle in `ms` (a hang guard, not a timing assertion). */
export const withinTime = <A>(promise: Promise<A>, ms = 10_000): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms)
    promise.then(
      (a) => {
        clearTimeout(timer)
        resolve(a)
      },
      (e) => {
        clearTimeout(timer)
        reject(e)
      }
    )
  })

/** The TraceError a promise rejects with (fails when it resolves or rejects with anything else). */
export const rejection = async (promise: Promise<unknown>): Promise<TraceError> => {
  try {
    await withinTime(promise)
  } catch (e) {
    if (e instanceof TraceError) return e
    throw new Error(`rejected with a non-TraceError: ${String(e)}`)
  }
  throw new Error("expected a rejection, but it resolved")
}

/** Opens with `open` and drains; the TraceError of whichever step fails. */
export const failureOf = (open: () => Promise<ByteSource>): Promise<TraceError> =>
  rejection(
    (async () => {
      const source = await open()
      try {
        await drain(source)
      } finally {
        await source.close()
      }
    })()
  )

export interface ZipMember {
  readonly name: string
  readonly bytes: Uint8Array
  /** Default deflate. */
  readonly stored?: boolean
}

/** Writes a zip with python3's zipfile (an independent writer), members in the given order. */
export const writeZip = (path: string, members: ReadonlyArray<ZipMember>, dirEntry?: string): void => {
  const work = mkdtempSync(join(tmpdir(), "memtrace-zipsrc-"))
  try {
    const spec = members.map((m, i) => {
      const file = join(work, `m${i}`)
      writeFileSync(file, m.bytes)
      return { name: m.name, file, stored: m.stored === true }
    })
    const script = `
import json, sys, zipfile
spec = json.loads(sys.argv[2])
with zipfile.ZipFile(sys.argv[1], "w") as z:
    if sys.argv[3]:
        z.writestr(zipfile.ZipInfo(sys.argv[3]), b"")
    for m in spec:
        with open(m["file"], "rb") as f:
            data = f.read()
        z.writestr(m["name"], data, compress_type=zipfile.ZIP_STORED if m["stored"] else zipfile.ZIP_DEFLATED)
`
    execFileSync("python3", ["-c", script, path, JSON.stringify(spec), dirEntry ?? ""])
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** Every member of each zip as python3's zipfile reads it (CRC-checked): an independent reader. */
export const pythonZipMembers = (
  paths: ReadonlyArray<string>
): Record<string, Array<{ name: string; size: number; sha256: string }>> => {
  const script = `
import hashlib, json, sys, zipfile
result = {}
for path in sys.argv[1:]:
    with zipfile.ZipFile(path) as z:
        out = []
        for info in z.infolist():
            if info.filename.endswith("/"):
                continue
            data = z.read(info)
            out.append({"name": info.filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        result[path] = out
print(json.dumps(result))
`
  return JSON.parse(execFileSync("python3", ["-c", script, ...paths], { encoding: "utf8" }))
}

// ---- snappy framing, written by hand from the format description ----

export const SNAPPY_STREAM_ID = Uint8Array.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59])

const chunkHeader = (type: number, length: number): Uint8Array =>
  Uint8Array.from([type, length & 0xff, (length >> 8) & 0xff, (length >> 16) & 0xff])

/** The framing format's masked CRC-32C, from its definition. */
export const snappyMask = (data: Uint8Array): number => {
  const crc = crc32c(data) >>> 0
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0
}

const le32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n >>> 0, true)
  return b
}

/** One snappy framing chunk of `type` (0x00–0x03) holding `data` (≤ 64 KiB). */
export const snappyChunk = (type: 0 | 1 | 2 | 3, data: Uint8Array): Uint8Array => {
  const payload = type === 0 || type === 2 ? new Uint8Array(compressSync(data)) : data
  const crc = type === 0 || type === 1 ? le32(snappyMask(data)) : new Uint8Array(0)
  return Buffer.concat([chunkHeader(type, crc.length + payload.length), crc, payload])
}

/** A skippable (0x80–0xfe) chunk. */
export const snappySkippable = (type: number, body: Uint8Array): Uint8Array =>
  Buffer.concat([chunkHeader(type, body.length), body])

/**
 * A framed stream cycling through chunk types 0x00, 0x01, 0x02, 0x03 in 64 KiB
 * blocks, with a skippable chunk, padding and a repeated stream identifier
 * thrown in; returns the file bytes and the file offset of each data chunk.
 */
export const snappyFrames = (data: Uint8Array): { readonly file: Uint8Array; readonly chunkOffsets: Array<number> } => {
  const parts: Array<Uint8Array> = [SNAPPY_STREAM_ID]
  const chunkOffsets: Array<number> = []
  let size = SNAPPY_STREAM_ID.length
  const push = (part: Uint8Array) => {
    parts.push(part)
    size += part.length
  }
  let block = 0
  for (let at = 0; at < data.length; at += 65536, block++) {
    if (block === 1) push(snappySkippable(0x80, randomBytes(100, 7)))
    if (block === 2) push(snappySkippable(0xfe, new Uint8Array(33)))
    if (block === 3) push(SNAPPY_STREAM_ID)
    chunkOffsets.push(size)
    push(snappyChunk((block % 4) as 0 | 1 | 2 | 3, data.subarray(at, Math.min(at + 65536, data.length))))
  }
  return { file: Buffer.concat(parts), chunkOffsets }
}

/** Runs a command-line tool, failing loudly (the tests need python3, lz4 and zstd on PATH). */
export const run = (command: string, args: ReadonlyArray<string>): void => {
  execFileSync(command, args, { stdio: ["ignore", "ignore", "pipe"] })
}

/**
 * One gzip member of `data` whose header has every optional field: an extra field of `extraLength`
 * bytes, a name, a comment and a header CRC (Node's gzip writes none of them).
 */
export const gzipWithHeader = (data: Uint8Array, extraLength = 300): Buffer => {
  const fixed = Buffer.from([0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 3])
  const xlen = Buffer.alloc(2)
  xlen.writeUInt16LE(extraLength)
  const header = Buffer.concat([
    fixed,
    xlen,
    Buffer.alloc(extraLength, 0x41),
    Buffer.from("trace.raw\0"),
    Buffer.from("a comment\0")
  ])
  const hcrc = Buffer.alloc(2)
  hcrc.writeUInt16LE(crc32(header) & 0xffff)
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(crc32(data) >>> 0, 0)
  trailer.writeUInt32LE(data.length % 4294967296, 4)
  return Buffer.concat([header, hcrc, deflateRawSync(data), trailer])
}
