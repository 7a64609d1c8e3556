/**
 * Tools across processes: the coordinator turns tool values into ToolRefs;
 * a runner turns them back into tools, rebuilding registry tools from its own
 * registry and importing other tool modules only from its allow list (a
 * request read from the database never makes a runner import arbitrary code).
 */
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import type * as Tool from "../../analyzer/Tool.ts"
import * as Registry from "../../tools/Registry.ts"
import type { ToolRef } from "../ShardAnalysis.ts"

/** The module URL that `Registry.make` stamps on the standard tools' specs. */
const REGISTRY_MODULE = new URL("../../tools/Registry.ts", import.meta.url).href

/** A tool module path or URL, as a URL string (relative paths against the working directory). */
export const moduleUrl = (pathOrUrl: string): string =>
  /^[a-z][a-z0-9+.-]*:/i.test(pathOrUrl) && !/^[a-z]:[\\/]/i.test(pathOrUrl)
    ? new URL(pathOrUrl).href
    : pathToFileURL(pathOrUrl).href

/** How a runner rebuilds `tool`, or undefined when the tool carries no spec. */
export const toToolRef = (tool: Tool.Any): ToolRef | undefined => {
  const spec = tool.spec
  if (spec === undefined) return undefined
  if (spec.module === REGISTRY_MODULE && spec.export === "makeSync" && typeof spec.args[0] === "string") {
    const options = (spec.args[1] ?? {}) as Record<string, unknown>
    return { _tag: "Registry", name: spec.args[0], options }
  }
  return { _tag: "Module", module: spec.module, export: spec.export, args: [...spec.args] }
}

/** Why a tool could not be rebuilt (becomes a ShardInit failure). */
export class ToolLoadError {
  readonly _tag = "ToolLoadError"
  readonly tool: string
  readonly message: string
  constructor(tool: string, message: string) {
    this.tool = tool
    this.message = message
  }
}

const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/**
 * Rebuilds the tools of a request. `allowed` holds the module URLs this runner
 * may import besides its registry.
 */
export const loadTools = (
  refs: ReadonlyArray<ToolRef>,
  allowed: ReadonlySet<string>
): Effect.Effect<ReadonlyArray<Tool.Any>, ToolLoadError> =>
  Effect.forEach(refs, (ref) => {
    if (ref._tag === "Registry") {
      return Registry.make(ref.name, ref.options).pipe(Effect.mapError((e) => new ToolLoadError(ref.name, e.message)))
    }
    if (!allowed.has(ref.module)) {
      return Effect.fail(
        new ToolLoadError(
          ref.export,
          `tool module ${ref.module} is not allowed on this runner (start the runner with --tool-module for it)`
        )
      )
    }
    return Effect.tryPromise({
      try: async () => {
        const mod = (await import(ref.module)) as Record<string, unknown>
        const make = mod[ref.export]
        if (typeof make !== "function") throw new Error(`${ref.module} has no function export ${ref.export}`)
        const made: unknown = make(...ref.args)
        return (Effect.isEffect(made) ? Effect.runSync(made as Effect.Effect<Tool.Any>) : made) as Tool.Any
      },
      catch: (e) => new ToolLoadError(ref.export, describe(e))
    })
  })
