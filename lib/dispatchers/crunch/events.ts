/**
 * The Arvados websocket event bus (`services/ws`, protocol v0; ARVADOS-FACTS §13) as the crunch
 * runner uses it: a hint that a watched container request changed, so the runner reads it now
 * instead of at its next poll. Polling stays the way every outcome is read and the fallback
 * whenever the bus is absent or down.
 *
 * - Connects to the discovery document's `websocketUrl` with `?api_token=` (the only way the
 *   service takes a token), trusting the client's CA settings; subscribes to `update` events
 *   (the service honours only `event_type` and `created_at` filters, so events about other
 *   objects the token may read arrive too and are ignored by the caller).
 * - An event carries the object's new `state` (no `priority`, `exit_code` or `output`): enough
 *   to know that a request is `Final` or a container `Running`, never its outcome.
 * - Live from the subscription's `{"status":200}`. A connection that closes, fails, or stays
 *   silent longer than `staleMs` (the service sends `{}` at least every minute) is down: the
 *   caller hears `live(false)`, and the bus connects again after a growing wait (1 s doubling up
 *   to 30 s), asking with `last_log_id` for the events it missed.
 *
 * @since 0.2.0
 */
import { Agent, WebSocket } from 'undici'
import type * as Config from '../../arvados/config.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A change of an object, as an event tells it.
 *
 * @category models
 * @since 0.2.0
 */
export interface Change {
  /** the log id (events come in this order; `last_log_id` asks for those after it) */
  readonly id: number
  readonly objectUuid: string
  /** `arvados#containerRequest`, `arvados#container`, ... */
  readonly objectKind: string
  readonly eventType: string
  /** the object's state after the change, when it has one */
  readonly state: string | undefined
}

/**
 * A message from the service.
 *
 * @category models
 * @since 0.2.0
 */
export type Message =
  | { readonly _tag: 'Status'; readonly status: number }
  | { readonly _tag: 'Change'; readonly change: Change }
  | { readonly _tag: 'Idle' }
  | { readonly _tag: 'Unknown' }

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** the discovery document's `websocketUrl` */
  readonly url: string
  readonly config: Config.Config
  readonly onChange: (c: Change) => void
  /** the bus became live (subscribed) or went down */
  readonly onLive: (live: boolean) => void
  /** no message for this long: the connection is taken as lost (default 150 s) */
  readonly staleMs?: number
  /** first wait before connecting again, ms (default 1000; doubles up to 30 s) */
  readonly retryMs?: number
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Events {
  readonly live: () => boolean
  /** connections opened and events heard so far */
  readonly stats: () => { readonly connections: number; readonly changes: number }
  readonly close: () => void
}

/** the subscription: every update (the service cannot filter by object) */
export const FILTERS = [['event_type', 'in', ['update']]] as const

/** longest wait between connection attempts, ms */
export const MAX_RETRY_MS = 30_000

/** silence after which a connection is taken as lost, ms (the service sends `{}` every 60 s) */
export const STALE_MS = 150_000

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === 'object' && u !== null && !Array.isArray(u)

/**
 * One message of the service, read leniently (unknown shapes are `Unknown`, never an error).
 *
 * @category utils
 * @since 0.2.0
 */
export const parseMessage = (text: string): Message => {
  let m: unknown
  try {
    m = JSON.parse(text)
  } catch {
    return { _tag: 'Unknown' }
  }
  if (!isRecord(m)) return { _tag: 'Unknown' }
  if (Object.keys(m).length === 0) return { _tag: 'Idle' }
  if (typeof m['status'] === 'number' && m['object_uuid'] === undefined) return { _tag: 'Status', status: m['status'] }
  const id = m['id']
  const objectUuid = m['object_uuid']
  if (typeof id !== 'number' || typeof objectUuid !== 'string') return { _tag: 'Unknown' }
  const props = isRecord(m['properties']) ? m['properties'] : {}
  const attrs = isRecord(props['new_attributes']) ? props['new_attributes'] : {}
  const state = attrs['state']
  return {
    _tag: 'Change',
    change: {
      id,
      objectUuid,
      objectKind: typeof m['object_kind'] === 'string' ? m['object_kind'] : '',
      eventType: typeof m['event_type'] === 'string' ? m['event_type'] : '',
      state: typeof state === 'string' ? state : undefined,
    },
  }
}

/**
 * The subscription message; with `lastId`, the events after it are asked for again.
 *
 * @category utils
 * @since 0.2.0
 */
export const subscribeMessage = (lastId: number | undefined): string => JSON.stringify({ method: 'subscribe', filters: FILTERS, ...(lastId === undefined ? {} : { last_log_id: lastId }) })

/**
 * The address to connect to: `websocketUrl` with the token as `api_token`.
 *
 * @category utils
 * @since 0.2.0
 */
export const address = (url: string, token: string): string => {
  const u = new URL(url)
  u.searchParams.set('api_token', token)
  return u.toString()
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Connects to the bus and keeps connecting while not closed.
 *
 * @category constructors
 * @since 0.2.0
 */
export const connect = (options: Options): Events => {
  const { config } = options
  const staleMs = options.staleMs ?? STALE_MS
  const firstRetryMs = options.retryMs ?? 1000
  const dispatcher = new Agent({ connect: { rejectUnauthorized: !config.insecure, ...(config.ca === undefined ? {} : { ca: config.ca }) } })
  let closed = false
  let live = false
  let lastId: number | undefined
  let retryMs = firstRetryMs
  let socket: WebSocket | undefined
  let staleTimer: ReturnType<typeof setTimeout> | undefined
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  const counts = { connections: 0, changes: 0 }

  const setLive = (on: boolean): void => {
    if (live === on) return
    live = on
    options.onLive(on)
  }

  /** this connection is over: down, and connect again later */
  const lost = (ws: WebSocket): void => {
    if (socket !== ws) return
    socket = undefined
    if (staleTimer !== undefined) clearTimeout(staleTimer)
    try {
      ws.close()
    } catch {
      // already closing
    }
    setLive(false)
    if (closed) return
    retryTimer = setTimeout(open, retryMs)
    retryTimer.unref?.()
    retryMs = Math.min(MAX_RETRY_MS, retryMs * 2)
  }

  const heard = (ws: WebSocket): void => {
    if (staleTimer !== undefined) clearTimeout(staleTimer)
    staleTimer = setTimeout(() => lost(ws), staleMs)
    staleTimer.unref?.()
  }

  const open = (): void => {
    retryTimer = undefined
    if (closed) return
    let ws: WebSocket
    try {
      ws = new WebSocket(address(options.url, config.apiToken), { dispatcher })
    } catch {
      // a URL this client cannot use: no bus
      return
    }
    socket = ws
    counts.connections++
    heard(ws)
    ws.addEventListener('open', () => {
      if (socket === ws) ws.send(subscribeMessage(lastId))
    })
    ws.addEventListener('message', (ev) => {
      if (socket !== ws) return
      heard(ws)
      const m = parseMessage(typeof ev.data === 'string' ? ev.data : Buffer.from(ev.data as ArrayBuffer).toString('utf8'))
      if (m._tag === 'Status') {
        if (m.status === 200) {
          retryMs = firstRetryMs
          setLive(true)
        } else lost(ws)
      } else if (m._tag === 'Change') {
        lastId = lastId === undefined ? m.change.id : Math.max(lastId, m.change.id)
        counts.changes++
        options.onChange(m.change)
      }
    })
    ws.addEventListener('error', () => lost(ws))
    ws.addEventListener('close', () => lost(ws))
  }

  open()
  return {
    live: () => live,
    stats: () => ({ ...counts }),
    close: () => {
      closed = true
      if (retryTimer !== undefined) clearTimeout(retryTimer)
      const ws = socket
      if (ws !== undefined) lost(ws)
      live = false
      void dispatcher.destroy().catch(() => undefined)
    },
  }
}
