/**
 * The in-process executor: calls run in this process, as soon as they are ready, at most
 * `concurrency` at a time (default: CPU count); async implementations overlap and synchronous
 * ones cost no promise. Fastest, and what a debugger can step through; but calls share the
 * process — its globals, `process.env`, working directory — and a synchronous implementation
 * cannot be stopped while it runs (see the `process` executor for container semantics).
 *
 * `maxRunTime` is honoured for implementations that await: at the deadline the call fails and
 * its `ctx.signal` is aborted.
 *
 * @since 0.2.0
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type * as Module from '../../module.js'
import type * as ValueStore from '../../value-store.js'
import * as Errors from '../../errors.js'
import * as Exec from '../../exec.js'
import type * as Executor from '../executor.js'
import * as Invoke from '../invoke.js'

/**
 * @category models
 * @since 0.2.0
 */
export interface InProcessOptions {
  readonly store: ValueStore.ValueStore
  readonly concurrency?: number | undefined
  readonly exec?: Invoke.Host['exec']
  readonly tmp?: Invoke.Host['tmp']
}

/**
 * A call ran longer than its `maxRunTime`.
 *
 * @category errors
 * @since 0.2.0
 */
export const overRunTime = (module: string, work: string, callId: string, seconds: number) =>
  Errors.make('MaxRunTimeError', 'ARV_MAX_RUN_TIME', `work "${work}" [call ${callId.slice(0, 12)}] ran longer than its maxRunTime of ${seconds} s and was stopped`, { module, work, callId, seconds }, {
    hint: 'raise maxRunTime on the work, or make the work faster (it sees ctx.signal aborted at the deadline)',
  })

/**
 * @category constructors
 * @since 0.2.0
 */
export const make = (options: InProcessOptions): Executor.Executor => ({
  name: 'in-process',
  open: (module: Module.AnyModule) => {
    const planOf = Invoke.planner(module)
    // ctx.tmp: a private directory made on first use, removed when the call ends
    const tmps = new Map<string, string>()
    const host: Invoke.Host = {
      module,
      store: options.store,
      log: () => undefined,
      exec: options.exec ?? ((ctx) => Exec.forCall({ work: ctx.work, signal: ctx.signal, tmp: ctx.tmp })),
      tmp:
        options.tmp ??
        ((callId) => {
          const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), `arvados-crunch-call-${callId.slice(0, 8)}-`))
          tmps.set(callId, dir)
          return dir
        }),
    }
    const removeTmp = (callId: string): void => {
      const dir = tmps.get(callId)
      if (dir === undefined) return
      tmps.delete(callId)
      Fs.rmSync(dir, { recursive: true, force: true })
    }
    const settled = (callId: string, o: Executor.Outcome | Promise<Executor.Outcome>): Executor.Outcome | Promise<Executor.Outcome> => {
      if (!(o instanceof Promise)) {
        if (tmps.size > 0) removeTmp(callId)
        return o
      }
      return o.finally(() => removeTmp(callId))
    }
    const start = (call: Executor.Call): Executor.Outcome | Promise<Executor.Outcome> => {
      const seconds = call.def.spec.maxRunTime as number | undefined
      // the call is its own target (id, work, args, attempt, log)
      if (seconds === undefined) return settled(call.id, Invoke.invoke(host, planOf(call.work), call, call.signal))
      // a deadline: the call gets its own signal, aborted by the run's or at the deadline
      const own = new AbortController()
      const onAbort = (): void => own.abort(call.signal.reason)
      call.signal.addEventListener('abort', onAbort, { once: true })
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<Executor.Outcome>((resolve) => {
        timer = setTimeout(() => {
          own.abort('maxRunTime')
          resolve({ _tag: 'Failed', error: overRunTime(module.name, call.node.work, call.node.id, seconds), retry: true })
        }, seconds * 1000)
      })
      const o = Invoke.invoke(host, planOf(call.work), call, own.signal)
      const cleanup = (): void => {
        clearTimeout(timer)
        call.signal.removeEventListener('abort', onAbort)
      }
      if (!(o instanceof Promise)) {
        cleanup()
        return settled(call.node.id, o)
      }
      return settled(call.node.id, Promise.race([o, deadline]).finally(cleanup))
    }
    return Promise.resolve(
      E.right<Errors.SdkError, Executor.Session>({
        store: options.store,
        concurrency: Math.max(1, Math.floor(options.concurrency ?? Os.availableParallelism())),
        start,
        close: () => Promise.resolve(),
      }),
    )
  },
})
