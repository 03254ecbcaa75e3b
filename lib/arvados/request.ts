/**
 * Pure request building and retry policy for the Arvados REST API: how parameters are
 * encoded (structured values as JSON strings in the query; create/update bodies as JSON
 * under the resource's wrapper key), when a long GET becomes a POST with
 * `X-Http-Method-Override: GET`, which outcomes are retried (the union of what the official
 * Python and Go SDKs retry), and the backoff between attempts.
 *
 * @since 0.1.0
 */

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A parameter value: scalars as text, arrays/objects JSON-encoded. `undefined` is left out.
 *
 * @category models
 * @since 0.1.0
 */
export type Param = string | number | boolean | null | ReadonlyArray<unknown> | { readonly [k: string]: unknown } | undefined

/**
 * A request ready for the transport: method, path below the host, query text (without
 * `?`), headers to add, and the body text.
 *
 * @category models
 * @since 0.1.0
 */
export interface Prepared {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  readonly path: string
  readonly query: string
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string
}

/**
 * How many attempts a call gets and how long to wait between them.
 *
 * @category models
 * @since 0.1.0
 */
export interface RetryPolicy {
  /** Total attempts, including the first (>= 1). */
  readonly attempts: number
  /** Backoff base in milliseconds. */
  readonly baseMs: number
  /** Backoff cap in milliseconds. */
  readonly maxMs: number
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * The API base path.
 *
 * @category constants
 * @since 0.1.0
 */
export const BASE_PATH = '/arvados/v1/'

/**
 * A GET whose query string is at least this long is sent as a POST with
 * `X-Http-Method-Override: GET` and a form body (the Go SDK's threshold).
 *
 * @category constants
 * @since 0.1.0
 */
export const MAX_QUERY_LENGTH = 1000

/**
 * 10 attempts, 500 ms base, 30 s cap.
 *
 * @category constants
 * @since 0.1.0
 */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 10, baseMs: 500, maxMs: 30_000 }

/**
 * Node/undici error codes of failures without a response that are worth another attempt.
 *
 * @category constants
 * @since 0.1.0
 */
export const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

/**
 * Certificate verification failures: never retried (the Go SDK does not retry them either).
 *
 * @category constants
 * @since 0.1.0
 */
export const TLS_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

// -------------------------------------------------------------------------------------
// encoding
// -------------------------------------------------------------------------------------

/**
 * A parameter as text: strings as they are, numbers/booleans as JSON, arrays and objects as
 * JSON text (the API's documented form for `filters`, `order`, `select`, `replace_files`).
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeParam = (value: Exclude<Param, undefined>): string => (typeof value === 'string' ? value : JSON.stringify(value))

/**
 * `application/x-www-form-urlencoded` text of the defined parameters, in the given order.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeParams = (params: Readonly<Record<string, Param>>): string => {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.append(k, encodeParam(v))
  return search.toString()
}

/**
 * Builds a request. `path` is relative to `/arvados/v1/` (e.g. `container_requests/<uuid>`).
 * `body` (create/update attributes) is sent as `{"<wrapper>": body}`. A GET whose query is
 * `MAX_QUERY_LENGTH` or longer becomes a POST with `X-Http-Method-Override: GET`.
 *
 * @category encoding
 * @since 0.1.0
 */
export const prepare = (input: {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  readonly path: string
  readonly params?: Readonly<Record<string, Param>>
  readonly wrapper?: string
  readonly body?: Readonly<Record<string, unknown>>
}): Prepared => {
  const path = BASE_PATH + input.path
  const query = encodeParams(input.params ?? {})
  if (input.method === 'GET' && query.length >= MAX_QUERY_LENGTH) {
    return {
      method: 'POST',
      path,
      query: '',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-http-method-override': 'GET' },
      body: query,
    }
  }
  if (input.body === undefined) return { method: input.method, path, query, headers: {} }
  const payload = input.wrapper === undefined ? input.body : { [input.wrapper]: input.body }
  return { method: input.method, path, query, headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) }
}

/**
 * Percent-encodes one path segment (a uuid or portable data hash: `+` becomes `%2B`).
 *
 * @category encoding
 * @since 0.1.0
 */
export const segment = (s: string): string => encodeURIComponent(s)

// -------------------------------------------------------------------------------------
// retry policy
// -------------------------------------------------------------------------------------

/**
 * Statuses worth another attempt: 408, 409, 423 (the Python SDK's temporary 4xx), 429, and
 * every 5xx except 501 (Go SDK; Python retries all >= 500).
 *
 * @category retry
 * @since 0.1.0
 */
export const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 409 || status === 423 || status === 429 || (status >= 500 && status <= 599 && status !== 501)

/**
 * Whether a failure without a response (its Node/undici `code`) is worth another attempt.
 *
 * @category retry
 * @since 0.1.0
 */
export const isRetryableNetworkCode = (code: string | undefined): boolean => code !== undefined && RETRYABLE_NETWORK_CODES.has(code)

/**
 * Whether a failure without a response is a certificate problem.
 *
 * @category retry
 * @since 0.1.0
 */
export const isTlsCode = (code: string | undefined): boolean => code !== undefined && (TLS_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL'))

/**
 * The wait before attempt `attempt + 1` (attempt is 1-based): "nearly full jitter" exponential
 * backoff, `base + random * (base * 2^(attempt-1) - base)`, capped at `maxMs`. A server's
 * `Retry-After` (seconds) on 429/503 replaces it, also capped. `random` is in [0, 1).
 *
 * @category retry
 * @since 0.1.0
 */
export const backoff = (policy: RetryPolicy, attempt: number, random: number, retryAfterSeconds?: number): number => {
  if (retryAfterSeconds !== undefined && Number.isFinite(retryAfterSeconds) && retryAfterSeconds >= 0) {
    return Math.min(policy.maxMs, retryAfterSeconds * 1000)
  }
  const ceiling = policy.baseMs * 2 ** Math.max(0, attempt - 1)
  return Math.min(policy.maxMs, policy.baseMs + random * (ceiling - policy.baseMs))
}

/**
 * Parses a `Retry-After` header given in seconds (HTTP dates are ignored: the local backoff
 * is used instead).
 *
 * @category retry
 * @since 0.1.0
 */
export const parseRetryAfter = (header: string | undefined): number | undefined =>
  header !== undefined && /^\s*\d+\s*$/.test(header) ? Number(header.trim()) : undefined

// -------------------------------------------------------------------------------------
// request ids
// -------------------------------------------------------------------------------------

/**
 * A request id in the official clients' form: `<prefix>` (default `req-`) followed by 20
 * base-36 characters drawn from `bytes` (at least 20 random bytes).
 *
 * @category request ids
 * @since 0.1.0
 */
export const requestId = (bytes: Uint8Array, prefix = 'req-'): string => {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz'
  let out = prefix
  for (let i = 0; i < 20; i++) out += alphabet[(bytes[i] ?? 0) % 36]
  return out
}

/**
 * A source of request ids (`requestId`) that draws random bytes from `random` for 256 ids at a
 * time: a draw per request cost more than the id is worth at thousands of requests a second.
 *
 * @category request ids
 * @since 0.2.0
 */
export const requestIds = (random: (size: number) => Uint8Array, prefix = 'req-'): (() => string) => {
  const IDS = 256
  let bytes: Uint8Array = new Uint8Array(0)
  let at = 0
  return () => {
    if (at + 20 > bytes.length) {
      bytes = random(20 * IDS)
      at = 0
    }
    at += 20
    return requestId(bytes.subarray(at - 20, at), prefix)
  }
}

// -------------------------------------------------------------------------------------
// error bodies
// -------------------------------------------------------------------------------------

/**
 * The `errors` texts of an error body (`{"errors": [...]}`); a non-JSON body gives its first
 * line (at most 200 characters).
 *
 * @category error bodies
 * @since 0.1.0
 */
export const serverErrors = (bodyText: string): ReadonlyArray<string> => {
  try {
    const parsed: unknown = JSON.parse(bodyText)
    if (typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { errors?: unknown }).errors)) {
      return ((parsed as { errors: ReadonlyArray<unknown> }).errors).map((e) => (typeof e === 'string' ? e : JSON.stringify(e)))
    }
  } catch {
    // not JSON: fall through
  }
  const line = bodyText.split('\n').find((l) => l.trim() !== '')
  return line === undefined ? [] : [line.trim().slice(0, 200)]
}
