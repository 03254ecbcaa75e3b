/**
 * What a run report is made of: one `CallRecord` per call (state, reuse, attempts, times,
 * resources asked and used, cost, the tail of its log) and one `RunRecord` for the run (module,
 * non-secret params, times, the call graph, totals). Records are plain JSON-able data, folded
 * from the dispatcher's timestamped events by a pure function, so the same report can be made
 * live, after a run, or later from a journal.
 *
 * @since 0.1.0
 */
import type * as Dispatcher from '../dispatcher.js'
import * as Request from '../dispatchers/crunch/request.js'
import * as Errors from '../errors.js'
import type * as Graph from '../graph.js'
import type * as Json from '../internal/json.js'
import type * as Module from '../module.js'
import * as Labels from './labels.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * `blocked`: never started (waiting on inputs, or an input failed); `running`: started and not
 * finished when the events end; `cancelled`: started, not finished, and the run is over.
 *
 * @category models
 * @since 0.1.0
 */
export type CallState = 'done' | 'failed' | 'blocked' | 'running' | 'cancelled'

/**
 * Resources a call asked for (the work's `ram`/`vcpus`, as sent to Arvados).
 *
 * @category models
 * @since 0.1.0
 */
export interface Requested {
  readonly ramBytes?: number
  readonly vcpus?: number
}

/**
 * Resources a call used: the peak resident memory and the CPU time (user + system).
 *
 * @category models
 * @since 0.1.0
 */
export interface Used {
  readonly peakRssBytes?: number
  readonly cpuSeconds?: number
}

/**
 * A dispatcher event with the wall-clock time it happened (`at`, ISO 8601) and what the
 * dispatcher knows beside it. Every extra field is optional; a dispatcher fills what it has.
 *
 * - `start`: the call was handed to an executor (locally: it starts running; on Arvados: its
 *   container request is committed). `attempt` counts from 1; retries emit `start` again.
 * - `done` / `failed`: `startedAt`/`finishedAt` are the container's own times (Arvados), which
 *   the report prefers to `at`; `used`, `cost`, `instanceType` as measured; `reuseReason` on a
 *   reused `done` says why it was reused.
 * - any: `queuedAt` when the call was queued, if earlier than its start; `requested` the
 *   resources asked for (otherwise taken from the work's options).
 *
 * @category models
 * @since 0.1.0
 */
export type TimedEvent = Dispatcher.Event & {
  readonly at: string
  readonly attempt?: number
  readonly queuedAt?: string
  readonly startedAt?: string
  readonly finishedAt?: string
  readonly requested?: Requested
  readonly used?: Used
  readonly cost?: number
  readonly instanceType?: string
  readonly reuseReason?: string
}

/**
 * Durations in milliseconds: `queued` from queued to started, `running` from started to
 * finished, `total` from the first of those to the last.
 *
 * @category models
 * @since 0.1.0
 */
export interface Durations {
  readonly queuedMs?: number
  readonly runningMs?: number
  readonly totalMs?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface CallRecord {
  readonly id: string
  readonly work: string
  /** work name and the kinds/sizes of its arguments (never their values) */
  readonly label: string
  /** the call whose implementation made this call; absent when made by run */
  readonly parent?: string
  readonly state: CallState
  readonly reused: boolean
  readonly reuseReason?: string
  readonly attempts: number
  readonly queuedAt?: string
  readonly startedAt?: string
  readonly finishedAt?: string
  readonly durations: Durations
  readonly requested: Requested
  readonly used: Used
  readonly cost?: number
  readonly instanceType?: string
  /** the last lines the call logged (at most `LOG_TAIL_LINES`) */
  readonly logTail: ReadonlyArray<string>
  /** the failure's message, when the call failed */
  readonly error?: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Totals {
  readonly calls: number
  readonly done: number
  readonly failed: number
  readonly blocked: number
  readonly running: number
  readonly cancelled: number
  /** done calls satisfied from earlier results */
  readonly reused: number
  /** done calls whose implementation ran */
  readonly ran: number
  /** from the run's start to its end (or to the last event) */
  readonly wallMs?: number
  /** the sum of the calls' running time (container time on Arvados) */
  readonly containerMs: number
  /** the sum of the CPU time the calls used, where measured */
  readonly cpuSeconds?: number
  /** the sum of the calls' cost, where known */
  readonly cost?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface RunRecord {
  readonly module: string
  /** the run's parameters as JSON, secrets left out by the caller */
  readonly params: Json.Json
  readonly startedAt?: string
  readonly finishedAt?: string
  /** the run's outcome, when it is over */
  readonly outcome?: 'succeeded' | 'failed' | 'cancelled'
  /** the run-level failure's message */
  readonly error?: string
  readonly calls: ReadonlyArray<CallRecord>
  readonly graph: Graph.Graph
  /** lines logged by the run itself (not by a call) */
  readonly logTail: ReadonlyArray<string>
  readonly totals: Totals
}

/**
 * How many log lines a record keeps per call.
 *
 * @category constants
 * @since 0.1.0
 */
export const LOG_TAIL_LINES = 20

const LOG_LINE_CHARS = 400

// -------------------------------------------------------------------------------------
// folding events
// -------------------------------------------------------------------------------------

interface Acc {
  id: string
  work: string
  state: CallState
  reused: boolean
  reuseReason?: string
  attempts: number
  queuedAt?: string
  startAt?: string
  startedAt?: string
  finishedAt?: string
  requested?: Requested
  used?: Used
  cost?: number
  instanceType?: string
  logTail: Array<string>
  error?: string
  /** the label its start event carried, for a report without the graph */
  label?: string
}

const ms = (iso: string | undefined): number | undefined => {
  if (iso === undefined) return undefined
  const t = Date.parse(iso)
  return Number.isNaN(t) ? undefined : t
}

const diff = (from: string | undefined, to: string | undefined): number | undefined => {
  const a = ms(from)
  const b = ms(to)
  return a === undefined || b === undefined ? undefined : Math.max(0, b - a)
}

const earliest = (a: string | undefined, b: string | undefined): string | undefined => {
  if (a === undefined) return b
  if (b === undefined) return a
  return (ms(b) ?? Infinity) < (ms(a) ?? Infinity) ? b : a
}

const pushLog = (tail: Array<string>, message: string): void => {
  for (const line of Errors.redact(message).split(/\r?\n/)) {
    if (line === '') continue
    tail.push(line.length > LOG_LINE_CHARS ? `${line.slice(0, LOG_LINE_CHARS)}…` : line)
  }
  if (tail.length > LOG_TAIL_LINES) tail.splice(0, tail.length - LOG_TAIL_LINES)
}

/** events of the run itself, not of a call */
const isRunLevel = (e: Dispatcher.Event): boolean => e.work === 'run'

const step = (acc: Acc, e: TimedEvent): void => {
  if (e.queuedAt !== undefined) acc.queuedAt = earliest(acc.queuedAt, e.queuedAt) ?? e.queuedAt
  if (e.requested !== undefined) acc.requested = e.requested
  switch (e.type) {
    case 'start':
      acc.attempts = Math.max(acc.attempts + 1, e.attempt ?? 0)
      acc.state = 'running'
      acc.startAt ??= e.at
      if (e.label !== undefined) acc.label = e.label
      if (e.startedAt !== undefined) acc.startedAt = e.startedAt
      delete acc.error
      return
    case 'log':
      pushLog(acc.logTail, e.message)
      return
    case 'done':
    case 'failed':
      acc.state = e.type
      if (e.type === 'done') {
        acc.reused = e.reused
        if (e.reuseReason !== undefined) acc.reuseReason = e.reuseReason
      } else acc.error = Errors.redact(e.error.message)
      if (e.attempt !== undefined) acc.attempts = Math.max(acc.attempts, e.attempt)
      if (e.startedAt !== undefined) acc.startedAt = e.startedAt
      acc.finishedAt = e.finishedAt ?? e.at
      if (e.used !== undefined) acc.used = { ...acc.used, ...e.used }
      if (e.cost !== undefined) acc.cost = (acc.cost ?? 0) + e.cost
      if (e.instanceType !== undefined) acc.instanceType = e.instanceType
      return
  }
}

/** the record of one call once its events are folded */
const finish = (acc: Acc, node: Graph.CallNode | undefined, label: string, requested: Requested, over: boolean): CallRecord => {
  const state: CallState = acc.state === 'running' && over ? 'cancelled' : acc.state
  // a reused call without a start: it happened at the moment it was found
  const startedAt = acc.startedAt ?? acc.startAt ?? (acc.reused ? acc.finishedAt : undefined)
  // the hand-over before the container's own start counts as queued
  const queuedAt = acc.queuedAt ?? (acc.startAt !== undefined && acc.startedAt !== undefined && (ms(acc.startAt) ?? 0) < (ms(acc.startedAt) ?? 0) ? acc.startAt : undefined)
  const first = queuedAt ?? startedAt
  const queuedMs = diff(queuedAt, startedAt)
  const runningMs = diff(startedAt, acc.finishedAt)
  const totalMs = diff(first, acc.finishedAt)
  const parent = node?.parent
  return {
    id: acc.id,
    work: acc.work,
    label,
    ...(parent === undefined ? {} : { parent }),
    state,
    reused: acc.reused,
    ...(acc.reuseReason === undefined ? {} : { reuseReason: acc.reuseReason }),
    attempts: acc.attempts,
    ...(queuedAt === undefined ? {} : { queuedAt }),
    ...(startedAt === undefined ? {} : { startedAt }),
    ...(acc.finishedAt === undefined ? {} : { finishedAt: acc.finishedAt }),
    durations: { ...(queuedMs === undefined ? {} : { queuedMs }), ...(runningMs === undefined ? {} : { runningMs }), ...(totalMs === undefined ? {} : { totalMs }) },
    requested: acc.requested ?? requested,
    used: acc.used ?? {},
    ...(acc.cost === undefined ? {} : { cost: acc.cost }),
    ...(acc.instanceType === undefined ? {} : { instanceType: acc.instanceType }),
    logTail: acc.logTail,
    ...(acc.error === undefined ? {} : { error: acc.error }),
  }
}

/**
 * The resources each work of `module` asks for, from its `ram`/`vcpus` options; `defaults` fill
 * what a work leaves out (on Arvados, the crunch dispatcher's defaults).
 *
 * @category constructors
 * @since 0.1.0
 */
export const requestedOf =
  (module: Module.AnyModule, defaults: Requested = {}) =>
  (work: string): Requested => {
    const spec = module.work[work]?.spec
    const ramBytes = Request.bytesOf(spec?.ram) ?? defaults.ramBytes
    const vcpus = spec?.vcpus ?? defaults.vcpus
    return { ...(ramBytes === undefined ? {} : { ramBytes }), ...(vcpus === undefined ? {} : { vcpus }) }
  }

/**
 * @category models
 * @since 0.1.0
 */
export interface FoldOptions {
  /** the run's graph: its calls without events are `blocked`, and labels read their arguments */
  readonly graph?: Graph.Graph
  /** the resources a work asks for, when events do not say (see `requestedOf`) */
  readonly requested?: (work: string) => Requested
  /** the run is over: calls still running are `cancelled` */
  readonly over?: boolean
}

/**
 * Folds timestamped events into one record per call, in graph order (then first-event order
 * for calls the graph does not hold). Events of the run itself (`work: 'run'`) are left out.
 *
 * @category constructors
 * @since 0.1.0
 */
export const foldCalls = (events: ReadonlyArray<TimedEvent>, options: FoldOptions = {}): ReadonlyArray<CallRecord> => {
  const accs = new Map<string, Acc>()
  const nodes = new Map<string, Graph.CallNode>()
  for (const n of options.graph?.nodes ?? []) if (n._tag === 'Call') nodes.set(n.id, n)
  for (const n of nodes.values()) accs.set(n.id, { id: n.id, work: n.work, state: 'blocked', reused: false, attempts: 0, logTail: [] })
  for (const e of events) {
    if (isRunLevel(e)) continue
    let acc = accs.get(e.id)
    if (acc === undefined) {
      acc = { id: e.id, work: e.work, state: 'blocked', reused: false, attempts: 0, logTail: [] }
      accs.set(e.id, acc)
    }
    step(acc, e)
  }
  const labelOf = options.graph === undefined ? Labels.callLabel : Labels.labeller(options.graph)
  const requestedOf = options.requested ?? (() => ({}))
  return [...accs.values()].map((a) => {
    const node = nodes.get(a.id)
    return finish(a, node, node === undefined ? (a.label ?? a.work) : labelOf(node), requestedOf(a.work), options.over === true)
  })
}

/**
 * Adds up the records: counts per state, reused against run, wall time, container and CPU
 * time, cost.
 *
 * @category utils
 * @since 0.1.0
 */
export const totalsOf = (calls: ReadonlyArray<CallRecord>, startedAt?: string, finishedAt?: string): Totals => {
  const count = (s: CallState): number => calls.filter((c) => c.state === s).length
  const sumOf = (f: (c: CallRecord) => number | undefined): number | undefined =>
    calls.reduce<number | undefined>((acc, c) => {
      const v = f(c)
      return v === undefined ? acc : (acc ?? 0) + v
    }, undefined)
  const lastEvent = calls.reduce<string | undefined>((acc, c) => (c.finishedAt !== undefined && (acc === undefined || (ms(c.finishedAt) ?? 0) > (ms(acc) ?? 0)) ? c.finishedAt : acc), undefined)
  const firstEvent = calls.reduce<string | undefined>((acc, c) => earliest(acc, c.queuedAt ?? c.startedAt), undefined)
  const wallMs = diff(startedAt ?? firstEvent, finishedAt ?? lastEvent)
  const reused = calls.filter((c) => c.state === 'done' && c.reused).length
  const cpuSeconds = sumOf((c) => c.used.cpuSeconds)
  const cost = sumOf((c) => c.cost)
  return {
    calls: calls.length,
    done: count('done'),
    failed: count('failed'),
    blocked: count('blocked'),
    running: count('running'),
    cancelled: count('cancelled'),
    reused,
    ran: count('done') - reused,
    ...(wallMs === undefined ? {} : { wallMs }),
    containerMs: sumOf((c) => (c.reused ? undefined : c.durations.runningMs)) ?? 0,
    ...(cpuSeconds === undefined ? {} : { cpuSeconds }),
    ...(cost === undefined ? {} : { cost }),
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface RunInput extends FoldOptions {
  readonly module: string
  /** the params as JSON, without secrets */
  readonly params: Json.Json
  readonly events: ReadonlyArray<TimedEvent>
  readonly startedAt?: string
  readonly finishedAt?: string
  readonly outcome?: RunRecord['outcome']
  /** the run-level failure, if any */
  readonly error?: Errors.SdkError
}

/**
 * The record of a whole run from its events (and its graph, when known). A run-level failure
 * event (`work: 'run'`) sets `error`; run-level log lines go to the run's own log tail.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromEvents = (input: RunInput): RunRecord => {
  const over = input.over ?? (input.finishedAt !== undefined || input.outcome !== undefined)
  const calls = foldCalls(input.events, { ...input, over })
  const logTail: Array<string> = []
  let runError = input.error === undefined ? undefined : Errors.redact(input.error.message)
  for (const e of input.events) {
    if (!isRunLevel(e)) continue
    if (e.type === 'log') pushLog(logTail, e.message)
    if (e.type === 'failed') runError ??= Errors.redact(e.error.message)
  }
  const lastAt = input.events.length === 0 ? undefined : input.events[input.events.length - 1]!.at
  const startedAt = input.startedAt ?? input.events[0]?.at
  const finishedAt = input.finishedAt ?? (over ? lastAt : undefined)
  return {
    module: input.module,
    params: input.params,
    ...(startedAt === undefined ? {} : { startedAt }),
    ...(finishedAt === undefined ? {} : { finishedAt }),
    ...(input.outcome === undefined ? {} : { outcome: input.outcome }),
    ...(runError === undefined ? {} : { error: runError }),
    calls,
    graph: input.graph ?? { module: input.module, nodes: [] },
    logTail,
    totals: totalsOf(calls, startedAt, finishedAt ?? lastAt),
  }
}
