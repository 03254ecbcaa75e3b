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
import { crunch } from './support/cli.js'

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
  const text = Fs.readFileSync(again, 'utf8')
  assert.ok(text.includes('fanout') && text.includes('inc'), text.slice(0, 400))
})

test('should show only the summary with --quiet', async ({ dir }) => {
  const r = await crunch(['run', script, '--n', '2', '--dispatcher', 'local', '--cache-dir', Path.join(dir, 'quiet'), '--progress', 'json', '--quiet'])
  assert.is(r.code, 0, r.stderr)
  assert.not.ok(r.stderr.includes('"type":"progress"'), r.stderr)
  assert.ok(r.stderr.includes('"type":"summary"'), r.stderr)
})

test('should draw the graph as HTML before a run', async () => {
  const r = await crunch(['run', script, '--n', '2', '--print-graph', 'html'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /<html/i)
  assert.ok(r.stdout.includes('inc'))
})

test.run()
