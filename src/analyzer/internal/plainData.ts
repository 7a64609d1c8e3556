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
import type * as Schema from "effect/Schema"
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
