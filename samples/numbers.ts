/**
 * A pipeline over JSON values: fan-out (one `square` per number), a gather (`sum` of all the
 * squares), a chain (`inc` three times), and a work that calls work (`sumOfSquares` calls
 * `square` and `sum` itself, so its result is a continuation).
 *
 *   npx crunch run samples/numbers.ts --n 10
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

export const square = work({ args: [t.number], returns: t.number }, (x) => x * x)

export const sum = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))

export const inc = work({ args: [t.number], returns: t.number }, (x) => x + 1)

/** calls other work: returns a future, which the dispatcher resolves and records as its output */
export const sumOfSquares = work({ args: [t.array(t.number)], returns: t.number }, (xs, ctx) => ctx.call(sum, xs.map((x) => ctx.call(square, x))))

export const Numbers = defineModule({
  name: 'numbers',
  params: t.type({ n: t.number }),
  work: { square, sum, inc, sumOfSquares },
  run: ({ n }, { work: w }) => {
    const xs = Array.from({ length: n }, (_, i) => i + 1)
    const squares = xs.map((x) => w.square(x)) // fan-out
    return {
      sumOfSquares: w.sum(squares), // gather
      chained: w.inc(w.inc(w.inc(n))), // a chain
      viaContinuation: w.sumOfSquares(xs), // a work that calls work
    }
  },
})

runMain(Numbers, import.meta.url)
