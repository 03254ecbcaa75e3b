/**
 * The package as a user gets it: `npm pack` (which builds dist/), then the tarball installed
 * into fresh projects with no network (`npm ci --offline`: every dependency comes from the npm
 * cache that the repository's own `npm ci` filled). The projects' lockfile is written from the
 * repository's, so the install resolves nothing on a registry. Then, with nothing of this
 * repository on the way (no tsx loader, no source condition):
 *
 * - a plain `.mjs` imports every export under `node`, and CommonJS `require`s the package;
 * - a TypeScript consumer compiles with `tsc` under `strict: false` and under `strict: true`
 *   with `skipLibCheck: false` (the package's declarations are checked too), and runs;
 * - `npx crunch run` runs a `.ts`, a `.mts` and a `.mjs` script in a `"type": "module"` and in a
 *   `"type": "commonjs"` project (the installed command bundles a `.ts` script as an ES module),
 *   and points at the user's `.ts` lines when a work fails or the script does not parse.
 *
 * @since 0.1.0
 */
import * as ChildProcess from 'node:child_process'
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { root } from './support/cli.js'

// -------------------------------------------------------------------------------------
// support
// -------------------------------------------------------------------------------------

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** the environment of a user's shell: none of the repository's loaders or conditions */
const userEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' }
  delete env['NODE_OPTIONS']
  for (const k of Object.keys(env)) if (k.startsWith('ARVADOS_') || k.startsWith('CRUNCH_') || k.startsWith('npm_package_') || k === 'npm_lifecycle_event' || k === 'npm_lifecycle_script') delete env[k]
  return env
}

const sh = (command: string, args: ReadonlyArray<string>, cwd: string, timeoutMs = 180_000): Promise<Ran> =>
  new Promise((resolve) => {
    const child = ChildProcess.spawn(command, args, { cwd, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

interface LockEntry {
  readonly version?: string
  readonly dev?: boolean
  readonly devOptional?: boolean
  readonly peer?: boolean
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly [k: string]: unknown
}

/**
 * A project depending on the tarball, io-ts, fp-ts and @types/node, with a lockfile taken from
 * the repository's (so `npm ci --offline` needs no registry metadata, only cached tarballs).
 */
const writeProject = (dir: string, tarball: string, type: 'module' | 'commonjs'): void => {
  const lock = JSON.parse(Fs.readFileSync(Path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const pkg = JSON.parse(Fs.readFileSync(Path.join(root, 'package.json'), 'utf8')) as { version: string; license: string; dependencies: Record<string, string>; peerDependencies: Record<string, string>; engines: Record<string, string>; bin: Record<string, string> }
  const packages: Record<string, LockEntry> = {}
  const add = (name: string): void => {
    const key = `node_modules/${name}`
    if (packages[key] !== undefined) return
    const entry = lock.packages[key]
    if (entry === undefined) throw new Error(`${name} is not in package-lock.json`)
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry
    packages[key] = kept
    for (const d of [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {})]) add(d)
  }
  const direct = ['fp-ts', 'io-ts', '@types/node']
  for (const d of [...Object.keys(pkg.dependencies), ...direct]) add(d)
  const spec = `file:${tarball}`
  const dependencies = { 'arvados-crunch': spec, ...Object.fromEntries(direct.map((n) => [n, lock.packages[`node_modules/${n}`]!.version!])) }
  packages['node_modules/arvados-crunch'] = {
    version: pkg.version,
    resolved: spec,
    integrity: `sha512-${Crypto.createHash('sha512').update(Fs.readFileSync(tarball)).digest('base64')}`,
    license: pkg.license,
    dependencies: pkg.dependencies,
    bin: Object.fromEntries(Object.entries(pkg.bin).map(([k, v]) => [k, v.replace(/^\.\//, '')])),
    engines: pkg.engines,
    peerDependencies: pkg.peerDependencies,
  }
  Fs.mkdirSync(dir, { recursive: true })
  Fs.writeFileSync(Path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${type}`, version: '1.0.0', private: true, type, dependencies }, null, 2) + '\n')
  Fs.writeFileSync(Path.join(dir, 'package-lock.json'), JSON.stringify({ name: `consumer-${type}`, version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: `consumer-${type}`, version: '1.0.0', dependencies }, ...packages } }, null, 2) + '\n')
}

/** a pipeline as a user writes it, importing only the package's public entry points */
const PIPELINE = `import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

const double = work({ args: [t.number], returns: t.number }, (x) => 2 * x)
const sum = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))

export const Doubles = defineModule({
  name: 'doubles',
  params: t.type({ n: t.number }),
  work: { double, sum },
  run: ({ n }, { work: w }) => w.sum(Array.from({ length: n }, (_, i) => w.double(i + 1))),
})

runMain(Doubles, import.meta.url)
`

/** every subpath export, imported by plain node */
const IMPORTS = `import * as Sdk from 'arvados-crunch'
import * as Testing from 'arvados-crunch/testing'
import * as Graph from 'arvados-crunch/graph'
import * as Local from 'arvados-crunch/dispatchers/local'
import * as Auto from 'arvados-crunch/dispatchers/auto'
import * as Crunch from 'arvados-crunch/dispatchers/crunch'
import * as Arvados from 'arvados-crunch/arvados'
import * as Collections from 'arvados-crunch/collections'
import pkg from 'arvados-crunch/package.json' with { type: 'json' }
import { Doubles } from './pipeline.mjs'

const exported = { Sdk, Testing, Graph, Local, Auto, Crunch, Arvados, Collections }
console.log(Object.entries(exported).map(([k, m]) => \`\${k}:\${Object.keys(m).length > 0}\`).join(' '))
console.log(pkg.name)
const r = await Local.make({ cacheDir: 'cache' }).run(Doubles, { n: 3 })()
console.log(r._tag === 'Right' ? r.right.json : Sdk.formatError(r.left))
`

/** a TypeScript consumer: the declarations must carry real types (the expect-error lines fail the build if they turn into any) */
const CONSUMER_TS = `import * as t from 'io-ts'
import { defineModule, work, formatError, type Future, type Dispatcher, type SdkError } from 'arvados-crunch'
import * as Local from 'arvados-crunch/dispatchers/local'
import { runWork } from 'arvados-crunch/testing'

const inc = work({ args: [t.number], returns: t.number }, (x) => x + 1)
const M = defineModule({
  name: 'consumer',
  params: t.type({ n: t.number }),
  work: { inc },
  run: ({ n }, { work: w }) => {
    const f: Future<number> = w.inc(n)
    // @ts-expect-error a Future<number> is not a number
    const wrong: number = w.inc(n)
    void wrong
    return w.inc(f)
  },
})

const dispatcher: Dispatcher = Local.make({ cacheDir: 'cache-ts' })
const main = async (): Promise<void> => {
  // @ts-expect-error inc takes a number
  const wrongArgs = () => runWork(inc, ['one'])
  void wrongArgs
  const direct: number = await runWork(inc, [1])
  const r = await dispatcher.run(M, { n: 40 })()
  if (r._tag === 'Left') {
    const e: SdkError = r.left
    console.log(formatError(e))
  } else console.log(direct, r.right.value)
}
void main()
`

const tsconfig = (options: Record<string, unknown>): string =>
  JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'], outDir: 'out', ...options }, files: ['consumer.ts'] }, null, 2)

// -------------------------------------------------------------------------------------
// the package, installed
// -------------------------------------------------------------------------------------

const Consumer = suite<{ scratch: string; files: ReadonlyArray<string>; projects: Record<'module' | 'commonjs', string> }>('consumer: the packed package in fresh projects', {
  scratch: '',
  files: [],
  projects: { module: '', commonjs: '' },
})

Consumer.before(async (ctx) => {
  ctx.scratch = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-consumer-'))
  // npm pack runs prepare (the build) first
  const packed = await sh('npm', ['pack', '--json', '--pack-destination', ctx.scratch], root)
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.stderr}`)
  const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as ReadonlyArray<{ filename: string; files: ReadonlyArray<{ path: string }> }>
  ctx.files = info[0]!.files.map((f) => f.path)
  const tarball = Path.join(ctx.scratch, info[0]!.filename)
  for (const type of ['module', 'commonjs'] as const) {
    const dir = Path.join(ctx.scratch, type)
    writeProject(dir, tarball, type)
    const installed = await sh('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], dir)
    if (installed.code !== 0) throw new Error(`npm ci --offline in a ${type} project failed:\n${installed.stderr}`)
    Fs.writeFileSync(Path.join(dir, 'pipeline.ts'), PIPELINE)
    Fs.writeFileSync(Path.join(dir, 'pipeline.mts'), PIPELINE)
    Fs.writeFileSync(Path.join(dir, 'pipeline.mjs'), PIPELINE)
    Fs.writeFileSync(Path.join(dir, 'imports.mjs'), IMPORTS)
    Fs.writeFileSync(Path.join(dir, 'consumer.ts'), CONSUMER_TS)
    ctx.projects[type] = dir
  }
})

Consumer.after((ctx) => {
  if (ctx.scratch !== '') Fs.rmSync(ctx.scratch, { recursive: true, force: true })
})

Consumer('should pack the built JavaScript, its declarations and maps, and no specs', ({ files }) => {
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/cli/bin.js', 'package.json', 'README.md', 'docs/getting-started.md']) assert.ok(files.includes(f), `${f} is not in the tarball`)
  assert.equal(files.filter((f) => f.startsWith('spec/') || f.startsWith('node_modules/')), [])
})

Consumer('should ship LICENSE and every file that a link of the shipped documentation points to', ({ files }) => {
  assert.ok(files.includes('LICENSE'), 'LICENSE is not in the tarball')
  const broken: Array<string> = []
  for (const page of files.filter((f) => f.endsWith('.md'))) {
    const text = Fs.readFileSync(Path.join(root, page), 'utf8')
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!.split('#')[0]!
      if (target === '' || /^[a-z]+:/.test(target)) continue
      const resolved = Path.posix.normalize(Path.posix.join(Path.posix.dirname(page), target)).replace(/\/$/, '')
      // (a link to a page that does not exist in the repository either is the docs' own problem)
      if (!Fs.existsSync(Path.join(root, resolved))) continue
      if (!files.includes(resolved) && !files.some((f) => f.startsWith(`${resolved}/`))) broken.push(`${page}: ${m[1]!}`)
    }
  }
  assert.equal(broken, [], 'links that do not resolve inside the tarball')
})

Consumer('should import every export from a plain .mjs under node, with no loader', async ({ projects }) => {
  for (const dir of Object.values(projects)) {
    const r = await sh(process.execPath, ['imports.mjs'], dir)
    assert.is(r.code, 0, r.stderr)
    assert.equal(r.stdout.split('\n'), ['Sdk:true Testing:true Graph:true Local:true Auto:true Crunch:true Arvados:true Collections:true', 'arvados-crunch', '12', ''])
  }
})

Consumer('should be loadable by require() from CommonJS (node >= 20.19: require of an ES module)', async ({ projects }) => {
  const r = await sh(process.execPath, ['-e', "const m = require('arvados-crunch'); console.log(typeof m.defineModule, typeof m.runMain)"], projects.commonjs)
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout, 'function function\n')
})

for (const [label, options] of [
  ['strict: false', { strict: false }],
  ['strict: true and skipLibCheck: false', { strict: true, skipLibCheck: false }],
] as const) {
  Consumer(`should compile a TypeScript consumer with tsc under ${label}, and run it`, async ({ projects }) => {
    const dir = projects.module
    const config = `tsconfig.${label.replace(/\W+/g, '-')}.json`
    Fs.writeFileSync(Path.join(dir, config), tsconfig(options))
    const built = await sh(process.execPath, [Path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', config, '--pretty', 'false'], dir)
    assert.is(built.code, 0, `tsc:\n${built.stdout}${built.stderr}`)
    const r = await sh(process.execPath, ['out/consumer.js'], dir)
    assert.is(r.code, 0, r.stderr)
    assert.is(r.stdout, '2 42\n')
  })
}

for (const type of ['module', 'commonjs'] as const) {
  // (the installed crunch bundles a TypeScript script as an ES module: a .ts runs in a CommonJS project too)
  for (const script of type === 'module' ? ['pipeline.ts', 'pipeline.mjs'] : ['pipeline.ts', 'pipeline.mts', 'pipeline.mjs']) {
    Consumer(`should run ${script} with npx crunch run in a "type": "${type}" project`, async ({ projects }) => {
      const r = await sh('npx', ['--offline', 'crunch', 'run', script, '--n', '4', '--progress', 'none'], projects[type])
      assert.is(r.code, 0, r.stderr)
      assert.is(r.stdout, '20\n')
    })
  }
}

Consumer('should point at the .ts line of a failing work and headline a syntax error with file:line:col', async ({ projects }) => {
  const dir = projects.commonjs
  Fs.writeFileSync(Path.join(dir, 'failing.ts'), PIPELINE.replace('(x) => 2 * x', '(x) => {\n  if (x === 3) throw new Error(`no ${x}`)\n  return 2 * x\n}'))
  const failed = await sh('npx', ['--offline', 'crunch', 'run', 'failing.ts', '--n', '4', '--progress', 'none'], dir)
  assert.is(failed.code, 1)
  assert.match(failed.stderr, /^WorkFailedError \[ARV_WORK_FAILED\]: work "double" failed \[call [0-9a-f]{12}\] with arguments \(number\): no 3\n  at failing\.ts:5:22\n/)
  Fs.writeFileSync(Path.join(dir, 'typo.ts'), 'const x: number = (\nexport const y = 1\n')
  const typo = await sh('npx', ['--offline', 'crunch', 'run', 'typo.ts'], dir)
  assert.is(typo.code, 1)
  assert.match(typo.stderr, /^ScriptLoadError \[ARV_SCRIPT_LOAD\]: typo\.ts:2:1: Unexpected "export"\n/)
})

Consumer.run()
