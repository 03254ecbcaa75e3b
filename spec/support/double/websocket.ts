/**
 * The double's websocket event bus: what `services/ws` (protocol v0, path `/websocket`) does
 * for a client (ARVADOS-FACTS §13), on the API server's port.
 *
 * - The token comes as `?api_token=`; a client sees events only about objects its token may
 *   read (an unknown token connects and sees nothing, as on the real service).
 * - Client messages: `{"method":"subscribe","filters":[...],"last_log_id":N}` → `{"status":200}`
 *   (anything else → `{"status":400}`). Only `event_type in [...]` and `created_at <op> time`
 *   filters are honoured, the rest are ignored (so a client filters by object itself); with
 *   `last_log_id`, kept events with a larger id (from the last 10 minutes) are sent again.
 * - An event is sent for every change of a container request, container or collection (the
 *   double's `touch`), as `event_type: "update"`, with `old_attributes`/`new_attributes` cut down
 *   to `state, name, owner_uuid, portable_data_hash, requesting_container_uuid, is_trashed`, as the
 *   real service does: no `priority`, `exit_code` or `output`.
 * - An idle connection gets `{}` every `idleMs` (the real `SendTimeout`, 60 s).
 *
 * The framing (RFC 6455: handshake, masked client frames, unmasked server text frames, close,
 * ping/pong, fragments) is written here rather than taken from a library: it is about a hundred
 * lines, adds no dependency, and lets the double drop connections at will (`dropAll`) for the
 * specs of a client's fallback.
 */
import * as Crypto from 'node:crypto'
import type * as Http from 'node:http'
import type * as Net from 'node:net'
import type * as Cluster from './cluster.js'
import type { Rec } from './cluster.js'

/** What the specs and the bench see of the endpoint. */
export interface WebsocketEndpoint {
  /** the `upgrade` listener of the API server */
  readonly upgrade: (req: Http.IncomingMessage, socket: Net.Socket, head: Buffer) => void
  /** a record changed (the cluster's hook) */
  readonly changed: (r: Rec) => void
  /** destroys every open connection without a close frame (a network drop) */
  readonly dropAll: () => void
  /** refuse new connections (HTTP 503) from now on, or accept them again */
  readonly refuse: (on: boolean) => void
  readonly stats: () => WebsocketStats
  readonly close: () => void
}

/** Counts of what the endpoint did. */
export interface WebsocketStats {
  readonly connections: number
  readonly open: number
  readonly subscribes: number
  /** when the last subscription was accepted (ms since the epoch) */
  readonly lastSubscribeAt?: number
  readonly eventsSent: number
}

interface Event {
  readonly id: number
  readonly at: number
  readonly createdAt: string
  readonly record: Rec
  readonly message: Rec
}

interface Subscription {
  readonly match: (e: Event) => boolean
}

interface Connection {
  readonly socket: Net.Socket
  readonly caller: Cluster.Caller | undefined
  readonly subscriptions: Array<Subscription>
  /** containers this connection may read (the check scans requests: asked once per container) */
  readonly readable: Map<string, boolean>
  msgId: number
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const SENT_ATTRIBUTES = ['state', 'name', 'owner_uuid', 'portable_data_hash', 'requesting_container_uuid', 'is_trashed']
const KINDS: Readonly<Record<string, string>> = { xvhdp: 'arvados#containerRequest', dz642: 'arvados#container', '4zz18': 'arvados#collection' }
/** events kept for `last_log_id` (the real service looks 10 minutes back) */
const KEEP_MS = 10 * 60_000

// ------------------------------------------------------------------------------ framing

/** A server frame: FIN, the opcode, the length, no mask. */
export const frame = (opcode: number, payload: Buffer): Buffer => {
  const n = payload.length
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0x80 | opcode, 127]), bigEndian64(n)])
  return Buffer.concat([head, payload])
}

const bigEndian64 = (n: number): Buffer => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}

/** Complete frames at the start of `buf` (client frames are masked), and what is left over. */
export const readFrames = (buf: Buffer): { readonly frames: ReadonlyArray<{ readonly fin: boolean; readonly opcode: number; readonly payload: Buffer }>; readonly rest: Buffer } => {
  const frames: Array<{ fin: boolean; opcode: number; payload: Buffer }> = []
  let at = 0
  for (;;) {
    if (buf.length - at < 2) break
    const b0 = buf[at]!
    const b1 = buf[at + 1]!
    let len = b1 & 127
    let p = at + 2
    if (len === 126) {
      if (buf.length - p < 2) break
      len = buf.readUInt16BE(p)
      p += 2
    } else if (len === 127) {
      if (buf.length - p < 8) break
      len = Number(buf.readBigUInt64BE(p))
      p += 8
    }
    const masked = (b1 & 128) !== 0
    const mask = masked ? buf.subarray(p, p + 4) : undefined
    if (masked) p += 4
    if (buf.length < p + len) break
    const payload = Buffer.from(buf.subarray(p, p + len))
    if (mask !== undefined) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!
    frames.push({ fin: (b0 & 128) !== 0, opcode: b0 & 15, payload })
    at = p + len
  }
  return { frames, rest: buf.subarray(at) }
}

// ------------------------------------------------------------------------------ filters

const compare = (op: string, a: number, b: number): boolean | undefined =>
  op === '=' ? a === b : op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : op === '>=' ? a >= b : undefined

/** The honoured part of a subscription's filters (event_type in, created_at comparisons). */
const subscription = (filters: unknown): Subscription => {
  const tests: Array<(e: Event) => boolean> = []
  for (const f of Array.isArray(filters) ? (filters as Array<unknown>) : []) {
    if (!Array.isArray(f) || f.length !== 3) continue
    const [col, op, val] = f as [unknown, unknown, unknown]
    if (col === 'event_type' && op === 'in' && Array.isArray(val)) {
      const types = val.filter((v): v is string => typeof v === 'string')
      tests.push((e) => types.includes(e.message['event_type'] as string))
    } else if (col === 'created_at' && typeof op === 'string' && typeof val === 'string' && !Number.isNaN(Date.parse(val))) {
      const t = Date.parse(val)
      if (compare(op, 0, 0) !== undefined) tests.push((e) => compare(op, Date.parse(e.createdAt), t) === true)
    }
  }
  return { match: (e) => tests.every((t) => t(e)) }
}

// ------------------------------------------------------------------------------ endpoint

export const make = (options: { readonly cluster: Cluster.Cluster; readonly idleMs?: number }): WebsocketEndpoint => {
  const { cluster } = options
  const connections = new Set<Connection>()
  const events: Array<Event> = []
  /** the last attributes sent per object, for `old_attributes` */
  const last = new Map<string, Rec>()
  let nextId = 1
  let refusing = false
  const counts = { connections: 0, subscribes: 0, eventsSent: 0 }
  let lastSubscribeAt: number | undefined

  const send = (c: Connection, body: unknown): void => {
    if (!c.socket.destroyed) c.socket.write(frame(1, Buffer.from(JSON.stringify(body))))
  }

  const mayRead = (c: Connection, r: Rec): boolean => {
    const caller = c.caller
    if (caller === undefined) return false
    const uuid = r['uuid'] as string
    const kind = uuid.slice(6, 11)
    if (kind === 'xvhdp') return cluster.readableCr(r, caller)
    if (kind === '4zz18') return cluster.readableCollection(r, caller)
    if (kind !== 'dz642') return false
    let ok = c.readable.get(uuid)
    if (ok !== true) c.readable.set(uuid, (ok = cluster.readableContainer(r, caller)))
    return ok
  }

  const deliver = (c: Connection, e: Event): void => {
    if (!c.subscriptions.some((s) => s.match(e)) || !mayRead(c, e.record)) return
    counts.eventsSent++
    send(c, { msgID: ++c.msgId, ...e.message })
  }

  const changed = (r: Rec): void => {
    const uuid = r['uuid']
    if (typeof uuid !== 'string') return
    const kind = KINDS[uuid.slice(6, 11)]
    if (kind === undefined) return
    const now = Date.now()
    const attrs = Object.fromEntries(SENT_ATTRIBUTES.filter((k) => k in r).map((k) => [k, r[k]]))
    const old = last.get(uuid) ?? {}
    last.set(uuid, attrs)
    const id = nextId++
    const createdAt = new Date(now).toISOString()
    const e: Event = {
      id, at: now, createdAt, record: r,
      message: {
        id, uuid: `${uuid.slice(0, 5)}-57u5n-${String(id).padStart(15, '0')}`, object_uuid: uuid, object_owner_uuid: r['owner_uuid'], object_kind: kind,
        event_type: 'update', event_at: r['modified_at'], properties: { old_attributes: old, new_attributes: attrs },
      },
    }
    events.push(e)
    while (events.length > 0 && events[0]!.at < now - KEEP_MS) events.shift()
    for (const c of connections) deliver(c, e)
  }

  const receive = (c: Connection, text: string): void => {
    let msg: unknown
    try {
      msg = JSON.parse(text)
    } catch {
      msg = undefined
    }
    const m = (typeof msg === 'object' && msg !== null ? msg : {}) as Rec
    if (m['method'] !== 'subscribe') return send(c, { status: 400 })
    counts.subscribes++
    lastSubscribeAt = Date.now()
    const sub = subscription(m['filters'])
    send(c, { status: 200 })
    c.subscriptions.push(sub)
    const from = typeof m['last_log_id'] === 'number' ? m['last_log_id'] : 0
    if (from > 0) for (const e of events) if (e.id > from && sub.match(e) && mayRead(c, e.record)) {
      counts.eventsSent++
      send(c, { msgID: ++c.msgId, ...e.message })
    }
  }

  const upgrade = (req: Http.IncomingMessage, socket: Net.Socket, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'https://double.invalid')
    const key = req.headers['sec-websocket-key']
    const refuse = (status: string): void => void socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    if (url.pathname !== '/websocket') return refuse('404 Not Found')
    if (String(req.headers['upgrade']).toLowerCase() !== 'websocket' || typeof key !== 'string') return refuse('400 Bad Request')
    if (refusing) return refuse('503 Service Unavailable')
    const accept = Crypto.createHash('sha1').update(key + GUID).digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    const token = url.searchParams.get('api_token')
    const c: Connection = { socket, caller: token === null ? undefined : cluster.authenticate(token), subscriptions: [], readable: new Map(), msgId: 0 }
    connections.add(c)
    counts.connections++
    let pending = Buffer.from(head)
    let fragments: Array<Buffer> = []
    const idle = setInterval(() => send(c, {}), options.idleMs ?? 60_000)
    idle.unref()
    const gone = (): void => {
      clearInterval(idle)
      connections.delete(c)
    }
    socket.on('close', gone)
    socket.on('error', gone)
    socket.on('data', (chunk: Buffer) => {
      const { frames, rest } = readFrames(Buffer.concat([pending, chunk]))
      pending = Buffer.from(rest)
      for (const f of frames) {
        if (f.opcode === 8) {
          if (!socket.destroyed) socket.end(frame(8, f.payload.subarray(0, 2)))
          return gone()
        }
        if (f.opcode === 9) {
          if (!socket.destroyed) socket.write(frame(10, f.payload))
          continue
        }
        if (f.opcode === 10) continue
        fragments.push(f.payload)
        if (!f.fin) continue
        const whole = Buffer.concat(fragments)
        fragments = []
        receive(c, whole.toString('utf8'))
      }
    })
  }

  return {
    upgrade,
    changed,
    dropAll: () => {
      for (const c of connections) c.socket.destroy()
      connections.clear()
    },
    refuse: (on) => {
      refusing = on
    },
    stats: () => ({ ...counts, open: connections.size, ...(lastSubscribeAt === undefined ? {} : { lastSubscribeAt }) }),
    close: () => {
      for (const c of connections) c.socket.destroy()
      connections.clear()
    },
  }
}
