/**
 * `crunch report` for a run on Arvados (the double, real containers, the real CLI): a submitted
 * run's summary line carries the runner request's `cumulative_cost` (the runner's container and
 * every call's, as the double adds them up); `crunch report <runner request>` (or the output
 * collection's uuid or hash) fetches the provenance collection the runner wrote and writes its
 * HTML report locally; identifiers that name no run say what is wrong and what to give instead.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, root } from './support/cli.js'
import { startDouble, type Double } from './support/double/index.js'

type Rec = Record<string, unknown>

const test = suite<{ d: Double; dir: string; env: Record<string, string> }>('crunch report: a run on Arvados', {} as { d: Double; dir: string; env: Record<string, string> })
test.before(async (ctx) => {
  ctx.d = await startDouble({})
  ctx.dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'cli-report-crunch-'))
  Fs.writeFileSync(Path.join(ctx.dir, 'ca.pem'), ctx.d.ca)
  ctx.env = { ARVADOS_API_HOST: ctx.d.apiHost, ARVADOS_API_TOKEN: ctx.d.token, ARVADOS_API_HOST_INSECURE: '', SSL_CERT_FILE: Path.join(ctx.dir, 'ca.pem'), HOME: ctx.dir, CRUNCH_POLL_MS: '200', CRUNCH_KEEP_REPLICAS: '1', CRUNCH_ROLE: '', CRUNCH_DISPATCHER: '' }
})
test.after(async (ctx) => {
  await ctx.d.stop()
  Fs.rmSync(ctx.dir, { recursive: true, force: true })
})

const summaryOf = (stderr: string): Rec => JSON.parse(stderr.split('\n').find((l) => l.startsWith('{"type":"summary"')) ?? '{}') as Rec

test('should show a submitted run’s cumulative cost, and write its report from the provenance collection', async ({ d, dir, env }) => {
  const r = await crunch(['run', '--dispatcher', 'crunch', '--submit', Path.join(root, 'spec', 'fixtures', 'crunch', 'fanout.ts'), '--n', '2', '--progress', 'json', '--report', 'submitted.html'], { env, cwd: dir, timeoutMs: 240_000 })
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout.trim(), '3')
  const runner = [...d.cluster.crs.values()].find((cr) => (cr['properties'] as Rec)['arvados_crunch_role'] === 'runner') as Rec
  assert.ok(runner !== undefined)
  // the double adds up what Arvados would: the runner's container and its three children
  const children = [...d.cluster.crs.values()].filter((cr) => cr['requesting_container_uuid'] === runner['container_uuid'])
  assert.is(children.length, 3)
  const own = Number(d.cluster.containers.get(runner['container_uuid'] as string)!['cost'])
  const sum = own + children.reduce((a, cr) => a + Number(cr['cumulative_cost']), 0)
  assert.ok(own > 0 && Number(runner['cumulative_cost']) > own, `runner ${own}, cumulative ${String(runner['cumulative_cost'])}`)
  assert.ok(Math.abs(Number(runner['cumulative_cost']) - sum) < 1e-12, `cumulative_cost ${String(runner['cumulative_cost'])} against ${sum}`)
  // the summary line carries it, and the calls the runner recorded
  const summary = summaryOf(r.stderr)
  assert.is(summary['cost'], runner['cumulative_cost'], r.stderr)
  assert.equal([summary['done'], summary['failed']], [1, 0])

  const html = Path.join(dir, 'run.html')
  const rep = await crunch(['report', runner['uuid'] as string, '--output', html], { env, cwd: dir, timeoutMs: 120_000 })
  assert.is(rep.code, 0, rep.stderr)
  const cost = Number(runner['cumulative_cost']).toFixed(4)
  assert.match(rep.stderr, new RegExp(`^report of fanout on ${d.apiHost.replace(/\./g, '\\.')} \\(runner request ${runner['uuid'] as string}, output zzzzz-4zz18-[a-z0-9]{15}\\): 3 calls: 3 ran, 0 reused, cost ${cost} \\(cumulative_cost of the runner request: the runner and every call; the calls alone \\d\\.\\d{4}\\)\\nwrote the report to run\\.html\\n$`))
  const page = Fs.readFileSync(html, 'utf8')
  assert.match(page, /^<!doctype html>/i)
  assert.ok(page.includes('fanout') && page.includes('inc(number)'), page.slice(0, 300))
  assert.not.ok(page.includes(d.token.split('/')[2]!), 'no token in the page')
  // --report of the submitted run wrote the same page, the runner's (not one of the runner alone)
  assert.is(Fs.readFileSync(Path.join(dir, 'submitted.html'), 'utf8'), page)
  assert.match(r.stderr, /\nreport of fanout on .*\nwrote the run report to submitted\.html\n/)

  // the output collection by uuid (the request's copy) and by portable data hash: the same page
  const output = d.cluster.collections.get(runner['output_uuid'] as string) as Rec
  for (const id of [output['uuid'] as string, output['portable_data_hash'] as string]) {
    const again = await crunch(['report', id], { env, cwd: dir, timeoutMs: 120_000 })
    assert.is(again.code, 0, again.stderr)
    assert.is(again.stdout, page)
    assert.match(again.stderr, /^report of fanout on .*: 3 calls: 3 ran, 0 reused, cost \d\.\d{4} \(the calls’ containers\)\n$/)
  }
})

test('should say what is wrong and what to give when an identifier names no run', async ({ d, dir, env }) => {
  const missing = await crunch(['report', 'zzzzz-xvhdp-000000000000000'], { env, cwd: dir })
  assert.is(missing.code, 1)
  assert.match(missing.stderr, new RegExp(`^PastRunError \\[ARV_PAST_RUN_NOT_FOUND\\]: container request zzzzz-xvhdp-000000000000000 was not found on ${d.apiHost.replace(/\./g, '\\.')}\\n  hint: check the identifier and that ARVADOS_API_HOST is the cluster the run was on; give the runner’s container request`))
  const noPdh = await crunch(['report', '0123456789abcdef0123456789abcdef+12'], { env, cwd: dir })
  assert.is(noPdh.code, 1)
  assert.match(noPdh.stderr, /^PastRunError \[ARV_PAST_RUN_NOT_FOUND\]: no collection with portable data hash 0123456789abcdef0123456789abcdef\+12 was found on /)
  // a call's own request: its output is an intermediate result, without provenance
  const call = [...d.cluster.crs.values()].find((cr) => (cr['properties'] as Rec)['arvados_crunch_call_id'] !== undefined && cr['output_uuid'] !== null) as Rec
  const child = await crunch(['report', call['uuid'] as string], { env, cwd: dir })
  assert.is(child.code, 1)
  assert.match(child.stderr, new RegExp(`^PastRunError \\[ARV_PAST_RUN_NO_PROVENANCE\\]: the output of container request ${call['uuid'] as string} \\([0-9a-f]{32}\\+\\d+\\) does not carry arvados_crunch_provenance: it is not the final output of an arvados-crunch run \\(0\\.2 or later\\)\\n  hint: a call’s own request or output has none;`))
  // no cluster configured
  const unconfigured = await crunch(['report', 'zzzzz-xvhdp-000000000000000'], { env: { HOME: dir, ARVADOS_API_HOST: '', ARVADOS_API_TOKEN: '' }, cwd: dir })
  assert.is(unconfigured.code, 1)
  assert.match(unconfigured.stderr, /ARVADOS_API_HOST/)
  for (const t of [missing, noPdh, child, unconfigured]) assert.not.ok((t.stdout + t.stderr).includes(d.token.split('/')[2]!))
})

test.run()
