/**
 * A faithful single-machine Arvados double for the specs (DESIGN §6): an HTTPS API server on
 * 127.0.0.1 with a self-signed certificate, a Keep block server, and a container executor that
 * runs each container's command as a real child process in a private mount namespace.
 *
 * Never imported by lib/. See README.md in this folder for what is faithful and what is not.
 *
 * @example
 *   const double = await startDouble()
 *   // point a client at https://${double.apiHost} with double.ca as an extra CA and double.token
 *   await double.stop()
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Https from 'node:https'
import type * as Net from 'node:net'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Cluster from './cluster.js'
import * as Executor from './executor.js'
import * as Http from './http.js'
import * as Schemas from './schemas.js'
import * as Tls from './tls.js'
import * as Websocket from './websocket.js'

export type { Faults, RecordedRequest } from './http.js'
export type { FailContainers, Rec } from './cluster.js'

/** Options of `startDouble`. */
export interface DoubleOptions {
  readonly faults?: Partial<Http.Faults>
  /** `API.MaxItemsPerResponse`: the cap on `limit` (real default 1000). */
  readonly maxPageLimit?: number
  /** Where containers' staging directories go (default: a fresh directory under the OS temp dir, removed on stop). */
  readonly tmpDir?: string
  /** Seed of the fault decisions and generated uuids (default 1). */
  readonly seed?: number
  /** Blob signature TTL in seconds (real default 2 weeks). */
  readonly blobSigningTtl?: number
  /** Number of Keep services (keepstores), each on its own port with its own blocks (default 1). */
  readonly keepServices?: number
  /** ARVADOS_API_HOST_INSECURE given to API containers (default '': they get the CA at /etc/arvados/ca-certificates.crt). */
  readonly apiHostInsecureInContainers?: string
  /** Run containers (default true). When false, Queued containers stay Queued. */
  readonly runContainers?: boolean
  /** Containers run at once (default: no limit): 2 makes completions arrive in a steady trickle. */
  readonly maxRunning?: number
  /** Offer the websocket event bus (discovery `websocketUrl`, `wss://<apiHost>/websocket`; default true). */
  readonly websocket?: boolean
}

/** Counters of what the double did. */
export interface Counters {
  readonly containerRequestsCreated: number
  readonly containersCreated: number
  readonly containersStarted: number
  readonly containersReused: number
  readonly containersCancelled: number
  readonly collectionsCreated: number
  readonly blocksStored: number
  readonly apiRequests: number
  readonly keepRequests: number
}

/** A running double. */
export interface Double {
  /** `127.0.0.1:PORT`, as ARVADOS_API_HOST. */
  readonly apiHost: string
  /** PEM of the self-signed certificate of both servers (use as an extra CA). */
  readonly ca: string
  /** A valid token of a normal (non-admin) user, v2 form. */
  readonly token: string
  /** A valid token of an admin user. */
  readonly adminToken: string
  /** Base URL of the first Keep service, `https://127.0.0.1:PORT/` (what keep_services/accessible lists). */
  readonly keepUrl: string
  /** Base URLs of all Keep services, in the order of their uuids (`zzzzz-bi6l4-00000000000000N`). */
  readonly keepUrls: ReadonlyArray<string>
  /** Serves this block (md5 hex) with its first byte flipped from now on, from every Keep service. */
  readonly corruptBlock: (hash: string) => void
  readonly userUuid: string
  /** Changes faults from now on (merged with the current ones). */
  readonly setFaults: (f: Partial<Http.Faults>) => void
  /** Every API request received, in order. */
  readonly requests: ReadonlyArray<Http.RecordedRequest>
  /** Every Keep request received, in order. */
  readonly keepRequests: ReadonlyArray<Http.RecordedRequest>
  readonly counters: Counters
  /** Direct access to the state, for assertions (do not mutate). */
  readonly cluster: Cluster.Cluster
  /** Waits until every container of these requests has finished and the requests are Final (or the time passes). */
  /** The websocket event bus: `dropAll()` (a network drop), `refuse(on)`, `stats()`. */
  readonly websocket: Pick<Websocket.WebsocketEndpoint, 'dropAll' | 'refuse' | 'stats'>
  readonly waitFinal: (crUuids: ReadonlyArray<string>, timeoutMs?: number) => Promise<ReadonlyArray<Cluster.Rec>>
  /** Kills running containers, closes both servers, removes its temp dir. */
  readonly stop: () => Promise<void>
}

const listen = (server: Https.Server): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as Net.AddressInfo).port))
  })

/** Starts a double on random ports. */
export const startDouble = async (options: DoubleOptions = {}): Promise<Double> => {
  const ownDir = options.tmpDir === undefined
  const dir = options.tmpDir ?? Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arvados-double-'))
  Fs.mkdirSync(dir, { recursive: true })
  const tls = Tls.makeSelfSigned(dir)
  const random = Http.seededRandom(options.seed ?? 1)
  const faultRandom = Http.seededRandom((options.seed ?? 1) ^ 0x5eed)
  let faults: Http.Faults = { ...Http.noFaults, ...options.faults }
  const ttl = options.blobSigningTtl ?? 1209600
  const cluster = Cluster.makeCluster({ blobSigningKey: Crypto.randomBytes(32).toString('hex'), blobSigningTtl: ttl, random, ...(options.maxRunning === undefined ? {} : { maxRunning: options.maxRunning }), ...(faults.failContainers === undefined ? {} : { failContainers: faults.failContainers }) })
  const schemas = Schemas.load()
  const requests: Array<Http.RecordedRequest> = []
  const keepRequests: Array<Http.RecordedRequest> = []
  const sockets = new Set<Net.Socket>()
  const track = (s: Https.Server): void => {
    s.on('connection', (sock: Net.Socket) => {
      sockets.add(sock)
      sock.on('close', () => sockets.delete(sock))
    })
  }
  const apiServer = Https.createServer({ key: tls.key, cert: tls.cert })
  track(apiServer)
  const apiPort = await listen(apiServer)
  const created = cluster.now()
  const keepServers: Array<Https.Server> = []
  const keepServices: Array<Http.KeepService> = []
  for (let i = 1; i <= Math.max(1, options.keepServices ?? 1); i++) {
    const server = Https.createServer({ key: tls.key, cert: tls.cert })
    track(server)
    const port = await listen(server)
    keepServers.push(server)
    keepServices.push({
      blocks: new Map(),
      record: {
        kind: 'arvados#keepService', etag: '', uuid: `${Cluster.CLUSTER}-bi6l4-${String(i).padStart(15, '0')}`, owner_uuid: Cluster.SYSTEM_USER, created_at: created, modified_at: created,
        modified_by_user_uuid: Cluster.SYSTEM_USER, service_host: '127.0.0.1', service_port: port, service_ssl_flag: true, service_type: 'disk', read_only: false,
      },
    })
  }
  const corrupt = new Set<string>()
  const apiHost = `127.0.0.1:${apiPort}`
  const keepUrls = keepServices.map((k) => `https://127.0.0.1:${k.record['service_port'] as number}/`)
  const keepUrl = keepUrls[0] as string
  const discovery = (): Cluster.Rec => ({
    kind: 'discovery#restDescription', id: 'arvados:v1', name: 'arvados', version: 'v1', revision: schemas.revision, rootUrl: `https://${apiHost}/`, baseUrl: `https://${apiHost}/arvados/v1/`,
    basePath: '/arvados/v1/', servicePath: 'arvados/v1/', batchPath: 'batch', uuidPrefix: Cluster.CLUSTER, defaultTrashLifetime: 1209600, blobSignatureTtl: ttl,
    maxRequestSize: 134217728, maxItemsPerResponse: options.maxPageLimit ?? 1000, websocketUrl: options.websocket === false ? '' : `wss://${apiHost}/websocket`, workbench2Url: '', keepWebServiceUrl: '', crunchLogUpdatePeriod: 1800,
    crunchLogUpdateSize: 33554432, remoteHosts: {}, defaultCollectionReplication: 1, resources: schemas.resources, schemas: schemas.schemas,
  })
  const ctx: Http.Context = {
    cluster, schemas, maxPageLimit: options.maxPageLimit ?? 1000, keepServices: () => keepServices, corrupt, faults: () => faults, random: faultRandom, requests, keepRequests, discovery,
    liveLog: (containerUuid, file) => executor.liveLog(containerUuid, file),
  }
  const apiHandler = Http.apiHandler(ctx)
  apiServer.on('request', (req, res) => void apiHandler(req, res))
  const websocket = Websocket.make({ cluster })
  if (options.websocket !== false) {
    cluster.onTouch(websocket.changed)
    apiServer.on('upgrade', websocket.upgrade)
  }
  keepServers.forEach((server, i) => {
    const handler = Http.keepHandler(ctx, keepServices[i] as Http.KeepService)
    server.on('request', (req, res) => void handler(req, res))
  })

  const executor = Executor.makeExecutor({
    cluster, dir: Path.join(dir, 'containers'), apiHost, keepUrl, ca: tls.cert, caPath: Path.join(dir, 'tls.crt'),
    ...(options.apiHostInsecureInContainers === undefined ? {} : { apiHostInsecure: options.apiHostInsecureInContainers }),
  })
  if (options.runContainers !== false) cluster.setExecutor(executor)

  const waitFinal = async (crUuids: ReadonlyArray<string>, timeoutMs = 60_000): Promise<ReadonlyArray<Cluster.Rec>> => {
    const until = Date.now() + timeoutMs
    for (;;) {
      const crs = crUuids.map((u) => cluster.crs.get(u))
      if (crs.every((r) => r !== undefined && r['state'] === 'Final')) return crs.map((r) => cluster.renderCr(r as Cluster.Rec))
      if (Date.now() > until) return crs.filter((r): r is Cluster.Rec => r !== undefined).map(cluster.renderCr)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  return {
    apiHost,
    ca: tls.cert,
    token: cluster.userToken,
    adminToken: cluster.adminToken,
    keepUrl,
    keepUrls,
    corruptBlock: (hash) => void corrupt.add(hash.slice(0, 32)),
    userUuid: cluster.user['uuid'] as string,
    setFaults: (f) => {
      faults = { ...faults, ...f }
      if ('failContainers' in f) cluster.setFailContainers(f.failContainers)
    },
    requests,
    keepRequests,
    get counters(): Counters {
      return { ...cluster.counters, apiRequests: requests.length, keepRequests: keepRequests.length }
    },
    cluster,
    websocket,
    waitFinal,
    stop: async () => {
      websocket.close()
      await executor.stopAll()
      for (const s of sockets) s.destroy()
      await Promise.all([apiServer, ...keepServers].map((s) => new Promise<void>((r) => s.close(() => r()))))
      if (ownDir) Fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A raw answer from `requestAgainst`. */
export interface RawAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown
}

/**
 * Raw HTTPS request to the double's API (or Keep, with a full URL). `body` is sent as JSON unless it is
 * a string (sent as-is) or a URLSearchParams (sent form-encoded). Uses the user token unless `token` is given
 * (`null` for none). Rejects on a reset connection.
 */
export const requestAgainst = (
  double: Pick<Double, 'apiHost' | 'ca' | 'token'>,
  method: string,
  path: string,
  body?: unknown,
  opts: { readonly token?: string | null; readonly headers?: Readonly<Record<string, string>> } = {},
): Promise<RawAnswer> =>
  new Promise((resolve, reject) => {
    const url = path.startsWith('https://') ? new URL(path) : new URL(path.startsWith('/') ? path : `/arvados/v1/${path}`, `https://${double.apiHost}`)
    const token = opts.token === undefined ? double.token : opts.token
    const payload = body === undefined ? undefined : body instanceof URLSearchParams ? body.toString() : Buffer.isBuffer(body) ? body : typeof body === 'string' ? body : JSON.stringify(body)
    const headers: Record<string, string> = { ...(token === null ? {} : { Authorization: `Bearer ${token}` }), ...opts.headers }
    if (payload !== undefined && headers['Content-Type'] === undefined)
      headers['Content-Type'] = body instanceof URLSearchParams ? 'application/x-www-form-urlencoded' : Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json'
    const req = Https.request(url, { method, ca: double.ca, headers, agent: false }, (res) => {
      const chunks: Array<Buffer> = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    if (payload !== undefined) req.write(payload)
    req.end()
  })
