/**
 * The fault soak, shared by `npm run bench:soak` (spec/bench/soak.ts, 1,000 calls, 5 kills)
 * and its short version in the specs (spec/arvados/soak.spec.ts): the real `crunch` command
 * runs spec/fixtures/crunch/fanout.ts (`n` independent `inc` calls and one `sum`: n + 1 calls)
 * with the crunch dispatcher against the Arvados double while the double injects faults on a
 * share of API and Keep requests (5xx answers, connection resets before and after a write was
 * applied), and the runner process is SIGKILLed at random moments (after a random number of
 * call requests was created) and started again, until a run finishes.
 *
 * What must hold: the last run prints n(n + 1)/2; there is exactly one container request per
 * call id (no call submitted twice, whatever the kills and faults); every call has one; the
 * last run's summary counts every call done and none failed (no result lost).
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { bin as cliBin, root } from './cli.js'
import { startDouble, type Double } from './double/index.js'

export interface SoakOptions {
  /** `inc` calls; the pipeline has n + 1 calls. */
  readonly n: number
  /** SIGKILLs of the runner, at random moments. */
  readonly kills: number
  /** Share of API and of Keep requests that get a fault (split: 60% 5xx, 20% reset, 20% reset after the write was applied). */
  readonly faultRate: number
  readonly seed: number
  readonly pollMs?: number
  /** Called with a progress line now and then. */
  readonly onLine?: (line: string) => void
}

export interface SoakRun {
  readonly ended: 'killed' | 'exited'
  readonly code: number | null
  readonly wallMs: number
  /** call requests on the double when the run started / ended */
  readonly requestsAtStart: number
  readonly requestsAtEnd: number
}

export interface SoakResult {
  readonly calls: number
  readonly expected: number
  readonly output: unknown
  readonly runs: ReadonlyArray<SoakRun>
  readonly killAt: ReadonlyArray<number>
  /** container requests per call id: every value must be 1 */
  readonly perCall: ReadonlyMap<string, number>
  readonly duplicates: number
  readonly summary: { readonly started: number; readonly done: number; readonly reused: number; readonly failed: number } | undefined
  readonly apiRequests: number
  readonly keepRequests: number
  readonly apiFaults: number
  readonly keepFaults: number
  readonly containersStarted: number
  readonly wallMs: number
  readonly stderrTail: string
}

type Rec = Record<string, unknown>

/** A seeded PRNG (mulberry32), so a soak's kill moments can be repeated. */
const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const FIXTURE = Path.join('spec', 'fixtures', 'crunch', 'fanout.ts')

/** The CLI, lib/ and the fixture copied once, so an edit of lib/ during a soak changes no bundle (spec/bench/crunch.ts does the same). */
const snapshot = (work: string): { readonly bin: string; readonly script: string } => {
  const src = Path.join(work, 'src')
  Fs.cpSync(Path.join(root, 'lib'), Path.join(src, 'lib'), { recursive: true })
  for (const f of ['package.json', 'tsconfig.json', FIXTURE]) Fs.cpSync(Path.join(root, f), Path.join(src, f))
  Fs.symlinkSync(Path.join(root, 'node_modules'), Path.join(src, 'node_modules'), 'dir')
  return { bin: Path.join(src, Path.relative(root, cliBin)), script: Path.join(src, FIXTURE) }
}

const callRequests = (d: Double): ReadonlyArray<Rec> => [...d.cluster.crs.values()].filter((r) => typeof (r['properties'] as Rec)['arvados_crunch_call_id'] === 'string')

/**
 * Runs the soak. Resolves with what was seen; the caller asserts (a spec) or prints (the bench).
 *
 * @since 0.1.0
 */
export const soak = async (options: SoakOptions): Promise<SoakResult> => {
  const random = prng(options.seed)
  const calls = options.n + 1
  const say = options.onLine ?? ((): void => undefined)
  const f = options.faultRate
  const double = await startDouble({
    seed: options.seed,
    faults: { errorRate: 0.6 * f, resetRate: 0.2 * f, resetAfterCommitRate: 0.2 * f, keepErrorRate: 0.6 * f, keepResetRate: 0.4 * f },
  })
  const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-soak-'))
  const t0 = performance.now()
  try {
    const { bin, script } = snapshot(work)
    Fs.writeFileSync(Path.join(work, 'ca.pem'), double.ca)
    const env = {
      ...process.env,
      ARVADOS_API_HOST: double.apiHost,
      ARVADOS_API_TOKEN: double.token,
      ARVADOS_API_HOST_INSECURE: '',
      SSL_CERT_FILE: Path.join(work, 'ca.pem'),
      HOME: work,
      CRUNCH_POLL_MS: String(options.pollMs ?? 1000),
      CRUNCH_KEEP_REPLICAS: '1',
      CRUNCH_ROLE: '',
      CRUNCH_DISPATCHER: '',
    }
    // kill moments: after k call requests exist, k drawn at random in [1, calls - 1], distinct, ascending
    const killAt = [...new Set(Array.from({ length: options.kills * 4 }, () => 1 + Math.floor(random() * (calls - 1))))].slice(0, options.kills).sort((a, b) => a - b)
    const runs: Array<SoakRun> = []
    let last = { code: null as number | null, stdout: '', stderr: '' }
    for (let i = 0; ; i++) {
      const threshold = killAt[i]
      const requestsAtStart = callRequests(double).length
      const started = performance.now()
      const child = ChildProcess.spawn(process.execPath, [bin, 'run', script, '--n', String(options.n), '--dispatcher', 'crunch', '--progress', 'json'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
      child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20_000)))
      let killed = false
      const watcher =
        threshold === undefined
          ? undefined
          : setInterval(() => {
              if (!killed && callRequests(double).length >= threshold) {
                killed = true
                child.kill('SIGKILL')
              }
            }, 20)
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
      if (watcher !== undefined) clearInterval(watcher)
      const run: SoakRun = { ended: killed ? 'killed' : 'exited', code, wallMs: performance.now() - started, requestsAtStart, requestsAtEnd: callRequests(double).length }
      runs.push(run)
      say(`run ${i + 1}: ${run.ended}${killed ? ` at ${threshold} requests` : ` with code ${String(code)}`} after ${(run.wallMs / 1000).toFixed(1)} s; ${run.requestsAtEnd} of ${calls} call requests exist`)
      last = { code, stdout, stderr }
      if (!killed) break
      if (i > options.kills + 3) break
    }
    const perCall = new Map<string, number>()
    for (const r of callRequests(double)) {
      const id = (r['properties'] as Rec)['arvados_crunch_call_id'] as string
      perCall.set(id, (perCall.get(id) ?? 0) + 1)
    }
    let output: unknown
    try {
      output = JSON.parse(last.stdout)
    } catch {
      output = undefined
    }
    const line = last.stderr.split('\n').find((l) => l.startsWith('{"type":"summary"'))
    const faulted = (o: unknown): boolean => o === 'reset' || o === 'applied-then-reset' || (typeof o === 'number' && o >= 500)
    return {
      calls,
      expected: (options.n * (options.n + 1)) / 2,
      output,
      runs,
      killAt,
      perCall,
      duplicates: [...perCall.values()].reduce((n, c) => n + c - 1, 0),
      summary: line === undefined ? undefined : (JSON.parse(line) as SoakResult['summary']),
      apiRequests: double.requests.length,
      keepRequests: double.keepRequests.length,
      apiFaults: double.requests.filter((r) => faulted(r.outcome)).length,
      keepFaults: double.keepRequests.filter((r) => faulted(r.outcome)).length,
      containersStarted: double.counters.containersStarted,
      wallMs: performance.now() - t0,
      stderrTail: last.stderr.slice(-4000),
    }
  } finally {
    await double.stop()
    Fs.rmSync(work, { recursive: true, force: true })
  }
}
