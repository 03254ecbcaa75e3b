/**
 * docs/concepts/reuse.md — each `square` logs when it really runs, so a second run shows what
 * was reused from the result cache (`--cache-dir`) and what was computed again.
 *
 *   crunch run samples/docs/reuse.ts --n 3 --cache-dir /tmp/crunch-docs --progress json
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

const square = work({ args: [t.number], returns: t.number }, (x, ctx) => {
  ctx.log(`computing ${x}²`)
  return x * x
})
const sum = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))
/** `reuse: false`: never taken from the cache (say, it reads a clock or the network) */
const stamp = work({ args: [t.number], returns: t.string, reuse: false }, (n, ctx) => {
  ctx.log('stamping')
  return `sum of ${n} squares`
})

export const Reuse = defineModule({
  name: 'reuse',
  params: t.type({ n: t.number }),
  work: { square, sum, stamp },
  run: ({ n }, { work: w }) => ({
    total: w.sum(Array.from({ length: n }, (_, i) => w.square(i + 1))),
    note: w.stamp(n),
  }),
})

runMain(Reuse, import.meta.url)
