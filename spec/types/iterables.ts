/**
 * Compile-only type specs for iterables of futures: wherever an array of `T` is accepted, a
 * generator, a Set or a Map of (futures of) `T` is accepted too; strings and async iterables
 * are not.
 */
import * as t from 'io-ts'
import { CollectionCodec, defineModule, work, type Future, type OutputOf } from '../../lib/index.js'

type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false
const expectType = <T extends true>(_: T): void => undefined

const length = work({ args: [t.string], returns: t.number }, (s) => s.length)
const total = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))
const words = work({ args: [t.array(t.string)], returns: t.number }, (xs) => xs.length)
const part = work({ args: [t.string], returns: CollectionCodec }, (s, ctx) => ctx.output.fromFiles({ [s]: s }))

// an implementation declared to return a collection may return any iterable of collection futures
work({ args: [t.array(t.string)], returns: CollectionCodec }, function* (names, ctx) {
  for (const n of names) yield ctx.call(part, n)
})

export const Gen = defineModule({
  name: 'iterables',
  params: t.type({ words: t.array(t.string) }),
  work: { length, total, words, part },
  run: ({ words: ws }, { work: w }) => {
    function* lengths(): Generator<Future<number>> {
      for (const x of ws) yield w.length(x)
    }
    w.total(lengths())
    w.total(new Set([w.length('a'), 2]))
    w.total(new Map<string, Future<number> | number>([['a', w.length('a')], ['b', 3]]))
    w.total({ [Symbol.iterator]: () => [1, 2][Symbol.iterator]() })
    // @ts-expect-error a string is iterable, but it is not an array of strings
    w.words('abc')
    // @ts-expect-error an async generator is not walked for futures
    w.total((async function* () { yield 1 })())
    // @ts-expect-error a Set of strings is not an array of numbers
    w.total(new Set(['a']))
    return new Set([w.total([1]), w.length('x')])
  },
})

// a generator or a Set returned from run resolves to an array
expectType<Equals<OutputOf<typeof Gen>, Array<number>>>(true)
