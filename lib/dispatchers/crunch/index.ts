/**
 * The `crunch` dispatcher: runs a module on Arvados containers. `make(options)` gives a
 * `Dispatcher` (a record of functions) that, for each run:
 * 1. bundles the script (or takes the bundle it already runs from, inside a submitted runner)
 *    and stores it in Keep (`bundle.ts`);
 * 2. either interprets the call graph from here, one container request per ready call
 *    (`runner.ts`), or with `submit` starts the runner itself as a container and follows it
 *    (`submit.ts`).
 *
 * The configuration comes the way Arvados users have it (`ARVADOS_API_HOST`,
 * `ARVADOS_API_TOKEN`, `ARVADOS_API_HOST_INSECURE`, `~/.config/arvados/settings.conf`), from
 * the environment *record* given (never `process.env` itself).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import * as Client from '../../arvados/client.js'
import * as Transport from '../../arvados/transport.js'
import type * as Config from '../../arvados/config.js'
import * as ConfigFile from '../../arvados/config-file.js'
import * as Codec from '../../codec.js'
import * as Store from '../../collections/store.js'
import type * as Dispatcher from '../../dispatcher.js'
import * as Errors from '../../errors.js'
import * as Keep from '../../keep/client.js'
import type * as Module from '../../module.js'
import * as Options from '../options.js'
import * as Bundle from './bundle.js'
import * as ClusterFit from './cluster-fit.js'
import * as Executor from './executor.js'
import * as Request from './request.js'
import * as Runner from './runner.js'
import * as Submit from './submit.js'

export * as WorkRole from './work-role.js'
export { Bundle, Request, Runner, Submit }

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface CrunchOptions {
  /** the script the module lives in: bundled and run by every work container */
  readonly script: string
  /** environment record (configuration, `CRUNCH_*` settings) */
  readonly env: Config.Env
  /** home directory, for `~/.config/arvados/settings.conf` */
  readonly home?: string | undefined
  /** a configuration to use instead of loading one from `env` */
  readonly config?: Config.Config
  /** container image of calls whose work names none (default `CRUNCH_IMAGE`, else `DEFAULT_IMAGE`) */
  readonly image?: string | undefined
  /** project (group uuid) that owns requests and outputs (default: the user's home project) */
  readonly project?: string | undefined
  /** name of the final output collection */
  readonly outputName?: string | undefined
  /** longest interval between polls, ms (default `CRUNCH_POLL_MS`, else 5000) */
  readonly pollMs?: number | undefined
  /** copies of each block the runner writes (the bundle, a JSON output): default `CRUNCH_KEEP_REPLICAS`, else 2 */
  readonly replicas?: number | undefined
  /** priority of the requests (1..1000, default 500) */
  readonly priority?: number | undefined
  /** start the runner itself as a container and follow it */
  readonly submit?: boolean | undefined
  /** with submit: the name of the runner's container request */
  readonly runnerName?: string | undefined
  /** the bundle already in Keep (a submitted runner gets it as `CRUNCH_BUNDLE`) */
  readonly bundle?: Request.Bundle | undefined
  /** inside a submitted runner: publish the final output as the container's output */
  readonly publishToContainer?: boolean | undefined
  /** local store where directories given as collections are ingested before their upload (default: the shared temp store) */
  readonly uploadStore?: string | undefined
  readonly client?: Client.Options
}

/**
 * Image used when neither the work, the options, nor `CRUNCH_IMAGE` names one. The image must
 * have `node` (>= 20) on its PATH; load it into the cluster with `arv-keepdocker node 20-slim`.
 *
 * @category constants
 * @since 0.1.0
 */
export const DEFAULT_IMAGE = 'node:20-slim'

const MIN_POLL_MS = 100

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

const badSetting = (name: string, value: string, hint: string) =>
  Errors.make('UsageError', 'ARV_USAGE', `${name}=${JSON.stringify(value)} is not valid`, { name }, { hint })

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const numberSetting = (env: Config.Env, name: string, given: number | undefined, min: number, max: number): E.Either<Errors.SdkError, number | undefined> => {
  if (given !== undefined) return Number.isFinite(given) && given >= min && given <= max ? E.right(given) : E.left(badSetting(name, String(given), `give a number from ${min} to ${max}`))
  const text = env[name]
  if (text === undefined || text === '') return E.right(undefined)
  const n = Number(text)
  return Number.isFinite(n) && n >= min && n <= max ? E.right(n) : E.left(badSetting(name, text, `give a number from ${min} to ${max}`))
}

/**
 * The settings of a crunch dispatcher from options and the environment record. Pure.
 *
 * @category constructors
 * @since 0.1.0
 */
export const settings = (
  options: CrunchOptions,
): E.Either<Errors.SdkError, { readonly image: string; readonly pollMs: number; readonly priority: number; readonly replicas: number; readonly bundle: Request.Bundle | undefined }> => {
  const poll = numberSetting(options.env, 'CRUNCH_POLL_MS', options.pollMs, MIN_POLL_MS, 600_000)
  if (E.isLeft(poll)) return poll
  const priority = numberSetting(options.env, 'CRUNCH_PRIORITY', options.priority, 1, 1000)
  if (E.isLeft(priority)) return priority
  const replicas = numberSetting(options.env, 'CRUNCH_KEEP_REPLICAS', options.replicas, 1, 16)
  if (E.isLeft(replicas)) return replicas
  const bundlePdh = options.bundle?.pdh ?? options.env['CRUNCH_BUNDLE']
  if (bundlePdh !== undefined && bundlePdh !== '' && !/^[0-9a-f]{32}\+\d+$/.test(bundlePdh)) return E.left(badSetting('CRUNCH_BUNDLE', bundlePdh, 'give the portable data hash of a bundle collection'))
  return E.right({
    image: options.image ?? (options.env['CRUNCH_IMAGE'] === undefined || options.env['CRUNCH_IMAGE'] === '' ? DEFAULT_IMAGE : options.env['CRUNCH_IMAGE']),
    pollMs: poll.right ?? 5000,
    priority: Math.round(priority.right ?? Request.DEFAULTS.priority),
    replicas: Math.round(replicas.right ?? 2),
    bundle: options.bundle ?? (bundlePdh === undefined || bundlePdh === '' ? undefined : { pdh: bundlePdh, file: Bundle.FILE }),
  })
}

/**
 * The crunch dispatcher.
 *
 * @example
 * const d = Crunch.make({ script: 'pipeline.ts', env: process.env, project: 'zzzzz-j7d0g-…' })
 * const result = await d.run(Pipeline, { input: 'zzzzz-4zz18-…' })()
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: CrunchOptions): Dispatcher.Dispatcher => ({
  name: options.submit === true ? 'crunch (submitted runner)' : 'crunch',
  run: <M extends Module.AnyModule>(module: M, params: unknown, runOptions: Dispatcher.RunOptions = {}): TE.TaskEither<Errors.SdkError, Dispatcher.RunResult<Module.OutputOf<M>>> => async () => {
    const s = settings(options)
    if (E.isLeft(s)) return s
    // a parameter that does not fit fails before anything is bundled or sent
    const checked = Codec.decodeUnknown(module.params, params, { module: module.name, work: 'run', position: 'parameters' })
    if (E.isLeft(checked)) return checked
    // so does an unknown option, or one this backend cannot honour, whichever stage would reach it
    const known = Options.check(module)
    if (E.isLeft(known)) return known
    const honoured = Executor.validate(module)
    if (E.isLeft(honoured)) return honoured
    let config = options.config
    if (config === undefined) {
      const loaded = await ConfigFile.load(options.env, options.home)()
      if (E.isLeft(loaded)) return loaded
      config = loaded.right
    }
    const api = Client.make(config, { ...Transport.progressHook(runOptions.onEvent), ...options.client })
    const keep = Keep.make(config, { api, replicas: s.right.replicas, ...Transport.progressHook(runOptions.onEvent, 'Keep') })
    try {
      // a work no instance type of the cluster can hold fails here, before anything is submitted
      const fits = await ClusterFit.checkCluster(api, module)
      if (E.isLeft(fits)) return fits
      let bundle = s.right.bundle
      if (bundle === undefined) {
        const built = await Bundle.build(options.script)
        if (E.isLeft(built)) return built
        const uploaded = await Bundle.upload(built.right, api, keep, options.project)
        if (E.isLeft(uploaded)) return uploaded
        bundle = uploaded.right
      }
      const rc: Runner.RunnerContext = {
        api,
        keep,
        bundle,
        image: s.right.image,
        project: options.project,
        outputName: options.outputName,
        pollMs: s.right.pollMs,
        minPollMs: Math.min(s.right.pollMs, 250),
        priority: s.right.priority,
        replicas: s.right.replicas,
        publishToContainer: options.publishToContainer === true,
        // the Python SDK's switch: no websocket event bus, polls only
        events: (options.env['ARVADOS_DISABLE_WEBSOCKETS'] ?? '') === '',
        uploads: options.publishToContainer === true ? undefined : Store.make(options.uploadStore ?? Store.defaultDir(options.env, options.home)),
      }
      if (options.submit === true) return await Submit.submit(rc, module, params, runOptions, { name: options.runnerName })
      return await Runner.interpret(rc, module, params, runOptions)
    } finally {
      await Promise.allSettled([api.close(), keep.close()])
    }
  },
})

/**
 * The crunch dispatcher as the CLI builds it: the script node runs, the environment, and the
 * command-line options. Inside a submitted runner (`CRUNCH_ROLE=runner`) the bundle is the one
 * it runs from and the output is published as its container's.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromCommandLine = (input: {
  readonly script: string
  readonly env: Config.Env
  readonly home: string | undefined
  readonly submit: boolean
  readonly project: string | undefined
  readonly outputName: string | undefined
  readonly image: string | undefined
  readonly priority?: number | undefined
  readonly runnerName?: string | undefined
}): E.Either<Errors.SdkError, Dispatcher.Dispatcher> => {
  const inRunner = input.env['CRUNCH_ROLE'] === 'runner'
  if (inRunner && input.submit) return E.left(badSetting('--submit', 'true', 'a submitted runner does not submit itself again; drop --submit'))
  const options: CrunchOptions = {
    script: input.script,
    env: input.env,
    home: input.home,
    image: input.image,
    project: input.project ?? (input.env['CRUNCH_PROJECT'] === '' ? undefined : input.env['CRUNCH_PROJECT']),
    outputName: input.outputName,
    priority: input.priority,
    runnerName: input.runnerName,
    submit: input.submit,
    publishToContainer: inRunner,
  }
  const s = settings(options)
  return E.isLeft(s) ? s : E.right(make(options))
}

/**
 * The crunch entry of `autoDispatcher`'s makers, for programs that choose their dispatcher
 * themselves.
 *
 * @example
 * const chosen = autoDispatcher({ env: process.env }, { local: Local.make, crunch: Crunch.maker({ script: fileURLToPath(import.meta.url) }) })
 *
 * @category constructors
 * @since 0.1.0
 */
export const maker =
  (options: Omit<CrunchOptions, 'env'>) =>
  (env: Config.Env): E.Either<Errors.SdkError, Dispatcher.Dispatcher> => {
    const full: CrunchOptions = { ...options, env }
    const s = settings(full)
    return E.isLeft(s) ? s : E.right(make(full))
  }
