/**
 * `Secret(codec)`: a secret parameter passed to work arguments reaches the implementation as its
 * plain value and is written nowhere: the spec greps everything the SDK wrote — stdout, stderr,
 * every file of the project and its cache, the graph export, and against the Arvados double
 * every API request body (but the `secret_mounts` of container requests), every collection and
 * every Keep block — for the secret. A changed secret is the same call (a constant marker is in
 * the id), so it re-runs nothing.
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Codec from '../lib/codec.js'
import * as Graph from '../lib/graph.js'
import * as Module from '../lib/module.js'
import { crunch, type Ran } from './support/cli.js'
import { startDouble } from './support/double/index.js'
import { makeProject, type Project } from './support/project.js'

const PASSWORD = 'S3cret-Horse-Battery-91'
const OTHER = 'Another-Passw0rd-Same-L'

const FILES = {
  'pipeline.ts': `import * as t from 'io-ts'
import { defineModule, runMain, Secret, work } from 'arvados-crunch'

export const login = work({ args: [t.string, Secret(t.string)], returns: t.number }, (user, password, ctx) => {
  ctx.log(\`logging in \${user} with \${password}\`)
  if (password.startsWith('boom')) throw new Error(\`the server refused \${password}\`)
  return password.length
})

export const total = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))

export const Pipeline = defineModule({
  name: 'secrets',
  params: t.type({ user: t.string, password: Secret(t.string), n: t.number }),
  work: { login, total },
  run: ({ user, password, n }, { work: w }) => ({ total: w.total(Array.from({ length: n }, (_, i) => w.login(\`\${user}\${i}\`, password))), user }),
})

runMain(Pipeline, import.meta.url)
`,
}

const filesUnder = (dir: string): ReadonlyArray<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = Path.join(dir, d.name)
    if (d.isSymbolicLink()) return []
    return d.isDirectory() ? filesUnder(p) : [p]
  })

const assertNowhere = (secret: string, where: ReadonlyArray<readonly [string, string]>): void => {
  for (const [what, text] of where) assert.not.ok(text.includes(secret), `the secret appears in ${what}`)
}

const projectFiles = (p: Project): ReadonlyArray<readonly [string, string]> => filesUnder(p.dir).map((f) => [f, Fs.readFileSync(f).toString('latin1')] as const)

const summary = (r: Ran): Record<string, number> => JSON.parse(r.stderr.split('\n').find((l) => l.startsWith('{"type":"summary"'))!) as Record<string, number>

// -------------------------------------------------------------------------------------

const Unit = suite('Secret: the codec and sealing')

Unit('should decode the plain value and its encoded form, and seal it out of JSON text', () => {
  const c = Codec.Secret(t.string)
  assert.equal(c.decode('x'), E.right('x'))
  assert.equal(c.decode({ '~secret': 'x' }), E.right('x'))
  assert.ok(E.isLeft(c.decode(JSON.parse(Codec.SEALED_JSON))))
  const json = Codec.encode(t.type({ a: t.number, p: c }), { a: 1, p: PASSWORD }, { module: 'm', work: 'w', position: 'argument 1' })
  assert.ok(E.isRight(json) && json.right.includes(PASSWORD))
  const sealed = Codec.seal(E.isRight(json) ? json.right : '')
  assert.is(sealed.json, `{"a":1,"p":${Codec.SEALED_JSON}}`)
  assert.equal(sealed.secrets, [JSON.stringify(PASSWORD)])
  assert.is(Codec.unseal(sealed.json, sealed.secrets), E.isRight(json) ? json.right : '')
  assert.equal(Codec.secretsIn(t.type({ p: c }), { p: PASSWORD }), [PASSWORD])
})

Unit('should give the same call id whatever the secret, keep the value off the node, and give it back for decoding', () => {
  const w = Module.work({ args: [Codec.Secret(t.string)], returns: t.number }, (p) => p.length)
  const M = Module.defineModule({ name: 'm', params: t.string, work: { w }, run: (p: string, { work: x }) => x.w(p) })
  const nodeOf = (p: string): Graph.CallNode => {
    const rec = Graph.recorder(M, undefined)
    void M.run(p, rec.context)
    return rec.calls()[0]!
  }
  const a = nodeOf(PASSWORD)
  assert.is(a.id, nodeOf(OTHER).id)
  assert.not.ok(JSON.stringify(a).includes(PASSWORD))
  assert.not.ok(JSON.stringify(Graph.toJson({ module: 'm', nodes: [a] })).includes(PASSWORD))
  const arg = a.args[0]!
  assert.ok(arg._tag === 'Json')
  assert.equal(Codec.decode(w.spec.args[0], Graph.plainJson(arg), { module: 'm', work: 'w', position: 'argument 1' }), E.right(PASSWORD))
})

Unit('should refuse a secret result, and a secret beside futures in one argument', () => {
  assert.throws(() => Module.work({ args: [], returns: Codec.Secret(t.string) }, () => 'x'), /ARV_SECRET_RESULT/)
  const one = Module.work({ args: [], returns: t.number }, () => 1)
  const w = Module.work({ args: [t.type({ n: t.number, p: Codec.Secret(t.string) })], returns: t.number }, ({ n }) => n)
  const M = Module.defineModule({ name: 'm', params: t.string, work: { one, w }, run: (p: string, { work: x }) => x.w({ n: x.one(), p }) })
  const rec = Graph.recorder(M, undefined)
  assert.throws(() => M.run(PASSWORD, rec.context), /ARV_SECRET_WITH_FUTURES/)
})

Unit.run()

// -------------------------------------------------------------------------------------

const Local = suite('Secret: written nowhere (local dispatcher, real CLI)')

const local = (p: Project, password: string, extra: ReadonlyArray<string> = []): Promise<Ran> =>
  crunch(['run', 'pipeline.ts', '--user', 'ann', '--password', password, '--n', '2', '--cache-dir', 'cache', '--progress', 'json', '--concurrency', '1', ...extra], { cwd: p.dir, env: { CRUNCH_DISPATCHER: '', CRUNCH_ROLE: '' } })

Local('should give the work the plain value, redact it from logs, keep it out of every file, and not re-run when it changes', async () => {
  const p = makeProject('crunch-secret-', FILES)
  try {
    const first = await local(p, PASSWORD)
    assert.is(first.code, 0, first.stderr)
    assert.equal(JSON.parse(first.stdout), { total: 2 * PASSWORD.length, user: 'ann' })
    assert.ok(first.stderr.includes('logging in ann0 with [REDACTED]'), first.stderr)
    const graph = await local(p, PASSWORD, ['--print-graph', 'json'])
    assert.is(graph.code, 0, graph.stderr)
    assertNowhere(PASSWORD, [['stdout', first.stdout], ['stderr', first.stderr], ['the graph export', graph.stdout + graph.stderr], ...projectFiles(p)])
    // another password of the same length: the same calls, all reused
    const second = await local(p, OTHER)
    assert.is(second.code, 0, second.stderr)
    assert.is(summary(second)['reused'], 3)
    assertNowhere(OTHER, [['stdout', second.stdout], ['stderr', second.stderr], ...projectFiles(p)])
  } finally {
    p.remove()
  }
})

Local('should redact the secret from a failure the work throws with it', async () => {
  const p = makeProject('crunch-secret-', FILES)
  try {
    const boom = `boom-${PASSWORD}`
    const r = await local(p, boom, ['--no-reuse'])
    assert.is(r.code, 1, r.stderr)
    assert.ok(r.stderr.includes('the server refused [REDACTED]'), r.stderr)
    assertNowhere(boom, [['stdout', r.stdout], ['stderr', r.stderr], ...projectFiles(p)])
    assertNowhere(PASSWORD, [['stderr', r.stderr]])
  } finally {
    p.remove()
  }
})

Local.run()

// -------------------------------------------------------------------------------------

const OnArvados = suite('Secret: written nowhere but secret_mounts (Arvados double)')

OnArvados('should pass the secret in secret_mounts only, from a laptop runner and from a submitted one', async () => {
  const p = makeProject('crunch-secret-', FILES)
  const double = await startDouble()
  try {
    Fs.writeFileSync(Path.join(p.dir, 'ca.pem'), double.ca)
    const env = {
      ARVADOS_API_HOST: double.apiHost,
      ARVADOS_API_TOKEN: double.token,
      ARVADOS_API_HOST_INSECURE: '',
      SSL_CERT_FILE: Path.join(p.dir, 'ca.pem'),
      HOME: p.dir,
      CRUNCH_POLL_MS: '200',
      CRUNCH_KEEP_REPLICAS: '1',
      CRUNCH_ROLE: '',
      CRUNCH_DISPATCHER: '',
    }
    const run = (extra: ReadonlyArray<string>): Promise<Ran> =>
      crunch(['run', 'pipeline.ts', '--user', 'ann', '--password', PASSWORD, '--n', '2', '--dispatcher', 'crunch', '--progress', 'json', ...extra], { cwd: p.dir, env, timeoutMs: 180_000 })
    const direct = await run([])
    assert.is(direct.code, 0, direct.stderr)
    assert.equal(JSON.parse(direct.stdout), { total: 2 * PASSWORD.length, user: 'ann' })
    const submitted = await run(['--submit', '--no-reuse'])
    assert.is(submitted.code, 0, submitted.stderr)
    assert.equal(JSON.parse(submitted.stdout), { total: 2 * PASSWORD.length, user: 'ann' })
    let inSecretMounts = 0
    const bodies = double.requests.map((r, i): readonly [string, string] => {
      const body = r.body
      if (typeof body === 'object' && body !== null) {
        const record = body as Record<string, unknown>
        const inner = (record['container_request'] ?? record) as Record<string, unknown>
        if (typeof inner === 'object' && inner !== null && 'secret_mounts' in inner) {
          if (JSON.stringify(inner['secret_mounts']).includes(PASSWORD)) inSecretMounts++
          const { secret_mounts: _s, ...rest } = inner
          return [`request ${i} ${r.method} ${r.path}`, JSON.stringify({ ...record, container_request: rest })]
        }
      }
      return [`request ${i} ${r.method} ${r.path}`, JSON.stringify(body ?? '') + JSON.stringify(r.query)]
    })
    // the two login calls and the submitted runner's parameters travelled there
    assert.ok(inSecretMounts >= 3, `secret_mounts carried the secret ${inSecretMounts} times`)
    const collections = [...double.cluster.collections.values()].map((c): readonly [string, string] => [`collection ${String(c['uuid'])}`, JSON.stringify(c)])
    const blocks = [...double.cluster.blocks.entries()].map(([h, b]): readonly [string, string] => [`Keep block ${h}`, b.toString('latin1')])
    const requests = [...double.cluster.crs.values()].map((c): readonly [string, string] => {
      const { secret_mounts: _s, ...rest } = c as Record<string, unknown>
      return [`container request ${String(c['uuid'])}`, JSON.stringify(rest)]
    })
    assert.ok(blocks.some(([, b]) => b.includes('logging in ann0 with [REDACTED]')), 'the work container logged, redacted')
    assertNowhere(PASSWORD, [['stdout', direct.stdout + submitted.stdout], ['stderr', direct.stderr + submitted.stderr], ...bodies, ...collections, ...blocks, ...requests, ...projectFiles(p)])
  } finally {
    await double.stop()
    p.remove()
  }
})

OnArvados.run()
