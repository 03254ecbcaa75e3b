import * as Util from 'node:util'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Errors from '../lib/errors.js'
import * as Future from '../lib/future.js'
import * as Graph from '../lib/graph.js'
import { defineModule, work } from '../lib/module.js'

const inc = work({ args: [t.number], returns: t.number }, (n) => n + 1)
const M = defineModule({ name: 'future-spec', params: t.unknown, work: { inc }, run: () => null })
const aFuture = (): Future.Future<number> => Graph.recorder(M, undefined).context.work.inc(1)

const expectMisuse = (f: () => unknown, usedAs: RegExp): void => {
  try {
    f()
  } catch (e) {
    const carried = Errors.carried(e)
    assert.ok(carried, 'the thrown Error carries the SdkError')
    assert.is(carried!._tag, 'FutureMisuseError')
    assert.is(carried!.code, 'ARV_FUTURE_MISUSE')
    assert.match(carried!.message, /the Future from inc\(…\)/)
    assert.match(carried!.message, usedAs)
    assert.match(carried!.hint ?? '', /pass it to another work function/)
    return
  }
  assert.unreachable('expected a FutureMisuseError')
}

const opacity = suite('Future opacity')

opacity('should refuse to become a string', () => {
  const f = aFuture()
  expectMisuse(() => `${String(f)}`, /used as a string/)
  expectMisuse(() => `${f as unknown as string}`, /a string/)
  expectMisuse(() => +(f as unknown as number), /a number/)
  expectMisuse(() => (f as unknown as { toString(): string }).toString(), /used as a string/)
})

opacity('should refuse to be serialized to JSON', () => {
  expectMisuse(() => JSON.stringify({ x: aFuture() }), /JSON/)
})

opacity('should refuse arithmetic', () => {
  expectMisuse(() => (aFuture() as unknown as number) + 1, /primitive/)
})

opacity('should have no then, so awaiting it gives the future back, not a value', async () => {
  const f = aFuture()
  assert.is((f as unknown as { then?: unknown }).then, undefined)
  const awaited: unknown = await f
  assert.ok(Future.isFuture(awaited))
})

opacity('should describe itself in util.inspect without a value', () => {
  const text = Util.inspect(aFuture())
  assert.match(text, /^Future<inc#[0-9a-f]{12}> \(unresolved: it cannot be read/)
})

opacity('should expose no enumerable fields', () => {
  assert.equal(Object.keys(aFuture()), [])
})

opacity.run()

// ---

const guards = suite('isFuture')

guards('should tell futures from values', () => {
  assert.ok(Future.isFuture(aFuture()))
  for (const v of [null, 1, 'x', {}, [], { '~arvados-crunch/Future': 'not an object' }]) assert.not.ok(Future.isFuture(v))
})

guards.run()
