/**
 * Synchronous decoding of an in-memory trace: the pure path used by tests,
 * synthetic inputs and `Trace.decodeSync`.
 */
import * as RecordBatch from "../RecordBatch.ts"
import { TraceError } from "../TraceError.ts"
import { Decoder } from "./decoder.ts"

export const decodeBytesSync = (
  bytes: Uint8Array,
  options?: {
    readonly batchCapacity?: number | undefined
    readonly encodings?: boolean | undefined
    readonly ordinal?: number | undefined
    readonly name?: string | undefined
  }
): Array<RecordBatch.RecordBatch> => {
  const name = options?.name ?? "memory"
  const capacity = RecordBatch.capacityFor(options?.batchCapacity)
  if (typeof capacity === "string") throw new TraceError({ reason: "InvalidOptions", path: name, detail: capacity })
  const aligned = new Uint8Array(bytes.length - (bytes.length % 12))
  aligned.set(bytes.subarray(0, aligned.length))
  const words = new Uint32Array(aligned.buffer, 0, aligned.length / 4)
  const entries = aligned.length / 12
  const decoder = new Decoder({ keepEncodings: options?.encodings })
  const out: Array<RecordBatch.RecordBatch> = []
  const fail = (reason: TraceError["reason"], detail: string, offset?: number) =>
    new TraceError({ reason, path: name, offset, record: decoder.records + 1, detail })
  let pos = 0
  do {
    const batch = RecordBatch.make(capacity, { encodings: options?.encodings })
    RecordBatch.setOrigin(batch, options?.ordinal ?? 0, decoder.records + 1, decoder.instrs)
    pos = decoder.decode(words, pos, entries, batch)
    decoder.split = false
    if (decoder.fault !== undefined) throw fail(decoder.fault.reason, decoder.fault.detail, decoder.fault.entry * 12)
    if (pos >= entries) decoder.finish(batch)
    if (decoder.foundFiletype) RecordBatch.setFiletype(batch, decoder.filetype)
    RecordBatch.setVersion(batch, decoder.version)
    if (RecordBatch.length(batch) > 0) out.push(batch)
  } while (pos < entries)
  if (bytes.length % 12 !== 0) throw fail("Truncated", "the bytes end inside an entry", aligned.length)
  if (!decoder.started) throw fail("NotATrace", "no trace entries")
  if (!decoder.atFooter) throw fail("Truncated", "the input ends without a footer entry", aligned.length)
  return out
}
