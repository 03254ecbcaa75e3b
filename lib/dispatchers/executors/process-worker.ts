/**
 * A worker process of the `process` executor. Started by the executor (never by a user) with
 * `CRUNCH_ROLE=process-worker`, the script's path and the module's name; it imports the script,
 * finds the module (among the script's exports, or handed over by the script's `runMain`), and
 * then serves calls sent over its IPC channel one at a time: each in its own empty working
 * directory with its own `TMPDIR`, the environment restored to the worker's (allow-listed) one
 * before every call. Results go back in their wire form (`wire.ts`); collections are written to
 * the store the executor shares.
 *
 * JavaScript globals a call changes stay changed for the next call served by the same worker
 * (as in any process pool); `process.exit` in a call ends the worker and fails that call only.
 *
 * @since 0.2.0
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as LocalStore from '../../collections/local-store.js'
import * as Store from '../../collections/store.js'
import * as Errors from '../../errors.js'
import * as Exec from '../../exec.js'
import * as Launcher from '../../exec/launcher.js'
import type * as Module from '../../module.js'
import * as Invoke from '../invoke.js'
import * as Wire from '../wire.js'

// -------------------------------------------------------------------------------------
// protocol
// -------------------------------------------------------------------------------------

/**
 * Parent → worker.
 *
 * @category models
 * @since 0.2.0
 */
export interface CallMessage {
  readonly t: 'call'
  readonly seq: number
  readonly id: string
  readonly work: string
  readonly args: ReadonlyArray<string>
  readonly attempt: number
  /** the call's own working directory (made empty by the executor) */
  readonly cwd: string
  /** the call's own temp directory */
  readonly tmp: string
}

/**
 * Worker → parent.
 *
 * @category models
 * @since 0.2.0
 */
export type WorkerMessage =
  | { readonly t: 'ready' }
  | { readonly t: 'fatal'; readonly error: Wire.WireError }
  | { readonly t: 'log'; readonly seq: number; readonly message: string }
  | { readonly t: 'result'; readonly seq: number; readonly result: Wire.Result; readonly cpuSeconds: number }
  | { readonly t: 'failed'; readonly seq: number; readonly error: Wire.WireError; readonly retry: boolean; readonly cpuSeconds: number }

// -------------------------------------------------------------------------------------
// serving
// -------------------------------------------------------------------------------------

const send = (m: WorkerMessage): void => {
  process.send?.(m)
}

let served = false
let onServed: () => void = () => undefined
const servedByRunMain = new Promise<void>((resolve) => (onServed = resolve))

const cpuNow = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/**
 * Serves calls of `module` over the IPC channel (once per process; later calls do nothing).
 *
 * @category interpreters
 * @since 0.2.0
 */
export const serve = (module: Module.AnyModule): void => {
  if (served) return
  served = true
  onServed()
  const storeDir = process.env['CRUNCH_STORE'] ?? ''
  const store = LocalStore.valueStore(Store.make(storeDir))
  const planOf = Invoke.planner(module)
  const baseEnv = { ...process.env }
  const baseCwd = process.cwd()
  const controller = new AbortController()
  // commands of ctx.exec start through one helper pool per worker
  const launcher = Launcher.make()
  process.on('disconnect', () => {
    controller.abort('the executor went away')
    void launcher.close().finally(() => process.exit(0))
  })
  let current = 0
  const host: Invoke.Host = {
    module,
    store,
    log: (_id, _work, message) => send({ t: 'log', seq: current, message }),
    tmp: () => process.env['TMPDIR'] ?? baseEnv['TMPDIR'] ?? '/tmp',
    exec: (ctx) => Exec.forCall({ work: ctx.work, signal: ctx.signal, tmp: ctx.tmp, launcher }),
  }
  const restore = (): void => {
    for (const k of Object.keys(process.env)) if (!(k in baseEnv)) delete process.env[k]
    for (const [k, v] of Object.entries(baseEnv)) process.env[k] = v
    try {
      process.chdir(baseCwd)
    } catch {
      // the pool directory is gone: the executor is closing
    }
  }
  process.on('message', (m: CallMessage) => {
    if (m.t !== 'call') return
    current = m.seq
    void (async () => {
      const cpu0 = cpuNow()
      restore()
      Fs.mkdirSync(m.cwd, { recursive: true })
      Fs.mkdirSync(m.tmp, { recursive: true })
      process.env['TMPDIR'] = m.tmp
      process.chdir(m.cwd)
      const plan = planOf(m.work)
      try {
        const o = await Invoke.invoke(host, plan, { id: m.id, work: m.work, args: m.args, attempt: m.attempt }, controller.signal)
        if (o._tag === 'Failed') return send({ t: 'failed', seq: m.seq, error: Wire.toWireError(o.error), retry: o.retry, cpuSeconds: cpuNow() - cpu0 })
        if (o._tag === 'Json') return send({ t: 'result', seq: m.seq, result: { v: 1, kind: 'value', json: o.json }, cpuSeconds: cpuNow() - cpu0 })
        const r = await Wire.toResult(o, plan, store, controller.signal)
        if (E.isLeft(r)) return send({ t: 'failed', seq: m.seq, error: Wire.toWireError(r.left), retry: false, cpuSeconds: cpuNow() - cpu0 })
        send({ t: 'result', seq: m.seq, result: r.right.result, cpuSeconds: cpuNow() - cpu0 })
      } catch (e) {
        send({ t: 'failed', seq: m.seq, error: Wire.toWireError(Errors.fromUnknown(e)), retry: true, cpuSeconds: cpuNow() - cpu0 })
      } finally {
        restore()
        try {
          Fs.rmSync(Path.dirname(m.cwd), { recursive: true, force: true })
        } catch {
          // left for the executor to remove with its pool directory
        }
      }
    })()
  })
  send({ t: 'ready' })
}

const isModule = (u: unknown): u is Module.AnyModule => typeof u === 'object' && u !== null && (u as { _tag?: unknown })._tag === 'Module'

/**
 * The worker's program: imports the script and serves its module.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const main = async (): Promise<void> => {
  const script = process.env['CRUNCH_SCRIPT'] ?? ''
  const wanted = process.env['CRUNCH_MODULE'] ?? ''
  // the script's runMain sees itself as the program and hands its module over (cli.ts)
  process.argv = [process.argv[0]!, script]
  let exports: Record<string, unknown>
  try {
    exports = (await import(Url.pathToFileURL(script).href)) as Record<string, unknown>
  } catch (e) {
    send({ t: 'fatal', error: Wire.toWireError(Errors.make('ScriptLoadError', 'ARV_SCRIPT_LOAD', `a worker process cannot load ${script}: ${e instanceof Error ? e.message.split('\n')[0] : Errors.kindOf(e)}`, { script }, { cause: e })) })
    return
  }
  if (served) return
  const found0 = Object.values(exports).find((v) => isModule(v) && v.name === wanted)
  if (found0 === undefined) {
    // not exported: the script's runMain hands the module over once the CLI is loaded
    await Promise.race([servedByRunMain, new Promise((r) => setTimeout(r, 10_000).unref())])
  }
  if (served) return
  const found = Object.values(exports).find((v) => isModule(v) && v.name === wanted) ?? (isModule(exports['default']) ? exports['default'] : undefined)
  if (found === undefined || !isModule(found) || found.name !== wanted) {
    send({
      t: 'fatal',
      error: Wire.toWireError(
        Errors.make('ModuleNotFoundError', 'ARV_PROCESS_MODULE', `a worker process loaded ${script} but found no module "${wanted}" in it`, { script, module: wanted }, {
          hint: 'export the module from the script (export const Pipeline = defineModule(...)), or call runMain(module, import.meta.url) in it, or run with isolation "none"',
        }),
      ),
    })
    return
  }
  serve(found)
}

if (process.env['CRUNCH_ROLE'] === 'process-worker' && process.argv[1] !== undefined && Fs.realpathSync(process.argv[1]) === Fs.realpathSync(Url.fileURLToPath(import.meta.url))) void main()
