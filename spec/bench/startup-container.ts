/**
 * Start-up of a work container: node starting the work role of a crunch bundle on a trivial call
 * (`numbers.square(3)` of samples/numbers.ts) until the process exits with its result written, as
 * a container runs it (`node --enable-source-maps /var/lib/arvados-crunch/bundle/main.mjs`, see
 * spec/bench/startup-harness.ts: a private mount namespace, no API, no Keep). Three shapes of the
 * same sources, started in turn, round after round:
 *
 * - `empty module`: node starting an empty ESM file (the floor: node itself);
 * - `one file (before)`: the bundle as lib/dispatchers/crunch/bundle.ts built it before the split
 *   (commit 2e3082b): one ESM file with everything, source map inline (built here with the same
 *   esbuild options);
 * - `split (after)`: `Bundle.build` — an entry, chunks loaded on demand, source maps in their
 *   own files.
 *
 * Figures per start: CPU (user + system) and wall since node's time origin, both taken in the
 * process when it exits; wall from spawning the namespace to its exit; peak RSS. Medians, and the
 * after/before ratio taken round by round. Sizes: the bundle collection's files and bytes, and
 * the bytes of the bundle files the work role loads (listed by module hooks in a separate run).
 *
 *   npm run bench:startup-container [-- --rounds 40]
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as Bundle from '../../lib/dispatchers/crunch/bundle.js'
import * as Compute from '../../lib/identity/compute.js'
import * as Identity from '../../lib/identity/identity.js'
import * as Harness from './startup-harness.js'

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..', '..')
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] ?? 0) || 30
const script = Path.join(root, 'samples', 'numbers.ts')
const call: Harness.WorkCall = { module: 'numbers', work: 'square', args: ['3'] }

const problem = Harness.problem()
if (problem !== undefined) throw new Error(problem)

const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-bench-startup-container-'))

/** the one-file bundle, as bundle.ts built it before the split */
const oneFile = async (dir: string): Promise<void> => {
  const esbuild = await import('esbuild')
  const r = await esbuild.build({ ...Compute.bundleOptions(script), sourcemap: 'inline', sourcesContent: false, metafile: true })
  const out = r.outputFiles[0]!
  const table = Identity.withLines(await Compute.tableOf(esbuild, script), out.text, new Set(Object.keys(r.metafile.inputs)))
  Fs.mkdirSync(dir, { recursive: true })
  Fs.writeFileSync(Path.join(dir, 'main.mjs'), Identity.embed(out.text, table))
}

const split = async (dir: string): Promise<void> => {
  const built = await Bundle.build(script)
  if (E.isLeft(built)) throw new Error(built.left.message)
  Bundle.writeTo(built.right, dir)
}

interface Shape {
  readonly label: string
  readonly dir: string
  readonly checks: boolean
}

const shapes: ReadonlyArray<Shape> = [
  { label: 'empty module (node itself)', dir: Path.join(work, 'empty'), checks: false },
  { label: 'one file, map inline (before)', dir: Path.join(work, 'one-file'), checks: true },
  { label: 'split, maps in files (after)', dir: Path.join(work, 'split'), checks: true },
]
Fs.mkdirSync(shapes[0]!.dir, { recursive: true })
Fs.writeFileSync(Path.join(shapes[0]!.dir, 'main.mjs'), '')
await oneFile(shapes[1]!.dir)
await split(shapes[2]!.dir)

const once = async (s: Shape, options: { measure?: boolean; record?: boolean }): Promise<Harness.WorkRun> => {
  const r = await Harness.runWork(s.dir, call, options)
  if (r.code !== 0 || (s.checks && r.result !== JSON.stringify({ v: 1, kind: 'value', json: '9' }))) throw new Error(`${s.label}: exit ${String(r.code)}, result ${String(r.result)}\n${r.stderr}`)
  return r
}

const sizes = await Promise.all(
  shapes.map(async (s) => {
    const files = Fs.readdirSync(s.dir)
    const bytes = files.reduce((n, f) => n + Fs.statSync(Path.join(s.dir, f)).size, 0)
    const loaded = (await once(s, { record: true })).loaded.filter((u) => u.startsWith('file:///var/lib/arvados-crunch/bundle/')).map((u) => Path.basename(Url.fileURLToPath(u)))
    const loadedBytes = loaded.reduce((n, f) => n + Fs.statSync(Path.join(s.dir, f)).size, 0)
    // node reads the map a loaded file names (inline: part of the file)
    const maps = loaded.filter((f) => /\n\/\/# sourceMappingURL=[^\n]*\.map\n?$/.test(Fs.readFileSync(Path.join(s.dir, f), 'utf8'))).reduce((n, f) => n + Fs.statSync(Path.join(s.dir, `${f}.map`)).size, 0)
    return { files: files.length, bytes, loaded: loaded.length, loadedBytes, maps }
  }),
)

for (const s of shapes) await once(s, { measure: true }) // warm-up: page cache
const results = shapes.map(() => [] as Array<Harness.WorkRun>)
for (let i = 0; i < rounds; i++) for (const [j, s] of shapes.entries()) results[j]!.push(await once(s, { measure: true }))

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const pick = {
  cpu: (r: Harness.WorkRun) => r.measure!.cpuMs,
  wall: (r: Harness.WorkRun) => r.measure!.wallMs,
  outer: (r: Harness.WorkRun) => r.outerMs,
  rss: (r: Harness.WorkRun) => r.measure!.rssMiB,
}
const kib = (n: number): string => (n / 1024).toFixed(0)
process.stdout.write(`work container start-up (numbers.square(3)), ${rounds} rounds interleaved, ${Os.cpus().length} cores, load ${Os.loadavg()[0]!.toFixed(2)}, node ${process.version}\n`)
process.stdout.write('shape | files | KiB in collection | files loaded | KiB loaded (+ maps read) | CPU ms | wall ms (in node) | wall ms (spawn to exit) | max RSS MiB\n')
for (const [j, s] of shapes.entries()) {
  const z = sizes[j]!
  const r = results[j]!
  process.stdout.write(`${s.label} | ${z.files} | ${kib(z.bytes)} | ${z.loaded} | ${kib(z.loadedBytes)} (+ ${kib(z.maps)}) | ${median(r.map(pick.cpu)).toFixed(1)} | ${median(r.map(pick.wall)).toFixed(1)} | ${median(r.map(pick.outer)).toFixed(1)} | ${median(r.map(pick.rss)).toFixed(1)}\n`)
}
const [floor, before, after] = results as [Array<Harness.WorkRun>, Array<Harness.WorkRun>, Array<Harness.WorkRun>]
const ratio = (k: keyof typeof pick): string => median(after.map((x, i) => pick[k](x) / pick[k](before[i]!))).toFixed(2)
const overFloor = (k: keyof typeof pick, xs: ReadonlyArray<Harness.WorkRun>): number => median(xs.map((x, i) => pick[k](x) - pick[k](floor[i]!)))
process.stdout.write(`after / before (median of per-round ratios): CPU ${ratio('cpu')}, wall in node ${ratio('wall')}, wall spawn to exit ${ratio('outer')}, RSS ${ratio('rss')}\n`)
process.stdout.write(`above the empty module (median of per-round differences): before CPU +${overFloor('cpu', before).toFixed(1)} ms, wall +${overFloor('wall', before).toFixed(1)} ms; after CPU +${overFloor('cpu', after).toFixed(1)} ms, wall +${overFloor('wall', after).toFixed(1)} ms\n`)
Fs.rmSync(work, { recursive: true, force: true })
