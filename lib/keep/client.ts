/**
 * The Keep block client over undici: block GET and PUT against the keepstore / keepproxy
 * services the API lists (`keep_services/accessible`, or `ARVADOS_KEEP_SERVICES`), tried in
 * the rendezvous order the official clients compute (`serviceOrder`). PUT returns the signed
 * locator the service answers with and counts replicas (`X-Keep-Desired-Replicas` sent,
 * `X-Keep-Replicas-Stored` read). Every block read is checked against its md5 and size: a
 * mismatch is an error (the next service is tried), never data. 5xx, timeouts and resets are
 * retried with backoff. Requests in flight are bounded, and `putStream` uploads a stream of
 * any length holding at most `concurrency + 1` blocks in memory.
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import { Agent } from 'undici'
import type * as ArvadosClient from '../arvados/client.js'
import type * as Config from '../arvados/config.js'
import * as Request from '../arvados/request.js'
import * as Transport from '../arvados/transport.js'
import * as Errors from '../errors.js'
import * as Locator from './locator.js'
import * as Limiter from '../internal/limiter.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A Keep service: its uuid (for rendezvous weights), base URL ending in `/`, type (`disk`,
 * `proxy`, ...) and whether it refuses writes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Service {
  readonly uuid: string
  readonly root: string
  readonly type: string
  readonly readOnly: boolean
}

/**
 * One service's outcome in a failed operation (for error details).
 *
 * @category models
 * @since 0.1.0
 */
export interface Attempt {
  readonly service: string
  readonly outcome: string
}

/**
 * @category models
 * @since 0.1.0
 */
export type KeepError = Errors.SdkError & {
  readonly _tag: 'KeepError'
  /** `<md5>+<size>` of the block (never its signature). */
  readonly block: string
  readonly attempts: ReadonlyArray<Attempt>
}

/**
 * The result of a PUT: the signed locator and how many replicas the services confirmed.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stored {
  readonly locator: Locator.Locator
  readonly replicas: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface PutOptions {
  /** Replicas wanted (default: the client's `replicas`, itself default 2 like the Python SDK). */
  readonly replicas?: number
  readonly storageClasses?: ReadonlyArray<string>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface KeepClient {
  /** The services in use (fetched once from the API, or from `ARVADOS_KEEP_SERVICES`). */
  readonly services: () => TE.TaskEither<KeepError, ReadonlyArray<Service>>
  /** Reads one block; its md5 and size are verified. */
  readonly get: (locator: Locator.Locator | string) => TE.TaskEither<KeepError, Uint8Array>
  /** Writes one block (at most 64 MiB). */
  readonly put: (data: Uint8Array, options?: PutOptions) => TE.TaskEither<KeepError, Stored>
  /**
   * Cuts a byte stream into blocks of `blockSize` (default 64 MiB) and writes them with at
   * most `concurrency` blocks in flight; returns the signed locators in order and the total
   * size.
   */
  readonly putStream: (
    source: AsyncIterable<Uint8Array>,
    options?: PutOptions & { readonly blockSize?: number },
  ) => TE.TaskEither<KeepError, { readonly locators: ReadonlyArray<Locator.Locator>; readonly size: number }>
  readonly close: () => Promise<void>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The API client, to list `keep_services/accessible` (not needed with `services` or `config.keepServices`). */
  readonly api?: Pick<ArvadosClient.ArvadosClient, 'keepServices'>
  /** Fixed services (tests, or an override). */
  readonly services?: ReadonlyArray<Service>
  /** Requests (and blocks in flight for `putStream`) at once. Default 4. */
  readonly concurrency?: number
  /** Default replicas for a PUT. Default 2. */
  readonly replicas?: number
  /** Attempts, backoff and total time per block and service. Default `DEFAULT_RETRY`. */
  readonly retry?: Partial<Transport.RetryBudget>
  readonly ca?: string
  /** Deadline of one attempt: connect + headers + the whole block, ms. Default 300 000. */
  readonly timeoutMs?: number
  /** Connect timeout of one attempt, ms. Default 20 000. */
  readonly connectTimeoutMs?: number
  /** The largest error body read, bytes; the rest is dropped unread. Default 64 KiB. */
  readonly maxErrorBodyBytes?: number
  /** Aborting it cancels every request in flight and every wait (`ARV_CANCELLED`). */
  readonly signal?: AbortSignal
  /** Hears each retry before its wait (`Transport.retryLine(e, 'Keep')` renders it). */
  readonly onRetry?: (event: Transport.RetryEvent) => void
  readonly random?: () => number
  readonly requestIdPrefix?: string
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * Retry policy for block requests: 10 attempts per service (as the API client), 1 s base, 30 s
 * cap, at most 600 s per block and service. With 4 attempts, one service failing 20% of its
 * requests lost about one block read in 600 (0.2^4): the fault soak's 1,000-call run failed on
 * one.
 *
 * @category constants
 * @since 0.1.0
 */
export const DEFAULT_RETRY: Transport.RetryBudget = { attempts: 10, baseMs: 1_000, maxMs: 30_000, totalMs: 600_000 }

/**
 * Default deadline of one block request (connect + headers + body), ms.
 *
 * @category constants
 * @since 0.1.0
 */
export const DEFAULT_TIMEOUT_MS = 300_000

// -------------------------------------------------------------------------------------
// pure helpers
// -------------------------------------------------------------------------------------

const md5 = (data: Uint8Array | string): string => Crypto.createHash('md5').update(data).digest('hex')

/**
 * Rendezvous order of `services` for a block: weight = md5hex(block md5 + last 15 characters
 * of the service uuid), highest weight first (as the Python and Go clients compute it).
 *
 * @category rendezvous
 * @since 0.1.0
 */
export const serviceOrder = <S extends { readonly uuid: string }>(hash: string, services: ReadonlyArray<S>): ReadonlyArray<S> =>
  services
    .map((s) => ({ s, w: md5(hash + s.uuid.slice(-15)) }))
    .sort((a, b) => (a.w < b.w ? 1 : a.w > b.w ? -1 : 0))
    .map((x) => x.s)

/**
 * Services from `ARVADOS_KEEP_SERVICES` base URLs; they get the uuids
 * `00000-bi6l4-<index as 15 hex digits>` (as the Python client names them) for rendezvous.
 *
 * @category constructors
 * @since 0.1.0
 */
export const servicesFromUrls = (urls: ReadonlyArray<string>): ReadonlyArray<Service> =>
  urls.map((url, i) => ({ uuid: `00000-bi6l4-${i.toString(16).padStart(15, '0')}`, root: url.endsWith('/') ? url : `${url}/`, type: 'disk', readOnly: false }))

/**
 * Services from a `keep_services` list: `http(s)://host:port/` (IPv6 hosts bracketed).
 *
 * @category constructors
 * @since 0.1.0
 */
export const servicesFromApi = (
  items: ReadonlyArray<{ readonly uuid: string; readonly service_host: string; readonly service_port: number; readonly service_ssl_flag: boolean; readonly service_type: string; readonly read_only?: boolean | null }>,
): ReadonlyArray<Service> =>
  items.map((k) => {
    const host = k.service_host.includes(':') && !k.service_host.startsWith('[') ? `[${k.service_host}]` : k.service_host
    return { uuid: k.uuid, root: `${k.service_ssl_flag ? 'https' : 'http'}://${host}:${k.service_port}/`, type: k.service_type, readOnly: k.read_only === true }
  })

/**
 * The services to try for a block: those named by `+K@<service uuid>` hints first, then the
 * rest in rendezvous order.
 *
 * @category rendezvous
 * @since 0.1.0
 */
export const probeOrder = (locator: Locator.Locator, services: ReadonlyArray<Service>): ReadonlyArray<Service> => {
  const hinted = Locator.locationHints(locator)
    .map((h) => services.find((s) => s.uuid === h))
    .filter((s): s is Service => s !== undefined)
  return [...hinted, ...serviceOrder(locator.hash, services).filter((s) => !hinted.includes(s))]
}

/**
 * A `KeepError` (`ARV_KEEP_*`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const error = (code: string, message: string, block: string, attempts: ReadonlyArray<Attempt>, hint?: string, secrets: ReadonlyArray<string> = []): KeepError =>
  Errors.make('KeepError', code, Errors.redact(message, secrets), { block, attempts }, {
    details: attempts.map((a) => Errors.redact(`${a.service}: ${a.outcome}`, secrets)),
    ...(hint === undefined ? {} : { hint }),
  })

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Builds a Keep client. Services come from `options.services`, else `config.keepServices`
 * (`ARVADOS_KEEP_SERVICES`), else `options.api.keepServices.accessible()` (fetched once).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (config: Config.Config, options: Options = {}): KeepClient => {
  const concurrency = Math.max(1, options.concurrency ?? 4)
  const budget: Transport.RetryBudget = { ...DEFAULT_RETRY, ...options.retry }
  const attempts = Math.max(1, Math.floor(budget.attempts))
  const defaultReplicas = Math.max(1, options.replicas ?? 2)
  const random = options.random ?? Math.random
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const maxErrorBodyBytes = options.maxErrorBodyBytes ?? Transport.MAX_ERROR_BODY_BYTES
  const signal = options.signal
  const ca = options.ca ?? config.ca
  const secrets = [config.apiToken]
  const agent = new Agent({
    connections: concurrency,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { rejectUnauthorized: !config.insecure, timeout: Math.min(timeoutMs, options.connectTimeoutMs ?? 20_000), ...(ca === undefined ? {} : { ca }) },
  })
  const loop = <A>(what: string, step: (n: number, leftMs: number) => Promise<Transport.Step<A>>): Promise<A> =>
    Transport.retrying({ what, budget, random, ...(signal === undefined ? {} : { signal }), ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }) }, step)
  const cancelled = (block: string, requestId: string, log: ReadonlyArray<Attempt>): KeepError =>
    error('ARV_CANCELLED', `the Keep request for block ${block} was cancelled (request ${requestId})`, block, log, 'the run was cancelled (Ctrl-C or its AbortSignal)')
  const limit = Limiter.make(concurrency)
  const newRequestId = Request.requestIds((n) => Crypto.randomBytes(n), options.requestIdPrefix ?? 'req-')

  let servicesPromise: Promise<E.Either<KeepError, ReadonlyArray<Service>>> | undefined
  const services = (): TE.TaskEither<KeepError, ReadonlyArray<Service>> => () => {
    if (servicesPromise !== undefined) return servicesPromise
    const fixed = options.services ?? (config.keepServices === undefined ? undefined : servicesFromUrls(config.keepServices))
    if (fixed !== undefined) return (servicesPromise = Promise.resolve(E.right(fixed)))
    const api = options.api
    if (api === undefined) {
      return Promise.resolve(E.left(error('ARV_KEEP_NO_SERVICES', 'no Keep services: neither an API client nor ARVADOS_KEEP_SERVICES was given', '', [], 'pass { api } to Keep.make')))
    }
    servicesPromise = api.keepServices
      .accessible()()
      .then((r) => {
        if (E.isLeft(r)) {
          servicesPromise = undefined
          return E.left(error('ARV_KEEP_NO_SERVICES', `cannot list Keep services: ${r.left.message}`, '', [], r.left.hint, secrets))
        }
        const list = servicesFromApi(r.right.items)
        if (list.length === 0) {
          servicesPromise = undefined
          return E.left(error('ARV_KEEP_NO_SERVICES', 'the API lists no accessible Keep services', '', [], 'ask the cluster admin to register a keepstore or keepproxy'))
        }
        return E.right(list)
      })
    return servicesPromise
  }

  const send = (method: 'GET' | 'PUT', url: string, requestId: string, body: Uint8Array | undefined, extra: Readonly<Record<string, string>>, maxBytes: number, leftMs: number): Promise<Transport.Outcome> =>
    limit(async () => {
      const u = new URL(url)
      const o = await Transport.exchange(
        agent,
        {
          origin: u.origin,
          path: u.pathname,
          method,
          headers: { ...extra, authorization: `Bearer ${config.apiToken}`, 'x-request-id': requestId },
          ...(body === undefined ? {} : { body: Buffer.from(body.buffer, body.byteOffset, body.byteLength) }),
        },
        { deadlineMs: Math.min(timeoutMs, leftMs), maxBodyBytes: maxBytes, maxErrorBodyBytes },
        signal,
      )
      return o._tag === 'NoResponse' ? { ...o, reason: Errors.redact(o.reason, secrets) } : o
    })

  const get =
    (input: Locator.Locator | string): TE.TaskEither<KeepError, Uint8Array> =>
    async () => {
      const parsed = typeof input === 'string' ? Locator.parse(input) : E.right(input)
      if (E.isLeft(parsed)) return E.left(error('ARV_KEEP_LOCATOR', parsed.left.message, '', []))
      const locator = parsed.right
      const block = Locator.key(locator)
      if (Locator.isEmptyBlock(locator)) return E.right(new Uint8Array(0))
      const all = await services()()
      if (E.isLeft(all)) return all
      const order = probeOrder(locator, all.right)
      const requestId = newRequestId()
      const text = Locator.format(locator)
      const log: Array<Attempt> = []
      const kinds = new Map<string, 'corrupt' | 'missing' | 'denied' | 'other'>()
      let pending: ReadonlyArray<Service> = order
      const live = signal?.aborted !== true
      const found = await loop(`Keep GET ${block}`, async (round, left): Promise<Transport.Step<E.Either<KeepError, Uint8Array> | undefined>> => {
        const retry: Array<Service> = []
        let reason = ''
        for (const s of pending) {
          const o = await send('GET', s.root + text, requestId, undefined, {}, locator.size, left)
          if (o._tag === 'Cancelled') return { _tag: 'Done', value: E.left(cancelled(block, requestId, log)) }
          if (o._tag === 'Response' && o.status === 200) {
            const body = o.body
            if (!o.tooLarge && body.byteLength === locator.size && md5(body) === locator.hash) return { _tag: 'Done', value: E.right(new Uint8Array(body.buffer, body.byteOffset, body.byteLength)) }
            log.push({ service: s.root, outcome: o.tooLarge ? `returned more than ${locator.size} bytes` : `returned ${body.byteLength} bytes whose md5 does not match` })
            kinds.set(s.root, 'corrupt')
            continue
          }
          log.push({ service: s.root, outcome: Transport.describe(o) })
          const status = o._tag === 'Response' ? o.status : 0
          kinds.set(s.root, status === 404 || status === 410 ? 'missing' : status === 401 || status === 403 ? 'denied' : 'other')
          if (Transport.isRetryable(o) && round < attempts) {
            retry.push(s)
            reason = Transport.describe(o)
          }
        }
        pending = retry
        return retry.length === 0 ? { _tag: 'Done', value: undefined } : { _tag: 'Retry', value: undefined, reason }
      })
      if (found !== undefined) return found
      if (live && Transport.isAborted(signal)) return E.left(cancelled(block, requestId, log))
      const outcomes = [...kinds.values()]
      const corrupt = outcomes.includes('corrupt')
      const allMissing = outcomes.length > 0 && outcomes.every((k) => k === 'missing')
      const denied = outcomes.includes('denied')
      const [code, hint] = corrupt
        ? (['ARV_KEEP_CORRUPT', 'a service returned data that does not match the block hash; report it to the cluster admin'] as const)
        : allMissing
          ? (['ARV_KEEP_NOT_FOUND', 'the block is not stored on any accessible service'] as const)
          : denied
            ? (['ARV_KEEP_PERMISSION', 'the locator signature is missing, expired or for another token: read the collection again to get fresh signatures'] as const)
            : (['ARV_KEEP_GET', 'the Keep services failed; retry later'] as const)
      return E.left(error(code, `cannot read block ${block} (request ${requestId}) from ${order.length} Keep service(s)`, block, log, hint, secrets))
    }

  const put =
    (data: Uint8Array, putOptions: PutOptions = {}): TE.TaskEither<KeepError, Stored> =>
    async () => {
      const hash = md5(data)
      const block = `${hash}+${data.byteLength}`
      if (data.byteLength > Locator.MAX_BLOCK_SIZE) {
        return E.left(error('ARV_KEEP_TOO_LARGE', `block ${block} is larger than the 64 MiB Keep block limit`, block, [], 'cut data into blocks of at most 67108864 bytes (putStream does this)'))
      }
      const wanted = Math.max(1, putOptions.replicas ?? defaultReplicas)
      // The empty block is never stored: every service has it, and it needs no signature.
      if (data.byteLength === 0) return E.right({ locator: Locator.EMPTY_BLOCK, replicas: wanted })
      const all = await services()()
      if (E.isLeft(all)) return all
      const writable = serviceOrder(hash, all.right.filter((s) => !s.readOnly))
      const requestId = newRequestId()
      const log: Array<Attempt> = []
      let stored = 0
      let signed: Locator.Locator | undefined
      let fatal: Attempt | undefined
      let next = 0
      let stopped = false
      const live = signal?.aborted !== true
      const writeTo = (s: Service): Promise<void> =>
        loop(`Keep PUT ${block}`, async (_n, left): Promise<Transport.Step<void>> => {
          const headers: Record<string, string> = { 'x-keep-desired-replicas': String(wanted - stored), 'content-type': 'application/octet-stream' }
          if (putOptions.storageClasses !== undefined && putOptions.storageClasses.length > 0) headers['x-keep-storage-classes'] = putOptions.storageClasses.join(', ')
          const o = await send('PUT', s.root + hash, requestId, data, headers, 4096, left)
          if (o._tag === 'Cancelled') {
            stopped = true
            return { _tag: 'Done', value: undefined }
          }
          if (o._tag === 'Response' && o.status === 200) {
            const text = o.body.toString('utf8').trim()
            const loc = Locator.parse(text)
            if (E.isLeft(loc) || loc.right.hash !== hash || loc.right.size !== data.byteLength) {
              log.push({ service: s.root, outcome: 'answered with a locator for another block' })
              return { _tag: 'Done', value: undefined }
            }
            const count = Number(Transport.header(o, 'x-keep-replicas-stored') ?? '1')
            stored += Number.isFinite(count) && count > 0 ? count : 1
            if (signed === undefined || Locator.signature(signed) === undefined) signed = loc.right
            return { _tag: 'Done', value: undefined }
          }
          log.push({ service: s.root, outcome: Transport.describe(o) })
          if (o._tag === 'Response' && (o.status === 400 || o.status === 401 || o.status === 403 || o.status === 413)) {
            fatal = { service: s.root, outcome: Transport.describe(o) }
            return { _tag: 'Done', value: undefined }
          }
          return Transport.isRetryable(o) ? { _tag: 'Retry', value: undefined, reason: Transport.describe(o) } : { _tag: 'Done', value: undefined }
        })
      while (stored < wanted && fatal === undefined && !stopped && next < writable.length) {
        const wave = writable.slice(next, next + Math.max(1, wanted - stored))
        next += wave.length
        await Promise.all(wave.map(writeTo))
      }
      if (stopped || (live && Transport.isAborted(signal))) return E.left(cancelled(block, requestId, log))
      if (signed !== undefined && stored >= wanted) return E.right({ locator: signed, replicas: stored })
      if (fatal !== undefined) {
        const status = fatal.outcome
        const hint =
          status === 'HTTP 401' || status === 'HTTP 403' ? 'the token was refused by Keep: check ARVADOS_API_TOKEN' : status === 'HTTP 413' ? 'the block is too large' : 'the service rejected the block (md5 or length mismatch in transit)'
        return E.left(error('ARV_KEEP_PUT', `cannot write block ${block} (request ${requestId}): ${fatal.service} answered ${status}`, block, log, hint, secrets))
      }
      if (signed !== undefined) {
        return E.left(
          Errors.make(
            'KeepError',
            'ARV_KEEP_REPLICAS',
            `wrote block ${block} with ${stored} of ${wanted} wanted replicas (request ${requestId})`,
            { block, attempts: log, stored, wanted, locator: signed },
            { details: log.map((a) => Errors.redact(`${a.service}: ${a.outcome}`, secrets)), hint: 'fewer writable Keep services answered than replicas were asked for; ask for fewer replicas (the crunch dispatcher: CRUNCH_KEEP_REPLICAS=1 on a single-copy cluster) or retry later' },
          ),
        )
      }
      return E.left(error('ARV_KEEP_PUT', `cannot write block ${block} to any of ${writable.length} writable Keep service(s) (request ${requestId})`, block, log, 'the Keep services failed; retry later', secrets))
    }

  const putStream =
    (source: AsyncIterable<Uint8Array>, streamOptions: PutOptions & { readonly blockSize?: number } = {}) =>
    async (): Promise<E.Either<KeepError, { readonly locators: ReadonlyArray<Locator.Locator>; readonly size: number }>> => {
      const blockSize = Math.min(Locator.MAX_BLOCK_SIZE, Math.max(1, streamOptions.blockSize ?? Locator.MAX_BLOCK_SIZE))
      const results: Array<Promise<E.Either<KeepError, Stored>>> = []
      const inFlight = new Set<Promise<unknown>>()
      let failed: KeepError | undefined
      let size = 0
      let buf = Buffer.allocUnsafe(blockSize)
      let fill = 0
      const flush = async (): Promise<void> => {
        while (inFlight.size >= concurrency) await Promise.race(inFlight)
        const data = new Uint8Array(buf.buffer, buf.byteOffset, fill)
        const p = put(data, streamOptions)().then((r) => {
          if (E.isLeft(r) && failed === undefined) failed = r.left
          return r
        })
        const tracked = p.finally(() => inFlight.delete(tracked))
        inFlight.add(tracked)
        results.push(p)
        buf = Buffer.allocUnsafe(blockSize)
        fill = 0
      }
      for await (const chunk of source) {
        let off = 0
        while (off < chunk.byteLength) {
          if (failed !== undefined) break
          const n = Math.min(blockSize - fill, chunk.byteLength - off)
          buf.set(chunk.subarray(off, off + n), fill)
          fill += n
          off += n
          size += n
          if (fill === blockSize) await flush()
        }
        if (failed !== undefined) break
      }
      if (fill > 0 && failed === undefined) await flush()
      const done = await Promise.all(results)
      if (failed !== undefined) return E.left(failed)
      const locators: Array<Locator.Locator> = []
      for (const r of done) {
        if (E.isLeft(r)) return r
        locators.push(r.right.locator)
      }
      return E.right({ locators, size })
    }

  return { services, get, put, putStream, close: () => agent.close() }
}
