/**
 * A report of a crunch run: the fan-out fixture runs through the crunch dispatcher against the
 * Arvados double (real containers), its events are stamped as they arrive, and each call's
 * `done` is completed with what Arvados knows — the request's creation (queued), the container's
 * own times, and the memory, CPU
 * and instance type read through the container request log endpoint (`crunchstat.txt`,
 * `node.json`). That completion is what the crunch interpreter is to attach to its events; until
 * it does, this spec does it. The report must render in headless Chromium with one graph node
 * per group, one bar per call, and the measured figures in the table.
 *
 * `REPORT_DOCS_PNG=docs/watching-a-crunch-run.png node --import tsx spec/report/crunch-report.spec.ts`
 * keeps its screenshot for the docs.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Crunch from '../../lib/dispatchers/crunch/index.js'
import * as Request from '../../lib/dispatchers/crunch/request.js'
import * as Report from '../../lib/report/index.js'
import { Fanout } from '../fixtures/crunch/fanout.js'
import { root } from '../support/cli.js'
import { requestAgainst, startDouble, type Double } from '../support/double/index.js'
import { chromium, countClass, dumpDom, screenshot } from './support.js'

type Rec = Record<string, unknown>
const bin = chromium()
if (bin === undefined) console.log('report/crunch-report: SKIPPING the browser check: no `chromium` on PATH (Debian: apt-get install -y chromium)')

const test = suite<{ d: Double; dir: string }>('Report of a crunch run on the double', {} as { d: Double; dir: string })
test.before(async (ctx) => {
  ctx.d = await startDouble({})
  ctx.dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-report-e2e-'))
})
test.after(async (ctx) => {
  await ctx.d.stop()
  Fs.rmSync(ctx.dir, { recursive: true, force: true })
})

/** a file of a call's container log, read through the container request log endpoint */
const logOf = async (d: Double, cr: Rec, file: string): Promise<string | undefined> => {
  const r = await requestAgainst(d, 'GET', `container_requests/${cr['uuid'] as string}/log/${cr['container_uuid'] as string}/${file}`)
  return r.status === 200 ? r.text : undefined
}

test('should draw the calls of a crunch run with their containers’ times, memory, CPU and instance type', async ({ d, dir }) => {
  Fs.writeFileSync(Path.join(dir, 'ca.pem'), d.ca)
  const env = { ARVADOS_API_HOST: d.apiHost, ARVADOS_API_TOKEN: d.token, SSL_CERT_FILE: Path.join(dir, 'ca.pem'), CRUNCH_POLL_MS: '200', CRUNCH_KEEP_REPLICAS: '1' }
  const dispatcher = Crunch.make({ script: Path.join(root, 'spec', 'fixtures', 'crunch', 'fanout.ts'), env, home: dir })
  const events: Array<Report.TimedEvent> = []
  const startedAt = new Date().toISOString()
  const result = await dispatcher.run(Fanout, { n: 3 }, { onEvent: (e) => events.push({ ...e, at: new Date().toISOString() }) })()
  const finishedAt = new Date().toISOString()
  assert.is(result._tag, 'Right', result._tag === 'Left' ? result.left.message : '')
  if (result._tag === 'Left') return

  // what Arvados knows about each call, by the call id its request carries
  const requests = new Map<string, Rec>()
  for (const cr of d.cluster.crs.values()) {
    const id = (cr['properties'] as Rec)['arvados_crunch_call_id']
    if (typeof id === 'string') requests.set(id, cr)
  }
  const completed: Array<Report.TimedEvent> = []
  for (const e of events) {
    const cr = e.type === 'done' && !e.reused ? requests.get(e.id) : undefined
    if (cr === undefined) {
      completed.push(e)
      continue
    }
    const c = d.cluster.containers.get(cr['container_uuid'] as string) as Rec
    const node = Report.parseNodeJson((await logOf(d, cr, 'node.json')) ?? '')
    completed.push({
      ...e,
      queuedAt: cr['created_at'] as string,
      startedAt: c['started_at'] as string,
      finishedAt: c['finished_at'] as string,
      used: Report.parseCrunchstat((await logOf(d, cr, 'crunchstat.txt')) ?? ''),
      ...(node === undefined ? {} : { instanceType: node.name }),
    })
  }
  const record = Report.fromEvents({
    module: Fanout.name,
    params: { n: 3 },
    events: completed,
    graph: result.right.graph,
    requested: Report.requestedOf(Fanout, { ramBytes: Request.DEFAULTS.ram, vcpus: Request.DEFAULTS.vcpus }),
    startedAt,
    finishedAt,
    outcome: 'succeeded',
  })
  assert.is(record.calls.length, 4, 'inc × 3 and sum')
  for (const c of record.calls) {
    assert.is(c.state, 'done')
    assert.is(c.instanceType, 'double1.small')
    assert.ok((c.used.peakRssBytes ?? 0) > 1024 * 1024, `${c.label}: peak ${String(c.used.peakRssBytes)}`)
    assert.ok(c.used.cpuSeconds !== undefined, `${c.label}: cpu measured`)
    assert.is(c.requested.ramBytes, Request.DEFAULTS.ram)
    assert.ok((c.durations.queuedMs ?? -1) >= 0, `${c.label}: queued from the request to the container's start`)
  }
  const file = Path.join(dir, 'crunch-run.html')
  Fs.writeFileSync(file, Report.render(record))
  if (bin === undefined) return
  const dom = dumpDom(bin, file, Path.join(dir, 'chromium-profile'))
  assert.is(countClass(dom, 'g', 'node', 'calls'), 2, 'inc × 3, sum')
  assert.is(countClass(dom, 'g', 'node', 'output'), 1)
  assert.is(countClass(dom, 'rect', 'bar', 'state-done'), 4)
  assert.is((dom.match(/<td class="small">double1\.small<\/td>/g) ?? []).length, 4)
  assert.not.match(dom, /<td class="num[^"]*"[^>]*>—<\/td><td class="num">1<\/td>/, 'no call without a measured peak')
  assert.match(dom, /Set <code>ram: '\d+MiB'<\/code> on work <b>inc<\/b>: 3 of 3 calls used under 25% of the 512 MiB asked/, 'a node process uses far less than the 512 MiB default')
  const png = process.env['REPORT_DOCS_PNG'] ?? Path.join(dir, 'crunch-run.png')
  screenshot(bin, file, png, Path.join(dir, 'chromium-profile'), '1100,1500')
  assert.ok(Fs.statSync(png).size > 0)
})

test.run()
