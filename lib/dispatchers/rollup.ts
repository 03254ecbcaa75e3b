/**
 * The run's cost and time, summed from its calls as they finish: the calls' container `cost`
 * (what Arvados charged; none locally), their running time (the container's own started/finished
 * times where the executor reports them, otherwise from start to done here), and the time saved
 * by reused calls (the running time of the earlier run that made their result, where known).
 *
 * @since 0.2.0
 */
import type * as Dispatcher from '../dispatcher.js'
import type * as Executor from './executor.js'

/**
 * @category models
 * @since 0.2.0
 */
export interface Rollup {
  /** one finished call: `ranMs` is from its start to done here (undefined when it did not start) */
  readonly add: (reused: boolean, usage: Executor.Usage | undefined, ranMs: number | undefined) => void
  readonly stats: () => Pick<Dispatcher.Stats, 'cost' | 'containerMs' | 'savedMs'>
}

const spanMs = (u: Executor.Usage | undefined): number | undefined => {
  if (u?.startedAt === undefined || u.finishedAt === undefined) return undefined
  const ms = Date.parse(u.finishedAt) - Date.parse(u.startedAt)
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined
}

/**
 * @category constructors
 * @since 0.2.0
 */
export const make = (): Rollup => {
  let cost: number | undefined
  let containerMs = 0
  let savedMs = 0
  return {
    add: (reused, usage, ranMs) => {
      const span = spanMs(usage)
      if (reused) {
        if (span !== undefined) savedMs += span
        return
      }
      if (usage?.cost !== undefined) cost = (cost ?? 0) + usage.cost
      const ran = span ?? ranMs
      if (ran !== undefined) containerMs += ran
    },
    stats: () => ({ ...(cost === undefined ? {} : { cost }), containerMs, savedMs }),
  }
}
