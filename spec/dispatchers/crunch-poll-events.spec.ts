/**
 * The crunch runner and the websocket event bus, on the Arvados double (real containers):
 * a finished call is read as soon as the bus says its request is Final, without a poll; when
 * the bus drops (and refuses to come back) the runner finishes by polling; the requests spent
 * watching a fan-out are fewer than its calls (counts only). Also the pure parts: the bus's messages and the
 * watcher's next step.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Crunch from '../../lib/dispatchers/crunch/index.js'
import * as Events from '../../lib/dispatchers/crunch/events.js'
import * as Poll from '../../lib/dispatchers/crunch/poll.js'
import { Chatty } from '../fixtures/crunch/chatty.js'
import { Fanout } from '../fixtures/crunch/fanout.js'
import { root } from '../support/cli.js'
import { startDouble, type Double, type RecordedRequest } from '../support/double/index.js'

type Rec = Record<string, unknown>

// ------------------------------------------------------------------------------ pure parts

const pure = suite('crunch events: messages and the watcher’s step')

pure('a message is a subscription status, a change with the new state, the idle {} or unknown', () => {
  assert.equal(Events.parseMessage('{"status":200}'), { _tag: 'Status', status: 200 })
  assert.equal(Events.parseMessage('{}'), { _tag: 'Idle' })
  assert.equal(Events.parseMessage('not json'), { _tag: 'Unknown' })
  const m = Events.parseMessage(
    JSON.stringify({ msgID: 3, id: 41, uuid: 'zzzzz-57u5n-000000000000041', object_uuid: 'zzzzz-xvhdp-0123456789abcde', object_kind: 'arvados#containerRequest', event_type: 'update', properties: { old_attributes: { state: 'Committed' }, new_attributes: { state: 'Final', name: 'x' } } }),
  )
  assert.equal(m, { _tag: 'Change', change: { id: 41, objectUuid: 'zzzzz-xvhdp-0123456789abcde', objectKind: 'arvados#containerRequest', eventType: 'update', state: 'Final' } })
  assert.equal(JSON.parse(Events.subscribeMessage(41)), { method: 'subscribe', filters: [['event_type', 'in', ['update']]], last_log_id: 41 })
  assert.is(new URL(Events.address('wss://ws.example/websocket', 'v2/a/b')).searchParams.get('api_token'), 'v2/a/b')
})

const base = { now: 10_000, live: true, fullPollDue: false, pending: 100, finished: 0, firstFinishedAt: undefined, lastReadAt: 9_000, lastPollAt: 9_000, intervalMs: 4_000, minMs: 250, maxMs: 5_000 }

pure('without the bus the watcher polls every interval', () => {
  assert.equal(Poll.decide({ ...base, live: false }), { _tag: 'Wait', ms: 3_000 })
  assert.equal(Poll.decide({ ...base, live: false, now: 13_000 }), { _tag: 'Read', what: 'all' })
})

pure('with the bus live it reads finished requests once enough are, or their interval passed; a full poll only after going live and as a safety net', () => {
  assert.equal(Poll.decide({ ...base, fullPollDue: true }), { _tag: 'Read', what: 'all' })
  assert.equal(Poll.decide(base), { _tag: 'Wait', ms: Poll.SAFETY_MS - 1_000 })
  // a few of many pending: wait for more, at most the longest interval from the first
  assert.equal(Poll.decide({ ...base, finished: 3, firstFinishedAt: 9_500 }), { _tag: 'Wait', ms: 4_500 })
  assert.equal(Poll.decide({ ...base, finished: 3, firstFinishedAt: 9_500, now: 14_500 }), { _tag: 'Read', what: 'finished' })
  // a quarter of the pending ones (and at least GATHER_MIN), or all of them (the end of a chain or a fan-out): at once
  assert.equal(Poll.decide({ ...base, finished: 25, firstFinishedAt: 9_500 }), { _tag: 'Read', what: 'finished' })
  assert.equal(Poll.decide({ ...base, pending: 20, finished: 5, firstFinishedAt: 9_500 }), { _tag: 'Wait', ms: 4_500 })
  assert.equal(Poll.decide({ ...base, pending: 20, finished: Poll.GATHER_MIN, firstFinishedAt: 9_500 }), { _tag: 'Read', what: 'finished' })
  assert.equal(Poll.decide({ ...base, pending: 3, finished: 3, firstFinishedAt: 10_000 }), { _tag: 'Read', what: 'finished' })
  // never sooner than the shortest interval after the last read
  assert.equal(Poll.decide({ ...base, pending: 1, finished: 1, firstFinishedAt: 10_000, lastReadAt: 9_900 }), { _tag: 'Wait', ms: 150 })
})

pure.run()

// ------------------------------------------------------------------------------ on the double

/** what the runner asked the API while watching */
const filtersOf = (r: RecordedRequest): ReadonlyArray<[string, string, unknown]> => {
  const f = r.query['filters'] ?? (r.body as Rec | undefined)?.['filters']
  return typeof f === 'string' ? (JSON.parse(f) as Array<[string, string, unknown]>) : []
}
/** a read: GET, or POST standing for GET (long queries) */
const asGet = (r: RecordedRequest): boolean => r.method === 'GET' || (r.method === 'POST' && ((r.body as Rec | undefined)?.['_method'] === 'GET' || r.headers['x-http-method-override']?.toUpperCase() === 'GET'))
const isList = (r: RecordedRequest, resource: string): boolean => r.path === `/arvados/v1/${resource}` && asGet(r)
/** a poll: container requests listed by uuid */
const polledUuids = (r: RecordedRequest): ReadonlyArray<string> => {
  if (!isList(r, 'container_requests')) return []
  const f = filtersOf(r)[0]
  return f !== undefined && f[0] === 'uuid' && f[1] === 'in' ? (f[2] as Array<string>) : []
}
/** a read by event: output and log collections listed by their request */
const byEventUuids = (r: RecordedRequest): ReadonlyArray<string> => {
  if (!isList(r, 'collections')) return []
  const f = filtersOf(r).find((x) => x[0] === 'properties.container_request')
  return f === undefined ? [] : (f[2] as Array<string>)
}
const kindOf = (r: RecordedRequest): string => {
  if (polledUuids(r).length > 0) return 'poll'
  if (byEventUuids(r).length > 0) return 'collections by request'
  if (isList(r, 'containers')) return 'containers'
  if (isList(r, 'collections') && filtersOf(r)[0]?.[0] === 'uuid') return 'collections by uuid'
  if (r.path.includes('/log/')) return 'live log'
  if (r.path === '/arvados/v1/container_requests' && !asGet(r)) return 'create'
  return 'other'
}
const countKinds = (rs: ReadonlyArray<RecordedRequest>): Readonly<Record<string, number>> => {
  const out: Record<string, number> = {}
  for (const r of rs) out[kindOf(r)] = (out[kindOf(r)] ?? 0) + 1
  return out
}

const dispatcherOf = (d: Double, dir: string, script: string, pollMs: string) =>
  Crunch.make({
    script: Path.join(root, 'spec', 'fixtures', 'crunch', script),
    env: { ARVADOS_API_HOST: d.apiHost, ARVADOS_API_TOKEN: d.token, SSL_CERT_FILE: Path.join(dir, 'ca.pem'), CRUNCH_POLL_MS: pollMs, CRUNCH_KEEP_REPLICAS: '1' },
    home: dir,
  })

/** a directory for the chatty fixture's gate that its container sees (not under /tmp, the container's own) */
const gateDir = (): string => Fs.mkdtempSync(Path.join(root.startsWith(Os.tmpdir() + Path.sep) ? '/var/tmp' : Path.join(root, 'spec', 'fixtures', 'crunch'), '.tmp-events-'))

const until = async (what: string, ok: () => boolean, limit = 6000): Promise<void> => {
  for (let i = 0; i < limit && !ok(); i++) await new Promise((r) => setTimeout(r, 50))
  assert.ok(ok(), `gave up waiting: ${what}`)
}

const talkRequest = (d: Double): Rec | undefined => [...d.cluster.crs.values()].find((cr) => (cr['properties'] as Rec)['arvados_crunch_module'] === 'chatty' && cr['state'] === 'Committed') as Rec | undefined

const bus = suite<{ dir: string }>('crunch events on the double', { dir: '' })
bus.before((ctx) => {
  ctx.dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-events-'))
})
bus.after((ctx) => {
  Fs.rmSync(ctx.dir, { recursive: true, force: true })
})

bus('a call the bus says is finished is read at once, without a poll', async ({ dir }) => {
  const d = await startDouble({})
  const gates = gateDir()
  try {
    Fs.writeFileSync(Path.join(dir, 'ca.pem'), d.ca)
    const gate = Path.join(gates, 'open')
    // a long longest interval: a poll after the call ended would come late
    const running = dispatcherOf(d, dir, 'chatty.ts', '600000').run(Chatty, { gate }, { onEvent: () => undefined })()
    await until('the call’s request is committed and the runner subscribed', () => talkRequest(d) !== undefined && d.websocket.stats().subscribes > 0)
    const cr = talkRequest(d)!
    const uuid = cr['uuid'] as string
    // the full poll that follows going live (what finished before it) must be over, or a call
    // that ends at once is found by it rather than by its event (on a quiet machine it was)
    const subscribedAt = d.websocket.stats().lastSubscribeAt ?? 0
    await until('the runner polled once since the bus became live', () => d.requests.some((q) => q.at >= subscribedAt && polledUuids(q).includes(uuid)))
    Fs.writeFileSync(gate, '')
    const r = await running
    assert.is(r._tag, 'Right', r._tag === 'Left' ? r.left.message : '')
    if (r._tag === 'Right') assert.is(r.right.value, true)
    const finalAt = Date.parse(`${(d.cluster.crs.get(uuid)!['modified_at'] as string).slice(0, 23)}Z`)
    const after = d.requests.filter((q) => q.at > finalAt + 1)
    assert.ok(after.some((q) => byEventUuids(q).includes(uuid)), 'its output was read by its request, as the event path does')
    assert.equal(after.filter((q) => polledUuids(q).includes(uuid)).map((q) => q.at), [], 'no poll asked about it after it was Final')
  } finally {
    await d.stop()
    Fs.rmSync(gates, { recursive: true, force: true })
  }
})

bus('when the bus drops and does not come back, polls notice the finished call', async ({ dir }) => {
  const d = await startDouble({})
  const gates = gateDir()
  try {
    Fs.writeFileSync(Path.join(dir, 'ca.pem'), d.ca)
    const gate = Path.join(gates, 'open')
    const running = dispatcherOf(d, dir, 'chatty.ts', '1000').run(Chatty, { gate }, { onEvent: () => undefined })()
    await until('the call’s request is committed and the runner subscribed', () => talkRequest(d) !== undefined && d.websocket.stats().subscribes > 0)
    const uuid = talkRequest(d)!['uuid'] as string
    d.websocket.refuse(true)
    d.websocket.dropAll()
    const dropped = d.requests.length
    Fs.writeFileSync(gate, '')
    const r = await running
    assert.is(r._tag, 'Right', r._tag === 'Left' ? r.left.message : '')
    if (r._tag === 'Right') assert.is(r.right.value, true)
    const after = d.requests.slice(dropped)
    assert.ok(after.some((q) => polledUuids(q).includes(uuid)), 'a poll asked about the call after the drop')
    assert.not.ok(after.some((q) => byEventUuids(q).includes(uuid)), 'no event told of it')
    assert.is(d.websocket.stats().open, 0)
  } finally {
    await d.stop()
    Fs.rmSync(gates, { recursive: true, force: true })
  }
})

bus('watching a fan-out of 24 calls with the bus costs less than a request per call', async ({ dir }) => {
  const d = await startDouble({})
  try {
    Fs.writeFileSync(Path.join(dir, 'ca.pem'), d.ca)
    const n = 24
    const r = await dispatcherOf(d, dir, 'fanout.ts', '5000').run(Fanout, { n }, { onEvent: () => undefined })()
    assert.is(r._tag, 'Right', r._tag === 'Left' ? r.left.message : '')
    if (r._tag === 'Right') assert.is(r.right.value, (n * (n + 1)) / 2)
    const k = countKinds(d.requests)
    const calls = n + 1
    assert.is(k['create'], calls, JSON.stringify(k))
    // every call's outcome in a few batched reads: polls (full ones when the bus went live, and any
    // request the event path was unsure of), containers and collections lists, no per-call reads
    const watching = (k['poll'] ?? 0) + (k['containers'] ?? 0) + (k['collections by request'] ?? 0) + (k['collections by uuid'] ?? 0) + (k['live log'] ?? 0)
    // (before the bus: a poll finding requests cost three, each call's usage one more, and live logs read queued containers)
    assert.ok(watching < calls, `watching cost ${watching} requests for ${calls} calls: ${JSON.stringify(k)}`)
    assert.ok((k['collections by request'] ?? 0) > 0, `the event path was used: ${JSON.stringify(k)}`)
    // the rest does not grow with the calls: discovery, Keep services, the bundle, look-ups, the final output
    assert.ok((k['other'] ?? 0) <= 12, `${d.requests.length} API requests for ${calls} calls: ${JSON.stringify(k)}`)
  } finally {
    await d.stop()
  }
})

bus.run()
