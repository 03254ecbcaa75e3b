/**
 * The local dispatcher: interprets a module's call graph in this process. Ready calls (S1) run
 * as soon as their inputs resolve, at most `concurrency` at a time (default: CPU count); async
 * implementations overlap. Every argument and result crosses its codec (encode → JSON →
 * decode), exactly as on a cluster. Collections live in a local content-addressed store.
 * Finished calls are kept in a result cache keyed by call id, so a re-run re-executes only
 * what had not finished. Fail-fast by default; `keepGoing` runs what does not depend on a
 * failure. Cancelling through `signal` aborts running calls (they see `ctx.signal`).
 *
 * @since 0.1.0
 */
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type * as t from 'io-ts'
import * as Codec from '../codec.js'
import * as Collection from '../collections/collection.js'
import * as Dispatcher from '../dispatcher.js'
import * as Errors from '../errors.js'
import * as Exec from '../exec.js'
import * as Launcher from '../exec/launcher.js'
import * as Graph from '../graph.js'
import type * as Module from '../module.js'
import * as LocalStore from '../collections/local-store.js'
import * as Store from '../collections/store.js'
import * as ValueStore from '../value-store.js'
import * as Dependencies from './dependencies.js'
import * as ResultCache from './result-cache.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface LocalOptions {
  /** how many implementations run at once (default: CPU count) */
  readonly concurrency?: number
  /**
   * where results (`results/`) and collections (`store/`) are kept; without it nothing is
   * reused across runs and collections go to the user's store (`Store.defaultDir`)
   */
  readonly cacheDir?: string
  /** how collections are stored and resolved (default: the local content-addressed store) */
  readonly store?: ValueStore.ValueStore
}

type State = Dependencies.Slot

interface Plan {
  readonly def: Module.AnyWork
  /** where each argument crosses */
  readonly args: ReadonlyArray<Codec.Where>
  readonly result: Codec.Where
  /** whether any argument, or the result, may hold collections (and so needs hydrating) */
  readonly argsHold: boolean
  readonly resultHolds: boolean
  /** the work declares a collection result: a returned list is concatenated */
  readonly concatenates: boolean
  readonly canReuse: boolean
  readonly attempts: number
}

/** a step of a call: nothing when it finished synchronously, else its continuation */
type Step = void | Promise<void>

const lazy = Symbol('arvados-crunch/local-call')

/** the parts of a call's context made on first use */
interface Lazy {
  rec: Graph.Recorder<Readonly<Record<string, Module.AnyWork>>> | undefined
  call: Module.CallFn | undefined
  output: ValueStore.OutputWriter | undefined
  log: ((message: string) => void) | undefined
  path: ((target: Collection.Collection | Collection.CollectionFile) => Promise<string>) | undefined
}

interface CallContext extends Module.WorkContext {
  [lazy]: Lazy | undefined
}

const lazyOf = (ctx: CallContext): Lazy => (ctx[lazy] ??= { rec: undefined, call: undefined, output: undefined, log: undefined, path: undefined })

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const summarize = (node: Graph.CallNode): string => {
  const text = `(${node.args.map((a) => (a._tag === 'Json' ? a.json : a.canonical)).join(', ')})`
  return text.length > 120 ? `${text.slice(0, 117)}…)` : text
}

const fromThrown = (u: unknown): Errors.SdkError | undefined => Errors.carried(u)

const isThenable = (u: unknown): u is PromiseLike<unknown> => typeof u === 'object' && u !== null && typeof (u as { then?: unknown }).then === 'function'

// -------------------------------------------------------------------------------------
// interpreter
// -------------------------------------------------------------------------------------

const interpret = async <M extends Module.AnyModule>(
  options: LocalOptions,
  module: M,
  rawParams: unknown,
  runOptions: Dispatcher.RunOptions,
): Promise<E.Either<Errors.SdkError, Dispatcher.RunResult<Module.OutputOf<M>>>> => {
  const store = options.store ?? LocalStore.valueStore(Store.make(options.cacheDir === undefined ? Store.defaultDir(process.env) : Path.join(options.cacheDir, 'store')))
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? Os.availableParallelism()))
  const keepGoing = runOptions.keepGoing === true
  const listener = runOptions.onEvent
  const emit = listener ?? (() => undefined)
  const controller = new AbortController()
  const signal = controller.signal
  const external = runOptions.signal
  if (external?.aborted === true) return E.left(Dispatcher.cancelled(module.name, external.reason))
  const cancelledFromOutside = (): boolean => external?.aborted === true
  const onExternalAbort = (): void => controller.abort(external?.reason)
  external?.addEventListener('abort', onExternalAbort, { once: true })

  const reuse = runOptions.reuse !== false && options.cacheDir !== undefined
  const opened = reuse ? ResultCache.open(Path.join(options.cacheDir!, 'results')) : E.right(ResultCache.none)
  if (E.isLeft(opened)) return opened
  const cache = opened.right

  // commands of ctx.exec start through one helper per run (started on first use)
  const launcher = Launcher.make()
  const cleanup = async (): Promise<void> => {
    external?.removeEventListener('abort', onExternalAbort)
    await cache.close()
    await launcher.close()
  }

  // 1. parameters cross their codec like any other value
  const paramsWhere: Codec.Where = { module: module.name, work: 'run', position: 'parameters' }
  const params = module.params.is(rawParams) ? Codec.cross(module.params, rawParams, paramsWhere) : E.map((value: unknown) => ({ json: '', value }))(Codec.decodeUnknown(module.params, rawParams, paramsWhere))
  if (E.isLeft(params)) return cleanup().then(() => params)
  const hydratedParams = await store.hydrate(params.right.value, signal)
  if (E.isLeft(hydratedParams)) return cleanup().then(() => hydratedParams)

  // 2. evaluate run: records the first fragment
  const root = Graph.recorder(module, undefined)
  let output: unknown
  try {
    output = await module.run(hydratedParams.right, root.context)
  } catch (e) {
    await cleanup()
    return E.left(fromThrown(e) ?? Dispatcher.workFailed(module.name, 'run', 'run', '', e))
  }

  // 3. interpret
  // FIFO of ready calls: `queue[head]` is next. Array.shift is O(length) once the array is
  // large (100,000 ready calls), so the consumed prefix is dropped in batches instead.
  const queue: Array<State | undefined> = []
  let head = 0
  let running = 0
  let inFlight = 0
  let executed = 0
  let reused = 0
  let settle: () => void = () => undefined
  const allSettled = new Promise<void>((resolve) => (settle = resolve))

  const workOf = (name: string): Module.AnyWork => module.work[name] as Module.AnyWork
  // whether values of a codec can hold collections, decided once per codec: hydrating is
  // skipped for the rest (most values of most pipelines)
  const holds = new Map<t.Mixed, boolean>()
  const mayHold = (codec: t.Mixed | undefined): boolean => {
    if (codec === undefined) return true
    let known = holds.get(codec)
    if (known === undefined) holds.set(codec, (known = Codec.mayHoldCollections(codec)))
    return known
  }
  const hydrate = (codec: t.Mixed | undefined, value: unknown): Promise<E.Either<Errors.SdkError, unknown>> | E.Either<Errors.SdkError, unknown> =>
    mayHold(codec) ? store.hydrate(value, signal) : E.right(value)
  // what every call of a work needs, made once per work
  const plans = new Map<string, Plan>()
  const planOf = (name: string): Plan => {
    let p = plans.get(name)
    if (p === undefined) {
      const def = workOf(name)
      const spec = def.spec
      const codecs = spec.args as ReadonlyArray<t.Mixed>
      p = {
        def,
        args: codecs.map((_, i) => ({ module: module.name, work: name, position: `argument ${i + 1}` })),
        result: { module: module.name, work: name, position: 'result' },
        argsHold: codecs.some(mayHold),
        resultHolds: mayHold(spec.returns),
        concatenates: Codec.declaresCollection(spec.returns),
        canReuse: reuse && spec.reuse !== false,
        attempts: 1 + Math.max(0, spec.retries ?? 0),
      }
      plans.set(name, p)
    }
    return p
  }
  const declaredOf = (owner: string): t.Mixed | undefined => (owner === 'run' ? module.returns : workOf((states.get(owner)!.node as Graph.CallNode).work).spec.returns)

  const checkDone = (): void => {
    if (inFlight === 0 && running === 0 && head === queue.length) settle()
  }

  const tracker = Dependencies.make<State>({
    module: module.name,
    keepGoing,
    slot: (node) => ({ node, status: 'waiting', pending: 0, dependents: undefined, value: undefined, json: undefined }),
    ready: (st) => ready(st),
    emit,
    stop: () => controller.abort('a call failed'),
  })
  const { slots: states, nodes, failures, add, complete } = tracker
  const fail = (st: State, error: Errors.SdkError): void => tracker.fail(st, error)

  const ready = (st: State): void => {
    if (signal.aborted) return
    if (st.node._tag === 'Combine') {
      inFlight++
      void resolveCombine(st, st.node).finally(() => {
        inFlight--
        checkDone()
      })
      return
    }
    queue.push(st)
    pump()
  }

  const afterCall = (): void => {
    running--
    pump()
    checkDone()
  }

  // Calls that finish synchronously (a synchronous implementation, a plain JSON result) are
  // done inside this loop, with no promise and no microtask; only calls that await get a
  // continuation. The loop is not re-entered: calls made ready while it runs (complete →
  // ready → pump) are picked up by the running loop, so the stack stays flat.
  let pumping = false
  const pump = (): void => {
    if (pumping) return
    pumping = true
    while (running < concurrency && head < queue.length && !signal.aborted) {
      const st = queue[head]!
      queue[head++] = undefined
      running++
      st.status = 'running'
      let step: Step
      try {
        step = execute(st, st.node as Graph.CallNode)
      } catch {
        step = undefined // as a rejected call before: the call stays unfinished
      }
      if (step === undefined) running--
      else step.then(afterCall, afterCall)
    }
    if (signal.aborted || head === queue.length) {
      queue.length = 0
      head = 0
    } else if (head >= 4096 && head * 2 >= queue.length) {
      queue.splice(0, head)
      head = 0
    }
    pumping = false
  }

  const concatParts = async (parts: unknown): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    const list = Array.isArray(parts) ? parts : []
    return store.concat(list as ReadonlyArray<Collection.Collection | null>, signal)
  }

  const resolveCombine = async (st: State, node: Graph.CombineNode): Promise<void> => {
    const ownerState = node.owner === 'run' ? undefined : states.get(node.owner)!
    const work = ownerState === undefined ? 'run' : (ownerState.node as Graph.CallNode).work
    const r = await Dependencies.resolveCombine(node, { module: module.name, slots: states, declared: declaredOf(node.owner), work, concat: concatParts, hydrate })
    if (E.isLeft(r)) return fail(st, r.left)
    const { value, json } = r.right
    complete(st, value, json)
    if (ownerState === undefined) tracker.settle(E.right({ value, json }))
    else {
      if (reuse && workOf(work).spec.reuse !== false) cache.put(ownerState.node.id, json)
      emit({ type: 'done', id: ownerState.node.id, work, reused: false })
      complete(ownerState, value, json)
    }
  }

  // -- one call, in steps: each step returns at once when it finishes synchronously, or the
  // promise of its continuation. Steps are functions of the run (made once), not per call.

  // the context an implementation receives: own fields for the data, and `call`, `output`,
  // `log` and `path` made on first use by getters of one shared prototype (most
  // implementations use none of them, and a closure per call is costly at 100,000 calls)
  const contextPrototype: object = Object.freeze({
    get call(): Module.CallFn {
      const self = this as unknown as CallContext
      return lazyOf(self).call ??= (w, ...a) => recorderOf(self).context.call(w, ...a)
    },
    get output(): ValueStore.OutputWriter {
      const self = this as unknown as CallContext
      return (lazyOf(self).output ??= store.outputs(self.callId, signal))
    },
    get log(): (message: string) => void {
      const self = this as unknown as CallContext
      return (lazyOf(self).log ??= (message: string) => emit({ type: 'log', id: self.callId, work: self.work, message }))
    },
    // ctx.exec until the interpreter rewrite provides it (with ctx.tmp) for every executor
    get exec(): Exec.ExecFn {
      const self = this as unknown as CallContext
      return Exec.forCall({ work: self.work, signal, launcher })
    },
    get path(): (target: Collection.Collection | Collection.CollectionFile) => Promise<string> {
      const self = this as unknown as CallContext
      return (lazyOf(self).path ??= async (target: Collection.Collection | Collection.CollectionFile) => {
        const p = await ValueStore.pathOf(store, target, signal)
        if (E.isLeft(p)) throw Errors.toError(p.left)
        return p.right
      })
    },
  })
  const recorderOf = (self: CallContext): Graph.Recorder<Readonly<Record<string, Module.AnyWork>>> => {
    const l = lazyOf(self)
    return (l.rec ??= Graph.recorder(module, self.callId))
  }
  const contextOf = (node: Graph.CallNode): CallContext => {
    const ctx = Object.create(contextPrototype) as { -readonly [K in keyof CallContext]: CallContext[K] }
    ctx.module = module.name
    ctx.work = node.work
    ctx.callId = node.id
    ctx.signal = signal
    ctx[lazy] = undefined
    return ctx
  }

  const execute = (st: State, node: Graph.CallNode): Step => {
    const plan = planOf(node.work)
    const codecs = plan.def.spec.args as ReadonlyArray<t.Mixed>
    const n = node.args.length
    // arguments cross their codecs; one more slot for the context
    const args: Array<unknown> = new Array(n + 1)
    for (let i = 0; i < n; i++) {
      const a = node.args[i]!
      const r = a._tag === 'Json' ? Codec.decode(codecs[i]!, a.json, plan.args[i]!) : crossShape(codecs[i]!, a.shape, plan.args[i]!)
      if (E.isLeft(r)) return fail(st, r.left)
      args[i] = r.right
    }
    if (!plan.argsHold) return withArgs(st, node, plan, args)
    args.length = n
    return store.hydrate(args, signal).then((h) => (E.isLeft(h) ? fail(st, h.left) : withArgs(st, node, plan, [...(h.right as ReadonlyArray<unknown>), undefined])))
  }

  const crossShape = (codec: t.Mixed, shape: unknown, where: Codec.Where): E.Either<Errors.SdkError, unknown> => {
    const crossed = Codec.cross(codec, Graph.substitute(shape, (id) => states.get(id)!.value), where)
    return E.isLeft(crossed) ? crossed : E.right(crossed.right.value)
  }

  const withArgs = (st: State, node: Graph.CallNode, plan: Plan, args: Array<unknown>): Step => {
    // reuse: a stored result is trusted only if it still decodes and hydrates
    if (plan.canReuse) {
      const stored = cache.get(node.id)
      if (stored !== undefined) {
        const decoded = Codec.decode(plan.def.spec.returns, stored, plan.result)
        if (E.isLeft(decoded)) return notReused(st, node, plan, args)
        if (!plan.resultHolds) return reuseStored(st, node, plan, args, stored, decoded)
        return store.hydrate(decoded.right, signal).then((live) => reuseStored(st, node, plan, args, stored, live))
      }
    }
    return attempt(st, node, plan, args, 1)
  }

  const reuseStored = (st: State, node: Graph.CallNode, plan: Plan, args: Array<unknown>, stored: string, live: E.Either<Errors.SdkError, unknown>): Step => {
    if (E.isLeft(live)) return notReused(st, node, plan, args)
    reused++
    emit({ type: 'done', id: node.id, work: node.work, reused: true })
    complete(st, live.right, stored)
  }

  const notReused = (st: State, node: Graph.CallNode, plan: Plan, args: Array<unknown>): Step => {
    cache.forget(node.id)
    return attempt(st, node, plan, args, 1)
  }

  const attempt = (st: State, node: Graph.CallNode, plan: Plan, args: Array<unknown>, n: number): Step => {
    if (signal.aborted) return
    if (listener !== undefined) listener({ type: 'start', id: node.id, work: node.work })
    const ctx = contextOf(node)
    args[args.length - 1] = ctx
    let returned: unknown
    try {
      executed++
      // called as a method of the work, as before: stack traces show `Object.implementation`
      returned = (plan.def as unknown as { readonly implementation: (...a: ReadonlyArray<unknown>) => unknown }).implementation(...args)
    } catch (e) {
      return threw(st, node, plan, args, n, e)
    }
    if (!isThenable(returned)) return withResult(st, node, plan, ctx, returned)
    return Promise.resolve(returned).then(
      (result) => withResult(st, node, plan, ctx, result),
      (e: unknown) => threw(st, node, plan, args, n, e),
    )
  }

  const threw = (st: State, node: Graph.CallNode, plan: Plan, args: Array<unknown>, n: number, e: unknown): Step => {
    const carriedError = fromThrown(e)
    if (n < plan.attempts && carriedError === undefined && !signal.aborted) return attempt(st, node, plan, args, n + 1)
    return fail(st, carriedError?._tag === 'CodecError' ? carriedError : Dispatcher.workFailed(module.name, node.work, node.id, summarize(node), e))
  }

  const withResult = (st: State, node: Graph.CallNode, plan: Plan, ctx: CallContext, result: unknown): Step => {
    // calls made by the implementation run even when their futures are dropped
    const rec = ctx[lazy]?.rec
    if (rec !== undefined) {
      for (const c of rec.calls()) {
        const added = add(c)
        if (E.isLeft(added)) return fail(st, added.left)
      }
    }
    if (Graph.containsFutures(result)) {
      // a continuation: the output resolves when the returned fragment does
      const added = add(Graph.combine(node.id, result, plan.def.spec.returns))
      if (E.isLeft(added)) return fail(st, added.left)
      return
    }
    if (plan.concatenates && Array.isArray(result)) return concatParts(result).then((c) => (E.isLeft(c) ? fail(st, c.left) : finish(st, node, plan, c.right)))
    return finish(st, node, plan, result)
  }

  /** the result crosses its codec, is hydrated, cached when asked, and completes the call */
  const finish = (st: State, node: Graph.CallNode, plan: Plan, result: unknown): Step => {
    const crossed = Codec.cross(plan.def.spec.returns, result, plan.result)
    if (E.isLeft(crossed)) return fail(st, crossed.left)
    const json = crossed.right.json
    if (!plan.resultHolds) return completeCall(st, node, plan, json, crossed.right.value)
    return store.hydrate(crossed.right.value, signal).then((h) => (E.isLeft(h) ? fail(st, h.left) : completeCall(st, node, plan, json, h.right)))
  }

  const completeCall = (st: State, node: Graph.CallNode, plan: Plan, json: string, value: unknown): void => {
    if (plan.canReuse) cache.put(node.id, json)
    complete(st, value, json)
    if (listener !== undefined) listener({ type: 'done', id: node.id, work: node.work, reused: false })
  }

  for (const c of root.calls()) {
    const added = add(c)
    if (E.isLeft(added)) {
      await cleanup()
      return added
    }
  }
  const top = add(Graph.combine('run', output, module.returns))
  if (E.isLeft(top)) {
    await cleanup()
    return top
  }
  checkDone()
  await allSettled
  await cleanup()

  const graph: Graph.Graph = { module: module.name, nodes }
  const stats: Dispatcher.Stats = { calls: nodes.filter((n) => n._tag === 'Call').length, executed, reused, failed: failures.length }
  if (cancelledFromOutside()) return E.left(Dispatcher.cancelled(module.name, external?.reason))
  const verdict = tracker.verdict()
  if (E.isLeft(verdict)) return verdict
  return E.right({
    value: verdict.right.value as Module.OutputOf<M>,
    json: verdict.right.json,
    graph,
    stats,
  })
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: LocalOptions = {}): Dispatcher.Dispatcher => ({
  name: 'local',
  run:
    <M extends Module.AnyModule>(module: M, params: unknown, runOptions: Dispatcher.RunOptions = {}): TE.TaskEither<Errors.SdkError, Dispatcher.RunResult<Module.OutputOf<M>>> =>
    () =>
      interpret(options, module, params, runOptions),
})
