import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Codec from '../lib/codec.js'
import * as Errors from '../lib/errors.js'
import { defineModule, work } from '../lib/module.js'
import { runModule, runWorkEither } from '../lib/testing.js'

const where: Codec.Where = { module: 'm', work: 'classify', position: 'argument 2' }

const expectLeft = <A>(r: E.Either<Codec.CodecError, A>): Codec.CodecError => {
  if (E.isRight(r)) return assert.unreachable('expected a CodecError') as never
  return r.left
}

const encode = suite('Codec.encode')

encode('should name the work, the argument position, the codec path and the kind received', () => {
  const reads = t.type({ reads: t.array(t.type({ name: t.string, length: t.number })) })
  const e = expectLeft(Codec.encode(reads, { reads: [{ name: 'a', length: 1 }, { name: 'b', length: 'long' }] }, where))
  assert.is(e._tag, 'CodecError')
  assert.is(e.code, 'ARV_ENCODE')
  assert.match(e.message, /argument 2 of work "classify" \(module "m"\)/)
  assert.equal(e.issues[0], { path: 'reads[1].length', expected: 'number', received: 'string' })
  const text = Errors.format(e)
  assert.match(text, /✖ expected number, received string/)
  assert.match(text, /→ at reads\[1\]\.length/)
  assert.not.match(text, /long/, 'the value itself is not dumped')
})

const nonJson: ReadonlyArray<[string, unknown, string, string]> = [
  ['undefined inside an array', [1, undefined, 3], '[1]', 'undefined'],
  ['NaN', { x: NaN }, 'x', 'NaN'],
  ['Infinity', { x: [Infinity] }, 'x[0]', 'Infinity'],
  ['a BigInt', { n: 10n }, 'n', 'bigint'],
  ['a function', { f: () => 1 }, 'f', 'function'],
  ['a Map (a class instance without a codec)', { m: new Map() }, 'm', 'instance of Map'],
  ['a Date without a codec', { when: new Date(0) }, 'when', 'instance of Date'],
]

for (const [what, value, path, found] of nonJson) {
  encode(`should reject ${what} with its path and kind`, () => {
    const e = expectLeft(Codec.encode(t.unknown, value, where))
    assert.is(e.code, 'ARV_ENCODE')
    assert.equal(e.issues[0]?.path, path)
    assert.equal(e.issues[0]?.received, found)
    assert.match(e.hint ?? '', /plain JSON/)
  })
}

encode('should reject a cycle', () => {
  const a: Record<string, unknown> = { name: 'a' }
  a['self'] = a
  const e = expectLeft(Codec.encode(t.UnknownRecord, a, where))
  assert.equal(e.issues[0]?.path, 'self')
  assert.match(e.issues[0]!.received, /cycle/)
})

encode('should accept a class instance that has a codec, through its encoder', () => {
  const DateFromIso = new t.Type<Date, string, unknown>(
    'DateFromIso',
    (u): u is Date => u instanceof Date,
    (u, c) => (typeof u === 'string' && !Number.isNaN(Date.parse(u)) ? t.success(new Date(u)) : t.failure(u, c)),
    (d) => d.toISOString(),
  )
  const r = Codec.cross(DateFromIso, new Date(0), where)
  assert.ok(E.isRight(r))
  if (E.isRight(r)) {
    assert.is(r.right.json, '"1970-01-01T00:00:00.000Z"')
    assert.ok(r.right.value instanceof Date)
  }
})

encode.run()

// ---

const cross = suite('Codec.cross')

cross('should turn a tuple into an array exactly as JSON does', () => {
  const r = Codec.cross(t.tuple([t.string, t.number]), ['a', 1] as const, where)
  assert.ok(E.isRight(r) && Array.isArray(r.right.value) && r.right.json === '["a",1]')
})

cross('should drop fields a t.type codec does not declare when they are undefined, as JSON does', () => {
  const r = Codec.cross(t.partial({ a: t.number }), { a: undefined }, where)
  assert.ok(E.isRight(r))
  if (E.isRight(r)) assert.equal(r.right.value, {})
})

cross('should keep __proto__ and constructor keys as plain data and never pollute prototypes', () => {
  const json = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'
  const r = Codec.decode(t.record(t.string, t.unknown), json, where)
  assert.ok(E.isRight(r))
  if (E.isRight(r)) {
    assert.ok(Object.prototype.hasOwnProperty.call(r.right, '__proto__'))
    assert.equal(Object.keys(r.right).sort(), ['__proto__', 'constructor'])
    const again = Codec.cross(t.record(t.string, t.unknown), r.right, where)
    assert.ok(E.isRight(again))
  }
  assert.is(({} as { polluted?: unknown }).polluted, undefined)
  assert.is((Object.prototype as { polluted?: unknown }).polluted, undefined)
})

cross.run()

// ---

const decode = suite('Codec.decode')

decode('should report a missing field as missing', () => {
  const e = expectLeft(Codec.decode(t.type({ name: t.string }), '{}', { ...where, position: 'result' }))
  assert.is(e.code, 'ARV_DECODE')
  assert.equal(e.issues[0], { path: 'name', expected: 'string', received: 'nothing (the field is missing)' })
})

decode('should skip union members in the path', () => {
  const e = expectLeft(Codec.decode(t.type({ x: t.union([t.string, t.number]) }), '{"x":true}', where))
  assert.ok(e.issues.every((i) => i.path === 'x'))
  assert.equal(e.issues.map((i) => i.expected), ['(string | number)'])
})

decode('should say when the text is not JSON', () => {
  const e = expectLeft(Codec.decode(t.number, '{', where))
  assert.equal(e.issues[0]?.received, 'text that is not JSON')
})

decode.run()

// ---

const boundary = suite('work boundary')

const classify = work({ args: [t.string, t.number], returns: t.number }, (s, n) => s.length + n)
const lies = work({ args: [t.number], returns: t.number }, (n) => String(n) as unknown as number)

boundary('should fail a bad argument before any work runs, naming the work and position', async () => {
  let ran = 0
  const counted = work({ args: [t.number], returns: t.number }, (n) => {
    ran++
    return n
  })
  const M = defineModule({
    name: 'boundary',
    params: t.unknown,
    work: { classify, counted },
    run: (_, { work: w }) => [w.counted(1), w.classify('x', 'not a number' as unknown as number)],
  })
  const e = await runModule(M, null).then(
    () => assert.unreachable('should fail'),
    (err: unknown) => Errors.carried(err),
  )
  assert.is(e?.code, 'ARV_ENCODE')
  assert.match(e!.message, /argument 2 of work "classify"/)
  assert.is(ran, 0, 'no work ran')
})

boundary('should check results against the declared codec', async () => {
  const r = await runWorkEither(lies, [1])
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_ENCODE')
    assert.match(r.left.message, /result of work "work"/)
  }
})

boundary.run()

// ---

const holds = suite('Codec.mayHoldCollections')

holds('should say no for codecs made only of JSON leaves, and yes where a collection can hide', async () => {
  const { CollectionCodec, FileCodec } = await import('../lib/collections/codec.js')
  const no = [t.number, t.string, t.array(t.number), t.type({ a: t.string, b: t.array(t.union([t.null, t.literal('x')])) }), t.record(t.string, t.number), t.tuple([t.number, t.boolean])]
  const yes = [CollectionCodec, FileCodec, t.array(CollectionCodec), t.type({ out: t.union([CollectionCodec, t.null]) }), t.record(t.string, FileCodec), t.unknown, t.UnknownRecord]
  for (const c of no) assert.is(Codec.mayHoldCollections(c), false, c.name)
  for (const c of yes) assert.is(Codec.mayHoldCollections(c), true, c.name)
})

holds.run()
