/**
 * Specs for lib/collections/tree.ts: normalization as Arvados does it, files, concatenation.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Manifest from '../../lib/collections/manifest.js'
import * as Tree from '../../lib/collections/tree.js'
import * as Arbitrary from './arbitrary.js'

const right = <A>(e: E.Either<{ readonly message: string }, A>): A => {
  if (E.isLeft(e)) throw new Error(e.left.message)
  return e.right
}
const normalized = (text: string): string => right(Tree.normalizeText(text))
const tree = (text: string): Tree.Directory => right(Tree.fromManifest(right(Manifest.parse(text))))
const FOO = 'acbd18db4cc2f85cedef654fccc4a4d8+3'
const BAR = '37b51d194a7513e45b56f6524f2d51f2+3'
const EMPTY = 'd41d8cd98f00b204e9800998ecf8427e+0'

const normalize = suite('normalize')
normalize('should give the normalized form Arvados asserts for each vector', () => {
  for (const v of Arbitrary.vectors.normalize) assert.is(normalized(v.manifest), v.normalized, v.source)
})
normalize('should be idempotent (property)', () => {
  fc.assert(
    fc.property(Arbitrary.manifestText, (text) => {
      const r = Tree.normalizeText(text)
      if (E.isLeft(r)) return // generated names may clash as file and directory
      assert.is(normalized(r.right), r.right)
    }),
    { numRuns: 300 },
  )
})
normalize('should keep files byte-identical (property)', () => {
  fc.assert(
    fc.property(Arbitrary.manifestText, (text) => {
      const t = Tree.fromManifest(right(Manifest.parse(text)))
      if (E.isLeft(t)) return
      const again = tree(normalized(text))
      // compare contents byte by byte (as block:offset references)
      const bytes = (d: Tree.Directory) => Tree.files(d).map((f) => [f.path, f.pieces.flatMap((p) => Array.from({ length: p.length }, (_, i) => `${p.locator.hash}:${p.offset + i}`)).join(',')])
      assert.equal(bytes(again), bytes(t.right))
    }),
    { numRuns: 200 },
  )
})
normalize('should write empty files as 0:0:name and use the empty block for a stream of empty files', () => {
  assert.is(normalized(`. ${FOO} 0:0:b 0:0:a\n`), `. ${EMPTY} 0:0:a 0:0:b\n`)
})
normalize('should keep empty directories as \\056 markers, drop them once the directory has files', () => {
  assert.is(normalized(`./d ${EMPTY} 0:0:.\n`), `./d ${EMPTY} 0:0:\\056\n`)
  assert.is(normalized(`./d ${EMPTY} 0:0:.\n./d ${FOO} 0:3:x\n`), `./d ${FOO} 0:3:x\n`)
  assert.is(normalized(`./a/b ${EMPTY} 0:0:.\n`), `./a/b ${EMPTY} 0:0:\\056\n`)
})
normalize('should sort by code point and list a block once, in order of first use', () => {
  assert.is(normalized(`. ${FOO} ${BAR} 3:3:b 0:3:a 3:3:B\n`), `. ${BAR} ${FOO} 0:3:B 3:3:a 0:3:b\n`)
})
normalize('should merge contiguous pieces and keep separate ones', () => {
  assert.is(normalized(`. ${FOO} ${BAR} 0:2:x 2:3:x 0:1:y 5:1:y\n`), `. ${FOO} ${BAR} 0:5:x 0:1:y 5:1:y\n`)
})
normalize('should reject a path used as file and directory', () => {
  const r = Tree.normalizeText(`. ${FOO} 0:3:a 0:3:a/b\n`)
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_MANIFEST')
    assert.ok(r.left.message.includes('"a" is used both as a file and as a directory'), r.left.message)
    assert.is(r.left.token, 4)
  }
})
normalize.run()

const files = suite('files')
files('should list files in tree order with sizes, not directory markers', () => {
  const t = tree(`./z ${FOO} 0:3:f\n. ${FOO} ${BAR} 0:6:b 0:0:A\n./d ${EMPTY} 0:0:.\n./a-b ${FOO} 0:3:x\n./a ${BAR} 0:3:y\n`)
  assert.equal(Tree.files(t).map((f) => [f.path, f.size]), [['A', 0], ['b', 6], ['a/y', 3], ['a-b/x', 3], ['z/f', 3]])
  assert.equal(Tree.emptyDirectories(t), ['d'])
})
files.run()

const concat = suite('concat')
const cat = (...texts: ReadonlyArray<string>): string => Manifest.print(right(Tree.concat(texts.map((t) => right(Manifest.parse(t))))))
concat('should combine nested directories of several outputs', () => {
  assert.is(cat(`./a/b ${FOO} 0:3:x\n`, `./a ${BAR} 0:3:y\n`, `./c ${FOO} 0:3:z\n`), `./a ${BAR} 0:3:y\n./a/b ${FOO} 0:3:x\n./c ${FOO} 0:3:z\n`)
})
concat('should concatenate same-name files byte-wise in list order', () => {
  assert.is(cat(`. ${FOO} 0:3:out.txt\n`, `. ${BAR} 0:3:out.txt\n`), `. ${FOO} ${BAR} 0:6:out.txt\n`)
  assert.is(cat(`. ${BAR} 0:3:out.txt\n`, `. ${FOO} 0:3:out.txt\n`), `. ${BAR} ${FOO} 0:6:out.txt\n`)
  assert.is(cat(`. ${FOO} 0:3:x\n`, `. ${FOO} 0:3:x\n`), `. ${FOO} 0:3:x 0:3:x\n`)
})
concat('should skip empty outputs', () => {
  assert.is(cat('', `. ${FOO} 0:3:x\n`, ''), `. ${FOO} 0:3:x\n`)
  assert.is(cat('', ''), '')
})
concat('should reject a file in one output that is a directory in another', () => {
  const r = Tree.concat([right(Manifest.parse(`. ${FOO} 0:3:a\n`)), right(Manifest.parse(`./a ${FOO} 0:3:b\n`))])
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) assert.ok(r.left.message.includes('"a" is used both as a file and as a directory'), r.left.message)
})
concat.run()
