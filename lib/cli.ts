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
import * as ConfigFile from './arvados/config-file.js'
import * as Flags from './cli-flags.js'
import * as Output from './cli/output.js'
import * as Progress from './cli/progress.js'
import * as RunFile from './cli/run-file.js'
import * as Script from './cli/script.js'
import { RUN_MAIN_EVENT } from './run-main.js'
import * as Codec from './codec.js'
import type * as Dispatcher from './dispatcher.js'
import * as Auto from './dispatchers/auto.js'
import * as Local from './dispatchers/local.js'
import * as Errors from './errors.js'
import * as Graph from './graph.js'
import * as IdentityCompute from './identity/compute.js'
import { withoutSecrets } from './internal/without-secrets.js'
import type * as Module from './module.js'
import * as Redact from './internal/redact.js'
import type * as ReportTypes from './report/index.js'
import * as Redacted from './report/redacted.js'

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
  /** the script file the module is defined in: call ids then cover the files its works reach (code identity) */
  readonly script?: string
}


// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** whether two paths name the same script (symlinks resolved; `x.js` for `x.ts`) */
const sameFile = (a: string, b: string): boolean => {
  const real = (p: string): string => {
    try {
      return Fs.realpathSync(p)
    } catch {
      return Path.resolve(p)
    }
  }
  const [x, y] = [real(a), real(b)]
  return x === y || x.replace(/\.[cm]?[jt]s$/, '') === y.replace(/\.[cm]?[jt]s$/, '')
}

const isMain = (importMetaUrl: string): boolean => {
  const script = process.argv[1]
  return script !== undefined && sameFile(Url.fileURLToPath(importMetaUrl), script)
}

/** the configured API token(s), removed in every form from every line printed (lib/internal/redact.ts) */
const tokens = (): ReadonlyArray<string> => ConfigFile.secrets(process.env, Os.homedir())

/** the module with the code identity of its script; without it (a warning), ids cover each implementation's own text */
const withIdentity = async (module: Module.AnyModule, script: string): Promise<Module.AnyModule> => {
  const identified = await IdentityCompute.withCodeIdentity(module, script)
  if (E.isRight(identified)) return identified.right
  process.stderr.write(`warning: ${Errors.format(identified.left)}\n`)
  return module
}

/** the params as the run file and the report show them: secrets left out; null when too deep to walk (the run says why) */
const shownParams = (module: Module.AnyModule, params: unknown): ReturnType<typeof withoutSecrets> => {
  try {
    return withoutSecrets(module.params.encode(params))
  } catch {
    return null
  }
}

/** a path relative to the working directory when it is under it */
const shown = (p: string): string => {
  const rel = Path.relative(process.cwd(), p)
  return rel === '' ? '.' : rel.startsWith('..') || Path.isAbsolute(rel) ? p : rel
}

const exitWith = (error: Errors.SdkError, verbose: boolean, secrets: ReadonlyArray<string> = []): void => {
  // without --verbose, a failed call still says where in the user's code it failed
  process.stderr.write(Errors.format(verbose ? error : Script.withUserFrame(error), { stack: verbose, secrets: [...tokens(), ...secrets] }) + '\n')
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
export const runProgram = async (given: Module.AnyModule, argv: ReadonlyArray<string>, options: MainOptions = {}): Promise<void> => {
  const module = options.script === undefined ? given : await withIdentity(given, options.script)
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
    let text: string
    try {
      text = Fs.readFileSync(flags.paramsFile, 'utf8')
    } catch (cause) {
      return exitWith(Errors.make('UsageError', 'ARV_USAGE', `--params ${flags.paramsFile}: cannot read the file`, {}, { cause, hint: 'give the path of a readable JSON file' }), false)
    }
    const fromFile = Flags.paramsFromFile(flags.paramsFile, text, module.params)
    if (E.isLeft(fromFile)) return exitWith(fromFile.left, false)
    params = fromFile.right
  }
  for (const [k, v] of Object.entries(flags.params)) params[k] = v
  // the values of Secret parameters are redacted from everything printed
  const secrets = Codec.secretsIn(module.params, params)
  // the parameters cross their codec here, so that a missing or wrong one is a usage error
  // naming its flag; the dispatcher decodes the same values again
  const decoded = Flags.decodeParams(module.name, module.params, params, flags.spelled, flags.paramsFile)
  if (E.isLeft(decoded)) return exitWith(decoded.left, false)

  if (flags.printGraph !== undefined) {
    // the interpreter's own evaluation of run (what a run would record first), nothing runs
    const { evaluate } = await import('./dispatchers/interpret.js')
    const graph = await evaluate(module, decoded.right)
    if (E.isLeft(graph)) return exitWith(graph.left, flags.verbose, secrets)
    if (flags.printGraph === 'html') {
      const Report = await import('./report/index.js')
      process.stdout.write(Report.render(Report.fromEvents({ module: module.name, params: shownParams(module, decoded.right), events: [], graph: graph.right, requested: Report.requestedOf(module) })))
    } else process.stdout.write(flags.printGraph === 'mermaid' ? Graph.toMermaid(graph.right) : flags.printGraph === 'dot' ? Graph.toDot(graph.right) : JSON.stringify(Graph.toJson(graph.right), null, 2) + '\n')
    return
  }

  const cacheDir = flags.cacheDir ?? Path.resolve('.crunch')
  if (flags.report !== undefined && !Fs.existsSync(Path.dirname(Path.resolve(flags.report)))) {
    return exitWith(Flags.usageError(`--report ${flags.report}: the directory ${Path.dirname(flags.report)} does not exist`, 'create it first, or give a file in an existing directory'), false)
  }
  if (flags.explain) {
    if (flags.dispatcher === 'crunch') return exitWith(Flags.usageError('--explain reads the local result cache; on Arvados, earlier container requests are found by call id when the run starts', 'run crunch explain without --dispatcher crunch'), false)
    const [Explain, ResultCache, SiteBook] = await Promise.all([import('./dispatchers/explain.js'), import('./dispatchers/result-cache.js'), import('./dispatchers/site-book.js')])
    const cache = ResultCache.open(Path.join(cacheDir, 'results'))
    if (E.isLeft(cache)) return exitWith(cache.left, flags.verbose)
    const explained = await Explain.explain(module, decoded.right, { cache: cache.right, sites: SiteBook.open(Path.join(cacheDir, 'sites')), reuse: flags.reuse })
    await cache.right.close()
    if (E.isLeft(explained)) return exitWith(explained.left, flags.verbose)
    process.stdout.write(Explain.render(explained.right))
    return
  }
  // the script goes along for isolation "process", whose workers load it (the dispatcher picks the default isolation)
  const script = process.argv[1]
  const local: Local.LocalOptions = {
    cacheDir,
    ...(flags.concurrency === undefined ? {} : { concurrency: flags.concurrency }),
    ...(flags.isolation === undefined ? {} : { isolation: flags.isolation }),
    ...(script === undefined ? {} : { script }),
  }
  const autoInput: Auto.AutoInput = { env: process.env, ...(flags.dispatcher === undefined ? {} : { requested: flags.dispatcher }), local }
  let makers = options.makers ?? { local: Local.make }
  const choice = Auto.choose(autoInput)
  const crunchOnly = Flags.OPTIONS.filter((o) => o.crunch === true && argv.some((a) => a === `--${o.flag}` || a.startsWith(`--${o.flag}=`))).map((o) => `--${o.flag}`)
  if (crunchOnly.length > 0 && E.isRight(choice) && choice.right === 'local') {
    return exitWith(Flags.usageError(`${crunchOnly.join(', ')} ${crunchOnly.length === 1 ? 'is an option' : 'are options'} of the crunch dispatcher`, 'add --dispatcher crunch'), false)
  }
  if ((!flags.wait || flags.name !== undefined) && !flags.submit) return exitWith(Flags.usageError(`${flags.wait ? '--name' : '--no-wait'} is an option of a submitted runner`, 'add --submit (the runner then runs in a container on Arvados)'), false)
  if (E.isRight(choice) && choice.right === 'crunch' && makers.crunch === undefined) {
    // loaded only when asked for: a local run never loads the Arvados client
    const Crunch = await import('./dispatchers/crunch/index.js')
    const script = process.argv[1] ?? ''
    makers = {
      ...makers,
      crunch: (env) => Crunch.fromCommandLine({ script, env, home: Os.homedir(), submit: flags.submit, project: flags.project, outputName: flags.outputName, image: flags.image, priority: flags.priority, runnerName: flags.name }),
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
  const progress = Progress.reporter(flags.progress, flags.logLevel, process.stderr)
  // every event is redacted once, before it is shown or written (the API token, Secret params)
  const hide = Redact.make([...tokens(), ...secrets])
  const redacted = Redacted.event(hide)
  // the run's events, kept under the cache directory (`crunch report` renders them) and for --report
  const publicParams = shownParams(module, decoded.right)
  const runFile = RunFile.open(cacheDir, module.name, publicParams)
  const events: Array<Dispatcher.Event> = []
  const record = (given: Dispatcher.Event): void => {
    const e = redacted(given)
    progress.onEvent(e)
    runFile.add(e)
    if (flags.report !== undefined) events.push(e.at === undefined ? { ...e, at: new Date().toISOString() } : e)
  }
  const writeReport = async (result: E.Either<Errors.SdkError, Dispatcher.RunResult<unknown>>, startedAt: string): Promise<void> => {
    await runFile.end(E.isRight(result) ? 'succeeded' : 'failed', E.isRight(result) ? result.right.stats : undefined, E.isRight(result) ? result.right.graph : undefined)
    if (flags.report === undefined) return
    // a submitted run's calls ran in its runner: the page is the one the runner kept on Arvados
    const runner = flags.submit && E.isRight(result) ? events.find((e) => e.type === 'start' && e.work === 'runner') : undefined
    if (runner !== undefined) {
      const ReportCommand = await import('./cli/report-command.js')
      const made = await ReportCommand.make([runner.id, '--output', flags.report], { env: process.env, home: Os.homedir(), cwd: process.cwd(), secrets: [...tokens(), ...secrets] })
      if (E.isRight(made) && made.right !== undefined) return writeOut(made.right.html, made.right.summary)
      if (E.isLeft(made)) process.stderr.write(`warning: the runner's report could not be read, this one has only the runner: ${Errors.format(made.left, { secrets: [...tokens(), ...secrets] })}\n`)
    }
    const Report = await import('./report/index.js')
    const run = Report.fromEvents({
      module: module.name,
      params: publicParams,
      events: events as ReadonlyArray<ReportTypes.TimedEvent>,
      ...(E.isRight(result) ? { graph: result.right.graph } : { error: Redacted.error(hide, result.left) }),
      requested: Report.requestedOf(module),
      startedAt,
      finishedAt: new Date().toISOString(),
      outcome: E.isRight(result) ? 'succeeded' : 'failed',
    })
    writeOut(Report.render(run))
  }
  const writeOut = (html: string, summary?: string): void => {
    if (flags.report === undefined) return
    try {
      Fs.writeFileSync(flags.report, html)
      // like the summary line: shown unless --log-level none
      if (flags.logLevel !== 'none') process.stderr.write(`${summary === undefined ? '' : `${summary}\n`}wrote the run report to ${shown(Path.resolve(flags.report))}\n`)
    } catch (cause) {
      // the run itself is over: its output still goes to stdout
      process.stderr.write(`warning: ${Errors.format(Errors.make('UsageError', 'ARV_USAGE', `--report ${flags.report}: cannot write the report there`, {}, { cause, hint: 'crunch report renders it again from the run file under <cache-dir>/runs' }))}\n`)
    }
  }
  // --no-wait: once the runner's request is committed, say which it is and leave it running
  const onEvent = flags.wait
    ? record
    : (e: Dispatcher.Event): void => {
        record(e)
        if (e.type === 'start' && e.work === 'runner') {
          process.stdout.write(`${e.id}\n`)
          process.exit(0)
        }
      }
  try {
    const startedAt = new Date().toISOString()
    const result = await chosen.right.run(module, params, { signal: controller.signal, reuse: flags.reuse, keepGoing: flags.keepGoing, onEvent })()
    progress.stop(E.isRight(result) ? result.right.stats : undefined)
    await writeReport(result, startedAt)
    if (E.isLeft(result)) return exitWith(result.left, flags.verbose, secrets)
    process.stdout.write(JSON.stringify(JSON.parse(result.right.json), null, 2) + '\n')
    if (flags.outputDir !== undefined) {
      const reader = chosen.right.name.startsWith('crunch') ? await Output.keepReader(process.env, Os.homedir()) : E.right(undefined)
      if (E.isLeft(reader)) return exitWith(reader.left, flags.verbose)
      const written = await Output.write(result.right.value, Path.resolve(flags.outputDir), controller.signal, reader.right?.reattach)
      await reader.right?.close()
      if (E.isLeft(written)) return exitWith(written.left, flags.verbose)
      for (const w of written.right) process.stderr.write(`wrote ${w.pdh} to ${shown(w.path)}\n`)
      if (written.right.length === 0) process.stderr.write(`--output-dir ${flags.outputDir}: the output holds no collection; nothing was written\n`)
    }
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
const runWorkRole = async (module: Module.AnyModule): Promise<void> => (await import('./dispatchers/crunch/work-main.js')).runWork(module)

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
  void runProgram(module, process.argv.slice(2), { script: Url.fileURLToPath(importMetaUrl), ...options }).catch((e: unknown) => exitWith(Errors.fromUnknown(e), true))
}

const mainUsage = `Usage: crunch <command>

Commands:
  crunch run [options] <script> [parameters] [options]   run a pipeline script (.ts, .mts, .js, .mjs)
  crunch explain <script> [parameters] [options]         which calls a run would reuse, and why; runs nothing
  crunch cache info|prune|gc [--cache-dir <dir>]         look at and trim the cache (\`crunch cache --help\`)
  crunch report [<run>] [--cache-dir <dir>] [--output <file.html>]
                                                         the HTML report of a past run: the latest local one, a run file,
                                                         or a run on Arvados (runner request or output collection)
  crunch help                                            this text
  crunch --version                                       the version of arvados-crunch

Options may come before or after the script; parameters (from the module's params codec) after it.
Run \`crunch run <script> --help\` for a script's parameters and options.
`

/** the package's version, read from its package.json (one level above lib/ and dist/) */
const version = (): string => {
  try {
    const pkg = JSON.parse(Fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string }
    return `${pkg.name ?? 'arvados-crunch'} ${pkg.version ?? 'unknown'}`
  } catch {
    return 'arvados-crunch (version unknown)'
  }
}

/**
 * Splits the arguments of `crunch run` into the script and the rest: options may come before
 * the script (`crunch run --dispatcher crunch x.ts --n 3`), parameters only after it (or as
 * `--name=value` anywhere).
 *
 * @category utils
 * @since 0.1.0
 */
export const splitRunArgs = (args: ReadonlyArray<string>): E.Either<Errors.SdkError, { readonly script: string | undefined; readonly rest: ReadonlyArray<string> }> => {
  const before: Array<string> = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (!arg.startsWith('-') || arg === '-') return E.right({ script: arg, rest: [...args.slice(i + 1), ...before] })
    if (arg === '--') {
      const script = args[i + 1]
      return E.right({ script, rest: [...args.slice(i + 2), ...before] })
    }
    before.push(arg)
    if (arg.includes('=') || arg === '-h') continue
    const option = Flags.optionOf(arg.slice(2))
    if (option === undefined) {
      return E.left(Flags.usageError(`${arg} comes before the script, and is not an option of crunch run`, 'parameters of the module go after the script: crunch run <script> --name value'))
    }
    if (option.value !== undefined) {
      const value = args[i + 1]
      if (value === undefined) return E.left(Flags.usageError(`${arg} needs a value`))
      before.push(value)
      i++
    }
  }
  return E.right({ script: undefined, rest: before })
}

/** `crunch report` (`cli/report-command.ts`): the page to stdout or a file, the line to stderr */
const reportCommand = async (args: ReadonlyArray<string>): Promise<void> => {
  const ReportCommand = await import('./cli/report-command.js')
  const made = await ReportCommand.make(args, { env: process.env, home: Os.homedir(), cwd: process.cwd(), secrets: tokens() })
  if (E.isLeft(made)) return exitWith(made.left, false)
  if (made.right === undefined) {
    process.stdout.write(ReportCommand.USAGE)
    return
  }
  const { html, output, summary } = made.right
  if (output === undefined) {
    process.stdout.write(html)
    process.stderr.write(`${summary}\n`)
    return
  }
  try {
    Fs.writeFileSync(output, html)
  } catch (cause) {
    return exitWith(Errors.make('UsageError', 'ARV_USAGE', `--output ${shown(output)}: cannot write the report there`, {}, { cause, hint: 'give a writable file path' }), false)
  }
  process.stderr.write(`${summary}\nwrote the report to ${shown(output)}\n`)
}

const runUsage = `Usage: crunch run [options] <script> [parameters] [options]

Runs the pipeline module of <script> (a .ts, .mts, .js or .mjs file that calls runMain).
Run \`crunch run <script> --help\` for its parameters and every option.
`

/**
 * The \`crunch\` command.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const main = async (argv: ReadonlyArray<string>, options: { readonly loadTypeScript?: (file: string) => Promise<string> } = {}): Promise<void> => {
  // `crunch explain <script> [parameters]` is `crunch run <script> [parameters] --explain`
  const [command, ...args] = argv[0] === 'explain' ? ['run', ...argv.slice(1), '--explain'] : argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(command === 'help' && args[0] === 'run' ? runUsage : mainUsage)
    return
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    process.stdout.write(`${version()}\n`)
    return
  }
  if (command === 'cache') return import('./cache/command.js').then(async (Cache) => E.match((e: Errors.SdkError) => exitWith(e, false), (text: string) => void process.stdout.write(text))(await Cache.main(argv.slice(1), process.cwd())))
  if (command === 'report') return reportCommand(args)
  if (command !== 'run') return exitWith(Flags.usageError(`unknown command "${command}"`, 'commands: run, explain, report, cache, help; crunch --version prints the version'), false)
  const split = splitRunArgs(args)
  if (E.isLeft(split)) return exitWith(split.left, false)
  const { script, rest } = split.right
  if (script === undefined) {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(runUsage)
      return
    }
    return exitWith(Flags.usageError('crunch run needs a script: crunch run <script.ts> [parameters]'), false)
  }
  const file = Path.resolve(script)
  if (!Fs.existsSync(file) || !Fs.statSync(file).isFile()) return exitWith(Flags.usageError(`no such script: ${script}`, 'give the path of a .ts or .js file that calls runMain(module, import.meta.url)'), false)
  // the script's runMain sees itself as the program
  process.argv = [process.argv[0]!, file, ...rest]
  let ranMain = false
  const onRunMain = (url: unknown): void => {
    if (typeof url === 'string' && url.startsWith('file:') && sameFile(Url.fileURLToPath(url), file)) ranMain = true
  }
  const events = process as NodeJS.EventEmitter
  events.on(RUN_MAIN_EVENT, onRunMain)
  try {
    const url = options.loadTypeScript !== undefined && /\.[cm]?tsx?$/.test(file) ? await options.loadTypeScript(file) : Url.pathToFileURL(file).href
    const exported = (await import(url)) as Record<string, unknown>
    if (!ranMain) exitWith(Script.noRunMain(script, exported), false)
  } catch (cause) {
    exitWith(Script.loadError(script, file, cause), rest.includes('--verbose'))
  } finally {
    events.off(RUN_MAIN_EVENT, onRunMain)
  }
}
