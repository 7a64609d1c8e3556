/**
 * The Node options a worker thread of this process starts with: the
 * process's own (`process.execArgv`, so memory limits and loaders carry
 * over) without those that only make sense for a script given on the command
 * line (`--input-type`, `-e`/`--eval`, `-p`/`--print` and its code), which a
 * worker started from a file refuses.
 */
export const workerExecArgv = (argv: ReadonlyArray<string> = process.execArgv): Array<string> => {
  const kept: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === "-e" || a === "--eval" || a === "-p" || a === "--print") i++
    else if (!/^--(input-type|eval|print)=/.test(a)) kept.push(a)
  }
  return kept
}
