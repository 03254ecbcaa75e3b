/**
 * W3 of the peer benchmarks, side by side (`npm run bench:collections -- --w3 [--rounds k]
 * [--against <checkout>]`): 200 calls, each returning `ctx.output.fromFiles({ 'part-<i>.bin':
 * 1 MiB })`, and the run returning the list declared as one `CollectionCodec` (concatenated
 * without copying: one 200 MiB output), through the local dispatcher into a fresh cache
 * directory (spec/bench/collections-w3-child.ts); against
 *  - the floor "write the bytes plus hash them": the same 200 buffers, each md5-hashed and written
 *    to its own file (one thread), in this process;
 *  - Dask threads (Debian `python3-dask`, if `/usr/bin/python3` has it) writing 200 plain files
 *    and concatenating them (spec/bench/dask-w3.py);
 *  - with `--against <checkout>`, the same W3 with the SDK of another checkout (e.g. a worktree
 *    of the commit before a change: `git worktree add --detach ../before <commit>` and a
 *    `node_modules` there), for before/after figures from one run.
 * Rounds are interleaved (the machine is shared): each round runs one process per SDK (a first
 * run, then two more), the floor once and one Dask process (a first run, then two more). Wall
 * and CPU (all threads; for the SDK also its main thread and the others) per run; medians of the
 * later runs, and ratios.
 */
import * as ChildProcess from 'node:child_process'
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'

const MiB = 1 << 20
const N = 200
const here = Path.dirname(Url.fileURLToPath(import.meta.url))
const repo = Path.resolve(here, '..', '..')

interface Sample {
  readonly wall: number
  readonly cpu: number
  readonly main?: number
  readonly others?: number
}

const measure = async (f: () => Promise<void>): Promise<Sample> => {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await f()
  const c = process.cpuUsage(c0)
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 }
}

/** one process running W3 three times with the SDK of checkout `root` */
const sdk = (root: string): ReadonlyArray<Sample> => {
  const r = ChildProcess.spawnSync(process.execPath, ['--import', 'tsx', Path.join(here, 'collections-w3-child.ts'), root, '3', String(N)], { encoding: 'utf8', cwd: root, timeout: 600_000 })
  if (r.status !== 0) throw new Error(`collections-w3-child.ts (${root}) failed: ${r.stderr}`)
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { wall_s: number; cpu_s: number; main_cpu_s: number; other_cpu_s: number })
    .map((x) => ({ wall: x.wall_s, cpu: x.cpu_s, main: x.main_cpu_s, others: x.other_cpu_s }))
}

const floor = (): Promise<Sample> => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-bench-w3-floor-'))
  return measure(async () => {
    for (let i = 0; i < N; i++) {
      const bytes = Buffer.alloc(MiB, i % 256)
      Crypto.createHash('md5').update(bytes).digest('hex')
      Fs.writeFileSync(Path.join(dir, `part-${i}.bin`), bytes)
    }
  }).finally(() => Fs.rmSync(dir, { recursive: true, force: true }))
}

const python = '/usr/bin/python3'
const hasDask = ChildProcess.spawnSync(python, ['-c', 'import dask'], { stdio: 'ignore' }).status === 0

const dask = (): ReadonlyArray<Sample> => {
  const r = ChildProcess.spawnSync(python, [Path.join(here, 'dask-w3.py'), String(N), '3'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`dask-w3.py failed: ${r.stderr}`)
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { wall_s: number; cpu_s: number })
    .map((x) => ({ wall: x.wall_s, cpu: x.cpu_s }))
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** Runs the rounds and prints the figures; `against` is another checkout to run beside this one. */
export const main = async (rounds: number, against?: string): Promise<void> => {
  const samples = { before: [] as Array<Sample>, beforeFirst: [] as Array<Sample>, ours: [] as Array<Sample>, oursFirst: [] as Array<Sample>, floor: [] as Array<Sample>, dask: [] as Array<Sample>, daskCold: [] as Array<Sample> }
  const load0 = Os.loadavg()
  const line = (round: number, name: string, xs: ReadonlyArray<Sample>): void => {
    process.stdout.write(`round ${round} ${name.padEnd(16)} ${xs.map((x) => `${x.wall.toFixed(3)}/${x.cpu.toFixed(3)}${x.main === undefined ? '' : ` (main ${x.main.toFixed(3)})`}`).join('  ')}  [wall/CPU s; load ${Os.loadavg()[0]!.toFixed(1)}]\n`)
  }
  for (let r = 1; r <= rounds; r++) {
    if (against !== undefined) {
      const [first, ...later] = sdk(against)
      samples.beforeFirst.push(first!)
      samples.before.push(...later)
      line(r, 'against', [first!, ...later])
    }
    const [first, ...later] = sdk(repo)
    samples.oursFirst.push(first!)
    samples.ours.push(...later)
    line(r, 'arvados-crunch', [first!, ...later])
    const f = await floor()
    samples.floor.push(f)
    line(r, 'floor', [f])
    if (hasDask) {
      const [cold, ...warm] = dask()
      samples.daskCold.push(cold!)
      samples.dask.push(...warm)
      line(r, 'dask threads', [cold!, ...warm])
    }
  }
  const med = (xs: ReadonlyArray<number | undefined>): string => (xs.length === 0 || xs.some((x) => x === undefined) ? '-' : median(xs as ReadonlyArray<number>).toFixed(3))
  const show = (name: string, xs: ReadonlyArray<Sample>): string =>
    xs.length === 0
      ? `${name}: not run`
      : `${name}: wall median ${med(xs.map((x) => x.wall))} s (min ${Math.min(...xs.map((x) => x.wall)).toFixed(3)}), CPU median ${med(xs.map((x) => x.cpu))} s${xs[0]!.main === undefined ? '' : ` (main thread ${med(xs.map((x) => x.main))}, other threads ${med(xs.map((x) => x.others))})`}, ${xs.length} run(s)`
  const lines = [
    `node ${process.version}, ${Os.cpus().length} CPU(s), load average at start ${load0.map((l) => l.toFixed(1)).join(' ')}, at end ${Os.loadavg().map((l) => l.toFixed(1)).join(' ')}; W3 N=${N} x 1 MiB, ${rounds} interleaved round(s)`,
    ...(against === undefined ? [] : [show(`against ${against}, later runs of its process`, samples.before), show(`against ${against}, first run of its process`, samples.beforeFirst)]),
    show('arvados-crunch, later runs of its process', samples.ours),
    show('arvados-crunch, first run of its process', samples.oursFirst),
    show('floor: md5 + write each buffer to its own file, 1 thread', samples.floor),
    hasDask ? show('dask threads, warm (later runs of its process)', samples.dask) : 'dask: /usr/bin/python3 has no dask (apt-get install python3-dask)',
    hasDask ? show('dask threads, cold (first run of its process)', samples.daskCold) : '',
  ]
  const ratio = (a: ReadonlyArray<Sample>, b: ReadonlyArray<Sample>, k: 'wall' | 'cpu'): string => (median(a.map((x) => x[k])) / median(b.map((x) => x[k]))).toFixed(2)
  if (hasDask) lines.push(`ratios to dask threads warm (medians, wall / CPU): arvados-crunch ${ratio(samples.ours, samples.dask, 'wall')} / ${ratio(samples.ours, samples.dask, 'cpu')}${against === undefined ? '' : `; against ${ratio(samples.before, samples.dask, 'wall')} / ${ratio(samples.before, samples.dask, 'cpu')}`}`)
  if (against !== undefined) lines.push(`arvados-crunch / against (medians, wall / CPU): ${ratio(samples.ours, samples.before, 'wall')} / ${ratio(samples.ours, samples.before, 'cpu')}`)
  process.stdout.write(`${lines.filter((l) => l !== '').join('\n')}\n`)
}
