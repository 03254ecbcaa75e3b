/**
 * Fidelity check: drives every call of the REST and Keep clients against the Arvados double
 * (including retries, a lost create and a long list query), then checks every request the
 * SDK sent against the discovery-derived schemas in spec/fixtures/arvados/api-schemas.json:
 * HTTP method and path, parameter names and value types, the body wrapper key, attribute
 * names and types. The checker reads the JSON itself (not the double's router), so the double
 * and the client cannot drift away from the real API together.
 */
import * as Fs from 'node:fs'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Client from '../../lib/arvados/client.js'
import * as Config from '../../lib/arvados/config.js'
import * as Errors from '../../lib/errors.js'
import * as Keep from '../../lib/keep/client.js'
import { startDouble, type Double } from '../support/double/index.js'

// -------------------------------------------------------------------------------------
// the checker
// -------------------------------------------------------------------------------------

interface ParamSpec {
  readonly type: string
  readonly location: string
  readonly required: boolean
}
interface MethodSpec {
  readonly httpMethod: string
  readonly path: string
  readonly parameters: Readonly<Record<string, ParamSpec>>
  readonly requestBodyWrapper: string | null
  readonly response?: string
}
interface Schemas {
  readonly resources: Readonly<Record<string, Readonly<Record<string, MethodSpec>>>>
  readonly schemas: Readonly<Record<string, { readonly properties: Readonly<Record<string, string>> }>>
}
const schemas = JSON.parse(Fs.readFileSync(Url.fileURLToPath(new URL('../fixtures/arvados/api-schemas.json', import.meta.url)), 'utf8')) as Schemas

/** Write-only attributes the real server takes but the discovery schema does not list (facts §3.1). */
const WRITE_ONLY: Readonly<Record<string, ReadonlyArray<string>>> = { ContainerRequest: ['secret_mounts', 'runtime_token'] }

interface Sent {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

const typeProblem = (type: string, v: unknown): string | undefined => {
  if (v === null) return undefined
  const is = (ok: boolean, what: string): string | undefined => (ok ? undefined : `expected ${what}, got ${Array.isArray(v) ? 'array' : typeof v}`)
  switch (type) {
    case 'string':
    case 'text':
      return is(typeof v === 'string', 'a string')
    case 'datetime':
      return is(typeof v === 'string' && !Number.isNaN(Date.parse(v)), 'an ISO timestamp')
    case 'integer':
      return is(typeof v === 'number' && Number.isInteger(v), 'an integer')
    case 'float':
      return is(typeof v === 'number', 'a number')
    case 'boolean':
      return is(typeof v === 'boolean', 'a boolean')
    case 'Hash':
      return is(typeof v === 'object' && !Array.isArray(v), 'an object')
    case 'Array':
      return is(Array.isArray(v), 'an array')
    default:
      return undefined
  }
}

const paramProblem = (name: string, spec: ParamSpec, text: string): string | undefined => {
  const json = (): unknown => {
    try {
      return JSON.parse(text)
    } catch {
      return undefined
    }
  }
  switch (spec.type) {
    case 'array':
      return Array.isArray(json()) ? undefined : `parameter ${name} must be a JSON array`
    case 'object': {
      const o = json()
      return typeof o === 'object' && o !== null && !Array.isArray(o) ? undefined : `parameter ${name} must be a JSON object`
    }
    case 'integer':
      return /^-?\d+$/.test(text) ? undefined : `parameter ${name} must be an integer`
    case 'boolean':
      return text === 'true' || text === 'false' ? undefined : `parameter ${name} must be true or false`
    default:
      return undefined
  }
}

/** Finds the discovery method of a request; literal path segments win over `{uuid}`. */
const route = (verb: string, path: string): { key: string; spec: MethodSpec } | undefined => {
  const segs = path.replace(/^\/arvados\/v1\//, '').split('/')
  let best: { key: string; spec: MethodSpec; literal: number } | undefined
  for (const [resource, methods] of Object.entries(schemas.resources))
    for (const [method, spec] of Object.entries(methods)) {
      const t = spec.path.split('/')
      if (spec.httpMethod !== verb || t.length !== segs.length) continue
      let literal = 0
      const ok = t.every((x, i) => {
        if (x === '{uuid}') return (segs[i] ?? '') !== ''
        if (x === segs[i]) return ++literal > 0
        return false
      })
      if (ok && (best === undefined || literal > best.literal)) best = { key: `${resource}.${method}`, spec, literal }
    }
  return best
}

/** Every way a request differs from the API description (empty when faithful). */
const check = (r: Sent): { key: string | undefined; problems: ReadonlyArray<string> } => {
  const problems: Array<string> = []
  const where = `${r.method} ${r.path}`
  if (!/^req-[0-9a-z]{20}(-lookup\d+)?$/.test(r.headers['x-request-id'] ?? '')) problems.push(`${where}: missing or malformed X-Request-Id`)
  if (!r.path.startsWith('/arvados/v1/')) return { key: undefined, problems: [...problems, `${where}: not under /arvados/v1/`] }
  const override = r.method === 'POST' && (r.headers['x-http-method-override'] ?? '').toUpperCase() === 'GET'
  const verb = override ? 'GET' : r.method
  const m = route(verb, r.path)
  if (m === undefined) return { key: undefined, problems: [...problems, `${where}: no such API method`] }
  const params: Record<string, string> = { ...r.query }
  if (override) {
    if (typeof r.body !== 'object' || r.body === null) problems.push(`${where}: an overridden GET must carry a form body`)
    else Object.assign(params, r.body)
  }
  for (const [name, value] of Object.entries(params)) {
    const spec = m.spec.parameters[name]
    if (spec === undefined || spec.location === 'path') problems.push(`${where}: unknown parameter ${name} for ${m.key}`)
    else {
      const p = paramProblem(name, spec, value)
      if (p !== undefined) problems.push(`${where}: ${p}`)
    }
  }
  const wrapper = m.spec.requestBodyWrapper
  if (wrapper === null) {
    if (!override && r.body !== undefined) problems.push(`${where}: ${m.key} takes no body`)
  } else {
    const body = r.body as Record<string, unknown> | undefined
    const keys = typeof body === 'object' && body !== null ? Object.keys(body) : []
    if (keys.length !== 1 || keys[0] !== wrapper) problems.push(`${where}: body must be {"${wrapper}": {...}}, got keys [${keys.join(', ')}]`)
    else {
      const attrs = body?.[wrapper]
      const schemaName = m.spec.response ?? ''
      const props = schemas.schemas[schemaName]?.properties ?? {}
      if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) problems.push(`${where}: ${wrapper} must be an object`)
      else
        for (const [k, v] of Object.entries(attrs)) {
          const type = props[k]
          if (type === undefined) {
            if (!(WRITE_ONLY[schemaName] ?? []).includes(k)) problems.push(`${where}: ${schemaName} has no attribute ${k}`)
          } else {
            const p = typeProblem(type, v)
            if (p !== undefined) problems.push(`${where}: ${schemaName}.${k}: ${p}`)
          }
        }
    }
  }
  return { key: m.key, problems }
}

/** The keepstore API (facts §12.2): PUT /<md5>, GET /<locator>, the replica header an integer. */
const checkKeep = (r: Sent): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const where = `keep ${r.method} ${r.path}`
  if (!/^req-[0-9a-z]{20}$/.test(r.headers['x-request-id'] ?? '')) problems.push(`${where}: missing or malformed X-Request-Id`)
  if (r.method === 'PUT') {
    if (!/^\/[0-9a-f]{32}$/.test(r.path)) problems.push(`${where}: PUT path must be /<md5>`)
    if (!/^\d+$/.test(r.headers['x-keep-desired-replicas'] ?? '')) problems.push(`${where}: X-Keep-Desired-Replicas must be an integer`)
  } else if (r.method === 'GET') {
    if (!/^\/[0-9a-f]{32}\+\d+(\+[A-Z][-A-Za-z0-9@_]*)*$/.test(r.path)) problems.push(`${where}: GET path must be a locator with size`)
  } else problems.push(`${where}: unexpected method`)
  return problems
}

// -------------------------------------------------------------------------------------
// the checker can fail
// -------------------------------------------------------------------------------------

const checker = suite('the fidelity checker')
const base = { headers: { 'x-request-id': 'req-0123456789abcdefghij' }, query: {}, body: undefined }
checker('should accept a faithful wrapped create', () => {
  const r = check({ ...base, method: 'POST', path: '/arvados/v1/collections', query: { ensure_unique_name: 'true' }, body: { collection: { name: 'x', manifest_text: '' } } })
  assert.equal(r.problems, [])
  assert.is(r.key, 'collections.create')
})
checker('should reject an unwrapped body, an unknown attribute and a wrong type', () => {
  const p1 = check({ ...base, method: 'POST', path: '/arvados/v1/collections', body: { name: 'x' } }).problems
  assert.ok(p1.some((p) => p.includes('body must be {"collection"')), p1.join('\n'))
  const p2 = check({ ...base, method: 'PUT', path: '/arvados/v1/container_requests/zzzzz-xvhdp-000000000000000', body: { container_request: { nmae: 'x', priority: '1' } } }).problems
  assert.ok(p2.some((p) => p.includes('no attribute nmae')), p2.join('\n'))
  assert.ok(p2.some((p) => p.includes('priority: expected an integer')), p2.join('\n'))
})
checker('should reject unknown parameters, bad parameter types, unknown paths and missing request ids', () => {
  const p = check({ method: 'GET', path: '/arvados/v1/container_requests', query: { filter: '[]', limit: 'ten', select: 'uuid' }, headers: {}, body: undefined }).problems
  assert.ok(p.some((x) => x.includes('unknown parameter filter')))
  assert.ok(p.some((x) => x.includes('limit must be an integer')))
  assert.ok(p.some((x) => x.includes('select must be a JSON array')))
  assert.ok(p.some((x) => x.includes('X-Request-Id')))
  assert.ok(check({ ...base, method: 'GET', path: '/arvados/v1/jobs' }).problems.some((x) => x.includes('no such API method')))
  assert.ok(check({ ...base, method: 'DELETE', path: '/arvados/v1/users/current' }).problems.some((x) => x.includes('no such API method')))
})

// -------------------------------------------------------------------------------------
// everything the SDK sends
// -------------------------------------------------------------------------------------

const right = <A>(r: E.Either<Errors.SdkError, A>): A => {
  if (E.isLeft(r)) throw new Error(Errors.format(r.left))
  return r.right
}

const EXPECTED_METHODS = [
  'users.current',
  'api_client_authorizations.current',
  'keep_services.accessible',
  'keep_services.list',
  'keep_services.get',
  'collections.create',
  'collections.get',
  'collections.update',
  'collections.list',
  'collections.delete',
  'container_requests.create',
  'container_requests.get',
  'container_requests.update',
  'container_requests.list',
  'container_requests.delete',
  'containers.get',
  'containers.list',
  'containers.current',
  'containers.update',
]

const fidelity = suite('every request the SDK sends matches api-schemas.json')
let double: Double
fidelity.before(async () => {
  double = await startDouble({ runContainers: false, maxPageLimit: 5 })
})
fidelity.after(async () => {
  await double.stop()
})
fidelity('should send only requests the real API describes, for every client call', async () => {
  const cfg = Config.make({ apiHost: double.apiHost, apiToken: double.token, ca: double.ca })
  const api = Client.make(cfg, { retry: { attempts: 8, baseMs: 1, maxMs: 5 } })
  const keep = Keep.make(cfg, { api, replicas: 1, retry: { attempts: 8, baseMs: 1, maxMs: 5 } })

  right(await api.users.current()())
  right(await api.apiClientAuthorizations.current()())
  const svc = right(await api.keepServices.accessible()()).items[0]
  right(await api.keepServices.list({ limit: 10 })())
  right(await api.keepServices.get(svc?.uuid ?? '')())
  await api.containers.current()()

  const stored = right(await keep.put(new TextEncoder().encode('fidelity'))())
  right(await keep.get(stored.locator)())
  const manifest = `. ${stored.locator.hash}+${stored.locator.size}+${stored.locator.hints.join('+')} 0:8:f.txt\n`
  const col = right(await api.collections.create({ name: 'f', manifest_text: manifest, properties: { k: 'v' }, replication_desired: 1, trash_at: null }, { ensure_unique_name: true })())
  right(await api.collections.get(col.uuid)())
  right(await api.collections.get(col.portable_data_hash)())
  right(await api.collections.update(col.uuid, { name: 'f2', description: 'd', preserve_version: true })())
  for (let i = 0; i < 7; i++) right(await api.collections.create({ name: `p${i}`, properties: { page: true } })())
  right(await api.collections.list({ filters: [['properties.page', '=', true]], order: ['name asc'], select: ['uuid', 'name'], limit: 3, offset: 1, count: 'exact', include_trash: false, distinct: false })())
  right(await api.collections.listAll({ filters: [['properties.page', '=', true]] })())
  right(await api.collections.listAll({ filters: [['properties.page', '=', true]], order: ['name desc'] })())
  const uuids = Array.from({ length: 50 }, (_, i) => `zzzzz-4zz18-${String(i).padStart(15, '0')}`)
  right(await api.collections.list({ filters: [['uuid', 'in', uuids]] })())
  right(await api.collections.delete(col.uuid)())

  const cr = right(
    await api.containerRequests.create({
      name: 'fid',
      description: 'fidelity',
      state: 'Uncommitted',
      command: ['true'],
      container_image: 'arvados/jobs',
      cwd: '/out',
      environment: { A: 'b' },
      output_path: '/out',
      output_glob: [],
      output_name: 'out',
      output_ttl: 0,
      output_storage_classes: ['default'],
      output_properties: {},
      mounts: { '/out': { kind: 'tmp', capacity: 1024 }, '/in': { kind: 'json', content: { x: 1 } } },
      secret_mounts: {},
      runtime_constraints: { vcpus: 1, ram: 1 << 28, API: false },
      scheduling_parameters: { preemptible: false },
      use_existing: true,
      container_count_max: 2,
      priority: 1,
      properties: { call: 'x' },
    })(),
  )
  right(await api.containerRequests.get(cr.uuid)())
  const committed = right(await api.containerRequests.update(cr.uuid, { state: 'Committed' })())
  right(await api.containerRequests.list({ filters: [['uuid', 'in', [cr.uuid]], ['container.state', 'in', ['Queued', 'Locked']]], select: ['uuid', 'state', 'priority'] })())
  right(await api.containerRequests.listAll({ filters: [['uuid', '=', cr.uuid]] })())
  right(await api.containers.get(committed.container_uuid ?? '')())
  right(await api.containers.list({ filters: [['uuid', '=', committed.container_uuid ?? '']] })())
  right(await api.containers.listAll({ filters: [['uuid', '=', committed.container_uuid ?? '']] })())
  await api.containers.update(committed.container_uuid ?? '', { runtime_status: { activity: 'x' }, progress: 0.5 })()
  right(await api.containerRequests.update(cr.uuid, { priority: 0 })())
  right(await api.containerRequests.delete(cr.uuid)())

  // retried and lost creates: the lookups must be faithful too
  double.setFaults({ errorRate: 0.3, resetRate: 0.1, resetAfterCommitRate: 0.5, errorStatuses: [500, 503], keepErrorRate: 0.3 })
  for (let i = 0; i < 5; i++) right(await api.collections.create({ name: `r${i}` })())
  for (let i = 0; i < 3; i++) right(await api.containerRequests.create({ name: `r${i}`, command: ['true'], container_image: 'i', output_path: '/o', mounts: { '/o': { kind: 'tmp', capacity: 1 } } })())
  right(await keep.put(new TextEncoder().encode('faulty'))())
  double.setFaults({ errorRate: 0, resetRate: 0, resetAfterCommitRate: 0, keepErrorRate: 0 })
  await keep.close()
  await api.close()

  const seen = new Set<string>()
  const problems: Array<string> = []
  for (const r of double.requests) {
    const c = check(r)
    if (c.key !== undefined) seen.add(c.key)
    problems.push(...c.problems)
  }
  for (const r of double.keepRequests) problems.push(...checkKeep(r))
  assert.equal(problems, [], problems.join('\n'))
  assert.equal(
    EXPECTED_METHODS.filter((m) => !seen.has(m)),
    [],
    'every client call was exercised',
  )
  assert.ok(double.requests.some((r) => r.headers['x-http-method-override'] === 'GET'), 'a long GET was sent as POST')
  assert.ok(double.requests.some((r) => /-lookup\d+$/.test(r.headers['x-request-id'] ?? '')), 'a create lookup was sent')
  assert.ok(double.requests.length > 40, `${double.requests.length} requests checked`)
})

checker.run()
fidelity.run()
