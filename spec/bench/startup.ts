/**
 * Start-up of a trivial run, whole process: `crunch run samples/numbers.ts --n 10 --no-reuse`
 * with the installed command (dist/cli/bin.js, the compiled SDK; the script bundled once and
 * cached), with the command as it ran before the package was built (lib/bin.js: the SDK's
 * TypeScript sources through tsx's loader), and the same pipeline in Python + Dask
 * (spec/bench/startup/numbers_dask.py, Debian's python3-dask). The three run in turn, round after
 * round, under `/usr/bin/time` (elapsed seconds and maximum resident set size of the process);
 * the figures are medians, and the ratios are taken round by round against Dask.
 *
 *   npm run bench:startup [-- --rounds 15]
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..', '..')
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] ?? 0) || 11
const cache = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-bench-startup-'))

interface Command {
  readonly label: string
  readonly argv: ReadonlyArray<string>
}

const sample = Path.join(root, 'samples', 'numbers.ts')
const flags = ['--n', '10', '--no-reuse', '--progress', 'none', '--cache-dir', cache]
const env = { ...process.env }
delete env['NODE_OPTIONS']
const commands: ReadonlyArray<Command> = [
  { label: 'crunch (dist/, this package)', argv: [process.execPath, Path.join(root, 'dist', 'cli', 'bin.js'), 'run', sample, ...flags] },
  { label: 'crunch before the build (lib/ through tsx)', argv: [process.execPath, Path.join(root, 'lib', 'bin.js'), 'run', sample, ...flags] },
  { label: 'Python + Dask', argv: ['/usr/bin/python3', Path.join(root, 'spec', 'bench', 'startup', 'numbers_dask.py'), '--n', '10'] },
]

const measure = (c: Command): { seconds: number; mib: number } => {
  const r = ChildProcess.spawnSync('/usr/bin/time', ['-f', '%e %M', ...c.argv], { cwd: root, env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${c.label} failed:\n${r.stderr}`)
  const last = r.stderr.trim().split('\n').pop()!.split(' ')
  return { seconds: Number(last[0]), mib: Number(last[1]) / 1024 }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

if (!Fs.existsSync(Path.join(root, 'dist', 'cli', 'bin.js'))) throw new Error('dist/ is missing: npm run build')
for (const c of commands) measure(c) // warm-up: page cache, tsx's cache, the script's bundle
const results = commands.map(() => [] as Array<{ seconds: number; mib: number }>)
for (let i = 0; i < rounds; i++) commands.forEach((c, j) => results[j]!.push(measure(c)))
const dask = results[commands.length - 1]!
process.stdout.write(`start-up, ${rounds} rounds, ${Os.cpus().length} cores, node ${process.version}\n`)
process.stdout.write('command | wall s (median) | max RSS MiB (median) | wall / Dask | RSS / Dask\n')
commands.forEach((c, j) => {
  const r = results[j]!
  const ratios = (k: 'seconds' | 'mib'): number => median(r.map((x, i) => x[k] / dask[i]![k]))
  process.stdout.write(`${c.label} | ${median(r.map((x) => x.seconds)).toFixed(3)} | ${median(r.map((x) => x.mib)).toFixed(1)} | ${ratios('seconds').toFixed(2)} | ${ratios('mib').toFixed(2)}\n`)
})
Fs.rmSync(cache, { recursive: true, force: true })
