/**
 * Runs a crunch bundle's work role the way a work container starts it — `node
 * --enable-source-maps /var/lib/arvados-crunch/bundle/main.mjs` with `CRUNCH_ROLE=work`, the call
 * in `/var/lib/arvados-crunch/call.json`, the output in `/var/spool/arvados-crunch/output` — but
 * without the double's API and Keep: a private mount namespace (`unshare --mount`, root only, as
 * the double's containers) binds a fresh directory over each of `/var/lib`, `/var/spool` and
 * `/tmp`, so the host's are never touched.
 *
 * `measure` preloads a probe that records, when the process exits, its CPU time (user + system,
 * `process.resourceUsage()`), its wall time since node's time origin (`performance.now()`) and its
 * peak RSS. `record` registers module hooks that list every module URL node loads (for specs; it
 * costs time, so never with `measure`).
 *
 * Used by spec/bench/startup-container.ts and spec/dispatchers/crunch-bundle.spec.ts.
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'

/** what the probe records */
export interface Measure {
  /** ms since node's time origin, at exit */
  readonly wallMs: number
  /** user + system CPU, ms */
  readonly cpuMs: number
  readonly rssMiB: number
}

export interface WorkRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** the result file's text, when written */
  readonly result: string | undefined
  /** wall time from spawning `unshare` to its exit (namespace and mounts included), ms */
  readonly outerMs: number
  readonly measure: Measure | undefined
  /** module URLs node loaded (with `record`) */
  readonly loaded: ReadonlyArray<string>
}

export interface WorkCall {
  readonly module: string
  readonly work: string
  readonly args: ReadonlyArray<string>
}

const PROBE = `const { performance } = require('node:perf_hooks')
process.on('exit', () => {
  const u = process.resourceUsage()
  require('node:fs').writeFileSync('/var/lib/probe/measure.json', JSON.stringify({ wallMs: performance.now(), cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000, rssMiB: u.maxRSS / 1024 }))
})
`

const RECORD = `import { register } from 'node:module'
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(`import { appendFileSync } from 'node:fs'
export async function load(url, context, next) {
  appendFileSync('/var/lib/probe/loaded.txt', url + '\\n')
  return next(url, context)
}`)}))
`

const which = (tool: string): string => ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => Path.join(d, tool)).find((p) => Fs.existsSync(p)) ?? tool

/** what prevents running this harness here, or undefined */
export const problem = (): string | undefined =>
  typeof process.getuid === 'function' && process.getuid() !== 0 ? 'the work role harness needs root (unshare --mount, bind mounts)' : ChildProcess.spawnSync(which('unshare'), ['--mount', 'true']).status === 0 ? undefined : "'unshare --mount' fails here"

/** copies a bundle directory's files (flat, as in its collection) */
const copyDir = (from: string, to: string): void => {
  Fs.mkdirSync(to, { recursive: true })
  for (const name of Fs.readdirSync(from)) Fs.copyFileSync(Path.join(from, name), Path.join(to, name))
}

/**
 * Starts the work role of the bundle in `bundleDir` on `call` and waits for it to exit.
 */
export const runWork = (bundleDir: string, call: WorkCall, options: { readonly measure?: boolean; readonly record?: boolean; readonly nodeArgs?: ReadonlyArray<string>; readonly entry?: string } = {}): Promise<WorkRun> => {
  const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-work-role-'))
  const varLib = Path.join(root, 'var-lib')
  const varSpool = Path.join(root, 'var-spool')
  const tmp = Path.join(root, 'tmp')
  copyDir(bundleDir, Path.join(varLib, 'arvados-crunch', 'bundle'))
  Fs.writeFileSync(Path.join(varLib, 'arvados-crunch', 'call.json'), JSON.stringify({ v: 1, module: call.module, work: call.work, callId: 'c'.repeat(64), args: call.args, collections: {} }))
  Fs.mkdirSync(Path.join(varLib, 'probe'))
  Fs.writeFileSync(Path.join(varLib, 'probe', 'probe.cjs'), PROBE)
  Fs.writeFileSync(Path.join(varLib, 'probe', 'record.mjs'), RECORD)
  Fs.mkdirSync(Path.join(varSpool, 'arvados-crunch', 'output'), { recursive: true })
  Fs.mkdirSync(tmp)
  const nodeArgs = [
    ...(options.measure === true ? ['--require', '/var/lib/probe/probe.cjs'] : []),
    ...(options.record === true ? ['--import', '/var/lib/probe/record.mjs'] : []),
    ...(options.nodeArgs ?? ['--enable-source-maps']),
    `/var/lib/arvados-crunch/bundle/${options.entry ?? 'main.mjs'}`,
  ]
  const script = 'mount --bind "$1" /var/lib && mount --bind "$2" /var/spool && mount --bind "$3" /tmp && cd /tmp && shift 3 && exec "$@"'
  const argv = ['--mount', '--propagation', 'private', '/bin/sh', '-c', script, 'sh', varLib, varSpool, tmp, process.execPath, ...nodeArgs]
  return new Promise((resolve) => {
    const started = process.hrtime.bigint()
    const child = ChildProcess.spawn(which('unshare'), argv, { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', CRUNCH_ROLE: 'work', HOME: '/tmp', TMPDIR: '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    child.on('close', (code) => {
      const outerMs = Number(process.hrtime.bigint() - started) / 1e6
      const read = (p: string): string | undefined => {
        try {
          return Fs.readFileSync(p, 'utf8')
        } catch {
          return undefined
        }
      }
      const measured = read(Path.join(varLib, 'probe', 'measure.json'))
      const run: WorkRun = {
        code,
        stdout,
        stderr,
        result: read(Path.join(varSpool, 'arvados-crunch', 'output', '.arvados-crunch-result.json')),
        outerMs,
        measure: measured === undefined ? undefined : (JSON.parse(measured) as Measure),
        loaded: (read(Path.join(varLib, 'probe', 'loaded.txt')) ?? '').split('\n').filter((l) => l !== ''),
      }
      Fs.rmSync(root, { recursive: true, force: true })
      resolve(run)
    })
  })
}
