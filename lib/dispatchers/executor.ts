/**
 * An Executor is what a dispatcher adds to the one interpreter (`interpret.ts`): how one ready
 * call, with concrete inputs, is started and how its outcome comes back. Everything else — what
 * is ready, reuse, retries, failures, concatenation, cancellation, events and the verdict — is
 * the interpreter's, written once. Three executors exist: `in-process` (calls run in this
 * process), `process` (each call in a pooled worker process with container semantics) and
 * `crunch` (one Arvados container request per call).
 *
 * Like undici's Dispatcher the contract is small: `open` a session for one run of a module
 * (checking the module's options against what the executor can honour before anything runs),
 * then `start` calls and `close`.
 *
 * @since 0.2.0
 */
import type * as E from 'fp-ts/lib/Either.js'
import type * as Errors from '../errors.js'
import type * as Graph from '../graph.js'
import type * as Module from '../module.js'
import type * as ValueStore from '../value-store.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Resources of one attempt of a call (after escalation).
 *
 * @category models
 * @since 0.2.0
 */
export interface Resources {
  /** bytes */
  readonly ram: number | undefined
  readonly vcpus: number | undefined
}

/**
 * One ready call, with its arguments as the JSON text they crossed their codecs as.
 *
 * @category models
 * @since 0.2.0
 */
export interface Call {
  readonly node: Graph.CallNode
  /** the call's id and work name (the node's) */
  readonly id: string
  readonly work: string
  readonly def: Module.AnyWork
  /** JSON text of each argument (encoded with its codec) */
  readonly args: ReadonlyArray<string>
  /** 1 for the first attempt */
  readonly attempt: number
  readonly resources: Resources
  /** the name of the call's output (the work's `outputName`, applied to the arguments) */
  readonly outputName: string | undefined
  /** aborted when the run is cancelled or fails fast */
  readonly signal: AbortSignal
  /** a `ctx.log` line of the call */
  readonly log: (message: string) => void
}

/**
 * How a call ended.
 *
 * - `Value`: the implementation's result as returned, in this process (the interpreter
 *   concatenates a list of collections when the work declares a collection, then crosses the
 *   result codec);
 * - `Json`: the result already encoded by the work's codec elsewhere (a worker, a container);
 *   the interpreter decodes and hydrates it;
 * - `Continuation`: the calls the implementation made and the shape it returned (holding
 *   futures of them); the call's value is that shape once resolved;
 * - `Failed`: `retry` says whether another attempt may help (a thrown error, a crashed
 *   container), `outOfMemory` whether more memory might.
 *
 * `calls` are calls the implementation made whose futures it dropped: they run anyway.
 *
 * @category models
 * @since 0.2.0
 */
export type Outcome =
  | { readonly _tag: 'Value'; readonly value: unknown; readonly calls: ReadonlyArray<Graph.CallNode> }
  | { readonly _tag: 'Json'; readonly json: string; readonly reused?: boolean; readonly usage?: Usage }
  | { readonly _tag: 'Continuation'; readonly calls: ReadonlyArray<Graph.CallNode>; readonly shape: unknown; readonly reused?: boolean; readonly usage?: Usage }
  | { readonly _tag: 'Failed'; readonly error: Errors.SdkError; readonly retry: boolean; readonly outOfMemory?: boolean; readonly usage?: Usage }

/**
 * What a call used, where the executor can tell.
 *
 * @category models
 * @since 0.2.0
 */
export interface Usage {
  readonly peakRssBytes?: number
  readonly cpuSeconds?: number
  readonly startedAt?: string
  readonly finishedAt?: string
  readonly cost?: number
  readonly instanceType?: string
}

/**
 * An executor's session for one run of one module.
 *
 * @category models
 * @since 0.2.0
 */
export interface Session {
  /** how collections are resolved, concatenated and written for this run */
  readonly store: ValueStore.ValueStore
  /** how many calls may run at once */
  readonly concurrency: number
  /** an earlier result of this very call kept by the backend (Arvados: an earlier request); undefined when none */
  readonly lookup?: (call: Call) => Promise<E.Either<Errors.SdkError, Outcome | undefined>>
  /** starts a call; a synchronous outcome when it finished at once */
  readonly start: (call: Call) => Outcome | Promise<Outcome>
  /** stops what still runs (the run was cancelled or failed fast) and frees the session's resources */
  readonly close: () => Promise<void>
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Executor {
  readonly name: string
  /**
   * Checks every work's options against what this executor can honour (before any call runs),
   * then opens a session. `signal` is the run's.
   */
  readonly open: (module: Module.AnyModule, signal: AbortSignal, emit: (message: string) => void) => Promise<E.Either<Errors.SdkError, Session>>
}
