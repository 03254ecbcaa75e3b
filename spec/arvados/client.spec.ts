/**
 * Specs for lib/arvados/client.ts against the Arvados double (spec/support/double): every
 * resource call, paging past one page, the long-GET form, each retried status, the
 * no-duplicate create after a reset, TLS on/off, request ids, and token redaction in every
 * error path (HTTP, network, TLS, decode).
 */
import * as Fs from 'node:fs'
import * as Http from 'node:http'
import * as Https from 'node:https'
import * as Os from 'node:os'
import * as Path from 'node:path'
import type * as Net from 'node:net'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type * as ApiError from '../../lib/arvados/api-error.js'
import * as Client from '../../lib/arvados/client.js'
import * as Config from '../../lib/arvados/config.js'
import * as Errors from '../../lib/errors.js'
import { startDouble, type Double, type RecordedRequest } from '../support/double/index.js'
import * as Tls from '../support/double/tls.js'

const fast = { attempts: 4, baseMs: 2, maxMs: 10 }
const secretOf = (token: string): string => token.split('/')[2] ?? token

const right = <A>(r: E.Either<Errors.SdkError, A>): A => {
  if (E.isLeft(r)) throw new Error(Errors.format(r.left))
  return r.right
}
const leftOf = <A>(r: E.Either<ApiError.ApiError, A>): ApiError.ApiError => {
  if (E.isRight(r)) throw new Error('expected an ApiError')
  return r.left
}
/** Asserts the token (whole or its secret part) appears nowhere in the error record or its rendering. */
const noToken = (e: Errors.SdkError, token: string): void => {
  const text = `${Errors.format(e, { stack: true })}\n${JSON.stringify(e)}\n${String(e.cause ?? '')}`
  assert.not.ok(text.includes(secretOf(token)), `token leaked: ${text}`)
}

/** A `match` for faults: true for the first `n` requests that satisfy `pred`. */
const firstN = (n: number, pred: (r: { method: string; path: string }) => boolean) => {
  let left = n
  return (r: { readonly method: string; readonly path: string }): boolean => {
    if (!pred(r) || left <= 0) return false
    left--
    return true
  }
}

const crAttrs = (name: string, state: 'Uncommitted' | 'Committed' = 'Uncommitted'): Client.ContainerRequestAttributes => ({
  name,
  state,
  command: ['echo', 'hello'],
  container_image: 'arvados/jobs:latest',
  output_path: '/out',
  cwd: '/out',
  mounts: { '/out': { kind: 'tmp', capacity: 1 << 20 } },
  runtime_constraints: { vcpus: 1, ram: 256 << 20 },
  priority: 1,
})

let double: Double
let api: Client.ArvadosClient
const since = (n: number): ReadonlyArray<RecordedRequest> => double.requests.slice(n)
const setup = async (): Promise<void> => {
  double = await startDouble({ runContainers: false, maxPageLimit: 5 })
  api = Client.make(Config.make({ apiHost: double.apiHost, apiToken: double.token, ca: double.ca }), { retry: fast })
}
const teardown = async (): Promise<void> => {
  await api.close()
  await double.stop()
}

// ---
const identity = suite('users / tokens / keep services')
identity.before(setup)
identity.after(teardown)
identity('should read users/current', async () => {
  const u = right(await api.users.current()())
  assert.is(u.uuid, double.userUuid)
})
identity('should read api_client_authorizations/current without keeping the secret', async () => {
  const a = right(await api.apiClientAuthorizations.current()())
  assert.is(a.uuid, double.token.split('/')[1])
  assert.not.ok(JSON.stringify(a).includes(secretOf(double.token)))
})
identity('should list keep_services/accessible, and list/get keep services', async () => {
  const acc = right(await api.keepServices.accessible()())
  assert.is(acc.items.length, 1)
  const svc = acc.items[0]
  assert.is(`${svc?.service_ssl_flag === true ? 'https' : 'http'}://${svc?.service_host}:${svc?.service_port}/`, double.keepUrl)
  const all = right(await api.keepServices.list()())
  assert.is(all.items[0]?.uuid, svc?.uuid)
  assert.is(right(await api.keepServices.get(svc?.uuid ?? '')()).service_port, svc?.service_port)
})
identity('should answer containers/current with ARV_HTTP_404 for a user token', async () => {
  const e = leftOf(await api.containers.current()())
  assert.is(e.code, 'ARV_HTTP_404')
  assert.is(e.status, 404)
  assert.is(e.method, 'GET')
  assert.is(e.path, '/arvados/v1/containers/current')
  assert.ok(e.serverErrors.some((s) => s.includes('Token is not associated with a container')), e.serverErrors.join('|'))
  assert.is(e.attempts, 1)
  noToken(e, double.token)
})

// ---
const collections = suite('collections')
collections.before(setup)
collections.after(teardown)
collections('should create (wrapped, with the create id property), get by uuid and by PDH, update and trash', async () => {
  const n = double.requests.length
  const c = right(await api.collections.create({ name: 'empty', manifest_text: '' })())
  assert.match(c.uuid, /^zzzzz-4zz18-[a-z0-9]{15}$/)
  assert.is(c.portable_data_hash, 'd41d8cd98f00b204e9800998ecf8427e+0')
  assert.is(typeof c.properties?.[Client.CREATE_ID_PROPERTY], 'string')
  const post = since(n)[0]
  assert.is(post?.method, 'POST')
  assert.equal(Object.keys(post?.body as object), ['collection'])
  assert.is(right(await api.collections.get(c.uuid)()).name, 'empty')
  assert.is(right(await api.collections.get(c.portable_data_hash)()).portable_data_hash, c.portable_data_hash)
  const u = right(await api.collections.update(c.uuid, { name: 'renamed', properties: { a: 'b' } })())
  assert.is(u.name, 'renamed')
  assert.equal(u.properties, { a: 'b' })
  const put = double.requests[double.requests.length - 1]
  assert.is(put?.method, 'PUT')
  assert.equal(put?.body, { collection: { name: 'renamed', properties: { a: 'b' } } })
  const d = right(await api.collections.delete(c.uuid)())
  assert.is(d.is_trashed, true)
  const after = right(await api.collections.list({ filters: [['uuid', '=', c.uuid]] })())
  assert.is(after.items.length, 0)
})
collections('should honour ensure_unique_name', async () => {
  right(await api.collections.create({ name: 'same' })())
  const n = double.requests.length
  const second = right(await api.collections.create({ name: 'same' }, { ensure_unique_name: true })())
  assert.ok((second.name ?? '').startsWith('same ('), second.name ?? '')
  assert.is(since(n)[0]?.query['ensure_unique_name'], 'true')
})
collections('should list one page with filters, order, select, limit and offset', async () => {
  for (let i = 0; i < 7; i++) right(await api.collections.create({ name: `page-${i}`, properties: { batch: 'p' } })())
  const page = right(
    await api.collections.list({ filters: [['properties.batch', '=', 'p']], order: ['name asc'], select: ['uuid', 'name'], limit: 3, offset: 2 })(),
  )
  assert.equal(
    page.items.map((c) => c.name),
    ['page-2', 'page-3', 'page-4'],
  )
  assert.is(page.items_available, 7)
  assert.is((page.items[0] as Record<string, unknown>)['manifest_text'], undefined)
})
collections('should page past the server cap by key (no order) and by offset (with order)', async () => {
  const n = double.requests.length
  const byKey = right(await api.collections.listAll({ filters: [['properties.batch', '=', 'p']], select: ['name'] })())
  assert.is(byKey.length, 7)
  assert.equal(byKey.map((c) => c.name).sort(), ['page-0', 'page-1', 'page-2', 'page-3', 'page-4', 'page-5', 'page-6'])
  assert.ok(since(n).length >= 3, `paged in ${since(n).length} requests`)
  const m = double.requests.length
  const byOffset = right(await api.collections.listAll({ filters: [['properties.batch', '=', 'p']], order: ['name desc'] })())
  assert.equal(
    byOffset.map((c) => c.name),
    ['page-6', 'page-5', 'page-4', 'page-3', 'page-2', 'page-1', 'page-0'],
  )
  assert.is(since(m).length, 2)
})
collections('should send a long list query as POST with X-Http-Method-Override: GET', async () => {
  const all = right(await api.collections.listAll({ filters: [['properties.batch', '=', 'p']], select: ['uuid'] })())
  const uuids = [...all.map((c) => c.uuid), ...Array.from({ length: 40 }, (_, i) => `zzzzz-4zz18-${String(i).padStart(15, 'x')}`)]
  const n = double.requests.length
  const found = right(await api.collections.listAll({ filters: [['uuid', 'in', uuids]] })())
  assert.is(found.length, 7)
  const r = since(n)[0]
  assert.is(r?.method, 'POST')
  assert.is(r?.headers['x-http-method-override'], 'GET')
})

// ---
const requests = suite('container requests and containers')
requests.before(setup)
requests.after(teardown)
requests('should create, get, update, list and delete a container request', async () => {
  const cr = right(await api.containerRequests.create(crAttrs('one'))())
  assert.match(cr.uuid, /^zzzzz-xvhdp-/)
  assert.is(cr.state, 'Uncommitted')
  assert.is(right(await api.containerRequests.get(cr.uuid)()).name, 'one')
  const committed = right(await api.containerRequests.update(cr.uuid, { state: 'Committed' })())
  assert.is(committed.state, 'Committed')
  assert.match(committed.container_uuid ?? '', /^zzzzz-dz642-/)
  const listed = right(await api.containerRequests.list({ filters: [['uuid', '=', cr.uuid]], select: ['uuid', 'state', 'container_uuid'] })())
  assert.is(listed.items[0]?.state, 'Committed')
  const container = right(await api.containers.get(committed.container_uuid ?? '')())
  assert.ok(container.state === 'Queued' || container.state === 'Locked', container.state)
  const containers = right(await api.containers.listAll({ filters: [['uuid', '=', container.uuid]] })())
  assert.is(containers.length, 1)
  const byList = right(await api.containers.list({ filters: [['state', 'in', ['Queued', 'Locked']]] })())
  assert.ok(byList.items.some((c) => c.uuid === container.uuid))
  const cancelled = right(await api.containerRequests.update(cr.uuid, { priority: 0 })())
  assert.is(cancelled.priority, 0)
  const deleted = right(await api.containerRequests.delete(cr.uuid)())
  assert.is(deleted.uuid, cr.uuid)
})
requests('should report a refused update as ARV_HTTP_422 with the server text, not retried', async () => {
  const cr = right(await api.containerRequests.create(crAttrs('two', 'Committed'))())
  const n = double.requests.length
  const e = leftOf(await api.containerRequests.update(cr.uuid, { command: ['changed'] })())
  assert.is(e._tag, 'ApiError')
  assert.is(e.code, 'ARV_HTTP_422')
  assert.is(e.method, 'PUT')
  assert.is(e.path, `/arvados/v1/container_requests/${cr.uuid}`)
  assert.ok(e.message.includes('422'), e.message)
  assert.ok(e.serverErrors.length > 0)
  assert.is(since(n).length, 1)
  assert.is(e.requestId, since(n)[0]?.headers['x-request-id'])
  noToken(e, double.token)
})
requests('should refuse a user token updating a container, without leaking the token', async () => {
  const cr = right(await api.containerRequests.create(crAttrs('three', 'Committed'))())
  const e = leftOf(await api.containers.update(cr.container_uuid ?? '', { progress: 0.5 })())
  assert.ok(e.status === 403 || e.status === 422 || e.status === 404, `status ${e.status}`)
  noToken(e, double.token)
})

// ---
const retries = suite('retries')
retries.before(setup)
retries.after(teardown)
for (const status of [408, 409, 423, 429, 500, 502, 503, 504]) {
  retries(`should retry ${status} with the same request id and then succeed`, async () => {
    double.setFaults({ errorRate: 1, errorStatuses: [status], match: firstN(2, (r) => r.path === '/arvados/v1/users/current') })
    const n = double.requests.length
    right(await api.users.current()())
    const seen = since(n)
    assert.equal(
      seen.map((r) => r.outcome),
      [status, status, 200],
    )
    assert.is(new Set(seen.map((r) => r.headers['x-request-id'])).size, 1)
  })
}
retries('should give up after the configured attempts with the last status and attempt count', async () => {
  double.setFaults({ errorRate: 1, errorStatuses: [503], match: (r) => r.path === '/arvados/v1/users/current' })
  const n = double.requests.length
  const e = leftOf(await api.users.current()())
  double.setFaults({ errorRate: 0, match: undefined })
  assert.is(e.code, 'ARV_HTTP_503')
  assert.is(e.attempts, 4)
  assert.is(since(n).length, 4)
  assert.ok(e.message.includes('4 attempts'), e.message)
  noToken(e, double.token)
})
retries('should not retry a permanent status (404)', async () => {
  const n = double.requests.length
  const e = leftOf(await api.collections.get('zzzzz-4zz18-000000000000404')())
  assert.is(e.code, 'ARV_HTTP_404')
  assert.is(since(n).length, 1)
})
retries('should retry a connection reset before any answer', async () => {
  double.setFaults({ resetRate: 1, errorRate: 0, match: firstN(2, (r) => r.path === '/arvados/v1/users/current') })
  const n = double.requests.length
  right(await api.users.current()())
  assert.equal(
    since(n).map((r) => r.outcome),
    ['reset', 'reset', 200],
  )
  double.setFaults({ resetRate: 0, match: undefined })
})
retries('should never duplicate a create whose answer was lost after the server applied it', async () => {
  double.setFaults({ resetAfterCommitRate: 1, match: firstN(1, (r) => r.method === 'POST' && r.path === '/arvados/v1/container_requests') })
  const before = double.counters.containerRequestsCreated
  const n = double.requests.length
  const cr = right(await api.containerRequests.create(crAttrs('lost-answer'))())
  double.setFaults({ resetAfterCommitRate: 0, match: undefined })
  assert.is(double.counters.containerRequestsCreated - before, 1)
  const seen = since(n)
  assert.equal(
    seen.map((r) => `${r.method} ${r.outcome}`),
    ['POST applied-then-reset', 'GET 200', `GET 200`],
  )
  assert.is(seen[1]?.query['filters'], JSON.stringify([[`properties.${Client.CREATE_ID_PROPERTY}`, '=', cr.properties[Client.CREATE_ID_PROPERTY]]]))
  const same = right(await api.containerRequests.list({ filters: [['name', '=', 'lost-answer']] })())
  assert.is(same.items.length, 1)
  assert.is(same.items[0]?.uuid, cr.uuid)
})
retries('should create again when the lost create was never applied, still exactly once', async () => {
  double.setFaults({ resetRate: 1, match: firstN(1, (r) => r.method === 'POST' && r.path === '/arvados/v1/collections') })
  const before = double.counters.collectionsCreated
  const n = double.requests.length
  const c = right(await api.collections.create({ name: 'reset-before' }, { createId: 'fixed-create-id-1' })())
  double.setFaults({ resetRate: 0, match: undefined })
  assert.is(double.counters.collectionsCreated - before, 1)
  assert.equal(
    since(n).map((r) => `${r.method} ${r.outcome}`),
    ['POST reset', 'GET 200', 'POST 200'],
  )
  assert.is(c.properties?.[Client.CREATE_ID_PROPERTY], 'fixed-create-id-1')
})
retries('should survive a storm of random faults on creates without any duplicate', async () => {
  double.setFaults({ errorRate: 0.2, errorStatuses: [500, 503], resetRate: 0.15, resetAfterCommitRate: 0.3, match: undefined })
  const c = Client.make(Config.make({ apiHost: double.apiHost, apiToken: double.token, ca: double.ca }), { retry: { attempts: 12, baseMs: 1, maxMs: 5 }, concurrency: 4 })
  const made = await Promise.all(Array.from({ length: 20 }, (_, i) => c.collections.create({ name: `storm-${i}`, properties: { storm: true } })()))
  double.setFaults({ errorRate: 0, resetRate: 0, resetAfterCommitRate: 0 })
  const uuids = made.map((r) => right(r).uuid)
  const listed = right(await c.collections.listAll({ filters: [['properties.storm', '=', true]], select: ['uuid', 'name'] })())
  await c.close()
  assert.is(listed.length, 20, `expected 20 collections, found ${listed.length}`)
  assert.equal([...uuids].sort(), listed.map((x) => x.uuid).sort())
  assert.ok(double.requests.some((r) => r.outcome === 'applied-then-reset'), 'the storm hit at least one create after commit')
})

// ---
const ids = suite('request ids')
ids.before(setup)
ids.after(teardown)
ids('should send X-Request-Id on every request, with a custom prefix when asked', async () => {
  const c = Client.make(Config.make({ apiHost: double.apiHost, apiToken: double.token, ca: double.ca }), { requestIdPrefix: 'crunch-' })
  const n = double.requests.length
  right(await c.users.current()())
  right(await c.collections.list()())
  await c.close()
  for (const r of since(n)) assert.match(r.headers['x-request-id'] ?? '', /^crunch-[0-9a-z]{20}$/)
  assert.ok(double.requests.every((r) => /^(req|crunch)-[0-9a-z]{20}/.test(r.headers['x-request-id'] ?? '')), 'every request carried an id')
})

// ---
const tls = suite('TLS')
tls.before(setup)
tls.after(teardown)
tls('should verify the certificate by default and fail with ARV_TLS, not retried', async () => {
  const c = Client.make(Config.make({ apiHost: double.apiHost, apiToken: double.token }), { retry: fast })
  const n = double.requests.length
  const e = leftOf(await c.users.current()())
  await c.close()
  assert.is(e.code, 'ARV_TLS')
  assert.is(e.status, 0)
  assert.is(e.attempts, 1)
  assert.ok((e.hint ?? '').includes('ARVADOS_API_HOST_INSECURE'))
  assert.is(since(n).length, 0)
  noToken(e, double.token)
})
tls('should trust the CA given in the config', async () => {
  right(await api.users.current()())
})
tls('should skip verification when ARVADOS_API_HOST_INSECURE says so', async () => {
  const cfg = right(Config.resolve({ env: { ARVADOS_API_HOST: double.apiHost, ARVADOS_API_TOKEN: double.token, ARVADOS_API_HOST_INSECURE: '1' } }))
  const c = Client.make(cfg)
  right(await c.users.current()())
  await c.close()
})

// ---
const redaction = suite('token redaction')
redaction.before(setup)
redaction.after(teardown)
redaction('should not print a rejected token (401)', async () => {
  const bad = 'v2/zzzzz-gj3su-0000000000000zz/unknownsecretunknownsecretunknownsecret'
  const c = Client.make(Config.make({ apiHost: double.apiHost, apiToken: bad, ca: double.ca }), { retry: fast })
  const e = leftOf(await c.collections.list()())
  await c.close()
  assert.is(e.code, 'ARV_HTTP_401')
  assert.ok((e.hint ?? '').includes('ARVADOS_API_TOKEN'))
  noToken(e, bad)
})
redaction('should not print the token on a network failure (connection refused)', async () => {
  const server = Http.createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as Net.AddressInfo).port
  await new Promise<void>((r) => server.close(() => r()))
  const c = Client.make(Config.make({ apiHost: `127.0.0.1:${port}`, apiToken: double.token }), { retry: { attempts: 2, baseMs: 1, maxMs: 2 } })
  const e = leftOf(await c.users.current()())
  await c.close()
  assert.is(e.code, 'ARV_NETWORK')
  assert.is(e.attempts, 2)
  assert.ok(e.message.includes('ECONNREFUSED'), e.message)
  noToken(e, double.token)
})
redaction('should remove a token the server echoes in its error text, and in a bad response body', async () => {
  // A hostile or buggy server: echoes the Authorization header in its errors, or answers junk.
  let mode: 'echo' | 'junk' = 'echo'
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-echo-'))
  const pair = Tls.makeSelfSigned(dir)
  const server = Https.createServer({ key: pair.key, cert: pair.cert }, (req, res) => {
    const auth = req.headers.authorization ?? ''
    if (mode === 'echo') res.writeHead(422, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [`bad auth ${auth}`, `token=${auth.slice(7)}`] }))
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ uuid: 42, echoed: auth }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as Net.AddressInfo).port
  const c = Client.make(Config.make({ apiHost: `127.0.0.1:${port}`, apiToken: double.token, ca: pair.cert }), { retry: fast })
  const e1 = leftOf(await c.users.current()())
  assert.is(e1.code, 'ARV_HTTP_422')
  assert.is(e1.serverErrors.length, 2)
  assert.ok(e1.serverErrors[0]?.includes('[REDACTED]'), e1.serverErrors[0])
  noToken(e1, double.token)
  mode = 'junk'
  const e2 = leftOf(await c.users.current()())
  assert.is(e2.code, 'ARV_DECODE')
  assert.ok((e2.details ?? []).some((d) => d.startsWith('uuid: expected string')), (e2.details ?? []).join('|'))
  noToken(e2, double.token)
  await c.close()
  await new Promise<void>((r) => server.close(() => r()))
  Fs.rmSync(dir, { recursive: true, force: true })
})

identity.run()
collections.run()
requests.run()
retries.run()
ids.run()
tls.run()
redaction.run()
