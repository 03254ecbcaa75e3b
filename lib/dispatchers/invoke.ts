/**
 * Running one work implementation where it lives: decoding its arguments (their JSON text
 * through their codecs, collections hydrated by the store), building its context (`ctx.call`,
 * `ctx.output`, `ctx.log`, `ctx.path`, `ctx.exec`, `ctx.tmp`) and turning what it returned or
 * threw into an executor `Outcome`. Shared by every place user code runs: the in-process
 * executor, the process executor's workers and the crunch work role.
 *
 * Calls that finish synchronously stay synchronous (no promise, no microtask): at 100,000
 * trivial calls that is most of the in-process executor's speed.
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import * as Codec from '../codec.js'
import type * as Collection from '../collections/collection.js'
import * as Dispatcher from '../dispatcher.js'
import * as Errors from '../errors.js'
import * as Graph from '../graph.js'
import type * as Module from '../module.js'
import * as ValueStore from '../value-store.js'
import type * as Executor from './executor.js'
import * as Options from './options.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What the place running implementations provides to their contexts.
 *
 * @category models
 * @since 0.2.0
 */
export interface Host {
  readonly module: Module.AnyModule
  readonly store: ValueStore.ValueStore
  /** a `ctx.log` line */
  readonly log: (callId: string, work: string, message: string) => void
  /** `ctx.exec` for a call, made on first use (absent: ctx.exec fails clearly) */
  readonly exec?: (ctx: Module.WorkContext) => Module.WorkContext['exec']
  /** `ctx.tmp` for a call: a fresh private directory (absent: the system's temp directory) */
  readonly tmp?: (callId: string) => string
}

/** what an implementation needs to know of its call */
export interface Target {
  readonly id: string
  readonly work: string
  readonly args: ReadonlyArray<string>
  /** 1 for the first attempt (default 1) */
  readonly attempt?: number
  /** where this call's `ctx.log` lines go (default: the host's `log`) */
  readonly log?: (message: string) => void
}

const lazy = Symbol('arvados-crunch/call-context')

interface Lazy {
  rec: Graph.Recorder<Readonly<Record<string, Module.AnyWork>>> | undefined
  call: Module.CallFn | undefined
  output: ValueStore.OutputWriter | undefined
  log: ((message: string) => void) | undefined
  path: ((target: Collection.Collection | Collection.CollectionFile) => Promise<string>) | undefined
  exec: Module.WorkContext['exec'] | undefined
  tmp: string | undefined
}

interface CallContext extends Module.WorkContext {
  [lazy]: Lazy | undefined
  readonly host: Host
  readonly logTo: ((message: string) => void) | undefined
}

const lazyOf = (ctx: CallContext): Lazy => (ctx[lazy] ??= { rec: undefined, call: undefined, output: undefined, log: undefined, path: undefined, exec: undefined, tmp: undefined })

const isThenable = (u: unknown): u is PromiseLike<unknown> => typeof u === 'object' && u !== null && typeof (u as { then?: unknown }).then === 'function'

/**
 * A short rendering of a call's arguments for messages: their kinds and sizes, never their
 * values (they may be secrets).
 *
 * @category utils
 * @since 0.2.0
 */
export const argumentKinds = (args: ReadonlyArray<string>): string => `(${args.map(kindOfJson).join(', ')})`

const kindOfJson = (json: string): string => {
  const c = json.charCodeAt(0)
  if (c === 0x22) return `string(${json.length - 2})`
  if (c === 0x5b) return `array(${json.length} bytes)`
  if (c === 0x7b) return `object(${json.length} bytes)`
  if (json === 'null') return 'null'
  if (json === 'true' || json === 'false') return 'boolean'
  return 'number'
}

// -------------------------------------------------------------------------------------
// contexts
// -------------------------------------------------------------------------------------

// the parts of a context are made on first use by getters of one shared prototype (most
// implementations use none of them, and a closure per call is costly at 100,000 calls)
const contextPrototype: object = Object.freeze({
  get call(): Module.CallFn {
    const self = this as unknown as CallContext
    return (lazyOf(self).call ??= (w, ...a) => recorderOf(self).context.call(w, ...a))
  },
  get output(): ValueStore.OutputWriter {
    const self = this as unknown as CallContext
    return (lazyOf(self).output ??= self.host.store.outputs(self.callId, self.signal))
  },
  get log(): (message: string) => void {
    const self = this as unknown as CallContext
    return (lazyOf(self).log ??= self.logTo ?? ((message: string) => self.host.log(self.callId, self.work, message)))
  },
  get path(): (target: Collection.Collection | Collection.CollectionFile) => Promise<string> {
    const self = this as unknown as CallContext
    return (lazyOf(self).path ??= async (target: Collection.Collection | Collection.CollectionFile) => {
      const p = await ValueStore.pathOf(self.host.store, target, self.signal)
      if (E.isLeft(p)) throw Errors.toError(p.left)
      return p.right
    })
  },
  get exec(): Module.WorkContext['exec'] {
    const self = this as unknown as CallContext
    const l = lazyOf(self)
    if (l.exec === undefined) {
      if (self.host.exec === undefined) throw Errors.toError(Errors.make('NoExecError', 'ARV_NO_EXEC', `ctx.exec is not available where work "${self.work}" runs`, {}, { hint: 'run the pipeline with the crunch run CLI or a dispatcher of this SDK' }))
      l.exec = self.host.exec(self)
    }
    return l.exec
  },
  get tmp(): string {
    const self = this as unknown as CallContext
    const l = lazyOf(self)
    return (l.tmp ??= self.host.tmp === undefined ? (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['TMPDIR'] ?? '/tmp' : self.host.tmp(self.callId))
  },
})

const recorderOf = (self: CallContext): Graph.Recorder<Readonly<Record<string, Module.AnyWork>>> => {
  const l = lazyOf(self)
  return (l.rec ??= Graph.recorder(self.host.module, self.callId))
}

/**
 * The context an implementation receives.
 *
 * @category constructors
 * @since 0.2.0
 */
export const context = (host: Host, target: Target, signal: AbortSignal): Module.WorkContext => {
  const ctx = Object.create(contextPrototype) as { -readonly [K in keyof CallContext]: CallContext[K] }
  ctx.module = host.module.name
  ctx.work = target.work
  ctx.callId = target.id
  ctx.attempt = target.attempt ?? 1
  ctx.signal = signal
  ctx.host = host
  ctx.logTo = target.log
  ctx[lazy] = undefined
  return ctx
}

/**
 * The calls an implementation made through `ctx.call`.
 *
 * @category utils
 * @since 0.2.0
 */
export const callsMade = (ctx: Module.WorkContext): ReadonlyArray<Graph.CallNode> => (ctx as CallContext)[lazy]?.rec?.calls() ?? []

// -------------------------------------------------------------------------------------
// plans
// -------------------------------------------------------------------------------------

/**
 * What every call of a work needs, made once per work.
 *
 * @category models
 * @since 0.2.0
 */
export interface Plan {
  readonly def: Module.AnyWork
  readonly codecs: ReadonlyArray<t.Mixed>
  readonly args: ReadonlyArray<Codec.Where>
  readonly result: Codec.Where
  /** whether any argument may hold collections (and so needs hydrating) */
  readonly argsHold: boolean
  readonly resultHolds: boolean
  /** the work declares a collection result: a returned list is concatenated */
  readonly concatenates: boolean
}

/**
 * Plans of a module's works, made on first use.
 *
 * @category constructors
 * @since 0.2.0
 */
export const planner = (module: Module.AnyModule): ((work: string) => Plan) => {
  const holds = new Map<t.Mixed, boolean>()
  const mayHold = (codec: t.Mixed): boolean => {
    let known = holds.get(codec)
    if (known === undefined) holds.set(codec, (known = Codec.mayHoldCollections(codec)))
    return known
  }
  const plans = new Map<string, Plan>()
  return (name) => {
    let p = plans.get(name)
    if (p === undefined) {
      const def = (module.work as Readonly<Record<string, Module.AnyWork>>)[name]!
      const codecs = def.spec.args as ReadonlyArray<t.Mixed>
      p = {
        def,
        codecs,
        args: codecs.map((_, i) => ({ module: module.name, work: name, position: `argument ${i + 1}` })),
        result: { module: module.name, work: name, position: 'result' },
        argsHold: codecs.some(mayHold),
        resultHolds: mayHold(def.spec.returns),
        concatenates: Codec.declaresCollection(def.spec.returns),
      }
      plans.set(name, p)
    }
    return p
  }
}

// -------------------------------------------------------------------------------------
// running
// -------------------------------------------------------------------------------------

const failedOutcome = (module: string, target: Target, e: unknown): Executor.Outcome => {
  // an SDK error thrown through the implementation (a codec error of a call it made, say) is
  // not retried: another attempt would meet it again
  const carried = Errors.carried(e)
  if (carried?._tag === 'CodecError') return { _tag: 'Failed', error: carried, retry: false }
  return { _tag: 'Failed', error: Dispatcher.workFailed(module, target.work, target.id, argumentKinds(target.args), e), retry: carried === undefined }
}

const afterReturn = (plan: Plan, ctx: Module.WorkContext, result: unknown): Executor.Outcome => {
  // a plain value (most results) needs no walk
  if (typeof result !== 'object' || result === null) return { _tag: 'Value', value: result, calls: callsMade(ctx) }
  let returned: unknown
  let holds: boolean
  try {
    // generators, Sets and Maps of futures become arrays once, in order; a hostile result (a
    // cycle, a throwing getter) is a codec error, found by these walks
    const materialized = Graph.materialize(result, `the result of work "${ctx.work}"`)
    if (E.isLeft(materialized)) return { _tag: 'Failed', error: materialized.left, retry: false }
    returned = materialized.right
    holds = Graph.containsFutures(returned)
  } catch (cause) {
    return { _tag: 'Failed', error: Options.thrown(cause, plan.result, result).left, retry: false }
  }
  // read after the result: a generator may make calls while it is read
  const calls = callsMade(ctx)
  if (holds) return { _tag: 'Continuation', calls, shape: returned }
  return { _tag: 'Value', value: returned, calls }
}

/**
 * Decodes the arguments, runs the implementation and gives its outcome. Synchronous when
 * the arguments need no hydrating and the implementation returns a plain value.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const invoke = (host: Host, plan: Plan, target: Target, signal: AbortSignal): Executor.Outcome | Promise<Executor.Outcome> => {
  const n = target.args.length
  // one more slot for the context
  const args: Array<unknown> = new Array(n + 1)
  for (let i = 0; i < n; i++) {
    const r = Codec.decode(plan.codecs[i]!, target.args[i]!, plan.args[i]!)
    if (E.isLeft(r)) return { _tag: 'Failed', error: r.left, retry: false }
    args[i] = r.right
  }
  if (!plan.argsHold) return withArgs(host, plan, target, signal, args)
  args.length = n
  return host.store.hydrate(args, signal).then((h) => (E.isLeft(h) ? ({ _tag: 'Failed', error: h.left, retry: false } as const) : withArgs(host, plan, target, signal, [...(h.right as ReadonlyArray<unknown>), undefined])))
}

const withArgs = (host: Host, plan: Plan, target: Target, signal: AbortSignal, args: Array<unknown>): Executor.Outcome | Promise<Executor.Outcome> => {
  const ctx = context(host, target, signal)
  args[args.length - 1] = ctx
  let returned: unknown
  try {
    // called as a method of the work: stack traces show `Object.implementation`
    returned = (plan.def as unknown as { readonly implementation: (...a: ReadonlyArray<unknown>) => unknown }).implementation(...args)
  } catch (e) {
    return failedOutcome(host.module.name, target, e)
  }
  if (!isThenable(returned)) return afterReturn(plan, ctx, returned)
  return Promise.resolve(returned).then(
    (result) => afterReturn(plan, ctx, result),
    (e: unknown) => failedOutcome(host.module.name, target, e),
  )
}
