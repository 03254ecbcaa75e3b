/**
 * Runs the real `crunch` command (lib/bin.js) or a script as a child process.
 */
import * as ChildProcess from 'node:child_process'
import * as Path from 'node:path'
import * as Url from 'node:url'

export const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..', '..')
export const bin = Path.join(root, 'lib', 'bin.js')

export interface Ran {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export const runNode = (args: ReadonlyArray<string>, options: { env?: Record<string, string>; cwd?: string; onSpawn?: (child: ChildProcess.ChildProcess) => void; timeoutMs?: number } = {}): Promise<Ran> =>
  new Promise((resolve) => {
    const child = ChildProcess.spawn(process.execPath, args, { cwd: options.cwd ?? root, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    options.onSpawn?.(child)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })

export const crunch = (args: ReadonlyArray<string>, options: Parameters<typeof runNode>[1] = {}): Promise<Ran> => runNode([bin, ...args], options)
