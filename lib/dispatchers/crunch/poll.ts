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
import type * as Events from './events.js'

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
  /** the log collection's (signed) manifest, when it was read with the output's */
  readonly logManifest?: string | undefined
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
 * Container ends and output manifests of finished requests (batched): one `containers` list and
 * one `collections` list per 1000 (with `withLogs`, the log collections' manifests come in the
 * same list as the outputs').
 *
 * @category interpreters
 * @since 0.1.0
 */
export const details = async (api: Client.ArvadosClient, finished: ReadonlyArray<RequestState>, withLogs = false): Promise<E.Either<Errors.SdkError, ReadonlyArray<Finished>>> => {
  const containers = await containerEnds(api, finished.flatMap((r) => (r.container_uuid === null ? [] : [r.container_uuid])))
  if (E.isLeft(containers)) return containers
  // output and log collections in one list: the log's manifest is where the container's usage is read
  const manifests = await manifestsOf(api, finished.flatMap((r) => [r.output_uuid, ...(withLogs ? [r.log_uuid] : [])].filter((u): u is string => u !== null)))
  if (E.isLeft(manifests)) return manifests
  return E.right(finished.map((request) => finishedOf(request, containers.right, manifests.right, withLogs)))
}

interface ContainerEnd {
  readonly state: string
  readonly exit_code: number | null
  readonly error: string | undefined
  readonly startedAt: string | undefined
  readonly finishedAt: string | undefined
  readonly cost: number | undefined
}

const CONTAINER_FIELDS = ['uuid', 'state', 'exit_code', 'runtime_status', 'started_at', 'finished_at', 'cost'] as const

/** containers' states, exit codes, errors, times and cost (one list per 1000) */
const containerEnds = async (api: Client.ArvadosClient, uuids: ReadonlyArray<string>): Promise<E.Either<Errors.SdkError, ReadonlyMap<string, ContainerEnd>>> => {
  const out = new Map<string, ContainerEnd>()
  for (const part of chunks([...new Set(uuids)], BATCH)) {
    const page = await api.containers.list({ filters: [['uuid', 'in', part]], select: [...CONTAINER_FIELDS], limit: part.length, count: 'none' })()
    if (E.isLeft(page)) return page
    for (const c of page.right.items) {
      const error = (c.runtime_status as Record<string, unknown> | null | undefined)?.['error']
      const rec = c as unknown as Readonly<Record<string, unknown>>
      const text = (k: string): string | undefined => (typeof rec[k] === 'string' ? (rec[k] as string) : undefined)
      out.set(c.uuid, {
        state: c.state,
        exit_code: c.exit_code,
        error: typeof error === 'string' && error !== '' ? error : undefined,
        startedAt: text('started_at'),
        finishedAt: text('finished_at'),
        cost: typeof rec['cost'] === 'number' ? (rec['cost'] as number) : undefined,
      })
    }
  }
  return E.right(out)
}

/** collections' (signed) manifests by uuid (one list per 1000) */
const manifestsOf = async (api: Client.ArvadosClient, uuids: ReadonlyArray<string>): Promise<E.Either<Errors.SdkError, ReadonlyMap<string, string>>> => {
  const manifests = new Map<string, string>()
  for (const part of chunks([...new Set(uuids)], BATCH)) {
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
  return E.right(manifests)
}

const finishedOf = (request: RequestState, containers: ReadonlyMap<string, ContainerEnd>, manifests: ReadonlyMap<string, string>, withLogs: boolean): Finished => {
  const c = request.container_uuid === null ? undefined : containers.get(request.container_uuid)
  return {
    request,
    containerState: c?.state,
    exitCode: c?.exit_code,
    runtimeError: c?.error,
    outputManifest: request.output_uuid === null ? undefined : manifests.get(request.output_uuid),
    ...(withLogs && request.log_uuid !== null && manifests.has(request.log_uuid) ? { logManifest: manifests.get(request.log_uuid) } : {}),
    startedAt: c?.startedAt,
    finishedAt: c?.finishedAt,
    cost: c?.cost,
  }
}

/** container requests per collections list of `finishedByEvent` (each has an output and a log collection) */
const BY_EVENT_BATCH = 300

/**
 * Outcomes of requests an event said are `Final`, read without listing the requests: one
 * `containers` list (their containers, known from when they were watched) and one `collections`
 * list of the output and log collections finalization made for them, found by their
 * `container_request` property (facts §3.6; the `Container log for container` copies, which
 * also carry `container_uuid`, are not theirs). Only a request whose known container is
 * `Complete` (Arvados retries only cancelled containers, so it is the request's last) and whose
 * output collection is in the list is read this way; the others (cancelled, retried, no
 * output) are `unsure`: read them with `states` and `details`.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const finishedByEvent = async (
  api: Client.ArvadosClient,
  requests: ReadonlyArray<{ readonly uuid: string; readonly container: string | null }>,
  withLogs = false,
): Promise<E.Either<Errors.SdkError, { readonly finished: ReadonlyArray<Finished>; readonly unsure: ReadonlyArray<string> }>> => {
  const known = requests.filter((r): r is { readonly uuid: string; readonly container: string } => r.container !== null)
  const containers = await containerEnds(api, known.map((r) => r.container))
  if (E.isLeft(containers)) return containers
  // Complete: the request's last container (Arvados retries only Cancelled ones)
  const ended = known.filter((r) => containers.right.get(r.container)?.state === 'Complete')
  const outputs = new Map<string, string>()
  const logs = new Map<string, string>()
  const manifests = new Map<string, string>()
  const types = withLogs ? ['output', 'intermediate', 'log'] : ['output', 'intermediate']
  const missing = (r: string): boolean => !outputs.has(r) || (withLogs && !logs.has(r))
  for (const part of chunks(ended.map((r) => r.uuid), BY_EVENT_BATCH)) {
    // the server may answer fewer items than asked when manifests are large: ask again for the rest
    let rest = part
    while (rest.length > 0) {
      const page = await api.collections.list({
        filters: [['properties.container_request', 'in', rest], ['properties.type', 'in', types]],
        select: ['uuid', 'manifest_text', 'properties'],
        limit: BATCH,
        count: 'none',
      })()
      if (E.isLeft(page)) return page
      for (const c of page.right.items) {
        const props = (c.properties ?? {}) as Readonly<Record<string, unknown>>
        const request = props['container_request']
        if (typeof request !== 'string' || props['container_uuid'] !== undefined) continue
        ;(props['type'] === 'log' ? logs : outputs).set(request, c.uuid)
        manifests.set(c.uuid, c.manifest_text ?? '')
      }
      const left = rest.filter(missing)
      if (page.right.items.length === 0 || left.length === rest.length) break
      rest = left
    }
  }
  const finished: Array<Finished> = []
  const sure = new Set<string>()
  for (const r of ended) {
    const output = outputs.get(r.uuid)
    if (output === undefined) continue
    sure.add(r.uuid)
    const request: RequestState = { uuid: r.uuid, state: 'Final', priority: 0, container_uuid: r.container, output_uuid: output, log_uuid: logs.get(r.uuid) ?? null }
    finished.push(finishedOf(request, containers.right, manifests, withLogs))
  }
  return E.right({ finished, unsure: requests.filter((r) => !sure.has(r.uuid)).map((r) => r.uuid) })
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

// -------------------------------------------------------------------------------------
// the watcher: polls, or events with polls as the fallback
// -------------------------------------------------------------------------------------

/** a poll while the event bus is live: only a safety net (events lost without a drop) */
export const SAFETY_MS = 60_000

/** with the bus live, requests known finished are read once this share of the pending ones is, and at least `GATHER_MIN` (or all pending are, or the first waited `maxMs`) */
export const GATHER_SHARE = 4

/** see `GATHER_SHARE` */
export const GATHER_MIN = 16

/** finished requests remembered from events that came before their request was watched */
const EARLY_KEPT = 10_000

/**
 * What the watcher does next.
 *
 * @category models
 * @since 0.2.0
 */
export type Step = { readonly _tag: 'Wait'; readonly ms: number } | { readonly _tag: 'Read'; readonly what: 'finished' | 'all' }

/**
 * The watcher's next step (pure). Without a live event bus: poll every pending request once the
 * interval has passed. With it: read the requests events said are finished once enough of
 * them are (all the pending ones — the end of a chain or of a fan-out —, or a `GATHER_SHARE`th
 * of them and at least `GATHER_MIN`), or once the first of them has waited the longest
 * interval `maxMs` — never sooner than `minMs` after the last read; a full poll right after the
 * bus became live (what finished before it), then only every `SAFETY_MS`. So a finished call is
 * read within one longest interval, usually at once, and a read handles many calls.
 *
 * @category utils
 * @since 0.2.0
 */
export const decide = (s: {
  readonly now: number
  readonly live: boolean
  /** the bus became live since the last full poll */
  readonly fullPollDue: boolean
  readonly pending: number
  readonly finished: number
  readonly firstFinishedAt: number | undefined
  readonly lastReadAt: number
  readonly lastPollAt: number
  readonly intervalMs: number
  readonly minMs: number
  readonly maxMs: number
}): Step => {
  const after = (at: number): Step => (s.now >= at ? { _tag: 'Read', what: 'all' } : { _tag: 'Wait', ms: at - s.now })
  if (!s.live) return after(s.lastPollAt + s.intervalMs)
  if (s.fullPollDue) return after(s.lastReadAt + s.minMs)
  if (s.finished > 0) {
    const enough = s.finished >= s.pending || s.finished >= Math.max(GATHER_MIN, Math.ceil(s.pending / GATHER_SHARE))
    const at = Math.max(s.lastReadAt + s.minMs, enough ? s.now : (s.firstFinishedAt ?? s.now) + s.maxMs)
    return s.now >= at ? { _tag: 'Read', what: 'finished' } : { _tag: 'Wait', ms: at - s.now }
  }
  return after(s.lastPollAt + SAFETY_MS)
}

/**
 * @category models
 * @since 0.2.0
 */
export type Waiter = (f: E.Either<Errors.SdkError, Finished>) => void

/**
 * The event bus as the watcher uses it (`Events.connect`, or a stand-in).
 *
 * @category models
 * @since 0.2.0
 */
export type Subscribe = (handlers: { readonly onChange: (c: Events.Change) => void; readonly onLive: (live: boolean) => void }) => { readonly live: () => boolean; readonly close: () => void }

/**
 * @category models
 * @since 0.2.0
 */
export interface WatchOptions {
  readonly api: Client.ArvadosClient
  readonly signal: AbortSignal
  /** shortest and longest interval, ms */
  readonly minMs: number
  readonly maxMs: number
  /** read the log collections' manifests with the outputs' (`Finished.logManifest`) */
  readonly withLogs?: boolean
  /** what a poll learnt of requests (their containers) */
  readonly observe?: (states: ReadonlyArray<RequestState>) => void
  /** a container changed state (events only) */
  readonly onContainer?: (container: string, state: string) => void
}

/**
 * Watches pending container requests until each finishes.
 *
 * @category models
 * @since 0.2.0
 */
export interface Watcher {
  /** `container`: the request's container as last seen (its create's answer) */
  readonly wait: (request: string, container: string | null) => Promise<E.Either<Errors.SdkError, Finished>>
  /** connect the event bus (at most once); until it is live, and whenever it is down, polls do */
  readonly subscribe: (subscribe: Subscribe) => void
  /** every request still watched, no longer watched (for stopping) */
  readonly drain: () => ReadonlyArray<readonly [string, Waiter]>
  readonly close: () => void
}

/**
 * @category constructors
 * @since 0.2.0
 */
export const watcher = (o: WatchOptions): Watcher => {
  const pending = new Map<string, Waiter>()
  /** each pending request's container, as last seen */
  const containerOf = new Map<string, string | null>()
  /** pending requests events said are Final, in the order heard */
  const finished = new Set<string>()
  let firstFinishedAt: number | undefined
  /** Final requests heard of before they were watched */
  const early = new Set<string>()
  let bus: ReturnType<Subscribe> | undefined
  let fullPollDue = false
  let running = false
  let closed = false
  let wakeUp: (() => void) | undefined
  const wake = (): void => {
    const w = wakeUp
    wakeUp = undefined
    w?.()
  }
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => wake(), ms)
      wakeUp = () => {
        clearTimeout(timer)
        resolve()
      }
    })

  const heardFinished = (uuid: string): void => {
    if (!pending.has(uuid) || finished.has(uuid)) return
    if (finished.size === 0) firstFinishedAt = Date.now()
    finished.add(uuid)
    wake()
  }

  const onChange = (c: Events.Change): void => {
    if (c.objectKind === 'arvados#containerRequest' || c.objectUuid.slice(6, 11) === 'xvhdp') {
      if (c.state !== 'Final') return
      if (pending.has(c.objectUuid)) heardFinished(c.objectUuid)
      else {
        early.add(c.objectUuid)
        if (early.size > EARLY_KEPT) early.delete(early.values().next().value as string)
      }
    } else if ((c.objectKind === 'arvados#container' || c.objectUuid.slice(6, 11) === 'dz642') && c.state !== undefined) o.onContainer?.(c.objectUuid, c.state)
  }
  const onLive = (live: boolean): void => {
    // what finished while the bus was not live is found by a full poll
    if (live) fullPollDue = true
    wake()
  }

  const withLogs = o.withLogs === true
  const forget = (uuid: string): void => {
    pending.delete(uuid)
    containerOf.delete(uuid)
  }
  /** a finished request's outcome to its waiter */
  const hand = (uuid: string, f: E.Either<Errors.SdkError, Finished>): void => {
    const w = pending.get(uuid)
    if (w === undefined) return
    forget(uuid)
    w(f)
  }
  const failAll = (e: E.Left<Errors.SdkError>): void => {
    for (const uuid of [...pending.keys()]) hand(uuid, e)
  }

  const loop = async (): Promise<void> => {
    const bounds = { minMs: o.minMs, maxMs: o.maxMs }
    let pace = firstPace(o.minMs)
    let lastReadAt = Date.now()
    let lastPollAt = Date.now()
    while (pending.size > 0 && !o.signal.aborted && !closed) {
      const step = decide({ now: Date.now(), live: bus?.live() === true, fullPollDue, pending: pending.size, finished: finished.size, firstFinishedAt, lastReadAt, lastPollAt, intervalMs: pace.intervalMs, minMs: o.minMs, maxMs: o.maxMs })
      if (step._tag === 'Wait') {
        await sleep(step.ms)
        continue
      }
      const now = Date.now()
      const elapsedMs = now - lastReadAt
      lastReadAt = now
      let asked = step.what === 'all' ? [...pending.keys()] : [...finished]
      if (step.what === 'all') {
        lastPollAt = now
        fullPollDue = false
      }
      finished.clear()
      firstFinishedAt = undefined
      let found = 0
      if (step.what === 'finished') {
        // the requests events said are Final: read without listing them (most of the time)
        const byEvent = await finishedByEvent(o.api, asked.map((uuid) => ({ uuid, container: containerOf.get(uuid) ?? null })), withLogs)
        if (E.isLeft(byEvent)) {
          failAll(byEvent)
          break
        }
        for (const f of byEvent.right.finished) hand(f.request.uuid, E.right(f))
        found += byEvent.right.finished.length
        asked = [...byEvent.right.unsure]
      }
      if (asked.length > 0) {
        const polled = await states(o.api, asked)
        if (E.isLeft(polled)) {
          failAll(polled)
          break
        }
        for (const r of polled.right) if (containerOf.has(r.uuid)) containerOf.set(r.uuid, r.container_uuid)
        o.observe?.(polled.right)
        const done = polled.right.filter((r) => isFinished(r) && pending.has(r.uuid))
        found += done.length
        if (done.length > 0) {
          const waiters = done.map((r) => [r.uuid, pending.get(r.uuid)!] as const)
          for (const r of done) forget(r.uuid)
          void details(o.api, done, withLogs).then((d) => {
            if (E.isLeft(d)) for (const [, w] of waiters) w(d)
            else d.right.forEach((f, i) => waiters[i]![1](E.right(f)))
          })
        }
      }
      pace = nextPace(pace, { found, elapsedMs, pending: pending.size }, bounds)
    }
    running = false
  }

  return {
    wait: (request, container) =>
      new Promise((resolve) => {
        pending.set(request, resolve)
        containerOf.set(request, container)
        if (early.delete(request)) heardFinished(request)
        if (!running && !closed) {
          running = true
          void loop()
        }
      }),
    subscribe: (subscribe) => {
      if (bus !== undefined || closed) return
      bus = subscribe({ onChange, onLive })
    },
    drain: () => {
      const all = [...pending.entries()]
      pending.clear()
      containerOf.clear()
      finished.clear()
      wake()
      return all
    },
    close: () => {
      closed = true
      bus?.close()
      wake()
    },
  }
}
