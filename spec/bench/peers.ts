/**
 * This SDK beside Dask on the peer workloads (`npm run bench:peers`, i.e.
 * `node --import tsx spec/bench/peers.ts`; not part of `npm test`).
 *
 * Workloads, from /work/shared/bench-peers (README.md there; the Python side is a copy of its
 * `dask_bench.py` and `workfns.py`, in spec/bench/peers/):
 * - W1: fan-out of N calls `inc(i) = i + 1`, then one gather `sum` (N = 1,000 and 10,000;
 *   100,000 with `--big`);
 * - W2: a chain of 1,000 dependent `inc` calls;
 * - W3: 200 calls each writing its own 1 MiB file, then one reduce that concatenates them. Here
 *   each call returns `ctx.output.fromFiles({ 'part.bin': 1 MiB })` and the run returns the list
 *   declared as one `CollectionCodec`, which concatenates the 200 collections;
 * - W4: 200 calls each running `sha256sum` on a 4 KiB file (`/tmp/peerbench-small.bin`, the
 *   same bytes `workfns.py` writes), then a `count` gather. Here each call runs
 *   `ctx.exec('sha256sum', [file])`.
 *
 * Each measurement is a fresh process, for both sides: a child `node` running one workload on
 * `Local.make()` (default concurrency = CPU count, a fresh `cacheDir` per run so nothing is
 * reused), and `/usr/bin/python3 dask_bench.py sync|threads WORKLOAD N 2`. Each prints its cold
 * run (the first in its process) and its best warm run (2 more runs in the same process). The
 * rounds interleave the systems (SDK, Dask sync, Dask threads, per workload), so they share the
 * machine's state; figures are per task (µs) and for the whole workflow (s), with the ratio
 * SDK / best Dask (below 1 = the SDK is faster).
 *
 * W4 is also measured with `Exec.forCall` over each launcher (`Launcher.make()`, the Perl
 * helper; `Launcher.direct()`, `child_process.spawn`), and with a hand-written `spawn` per call
 * (what samples did before `ctx.exec`), to show what the helper buys and what `ctx.exec` adds.
 *
 * Dask runs only when Debian's `python3-dask` is installed (`apt-get install -y python3-dask`).
 *
 * Options: `--rounds K` (default 2), `--big` (W1 N = 100,000 too), `--only w4` (one workload).
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { CollectionCodec } from '../../lib/collections/codec.js'
import * as Local from '../../lib/dispatchers/local.js'
import * as Exec from '../../lib/exec.js'
import * as Launcher from '../../lib/exec/launcher.js'
import type * as Future from '../../lib/future.js'
import { defineModule, work, type WorkContext } from '../../lib/module.js'

const here = Path.dirname(Url.fileURLToPath(import.meta.url))
const SMALL_FILE = '/tmp/peerbench-small.bin'
const MIB = 1 << 20

// -------------------------------------------------------------------------------------
// the SDK's workloads
// -------------------------------------------------------------------------------------

const inc = work({ args: [t.number], returns: t.number }, (x) => x + 1)
const sum = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))
const count = work({ args: [t.array(t.string)], returns: t.number }, (xs) => xs.length)

/** one buffer per byte value, made once: W3 measures the framework, not allocation */
const parts = new Map<number, Buffer>()
const writeMib = work({ args: [t.number], returns: CollectionCodec }, (i, ctx) => {
  let b = parts.get(i % 256)
  if (b === undefined) parts.set(i % 256, (b = Buffer.alloc(MIB, i % 256)))
  return ctx.output.fromFiles({ [`part-${String(i).padStart(5, '0')}.bin`]: b })
})

/** `exec`: `ctx.exec` as the dispatcher provides it; `helper`/`direct`: `Exec.forCall` with that launcher; `spawn`: hand-written */
type Launch = 'exec' | 'helper' | 'direct' | 'spawn'
let launch: Launch = 'exec'
let launcher: Launcher.Launcher | undefined

const execOf = (ctx: WorkContext): Exec.ExecFn =>
  launch === 'exec' ? ctx.exec : Exec.forCall({ work: ctx.work, signal: ctx.signal, launcher: (launcher ??= launch === 'direct' ? Launcher.direct() : Launcher.make()) })

/** what samples/checksums.ts did before ctx.exec */
const handSpawn = (command: string, args: ReadonlyArray<string>, signal: AbortSignal): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], signal })
    let out = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}`))))
  })

const sha256Small = work({ args: [t.number], returns: t.string }, async (_i, ctx) => {
  const out = launch === 'spawn' ? await handSpawn('sha256sum', [SMALL_FILE], ctx.signal) : (await execOf(ctx)('sha256sum', [SMALL_FILE])).stdout
  return out.split(' ')[0]!
})

const W1 = defineModule({
  name: 'peers-w1',
  params: t.type({ n: t.number }),
  work: { inc, sum },
  returns: t.number,
  run: ({ n }, { work: w }) => w.sum(Array.from({ length: n }, (_, i) => w.inc(i))),
})

const W2 = defineModule({
  name: 'peers-w2',
  params: t.type({ n: t.number }),
  work: { inc },
  returns: t.number,
  run: ({ n }, { work: w }) => {
    let x: Future.Future<number> = w.inc(0)
    for (let i = 1; i < n; i++) x = w.inc(x)
    return x
  },
})

const W3 = defineModule({
  name: 'peers-w3',
  params: t.type({ n: t.number }),
  work: { writeMib },
  returns: CollectionCodec,
  run: ({ n }, { work: w }) => Array.from({ length: n }, (_, i) => w.writeMib(i)),
})

const W4 = defineModule({
  name: 'peers-w4',
  params: t.type({ n: t.number }),
  work: { sha256Small, count },
  returns: t.number,
  run: ({ n }, { work: w }) => w.count(Array.from({ length: n }, (_, i) => w.sha256Small(i))),
})

const ensureSmallFile = (): void => {
  if (Fs.existsSync(SMALL_FILE)) return
  const b = Buffer.alloc(4096)
  for (let i = 0; i < 4096; i++) b[i] = i % 256
  Fs.writeFileSync(SMALL_FILE, b)
}

/** child mode: one workload, cold then `warm` more runs; prints `RESULT {json}` like dask_bench.py */
const child = async (workload: string, n: number, warm: number, how: Launch): Promise<void> => {
  launch = how
  ensureSmallFile()
  const module = workload === 'w1' ? W1 : workload === 'w2' ? W2 : workload === 'w3' ? W3 : W4
  const check = (r: unknown): boolean =>
    workload === 'w1' ? r === (n * (n + 1)) / 2 : workload === 'w2' ? r === n : workload === 'w4' ? r === n : typeof r === 'object' && r !== null
  const once = async (): Promise<{ wall: number; ok: boolean }> => {
    const cacheDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'peerbench-sdk-'))
    try {
      const t0 = performance.now()
      const r = await Local.make({ cacheDir }).run(module, { n })()
      const wall = (performance.now() - t0) / 1000
      if (E.isLeft(r)) throw new Error(r.left.message)
      return { wall, ok: check(r.right.value) }
    } finally {
      Fs.rmSync(cacheDir, { recursive: true, force: true })
    }
  }
  const cold = await once()
  let ok = cold.ok
  const warms: Array<number> = []
  for (let i = 0; i < warm; i++) {
    const w = await once()
    ok &&= w.ok
    warms.push(w.wall)
  }
  await launcher?.close()
  const best = Math.min(...warms)
  console.log(`RESULT ${JSON.stringify({ system: 'arvados-crunch', workload, n, wall_s: cold.wall, warm_wall_s: best, ok, launcher: how })}`)
}

// -------------------------------------------------------------------------------------
// the driver
// -------------------------------------------------------------------------------------

interface Result {
  readonly wall_s: number
  readonly warm_wall_s: number | null
  readonly ok: boolean
}

const PYTHON = '/usr/bin/python3'

const runChild = (cmd: string, args: ReadonlyArray<string>): Result | string => {
  const r = ChildProcess.spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, cwd: Path.resolve(here, '..', '..') })
  const line = r.stdout?.split('\n').find((l) => l.startsWith('RESULT '))
  if (line === undefined) return `failed (${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}`
  return JSON.parse(line.slice(7)) as Result
}

const hasDask = (): boolean => ChildProcess.spawnSync(PYTHON, ['-c', 'import dask'], { stdio: 'ignore' }).status === 0

const main = async (): Promise<void> => {
  const argv = process.argv.slice(2)
  if (argv[0] === '--child') return child(argv[1]!, Number(argv[2]), Number(argv[3]), (argv[4] ?? 'exec') as Launch)
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(name)
    return i === -1 ? undefined : argv[i + 1]
  }
  const rounds = Number(flag('--rounds') ?? 2)
  const only = flag('--only')
  const dask = hasDask()
  ensureSmallFile()
  const workloads: ReadonlyArray<{ readonly label: string; readonly w: string; readonly n: number }> = [
    { label: 'W1 N=1k', w: 'w1', n: 1000 },
    { label: 'W1 N=10k', w: 'w1', n: 10000 },
    ...(argv.includes('--big') ? [{ label: 'W1 N=100k', w: 'w1', n: 100000 }] : []),
    { label: 'W2 chain 1k', w: 'w2', n: 1000 },
    { label: 'W3 200 x 1 MiB', w: 'w3', n: 200 },
    { label: 'W4 200 x sha256sum', w: 'w4', n: 200 },
  ].filter((x) => only === undefined || x.w === only)
  const systems: ReadonlyArray<{ readonly name: string; readonly applies: (w: string) => boolean; readonly run: (w: string, n: number) => Result | string }> = [
    { name: 'arvados-crunch', applies: () => true, run: (w, n) => runChild(process.execPath, ['--import', 'tsx', Url.fileURLToPath(import.meta.url), '--child', w, String(n), '2', 'exec']) },
    { name: 'sdk, Exec + helper', applies: (w) => w === 'w4', run: (w, n) => runChild(process.execPath, ['--import', 'tsx', Url.fileURLToPath(import.meta.url), '--child', w, String(n), '2', 'helper']) },
    { name: 'sdk, Exec + spawn', applies: (w) => w === 'w4', run: (w, n) => runChild(process.execPath, ['--import', 'tsx', Url.fileURLToPath(import.meta.url), '--child', w, String(n), '2', 'direct']) },
    { name: 'sdk, hand-written spawn', applies: (w) => w === 'w4', run: (w, n) => runChild(process.execPath, ['--import', 'tsx', Url.fileURLToPath(import.meta.url), '--child', w, String(n), '2', 'spawn']) },
    ...(dask
      ? (['sync', 'threads'] as const).map((s) => ({ name: `dask ${s}`, applies: () => true, run: (w: string, n: number) => runChild(PYTHON, [Path.join(here, 'peers', 'dask_bench.py'), s, w, String(n), '2']) }))
      : []),
  ]
  console.log(`bench:peers  node ${process.version}, ${Os.cpus().length} cpus, load ${Os.loadavg().map((l) => l.toFixed(1)).join(' ')}${dask ? '' : '  (python3-dask not installed: SDK only)'}`)
  const results = new Map<string, Array<Result>>()
  for (let round = 1; round <= rounds; round++) {
    for (const { label, w, n } of workloads) {
      for (const s of systems) {
        if (!s.applies(w)) continue
        const r = s.run(w, n)
        if (typeof r === 'string' || !r.ok) {
          console.log(`round ${round} ${label} ${s.name}: ${typeof r === 'string' ? r : 'wrong result'}`)
          continue
        }
        const key = `${label}\0${s.name}`
        results.set(key, [...(results.get(key) ?? []), r])
        console.log(`round ${round} ${label.padEnd(20)} ${s.name.padEnd(24)} cold ${r.wall_s.toFixed(3)} s  warm ${r.warm_wall_s?.toFixed(3) ?? '-'} s`)
      }
    }
  }
  // summary: best over the rounds, per task
  console.log('\nbest of the rounds: warm whole run s (per task µs) / cold s; ratio = SDK warm / best Dask warm')
  for (const { label, n, w } of workloads) {
    const cells: Array<string> = []
    const bestOf = (name: string): { warm: number; cold: number } | undefined => {
      const rs = results.get(`${label}\0${name}`)
      if (rs === undefined) return undefined
      return { warm: Math.min(...rs.map((r) => r.warm_wall_s ?? r.wall_s)), cold: Math.min(...rs.map((r) => r.wall_s)) }
    }
    for (const s of systems) {
      if (!s.applies(w)) continue
      const b = bestOf(s.name)
      cells.push(`${s.name}: ${b === undefined ? 'n/a' : `${b.warm.toFixed(3)} s (${((b.warm / n) * 1e6).toFixed(1)} µs) / ${b.cold.toFixed(3)} s`}`)
    }
    const sdk = bestOf('arvados-crunch')
    const daskBest = Math.min(...['dask sync', 'dask threads'].map((d) => bestOf(d)?.warm ?? Infinity))
    const ratio = sdk !== undefined && Number.isFinite(daskBest) ? `  ratio ${(sdk.warm / daskBest).toFixed(2)}` : ''
    console.log(`${label}: ${cells.join(' | ')}${ratio}`)
  }
}

await main()
