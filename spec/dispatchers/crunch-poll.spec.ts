/**
 * The crunch runner's poll loop: how its interval follows completions (a pure function), and,
 * end to end on the Arvados double running two containers at a time (completions in a
 * trickle), that a finished request is noticed by the first poll after it ended — no request
 * stays pending (is asked about again) once a poll has seen it Final.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Poll from '../../lib/dispatchers/crunch/poll.js'
import { crunch, root } from '../support/cli.js'
import { startDouble, type RecordedRequest } from '../support/double/index.js'

const bounds = { minMs: 250, maxMs: 5000 }

const pace = suite('crunch poll pace')

pace('while nothing finishes the interval grows by half, up to the longest interval', () => {
  let p = Poll.firstPace(250)
  const seen: Array<number> = []
  for (let i = 0; i < 12; i++) {
    p = Poll.nextPace(p, { found: 0, elapsedMs: p.intervalMs, pending: 10 }, bounds)
    seen.push(p.intervalMs)
  }
  assert.equal(seen.slice(0, 3), [375, 563, 845])
  assert.is(seen[seen.length - 1], 5000)
})

pace('with many pending a poll waits for about an eighth of them; with few it is soon again', () => {
  // 10 completions per second observed
  const many = Poll.nextPace(Poll.firstPace(250), { found: 10, elapsedMs: 1000, pending: 240 }, bounds)
  assert.is(many.intervalMs, 3000)
  const few = Poll.nextPace(Poll.firstPace(250), { found: 10, elapsedMs: 1000, pending: 4 }, bounds)
  assert.is(few.intervalMs, 250)
  const bounded = Poll.nextPace(Poll.firstPace(250), { found: 1, elapsedMs: 1000, pending: 100_000 }, bounds)
  assert.is(bounded.intervalMs, 5000)
})

pace('the rate is smoothed: one slow poll does not stretch the interval to its own length', () => {
  const fast = Poll.nextPace(Poll.firstPace(250), { found: 20, elapsedMs: 1000, pending: 160 }, bounds)
  const slow = Poll.nextPace(fast, { found: 1, elapsedMs: 1000, pending: 160 }, bounds)
  assert.ok(slow.intervalMs < 20 * 1000, `interval ${slow.intervalMs}`)
  assert.ok(slow.intervalMs > fast.intervalMs)
})

pace.run()

const trickle = suite('crunch poll on a trickle')

type Rec = Record<string, unknown>

/** the request uuids a container_requests poll asked about, or undefined for another request */
const polled = (r: RecordedRequest): ReadonlyArray<string> | undefined => {
  if (!r.path.endsWith('/arvados/v1/container_requests')) return undefined
  const filters = r.query['filters'] ?? (r.body as Rec | undefined)?.['filters']
  if (typeof filters !== 'string' || !filters.startsWith('[["uuid","in",')) return undefined
  return (JSON.parse(filters) as Array<[string, string, Array<string>]>)[0]![2]
}

trickle('a request whose container finished is not asked about again after the first poll that saw it Final', async () => {
  const double = await startDouble({ maxRunning: 2 })
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-poll-'))
  try {
    Fs.writeFileSync(Path.join(dir, 'ca.pem'), double.ca)
    const env = {
      ARVADOS_API_HOST: double.apiHost,
      ARVADOS_API_TOKEN: double.token,
      ARVADOS_API_HOST_INSECURE: '',
      SSL_CERT_FILE: Path.join(dir, 'ca.pem'),
      HOME: dir,
      CRUNCH_POLL_MS: '1000',
      CRUNCH_KEEP_REPLICAS: '1',
      CRUNCH_ROLE: '',
      CRUNCH_DISPATCHER: '',
    }
    const n = 12
    const r = await crunch(['run', Path.join(root, 'spec', 'fixtures', 'crunch', 'fanout.ts'), '--n', String(n), '--dispatcher', 'crunch', '--progress', 'none'], { env, cwd: dir, timeoutMs: 300_000 })
    assert.is(r.code, 0, r.stderr)
    assert.is(r.stdout.trim(), String((n * (n + 1)) / 2))

    const crs = [...double.cluster.crs.values()].filter((cr) => typeof (cr['properties'] as Rec)['arvados_crunch_call_id'] === 'string')
    assert.is(crs.length, n + 1)
    // when each request became Final (the double's clock, ms)
    const finalAt = new Map(crs.map((cr) => [cr['uuid'] as string, Date.parse(`${(cr['modified_at'] as string).slice(0, 23)}Z`)]))
    for (const cr of crs) assert.is(cr['state'], 'Final')
    const polls = double.requests.flatMap((q) => {
      const uuids = polled(q)
      return uuids === undefined ? [] : [{ at: q.at, uuids }]
    })
    assert.ok(polls.length > 0, 'the runner polled')
    for (const [uuid, at] of finalAt) {
      // polls that reached the double surely after the request was Final (1 ms of clock rounding)
      const after = polls.filter((p) => p.at > at + 1 && p.uuids.includes(uuid))
      assert.ok(after.length <= 1, `request ${uuid} was Final at ${at} but ${after.length} later polls asked about it (at ${after.map((p) => p.at).join(', ')})`)
    }
  } finally {
    await double.stop()
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

trickle.run()
