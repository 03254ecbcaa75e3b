/**
 * docs/concepts/futures.md — what a Future is good for, and what happens when it is misused.
 * `--misuse` picks a mistake to make inside run(); without it the module runs normally.
 *
 *   node lib/bin.js run samples/docs/futures.ts --word crunch
 *   node lib/bin.js run samples/docs/futures.ts --word crunch --misuse template
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

const upper = work({ args: [t.string], returns: t.string }, (s) => s.toUpperCase())
const length = work({ args: [t.string], returns: t.number }, (s) => s.length)
const describe = work({ args: [t.string, t.number], returns: t.string }, (s, n) => `${s} has ${n} letters`)

export const Futures = defineModule({
  name: 'futures',
  params: t.intersection([t.type({ word: t.string }), t.partial({ misuse: t.keyof({ template: null, compare: null, json: null, await: null }) })]),
  work: { upper, length, describe },
  run: async ({ word, misuse }, { work: w }) => {
    const shout = w.upper(word) // Future<string>
    const n = w.length(word) // Future<number>
    switch (misuse) {
      case 'template':
        return `${shout}!` // a Future is not a string
      case 'compare':
        // @ts-expect-error -- TypeScript already refuses this comparison
        return n > 3 ? 'long' : 'short'
      case 'json':
        return JSON.stringify({ shout })
      case 'await': {
        // awaiting a Future does not wait for anything: it gives the same Future back
        const same = await shout
        return { same, isTheSameFuture: same === shout }
      }
      default:
        // the right way: pass futures to work, or return them (in any structure)
        return { shout, sentence: w.describe(shout, n) }
    }
  },
})

runMain(Futures, import.meta.url)
