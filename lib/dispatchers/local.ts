/**
 * The local dispatcher: the one interpreter (`interpret.ts`) over a local executor. With
 * `isolation: 'none'` (the default for programs) calls run in this process (`in-process`);
 * with `isolation: 'process'` (the CLI's default) each call runs in a pooled worker process
 * with container semantics (`process`). Every argument and result crosses its codec (encode →
 * JSON → decode), exactly as on a cluster. Collections live in a local content-addressed
 * store. Finished calls are kept in a result cache keyed by call id, so a re-run re-executes
 * only what had not finished.
 *
 * @since 0.1.0
 */
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type * as Dispatcher from '../dispatcher.js'
import type * as Errors from '../errors.js'
import * as Exec from '../exec.js'
import * as Launcher from '../exec/launcher.js'
import type * as Module from '../module.js'
import * as LocalStore from '../collections/local-store.js'
import * as Store from '../collections/store.js'
import type * as ValueStore from '../value-store.js'
import type * as Executor from './executor.js'
import * as InProcess from './executors/in-process.js'
import * as ProcessExecutor from './executors/process.js'
import * as Interpret from './interpret.js'
import * as ResultCache from './result-cache.js'
import * as SiteBook from './site-book.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * How calls are isolated from each other and from the run: `none` runs them in this process;
 * `process` runs each in a worker process with its own environment, working and temp
 * directories, `maxRunTime` and `ram` enforced.
 *
 * @category models
 * @since 0.2.0
 */
export type Isolation = 'none' | 'process'

/**
 * @category models
 * @since 0.1.0
 */
export interface LocalOptions {
  /** how many implementations run at once (default: CPU count) */
  readonly concurrency?: number
  /**
   * where results (`results/`) and collections (`store/`) are kept; without it nothing is
   * reused across runs and collections go to the user's store (`Store.defaultDir`)
   */
  readonly cacheDir?: string
  /** how collections are stored and resolved (default: the local content-addressed store) */
  readonly store?: ValueStore.ValueStore
  /** default `none` */
  readonly isolation?: Isolation
  /** the script file the module is defined in (needed by `isolation: 'process'`: workers load it) */
  readonly script?: string
  /** environment variables passed to isolated calls besides the allow-list (`process` only) */
  readonly env?: Readonly<Record<string, string>>
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The local store directory of these options.
 *
 * @category constructors
 * @since 0.2.0
 */
export const storeDir = (options: LocalOptions): string => (options.cacheDir === undefined ? Store.defaultDir(process.env) : Path.join(options.cacheDir, 'store'))

/**
 * The executor these options ask for.
 *
 * @category constructors
 * @since 0.2.0
 */
export const executor = (options: LocalOptions, store: ValueStore.ValueStore, launcher?: Launcher.Launcher): Executor.Executor =>
  options.isolation === 'process'
    ? ProcessExecutor.make({ store, storeDir: storeDir(options), script: options.script, concurrency: options.concurrency, env: options.env })
    : InProcess.make({ store, concurrency: options.concurrency, ...(launcher === undefined ? {} : { exec: (ctx) => Exec.forCall({ work: ctx.work, signal: ctx.signal, tmp: ctx.tmp, launcher }) }) })

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: LocalOptions = {}): Dispatcher.Dispatcher => ({
  name: options.isolation === 'process' ? 'local (process isolation)' : 'local',
  run:
    <M extends Module.AnyModule>(module: M, params: unknown, runOptions: Dispatcher.RunOptions = {}): TE.TaskEither<Errors.SdkError, Dispatcher.RunResult<Module.OutputOf<M>>> =>
    async () => {
      const store = options.store ?? LocalStore.valueStore(Store.make(storeDir(options)))
      const reuse = runOptions.reuse !== false && options.cacheDir !== undefined
      const cache = reuse ? ResultCache.open(Path.join(options.cacheDir!, 'results')) : E.right(ResultCache.none)
      if (E.isLeft(cache)) return cache
      const sites = options.cacheDir === undefined ? SiteBook.none : SiteBook.open(Path.join(options.cacheDir, 'sites'))
      // commands of ctx.exec start through one helper per run (started on first use)
      const launcher = Launcher.make()
      try {
        return await Interpret.run(executor(options, store, launcher), module, params, { ...runOptions, reuse, cache: cache.right, sites })
      } finally {
        await launcher.close()
        // the store made for this run: its block workers end with the run
        if (options.store === undefined) await store.close?.()
      }
    },
})
