/**
 * The CLI's view of a run: `--report` writes the HTML report, every local run leaves its events
 * under the cache directory for `crunch report`, JSON progress lines carry totals and elapsed
 * time, `--quiet` leaves only the summary, and `--print-graph html` draws the graph before a run.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, root } from './support/cli.js'
import { makeProject } from './support/project.js'

const test = suite<{ dir: string }>('cli: report, run files, progress totals', { dir: '' })
test.before((ctx) => {
  ctx.dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'cli-report-'))
})
test.after((ctx) => Fs.rmSync(ctx.dir, { recursive: true, force: true }))

const script = 'spec/fixtures/crunch/fanout.ts'

test('should write the run report, keep the run for crunch report, and give totals on progress lines', async ({ dir }) => {
  const cache = Path.join(dir, 'cache')
  const html = Path.join(dir, 'run.html')
  const r = await crunch(['run', script, '--n', '3', '--dispatcher', 'local', '--cache-dir', cache, '--progress', 'json', '--report', html])
  assert.is(r.code, 0, r.stderr)
  assert.ok(Fs.readFileSync(html, 'utf8').includes('fanout'))
  const progress = r.stderr.split('\n').filter((l) => l.startsWith('{"type":"progress"')).map((l) => JSON.parse(l) as Record<string, unknown>)
  const last = progress[progress.length - 1]!
  assert.equal([last['known'], last['done'], last['running'], last['failed'], last['reused']], [4, 4, 0, 0, 0], r.stderr)
  assert.type(last['elapsedMs'], 'number')
  assert.type(last['containerMs'], 'number')
  assert.ok(r.stderr.includes('{"type":"summary","started":4,"done":4,"reused":0,"failed":0}'), r.stderr)

  const runs = Fs.readdirSync(Path.join(cache, 'runs'))
  assert.is(runs.length, 1)
  const again = Path.join(dir, 'again.html')
  const rep = await crunch(['report', '--cache-dir', cache, '--output', again])
  assert.is(rep.code, 0, rep.stderr)
  // one line says what the run was, one where the page went
  assert.match(rep.stderr, /^report of fanout \(.*runs\/.*\.jsonl\): succeeded, 4 calls: 4 ran, 0 reused, 0 failed, \S+\nwrote the report to .*again\.html\n$/)
  const text = Fs.readFileSync(again, 'utf8')
  assert.ok(text.includes('fanout') && text.includes('inc'), text.slice(0, 400))
  // the run file keeps the graph: the page draws it, with the arguments' kinds
  assert.not.ok(text.includes('No graph was recorded'), 'the graph is in the run file')
  assert.ok(text.includes('inc(number)'))
})

test('should show only the summary with --quiet', async ({ dir }) => {
  const r = await crunch(['run', script, '--n', '2', '--dispatcher', 'local', '--cache-dir', Path.join(dir, 'quiet'), '--progress', 'json', '--quiet'])
  assert.is(r.code, 0, r.stderr)
  assert.not.ok(r.stderr.includes('"type":"progress"'), r.stderr)
  assert.ok(r.stderr.includes('"type":"summary"'), r.stderr)
})

test('should write the report silently with --log-level none, and say where with --quiet', async ({ dir }) => {
  for (const [level, says] of [[['--log-level', 'none'], false], [['--quiet'], true]] as const) {
    const html = Path.join(dir, `${level.join('')}.html`)
    const r = await crunch(['run', script, '--n', '2', '--dispatcher', 'local', '--cache-dir', Path.join(dir, 'levels'), '--progress', 'json', ...level, '--report', html])
    assert.is(r.code, 0, r.stderr)
    assert.ok(Fs.existsSync(html))
    assert.is(r.stderr.includes('wrote the run report'), says, `${level.join(' ')}: ${r.stderr}`)
  }
})

test('should draw the graph as HTML before a run', async () => {
  const r = await crunch(['run', script, '--n', '2', '--print-graph', 'html'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /<html/i)
  assert.ok(r.stdout.includes('inc'))
})

const PASSWORD = 'S3cret-Horse-Battery-91'
const TOKEN = 'v2/zzzzz-gj3su-0123456789abcde/tokensecret0123456789abcdefghij'

test('should keep a Secret parameter and the API token out of progress lines, the run file, --report and crunch report', async () => {
  const p = makeProject('cli-report-secret-', {
    'pipeline.ts': `import * as t from 'io-ts'
import { defineModule, runMain, Secret, work } from 'arvados-crunch'

export const login = work({ args: [t.string, Secret(t.string)], returns: t.number }, (user, password, ctx) => {
  ctx.log(\`logging in \${user} with \${password}, token \${process.env['ARVADOS_API_TOKEN'] ?? ''}\`)
  if (user === 'fail') throw new Error(\`refused \${password} and \${process.env['ARVADOS_API_TOKEN'] ?? ''}\`)
  return password.length
})

export const Pipeline = defineModule({
  name: 'secrets',
  params: t.type({ user: t.string, password: Secret(t.string) }),
  work: { login },
  run: ({ user, password }, { work: w }) => w.login(user, password),
})

runMain(Pipeline, import.meta.url)
`,
  })
  try {
    const env = { ARVADOS_API_HOST: 'cluster.invalid', ARVADOS_API_TOKEN: TOKEN, CRUNCH_DISPATCHER: '', CRUNCH_ROLE: '' }
    const texts: Array<readonly [string, string]> = []
    for (const user of ['ann', 'fail']) {
      const r = await crunch(['run', 'pipeline.ts', '--user', user, '--password', PASSWORD, '--dispatcher', 'local', '--cache-dir', 'cache', '--progress', 'json', '--report', `${user}.html`], { cwd: p.dir, env })
      assert.is(r.code, user === 'fail' ? 1 : 0, r.stderr)
      assert.ok(r.stderr.includes('with [REDACTED]'), r.stderr)
      texts.push([`stderr of ${user}`, r.stderr], [`${user}.html`, p.read(`${user}.html`)])
    }
    const rep = await crunch(['report', '--cache-dir', 'cache'], { cwd: p.dir, env })
    assert.is(rep.code, 0, rep.stderr)
    assert.ok(rep.stdout.includes('with [REDACTED]'), 'the log line is in the report, redacted')
    texts.push(['crunch report', rep.stdout + rep.stderr])
    const runs = Fs.readdirSync(Path.join(p.dir, 'cache', 'runs'))
    assert.is(runs.length, 2)
    for (const f of runs) texts.push([f, Fs.readFileSync(Path.join(p.dir, 'cache', 'runs', f), 'utf8')])
    for (const secret of [PASSWORD, TOKEN, 'tokensecret0123456789abcdefghij']) for (const [what, text] of texts) assert.not.ok(text.includes(secret), `${what} holds ${secret}`)
  } finally {
    p.remove()
  }
})

test('should say what is wrong, where, and what to do when there is no run to report', async ({ dir }) => {
  const empty = Path.join(dir, 'empty')
  Fs.mkdirSync(empty)
  const none = await crunch(['report'], { cwd: empty })
  assert.is(none.code, 2)
  assert.is(none.stderr, 'UsageError [ARV_USAGE]: no runs recorded under .crunch/runs\n  hint: run a pipeline with crunch run first (each local run leaves a file there), or give --cache-dir of the run; give a run file under .crunch/runs, the runner’s container request uuid (xxxxx-xvhdp-…), or the output collection’s uuid (xxxxx-4zz18-…) or portable data hash\n')
  const missing = await crunch(['report', 'runs/nope.jsonl'], { cwd: empty })
  assert.is(missing.code, 2)
  assert.match(missing.stderr, /^UsageError \[ARV_USAGE\]: no such run file: runs\/nope\.jsonl\n  hint: no runs are recorded under \.crunch\/runs either; give a run file/)
  const container = await crunch(['report', 'zzzzz-dz642-0123456789abcde'], { cwd: empty })
  assert.is(container.code, 2)
  assert.match(container.stderr, /^UsageError \[ARV_USAGE\]: zzzzz-dz642-0123456789abcde is an Arvados uuid of type dz642, which names no run\n  hint: give a run file under \.crunch\/runs, the runner’s container request uuid/)
  const noDir = await crunch(['report', '--output', 'no/such/dir/x.html'], { cwd: empty })
  assert.is(noDir.code, 2)
  assert.match(noDir.stderr, /--output no\/such\/dir\/x\.html: the directory no\/such\/dir does not exist/)
  const noReportDir = await crunch(['run', Path.join(root, script), '--n', '1', '--report', 'no/such/dir/x.html'], { cwd: empty })
  assert.is(noReportDir.code, 2)
  assert.match(noReportDir.stderr, /^UsageError \[ARV_USAGE\]: --report no\/such\/dir\/x\.html: the directory no\/such\/dir does not exist/)
  const help = await crunch(['report', '--help'])
  assert.is(help.code, 0)
  assert.match(help.stdout, /^Usage: crunch report \[<run>\]/)
})

test.run()
