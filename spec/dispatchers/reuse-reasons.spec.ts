/**
 * Every call says why it was reused or runs again: no earlier result, a cache hit, an argument
 * that changed (which one), code that changed, reuse turned off by the run or by the work; and
 * `explain` gives the same decisions without running anything.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Dispatcher from '../../lib/dispatcher.js'
import * as Explain from '../../lib/dispatchers/explain.js'
import * as Local from '../../lib/dispatchers/local.js'
import * as ResultCache from '../../lib/dispatchers/result-cache.js'
import * as SiteBook from '../../lib/dispatchers/site-book.js'
import { defineModule, work } from '../../lib/module.js'

const scale = work({ args: [t.number, t.number], returns: t.number }, (x, k) => x * k)
const scaleV2 = work({ args: [t.number, t.number], returns: t.number }, (x, k) => k * x) // other code, same behaviour
const fresh = work({ args: [t.number], returns: t.number, reuse: false }, (x) => x)

const make = (impl: typeof scale) =>
  defineModule({
    name: 'reasons',
    params: t.type({ xs: t.array(t.number), k: t.number }),
    work: { scale: impl, fresh },
    run: ({ xs, k }, { work: w }) => ({ scaled: xs.map((x) => w.scale(x, k)), fresh: w.fresh(1) }),
  })
const V1 = make(scale)
const V2 = make(scaleV2)

const reasonsOf = async (m: typeof V1, params: { xs: Array<number>; k: number }, cacheDir: string, reuse = true): Promise<Record<string, string>> => {
  const events: Array<Dispatcher.Event> = []
  const r = await Local.make({ cacheDir }).run(m, params, { reuse, onEvent: (e) => events.push(e) })()
  assert.ok(E.isRight(r))
  const out: Record<string, string> = {}
  for (const e of events) if (e.type === 'done' && e.reuse !== undefined) out[`${e.work}:${e.id.slice(0, 6)}`] = `${e.reuse.reason}${e.reuse.detail === undefined ? '' : ` (${e.reuse.detail})`}`
  return out
}
const counts = (o: Record<string, string>): Record<string, number> => {
  const c: Record<string, number> = {}
  for (const v of Object.values(o)) c[v] = (c[v] ?? 0) + 1
  return c
}

const reasons = suite('reuse reasons')

reasons('each call says why it ran or was reused, across edits of the arguments and the code', async () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'reasons-'))
  try {
    assert.equal(counts(await reasonsOf(V1, { xs: [1, 2, 3], k: 2 }, dir)), { 'no-earlier-result': 3, 'work-reuse-false': 1 })
    assert.equal(counts(await reasonsOf(V1, { xs: [1, 2, 3], k: 2 }, dir)), { 'cache-hit': 3, 'work-reuse-false': 1 })
    assert.equal(counts(await reasonsOf(V1, { xs: [1, 2, 3], k: 3 }, dir)), { 'argument-changed (argument 2)': 3, 'work-reuse-false': 1 })
    assert.equal(counts(await reasonsOf(V1, { xs: [1, 5, 3], k: 3 }, dir)), { 'cache-hit': 2, 'argument-changed (argument 1)': 1, 'work-reuse-false': 1 })
    assert.equal(counts(await reasonsOf(V2, { xs: [1, 5, 3], k: 3 }, dir)), { 'code-changed': 3, 'work-reuse-false': 1 })
    assert.equal(counts(await reasonsOf(V2, { xs: [1, 5, 3], k: 3 }, dir, false)), { 'reuse-off': 4 })
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

reasons('explain gives the decisions of a run without running it', async () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'reasons-'))
  try {
    await reasonsOf(V1, { xs: [1, 2], k: 2 }, dir)
    const cache = ResultCache.open(Path.join(dir, 'results'))
    assert.ok(E.isRight(cache))
    if (E.isLeft(cache)) return
    const ex = await Explain.explain(V1, { xs: [1, 4], k: 2 }, { cache: cache.right, sites: SiteBook.open(Path.join(dir, 'sites')), reuse: true })
    await cache.right.close()
    assert.ok(E.isRight(ex))
    if (E.isLeft(ex)) return
    assert.equal(
      ex.right.map((x) => [x.site, x.decision.reason, x.decision.detail ?? '']),
      [
        ['run/scale#0', 'cache-hit', ''],
        ['run/scale#1', 'argument-changed', 'argument 1'],
        ['run/fresh#0', 'work-reuse-false', ''],
      ],
    )
    const text = Explain.render(ex.right)
    assert.match(text, /↺ run\/scale#0 .* reused: its result is in the cache/)
    assert.match(text, /▶ run\/scale#1 .* runs: an argument changed since the last run \(argument 1\)/)
    assert.match(text, /3 call\(s\) of run: 1 would be reused, 2 would run/)
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

reasons.run()
