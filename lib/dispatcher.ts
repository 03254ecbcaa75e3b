/**
 * A Dispatcher is a record of functions that interprets a module's call graph: `local` runs it
 * in this process, `crunch` on Arvados containers. The contract is small — `run(module,
 * params, options)` giving a `TaskEither` — and everything a user sees (the CLI, `runWork`,
 * `runMain`) is derived from it. Interceptors are plain `Dispatcher → Dispatcher` functions.
 *
 * @since 0.1.0
 */
import type * as TE from 'fp-ts/lib/TaskEither.js'
import * as Errors from './errors.js'
import type * as Graph from './graph.js'
import type * as Module from './module.js'
import type * as ReuseReason from './dispatchers/reuse-reason.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What happened to one call, for progress displays and logs.
 *
 * @category models
 * @since 0.1.0
 */
export type Event =
  | {
      readonly type: 'start'
      readonly id: string
      readonly work: string
      /** wall-clock time, ISO 8601 */
      readonly at?: string
      /** 1 for the first attempt */
      readonly attempt?: number
      /** the work and the kinds/sizes of its arguments, never their values: `align(file, string 5)` */
      readonly label?: string
      /** resources of this attempt (bytes, cores) where the work declares them */
      readonly ram?: number
      readonly vcpus?: number
      /** why the call runs (not reused) */
      readonly reuse?: ReuseReason.Decision
      /** the same resources, in the report's terms */
      readonly requested?: { readonly ramBytes?: number; readonly vcpus?: number }
    }
  | {
      readonly type: 'done'
      readonly id: string
      readonly work: string
      readonly reused: boolean
      readonly at?: string
      /** attempts made in this run (0 when reused) */
      readonly attempts?: number
      /** from start to done of the last attempt, ms */
      readonly durationMs?: number
      /** from ready to start, ms (waiting for a free slot) */
      readonly queuedMs?: number
      /** whether the call was reused, and why (or why not) */
      readonly reuse?: ReuseReason.Decision
      /** the decision in words */
      readonly reuseReason?: string
      /** the name of the call's output collection (the work's `outputName`) */
      readonly outputName?: string
      /** what the call used, where the executor can tell (process: the worker; Arvados: crunchstat) */
      readonly used?: { readonly peakRssBytes?: number; readonly cpuSeconds?: number }
      /** where it ran: the container's own times, cost and instance type (Arvados) */
      readonly startedAt?: string
      readonly finishedAt?: string
      readonly cost?: number
      readonly instanceType?: string
    }
  | { readonly type: 'failed'; readonly id: string; readonly work: string; readonly error: Errors.SdkError; readonly at?: string }
  | { readonly type: 'log'; readonly id: string; readonly work: string; readonly message: string; readonly at?: string }

/**
 * @category models
 * @since 0.1.0
 */
export interface RunOptions {
  /** abort to cancel the run; running calls see it as `ctx.signal` */
  readonly signal?: AbortSignal
  /** reuse finished calls' results (default true where the dispatcher has a cache) */
  readonly reuse?: boolean
  /** on a failure, go on with what does not depend on it (default: fail fast) */
  readonly keepGoing?: boolean
  readonly onEvent?: (event: Event) => void
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Stats {
  /** distinct calls recorded */
  readonly calls: number
  /** implementations actually run */
  readonly executed: number
  /** calls satisfied from earlier results */
  readonly reused: number
  readonly failed: number
  /** wall-clock time of the run, ms */
  readonly wallMs?: number
  /** earlier results found torn or altered in the cache, never decoded (their calls ran again) */
  readonly discarded?: number
  /** the sum of the executed calls' container `cost` (Arvados), absent when none reported one */
  readonly cost?: number
  /** the sum of the executed calls' running time, ms (their containers' own times on Arvados) */
  readonly containerMs?: number
  /** the running time of the earlier runs that made reused calls' results, ms (where known) */
  readonly savedMs?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface RunResult<A> {
  /** the decoded output (collections are live values) */
  readonly value: A
  /** the output's JSON text (collections as portable data hashes) */
  readonly json: string
  readonly graph: Graph.Graph
  readonly stats: Stats
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Dispatcher {
  readonly name: string
  readonly run: <M extends Module.AnyModule>(module: M, params: unknown, options?: RunOptions) => TE.TaskEither<Errors.SdkError, RunResult<Module.OutputOf<M>>>
}

/**
 * @category models
 * @since 0.1.0
 */
export type Interceptor = (next: Dispatcher) => Dispatcher

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/**
 * A work implementation (or run) threw or rejected. `cause` is the original error with its stack.
 *
 * @category errors
 * @since 0.1.0
 */
export const workFailed = (module: string, work: string, callId: string, argsSummary: string, cause: unknown) =>
  Errors.make(
    'WorkFailedError',
    'ARV_WORK_FAILED',
    work === 'run' ? `run() of module "${module}" failed: ${messageOf(cause)}` : `work "${work}" failed [call ${callId.slice(0, 12)}] with arguments ${argsSummary}: ${messageOf(cause)}`,
    { module, work, callId, argsSummary },
    { cause },
  )

/**
 * Several calls failed (keep-going runs).
 *
 * @category errors
 * @since 0.1.0
 */
export const runFailed = (module: string, failures: ReadonlyArray<Errors.SdkError>, skipped: number) =>
  Errors.make(
    'RunFailedError',
    'ARV_RUN_FAILED',
    `${failures.length} call(s) of module "${module}" failed${skipped > 0 ? `; ${skipped} call(s) that depend on them did not run` : ''}`,
    { module, failures, skipped },
    { details: failures.slice(0, 10).map((f) => `✖ ${f.message}`).concat(failures.length > 10 ? [`… and ${failures.length - 10} more`] : []), ...(failures[0] === undefined ? {} : { cause: failures[0] }) },
  )

/**
 * A node depends on a future this run did not make.
 *
 * @category errors
 * @since 0.1.0
 */
export const foreignFuture = (node: Graph.Node, nodeId: string) =>
  Errors.make('ForeignFutureError', 'ARV_FOREIGN_FUTURE', `a future passed to ${node._tag === 'Call' ? `work "${node.work}"` : 'an output'} was not made in this run`, { nodeId }, {
    hint: 'futures belong to the run that made them; do not keep them across runs or share them between modules',
  })

/**
 * @category errors
 * @since 0.1.0
 */
export const cancelled = (module: string, reason: unknown) =>
  Errors.make('CancelledError', 'ARV_CANCELLED', `the run of module "${module}" was cancelled${typeof reason === 'string' ? `: ${reason}` : ''}`, { module })

const messageOf = (cause: unknown): string =>
  Errors.isSdkError(cause) ? cause.message : cause instanceof Error ? cause.message : `a thrown ${Errors.kindOf(cause)}`

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

/**
 * Applies interceptors, first one outermost.
 *
 * @category combinators
 * @since 0.1.0
 */
export const compose =
  (...interceptors: ReadonlyArray<Interceptor>): Interceptor =>
  (d) =>
    interceptors.reduceRight((acc, i) => i(acc), d)
