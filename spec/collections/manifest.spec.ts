/**
 * Specs for lib/collections/manifest.ts (parse, print, escapes, hostile input) against the
 * Arvados vectors in spec/fixtures/collections and generated manifests.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Manifest from '../../lib/collections/manifest.js'
import * as Arbitrary from './arbitrary.js'

const vectors = Arbitrary.vectors

const ok = (text: string): Manifest.Manifest => {
  const r = Manifest.parse(text)
  if (E.isLeft(r)) throw new Error(`expected to parse: ${r.left.message}`)
  return r.right
}
const rejects = (text: string, stream: number, token: number, ...fragments: ReadonlyArray<string>): void => {
  const r = Manifest.parse(text)
  assert.ok(E.isLeft(r), `expected ${JSON.stringify(text)} to be rejected`)
  if (E.isLeft(r)) {
    assert.is(r.left._tag, 'ManifestError')
    assert.is(r.left.code, 'ARV_MANIFEST')
    assert.is(r.left.stream, stream, `stream of ${r.left.message}`)
    assert.is(r.left.token, token, `token of ${r.left.message}`)
    for (const f of fragments) assert.ok(r.left.message.includes(f), `message ${JSON.stringify(r.left.message)} should mention ${f}`)
  }
}

const parse = suite('parse')
parse('should read streams, locators and segments', () => {
  const m = ok('. 37b51d194a7513e45b56f6524f2d51f2+3 acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:bar 3:3:foo\n./d d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n')
  assert.is(m.streams.length, 2)
  assert.equal(m.streams[0]?.segments, [
    { position: 0, length: 3, name: 'bar' },
    { position: 3, length: 3, name: 'foo' },
  ])
  assert.is(m.streams[1]?.name, './d')
  assert.equal(m.streams[1]?.segments, [{ position: 0, length: 0, name: '.' }])
})
parse('should read the empty string as the empty manifest', () => {
  assert.equal(ok(''), Manifest.empty)
})
parse('should decode octal escapes and \\\\ in names', () => {
  const m = ok('./a\\040b acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:x\\072y\\011z\\134 0:0:back\\\\slash 0:0:caf\\303\\251\n')
  assert.is(m.streams[0]?.name, './a b')
  assert.equal(m.streams[0]?.segments.map((s) => s.name), ['x:y\tz\\', 'back\\slash', 'café'])
})
parse('should accept a raw 0:0:. directory marker', () => {
  assert.equal(ok('./d d41d8cd98f00b204e9800998ecf8427e+0 0:0:.\n').streams[0]?.segments, [{ position: 0, length: 0, name: '.' }])
})
parse('should read every Arvados fixture that the API accepts', () => {
  for (const v of vectors.pdh) assert.ok(E.isRight(Manifest.parse(v.manifest)), v.source)
})
parse.run()

const hostile = suite('parse (hostile input)')
const L = 'acbd18db4cc2f85cedef654fccc4a4d8+3'
hostile('should reject the fixtures the Arvados validator rejects, at their position', () => {
  for (const v of vectors.rejected) rejects(v.manifest, v.stream, v.token)
})
hostile('should reject ".." in a file name or stream name', () => {
  rejects(`. ${L} 0:3:../etc/passwd\n`, 1, 3, '".."', '"../etc/passwd"')
  rejects(`./a/.. ${L} 0:3:x\n`, 1, 1, '".."')
  rejects(`. ${L} 0:3:a/\\056\\056/b\n`, 1, 3, '".."')
})
hostile('should reject absolute paths', () => {
  rejects(`. ${L} 0:3:/etc/passwd\n`, 1, 3, 'absolute')
  rejects(`/etc ${L} 0:3:x\n`, 1, 1, 'does not start with "."')
  rejects(`. ${L} 0:3:\\057etc\n`, 1, 3, 'absolute')
})
hostile('should reject NUL, raw or escaped', () => {
  rejects(`. ${L} 0:3:a\\000b\n`, 1, 3, 'NUL')
  rejects(`. ${L} 0:3:a\u0000b\n`, 1, 3, 'raw control character')
})
hostile('should reject raw control characters with their token position', () => {
  rejects(`. ${L} 0:3:a\tb\n`, 1, 3, 'raw control character "\\t"')
  rejects(`. ${L} 0:1:a 1:2:b\rc\n`, 1, 4, 'raw control character "\\r"')
})
hostile('should reject a segment past the end of its blocks', () => {
  rejects(`. ${L} 0:4:x\n`, 1, 3, 'runs past the end of its blocks', '3 bytes')
  rejects(`. ${L} ${L} 0:3:a 4:3:b\n`, 1, 5, '4:3', '6 bytes')
})
hostile('should reject absurd sizes', () => {
  rejects(`. ${L} 0:99999999999999999999:x\n`, 1, 3, 'too large')
  rejects(`. acbd18db4cc2f85cedef654fccc4a4d8+999999999999 0:3:x\n`, 1, 2, 'larger than the largest Keep block')
  rejects(`. ${L} -1:3:x\n`, 1, 3, 'not a decimal number')
})
hostile('should reject malformed locators', () => {
  rejects(`. acbd18db4cc2f85cedef654fccc4a4d8 0:3:x\n`, 1, 2, 'expected a block locator')
  rejects(`. acbd18db4cc2f85cedef654fccc4a4d8+3+bad 0:3:x\n`, 1, 2, 'hint 1 "bad"')
  rejects(`. ${L} 0:3:x ${L}\n`, 1, 4, 'a block locator after a file segment')
})
hostile('should reject bad escapes and invalid UTF-8', () => {
  rejects(`. ${L} 0:3:a\\400\n`, 1, 3, 'invalid escape')
  rejects(`. ${L} 0:3:a\\x\n`, 1, 3, 'invalid escape')
  rejects(`. ${L} 0:3:a\\377\n`, 1, 3, 'not valid UTF-8')
})
hostile('should reject layout errors', () => {
  rejects(`. ${L} 0:3:x`, 1, 0, 'does not end with a newline')
  rejects(`. ${L}  0:3:x\n`, 1, 3, 'two spaces')
  rejects(`. ${L} 0:3:x \n`, 1, 4, 'ends with a space')
  rejects(`. ${L} 0:3:x\n\n`, 2, 0, 'empty')
  rejects(`. ${L}\n`, 1, 0, 'no file segment')
  rejects(`. ${L} 0:3:x\n. ${L} nope\n`, 2, 3, 'not a file segment')
  rejects(`. ${L} 0:3:a//b\n`, 1, 3, 'empty component')
  rejects(`. ${L} 0:3:a/\n`, 1, 3, 'empty component')
  rejects(`. ${L} 0:3:.\n`, 1, 3, 'directory marker')
})
hostile.run()

const print = suite('print')
print('should print every Arvados fixture back byte for byte', () => {
  for (const v of vectors.pdh) assert.is(Manifest.print(ok(v.manifest)), v.manifest, v.source)
  for (const v of vectors.normalize) assert.is(Manifest.print(ok(v.normalized)), v.normalized, v.source)
})
print('should escape space, control characters (DEL included), colon and backslash only', () => {
  assert.is(Manifest.escape('a b\tc:d\\e/é\u007f'), 'a\\040b\\011c\\072d\\134e/é\\177')
})
print('should write the directory marker as \\056', () => {
  assert.is(Manifest.print(ok('./d d41d8cd98f00b204e9800998ecf8427e+0 0:0:.\n')), './d d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n')
})
print('should preserve generated manifests: print(parse(m)) === m (property)', () => {
  fc.assert(
    fc.property(Arbitrary.manifestText, (text) => {
      assert.is(Manifest.print(ok(text)), text)
    }),
    { numRuns: 300 },
  )
})
print('should round-trip names through escape and parse (property)', () => {
  fc.assert(
    fc.property(Arbitrary.fileName, (name) => {
      const m = ok(`. ${L} 0:3:${Manifest.escape(name)}\n`)
      assert.is(m.streams[0]?.segments[0]?.name, name)
    }),
    { numRuns: 300 },
  )
})
print.run()
