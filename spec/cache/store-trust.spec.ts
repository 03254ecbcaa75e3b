/**
 * The local store can be trusted by a run: a result whose blocks are gone is recomputed, files
 * handed out by `ctx.path` cannot be changed for the next call or run, the default store is the
 * user's own, and a store another user owns is refused.
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as FsP from 'node:fs/promises'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Collection from '../../lib/collections/collection.js'
import { CollectionCodec } from '../../lib/collections/codec.js'
import * as Store from '../../lib/collections/store.js'
import * as Local from '../../lib/dispatchers/local.js'
import { defineModule, work } from '../../lib/module.js'

const made: Array<string> = []
const tmp = (): string => {
  const d = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-trust-'))
  made.push(d)
  return d
}
process.on('exit', () => {
  for (const d of made) ChildProcess.spawnSync('chmod', ['-R', 'u+w', d]), Fs.rmSync(d, { recursive: true, force: true })
})
const right = <A>(e: E.Either<{ readonly message: string }, A>): A => {
  if (E.isLeft(e)) throw new Error(e.left.message)
  return e.right
}
/** the files holding a store's blocks: block files, and block packs (where in-memory outputs go) */
const blocksOf = (root: string): Array<string> => [
  ...Fs.readdirSync(Path.join(root, 'blocks')).flatMap((d) => Fs.readdirSync(Path.join(root, 'blocks', d)).map((f) => Path.join(root, 'blocks', d, f))),
  ...Fs.readdirSync(Path.join(root, 'packs'))
    .filter((n) => n.endsWith('.blocks'))
    .map((n) => Path.join(root, 'packs', n)),
]

// -------------------------------------------------------------------------------------

const missing = suite('a cached result whose blocks are gone')

const greeting = () => {
  const runs: Array<string> = []
  const make = work({ args: [t.string], returns: CollectionCodec }, (who, ctx) => {
    runs.push(who)
    return ctx.output.fromFiles({ 'greeting.txt': `hello ${who}\n` })
  })
  const read = work({ args: [CollectionCodec], returns: t.string }, (c) => Collection.readText(c, 'greeting.txt'))
  const M = defineModule({ name: 'greet', params: t.type({ who: t.string }), work: { make, read }, run: ({ who }, { work: w }) => w.read(w.make(who)) })
  return { M, runs }
}

missing('should be recomputed (not an error on every later run), and give the right answer', async () => {
  const dir = tmp()
  const first = greeting()
  const r1 = await Local.make({ cacheDir: dir }).run(first.M, { who: 'ann' })()
  assert.ok(E.isRight(r1) && r1.right.value === 'hello ann\n')
  const blocks = blocksOf(Path.join(dir, 'store'))
  assert.is(blocks.length, 1)
  Fs.rmSync(blocks[0]!)
  for (const attempt of [1, 2]) {
    const again = greeting()
    const r = await Local.make({ cacheDir: dir }).run(again.M, { who: 'ann' })()
    if (E.isLeft(r)) assert.unreachable(`run ${attempt}: ${r.left.message}`)
    assert.is(E.isRight(r) && r.right.value, 'hello ann\n')
    // the first run after the deletion recomputes; the one after it reuses the new result
    assert.equal(again.runs, attempt === 1 ? ['ann'] : [], `run ${attempt}`)
  }
})

missing('should make the store report a missing block when loading, with one stat per block and no read', async () => {
  const store = Store.make(Path.join(tmp(), 'store'))
  const c = right(await store.ingestFiles({ 'a.txt': 'aaa', 'b.txt': 'bbb' }))
  const fresh = Store.make(store.root)
  assert.ok(E.isRight(await fresh.load(c.pdh)))
  Fs.rmSync(blocksOf(store.root)[0]!)
  const again = await Store.make(store.root).load(c.pdh)
  assert.ok(E.isLeft(again) && again.left.code === 'ARV_STORE_MISSING_BLOCK', E.isLeft(again) ? again.left.message : 'loaded')
})

missing.run()

// -------------------------------------------------------------------------------------

const sealed = suite('files handed out by ctx.path')

const tamper = () => {
  const seen: Array<string> = []
  const make = work({ args: [t.number], returns: CollectionCodec }, (_n, ctx) => ctx.output.fromFiles({ 'x.txt': 'hello' }))
  const evil = work({ args: [CollectionCodec, t.number], returns: t.string }, async (c, _i, ctx) => {
    const f = Collection.files(c)[0]!
    const p = await ctx.path(f)
    seen.push(Fs.readFileSync(p, 'utf8'))
    // a work that writes into its input (allowed for root, refused for others: either way, harmless)
    try {
      Fs.writeFileSync(p, 'EVIL!')
    } catch (e) {
      assert.is((e as { code?: string }).code, 'EACCES')
    }
    try {
      Fs.writeFileSync(Path.join(Path.dirname(p), 'planted.txt'), 'EVIL!')
    } catch (e) {
      assert.is((e as { code?: string }).code, 'EACCES')
    }
    return Collection.readText(f)
  })
  const M = defineModule({
    name: 'tamper',
    params: t.type({ n: t.number }),
    work: { make, evil },
    run: ({ n }, { work: w }) => Array.from({ length: n }, (_, i) => w.evil(w.make(0), i)),
  })
  return { M, seen }
}

sealed('should be read-only and checked: a work writing into them cannot change what the next call or run reads', async () => {
  const dir = tmp()
  for (const run of [1, 2]) {
    const m = tamper()
    const r = await Local.make({ cacheDir: dir, concurrency: 1 }).run(m.M, { n: 3 }, { reuse: false })()
    if (E.isLeft(r)) assert.unreachable(r.left.message)
    assert.equal(m.seen, ['hello', 'hello', 'hello'], `run ${run}`)
  }
})

sealed('should hand out a whole collection checked too (an added file is seen)', async () => {
  const store = Store.make(Path.join(tmp(), 'store'))
  const c = right(await store.ingestFiles({ 'a.txt': 'aaa', 'd/b.txt': 'bbb' }))
  const p = right(await store.mount(c)).mountPath!
  assert.is((Fs.statSync(Path.join(p, 'a.txt')).mode & 0o777).toString(8), '444')
  // directories stay writable (rm -rf of a cache works), but a file added there dates them
  Fs.writeFileSync(Path.join(p, 'd', 'extra.txt'), 'x')
  const again = right(await store.mount(c)).mountPath!
  assert.equal(Fs.readdirSync(Path.join(again, 'd')), ['b.txt'])
})

sealed.run()

// -------------------------------------------------------------------------------------

const owned = suite('the default store and its owner')

owned('should be per user: $XDG_CACHE_HOME/arvados-crunch/store, else ~/.cache/arvados-crunch/store', () => {
  assert.is(Store.defaultDir({ XDG_CACHE_HOME: '/x/cache' }, '/home/ann'), '/x/cache/arvados-crunch/store')
  assert.is(Store.defaultDir({ HOME: '/home/bob' }, '/home/ann'), '/home/bob/.cache/arvados-crunch/store')
  assert.is(Store.defaultDir({}, '/home/ann'), '/home/ann/.cache/arvados-crunch/store')
  // a relative XDG_CACHE_HOME is invalid (XDG base directory spec) and ignored
  assert.is(Store.defaultDir({ XDG_CACHE_HOME: 'rel' }, '/home/ann'), '/home/ann/.cache/arvados-crunch/store')
  assert.not.ok(Store.defaultDir({}, '/home/ann').startsWith(Os.tmpdir()))
})

owned('should create the store with mode 0700', async () => {
  const base = tmp()
  const store = Store.make(Store.defaultDir({ XDG_CACHE_HOME: base }))
  right(await store.ingestFiles({ 'a.txt': 'a' }))
  assert.is((Fs.statSync(Path.join(base, 'arvados-crunch')).mode & 0o777).toString(8), '700')
  assert.is((Fs.statSync(store.root).mode & 0o777).toString(8), '700')
})

owned('should refuse a store directory owned by another user, with a clear error', async () => {
  if (Os.userInfo().uid !== 0) {
    console.log('  (skipped: making a directory owned by another user needs root; this runs as uid', Os.userInfo().uid, ')')
    return
  }
  const root = Path.join(tmp(), 'store')
  Fs.mkdirSync(root)
  // a tree planted by user nobody
  Fs.mkdirSync(Path.join(root, 'trees'))
  await FsP.chown(root, 65534, 65534)
  const store = Store.make(root)
  for (const r of [await store.ingestFiles({ 'a.txt': 'a' }), await store.load('d41d8cd98f00b204e9800998ecf8427e+0'.replace('+0', '+1')), await store.tempDirectory('x')]) {
    assert.ok(E.isLeft(r))
    if (E.isLeft(r)) {
      assert.is(r.left.code, 'ARV_STORE_NOT_OWNED', r.left.message)
      assert.ok(r.left.message.includes('belongs to another user (uid 65534'), r.left.message)
    }
  }
  const run = await Local.make({ cacheDir: Path.dirname(root) }).run(greeting().M, { who: 'x' })()
  assert.ok(E.isLeft(run) && JSON.stringify(run.left).includes('ARV_STORE_NOT_OWNED'), E.isLeft(run) ? run.left.message : 'ran')
})

owned.run()
