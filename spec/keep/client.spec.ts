/**
 * Specs for lib/keep/client.ts: rendezvous order (vectors from the Arvados Go client's
 * root_sorter_test.go, reproduced in ARVADOS-FACTS §12.1 terms), service lists, and block
 * GET/PUT over real loopback HTTP servers: small keepstores inside this file (for several
 * services, corrupt data and per-service faults) and the Keep server of the Arvados double.
 */
import * as Crypto from 'node:crypto'
import * as Http from 'node:http'
import type * as Net from 'node:net'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Client from '../../lib/arvados/client.js'
import * as Config from '../../lib/arvados/config.js'
import * as Errors from '../../lib/errors.js'
import * as Keep from '../../lib/keep/client.js'
import * as Locator from '../../lib/keep/locator.js'
import { startDouble, type Double } from '../support/double/index.js'

const TOKEN = 'v2/zzzzz-gj3su-000000000000001/keeptokensecret0123456789abcdefghijklmnopqrstuvwxyz'
const md5 = (b: Uint8Array | string): string => Crypto.createHash('md5').update(b).digest('hex')
const fast = { attempts: 3, baseMs: 5, maxMs: 20 }

// ---
const rendezvous = suite('serviceOrder')
const fakeServices = (n: number) => Array.from({ length: n }, (_, i) => ({ uuid: `zzzzz-bi6l4-${i.toString(16).padStart(15, '0')}`, i }))
rendezvous('should order 16 services exactly as the reference set of the Arvados clients', () => {
  // Go sdk/go/keepclient/root_sorter_test.go ReferenceSet: block hash = md5 of the 64-hex-digit rendering of h.
  const expected = ['3eab2d5fc9681074', '097dba52e648f1c3', 'c5b4e023f8a7d691', '9d81c02e76a3bf54']
  expected.forEach((order, h) => {
    const hash = md5(h.toString(16).padStart(64, '0'))
    const got = Keep.serviceOrder(hash, fakeServices(16))
      .map((s) => s.i.toString(16))
      .join('')
    assert.is(got, order, `block ${h}`)
  })
})
rendezvous('should return one service as is and no service for none', () => {
  assert.equal(Keep.serviceOrder(md5('foo'), fakeServices(1)).map((s) => s.i), [0])
  assert.equal(Keep.serviceOrder(md5('foo'), []), [])
})
rendezvous('should put a +K@<service uuid> hint first', () => {
  const services = Keep.servicesFromUrls(['http://a:1', 'http://b:2', 'http://c:3'])
  const hash = md5(h0())
  const plain = Keep.probeOrder({ hash, size: 1, hints: [] }, services)
  const last = plain[plain.length - 1] as Keep.Service
  const hinted = Keep.probeOrder({ hash, size: 1, hints: [`K@${last.uuid}`] }, services)
  assert.is(hinted[0], last)
  assert.is(hinted.length, 3)
})
const h0 = (): string => 'x'

const lists = suite('service lists')
lists('should name ARVADOS_KEEP_SERVICES entries 00000-bi6l4-<index>', () => {
  assert.equal(Keep.servicesFromUrls(['http://k:25107', 'https://k2:443/']), [
    { uuid: '00000-bi6l4-000000000000000', root: 'http://k:25107/', type: 'disk', readOnly: false },
    { uuid: '00000-bi6l4-000000000000001', root: 'https://k2:443/', type: 'disk', readOnly: false },
  ])
})
lists('should build roots from keep_services records (bracketing IPv6)', () => {
  const s = Keep.servicesFromApi([
    { uuid: 'zzzzz-bi6l4-000000000000000', service_host: 'keep0.example', service_port: 25107, service_ssl_flag: false, service_type: 'disk', read_only: false },
    { uuid: 'zzzzz-bi6l4-000000000000001', service_host: '::1', service_port: 443, service_ssl_flag: true, service_type: 'proxy', read_only: null },
  ])
  assert.is(s[0]?.root, 'http://keep0.example:25107/')
  assert.is(s[1]?.root, 'https://[::1]:443/')
  assert.is(s[1]?.type, 'proxy')
})

// ---
// A small keepstore: md5-checking PUT answering a signed-looking locator, GET by locator.
interface Store {
  readonly url: string
  readonly blocks: Map<string, Buffer>
  readonly log: Array<{ method: string; path: string; headers: Http.IncomingHttpHeaders }>
  /** Status answers to give before behaving normally (e.g. [503, 503]). */
  readonly failures: Array<number | 'reset'>
  corrupt: boolean
  readonly close: () => Promise<void>
}
const startStore = async (): Promise<Store> => {
  const blocks = new Map<string, Buffer>()
  const log: Store['log'] = []
  const failures: Store['failures'] = []
  const state = { corrupt: false }
  const sockets = new Set<Net.Socket>()
  const server = Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      log.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers })
      const f = failures.shift()
      if (f === 'reset') return req.socket.destroy()
      if (f !== undefined) return res.writeHead(f).end('fault\n')
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return res.writeHead(401).end('no\n')
      const loc = (req.url ?? '/').slice(1)
      const hash = loc.slice(0, 32)
      if (req.method === 'PUT') {
        const body = Buffer.concat(chunks)
        if (md5(body) !== hash) return res.writeHead(400).end('hash mismatch\n')
        blocks.set(hash, body)
        return res.writeHead(200, { 'X-Keep-Replicas-Stored': '1' }).end(`${hash}+${body.length}+A${'ab'.repeat(20)}@${'7fffffff'}\n`)
      }
      const b = blocks.get(hash)
      if (b === undefined) return res.writeHead(404).end('not found\n')
      const out = Buffer.from(b)
      if (state.corrupt && out.length > 0) out[0] = (out[0] as number) ^ 0xff
      res.writeHead(200, { 'Content-Length': out.length }).end(out)
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as Net.AddressInfo).port
  const store: Store = {
    url: `http://127.0.0.1:${port}/`,
    blocks,
    log,
    failures,
    get corrupt() {
      return state.corrupt
    },
    set corrupt(v: boolean) {
      state.corrupt = v
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
  return store
}

const config = Config.make({ apiHost: '127.0.0.1:1', apiToken: TOKEN })
const right = <A>(r: E.Either<Errors.SdkError, A>): A => {
  if (E.isLeft(r)) throw new Error(Errors.format(r.left))
  return r.right
}
const leftOf = <A>(r: E.Either<Keep.KeepError, A>): Keep.KeepError => {
  if (E.isRight(r)) throw new Error('expected a KeepError')
  return r.left
}
const noToken = (e: Errors.SdkError): void => {
  const text = Errors.format(e) + JSON.stringify(e)
  assert.not.ok(text.includes('keeptokensecret'), 'the token leaked into an error')
}

const blocks = suite('get/put over loopback keepstores')
let stores: Array<Store> = []
let client: Keep.KeepClient
let services: ReadonlyArray<Keep.Service> = []
blocks.before.each(async () => {
  stores = await Promise.all([startStore(), startStore(), startStore()])
  services = stores.map((s, i) => ({ uuid: `zzzzz-bi6l4-${String(i).padStart(15, '0')}`, root: s.url, type: 'disk', readOnly: false }))
  client = Keep.make(config, { services, retry: fast, replicas: 2 })
})
blocks.after.each(async () => {
  await client.close()
  await Promise.all(stores.map((s) => s.close()))
})
const storeOf = (root: string): Store => stores.find((s) => s.url === root) as Store

blocks('should write to the first two services in rendezvous order and return a signed locator', async () => {
  const data = new TextEncoder().encode('hello keep')
  const stored = right(await client.put(data)())
  assert.is(stored.locator.hash, md5(data))
  assert.is(stored.locator.size, data.byteLength)
  assert.ok(Locator.signature(stored.locator) !== undefined, 'locator is signed')
  assert.is(stored.replicas, 2)
  const order = Keep.serviceOrder(md5(data), services)
  assert.is(storeOf((order[0] as Keep.Service).root).blocks.size, 1)
  assert.is(storeOf((order[1] as Keep.Service).root).blocks.size, 1)
  assert.is(storeOf((order[2] as Keep.Service).root).blocks.size, 0)
  const put = storeOf((order[0] as Keep.Service).root).log[0]
  assert.is(put?.headers['x-keep-desired-replicas'], '2')
  assert.match(String(put?.headers['x-request-id']), /^req-[0-9a-z]{20}$/)
})
blocks('should read a block back, verifying it', async () => {
  const data = Crypto.randomBytes(100_000)
  const stored = right(await client.put(data, { replicas: 1 })())
  const back = right(await client.get(Locator.format(stored.locator))())
  assert.ok(Buffer.from(back).equals(data))
})
blocks('should never return corrupt data: it tries the next service, and fails when all are corrupt', async () => {
  const data = new TextEncoder().encode('precious bytes')
  const stored = right(await client.put(data)())
  const order = Keep.serviceOrder(md5(data), services)
  storeOf((order[0] as Keep.Service).root).corrupt = true
  const back = right(await client.get(stored.locator)())
  assert.is(new TextDecoder().decode(back), 'precious bytes')
  storeOf((order[1] as Keep.Service).root).corrupt = true
  const e = leftOf(await client.get(stored.locator)())
  assert.is(e._tag, 'KeepError')
  assert.is(e.code, 'ARV_KEEP_CORRUPT')
  assert.ok(e.message.includes(`${md5(data)}+14`), e.message)
  assert.ok((e.details ?? []).some((d) => d.includes('md5 does not match')), (e.details ?? []).join('\n'))
  noToken(e)
})
blocks('should retry 5xx and resets with backoff, then succeed', async () => {
  const data = new TextEncoder().encode('retry me')
  const order = Keep.serviceOrder(md5(data), services)
  const first = storeOf((order[0] as Keep.Service).root)
  first.failures.push(503, 'reset')
  const stored = right(await client.put(data, { replicas: 1 })())
  assert.is(stored.replicas, 1)
  assert.is(first.log.length, 3)
  assert.is(first.blocks.size, 1)
  // all three attempts carried the same request id
  assert.is(new Set(first.log.map((l) => l.headers['x-request-id'])).size, 1)
})
blocks('should move on to the next service when one keeps failing', async () => {
  const data = new TextEncoder().encode('failover')
  const order = Keep.serviceOrder(md5(data), services)
  storeOf((order[0] as Keep.Service).root).failures.push(500, 500, 500, 500)
  const stored = right(await client.put(data, { replicas: 1 })())
  assert.is(stored.replicas, 1)
  assert.is(storeOf((order[1] as Keep.Service).root).blocks.size, 1)
})
blocks('should report NOT_FOUND when no service has the block', async () => {
  const e = leftOf(await client.get(`${md5('nope')}+4`)())
  assert.is(e.code, 'ARV_KEEP_NOT_FOUND')
  assert.is(e.attempts.length, 3)
  noToken(e)
})
blocks('should report fewer replicas than wanted with the stored locator', async () => {
  const e = leftOf(await client.put(new TextEncoder().encode('many'), { replicas: 5 })())
  assert.is(e.code, 'ARV_KEEP_REPLICAS')
  assert.ok(e.message.includes('3 of 5 wanted replicas'), e.message)
  assert.ok((e as unknown as { locator: Locator.Locator }).locator.hash === md5('many'))
})
blocks('should not store the empty block nor fetch it', async () => {
  const stored = right(await client.put(new Uint8Array(0))())
  assert.equal(stored.locator, Locator.EMPTY_BLOCK)
  assert.is(right(await client.get('d41d8cd98f00b204e9800998ecf8427e+0')()).byteLength, 0)
  assert.is(stores.reduce((n, s) => n + s.log.length, 0), 0)
})
blocks('should refuse a block over 64 MiB without sending it', async () => {
  const e = leftOf(await client.put(new Uint8Array(Locator.MAX_BLOCK_SIZE + 1))())
  assert.is(e.code, 'ARV_KEEP_TOO_LARGE')
})
blocks('should report a refused token as ARV_KEEP_PUT without printing it', async () => {
  const other = Keep.make(Config.make({ apiHost: 'x', apiToken: 'v2/zzzzz-gj3su-000000000000009/wrongsecretwrongsecretwrongsecret' }), { services, retry: fast })
  const e = leftOf(await other.put(new TextEncoder().encode('x'))())
  await other.close()
  assert.is(e.code, 'ARV_KEEP_PUT')
  assert.ok(e.message.includes('401'), e.message)
  assert.not.ok(Errors.format(e).includes('wrongsecret'))
})
blocks('should cut a stream into blocks in order with bounded blocks in flight', async () => {
  const c = Keep.make(config, { services, retry: fast, replicas: 1, concurrency: 2 })
  const chunks = Array.from({ length: 10 }, (_, i) => Buffer.alloc(700, i))
  async function* source(): AsyncGenerator<Uint8Array> {
    for (const ch of chunks) yield ch
  }
  const r = right(await c.putStream(source(), { blockSize: 1024 })())
  await c.close()
  const all = Buffer.concat(chunks)
  assert.is(r.size, 7000)
  assert.is(r.locators.length, 7)
  r.locators.forEach((l, i) => {
    const part = all.subarray(i * 1024, Math.min(all.length, (i + 1) * 1024))
    assert.is(l.hash, md5(part), `block ${i}`)
    assert.is(l.size, part.length)
  })
})

// ---
const withDouble = suite('against the Keep server of the Arvados double')
let double: Double
let api: Client.ArvadosClient
let keep: Keep.KeepClient
withDouble.before(async () => {
  double = await startDouble({ runContainers: false })
  const cfg = Config.make({ apiHost: double.apiHost, apiToken: double.token, ca: double.ca })
  api = Client.make(cfg, { retry: fast })
  keep = Keep.make(cfg, { api, retry: fast, replicas: 1 })
})
withDouble.after(async () => {
  await keep.close()
  await api.close()
  await double.stop()
})
withDouble('should find the service through keep_services/accessible', async () => {
  const s = right(await keep.services()())
  assert.equal(s.map((x) => x.root), [double.keepUrl])
})
withDouble('should write a block, get a signature the double accepts, and read it back verified', async () => {
  const data = Crypto.randomBytes(300_000)
  const n = double.keepRequests.length
  const stored = right(await keep.put(data)())
  assert.is(stored.replicas, 1)
  assert.ok(Locator.signature(stored.locator) !== undefined)
  const put = double.keepRequests[n]
  assert.is(put?.method, 'PUT')
  assert.is(put?.path, `/${md5(data)}`)
  assert.is(put?.headers['x-keep-desired-replicas'], '1')
  assert.match(put?.headers['x-request-id'] ?? '', /^req-/)
  const back = right(await keep.get(stored.locator)())
  assert.ok(Buffer.from(back).equals(data))
  // the signed locator is good for a collection too
  const manifest = `. ${Locator.format(stored.locator)} 0:${data.length}:blob.bin\n`
  const c = right(await api.collections.create({ name: 'with-block', manifest_text: manifest })())
  const portable = `. ${Locator.key(stored.locator)} 0:${data.length}:blob.bin\n`
  assert.is(c.portable_data_hash, `${md5(portable)}+${portable.length}`)
})
withDouble('should refuse to read without a valid signature (ARV_KEEP_PERMISSION), never printing the token', async () => {
  const data = new TextEncoder().encode('signed only')
  right(await keep.put(data)())
  const e = leftOf(await keep.get(`${md5(data)}+${data.length}`)())
  assert.is(e.code, 'ARV_KEEP_PERMISSION')
  assert.ok((e.details ?? []).some((d) => d.includes('HTTP 401')), (e.details ?? []).join('|'))
  noTokenOf(e, double.token)
})
withDouble('should retry injected Keep 5xx and resets', async () => {
  double.setFaults({ keepErrorRate: 0.5, keepResetRate: 0.2, errorStatuses: [500, 502, 503] })
  const c = Keep.make(Config.make({ apiHost: double.apiHost, apiToken: double.token, ca: double.ca }), { api, retry: { attempts: 12, baseMs: 1, maxMs: 5 }, replicas: 1 })
  for (let i = 0; i < 6; i++) {
    const data = Crypto.randomBytes(1000 + i)
    const stored = right(await c.put(data)())
    assert.ok(Buffer.from(right(await c.get(stored.locator)())).equals(data))
  }
  await c.close()
  double.setFaults({ keepErrorRate: 0, keepResetRate: 0 })
  assert.ok(double.keepRequests.some((r) => r.outcome === 'reset') && double.keepRequests.some((r) => r.outcome === 500 || r.outcome === 502 || r.outcome === 503))
})
withDouble('should upload a stream of several blocks that the double can serve', async () => {
  const parts = Array.from({ length: 5 }, () => Crypto.randomBytes(40_000))
  async function* source(): AsyncGenerator<Uint8Array> {
    yield* parts
  }
  const r = right(await keep.putStream(source(), { blockSize: 65_536 })())
  assert.is(r.size, 200_000)
  assert.is(r.locators.length, 4)
  const joined = Buffer.concat(await Promise.all(r.locators.map(async (l) => Buffer.from(right(await keep.get(l)())))))
  assert.ok(joined.equals(Buffer.concat(parts)))
})

const noTokenOf = (e: Errors.SdkError, token: string): void => {
  const text = Errors.format(e) + JSON.stringify(e)
  assert.not.ok(text.includes(token.split('/')[2] ?? token), 'the token leaked into an error')
}

rendezvous.run()
lists.run()
blocks.run()
withDouble.run()
