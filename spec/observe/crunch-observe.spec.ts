/**
 * What a crunch run shows of its calls, on the Arvados double (real containers): each executed
 * call's `done` carries the memory, CPU and instance type read from its log collection; the
 * run's stats sum the containers' cost as the double reports it, their running time, and the
 * time reused calls saved; a running call's `ctx.log` lines reach the runner while it runs, and
 * a short call's when it ends, from the log block its usage is read from.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Dispatcher from '../../lib/dispatcher.js'
import * as Crunch from '../../lib/dispatchers/crunch/index.js'
import * as LiveLogs from '../../lib/dispatchers/crunch/live-logs.js'
import { Chatty } from '../fixtures/crunch/chatty.js'
import { Fanout } from '../fixtures/crunch/fanout.js'
import { root } from '../support/cli.js'
import * as DoubleEnv from '../support/double/env.js'
import { startDouble, type Double } from '../support/double/index.js'

type Rec = Record<string, unknown>
const test = suite<{ d: Double; dir: string }>('crunch: usage, cost, live logs', {} as { d: Double; dir: string })
test.before(async (ctx) => {
  ctx.d = await startDouble({})
  ctx.dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-observe-'))
  Fs.writeFileSync(Path.join(ctx.dir, 'ca.pem'), ctx.d.ca)
})
test.after(async (ctx) => {
  await ctx.d.stop()
  Fs.rmSync(ctx.dir, { recursive: true, force: true })
})

const dispatcherOf = (d: Double, dir: string, script: string) =>
  Crunch.make({
    script: Path.join(root, 'spec', 'fixtures', 'crunch', script),
    env: DoubleEnv.dispatcherEnv(d, dir),
    home: dir,
  })

test('should give each executed call its memory, CPU and instance type, and sum the containers’ cost', async ({ d, dir }) => {
  const events: Array<Dispatcher.Event> = []
  const r = await dispatcherOf(d, dir, 'fanout.ts').run(Fanout, { n: 3 }, { onEvent: (e) => events.push(e) })()
  assert.is(r._tag, 'Right', r._tag === 'Left' ? r.left.message : '')
  if (r._tag === 'Left') return
  const done = events.flatMap((e) => (e.type === 'done' ? [e] : []))
  assert.is(done.length, 4)
  for (const e of done) {
    assert.is(e.reused, false)
    assert.ok((e.used?.peakRssBytes ?? 0) > 0, `${e.work}: peak RSS ${JSON.stringify(e.used)}`)
    assert.type(e.used?.cpuSeconds, 'number')
    assert.is(e.instanceType, 'double1.small')
    assert.ok((e.cost ?? 0) > 0, `${e.work}: cost ${String(e.cost)}`)
  }
  // the double's own figures: every container of this run
  const containers = [...d.cluster.containers.values()] as ReadonlyArray<Rec>
  assert.is(containers.length, 4)
  const sum = containers.reduce((a, c) => a + Number(c['cost']), 0)
  assert.ok(sum > 0)
  assert.ok(Math.abs((r.right.stats.cost ?? -1) - sum) < 1e-12, `stats.cost ${String(r.right.stats.cost)} against the double's ${sum}`)
  const span = containers.reduce((a, c) => a + (Date.parse(String(c['finished_at'])) - Date.parse(String(c['started_at']))), 0)
  assert.is(r.right.stats.containerMs, span)
  assert.is(r.right.stats.savedMs, 0)

  // provenance on the output collection
  const outputs = [...d.cluster.collections.values()].filter((c) => c['name'] === 'Output of fanout') as ReadonlyArray<Rec>
  assert.is(outputs.length, 1)
  const props = outputs[0]!['properties'] as Rec
  assert.is(props['arvados_crunch_module'], 'fanout')
  assert.equal(props['arvados_crunch_params'], { n: 3 })
  assert.match(String(props['arvados_crunch_code']), /^[0-9a-f]{32}\+\d+$/)
  assert.is(props['arvados_crunch_sdk_version'], (JSON.parse(Fs.readFileSync(Path.join(root, 'package.json'), 'utf8')) as Rec)['version'])
  assert.is(props['arvados_crunch_calls_run'], 4)
  assert.is(props['arvados_crunch_calls_reused'], 0)
  assert.is(props['arvados_crunch_cost'], r.right.stats.cost)
  const prov = [...d.cluster.collections.values()].find((c) => c['portable_data_hash'] === props['arvados_crunch_provenance']) as Rec | undefined
  assert.ok(prov !== undefined, 'the provenance collection exists')
  const text = String(prov!['manifest_text'])
  for (const f of ['graph.json', 'report.html', 'params.json', 'events.jsonl']) assert.ok(text.includes(`:${f}`), `${f} in ${text}`)

  // the same run again: every call reused, nothing paid, their containers' time saved
  const again = await dispatcherOf(d, dir, 'fanout.ts').run(Fanout, { n: 3 }, { onEvent: () => undefined })()
  assert.is(again._tag, 'Right')
  if (again._tag === 'Left') return
  assert.is(again.right.stats.reused, 4)
  assert.is(again.right.stats.cost, undefined)
  assert.is(again.right.stats.containerMs, 0)
  assert.is(again.right.stats.savedMs, span)
})

test('should hand a running call’s log lines to the runner before the call finishes', async ({ d, dir }) => {
  // the gate is a host file the container sees (not under /tmp, which is the container's own)
  const gates = Fs.mkdtempSync(Path.join(root.startsWith(Os.tmpdir() + Path.sep) ? '/var/tmp' : Path.join(root, 'spec', 'fixtures', 'crunch'), '.tmp-live-'))
  try {
    const gate = Path.join(gates, 'heard')
    const seen: Array<string> = []
    const r = await dispatcherOf(d, dir, 'chatty.ts').run(Chatty, { gate }, {
      onEvent: (e) => {
        seen.push(e.type === 'log' ? `log ${e.work} ${e.message}` : `${e.type} ${e.work}`)
        if (e.type === 'log' && e.work === 'talk' && e.message.includes('hello from talk')) Fs.writeFileSync(gate, '')
      },
    })()
    assert.is(r._tag, 'Right', r._tag === 'Left' ? r.left.message : '')
    if (r._tag === 'Left') return
    // true: the file appeared while the call waited, so its line arrived while it ran
    assert.is(r.right.value, true, seen.join('\n'))
    assert.ok(seen.indexOf('log talk hello from talk') < seen.indexOf('done talk'), seen.join('\n'))
  } finally {
    Fs.rmSync(gates, { recursive: true, force: true })
  }
})

test('should hand a short call’s log lines on when it ends, from its log block (no log request, one Keep read for lines and usage)', async ({ d, dir }) => {
  // the gate is there already: the call logs its line and returns at once
  const gates = Fs.mkdtempSync(Path.join(root.startsWith(Os.tmpdir() + Path.sep) ? '/var/tmp' : Path.join(root, 'spec', 'fixtures', 'crunch'), '.tmp-live-'))
  try {
    const gate = Path.join(gates, 'open')
    Fs.writeFileSync(gate, '')
    const apiBefore = d.requests.length
    const keepBefore = d.keepRequests.length
    const seen: Array<string> = []
    const r = await dispatcherOf(d, dir, 'chatty.ts').run(Chatty, { gate }, { onEvent: (e) => seen.push(e.type === 'log' ? `log ${e.work} ${e.message}` : `${e.type} ${e.work}`) })()
    assert.is(r._tag, 'Right', r._tag === 'Left' ? r.left.message : '')
    const line = seen.indexOf('log talk hello from talk')
    assert.ok(line >= 0 && line < seen.indexOf('done talk'), seen.join('\n'))
    // the work role's own lines are not the call's
    assert.not.ok(seen.some((l) => l.startsWith('log talk arvados-crunch: ')), seen.join('\n'))
    // the newest (the suite's double ran a talk call before)
    const talk = [...d.cluster.crs.values()].filter((cr) => String(cr['name']).startsWith('chatty.talk') && cr['state'] === 'Final').pop()
    const container = d.cluster.containers.get(String(talk?.['container_uuid'])) as Rec | undefined
    const ranMs = Date.parse(String(container?.['finished_at'])) - Date.parse(String(container?.['started_at']))
    const logReads = d.requests.slice(apiBefore).filter((q) => q.path.includes('/log/'))
    if (ranMs < LiveLogs.FIRST_READ_MS) assert.is(logReads.length, 0, `the container ran ${ranMs} ms, yet its log was read ${logReads.length} times`)
    // the log collection's block (stderr.txt, crunchstat.txt, node.json share it) read once, for the lines and the usage
    const gets = d.keepRequests.slice(keepBefore).filter((q) => q.method === 'GET').map((q) => q.path.slice(1, 33))
    const logBlocks = [...new Set([...String((d.cluster.collections.get(String(talk?.['log_uuid'])) as Rec | undefined)?.['manifest_text'] ?? '').matchAll(/ ([0-9a-f]{32})\+/g)].map((m) => m[1]))]
    assert.is(logBlocks.length, 1, 'the double packs the log files into one block')
    assert.is(gets.filter((h) => h === logBlocks[0]).length, 1, [logBlocks[0], ...gets].join('\n'))
  } finally {
    Fs.rmSync(gates, { recursive: true, force: true })
  }
})

test.run()
