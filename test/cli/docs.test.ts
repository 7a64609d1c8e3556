import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import * as Options from "../../src/cli/Options.ts"

describe("docs/cli.md", () => {
  const doc = fs.readFileSync("docs/cli.md", "utf8")
  it("lists every option in both forms with its default", () => {
    for (const row of Options.table) {
      const s = row as Options.Spec
      const line = doc.split("\n").find((l) => l.startsWith(`| \`-${s.dr}\``))
      assert.isDefined(line, `-${s.dr} missing`)
      assert.include(line!, `\`--${s.flag}\``, s.dr)
      assert.include(line!, `\`${s.kind.show(s.default)}\``, s.dr)
    }
  })
})
