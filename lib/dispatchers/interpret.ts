/**
 * The one interpreter of a module's call graph, shared by every dispatcher. It checks the
 * works' options (unknown ones are rejected before any call runs, then the executor checks
 * what it can honour), decodes the parameters, evaluates `run`, and then drives the graph:
 * a call is ready when its inputs are done; its arguments are encoded through their codecs;
 * an earlier result is reused when the cache (or the executor's backend) has one; otherwise
 * the executor starts it, within the run's concurrency and the work's own limits
 * (`maxConcurrent`, `exclusive`). Outcomes are decoded through the result codec (locally too),
 * lists of collections concatenated, continuations spliced into the graph; failures are
 * retried up to `retries` (with more memory after an out-of-memory end, when the work asks for
 * `escalate`), then fail the run fast or, keeping going, block only what depends on them.
 * Cancelling (the run's signal) stops everything at once. Events carry wall-clock times.
 *
 * What an executor does is only: start one call with concrete inputs and report how it ended
 * (`executor.ts`).
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
import * as Labels from '../report/labels.js'
import * as Limiter from '../internal/limiter.js'
import * as Dependencies from './dependencies.js'
import type * as Executor from './executor.js'
import * as Invoke from './invoke.js'
import * as Options from './options.js'
import * as ResultCache from './result-cache.js'
import * as ReuseReason from './reuse-reason.js'
import * as Rollup from './rollup.js'
import * as SiteBook from './site-book.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.2.0
 */
export interface InterpretOptions extends Dispatcher.RunOptions {
  /** where finished calls' results are kept between runs (default: nowhere) */
  readonly cache?: ResultCache.ResultCache
  /** what each call site made last time, to say why a call runs again (default: nothing) */
  readonly sites?: SiteBook.SiteBook
}

/**
 * The run's result, with what the executor's session made of it.
 *
 * @category models
 * @since 0.2.0
 */
export type Interpreted<A> = Dispatcher.RunResult<A>

interface State extends Dependencies.Slot {
  attempt: number
  reused: boolean
  args: ReadonlyArray<string> | undefined
  resources: Executor.Resources | undefined
  /** ms since the epoch when the call became ready / started */
  readyAt: number
  startedAt: number
  /** why it was reused or runs */
  decision: ReuseReason.Decision | undefined
  /** what the last attempt used, as its executor reported */
  usage: Executor.Usage | undefined
  /** the name of its output collection */
  outputName: string | undefined
}

interface Gate {
  running: number
  readonly limit: number
  readonly waiting: Array<State>
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** how long pumping synchronous calls may hold the event loop before it yields (Ctrl-C, timers) */
const YIELD_AFTER_MS = 20

/**
 * Look-ups of earlier results (`session.lookup`) in flight at once. A found result is read
 * inside its look-up, so without a bound a re-run of N calls holds N reads in flight at once
 * (memory grows with N). Waiting look-ups start again only when half of the slots are free,
 * all in one turn of the event loop, so the executor still batches them (one request per
 * hundred look-ups, not one per look-up as slots free one by one).
 */
const LOOKUPS_IN_FLIGHT = 1000

const now = (): number => Date.now()
const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * Parameters cross their codec like any other value: given as decoded values (they satisfy
 * `is`) they are encoded and decoded; given as JSON-like input (the CLI) they are decoded.
 *
 * @category utils
 * @since 0.2.0
 */
export const decodeParams = (module: Module.AnyModule, rawParams: unknown): E.Either<Errors.SdkError, unknown> => {
  const where: Codec.Where = { module: module.name, work: 'run', position: 'parameters' }
  const r = Options.guard(() => (module.params.is(rawParams) ? E.map((c: Codec.Crossed<unknown>) => c.value)(Codec.cross(module.params, rawParams, where)) : Codec.decodeUnknown(module.params, rawParams, where)), where, rawParams)
  return r
}

/**
 * Evaluates `run` with decoded (not yet hydrated) parameters and gives the nodes it recorded
 * and its output shape, without running any call: what `--print-graph` shows.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const evaluate = async (module: Module.AnyModule, rawParams: unknown): Promise<E.Either<Errors.SdkError, Graph.Graph>> => {
  const params = decodeParams(module, rawParams)
  if (E.isLeft(params)) return params
  const root = Graph.recorder(module, undefined)
  let output: unknown
  try {
    output = await module.run(params.right, root.context)
    // generators become arrays before the calls are read: reading one may make calls
    const m = Graph.materialize(output, 'the result of run()')
    if (E.isLeft(m)) return m
    output = m.right
  } catch (e) {
    return E.left(Errors.carried(e) ?? Dispatcher.workFailed(module.name, 'run', 'run', '', e))
  }
  const nodes: Array<Graph.Node> = [...root.calls()]
  nodes.push(Graph.combine('run', output, module.returns))
  return E.right({ module: module.name, nodes })
}

// -------------------------------------------------------------------------------------
// interpreter
// -------------------------------------------------------------------------------------

/**
 * Runs `module` with `executor`.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const run = async <M extends Module.AnyModule>(
  executor: Executor.Executor,
  module: M,
  rawParams: unknown,
  options: InterpretOptions = {},
): Promise<E.Either<Errors.SdkError, Interpreted<Module.OutputOf<M>>>> => {
  const external = options.signal
  if (external?.aborted === true) return E.left(Dispatcher.cancelled(module.name, external.reason))
  const listener = options.onEvent
  const emit = listener ?? (() => undefined)
  const keepGoing = options.keepGoing === true
  const cache = options.cache ?? ResultCache.none
  const sites = options.sites ?? SiteBook.none
  const reuse = options.reuse !== false
  // call sites and reasons are worked out only when someone reads them
  const explaining = listener !== undefined || sites !== SiteBook.none

  // 1. options: unknown ones everywhere, then what this executor can honour; parameters
  const known = Options.check(module)
  if (E.isLeft(known)) return known
  const params = decodeParams(module, rawParams)
  if (E.isLeft(params)) return params

  const controller = new AbortController()
  const signal = controller.signal
  const onExternalAbort = (): void => controller.abort(external?.reason)
  external?.addEventListener('abort', onExternalAbort, { once: true })
  const runLog = (message: string): void => {
    if (listener !== undefined) listener({ type: 'log', id: 'run', work: 'run', message, at: iso(now()) })
  }
  const opened = await executor.open(module, signal, runLog)
  if (E.isLeft(opened)) {
    external?.removeEventListener('abort', onExternalAbort)
    return opened
  }
  const session = opened.right
  const store = session.store
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    external?.removeEventListener('abort', onExternalAbort)
    await Promise.allSettled([session.close(), cache.close(), sites.close()])
  }
  const cancelledFromOutside = (): boolean => external?.aborted === true
  const startedAt = now()

  const hydratedParams = await store.hydrate(params.right, signal)
  if (E.isLeft(hydratedParams)) return close().then(() => hydratedParams)

  // 2. evaluate run: records the first fragment
  const root = Graph.recorder(module, undefined)
  let output: unknown
  try {
    output = await module.run(hydratedParams.right, root.context)
    // generators become arrays before the calls are read: reading one may make calls
    const m = Graph.materialize(output, 'the result of run()')
    if (E.isLeft(m)) {
      await close()
      return m
    }
    output = m.right
  } catch (e) {
    await close()
    return E.left(Errors.carried(e) ?? Dispatcher.workFailed(module.name, 'run', 'run', '', e))
  }

  // 3. interpret
  const concurrency = Math.max(1, Math.floor(session.concurrency))
  // FIFO of ready calls: `queue[head]` is next (the consumed prefix is dropped in batches)
  const queue: Array<State | undefined> = []
  let head = 0
  let running = 0
  let inFlight = 0
  let executed = 0
  let reusedCount = 0
  const rollup = Rollup.make()
  let settle: () => void = () => undefined
  const allSettled = new Promise<void>((resolve) => (settle = resolve))
  const planOf = Invoke.planner(module)
  const lookupSlot = Limiter.refillingInBulk(LOOKUPS_IN_FLIGHT)
  const workOf = (name: string): Module.AnyWork => module.work[name] as Module.AnyWork
  const declaredOf = (owner: string): t.Mixed | undefined => (owner === 'run' ? module.returns : workOf((states.get(owner)!.node as Graph.CallNode).work).spec.returns)
  const canReuse = (def: Module.AnyWork): boolean => reuse && def.spec.reuse !== false
  // each work's resources, worked out once
  const resources = new Map<Module.AnyWork, Executor.Resources>()
  const resourcesOf = (def: Module.AnyWork): Executor.Resources => {
    let r = resources.get(def)
    if (r === undefined) resources.set(def, (r = Options.resourcesOf(def.spec)))
    return r
  }

  // per-work limits: at most N at once, and exclusivity groups
  const gates = new Map<string, Gate>()
  const gatesOf = (def: Module.AnyWork, work: string): ReadonlyArray<Gate> => {
    const spec = def.spec as Module.WorkOptions
    const out: Array<Gate> = []
    if (spec.maxConcurrent !== undefined) {
      const key = `work:${work}`
      let g = gates.get(key)
      if (g === undefined) gates.set(key, (g = { running: 0, limit: spec.maxConcurrent, waiting: [] }))
      out.push(g)
    }
    if (spec.exclusive !== undefined) {
      const key = `group:${spec.exclusive}`
      let g = gates.get(key)
      if (g === undefined) gates.set(key, (g = { running: 0, limit: 1, waiting: [] }))
      out.push(g)
    }
    return out
  }
  const hasGates = Object.values(module.work as Readonly<Record<string, Module.AnyWork>>).some((w) => (w.spec as Module.WorkOptions).maxConcurrent !== undefined || (w.spec as Module.WorkOptions).exclusive !== undefined)

  const checkDone = (): void => {
    if (inFlight === 0 && running === 0 && head === queue.length) settle()
  }

  const tracker = Dependencies.make<State>({
    module: module.name,
    keepGoing,
    slot: (node) => ({ node, status: 'waiting', pending: 0, dependents: undefined, value: undefined, json: undefined, attempt: 0, reused: false, args: undefined, resources: undefined, readyAt: 0, startedAt: 0, decision: undefined, usage: undefined, outputName: undefined }),
    ready: (st) => ready(st),
    emit: (e) => emit(listener === undefined ? e : { ...e, at: iso(now()) }),
    stop: () => controller.abort('a call failed'),
  })
  const { slots: states, nodes, failures, complete } = tracker

  // call sites: `run/align#3` is the fourth align call made by run; `run/split#0/align#1` the
  // second made by the first split
  const siteNames = ReuseReason.siteNamer()
  const add = (node: Graph.Node): E.Either<Errors.SdkError, void> => {
    if (explaining && node._tag === 'Call') siteNames.name(node)
    return tracker.add(node)
  }
  const remember = (st: State, ok: boolean): void => {
    if (sites === SiteBook.none || st.node._tag !== 'Call') return
    const site = siteNames.of(st.node.id)
    if (site !== undefined) sites.set(site, ReuseReason.recordOf(st.node, Graph.codeHashOf(workOf(st.node.work), st.node.work, module.identity), ok))
  }
  const missReason = (st: State, node: Graph.CallNode, def: Module.AnyWork): ReuseReason.Decision => {
    if (!reuse) return { reused: false, reason: 'reuse-off' }
    if (def.spec.reuse === false) return { reused: false, reason: 'work-reuse-false' }
    if (st.decision?.reason === 'result-unreadable') return st.decision
    const site = siteNames.of(node.id)
    return ReuseReason.explainMiss(site === undefined ? undefined : sites.get(site), ReuseReason.recordOf(node, Graph.codeHashOf(def, node.work, module.identity), false))
  }
  const fail = (st: State, error: Errors.SdkError): void => {
    if (st.status === 'failed') return
    if (explaining) remember(st, false)
    tracker.fail(st, error)
  }

  const track = (p: Promise<unknown>): void => {
    inFlight++
    void p
      .catch((e: unknown) => {
        tracker.settle(E.left(Errors.fromUnknown(e, 'ARV_INTERNAL')))
        controller.abort('internal error')
      })
      .finally(() => {
        inFlight--
        checkDone()
      })
  }

  const ready = (st: State): void => {
    if (signal.aborted) return
    if (st.node._tag === 'Combine') return track(resolveCombine(st, st.node))
    if (listener !== undefined) st.readyAt = now()
    queue.push(st)
    if (!holding) pump()
  }
  // while the first fragment is added, ready calls only queue: the pump (which yields to the
  // event loop now and then) runs them afterwards
  let holding = true

  const afterCall = (): void => {
    running--
    pump()
    checkDone()
  }

  // Calls that finish synchronously are done inside this loop, with no promise and no
  // microtask; only calls that await get a continuation. The loop is not re-entered: calls
  // made ready while it runs are picked up by the running loop. It yields to the event loop
  // every YIELD_AFTER_MS so that Ctrl-C and timers are served during long synchronous runs.
  let pumping = false
  let yielded = false
  const pump = (): void => {
    if (pumping || yielded) return
    pumping = true
    const started = now()
    let n = 0
    while (running < concurrency && head < queue.length && !signal.aborted) {
      if (++n > 1 && now() - started > YIELD_AFTER_MS) {
        yielded = true
        setImmediate(() => {
          yielded = false
          pump()
          checkDone()
        })
        break
      }
      const st = queue[head]!
      queue[head++] = undefined
      if (hasGates && !admit(st)) continue
      running++
      st.status = 'running'
      let step: void | Promise<void>
      try {
        step = prepare(st, st.node as Graph.CallNode)
      } catch (e) {
        step = undefined
        tracker.settle(E.left(Errors.fromUnknown(e, 'ARV_INTERNAL')))
        controller.abort('internal error')
      }
      if (step === undefined) {
        running--
        if (hasGates) release(st)
      } else step.then(hasGates ? () => (release(st), afterCall()) : afterCall, afterCall)
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

  // a call waits at its gates; released calls go back to the front of the queue
  const admit = (st: State): boolean => {
    const gs = gatesOf(workOf((st.node as Graph.CallNode).work), (st.node as Graph.CallNode).work)
    for (const g of gs) {
      if (g.running >= g.limit) {
        g.waiting.push(st)
        return false
      }
    }
    for (const g of gs) g.running++
    return true
  }
  const release = (st: State): void => {
    const gs = gatesOf(workOf((st.node as Graph.CallNode).work), (st.node as Graph.CallNode).work)
    for (const g of gs) {
      g.running--
      const next = g.waiting.shift()
      if (next !== undefined) queue.push(next)
    }
    if (gs.length > 0) queueMicrotask(pump)
  }

  const concatParts = (parts: unknown): Promise<E.Either<Errors.SdkError, Collection.Collection>> =>
    store.concat((Array.isArray(parts) ? parts : []) as ReadonlyArray<Collection.Collection | null>, signal)

  const resolveCombine = async (st: State, node: Graph.CombineNode): Promise<void> => {
    const ownerState = node.owner === 'run' ? undefined : states.get(node.owner)!
    const work = ownerState === undefined ? 'run' : (ownerState.node as Graph.CallNode).work
    const r = await Dependencies.resolveCombine(node, {
      module: module.name,
      slots: states,
      declared: declaredOf(node.owner),
      work,
      concat: concatParts,
      hydrate: (codec, value) => (planHolds(codec) ? store.hydrate(value, signal) : E.right(value)),
    })
    if (E.isLeft(r)) return fail(st, r.left)
    const { value, json } = r.right
    complete(st, value, json)
    if (ownerState === undefined) tracker.settle(E.right({ value, json }))
    else {
      if (!ownerState.reused && canReuse(workOf(work))) cache.put(ownerState.node.id, json)
      done(ownerState, value, json)
    }
  }
  const holdsByCodec = new Map<t.Mixed, boolean>()
  const planHolds = (codec: t.Mixed): boolean => {
    let h = holdsByCodec.get(codec)
    if (h === undefined) holdsByCodec.set(codec, (h = Codec.mayHoldCollections(codec)))
    return h
  }

  const done = (st: State, value: unknown, json: string): void => {
    if (st.reused) reusedCount++
    rollup.add(st.reused, st.usage, st.startedAt === 0 ? undefined : now() - st.startedAt)
    complete(st, value, json)
    if (explaining) remember(st, true)
    if (listener !== undefined) {
      const t = now()
      const node = st.node as Graph.CallNode
      listener({
        type: 'done',
        id: node.id,
        work: node.work,
        reused: st.reused,
        at: iso(t),
        attempts: st.attempt,
        ...(st.startedAt === 0 ? {} : { durationMs: t - st.startedAt, queuedMs: st.startedAt - st.readyAt }),
        ...(st.decision === undefined ? {} : { reuse: st.decision, reuseReason: ReuseReason.describe(st.decision) }),
        ...(st.outputName === undefined ? {} : { outputName: st.outputName }),
        ...usageFields(st.usage),
      })
    }
  }
  const usageFields = (u: Executor.Usage | undefined): object => {
    if (u === undefined) return {}
    const used = { ...(u.peakRssBytes === undefined ? {} : { peakRssBytes: u.peakRssBytes }), ...(u.cpuSeconds === undefined ? {} : { cpuSeconds: u.cpuSeconds }) }
    return {
      ...(Object.keys(used).length === 0 ? {} : { used }),
      ...(u.startedAt === undefined ? {} : { startedAt: u.startedAt }),
      ...(u.finishedAt === undefined ? {} : { finishedAt: u.finishedAt }),
      ...(u.cost === undefined ? {} : { cost: u.cost }),
      ...(u.instanceType === undefined ? {} : { instanceType: u.instanceType }),
    }
  }

  // -- one call, in steps: each returns at once when it finishes synchronously, or the promise
  // of its continuation

  /** arguments are encoded through their codecs: the JSON text every executor receives */
  const prepare = (st: State, node: Graph.CallNode): void | Promise<void> => {
    const plan = planOf(node.work)
    const n = node.args.length
    const args: Array<string> = new Array(n)
    for (let i = 0; i < n; i++) {
      const a = node.args[i]!
      if (a._tag === 'Json') args[i] = Graph.plainJson(a)
      else {
        const json = Options.guard(() => Codec.encode(plan.codecs[i]!, Graph.substitute(a.shape, (id) => states.get(id)!.value), plan.args[i]!), plan.args[i]!, undefined)
        if (E.isLeft(json)) return fail(st, json.left)
        args[i] = json.right
      }
    }
    st.args = args
    if (plan.def.spec.outputName !== undefined) {
      const name = Options.outputNameOf(module.name, node.work, plan.def.spec, () => {
        const decoded: Array<unknown> = []
        for (let i = 0; i < n; i++) {
          const d = Codec.decode(plan.codecs[i]!, args[i]!, plan.args[i]!)
          if (E.isLeft(d)) return d
          decoded.push(d.right)
        }
        return E.right(decoded)
      })
      if (E.isLeft(name)) return fail(st, name.left)
      st.outputName = name.right
    }
    if (canReuse(plan.def)) {
      const stored = cache.get(node.id)
      if (stored !== undefined) return fromCache(st, node, plan, stored)
      if (session.lookup !== undefined) {
        const lookup = session.lookup
        return lookupSlot(() => lookup(call(st, node, plan))).then((found) => {
          if (E.isLeft(found)) return fail(st, found.left)
          if (found.right === undefined) return attempt(st, node, plan)
          st.reused = true
          if (explaining) st.decision = { reused: true, reason: 'earlier-request' }
          return outcome(st, node, plan, found.right)
        })
      }
    }
    return attempt(st, node, plan)
  }

  // a stored result is trusted only if it still decodes and hydrates (its blocks exist)
  const fromCache = (st: State, node: Graph.CallNode, plan: Invoke.Plan, stored: string): void | Promise<void> => {
    const decoded = Codec.decode(plan.def.spec.returns, stored, plan.result)
    if (E.isLeft(decoded)) return notReused(st, node, plan)
    st.reused = true
    if (explaining) st.decision = { reused: true, reason: 'cache-hit' }
    if (!plan.resultHolds) return done(st, decoded.right, stored)
    return store.hydrate(decoded.right, signal).then((live) => {
      if (E.isLeft(live)) {
        st.reused = false
        return notReused(st, node, plan)
      }
      done(st, live.right, stored)
    })
  }

  const notReused = (st: State, node: Graph.CallNode, plan: Invoke.Plan): void | Promise<void> => {
    cache.forget(node.id)
    if (explaining) st.decision = { reused: false, reason: 'result-unreadable' }
    return attempt(st, node, plan)
  }

  const callLog = (node: Graph.CallNode) => (message: string) => {
    if (listener !== undefined) listener({ type: 'log', id: node.id, work: node.work, message, at: iso(now()) })
  }
  const call = (st: State, node: Graph.CallNode, plan: Invoke.Plan): Executor.Call => ({
    node,
    id: node.id,
    work: node.work,
    def: plan.def,
    args: st.args!,
    attempt: st.attempt,
    resources: st.resources ?? resourcesOf(plan.def),
    outputName: st.outputName,
    signal,
    log: callLog(node),
  })

  const attempt = (st: State, node: Graph.CallNode, plan: Invoke.Plan): void | Promise<void> => {
    if (signal.aborted) return
    st.attempt++
    st.reused = false
    executed++
    const c = call(st, node, plan)
    if (explaining && st.attempt === 1) st.decision = missReason(st, node, plan.def)
    if (listener !== undefined) {
      st.startedAt = now()
      listener({
        type: 'start',
        id: node.id,
        work: node.work,
        at: iso(st.startedAt),
        attempt: st.attempt,
        label: Labels.callLabel(node),
        ...(c.resources.ram === undefined ? {} : { ram: c.resources.ram }),
        ...(c.resources.vcpus === undefined ? {} : { vcpus: c.resources.vcpus }),
        ...(st.decision === undefined ? {} : { reuse: st.decision }),
        ...(c.resources.ram === undefined && c.resources.vcpus === undefined ? {} : { requested: { ...(c.resources.ram === undefined ? {} : { ramBytes: c.resources.ram }), ...(c.resources.vcpus === undefined ? {} : { vcpus: c.resources.vcpus }) } }),
      })
    }
    let o: Executor.Outcome | Promise<Executor.Outcome>
    try {
      o = session.start(c)
    } catch (e) {
      o = { _tag: 'Failed', error: Errors.fromUnknown(e, 'ARV_INTERNAL'), retry: false }
    }
    if (!(o instanceof Promise)) return outcome(st, node, plan, o)
    return o.then((r) => outcome(st, node, plan, r))
  }

  const outcome = (st: State, node: Graph.CallNode, plan: Invoke.Plan, o: Executor.Outcome): void | Promise<void> => {
    if (o._tag !== 'Value' && o.usage !== undefined) st.usage = o.usage
    if (o._tag === 'Failed') {
      if (o.retry && st.attempt < Options.attemptsOf(plan.def.spec) && !signal.aborted) {
        if (o.outOfMemory === true) st.resources = Options.escalate(plan.def.spec, st.resources ?? resourcesOf(plan.def))
        return attempt(st, node, plan)
      }
      // a call that ended because the run stopped is not a failure of its own
      if (signal.aborted) return
      return fail(st, o.error)
    }
    if ('reused' in o && o.reused === true && !st.reused) {
      st.reused = true
      if (explaining) st.decision = { reused: true, reason: 'container-reused' }
    }
    if (o._tag !== 'Json') {
      // calls made by the implementation run even when their futures are dropped
      const calls = o.calls
      for (let i = 0; i < calls.length; i++) {
        const added = add(calls[i]!)
        if (E.isLeft(added)) return fail(st, added.left)
      }
    }
    if (o._tag === 'Continuation') {
      // the output resolves when the returned fragment does
      const added = Options.guard(() => E.right(add(Graph.combine(node.id, o.shape, plan.def.spec.returns))), plan.result, o.shape)
      if (E.isLeft(added)) return fail(st, added.left)
      if (E.isLeft(added.right)) return fail(st, added.right.left)
      return
    }
    if (o._tag === 'Json') {
      const decoded = Codec.decode(plan.def.spec.returns, o.json, plan.result)
      if (E.isLeft(decoded)) return fail(st, decoded.left)
      return finish(st, node, plan, o.json, decoded.right)
    }
    if (plan.concatenates && Array.isArray(o.value)) return concatParts(o.value).then((c) => (E.isLeft(c) ? fail(st, c.left) : crossResult(st, node, plan, c.right)))
    return crossResult(st, node, plan, o.value)
  }

  const crossResult = (st: State, node: Graph.CallNode, plan: Invoke.Plan, value: unknown): void | Promise<void> => {
    let crossed: E.Either<Errors.SdkError, Codec.Crossed<unknown>>
    try {
      crossed = Codec.cross(plan.def.spec.returns, value, plan.result)
    } catch (cause) {
      crossed = Options.thrown(cause, plan.result, value)
    }
    if (E.isLeft(crossed)) return fail(st, crossed.left)
    return finish(st, node, plan, crossed.right.json, crossed.right.value)
  }

  /** the decoded result is hydrated, kept when asked, and completes the call */
  const finish = (st: State, node: Graph.CallNode, plan: Invoke.Plan, json: string, value: unknown): void | Promise<void> => {
    if (!plan.resultHolds) return completeCall(st, node, plan, json, value)
    return store.hydrate(value, signal).then((h) => (E.isLeft(h) ? fail(st, h.left) : completeCall(st, node, plan, json, h.right)))
  }

  const completeCall = (st: State, node: Graph.CallNode, plan: Invoke.Plan, json: string, value: unknown): void => {
    if (!st.reused && canReuse(plan.def)) cache.put(node.id, json)
    done(st, value, json)
  }

  for (const c of root.calls()) {
    const added = add(c)
    if (E.isLeft(added)) {
      await close()
      return added
    }
  }
  const top = Options.guard(() => E.right(add(Graph.combine('run', output, module.returns))), { module: module.name, work: 'run', position: 'result' }, output)
  if (E.isLeft(top) || E.isLeft(top.right)) {
    await close()
    return E.isLeft(top) ? top : (top.right as E.Left<Errors.SdkError>)
  }
  holding = false
  pump()
  checkDone()
  await allSettled
  await close()

  const graph: Graph.Graph = { module: module.name, nodes }
  let calls = 0
  for (let i = 0; i < nodes.length; i++) if (nodes[i]!._tag === 'Call') calls++
  const discarded = cache.stats().discarded
  const stats: Dispatcher.Stats = { calls, executed, reused: reusedCount, failed: failures.length, wallMs: now() - startedAt, ...(discarded > 0 ? { discarded } : {}), ...rollup.stats() }
  if (cancelledFromOutside()) return E.left(Dispatcher.cancelled(module.name, external?.reason))
  const verdict = tracker.verdict()
  if (E.isLeft(verdict)) return verdict
  return E.right({ value: verdict.right.value as Module.OutputOf<M>, json: verdict.right.json, graph, stats })
}
