/**
 * docs/concepts/reuse.md — each `square` logs when it really runs, so a second run shows what
 * was reused from the result cache (`--cache-dir`) and what was computed again. `CRASH_AT=k`
 * in the environment makes `square(k)` kill the whole process, as a power cut would, to show
 * that a re-run after a crash runs only the unfinished calls.
 *
 *   crunch run samples/docs/reuse.ts --n 3 --cache-dir /tmp/crunch-docs --progress json
 *   CRASH_AT=3 crunch run samples/docs/reuse.ts --n 3 --progress json --concurrency 1
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

const square = work({ args: [t.number], returns: t.number }, async (x, ctx) => {
  ctx.log(`computing ${x}²`)
  await new Promise((resolve) => setTimeout(resolve, 10)) // stands for real work that takes a while
  // not a failure the dispatcher sees: the process dies on the spot (SIGKILL cannot be caught)
  if (process.env['CRASH_AT'] === String(x)) process.kill(process.pid, 'SIGKILL')
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
