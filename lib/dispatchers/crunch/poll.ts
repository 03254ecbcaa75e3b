/**
 * Watching container requests with batched list requests: one `container_requests` list per
 * poll for every pending request (`uuid in [...]`, in pages of at most 1000), then — only for
 * the requests that finished — one `containers` list (state, exit code) and one `collections`
 * list (output manifests). A request is finished when it is `Final`, or `Committed` with
 * priority 0 (cancelled before its container started, facts §3.5).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as Client from '../../arvados/client.js'
import * as Collection from '../../collections/collection.js'
import type * as Errors from '../../errors.js'
import type * as Keep from '../../keep/client.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What the runner needs to know about a request.
 *
 * @category models
 * @since 0.1.0
 */
export interface RequestState {
  readonly uuid: string
  readonly state: string
  readonly priority: number | null
  readonly container_uuid: string | null
  readonly output_uuid: string | null
  readonly log_uuid: string | null
}

/**
 * A finished request with its container's end and its output manifest.
 *
 * @category models
 * @since 0.1.0
 */
export interface Finished {
  readonly request: RequestState
  readonly containerState: string | undefined
  readonly exitCode: number | null | undefined
  /** the output collection's (signed) manifest, when there is one */
  readonly outputManifest: string | undefined
  /** why the cluster could not run it (`runtime_status.error`), when it says */
  readonly runtimeError?: string | undefined
  /** the container's own times and cost, when it ran */
  readonly startedAt?: string | undefined
  readonly finishedAt?: string | undefined
  readonly cost?: number | undefined
}

/** @category constants @since 0.1.0 */
export const BATCH = 1000

/** @category constants @since 0.1.0 */
export const REQUEST_FIELDS = ['uuid', 'state', 'priority', 'container_uuid', 'output_uuid', 'log_uuid'] as const

/**
 * How often the poll loop asks: the interval to the next poll and the rate at which
 * completions arrived lately (finished requests per ms, smoothed).
 *
 * @category models
 * @since 0.2.0
 */
export interface Pace {
  readonly intervalMs: number
  readonly perMs: number
}

/** share of the pending requests a poll should find finished (so polls per call fall as the run grows) */
export const PENDING_SHARE_PER_POLL = 8

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * The pace of the first poll.
 *
 * @category utils
 * @since 0.2.0
 */
export const firstPace = (minMs: number): Pace => ({ intervalMs: minMs, perMs: 0 })

/**
 * The pace after a poll that found `found` finished requests `elapsedMs` after the previous
 * one, leaving `pending` to watch. While nothing finishes the interval grows by half (up to
 * `maxMs`); once completions arrive it is the time in which, at their recent rate, about an
 * eighth of the pending requests (at least one) finish — a poll finds several at a time
 * while many are pending, and a call of a short chain is noticed soon after it ends. Always
 * within `minMs`..`maxMs`.
 *
 * @category utils
 * @since 0.2.0
 */
export const nextPace = (pace: Pace, seen: { readonly found: number; readonly elapsedMs: number; readonly pending: number }, bounds: { readonly minMs: number; readonly maxMs: number }): Pace => {
  const clamp = (ms: number): number => Math.max(bounds.minMs, Math.min(bounds.maxMs, Math.ceil(ms)))
  if (seen.found === 0) return { intervalMs: clamp(pace.intervalMs * 1.5), perMs: pace.perMs / 2 }
  const sample = seen.found / Math.max(1, seen.elapsedMs)
  const perMs = pace.perMs === 0 ? sample : (pace.perMs + sample) / 2
  const wanted = Math.max(1, seen.pending / PENDING_SHARE_PER_POLL)
  return { intervalMs: clamp(wanted / perMs), perMs }
}

const chunks = <A>(xs: ReadonlyArray<A>, n: number): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n))
  return out
}

/**
 * Whether a request is done (Final, or cancelled before its container ran).
 *
 * @category utils
 * @since 0.1.0
 */
export const isFinished = (r: Pick<RequestState, 'state' | 'priority'>): boolean => r.state === 'Final' || (r.state === 'Committed' && r.priority === 0)

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * The current state of these requests (one list per 1000).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const states = async (api: Client.ArvadosClient, uuids: ReadonlyArray<string>): Promise<E.Either<Errors.SdkError, ReadonlyArray<RequestState>>> => {
  const out: Array<RequestState> = []
  for (const part of chunks(uuids, BATCH)) {
    const page = await api.containerRequests.list({ filters: [['uuid', 'in', part]], select: [...REQUEST_FIELDS], limit: part.length, count: 'none' })()
    if (E.isLeft(page)) return page
    for (const r of page.right.items) out.push(r as RequestState)
  }
  return E.right(out)
}

/**
 * Container ends and output manifests of finished requests (batched).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const details = async (api: Client.ArvadosClient, finished: ReadonlyArray<RequestState>): Promise<E.Either<Errors.SdkError, ReadonlyArray<Finished>>> => {
  const containers = new Map<string, { state: string; exit_code: number | null; error: string | undefined; startedAt: string | undefined; finishedAt: string | undefined; cost: number | undefined }>()
  const manifests = new Map<string, string>()
  const cUuids = [...new Set(finished.flatMap((r) => (r.container_uuid === null ? [] : [r.container_uuid])))]
  for (const part of chunks(cUuids, BATCH)) {
    const page = await api.containers.list({ filters: [['uuid', 'in', part]], select: ['uuid', 'state', 'exit_code', 'runtime_status', 'started_at', 'finished_at', 'cost'], limit: part.length, count: 'none' })()
    if (E.isLeft(page)) return page
    for (const c of page.right.items) {
      const error = (c.runtime_status as Record<string, unknown> | null | undefined)?.['error']
      const rec = c as unknown as Readonly<Record<string, unknown>>
      const text = (k: string): string | undefined => (typeof rec[k] === 'string' ? (rec[k] as string) : undefined)
      containers.set(c.uuid, {
        state: c.state,
        exit_code: c.exit_code,
        error: typeof error === 'string' && error !== '' ? error : undefined,
        startedAt: text('started_at'),
        finishedAt: text('finished_at'),
        cost: typeof rec['cost'] === 'number' ? (rec['cost'] as number) : undefined,
      })
    }
  }
  const oUuids = [...new Set(finished.flatMap((r) => (r.output_uuid === null ? [] : [r.output_uuid])))]
  for (const part of chunks(oUuids, BATCH)) {
    // the server may answer fewer items than asked when manifests are large: ask again for the rest
    let rest = part
    while (rest.length > 0) {
      const page = await api.collections.list({ filters: [['uuid', 'in', rest]], select: ['uuid', 'portable_data_hash', 'manifest_text'], limit: rest.length, count: 'none' })()
      if (E.isLeft(page)) return page
      for (const c of page.right.items) manifests.set(c.uuid, c.manifest_text ?? '')
      if (page.right.items.length === 0) break
      rest = rest.filter((u) => !manifests.has(u))
    }
  }
  return E.right(
    finished.map((request) => {
      const c = request.container_uuid === null ? undefined : containers.get(request.container_uuid)
      return {
        request,
        containerState: c?.state,
        exitCode: c?.exit_code,
        runtimeError: c?.error,
        outputManifest: request.output_uuid === null ? undefined : manifests.get(request.output_uuid),
        startedAt: c?.startedAt,
        finishedAt: c?.finishedAt,
        cost: c?.cost,
      }
    }),
  )
}

const TAIL = 20

const stripStamp = (line: string): string => line.replace(/^\d{4}-\d\d-\d\dT\S+Z /, '')

/**
 * The last lines of `stderr.txt` in a request's log collection (timestamps removed).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const stderrTail = async (api: Client.ArvadosClient, keep: Keep.KeepClient, logUuid: string | null, signal: AbortSignal): Promise<ReadonlyArray<string>> => {
  if (logUuid === null) return []
  const got = await api.collections.get(logUuid)()
  if (E.isLeft(got)) return [`(cannot read the log collection: ${got.left.message})`]
  const c = Collection.fromManifestText(got.right.manifest_text ?? '', { source: { readBlock: (l) => keep.get(l)() } })
  if (E.isLeft(c) || !c.right.files.some((f) => f.path === 'stderr.txt')) return []
  const text = await Collection.readEither(c.right, 'stderr.txt', signal)
  if (E.isLeft(text)) return [`(cannot read stderr.txt: ${text.left.message})`]
  const lines = new TextDecoder().decode(text.right).split('\n').filter((l) => l !== '')
  return lines.slice(-TAIL).map(stripStamp)
}
