/**
 * Resource usage from a container's log collection (`crunchstat.txt`, `node.json`), and the
 * container request log endpoint, against the Arvados double running real containers.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Crunchstat from '../../lib/report/crunchstat.js'
import { requestAgainst, startDouble, type Double } from '../support/double/index.js'
import * as Manifest from '../support/double/manifest.js'

const MiB = 1024 * 1024

/**
 * Lines in the formats arvados lib/crunchstat/crunchstat.go prints (reportMemSample: "mem%s" of
 * " %d %s" pairs; doCPUStats: "cpu %.4f user %.4f sys %d cpus" and " -- interval …"; doNetworkStats,
 * doDiskSpaceStats, notices) after crunch-run's timestamp, plus an older line with the
 * "crunchstat: " prefix (the form tools/crunchstat-summary also reads) and LogMaxima's summary.
 */
const SAMPLE = `2026-01-01T10:00:00.100000000Z notice: reading stats from /sys/fs/cgroup/system.slice/docker-0123.scope/memory.stat
2026-01-01T10:00:00.200000000Z mem 0 cache 0 swap 0 pgmajfault 1048576 rss
2026-01-01T10:00:00.300000000Z cpu 0.0100 user 0.0000 sys 2 cpus
2026-01-01T10:00:00.400000000Z net:eth0 100 tx 200 rx
2026-01-01T10:00:10.200000000Z mem 4096 cache 0 swap 12 pgmajfault 734003200 rss
2026-01-01T10:00:10.300000000Z cpu 7.5000 user 1.2500 sys 2 cpus -- interval 10.0000 seconds 7.4900 user 1.2500 sys
2026-01-01T10:00:10.400000000Z statfs 100 available 20 used 120 total -- interval 10.0000 seconds 20 used
2026-01-01T10:00:20.200000000Z crunchstat: mem 0 cache 0 swap 0 pgmajfault 524288000 rss
2026-01-01T10:00:20.300000000Z crunchstat: cpu 9.0000 user 1.5000 sys 2 cpus -- interval 10.0000 seconds 1.5000 user 0.2500 sys
`

const parsing = suite('Crunchstat.parse')

parsing('should give the largest rss as the peak and the last user + sys as the CPU time', () => {
  assert.equal(Crunchstat.parse(SAMPLE), { peakRssBytes: 734003200, cpuSeconds: 10.5 })
})

parsing('should read the maxima newer crunch-run versions log at the end', () => {
  const text = `${SAMPLE}2026-01-01T10:00:21.000000000Z Maximum container memory rss usage was 91%, 977272832/1073741824 bytes
2026-01-01T10:00:21.000000000Z Total CPU usage was 9.100000 user and 1.600000 sys on 2 CPUs
`
  assert.equal(Crunchstat.parse(text), { peakRssBytes: 977272832, cpuSeconds: 10.7 })
})

parsing('should leave out what no line gives', () => {
  assert.equal(Crunchstat.parse(''), {})
  assert.equal(Crunchstat.parse('2026-01-01T10:00:00.1Z notice: stats not available: stat memory.stat\n2026-01-01T10:00:00.2Z mem 0 cache\n'), {})
})

parsing('should read the instance type from node.json', () => {
  const text = JSON.stringify({ Name: 'm5large', ProviderType: 'm5.large', VCPUs: 2, RAM: 8589934592, Scratch: 32000000000, IncludedScratch: 32000000000, AddedScratch: 0, Price: 0.096, Preemptible: false, CUDA: { DeviceCount: 0 } })
  assert.equal(Crunchstat.parseNodeJson(text), { name: 'm5large', providerType: 'm5.large', vcpus: 2, ramBytes: 8589934592, price: 0.096, preemptible: false })
  assert.is(Crunchstat.parseNodeJson('[]'), undefined)
  assert.is(Crunchstat.parseNodeJson('not json'), undefined)
})

parsing.run()

// ---

type J = Record<string, unknown>
const double = suite<{ d: Double; dir: string }>('the double: crunchstat.txt, node.json and the container request log endpoint', {} as { d: Double; dir: string })
double.before(async (ctx) => {
  ctx.d = await startDouble({})
  ctx.dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-livelog-'))
})
double.after(async (ctx) => {
  await ctx.d.stop()
  Fs.rmSync(ctx.dir, { recursive: true, force: true })
})

const submit = async (d: Double, command: ReadonlyArray<string>, ram = 1 << 28): Promise<J> => {
  const r = await requestAgainst(d, 'POST', 'container_requests', {
    container_request: { command, container_image: 'arvados/jobs:latest', output_path: '/out', mounts: { '/out': { kind: 'tmp', capacity: 1 << 20 } }, runtime_constraints: { vcpus: 1, ram }, priority: 1, state: 'Committed' },
  })
  assert.is(r.status, 200, r.text)
  return r.json as J
}

const logFile = (d: Double, cr: J, path: string): string | undefined => {
  const c = d.cluster.collections.get(cr['log_uuid'] as string)
  const f = Manifest.files(c?.['manifest_text'] as string).files.find((x) => x.path === path)
  return f === undefined ? undefined : d.cluster.readFile(f).toString('utf8')
}

double('should put crunchstat.txt with the process’s memory and CPU, and node.json, in the log collection', async ({ d }) => {
  // 96 MiB touched, then about half a second of CPU
  const script = 'const b = Buffer.alloc(96 * 1024 * 1024, 1); const until = Date.now() + 600; let x = 0; while (Date.now() < until) x += b[x % b.length]; console.log(x > 0)'
  const cr = await submit(d, ['node', '-e', script])
  const [done] = await d.waitFinal([cr['uuid'] as string])
  assert.is(done?.['state'], 'Final')
  const stats = logFile(d, done!, 'crunchstat.txt')
  assert.ok(stats !== undefined, 'crunchstat.txt is in the log collection')
  const used = Crunchstat.parse(stats)
  assert.ok((used.peakRssBytes ?? 0) > 96 * MiB, `peak ${String(used.peakRssBytes)}`)
  assert.ok((used.peakRssBytes ?? 0) < 1024 * MiB, `peak ${String(used.peakRssBytes)}`)
  assert.ok((used.cpuSeconds ?? 0) > 0.2, `cpu ${String(used.cpuSeconds)}`)
  const node = Crunchstat.parseNodeJson(logFile(d, done!, 'node.json') ?? '')
  assert.equal(node, { name: 'double1.small', providerType: 'double1.small', vcpus: 1, ramBytes: 2 * 1024 ** 3, price: 0.02, preemptible: false })
})

double('should serve a running container’s stderr so far, by ranges, and the whole log once it has finished', async ({ d, dir }) => {
  const go = Path.join(dir, 'go')
  const cr = await submit(d, ['sh', '-c', `echo first >&2; while [ ! -e ${go} ]; do sleep 0.05; done; echo second >&2`])
  const url = `container_requests/${cr['uuid'] as string}/log/${cr['container_uuid'] as string}/stderr.txt`
  let seen = ''
  for (let i = 0; i < 600 && !seen.includes('first'); i++) {
    const r = await requestAgainst(d, 'GET', url)
    if (r.status === 200) seen = r.text
    else await new Promise((x) => setTimeout(x, 50))
  }
  assert.match(seen, /^\d{4}-\d\d-\d\dT\S+Z first\n$/, 'the first line, timestamped, while the container waits')
  assert.is(d.cluster.containers.get(cr['container_uuid'] as string)?.['state'], 'Running')
  const past = await requestAgainst(d, 'GET', url, undefined, { headers: { Range: `bytes=${Buffer.byteLength(seen)}-` } })
  assert.is(past.status, 416, 'nothing new yet')
  assert.is(past.headers['content-range'], `bytes */${Buffer.byteLength(seen)}`)
  Fs.writeFileSync(go, '')
  const [done] = await d.waitFinal([cr['uuid'] as string])
  assert.is(done?.['state'], 'Final')
  const rest = await requestAgainst(d, 'GET', url, undefined, { headers: { Range: `bytes=${Buffer.byteLength(seen)}-` } })
  assert.is(rest.status, 206)
  assert.match(rest.text, /^\S+Z second\n$/)
  const all = await requestAgainst(d, 'GET', url)
  assert.is(all.status, 200)
  assert.is(all.text, seen + rest.text)
})

double('should refuse the endpoint without a token, and answer 404 for a container that is not the request’s', async ({ d }) => {
  const cr = await submit(d, ['sh', '-c', 'true'])
  await d.waitFinal([cr['uuid'] as string])
  const url = `container_requests/${cr['uuid'] as string}/log/${cr['container_uuid'] as string}/stderr.txt`
  assert.is((await requestAgainst(d, 'GET', url, undefined, { token: null })).status, 401)
  assert.is((await requestAgainst(d, 'GET', url.replace(/dz642-[a-z0-9]{15}/, 'dz642-000000000000000'))).status, 404)
  assert.is((await requestAgainst(d, 'GET', url.replace('stderr.txt', 'nothing.txt'))).status, 404)
})

double.run()
