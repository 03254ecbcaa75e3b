/**
 * Live logs of running calls: while a call's container runs, the new part of its `stderr.txt`
 * (where the work role writes `ctx.log` lines) is read through the container request log
 * endpoint (`GET /arvados/v1/container_requests/{uuid}/log/{container_uuid}/stderr.txt`, with
 * `Range: bytes=N-` from what was read so far; ARVADOS-FACTS, "Live logs") and each complete
 * line handed to the call's `log`, without crunch-run's timestamp.
 *
 * Bounded: one loop for the run; each tick reads at most `perTick` requests' logs, taking the
 * ready requests in turn, so a run of thousands of calls costs at most `perTick` requests per
 * tick however many run. A log is first read `FIRST_READ_MS` after its container started (calls
 * shorter than that cost no log request; their lines come with their finished log): when the
 * event bus tells container states (`bus`, `container`), only containers it said are Running
 * are read; without it, a request is first read `FIRST_READ_MS` after it was watched. Each answer with nothing new (not started: 404, or
 * no new bytes) doubles that request's wait (up to 16 intervals) and new bytes bring it back
 * to one interval, so queued and quiet containers cost few requests and chatty ones are
 * followed closely.
 * When a call finishes, the lines not read yet are handed on before the call's outcome: from its
 * finished log collection when the caller has its manifest (`fromCollection`: Keep reads, no API
 * request; the caller shares the log's block with the usage read), else, only for a log that
 * was read while running, one request to the endpoint. So a call shorter than the first read
 * costs no log request and its lines still arrive, when it ends.
 *
 * @since 0.2.0
 */
import { Agent } from 'undici'
import type * as Config from '../../arvados/config.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.2.0
 */
export interface LiveLogs {
  /** follow the log of this request; `log` gets each new line */
  readonly watch: (request: string, container: string | null, log: (line: string) => void) => void
  /** what the poll loop learnt of requests (their container uuids) */
  readonly observe: (states: ReadonlyArray<{ readonly uuid: string; readonly container_uuid: string | null }>) => void
  /** the event bus is live (container states come through `container`) or not */
  readonly bus: (live: boolean) => void
  /** a container changed state (from the event bus) */
  readonly container: (container: string, state: string) => void
  /** the request finished: its last lines (when it was being read), then no more */
  readonly finish: (request: string, container: string | null, fromCollection?: (offset: number) => Promise<Uint8Array | undefined>) => Promise<void>
  readonly close: () => Promise<void>
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  readonly config: Config.Config
  /** time between ticks, ms */
  readonly intervalMs: number
  /** log requests per tick at most */
  readonly perTick: number
  /** how long a container runs before its log is first read, ms (default `FIRST_READ_MS`) */
  readonly firstReadMs?: number
  /** the file followed */
  readonly file?: string
}

/** the file followed by default (where the work role writes `ctx.log` lines) */
export const FILE = 'stderr.txt'

/** log requests per tick by default: a few per second whatever the number of running calls */
export const PER_TICK = 8

/** the longest time between ticks, ms (logs reach the runner within a few seconds) */
export const MAX_INTERVAL_MS = 2000

/**
 * How long a container runs before its log is first read, ms. A call that ends sooner costs no
 * log request: its lines come from its finished log collection (Keep; the block the usage read
 * fetches anyway) when it ends, sooner than a first read would bring them; a longer one is
 * followed from then on. (A 1,000-call burst on the double: 143 log requests at one interval,
 * none at 5 s; docs/performance.md.)
 */
export const FIRST_READ_MS = 5000

interface Watched {
  container: string | null
  offset: number
  partial: string
  /** the endpoint answered for it (the container started) */
  read: boolean
  readonly log: (line: string) => void
  readonly watchedAt: number
  /** not to be read before (without the bus) */
  nextAt: number
  /** answers "not started" so far */
  misses: number
  /** when the bus said its container was Running */
  runningSince: number | undefined
  /** the bus said its container ended */
  ended: boolean
}

/** container states kept for requests not watched yet */
const HEARD_KEPT = 10_000

/** the longest wait of a request whose log had nothing new (its container has not started, or is quiet), in intervals */
const MAX_BACKOFF = 16

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const STAMP = /^\d{4}-\d\d-\d\dT\S+Z /

/**
 * New complete lines of `text` after what was left of the previous read (`partial`), without
 * crunch-run's timestamps; the unfinished last line is returned to keep.
 *
 * @category utils
 * @since 0.2.0
 */
export const splitLines = (partial: string, text: string): { readonly lines: ReadonlyArray<string>; readonly partial: string } => {
  const all = (partial + text).split('\n')
  const rest = all.pop() ?? ''
  return { lines: all.filter((l) => l !== '').map((l) => l.replace(STAMP, '')), partial: rest }
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * @category constructors
 * @since 0.2.0
 */
export const make = (options: Options): LiveLogs => {
  const { config } = options
  const file = options.file ?? FILE
  const firstReadMs = Math.max(options.intervalMs, options.firstReadMs ?? FIRST_READ_MS)
  const agent = new Agent({ connections: 2, keepAliveTimeout: 10_000, headersTimeout: 30_000, bodyTimeout: 30_000, connect: { rejectUnauthorized: !config.insecure, ...(config.ca === undefined ? {} : { ca: config.ca }) } })
  const watched = new Map<string, Watched>()
  let cursor = 0
  /** the request of each watched container */
  const byContainer = new Map<string, string>()
  /** since when the bus is live (undefined: it is not) */
  let liveSince: number | undefined
  /** states the bus told of containers not watched yet (a container may start before its request's create is answered) */
  const heard = new Map<string, { readonly state: string; readonly at: number }>()
  let timer: ReturnType<typeof setTimeout> | undefined
  let closed = false
  let busy = false

  /** bytes of the log after what was read: their complete lines to the call */
  const took = (w: Watched, fresh: Uint8Array): void => {
    w.offset += fresh.length
    const { lines, partial } = splitLines(w.partial, Buffer.from(fresh.buffer, fresh.byteOffset, fresh.byteLength).toString('utf8'))
    w.partial = partial
    for (const l of lines) w.log(l)
  }

  /** reads what is new in one request's log and hands on its complete lines */
  const readNew = async (request: string, w: Watched): Promise<void> => {
    if (w.container === null) return
    try {
      const res = await agent.request({
        origin: `https://${config.apiHost}`,
        path: `/arvados/v1/container_requests/${encodeURIComponent(request)}/log/${encodeURIComponent(w.container)}/${file}`,
        method: 'GET',
        headers: { authorization: `Bearer ${config.apiToken}`, range: `bytes=${w.offset}-` },
      })
      const body = Buffer.from(await res.body.arrayBuffer())
      // nothing new (not started, or no new bytes): wait twice as long before the next read
      const quiet = (): void => {
        w.misses++
        w.nextAt = Date.now() + options.intervalMs * Math.min(MAX_BACKOFF, 2 ** w.misses)
      }
      if (res.statusCode === 416) {
        w.read = true
        quiet()
      }
      if (res.statusCode === 404 && !w.read) quiet()
      if (res.statusCode !== 206 && res.statusCode !== 200) return
      w.read = true
      // a server that ignores Range answers the whole file
      const fresh = res.statusCode === 200 ? body.subarray(Math.min(w.offset, body.length)) : body
      if (fresh.length === 0) quiet()
      else {
        w.misses = 0
        w.nextAt = Date.now() + options.intervalMs
      }
      took(w, fresh)
    } catch {
      // a log that cannot be read now is read at the next turn
    }
  }

  const apply = (w: Watched, state: string, at: number): void => {
    if (state === 'Running') w.runningSince ??= at
    else if (state === 'Complete' || state === 'Cancelled') w.ended = true
  }
  /** a watched request's container is known */
  const learn = (request: string, w: Watched, container: string): void => {
    w.container = container
    byContainer.set(container, request)
    const h = heard.get(container)
    if (h === undefined) return
    heard.delete(container)
    apply(w, h.state, h.at)
  }

  /** whether a request's log is read at this tick */
  const isReady = (w: Watched, now: number): boolean => {
    if (w.container === null || w.ended) return false
    if (w.runningSince !== undefined) return now - w.runningSince >= firstReadMs && now >= w.nextAt
    // watched while the bus was live: its Running event will come
    if (liveSince !== undefined && w.watchedAt >= liveSince) return false
    return now >= w.nextAt
  }

  const tick = async (): Promise<void> => {
    timer = undefined
    if (closed) return
    busy = true
    const t = Date.now()
    const ready = [...watched].filter(([, w]) => isReady(w, t))
    const start = ready.length === 0 ? 0 : cursor % ready.length
    const now = [...ready.slice(start), ...ready.slice(0, start)].slice(0, options.perTick)
    cursor = start + now.length
    await Promise.all(now.map(([r, w]) => readNew(r, w)))
    busy = false
    schedule()
  }
  const schedule = (): void => {
    if (closed || busy || timer !== undefined || watched.size === 0) return
    timer = setTimeout(() => void tick(), options.intervalMs)
  }

  return {
    watch: (request, container, log) => {
      if (closed) return
      const now = Date.now()
      const w: Watched = { container, offset: 0, partial: '', read: false, log, watchedAt: now, nextAt: now + firstReadMs, misses: 0, runningSince: undefined, ended: false }
      watched.set(request, w)
      if (container !== null) learn(request, w, container)
      schedule()
    },
    observe: (states) => {
      for (const s of states) {
        const w = watched.get(s.uuid)
        if (w !== undefined && s.container_uuid !== null) {
          // a retried container starts a new log
          if (w.container !== null && w.container !== s.container_uuid) Object.assign(w, { offset: 0, partial: '', read: false, misses: 0, runningSince: undefined, ended: false })
          if (w.container !== s.container_uuid) learn(s.uuid, w, s.container_uuid)
        }
      }
    },
    bus: (live) => {
      liveSince = live ? (liveSince ?? Date.now()) : undefined
    },
    container: (container, state) => {
      const request = byContainer.get(container)
      const w = request === undefined ? undefined : watched.get(request)
      if (w === undefined || w.container !== container) {
        heard.set(container, { state, at: Date.now() })
        if (heard.size > HEARD_KEPT) heard.delete(heard.keys().next().value as string)
        return
      }
      apply(w, state, Date.now())
    },
    finish: async (request, container, fromCollection) => {
      const w = watched.get(request)
      watched.delete(request)
      if (w?.container != null) byContainer.delete(w.container)
      if (w === undefined || closed) return
      if (container !== null && w.container !== null && container !== w.container) return
      // the rest from the finished log collection (Keep) when it was read, else from the endpoint;
      // a log never read (its container ended before its first read) only from the collection
      const rest = fromCollection === undefined ? undefined : await fromCollection(w.offset).catch(() => undefined)
      if (rest !== undefined) took(w, rest)
      else if (w.read) await readNew(request, w)
      if (w.partial !== '') w.log(w.partial.replace(STAMP, ''))
    },
    close: async () => {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      watched.clear()
      byContainer.clear()
      await agent.close()
    },
  }
}
