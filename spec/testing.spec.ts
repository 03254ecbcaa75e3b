import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Errors from '../lib/errors.js'
import { runModule, runWork, runWorkEither } from '../lib/testing.js'
import { Numbers, square, sumOfSquares } from '../samples/numbers.js'
import { work } from '../lib/module.js'

const helper = suite('runWork')

helper('should run one work function through the local interpreter', async () => {
  assert.is(await runWork(square, [7]), 49)
})

helper('should run a work that calls work when given its module', async () => {
  assert.is(await runWork(sumOfSquares, [[1, 2, 3]], { module: Numbers }), 14)
})

helper('should explain that the other works must come from a module', async () => {
  const r = await runWorkEither(sumOfSquares, [[1]])
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_WORK_FAILED')
    assert.match(Errors.format(r.left), /UnknownWorkError \[ARV_UNKNOWN_WORK\]/)
  }
})

helper('should cross the codecs: a tuple result comes back as an array', async () => {
  const pair = work({ args: [t.number], returns: t.tuple([t.number, t.string]) }, (n) => [n, String(n)] as [number, string])
  const r = await runWork(pair, [5])
  assert.ok(Array.isArray(r))
  assert.equal(r, [5, '5'])
})

helper('should reject with a readable error carrying the code', async () => {
  const fails = work({ args: [], returns: t.number }, () => {
    throw new Error('nope')
  })
  try {
    await runWork(fails, [])
    assert.unreachable()
  } catch (e) {
    assert.is((e as { code?: string }).code, 'ARV_WORK_FAILED')
    assert.match((e as Error).message, /work "work" failed .*: nope/)
  }
})

helper.run()

// ---

const whole = suite('runModule')

whole('should run a composed pipeline and give its output, graph and stats', async () => {
  const r = await runModule(Numbers, { n: 3 })
  assert.equal(r.value, { sumOfSquares: 14, chained: 6, viaContinuation: 14 })
  assert.ok(r.graph.nodes.length > 0 && r.stats.calls === 8)
})

whole.run()
