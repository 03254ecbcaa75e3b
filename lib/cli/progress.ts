/**
 * What the CLI shows while a run goes. The core is pure: `tracker` folds events (each with the
 * time it was seen) into `Totals`, and `line` / `jsonLine` render totals as the TTY line and as
 * a JSON progress line. `reporter` is the effectful edge: a timer that writes them to stderr.
 *
 * - JSON lines (`--progress json`, or auto on a pipe): `{"type":"progress","known":…,"done":…,
 *   "running":…,"failed":…,"reused":…,"elapsedMs":…}` plus `etaMs` and `slowest` when known,
 *   once a second when something changed; at the end one last progress line with the run's
 *   `cost`, `containerMs` and `savedMs`, and a `summary` line.
 * - TTY (`--progress auto` on a terminal): one line redrawn in place, e.g.
 *   `▶ 12/40 done (3 reused), 4 running, 0 failed · 1m05s · ETA 2m10s · slowest align(file) 45s`,
 *   clipped to the terminal's width.
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
 * The call running longest.
 *
 * @category models
 * @since 0.2.0
 */
export interface Slowest {
  readonly id: string
  readonly work: string
  /** the work and the kinds of its arguments, e.g. `align(file, string 5)` (never their values) */
  readonly label: string
  readonly runningMs: number
}

/**
 * Totals of a run so far.
 *
 * @category models
 * @since 0.2.0
 */
export interface Totals {
  /** calls seen so far: a call is known once it starts or is found reused */
  readonly known: number
  /** calls finished with a value (reused ones included) */
  readonly done: number
  readonly running: number
  readonly failed: number
  /** done calls whose result came from an earlier run */
  readonly reused: number
  /** since the run started */
  readonly elapsedMs: number
  /**
   * A guess at the time left: the calls not finished, at the pace calls that ran have finished
   * so far (reused calls, which take no time, do not count toward the pace). Absent before the
   * first call that ran is done, and when nothing is left. Calls not yet made are not known, so
   * the guess grows as a run makes more calls.
   */
  readonly etaMs?: number
  readonly slowest?: Slowest
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Tracker {
  /** folds one event, seen at `now` (ms since the epoch) */
  readonly add: (e: Dispatcher.Event, now: number) => void
  readonly totals: (now: number) => Totals
  /** calls started or reused (the summary's `started`) */
  readonly started: () => number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Folds events into totals. Deterministic: every time comes from the caller.
 *
 * @category constructors
 * @since 0.2.0
 */
export const tracker = (startedAt: number): Tracker => {
  const known = new Set<string>()
  const running = new Map<string, { readonly work: string; readonly label: string; readonly since: number }>()
  let done = 0
  let failed = 0
  let reused = 0
  let started = 0
  return {
    started: () => started,
    add: (e, now) => {
      if (e.type === 'log' || e.work === 'run') return
      known.add(e.id)
      if (e.type === 'start') {
        // a retry is the same call: it keeps its first start
        if (!running.has(e.id)) {
          started++
          running.set(e.id, { work: e.work, label: e.label ?? e.work, since: now })
        }
        return
      }
      running.delete(e.id)
      if (e.type === 'failed') failed++
      else {
        done++
        if (e.reused) {
          reused++
          started++
        }
      }
    },
    totals: (now) => {
      const elapsedMs = Math.max(0, now - startedAt)
      let slowest: Slowest | undefined
      for (const [id, r] of running) if (slowest === undefined || now - r.since > slowest.runningMs) slowest = { id, work: r.work, label: r.label, runningMs: Math.max(0, now - r.since) }
      const left = known.size - done - failed
      const ran = done - reused
      const etaMs = ran > 0 && left > 0 ? Math.round((elapsedMs / ran) * left) : undefined
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
 * The TTY line: done of known (reused), running, failed, elapsed, ETA, and the call running
 * longest (its label, the first 8 characters of its id, for how long). Clipped to `columns - 1`
 * characters when given, so that redrawing it in place never wraps.
 *
 * @category utils
 * @since 0.2.0
 */
export const line = (t: Totals, columns?: number): string => {
  const text =
    `▶ ${t.done}/${t.known} done (${t.reused} reused), ${t.running} running, ${t.failed} failed · ${duration(t.elapsedMs)}` +
    (t.etaMs === undefined ? '' : ` · ETA ${duration(t.etaMs)}`) +
    (t.slowest === undefined ? '' : ` · slowest ${t.slowest.label} ${t.slowest.id.slice(0, 8)} ${duration(t.slowest.runningMs)}`)
  if (columns === undefined || columns < 2 || [...text].length < columns) return text
  return [...text].slice(0, columns - 2).join('') + '…'
}

/**
 * A JSON progress line (without its newline); `extra` adds the run's rollup at the end.
 *
 * @category utils
 * @since 0.2.0
 */
export const jsonLine = (t: Totals, extra: Readonly<Record<string, number>> = {}): string => JSON.stringify({ type: 'progress', ...t, ...extra })

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

/** the rollup fields of stats that a run has */
const rollupOf = (s: Dispatcher.Stats | undefined): Readonly<Record<string, number>> =>
  s === undefined ? {} : { ...(s.cost === undefined ? {} : { cost: s.cost }), ...(s.containerMs === undefined ? {} : { containerMs: s.containerMs }), ...(s.savedMs === undefined ? {} : { savedMs: s.savedMs }) }

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * The progress display on `out` (stderr): `mode` auto is live on a TTY, JSON lines otherwise.
 * Events should come redacted (the CLI redacts each once); their texts pass the pattern
 * redaction again here.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const reporter = (
  mode: 'auto' | 'json' | 'none',
  level: LogLevel,
  out: { readonly isTTY?: boolean; readonly columns?: number; readonly write: (s: string) => unknown },
  clock: () => number = Date.now,
): { readonly onEvent: (e: Dispatcher.Event) => void; readonly stop: (stats?: Dispatcher.Stats) => void } => {
  const effective = level === 'none' ? 'none' : mode === 'auto' ? (out.isTTY === true ? 'live' : 'json') : mode
  const showProgress = level === 'info'
  const t = tracker(clock())
  let dirty = false
  const timer =
    effective === 'none' || !showProgress
      ? undefined
      : setInterval(() => {
          if (!dirty && effective === 'json') return
          dirty = false
          const now = t.totals(clock())
          if (effective === 'live') out.write(`\r${line(now, out.columns)}\x1b[K`)
          else out.write(jsonLine(now) + '\n')
        }, effective === 'live' ? 200 : 1000)
  timer?.unref()
  return {
    onEvent: (e) => {
      dirty = true
      t.add(e, clock())
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
      const now = t.totals(clock())
      const extra = stats === undefined ? '' : costAndTime(stats)
      if (effective === 'live' && now.known > 0) out.write(`\r${line(now)}${extra === '' ? '' : ` · ${extra}`}\x1b[K\n`)
      if (effective === 'json') {
        // the last progress line has the run's totals, cost and time; the summary keeps its shape
        const { etaMs: _eta, slowest: _slowest, ...totals } = now
        if (showProgress) out.write(jsonLine(totals, rollupOf(stats)) + '\n')
        out.write(JSON.stringify({ type: 'summary', started: t.started(), done: now.done, reused: now.reused, failed: now.failed, ...(stats?.cost === undefined ? {} : { cost: stats.cost }) }) + '\n')
      }
    },
  }
}
