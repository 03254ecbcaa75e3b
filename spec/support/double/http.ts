/**
 * The HTTP side of the Arvados double: request decoding as the Go controller does it
 * (ARVADOS-FACTS §1.1, §1.3), validation against the discovery schemas, routing to the cluster,
 * list responses (§1.4), error bodies (§2.1, §17), the Keep block server (§12.2), and fault
 * injection (5xx, resets, applied-then-reset, delays).
 */
import * as Crypto from 'node:crypto'
import type * as Http from 'node:http'
import * as Cluster from './cluster.js'
import * as Crunchstat from './crunchstat.js'
import * as Listing from './listing.js'
import * as Logs from './logs.js'
import * as Manifest from './manifest.js'
import * as Schemas from './schemas.js'
import type { Rec } from './cluster.js'

/** One request the double received. */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  /** Lower-case names, without `authorization`. */
  readonly headers: Readonly<Record<string, string>>
  /** Parsed JSON, form fields as a record, raw text for anything else, or undefined. Keep bodies are left out (see `bodyLength`). */
  readonly body: unknown
  readonly bodyLength: number
  /** What the double did: the status it answered, or `reset` / `applied-then-reset`. */
  outcome: number | 'reset' | 'applied-then-reset' | 'pending'
  readonly at: number
  /** For Keep requests: the uuid of the keep service that received it. */
  readonly service?: string
}

/** Faults the specs can switch on (all default to off). */
export interface Faults {
  /** Share (0..1) of API requests answered with one of `errorStatuses` without being applied. */
  readonly errorRate: number
  readonly errorStatuses: ReadonlyArray<number>
  /** Share of API requests whose connection is destroyed before anything is applied. */
  readonly resetRate: number
  /** Share of API writes (non-GET) that are applied, then the connection is destroyed without an answer. */
  readonly resetAfterCommitRate: number
  /** Milliseconds added before answering, for a `delayRate` share of API requests (default all). */
  readonly delayMs: number
  readonly delayRate: number
  /** Share of Keep requests answered with one of `errorStatuses`. */
  readonly keepErrorRate: number
  /** Share of Keep requests whose connection is destroyed. */
  readonly keepResetRate: number
  /** Only requests for which this returns true are subject to the rates above (default: all). */
  readonly match: ((r: { readonly method: string; readonly path: string }) => boolean) | undefined
  /** Per container attempt: make it exit with a code (Complete) or be cancelled, instead of running. */
  readonly failContainers: Cluster.FailContainers | undefined
}

export const noFaults: Faults = {
  errorRate: 0, errorStatuses: [500, 503], resetRate: 0, resetAfterCommitRate: 0, delayMs: 0, delayRate: 1, keepErrorRate: 0, keepResetRate: 0, match: undefined, failContainers: undefined,
}

/** Seeded PRNG (mulberry32): the same seed gives the same fault decisions in the same request order. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 413: 'Request Entity Too Large', 422: 'Unprocessable Entity', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' }

/** Resources the real controller hands straight to RailsAPI (§17); they render the Rails way. */
const RAILS_RESOURCES = new Set(['containers', 'keep_services'])

const KIND: Record<string, string> = { container_requests: 'containerRequest', containers: 'container', collections: 'collection', keep_services: 'keepService', users: 'user', api_client_authorizations: 'apiClientAuthorization' }
const SCHEMA_OF: Record<string, string> = { container_requests: 'ContainerRequest', containers: 'Container', collections: 'Collection', keep_services: 'KeepService' }

const newRequestId = (): string => 'req-' + Array.from(Crypto.randomBytes(20), (b) => (b % 36).toString(36)).join('')

const readBody = (req: Http.IncomingMessage, limit: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let n = 0
    req.on('data', (c: Buffer) => {
      n += c.length
      if (n <= limit) chunks.push(c)
    })
    req.on('end', () => resolve(n > limit ? Buffer.alloc(limit + 1) : Buffer.concat(chunks)))
    req.on('error', reject)
  })

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const sortKeys = (r: Rec): Rec => Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k]]))

const bearer = (req: Http.IncomingMessage, params: Rec): string | undefined => {
  const h = req.headers['authorization']
  const m = typeof h === 'string' ? /^(?:Bearer|OAuth2)\s+(\S+)\s*$/i.exec(h) : null
  if (m !== null) return m[1]
  return typeof params['api_token'] === 'string' ? params['api_token'] : undefined
}

const headersOf = (req: Http.IncomingMessage): Record<string, string> =>
  Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'authorization').map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]))

/** One keepstore of the double: its record and the blocks PUT to it. */
export interface KeepService {
  readonly record: Rec
  readonly blocks: Map<string, Buffer>
}

/** Everything the handlers share. */
export interface Context {
  readonly cluster: Cluster.Cluster
  readonly schemas: Schemas.Schemas
  readonly maxPageLimit: number
  readonly keepServices: () => ReadonlyArray<KeepService>
  /** Hashes whose served copies have one byte flipped. */
  readonly corrupt: ReadonlySet<string>
  readonly faults: () => Faults
  readonly random: () => number
  readonly requests: Array<RecordedRequest>
  readonly keepRequests: Array<RecordedRequest>
  readonly discovery: () => Rec
  /** a running container's log file as written so far (the container request log endpoint) */
  readonly liveLog?: (containerUuid: string, file: string) => Buffer | undefined
}

interface Answer {
  readonly status: number
  readonly body: unknown
}

/** Decodes a JSON-looking string as the Go controller does; other values pass through. */
const guess = (v: unknown): unknown => {
  if (typeof v !== 'string') return v
  const t = v.trim()
  if (t === 'null' || t === '') return null
  if (/^[[{"]/.test(t)) {
    try {
      return JSON.parse(t)
    } catch {
      return v
    }
  }
  return v
}

const decodeParam = (name: string, spec: Schemas.ParamSpec, v: unknown): unknown => {
  const bad = (what: string): Cluster.ApiError => Cluster.apiError(400, `cannot decode parameter ${JSON.stringify(name)}: ${what}, got ${JSON.stringify(v)}`)
  const g = guess(v)
  if (g === null) return null
  switch (spec.type) {
    case 'integer':
      if (typeof g === 'number' && Number.isInteger(g)) return g
      if (typeof g === 'string' && /^-?\d+$/.test(g.trim())) return Number(g)
      throw bad('expected an integer')
    case 'boolean':
      if (typeof g === 'boolean') return g
      if (typeof g === 'string') return !(g === '' || g === 'false' || g === '0')
      if (typeof g === 'number') return g !== 0
      throw bad('expected a boolean')
    case 'array':
      if (name === 'order' && typeof g === 'string') return g
      if (Array.isArray(g)) return g
      throw bad('expected a JSON array')
    case 'object':
      if (typeof g === 'object' && !Array.isArray(g)) return g
      throw bad('expected a JSON object')
    default:
      if (typeof g === 'string') return g
      throw bad('expected a string')
  }
}

const RESERVED = new Set(['_method', 'api_token', 'reader_tokens', 'format', '_profile', 'uuid'])

/** Pulls the resource attributes out of the request: under the wrapper key, or the unwrapped top-level keys. */
const attributesOf = (spec: Schemas.MethodSpec, raw: Rec, schema: Schemas.Schemas['schemas'][string] | undefined, schemaName: string): Rec => {
  const wrapper = spec.requestBodyWrapper
  if (wrapper === null) return {}
  let attrs: Rec
  if (wrapper in raw) {
    const w = guess(raw[wrapper])
    if (w === null) attrs = {}
    else if (typeof w !== 'object' || Array.isArray(w)) throw Cluster.apiError(400, `cannot decode ${JSON.stringify(wrapper)}: expected a JSON object`)
    else attrs = { ...(w as Rec) }
  } else attrs = Object.fromEntries(Object.entries(raw).filter(([k]) => !(k in spec.parameters) && !RESERVED.has(k)).map(([k, v]) => [k, guess(v)]))
  for (const k of ['kind', 'etag', 'href', 'created_at', 'modified_at', 'modified_by_user_uuid']) delete attrs[k]
  const props = schema?.properties ?? {}
  const extra = Schemas.extraWritable[schemaName] ?? []
  for (const [k, v] of Object.entries(attrs)) {
    const type = props[k]
    if (type === undefined && !extra.includes(k)) throw Cluster.apiError(422, `unknown attribute '${k}' for ${schemaName}.`)
    if (type !== undefined) {
      const problem = Schemas.attributeTypeProblem(type, v)
      if (problem !== undefined) throw Cluster.apiError(422, `${k} ${problem} (got ${JSON.stringify(v)})`)
      attrs[k] = Schemas.castAttribute(type, v)
    }
  }
  return attrs
}

/** Makes the HTTP request listener of the API server. */
export const apiHandler = (ctx: Context) => async (req: Http.IncomingMessage, res: Http.ServerResponse): Promise<void> => {
  const raw = await readBody(req, 128 * 1024 * 1024)
  const url = new URL(req.url ?? '/', 'https://double.invalid')
  const query = Object.fromEntries(url.searchParams.entries())
  const ctype = String(req.headers['content-type'] ?? '')
  let body: unknown
  let bodyParams: Rec = {}
  let bodyProblem: string | undefined
  if (raw.length > 0) {
    const text = raw.toString('utf8')
    if (ctype.includes('application/x-www-form-urlencoded')) {
      bodyParams = Object.fromEntries(new URLSearchParams(text).entries())
      body = bodyParams
    } else if (ctype === '' || ctype.includes('json')) {
      try {
        body = JSON.parse(text)
        if (typeof body === 'object' && body !== null && !Array.isArray(body)) bodyParams = body as Rec
        else bodyProblem = 'request body must be a JSON object'
      } catch {
        body = text
        bodyProblem = 'cannot decode request body as JSON'
      }
    } else body = text
  }
  const rec: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query, headers: headersOf(req), body, bodyLength: raw.length, outcome: 'pending', at: Date.now() }
  ctx.requests.push(rec)
  const reqId = typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'] !== '' ? req.headers['x-request-id'] : newRequestId()
  const faults = ctx.faults()
  const subject = faults.match === undefined || faults.match({ method: rec.method, path: rec.path })
  const [dReset, dError, dStatus, dAfter, dDelay] = [ctx.random(), ctx.random(), ctx.random(), ctx.random(), ctx.random()]
  if (subject && faults.delayMs > 0 && dDelay < faults.delayRate) await sleep(faults.delayMs)
  if (subject && dReset < faults.resetRate) {
    rec.outcome = 'reset'
    req.socket.destroy()
    return
  }
  const railsStyle = RAILS_RESOURCES.has(url.pathname.replace(/^\/arvados\/v1\//, '').split('/')[0] ?? '')
  const send = (a: Answer): void => {
    rec.outcome = a.status
    const text = JSON.stringify(a.body)
    res.writeHead(a.status, { 'Content-Type': 'application/json', 'X-Request-Id': reqId, 'Content-Length': Buffer.byteLength(text) })
    res.end(text)
  }
  const sendError = (status: number, message: string, fromRails: boolean): void => {
    const apiPath = url.pathname
    if (!fromRails) return send({ status, body: { errors: [message] } })
    if (railsStyle) return send({ status, body: { errors: [`${message} (${reqId})`], error_token: `${Math.floor(Date.now() / 1000)}+${Crypto.randomBytes(4).toString('hex')}` } })
    return send({ status, body: { errors: [`request failed: //railsapi.internal${apiPath}: ${status} ${STATUS_TEXT[status] ?? ''}: ${message} (${reqId})`] } })
  }
  if (subject && dError < faults.errorRate) {
    const statuses = faults.errorStatuses.length > 0 ? faults.errorStatuses : [500]
    const status = statuses[Math.floor(dStatus * statuses.length)] as number
    return sendError(status, `${STATUS_TEXT[status] ?? 'Error'} (fault injected by the Arvados double)`, false)
  }
  try {
    if (bodyProblem !== undefined) throw Cluster.apiError(400, bodyProblem)
    if (raw.length > 128 * 1024 * 1024) throw Cluster.apiError(413, 'Request Entity Too Large')
    let verb = (req.method ?? 'GET').toUpperCase()
    if (verb === 'PATCH') verb = 'PUT'
    if (verb === 'HEAD') verb = 'GET'
    const override = req.headers['x-http-method-override']
    if (verb === 'POST' && (bodyParams['_method'] === 'GET' || (typeof override === 'string' && override.toUpperCase() === 'GET'))) verb = 'GET'
    if (url.pathname === '/discovery/v1/apis/arvados/v1/rest' && verb === 'GET') return send({ status: 200, body: ctx.discovery() })
    if (!url.pathname.startsWith('/arvados/v1/')) throw { ...Cluster.apiError(404, 'API endpoint not found'), local: true }
    // the exported cluster config needs no token (it is served to anonymous clients too)
    if (url.pathname === '/arvados/v1/config' && verb === 'GET') return send({ status: 200, body: Crunchstat.exportedConfig() })
    const logAt = Logs.match(url.pathname)
    if (logAt !== undefined && verb === 'GET') {
      const who = ctx.cluster.authenticate(bearer(req, query) ?? '')
      if (who === undefined) throw Cluster.apiError(401, 'Not logged in')
      const a = Logs.serve(ctx.cluster, ctx.liveLog ?? (() => undefined), who, logAt, typeof req.headers.range === 'string' ? req.headers.range : undefined)
      rec.outcome = a.status
      res.writeHead(a.status, { ...a.headers, 'X-Request-Id': reqId })
      return void res.end(a.body)
    }
    const r = Schemas.route(ctx.schemas, verb, url.pathname.slice('/arvados/v1/'.length))
    if (r === undefined) return sendError(404, 'API endpoint not found', false)
    const merged: Rec = { ...query, ...bodyParams }
    const params: Rec = {}
    for (const [name, spec] of Object.entries(r.spec.parameters)) {
      if (spec.location === 'path') continue
      if (merged[name] !== undefined) params[name] = decodeParam(name, spec, merged[name])
    }
    const needsToken = !(r.resource === 'keep_services' && r.method === 'accessible')
    const presented = bearer(req, merged)
    const caller = presented === undefined ? undefined : ctx.cluster.authenticate(presented)
    if (needsToken && caller === undefined) throw Cluster.apiError(401, 'Not logged in')
    const schemaName = SCHEMA_OF[r.resource] ?? ''
    const schema = ctx.schemas.schemas[schemaName]
    const attrs = attributesOf(r.spec, merged, schema, schemaName)
    const answer = dispatch(ctx, r, params, attrs, caller as Cluster.Caller)
    const isWrite = verb !== 'GET'
    if (subject && isWrite && dAfter < faults.resetAfterCommitRate) {
      rec.outcome = 'applied-then-reset'
      req.socket.destroy()
      return
    }
    send(answer)
  } catch (e) {
    if (Cluster.isApiError(e)) return sendError(e.status, e.message, e.status !== 400 && (e as { local?: boolean }).local !== true)
    if (typeof e === 'object' && e !== null && 'status' in e && 'message' in e && typeof (e as Listing.ListProblem).status === 'number')
      return sendError((e as Listing.ListProblem).status, (e as Listing.ListProblem).message, true)
    return sendError(500, `internal error in the Arvados double: ${e instanceof Error ? e.stack ?? e.message : String(e)}`, false)
  }
}

/**
 * The rows a list looks at: those an index gives for its filters (`Listing.narrow`), else all of
 * them; only the visible ones (`visible`). `probe` is the first visible row of all (what the
 * filters' `any` and attribute checks read), as a scan would have it.
 */
const rowsOf = (all: ReadonlyMap<string, Rec>, params: Rec, indexOf: Listing.IndexOf, visible: (r: Rec) => boolean): { rows: Array<Rec>; probe: Rec | undefined } => {
  const narrowed = Listing.narrow(params['filters'], indexOf)
  let probe: Rec | undefined
  for (const r of all.values()) {
    if (visible(r)) {
      probe = r
      break
    }
  }
  if (narrowed !== undefined) return { rows: narrowed.filter(visible) as Array<Rec>, probe }
  const rows: Array<Rec> = []
  for (const r of all.values()) if (visible(r)) rows.push(r)
  return { rows, probe }
}

const listAnswer = (ctx: Context, resource: string, rows: ReadonlyArray<Rec>, params: Rec, types: Readonly<Record<string, string>>, lookup: Listing.Lookup, render: (r: Rec) => Rec, rails: boolean, firstRow: Rec | undefined = rows[0]): Answer => {
  const select = Listing.checkSelect(params['select'], types)
  const probe = firstRow ?? Object.fromEntries(Object.keys(types).map((k) => [k, null]))
  const pred = Listing.compileFilters(params['filters'], lookup, probe)
  const cmp = Listing.compileOrder(params['order'], types)
  const { limit, offset, count } = Listing.paging(params, ctx.maxPageLimit)
  const matching = rows.filter(pred).sort(cmp)
  const page = matching.slice(offset, offset + limit).map((r) => sortKeys(Listing.applySelect(render(r), select) as Rec))
  const body: Rec = { kind: `arvados#${KIND[resource] ?? resource}List`, etag: '', offset, limit, items: page }
  if (rails) body['self_link'] = ''
  if (count !== 'none') body['items_available'] = matching.length
  return { status: 200, body: sortKeys(body) }
}

/** Fields a record's rendering changes or drops (cluster.ts `renderCr`, `renderContainer`). */
const CR_RENDERED = ['mounts', 'container_count_max', 'secret_mounts', 'runtime_token', 'owner_user_uuid']
const CONTAINER_RENDERED = ['secret_mounts', 'runtime_token']

/** Whether a list must render its rows: no `select`, or one naming a field the rendering changes (else the selected fields are the same either way). */
const selectsRendered = (params: Rec, rendered: ReadonlyArray<string>): boolean => {
  const select = params['select']
  return !Array.isArray(select) || select.some((s) => rendered.includes(s as string))
}

const one = (r: Rec, params: Rec, types: Readonly<Record<string, string>>): Answer => ({ status: 200, body: sortKeys(Listing.applySelect(r, Listing.checkSelect(params['select'], types)) as Rec) })

const dispatch = (ctx: Context, r: Schemas.Route, params: Rec, attrs: Rec, caller: Cluster.Caller): Answer => {
  const c = ctx.cluster
  const types = ctx.schemas.schemas[SCHEMA_OF[r.resource] ?? '']?.properties ?? {}
  const uuid = r.uuid ?? ''
  const key = `${r.resource}.${r.method}`
  switch (key) {
    case 'users.current':
      return { status: 200, body: sortKeys(caller.user) }
    case 'api_client_authorizations.current':
      return { status: 200, body: sortKeys(c.tokenRecord(caller)) }
    case 'keep_services.accessible':
    case 'keep_services.list':
      return listAnswer(ctx, 'keep_services', ctx.keepServices().map((k) => k.record), key === 'keep_services.list' ? params : {}, types, Listing.plainLookup(types), (x) => x, true)
    case 'keep_services.get': {
      const k = ctx.keepServices().find((x) => x.record['uuid'] === uuid)
      if (k === undefined) throw Cluster.apiError(404, 'Not Found')
      return one(k.record, params, types)
    }

    case 'collections.list': {
      const includeTrash = params['include_trash'] === true
      const { rows, probe } = rowsOf(c.collections, params, c.indexOf('collections'), (x) => c.readableCollection(x, caller) && (includeTrash || x['is_trashed'] !== true))
      const sel = Array.isArray(params['select']) && (params['select'] as Array<unknown>).includes('manifest_text')
      return listAnswer(ctx, 'collections', rows, params, types, Listing.plainLookup(types), (x) => (sel ? c.renderCollection(x, caller) : { ...x, manifest_text: '' }), false, probe)
    }
    case 'collections.get':
      return one(c.renderCollection(c.findCollection(uuid, caller, params['include_trash'] === true), caller), params, types)
    case 'collections.create':
      return one(c.renderCollection(c.createCollection(attrs, caller, params['ensure_unique_name'] === true), caller), params, types)
    case 'collections.update':
      return one(c.renderCollection(c.updateCollection(uuid, attrs, caller), caller), params, types)
    case 'collections.delete':
    case 'collections.trash':
      return one(c.renderCollection(c.trashCollection(uuid, caller, true), caller), params, types)
    case 'collections.untrash':
      return one(c.renderCollection(c.trashCollection(uuid, caller, false), caller), params, types)

    case 'container_requests.list': {
      const { rows, probe } = rowsOf(c.crs, params, c.indexOf('container_requests'), (x) => c.readableCr(x, caller))
      const ctypes = ctx.schemas.schemas['Container']?.properties ?? {}
      const lookup = Listing.plainLookup(types, { container: { types: ctypes, get: (row) => c.containers.get(row['container_uuid'] as string) } })
      return listAnswer(ctx, 'container_requests', rows, params, types, lookup, selectsRendered(params, CR_RENDERED) ? c.renderCr : (x) => x, false, probe)
    }
    case 'container_requests.get':
      return one(c.renderCr(c.findCr(uuid, caller)), params, types)
    case 'container_requests.create':
      return one(c.renderCr(c.createCr(attrs, caller)), params, types)
    case 'container_requests.update':
      return one(c.renderCr(c.updateCr(uuid, attrs, caller)), params, types)
    case 'container_requests.delete':
      return one(c.renderCr(c.deleteCr(uuid, caller)), params, types)
    case 'container_requests.container_status': {
      const cr = c.findCr(uuid, caller)
      const cont = c.containers.get(cr['container_uuid'] as string)
      const state = cont?.['state'] ?? ''
      const scheduling = state === 'Queued' ? ((cont?.['priority'] as number) > 0 ? 'Waiting in queue.' : 'Not scheduled: priority is 0.') : ''
      return { status: 200, body: { uuid: cr['container_uuid'] ?? '', container_state: state, scheduling_status: scheduling } }
    }

    case 'containers.current':
      return one(c.renderContainer(c.currentContainer(caller)), params, types)
    case 'containers.list': {
      const { rows, probe } = rowsOf(c.containers, params, c.indexOf('containers'), (x) => c.readableContainer(x, caller))
      return listAnswer(ctx, 'containers', rows, params, types, Listing.plainLookup(types), selectsRendered(params, CONTAINER_RENDERED) ? c.renderContainer : (x) => x, true, probe)
    }
    case 'containers.get':
      return one(c.renderContainer(c.findContainer(uuid, caller)), params, types)
    case 'containers.update':
      return one(c.renderContainer(c.updateContainer(uuid, attrs, caller)), params, types)
    case 'containers.secret_mounts': {
      const cont = c.containers.get(uuid) as (Rec & { secret_mounts?: Rec }) | undefined
      if (cont === undefined || caller.token.containerUuid !== uuid) throw Cluster.apiError(403, 'Permission denied')
      return { status: 200, body: { secret_mounts: cont.secret_mounts ?? {} } }
    }
    case 'containers.create':
    case 'containers.delete':
    case 'containers.lock':
    case 'containers.unlock':
    case 'containers.update_priority':
    case 'containers.auth':
      if (!caller.isAdmin) throw Cluster.apiError(403, 'Permission denied')
      throw Cluster.apiError(422, `${key} is not offered by the Arvados double: it dispatches containers itself`)
    default:
      throw { ...Cluster.apiError(404, `${key}: not implemented by the Arvados double`), local: true }
  }
}

// ------------------------------------------------------------------------------ Keep

/** Makes the HTTP request listener of the Keep block server (keepstore API). */
export const keepHandler = (ctx: Context, service: KeepService) => async (req: Http.IncomingMessage, res: Http.ServerResponse): Promise<void> => {
  const raw = await readBody(req, Manifest.BLOCK_SIZE)
  const url = new URL(req.url ?? '/', 'https://double.invalid')
  const method = (req.method ?? 'GET').toUpperCase()
  const rec: RecordedRequest = { method, path: url.pathname, query: Object.fromEntries(url.searchParams.entries()), headers: headersOf(req), body: undefined, bodyLength: raw.length, outcome: 'pending', at: Date.now(), service: service.record['uuid'] as string }
  ctx.keepRequests.push(rec)
  const faults = ctx.faults()
  const subject = faults.match === undefined || faults.match({ method, path: url.pathname })
  const [dReset, dError, dStatus] = [ctx.random(), ctx.random(), ctx.random()]
  const reqId = typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : newRequestId()
  const text = (status: number, body: string, headers: Record<string, string> = {}): void => {
    rec.outcome = status
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Request-Id': reqId, 'Content-Length': Buffer.byteLength(body), ...headers })
    res.end(method === 'HEAD' ? undefined : body)
  }
  if (subject && dReset < faults.keepResetRate) {
    rec.outcome = 'reset'
    req.socket.destroy()
    return
  }
  if (subject && dError < faults.keepErrorRate) {
    const statuses = faults.errorStatuses.length > 0 ? faults.errorStatuses : [500]
    const status = statuses[Math.floor(dStatus * statuses.length)] as number
    return text(status, `${STATUS_TEXT[status] ?? 'Error'} (fault injected by the Arvados double)\n`)
  }
  const h = req.headers['authorization']
  const m = typeof h === 'string' ? /^(?:Bearer|OAuth2)\s+(\S+)\s*$/i.exec(h) : null
  const token = m?.[1]
  const loc = decodeURIComponent(url.pathname.slice(1))
  if (method === 'PUT') {
    if (!/^[0-9a-f]{32}$/.test(loc.split('+')[0] ?? '')) return text(400, 'Bad Request: invalid locator\n')
    if (token === undefined || ctx.cluster.authenticate(token) === undefined) return text(401, 'Unauthorized\n')
    if (raw.length > Manifest.BLOCK_SIZE) return text(413, 'Request Entity Too Large\n')
    const declared = req.headers['content-length']
    if (declared !== undefined && Number(declared) !== raw.length) return text(400, 'Content-Length mismatch\n')
    const hash = Crypto.createHash('md5').update(raw).digest('hex')
    if (hash !== loc.slice(0, 32)) return text(400, `Hash mismatch: body hashes to ${hash}\n`)
    const plain = ctx.cluster.storeBlock(raw)
    service.blocks.set(hash, raw)
    return text(200, ctx.cluster.signLocator(plain, token) + '\n', { 'X-Keep-Replicas-Stored': '1', 'X-Keep-Storage-Classes-Confirmed': 'default=1' })
  }
  if (method === 'GET' || method === 'HEAD') {
    const parts = loc.split('+')
    const hash = parts[0] ?? ''
    if (!/^[0-9a-f]{32}$/.test(hash)) return text(400, 'Bad Request: invalid locator\n')
    const isEmpty = hash === Manifest.EMPTY_BLOCK.slice(0, 32)
    if (!isEmpty && !/^\d+$/.test(parts[1] ?? '')) return text(400, 'Bad Request: locator has no size hint\n')
    if (!isEmpty) {
      if (token === undefined) return text(401, 'Unauthorized: no token\n')
      const check = ctx.cluster.checkLocator(loc, token)
      if (check === 'missing') return text(401, 'Unauthorized: locator is not signed\n')
      if (check === 'expired') return text(401, 'Unauthorized: signature expired\n')
      if (check === 'invalid') return text(400, 'Bad Request: invalid signature\n')
    }
    const stored = isEmpty ? Buffer.alloc(0) : (service.blocks.get(hash) ?? (ctx.cluster.internalBlocks.has(hash) ? ctx.cluster.blocks.get(hash) : undefined))
    if (stored === undefined) return text(404, 'Not Found\n')
    const block = ctx.corrupt.has(hash) && stored.length > 0 ? Buffer.concat([Buffer.from([(stored[0] as number) ^ 0xff]), stored.subarray(1)]) : stored
    rec.outcome = 200
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': block.length, 'X-Request-Id': reqId })
    res.end(method === 'HEAD' ? undefined : block)
    return
  }
  return text(405, 'Method Not Allowed\n')
}
