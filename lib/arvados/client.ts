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
import * as Transport from './transport.js'
import * as Json from '../internal/json.js'
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
 * - `select`: only these fields in the answer (the API's `select` on create): a smaller answer
 *   to read and decode when the caller needs a few fields of a large object.
 *
 * @category models
 * @since 0.1.0
 */
export interface CreateOptions<K extends string = never> {
  readonly ensure_unique_name?: boolean
  readonly createId?: string
  readonly select?: ReadonlyArray<K>
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
    readonly create: <K extends Resources.Field<typeof Resources.ContainerRequest> = never>(
      attrs: ContainerRequestAttributes,
      options?: CreateOptions<K>,
    ) => TE.TaskEither<ApiError.ApiError, Item<typeof Resources.ContainerRequest, K>>
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
    readonly create: <K extends Resources.Field<typeof Resources.Collection> = never>(
      attrs: Attributes<typeof Resources.Collection>,
      options?: CreateOptions<K>,
    ) => TE.TaskEither<ApiError.ApiError, Item<typeof Resources.Collection, K>>
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
  /** The cluster's exported configuration (`GET /arvados/v1/config`: instance types, container settings), undecoded. */
  readonly clusterConfig: () => TE.TaskEither<ApiError.ApiError, unknown>
  /** The discovery document's settings the SDK reads (`websocketUrl`, ...). */
  readonly discovery: () => TE.TaskEither<ApiError.ApiError, Resources.Discovery>
  /** The configuration (host, TLS settings) this client talks with. */
  readonly config: Config.Config
  /** Closes pooled connections. */
  readonly close: () => Promise<void>
}

/**
 * Client options. Every call is bounded: each attempt by `timeoutMs` (connect + headers +
 * body), the whole call with its retries by `retry.totalMs`, every body by a size cap, and
 * `signal` aborts calls in flight at once (`ARV_CANCELLED`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Requests in flight at once (and pooled connections). Default 8. */
  readonly concurrency?: number
  /** Attempts, backoff and total time of one call. Default `DEFAULT_RETRY`. */
  readonly retry?: Partial<Transport.RetryBudget>
  /** PEM text to trust instead of `config.ca` / Node's roots. */
  readonly ca?: string
  /** Prefix of generated request ids. Default `req-`. */
  readonly requestIdPrefix?: string
  /** Deadline of one attempt: connect + headers + the whole body, ms. Default 120 000. */
  readonly timeoutMs?: number
  /** Connect timeout of one attempt, ms (within `timeoutMs`). Default 20 000. */
  readonly connectTimeoutMs?: number
  /** The largest success body read, bytes (a list page, a collection with its manifest). Default 256 MiB. */
  readonly maxBodyBytes?: number
  /** The largest error body read, bytes; the rest is dropped unread. Default 64 KiB. */
  readonly maxErrorBodyBytes?: number
  /** Aborting it cancels every call in flight and every wait between attempts. */
  readonly signal?: AbortSignal
  /** Hears each retry before its wait (`Transport.retryLine` renders the progress line). */
  readonly onRetry?: (event: Transport.RetryEvent) => void
  /** Source of randomness for backoff jitter, in [0, 1). Default `Math.random`. */
  readonly random?: () => number
}

/**
 * 10 attempts, 500 ms base, 30 s cap, at most 300 s from the first attempt to the end.
 *
 * @category constants
 * @since 0.1.0
 */
export const DEFAULT_RETRY: Transport.RetryBudget = { ...Request.DEFAULT_RETRY, totalMs: 300_000 }

/**
 * Default deadline of one attempt (connect + headers + body), ms.
 *
 * @category constants
 * @since 0.1.0
 */
export const DEFAULT_TIMEOUT_MS = 120_000

/**
 * Default cap of a success body, bytes.
 *
 * @category constants
 * @since 0.1.0
 */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024

/**
 * The property every create carries so an ambiguous failure can be resolved by lookup.
 *
 * @category constants
 * @since 0.1.0
 */
export const CREATE_ID_PROPERTY = 'arvados_crunch_create_id'

/**
 * Where the API server answers its discovery document.
 *
 * @category constants
 * @since 0.2.0
 */
export const DISCOVERY_PATH = '/discovery/v1/apis/arvados/v1/rest'

const PDH = /^[0-9a-f]{32}\+\d+$/
const TypeCtor = t.Type

// -------------------------------------------------------------------------------------
// transport
// -------------------------------------------------------------------------------------

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
  const budget: Transport.RetryBudget = { ...DEFAULT_RETRY, ...options.retry }
  const random = options.random ?? Math.random
  const deadlineMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const limits = {
    deadlineMs,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    maxErrorBodyBytes: options.maxErrorBodyBytes ?? Transport.MAX_ERROR_BODY_BYTES,
  }
  const signal = options.signal
  const ca = options.ca ?? config.ca
  const secrets = [config.apiToken]
  const origin = `https://${config.apiHost}`
  const agent = new Agent({
    connections: concurrency,
    keepAliveTimeout: 30_000,
    headersTimeout: deadlineMs,
    bodyTimeout: deadlineMs,
    connect: { rejectUnauthorized: !config.insecure, timeout: Math.min(deadlineMs, options.connectTimeoutMs ?? 20_000), ...(ca === undefined ? {} : { ca }) },
  })
  const limit = Limiter.make(concurrency)
  const newRequestId = Request.requestIds((n) => Crypto.randomBytes(n), options.requestIdPrefix ?? 'req-')

  const send = (p: Request.Prepared, requestId: string, leftMs: number): Promise<Transport.Outcome> =>
    limit(() =>
      Transport.exchange(
        agent,
        {
          origin,
          path: p.query === '' ? p.path : `${p.path}?${p.query}`,
          method: p.method,
          headers: { ...p.headers, authorization: `Bearer ${config.apiToken}`, 'x-request-id': requestId, accept: 'application/json' },
          ...(p.body === undefined ? {} : { body: p.body }),
        },
        { ...limits, deadlineMs: Math.min(deadlineMs, leftMs) },
        signal,
      ),
    )

  const failure = (apiPath: string, method: string, requestId: string, o: Transport.Outcome, n: number): ApiError.ApiError =>
    o._tag === 'Response'
      ? o.tooLarge
        ? ApiError.fromTooLarge({ status: o.status, method, path: apiPath, requestId, attempts: n }, limits.maxBodyBytes, secrets)
        : ApiError.fromStatus({ status: o.status, method, path: apiPath, requestId, serverErrors: Request.serverErrors(o.body.toString('utf8')), attempts: n }, secrets)
      : o._tag === 'Cancelled'
        ? ApiError.cancelled({ method, path: apiPath, requestId, attempts: n })
        : ApiError.fromNetwork({ method, path: apiPath, requestId, attempts: n }, o.reason, secrets, Request.isTlsCode(o.code))

  const decode = <A>(codec: t.Type<A, unknown, unknown>, what: string, text: string, method: string, apiPath: string, requestId: string, status: number, n: number): E.Either<ApiError.ApiError, A> => {
    const parsed = Json.parseBounded(text)
    if (E.isLeft(parsed)) return E.left(ApiError.fromDecode({ status, method, path: apiPath, requestId, attempts: n }, what, [`(root): ${parsed.left}`], secrets))
    // an answer that fits (nearly all) is checked with `is`, which allocates nothing; `decode`
    // builds a context per field (11% of the runner's allocations at 10,000 calls), so it runs
    // only to say what is wrong, and for exact codecs, whose decode strips unknown fields.
    // Every resource codec decodes to its input (no transforming codecs), so both agree.
    if ((codec as { readonly _tag?: string })._tag !== 'ExactType' && codec.is(parsed.right)) return E.right(parsed.right)
    const r = codec.decode(parsed.right)
    return E.isRight(r) ? E.right(r.right) : E.left(ApiError.fromDecode({ status, method, path: apiPath, requestId, attempts: n }, what, Resources.problems(r.left), secrets))
  }

  /** One attempt as a step of the retry loop: success decoded, a retryable failure retried. */
  const attempt = async <A>(p: Request.Prepared, method: string, requestId: string, n: number, leftMs: number, codec: t.Type<A, unknown, unknown>, what: string): Promise<Transport.Step<E.Either<ApiError.ApiError, A>>> => {
    const o = await send(p, requestId, leftMs)
    if (o._tag === 'Response' && o.status >= 200 && o.status < 300 && !o.tooLarge) {
      return { _tag: 'Done', value: decode(codec, what, o.body.toString('utf8'), method, p.path, requestId, o.status, n) }
    }
    const value = E.left(failure(p.path, method, requestId, o, n))
    if (!Transport.isRetryable(o) || (o._tag === 'Response' && o.tooLarge)) return { _tag: 'Done', value }
    const ra = Transport.header(o, 'retry-after')
    return { _tag: 'Retry', value, reason: Transport.describe(o), ...(o._tag === 'Response' ? { retryAfterSeconds: Request.parseRetryAfter(ra) } : {}) }
  }

  const loop = <A>(what: string, step: (n: number, leftMs: number) => Promise<Transport.Step<E.Either<ApiError.ApiError, A>>>): Promise<E.Either<ApiError.ApiError, A>> =>
    Transport.retrying(
      {
        what,
        budget,
        random,
        ...(signal === undefined ? {} : { signal }),
        ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }),
        cancelled: (last) => (E.isLeft(last) ? E.left(ApiError.cancelled(last.left)) : last),
      },
      step,
    )

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
    () => {
      const p = Request.prepare(input)
      const requestId = input.requestId ?? newRequestId()
      return loop(`${input.method} ${p.path}`, (n, left) => attempt(p, input.method, requestId, n, left, input.codec, input.what))
    }

  const listCodec = <A>(item: t.Type<A, unknown, unknown>) => Resources.list(item) as unknown as t.Type<Resources.List<A>, unknown, unknown>

  /** codecs of selected fields (and their lists), made once per resource and selection: a large run makes thousands of calls with the same few */
  const picked = new Map<string, { readonly item: t.Type<unknown, unknown, unknown>; readonly list: t.Type<unknown, unknown, unknown> }>()
  const pickOf = <C extends t.Props, R extends t.Props>(res: Resources.Resource<C, R>, select: ReadonlyArray<string>): { readonly item: t.Type<unknown, unknown, unknown>; readonly list: t.Type<unknown, unknown, unknown> } => {
    const key = `${res.name}\u0000${select.join('\u0000')}`
    let p = picked.get(key)
    if (p === undefined) {
      const item = Resources.pick(res, select as unknown as ReadonlyArray<Resources.Field<Resources.Resource<C, R>>>) as unknown as t.Type<unknown, unknown, unknown>
      picked.set(key, (p = { item, list: listCodec(item) as unknown as t.Type<unknown, unknown, unknown> }))
    }
    return p
  }

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
    const fullList = listCodec(full) as unknown as t.Type<unknown, unknown, unknown>
    const listCodecOf = (select: ReadonlyArray<string> | undefined): t.Type<unknown, unknown, unknown> => (select === undefined ? fullList : pickOf(res, select).list)
    const list = <K extends Resources.Field<Res> = never>(params: ListParams<K> = {}): TE.TaskEither<ApiError.ApiError, Resources.List<Item<Res, K>>> =>
      call({
        method: 'GET',
        path: res.path,
        params: listParams(params),
        codec: listCodecOf(params.select) as t.Type<Resources.List<Item<Res, K>>, unknown, unknown>,
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
  const create = <C extends t.Props, R extends t.Props>(res: Resources.Resource<C, R>) => {
    const whole = Resources.codec(res)
    return <K extends string = never>(attrs: Readonly<Record<string, unknown>>, options: CreateOptions<K> = {}): TE.TaskEither<ApiError.ApiError, Item<Resources.Resource<C, R>, K>> =>
    async () => {
      type Out = Item<Resources.Resource<C, R>, K>
      const select = options.select === undefined ? undefined : [...new Set<string>([...options.select, 'uuid'])]
      const full = (select === undefined ? whole : pickOf(res, select).item) as unknown as t.Type<Out, unknown, unknown>
      const createId = options.createId ?? Crypto.randomUUID()
      const given = attrs['properties']
      const properties = { ...(typeof given === 'object' && given !== null ? (given as Record<string, unknown>) : {}), [CREATE_ID_PROPERTY]: createId }
      const p = Request.prepare({
        method: 'POST',
        path: res.path,
        params: { ensure_unique_name: options.ensure_unique_name, select },
        wrapper: res.wrapper,
        body: { ...attrs, properties },
      })
      const requestId = newRequestId()
      return loop(`POST ${p.path}`, async (n, left) => {
        if (n > 1) {
          // The failed attempt may have created the object: look before creating again.
          const found = await call({
            method: 'GET',
            path: res.path,
            params: { filters: [[`properties.${CREATE_ID_PROPERTY}`, '=', createId]], select: ['uuid'], limit: 2 },
            codec: pickOf(res, ['uuid']).list as t.Type<Resources.List<{ readonly uuid?: unknown }>, unknown, unknown>,
            what: `${res.name} list`,
            requestId: `${requestId}-lookup${n - 1}`,
          })()
          if (E.isLeft(found)) return { _tag: 'Done', value: found }
          const first = found.right.items[0] as { readonly uuid?: unknown } | undefined
          if (first !== undefined && typeof first.uuid === 'string') {
            return { _tag: 'Done', value: await call({ method: 'GET', path: `${res.path}/${Request.segment(first.uuid)}`, params: { select }, codec: full, what: res.name })() }
          }
        }
        return attempt(p, 'POST', requestId, n, left, full, res.name)
      })
    }
  }

  const currentOf = <C extends t.Props, R extends t.Props>(res: Resources.Resource<C, R>, exact = false) => {
    const full = Resources.codec(res, exact)
    return () => call({ method: 'GET', path: `${res.path}/current`, codec: full, what: res.name })
  }

  const discovery = (): TE.TaskEither<ApiError.ApiError, Resources.Discovery> => () => {
    const p: Request.Prepared = { method: 'GET', path: DISCOVERY_PATH, query: '', headers: {} }
    const requestId = newRequestId()
    return loop(`GET ${DISCOVERY_PATH}`, (n, left) => attempt(p, 'GET', requestId, n, left, Resources.Discovery as t.Type<Resources.Discovery, unknown, unknown>, 'discovery document'))
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
    clusterConfig: () => call({ method: 'GET', path: 'config', codec: t.unknown, what: 'cluster config' }),
    discovery,
    config,
    close: () => agent.close(),
  }
}
