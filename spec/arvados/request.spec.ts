/**
 * Specs for lib/arvados/request.ts: parameter encoding, body wrapping, the long-GET switch,
 * retry classification (statuses and network codes), backoff with jitter, request ids and
 * error body parsing.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Request from '../../lib/arvados/request.js'

// ---
const prepare = suite('prepare')
prepare('should JSON-encode structured parameters in the query of a GET', () => {
  const p = Request.prepare({ method: 'GET', path: 'container_requests', params: { filters: [['state', '=', 'Final']], limit: 10, select: undefined, include_trash: true } })
  assert.is(p.method, 'GET')
  assert.is(p.path, '/arvados/v1/container_requests')
  const q = new URLSearchParams(p.query)
  assert.is(q.get('filters'), '[["state","=","Final"]]')
  assert.is(q.get('limit'), '10')
  assert.is(q.get('include_trash'), 'true')
  assert.not.ok(q.has('select'))
  assert.is(p.body, undefined)
})
prepare('should wrap create and update bodies under the resource key', () => {
  const p = Request.prepare({ method: 'POST', path: 'collections', params: { ensure_unique_name: true }, wrapper: 'collection', body: { name: 'x', manifest_text: '' } })
  assert.equal(JSON.parse(p.body ?? ''), { collection: { name: 'x', manifest_text: '' } })
  assert.is(p.headers['content-type'], 'application/json')
  assert.is(new URLSearchParams(p.query).get('ensure_unique_name'), 'true')
})
prepare('should send a long GET as POST with X-Http-Method-Override and a form body', () => {
  const uuids = Array.from({ length: 60 }, (_, i) => `zzzzz-xvhdp-${String(i).padStart(15, '0')}`)
  const p = Request.prepare({ method: 'GET', path: 'container_requests', params: { filters: [['uuid', 'in', uuids]] } })
  assert.is(p.method, 'POST')
  assert.is(p.headers['x-http-method-override'], 'GET')
  assert.is(p.headers['content-type'], 'application/x-www-form-urlencoded')
  assert.is(p.query, '')
  assert.equal(JSON.parse(new URLSearchParams(p.body ?? '').get('filters') ?? ''), [['uuid', 'in', uuids]])
})
prepare('should keep a short GET a GET', () => {
  assert.is(Request.prepare({ method: 'GET', path: 'x', params: { filters: [['uuid', 'in', ['a']]] } }).method, 'GET')
})
prepare('should percent-encode a portable data hash path segment', () => {
  assert.is(Request.segment('d41d8cd98f00b204e9800998ecf8427e+0'), 'd41d8cd98f00b204e9800998ecf8427e%2B0')
})

// ---
const retry = suite('retry classification')
retry('should retry the statuses the official SDKs retry', () => {
  for (const s of [408, 409, 423, 429, 500, 502, 503, 504, 599]) assert.ok(Request.isRetryableStatus(s), String(s))
})
retry('should not retry other statuses (incl. 501 and permanent 4xx)', () => {
  for (const s of [200, 400, 401, 403, 404, 405, 413, 422, 501]) assert.not.ok(Request.isRetryableStatus(s), String(s))
})
retry('should retry resets, refusals and timeouts but never certificate failures', () => {
  for (const c of ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']) assert.ok(Request.isRetryableNetworkCode(c), c)
  for (const c of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED']) {
    assert.ok(Request.isTlsCode(c), c)
    assert.not.ok(Request.isRetryableNetworkCode(c), c)
  }
  assert.not.ok(Request.isRetryableNetworkCode(undefined))
})

// ---
const backoff = suite('backoff')
const policy: Request.RetryPolicy = { attempts: 10, baseMs: 100, maxMs: 5000 }
backoff('should grow exponentially with jitter between base and base * 2^(n-1)', () => {
  assert.is(Request.backoff(policy, 1, 0.99), 100)
  assert.is(Request.backoff(policy, 3, 0), 100)
  assert.is(Request.backoff(policy, 3, 0.5), 100 + 0.5 * 300)
  assert.ok(Request.backoff(policy, 4, 0.999) < 800 && Request.backoff(policy, 4, 0.999) > 790)
})
backoff('should be capped at maxMs', () => {
  assert.is(Request.backoff(policy, 20, 0.9), 5000)
})
backoff('should follow a Retry-After in seconds, capped', () => {
  assert.is(Request.backoff(policy, 1, 0.5, 2), 2000)
  assert.is(Request.backoff(policy, 1, 0.5, 60), 5000)
  assert.is(Request.parseRetryAfter(' 3 '), 3)
  assert.is(Request.parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT'), undefined)
})

// ---
const ids = suite('requestId')
ids('should be the prefix and 20 base-36 characters', () => {
  const id = Request.requestId(new Uint8Array(20).map((_, i) => i * 13), 'req-')
  assert.match(id, /^req-[0-9a-z]{20}$/)
  assert.match(Request.requestId(new Uint8Array(20), 'crunch-'), /^crunch-0{20}$/)
})
ids('should draw ids from batches of random bytes, all different, each from its own 20 bytes', () => {
  const draws: Array<number> = []
  let x = 1 // a deterministic stand-in for random bytes (a linear congruential generator)
  const next = Request.requestIds((size) => {
    draws.push(size)
    return new Uint8Array(size).map(() => (x = (x * 1103515245 + 12345) % 2 ** 31) >> 16)
  }, 'req-')
  const got = Array.from({ length: 600 }, next)
  assert.equal(draws, [5120, 5120, 5120])
  assert.is(new Set(got).size, 600)
  x = 1
  assert.is(got[0], Request.requestId(new Uint8Array(20).map(() => (x = (x * 1103515245 + 12345) % 2 ** 31) >> 16)))
  for (const id of got) assert.match(id, /^req-[0-9a-z]{20}$/)
})

// ---
const bodies = suite('serverErrors')
bodies('should read the errors array of an error body', () => {
  assert.equal(Request.serverErrors('{"errors":["Path not found (req-abc)"],"error_token":"1+2"}'), ['Path not found (req-abc)'])
})
bodies('should give the first line of a non-JSON body', () => {
  assert.equal(Request.serverErrors('\n<html>Bad gateway</html>\nmore'), ['<html>Bad gateway</html>'])
  assert.equal(Request.serverErrors(''), [])
})

prepare.run()
retry.run()
backoff.run()
ids.run()
bodies.run()
