/**
 * Progress while a run goes. The rendering is pure (`lib/cli/progress.ts`): events with the
 * times they were seen fold into totals (known, done, running, failed, reused, elapsed, an ETA
 * from the pace of calls that ran, the call running longest with its label), rendered as the
 * TTY line and as JSON lines. Then the real CLI, in its own process on a pipe, writes those JSON
 * lines while a call is held running, and ends with the run's totals.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Dispatcher from '../lib/dispatcher.js'
import * as Progress from '../lib/cli/progress.js'
import { crunch, root } from './support/cli.js'

const T0 = Date.parse('2026-12-07T10:00:00.000Z')
const s = (seconds: number): number => T0 + seconds * 1000

const Pure = suite('cli/progress: totals and lines from events (pure)')

/** a fan-out of 4 `align` calls (two finish, one fails… ) and a reused `index` */
const fold = (): Progress.Tracker => {
  const t = Progress.tracker(T0)
  const at: ReadonlyArray<readonly [number, Dispatcher.Event]> = [
    [0, { type: 'done', id: 'i0000000', work: 'index', reused: true }],
    [1, { type: 'start', id: 'a1111111', work: 'align', label: 'align(file, string 5)' }],
    [1, { type: 'start', id: 'a2222222', work: 'align', label: 'align(file, string 5)' }],
    [2, { type: 'start', id: 'a3333333', work: 'align', label: 'align(file, string 7)' }],
    [3, { type: 'log', id: 'a1111111', work: 'align', message: 'half way' }],
    [5, { type: 'start', id: 'a4444444', work: 'align' }],
    [11, { type: 'done', id: 'a2222222', work: 'align', reused: false }],
    [21, { type: 'done', id: 'a3333333', work: 'align', reused: false }],
    // a retry of a running call is the same call
    [22, { type: 'start', id: 'a1111111', work: 'align', label: 'align(file, string 5)', attempt: 2 }],
  ]
  for (const [sec, e] of at) t.add(e, s(sec))
  return t
}

Pure('should count calls known, done, running, failed and reused, with the time elapsed', () => {
  const totals = fold().totals(s(30))
  assert.equal(
    { known: totals.known, done: totals.done, running: totals.running, failed: totals.failed, reused: totals.reused, elapsedMs: totals.elapsedMs },
    { known: 5, done: 3, running: 2, failed: 0, reused: 1, elapsedMs: 30_000 },
  )
})

Pure('should guess the time left from the pace of the calls that ran, not of reused ones', () => {
  // 2 calls ran in 30 s (15 s each at this pace); 2 are left: 30 s
  assert.is(fold().totals(s(30)).etaMs, 30_000)
  // nothing ran yet: no guess
  const t = Progress.tracker(T0)
  t.add({ type: 'done', id: 'r', work: 'w', reused: true }, s(1))
  t.add({ type: 'start', id: 'x', work: 'w' }, s(1))
  assert.is(t.totals(s(5)).etaMs, undefined)
})

Pure('should name the call running longest by its label and say for how long', () => {
  assert.equal(fold().totals(s(30)).slowest, { id: 'a1111111', work: 'align', label: 'align(file, string 5)', runningMs: 29_000 })
  // a start without a label shows its work
  const t = Progress.tracker(T0)
  t.add({ type: 'start', id: 'b', work: 'bare' }, s(0))
  assert.is(t.totals(s(1)).slowest?.label, 'bare')
})

Pure('should count a failure, and leave no ETA or slowest call once nothing runs', () => {
  const t = fold()
  t.add({ type: 'failed', id: 'a1111111', work: 'align', error: { _tag: 'X', code: 'ARV_X', message: 'no' } }, s(40))
  t.add({ type: 'done', id: 'a4444444', work: 'align', reused: false }, s(41))
  const totals = t.totals(s(42))
  assert.equal([totals.known, totals.done, totals.running, totals.failed, totals.reused], [5, 4, 0, 1, 1])
  assert.is(totals.etaMs, undefined)
  assert.is(totals.slowest, undefined)
  assert.is(t.started(), 5)
})

Pure('should render the TTY line with total, elapsed, ETA and the slowest call, clipped to the terminal', () => {
  const line = Progress.line(fold().totals(s(30)))
  assert.is(line, '▶ 3/5 done (1 reused), 2 running, 0 failed · 30s · ETA 30s · slowest align(file, string 5) a1111111 29s')
  const clipped = Progress.line(fold().totals(s(30)), 40)
  assert.is([...clipped].length, 39)
  assert.ok(clipped.endsWith('…'))
  assert.is(Progress.line(fold().totals(s(30)), 200), line)
})

Pure('should render durations as people read them', () => {
  assert.equal([850, 12_400, 185_000, 7_440_000].map(Progress.duration), ['850ms', '12s', '3m05s', '2h04m'])
})

Pure('should render a JSON progress line with the totals, and the rollup at the end', () => {
  assert.equal(JSON.parse(Progress.jsonLine(fold().totals(s(30)))), {
    type: 'progress', known: 5, done: 3, running: 2, failed: 0, reused: 1, elapsedMs: 30_000, etaMs: 30_000,
    slowest: { id: 'a1111111', work: 'align', label: 'align(file, string 5)', runningMs: 29_000 },
  })
  assert.equal(JSON.parse(Progress.jsonLine(Progress.tracker(T0).totals(s(1)), { cost: 0.25 })), { type: 'progress', known: 0, done: 0, running: 0, failed: 0, reused: 0, elapsedMs: 1000, cost: 0.25 })
})

Pure('should write JSON lines through the reporter with a clock it is given', () => {
  let now = s(0)
  const lines: Array<string> = []
  const r = Progress.reporter('json', 'info', { write: (x) => lines.push(x) }, () => now)
  r.onEvent({ type: 'start', id: 'a1111111', work: 'align', label: 'align(file)' })
  r.onEvent({ type: 'log', id: 'a1111111', work: 'align', message: 'token=v2/zzzzz-gj3su-012345678901234/secretsecret' })
  now = s(2)
  r.onEvent({ type: 'done', id: 'a1111111', work: 'align', reused: false })
  r.stop({ calls: 1, executed: 1, reused: 0, failed: 0, containerMs: 2000 })
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.equal(parsed.map((p) => p['type']), ['log', 'progress', 'summary'])
  assert.not.ok(lines.join('').includes('secretsecret'))
  assert.equal(parsed[1], { type: 'progress', known: 1, done: 1, running: 0, failed: 0, reused: 0, elapsedMs: 2000, containerMs: 2000 })
})

Pure.run()

const Cli = suite('cli/progress: the real CLI writes JSON progress lines on a pipe')

Cli('should write totals, elapsed time and the running call while it runs, and the totals at the end', async () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'cli-progress-'))
  try {
    const gate = Path.join(dir, 'gate')
    let seenRunning: Record<string, unknown> | undefined
    const r = await crunch(['run', Path.join(root, 'spec', 'fixtures', 'crunch', 'chatty.ts'), '--gate', gate, '--dispatcher', 'local', '--cache-dir', Path.join(dir, 'cache')], {
      timeoutMs: 120_000,
      onSpawn: (child) => {
        let buffered = ''
        child.stderr?.on('data', (b: Buffer) => {
          buffered += b.toString()
          for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
            const l = buffered.slice(0, i)
            buffered = buffered.slice(i + 1)
            if (!l.startsWith('{"type":"progress"')) continue
            const p = JSON.parse(l) as Record<string, unknown>
            // the call is held until a progress line shows it running: then let it go
            if (seenRunning === undefined && p['running'] === 1) {
              seenRunning = p
              Fs.writeFileSync(gate, '')
            }
          }
        })
      },
    })
    assert.is(r.code, 0, r.stderr)
    assert.is(r.stdout.trim(), 'true', 'the call saw the gate: a progress line showed it running')
    assert.ok(seenRunning !== undefined, r.stderr)
    assert.equal([seenRunning!['known'], seenRunning!['done'], seenRunning!['running'], seenRunning!['failed'], seenRunning!['reused']], [1, 0, 1, 0, 0], r.stderr)
    assert.type(seenRunning!['elapsedMs'], 'number')
    const slowest = seenRunning!['slowest'] as Record<string, unknown>
    assert.is(slowest['work'], 'talk')
    assert.is(slowest['label'], 'talk(string ' + String(gate.length) + ')')
    assert.type(slowest['runningMs'], 'number')
    // the path (an argument's value) is never shown: only its kind and length
    assert.not.ok(r.stderr.includes(gate), r.stderr)

    const progress = r.stderr.split('\n').filter((l) => l.startsWith('{"type":"progress"')).map((l) => JSON.parse(l) as Record<string, unknown>)
    const last = progress[progress.length - 1]!
    assert.equal([last['known'], last['done'], last['running'], last['failed'], last['reused']], [1, 1, 0, 0, 0], r.stderr)
    assert.ok((last['elapsedMs'] as number) >= (seenRunning!['elapsedMs'] as number))
    assert.type(last['containerMs'], 'number')
    for (const p of progress) for (const k of ['known', 'done', 'running', 'failed', 'reused', 'elapsedMs']) assert.type(p[k], 'number', `${k} in ${JSON.stringify(p)}`)
    assert.ok(r.stderr.includes('{"type":"log","id":'), 'the call’s log line')
    assert.ok(r.stderr.trimEnd().endsWith('{"type":"summary","started":1,"done":1,"reused":0,"failed":0}'), r.stderr)
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

Cli.run()
