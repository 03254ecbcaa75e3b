/**
 * Specs for lib/collections/pdh.ts against the Arvados vectors and generated manifests.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Locator from '../../lib/keep/locator.js'
import * as Manifest from '../../lib/collections/manifest.js'
import * as Pdh from '../../lib/collections/pdh.js'
import * as Arbitrary from './arbitrary.js'

const of = suite('of')
of('should give the PDH Arvados stores for each fixture', () => {
  for (const v of Arbitrary.vectors.pdh) assert.is(Pdh.of(v.manifest), v.pdh, v.source)
})
of('should hash the text as given, not normalized (order changes the hash)', () => {
  const a = '. 37b51d194a7513e45b56f6524f2d51f2+3 acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:bar 3:3:foo\n'
  const b = '. acbd18db4cc2f85cedef654fccc4a4d8+3 37b51d194a7513e45b56f6524f2d51f2+3 0:3:foo 3:3:bar\n'
  assert.is.not(Pdh.of(a), Pdh.of(b))
})
of('should ignore signatures and hints (property)', () => {
  fc.assert(
    fc.property(Arbitrary.manifest, (m) => {
      const stripped = { streams: m.streams.map((s) => ({ ...s, locators: s.locators.map(Locator.stripForPdh) })) }
      const resigned = { streams: m.streams.map((s) => ({ ...s, locators: s.locators.map((l) => Locator.withSignature(l, { signature: 'f'.repeat(40), expiresAt: 0x12345678 })) })) }
      const expected = Pdh.of(Manifest.print(stripped))
      assert.is(Pdh.of(Manifest.print(m)), expected)
      assert.is(Pdh.of(Manifest.print(resigned)), expected)
      assert.is(Pdh.portableText(Manifest.print(resigned)), Manifest.print(stripped))
    }),
    { numRuns: 200 },
  )
})
of('should count bytes, not characters, of UTF-8 names', () => {
  const text = '. acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:é\n'
  assert.ok(Pdh.of(text).endsWith(`+${text.length + 1}`))
})
of.run()

const parse = suite('parse')
parse('should accept a PDH and reject anything else with ARV_PDH', () => {
  assert.ok(E.isRight(Pdh.parse(Pdh.EMPTY)))
  for (const bad of ['', 'd41d8cd98f00b204e9800998ecf8427e', 'D41D8CD98F00B204E9800998ECF8427E+0', 'd41d8cd98f00b204e9800998ecf8427e+01', 'zzzzz-4zz18-000000000000000']) {
    const r = Pdh.parse(bad)
    assert.ok(E.isLeft(r), bad)
    if (E.isLeft(r)) {
      assert.is(r.left.code, 'ARV_PDH')
      assert.ok(r.left.message.includes('is not a portable data hash'))
    }
  }
})
parse.run()
