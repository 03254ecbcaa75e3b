/**
 * Specs for the HTTP edge (lib/arvados/transport.ts) through both clients, against hostile
 * loopback servers: one that accepts and never answers, a slowloris (headers or body one byte
 * at a time), a 4 GiB error body, a success body past its cap, nothing listening, and a run
 * cancelled while a call hangs. Each ends with a clear error value; none reads the huge body.
 */
import * as Fs from 'node:fs'
import * as Net from 'node:net'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Tls from 'node:tls'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Client from '../../lib/arvados/client.js'
import * as Config from '../../lib/arvados/config.js'
import * as Transport from '../../lib/arvados/transport.js'
import * as Errors from '../../lib/errors.js'
import * as Keep from '../../lib/keep/client.js'
import * as SelfSigned from '../support/double/tls.js'

const TOKEN = 'v2/zzzzz-gj3su-000000000000001/edgesecretedgesecretedgesecretedgesecret12'
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-edges-'))
const pair = SelfSigned.makeSelfSigned(dir)

/** A raw TLS (or plain TCP) server whose connection handler does what a test needs. */
const serve = async (onSocket: (socket: Net.Socket) => void, tls = true): Promise<{ port: number; close: () => Promise<void>; sockets: Set<Net.Socket> }> => {
  const sockets = new Set<Net.Socket>()
  const track = (s: Net.Socket): void => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => undefined)
    onSocket(s)
  }
  const server = tls ? Tls.createServer({ key: pair.key, cert: pair.cert }, track) : Net.createServer(track)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as Net.AddressInfo).port
  return {
    port,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

const api = (port: number, options: Client.Options): Client.ArvadosClient =>
  Client.make(Config.make({ apiHost: `127.0.0.1:${port}`, apiToken: TOKEN, ca: pair.cert }), options)

const leftOf = <A>(r: E.Either<Errors.SdkError, A>): Errors.SdkError => {
  if (E.isRight(r)) throw new Error('expected an error')
  return r.left
}

/** Writes `total` bytes of `byte` as fast as the peer reads, counting what was written. */
const pour = (socket: Net.Socket, total: number, sent: { n: number }): void => {
  const chunk = Buffer.alloc(64 * 1024, 0x78)
  const more = (): void => {
    while (sent.n < total && !socket.destroyed) {
      sent.n += chunk.length
      if (!socket.write(chunk)) return void socket.once('drain', more)
    }
  }
  more()
}

const drip = (socket: Net.Socket, text: string, everyMs: number): void => {
  let i = 0
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer)
    socket.write(text[i++]!)
  }, everyMs)
  socket.on('close', () => clearInterval(timer))
}

const edges = suite('API client edges')

edges('should end a call to a server that accepts and never answers with a deadline error, within its time budget', async () => {
  const s = await serve(() => undefined)
  const retries: Array<Transport.RetryEvent> = []
  const c = api(s.port, { timeoutMs: 300, retry: { attempts: 1000, baseMs: 1, maxMs: 5, totalMs: 1200 }, onRetry: (e) => retries.push(e) })
  const e = leftOf(await c.users.current()())
  await c.close()
  await s.close()
  assert.is(e.code, 'ARV_NETWORK')
  assert.match(e.message, /no complete response within \d+ ms/)
  // the total budget, not the count, ended it
  assert.ok(retries.length >= 1 && retries.length < 20, String(retries.length))
})

edges('should cut off a slowloris that sends its headers one byte at a time', async () => {
  const s = await serve((socket) => socket.once('data', () => drip(socket, 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}', 50)))
  const c = api(s.port, { timeoutMs: 400, retry: { attempts: 2, baseMs: 1, maxMs: 2 } })
  const e = leftOf(await c.users.current()())
  await c.close()
  await s.close()
  assert.is(e.code, 'ARV_NETWORK')
  assert.match(e.message, /no complete response within \d+ ms/)
})

edges('should cut off a slowloris that sends its body one byte at a time', async () => {
  const body = JSON.stringify({ uuid: 'zzzzz-tpzed-000000000000000', padding: 'x'.repeat(1000) })
  const s = await serve((socket) =>
    socket.once('data', () => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`)
      drip(socket, body, 50)
    }),
  )
  const c = api(s.port, { timeoutMs: 400, retry: { attempts: 1 } })
  const e = leftOf(await c.users.current()())
  await c.close()
  await s.close()
  assert.is(e.code, 'ARV_NETWORK')
  assert.ok(e.message.includes('no complete response within'), e.message)
})

edges('should read a 4 GiB error body only up to its cap and report the status', async () => {
  const sent = { n: 0 }
  const s = await serve((socket) =>
    socket.once('data', () => {
      socket.write(`HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: ${4 * 1024 ** 3}\r\n\r\n`)
      pour(socket, 4 * 1024 ** 3, sent)
    }),
  )
  const c = api(s.port, { retry: { attempts: 1 } })
  const e = leftOf(await c.users.current()())
  await c.close()
  await s.close()
  assert.is(e.code, 'ARV_HTTP_500')
  // the connection was dropped after the cap: far less than the body went out
  assert.ok(sent.n < 256 * 1024 * 1024, `server wrote ${sent.n} bytes`)
  assert.ok(e.message.length < 400, e.message)
})

edges('should refuse a success body past maxBodyBytes without reading the rest', async () => {
  const sent = { n: 0 }
  const s = await serve((socket) =>
    socket.once('data', () => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${1024 ** 3}\r\n\r\n`)
      pour(socket, 1024 ** 3, sent)
    }),
  )
  const c = api(s.port, { retry: { attempts: 3, baseMs: 1, maxMs: 2 }, maxBodyBytes: 1024 * 1024 })
  const e = leftOf(await c.collections.list()())
  await c.close()
  await s.close()
  assert.is(e.code, 'ARV_RESPONSE_TOO_LARGE')
  assert.ok(e.message.includes('1048576 bytes'), e.message)
  assert.ok(sent.n < 256 * 1024 * 1024, `server wrote ${sent.n} bytes`)
})

edges('should say it is retrying while nothing listens, then fail with a clear error', async () => {
  const s = await serve(() => undefined)
  const port = s.port
  await s.close()
  const lines: Array<string> = []
  const c = api(port, { retry: { attempts: 1000, baseMs: 5, maxMs: 20, totalMs: 2000 }, onRetry: (e) => lines.push(Transport.retryLine(e)) })
  const e = leftOf(await c.users.current()())
  await c.close()
  assert.is(e.code, 'ARV_NETWORK')
  assert.ok(lines.length >= 1, 'no retry line')
  assert.match(lines[0]!, /^API not reachable \(ECONNREFUSED on GET \/arvados\/v1\/users\/current, attempt 1\), retrying for up to [\d.]+ m?s$/)
  assert.ok((e as { attempts?: number }).attempts! < 1000)
})

edges('should abort a hung call at once when the run is cancelled', async () => {
  let arrived: () => void = () => undefined
  const reached = new Promise<void>((r) => (arrived = r))
  const s = await serve((socket) => socket.once('data', () => arrived()))
  const controller = new AbortController()
  const c = api(s.port, { timeoutMs: 600_000, signal: controller.signal })
  const pending = c.users.current()()
  await reached
  controller.abort()
  const e = leftOf(await pending)
  await c.close()
  await s.close()
  assert.is(e.code, 'ARV_CANCELLED')
})

edges('should stop waiting between attempts when the run is cancelled', async () => {
  const s = await serve((socket) => socket.once('data', () => socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n')))
  const controller = new AbortController()
  const c = api(s.port, { signal: controller.signal, retry: { attempts: 5, baseMs: 600_000, maxMs: 600_000, totalMs: 6_000_000 }, onRetry: () => controller.abort() })
  const e = leftOf(await c.users.current()())
  await c.close()
  await s.close()
  // the first attempt got a 503; the abort during the (10 min) wait ended the loop
  assert.is(e.code, 'ARV_CANCELLED')
})

edges('should still send a call begun after the signal fired (a run cleaning up after Ctrl-C)', async () => {
  const s = await serve((socket) => socket.once('data', () => socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}')))
  const controller = new AbortController()
  controller.abort()
  const c = api(s.port, { signal: controller.signal })
  const e = leftOf(await c.containerRequests.update('zzzzz-xvhdp-000000000000000', { priority: 0 })())
  await c.close()
  await s.close()
  assert.is(e.code, 'ARV_HTTP_404')
})

const keep = suite('Keep client edges')

const keepOf = (port: number, options: Partial<Keep.Options> = {}): Keep.KeepClient =>
  Keep.make(Config.make({ apiHost: 'unused.invalid', apiToken: TOKEN }), {
    services: [{ uuid: 'zzzzz-bi6l4-000000000000000', root: `http://127.0.0.1:${port}/`, type: 'disk', readOnly: false }],
    replicas: 1,
    ...options,
  })

keep('should end a block read from a server that never answers', async () => {
  const s = await serve(() => undefined, false)
  const k = keepOf(s.port, { timeoutMs: 300, retry: { attempts: 100, baseMs: 1, maxMs: 5, totalMs: 1000 } })
  const e = leftOf(await k.get('acbd18db4cc2f85cedef654fccc4a4d8+3')())
  await k.close()
  await s.close()
  assert.is(e.code, 'ARV_KEEP_GET')
  assert.ok((e.details ?? []).some((d) => /no complete response within \d+ ms/.test(d)), (e.details ?? []).join('|'))
})

keep('should read a 4 GiB error body of a block write only up to its cap', async () => {
  const sent = { n: 0 }
  const s = await serve((socket) =>
    socket.once('data', () => {
      socket.write(`HTTP/1.1 500 Internal Server Error\r\ncontent-length: ${4 * 1024 ** 3}\r\n\r\n`)
      pour(socket, 4 * 1024 ** 3, sent)
    }),
  false)
  const k = keepOf(s.port, { retry: { attempts: 1 } })
  const e = leftOf(await k.put(new TextEncoder().encode('foo'))())
  await k.close()
  await s.close()
  assert.is(e.code, 'ARV_KEEP_PUT')
  assert.ok(sent.n < 256 * 1024 * 1024, `server wrote ${sent.n} bytes`)
})

keep('should abort a hung block read at once when the run is cancelled', async () => {
  let arrived: () => void = () => undefined
  const reached = new Promise<void>((r) => (arrived = r))
  const s = await serve((socket) => socket.once('data', () => arrived()), false)
  const controller = new AbortController()
  const k = keepOf(s.port, { timeoutMs: 600_000, signal: controller.signal })
  const pending = k.get('acbd18db4cc2f85cedef654fccc4a4d8+3')()
  await reached
  controller.abort()
  const e = leftOf(await pending)
  await k.close()
  await s.close()
  assert.is(e.code, 'ARV_CANCELLED')
})

keep('should report retries of a refused block write through onRetry', async () => {
  const s = await serve(() => undefined, false)
  const port = s.port
  await s.close()
  const lines: Array<string> = []
  const k = keepOf(port, { retry: { attempts: 3, baseMs: 1, maxMs: 2 }, onRetry: (e) => lines.push(Transport.retryLine(e, 'Keep')) })
  const e = leftOf(await k.put(new TextEncoder().encode('foo'))())
  await k.close()
  assert.is(e.code, 'ARV_KEEP_PUT')
  assert.is(lines.length, 2)
  assert.match(lines[0]!, /^Keep not reachable \(ECONNREFUSED on Keep PUT acbd18db4cc2f85cedef654fccc4a4d8\+3, attempt 1\), retrying for up to/)
})

keep.after(() => Fs.rmSync(dir, { recursive: true, force: true }))
edges.run()
keep.run()
