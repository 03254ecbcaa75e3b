/**
 * Iterables of futures (generators, Sets, Maps' values) wherever an array is accepted: turned
 * into arrays once, in order, when a call is recorded or a value returned; async iterables are
 * refused with ARV_ASYNC_ITERABLE.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { CollectionCodec } from '../lib/collections/codec.js'
import * as Collection from '../lib/collections/collection.js'
import * as Errors from '../lib/errors.js'
import * as Future from '../lib/future.js'
import * as Graph from '../lib/graph.js'
import { defineModule, work } from '../lib/module.js'
import { runModule } from '../lib/testing.js'

const inc = work({ args: [t.number], returns: t.number }, (n) => n + 1)
const total = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))
const list = work({ args: [t.array(t.number)], returns: t.array(t.number) }, (xs) => xs)
const nested = work({ args: [t.type({ xs: t.array(t.number) })], returns: t.number }, ({ xs }) => xs.length)
const part = work({ args: [t.string], returns: CollectionCodec }, (s, ctx) => ctx.output.fromFiles({ [`${s}.txt`]: s }))
const parts = work({ args: [t.array(t.string)], returns: CollectionCodec }, (names, ctx) => new Set(names.map((n) => ctx.call(part, n))))
const M = defineModule({ name: 'iterables-spec', params: t.unknown, work: { inc, total, list, nested, part, parts }, run: () => null })

/** a generator that counts how often it is started and how many items it gave */
const counted = <A>(items: ReadonlyArray<A>): { readonly gen: Generator<A>; readonly stats: { starts: number; yielded: number } } => {
  const stats = { starts: 0, yielded: 0 }
  function* gen(): Generator<A> {
    stats.starts++
    for (const x of items) {
      stats.yielded++
      yield x
    }
  }
  return { gen: gen(), stats }
}

const depsOf = (rec: Graph.Recorder<typeof M.work>, f: Future.Future<unknown>): ReadonlyArray<string> =>
  rec.calls().find((c) => c.id === Future.sourceOf(f).nodeId)!.deps

const recording = suite('recording a call with an iterable argument')

recording('should walk a generator of futures once, in order, like the array of its items', () => {
  const rec = Graph.recorder(M, undefined)
  const w = rec.context.work
  const a = w.inc(1)
  const b = w.inc(2)
  const { gen, stats } = counted<Future.Future<number> | number>([b, a, 7])
  const fromGen = w.total(gen)
  assert.equal(stats, { starts: 1, yielded: 3 })
  const fromArray = w.total([b, a, 7])
  assert.is(Future.sourceOf(fromGen).nodeId, Future.sourceOf(fromArray).nodeId, 'the same call id as the array')
  assert.equal(depsOf(rec, fromGen), [Future.sourceOf(b).nodeId, Future.sourceOf(a).nodeId])
})

recording('should take a Set in insertion order and a Map by its values, at any depth', () => {
  const rec = Graph.recorder(M, undefined)
  const w = rec.context.work
  const a = w.inc(1)
  const viaSet = w.total(new Set<Future.Future<number> | number>([a, 5]))
  const viaMap = w.total(new Map<string, Future.Future<number> | number>([['x', a], ['y', 5]]))
  assert.is(Future.sourceOf(viaSet).nodeId, Future.sourceOf(w.total([a, 5])).nodeId)
  assert.is(Future.sourceOf(viaMap).nodeId, Future.sourceOf(viaSet).nodeId)
  const deep = w.nested({ xs: (function* () { yield* [1, 2, 3] })() })
  assert.is(Future.sourceOf(deep).nodeId, Future.sourceOf(w.nested({ xs: [1, 2, 3] })).nodeId, 'a generator without futures is an array too')
})

recording('should read a Set or Map without futures as the array of its items where an array is declared', () => {
  const rec = Graph.recorder(M, undefined)
  const w = rec.context.work
  const viaSet = w.total(new Set([1, 2]))
  const viaMap = w.nested({ xs: new Map([['a', 1], ['b', 2]]) })
  assert.is(Future.sourceOf(viaSet).nodeId, Future.sourceOf(w.total([1, 2])).nodeId, 'a Set is its items')
  assert.is(Future.sourceOf(viaMap).nodeId, Future.sourceOf(w.nested({ xs: [1, 2] })).nodeId, 'a Map is its values')
})

recording('should keep a Set for a codec that declares a Set, and report a wrong item by its index', () => {
  const SetOfNumbers = new t.Type<Set<number>, Array<number>, unknown>(
    'SetOfNumbers',
    (u): u is Set<number> => u instanceof Set && [...u].every((x) => typeof x === 'number'),
    (u, c) => (Array.isArray(u) && u.every((x) => typeof x === 'number') ? t.success(new Set(u)) : t.failure(u, c)),
    (s) => [...s].sort((a, b) => a - b),
  )
  const size = work({ args: [SetOfNumbers], returns: t.number }, (s) => s.size)
  const S = defineModule({ name: 'set-codec', params: t.unknown, work: { size, total }, run: () => null })
  const rec = Graph.recorder(S, undefined)
  const f = rec.context.work.size(new Set([3, 1]))
  assert.equal(rec.calls().find((c) => c.id === Future.sourceOf(f).nodeId)!.args, [{ _tag: 'Json', json: '[1,3]' }], 'the Set codec encoded it')
  try {
    rec.context.work.total(new Set([1, 'two']) as unknown as ReadonlyArray<number>)
    assert.unreachable('expected ARV_ENCODE')
  } catch (e) {
    const carried = Errors.carried(e)
    assert.is(carried?.code, 'ARV_ENCODE')
    assert.equal(carried?.details, ['✖ expected number, received string', '  → at [1]'])
  }
})

recording('should refuse an async iterable, naming the argument and the work', () => {
  const rec = Graph.recorder(M, undefined)
  async function* numbers(): AsyncGenerator<number> {
    yield 1
  }
  try {
    rec.context.work.total(numbers() as unknown as ReadonlyArray<number>)
    assert.unreachable('expected ARV_ASYNC_ITERABLE')
  } catch (e) {
    const carried = Errors.carried(e)
    assert.is(carried?.code, 'ARV_ASYNC_ITERABLE')
    assert.is(carried?._tag, 'AsyncIterableError')
    assert.match(carried!.message, /^argument 1 of work "total" is an async iterable \(AsyncGenerator\)/)
    assert.match(carried!.hint ?? '', /for await/)
  }
})

const materialize = suite('Graph.materialize')

materialize('should return values without iterables as they are', () => {
  const v = { a: [1, 2], b: 'text', c: new Uint8Array([1]) }
  const r = Graph.materialize(v, 'x')
  assert.ok(E.isRight(r) && r.right === v)
})

materialize('should refuse an async iterable inside a record', () => {
  const r = Graph.materialize({ deep: [(async function* () {})()] }, 'the result of run()')
  assert.ok(E.isLeft(r) && r.left.code === 'ARV_ASYNC_ITERABLE' && r.left.message.startsWith('the result of run() is an async iterable'))
})

const running = suite('running with iterables (local dispatcher)')

running('should pass a generator of futures and resolve a Set returned from run to an array', async () => {
  const Run = defineModule({
    name: 'iterables-run',
    params: t.type({ n: t.number }),
    work: { inc, total, list },
    run: ({ n }, { work: w }) => {
      function* incs(): Generator<Future.Future<number>> {
        for (let i = 0; i < n; i++) yield w.inc(i)
      }
      return new Set([w.total(incs()), w.list((function* () { yield* [3, 1, 2] })())])
    },
  })
  const r = await runModule(Run, { n: 4 })
  assert.equal(r.value, [10, [3, 1, 2]])
})

running('should concatenate a Set of collection futures an implementation returns where a collection is declared', async () => {
  const Cat = defineModule({
    name: 'iterables-concat',
    params: t.unknown,
    work: { part, parts },
    returns: CollectionCodec,
    run: (_, { work: w }) => w.parts(['b', 'a']),
  })
  const r = await runModule(Cat, {})
  assert.equal(
    Collection.files(r.value).map((f) => f.path),
    ['a.txt', 'b.txt'],
  )
})

running('should record the calls a generator makes while it is read (a work result and run result)', async () => {
  // the generators call work lazily: the calls exist only once the dispatcher reads them
  const lazyParts = work({ args: [t.array(t.string)], returns: CollectionCodec }, function* (names, ctx) {
    for (const n of names) yield ctx.call(part, n)
  })
  const Lazy = defineModule({
    name: 'iterables-lazy',
    params: t.unknown,
    work: { part, lazyParts, inc, total },
    run: (_, { work: w }) => ({
      joined: w.lazyParts(['y', 'x']),
      incs: (function* () {
        for (const i of [1, 2]) yield w.inc(i)
      })(),
    }),
  })
  const r = await runModule(Lazy, {})
  const value = r.value as { joined: Collection.Collection; incs: ReadonlyArray<number> }
  assert.equal(
    Collection.files(value.joined).map((f) => f.path),
    ['x.txt', 'y.txt'],
  )
  assert.equal(value.incs, [2, 3])
})

recording.run()
materialize.run()
running.run()
