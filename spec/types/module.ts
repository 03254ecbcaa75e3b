/**
 * Compile-only type specs (checked by `tsc` as part of `npm test`). Each `@ts-expect-error`
 * line must be an error: if the SDK's types ever accept it, the directive itself fails the build.
 */
import * as t from 'io-ts'
import { defineModule, work, type Future, type OutputOf } from '../../lib/index.js'
import type { Collection } from '../../lib/collections/collection.js'

type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false
const expectType = <T extends true>(_: T): void => undefined

const length = work({ args: [t.string], returns: t.number }, (s) => s.length)
const label = work({ args: [t.number, t.string], returns: t.string }, (n, prefix) => `${prefix}${n}`)
const total = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))
const pair = work({ args: [t.type({ name: t.string, sizes: t.array(t.number) })], returns: t.number }, (p) => p.sizes.length)
const merge = work({ args: [t.array(t.string)], returns: t.unknown }, () => null)

// implementations receive decoded values of the declared types
work({ args: [t.number], returns: t.number }, (n) => {
  expectType<Equals<typeof n, number>>(true)
  return n
})

// an implementation must return the declared type (or a future / structure of futures of it)
// @ts-expect-error a string is not a number
work({ args: [t.number], returns: t.number }, (n) => String(n))

export const M = defineModule({
  name: 'types',
  params: t.type({ words: t.array(t.string) }),
  work: { length, label, total, pair, merge },
  run: ({ words }, { work: w, call }) => {
    const lengths = words.map((x) => w.length(x))
    expectType<Equals<(typeof lengths)[number], Future<number>>>(true)

    // futures are accepted wherever their value type is, at any depth
    const sum = w.total(lengths)
    w.total([1, lengths[0]!, 3])
    w.pair({ name: 'a', sizes: [w.length('x'), 2] })
    w.pair({ name: w.label(sum, 'n='), sizes: lengths })

    // @ts-expect-error a Future<string> is rejected where a number is expected
    w.total([w.label(1, 'x')])
    // @ts-expect-error a Future<number> is rejected where a string is expected
    w.length(sum)
    // @ts-expect-error wrong arity: too few arguments
    w.label(1)
    // @ts-expect-error wrong arity: too many arguments
    w.length('a', 'b')
    // @ts-expect-error a plain value of the wrong type is rejected too
    w.length(42)

    // a future cannot be used as its value
    // @ts-expect-error Future<number> is not a number
    const n: number = sum
    // @ts-expect-error no arithmetic on futures
    const plusOne: number = sum + 1
    // @ts-expect-error no string methods on Future<string>
    w.label(1, 'x').toUpperCase()
    // @ts-expect-error a value is not a future either
    const f: Future<number> = 3
    void n
    void plusOne
    void f

    // ctx.call is typed by the work definition passed to it
    const viaCall = call(length, 'abc')
    expectType<Equals<typeof viaCall, Future<number>>>(true)
    // @ts-expect-error ctx.call checks arguments against the definition
    call(length, 3)

    return { sum, labels: words.map((x) => w.label(w.length(x), x)), fixed: 'literal' as const }
  },
})

// run's result type is inferred: futures become their values, structures are kept
expectType<Equals<OutputOf<typeof M>, { sum: number; labels: Array<string>; fixed: 'literal' }>>(true)

// with a declared result codec, the output type is the codec's, and run must fit it
const Declared = defineModule({
  name: 'declared',
  params: t.unknown,
  work: { total },
  returns: t.number,
  run: (_, { work: w }) => w.total([1, 2]),
})
expectType<Equals<OutputOf<typeof Declared>, number>>(true)

defineModule({
  name: 'declared-wrong',
  params: t.unknown,
  work: { length },
  returns: t.number,
  // @ts-expect-error run returns a Future<number>[] where a number is declared
  run: (_, { work: w }) => [w.length('a')],
})

// a list of futures of collections is accepted where a collection is declared (concatenation)
declare const CollectionCodec: t.Type<Collection, string, unknown>
const part = work({ args: [t.number], returns: CollectionCodec }, (_n, ctx) => ctx.output.fromFiles({ 'a.txt': 'a' }))
const Concat = defineModule({
  name: 'concat',
  params: t.unknown,
  work: { part },
  returns: CollectionCodec,
  run: (_, { work: w }) => [w.part(1), w.part(2)],
})
expectType<Equals<OutputOf<typeof Concat>, Collection>>(true)
