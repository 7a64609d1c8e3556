/**
 * What ran where: per output, the runs of records of each input, and idle or
 * wait stretches, in order (for the schedule report and `--json`). Runs of
 * the same input (or of idling) that follow each other are merged, so the
 * log grows with the number of switches, not of records.
 */
export const IDLE = -1
export const WAIT = -2

export interface OutputSchedule {
  readonly output: number
  /** [input ordinal (or IDLE / WAIT), records] in order. */
  readonly runs: ReadonlyArray<readonly [number, number]>
  /** DynamoRIO's schedule statistics (schedule_statistic_t order) when the run was scheduled. */
  readonly stats: ReadonlyArray<number>
}

export class ScheduleLog {
  private readonly runs: Array<Array<[number, number]>>

  constructor(outputs: number) {
    this.runs = Array.from({ length: outputs }, () => [])
  }

  add(output: number, input: number, records: number): void {
    const list = this.runs[output]
    if (list === undefined) return
    const last = list[list.length - 1]
    if (last !== undefined && last[0] === input) last[1] += records
    else list.push([input, records])
  }

  snapshot(stats: (output: number) => ReadonlyArray<number> | undefined): ReadonlyArray<OutputSchedule> {
    return this.runs.map((runs, output) => ({ output, runs, stats: stats(output) ?? [] }))
  }
}
