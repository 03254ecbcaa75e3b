/**
 * The identity table and how a recorder uses it: reach, code hashes, the key of a work's file
 * (also when a bundle's source map shortened its path), embedding in a bundle, and the fallback
 * to the function text for a module without identity (programmatic use without the CLI).
 */
import * as Url from 'node:url'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Graph from '../../lib/graph.js'
import * as Identity from '../../lib/identity/identity.js'
import * as Module from '../../lib/module.js'

const here = Url.fileURLToPath(import.meta.url)

const square = Module.work({ args: [t.number], returns: t.number }, (x) => x * x)
const M = Module.defineModule({ name: 'm', params: t.unknown, work: { square }, run: (_: unknown, { work: w }) => w.square(3) })

const table = (digests: Readonly<Record<string, string>>, imports: Readonly<Record<string, ReadonlyArray<string>>> = {}): Identity.Table => ({
  v: 1,
  nodes: Object.fromEntries(Object.keys(digests).sort().map((k) => [k, { digest: digests[k]!, imports: [...(imports[k] ?? [])].sort() }])),
})

const idOf = (module: Module.AnyModule): string => {
  const rec = Graph.recorder(module, undefined)
  void module.run(undefined, rec.context)
  return rec.calls()[0]!.id
}

const Work = suite('work(): where it was defined')

Work('should record the file whose code called work()', () => {
  assert.is(Identity.pathOf(square.source!.file), here)
})

Work.run()

// ---

const Hash = suite('Identity: code hashes')

Hash('should cover what the work file reaches and nothing else', () => {
  const base = '/p'
  const imports = { 'w.ts': ['h.ts', 'npm:x@1.0.0'], 'h.ts': [], 'other.ts': ['w.ts'] }
  const id = Identity.make(base, table({ 'w.ts': 'a', 'h.ts': 'b', 'other.ts': 'c', 'npm:x@1.0.0': '' }, imports))
  assert.equal(id.reach('w.ts'), ['h.ts', 'npm:x@1.0.0', 'w.ts'])
  const w: Module.AnyWork = { ...square, source: { file: '/p/w.ts', line: 1 } }
  const before = id.codeHash(w, 'square')!
  assert.is(Identity.make(base, table({ 'w.ts': 'a', 'h.ts': 'b', 'other.ts': 'CHANGED', 'npm:x@1.0.0': '' }, imports)).codeHash(w, 'square'), before)
  assert.is.not(Identity.make(base, table({ 'w.ts': 'a', 'h.ts': 'CHANGED', 'other.ts': 'c', 'npm:x@1.0.0': '' }, imports)).codeHash(w, 'square'), before)
  const bumped = { 'w.ts': ['h.ts', 'npm:x@1.0.1'], 'h.ts': [], 'other.ts': ['w.ts'] }
  assert.is.not(Identity.make(base, table({ 'w.ts': 'a', 'h.ts': 'b', 'other.ts': 'c', 'npm:x@1.0.1': '' }, bumped)).codeHash(w, 'square'), before)
  // the work name and the codec names count too
  assert.is.not(id.codeHash(w, 'square2'), before)
  assert.is.not(id.codeHash({ ...w, spec: { ...w.spec, returns: t.string } } as Module.AnyWork, 'square'), before)
  assert.equal(Identity.changed(id, Identity.make(base, table({ 'w.ts': 'a', 'h.ts': 'B', 'other.ts': 'c', 'npm:x@1.0.0': '' }, imports)), 'w.ts'), ['h.ts'])
})

Hash('should find a work file by the tail of its path when a source map shortened it', () => {
  const id = Identity.make('/var/lib/arvados-crunch/bundle', table({ '../../../../../tmp/p/w.ts': 'a', 'w.ts': 'b' }))
  assert.is(id.keyOf({ file: '/tmp/p/w.ts', line: 1 }), '../../../../../tmp/p/w.ts')
  assert.is(id.keyOf({ file: 'file:///var/lib/arvados-crunch/bundle/w.ts', line: 1 }), 'w.ts')
  assert.is(id.keyOf({ file: '/elsewhere/x.ts', line: 1 }), undefined)
})

Hash('should find a work file in a bundle from the line that called work()', () => {
  const bundle = ['// a.ts', 'var a = work()', '// node_modules/p/index.js', 'var p = work()', '// b.ts', 'var b = 1', '', 'var b2 = work()', '// a.ts', 'var a2 = work()'].join('\n')
  const tb = Identity.withLines(table({ 'a.ts': 'x', 'b.ts': 'y', 'npm:p@1.0.0': '' }), bundle, new Set(['a.ts', 'b.ts', 'node_modules/p/index.js']))
  assert.equal(tb.lines, [[1, 'a.ts'], [3, ''], [5, 'b.ts'], [9, 'a.ts']])
  const id = Identity.make('/bundle', tb, '/bundle/main.mjs')
  const at = (line: number): string | undefined => id.keyOf({ file: 'file:///bundle/main.mjs', line })
  assert.equal([at(2), at(4), at(8), at(10)], ['a.ts', undefined, 'b.ts', 'a.ts'])
  // another file than the bundle is not looked up by line
  assert.is(id.keyOf({ file: '/elsewhere/main.mjs', line: 2 }), undefined)
})

Hash('should fall back to the function text for a work whose file the table does not know', () => {
  const id = Identity.make('/nowhere', table({ 'w.ts': 'a' }))
  assert.is(Graph.codeHashOf(square, 'square', id), square.codeHash)
  assert.is(idOf(Identity.attach(M, id)), idOf(M))
})

Hash.run()

// ---

const Recorder = suite('Graph.recorder with an identity')

Recorder('should make ids from the module identity, or from the one given', () => {
  const plain = idOf(M)
  assert.is(plain, Graph.callId('m', 'square', square.codeHash, [{ _tag: 'Json', json: '3' }]))
  const key = Identity.relativeKey('/', here)
  const id = Identity.make('/', table({ [key]: 'a' }))
  const withIdentity = idOf(Identity.attach(M, id))
  assert.is.not(withIdentity, plain)
  assert.is(withIdentity, Graph.callId('m', 'square', id.codeHash(square, 'square')!, [{ _tag: 'Json', json: '3' }]))
  const rec = Graph.recorder(M, undefined, id)
  void M.run(undefined, rec.context)
  assert.is(rec.calls()[0]!.id, withIdentity)
})

Recorder.run()

// ---

const Embed = suite('Identity: embedded in a bundle')

Embed('should read back the table a bundle embeds, before its source map comment', () => {
  const tb = table({ 'a.ts': 'x', 'npm:y@2.0.0': '' }, { 'a.ts': ['npm:y@2.0.0'] })
  const bundle = 'const a = 1;\n//# sourceMappingURL=data:application/json;base64,e30=\n'
  const embedded = Identity.embed(bundle, tb)
  assert.ok(embedded.endsWith('//# sourceMappingURL=data:application/json;base64,e30=\n'))
  assert.equal(Identity.fromBundleText(embedded), tb)
  assert.equal(Identity.fromBundleText(Identity.embed('const a = 1', tb)), tb)
  assert.is(Identity.fromBundleText(bundle), undefined)
})

Embed.run()
