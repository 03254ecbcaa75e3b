/**
 * Helpers of the report specs: run a module through the local dispatcher collecting its events
 * with the time each was seen (until the interpreters stamp events themselves), and drive a real
 * headless Chromium (Debian's `chromium`) to dump the DOM it built and to take screenshots.
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import type * as Dispatcher from '../../lib/dispatcher.js'
import * as Local from '../../lib/dispatchers/local.js'
import * as Graph from '../../lib/graph.js'
import type * as Module from '../../lib/module.js'
import * as Report from '../../lib/report/index.js'

export interface Ran {
  readonly record: Report.RunRecord
  readonly result: Dispatcher.RunResult<unknown> | undefined
  readonly events: ReadonlyArray<Report.TimedEvent>
}

/** runs `module` locally and folds its events; `stamp` may rewrite each event (e.g. add usage) */
export const runLocally = async (
  module: Module.AnyModule,
  params: unknown,
  options: { readonly cacheDir?: string; readonly keepGoing?: boolean; readonly stamp?: (e: Report.TimedEvent) => Report.TimedEvent } = {},
): Promise<Ran> => {
  const events: Array<Report.TimedEvent> = []
  const stamp = options.stamp ?? ((e) => e)
  const startedAt = new Date().toISOString()
  const dispatcher = Local.make(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir })
  const outcome = await dispatcher.run(module, params, { keepGoing: options.keepGoing ?? false, onEvent: (e) => events.push(stamp({ ...e, at: new Date().toISOString() })) })()
  const finishedAt = new Date().toISOString()
  const result = outcome._tag === 'Right' ? outcome.right : undefined
  const graph = result?.graph ?? (await graphOfRun(module, params))
  const record = Report.fromEvents({
    module: module.name,
    params: params as never,
    events,
    graph,
    requested: Report.requestedOf(module),
    startedAt,
    finishedAt,
    outcome: outcome._tag === 'Right' ? 'succeeded' : 'failed',
    ...(outcome._tag === 'Left' ? { error: outcome.left } : {}),
  })
  return { record, result, events }
}

/**
 * The graph run() makes (what `--print-graph` shows): a failed run returns no graph, so its calls
 * that never started are found here (calls made by implementations are not).
 */
const graphOfRun = async (module: Module.AnyModule, params: unknown): Promise<Graph.Graph> => {
  const rec = Graph.recorder(module, undefined)
  const output: unknown = await module.run(params, rec.context)
  return { module: module.name, nodes: [...rec.calls(), Graph.combine('run', output, module.returns)] }
}

/** the Chromium binary, or undefined where none is installed */
export const chromium = (): string | undefined => {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = ChildProcess.spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim()
  }
  return undefined
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--hide-scrollbars', '--allow-file-access-from-files']

const browse = (bin: string, args: ReadonlyArray<string>, profile: string): ChildProcess.SpawnSyncReturns<string> =>
  ChildProcess.spawnSync(bin, [...FLAGS, `--user-data-dir=${profile}`, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 256 * 1024 * 1024 })

/** the DOM Chromium built from the file, after its scripts ran, as HTML text */
export const dumpDom = (bin: string, htmlFile: string, profile: string): string => {
  const r = browse(bin, ['--dump-dom', `file://${Path.resolve(htmlFile)}`], profile)
  if (r.status !== 0) throw new Error(`chromium --dump-dom exited ${String(r.status)}: ${r.stderr.slice(-2000)}`)
  return r.stdout
}

/** a PNG of the page */
export const screenshot = (bin: string, htmlFile: string, png: string, profile: string, size = '1280,1600'): void => {
  const r = browse(bin, [`--screenshot=${Path.resolve(png)}`, `--window-size=${size}`, `file://${Path.resolve(htmlFile)}`], profile)
  if (r.status !== 0 || !Fs.existsSync(png)) throw new Error(`chromium --screenshot exited ${String(r.status)}: ${r.stderr.slice(-2000)}`)
}

/** how many start tags in `html` carry all of `classes` */
export const countClass = (html: string, tag: string, ...classes: ReadonlyArray<string>): number => {
  let n = 0
  for (const m of html.matchAll(new RegExp(`<${tag}\\b[^>]*\\bclass="([^"]*)"`, 'g'))) {
    const have = new Set(m[1]!.split(/\s+/))
    if (classes.every((c) => have.has(c))) n++
  }
  return n
}
