/**
 * docs/concepts/dispatchers.md — a failing call, fail-fast versus `--keep-going`, retries, and
 * a slow call to cancel with Ctrl-C.
 *
 *   crunch run samples/docs/failures.ts --inputs 4 --inputs 0 --inputs 5
 *   crunch run samples/docs/failures.ts --inputs 4 --inputs 0 --inputs 5 --keep-going
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

const invert = work({ args: [t.number], returns: t.number }, (x) => {
  if (x === 0) throw new Error('cannot invert 0')
  return 1 / x
})
const sum = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))
/** waits until the run is cancelled (or `ms` pass), and stops when ctx.signal says so */
const wait = work({ args: [t.number], returns: t.number }, (ms, ctx) => {
  ctx.log('waiting')
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => resolve(ms), ms)
    ctx.signal.addEventListener('abort', () => {
      clearTimeout(timer)
      reject(new Error('stopped: the run was cancelled'))
    })
  })
})

export const Failures = defineModule({
  name: 'failures',
  params: t.intersection([t.type({ inputs: t.array(t.number) }), t.partial({ waitMs: t.number })]),
  work: { invert, sum, wait },
  run: ({ inputs, waitMs }, { work: w }) => {
    const inverses = inputs.map((x) => w.invert(x))
    return {
      each: inverses, // a structure of futures: gathered
      total: w.sum(inverses), // depends on every inverse
      ...(waitMs === undefined ? {} : { waited: w.wait(waitMs) }),
    }
  },
})

runMain(Failures, import.meta.url)
