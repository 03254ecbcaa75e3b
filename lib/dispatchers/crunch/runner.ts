/**
 * The runner role: interprets a module's call graph on Arvados. It evaluates `run`, submits
 * one container request per ready call (re-attaching to its own earlier requests — found by
 * the call-id property — instead of submitting duplicates), watches every pending request with
 * batched list requests, decodes each finished output, submits newly ready calls, splices
 * continuations, resolves gathers and concatenations, and records the final output as a
 * collection. Same outputs as the local dispatcher for the same module: values cross the same
 * codecs in the same places.
 *
 * Failures stop the run (cancelling what is outstanding) with a message that names the call and
 * shows the tail of its `stderr.txt`; `keepGoing` runs what does not depend on a failure.
 * Aborting the signal cancels every outstanding request (priority 0).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import type * as Client from '../../arvados/client.js'
import * as Codec from '../../codec.js'
import * as Collection from '../../collections/collection.js'
import * as Pdh from '../../collections/pdh.js'
import * as Reference from '../../collections/reference.js'
import type * as Store from '../../collections/store.js'
import * as Dispatcher from '../../dispatcher.js'
import * as Errors from '../../errors.js'
import * as Graph from '../../graph.js'
import * as Dependencies from '../dependencies.js'
import * as Limiter from '../../internal/limiter.js'
import type * as Keep from '../../keep/client.js'
import * as Locator from '../../keep/locator.js'
import type * as Module from '../../module.js'
import * as KeepValueStore from './keep-value-store.js'
import * as Poll from './poll.js'
import * as Request from './request.js'
import * as ResultFile from './result-file.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What the runner works with.
 *
 * @category models
 * @since 0.1.0
 */
export interface RunnerContext {
  readonly api: Client.ArvadosClient
  readonly keep: Keep.KeepClient
  readonly bundle: Request.Bundle
  readonly image: string
  readonly project: string | undefined
  readonly outputName: string | undefined
  /** longest interval between polls, ms */
  readonly pollMs: number
  /** first interval between polls, ms: it grows by half while nothing finishes, up to `pollMs` */
  readonly minPollMs: number
  readonly priority: number
  /** copies of each block the runner writes */
  readonly replicas: number
  /** inside a container: publish the final output as the container's output */
  readonly publishToContainer: boolean
  /** where local directories given as collections are ingested before their upload (none inside a container) */
  readonly uploads?: Store.Store | undefined
}

/**
 * The final output as recorded in Arvados.
 *
 * @category models
 * @since 0.1.0
 */
export interface Recorded {
  readonly uuid: string
  readonly pdh: string
}

/** container requests being created at once (the client allows 8 requests in flight) */
const CREATES_IN_FLIGHT = 5

/** call ids per lookup request (their text stays well under the API's long-GET form limits) */
const LOOKUP_BATCH = 100

interface State extends Dependencies.Slot {
  request: string | undefined
  /** attached to an earlier Final request: if it did not succeed, submit a new one */
  attachedFinal: boolean
  /** how many requests for this call exist already (for a fresh create id) */
  earlier: number
  reused: boolean
}

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/**
 * A call's container did not succeed.
 *
 * @category errors
 * @since 0.1.0
 */
export const callFailed = (module: string, node: Graph.CallNode, request: string, what: string, stderrTail: ReadonlyArray<string>) =>
  Errors.make(
    'CallFailedError',
    'ARV_CRUNCH_CALL_FAILED',
    `work "${node.work}" [call ${node.id.slice(0, 12)}] ${what} (container request ${request})`,
    { module, work: node.work, callId: node.id, request },
    {
      details: stderrTail.length === 0 ? ['(no stderr.txt in its log)'] : ['last lines of stderr.txt:', ...stderrTail.map((l) => `  ${l}`)],
      hint: `see the full log in the log collection of container request ${request}`,
    },
  )

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * How a finished request ended, in words.
 *
 * @category utils
 * @since 0.1.0
 */
export const describeEnd = (f: Poll.Finished): string => {
  if (f.request.state === 'Committed') return 'was cancelled before its container ran (priority 0)'
  if (f.containerState === 'Cancelled') return f.runtimeError === undefined ? 'was cancelled (its container ended Cancelled: killed, or it could not start)' : `could not run: ${f.runtimeError}`
  if (f.containerState === 'Complete' && f.exitCode !== 0) return `failed: its container exited with code ${String(f.exitCode)}`
  if (f.outputManifest === undefined) return 'finished without an output collection'
  return `ended in state ${f.containerState ?? 'unknown'}`
}

// -------------------------------------------------------------------------------------
// interpreter
// -------------------------------------------------------------------------------------

/**
 * Runs `module` on Arvados. Resolves with the run's result and where the output was recorded.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const interpret = async <M extends Module.AnyModule>(
  rc: RunnerContext,
  module: M,
  rawParams: unknown,
  runOptions: Dispatcher.RunOptions,
): Promise<E.Either<Errors.SdkError, Dispatcher.RunResult<Module.OutputOf<M>> & { readonly recorded: Recorded }>> => {
  const { api } = rc
  const store = KeepValueStore.runner(api, rc.keep, rc.project, rc.uploads)
  const keepGoing = runOptions.keepGoing === true
  const reuse = runOptions.reuse !== false
  const emit = runOptions.onEvent ?? (() => undefined)
  const controller = new AbortController()
  const signal = controller.signal
  const external = runOptions.signal
  if (external?.aborted === true) return E.left(Dispatcher.cancelled(module.name, external.reason))
  const cancelledFromOutside = (): boolean => external?.aborted === true
  const onExternalAbort = (): void => {
    controller.abort(external?.reason)
    wake()
  }
  external?.addEventListener('abort', onExternalAbort, { once: true })
  const cleanup = (): void => external?.removeEventListener('abort', onExternalAbort)

  // 1. parameters cross their codec; collections are resolved through the API
  const paramsWhere: Codec.Where = { module: module.name, work: 'run', position: 'parameters' }
  const params = module.params.is(rawParams) ? Codec.cross(module.params, rawParams, paramsWhere) : E.map((value: unknown) => ({ json: '', value }))(Codec.decodeUnknown(module.params, rawParams, paramsWhere))
  if (E.isLeft(params)) return (cleanup(), params)
  const hydratedParams = await store.hydrate(params.right.value, signal)
  if (E.isLeft(hydratedParams)) return (cleanup(), hydratedParams)

  // 2. evaluate run
  const root = Graph.recorder(module, undefined)
  let output: unknown
  try {
    output = await module.run(hydratedParams.right, root.context)
  } catch (e) {
    cleanup()
    return E.left(Errors.carried(e) ?? Dispatcher.workFailed(module.name, 'run', 'run', '', e))
  }

  // 3. earlier requests for the same calls (a restarted runner re-attaches to them; a run after
  // an edit reuses the calls whose id, and so whose work code and arguments, did not change)
  const earlier = new Map<string, Array<Poll.RequestState>>()
  const lookUp = async (ids: ReadonlyArray<string>): Promise<E.Either<Errors.SdkError, void>> => {
    if (!reuse) return E.right(undefined)
    for (let i = 0; i < ids.length; i += LOOKUP_BATCH) {
      const found = await api.containerRequests.listAll({
        filters: [
          [`properties.${Request.MODULE_PROPERTY}`, '=', module.name],
          [`properties.${Request.CALL_ID_PROPERTY}`, 'in', ids.slice(i, i + LOOKUP_BATCH)],
          ...(rc.project === undefined ? [] : [['owner_uuid', '=', rc.project] as const]),
        ],
        select: [...Poll.REQUEST_FIELDS, 'properties'],
      })()
      if (E.isLeft(found)) return found
      for (const r of found.right) {
        const id = (r.properties as Record<string, unknown>)[Request.CALL_ID_PROPERTY]
        if (typeof id !== 'string') continue
        const list = earlier.get(id) ?? []
        list.push(r as Poll.RequestState)
        earlier.set(id, list)
      }
    }
    return E.right(undefined)
  }
  const initial = await lookUp(root.calls().map((c) => c.id))
  if (E.isLeft(initial)) return (cleanup(), initial)

  // 4. interpret
  const pending = new Map<string, State>()
  const finishedQueue: Array<{ readonly st: State; readonly request: Poll.RequestState }> = []
  let inFlight = 0
  let executed = 0
  let reusedCount = 0
  let wakeUp: (() => void) | undefined
  function wake(): void {
    const w = wakeUp
    wakeUp = undefined
    w?.()
  }
  const waitWake = (ms: number | undefined): Promise<void> =>
    new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => wake(), ms)
      wakeUp = () => {
        if (timer !== undefined) clearTimeout(timer)
        resolve()
      }
    })
  const track = (p: Promise<void>): void => {
    inFlight++
    void p
      .catch((e: unknown) => {
        settle(E.left(Errors.fromUnknown(e, 'ARV_INTERNAL')))
        controller.abort('internal error')
      })
      .finally(() => {
        inFlight--
        wake()
      })
  }

  const workOf = (name: string): Module.AnyWork => module.work[name] as Module.AnyWork
  const workNameOf = (id: string): string => {
    const n = states.get(id)?.node
    return n?._tag === 'Call' ? n.work : 'unknown'
  }
  const declaredOf = (owner: string): t.Mixed | undefined => (owner === 'run' ? module.returns : workOf((states.get(owner)!.node as Graph.CallNode).work).spec.returns)

  const tracker = Dependencies.make<State>({
    module: module.name,
    keepGoing,
    slot: (node) => ({ node, status: 'waiting', pending: 0, dependents: undefined, value: undefined, json: undefined, request: undefined, attachedFinal: false, earlier: 0, reused: false }),
    ready: (st) => ready(st),
    emit,
    stop: () => {
      controller.abort('a call failed')
      wake()
    },
  })
  const { slots: states, nodes, failures, add, complete, settle } = tracker
  const fail = (st: State, error: Errors.SdkError): void => tracker.fail(st, error)

  const ready = (st: State): void => {
    if (signal.aborted) return
    if (st.node._tag === 'Combine') track(resolveCombine(st, st.node))
    else {
      st.status = 'running'
      track(submit(st, st.node))
    }
  }

  // ---- submitting
  const prepare = async (node: Graph.CallNode): Promise<E.Either<Errors.SdkError, ResultFile.CallFile>> => {
    const spec = workOf(node.work).spec
    const args: Array<string> = []
    for (let i = 0; i < node.args.length; i++) {
      const a = node.args[i]!
      const where: Codec.Where = { module: module.name, work: node.work, position: `argument ${i + 1}` }
      if (a._tag === 'Json') args.push(a.json)
      else {
        const json = Codec.encode(spec.args[i] as t.Mixed, Graph.substitute(a.shape, (id) => states.get(id)!.value), where)
        if (E.isLeft(json)) return json
        args.push(json.right)
      }
    }
    // every collection the arguments name is mounted; its manifest travels in the call file
    const collections: Record<string, string> = {}
    for (let i = 0; i < args.length; i++) {
      const decoded = Codec.decode(spec.args[i] as t.Mixed, args[i]!, { module: module.name, work: node.work, position: `argument ${i + 1}` })
      if (E.isLeft(decoded)) return decoded
      const seen = await Reference.hydrate(
        decoded.right,
        async (ref) => {
          if (ref.kind !== 'pdh') {
            return E.left(Errors.make('CollectionReferenceError', 'ARV_CRUNCH_REFERENCE', `argument ${i + 1} of work "${node.work}" names collection ${ref.text}, which is not a portable data hash`, { reference: ref.text }, { hint: 'pass collection values (or their portable data hashes) to work calls' }))
          }
          const c = await store.resolve(ref.text)
          if (E.isRight(c)) collections[ref.text] = Pdh.portableText(c.right.manifestText)
          return c
        },
        signal,
      )
      if (E.isLeft(seen)) return seen
    }
    return E.right({ v: 1, module: module.name, work: node.work, callId: node.id, args, collections })
  }

  // creates queue here, not in the client, so polls and detail lists always find a free connection
  const createSlot = Limiter.make(CREATES_IN_FLIGHT)
  const create = async (st: State, node: Graph.CallNode, attrs: Request.Attributes): Promise<void> => {
    const createId = `${node.id}.${rc.bundle.pdh.slice(0, 12)}.${st.earlier}`
    st.earlier++
    if (signal.aborted) return
    const created = await createSlot(() => (signal.aborted ? Promise.resolve(undefined) : api.containerRequests.create(attrs, { createId })()))
    if (created === undefined) return
    if (E.isLeft(created)) return fail(st, created.left)
    st.request = created.right.uuid
    if (signal.aborted) {
      await api.containerRequests.update(created.right.uuid, { priority: 0 })()
      return
    }
    if (Poll.isFinished(created.right as Poll.RequestState)) {
      // a finished container was reused: the request is Final in the create response
      st.reused = true
      finishedQueue.push({ st, request: created.right as Poll.RequestState })
    } else {
      executed++
      st.status = 'running'
      pending.set(created.right.uuid, st)
      emit({ type: 'start', id: node.id, work: node.work })
    }
  }

  const attrsByCall = new Map<string, Request.Attributes>()
  const submit = async (st: State, node: Graph.CallNode): Promise<void> => {
    const call = await prepare(node)
    if (E.isLeft(call)) return fail(st, call.left)
    if (signal.aborted) return
    const attrs = Request.containerRequest({ module: module.name, work: node.work, callId: node.id, options: workOf(node.work).spec, call: call.right, bundle: rc.bundle, image: rc.image, project: rc.project, reuse, priority: rc.priority })
    if (E.isLeft(attrs)) return fail(st, attrs.left)
    attrsByCall.set(node.id, attrs.right)
    const mine = earlier.get(node.id) ?? []
    st.earlier = mine.length
    const live = mine.find((r) => r.state === 'Committed' && (r.priority ?? 0) > 0)
    const done = mine.find((r) => r.state === 'Final' && r.output_uuid !== null)
    if (live !== undefined) {
      executed++
      st.request = live.uuid
      st.status = 'running'
      pending.set(live.uuid, st)
      emit({ type: 'start', id: node.id, work: node.work })
      return
    }
    if (done !== undefined) {
      st.request = done.uuid
      st.attachedFinal = true
      st.reused = true
      finishedQueue.push({ st, request: done })
      return
    }
    return create(st, node, attrs.right)
  }

  // ---- finishing
  const outcome = async (st: State, f: Poll.Finished): Promise<void> => {
    const node = st.node as Graph.CallNode
    const spec = workOf(node.work).spec
    const ok = f.request.state === 'Final' && f.containerState === 'Complete' && f.exitCode === 0 && f.outputManifest !== undefined
    if (!ok) {
      if (st.attachedFinal) {
        // an earlier run's request that did not succeed: submit anew
        st.attachedFinal = false
        st.reused = false
        return create(st, node, attrsByCall.get(node.id)!)
      }
      if (signal.aborted) return
      return fail(st, callFailed(module.name, node, f.request.uuid, describeEnd(f), await Poll.stderrTail(api, rc.keep, f.request.log_uuid, signal)))
    }
    const out = store.remember(f.outputManifest)
    if (E.isLeft(out)) return fail(st, out.left)
    const where: Codec.Where = { module: module.name, work: node.work, position: 'result' }
    const hasResultFile = out.right.files.some((x) => x.path === ResultFile.RESULT_FILE)
    const done = (): void => {
      if (st.reused) reusedCount++
      emit({ type: 'done', id: node.id, work: node.work, reused: st.reused })
    }
    if (!hasResultFile) {
      // the output collection is the result
      const json = Codec.encode(spec.returns, out.right, where)
      if (E.isLeft(json)) return fail(st, json.left)
      done()
      return complete(st, out.right, json.right)
    }
    const text = await Collection.readEither(out.right, ResultFile.RESULT_FILE, signal)
    if (E.isLeft(text)) return fail(st, text.left)
    const r = ResultFile.parseResult(new TextDecoder().decode(text.right))
    if (E.isLeft(r)) return fail(st, r.left)
    const result = r.right
    if (result.kind === 'continuation') {
      const made = ResultFile.callsOf(result, node.id, workNameOf)
      const found = await lookUp(made.filter((c) => !states.has(c.id)).map((c) => c.id))
      if (E.isLeft(found)) return fail(st, found.left)
      for (const c of made) {
        const added = add(c)
        if (E.isLeft(added)) return fail(st, added.left)
      }
      const calls = new Map(result.calls.map((c) => [c.id, c.work]))
      const added = add(Graph.combine(node.id, ResultFile.fromCanonical(JSON.parse(result.output), (id) => calls.get(id) ?? workNameOf(id)), spec.returns))
      if (E.isLeft(added)) return fail(st, added.left)
      return
    }
    if (result.kind === 'collection') {
      done()
      return complete(st, out.right, JSON.stringify(out.right.pdh))
    }
    const decoded = Codec.decode(spec.returns, result.json, where)
    if (E.isLeft(decoded)) return fail(st, decoded.left)
    const hydrated = await store.hydrate(decoded.right, signal)
    if (E.isLeft(hydrated)) return fail(st, hydrated.left)
    done()
    complete(st, hydrated.right, result.json)
  }

  const processFinished = async (batch: ReadonlyArray<{ readonly st: State; readonly request: Poll.RequestState }>): Promise<void> => {
    const d = await Poll.details(api, batch.map((b) => b.request))
    if (E.isLeft(d)) {
      for (const b of batch) fail(b.st, d.left)
      return
    }
    await Promise.all(d.right.map((f, i) => outcome(batch[i]!.st, f)))
  }

  const resolveCombine = async (st: State, node: Graph.CombineNode): Promise<void> => {
    const ownerState = node.owner === 'run' ? undefined : states.get(node.owner)!
    const work = ownerState === undefined ? 'run' : (ownerState.node as Graph.CallNode).work
    const r = await Dependencies.resolveCombine(node, {
      module: module.name,
      slots: states,
      declared: declaredOf(node.owner),
      work,
      concat: (parts) => store.concat(parts, signal),
      hydrate: (_codec, value) => store.hydrate(value, signal),
    })
    if (E.isLeft(r)) return fail(st, r.left)
    const { value, json } = r.right
    complete(st, value, json)
    if (ownerState === undefined) settle(E.right({ value, json }))
    else {
      if (ownerState.reused) reusedCount++
      emit({ type: 'done', id: ownerState.node.id, work, reused: ownerState.reused })
      complete(ownerState, value, json)
    }
  }

  for (const c of root.calls()) {
    const added = add(c)
    if (E.isLeft(added)) return (cleanup(), added)
  }
  const top = add(Graph.combine('run', output, module.returns))
  if (E.isLeft(top)) return (cleanup(), top)

  // ---- the loop: poll pending requests, hand finished ones on
  let lastPoll = 0
  let interval = rc.minPollMs
  for (;;) {
    if (signal.aborted) break
    if (finishedQueue.length > 0) {
      const batch = finishedQueue.splice(0)
      track(processFinished(batch))
      continue
    }
    if (pending.size === 0) {
      if (inFlight === 0) break
      await waitWake(undefined)
      continue
    }
    const wait = lastPoll + interval - Date.now()
    if (wait > 0) {
      await waitWake(wait)
      continue
    }
    lastPoll = Date.now()
    const polled = await Poll.states(api, [...pending.keys()])
    if (E.isLeft(polled)) {
      settle(E.left(polled.left))
      controller.abort('polling failed')
      break
    }
    for (const r of polled.right) {
      if (!Poll.isFinished(r)) continue
      const st = pending.get(r.uuid)
      if (st === undefined) continue
      pending.delete(r.uuid)
      finishedQueue.push({ st, request: r })
    }
    interval = finishedQueue.length > 0 ? rc.minPollMs : Math.min(rc.pollMs, Math.ceil(interval * 1.5))
  }

  // ---- stopping: cancel what is outstanding, let in-flight work settle
  const cancelOutstanding = async (): Promise<void> => {
    const outstanding = [...pending.keys()]
    pending.clear()
    await Promise.all(outstanding.map((uuid) => api.containerRequests.update(uuid, { priority: 0 })()))
  }
  if (signal.aborted) await cancelOutstanding()
  while (inFlight > 0) await waitWake(50)
  if (signal.aborted) await cancelOutstanding()
  cleanup()

  const graph: Graph.Graph = { module: module.name, nodes }
  const stats: Dispatcher.Stats = { calls: nodes.filter((n) => n._tag === 'Call').length, executed, reused: reusedCount, failed: failures.length }
  if (cancelledFromOutside()) return E.left(Dispatcher.cancelled(module.name, external?.reason))
  const verdict = tracker.verdict()
  if (E.isLeft(verdict)) return verdict
  const finished = verdict.right

  // ---- record the final output
  const recorded = await record(rc, module.name, finished.value, finished.json)
  if (E.isLeft(recorded)) return recorded
  emit({ type: 'log', id: 'run', work: 'run', message: `output collection ${recorded.right.uuid} (${recorded.right.pdh})` })
  return E.right({ value: finished.value as Module.OutputOf<M>, json: finished.json, graph, stats, recorded: recorded.right })
}

/**
 * Records the final output: a collection result as itself; any other value as a collection
 * holding only the result file. Inside a container the output is also set as the container's.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const record = async (rc: RunnerContext, moduleName: string, value: unknown, json: string): Promise<E.Either<Errors.SdkError, Recorded>> => {
  let manifest: string
  if (Collection.isCollection(value)) manifest = value.manifestText
  else {
    const bytes = new TextEncoder().encode(JSON.stringify({ v: 1, kind: 'value', json } satisfies ResultFile.Result))
    const stored = await rc.keep.put(bytes)()
    if (E.isLeft(stored)) return stored
    manifest = `. ${Locator.format(stored.right.locator)} 0:${bytes.length}:${ResultFile.RESULT_FILE}\n`
  }
  const created = await rc.api.collections.create(
    {
      manifest_text: manifest,
      // a submitted runner's request names the final copy (output_name); this one is its source
      name: rc.publishToContainer ? `Output of ${moduleName} (published by its runner container)` : (rc.outputName ?? `Output of ${moduleName}`),
      ...(rc.project === undefined ? {} : { owner_uuid: rc.project }),
      properties: { type: 'output', arvados_crunch_module: moduleName },
    },
    { ensure_unique_name: true },
  )()
  if (E.isLeft(created)) return created
  const recorded = { uuid: created.right.uuid, pdh: created.right.portable_data_hash }
  if (rc.publishToContainer) {
    const me = await rc.api.containers.current()()
    if (E.isLeft(me)) return me
    const set = await rc.api.containers.update(me.right.uuid, { output: recorded.pdh })()
    if (E.isLeft(set)) return set
  }
  return E.right(recorded)
}
