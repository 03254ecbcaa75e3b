/**
 * Specs for lib/keep/locator.ts: parse/format round trips, signatures, PDH stripping, errors.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Locator from '../../lib/keep/locator.js'

const SIGNED = '68a84f561b1d1708c6baff5e019a9ab3+46+Ae5d0af96944a3690becb1decdf60cc1c937f556d@5693216f'

const ok = (text: string): Locator.Locator => {
  const r = Locator.parse(text)
  if (E.isLeft(r)) throw new Error(`expected ${text} to parse: ${r.left.message}`)
  return r.right
}
const fails = (text: string, ...fragments: ReadonlyArray<string>): void => {
  const r = Locator.parse(text)
  assert.ok(E.isLeft(r), `expected ${text} to be rejected`)
  if (E.isLeft(r)) {
    assert.is(r.left._tag, 'LocatorError')
    assert.is(r.left.code, 'ARV_LOCATOR')
    for (const f of fragments) assert.ok(r.left.message.includes(f), `message ${r.left.message} should mention ${f}`)
  }
}

const parse = suite('parse')
parse('should read hash, size and hints in order', () => {
  const l = ok('73feffa4b7f6bb68e44cf984c85f6e88+3+Z+K@xyzzy')
  assert.equal(l, { hash: '73feffa4b7f6bb68e44cf984c85f6e88', size: 3, hints: ['Z', 'K@xyzzy'] })
})
parse('should read the empty block', () => {
  assert.equal(ok('d41d8cd98f00b204e9800998ecf8427e+0'), Locator.EMPTY_BLOCK)
})
parse('should reject a missing size hint', () => fails('d41d8cd98f00b204e9800998ecf8427e', 'size hint is missing'))
parse('should reject upper-case or short hashes', () => {
  fails('D41D8CD98F00B204E9800998ECF8427E+0', 'hash')
  fails('d41d8cd98f00b204e9800998ecf8427+0', 'hash')
})
parse('should reject a non-decimal or absurd size', () => {
  fails('d41d8cd98f00b204e9800998ecf8427e+x', 'size "x"')
  fails('d41d8cd98f00b204e9800998ecf8427e+-1', 'size')
  fails('d41d8cd98f00b204e9800998ecf8427e+67108865', 'larger than the largest Keep block')
  fails('d41d8cd98f00b204e9800998ecf8427e+99999999999999999999', 'larger')
})
parse('should accept exactly 64 MiB', () => {
  assert.is(ok('d41d8cd98f00b204e9800998ecf8427e+67108864').size, 67108864)
})
parse('should reject a hint not starting with an upper-case letter', () => {
  fails('d41d8cd98f00b204e9800998ecf8427e+0+a', 'hint 1 "a"')
  fails('d41d8cd98f00b204e9800998ecf8427e+0+K@x+', 'hint 2 ""')
  fails('d41d8cd98f00b204e9800998ecf8427e+0+K x', 'hint 1')
})
parse.run()

const format = suite('format')
format('should print what it parsed, byte for byte', () => {
  for (const s of [SIGNED, 'd41d8cd98f00b204e9800998ecf8427e+0', '73feffa4b7f6bb68e44cf984c85f6e88+3+Z+K@xyzzy']) assert.is(Locator.format(ok(s)), s)
})
format('should round-trip generated locators (property)', () => {
  const hex = fc.stringMatching(/^[0-9a-f]{32}$/)
  const hint = fc.stringMatching(/^[A-Z][-A-Za-z0-9@_]{0,12}$/)
  fc.assert(
    fc.property(hex, fc.integer({ min: 0, max: Locator.MAX_BLOCK_SIZE }), fc.array(hint, { maxLength: 4 }), (hash, size, hints) => {
      const l = { hash, size, hints }
      assert.equal(ok(Locator.format(l)), l)
    }),
  )
})
format.run()

const signature = suite('signature')
signature('should read the +A signature and its hex expiry', () => {
  assert.equal(Locator.signature(ok(SIGNED)), { signature: 'e5d0af96944a3690becb1decdf60cc1c937f556d', expiresAt: 0x5693216f })
})
signature('should be undefined for an unsigned locator', () => {
  assert.is(Locator.signature(ok('d41d8cd98f00b204e9800998ecf8427e+0+K@xyzzy')), undefined)
})
signature('withoutSignature should drop +A hints and keep the others', () => {
  const l = ok(`${SIGNED}+K@xyzzy`)
  assert.is(Locator.format(Locator.withoutSignature(l)), '68a84f561b1d1708c6baff5e019a9ab3+46+K@xyzzy')
})
signature('withSignature should replace an existing signature', () => {
  const l = Locator.withSignature(ok(SIGNED), { signature: 'a'.repeat(40), expiresAt: 1 })
  assert.is(Locator.format(l), `68a84f561b1d1708c6baff5e019a9ab3+46+A${'a'.repeat(40)}@00000001`)
})
signature('stripForPdh should keep only hash and size', () => {
  assert.is(Locator.format(Locator.stripForPdh(ok(`${SIGNED}+K@xyzzy`))), '68a84f561b1d1708c6baff5e019a9ab3+46')
})
signature('locationHints should list +K@ targets', () => {
  assert.equal(Locator.locationHints(ok('73feffa4b7f6bb68e44cf984c85f6e88+3+Z+K@xyzzy')), ['xyzzy'])
})
signature.run()
