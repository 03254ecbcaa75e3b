/**
 * At most `limit` tasks at once; the others wait their turn, first come first served.
 *
 * @since 0.1.0
 */

/**
 * @category models
 * @since 0.1.0
 */
export type Limiter = <A>(task: () => Promise<A>) => Promise<A>

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (limit: number): Limiter => {
  let active = 0
  const waiting: Array<() => void> = []
  return async <A>(task: () => Promise<A>): Promise<A> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve))
    else active++
    try {
      return await task()
    } finally {
      const next = waiting.shift()
      if (next === undefined) active--
      else next()
    }
  }
}
