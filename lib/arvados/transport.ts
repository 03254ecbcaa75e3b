/**
 * The one HTTP edge both clients (Arvados API, Keep) send through: one exchange with an
 * overall deadline and a body cap, and one retry loop bounded by attempts and total time.
 *
 * - `exchange`: one request. The deadline covers connect, headers and the whole body (a
 *   server that answers one byte a second is cut off when it passes). A body is streamed and
 *   kept only up to its cap: an error body up to `maxErrorBodyBytes` (the rest is dropped
 *   with the connection), a success body up to the caller's limit (past it: `tooLarge`).
 *   The caller's `signal` (the run's) aborts the request at once, mid-connect or mid-body;
 *   a request begun after it fired is sent as usual (a run's cleanup after Ctrl-C).
 * - `retrying`: the loop. Stops on success, a final failure, `attempts` attempts, when the
 *   next wait would pass `totalMs` since the first attempt, or on cancellation; before each
 *   wait it reports the retry (`onRetry`) so a caller can print "API not reachable, retrying
 *   for up to N s". Waits are exponential with jitter (`Request.backoff`), cut short by the
 *   signal.
 *
 * Why not undici's retry interceptor: a create must look its object up before it is sent
 * again (no duplicates), Keep tries several services per round, and both need the total-time
 * budget, the cancellation and the progress report; the interceptor has none of these hooks.
 *
 * @since 0.1.0
 */
import type { Dispatcher } from 'undici'
import * as Request from './request.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Bounds of one exchange.
 *
 * @category models
 * @since 0.1.0
 */
export interface Limits {
  /** Connect + headers + body of one attempt, ms. */
  readonly deadlineMs: number
  /** The most bytes of an error (non-2xx) body kept; the rest is never read. */
  readonly maxErrorBodyBytes: number
}

/**
 * How one exchange ended.
 *
 * - `Response`: a status, headers and the body read (cut at its cap: `tooLarge`).
 * - `NoResponse`: no full response (`code`: Node/undici code, `DEADLINE_PASSED` when the
 *   deadline passed); `reason` is short text for messages.
 * - `Cancelled`: the caller's signal aborted it.
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | {
      readonly _tag: 'Response'
      readonly status: number
      readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
      readonly body: Buffer
      readonly tooLarge: boolean
    }
  | { readonly _tag: 'NoResponse'; readonly code: string | undefined; readonly reason: string }
  | { readonly _tag: 'Cancelled' }

/**
 * What a retry reports before it waits.
 *
 * @category models
 * @since 0.1.0
 */
export interface RetryEvent {
  /** What is retried, e.g. `GET /arvados/v1/collections/…` or `Keep PUT <block>`. */
  readonly what: string
  /** The attempt that just failed (1-based). */
  readonly attempt: number
  /** Why it failed (`HTTP 503`, `ECONNREFUSED`, `no complete response within 30 s`). */
  readonly reason: string
  /** The wait before the next attempt, ms. */
  readonly waitMs: number
  /** Time left in the retry budget after the wait, ms. */
  readonly remainingMs: number
}

/**
 * A retry policy with a total-time budget.
 *
 * @category models
 * @since 0.1.0
 */
export interface RetryBudget extends Request.RetryPolicy {
  /** The most time from the first attempt to the start of the last, ms. */
  readonly totalMs: number
}

/**
 * One step of a retried operation: `Done` ends the loop with its value; `Retry` carries the
 * value to return if no attempt is left, why it failed, and a server's `Retry-After`.
 *
 * @category models
 * @since 0.1.0
 */
export type Step<A> =
  | { readonly _tag: 'Done'; readonly value: A }
  | { readonly _tag: 'Retry'; readonly value: A; readonly reason: string; readonly retryAfterSeconds?: number | undefined }

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * The code of a `NoResponse` whose deadline passed.
 *
 * @category constants
 * @since 0.1.0
 */
export const DEADLINE_CODE = 'DEADLINE_PASSED'

/**
 * Error bodies are read up to 64 KiB (the server's message is in the first lines).
 *
 * @category constants
 * @since 0.1.0
 */
export const MAX_ERROR_BODY_BYTES = 64 * 1024

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const codeOf = (e: unknown): string | undefined => {
  let cur: unknown = e
  for (let i = 0; i < 4 && typeof cur === 'object' && cur !== null; i++) {
    const code = (cur as { code?: unknown }).code
    if (typeof code === 'string' && code !== 'UND_ERR' && code !== 'UND_ERR_SOCKET') return code
    cur = (cur as { cause?: unknown }).cause
  }
  const top = (e as { code?: unknown } | null)?.code
  return typeof top === 'string' ? top : undefined
}

/**
 * A duration as people read it (`250 ms`, `2.5 s`, `42 s`).
 *
 * @category utils
 * @since 0.1.0
 */
export const seconds = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : `${ms >= 10_000 ? Math.round(ms / 1000) : Math.round(ms / 100) / 10} s`)

/**
 * The one progress line of a retry: `API not reachable (ECONNREFUSED on GET /arvados/v1/…),
 * retrying for up to 58 s`.
 *
 * @category utils
 * @since 0.1.0
 */
export const retryLine = (e: RetryEvent, service = 'API'): string =>
  `${service} not reachable (${e.reason} on ${e.what}, attempt ${e.attempt}), retrying for up to ${seconds(e.remainingMs + e.waitMs)}`

/**
 * Whether an outcome is worth another attempt: retryable statuses, network failures (not
 * certificate problems), passed deadlines; never a cancellation.
 *
 * @category utils
 * @since 0.1.0
 */
export const isRetryable = (o: Outcome): boolean =>
  o._tag === 'Response'
    ? Request.isRetryableStatus(o.status)
    : o._tag === 'NoResponse' && !Request.isTlsCode(o.code) && (o.code === DEADLINE_CODE || o.code === undefined || Request.isRetryableNetworkCode(o.code))

/**
 * Short text of an outcome for messages.
 *
 * @category utils
 * @since 0.1.0
 */
export const describe = (o: Outcome): string => (o._tag === 'Response' ? `HTTP ${o.status}` : o._tag === 'NoResponse' ? o.reason : 'cancelled')

/**
 * One header's first value.
 *
 * @category utils
 * @since 0.1.0
 */
export const header = (o: Outcome, name: string): string | undefined => {
  if (o._tag !== 'Response') return undefined
  const v = o.headers[name]
  return Array.isArray(v) ? (v[0] as string | undefined) : (v as string | undefined)
}

/**
 * Whether `signal` has fired (a function, so a check after an await is not narrowed away).
 *
 * @category utils
 * @since 0.1.0
 */
export const isAborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true

/**
 * Waits `ms`, or less when `signal` aborts.
 *
 * @category utils
 * @since 0.1.0
 */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted === true) return resolve()
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * Sends one request through `dispatcher` and reads its body within `limits`; a success body
 * is kept up to `maxBodyBytes`. Never rejects.
 *
 * Written on undici's handler interface (`dispatch`) rather than `request`: the body arrives
 * as chunks to a callback, with no stream, async iterator or AbortController per request; the
 * deadline and the caller's signal abort through the request's own controller. This is the
 * cost every API and Keep request pays, thousands of times in a large run.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const exchange = (
  dispatcher: Dispatcher,
  request: { readonly origin: string; readonly path: string; readonly method: Dispatcher.HttpMethod; readonly headers: Readonly<Record<string, string>>; readonly body?: string | Buffer },
  limits: Limits & { readonly maxBodyBytes: number },
  signal?: AbortSignal,
): Promise<Outcome> =>
  new Promise<Outcome>((resolve) => {
    // a signal that fired before this exchange began does not stop it (see `retrying`)
    const live = signal?.aborted === true ? undefined : signal
    let settled = false
    let timedOut = false
    let controller: Dispatcher.DispatchController | undefined
    /** an abort asked for before the request reached a connection: done when it does */
    let abortWanted = false
    let status = 0
    let headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>> = {}
    let ok = false
    let cap = limits.maxBodyBytes
    let chunks: Array<Buffer> = []
    let kept = 0
    let tooLarge = false

    const abort = (): void => {
      if (controller === undefined) abortWanted = true
      else if (!controller.aborted) controller.abort(new Error('aborted by arvados-crunch'))
    }
    const settle = (o: Outcome): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      live?.removeEventListener('abort', onAbort)
      chunks = []
      resolve(o)
    }
    const failed = (e: unknown): void => {
      if (live?.aborted === true) return settle({ _tag: 'Cancelled' })
      if (timedOut) return settle({ _tag: 'NoResponse', code: DEADLINE_CODE, reason: `no complete response within ${seconds(limits.deadlineMs)}` })
      const code = codeOf(e)
      settle({ _tag: 'NoResponse', code, reason: code ?? (e instanceof Error ? e.message.split('\n')[0]! : 'unknown failure') })
    }
    const onAbort = (): void => {
      abort()
      settle({ _tag: 'Cancelled' })
    }
    const timer = setTimeout(() => {
      timedOut = true
      abort()
      failed(undefined)
    }, limits.deadlineMs)
    live?.addEventListener('abort', onAbort, { once: true })

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: (c) => {
        controller = c
        if (abortWanted || settled) c.abort(new Error('aborted by arvados-crunch'))
      },
      onResponseStart: (_c, statusCode, responseHeaders) => {
        // informational answers (1xx) come before the real one
        if (statusCode < 200) return
        status = statusCode
        headers = responseHeaders as Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
        ok = statusCode >= 200 && statusCode < 300
        cap = ok ? limits.maxBodyBytes : limits.maxErrorBodyBytes
      },
      onResponseData: (c, chunk) => {
        if (settled || tooLarge) return
        if (kept + chunk.length > cap) {
          // the rest is dropped with its connection, never read
          chunks.push(chunk.subarray(0, cap - kept))
          kept = cap
          tooLarge = true
          const body = Buffer.concat(chunks, kept)
          settle({ _tag: 'Response', status, headers, body, tooLarge: ok })
          c.abort(new Error('body over its cap'))
          return
        }
        chunks.push(chunk)
        kept += chunk.length
      },
      onResponseEnd: () => {
        if (settled) return
        // an error body cut at its cap is still a usable error: only a success body is "too large"
        // copied: a chunk is a view of the socket's read buffer, which a kept body must not pin
        settle({ _tag: 'Response', status, headers, body: Buffer.concat(chunks, kept), tooLarge: false })
      },
      onResponseError: (_c, e) => failed(e),
    }
    try {
      dispatcher.dispatch({ origin: request.origin, path: request.path, method: request.method, headers: request.headers, ...(request.body === undefined ? {} : { body: request.body }) }, handler)
    } catch (e) {
      failed(e)
    }
  })

/**
 * Runs `step` until it is `Done`, attempts or the time budget run out, or `signal` aborts;
 * returns the last step's value. A signal that had already fired when the loop began is
 * ignored (calls made after a cancellation, to clean up, still go out). `step` is told the time left in the budget (its attempt's
 * deadline should not pass it, so the whole loop ends within `totalMs`). `onRetry` hears each
 * retry before its wait.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const retrying = async <A>(
  options: {
    readonly what: string
    readonly budget: RetryBudget
    readonly random: () => number
    readonly signal?: AbortSignal
    readonly onRetry?: (event: RetryEvent) => void
    /** The value when the signal fires during a wait (default: the last step's). */
    readonly cancelled?: (last: A) => A
    readonly now?: () => number
  },
  step: (attempt: number, leftMs: number) => Promise<Step<A>>,
): Promise<A> => {
  const now = options.now ?? Date.now
  const started = now()
  // a signal that fired before the call began does not stop it: a run's cleanup (cancelling
  // its container requests after Ctrl-C) goes through the same client
  const signal = options.signal?.aborted === true ? undefined : options.signal
  const attempts = Math.max(1, Math.floor(options.budget.attempts))
  for (let n = 1; ; n++) {
    const s = await step(n, Math.max(1, started + options.budget.totalMs - now()))
    if (s._tag === 'Done' || n >= attempts || signal?.aborted === true) return s.value
    const waitMs = Request.backoff(options.budget, n, options.random(), s.retryAfterSeconds)
    const remainingMs = started + options.budget.totalMs - now() - waitMs
    // an attempt with almost no time left could only fail on its deadline: stop instead
    if (remainingMs < Math.min(1000, options.budget.totalMs / 10)) return s.value
    options.onRetry?.({ what: options.what, attempt: n, reason: s.reason, waitMs, remainingMs })
    await sleep(waitMs, signal)
    if (isAborted(signal)) return options.cancelled === undefined ? s.value : options.cancelled(s.value)
  }
}

/**
 * The client option that shows a run its retries: each one is a `log` event
 * (`API not reachable (…), retrying for up to N s`) on the run's event stream.
 *
 * The run's signal is deliberately not passed along here: a dispatcher that cleans up after a
 * cancellation (cancelling its container requests) must not see its own in-flight polls and
 * creates aborted — an aborted create may still have created its object. Pass `signal` to a
 * client only where an aborted call can simply be dropped.
 *
 * @category constructors
 * @since 0.1.0
 */
export const progressHook = (
  onEvent: ((e: { readonly type: 'log'; readonly id: string; readonly work: string; readonly message: string }) => void) | undefined,
  service = 'API',
): { readonly onRetry?: (e: RetryEvent) => void } =>
  onEvent === undefined ? {} : { onRetry: (e: RetryEvent) => onEvent({ type: 'log', id: 'arvados', work: service, message: retryLine(e, service) }) }
