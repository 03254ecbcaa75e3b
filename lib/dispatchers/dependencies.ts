/**
 * The bookkeeping of a run's call graph, shared by the local interpreter and the crunch runner:
 * one slot per node (its status, how many of its inputs are still pending, the nodes waiting on
 * it), adding nodes as they are recorded (a node whose inputs are all done is ready at once),
 * completing a node (its dependents whose last input it was become ready), and failing one:
 * failing fast stops the run; keeping going blocks only what depends on the failure, and the
 * output of a call (or of the run) that can no longer resolve is blocked with it.
 *
 * What "ready" means — run an implementation in-process, submit a container request — is the
 * interpreter's, given as hooks. No I/O here; `resolveCombine` does the one step both
 * interpreters take the same way (an output made of other nodes' values), with the store's
 * concatenation and hydration given to it.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import * as Codec from '../codec.js'
import type * as Collection from '../collections/collection.js'
import * as Dispatcher from '../dispatcher.js'
import * as Errors from '../errors.js'
import * as Graph from '../graph.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export type Status = 'waiting' | 'running' | 'done' | 'failed' | 'blocked'

/**
 * One node's place in the run. Interpreters extend it with their own fields.
 *
 * @category models
 * @since 0.1.0
 */
export interface Slot {
  readonly node: Graph.Node
  status: Status
  /** inputs not done yet */
  pending: number
  /** the nodes waiting on this one: none, the usual single one, or a list */
  dependents: Slot | Array<Slot> | undefined
  value: unknown
  /** JSON text of the value as it crossed its codec */
  json: string | undefined
}

/**
 * What the interpreter does at each turn of the bookkeeping.
 *
 * @category models
 * @since 0.1.0
 */
export interface Hooks<S extends Slot> {
  readonly module: string
  readonly keepGoing: boolean
  /** a fresh slot for a node (status `waiting`, nothing pending) */
  readonly slot: (node: Graph.Node) => S
  /** all of the node's inputs are done */
  readonly ready: (slot: S) => void
  /** receives the `failed` event of each failure */
  readonly emit: (event: Dispatcher.Event) => void
  /** failing fast: the run must stop (abort what runs, submit nothing more) */
  readonly stop: () => void
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Tracker<S extends Slot> {
  readonly slots: Map<string, S>
  /** every node, in the order added */
  readonly nodes: Array<Graph.Node>
  readonly failures: Array<Errors.SdkError>
  /** calls that did not run because something they depend on failed */
  readonly skipped: () => number
  /** adds a node (once per id); Left when it depends on a future this run did not make */
  readonly add: (node: Graph.Node) => E.Either<Errors.SdkError, void>
  readonly complete: (slot: S, value: unknown, json: string) => void
  readonly fail: (slot: S, error: Errors.SdkError) => void
  /** records how the run ends, unless that is already known (the first word stands) */
  readonly settle: (outcome: E.Either<Errors.SdkError, Output>) => void
  /** the run's result once nothing runs any more: its first failure (failing fast), all of them (keeping going), or its output */
  readonly verdict: () => E.Either<Errors.SdkError, Output>
}

/**
 * A run's output: the value and its JSON text.
 *
 * @category models
 * @since 0.1.0
 */
export interface Output {
  readonly value: unknown
  readonly json: string
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * Calls `f` on each dependent of a slot.
 *
 * @category utils
 * @since 0.1.0
 */
export const eachDependent = <S extends Slot>(slot: S, f: (d: S) => void): void => {
  const ds = slot.dependents as S | Array<S> | undefined
  if (ds === undefined) return
  if (!Array.isArray(ds)) return f(ds)
  for (let i = 0; i < ds.length; i++) f(ds[i]!)
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = <S extends Slot>(hooks: Hooks<S>): Tracker<S> => {
  const slots = new Map<string, S>()
  const nodes: Array<Graph.Node> = []
  const failures: Array<Errors.SdkError> = []
  let skipped = 0
  let outcome: E.Either<Errors.SdkError, Output> | undefined
  const settle = (o: E.Either<Errors.SdkError, Output>): void => {
    outcome ??= o
  }

  const blockOwner = (st: S): void => {
    if (st.node._tag !== 'Combine') return
    if (st.node.owner === 'run') settle(E.left(Dispatcher.runFailed(hooks.module, failures, skipped)))
    else block(slots.get(st.node.owner)!)
  }

  const block = (st: S): void => {
    if (st.status === 'blocked' || st.status === 'failed' || st.status === 'done') return
    st.status = 'blocked'
    if (st.node._tag === 'Call') skipped++
    eachDependent(st, block)
    blockOwner(st)
  }

  const fail = (st: S, error: Errors.SdkError): void => {
    st.status = 'failed'
    failures.push(error)
    hooks.emit({ type: 'failed', id: st.node.id, work: st.node._tag === 'Call' ? st.node.work : 'run', error })
    if (!hooks.keepGoing) {
      settle(E.left(error))
      return hooks.stop()
    }
    eachDependent(st, block)
    blockOwner(st)
  }

  const release = (d: S): void => {
    if (d.status === 'waiting' && --d.pending === 0) hooks.ready(d)
  }

  const complete = (st: S, value: unknown, json: string): void => {
    st.status = 'done'
    st.value = value
    st.json = json
    eachDependent(st, release)
  }

  const add = (node: Graph.Node): E.Either<Errors.SdkError, void> => {
    if (slots.has(node.id)) return E.right(undefined)
    const st = hooks.slot(node)
    let blocked = false
    const deps = node.deps
    for (let i = 0; i < deps.length; i++) {
      const ds = slots.get(deps[i]!)
      if (ds === undefined) return E.left(Dispatcher.foreignFuture(node, deps[i]!))
      if (ds.status === 'done') continue
      if (ds.status === 'failed' || ds.status === 'blocked') blocked = true
      st.pending++
      const theirs = ds.dependents
      if (theirs === undefined) ds.dependents = st
      else if (Array.isArray(theirs)) theirs.push(st)
      else ds.dependents = [theirs, st]
    }
    slots.set(node.id, st)
    nodes.push(node)
    if (blocked) block(st)
    else if (st.pending === 0) hooks.ready(st)
    return E.right(undefined)
  }

  const verdict = (): E.Either<Errors.SdkError, Output> => {
    if (failures.length > 0) return E.left(hooks.keepGoing ? Dispatcher.runFailed(hooks.module, failures, skipped) : failures[0]!)
    return (
      outcome ??
      E.left(Errors.make('InternalError', 'ARV_INTERNAL', `the run of module "${hooks.module}" ended without an output`, {}, { hint: 'this is a bug in arvados-crunch; please report it with the module' }))
    )
  }

  return { slots, nodes, failures, skipped: () => skipped, add, complete, fail, settle, verdict }
}

// -------------------------------------------------------------------------------------
// combining
// -------------------------------------------------------------------------------------

/**
 * The value of a combine node (the output of `run`, or of a work that made calls) once every
 * node it depends on is done: the values substituted for their futures, a list of collections
 * concatenated when the output is declared a collection, then the declared codec crossed
 * (encode → JSON → decode) and collections hydrated. Without a declared codec the output is the
 * gathered structure, each piece having crossed its own codec, and its JSON text is spliced.
 *
 * @category combining
 * @since 0.1.0
 */
export const resolveCombine = async <S extends Slot>(
  node: Graph.CombineNode,
  input: {
    readonly module: string
    readonly slots: ReadonlyMap<string, S>
    /** the codec the owner declares for its result (undefined: `run` without `returns`) */
    readonly declared: t.Mixed | undefined
    /** the owner's work name ('run' for the run) */
    readonly work: string
    readonly concat: (parts: ReadonlyArray<Collection.Collection | null>) => Promise<E.Either<Errors.SdkError, Collection.Collection>>
    readonly hydrate: (codec: t.Mixed, value: unknown) => Promise<E.Either<Errors.SdkError, unknown>> | E.Either<Errors.SdkError, unknown>
  },
): Promise<E.Either<Errors.SdkError, { readonly value: unknown; readonly json: string }>> => {
  const values = Graph.substitute(node.shape, (id) => input.slots.get(id)!.value)
  if (input.declared === undefined) return E.right({ value: values, json: Graph.spliceJson(node.shape, (id) => input.slots.get(id)!.json!) })
  let combined: unknown = values
  if (node.mode === 'concat') {
    const c = await input.concat((Array.isArray(values) ? values : []) as ReadonlyArray<Collection.Collection | null>)
    if (E.isLeft(c)) return c
    combined = c.right
  }
  const crossed = Codec.cross(input.declared, combined, { module: input.module, work: input.work, position: 'result' })
  if (E.isLeft(crossed)) return crossed
  const hydrated = await input.hydrate(input.declared, crossed.right.value)
  if (E.isLeft(hydrated)) return hydrated
  return E.right({ value: hydrated.right, json: crossed.right.json })
}
