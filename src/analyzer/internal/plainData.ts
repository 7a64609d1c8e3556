/**
 * Whether a schema's values are plain data that a worker thread's
 * `postMessage` (structured clone) carries unchanged: strings, numbers,
 * booleans, bigints, null/undefined, literals, enums, and arrays, structs,
 * records and unions of them, with no transformation anywhere.
 *
 * The thread backend sends such shard results as they are instead of through
 * the schema's JSON codec: encoding and decoding check every element, which
 * cost ≈ 0.25 s on each side for basic_counts' unique-PC lists over 30 copies
 * of threadsig (270 shards of ≈ 2,300 PCs).
 *
 * Gotchas: classes, dates, maps, sets and every `Declaration` are not plain
 * (structured clone drops their prototypes or shape), nor are symbol keys, nor
 * recursive (`Suspend`) schemas: they keep the codec. Refinements do not
 * change the value, so checks are ignored.
 */
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"

const plain = (ast: SchemaAST.AST): boolean => {
  if (ast.encoding !== undefined) return false
  switch (ast._tag) {
    case "Null":
    case "Undefined":
    case "String":
    case "Number":
    case "Boolean":
    case "BigInt":
    case "Literal":
    case "Enum":
      return true
    case "Arrays":
      return ast.elements.every(plain) && ast.rest.every(plain)
    case "Objects":
      return (
        ast.propertySignatures.every((p) => typeof p.name === "string" && plain(p.type)) &&
        ast.indexSignatures.every((i) => i.parameter._tag === "String" && plain(i.type))
      )
    case "Union":
      return ast.types.every(plain)
    default:
      return false
  }
}

/** True when values of `schema` cross a thread boundary intact by structured clone alone. */
export const isPlainData = (schema: Schema.Top): boolean => plain(schema.ast)

const asIs = (value: unknown): unknown => value

/**
 * How values of `schema` cross between a worker thread and the main thread:
 * as they are when plain data, else through the schema's JSON codec. The one
 * rule both sides use, so an encoding always meets its decoding.
 */
export const threadCodec = (
  schema: Schema.Codec<unknown, any>
): { readonly encode: (value: unknown) => unknown; readonly decode: (encoded: unknown) => unknown } =>
  isPlainData(schema)
    ? { encode: asIs, decode: asIs }
    : {
        encode: Schema.encodeUnknownSync(Schema.toCodecJson(schema)),
        decode: Schema.decodeUnknownSync(Schema.toCodecJson(schema))
      }
