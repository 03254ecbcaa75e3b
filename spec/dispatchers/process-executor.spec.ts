/**
 * What the process executor adds to the contract: container semantics on a laptop. Calls run in
 * worker processes with an allow-listed environment (restored before each call), their own
 * working and temp directories, maxRunTime and ram enforced, and an exit or crash that fails the
 * call with a clear error instead of ending the run.
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Dispatcher from '../../lib/dispatcher.js'
import * as Local from '../../lib/dispatchers/local.js'
import { root } from '../support/cli.js'
import { Isolation } from '../fixtures/process/isolation.js'

const script = Path.join(root, 'spec', 'fixtures', 'process', 'isolation.ts')
const run = async (p: { case: string; n: number }, concurrency = 1) => {
  const events: Array<Dispatcher.Event> = []
  const r = await Local.make({ isolation: 'process', script, concurrency }).run(Isolation, p, { onEvent: (e) => events.push(e) })()
  return { r, events }
}
const value = (r: E.Either<{ message: string }, { json: string }>): unknown => {
  if (E.isLeft(r)) assert.unreachable(r.left.message)
  return JSON.parse((r as E.Right<{ json: string }>).right.json)
}

const iso = suite('process executor')

iso('gives each call a fresh environment and its own empty working and temp directories', async () => {
  const { r } = await run({ case: 'leaky', n: 4 })
  const seen = value(r) as ReadonlyArray<{ sawVar: boolean; sawFile: boolean; cwd: string; tmp: string }>
  assert.is(seen.length, 4)
  for (const s of seen) {
    assert.is(s.sawVar, false, 'a variable set by an earlier call leaked')
    assert.is(s.sawFile, false, 'a file left by an earlier call was seen')
    assert.is.not(s.cwd, process.cwd())
  }
  assert.is(new Set(seen.map((s) => s.cwd)).size, 4)
  assert.is(new Set(seen.map((s) => s.tmp)).size, 4)
  for (const s of seen) assert.not.ok(Fs.existsSync(s.cwd), 'the call directory is removed')
})

iso('passes only allow-listed variables to calls', async () => {
  process.env['SECRET_OF_THE_PARENT'] = 'do not pass me on'
  try {
    assert.is(value((await run({ case: 'env', n: 0 })).r), null)
  } finally {
    delete process.env['SECRET_OF_THE_PARENT']
  }
})

iso('fails a call that exits (even with status 0) naming the work and the status, and the run ends normally', async () => {
  const { r, events } = await run({ case: 'exits', n: 0 })
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_PROCESS_EXITED')
    assert.match(r.left.message, /work "exits".*exit status 0/)
    assert.ok((r.left.details ?? []).some((l) => l.includes('about to exit')), 'the last lines are shown')
  }
  assert.ok(events.some((e) => e.type === 'log' && e.message === 'about to exit'), 'what the call printed is its log')
})

iso('stops a call at its maxRunTime', async () => {
  const t0 = Date.now()
  const { r } = await run({ case: 'hangs', n: 0 })
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) assert.is(r.left.code, 'ARV_MAX_RUN_TIME')
  assert.ok(Date.now() - t0 < 60_000)
})

iso('stops a call over its ram and, with escalate, retries it with more', async () => {
  const { r, events } = await run({ case: 'hungry', n: 220 })
  assert.is(value(r), 220)
  const starts = events.flatMap((e) => (e.type === 'start' ? [{ attempt: e.attempt, ram: e.ram }] : []))
  assert.ok(starts.length >= 2, JSON.stringify(starts))
  assert.equal(starts[0], { attempt: 1, ram: 150 * 1024 * 1024 })
  assert.equal(starts[1], { attempt: 2, ram: 300 * 1024 * 1024 })
})

iso.run()
