/**
 * W3 of the peer benchmarks, side by side (`npm run bench:collections -- --w3 [--rounds k]`):
 * 200 calls, each returning `ctx.output.fromFiles({ 'all.bin': 1 MiB })`, and the run returning
 * the list declared as one `CollectionCodec` (concatenated without copying: one 200 MiB file),
 * through the local dispatcher into a fresh cache directory; against
 *  - the floor "write the bytes plus hash them": the same 200 buffers, each md5-hashed and written
 *    to its own file (one thread), in this process;
 *  - Dask threads (Debian `python3-dask`, if `/usr/bin/python3` has it) writing 200 plain files
 *    and concatenating them (spec/bench/dask-w3.py).
 * Rounds are interleaved (the machine is shared): each round runs ours three times (twice into a
 * fresh cache directory, once into one kept across the rounds, with new content each time), the
 * floor once and one Dask process (a cold run, then two warm ones). Wall and CPU (all threads) per run; medians
 * of the warm runs, and ratios.
 */
import * as ChildProcess from 'node:child_process'
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import * as Collection from '../../lib/collections/collection.js'
import { CollectionCodec } from '../../lib/collections/codec.js'
import * as Local from '../../lib/dispatchers/local.js'
import { defineModule, work } from '../../lib/module.js'

const MiB = 1 << 20
const N = 200
const here = Path.dirname(Url.fileURLToPath(import.meta.url))

/** each call's 1 MiB: byte i % 256, the first bytes made unique by `salt` (so that runs in one store write new blocks) */
const part = work({ args: [t.number, t.number], returns: CollectionCodec }, (i, salt, ctx) => {
  const bytes = Buffer.alloc(MiB, i % 256)
  bytes.writeUInt32LE(salt, 0)
  return ctx.output.fromFiles({ 'all.bin': bytes })
})
const W3 = defineModule({
  name: 'w3',
  params: t.type({ n: t.number, salt: t.number }),
  work: { part },
  returns: CollectionCodec,
  run: ({ n, salt }, { work: w }) => Array.from({ length: n }, (_, i) => w.part(i, salt)) as never,
})

interface Sample {
  readonly wall: number
  readonly cpu: number
}

const measure = async (f: () => Promise<void>): Promise<Sample> => {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await f()
  const c = process.cpuUsage(c0)
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 }
}

let salt = 0
const kept = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-bench-w3-kept-'))
/** a run into a fresh cache directory, or (`again`) into one kept across runs (new blocks, existing directories) */
const ours = (again = false): Promise<Sample> => {
  const dir = again ? kept : Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-bench-w3-'))
  return measure(async () => {
    const r = await Local.make({ cacheDir: dir }).run(W3, { n: N, salt: ++salt }, { reuse: false })()
    if (E.isLeft(r)) throw new Error(r.left.message)
    const out = r.right.value as unknown as Collection.Collection
    if (out.files.length !== 1 || out.files[0]!.size !== N * MiB) throw new Error(`unexpected output ${JSON.stringify(out.files)}`)
  }).finally(() => (again ? undefined : Fs.rmSync(dir, { recursive: true, force: true })))
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

/** Runs the rounds and prints the figures. */
export const main = async (rounds: number): Promise<void> => {
  const samples = { ours: [] as Array<Sample>, oursAgain: [] as Array<Sample>, oursCold: [] as Array<Sample>, floor: [] as Array<Sample>, dask: [] as Array<Sample>, daskCold: [] as Array<Sample> }
  samples.oursCold.push(await ours()) // the first run of the process (workers start, code warms up)
  for (let r = 0; r < rounds; r++) {
    samples.ours.push(await ours())
    samples.oursAgain.push(await ours(true))
    samples.floor.push(await floor())
    if (hasDask) {
      const [cold, ...warm] = dask()
      samples.daskCold.push(cold!)
      samples.dask.push(...warm)
    }
    samples.ours.push(await ours())
  }
  Fs.rmSync(kept, { recursive: true, force: true })
  const show = (name: string, xs: ReadonlyArray<Sample>): string =>
    xs.length === 0 ? `${name}: not run` : `${name}: wall median ${median(xs.map((x) => x.wall)).toFixed(3)} s (min ${Math.min(...xs.map((x) => x.wall)).toFixed(3)}), CPU median ${median(xs.map((x) => x.cpu)).toFixed(3)} s, ${xs.length} run(s)`
  const lines = [
    `node ${process.version}, ${Os.cpus().length} CPU(s), load average ${Os.loadavg().map((l) => l.toFixed(1)).join(' ')}; W3 N=${N} x 1 MiB, ${rounds} interleaved round(s)`,
    show('arvados-crunch, first run of the process', samples.oursCold),
    show('arvados-crunch, fresh cache directory', samples.ours),
    show('arvados-crunch, cache directory kept across runs', samples.oursAgain),
    show('floor: md5 + write each buffer to its own file, 1 thread', samples.floor),
    hasDask ? show('dask threads, cold (first run of its process)', samples.daskCold) : 'dask: /usr/bin/python3 has no dask (apt-get install python3-dask)',
    hasDask ? show('dask threads, warm', samples.dask) : '',
  ]
  const ratio = (a: ReadonlyArray<Sample>, b: ReadonlyArray<Sample>): string => (median(a.map((x) => x.wall)) / median(b.map((x) => x.wall))).toFixed(2)
  lines.push(`ratios (wall medians): arvados-crunch fresh / floor ${ratio(samples.ours, samples.floor)}${hasDask ? `; / dask warm: fresh ${ratio(samples.ours, samples.dask)}, kept ${ratio(samples.oursAgain, samples.dask)}; / dask cold: fresh ${ratio(samples.ours, samples.daskCold)}` : ''}`)
  process.stdout.write(`${lines.filter((l) => l !== '').join('\n')}\n`)
}
