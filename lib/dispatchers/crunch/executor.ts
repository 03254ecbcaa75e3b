/**
 * The crunch executor: one Arvados container request per call. Starting a call prepares its
 * call file (the encoded arguments and the manifest of every collection they name, each
 * mounted at `/keep/<pdh>`), then re-attaches to a live request an earlier runner made for the
 * same call id (found by the call-id property) or creates one (a fresh create id per attempt,
 * so a retried create is not duplicated). Pending requests are watched by one poll loop with
 * batched list requests; finished ones are read in batches too (containers, output
 * collections). A call's outcome is its output collection: a collection result as itself, a
 * JSON result or a continuation through the reserved result file.
 *
 * Reuse: `lookup` finds an earlier request of the call that finished with an output (a
 * restarted runner, an unchanged re-run); Arvados' own container reuse (`use_existing`) shows
 * as a request that is Final when created.
 *
 * Stopping: every outstanding request gets priority 0 (Arvados cancels its container).
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import type * as Client from '../../arvados/client.js'
import * as Codec from '../../codec.js'
import * as Collection from '../../collections/collection.js'
import * as Manifest from '../../collections/manifest.js'
import * as Locator from '../../keep/locator.js'
import * as Tree from '../../collections/tree.js'
import * as Pdh from '../../collections/pdh.js'
import * as Reference from '../../collections/reference.js'
import type * as Store from '../../collections/store.js'
import * as Errors from '../../errors.js'
import type * as Graph from '../../graph.js'
import * as Limiter from '../../internal/limiter.js'
import type * as Keep from '../../keep/client.js'
import type * as Module from '../../module.js'
import type * as Executor from '../executor.js'
import * as Wire from '../wire.js'
import * as Events from './events.js'
import * as KeepValueStore from './keep-value-store.js'
import * as LiveLogs from './live-logs.js'
import * as Poll from './poll.js'
import * as Request from './request.js'
import * as ResultFile from './result-file.js'
import * as Usage from './usage.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What the crunch executor works with.
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
  /** reuse earlier requests' results and let Arvados reuse containers */
  readonly reuse: boolean
  /** read each finished container's memory, CPU and instance type from its log collection (`usage.ts`; default true) */
  readonly usage?: boolean
  /** follow running calls' stderr.txt and hand its lines to their `log` (`live-logs.ts`; default true) */
  readonly liveLogs?: boolean
  /** hear of finished requests from the cluster's websocket event bus when it has one (`events.ts`; default true); polls remain the fallback */
  readonly events?: boolean
}

/** container requests being created at once (the client allows 8 requests in flight) */
const CREATES_IN_FLIGHT = 5

/** the most of a finished call's stderr.txt handed on as log lines at its end (the rest stays in its log collection) */
const LOG_AT_END_MAX = 8 * 2 ** 20

/** call ids per lookup request (their text stays well under the API's long-GET form limits) */
const LOOKUP_BATCH = 100

/** calls the executor lets the interpreter start at once: Arvados queues the rest */
const CONCURRENCY = 100_000

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

const cancelledCall = (node: Graph.CallNode) => Errors.make('CancelledError', 'ARV_CANCELLED', `work "${node.work}" [call ${node.id.slice(0, 12)}] was cancelled`, { work: node.work, callId: node.id })

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
  if (f.containerState === 'Complete' && f.exitCode === 137) return 'was killed (exit code 137: SIGKILL, most likely out of memory)'
  if (f.containerState === 'Complete' && f.exitCode !== 0) return `failed: its container exited with code ${String(f.exitCode)}`
  if (f.outputManifest === undefined) return 'finished without an output collection'
  return `ended in state ${f.containerState ?? 'unknown'}`
}

/**
 * Reads blocks from Keep once each: the blocks stay held as long as the source does (one
 * finished call's log collection, whose small files share a block).
 */
const heldBlocks = (keep: Keep.KeepClient): Collection.BlockSource => {
  const held = new Map<string, Promise<E.Either<Errors.SdkError, Uint8Array>>>()
  return {
    readBlock: (l) => {
      const key = `${l.hash}+${l.size}`
      const got = held.get(key) ?? keep.get(l)()
      held.set(key, got)
      return got
    },
  }
}

const succeeded = (f: Poll.Finished): boolean => f.request.state === 'Final' && f.containerState === 'Complete' && f.exitCode === 0 && f.outputManifest !== undefined

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Every work's options as Arvados would take them, checked before anything is sent.
 *
 * @category constructors
 * @since 0.2.0
 */
export const validate = (module: Module.AnyModule): E.Either<Errors.SdkError, void> => {
  for (const [name, w] of Object.entries(module.work as Readonly<Record<string, Module.AnyWork>>)) {
    const r = Request.resources(module.name, name, w.spec)
    if (E.isLeft(r)) return r
  }
  return E.right(undefined)
}

/**
 * @category constructors
 * @since 0.2.0
 */
export const make = (rc: RunnerContext): Executor.Executor & { readonly storeOf: (module: Module.AnyModule) => KeepValueStore.RunnerStore } => {
  const stores = new WeakMap<Module.AnyModule, KeepValueStore.RunnerStore>()
  const storeOf = (module: Module.AnyModule): KeepValueStore.RunnerStore => {
    let s = stores.get(module)
    if (s === undefined) stores.set(module, (s = KeepValueStore.runner(rc.api, rc.keep, rc.project, rc.uploads)))
    return s
  }
  return {
    name: 'crunch',
    storeOf,
    open: async (module, signal) => {
      const checked = validate(module)
      if (E.isLeft(checked)) return checked
      const { api } = rc
      const store = storeOf(module)
      const workOf = (name: string): Module.AnyWork => module.work[name] as Module.AnyWork

      // ---- earlier requests of calls, looked up in batches
      const earlier = new Map<string, ReadonlyArray<Poll.RequestState>>()
      let lookupQueue: Array<{ readonly id: string; readonly resolve: (r: E.Either<Errors.SdkError, ReadonlyArray<Poll.RequestState>>) => void }> = []
      const flushLookups = async (): Promise<void> => {
        const batch = lookupQueue
        lookupQueue = []
        const ids = [...new Set(batch.map((b) => b.id))].filter((id) => !earlier.has(id))
        for (let i = 0; i < ids.length; i += LOOKUP_BATCH) {
          const part = ids.slice(i, i + LOOKUP_BATCH)
          const found = await api.containerRequests.listAll({
            filters: [
              [`properties.${Request.MODULE_PROPERTY}`, '=', module.name],
              [`properties.${Request.CALL_ID_PROPERTY}`, 'in', part],
              ...(rc.project === undefined ? [] : [['owner_uuid', '=', rc.project] as const]),
            ],
            select: [...Poll.REQUEST_FIELDS, 'properties'],
          })()
          if (E.isLeft(found)) {
            for (const b of batch) b.resolve(found)
            return
          }
          const byId = new Map<string, Array<Poll.RequestState>>(part.map((id) => [id, []]))
          for (const r of found.right) {
            const id = (r.properties as Record<string, unknown>)[Request.CALL_ID_PROPERTY]
            if (typeof id === 'string') byId.get(id)?.push(r as Poll.RequestState)
          }
          for (const [id, list] of byId) earlier.set(id, list)
        }
        for (const b of batch) b.resolve(E.right(earlier.get(b.id) ?? []))
      }
      const earlierOf = (id: string): Promise<E.Either<Errors.SdkError, ReadonlyArray<Poll.RequestState>>> => {
        if (!rc.reuse) return Promise.resolve(E.right([]))
        const known = earlier.get(id)
        if (known !== undefined) return Promise.resolve(E.right(known))
        return new Promise((resolve) => {
          if (lookupQueue.length === 0) setImmediate(() => void flushLookups())
          lookupQueue.push({ id, resolve })
        })
      }

      // ---- details of requests found finished outside the poll loop (look-ups, reuse at create), read in batches
      let detailQueue: Array<{ readonly request: Poll.RequestState; readonly resolve: (f: E.Either<Errors.SdkError, Poll.Finished>) => void }> = []
      const flushDetails = async (): Promise<void> => {
        const batch = detailQueue
        detailQueue = []
        const d = await Poll.details(api, batch.map((b) => b.request))
        batch.forEach((b, i) => b.resolve(E.isLeft(d) ? d : E.right(d.right[i]!)))
      }
      const detailsOf = (request: Poll.RequestState): Promise<E.Either<Errors.SdkError, Poll.Finished>> =>
        new Promise((resolve) => {
          if (detailQueue.length === 0) setImmediate(() => void flushDetails())
          detailQueue.push({ request, resolve })
        })

      // ---- running calls' logs, followed while they run
      const live = rc.liveLogs === false ? undefined : LiveLogs.make({ config: api.config, intervalMs: Math.min(rc.pollMs, LiveLogs.MAX_INTERVAL_MS), perTick: LiveLogs.PER_TICK })

      // ---- pending requests, watched by events (when the cluster has an event bus) and polls
      const watcher = Poll.watcher({
        api,
        signal,
        minMs: rc.minPollMs,
        maxMs: rc.pollMs,
        withLogs: rc.usage !== false,
        ...(live === undefined ? {} : { observe: live.observe, onContainer: live.container }),
      })
      if (rc.events !== false) {
        void api.discovery()().then((d) => {
          const url = E.isRight(d) ? d.right.websocketUrl : undefined
          if (url === undefined || url === '' || signal.aborted) return
          watcher.subscribe((h) =>
            Events.connect({
              url,
              config: api.config,
              onChange: h.onChange,
              onLive: (on) => {
                live?.bus(on)
                h.onLive(on)
              },
            }),
          )
        })
      }

      // ---- stopping
      const cancelOutstanding = async (): Promise<void> => {
        const outstanding = watcher.drain()
        await Promise.all(
          outstanding.map(async ([uuid, resolve]) => {
            await api.containerRequests.update(uuid, { priority: 0 })()
            resolve(E.left(Errors.make('CancelledError', 'ARV_CANCELLED', `container request ${uuid} was cancelled`, { request: uuid })))
          }),
        )
      }
      const onAbort = (): void => void cancelOutstanding()
      signal.addEventListener('abort', onAbort, { once: true })

      // ---- signed locators of every collection a call file named, to record manifests made of them
      const signed = new Map<string, Locator.Locator>()
      const learnSignatures = (manifestText: string): void => {
        const m = Manifest.parse(manifestText)
        if (E.isLeft(m)) return
        for (const st of m.right.streams) for (const l of st.locators) if (l.hints.some((h) => h.startsWith('A'))) signed.set(`${l.hash}+${l.size}`, l)
      }
      const signManifest = (manifestText: string): E.Either<Errors.SdkError, string> => {
        const m = Manifest.parse(manifestText)
        if (E.isLeft(m)) return m
        return E.right(Manifest.print({ streams: m.right.streams.map((st) => ({ ...st, locators: st.locators.map((l) => signed.get(`${l.hash}+${l.size}`) ?? l) })) }))
      }

      /** the container's stderr.txt after `offset`, from its finished log collection (undefined when it cannot be read) */
      const logAfter = async (manifestText: string, offset: number, blocks: Collection.BlockSource): Promise<Uint8Array | undefined> => {
        const c = Collection.fromManifestText(manifestText, { source: blocks })
        if (E.isLeft(c)) return undefined
        const file = c.right.files.find((x) => x.path === LiveLogs.FILE)
        if (file === undefined || file.size <= offset) return new Uint8Array(0)
        if (file.size - offset > LOG_AT_END_MAX) return new TextEncoder().encode(`(${file.size - offset} bytes of ${LiveLogs.FILE} not shown here, over ${LOG_AT_END_MAX / 2 ** 20} MiB: read them in the log collection)\n`)
        const bytes = await Collection.readEither(c.right, LiveLogs.FILE, signal)
        return E.isLeft(bytes) ? undefined : bytes.right.subarray(offset)
      }

      // ---- a call
      const callFile = async (node: Graph.CallNode, args: ReadonlyArray<string>, attempt: number): Promise<E.Either<Errors.SdkError, ResultFile.CallFile>> => {
        const spec = workOf(node.work).spec
        // every collection the arguments name is mounted; its manifest travels in the call file
        const collections: Record<string, string> = {}
        for (let i = 0; i < args.length; i++) {
          const where: Codec.Where = { module: module.name, work: node.work, position: `argument ${i + 1}` }
          const decoded = Codec.decode(spec.args[i] as t.Mixed, args[i]!, where)
          if (E.isLeft(decoded)) return decoded
          const seen = await Reference.hydrate(
            decoded.right,
            async (ref) => {
              if (ref.kind !== 'pdh') {
                return E.left(Errors.make('CollectionReferenceError', 'ARV_CRUNCH_REFERENCE', `argument ${i + 1} of work "${node.work}" names collection ${ref.text}, which is not a portable data hash`, { reference: ref.text }, { hint: 'pass collection values (or their portable data hashes) to work calls' }))
              }
              const c = await store.resolve(ref.text)
              if (E.isRight(c)) {
                collections[ref.text] = Pdh.portableText(c.right.manifestText)
                learnSignatures(c.right.manifestText)
              }
              return c
            },
            signal,
          )
          if (E.isLeft(seen)) return seen
        }
        return E.right({ v: 1, module: module.name, work: node.work, callId: node.id, args: [...args], collections, ...(attempt > 1 ? { attempt } : {}) })
      }

      /** a finished request as the call's outcome, with what its container reported */
      const outcomeOf = async (node: Graph.CallNode, f: Poll.Finished, reused: boolean, logBlocks?: Collection.BlockSource): Promise<Executor.Outcome> => {
        const [o, used] = await Promise.all([outcomeOfRequest(node, f, reused), reused || rc.usage === false ? {} : Usage.read(api, logBlocks ?? heldBlocks(rc.keep), f.request.log_uuid, signal, f.logManifest)])
        const usage: Executor.Usage = {
          ...used,
          ...(f.startedAt === undefined ? {} : { startedAt: f.startedAt }),
          ...(f.finishedAt === undefined ? {} : { finishedAt: f.finishedAt }),
          ...(f.cost === undefined || reused ? {} : { cost: f.cost }),
        }
        return o._tag === 'Value' || Object.keys(usage).length === 0 ? o : { ...o, usage }
      }
      const outcomeOfRequest = async (node: Graph.CallNode, f: Poll.Finished, reused: boolean): Promise<Executor.Outcome> => {
        const spec = workOf(node.work).spec
        if (!succeeded(f)) {
          const tail = await Poll.stderrTail(api, rc.keep, f.request.log_uuid, signal)
          const cancelledByUs = f.request.state === 'Committed' || (f.containerState === 'Cancelled' && signal.aborted)
          // the work's own error, as the work role reported it: the same error as a local run
          const own = f.containerState === 'Complete' ? Wire.errorFromLines(tail) : undefined
          if (own !== undefined) {
            const shown = tail.filter((l) => !l.includes(Wire.ERROR_LINE_PREFIX))
            const located = Errors.make(own._tag, own.code, own.message, { ...(own as object), request: f.request.uuid }, {
              details: [...(own.details ?? []), ...(shown.length === 0 ? [] : ['last lines of stderr.txt:', ...shown.map((l) => `  ${l}`)])],
              hint: `${own.hint === undefined ? '' : `${own.hint}; `}see the log of container request ${f.request.uuid}`,
              ...(own.cause === undefined ? {} : { cause: own.cause }),
            })
            return { _tag: 'Failed', error: located, retry: own.code === 'ARV_WORK_FAILED' && Errors.carried(own.cause) === undefined }
          }
          return { _tag: 'Failed', error: callFailed(module.name, node, f.request.uuid, describeEnd(f), tail), retry: !cancelledByUs, ...(f.exitCode === 137 ? { outOfMemory: true } : {}) }
        }
        const out = store.remember(f.outputManifest!)
        if (E.isLeft(out)) return { _tag: 'Failed', error: out.left, retry: false }
        const where: Codec.Where = { module: module.name, work: node.work, position: 'result' }
        if (!out.right.files.some((x) => x.path === ResultFile.RESULT_FILE)) {
          // the output collection is the result
          const json = Codec.encode(spec.returns, out.right, where)
          return E.isLeft(json) ? { _tag: 'Failed', error: json.left, retry: false } : { _tag: 'Json', json: json.right, reused }
        }
        const text = await Collection.readEither(out.right, ResultFile.RESULT_FILE, signal)
        if (E.isLeft(text)) return { _tag: 'Failed', error: text.left, retry: false }
        const r = ResultFile.parseResult(new TextDecoder().decode(text.right))
        if (E.isLeft(r)) return { _tag: 'Failed', error: r.left, retry: false }
        if (r.right.kind === 'manifest') {
          // a collection of blocks already in Keep: recorded as it is
          const manifest = signManifest(r.right.manifest)
          if (E.isLeft(manifest)) return { _tag: 'Failed', error: manifest.left, retry: false }
          const saved = await store.save(manifest.right, `${module.name}.${node.work} ${node.id.slice(0, 12)} output`)
          return E.isLeft(saved) ? { _tag: 'Failed', error: saved.left, retry: false } : { _tag: 'Json', json: JSON.stringify(saved.right.pdh), reused }
        }
        let result: ResultFile.Result = r.right
        if (result.kind === 'continuation' && result.made !== undefined) {
          const made = await madeCollections(out.right.manifestText, result.made, `${module.name}.${node.work} ${node.id.slice(0, 12)}`)
          if (E.isLeft(made)) return { _tag: 'Failed', error: made.left, retry: false }
          result = made.right.reduce<ResultFile.Result>((acc, [from, to]) => JSON.parse(JSON.stringify(acc).split(from).join(to)) as ResultFile.Result, result)
        }
        const o = Wire.fromResult(result, node.id, JSON.stringify(out.right.pdh))
        return o._tag === 'Json' || o._tag === 'Continuation' ? { ...o, reused } : o
      }

      /**
       * Collections a work container made and handed to its calls: each saved from its part of
       * the output, giving the portable data hash it has in Keep for the one it had there.
       */
      const madeCollections = async (outputManifest: string, made: Readonly<Record<string, string>>, name: string): Promise<E.Either<Errors.SdkError, ReadonlyArray<readonly [string, string]>>> => {
        const m = Manifest.parse(outputManifest)
        if (E.isLeft(m)) return m
        const tree = Tree.fromManifest(m.right)
        if (E.isLeft(tree)) return tree
        const pairs: Array<readonly [string, string]> = []
        for (const [pdh, dir] of Object.entries(made)) {
          const sub = Tree.lookup(tree.right, dir)
          if (sub === undefined || sub._tag !== 'Directory') return E.left(Errors.make('CrunchFileError', 'ARV_CRUNCH_FILE', `the output of ${name} lacks ${dir}, a collection its work made`, { dir }, { hint: 'the runner and the work container must run the same arvados-crunch version; resubmit the run' }))
          const saved = await store.save(Manifest.print(Tree.normalize(sub)), `${name} made ${pdh}`)
          if (E.isLeft(saved)) return saved
          pairs.push([pdh, saved.right.pdh])
        }
        return E.right(pairs)
      }

      const createSlot = Limiter.make(CREATES_IN_FLIGHT)
      const createdFor = new Map<string, number>()

      const lookup = async (call: Executor.Call): Promise<E.Either<Errors.SdkError, Executor.Outcome | undefined>> => {
        const mine = await earlierOf(call.node.id)
        if (E.isRight(mine) && mine.right.some((r) => r.state === 'Final' && r.output_uuid !== null)) {
          // the argument collections' signatures, should the result be made of their blocks
          const file = await callFile(call.node, call.args, 1)
          if (E.isLeft(file)) return file
        }
        if (E.isLeft(mine)) return mine
        const done = mine.right.find((r) => r.state === 'Final' && r.output_uuid !== null)
        if (done === undefined) return E.right(undefined)
        const d = await detailsOf(done)
        if (E.isLeft(d)) return d
        const f = d.right
        // an earlier request that did not succeed is not a result: run the call anew
        if (!succeeded(f)) return E.right(undefined)
        const o = await outcomeOf(call.node, f, true)
        return o._tag === 'Failed' ? E.right(undefined) : E.right(o)
      }

      const start = async (call: Executor.Call): Promise<Executor.Outcome> => {
        const node = call.node
        const file = await callFile(node, call.args, call.attempt)
        if (E.isLeft(file)) return { _tag: 'Failed', error: file.left, retry: false }
        if (signal.aborted) return { _tag: 'Failed', error: cancelledCall(node), retry: false }
        const spec = workOf(node.work).spec
        const { outputName: _perWork, ...rest } = spec
        const options: Module.WorkOptions = { ...rest, ...(call.resources.ram === undefined ? {} : { ram: call.resources.ram }), ...(call.outputName === undefined ? {} : { outputName: call.outputName }) }
        // the request itself is made when its create's turn comes (thousands of calls may wait for one)
        const request = () => Request.containerRequest({ module: module.name, work: node.work, callId: node.id, options, call: file.right, bundle: rc.bundle, image: rc.image, project: rc.project, reuse: rc.reuse, priority: rc.priority })
        const fits = Request.resources(module.name, node.work, options)
        if (E.isLeft(fits)) return { _tag: 'Failed', error: fits.left, retry: false }
        const mine = await earlierOf(node.id)
        if (E.isLeft(mine)) return { _tag: 'Failed', error: mine.left, retry: false }
        let uuid: string
        let container: string | null = null
        let reused = false
        const alive = call.attempt === 1 ? mine.right.find((r) => r.state === 'Committed' && (r.priority ?? 0) > 0) : undefined
        if (alive !== undefined) {
          uuid = alive.uuid
          container = alive.container_uuid
        } else {
          // a fresh create id per request of the call: a retried create is not duplicated,
          // and a new attempt is a new request
          const n = mine.right.length + (createdFor.get(node.id) ?? 0)
          createdFor.set(node.id, (createdFor.get(node.id) ?? 0) + 1)
          const createId = `${node.id}.${rc.bundle.pdh.slice(0, 12)}.${n}`
          const created = await createSlot(async () => {
            if (signal.aborted) return undefined
            const attrs = request()
            return E.isLeft(attrs) ? attrs : rc.api.containerRequests.create(attrs.right, { createId })()
          })
          if (created === undefined) return { _tag: 'Failed', error: cancelledCall(node), retry: false }
          if (E.isLeft(created)) return { _tag: 'Failed', error: created.left, retry: false }
          uuid = created.right.uuid
          container = (created.right as Poll.RequestState).container_uuid ?? null
          if (signal.aborted) {
            await api.containerRequests.update(uuid, { priority: 0 })()
            return { _tag: 'Failed', error: cancelledCall(node), retry: false }
          }
          if (Poll.isFinished(created.right as Poll.RequestState)) {
            // a finished container was reused: the request is Final in the create response
            reused = true
            const d = await detailsOf(created.right as Poll.RequestState)
            if (E.isLeft(d)) return { _tag: 'Failed', error: d.left, retry: false }
            return outcomeOf(node, d.right, reused)
          }
        }
        live?.watch(uuid, container, (line) => {
          // the work role's own lines (its error as data, its timing) are not the call's
          if (!line.includes(Wire.ERROR_LINE_PREFIX) && !line.startsWith('arvados-crunch: ')) call.log(line)
        })
        const f = await watcher.wait(uuid, container)
        const logManifest = E.isRight(f) ? f.right.logManifest : undefined
        // crunch-run packs the small log files into one block: read once for the lines and the usage
        const logBlocks = heldBlocks(rc.keep)
        await live?.finish(uuid, E.isLeft(f) ? null : f.right.request.container_uuid, logManifest === undefined ? undefined : (offset) => logAfter(logManifest, offset, logBlocks))
        if (E.isLeft(f)) return { _tag: 'Failed', error: f.left, retry: false }
        return outcomeOf(node, f.right, reused, logBlocks)
      }

      const close = async (): Promise<void> => {
        signal.removeEventListener('abort', onAbort)
        await cancelOutstanding()
        watcher.close()
        await live?.close()
      }

      return E.right<Errors.SdkError, Executor.Session>({ store, concurrency: CONCURRENCY, ...(rc.reuse ? { lookup } : {}), start, close })
    },
  }
}
