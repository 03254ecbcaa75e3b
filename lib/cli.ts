/**
 * The edge: the only module that touches `process` (argv, env, stdout/stderr, exit codes,
 * signals). `runMain(module, import.meta.url)` makes a script a program and does nothing when
 * the script is imported; `main(argv)` is the `crunch` command (`crunch run script.ts ...`).
 *
 * @since 0.1.0
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as Flags from './cli-flags.js'
import type * as Dispatcher from './dispatcher.js'
import * as Auto from './dispatchers/auto.js'
import * as Local from './dispatchers/local.js'
import * as Errors from './errors.js'
import * as Graph from './graph.js'
import type * as Module from './module.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * How the CLI builds dispatchers; the crunch maker is plugged in by the `crunch` entry.
 *
 * @category models
 * @since 0.1.0
 */
export interface MainOptions {
  readonly makers?: Auto.Makers
  /** program name shown in --help */
  readonly command?: string
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const isMain = (importMetaUrl: string): boolean => {
  const script = process.argv[1]
  if (script === undefined) return false
  const real = (p: string): string => {
    try {
      return Fs.realpathSync(p)
    } catch {
      return Path.resolve(p)
    }
  }
  const self = real(Url.fileURLToPath(importMetaUrl))
  const target = real(script)
  return self === target || self.replace(/\.[cm]?[jt]s$/, '') === target.replace(/\.[cm]?[jt]s$/, '')
}

const progressReporter = (mode: Flags.RunFlags['progress']): { onEvent: (e: Dispatcher.Event) => void; stop: () => void } => {
  const tty = process.stderr.isTTY === true
  const effective = mode === 'auto' ? (tty ? 'live' : 'json') : mode
  let started = 0
  let done = 0
  let reused = 0
  let failed = 0
  let dirty = false
  const line = (): string => `▶ ${done} done (${reused} reused), ${started - done - failed} running, ${failed} failed`
  const timer =
    effective === 'none'
      ? undefined
      : setInterval(() => {
          if (!dirty) return
          dirty = false
          if (effective === 'live') process.stderr.write(`\r${line()}\x1b[K`)
          else process.stderr.write(JSON.stringify({ type: 'progress', started, done, reused, failed }) + '\n')
        }, effective === 'live' ? 100 : 1000)
  timer?.unref()
  return {
    onEvent: (e) => {
      dirty = true
      if (e.type === 'start') started++
      else if (e.type === 'done') {
        if (e.reused) {
          reused++
          started++
        }
        done++
      } else if (e.type === 'failed') {
        failed++
        if (effective === 'json') process.stderr.write(JSON.stringify({ type: 'failed', id: e.id, work: e.work, code: e.error.code, message: Errors.redact(e.error.message) }) + '\n')
      } else if (effective !== 'none') {
        process.stderr.write(effective === 'json' ? JSON.stringify({ type: 'log', id: e.id, work: e.work, message: Errors.redact(e.message) }) + '\n' : `\r\x1b[K[${e.work} ${e.id.slice(0, 8)}] ${Errors.redact(e.message)}\n`)
      }
    },
    stop: () => {
      if (timer !== undefined) clearInterval(timer)
      if (effective === 'live' && (started > 0 || reused > 0)) process.stderr.write(`\r${line()}\x1b[K\n`)
      if (effective === 'json') process.stderr.write(JSON.stringify({ type: 'summary', started, done, reused, failed }) + '\n')
    },
  }
}

const exitWith = (error: Errors.SdkError, verbose: boolean): void => {
  process.stderr.write(Errors.format(error, { stack: verbose, secrets: [process.env['ARVADOS_API_TOKEN'] ?? ''] }) + '\n')
  process.exitCode = error.code === 'ARV_USAGE' ? 2 : error.code === 'ARV_CANCELLED' ? 130 : 1
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * Runs `module` as a program with `argv` (flags only). Resolves when done; sets the exit code.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const runProgram = async (module: Module.AnyModule, argv: ReadonlyArray<string>, options: MainOptions = {}): Promise<void> => {
  if (process.env['CRUNCH_ROLE'] === 'work') return runWorkRole(module)
  if (process.env['CRUNCH_ROLE'] === 'process-worker') return (await import('./dispatchers/executors/process-worker.js')).serve(module)
  const parsed = Flags.parse(argv, module.params)
  if (E.isLeft(parsed)) return exitWith(parsed.left, false)
  const flags = parsed.right
  if (flags.help) {
    process.stdout.write(Flags.help(module.name, module.params, options.command ?? `crunch run ${Path.basename(process.argv[1] ?? 'script.ts')}`))
    return
  }
  let params: Record<string, unknown> = {}
  if (flags.paramsFile !== undefined) {
    try {
      const fromFile: unknown = JSON.parse(Fs.readFileSync(flags.paramsFile, 'utf8'))
      if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) return exitWith(Flags.usageError(`--params ${flags.paramsFile} must hold a JSON object`), false)
      params = { ...(fromFile as Record<string, unknown>) }
    } catch (cause) {
      return exitWith(Errors.make('UsageError', 'ARV_USAGE', `cannot read parameters from ${flags.paramsFile}`, {}, { cause, hint: 'give a readable JSON file' }), false)
    }
  }
  for (const [k, v] of Object.entries(flags.params)) params[k] = v

  if (flags.printGraph !== undefined) {
    const rec = Graph.recorder(module, undefined)
    try {
      const output: unknown = await module.run(params, rec.context)
      const graph: Graph.Graph = { module: module.name, nodes: [...rec.calls(), Graph.combine('run', output, module.returns)] }
      process.stdout.write(flags.printGraph === 'mermaid' ? Graph.toMermaid(graph) : flags.printGraph === 'dot' ? Graph.toDot(graph) : JSON.stringify(Graph.toJson(graph), null, 2) + '\n')
    } catch (e) {
      exitWith(Errors.fromUnknown(e), flags.verbose)
    }
    return
  }

  const cacheDir = flags.cacheDir ?? Path.resolve('.crunch')
  const autoInput: Auto.AutoInput = { env: process.env, ...(flags.dispatcher === undefined ? {} : { requested: flags.dispatcher }), local: { cacheDir, ...(flags.concurrency === undefined ? {} : { concurrency: flags.concurrency }) } }
  let makers = options.makers ?? { local: Local.make }
  const choice = Auto.choose(autoInput)
  const crunchOnly = flags.submit || flags.project !== undefined || flags.outputName !== undefined || flags.image !== undefined
  if (crunchOnly && E.isRight(choice) && choice.right === 'local') {
    return exitWith(Flags.usageError('--submit, --project, --output-name and --image are options of the crunch dispatcher', 'add --dispatcher crunch'), false)
  }
  if (E.isRight(choice) && choice.right === 'crunch' && makers.crunch === undefined) {
    // loaded only when asked for: a local run never loads the Arvados client
    const Crunch = await import('./dispatchers/crunch/index.js')
    const script = process.argv[1] ?? ''
    makers = {
      ...makers,
      crunch: (env) => Crunch.fromCommandLine({ script, env, home: Os.homedir(), submit: flags.submit, project: flags.project, outputName: flags.outputName, image: flags.image }),
    }
  }
  const chosen = Auto.autoDispatcher(autoInput, makers)
  if (E.isLeft(chosen)) return exitWith(chosen.left, false)

  const controller = new AbortController()
  let interrupts = 0
  const onSigint = (): void => {
    interrupts++
    if (interrupts === 1) {
      process.stderr.write('\ncancelling (Ctrl-C again to exit at once)…\n')
      controller.abort('interrupted (SIGINT)')
    } else process.exit(130)
  }
  process.on('SIGINT', onSigint)
  // node exits when nothing is left to wait for; with the run unfinished that means some
  // implementation returned a promise that can never settle
  const onBeforeExit = (): void => {
    process.off('beforeExit', onBeforeExit)
    exitWith(
      Errors.make('StalledRunError', 'ARV_STALLED', `the run of module "${module.name}" stalled: a work implementation returned a promise that never settles`, { module: module.name }, {
        hint: 'check that every promise your implementations return resolves or rejects (for example on a child process "close" or "error" event)',
      }),
      false,
    )
  }
  process.on('beforeExit', onBeforeExit)
  const progress = progressReporter(flags.progress)
  try {
    const result = await chosen.right.run(module, params, { signal: controller.signal, reuse: flags.reuse, keepGoing: flags.keepGoing, onEvent: progress.onEvent })()
    progress.stop()
    if (E.isLeft(result)) return exitWith(result.left, flags.verbose)
    process.stdout.write(JSON.stringify(JSON.parse(result.right.json), null, 2) + '\n')
  } finally {
    process.off('SIGINT', onSigint)
    process.off('beforeExit', onBeforeExit)
  }
}

/**
 * The work role, inside a container made by the crunch runner: runs the call in the container's
 * call file and writes its result; a failure is one message on stderr and exit code 1.
 *
 * @category interpreters
 * @since 0.1.0
 */
const runWorkRole = async (module: Module.AnyModule): Promise<void> => {
  const WorkRole = await import('./dispatchers/crunch/work-role.js')
  const controller = new AbortController()
  const onTerm = (): void => controller.abort('terminated (SIGTERM)')
  process.on('SIGTERM', onTerm)
  try {
    const started = Date.now()
    const r = await WorkRole.run(module, WorkRole.containerPaths, controller.signal, (e) => {
      if (e.type === 'log') process.stderr.write(`${Errors.redact(e.message)}\n`)
    })
    if (E.isLeft(r)) {
      exitWith(r.left, true)
      // last: the error as data, for the runner (the same error as a local run)
      process.stderr.write(`${Errors.redact(WorkRole.errorLine(r.left))}\n`)
      return
    }
    process.stderr.write(`arvados-crunch: ${r.right.kind} result written in ${Date.now() - started} ms\n`)
  } finally {
    process.off('SIGTERM', onTerm)
  }
}

/**
 * Makes a script a program: when the file that calls it is the one node was started with (or
 * the one `crunch run` was given), runs the module with the command-line flags; when the file
 * is imported (by a test, say), does nothing.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const runMain = (module: Module.AnyModule, importMetaUrl: string, options: MainOptions = {}): void => {
  if (!isMain(importMetaUrl)) return
  void runProgram(module, process.argv.slice(2), options).catch((e: unknown) => exitWith(Errors.fromUnknown(e), true))
}

const mainUsage = `Usage: crunch <command>

Commands:
  crunch run <script.ts> [parameters] [options]   run a pipeline script (TypeScript, no build step)
  crunch cache info|prune|gc [--cache-dir <dir>]  look at and trim the cache (\`crunch cache --help\`)
  crunch help                                     this text

Run \`crunch run <script.ts> --help\` for a script's parameters and options.
`

/**
 * The \`crunch\` command.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const main = async (argv: ReadonlyArray<string>, options: { readonly registerTypeScript?: () => Promise<void> } = {}): Promise<void> => {
  const [command, script, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(mainUsage)
    return
  }
  if (command === 'cache') return import('./cache/command.js').then(async (Cache) => E.match((e: Errors.SdkError) => exitWith(e, false), (text: string) => void process.stdout.write(text))(await Cache.main(argv.slice(1), process.cwd())))
  if (command !== 'run') return exitWith(Flags.usageError(`unknown command "${command}"`, 'commands: run, cache, help'), false)
  if (script === undefined) return exitWith(Flags.usageError('crunch run needs a script: crunch run <script.ts> [parameters]'), false)
  const file = Path.resolve(script)
  if (!Fs.existsSync(file)) return exitWith(Flags.usageError(`no such script: ${script}`, 'give the path of a .ts or .js file that calls runMain(module, import.meta.url)'), false)
  // the script's runMain sees itself as the program
  process.argv = [process.argv[0]!, file, ...rest]
  try {
    if (options.registerTypeScript !== undefined && /\.[cm]?tsx?$/.test(file)) await options.registerTypeScript()
    await import(Url.pathToFileURL(file).href)
  } catch (cause) {
    exitWith(
      Errors.make('ScriptLoadError', 'ARV_SCRIPT_LOAD', `cannot load ${script}: ${cause instanceof Error ? cause.message.split('\n')[0] : Errors.kindOf(cause)}`, { script }, {
        cause,
        hint: 'check the imports of the script (run it with --verbose for the stack); packages it imports must be installed where it lives',
      }),
      rest.includes('--verbose'),
    )
  }
}
