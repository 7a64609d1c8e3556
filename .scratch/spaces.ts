import v8 from "node:v8"
import { tuneGc } from "../src/cli/internal/gc.ts"
import { InputReader } from "../src/trace/internal/inputReader.ts"
import { listInputs } from "../src/trace/internal/listing.ts"
import { openSource } from "../src/trace/internal/source.ts"
import * as RecordBatch from "../src/trace/RecordBatch.ts"
tuneGc()
const dir = process.argv[2]!
const n = Number(process.argv[3] ?? 20)
const paths = (await listInputs(dir)).slice(0, n)
const snap = () => Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]))
const run = async (decode: boolean) => {
  for (const [i, path] of paths.entries()) {
    const src = await openSource(path)
    if (decode) {
      const reader = new InputReader(src, i)
      for (let b = await reader.next(); b !== undefined; b = await reader.next()) reader.recycle(b)
      await reader.close()
    } else {
      src.stream()
      for (let c = await src.pull(); c !== undefined; c = await src.pull()) {}
      await src.close()
    }
  }
}
for (const decode of [false, true, false, true]) {
  const a = snap()
  await run(decode)
  const b = snap()
  console.log(decode ? "read" : "floor", Object.entries(b).map(([k, v]) => `${k.replace("_space", "")} ${((v - (a[k] ?? 0)) / 1024).toFixed(0)}K`).join(" "))
}
