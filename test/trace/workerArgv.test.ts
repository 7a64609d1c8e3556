import { assert, describe, it } from "@effect/vitest"
import { workerExecArgv } from "../../src/trace/internal/workerArgv.ts"

describe("workerExecArgv", () => {
  it("keeps the process's Node options but those of a script given on the command line", () => {
    assert.deepStrictEqual(
      workerExecArgv([
        "--input-type=module",
        "--max-old-space-size=100",
        "-e",
        "console.log(1)",
        "--import",
        "./hook.js",
        "--eval=2",
        "-p",
        "3",
        "--print",
        "4",
        "--print=5",
        "--expose-gc"
      ]),
      ["--max-old-space-size=100", "--import", "./hook.js", "--expose-gc"]
    )
    assert.deepStrictEqual(workerExecArgv([]), [])
  })
})
