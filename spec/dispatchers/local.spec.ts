import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Dispatcher from '../../lib/dispatcher.js'
import * as Local from '../../lib/dispatchers/local.js'
import * as ResultCache from '../../lib/dispatchers/result-cache.js'
import * as Errors from '../../lib/errors.js'
import { defineModule, work } from '../../lib/module.js'

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(timer)
      reject(new Error('aborted'))
    })
  })

const tmp = (): string => Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-local-'))

/** a module whose `slow` work records how many run at once */
const gauge = () => {
  let now = 0
  let max = 0
  const slow = work({ args: [t.number], returns: t.number }, async (n) => {
    now++
    max = Math.max(max, now)
    await sleep(20)
    now--
    return n
  })
  const M = defineModule({ name: 'gauge', params: t.type({ n: t.number }), work: { slow }, run: ({ n }, { work: w }) => Array.from({ length: n }, (_, i) => w.slow(i)) })
  return { M, max: () => max }
}

const scheduling = suite('local: scheduling')

scheduling('should overlap async implementations up to the concurrency bound', async () => {
  const g = gauge()
  const r = await Local.make({ concurrency: 3 }).run(g.M, { n: 12 })()
  assert.ok(E.isRight(r))
  assert.is(g.max(), 3)
})

scheduling('should run one at a time with concurrency 1', async () => {
  const g = gauge()
  await Local.make({ concurrency: 1 }).run(g.M, { n: 5 })()
  assert.is(g.max(), 1)
})

scheduling('should default the bound to the CPU count', async () => {
  const g = gauge()
  await Local.make().run(g.M, { n: 4 * Os.availableParallelism() })()
  assert.is(g.max(), Os.availableParallelism())
})

scheduling('should start a call as soon as its own inputs resolve, not when a level finishes', async () => {
  const order: Array<string> = []
  const step = work({ args: [t.string, t.number], returns: t.string }, async (name, ms) => {
    await sleep(ms)
    order.push(name)
    return name
  })
  const after = work({ args: [t.string], returns: t.string }, (s) => {
    order.push(`after ${s}`)
    return s
  })
  const M = defineModule({
    name: 'eager',
    params: t.unknown,
    work: { step, after },
    run: (_, { work: w }) => [w.after(w.step('fast', 1)), w.step('slow', 150)],
  })
  const r = await Local.make({ concurrency: 4 }).run(M, null)()
  assert.ok(E.isRight(r))
  assert.equal(order, ['fast', 'after fast', 'slow'])
})

scheduling('should report stats: calls, executed, reused, failed', async () => {
  const g = gauge()
  const r = await Local.make().run(g.M, { n: 3 })()
  assert.ok(E.isRight(r) && r.right.stats.calls === 3 && r.right.stats.executed === 3 && r.right.stats.reused === 0 && r.right.stats.failed === 0)
})

scheduling.run()

// ---

const failures = suite('local: failures')

const boom = work({ args: [t.number], returns: t.number }, (n) => {
  if (n === 3) throw new Error(`cannot handle ${n}`)
  return n
})

failures('should fail fast naming the call, its id and its arguments, keeping the original stack', async () => {
  let later = 0
  const afterwards = work({ args: [t.number], returns: t.number }, (n) => {
    later++
    return n
  })
  const M = defineModule({ name: 'ff', params: t.unknown, work: { boom, afterwards }, run: (_, { work: w }) => w.afterwards(w.boom(3)) })
  const r = await Local.make().run(M, null)()
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    const e = r.left as Errors.SdkError & { work?: string; callId?: string }
    assert.is(e._tag, 'WorkFailedError')
    assert.is(e.code, 'ARV_WORK_FAILED')
    assert.is(e.work, 'boom')
    assert.match(e.message, /^work "boom" failed \[call [0-9a-f]{12}\] with arguments \(number\): cannot handle 3$/)
    assert.ok(e.cause instanceof Error)
    assert.match((e.cause as Error).stack ?? '', /local\.spec\.ts/)
  }
  assert.is(later, 0)
})

failures('should abort running calls when another fails (fail fast)', async () => {
  let sawAbort = false
  const waits = work({ args: [t.number], returns: t.number }, async (n, ctx) => {
    await sleep(10_000, ctx.signal).catch(() => {
      sawAbort = ctx.signal.aborted
    })
    return n
  })
  const M = defineModule({ name: 'ff2', params: t.unknown, work: { boom, waits }, run: (_, { work: w }) => [w.waits(1), w.boom(3)] })
  const r = await Local.make({ concurrency: 2 }).run(M, null)()
  assert.ok(E.isLeft(r))
  assert.ok(sawAbort)
})

failures('should keep going with what does not depend on a failure when asked', async () => {
  const ran: Array<number> = []
  const ok = work({ args: [t.number], returns: t.number }, (n) => {
    ran.push(n)
    return n
  })
  const M = defineModule({
    name: 'kg',
    params: t.unknown,
    work: { boom, ok },
    run: (_, { work: w }) => [w.ok(1), w.ok(w.boom(3)), w.ok(2), w.boom(4)],
  })
  const r = await Local.make({ concurrency: 1 }).run(M, null, { keepGoing: true })()
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left._tag, 'RunFailedError')
    assert.match(r.left.message, /1 call\(s\) of module "kg" failed; 1 call\(s\) that depend on them did not run/)
  }
  assert.equal(ran.sort(), [1, 2], 'independent calls ran; the dependent one did not')
})

failures('should retry a failing implementation when retries are declared', async () => {
  let attempts = 0
  const flaky = work({ args: [t.number], returns: t.number, retries: 2 }, (n) => {
    attempts++
    if (attempts < 3) throw new Error('flaky')
    return n
  })
  const M = defineModule({ name: 'retry', params: t.unknown, work: { flaky }, run: (_, { work: w }) => w.flaky(7) })
  const r = await Local.make().run(M, null)()
  assert.ok(E.isRight(r) && r.right.value === 7)
  assert.is(attempts, 3)
})

failures('should report a failure of run() itself', async () => {
  const M = defineModule({
    name: 'badrun',
    params: t.unknown,
    work: {},
    run: () => {
      throw new Error('run exploded')
    },
  })
  const r = await Local.make().run(M, null)()
  assert.ok(E.isLeft(r) && r.left.code === 'ARV_WORK_FAILED' && /run\(\) of module "badrun" failed: run exploded/.test(r.left.message))
})

failures('should reject parameters that do not fit the params codec before anything runs', async () => {
  const g = gauge()
  const r = await Local.make().run(g.M, { n: 'three' })()
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_DECODE')
    assert.match(Errors.format(r.left), /parameters of run\(\) in module "gauge" could not be decoded[\s\S]*expected number, received string[\s\S]*at n/)
  }
  assert.is(g.max(), 0)
})

failures.run()

// ---

const cancellation = suite('local: cancellation')

cancellation('should stop on an AbortSignal, and running calls should see it', async () => {
  let seen = false
  const waits = work({ args: [t.number], returns: t.number }, async (n, ctx) => {
    await sleep(10_000, ctx.signal).catch(() => (seen = ctx.signal.aborted))
    return n
  })
  let later = 0
  const next = work({ args: [t.number], returns: t.number }, (n) => {
    later++
    return n
  })
  const M = defineModule({ name: 'cancel', params: t.unknown, work: { waits, next }, run: (_, { work: w }) => w.next(w.waits(1)) })
  const controller = new AbortController()
  setTimeout(() => controller.abort('enough'), 50)
  const r = await Local.make().run(M, null, { signal: controller.signal })()
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_CANCELLED')
    assert.match(r.left.message, /cancelled: enough/)
  }
  assert.ok(seen)
  assert.is(later, 0)
})

cancellation('should not start when the signal is already aborted', async () => {
  const g = gauge()
  const r = await Local.make().run(g.M, { n: 2 }, { signal: AbortSignal.abort() })()
  assert.ok(E.isLeft(r) && r.left.code === 'ARV_CANCELLED')
  assert.is(g.max(), 0)
})

cancellation.run()

// ---

const reuse = suite('local: reuse')

const counting = () => {
  const runs: Array<number> = []
  const sq = work({ args: [t.number], returns: t.number }, (n) => {
    runs.push(n)
    if (n === failOn.value) throw new Error('planned failure')
    return n * n
  })
  const total = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))
  const failOn = { value: -1 }
  const M = defineModule({ name: 'reuse', params: t.type({ n: t.number }), work: { sq, total }, run: ({ n }, { work: w }) => w.total(Array.from({ length: n }, (_, i) => w.sq(i))) })
  return { M, runs, failOn }
}

reuse('should reuse every finished call on a second run with the same cache', async () => {
  const dir = tmp()
  const first = counting()
  const a = await Local.make({ cacheDir: dir }).run(first.M, { n: 5 })()
  assert.ok(E.isRight(a) && a.right.value === 30 && a.right.stats.executed === 6)
  const second = counting()
  const b = await Local.make({ cacheDir: dir }).run(second.M, { n: 5 })()
  assert.ok(E.isRight(b) && b.right.value === 30)
  if (E.isRight(b)) assert.equal([b.right.stats.executed, b.right.stats.reused], [0, 6])
  assert.equal(second.runs, [])
})

reuse('should re-execute only what had not finished after a failure', async () => {
  const dir = tmp()
  const first = counting()
  first.failOn.value = 3
  const a = await Local.make({ cacheDir: dir, concurrency: 1 }).run(first.M, { n: 6 }, { keepGoing: true })()
  assert.ok(E.isLeft(a))
  const second = counting()
  const b = await Local.make({ cacheDir: dir }).run(second.M, { n: 6 })()
  assert.ok(E.isRight(b) && b.right.value === 55)
  assert.equal(second.runs, [3], 'only the failed square ran again (total had never run)')
})

reuse('should run everything again with reuse off', async () => {
  const dir = tmp()
  await Local.make({ cacheDir: dir }).run(counting().M, { n: 3 })()
  const again = counting()
  const r = await Local.make({ cacheDir: dir }).run(again.M, { n: 3 }, { reuse: false })()
  assert.ok(E.isRight(r))
  assert.equal(again.runs.sort(), [0, 1, 2])
})

reuse('should recompute a stored result that no longer decodes, never trust it', async () => {
  const dir = tmp()
  await Local.make({ cacheDir: dir }).run(counting().M, { n: 3 })()
  const results = Path.join(dir, 'results')
  for (const f of Fs.readdirSync(results)) {
    const text = Fs.readFileSync(Path.join(results, f), 'utf8')
    // corrupt every stored square: a string where the codec says number (in a record that
    // verifies), and a torn record (never decoded)
    const records = text.split('\n').filter((l) => l !== '').map((l) => ResultCache.parseRecord(l)!)
    const rewritten = records.map((r) => (r.json === '4' ? ResultCache.record(r.id, r.stamp, '"four"') : r.json === '1' ? ResultCache.record(r.id, r.stamp, '1')!.slice(0, -5) : ResultCache.record(r.id, r.stamp, r.json)))
    Fs.writeFileSync(Path.join(results, f), rewritten.sort((a, b) => (a!.endsWith('\n') ? 0 : 1) - (b!.endsWith('\n') ? 0 : 1)).join(''))
  }
  const again = counting()
  const r = await Local.make({ cacheDir: dir }).run(again.M, { n: 3 })()
  assert.ok(E.isRight(r) && r.right.value === 5)
  assert.equal(again.runs.sort(), [1, 2])
})

reuse('should not reuse a call whose work says reuse: false', async () => {
  const dir = tmp()
  let runs = 0
  const fresh = work({ args: [t.number], returns: t.number, reuse: false }, (n) => {
    runs++
    return n
  })
  const M = defineModule({ name: 'fresh', params: t.unknown, work: { fresh }, run: (_, { work: w }) => w.fresh(1) })
  await Local.make({ cacheDir: dir }).run(M, null)()
  await Local.make({ cacheDir: dir }).run(M, null)()
  assert.is(runs, 2)
})

reuse('should reuse a continuation by its final output', async () => {
  const dir = tmp()
  let parents = 0
  const sq = work({ args: [t.number], returns: t.number }, (n) => n * n)
  const parent = work({ args: [t.number], returns: t.number }, (n, ctx) => {
    parents++
    return ctx.call(sq, n)
  })
  const M = defineModule({ name: 'contreuse', params: t.unknown, work: { sq, parent }, run: (_, { work: w }) => w.parent(9) })
  const a = await Local.make({ cacheDir: dir }).run(M, null)()
  const b = await Local.make({ cacheDir: dir }).run(M, null)()
  assert.ok(E.isRight(a) && E.isRight(b) && b.right.value === 81)
  assert.is(parents, 1)
})

reuse.run()

// ---

const events = suite('local: events')

events('should emit start and done events for each call', async () => {
  const seen: Array<Dispatcher.Event['type']> = []
  const g = gauge()
  await Local.make().run(g.M, { n: 2 }, { onEvent: (e) => seen.push(e.type) })()
  assert.equal(seen.filter((x) => x === 'start').length, 2)
  assert.equal(seen.filter((x) => x === 'done').length, 2)
})

events.run()
