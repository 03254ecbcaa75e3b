/**
 * The process executor: local runs with container semantics. Each call runs in a worker
 * process of a pool (at most `concurrency`, started on demand), which gives it:
 * - an environment made from an allow-list (`PATH`, `HOME`, `LANG`, `LC_*`, `TZ`, `USER`,
 *   `LOGNAME`, `TERM`, `ARVADOS_*` where set, and what the options add), restored before every
 *   call, so `process.env` changes never leak into later calls;
 * - its own empty working directory and its own `TMPDIR` (= `ctx.tmp`), removed afterwards;
 * - `maxRunTime` enforced (the worker is killed at the deadline);
 * - `ram` enforced as far as Linux allows without privileges: the worker's resident set is
 *   read from `/proc/<pid>/status` every 100 ms while the call runs and the worker is killed
 *   when it goes over (a V8 heap exhaustion counts as out of memory too);
 * - a crash, a signal or `process.exit` ends only that call, with an error naming the work and
 *   the exit status or signal and the last lines the worker printed.
 * Workers live in their own process group: Ctrl-C reaches the run, which stops them.
 *
 * What a call prints (stdout and stderr) becomes its log lines, as on Arvados. JavaScript
 * globals a call changes stay changed for later calls in the same worker (a process pool);
 * the environment and working directory do not.
 *
 * @since 0.2.0
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as FsP from 'node:fs/promises'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../../errors.js'
import type * as Module from '../../module.js'
import type * as ValueStore from '../../value-store.js'
import type * as Executor from '../executor.js'
import * as Wire from '../wire.js'
import * as InProcess from './in-process.js'
import * as Worker from './process-worker.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.2.0
 */
export interface ProcessOptions {
  readonly store: ValueStore.ValueStore
  /** the directory of the local store the workers write collections into */
  readonly storeDir: string
  /** the script the module is defined in: each worker imports it */
  readonly script: string | undefined
  readonly concurrency?: number | undefined
  /** variables added to the allow-listed environment */
  readonly env?: Readonly<Record<string, string>> | undefined
}

/** the environment variables a worker inherits when set */
const ALLOWED = ['PATH', 'HOME', 'LANG', 'LANGUAGE', 'TZ', 'USER', 'LOGNAME', 'TERM', 'SHELL', 'NODE_EXTRA_CA_CERTS']
const ALLOWED_PREFIXES = ['LC_', 'ARVADOS_']

/** lines of a worker's output kept for error messages */
const TAIL_LINES = 20
const RSS_POLL_MS = 100

interface Running {
  readonly seq: number
  readonly call: Executor.Call
  readonly resolve: (o: Executor.Outcome) => void
  readonly dir: string
  readonly startedAt: number
  peakRss: number
  timer: NodeJS.Timeout | undefined
  /** set when the executor killed the worker on purpose */
  killedFor: 'maxRunTime' | 'ram' | 'cancel' | undefined
}

interface Slot {
  readonly child: ChildProcess.ChildProcess
  readonly ready: Promise<E.Either<Errors.SdkError, void>>
  running: Running | undefined
  tail: Array<string>
  alive: boolean
}

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/**
 * @category errors
 * @since 0.2.0
 */
export const noScript = (module: string) =>
  Errors.make('ProcessIsolationError', 'ARV_PROCESS_NO_SCRIPT', `isolation "process" runs each call of module "${module}" in a worker process, which must load the script the module is defined in, and no script was given`, { module }, {
    hint: 'pass { script: fileURLToPath(import.meta.url) } to the local dispatcher, or run with crunch run (which knows the script), or use isolation "none"',
  })

/**
 * A worker ended while running a call.
 *
 * @category errors
 * @since 0.2.0
 */
export const workerEnded = (module: string, work: string, callId: string, how: string, tail: ReadonlyArray<string>) =>
  Errors.make('WorkerEndedError', 'ARV_PROCESS_EXITED', `work "${work}" [call ${callId.slice(0, 12)}] ended its worker process: ${how}`, { module, work, callId, how }, {
    details: tail.length === 0 ? ['(the worker printed nothing)'] : ['last lines the worker printed:', ...tail.map((l) => `  ${l}`)],
    hint: 'a work must return (or throw), not exit; see its last lines above',
  })

/**
 * A call went over its `ram`.
 *
 * @category errors
 * @since 0.2.0
 */
export const overRam = (module: string, work: string, callId: string, ram: number, rss: number) =>
  Errors.make('OutOfMemoryError', 'ARV_OUT_OF_MEMORY', `work "${work}" [call ${callId.slice(0, 12)}] used ${mib(rss)} of memory, over its ram of ${mib(ram)}, and was stopped`, { module, work, callId, ram, rss }, {
    hint: "raise ram on the work (or let it grow on retry: escalate: { ram: { max: '8GiB' } } with retries)",
  })

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * The environment of a worker: the allow-listed variables of `from`, then `extra`.
 *
 * @category utils
 * @since 0.2.0
 */
export const workerEnv = (from: Readonly<Record<string, string | undefined>>, extra: Readonly<Record<string, string>> = {}): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined) continue
    if (ALLOWED.includes(k) || ALLOWED_PREFIXES.some((p) => k.startsWith(p))) env[k] = v
  }
  return { ...env, ...extra }
}

const rssOf = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(Fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) * 1024
  } catch {
    return undefined
  }
}

/** how to start a worker: the loader for TypeScript when this SDK or the script is TypeScript */
const workerEntry = (): { readonly file: string; readonly execArgv: ReadonlyArray<string> } => {
  const file = Url.fileURLToPath(new URL(`./process-worker${Path.extname(Url.fileURLToPath(import.meta.url))}`, import.meta.url))
  let tsx: string | undefined
  try {
    tsx = import.meta.resolve('tsx')
  } catch {
    tsx = undefined
  }
  return { file, execArgv: tsx === undefined ? [] : ['--import', tsx] }
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * @category constructors
 * @since 0.2.0
 */
export const make = (options: ProcessOptions): Executor.Executor => ({
  name: 'process',
  open: async (module: Module.AnyModule, runSignal: AbortSignal) => {
    if (options.script === undefined) return E.left(noScript(module.name))
    const script = Path.resolve(options.script)
    if (!Fs.existsSync(script)) return E.left(Errors.make('ProcessIsolationError', 'ARV_PROCESS_NO_SCRIPT', `isolation "process": no such script ${script}`, { module: module.name }, { hint: 'give the path of the file that defines the module' }))
    const concurrency = Math.max(1, Math.floor(options.concurrency ?? Os.availableParallelism()))
    const poolDir = await FsP.mkdtemp(Path.join(Os.tmpdir(), 'arvados-crunch-workers-'))
    const entry = workerEntry()
    const env = workerEnv(process.env, { ...options.env, CRUNCH_ROLE: 'process-worker', CRUNCH_SCRIPT: script, CRUNCH_MODULE: module.name, CRUNCH_STORE: Path.resolve(options.storeDir), TMPDIR: poolDir })
    const slots: Array<Slot> = []
    const idle: Array<Slot> = []
    const waiting: Array<(s: Slot) => void> = []
    let seq = 0
    let closing = false

    const finish = (slot: Slot, o: Executor.Outcome): void => {
      const r = slot.running
      if (r === undefined) return
      slot.running = undefined
      if (r.timer !== undefined) clearInterval(r.timer)
      // the worker removes the call's directory; after a crash it is left for close()
      r.resolve(o)
      if (slot.alive && !closing) {
        const next = waiting.shift()
        if (next !== undefined) next(slot)
        else idle.push(slot)
      }
    }

    const spawn = (): Slot => {
      const child = ChildProcess.fork(entry.file, [], {
        cwd: poolDir,
        env,
        execArgv: [...entry.execArgv],
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        detached: true,
        serialization: 'json',
      })
      let readyResolve: (r: E.Either<Errors.SdkError, void>) => void = () => undefined
      const slot: Slot = { child, ready: new Promise((r) => (readyResolve = r)), running: undefined, tail: [], alive: true }
      const onLine = (line: string): void => {
        slot.tail.push(line)
        if (slot.tail.length > TAIL_LINES) slot.tail.shift()
        slot.running?.call.log(line)
      }
      for (const stream of [child.stdout, child.stderr]) {
        let rest = ''
        stream?.setEncoding('utf8')
        stream?.on('data', (chunk: string) => {
          const lines = (rest + chunk).split('\n')
          rest = lines.pop() ?? ''
          for (const l of lines) onLine(l)
        })
        stream?.on('end', () => {
          if (rest !== '') onLine(rest)
          rest = ''
        })
      }
      child.on('message', (m: Worker.WorkerMessage) => {
        if (m.t === 'ready') return readyResolve(E.right(undefined))
        if (m.t === 'fatal') return readyResolve(E.left(Wire.fromWireError(m.error)))
        const r = slot.running
        if (r === undefined || r.seq !== m.seq) return
        if (m.t === 'log') return r.call.log(m.message)
        const usage: Executor.Usage = { cpuSeconds: m.cpuSeconds, ...(r.peakRss === 0 ? {} : { peakRssBytes: r.peakRss }), startedAt: new Date(r.startedAt).toISOString(), finishedAt: new Date().toISOString() }
        if (m.t === 'failed') return finish(slot, { _tag: 'Failed', error: Wire.fromWireError(m.error), retry: m.retry, usage })
        const o = Wire.fromResult(m.result, r.call.node.id, undefined)
        finish(slot, o._tag === 'Json' ? { ...o, usage } : o._tag === 'Continuation' ? { ...o, usage } : o)
      })
      child.on('exit', (code, signal) => {
        slot.alive = false
        const i = idle.indexOf(slot)
        if (i >= 0) idle.splice(i, 1)
        const j = slots.indexOf(slot)
        if (j >= 0) slots.splice(j, 1)
        readyResolve(E.left(workerEnded(module.name, '(starting)', '', `a worker process exited before it was ready (${signal ?? `code ${String(code)}`})`, slot.tail)))
        const r = slot.running
        if (r !== undefined) {
          const node = r.call.node
          const oom = r.killedFor === 'ram' || slot.tail.some((l) => /heap out of memory|Allocation failed/.test(l))
          const error =
            r.killedFor === 'maxRunTime'
              ? InProcess.overRunTime(module.name, node.work, node.id, r.call.def.spec.maxRunTime as number)
              : r.killedFor === 'ram'
                ? overRam(module.name, node.work, node.id, r.call.resources.ram ?? 0, r.peakRss)
                : workerEnded(module.name, node.work, node.id, signal !== null ? `killed by signal ${signal}` : `process.exit(${String(code)}) or a crash: exit status ${String(code)}`, slot.tail)
          finish(slot, { _tag: 'Failed', error, retry: r.killedFor !== 'cancel', ...(oom ? { outOfMemory: true } : {}) })
        }
        // a waiting call gets a fresh worker
        if (!closing && waiting.length > 0 && slots.length < concurrency) void acquireFresh().then((s) => waiting.shift()?.(s))
      })
      child.on('error', () => undefined)
      slots.push(slot)
      return slot
    }

    const acquireFresh = (): Promise<Slot> => Promise.resolve(spawn())

    const acquire = (): Promise<Slot> => {
      const s = idle.pop()
      if (s !== undefined) return Promise.resolve(s)
      if (slots.length < concurrency) return Promise.resolve(spawn())
      return new Promise((resolve) => waiting.push(resolve))
    }

    const kill = (slot: Slot, why: Running['killedFor']): void => {
      if (slot.running !== undefined) slot.running.killedFor = why
      try {
        if (slot.child.pid !== undefined) process.kill(-slot.child.pid, 'SIGKILL')
      } catch {
        slot.child.kill('SIGKILL')
      }
    }

    const onRunAbort = (): void => {
      for (const s of [...slots]) if (s.running !== undefined) kill(s, 'cancel')
    }
    runSignal.addEventListener('abort', onRunAbort, { once: true })

    const start = async (call: Executor.Call): Promise<Executor.Outcome> => {
      const slot = await acquire()
      const ready = await slot.ready
      if (E.isLeft(ready)) {
        finishIdle(slot)
        return { _tag: 'Failed', error: ready.left, retry: false }
      }
      if (call.signal.aborted) {
        finishIdle(slot)
        return { _tag: 'Failed', error: Errors.make('CancelledError', 'ARV_CANCELLED', 'cancelled', {}), retry: false }
      }
      const mySeq = ++seq
      const dir = Path.join(poolDir, `call-${mySeq}`)
      return new Promise<Executor.Outcome>((resolve) => {
        const running: Running = { seq: mySeq, call, resolve, dir, startedAt: Date.now(), peakRss: 0, timer: undefined, killedFor: undefined }
        slot.running = running
        slot.tail = []
        const seconds = call.def.spec.maxRunTime as number | undefined
        const deadline = seconds === undefined ? undefined : Date.now() + seconds * 1000
        const ram = call.resources.ram
        if (deadline !== undefined || ram !== undefined) {
          running.timer = setInterval(() => {
            if (deadline !== undefined && Date.now() > deadline) return kill(slot, 'maxRunTime')
            if (ram === undefined) return
            const rss = rssOf(slot.child.pid)
            if (rss === undefined) return
            if (rss > running.peakRss) running.peakRss = rss
            if (rss > ram) kill(slot, 'ram')
          }, deadline !== undefined && ram === undefined ? Math.min(RSS_POLL_MS * 5, seconds! * 250) : RSS_POLL_MS)
        }
        const message: Worker.CallMessage = { t: 'call', seq: mySeq, id: call.node.id, work: call.node.work, args: call.args, attempt: call.attempt, cwd: Path.join(dir, 'work'), tmp: Path.join(dir, 'tmp') }
        slot.child.send(message)
      })
    }

    const finishIdle = (slot: Slot): void => {
      if (!slot.alive) return
      const next = waiting.shift()
      if (next !== undefined) next(slot)
      else idle.push(slot)
    }

    const close = async (): Promise<void> => {
      closing = true
      runSignal.removeEventListener('abort', onRunAbort)
      const exits = slots.map((s) => new Promise<void>((resolve) => (s.alive ? s.child.once('exit', () => resolve()) : resolve())))
      for (const s of [...slots]) {
        if (s.running !== undefined) kill(s, 'cancel')
        else s.child.disconnect?.()
      }
      const timer = setTimeout(() => {
        for (const s of [...slots]) kill(s, 'cancel')
      }, 2000)
      await Promise.all(exits)
      clearTimeout(timer)
      await FsP.rm(poolDir, { recursive: true, force: true })
    }

    return E.right<Errors.SdkError, Executor.Session>({ store: options.store, concurrency, start, close })
  },
})
