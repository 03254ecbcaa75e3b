/**
 * The Arvados REST client: a record of functions returning `TaskEither<ApiError, Decoded>`
 * for the resources the SDK uses (container requests, containers incl. `current`,
 * collections, keep services incl. `accessible`, `users/current`,
 * `api_client_authorizations/current`). The one file of `lib/arvados` that does I/O (undici).
 *
 * - Keep-alive connection pool (undici `Agent`) and a bound on requests in flight.
 * - Every request carries `X-Request-Id` (the same on every retry of one call).
 * - Retries with exponential backoff and jitter on the statuses and network failures the
 *   official SDKs retry (`Request.isRetryableStatus`, `Request.isRetryableNetworkCode`).
 * - A create is never blindly retried: it carries a unique `arvados_crunch_create_id`
 *   property; after an ambiguous failure the client lists by that property and returns the
 *   object if the first attempt did create it, so no duplicate is ever made.
 * - The token is sent only in the `Authorization` header and removed from every error text.
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts'
import { Agent } from 'undici'
import * as ApiError from './api-error.js'
import * as Config from './config.js'
import * as Request from './request.js'
import * as Resources from './resources.js'
import * as Limiter from '../internal/limiter.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A filter, `[attribute, operator, operand]` (e.g. `["uuid", "in", [...]]`,
 * `["properties.k", "=", "v"]`).
 *
 * @category models
 * @since 0.1.0
 */
export type Filter = readonly [string, string, unknown]

/**
 * List parameters (snake_case where the API's are).
 *
 * @category models
 * @since 0.1.0
 */
export interface ListParams<K extends string = string> {
  readonly filters?: ReadonlyArray<Filter>
  /** `"attribute asc|desc"` entries. */
  readonly order?: ReadonlyArray<string>
  readonly select?: ReadonlyArray<K>
  readonly limit?: number
  readonly offset?: number
  readonly count?: 'exact' | 'none'
  readonly include_trash?: boolean
  readonly distinct?: boolean
}

/**
 * Attributes for create/update: any field of the resource (checked names), values as the
 * API takes them.
 *
 * @category models
 * @since 0.1.0
 */
export type Attributes<Res> = { readonly [K in Resources.Field<Res>]?: unknown }

/**
 * Container request attributes, plus the write-only `secret_mounts` and `runtime_token`.
 *
 * @category models
 * @since 0.1.0
 */
export type ContainerRequestAttributes = Attributes<typeof Resources.ContainerRequest> & {
  readonly secret_mounts?: Readonly<Record<string, unknown>>
  readonly runtime_token?: string
}

/**
 * Options of a create.
 *
 * - `ensure_unique_name`: let the server rename on a name clash (collections).
 * - `createId`: the identifying property's value (default: a fresh random id). Reusing the
 *   same id across program runs makes a create idempotent across runs too.
 *
 * @category models
 * @since 0.1.0
 */
export interface CreateOptions {
  readonly ensure_unique_name?: boolean
  readonly createId?: string
}

/**
 * What the selected fields decode to: the whole object without `select`, a picked one with it.
 *
 * @category models
 * @since 0.1.0
 */
export type Item<Res, K extends string> = [K] extends [never] ? Resources.TypeOf<Res> : Resources.Picked<Res, K>

/**
 * Read operations shared by every listed resource.
 *
 * @category models
 * @since 0.1.0
 */
export interface Readable<Res> {
  readonly get: (uuid: string) => TE.TaskEither<ApiError.ApiError, Resources.TypeOf<Res>>
  /** One page. */
  readonly list: <K extends Resources.Field<Res> = never>(params?: ListParams<K>) => TE.TaskEither<ApiError.ApiError, Resources.List<Item<Res, K>>>
  /**
   * Every matching item, paging as needed. Without `order`, pages by key (`uuid > last`,
   * `order uuid asc`, `count=none`), which neither skips nor repeats items while others
   * write; with `order`, pages by `offset` until an empty page or `items_available`.
   */
  readonly listAll: <K extends Resources.Field<Res> = never>(params?: ListParams<K>) => TE.TaskEither<ApiError.ApiError, ReadonlyArray<Item<Res, K>>>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ArvadosClient {
  readonly containerRequests: Readable<typeof Resources.ContainerRequest> & {
    readonly create: (attrs: ContainerRequestAttributes, options?: CreateOptions) => TE.TaskEither<ApiError.ApiError, Resources.ContainerRequest>
    readonly update: (uuid: string, attrs: ContainerRequestAttributes) => TE.TaskEither<ApiError.ApiError, Resources.ContainerRequest>
    readonly delete: (uuid: string) => TE.TaskEither<ApiError.ApiError, Resources.ContainerRequest>
  }
  readonly containers: Readable<typeof Resources.Container> & {
    /** The container whose token makes the call; `ARV_HTTP_404` outside a container. */
    readonly current: () => TE.TaskEither<ApiError.ApiError, Resources.Container>
    /** A container's own token may set `output`, `runtime_status`, `progress`, ... */
    readonly update: (uuid: string, attrs: Attributes<typeof Resources.Container>) => TE.TaskEither<ApiError.ApiError, Resources.Container>
  }
  readonly collections: Readable<typeof Resources.Collection> & {
    readonly create: (attrs: Attributes<typeof Resources.Collection>, options?: CreateOptions) => TE.TaskEither<ApiError.ApiError, Resources.Collection>
    readonly update: (uuid: string, attrs: Attributes<typeof Resources.Collection>) => TE.TaskEither<ApiError.ApiError, Resources.Collection>
    /** Trashes the collection (`DELETE`). */
    readonly delete: (uuid: string) => TE.TaskEither<ApiError.ApiError, Resources.Collection>
  }
  readonly keepServices: Readable<typeof Resources.KeepService> & {
    /** The services this client should use (keepstores inside the cluster, a proxy outside). */
    readonly accessible: () => TE.TaskEither<ApiError.ApiError, Resources.List<Resources.KeepService>>
  }
  readonly users: { readonly current: () => TE.TaskEither<ApiError.ApiError, Resources.User> }
  readonly apiClientAuthorizations: { readonly current: () => TE.TaskEither<ApiError.ApiError, Resources.ApiClientAuthorization> }
  /** The configuration (host, TLS settings) this client talks with. */
  readonly config: Config.Config
  /** Closes pooled connections. */
  readonly close: () => Promise<void>
}

/**
 * Client options.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Requests in flight at once (and pooled connections). Default 8. */
  readonly concurrency?: number
  readonly retry?: Partial<Request.RetryPolicy>
  /** PEM text to trust instead of `config.ca` / Node's roots. */
  readonly ca?: string
  /** Prefix of generated request ids. Default `req-`. */
  readonly requestIdPrefix?: string
  /** Headers and body timeout per attempt, ms. Default 300 000 (the Python SDK's). */
  readonly timeoutMs?: number
  /** Source of randomness for backoff jitter, in [0, 1). Default `Math.random`. */
  readonly random?: () => number
}

/**
 * The property every create carries so an ambiguous failure can be resolved by lookup.
 *
 * @category constants
 * @since 0.1.0
 */
export const CREATE_ID_PROPERTY = 'arvados_crunch_create_id'

const PDH = /^[0-9a-f]{32}\+\d+$/
const TypeCtor = t.Type

// -------------------------------------------------------------------------------------
// transport
// -------------------------------------------------------------------------------------

type Outcome =
  | { readonly _tag: 'Response'; readonly status: number; readonly text: string; readonly retryAfter: number | undefined }
  | { readonly _tag: 'NoResponse'; readonly code: string | undefined; readonly reason: string }

const errorCode = (e: unknown): string | undefined => {
  let cur: unknown = e
  for (let i = 0; i < 4 && typeof cur === 'object' && cur !== null; i++) {
    const code = (cur as { code?: unknown }).code
    if (typeof code === 'string' && code !== 'UND_ERR' && code !== 'UND_ERR_SOCKET') return code
    cur = (cur as { cause?: unknown }).cause
  }
  const top = (e as { code?: unknown } | null)?.code
  return typeof top === 'string' ? top : undefined
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Builds a client for `config`.
 *
 * @example
 * const api = Client.make(config)
 * const cr = await api.containerRequests.get('zzzzz-xvhdp-012345678901234')()
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (config: Config.Config, options: Options = {}): ArvadosClient => {
  const concurrency = Math.max(1, options.concurrency ?? 8)
  const policy: Request.RetryPolicy = { ...Request.DEFAULT_RETRY, ...options.retry }
  const attempts = Math.max(1, Math.floor(policy.attempts))
  const random = options.random ?? Math.random
  const timeoutMs = options.timeoutMs ?? 300_000
  const ca = options.ca ?? config.ca
  const secrets = [config.apiToken]
  const origin = `https://${config.apiHost}`
  const agent = new Agent({
    connections: concurrency,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { rejectUnauthorized: !config.insecure, ...(ca === undefined ? {} : { ca }) },
  })
  const limit = Limiter.make(concurrency)
  const newRequestId = (): string => Request.requestId(Crypto.randomBytes(20), options.requestIdPrefix ?? 'req-')

  const send = (p: Request.Prepared, requestId: string): Promise<Outcome> =>
    limit(async () => {
      try {
        const res = await agent.request({
          origin,
          path: p.query === '' ? p.path : `${p.path}?${p.query}`,
          method: p.method,
          headers: { ...p.headers, authorization: `Bearer ${config.apiToken}`, 'x-request-id': requestId, accept: 'application/json' },
          ...(p.body === undefined ? {} : { body: p.body }),
        })
        const text = await res.body.text()
        const ra = res.headers['retry-after']
        return { _tag: 'Response', status: res.statusCode, text, retryAfter: Request.parseRetryAfter(Array.isArray(ra) ? ra[0] : ra) }
      } catch (e) {
        const code = errorCode(e)
        return { _tag: 'NoResponse', code, reason: code ?? (e instanceof Error ? e.message : 'unknown failure') }
      }
    })

  /** Whether an outcome should be retried; also classifies TLS failures. */
  const retryable = (o: Outcome): boolean =>
    o._tag === 'Response' ? Request.isRetryableStatus(o.status) : !Request.isTlsCode(o.code) && (Request.isRetryableNetworkCode(o.code) || o.code === undefined)

  const failure = (apiPath: string, method: string, requestId: string, o: Outcome, n: number): ApiError.ApiError =>
    o._tag === 'Response'
      ? ApiError.fromStatus({ status: o.status, method, path: apiPath, requestId, serverErrors: Request.serverErrors(o.text), attempts: n }, secrets)
      : ApiError.fromNetwork({ method, path: apiPath, requestId, attempts: n }, o.reason, secrets, Request.isTlsCode(o.code))

  const decode = <A>(codec: t.Type<A, unknown, unknown>, what: string, text: string, method: string, apiPath: string, requestId: string, status: number, n: number): E.Either<ApiError.ApiError, A> => {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return E.left(ApiError.fromDecode({ status, method, path: apiPath, requestId, attempts: n }, what, ['(root): expected JSON, received text'], secrets))
    }
    const r = codec.decode(parsed)
    return E.isRight(r) ? E.right(r.right) : E.left(ApiError.fromDecode({ status, method, path: apiPath, requestId, attempts: n }, what, Resources.problems(r.left), secrets))
  }

  /** One call with retries on retryable outcomes. */
  const call =
    <A>(input: {
      readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
      readonly path: string
      readonly params?: Readonly<Record<string, Request.Param>>
      readonly wrapper?: string
      readonly body?: Readonly<Record<string, unknown>>
      readonly codec: t.Type<A, unknown, unknown>
      readonly what: string
      readonly requestId?: string
    }): TE.TaskEither<ApiError.ApiError, A> =>
    async () => {
      const p = Request.prepare(input)
      const requestId = input.requestId ?? newRequestId()
      for (let n = 1; ; n++) {
        const o = await send(p, requestId)
        if (o._tag === 'Response' && o.status >= 200 && o.status < 300) return decode(input.codec, input.what, o.text, input.method, p.path, requestId, o.status, n)
        if (n >= attempts || !retryable(o)) return E.left(failure(p.path, input.method, requestId, o, n))
        await sleep(Request.backoff(policy, n, random(), o._tag === 'Response' ? o.retryAfter : undefined))
      }
    }

  const listCodec = <A>(item: t.Type<A, unknown, unknown>) => Resources.list(item) as unknown as t.Type<Resources.List<A>, unknown, unknown>

  const listParams = (params: ListParams): Record<string, Request.Param> => ({
    filters: params.filters,
    order: params.order,
    select: params.select,
    limit: params.limit,
    offset: params.offset,
    count: params.count,
    include_trash: params.include_trash,
    distinct: params.distinct,
  })

  /**
   * A collection read by portable data hash has no uuid of its own: the controller answers
   * with the hash as `uuid` (facts §17), older servers leave it out. Both decode the same.
   */
  const byId = <A>(codec: t.Type<A, unknown, unknown>, id: string): t.Type<A, unknown, unknown> =>
    !PDH.test(id)
      ? codec
      : (new TypeCtor<A, unknown, unknown>(
          codec.name,
          codec.is,
          (u, c) => codec.validate(typeof u === 'object' && u !== null && !('uuid' in u) ? { ...u, uuid: id } : u, c),
          codec.encode,
        ) as t.Type<A, unknown, unknown>)

  const readable = <C extends t.Props, R extends t.Props>(res: Resources.Resource<C, R>, exact = false): Readable<Resources.Resource<C, R>> => {
    type Res = Resources.Resource<C, R>
    const full = Resources.codec(res, exact)
    const itemCodec = (select: ReadonlyArray<string> | undefined): t.Type<unknown, unknown, unknown> =>
      (select === undefined ? full : Resources.pick(res, select)) as unknown as t.Type<unknown, unknown, unknown>
    const list = <K extends Resources.Field<Res> = never>(params: ListParams<K> = {}): TE.TaskEither<ApiError.ApiError, Resources.List<Item<Res, K>>> =>
      call({
        method: 'GET',
        path: res.path,
        params: listParams(params),
        codec: listCodec(itemCodec(params.select)) as t.Type<Resources.List<Item<Res, K>>, unknown, unknown>,
        what: `${res.name} list`,
      })
    const listAll =
      <K extends Resources.Field<Res> = never>(params: ListParams<K> = {}): TE.TaskEither<ApiError.ApiError, ReadonlyArray<Item<Res, K>>> =>
      async () => {
        const out: Array<Item<Res, K>> = []
        if (params.order === undefined) {
          const select = params.select === undefined || params.select.includes('uuid' as K) ? params.select : [...params.select, 'uuid' as K]
          let last: string | undefined
          for (;;) {
            const page = await list<K>({
              ...params,
              ...(select === undefined ? {} : { select }),
              filters: [...(params.filters ?? []), ...(last === undefined ? [] : [['uuid', '>', last] as const])],
              order: ['uuid asc'],
              count: 'none',
              offset: 0,
            })()
            if (E.isLeft(page)) return page
            if (page.right.items.length === 0) return E.right(out)
            out.push(...page.right.items)
            const next = (page.right.items[page.right.items.length - 1] as { readonly uuid?: unknown }).uuid
            if (typeof next !== 'string' || (last !== undefined && next <= last)) return E.right(out)
            last = next
          }
        }
        let offset = params.offset ?? 0
        for (;;) {
          const page = await list<K>({ ...params, offset, count: 'exact' })()
          if (E.isLeft(page)) return page
          out.push(...page.right.items)
          offset += page.right.items.length
          const available = page.right.items_available
          if (page.right.items.length === 0 || (available !== undefined && offset >= available)) return E.right(out)
        }
      }
    return {
      get: (uuid) => call({ method: 'GET', path: `${res.path}/${Request.segment(uuid)}`, codec: byId(full, uuid), what: res.name }),
      list,
      listAll,
    }
  }

  const update = <C extends t.Props, R extends t.Props>(res: Resources.Resource<C, R>) => {
    const full = Resources.codec(res)
    return (uuid: string, attrs: Readonly<Record<string, unknown>>) =>
      call({ method: 'PUT', path: `${res.path}/${Request.segment(uuid)}`, wrapper: res.wrapper, body: attrs, codec: full, what: res.name })
  }

  const remove = <C extends t.Props, R extends t.Props>(res: Resources.Resource<C, R>) => {
    const full = Resources.codec(res)
    return (uuid: string) => call({ method: 'DELETE', path: `${res.path}/${Request.segment(uuid)}`, codec: full, what: res.name })
  }

  /**
   * Create without duplicates: the attributes carry `CREATE_ID_PROPERTY`; after a failure
   * that may have reached the server, the object is looked up by that property before the
   * next attempt.
   */
  const create =
    <C extends t.Props, R extends t.Props>(res: Resources.Resource<C, R>) =>
    (attrs: Readonly<Record<string, unknown>>, options: CreateOptions = {}): TE.TaskEither<ApiError.ApiError, Resources.TypeOf<Resources.Resource<C, R>>> =>
    async () => {
      const full = Resources.codec(res)
      const createId = options.createId ?? Crypto.randomUUID()
      const given = attrs['properties']
      const properties = { ...(typeof given === 'object' && given !== null ? (given as Record<string, unknown>) : {}), [CREATE_ID_PROPERTY]: createId }
      const p = Request.prepare({
        method: 'POST',
        path: res.path,
        params: { ensure_unique_name: options.ensure_unique_name },
        wrapper: res.wrapper,
        body: { ...attrs, properties },
      })
      const requestId = newRequestId()
      for (let n = 1; ; n++) {
        const o = await send(p, requestId)
        if (o._tag === 'Response' && o.status >= 200 && o.status < 300) return decode(full, res.name, o.text, 'POST', p.path, requestId, o.status, n)
        if (n >= attempts || !retryable(o)) return E.left(failure(p.path, 'POST', requestId, o, n))
        await sleep(Request.backoff(policy, n, random(), o._tag === 'Response' ? o.retryAfter : undefined))
        // The failed attempt may have created the object: look before creating again.
        const found = await call({
          method: 'GET',
          path: res.path,
          params: { filters: [[`properties.${CREATE_ID_PROPERTY}`, '=', createId]], select: ['uuid'], limit: 2 },
          codec: listCodec(Resources.pick(res, ['uuid'])),
          what: `${res.name} list`,
          requestId: `${requestId}-lookup${n}`,
        })()
        if (E.isLeft(found)) return found
        const first = found.right.items[0] as { readonly uuid?: unknown } | undefined
        if (first !== undefined && typeof first.uuid === 'string') {
          return call({ method: 'GET', path: `${res.path}/${Request.segment(first.uuid)}`, codec: full, what: res.name })()
        }
      }
    }

  const currentOf = <C extends t.Props, R extends t.Props>(res: Resources.Resource<C, R>, exact = false) => {
    const full = Resources.codec(res, exact)
    return () => call({ method: 'GET', path: `${res.path}/current`, codec: full, what: res.name })
  }

  const keepServices = readable(Resources.KeepService)
  return {
    containerRequests: {
      ...readable(Resources.ContainerRequest),
      create: create(Resources.ContainerRequest),
      update: update(Resources.ContainerRequest),
      delete: remove(Resources.ContainerRequest),
    },
    containers: {
      ...readable(Resources.Container),
      current: currentOf(Resources.Container),
      update: update(Resources.Container),
    },
    collections: {
      ...readable(Resources.Collection),
      create: create(Resources.Collection),
      update: update(Resources.Collection),
      delete: remove(Resources.Collection),
    },
    keepServices: {
      ...keepServices,
      accessible: () =>
        call({ method: 'GET', path: 'keep_services/accessible', codec: listCodec(Resources.codec(Resources.KeepService)), what: 'KeepService list' }),
    },
    users: { current: currentOf(Resources.User) },
    apiClientAuthorizations: { current: currentOf(Resources.ApiClientAuthorization, true) },
    config,
    close: () => agent.close(),
  }
}
