/**
 * The test command. Runs the type checker (which compiles the type-level specs in
 * spec/types, whose `@ts-expect-error` lines fail the build when an error disappears),
 * then every `spec/**\/*.spec.ts` file in its own process (uvu style: a spec file is a
 * program), and ends with exactly one line `N passed, N failed` summing the real counts.
 *
 * Usage: node --import tsx spec/run.ts [filter...]
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..')
const filters = process.argv.slice(2)

const listSpecs = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = Path.join(dir, d.name)
    if (d.isDirectory()) return d.name === 'node_modules' ? [] : listSpecs(p)
    return d.name.endsWith('.spec.ts') ? [p] : []
  })

interface Outcome {
  readonly file: string
  readonly passed: number
  readonly failed: number
  readonly output: string
  readonly ms: number
}

/**
 * Specs and every process they start resolve `arvados-crunch` (the samples import it) to the
 * TypeScript sources in lib/ through the package's "arvados-crunch-source" export condition,
 * never to a dist/ that may be older than the sources; spec/consumer.spec.ts tests dist/.
 */
const SOURCE_CONDITION = '--conditions=arvados-crunch-source'
const nodeOptions = (process.env['NODE_OPTIONS'] ?? '').includes(SOURCE_CONDITION) ? process.env['NODE_OPTIONS']! : `${process.env['NODE_OPTIONS'] ?? ''} ${SOURCE_CONDITION}`.trim()

const run = (cmd: string, args: ReadonlyArray<string>, timeoutMs: number): Promise<{ code: number | null; output: string; ms: number }> =>
  new Promise((resolve) => {
    const started = Date.now()
    const child = ChildProcess.spawn(cmd, args, { cwd: root, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', NODE_OPTIONS: nodeOptions }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (b: Buffer) => (output += b.toString()))
    child.stderr.on('data', (b: Buffer) => (output += b.toString()))
    const timer = setTimeout(() => {
      output += `\n[spec/run] killed after ${timeoutMs} ms\n`
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output, ms: Date.now() - started })
    })
  })

const parseUvu = (output: string): { total: number; passed: number } | undefined => {
  // uvu prints one summary per process: "Total:     N" / "Passed:    N"
  const totals = [...output.matchAll(/Total:\s+(\d+)/g)].map((m) => Number(m[1]))
  const passes = [...output.matchAll(/Passed:\s+(\d+)/g)].map((m) => Number(m[1]))
  if (totals.length === 0 || passes.length === 0) return undefined
  return { total: totals.reduce((a, b) => a + b, 0), passed: passes.reduce((a, b) => a + b, 0) }
}

const runSpec = async (file: string): Promise<Outcome> => {
  const rel = Path.relative(root, file)
  const r = await run(process.execPath, ['--import', 'tsx', file], 600_000)
  const summary = parseUvu(r.output)
  if (summary === undefined) return { file: rel, passed: 0, failed: 1, output: r.output + '\n[spec/run] no uvu summary: the file crashed before its tests ran', ms: r.ms }
  const failed = summary.total - summary.passed + (r.code === 0 || summary.total !== summary.passed ? 0 : 1)
  return { file: rel, passed: summary.passed, failed, output: r.output, ms: r.ms }
}

const typecheck = async (): Promise<Outcome> => {
  const tsc = Path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--noEmit', '--pretty', 'false'], 600_000)
  const errors = r.output.split('\n').filter((l) => /error TS\d+/.test(l))
  return { file: 'tsc (lib, spec, spec/types, samples)', passed: r.code === 0 ? 1 : 0, failed: r.code === 0 ? 0 : Math.max(1, errors.length), output: r.output, ms: r.ms }
}

const main = async (): Promise<void> => {
  const specs = listSpecs(Path.join(root, 'spec'))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
    .sort()
  const parallel = Math.max(1, Math.min(Os.availableParallelism(), Number(process.env['SPEC_JOBS'] ?? 2)))
  const outcomes: Array<Outcome> = []
  const queue = [...specs]
  const report = (o: Outcome): void => {
    outcomes.push(o)
    const mark = o.failed === 0 ? 'ok  ' : 'FAIL'
    process.stdout.write(`${mark} ${o.file}  (${o.passed} passed, ${o.failed} failed, ${o.ms} ms)\n`)
    if (o.failed > 0) process.stdout.write(o.output.split('\n').map((l) => `    ${l}`).join('\n') + '\n')
  }
  const tc = filters.length === 0 ? typecheck().then(report) : Promise.resolve()
  const workers = Array.from({ length: parallel }, async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) report(await runSpec(f))
  })
  await Promise.all([tc, ...workers])
  const passed = outcomes.reduce((a, o) => a + o.passed, 0)
  const failed = outcomes.reduce((a, o) => a + o.failed, 0)
  process.stdout.write(`${passed} passed, ${failed} failed\n`)
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1
}

void main()
