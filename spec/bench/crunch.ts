/**
 * Benchmark of the crunch dispatcher on the Arvados double (`npm run bench:crunch`, i.e.
 * `node --import tsx spec/bench/crunch.ts`; not part of `npm test`). Needs what the double needs
 * to run containers: root, util-linux `unshare`/`mount`, `chroot`.
 *
 * Workload: spec/fixtures/crunch/fanout.ts — N calls of a trivial work `inc(i) = i + 1` (a
 * fan-out) and one `sum` of all of them (a gather): N + 1 calls, N + 1 containers. Each run is
 * the real CLI as a child process, driven exactly as spec/dispatchers/crunch.spec.ts drives it:
 * `node lib/bin.js run fanout.ts --n N --dispatcher crunch --progress json` with
 * ARVADOS_API_HOST / ARVADOS_API_TOKEN / SSL_CERT_FILE (the double's CA in a file) / HOME /
 * CRUNCH_POLL_MS / CRUNCH_KEEP_REPLICAS=1. The CLI, lib/ and the fixture are copied once to a
 * temp dir at the start and every run uses that copy: the bundle (so every container request)
 * follows the sources, and an edit of lib/ during the bench would otherwise make the second
 * run's requests new ones (no reuse).
 *
 * Phases, in this order:
 * 1. warm-up: N = 10 on a throw-away double (file caches, so the first measured run is not
 *    the first node start), then a small run (N = 10) on another fresh double: its runner CPU
 *    is the fixed cost (start-up, bundling, upload) that the marginal figure subtracts;
 * 2. fresh run: N on a fresh double (every call runs a container);
 * 3. reused run: the same command again on the same double (every call is re-attached to its
 *    Final request of phase 2, no container runs);
 * 4. baseline: the double's own cost for the same containers without our runner — the exact
 *    container request bodies the runner posted in phase 2 (use_existing false, other
 *    properties, so the containers run again) are posted straight to the API, 8 at a time;
 *    the N `inc` requests first, then, once all of them are Final, the `sum`. Waiting is done
 *    in-process (no API polling), so this is the time the double needs to run N + 1 identical
 *    containers with a gather after the fan-out.
 *
 * Figures per run: API requests and Keep requests counted by the double (per call = / (N + 1)),
 * API requests grouped by method + path (a POST carrying `_method=GET` is shown as `GET(POST)`),
 * wall time from spawn to exit, containers per second. The runner is measured by a small
 * `--import` preload (written to a temp dir) that writes `process.cpuUsage()`,
 * `process.resourceUsage().maxRSS` and the largest sampled heapUsed + external to a file on
 * exit: runner CPU ms per call (total, and marginal = (CPU(N) − CPU(10)) / (N − 10)), peak RSS.
 * When `/usr/bin/time` exists the runner is also run under `/usr/bin/time -v`, whose user+sys
 * include the runner's own children (the esbuild bundler). Container CPU = growth of the bench
 * process's reaped-children CPU (`/proc/self/stat` cutime + cstime) minus the runner's; double
 * CPU = growth of the bench process's own CPU (the double runs in it).
 *
 * Options: `--n N` (default 1000), `--quick` (N = 100), `--poll-ms MS` (CRUNCH_POLL_MS, default
 * 1000: the runner's poll interval grows from 250 ms to this), `--no-baseline`, `--trickle` (the
 * double of phases 2-4 runs at most two containers at once, so completions arrive in a steady
 * trickle instead of a burst: the shape of a long run on a busy cluster), `--instant` (no
 * container runs: the double ends each container Complete at once with the result file the work
 * role would have written, computed here from the call file — for the runner's own CPU and
 * memory at large N, e.g. `--n 10000 --instant`; implies no baseline), `--cpu-prof DIR` (V8 CPU profiles of the
 * runner in the fresh and reused runs, `runner-fresh.cpuprofile` and `runner-reused.cpuprofile`; the
 * profiler's own thread then adds to the runner's CPU), `--node-flags "FLAGS"` (extra node flags for
 * every runner, e.g. `--max-semi-space-size=16`).
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Https from 'node:https'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { bin as cliBin, root } from '../support/cli.js'
import { startDouble, type Double, type DoubleOptions, type FailContainers, type RecordedRequest } from '../support/double/index.js'

// -------------------------------------------------------------------------------------
// options
// -------------------------------------------------------------------------------------

const argv = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i < 0 ? undefined : argv[i + 1]
}
const N = argv.includes('--quick') ? 100 : Number(option('--n') ?? 1000)
const POLL_MS = Number(option('--poll-ms') ?? 1000)
const BASELINE = !argv.includes('--no-baseline') && !argv.includes('--instant')
const TRICKLE = argv.includes('--trickle')
const INSTANT = argv.includes('--instant')
/** `--cpu-prof DIR`: the runner of the fresh and reused runs writes a V8 CPU profile there */
const CPU_PROF = option('--cpu-prof')
/** `--node-flags "..."`: extra node flags for the runner (e.g. V8 GC flags, to see where its CPU goes) */
const NODE_FLAGS = (option('--node-flags') ?? '').split(' ').filter((f) => f !== '')
/** `--heap-snapshot-mb M`: each runner writes one heap snapshot into its home directory under the bench's temp dir (kept with `--keep`) when its heap + external memory first passes M MiB */
const HEAP_SNAPSHOT_MB = option('--heap-snapshot-mb')
const KEEP_WORK = argv.includes('--keep')
const SMALL = 10
if (!Number.isInteger(N) || N < 1) throw new Error(`--n must be a positive whole number, not ${String(option('--n'))}`)
if (!Number.isInteger(POLL_MS) || POLL_MS < 100) throw new Error('--poll-ms must be a whole number >= 100')

const TIME = '/usr/bin/time'
const hasTime = Fs.existsSync(TIME)
const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-bench-'))

/**
 * `--instant`: each container ends Complete without running, its output the result file the
 * work role would write for the fixture's works (`inc(i) = i + 1`, `sum(xs)`), read from the
 * call file mount.
 */
const instantFanout: FailContainers = (_cr, container) => {
  const call = ((container['mounts'] as Record<string, Record<string, unknown>>)['/var/lib/arvados-crunch/call.json']?.['content'] ?? {}) as { work?: string; args?: Array<string> }
  const arg = JSON.parse(call.args?.[0] ?? 'null') as unknown
  const value = call.work === 'inc' ? (arg as number) + 1 : (arg as Array<number>).reduce((a, b) => a + b, 0)
  return { exitCode: 0, output: { '.arvados-crunch-result.json': JSON.stringify({ v: 1, kind: 'value', json: JSON.stringify(value) }) } }
}
const doubleOptions = (o: DoubleOptions = {}): DoubleOptions => (INSTANT ? { ...o, faults: { failContainers: instantFanout } } : o)

// -------------------------------------------------------------------------------------
// a snapshot of the sources: the bundle (hence every container request) is a function of the
// script and everything it imports, so an edit of lib/ between two runs would make the second
// run's requests new ones. Every run uses this copy, taken once at the start.
// -------------------------------------------------------------------------------------

const FIXTURE = Path.join('spec', 'fixtures', 'crunch', 'fanout.ts')
const snapshot = Path.join(work, 'src')
Fs.cpSync(Path.join(root, 'lib'), Path.join(snapshot, 'lib'), { recursive: true })
for (const f of ['package.json', 'tsconfig.json', FIXTURE]) Fs.cpSync(Path.join(root, f), Path.join(snapshot, f))
Fs.symlinkSync(Path.join(root, 'node_modules'), Path.join(snapshot, 'node_modules'), 'dir')
const script = Path.join(snapshot, FIXTURE)
const bin = Path.join(snapshot, Path.relative(root, cliBin))

const sourceState = ((): string => {
  try {
    const head = ChildProcess.execSync('git rev-parse --short HEAD', { cwd: root, encoding: 'utf8' }).trim()
    const dirty = ChildProcess.execSync(`git status --porcelain -- lib ${FIXTURE}`, { cwd: root, encoding: 'utf8' }).trim().split('\n').filter((l) => l !== '').length
    return `sources: working tree at ${head}${dirty === 0 ? '' : ` with ${dirty} uncommitted change(s) under lib/ or the fixture`}, copied once to ${snapshot}`
  } catch {
    return `sources: copied once to ${snapshot}`
  }
})()

// -------------------------------------------------------------------------------------
// measuring the runner: a preload that reports its own usage on exit
// -------------------------------------------------------------------------------------

const preload = Path.join(work, 'usage-preload.mjs')
Fs.writeFileSync(
  preload,
  `import * as Fs from 'node:fs'
import * as Dc from 'node:diagnostics_channel'
import * as V8 from 'node:v8'
const out = process.env.CRUNCH_BENCH_USAGE
let peak = 0
// v8.getHeapStatistics is cheap; process.memoryUsage() reads /proc and cost ~0.1 ms of the runner's CPU per sample
// CRUNCH_BENCH_HEAP_SNAPSHOT_MB=M: one heap snapshot (in the runner's cwd) when heap + external first passes M MiB
let snapshotAt = Number(process.env.CRUNCH_BENCH_HEAP_SNAPSHOT_MB || Infinity) * 2 ** 20
const sample = () => {
  const h = V8.getHeapStatistics()
  peak = Math.max(peak, h.used_heap_size + h.external_memory)
  if (peak > snapshotAt) { V8.writeHeapSnapshot(); snapshotAt = Infinity }
}
setInterval(sample, 250).unref()
// HTTP connections opened and requests sent through undici (the API, Keep and live-log clients)
let connections = 0
let requests = 0
Dc.subscribe('undici:client:connected', () => connections++)
Dc.subscribe('undici:request:create', () => requests++)
/** CPU ms of each thread of this process by its name (main thread: node), from /proc */
const threads = () => {
  const byName = {}
  try {
    const ticks = Number(process.env.CRUNCH_BENCH_CLK_TCK) || 100
    for (const tid of Fs.readdirSync('/proc/self/task')) {
      const stat = Fs.readFileSync('/proc/self/task/' + tid + '/stat', 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ms = ((Number(f[11]) + Number(f[12])) * 1000) / ticks
      const key = tid === String(process.pid) ? 'main' : name
      byName[key] = (byName[key] ?? 0) + ms
    }
  } catch {}
  return byName
}
if (out) process.on('exit', () => {
  sample()
  const c = process.cpuUsage()
  Fs.writeFileSync(out, JSON.stringify({ userUs: c.user, systemUs: c.system, maxRssKb: process.resourceUsage().maxRSS, peakHeapBytes: peak, connections, requests, threads: threads() }))
})
`,
)

interface Usage {
  /** the runner's node process: user + system, and system alone */
  readonly cpuMs: number
  readonly sysMs: number
  readonly maxRssMb: number
  readonly peakHeapMb: number
  /** HTTP connections opened and requests sent by the runner's undici clients */
  readonly connections: number
  readonly requests: number
  /** CPU ms by thread (`main`, and the others by name: V8 workers, libuv pool, workers), from /proc at exit */
  readonly threads: Readonly<Record<string, number>>
  /** /usr/bin/time -v: the runner and its children (esbuild) */
  readonly treeCpuMs: number | undefined
  readonly treeMaxRssMb: number | undefined
}

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly wallMs: number
  readonly usage: Usage
}

const clockTicks = ((): number => {
  try {
    return Number(ChildProcess.execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** CPU ms of this process's reaped children (cutime + cstime), Linux only. */
const childrenCpuMs = (): number | undefined => {
  try {
    const stat = Fs.readFileSync('/proc/self/stat', 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state): cutime is field 16, cstime field 17
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / clockTicks
  } catch {
    return undefined
  }
}

const ownCpuMs = (): number => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

const parseTime = (text: string): { cpuMs: number; maxRssMb: number } | undefined => {
  const num = (label: string): number | undefined => {
    const m = new RegExp(`${label}:\\s*([0-9.]+)`).exec(text)
    return m === null ? undefined : Number(m[1])
  }
  const user = num('User time \\(seconds\\)')
  const sys = num('System time \\(seconds\\)')
  const rss = num('Maximum resident set size \\(kbytes\\)')
  return user === undefined || sys === undefined || rss === undefined ? undefined : { cpuMs: (user + sys) * 1000, maxRssMb: rss / 1024 }
}

const runCli = (double: Double, n: number, tag: string): Promise<Ran> => {
  const dir = Path.join(work, `home-${tag}`)
  Fs.mkdirSync(dir, { recursive: true })
  Fs.writeFileSync(Path.join(dir, 'ca.pem'), double.ca)
  const usageFile = Path.join(work, `usage-${tag}.json`)
  const timeFile = Path.join(work, `time-${tag}.txt`)
  const env = {
    ...process.env,
    ARVADOS_API_HOST: double.apiHost,
    ARVADOS_API_TOKEN: double.token,
    ARVADOS_API_HOST_INSECURE: '',
    SSL_CERT_FILE: Path.join(dir, 'ca.pem'),
    HOME: dir,
    CRUNCH_POLL_MS: String(POLL_MS),
    CRUNCH_KEEP_REPLICAS: '1',
    CRUNCH_ROLE: '',
    CRUNCH_DISPATCHER: '',
    CRUNCH_BENCH_USAGE: usageFile,
    CRUNCH_BENCH_CLK_TCK: String(clockTicks),
    ...(HEAP_SNAPSHOT_MB === undefined ? {} : { CRUNCH_BENCH_HEAP_SNAPSHOT_MB: HEAP_SNAPSHOT_MB }),
  }
  const prof = CPU_PROF !== undefined && (tag === 'fresh' || tag === 'reused') ? ['--cpu-prof', '--cpu-prof-dir', Path.resolve(CPU_PROF), '--cpu-prof-name', `runner-${tag}.cpuprofile`] : []
  const nodeArgs = [...NODE_FLAGS, ...prof, '--import', preload, bin, 'run', script, '--n', String(n), '--dispatcher', 'crunch', '--progress', 'json']
  const [cmd, args] = hasTime ? [TIME, ['-v', '-o', timeFile, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs]
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = ChildProcess.spawn(cmd, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      const wallMs = performance.now() - t0
      try {
        const u = JSON.parse(Fs.readFileSync(usageFile, 'utf8')) as { userUs: number; systemUs: number; maxRssKb: number; peakHeapBytes: number; connections: number; requests: number; threads: Record<string, number> }
        const t = hasTime ? parseTime(Fs.readFileSync(timeFile, 'utf8')) : undefined
        resolve({
          code, stdout, stderr, wallMs,
          usage: {
            cpuMs: (u.userUs + u.systemUs) / 1000, sysMs: u.systemUs / 1000, maxRssMb: u.maxRssKb / 1024, peakHeapMb: u.peakHeapBytes / 2 ** 20, connections: u.connections, requests: u.requests, threads: u.threads,
            treeCpuMs: t?.cpuMs, treeMaxRssMb: t?.maxRssMb,
          },
        })
      } catch (e) {
        reject(new Error(`the runner left no usage report (exit ${String(code)}): ${e instanceof Error ? e.message : String(e)}\n${stderr.slice(-3000)}`))
      }
    })
  })
}

// -------------------------------------------------------------------------------------
// one measured run
// -------------------------------------------------------------------------------------

const labelOf = (r: RecordedRequest): string => {
  const body = r.body as Record<string, unknown> | undefined
  const override = r.headers['x-http-method-override']
  const asGet = r.method === 'POST' && (body?.['_method'] === 'GET' || r.query['_method'] === 'GET' || (typeof override === 'string' && override.toUpperCase() === 'GET'))
  // one group per route: uuids, portable data hashes and log file names become placeholders
  const path = r.path.replace(/[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{15}/g, '{uuid}').replace(/[0-9a-f]{32}\+\d+/g, '{pdh}').replace(/(\/log\/\{uuid\}\/).+$/, '$1{file}')
  return `${asGet ? 'GET(POST)' : r.method} ${path}`
}

const group = (rs: ReadonlyArray<RecordedRequest>, label: (r: RecordedRequest) => string): ReadonlyArray<readonly [string, number]> => {
  const m = new Map<string, number>()
  for (const r of rs) m.set(label(r), (m.get(label(r)) ?? 0) + 1)
  return [...m].sort((a, b) => b[1] - a[1])
}

const isCreate = (r: RecordedRequest): boolean => labelOf(r) === 'POST /arvados/v1/container_requests'
/** a poll: a container_requests list by uuid */
const isPoll = (r: RecordedRequest): boolean => {
  if (!labelOf(r).endsWith(' /arvados/v1/container_requests') || isCreate(r)) return false
  const filters = (r.query['filters'] ?? (r.body as Record<string, unknown> | undefined)?.['filters']) as string | undefined
  return typeof filters === 'string' && filters.startsWith('[["uuid","in",')
}

const timeline = (rs: ReadonlyArray<RecordedRequest>, t0: number): string => {
  const at = (r: RecordedRequest | undefined): string => (r === undefined ? '-' : `${((r.at - t0) / 1000).toFixed(1)} s`)
  const creates = rs.filter(isCreate)
  const polls = rs.filter(isPoll)
  return `first request ${at(rs[0])}, creates ${creates.length} from ${at(creates[0])} to ${at(creates[creates.length - 1])}, polls ${polls.length} (first ${at(polls[0])}, last ${at(polls[polls.length - 1])}), last request ${at(rs[rs.length - 1])}`
}

interface Measured {
  readonly name: string
  readonly n: number
  readonly calls: number
  readonly wallMs: number
  readonly api: number
  readonly keep: number
  readonly apiGroups: ReadonlyArray<readonly [string, number]>
  readonly keepGroups: ReadonlyArray<readonly [string, number]>
  readonly containersStarted: number
  /** when the runner's requests reached the double, seconds after the spawn */
  readonly timeline: string
  readonly usage: Usage
  /** CPU of the containers (reaped children of this process, minus the runner) */
  readonly containersCpuMs: number | undefined
  /** CPU of this process (the double) */
  readonly doubleCpuMs: number
  readonly summary: string
}

const measure = async (double: Double, name: string, n: number, tag: string): Promise<Measured> => {
  const api0 = double.requests.length
  const keep0 = double.keepRequests.length
  const started0 = double.counters.containersStarted
  const children0 = childrenCpuMs()
  const own0 = ownCpuMs()
  const spawnedAt = Date.now()
  const r = await runCli(double, n, tag)
  const doubleCpuMs = ownCpuMs() - own0
  const children1 = childrenCpuMs()
  const expected = (n * (n + 1)) / 2
  if (r.code !== 0 || r.stdout.trim() !== String(expected)) {
    throw new Error(`${name}: exit ${String(r.code)}, output ${JSON.stringify(r.stdout.trim())} (expected ${expected})\n${r.stderr.slice(-4000)}`)
  }
  const runnerTree = r.usage.treeCpuMs ?? r.usage.cpuMs
  const apiReqs = double.requests.slice(api0)
  const keepReqs = double.keepRequests.slice(keep0)
  return {
    name, n, calls: n + 1, wallMs: r.wallMs, api: apiReqs.length, keep: keepReqs.length,
    apiGroups: group(apiReqs, labelOf),
    keepGroups: group(keepReqs, (k) => k.method),
    containersStarted: double.counters.containersStarted - started0,
    timeline: timeline(apiReqs, spawnedAt),
    usage: r.usage,
    containersCpuMs: children0 === undefined || children1 === undefined ? undefined : Math.max(0, children1 - children0 - runnerTree),
    doubleCpuMs,
    summary: r.stderr.split('\n').find((l) => l.startsWith('{"type":"summary"')) ?? '(no summary)',
  }
}

// -------------------------------------------------------------------------------------
// baseline: the same container requests, straight to the API
// -------------------------------------------------------------------------------------

interface Baseline {
  readonly containers: number
  readonly fanoutMs: number
  readonly gatherMs: number
  readonly wallMs: number
  readonly containersCpuMs: number | undefined
  readonly doubleCpuMs: number
}

const post = (agent: Https.Agent, double: Double, path: string, body: unknown): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body))
    const [host, port] = double.apiHost.split(':') as [string, string]
    const req = Https.request(
      { host, port: Number(port), path, method: 'POST', agent, headers: { authorization: `Bearer ${double.token}`, 'content-type': 'application/json', 'content-length': data.length } },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on('data', (b: Buffer) => chunks.push(b))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString()
          if (res.statusCode !== 200) reject(new Error(`POST ${path}: ${String(res.statusCode)} ${text.slice(0, 500)}`))
          else resolve(JSON.parse(text) as Record<string, unknown>)
        })
      },
    )
    req.on('error', reject)
    req.end(data)
  })

const inPool = async <A, B>(xs: ReadonlyArray<A>, width: number, f: (a: A) => Promise<B>): Promise<Array<B>> => {
  const out: Array<B> = new Array(xs.length)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(width, xs.length) }, async () => {
      while (next < xs.length) {
        const i = next++
        out[i] = await f(xs[i]!)
      }
    }),
  )
  return out
}

const baseline = async (double: Double, createBodies: ReadonlyArray<Record<string, unknown>>): Promise<Baseline> => {
  const again = createBodies.map((b) => {
    const cr = b['container_request'] as Record<string, unknown>
    return { container_request: { ...cr, name: `baseline ${cr['name'] as string}`, use_existing: false, properties: { arvados_crunch_bench: 'baseline' } } }
  })
  const isGather = (b: (typeof again)[number]): boolean => (b.container_request.name as string).startsWith('baseline fanout.sum ')
  const fanout = again.filter((b) => !isGather(b))
  const gather = again.filter(isGather)
  const agent = new Https.Agent({ keepAlive: true, maxSockets: 8, ca: double.ca })
  const children0 = childrenCpuMs()
  const own0 = ownCpuMs()
  const t0 = performance.now()
  const created = await inPool(fanout, 8, (b) => post(agent, double, '/arvados/v1/container_requests', b))
  const done = await double.waitFinal(created.map((c) => c['uuid'] as string), 3_600_000)
  const t1 = performance.now()
  const createdGather = await inPool(gather, 8, (b) => post(agent, double, '/arvados/v1/container_requests', b))
  const doneGather = await double.waitFinal(createdGather.map((c) => c['uuid'] as string), 600_000)
  const t2 = performance.now()
  agent.destroy()
  const all = [...done, ...doneGather]
  const bad = all.filter((cr) => cr['state'] !== 'Final' || double.cluster.containers.get(cr['container_uuid'] as string)?.['exit_code'] !== 0)
  if (all.length !== again.length || bad.length > 0) throw new Error(`baseline: ${bad.length} of ${again.length} requests did not end Final with exit 0`)
  const children1 = childrenCpuMs()
  return {
    containers: again.length, fanoutMs: t1 - t0, gatherMs: t2 - t1, wallMs: t2 - t0,
    containersCpuMs: children0 === undefined || children1 === undefined ? undefined : children1 - children0,
    doubleCpuMs: ownCpuMs() - own0,
  }
}

// -------------------------------------------------------------------------------------
// report
// -------------------------------------------------------------------------------------

const f1 = (x: number): string => x.toFixed(1)
const f2 = (x: number): string => x.toFixed(2)
const s1 = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
const opt = (x: number | undefined, f: (x: number) => string): string => (x === undefined ? 'n/a' : f(x))

const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`
  return [line(head), `|${w.map((x, i) => (i === 0 ? '-'.repeat(x + 2) : '-'.repeat(x + 1) + ':')).join('|')}|`, ...rows.map(line)].join('\n')
}

const threadLine = (u: Usage): string =>
  Object.entries(u.threads)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${s1(v)}`)
    .join(', ')

const main = async (): Promise<void> => {
  const t0 = Date.now()
  console.log(`crunch dispatcher bench: fan-out of ${N} + gather (${N + 1} calls) on the Arvados double${TRICKLE ? ' running two containers at a time (--trickle)' : ''}${INSTANT ? ' ending containers at once without running them (--instant)' : ''}; CRUNCH_POLL_MS=${POLL_MS}; node ${process.version}; ${Os.cpus().length} cpus, ${Math.round(Os.totalmem() / 2 ** 30)} GiB`)
  console.log(sourceState)
  console.log(`runner measured by an --import preload${hasTime ? ' and /usr/bin/time -v' : ' (/usr/bin/time not found: no figure for its children)'}`)

  // 1. warm-up and fixed cost
  const warm = await startDouble(doubleOptions())
  try {
    await measure(warm, 'warm-up', SMALL, 'warm')
  } finally {
    await warm.stop()
  }
  const smallDouble = await startDouble(doubleOptions())
  let small: Measured
  try {
    small = await measure(smallDouble, `small (N=${SMALL})`, SMALL, 'small')
  } finally {
    await smallDouble.stop()
  }
  console.log(`small run (N=${SMALL}): runner CPU ${f1(small.usage.cpuMs)} ms${small.usage.treeCpuMs === undefined ? '' : ` (with children ${f1(small.usage.treeCpuMs)} ms)`}, wall ${s1(small.wallMs)}; by thread: ${threadLine(small.usage)}`)

  // 2-4. fresh, reused, baseline on one double
  const double = await startDouble(doubleOptions(TRICKLE ? { maxRunning: 2 } : {}))
  let fresh: Measured
  let reused: Measured
  let base: Baseline | undefined
  try {
    const before = double.requests.length
    fresh = await measure(double, 'fresh', N, 'fresh')
    console.log(`fresh run done in ${s1(fresh.wallMs)}`)
    const creates = double.requests
      .slice(before)
      .filter((r) => labelOf(r) === 'POST /arvados/v1/container_requests' && r.outcome === 200)
      .map((r) => r.body as Record<string, unknown>)
    reused = await measure(double, 'reused', N, 'reused')
    console.log(`reused run done in ${s1(reused.wallMs)}`)
    if (reused.containersStarted !== 0) console.log(`WARNING: the reused run started ${reused.containersStarted} containers (expected 0: every call should re-attach to its Final request)`)
    if (BASELINE) {
      if (creates.length !== N + 1) throw new Error(`expected ${N + 1} container request creates in the fresh run, saw ${creates.length}`)
      base = await baseline(double, creates)
      console.log(`baseline done in ${s1(base.wallMs)}`)
    }
  } finally {
    await double.stop()
  }

  const runs = [fresh, reused]
  const marginal = (m: Measured): number => (m.usage.cpuMs - small.usage.cpuMs) / (m.n - SMALL)
  console.log('')
  console.log(
    table(
      ['figure', ...runs.map((m) => `${m.name} run`)],
      [
        ['calls', ...runs.map((m) => String(m.calls))],
        ['containers started', ...runs.map((m) => String(m.containersStarted))],
        ['wall', ...runs.map((m) => s1(m.wallMs))],
        ['containers / s', ...runs.map((m) => (m.containersStarted === 0 ? '-' : f2(m.containersStarted / (m.wallMs / 1000))))],
        ['API requests', ...runs.map((m) => String(m.api))],
        ['API requests / call', ...runs.map((m) => f2(m.api / m.calls))],
        ['Keep requests', ...runs.map((m) => String(m.keep))],
        ['Keep requests / call', ...runs.map((m) => f2(m.keep / m.calls))],
        ['runner CPU (node process)', ...runs.map((m) => s1(m.usage.cpuMs))],
        ['runner CPU ms / call', ...runs.map((m) => f2(m.usage.cpuMs / m.calls))],
        ['  of which system (kernel) ms / call', ...runs.map((m) => f2(m.usage.sysMs / m.calls))],
        [`runner CPU ms / call, marginal (minus N=${SMALL})`, ...runs.map((m) => f2(marginal(m)))],
        ['runner CPU incl. children (time -v)', ...runs.map((m) => opt(m.usage.treeCpuMs, s1))],
        ['runner HTTP requests sent (undici)', ...runs.map((m) => String(m.usage.requests))],
        ['runner HTTP connections opened', ...runs.map((m) => String(m.usage.connections))],
        ['runner peak RSS', ...runs.map((m) => `${f1(m.usage.maxRssMb)} MiB`)],
        ['runner peak heap+external (sampled)', ...runs.map((m) => `${f1(m.usage.peakHeapMb)} MiB`)],
        ['containers CPU ms / container', ...runs.map((m) => (m.containersStarted === 0 ? '-' : opt(m.containersCpuMs, (x) => f1(x / m.containersStarted))))],
        ['double CPU ms / call', ...runs.map((m) => f2(m.doubleCpuMs / m.calls))],
      ],
    ),
  )
  for (const m of runs) {
    console.log(`\n${m.name} run, API requests by method + path (per call):`)
    for (const [k, v] of m.apiGroups) console.log(`  ${String(v).padStart(6)}  ${f2(v / m.calls).padStart(6)}  ${k}`)
    console.log(`  Keep: ${m.keepGroups.map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`)
    console.log(`  runner CPU by thread: ${threadLine(m.usage)}`)
    console.log(`  arrivals at the double: ${m.timeline}`)
    console.log(`  ${m.summary}`)
  }
  if (base !== undefined) {
    console.log(`\nbaseline: the fresh run's ${base.containers} container requests posted straight to the API (no runner, no polling):`)
    console.log(`  fan-out ${s1(base.fanoutMs)} + gather ${s1(base.gatherMs)} = ${s1(base.wallMs)}; ${f2(base.containers / (base.wallMs / 1000))} containers/s; containers CPU ${opt(base.containersCpuMs, (x) => f1(x / base!.containers))} ms/container; double CPU ${f2(base.doubleCpuMs / base.containers)} ms/container`)
    console.log(`  fresh run wall / baseline wall = ${f2(fresh.wallMs / base.wallMs)} (difference ${s1(fresh.wallMs - base.wallMs)}: the runner's start-up, bundling, upload, polling latency, final output, and the noise of a shared machine)`)
  }
  console.log(`\ntotal bench time ${s1(Date.now() - t0)}`)
}

try {
  await main()
} finally {
  if (KEEP_WORK) console.log(`kept ${work}`)
  else Fs.rmSync(work, { recursive: true, force: true })
}
