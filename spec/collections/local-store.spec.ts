/**
 * Specs for lib/collections/codec.ts, reference.ts and local-store.ts: codecs (pure), hydration
 * through the local store, concatenation of outputs, ctx.output writers, and materialize.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Codec from '../../lib/collections/codec.js'
import * as BlockPack from '../../lib/collections/block-pack.js'
import * as Collection from '../../lib/collections/collection.js'
import * as LocalStore from '../../lib/collections/local-store.js'
import * as Materialize from '../../lib/collections/materialize.js'
import * as Store from '../../lib/collections/store.js'

const made: Array<string> = []
const tmp = (): string => {
  const d = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-ls-'))
  made.push(d)
  return d
}
process.on('exit', () => {
  for (const d of made) Fs.rmSync(d, { recursive: true, force: true })
})
const right = <A>(e: E.Either<{ readonly message: string }, A>): A => {
  if (E.isLeft(e)) throw new Error(e.left.message)
  return e.right
}
const signal = new AbortController().signal
const PDH = '1f4b0bc7583c2a7f9102c395f4ffc5e3+45'

const codec = suite('CollectionCodec / FileCodec')
codec('should be named as the core expects', () => {
  assert.is(Codec.CollectionCodec.name, 'Collection')
  assert.is(Codec.FileCodec.name, 'CollectionFile')
})
codec('should decode a PDH, a UUID and a local path into unresolved references', () => {
  for (const [s, kind] of [[PDH, 'pdh'], ['zzzzz-4zz18-znfnqtbbv4spc3w', 'uuid'], ['./data', 'path'], ['/abs/dir', 'path']] as const) {
    const v = right(Codec.CollectionCodec.decode(s) as E.Either<{ message: string }, Collection.Collection>)
    assert.ok(Codec.isUnresolved(v))
    if (Codec.isUnresolved(v)) assert.equal(v[Codec.ReferenceId], { kind, text: s })
    assert.is(Codec.CollectionCodec.encode(v), s)
  }
})
codec('should reject malformed strings with a message naming the problem', () => {
  const message = (u: unknown): string => {
    const r = Codec.CollectionCodec.decode(u)
    assert.ok(E.isLeft(r))
    return E.isLeft(r) ? (r.left[0]?.message ?? '') : ''
  }
  assert.ok(message('1f4b0bc7583c2a7f9102c395f4ffc5e3').includes('looks like a portable data hash but is not one'))
  assert.ok(message('zzzzz-xvhdp-000000000000000').includes('infix 4zz18'))
  assert.ok(message('').includes('is not a portable data hash'))
  assert.ok(message('two\nlines').includes('is not a portable data hash'))
  // a bare relative name is a local directory (resolved against the working directory when hydrated)
  const bare = Codec.CollectionCodec.decode('reads')
  assert.ok(E.isRight(bare) && Codec.isUnresolved(bare.right) && bare.right[Codec.ReferenceId].kind === 'path')
  assert.ok(message(42).includes('received number'))
})
codec('FileCodec should travel as pdh/path and reject bad paths', () => {
  const f = right(Codec.FileCodec.decode(`${PDH}/dir/foo`) as E.Either<{ message: string }, Collection.CollectionFile>)
  assert.is(f.path, 'dir/foo')
  assert.is(Codec.FileCodec.encode(f), `${PDH}/dir/foo`)
  for (const [bad, fragment] of [[PDH, 'expected "<pdh>/<path'], [`${PDH}/../x`, '".."'], [`${PDH}/`, 'empty'], ['nothex/x', 'a file reference starts with a PDH or collection UUID']] as const) {
    const r = Codec.FileCodec.decode(bad)
    assert.ok(E.isLeft(r), bad)
    if (E.isLeft(r)) assert.ok((r.left[0]?.message ?? '').includes(fragment), `${bad}: ${r.left[0]?.message}`)
  }
})
codec.run()

const hydrate = suite('valueStore.hydrate')
hydrate('should replace references at any depth with live collections and files', async () => {
  const store = Store.make(tmp())
  const vs = LocalStore.valueStore(store)
  const c = right(await store.ingestFiles({ 'dir/foo': 'foo' }))
  const decoded = {
    a: [right(Codec.CollectionCodec.decode(c.pdh) as E.Either<{ message: string }, unknown>)],
    b: { f: right(Codec.FileCodec.decode(`${c.pdh}/dir/foo`) as E.Either<{ message: string }, unknown>) },
    n: 1,
  }
  const h = right(await vs.hydrate(decoded, signal)) as { a: Array<Collection.Collection>; b: { f: Collection.CollectionFile }; n: number }
  assert.ok(!Codec.isUnresolved(h.a[0]))
  assert.is(await Collection.readText(h.a[0] as Collection.Collection, 'dir/foo'), 'foo')
  assert.is(h.b.f.size, 3)
  assert.is(await Collection.readText(h.b.f), 'foo')
  assert.is(h.n, 1)
})
hydrate('should ingest a local directory path', async () => {
  const vs = LocalStore.valueStore(Store.make(tmp()))
  const src = tmp()
  Fs.writeFileSync(Path.join(src, 'foo'), 'foo')
  const h = right(await vs.hydrate(right(Codec.CollectionCodec.decode(src) as E.Either<{ message: string }, unknown>), signal)) as Collection.Collection
  assert.is(h.pdh, PDH)
})
hydrate('should fail clearly for a UUID, an unknown PDH and a missing file', async () => {
  const store = Store.make(tmp())
  const vs = LocalStore.valueStore(store)
  const dec = (s: string, codec: typeof Codec.CollectionCodec | typeof Codec.FileCodec) => right(codec.decode(s) as E.Either<{ message: string }, unknown>)
  const uuid = await vs.hydrate([dec('zzzzz-4zz18-znfnqtbbv4spc3w', Codec.CollectionCodec)], signal)
  assert.ok(E.isLeft(uuid) && uuid.left.code === 'ARV_UUID_NOT_LOCAL' && uuid.left.message.includes('zzzzz-4zz18-znfnqtbbv4spc3w'))
  const unknown = await vs.hydrate(dec(PDH, Codec.CollectionCodec), signal)
  assert.ok(E.isLeft(unknown) && unknown.left.code === 'ARV_STORE_MISSING_COLLECTION')
  const c = right(await store.ingestFiles({ a: 'a' }))
  const missing = await vs.hydrate(dec(`${c.pdh}/b`, Codec.FileCodec), signal)
  assert.ok(E.isLeft(missing) && missing.left.code === 'ARV_COLLECTION_NO_SUCH_FILE' && missing.left.message.includes('"b"'))
})
hydrate.run()

const concat = suite('valueStore.concat')
concat('should combine outputs in list order, concatenating same-name files and skipping null/empty', async () => {
  const store = Store.make(tmp())
  const vs = LocalStore.valueStore(store)
  const one = right(await store.ingestFiles({ 'out.txt': 'one\n', 'a/x': 'x' }))
  const two = right(await store.ingestFiles({ 'out.txt': 'two\n', 'a/b/y': 'y' }))
  const empty = right(await store.ingestFiles({}))
  const c = right(await vs.concat([two, null, empty, one], signal))
  assert.is(await Collection.readText(c, 'out.txt'), 'two\none\n')
  assert.equal(c.files.map((f) => f.path), ['out.txt', 'a/x', 'a/b/y'])
  const blocks = BlockPack.readAll(Path.join(store.root, 'packs')).length + Fs.readdirSync(Path.join(store.root, 'blocks'), { recursive: true }).filter((f) => String(f).length > 4).length
  assert.is(blocks, 4, 'no block was copied')
  const again = right(await store.load(c.pdh))
  assert.is(await Collection.readText(again, 'a/b/y'), 'y')
  const none = right(await vs.concat([null, empty], signal))
  assert.is(none.pdh, 'd41d8cd98f00b204e9800998ecf8427e+0')
})
concat.run()

const outputs = suite('valueStore.outputs')
outputs('should give a fresh directory and store what is written there', async () => {
  const store = Store.make(tmp())
  const out = LocalStore.valueStore(store).outputs('call-1', signal)
  const dir = await out.directory()
  assert.equal(Fs.readdirSync(dir), [])
  Fs.mkdirSync(Path.join(dir, 'sub'))
  Fs.writeFileSync(Path.join(dir, 'sub', 'r.txt'), 'result')
  const c = await out.fromDirectory(dir)
  assert.is(c.mountPath !== undefined && Fs.readFileSync(Path.join(c.mountPath, 'sub/r.txt'), 'utf8'), 'result')
  const f = await out.fromFiles({ 'a.txt': 'A', 'b/c.bin': new Uint8Array([1, 2, 3]) })
  assert.equal(f.files, [{ path: 'a.txt', size: 1 }, { path: 'b/c.bin', size: 3 }])
  assert.equal(Array.from(await Collection.readFile(f, 'b/c.bin')), [1, 2, 3])
})
outputs('should reject unsafe in-memory file names', async () => {
  const out = LocalStore.valueStore(Store.make(tmp())).outputs('call-2', signal)
  for (const bad of ['../escape', '/abs', 'a//b', 'nl\nx']) {
    try {
      await out.fromFiles({ [bad]: 'x' })
      assert.unreachable(bad)
    } catch (e) {
      assert.is((e as { code?: string }).code, 'ARV_UNSAFE_PATH', bad)
    }
  }
})
outputs.run()

const materialize = suite('materialize')
materialize('should write files and empty directories under the target', async () => {
  const store = Store.make(tmp())
  const c = right(await store.saveManifest(right(await store.ingestFiles({ 'a/b.txt': 'bee', 'c.txt': '' })).manifestText + './empty d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n'))
  const target = Path.join(tmp(), 'out')
  right(await Materialize.materialize(c, target))
  assert.is(Fs.readFileSync(Path.join(target, 'a/b.txt'), 'utf8'), 'bee')
  assert.is(Fs.readFileSync(Path.join(target, 'c.txt'), 'utf8'), '')
  assert.ok(Fs.statSync(Path.join(target, 'empty')).isDirectory())
})
materialize('should refuse a name with a control character before writing anything', async () => {
  const store = Store.make(tmp())
  const ok = right(await store.ingestFiles({ 'first.txt': 'x' }))
  const hostile = right(Collection.fromManifestText(`${ok.manifestText}. acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:evil\\012name\n`, { source: store.source }))
  const target = Path.join(tmp(), 'out')
  const r = await Materialize.materialize(hostile, target)
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_UNSAFE_PATH')
    assert.ok(r.left.message.includes('control character') && r.left.message.includes('nothing was written'), r.left.message)
  }
  assert.is(Fs.existsSync(target), false)
})
materialize('should refuse a non-empty target and never touch what is outside it', async () => {
  const store = Store.make(tmp())
  const c = right(await store.ingestFiles({ 'x': 'new' }))
  const target = tmp()
  Fs.writeFileSync(Path.join(target, 'x'), 'old')
  const r = await Materialize.materialize(c, target)
  assert.ok(E.isLeft(r) && r.left.code === 'ARV_TARGET_NOT_EMPTY')
  assert.is(Fs.readFileSync(Path.join(target, 'x'), 'utf8'), 'old')
})
materialize('should never let a hostile manifest reach parse-free paths: .. and absolute names fail at parse', () => {
  for (const text of ['. acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:../../etc/x\n', './.. acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:x\n', '. acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:/etc/x\n']) {
    const r = Collection.fromManifestText(text)
    assert.ok(E.isLeft(r) && r.left.code === 'ARV_MANIFEST', text)
  }
})
materialize.run()
