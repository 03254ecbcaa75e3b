/**
 * Why a call was reused or run again. Every `start` and `done` event carries the decision and
 * its reason; `crunch explain` prints them without running anything. A call site (where in the
 * program a call is made: `run/align#3` is the fourth `align` call made by `run`) remembers the
 * call made there last time, so a changed call can say what changed: its code, or which
 * argument.
 *
 * Only what already feeds a call's id is compared (digests of the arguments' encoded forms and
 * the work's code identity), so a `Secret` argument is compared by its marker, never its value.
 *
 * @since 0.2.0
 */
import * as Crypto from 'node:crypto'
import type * as Graph from '../graph.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.2.0
 */
export type Reason =
  /** the local result cache held this call's result */
  | 'cache-hit'
  /** an earlier container request of this call finished with an output (Arvados) */
  | 'earlier-request'
  /** Arvados reused a finished container for the new request */
  | 'container-reused'
  /** nothing earlier: this call site is new, or its earlier result was never kept */
  | 'no-earlier-result'
  /** `--no-reuse` (RunOptions.reuse false) */
  | 'reuse-off'
  /** the work says `reuse: false` */
  | 'work-reuse-false'
  /** an earlier result exists but cannot be read back (torn, altered, or its blocks are gone) */
  | 'result-unreadable'
  /** this very call ran before and did not finish */
  | 'earlier-attempt-failed'
  /** the call site made a call with other arguments last time */
  | 'argument-changed'
  /** the work's code changed since */
  | 'code-changed'

/**
 * @category models
 * @since 0.2.0
 */
export interface Decision {
  readonly reused: boolean
  readonly reason: Reason
  /** e.g. "argument 2", or the files that changed */
  readonly detail?: string
}

/**
 * What a call site made last time.
 *
 * @category models
 * @since 0.2.0
 */
export interface SiteRecord {
  readonly id: string
  /** the work's code identity */
  readonly code: string
  /** a digest of each argument's encoded form, as it fed the call id */
  readonly args: ReadonlyArray<string>
  /** whether the call finished */
  readonly ok: boolean
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * The record of a call as made now.
 *
 * @category utils
 * @since 0.2.0
 */
export const recordOf = (node: Graph.CallNode, code: string, ok: boolean): SiteRecord => ({
  id: node.id,
  code,
  args: node.args.map((a) => Crypto.hash('sha256', a._tag === 'Json' ? a.json : a.canonical, 'hex').slice(0, 16)),
  ok,
})

/**
 * Names call sites as calls are recorded, in recording order: `run/align#3` is the fourth
 * `align` call made by `run`; `run/split#0/align#1` the second made by the first `split`.
 *
 * @category utils
 * @since 0.2.0
 */
export const siteNamer = (): { readonly name: (node: Graph.CallNode) => string; readonly of: (id: string) => string | undefined } => {
  const sites = new Map<string, string>()
  const counts = new Map<string, number>()
  return {
    name: (node) => {
      const known = sites.get(node.id)
      if (known !== undefined) return known
      const key = `${node.parent === undefined ? 'run' : (sites.get(node.parent) ?? node.parent)}/${node.work}`
      const k = counts.get(key) ?? 0
      counts.set(key, k + 1)
      const site = `${key}#${k}`
      sites.set(node.id, site)
      return site
    },
    of: (id) => sites.get(id),
  }
}

/**
 * Why a call that has no reusable result runs, given what its site made last time.
 *
 * @category utils
 * @since 0.2.0
 */
export const explainMiss = (previous: SiteRecord | undefined, now: SiteRecord): Decision => {
  if (previous === undefined) return { reused: false, reason: 'no-earlier-result' }
  if (previous.id === now.id) return previous.ok ? { reused: false, reason: 'no-earlier-result' } : { reused: false, reason: 'earlier-attempt-failed' }
  if (previous.code !== now.code) return { reused: false, reason: 'code-changed' }
  const changed = now.args.flatMap((a, i) => (previous.args[i] === a ? [] : [i + 1]))
  if (changed.length > 0 || previous.args.length !== now.args.length) {
    return { reused: false, reason: 'argument-changed', detail: changed.length === 0 ? 'the number of arguments' : `argument${changed.length > 1 ? 's' : ''} ${changed.join(', ')}` }
  }
  return { reused: false, reason: 'no-earlier-result' }
}

/**
 * A reason in words, for progress lines and `crunch explain`.
 *
 * @category utils
 * @since 0.2.0
 */
export const describe = (d: Decision): string => {
  const words: Record<Reason, string> = {
    'cache-hit': 'reused: its result is in the cache',
    'earlier-request': 'reused: an earlier container request of this call finished',
    'container-reused': 'reused: Arvados reused a finished container',
    'no-earlier-result': 'runs: no earlier result',
    'reuse-off': 'runs: reuse is off (--no-reuse)',
    'work-reuse-false': 'runs: the work says reuse: false',
    'result-unreadable': 'runs: its earlier result cannot be read back',
    'earlier-attempt-failed': 'runs: it ran before and did not finish',
    'argument-changed': 'runs: an argument changed since the last run',
    'code-changed': 'runs: the work\'s code changed since the last run',
  }
  return d.detail === undefined ? words[d.reason] : `${words[d.reason]} (${d.detail})`
}
