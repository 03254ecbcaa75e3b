/**
 * What the CLI shows while a run goes: a live line on a TTY (calls known, done, reused,
 * running, failed; elapsed; an ETA; the call running longest) or JSON lines on a pipe (the same
 * totals and `elapsedMs`, once a second when something changed), the calls' log lines, and a
 * summary at the end with the run's cost, container time and the time reuse saved.
 *
 * `--log-level`: `info` (default) shows log lines and progress; `error` only failures and the
 * summary; `none` nothing. `--quiet` is `--log-level error`.
 *
 * @since 0.2.0
 */
import type * as Dispatcher from '../dispatcher.js'
import * as Errors from '../errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.2.0
 */
export type LogLevel = 'info' | 'error' | 'none'

/**
 * Totals of a run so far.
 *
 * @category models
 * @since 0.2.0
 */
export interface Totals {
  /** distinct calls seen */
  readonly known: number
  readonly done: number
  readonly running: number
  readonly failed: number
  readonly reused: number
  readonly elapsedMs: number
  /** a guess from the pace so far; absent before the first call is done */
  readonly etaMs?: number
  /** the call running longest */
  readonly slowest?: { readonly id: string; readonly work: string; readonly runningMs: number }
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Tracker {
  readonly add: (e: Dispatcher.Event) => void
  readonly totals: (now: number) => Totals
  /** calls started or reused (the summary's `started`) */
  readonly started: () => number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Folds events into totals.
 *
 * @category constructors
 * @since 0.2.0
 */
export const tracker = (startedAt: number): Tracker => {
  const known = new Set<string>()
  const running = new Map<string, { readonly work: string; readonly since: number }>()
  let done = 0
  let failed = 0
  let reused = 0
  let started = 0
  return {
    started: () => started,
    add: (e) => {
      if (e.type === 'log' || e.work === 'run') return
      known.add(e.id)
      if (e.type === 'start') {
        started++
        running.set(e.id, { work: e.work, since: Date.now() })
      } else {
        running.delete(e.id)
        if (e.type === 'failed') failed++
        else {
          done++
          if (e.reused) {
            reused++
            started++
          }
        }
      }
    },
    totals: (now) => {
      const elapsedMs = now - startedAt
      let slowest: Totals['slowest']
      for (const [id, r] of running) if (slowest === undefined || now - r.since > slowest.runningMs) slowest = { id, work: r.work, runningMs: now - r.since }
      const left = known.size - done - failed
      const etaMs = done > 0 && left > 0 ? Math.round((elapsedMs / done) * left) : undefined
      return { known: known.size, done, running: running.size, failed, reused, elapsedMs, ...(etaMs === undefined ? {} : { etaMs }), ...(slowest === undefined ? {} : { slowest }) }
    },
  }
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * A duration as people read it: `850ms`, `12s`, `3m05s`, `2h04m`.
 *
 * @category utils
 * @since 0.2.0
 */
export const duration = (ms: number): string => {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}

/**
 * The TTY line.
 *
 * @category utils
 * @since 0.2.0
 */
export const line = (t: Totals): string =>
  `▶ ${t.done}/${t.known} done (${t.reused} reused), ${t.running} running, ${t.failed} failed · ${duration(t.elapsedMs)}` +
  (t.etaMs === undefined ? '' : ` · ETA ${duration(t.etaMs)}`) +
  (t.slowest === undefined ? '' : ` · slowest ${t.slowest.work} ${t.slowest.id.slice(0, 8)} ${duration(t.slowest.runningMs)}`)

/**
 * The run's cost and time from its stats, in words (empty when it has none).
 *
 * @category utils
 * @since 0.2.0
 */
export const costAndTime = (s: Dispatcher.Stats): string => {
  const parts: Array<string> = []
  if (s.cost !== undefined) parts.push(`cost ${s.cost.toFixed(4)}`)
  if (s.containerMs !== undefined && s.containerMs > 0) parts.push(`${duration(s.containerMs)} running calls`)
  if (s.savedMs !== undefined && s.savedMs > 0) parts.push(`${duration(s.savedMs)} saved by reuse`)
  return parts.join(', ')
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * The progress display on `out` (stderr): `mode` auto is live on a TTY, JSON lines otherwise.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const reporter = (
  mode: 'auto' | 'json' | 'none',
  level: LogLevel,
  out: { readonly isTTY?: boolean; readonly write: (s: string) => unknown },
): { readonly onEvent: (e: Dispatcher.Event) => void; readonly stop: (stats?: Dispatcher.Stats) => void } => {
  const effective = level === 'none' ? 'none' : mode === 'auto' ? (out.isTTY === true ? 'live' : 'json') : mode
  const showProgress = level === 'info'
  const t = tracker(Date.now())
  let dirty = false
  const timer =
    effective === 'none' || !showProgress
      ? undefined
      : setInterval(() => {
          if (!dirty && effective === 'json') return
          dirty = false
          const now = t.totals(Date.now())
          if (effective === 'live') out.write(`\r${line(now)}\x1b[K`)
          else out.write(JSON.stringify({ type: 'progress', ...now }) + '\n')
        }, effective === 'live' ? 200 : 1000)
  timer?.unref()
  return {
    onEvent: (e) => {
      dirty = true
      t.add(e)
      if (effective === 'none') return
      if (e.type === 'failed') {
        if (effective === 'json') out.write(JSON.stringify({ type: 'failed', id: e.id, work: e.work, code: e.error.code, message: Errors.redact(e.error.message) }) + '\n')
      } else if (e.type === 'log' && level === 'info') {
        out.write(effective === 'json' ? JSON.stringify({ type: 'log', id: e.id, work: e.work, message: Errors.redact(e.message) }) + '\n' : `\r\x1b[K[${e.work} ${e.id.slice(0, 8)}] ${Errors.redact(e.message)}\n`)
      }
    },
    stop: (stats) => {
      if (timer !== undefined) clearInterval(timer)
      if (effective === 'none') return
      const now = t.totals(Date.now())
      const extra = stats === undefined ? '' : costAndTime(stats)
      if (effective === 'live' && now.known > 0) out.write(`\r${line({ ...now, running: now.running })}${extra === '' ? '' : ` · ${extra}`}\x1b[K\n`)
      if (effective === 'json') {
        // the last progress line has the run's totals, cost and time; the summary keeps its shape
        const { etaMs: _eta, slowest: _slowest, ...totals } = now
        const rollup = stats === undefined ? {} : { ...(stats.cost === undefined ? {} : { cost: stats.cost }), ...(stats.containerMs === undefined ? {} : { containerMs: stats.containerMs }), ...(stats.savedMs === undefined ? {} : { savedMs: stats.savedMs }) }
        if (showProgress) out.write(JSON.stringify({ type: 'progress', ...totals, ...rollup }) + '\n')
        out.write(JSON.stringify({ type: 'summary', started: t.started(), done: now.done, reused: now.reused, failed: now.failed, ...(stats?.cost === undefined ? {} : { cost: stats.cost }) }) + '\n')
      }
    },
  }
}
