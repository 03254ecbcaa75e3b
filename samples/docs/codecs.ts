/**
 * docs/concepts/codecs.md — every value crosses a work boundary as encode → JSON → decode,
 * locally exactly as on a cluster. `--case` picks what crosses.
 *
 *   node lib/bin.js run samples/docs/codecs.ts --case tuple
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

/** A codec of our own: a Date travels as an ISO-8601 string and comes back as a Date. */
const DateFromIso = new t.Type<Date, string, unknown>(
  'DateFromIso',
  (u): u is Date => u instanceof Date,
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c)
    const d = new Date(u)
    return Number.isNaN(d.getTime()) ? t.failure(u, c) : t.success(d)
  },
  (d) => d.toISOString(),
)

const Point = t.type({ x: t.number, y: t.number })

/** a tuple out... */
const minMax = work({ args: [t.array(t.number)], returns: t.tuple([t.number, t.number]) }, (xs) => [Math.min(...xs), Math.max(...xs)] as [number, number])
/** ...and in: the receiver sees a plain array */
const spread = work({ args: [t.tuple([t.number, t.number])], returns: t.type({ isArray: t.boolean, spread: t.number }) }, (pair) => ({
  isArray: Array.isArray(pair),
  spread: pair[1] - pair[0],
}))
const nextDay = work({ args: [DateFromIso], returns: DateFromIso }, (d) => new Date(d.getTime() + 86_400_000))
const weekday = work({ args: [DateFromIso], returns: t.string }, (d) => (d instanceof Date ? d.toUTCString().slice(0, 3) : 'not a Date'))
const mean = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0) / xs.length)
const origin = work({ args: [], returns: Point }, () => ({ x: 0, y: 0, label: 'origin' }))
const strictOrigin = work({ args: [], returns: t.exact(Point) }, () => ({ x: 0, y: 0, label: 'origin' }))
const keys = work({ args: [t.UnknownRecord], returns: t.array(t.string) }, (r) => Object.keys(r))
const lookup = work({ args: [t.unknown], returns: t.unknown }, () => new Map([['a', 1]]))
const half = work({ args: [t.record(t.string, t.number)], returns: t.record(t.string, t.number) }, (r) =>
  // the cast hides a bug from TypeScript; the codec still catches it at the boundary
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === 'b' ? undefined : v / 2])) as Record<string, number>,
)

export const Codecs = defineModule({
  name: 'codecs',
  params: t.type({ case: t.keyof({ tuple: null, date: null, extra: null, nan: null, map: null, undefined: null, argument: null }) }),
  work: { minMax, spread, nextDay, weekday, mean, origin, strictOrigin, keys, lookup, half },
  run: (p, { work: w }) => {
    switch (p.case) {
      case 'tuple':
        return w.spread(w.minMax([3, 9, 4]))
      case 'date': {
        const d = w.nextDay(new Date('2024-02-28T12:00:00Z'))
        return { date: d, weekday: w.weekday(d) }
      }
      case 'extra':
        // t.type lets extra fields through; t.exact strips them at the boundary
        return { loose: w.keys(w.origin()), exact: w.keys(w.strictOrigin()) }
      case 'nan':
        return w.mean([]) // 0 / 0 = NaN: not JSON
      case 'map':
        return w.lookup(null) // a Map has no JSON form
      case 'undefined':
        return w.half({ a: 4, b: 6 }) // undefined is not JSON
      case 'argument':
        // a wrong argument fails at the call site in run(), before anything runs
        return w.mean([1, 2, Number.POSITIVE_INFINITY])
    }
  },
})

runMain(Codecs, import.meta.url)
