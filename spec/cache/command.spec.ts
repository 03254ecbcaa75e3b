/**
 * `crunch cache info|prune|gc`, through the real command (`node lib/bin.js cache ...`).
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Owner from '../../lib/cache/owner.js'
import * as ResultCache from '../../lib/dispatchers/result-cache.js'
import { crunch, root } from '../support/cli.js'

const made: Array<string> = []
const tmp = (): string => {
  const d = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-cache-cmd-'))
  made.push(d)
  return d
}
process.on('exit', () => {
  for (const d of made) ChildProcess.spawnSync('chmod', ['-R', 'u+w', d]), Fs.rmSync(d, { recursive: true, force: true })
})
const script = Path.join(root, 'spec', 'fixtures', 'cache', 'outputs.ts')
const reuseSample = Path.join(root, 'samples', 'docs', 'reuse.ts')

const json = async (args: ReadonlyArray<string>): Promise<Record<string, any>> => {
  const r = await crunch(['cache', ...args, '--json'])
  assert.is(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Record<string, any>
}
const run = async (dir: string, n: number, tag: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  crunch(['run', script, '--n', String(n), '--tag', tag, '--cache-dir', dir, '--progress', 'json', '--concurrency', '1'], { env })
const executed = (stderr: string): number => {
  const summary = stderr.split('\n').find((l) => l.startsWith('{"type":"summary"'))
  const s = JSON.parse(summary ?? '{}') as { started?: number; reused?: number }
  return (s.started ?? 0) - (s.reused ?? 0)
}

// -------------------------------------------------------------------------------------

const info = suite('crunch cache info')

info('should count results, runs and the records it discarded (the torn-record repro)', async () => {
  const dir = Path.join(tmp(), 'c')
  const first = await crunch(['run', reuseSample, '--n', '5', '--cache-dir', dir, '--concurrency', '1', '--progress', 'none'])
  assert.is(first.code, 0, first.stderr)
  let i = await json(['info', '--cache-dir', dir])
  assert.equal(i['results'], { ...i['results'], entries: 6, runs: 1, journals: 1, writing: 0, discarded: 0 })
  const journal = Path.join(dir, 'results', Fs.readdirSync(Path.join(dir, 'results'))[0]!)
  Fs.truncateSync(journal, Fs.statSync(journal).size - 2)
  i = await json(['info', '--cache-dir', dir])
  assert.is(i['results'].entries, 5)
  assert.is(i['results'].discarded, 1)
  const again = await crunch(['run', reuseSample, '--n', '5', '--cache-dir', dir, '--concurrency', '1', '--progress', 'none'])
  assert.is(JSON.parse(again.stdout).total, 55, 'the torn record of sum is recomputed, never read as 5')
  const text = await crunch(['cache', 'info', '--cache-dir', dir])
  assert.match(text.stdout, /^cache .*: \d/)
  assert.match(text.stdout, /discarded records: 1\n/)
})

info('should report an unknown subcommand or option as a usage error (exit 2)', async () => {
  for (const args of [['cache', 'nope'], ['cache', 'info', '--older-than', '1d'], ['cache', 'prune'], ['cache', 'prune', '--older-than', 'soon']]) {
    const r = await crunch(args)
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /ARV_USAGE/)
  }
})

info.run()

// -------------------------------------------------------------------------------------

const prune = suite('crunch cache prune')

prune('should keep only the results of the last runs with --keep-last', async () => {
  const dir = Path.join(tmp(), 'c')
  assert.is((await run(dir, 2, 'a')).code, 0)
  assert.is((await run(dir, 2, 'b')).code, 0)
  assert.is((await json(['info', '--cache-dir', dir]))['results'].runs, 2)
  const p = await json(['prune', '--cache-dir', dir, '--keep-last', '1'])
  // run files too: the older run's is removed, so `crunch report` reads the newer one
  assert.equal(p, { kept: 4, removed: 4, writing: 0, runFiles: { removed: 1, kept: 1 } })
  assert.is(Fs.readdirSync(Path.join(dir, 'runs')).length, 1)
  const a = await run(dir, 2, 'a')
  assert.is(executed(a.stderr), 4, 'run a was pruned')
  const b = await run(dir, 2, 'b')
  assert.is(executed(b.stderr), 0, 'run b was kept')
})

prune('should remove results computed longer ago than --older-than, and leave journals being written alone', async () => {
  const dir = tmp()
  const results = Path.join(dir, 'results')
  Fs.mkdirSync(results)
  const day = 86_400_000
  Fs.writeFileSync(Path.join(results, 'old.journal'), [ResultCache.record('old', Date.now() - 10 * day, '1'), ResultCache.record('new', Date.now() - day, '2')].join(''))
  const sleeper = ChildProcess.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  try {
    const live = Path.join(results, `w-${Owner.tag({ ...Owner.self(), pid: sleeper.pid! })}-x.journal`)
    Fs.writeFileSync(live, ResultCache.record('ancient-but-live', 1, '3')!)
    const p = await json(['prune', '--cache-dir', dir, '--older-than', '7d'])
    assert.equal(p, { kept: 1, removed: 1, writing: 1, runFiles: { removed: 0, kept: 0 } })
    assert.ok(Fs.existsSync(live))
    const ids = ResultCache.readAll(results).flatMap((j) => j.entries.map((e) => e.id)).sort()
    assert.equal(ids, ['ancient-but-live', 'new'])
  } finally {
    sleeper.kill('SIGKILL')
  }
})

prune('should remove finished and crashed run files, and leave one being written (no end record, changed lately) alone', async () => {
  const dir = tmp()
  const runs = Path.join(dir, 'runs')
  Fs.mkdirSync(runs)
  const old = (Date.now() - 10 * 86_400_000) / 1000
  const write = (name: string, lines: ReadonlyArray<unknown>): string => {
    const file = Path.join(runs, name)
    Fs.writeFileSync(file, lines.map((l) => JSON.stringify(l) + '\n').join(''))
    Fs.utimesSync(file, old, old)
    return file
  }
  // a finished run whose end record is longer than one read from the end (a large graph)
  const finished = write('2026-11-01T10-00-00.000Z.jsonl', [{ type: 'run', module: 'm' }, { type: 'start', id: 'a' }, { type: 'end', outcome: 'succeeded', graph: { pad: 'x'.repeat(200_000) } }])
  const crashed = write('2026-11-01T11-00-00.000Z.jsonl', [{ type: 'run', module: 'm' }, { type: 'start', id: 'a' }])
  const running = write('2026-11-01T12-00-00.000Z.jsonl', [{ type: 'run', module: 'm' }, { type: 'start', id: 'a' }])
  Fs.utimesSync(running, new Date(), new Date())
  const p = await json(['prune', '--cache-dir', dir, '--keep-last', '0'])
  assert.equal(p['runFiles'], { removed: 2, kept: 1 })
  assert.not.ok(Fs.existsSync(finished))
  assert.not.ok(Fs.existsSync(crashed), 'a run file without its end record, unchanged for 10 days, is a crashed run')
  assert.ok(Fs.existsSync(running))
})

prune.run()

// -------------------------------------------------------------------------------------

const gc = suite('crunch cache gc')

gc('should remove the temporary directories failed outputs leave behind, but not those of a running process', async () => {
  const dir = Path.join(tmp(), 'c')
  for (const k of [0, 1, 2]) {
    const r = await run(dir, 3, `fail${k}`, { FAIL_AT: String(k) })
    assert.is(r.code, 1)
  }
  const before = await json(['info', '--cache-dir', dir])
  assert.is(before['store'].temporary, 3)
  assert.ok(before['store'].temporaryBytes >= 3 << 20, String(before['store'].temporaryBytes))
  const sleeper = ChildProcess.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  try {
    const live = Path.join(dir, 'store', 'tmp', `out-x-${Owner.tag({ ...Owner.self(), pid: sleeper.pid! })}-abc`)
    Fs.mkdirSync(live)
    const c = await json(['gc', '--cache-dir', dir])
    assert.is(c['temporary'], 3)
    assert.ok(c['temporaryBytes'] >= 3 << 20)
    assert.equal(Fs.readdirSync(Path.join(dir, 'store', 'tmp')), [Path.basename(live)])
  } finally {
    sleeper.kill('SIGKILL')
  }
})

gc('should remove collections and blocks no result needs, and keep every one a cached result refers to', async () => {
  const dir = Path.join(tmp(), 'c')
  assert.is((await run(dir, 3, 'a')).code, 0)
  assert.is((await run(dir, 2, 'b')).code, 0)
  assert.is((await json(['prune', '--cache-dir', dir, '--keep-last', '1'])).removed, 6)
  // within the grace period nothing goes
  assert.equal(await json(['gc', '--cache-dir', dir]), { temporary: 0, temporaryBytes: 0, manifests: 0, trees: 0, blocks: 0, blockBytes: 0 })
  const c = await json(['gc', '--cache-dir', dir, '--grace', '0s'])
  assert.is(c['manifests'], 3)
  assert.is(c['blocks'], 3)
  // the manifest packs and the block packs of the finished runs are merged into one of each
  assert.equal(Fs.readdirSync(Path.join(dir, 'store', 'packs')).map((n) => Path.extname(n)).sort(), ['.blocks', '.manifests'])
  const after = await json(['info', '--cache-dir', dir])
  assert.is(after['store'].manifests, 2)
  assert.is(after['store'].blocks, 2)
  // what is kept is whole: run b is reused entirely and reads its collections
  const b = await run(dir, 2, 'b')
  assert.is(b.code, 0, b.stderr)
  assert.is(executed(b.stderr), 0)
  assert.equal(JSON.parse(b.stdout), ['b 0', 'b 1'])
  const a = await run(dir, 3, 'a')
  assert.equal(JSON.parse(a.stdout), ['a 0', 'a 1', 'a 2'])
})

gc.run()
