/**
 * Specs for lib/collections/store.ts: streaming ingest, manifests Arvados would write, verified
 * reads, atomic writes, and two real processes ingesting the same data at once.
 */
import * as ChildProcess from 'node:child_process'
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as BlockPack from '../../lib/collections/block-pack.js'
import * as Collection from '../../lib/collections/collection.js'
import * as Store from '../../lib/collections/store.js'

const repo = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..', '..')
const right = <A>(e: E.Either<{ readonly message: string }, A>): A => {
  if (E.isLeft(e)) throw new Error(e.left.message)
  return e.right
}
const made: Array<string> = []
const tmp = (): string => {
  const d = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-store-'))
  made.push(d)
  return d
}
process.on('exit', () => {
  for (const d of made) Fs.rmSync(d, { recursive: true, force: true })
})
/** the packs of a store with that suffix */
const packFiles = (root: string, suffix: string): Array<string> =>
  Fs.readdirSync(Path.join(root, 'packs'))
    .filter((n) => n.endsWith(suffix))
    .map((n) => Path.join(root, 'packs', n))
const writeTree = (root: string, files: Record<string, string | Buffer>): string => {
  for (const [p, c] of Object.entries(files)) {
    Fs.mkdirSync(Path.dirname(Path.join(root, p)), { recursive: true })
    Fs.writeFileSync(Path.join(root, p), c)
  }
  return root
}
const md5 = (b: string | Buffer): string => Crypto.createHash('md5').update(b).digest('hex')

const ingest = suite('ingestDirectory')
ingest('should write the manifest and PDH Arvados gives the same files (one block per file)', async () => {
  const store = Store.make(tmp())
  const src = writeTree(tmp(), { foo: 'foo', 'sub dir/bar': 'bar', 'sub dir/empty': '' })
  Fs.mkdirSync(Path.join(src, 'nothing'))
  const c = right(await store.ingestDirectory(src))
  assert.is(
    c.manifestText,
    '. acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n./nothing d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n./sub\\040dir 37b51d194a7513e45b56f6524f2d51f2+3 0:3:bar 0:0:empty\n',
  )
  assert.equal(c.files, [{ path: 'foo', size: 3 }, { path: 'sub dir/bar', size: 3 }, { path: 'sub dir/empty', size: 0 }])
  assert.is(Fs.existsSync(src), true, 'a directory that is not adopted stays where it was')
})
ingest('should give the fixture PDH for a single file foo (Arvados foo_file)', async () => {
  const store = Store.make(tmp())
  const c = right(await store.ingestDirectory(writeTree(tmp(), { foo: 'foo' })))
  assert.is(c.pdh, '1f4b0bc7583c2a7f9102c395f4ffc5e3+45')
})
ingest('should split a file into 64 MiB blocks and read it back identical', async () => {
  const store = Store.make(tmp())
  const size = 64 * 1024 * 1024 + 1000
  const data = Buffer.alloc(size)
  for (let i = 0; i < size; i += 4096) data.writeUInt32LE(i, i)
  const src = writeTree(tmp(), { 'big.bin': data })
  const c = right(await store.ingestDirectory(src))
  const first = md5(data.subarray(0, 67108864))
  const second = md5(data.subarray(67108864))
  assert.is(c.manifestText, `. ${first}+67108864 ${second}+1000 0:${size}:big.bin\n`)
  let total = 0
  const h = Crypto.createHash('md5')
  for await (const chunk of Collection.stream(c, 'big.bin')) {
    total += chunk.length
    h.update(chunk)
  }
  assert.is(total, size)
  assert.is(h.digest('hex'), md5(data))
})
ingest('should give the same manifest when large files (hashed by worker threads) and small ones are mixed', async () => {
  const store = Store.make(tmp())
  const big = (n: number, seed: number): Buffer => {
    const b = Buffer.alloc(n)
    for (let i = 0; i + 4 <= n; i += 4096) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i)
    return b
  }
  const a = big(17 * 1024 * 1024, 1)
  const d = big(20 * 1024 * 1024 + 3, 2)
  const src = writeTree(tmp(), { a: a, b: 'small', 'c/d': d, 'c/e': 'tiny' })
  const c = right(await store.ingestDirectory(src))
  assert.is(c.manifestText, `. ${md5(a)}+${a.length} ${md5('small')}+5 0:${a.length}:a ${a.length}:5:b\n./c ${md5(d)}+${d.length} ${md5('tiny')}+4 0:${d.length}:d ${d.length}:4:e\n`)
  assert.is(Buffer.compare(Buffer.from(await Collection.readFile(c, 'c/d')), d), 0)
})
ingest('should fail clearly for a missing directory', async () => {
  const r = await Store.make(tmp()).ingestDirectory('/nonexistent/arv-test')
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_STORE_INGEST')
    assert.ok(r.left.message.includes('/nonexistent/arv-test'))
  }
})
ingest('should adopt a directory as the tree of its collection when asked', async () => {
  const store = Store.make(tmp())
  const src = right(await store.tempDirectory('out'))
  writeTree(src, { 'a/b.txt': 'hello' })
  const c = right(await store.ingestDirectory(src, { adopt: true }))
  assert.is(c.mountPath, Path.join(store.root, 'trees', c.pdh))
  assert.is(Fs.readFileSync(Path.join(c.mountPath ?? '', 'a/b.txt'), 'utf8'), 'hello')
  assert.is(Fs.existsSync(src), false)
})
ingest.run()

const reads = suite('readBlock')
reads('should return an error, never data, for a corrupted block', async () => {
  const store = Store.make(tmp())
  const c = right(await store.ingestFiles({ 'x.txt': 'precious' }))
  // in-memory files are packed (block-pack.ts): the record's bytes altered in place
  const [pack] = packFiles(store.root, '.blocks')
  Fs.writeFileSync(pack!, Fs.readFileSync(pack!, 'latin1').replace('precious', 'precioux'), 'latin1')
  const loaded = right(await store.load(c.pdh))
  const r = await Collection.readEither(loaded, 'x.txt')
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_COLLECTION_READ')
    assert.ok(r.left.message.includes('corrupted'), r.left.message)
    assert.is((r.left.cause as { code?: string }).code, 'ARV_STORE_CORRUPT_BLOCK')
  }
  try {
    await Collection.readText(loaded, 'x.txt')
    assert.unreachable('should reject')
  } catch (e) {
    assert.is((e as { code?: string }).code, 'ARV_COLLECTION_READ')
  }
  // the record is marked removed: the next process finds the block missing (and recomputes what needs it)
  const again = await Store.make(store.root).load(c.pdh)
  assert.ok(E.isLeft(again) && again.left.code === 'ARV_STORE_MISSING_BLOCK', E.isLeft(again) ? again.left.message : 'loaded')
})
reads('should report a truncated block as corrupted and a missing one as missing', async () => {
  const store = Store.make(tmp())
  const l = right(await store.putBlock(Buffer.from('abcdef')))
  const file = Path.join(store.root, 'blocks', l.hash.slice(0, 3), l.hash)
  Fs.truncateSync(file, 3)
  const r = await store.readBlock(l)
  assert.ok(E.isLeft(r) && r.left.code === 'ARV_STORE_CORRUPT_BLOCK')
  // a corrupted block is moved out of the way: the next read (or run) finds it missing
  assert.not.ok(Fs.existsSync(file))
  const m = await store.readBlock(l)
  assert.ok(E.isLeft(m) && m.left.code === 'ARV_STORE_MISSING_BLOCK')
})
reads('should leave no temporary file behind after writes', async () => {
  const store = Store.make(tmp())
  right(await store.ingestFiles({ a: 'a', 'd/b': 'bbb' }))
  right(await store.putBlock(Buffer.from('zzz')))
  assert.equal(Fs.readdirSync(Path.join(store.root, 'tmp')), [])
})
reads.run()

const load = suite('load')
load('should find a stored collection by PDH and fail clearly for an unknown one', async () => {
  const store = Store.make(tmp())
  const c = right(await store.ingestFiles({ 'dir/f.txt': 'text' }))
  const again = right(await store.load(c.pdh))
  assert.is(again.manifestText, c.manifestText)
  assert.is(await Collection.readText(again, 'dir/f.txt'), 'text')
  const r = await store.load('0123456789abcdef0123456789abcdef+10')
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_STORE_MISSING_COLLECTION')
    assert.ok(r.left.message.includes('0123456789abcdef0123456789abcdef+10'))
  }
})
load('mount should materialize a collection once and reuse it', async () => {
  const store = Store.make(tmp())
  const c = right(await store.ingestDirectory(writeTree(tmp(), { 'a/b': 'bee' })))
  const m = right(await store.mount(c))
  assert.is(Fs.readFileSync(Path.join(m.mountPath ?? '', 'a/b'), 'utf8'), 'bee')
  assert.is(right(await store.mount(c)).mountPath, m.mountPath)
})
load.run()

const concurrent = suite('two processes')
concurrent('should both succeed ingesting the same data at once, with one valid copy of each block', async () => {
  const root = tmp()
  const src = writeTree(tmp(), Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.bin`, Crypto.randomBytes(200_000 + i)])))
  const script = Path.join(Path.dirname(new URL(import.meta.url).pathname), 'ingest-child.ts')
  const run = () =>
    new Promise<string>((resolve, reject) => {
      const child = ChildProcess.spawn(process.execPath, ['--import', 'tsx', script, root, src], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.on('data', (b: Buffer) => (out += b.toString()))
      child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`child exited ${code}`))))
    })
  const [a, b] = await Promise.all([run(), run()])
  assert.is(a, b)
  const store = Store.make(root)
  const c = right(await store.load(a))
  for (const f of c.files) assert.is(md5(Buffer.from(await Collection.readFile(c, f.path))), md5(Fs.readFileSync(Path.join(src, f.path))))
  assert.equal(Fs.readdirSync(Path.join(root, 'tmp')), [])
})
concurrent.run()

const inMemory = suite('ingestFiles (ctx.output.fromFiles)')
inMemory('should store small and large in-memory files as verified blocks, with no file, tree or temporary left', async () => {
  const store = Store.make(tmp())
  const big = Buffer.alloc(3 << 20)
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i)
  const c = right(await store.ingestFiles({ 'a.txt': 'hello', 'd/big.bin': big, 'd/empty': '' }))
  assert.equal(c.files.map((f) => [f.path, f.size]), [['a.txt', 5], ['d/big.bin', 3 << 20], ['d/empty', 0]])
  assert.is(c.mountPath, undefined, 'no tree until one is asked for')
  assert.equal(Fs.readdirSync(Path.join(store.root, 'trees')), [])
  assert.equal(Fs.readdirSync(Path.join(store.root, 'tmp')), [])
  const again = right(await Store.make(store.root).load(c.pdh))
  assert.is(md5(Buffer.from(await Collection.readFile(again, 'd/big.bin'))), md5(big))
  assert.is(await Collection.readText(again, 'a.txt'), 'hello')
  const mounted = right(await store.mount(c)).mountPath!
  assert.is(md5(Fs.readFileSync(Path.join(mounted, 'd/big.bin'))), md5(big))
})
inMemory('should let a process end while the block workers are idle', async () => {
  const dir = tmp()
  const r = ChildProcess.spawnSync(process.execPath, ['--import', 'tsx', Path.join(repo, 'spec/collections/bytes-child.ts'), dir], { cwd: repo, encoding: 'utf8', timeout: 60_000 })
  assert.is(r.status, 0, r.stderr)
  assert.match(r.stdout, /^[0-9a-f]{32}\+\d+\n$/)
})
inMemory('should report a path used both as a file and as a directory', async () => {
  const r = await Store.make(tmp()).ingestFiles({ a: 'x', 'a/b': 'y' })
  assert.ok(E.isLeft(r) && r.left.message.includes('"a" is used both as a file and as a directory'), E.isLeft(r) ? r.left.message : 'stored')
})
inMemory.run()

const blockPacks = suite('block packs (blocks of in-memory files)')
blockPacks('should store many outputs without a file per block, readable and verified by another process', async () => {
  const store = Store.make(tmp())
  const small = Array.from({ length: 50 }, (_, i) => `small ${i}\n`)
  const large = Array.from({ length: 6 }, (_, i) => Buffer.alloc(300_000 + i, i + 1))
  const outs = [...small.map((t, i) => store.ingestFiles({ [`s${i}.txt`]: t })), ...large.map((b, i) => store.ingestFiles({ [`l${i}.bin`]: b }))]
  const cs = (await Promise.all(outs)).map(right)
  assert.equal(Fs.readdirSync(Path.join(store.root, 'blocks')), [], 'no block file, no block directory')
  const packs = packFiles(store.root, '.blocks')
  assert.ok(packs.length >= 2 && packs.length <= 5, `one pack for this thread and one per block worker used: ${packs.length}`)
  assert.is(BlockPack.readAll(Path.join(store.root, 'packs')).length, 56)
  // another process: found through the packs, every byte checked
  const other = Store.make(store.root)
  for (const [i, c] of cs.entries()) {
    const again = right(await other.load(c.pdh))
    const f = again.files[0]!
    const bytes = Buffer.from(await Collection.readFile(again, f.path))
    assert.is(md5(bytes), md5(i < 50 ? Buffer.from(small[i]!) : large[i - 50]!), f.path)
  }
})
blockPacks('should not index a torn last record (a crash while appending), and stop at a damaged header', async () => {
  const store = Store.make(tmp())
  const a = right(await store.ingestFiles({ 'a.txt': 'first block' }))
  const b = right(await store.ingestFiles({ 'b.txt': 'second block' }))
  const [pack] = packFiles(store.root, '.blocks')
  const bytes = Fs.readFileSync(pack!)
  Fs.writeFileSync(pack!, bytes.subarray(0, bytes.length - 3))
  assert.ok(E.isRight(await Store.make(store.root).load(a.pdh)))
  const torn = await Store.make(store.root).load(b.pdh)
  assert.ok(E.isLeft(torn) && torn.left.code === 'ARV_STORE_MISSING_BLOCK', E.isLeft(torn) ? torn.left.message : 'loaded')
  // a header that is not one: nothing from there on
  Fs.writeFileSync(pack!, Buffer.concat([Buffer.from('garbage\n'), bytes]))
  const damaged = await Store.make(store.root).load(a.pdh)
  assert.ok(E.isLeft(damaged) && damaged.left.code === 'ARV_STORE_MISSING_BLOCK')
})
blockPacks.run()

const packs = suite('manifest packs')
packs('should find a manifest another process appended to its pack, and skip torn or altered records', async () => {
  const dir = tmp()
  const writer = Store.make(dir)
  const c = right(await writer.ingestFiles({ 'x.txt': 'x' }))
  const packDir = Path.join(dir, 'packs')
  const [pack] = Fs.readdirSync(packDir).filter((n) => n.endsWith('.manifests'))
  assert.match(pack!, /^w-[0-9a-f]{8}\.\d+-.*\.manifests$/)
  assert.equal(Fs.readdirSync(Path.join(dir, 'manifests')), [], 'small manifests are not files')
  assert.is(right(await Store.make(dir).load(c.pdh)).pdh, c.pdh)
  // altered: the text no longer matches its PDH
  const file = Path.join(packDir, pack!)
  const text = Fs.readFileSync(file, 'utf8')
  Fs.writeFileSync(file, text.replace('x.txt', 'y.txt'))
  const altered = await Store.make(dir).load(c.pdh)
  assert.ok(E.isLeft(altered) && altered.left.code === 'ARV_STORE_MISSING_COLLECTION')
  // torn: cut in its text
  Fs.writeFileSync(file, text.slice(0, text.length - 5))
  const torn = await Store.make(dir).load(c.pdh)
  assert.ok(E.isLeft(torn) && torn.left.code === 'ARV_STORE_MISSING_COLLECTION')
})
packs.run()
