/**
 * `crunch report [<run>] [--cache-dir <dir>] [--output <file.html>]`: the HTML report of a past
 * run, and one line saying what it was.
 *
 * - no `<run>`: the latest local run, from the events it left under `<cache-dir>/runs`
 *   (`run-file.ts`);
 * - a run file (`.crunch/runs/<time>.jsonl`);
 * - a run on Arvados: the runner's container request uuid (`crunch run --submit` prints it), or
 *   the final output collection's uuid or portable data hash. The report is the one the runner
 *   kept in the run's provenance collection (`dispatchers/crunch/past-run.ts`); a submitted
 *   run's line adds the runner request's `cumulative_cost`.
 *
 * Everything written passes the one redaction rule with the configured API token.
 *
 * @since 0.2.0
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type * as Config from '../arvados/config.js'
import type * as PastRunTypes from '../dispatchers/crunch/past-run.js'
import * as Errors from '../errors.js'
import * as Redact from '../internal/redact.js'
import * as Redacted from '../report/redacted.js'
import * as Flags from '../cli-flags.js'
import { duration } from './progress.js'
import * as RunFile from './run-file.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What the command made: the page, where it goes (stdout when `output` is absent), and the line
 * for stderr.
 *
 * @category models
 * @since 0.2.0
 */
export interface Made {
  readonly html: string
  readonly output: string | undefined
  readonly summary: string
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Context {
  readonly env: Config.Env
  readonly home: string | undefined
  readonly cwd: string
  /** the configured API token(s), redacted from everything written */
  readonly secrets: ReadonlyArray<string>
  readonly signal?: AbortSignal
}

/**
 * @category constants
 * @since 0.2.0
 */
export const USAGE = `Usage: crunch report [<run>] [--cache-dir <dir>] [--output <file.html>]

Writes the HTML report of a past run (to stdout, or to --output) and says what the run was.
<run> is one of:
  (nothing)                   the latest local run, under <cache-dir>/runs (default .crunch/runs)
  <file.jsonl>                a local run's file under <cache-dir>/runs
  <xxxxx-xvhdp-…>             a run on Arvados: the runner's container request (crunch run --submit prints it)
  <xxxxx-4zz18-…> or <pdh>    a run on Arvados: its final output collection
`

const TARGETS = 'give a run file under .crunch/runs, the runner’s container request uuid (xxxxx-xvhdp-…), or the output collection’s uuid (xxxxx-4zz18-…) or portable data hash'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const shownIn = (cwd: string, p: string): string => {
  const rel = Path.relative(cwd, p)
  return rel === '' ? '.' : rel.startsWith('..') || Path.isAbsolute(rel) ? p : rel
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

const local = async (file: string, ctx: Context, output: string | undefined): Promise<E.Either<Errors.SdkError, Made>> => {
  let text: string
  try {
    text = Fs.readFileSync(file, 'utf8')
  } catch (cause) {
    return E.left(Errors.make('UsageError', 'ARV_USAGE', `cannot read the run file ${shownIn(ctx.cwd, file)}`, {}, { cause, hint: 'give a readable file under <cache-dir>/runs' }))
  }
  const Report = await import('../report/index.js')
  // run files are written redacted; redacted again with today's token, for files from elsewhere
  const input = RunFile.read(text)
  const run = Report.fromEvents({ ...input, events: input.events.map(Redacted.event(Redact.make(ctx.secrets))) })
  const t = run.totals
  const summary =
    `report of ${run.module} (${shownIn(ctx.cwd, file)}): ${run.outcome ?? 'unfinished'}, ${plural(t.calls, 'call')}: ${t.ran} ran, ${t.reused} reused, ${t.failed} failed` +
    (t.wallMs === undefined ? '' : `, ${duration(t.wallMs)}`) +
    (t.cost === undefined ? '' : `, cost ${t.cost.toFixed(4)}`)
  return E.right({ html: Report.render(run), output, summary })
}

const onArvados = async (target: PastRunTypes.Target, ctx: Context, output: string | undefined): Promise<E.Either<Errors.SdkError, Made>> => {
  const [ConfigFile, Client, Keep, PastRun] = await Promise.all([import('../arvados/config-file.js'), import('../arvados/client.js'), import('../keep/client.js'), import('../dispatchers/crunch/past-run.js')])
  const config = await ConfigFile.load(ctx.env, ctx.home)()
  if (E.isLeft(config)) return config
  const api = Client.make(config.right)
  const keep = Keep.make(config.right, { api })
  try {
    const found = await PastRun.find(api, keep, target, ctx.signal)
    if (E.isLeft(found)) return found
    const run = found.right
    const html = run.files['report.html']
    if (html === undefined) {
      return E.left(Errors.make('PastRunError', 'ARV_PAST_RUN_NO_PROVENANCE', `the provenance collection ${run.provenance} of ${run.output.uuid} holds no report.html`, { id: run.provenance }, { hint: 'it was not written by arvados-crunch 0.2 or later; its events.jsonl and graph.json may still be read with arv-get' }))
    }
    const calls = run.callsRun === undefined ? '' : `${plural(run.callsRun + (run.callsReused ?? 0), 'call')}: ${run.callsRun} ran, ${run.callsReused ?? 0} reused`
    const cost =
      run.request?.runner === true && run.request.cumulativeCost !== undefined
        ? `cost ${run.request.cumulativeCost.toFixed(4)} (cumulative_cost of the runner request: the runner and every call${run.callsCost === undefined ? '' : `; the calls alone ${run.callsCost.toFixed(4)}`})`
        : run.callsCost === undefined
          ? ''
          : `cost ${run.callsCost.toFixed(4)} (the calls’ containers)`
    const where = run.request === undefined ? `output ${run.output.uuid} (${run.output.pdh})` : `${run.request.runner ? 'runner request' : 'request'} ${run.request.uuid}, output ${run.output.uuid}`
    const summary = `report of ${run.module} on ${config.right.apiHost} (${where}): ${[calls, cost].filter((x) => x !== '').join(', ')}`
    return E.right({ html: Redact.make(ctx.secrets)(html), output, summary })
  } finally {
    await Promise.allSettled([keep.close(), api.close()])
  }
}

/**
 * Parses the arguments of `crunch report` and makes the report (nothing is written here).
 * `Right(undefined)` is `--help`.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const make = async (args: ReadonlyArray<string>, ctx: Context): Promise<E.Either<Errors.SdkError, Made | undefined>> => {
  let given: string | undefined
  let cacheDir = Path.resolve(ctx.cwd, '.crunch')
  let output: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--help' || a === '-h') return E.right(undefined)
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    if (flag === '--cache-dir' || flag === '--output') {
      const v = inline ?? args[++i]
      if (v === undefined || v === '') return E.left(Flags.usageError(`${flag} needs a value`, flag === '--output' ? 'crunch report --output run.html' : 'crunch report --cache-dir .crunch'))
      if (flag === '--cache-dir') cacheDir = Path.resolve(ctx.cwd, v)
      else output = Path.resolve(ctx.cwd, v)
    } else if (a.startsWith('-')) return E.left(Flags.usageError(`unknown option ${a} of crunch report`, 'options: --cache-dir <dir>, --output <file.html>; crunch report --help'))
    else if (given !== undefined) return E.left(Flags.usageError(`crunch report takes one run, got "${given}" and "${a}"`, TARGETS))
    else given = a
  }
  if (output !== undefined && !Fs.existsSync(Path.dirname(output))) {
    return E.left(Flags.usageError(`--output ${shownIn(ctx.cwd, output)}: the directory ${shownIn(ctx.cwd, Path.dirname(output))} does not exist`, 'create it first, or give a file in an existing directory'))
  }
  if (given === undefined) {
    const latest = RunFile.latest(cacheDir)
    if (latest === undefined) return E.left(Flags.usageError(`no runs recorded under ${shownIn(ctx.cwd, RunFile.dirOf(cacheDir))}`, `run a pipeline with crunch run first (each local run leaves a file there), or give --cache-dir of the run; ${TARGETS}`))
    return local(latest, ctx, output)
  }
  const PastRun = await import('../dispatchers/crunch/past-run.js')
  const target = PastRun.targetOf(given)
  if (target !== undefined) return onArvados(target, ctx, output)
  const file = Path.resolve(ctx.cwd, given)
  if (Fs.existsSync(file) && Fs.statSync(file).isFile()) return local(file, ctx, output)
  if (PastRun.looksLikeUuid(given)) {
    return E.left(Flags.usageError(`${given} is an Arvados uuid of type ${given.slice(6, 11)}, which names no run`, TARGETS))
  }
  const runs = RunFile.dirOf(cacheDir)
  const count = Fs.existsSync(runs) ? Fs.readdirSync(runs).filter((n) => n.endsWith('.jsonl')).length : 0
  return E.left(
    Flags.usageError(
      `no such run file: ${given}`,
      count === 0 ? `no runs are recorded under ${shownIn(ctx.cwd, runs)} either; ${TARGETS}` : `${plural(count, 'run')} recorded under ${shownIn(ctx.cwd, runs)}: crunch report with no argument reads the latest; ${TARGETS}`,
    ),
  )
}
