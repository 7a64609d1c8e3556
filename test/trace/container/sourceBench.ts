/**
 * Throughput of `pull()` over every shipped trace (the "bare inflate floor"
 * of the read benchmarks), per chunk size, plus synthetic gzip/zstd/lz4/zip
 * inputs. Not a test: run `npx node test/trace/container/sourceBench.ts`.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync, zstdCompressSync } from "node:zlib"
import { compress as lz4FrameCompress } from "lz4js"
import { listInputs } from "../../../src/trace/internal/listing.ts"
import { openSource } from "../../../src/trace/internal/source.ts"
import { run, snappyFrames, TRACES, tempDir, traceLikeBytes, writeZip } from "./fixtures.ts"

const CHUNK_SIZES = [64 * 1024, 256 * 1024, 1024 * 1024]
const ROUNDS = Number(process.env.ROUNDS ?? 5)

const readAll = async (paths: ReadonlyArray<string>, chunkSize: number): Promise<number> => {
  let bytes = 0
  for (const path of paths) {
    const source = await openSource(path, { chunkSize })
    for (let chunk = await source.pull(); chunk !== undefined; chunk = await source.pull()) bytes += chunk.bytes.length
  }
  return bytes
}

/**
 * Wall-clock MB/s, and MB per CPU-second of this process (zlib's thread pool
 * included): the machine is shared, and CPU time is far less sensitive to the
 * other load than wall time.
 */
const measure = async (label: string, paths: ReadonlyArray<string>) => {
  const wall = new Map<number, Array<number>>(CHUNK_SIZES.map((c) => [c, []]))
  const cpu = new Map<number, Array<number>>(CHUNK_SIZES.map((c) => [c, []]))
  let bytes = 0
  await readAll(paths, 256 * 1024) // warm up
  for (let round = 0; round < ROUNDS; round++) {
    for (const chunkSize of CHUNK_SIZES) {
      const start = performance.now()
      const cpuStart = process.cpuUsage()
      bytes = await readAll(paths, chunkSize)
      const used = process.cpuUsage(cpuStart)
      wall.get(chunkSize)!.push(performance.now() - start)
      cpu.get(chunkSize)!.push((used.user + used.system) / 1e3)
    }
  }
  const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const rate = (ms: number) => (bytes / 1e6 / (ms / 1e3)).toFixed(0).padStart(5)
  const cells = CHUNK_SIZES.map((c) => `${rate(median(wall.get(c)!))} /${rate(median(cpu.get(c)!))}`)
  console.log(`${label.padEnd(34)} ${(bytes / 1e6).toFixed(1).padStart(6)} MB ${cells.join("   ")}`)
}

const shipped = [
  ...(await listInputs(`${TRACES}/drmemtrace.threadsig.x64.tracedir`)),
  ...(await listInputs(`${TRACES}/drmemtrace.threadsig-core-sharded.x64.tracedir`)),
  ...(await listInputs(`${TRACES}/drmemtrace.chase-snappy.x64.tracedir`)),
  `${TRACES}/drmemtrace.small.x64.trace`,
  `${TRACES}/drmemtrace.allasm_x86_64.trace.zip`
]
console.log(
  `median of ${ROUNDS} rounds; wall MB/s / MB per CPU-s at chunkSize ${CHUNK_SIZES.map((c) => `${c / 1024} KiB`).join(", ")}`
)
await measure("all shipped traces", shipped)
await measure(
  "  zip (threadsig + core-sharded)",
  shipped.filter((p) => p.endsWith(".zip"))
)
await measure(
  "  snappy (chase-snappy)",
  shipped.filter((p) => p.endsWith(".sz"))
)

const { dir, cleanup } = tempDir()
try {
  const data = traceLikeBytes(4_000_000, 1) // 48 MB
  const file = (name: string, bytes: Uint8Array) => {
    const path = join(dir, name)
    writeFileSync(path, bytes)
    return path
  }
  const raw = file("synthetic.trace", data)
  await measure("synthetic raw", [raw])
  await measure("synthetic gzip", [file("synthetic.trace.gz", gzipSync(data))])
  await measure("synthetic zstd", [file("synthetic.trace.zst", zstdCompressSync(data))])
  run("lz4", ["-q", "-f", "-BD", raw, `${raw}.lz4`])
  await measure("synthetic lz4 (lz4 tool, linked)", [`${raw}.lz4`])
  await measure("synthetic lz4 (lz4js)", [file("synthetic.lz4js.trace.lz4", lz4FrameCompress(data))])
  await measure("synthetic snappy", [file("synthetic.memtrace.sz", snappyFrames(data).file)])
  const zip = join(dir, "synthetic.zip")
  writeZip(zip, [{ name: "chunk.0000", bytes: data }])
  await measure("synthetic zip", [zip])
} finally {
  cleanup()
}
