/**
 * Live logs of running calls: while a call's container runs, the new part of its `stderr.txt`
 * (where the work role writes `ctx.log` lines) is read through the container request log
 * endpoint (`GET /arvados/v1/container_requests/{uuid}/log/{container_uuid}/stderr.txt`, with
 * `Range: bytes=N-` from what was read so far; ARVADOS-FACTS, "Live logs") and each complete
 * line handed to the call's `log`, without crunch-run's timestamp.
 *
 * Bounded: one loop for the run; each tick reads at most `perTick` requests' logs, taking the
 * watched requests in turn, so a run of thousands of calls costs at most `perTick` requests per
 * tick however many run. A request whose container has not started (404) waits its turn again.
 * When a call finishes, its log is read once more (lines written since the last read) only if
 * it was read while running — one request, before the call's outcome is handed on.
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
  /** the request finished: its last lines (when it was being read), then no more */
  readonly finish: (request: string, container: string | null) => Promise<void>
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
  /** the file followed */
  readonly file?: string
}

/** log requests per tick by default: a few per second whatever the number of running calls */
export const PER_TICK = 8

/** the longest time between ticks, ms (logs reach the runner within a few seconds) */
export const MAX_INTERVAL_MS = 2000

interface Watched {
  container: string | null
  offset: number
  partial: string
  /** the endpoint answered for it (the container started) */
  read: boolean
  readonly log: (line: string) => void
}

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
  const file = options.file ?? 'stderr.txt'
  const agent = new Agent({ connections: 2, keepAliveTimeout: 10_000, headersTimeout: 30_000, bodyTimeout: 30_000, connect: { rejectUnauthorized: !config.insecure, ...(config.ca === undefined ? {} : { ca: config.ca }) } })
  const watched = new Map<string, Watched>()
  let turn: Array<string> = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let closed = false
  let busy = false

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
      if (res.statusCode === 416) w.read = true
      if (res.statusCode !== 206 && res.statusCode !== 200) return
      w.read = true
      // a server that ignores Range answers the whole file
      const fresh = res.statusCode === 200 ? body.subarray(Math.min(w.offset, body.length)) : body
      w.offset += fresh.length
      const { lines, partial } = splitLines(w.partial, fresh.toString('utf8'))
      w.partial = partial
      for (const l of lines) w.log(l)
    } catch {
      // a log that cannot be read now is read at the next turn
    }
  }

  const tick = async (): Promise<void> => {
    timer = undefined
    if (closed) return
    busy = true
    if (turn.length === 0) turn = [...watched.keys()]
    const now = turn.filter((r) => watched.get(r)?.container != null).slice(0, options.perTick)
    turn = turn.filter((r) => !now.includes(r) && watched.has(r))
    await Promise.all(now.map((r) => readNew(r, watched.get(r)!)))
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
      watched.set(request, { container, offset: 0, partial: '', read: false, log })
      schedule()
    },
    observe: (states) => {
      for (const s of states) {
        const w = watched.get(s.uuid)
        if (w !== undefined && s.container_uuid !== null) {
          // a retried container starts a new log
          if (w.container !== null && w.container !== s.container_uuid) Object.assign(w, { offset: 0, partial: '', read: false })
          w.container = s.container_uuid
        }
      }
    },
    finish: async (request, container) => {
      const w = watched.get(request)
      watched.delete(request)
      if (w === undefined || !w.read || closed) return
      if (container !== null && container !== w.container) return
      await readNew(request, w)
      if (w.partial !== '') w.log(w.partial.replace(STAMP, ''))
    },
    close: async () => {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      watched.clear()
      await agent.close()
    },
  }
}
