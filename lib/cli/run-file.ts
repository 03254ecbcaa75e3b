/**
 * Each local run of the CLI leaves its events as JSON lines under the cache directory
 * (`<cacheDir>/runs/<start time>.jsonl`): a first line naming the module and its params
 * (secrets left out), every event with its time, and a last line with how it ended. `crunch
 * report` renders the latest one (or a given file) as the HTML run report.
 *
 * @since 0.2.0
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import type * as Dispatcher from '../dispatcher.js'
import * as Errors from '../errors.js'
import { withoutSecrets } from '../internal/without-secrets.js'
import * as Graph from '../graph.js'
import * as GraphJson from '../report/graph-json.js'
import type * as Report from '../report/index.js'

/** the directory of run files under a cache directory */
export const dirOf = (cacheDir: string): string => Path.join(cacheDir, 'runs')

/** the longest time an event waits to be written to the run file, ms */
const FLUSH_MS = 200
/** events written at once at most */
const FLUSH_LINES = 2000

/**
 * Starts a run file; its writer. Events are written in batches (at most `FLUSH_MS` late);
 * `end` writes what is left.
 *
 * @category constructors
 * @since 0.2.0
 */
export const open = (cacheDir: string, module: string, params: unknown): { readonly file: string; readonly add: (e: Dispatcher.Event) => void; readonly end: (outcome: 'succeeded' | 'failed', stats?: Dispatcher.Stats, graph?: Graph.Graph) => Promise<void> } => {
  const startedAt = new Date().toISOString()
  const file = Path.join(dirOf(cacheDir), `${startedAt.replace(/:/g, '-')}.jsonl`)
  // best effort: a run goes on without its file (the cache directory then says what is wrong)
  try {
    Fs.mkdirSync(dirOf(cacheDir), { recursive: true })
  } catch {
    // the stream's open fails too, silently
  }
  const out = Fs.createWriteStream(file)
  out.on('error', () => undefined)
  // lines are written together, at most FLUSH_MS after the first of them: a write per event cost
  // ~0.1 ms of CPU per call at 10,000 calls (docs/performance.md)
  let pending: Array<string> = [JSON.stringify({ type: 'run', module, params: withoutSecrets(params), startedAt }) + '\n']
  let timer: ReturnType<typeof setTimeout> | undefined
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    if (pending.length === 0) return
    out.write(pending.join(''))
    pending = []
  }
  const later = (): void => {
    if (pending.length >= FLUSH_LINES) flush()
    else timer ??= setTimeout(flush, FLUSH_MS)
  }
  later()
  return {
    file,
    add: (e) => {
      const at = e.at ?? new Date().toISOString()
      pending.push(JSON.stringify(e.type === 'failed' ? { ...e, at, error: { code: e.error.code, message: Errors.redact(e.error.message) } } : e.type === 'log' ? { ...e, at, message: Errors.redact(e.message) } : { ...e, at }) + '\n')
      later()
    },
    end: (outcome, stats, graph) =>
      new Promise((resolve) => {
        flush()
        // a stream that failed (no directory, no space) never calls back
        if (out.errored !== null || out.destroyed) return resolve()
        out.once('error', () => resolve())
        out.end(JSON.stringify({ type: 'end', outcome, finishedAt: new Date().toISOString(), ...(stats === undefined ? {} : { stats }), ...(graph === undefined ? {} : { graph: Graph.toJson(graph) }) }) + '\n', () => resolve())
      }),
  }
}

/**
 * The newest run file under a cache directory.
 *
 * @category utils
 * @since 0.2.0
 */
export const latest = (cacheDir: string): string | undefined => {
  let names: Array<string>
  try {
    names = Fs.readdirSync(dirOf(cacheDir)).filter((n) => n.endsWith('.jsonl'))
  } catch {
    return undefined
  }
  const last = names.sort().pop()
  return last === undefined ? undefined : Path.join(dirOf(cacheDir), last)
}

/**
 * A run file as the report's input (an unreadable line is skipped).
 *
 * @category destructors
 * @since 0.2.0
 */
export const read = (text: string): Report.RunInput => {
  let module = 'unknown'
  let params: Report.RunInput['params'] = null
  let startedAt: string | undefined
  let finishedAt: string | undefined
  let outcome: 'succeeded' | 'failed' | undefined
  let graph: Graph.Graph | undefined
  const events: Array<Report.TimedEvent> = []
  for (const l of text.split('\n')) {
    if (l.trim() === '') continue
    let r: Record<string, unknown>
    try {
      r = JSON.parse(l) as Record<string, unknown>
    } catch {
      continue
    }
    if (r['type'] === 'run') {
      module = String(r['module'])
      params = (r['params'] ?? null) as Report.RunInput['params']
      startedAt = typeof r['startedAt'] === 'string' ? r['startedAt'] : undefined
    } else if (r['type'] === 'end') {
      finishedAt = typeof r['finishedAt'] === 'string' ? r['finishedAt'] : undefined
      outcome = r['outcome'] === 'failed' ? 'failed' : 'succeeded'
      graph = GraphJson.fromJson(r['graph'])
    } else if (r['type'] === 'failed') {
      const e = r['error'] as { code?: string; message?: string } | undefined
      events.push({ ...(r as unknown as Report.TimedEvent), error: Errors.make('CallFailedError', e?.code ?? 'ARV_UNEXPECTED', e?.message ?? 'failed', {}) } as Report.TimedEvent)
    } else if (typeof r['at'] === 'string') events.push(r as unknown as Report.TimedEvent)
  }
  return { module, params, events, ...(startedAt === undefined ? {} : { startedAt }), ...(finishedAt === undefined ? {} : { finishedAt }), ...(outcome === undefined ? {} : { outcome }), ...(graph === undefined ? {} : { graph }) }
}
