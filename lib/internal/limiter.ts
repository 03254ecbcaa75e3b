/**
 * At most `limit` tasks at once; the others wait their turn, first come first served (`make`),
 * or, with `refillingInBulk`, start again only when half the slots are free, all in one turn.
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

/**
 * At most `limit` tasks at once, but waiting tasks start again only when half of the slots are
 * free, all of them in one turn of the event loop (first come first served). A caller that
 * batches what its tasks ask for in a turn (the crunch executor's look-ups of earlier results:
 * one request per hundred) then still gets large batches, where `make` would start the waiting
 * tasks one by one as slots free.
 *
 * @category constructors
 * @since 0.2.0
 */
export const refillingInBulk = (limit: number): Limiter => {
  let active = 0
  const waiting: Array<(() => void) | undefined> = []
  let head = 0
  const release = (): void => {
    active--
    if (active > limit / 2) return
    while (active < limit && head < waiting.length) {
      const next = waiting[head]!
      waiting[head++] = undefined
      active++
      next()
    }
    if (head === waiting.length) {
      waiting.length = 0
      head = 0
    }
  }
  return <A>(task: () => Promise<A>): Promise<A> => {
    const run = (): Promise<A> => {
      const p = task()
      p.then(release, release)
      return p
    }
    if (active < limit) {
      active++
      return run()
    }
    return new Promise<void>((resolve) => waiting.push(resolve)).then(run)
  }
}
