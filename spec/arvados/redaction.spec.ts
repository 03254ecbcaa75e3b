/**
 * No form of the API token reaches any output. The real `crunch` command runs with a bare token
 * and with a v2 token (1) on the crunch dispatcher against a hostile loopback server that
 * echoes the token it receives in its bodies, headers and error messages (retried 503s, then a
 * 422), and (2) on the local dispatcher with a work that logs and throws the token in every
 * form. All of stdout, stderr and every file written under the run's HOME, TMPDIR and working
 * directory are searched for every form (whole, secret segment, URL-encoded in either case,
 * JSON-escaped slashes). The redactor itself is checked form by form too.
 */
import * as Fs from 'node:fs'
import * as Https from 'node:https'
import type * as Net from 'node:net'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Redact from '../../lib/internal/redact.js'
import { crunch, root } from '../support/cli.js'
import * as SelfSigned from '../support/double/tls.js'

const V2 = 'v2/zzzzz-gj3su-0123456789abcde/s3cr3tpart8d7f6e5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9'
const BARE = '4jf83hd7sk2m9q0p1z5x6c7v8b9n0m1l2k3j4h5g6f7d8s9a0q'

const secretOf = (token: string): string => token.split('/')[2] ?? token

/** Every form of a token that must never be seen. */
const formsToFind = (token: string): ReadonlyArray<string> => {
  const out = new Set<string>()
  for (const s of [token, secretOf(token)]) {
    const enc = encodeURIComponent(s)
    out.add(s).add(enc).add(enc.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())).add(s.replace(/\//g, '\\/'))
  }
  return [...out]
}

const walk = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = Path.join(dir, d.name)
    return d.isDirectory() ? walk(p) : d.isFile() ? [p] : []
  })

/** Asserts no form of `token` is in `texts` nor in any file under `dir`; returns how many files were searched. */
const assertNowhere = (token: string, texts: Readonly<Record<string, string>>, dir: string): number => {
  const files = walk(dir)
  const found: Array<string> = []
  for (const form of formsToFind(token)) {
    for (const [name, text] of Object.entries(texts)) if (text.includes(form)) found.push(`${name} has ${form}`)
    for (const f of files) if (Fs.readFileSync(f).toString('latin1').includes(form)) found.push(`${Path.relative(dir, f)} has ${form}`)
  }
  assert.equal(found, [], found.join('\n'))
  return files.length
}

const scratch = (): { dir: string; env: Record<string, string>; cwd: string } => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-redact-'))
  const cwd = Path.join(dir, 'work')
  const tmp = Path.join(dir, 'tmp')
  Fs.mkdirSync(cwd)
  Fs.mkdirSync(tmp)
  return { dir, cwd, env: { HOME: dir, TMPDIR: tmp, CRUNCH_ROLE: '', CRUNCH_DISPATCHER: '', ARVADOS_API_HOST_INSECURE: '' } }
}

const Rule = suite('the redaction rule')

Rule('should remove every form of a v2 token and of a bare token, and token-shaped text', () => {
  for (const token of [V2, BARE]) {
    const hide = Redact.make([token])
    for (const form of formsToFind(token)) {
      const out = hide(`before ${form} after`)
      assert.not.ok(out.includes(form), out)
      assert.ok(out.startsWith('before ') && out.endsWith(' after'), out)
    }
  }
  const hide = Redact.make([])
  assert.is(hide('Authorization: Bearer abc.def'), 'Authorization: Bearer [REDACTED]')
  assert.is(hide('OAuth2 xyz123'), 'OAuth2 [REDACTED]')
  assert.is(hide('v2/zzzzz-gj3su-0123456789abcde/abcdef'), 'v2/[REDACTED]')
  assert.is(hide('v2%2Fzzzzz-gj3su-0123456789abcde%2Fabcdef'), 'v2/[REDACTED]')
  assert.is(hide('?api_token=abc&x=1'), '?api_token=[REDACTED]&x=1')
  assert.is(hide('nothing secret here'), 'nothing secret here')
})

Rule('should ignore empty and very short secrets rather than redact ordinary text', () => {
  assert.is(Redact.make(['', 'ab'])('a bab'), 'a bab')
})

const Cli = suite('crunch run prints no form of the token')

/** An HTTPS server that answers every request with the token it received, everywhere. */
const echoServer = async (dir: string): Promise<{ port: number; ca: string; requests: () => number; close: () => Promise<void> }> => {
  const pair = SelfSigned.makeSelfSigned(dir)
  const seen = new Map<string, number>()
  let total = 0
  const server = Https.createServer({ key: pair.key, cert: pair.cert }, (req, res) => {
    total++
    const auth = req.headers.authorization ?? ''
    const token = auth.replace(/^(Bearer|OAuth2)\s+/, '')
    const secret = secretOf(token)
    const n = (seen.get(req.url ?? '') ?? 0) + 1
    seen.set(req.url ?? '', n)
    const errors = [
      `token ${token} is not valid for ${req.url ?? ''}`,
      `secret part ${secret} expired`,
      `you sent ${auth}`,
      `encoded ${encodeURIComponent(token)} / ${encodeURIComponent(secret)}`,
      `escaped ${token.replace(/\//g, '\\/')}`,
    ]
    res.writeHead(n <= 2 ? 503 : 422, {
      'content-type': 'application/json',
      'x-echo-token': token,
      'www-authenticate': `Bearer realm="${secret}"`,
    })
    res.end(JSON.stringify({ errors, error_token: token, echoed: { auth, secret } }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as Net.AddressInfo).port,
    ca: pair.cert,
    requests: () => total,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

for (const [kind, token] of [
  ['a v2 token', V2],
  ['a bare token', BARE],
] as const) {
  Cli(`should print no form of ${kind} echoed by a hostile API server (crunch dispatcher)`, async () => {
    const s = scratch()
    const echo = await echoServer(s.dir)
    Fs.writeFileSync(Path.join(s.dir, 'ca.pem'), echo.ca)
    try {
      const r = await crunch(['run', Path.join(root, 'samples', 'numbers.ts'), '--n', '2', '--dispatcher', 'crunch', '--progress', 'json'], {
        cwd: s.cwd,
        env: { ...s.env, ARVADOS_API_HOST: `127.0.0.1:${echo.port}`, ARVADOS_API_TOKEN: token, SSL_CERT_FILE: Path.join(s.dir, 'ca.pem') },
        timeoutMs: 120_000,
      })
      assert.is(r.code, 1, r.stderr)
      assert.ok(echo.requests() >= 3, 'the server was asked')
      // it did print the server's texts (redacted), the retries, and the final error
      assert.ok(r.stderr.includes('ARV_HTTP_422'), r.stderr)
      assert.ok(r.stderr.includes('[REDACTED]'), r.stderr)
      assert.ok(r.stderr.includes('retrying for up to'), r.stderr)
      assertNowhere(token, { stdout: r.stdout, stderr: r.stderr }, s.dir)
    } finally {
      await echo.close()
      Fs.rmSync(s.dir, { recursive: true, force: true })
    }
  })

  Cli(`should print no form of ${kind} a work logs and throws (local dispatcher, --progress json)`, async () => {
    const s = scratch()
    try {
      const r = await crunch(['run', Path.join(root, 'spec', 'fixtures', 'redaction', 'leaky.ts'), '--dispatcher', 'local', '--progress', 'json', '--verbose'], {
        cwd: s.cwd,
        env: { ...s.env, ARVADOS_API_HOST: 'cluster.invalid', ARVADOS_API_TOKEN: token },
      })
      assert.is(r.code, 1, r.stderr)
      assert.ok(r.stderr.includes('"type":"log"') && r.stderr.includes('"type":"failed"'), r.stderr)
      assert.ok(r.stderr.includes('[REDACTED]'), r.stderr)
      assertNowhere(token, { stdout: r.stdout, stderr: r.stderr }, s.dir)
    } finally {
      Fs.rmSync(s.dir, { recursive: true, force: true })
    }
  })
}

Rule.run()
Cli.run()
