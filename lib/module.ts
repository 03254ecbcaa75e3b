/**
 * The definition API: `work(spec, implementation)` declares a unit of work with io-ts codecs
 * for its arguments and result (plus resource options), and `defineModule({ name, params,
 * work, run })` gathers works and the top-level `run` into an immutable module value.
 *
 * Nothing here runs user code. Inside `run` (and inside a work implementation, through
 * `ctx.call`) calling a work returns a `Future` and records a call node; a dispatcher runs
 * the calls later.
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import type * as t from 'io-ts'
import * as Codec from './codec.js'
import * as Errors from './errors.js'
import type * as Collection from './collections/collection.js'
import type * as Exec from './exec.js'
import type * as Future from './future.js'
import type * as Identity from './identity/identity.js'
import type * as ValueStore from './value-store.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A size in bytes, or a string with a binary or decimal unit (`'2GiB'`, `'512MB'`).
 *
 * @category models
 * @since 0.1.0
 */
export type Size = number | `${number}${'B' | 'KiB' | 'MiB' | 'GiB' | 'TiB' | 'KB' | 'MB' | 'GB' | 'TB'}`

/**
 * Resource and scheduling options of a work function. Each dispatcher maps what it supports
 * and rejects (never drops) what it cannot honour.
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkOptions {
  readonly ram?: Size
  readonly vcpus?: number
  readonly gpu?: { readonly stack: 'cuda' | 'rocm'; readonly count: number; readonly driverVersion?: string; readonly hardwareTarget?: ReadonlyArray<string>; readonly vram?: Size }
  readonly keepCacheRam?: Size
  /** the implementation calls the Arvados API itself (runtime_constraints.API) */
  readonly apiAccess?: boolean
  /** seconds */
  readonly maxRunTime?: number
  readonly preemptible?: boolean
  readonly partitions?: ReadonlyArray<string>
  /** extra attempts after a failure (container_count_max - 1 on Arvados; re-runs locally) */
  readonly retries?: number
  /** allow reusing an earlier identical call's result (default true) */
  readonly reuse?: boolean
  /** name of the output collection */
  /**
   * name of the call's output collection on Arvados (recorded in the call's events locally):
   * a name, or a function of the call's decoded arguments giving one per call
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly outputName?: string | ((...args: any) => string)
  /** container image (Arvados); ignored locally, where the host is the image */
  readonly image?: string
  /** at most this many calls of this work run at once (every executor) */
  readonly maxConcurrent?: number
  /** calls of works in one exclusivity group never run at the same time (every executor) */
  readonly exclusive?: string
  /** how resources grow on a retry after an out-of-memory end: `ram` times `factor` (default 2), at most `max` */
  readonly escalate?: { readonly ram?: { readonly max: Size; readonly factor?: number } }
  /** Keep cache on local disk (Arvados `keep_cache_disk`) */
  readonly keepCacheDisk?: Size
  /** scratch space of the call (`ctx.tmp`; Arvados: the tmp mount's capacity) */
  readonly tmp?: Size
}

/**
 * @category models
 * @since 0.1.0
 */
export type Codecs = ReadonlyArray<t.Mixed>

/**
 * The decoded values of a codec tuple.
 *
 * @category models
 * @since 0.1.0
 */
export type TypesOf<Args extends Codecs> = { -readonly [K in keyof Args]: t.TypeOf<Args[K]> }

/**
 * What a call site may pass for a codec tuple: each value, a future of it, or a structure of futures.
 *
 * @category models
 * @since 0.1.0
 */
export type DeferrableArgs<Args extends Codecs> = { -readonly [K in keyof Args]: Future.Deferrable<t.TypeOf<Args[K]>> }

/**
 * What an implementation (or `run`) may return for a declared result type `A`: the value, a
 * future or a structure of futures; and, where `A` is a collection, a list of (futures of)
 * collections, which means their concatenation.
 *
 * @category models
 * @since 0.1.0
 */
export type Returned<A> =
  | Future.Deferrable<A>
  | (Collection.Collection extends A ? ReadonlyArray<Future.Deferrable<Collection.Collection | null>> | Future.IterableOf<Future.Deferrable<Collection.Collection | null>> : never)

/**
 * What a work implementation receives after its arguments.
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkContext {
  readonly module: string
  readonly work: string
  /** the call's Merkle id */
  readonly callId: string
  /** which attempt this is: 1, then 2, … when the work has `retries` */
  readonly attempt: number
  /** aborted when the run is cancelled or fails fast */
  readonly signal: AbortSignal
  /** calls another work of the same module from this implementation (a continuation) */
  readonly call: CallFn
  /** builds this call's output collection */
  readonly output: ValueStore.OutputWriter
  /**
   * The path on disk of a collection or of a file in one, for external tools (placed on disk
   * first when needed; in a container, its mount). Read-only: write outputs via `output`.
   */
  readonly path: (target: Collection.Collection | Collection.CollectionFile) => Promise<string>
  /** a line to the run's log, tagged with this call */
  readonly log: (message: string) => void
  /**
   * Runs an external program with an argument array (never through a shell), stopped with the
   * call (its signal, its `maxRunTime`); rejects with an `ExecError` naming the command, the exit
   * status or signal and the last lines of stderr. See docs/tools.md.
   */
  readonly exec: Exec.ExecFn
  /** a private directory for this call's scratch files (removed after the call locally; in a container, its tmp) */
  readonly tmp: string
}

/**
 * @category models
 * @since 0.1.0
 */
export type CallFn = <Args extends Codecs, R extends t.Mixed>(w: Work<Args, R>, ...args: DeferrableArgs<Args>) => Future.Future<t.TypeOf<R>>

/**
 * @category models
 * @since 0.1.0
 */
export interface WorkSpec<Args extends Codecs, R extends t.Mixed> extends WorkOptions {
  readonly args: Args
  readonly returns: R
  readonly outputName?: string | ((...args: TypesOf<Args>) => string)
}

/**
 * @category models
 * @since 0.1.0
 */
export type Implementation<Args extends Codecs, R extends t.Mixed> = (
  ...args: [...TypesOf<Args>, WorkContext]
) => Returned<t.TypeOf<R>> | Promise<Returned<t.TypeOf<R>>>

/**
 * A declared work function.
 *
 * @category models
 * @since 0.1.0
 */
export interface Work<Args extends Codecs, R extends t.Mixed> {
  readonly _tag: 'Work'
  readonly spec: WorkSpec<Args, R>
  readonly implementation: Implementation<Args, R>
  /**
   * digest of the implementation's function text and its codecs' names: the code part of call
   * ids when the module carries no code identity (see `Module.identity`)
   */
  readonly codeHash: string
  /** where the code that called `work(...)` is, when the stack tells (for the code identity) */
  readonly source: WorkSource | undefined
}

/**
 * A place in the code as the JavaScript engine sees it: under tsx the source file itself; in a
 * bundle the bundle file and its line (the code identity maps the line back to a source file).
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkSource {
  /** a path or a file URL */
  readonly file: string
  /** 1-based */
  readonly line: number
}

/**
 * @category models
 * @since 0.1.0
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyWork = Work<any, any>

/**
 * The typed call table `run` receives: each work, callable with deferrable arguments.
 *
 * @category models
 * @since 0.1.0
 */
export type Calls<W extends Readonly<Record<string, AnyWork>>> = {
  readonly [K in keyof W]: W[K] extends Work<infer Args, infer R> ? (...args: DeferrableArgs<Args>) => Future.Future<t.TypeOf<R>> : never
}

/**
 * @category models
 * @since 0.1.0
 */
export interface RunContext<W extends Readonly<Record<string, AnyWork>>> {
  readonly work: Calls<W>
  readonly call: CallFn
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Module<P extends t.Mixed, W extends Readonly<Record<string, AnyWork>>, R, Ret extends t.Mixed | undefined = undefined> {
  readonly _tag: 'Module'
  readonly name: string
  readonly params: P
  readonly work: W
  readonly run: (params: t.TypeOf<P>, ctx: RunContext<W>) => R | Promise<R>
  /** codec of run's result, when declared (needed for collection concatenation at the top) */
  readonly returns: Ret
  /** work name by definition, for `ctx.call(def, ...)` */
  readonly nameOf: (w: AnyWork) => string | undefined
  /**
   * the code identity of the script's module graph (set by the CLI, or `Identity.attach`):
   * call ids then cover every file a work's file reaches; without it, only the function text
   */
  readonly identity?: Identity.Identity
}

/**
 * @category models
 * @since 0.1.0
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyModule = Module<any, any, any, any>

/**
 * The type of a module's final output.
 *
 * @category models
 * @since 0.1.0
 */
export type OutputOf<M> =
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  M extends Module<any, any, infer R, infer Ret> ? (Ret extends t.Mixed ? t.TypeOf<Ret> : Future.Resolved<Awaited<R>>) : never

/**
 * The type of a module's parameters.
 *
 * @category models
 * @since 0.1.0
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ParamsOf<M> = M extends Module<infer P, any, any, any> ? t.TypeOf<P> : never

/**
 * What `run` may return: anything when no result codec is declared, else `Returned<A>`.
 *
 * @category models
 * @since 0.1.0
 */
export type RunResultConstraint<Ret extends t.Mixed | undefined> = Ret extends t.Mixed ? Returned<t.TypeOf<Ret>> : unknown

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Declares a work function.
 *
 * @example
 * import * as t from 'io-ts'
 * import { work } from 'arvados-crunch'
 * const square = work({ args: [t.number], returns: t.number }, (n) => n * n)
 *
 * @category constructors
 * @since 0.1.0
 */
export const work = <const Args extends Codecs, R extends t.Mixed>(spec: WorkSpec<Args, R>, implementation: Implementation<Args, R>): Work<Args, R> => {
  if (Codec.showsSecret(spec.returns)) {
    throw Errors.toError(
      Errors.make('SecretResultError', 'ARV_SECRET_RESULT', `a work result cannot be secret (its codec is ${spec.returns.name})`, {}, {
        hint: 'results are stored (cache, Keep); mark parameters and arguments with Secret(...), and return what is not secret',
      }),
    )
  }
  const codeHash = Crypto.createHash('sha256')
    .update(implementation.toString())
    .update('\0')
    .update(spec.args.map((c) => c.name).join('\0'))
    .update('\0')
    .update(spec.returns.name)
    .digest('hex')
    .slice(0, 32)
  return Object.freeze({ _tag: 'Work', spec: Object.freeze({ ...spec }), implementation, codeHash, source: callerOf(work) })
}

/**
 * Where the code that called `fn` is: the first stack frame above it, as the engine sees it (the
 * raw frame: no source map is consulted, which would cost a parse of the bundle's map).
 */
const callerOf = (fn: (...a: never[]) => unknown): WorkSource | undefined => {
  const holder: { stack?: unknown } = {}
  const limit = Error.stackTraceLimit
  const prepare = Error.prepareStackTrace
  Error.stackTraceLimit = 1
  Error.prepareStackTrace = (_e, frames) => frames
  try {
    Error.captureStackTrace(holder, fn)
    const frame = (holder.stack as ReadonlyArray<NodeJS.CallSite> | undefined)?.[0]
    const file = frame?.getFileName() ?? undefined
    return file === undefined ? undefined : { file, line: frame?.getLineNumber() ?? 0 }
  } catch {
    return undefined
  } finally {
    Error.stackTraceLimit = limit
    Error.prepareStackTrace = prepare
  }
}

/**
 * Defines a module. `returns`, when given, is the codec of run's result.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defineModule = <
  P extends t.Mixed,
  const W extends Readonly<Record<string, AnyWork>>,
  R extends RunResultConstraint<Ret>,
  Ret extends t.Mixed | undefined = undefined,
>(definition: {
  readonly name: string
  readonly params: P
  readonly work: W
  readonly run: (params: t.TypeOf<P>, ctx: RunContext<W>) => R | Promise<R>
  readonly returns?: Ret
}): Module<P, W, R, Ret> => {
  const names = new Map<AnyWork, string>()
  for (const [k, w] of Object.entries(definition.work)) if (!names.has(w)) names.set(w, k)
  return Object.freeze({
    _tag: 'Module',
    name: definition.name,
    params: definition.params,
    work: Object.freeze({ ...definition.work }),
    run: definition.run,
    returns: definition.returns as Ret,
    nameOf: (w: AnyWork) => names.get(w),
  })
}
