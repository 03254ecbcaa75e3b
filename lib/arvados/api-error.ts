/**
 * `ApiError`: every failure of an Arvados API call, as data. It names the HTTP status (0 when
 * no response arrived), the method, the API path (never the query string or a token), the
 * `X-Request-Id` the client sent (the same on every retry of one call, so server logs can be
 * searched for it), and the server's own error texts. Codes: `ARV_HTTP_<status>`,
 * `ARV_NETWORK` (no response: reset, refused, timeout), `ARV_TLS` (certificate not trusted),
 * `ARV_DECODE` (the response did not have the expected shape), `ARV_RESPONSE_TOO_LARGE` (a
 * success body past the client's cap), `ARV_CANCELLED` (the caller's signal aborted the call).
 *
 * @since 0.1.0
 */
import * as Errors from '../errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface ApiErrorFields {
  /** HTTP status; 0 when no response was received. */
  readonly status: number
  readonly method: string
  /** The path below the host, e.g. `/arvados/v1/container_requests/zzzzz-xvhdp-…`, without query. */
  readonly path: string
  readonly requestId: string
  /** The server's `errors` texts (redacted), empty when there were none. */
  readonly serverErrors: ReadonlyArray<string>
  /** How many attempts were made before giving up. */
  readonly attempts: number
}

/**
 * @category models
 * @since 0.1.0
 */
export type ApiError = Errors.SdkError & { readonly _tag: 'ApiError' } & ApiErrorFields

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  422: 'Unprocessable Entity',
  423: 'Locked',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

const HINTS: Readonly<Record<number, string>> = {
  401: 'the token was not accepted: check ARVADOS_API_TOKEN (it may have expired)',
  403: 'the token may lack the scope or permission for this call',
  404: 'the object does not exist or this token cannot read it',
  422: 'the server refused the request as invalid; read the server error above',
}

/**
 * An error for an HTTP response with a non-success status. `secrets` (the token) are
 * removed from the server texts.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromStatus = (fields: ApiErrorFields, secrets: ReadonlyArray<string>): ApiError => {
  const serverErrors = fields.serverErrors.map((e) => Errors.redact(e, secrets))
  const first = serverErrors[0]
  const text = STATUS_TEXT[fields.status] ?? 'error'
  const message = Errors.redact(
    `${fields.method} ${fields.path} returned ${fields.status} ${text} (request ${fields.requestId}${fields.attempts > 1 ? `, ${fields.attempts} attempts` : ''})${first === undefined ? '' : `: ${first}`}`,
    secrets,
  )
  const hint = HINTS[fields.status] ?? (fields.status >= 500 ? 'the server failed; retry later or ask the cluster admin with the request id' : undefined)
  return Errors.make('ApiError', `ARV_HTTP_${fields.status}`, message, { ...fields, serverErrors }, {
    details: serverErrors.slice(1),
    ...(hint === undefined ? {} : { hint }),
  })
}

/**
 * An error for a call that got no HTTP response (`code`: `ARV_NETWORK` or `ARV_TLS`).
 * `reason` is a short text (e.g. `ECONNRESET`); `cause` is kept only as redacted text.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromNetwork = (
  fields: Omit<ApiErrorFields, 'status' | 'serverErrors'>,
  reason: string,
  secrets: ReadonlyArray<string>,
  tls = false,
): ApiError => {
  const message = Errors.redact(
    `${fields.method} ${fields.path} failed without a response: ${reason} (request ${fields.requestId}${fields.attempts > 1 ? `, ${fields.attempts} attempts` : ''})`,
    secrets,
  )
  const hint = tls
    ? 'the server certificate is not trusted: install the cluster CA (SSL_CERT_FILE or /etc/arvados/ca-certificates.crt), or set ARVADOS_API_HOST_INSECURE=1 for a test cluster'
    : `check ARVADOS_API_HOST and the network; the call was retried with backoff${fields.attempts > 1 ? ` (${fields.attempts} attempts)` : ''} until its attempts or time budget ran out`
  return Errors.make('ApiError', tls ? 'ARV_TLS' : 'ARV_NETWORK', message, { ...fields, status: 0, serverErrors: [] }, { hint })
}

/**
 * An error for a success response whose body passed the size cap (`ARV_RESPONSE_TOO_LARGE`):
 * the rest was dropped unread.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromTooLarge = (fields: Omit<ApiErrorFields, 'serverErrors'>, maxBytes: number, secrets: ReadonlyArray<string>): ApiError =>
  Errors.make(
    'ApiError',
    'ARV_RESPONSE_TOO_LARGE',
    Errors.redact(`${fields.method} ${fields.path} returned a body larger than ${maxBytes} bytes (request ${fields.requestId}); it was not read`, secrets),
    { ...fields, serverErrors: [] },
    { hint: 'ask for less (a smaller list limit, select fewer fields) or raise the client option maxBodyBytes' },
  )

/**
 * A call cancelled by the caller's signal (`ARV_CANCELLED`); a request in flight was aborted.
 *
 * @category constructors
 * @since 0.1.0
 */
export const cancelled = (fields: Omit<ApiErrorFields, 'status' | 'serverErrors'>): ApiError =>
  Errors.make('ApiError', 'ARV_CANCELLED', `${fields.method} ${fields.path} was cancelled (request ${fields.requestId})`, { ...fields, status: 0, serverErrors: [] }, {
    hint: 'the run was cancelled (Ctrl-C or its AbortSignal)',
  })

/**
 * An error for a response whose body did not decode (`ARV_DECODE`). `problems` are paths and
 * expected types, never values (a response may hold a token).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromDecode = (fields: Omit<ApiErrorFields, 'serverErrors'>, what: string, problems: ReadonlyArray<string>, secrets: ReadonlyArray<string>): ApiError =>
  Errors.make(
    'ApiError',
    'ARV_DECODE',
    Errors.redact(`${fields.method} ${fields.path} returned a response that is not a valid ${what} (request ${fields.requestId})`, secrets),
    { ...fields, serverErrors: [] },
    { details: problems.slice(0, 10).map((p) => Errors.redact(p, secrets)), hint: 'the server speaks a different API version than this SDK expects' },
  )

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * @category guards
 * @since 0.1.0
 */
export const isApiError = (u: unknown): u is ApiError => Errors.isSdkError(u) && u._tag === 'ApiError'

/**
 * `true` for a 404 (the object is missing or unreadable).
 *
 * @category guards
 * @since 0.1.0
 */
export const isNotFound = (e: ApiError): boolean => e.status === 404
