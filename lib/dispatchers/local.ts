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
import type * as Collection from '../collections/collection.js'
import * as Dispatcher from '../dispatcher.js'
import * as Errors from '../errors.js'
import * as Graph from '../graph.js'
import type * as Module from '../module.js'
import * as LocalStore from '../collections/local-store.js'
import * as Store from '../collections/store.js'
import * as ValueStore from '../value-store.js'
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
   * reused across runs and collections go to a shared store under the system temp directory
   */
  readonly cacheDir?: string
  /** how collections are stored and resolved (default: the local content-addressed store) */
  readonly store?: ValueStore.ValueStore
}

type Status = 'waiting' | 'running' | 'done' | 'failed' | 'blocked'

interface State {
  readonly node: Graph.Node
  status: Status
  pending: number
  /** ids of the nodes waiting on this one (made on first use) */
  dependents: Array<string> | undefined
  value: unknown
  /** JSON text of the value as it crossed its codec */
  json: string | undefined
}

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
  const store = options.store ?? LocalStore.valueStore(Store.make(options.cacheDir === undefined ? Path.join(Os.tmpdir(), 'arvados-crunch', 'store') : Path.join(options.cacheDir, 'store')))
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

  const cleanup = async (): Promise<void> => {
    external?.removeEventListener('abort', onExternalAbort)
    await cache.close()
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
  const states = new Map<string, State>()
  const nodes: Array<Graph.Node> = []
  // FIFO of ready calls: `queue[head]` is next. Array.shift is O(length) once the array is
  // large (100,000 ready calls), so the consumed prefix is dropped in batches instead.
  const queue: Array<State | undefined> = []
  let head = 0
  const failures: Array<Errors.SdkError> = []
  let skipped = 0
  let running = 0
  let inFlight = 0
  let executed = 0
  let reused = 0
  let finished: E.Either<Errors.SdkError, { value: unknown; json: string }> | undefined
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
  // the Where of each argument and of the result, per work, made once
  const wheres = new Map<string, { readonly args: ReadonlyArray<Codec.Where>; readonly result: Codec.Where }>()
  const whereOf = (work: string) => {
    let w = wheres.get(work)
    if (w === undefined) {
      const n = (workOf(work).spec.args as ReadonlyArray<t.Mixed>).length
      w = { args: Array.from({ length: n }, (_, i) => ({ module: module.name, work, position: `argument ${i + 1}` })), result: { module: module.name, work, position: 'result' } }
      wheres.set(work, w)
    }
    return w
  }
  const declaredOf = (owner: string): t.Mixed | undefined => (owner === 'run' ? module.returns : workOf((states.get(owner)!.node as Graph.CallNode).work).spec.returns)

  const checkDone = (): void => {
    if (inFlight === 0 && running === 0 && head === queue.length) settle()
  }

  const block = (st: State): void => {
    if (st.status === 'blocked' || st.status === 'failed' || st.status === 'done') return
    st.status = 'blocked'
    if (st.node._tag === 'Call') skipped++
    for (const d of st.dependents ?? []) block(states.get(d)!)
    if (st.node._tag === 'Combine') {
      if (st.node.owner === 'run') finished ??= E.left(Dispatcher.runFailed(module.name, failures, skipped))
      else block(states.get(st.node.owner)!)
    }
  }

  const fail = (st: State, error: Errors.SdkError): void => {
    st.status = 'failed'
    failures.push(error)
    const work = st.node._tag === 'Call' ? st.node.work : 'run'
    emit({ type: 'failed', id: st.node.id, work, error })
    if (!keepGoing) {
      finished ??= E.left(error)
      controller.abort('a call failed')
      return
    }
    for (const d of st.dependents ?? []) block(states.get(d)!)
    if (st.node._tag === 'Combine') {
      if (st.node.owner === 'run') finished ??= E.left(Dispatcher.runFailed(module.name, failures, skipped))
      else block(states.get(st.node.owner)!)
    }
  }

  const complete = (st: State, value: unknown, json: string): void => {
    st.status = 'done'
    st.value = value
    st.json = json
    for (const id of st.dependents ?? []) {
      const d = states.get(id)!
      if (d.status === 'waiting' && --d.pending === 0) ready(d)
    }
  }

  const add = (node: Graph.Node): E.Either<Errors.SdkError, void> => {
    if (states.has(node.id)) return E.right(undefined)
    const st: State = { node, status: 'waiting', pending: 0, dependents: undefined, value: undefined, json: undefined }
    let blocked = false
    for (const d of node.deps) {
      const ds = states.get(d)
      if (ds === undefined) {
        return E.left(
          Errors.make('ForeignFutureError', 'ARV_FOREIGN_FUTURE', `a future passed to ${node._tag === 'Call' ? `work "${node.work}"` : 'an output'} was not made in this run`, { nodeId: d }, {
            hint: 'futures belong to the run that made them; do not keep them across runs or share them between modules',
          }),
        )
      }
      if (ds.status === 'done') continue
      if (ds.status === 'failed' || ds.status === 'blocked') blocked = true
      st.pending++
      ;(ds.dependents ??= []).push(node.id)
    }
    states.set(node.id, st)
    nodes.push(node)
    if (blocked) block(st)
    else if (st.pending === 0) ready(st)
    return E.right(undefined)
  }

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

  const pump = (): void => {
    while (running < concurrency && head < queue.length && !signal.aborted) {
      const st = queue[head]!
      queue[head++] = undefined
      running++
      st.status = 'running'
      execute(st, st.node as Graph.CallNode).then(afterCall, afterCall)
    }
    if (signal.aborted || head === queue.length) {
      queue.length = 0
      head = 0
    } else if (head >= 4096 && head * 2 >= queue.length) {
      queue.splice(0, head)
      head = 0
    }
  }

  /**
   * crosses `value` through `codec`, hydrates, and completes `st` (caching when asked);
   * synchronous unless hydrating is (no microtask per call for plain JSON values)
   */
  const finishWith = (st: State, codec: t.Mixed, value: unknown, where: Codec.Where, cacheIt: boolean): void | Promise<void> => {
    const crossed = Codec.cross(codec, value, where)
    if (E.isLeft(crossed)) return fail(st, crossed.left)
    const json = crossed.right.json
    const finish = (hydrated: E.Either<Errors.SdkError, unknown>): void => {
      if (E.isLeft(hydrated)) return fail(st, hydrated.left)
      if (cacheIt) cache.put(st.node.id, json)
      complete(st, hydrated.right, json)
    }
    const h = hydrate(codec, crossed.right.value)
    return h instanceof Promise ? h.then(finish) : finish(h)
  }

  const concatParts = async (parts: unknown): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    const list = Array.isArray(parts) ? parts : []
    return store.concat(list as ReadonlyArray<Collection.Collection | null>, signal)
  }

  const resolveCombine = async (st: State, node: Graph.CombineNode): Promise<void> => {
    const values = Graph.substitute(node.shape, (id) => states.get(id)!.value)
    const declared = declaredOf(node.owner)
    const ownerState = node.owner === 'run' ? undefined : states.get(node.owner)!
    const work = ownerState === undefined ? 'run' : (ownerState.node as Graph.CallNode).work
    const where: Codec.Where = { module: module.name, work, position: 'result' }
    let combined: unknown = values
    if (node.mode === 'concat') {
      const c = await concatParts(values)
      if (E.isLeft(c)) return fail(st, c.left)
      combined = c.right
    }
    if (declared === undefined) {
      // run without a declared result: the gathered structure, each piece already crossed its codec
      const json = JSON.stringify(Graph.substitute(node.shape, (id) => JSON.parse(states.get(id)!.json!) as unknown))
      complete(st, values, json)
      finished ??= E.right({ value: values, json })
      return
    }
    const crossed = Codec.cross(declared, combined, where)
    if (E.isLeft(crossed)) return fail(st, crossed.left)
    const hydrated = await hydrate(declared, crossed.right.value)
    if (E.isLeft(hydrated)) return fail(st, hydrated.left)
    const json = crossed.right.json
    complete(st, hydrated.right, json)
    if (ownerState === undefined) finished ??= E.right({ value: hydrated.right, json })
    else {
      if (reuse && workOf(work).spec.reuse !== false) cache.put(ownerState.node.id, json)
      emit({ type: 'done', id: ownerState.node.id, work, reused: false })
      complete(ownerState, hydrated.right, json)
    }
  }

  const execute = async (st: State, node: Graph.CallNode): Promise<void> => {
    const def = workOf(node.work)
    const spec = def.spec
    // arguments cross their codecs
    const args: Array<unknown> = []
    const where = whereOf(node.work)
    let holdsCollections = false
    for (let i = 0; i < node.args.length; i++) {
      const a = node.args[i]!
      const codec: t.Mixed = spec.args[i]
      holdsCollections ||= mayHold(codec)
      const r = a._tag === 'Json' ? Codec.decode(codec, a.json, where.args[i]!) : E.map((c: Codec.Crossed<unknown>) => c.value)(Codec.cross(codec, Graph.substitute(a.shape, (id) => states.get(id)!.value), where.args[i]!))
      if (E.isLeft(r)) return fail(st, r.left)
      args.push(r.right)
    }
    let callArgs = args
    if (holdsCollections) {
      const hydrated = await store.hydrate(args, signal)
      if (E.isLeft(hydrated)) return fail(st, hydrated.left)
      callArgs = hydrated.right as Array<unknown>
    }
    const resultWhere = where.result
    const canReuse = reuse && spec.reuse !== false

    // reuse: a stored result is trusted only if it still decodes and hydrates
    if (canReuse) {
      const stored = cache.get(node.id)
      if (stored !== undefined) {
        const decoded = Codec.decode(spec.returns, stored, resultWhere)
        const live = E.isRight(decoded) ? await hydrate(spec.returns, decoded.right) : decoded
        if (E.isRight(live)) {
          reused++
          emit({ type: 'done', id: node.id, work: node.work, reused: true })
          return complete(st, live.right, stored)
        }
        cache.forget(node.id)
      }
    }

    const attempts = 1 + Math.max(0, spec.retries ?? 0)
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (signal.aborted) return
      if (listener !== undefined) listener({ type: 'start', id: node.id, work: node.work })
      // the recorder is made on first use: most implementations call no work
      let rec: Graph.Recorder<Readonly<Record<string, Module.AnyWork>>> | undefined
      let output: ValueStore.OutputWriter | undefined
      const ctx: Module.WorkContext = {
        module: module.name,
        work: node.work,
        callId: node.id,
        signal,
        call: (w, ...a) => (rec ??= Graph.recorder(module, node.id)).context.call(w, ...a),
        // made on first use: most implementations never write an output collection
        get output() {
          return (output ??= store.outputs(node.id, signal))
        },
        log: (message) => emit({ type: 'log', id: node.id, work: node.work, message }),
        path: async (target) => {
          const p = await ValueStore.pathOf(store, target, signal)
          if (E.isLeft(p)) throw Errors.toError(p.left)
          return p.right
        },
      }
      let result: unknown
      try {
        executed++
        const returned: unknown = def.implementation(...callArgs, ctx)
        result = isThenable(returned) ? await returned : returned
      } catch (e) {
        const carriedError = fromThrown(e)
        if (attempt < attempts && carriedError === undefined && !signal.aborted) continue
        return fail(st, carriedError?._tag === 'CodecError' ? carriedError : Dispatcher.workFailed(module.name, node.work, node.id, summarize(node), e))
      }
      // calls made by the implementation run even when their futures are dropped
      for (const c of rec?.calls() ?? []) {
        const added = add(c)
        if (E.isLeft(added)) return fail(st, added.left)
      }
      if (Graph.containsFutures(result)) {
        // a continuation: the output resolves when the returned fragment does
        const added = add(Graph.combine(node.id, result, spec.returns))
        if (E.isLeft(added)) return fail(st, added.left)
        return
      }
      if (Codec.declaresCollection(spec.returns) && Array.isArray(result)) {
        const c = await concatParts(result)
        if (E.isLeft(c)) return fail(st, c.left)
        result = c.right
      }
      const finishing = finishWith(st, spec.returns, result, resultWhere, canReuse)
      if (finishing !== undefined) await finishing
      if (st.status === 'done' && listener !== undefined) listener({ type: 'done', id: node.id, work: node.work, reused: false })
      return
    }
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
  if (failures.length > 0) return E.left(keepGoing ? Dispatcher.runFailed(module.name, failures, skipped) : failures[0]!)
  if (finished === undefined) return E.left(Errors.make('InternalError', 'ARV_INTERNAL', `the run of module "${module.name}" ended without an output`, {}, { hint: 'this is a bug in arvados-crunch; please report it with the module' }))
  if (E.isLeft(finished)) return finished
  return E.right({
    value: finished.right.value as Module.OutputOf<M>,
    json: finished.right.json,
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
