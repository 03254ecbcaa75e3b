/**
 * A submitted runner (`crunch run --dispatcher crunch --submit`): the runner itself runs as a
 * container with `API: true`, as arvados-cwl-runner's `--submit` does. Here the parameters are
 * decoded (collections resolved through the API, so a local path is refused before anything is
 * submitted) and written into the runner's `json` mount; the container runs the same bundle with
 * `CRUNCH_ROLE=runner`, creates the calls' requests with its own token (they become its
 * children), and publishes the final output by setting its container's `output`. This side
 * follows the runner's request with polls, cancels it on abort (priority 0), and decodes the
 * output the runner published.
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as E from 'fp-ts/lib/Either.js'
import * as Codec from '../../codec.js'
import * as Collection from '../../collections/collection.js'
import * as Dispatcher from '../../dispatcher.js'
import * as Errors from '../../errors.js'
import type * as Module from '../../module.js'
import * as KeepValueStore from './keep-value-store.js'
import * as Poll from './poll.js'
import * as Provenance from './provenance.js'
import * as Request from './request.js'
import * as ResultFile from './result-file.js'
import type * as Runner from './runner.js'

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/** Where the runner container finds its parameters. @category constants @since 0.1.0 */
export const PARAMS_FILE = '/var/lib/arvados-crunch/params.json'

/** Property marking a runner's request. @category constants @since 0.1.0 */
export const ROLE_PROPERTY = 'arvados_crunch_role'

/** Resources of the runner container. @category constants @since 0.1.0 */
export const RUNNER_RESOURCES = { ram: 1024 * 1024 * 1024, vcpus: 1 } as const

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The runner's container request. Pure.
 *
 * @category constructors
 * @since 0.1.0
 */
export const runnerRequest = (input: {
  readonly module: string
  readonly paramsJson: string
  readonly bundle: Request.Bundle
  readonly image: string
  readonly project: string | undefined
  readonly outputName: string | undefined
  readonly priority: number
  readonly pollMs: number
  readonly replicas: number
  readonly reuse: boolean
  readonly keepGoing: boolean
  /** the request's name (arvados-cwl-runner's --name); default `<module> (arvados-crunch runner)` */
  readonly name?: string | undefined
}): Request.Attributes => ({
  name: input.name ?? `${input.module} (arvados-crunch runner)`,
  state: 'Committed',
  priority: input.priority,
  command: [
    'node',
    '--enable-source-maps',
    `${Request.BUNDLE_DIR}/${input.bundle.file}`,
    '--params',
    PARAMS_FILE,
    '--progress',
    'json',
    ...(input.reuse ? [] : ['--no-reuse']),
    ...(input.keepGoing ? ['--keep-going'] : []),
    ...(input.project === undefined ? [] : ['--project', input.project]),
    ...(input.outputName === undefined ? [] : ['--output-name', input.outputName]),
  ],
  container_image: input.image,
  cwd: Request.TMP_DIR,
  environment: {
    CRUNCH_ROLE: 'runner',
    CRUNCH_BUNDLE: input.bundle.pdh,
    CRUNCH_IMAGE: input.image,
    CRUNCH_POLL_MS: String(input.pollMs),
    CRUNCH_KEEP_REPLICAS: String(input.replicas),
    HOME: Request.TMP_DIR,
    TMPDIR: Request.TMP_DIR,
  },
  mounts: {
    [Request.OUTPUT_DIR]: { kind: 'tmp', capacity: Request.DEFAULTS.tmpCapacity },
    [Request.TMP_DIR]: { kind: 'tmp', capacity: Request.DEFAULTS.tmpCapacity },
    [Request.BUNDLE_DIR]: { kind: 'collection', portable_data_hash: input.bundle.pdh },
    // parameters holding a Secret travel only in secret_mounts
    ...(Codec.seal(input.paramsJson).secrets.length > 0 ? {} : { [PARAMS_FILE]: { kind: 'json', content: JSON.parse(input.paramsJson) as unknown } }),
  },
  ...(Codec.seal(input.paramsJson).secrets.length > 0 ? { secret_mounts: { [PARAMS_FILE]: { kind: 'json', content: JSON.parse(input.paramsJson) as unknown } } } : {}),
  output_path: Request.OUTPUT_DIR,
  runtime_constraints: { ...RUNNER_RESOURCES, API: true },
  scheduling_parameters: {},
  use_existing: false,
  container_count_max: 1,
  ...(input.outputName === undefined ? {} : { output_name: input.outputName }),
  ...(input.project === undefined ? {} : { owner_uuid: input.project }),
  properties: { [ROLE_PROPERTY]: 'runner', [Request.BUNDLE_PROPERTY]: input.bundle.pdh, [Request.MODULE_PROPERTY]: input.module },
})

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })

/**
 * Submits the runner and follows it to its end.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const submit = async <M extends Module.AnyModule>(
  rc: Runner.RunnerContext,
  module: M,
  rawParams: unknown,
  runOptions: Dispatcher.RunOptions,
  request: { readonly name?: string | undefined } = {},
): Promise<E.Either<Errors.SdkError, Dispatcher.RunResult<Module.OutputOf<M>>>> => {
  const emit = runOptions.onEvent ?? (() => undefined)
  const signal = runOptions.signal ?? new AbortController().signal
  const store = KeepValueStore.runner(rc.api, rc.keep, rc.project, rc.uploads)

  // the parameters cross their codec here: a bad flag or a local path fails before submitting
  const where: Codec.Where = { module: module.name, work: 'run', position: 'parameters' }
  const decoded = Codec.decodeUnknown(module.params, rawParams, where)
  if (E.isLeft(decoded)) return decoded
  const hydrated = await store.hydrate(decoded.right, signal)
  if (E.isLeft(hydrated)) return hydrated
  const json = Codec.encode(module.params, hydrated.right, where)
  if (E.isLeft(json)) return json

  const attrs = runnerRequest({
    module: module.name,
    paramsJson: json.right,
    bundle: rc.bundle,
    image: rc.image,
    project: rc.project,
    outputName: rc.outputName,
    priority: rc.priority,
    pollMs: rc.pollMs,
    replicas: rc.replicas,
    reuse: runOptions.reuse !== false,
    keepGoing: runOptions.keepGoing === true,
    name: request.name,
  })
  if (signal.aborted) return E.left(Dispatcher.cancelled(module.name, signal.reason))
  const created = await rc.api.containerRequests.create(attrs, { createId: `runner.${Crypto.randomUUID()}` })()
  if (E.isLeft(created)) return created
  const uuid = created.right.uuid
  emit({ type: 'start', id: uuid, work: 'runner' })
  emit({ type: 'log', id: uuid, work: 'runner', message: `submitted runner: container request ${uuid}` })

  // follow it
  let interval = rc.minPollMs
  let last: Poll.RequestState = created.right as Poll.RequestState
  let cancelling = false
  for (;;) {
    if (signal.aborted && !cancelling) {
      cancelling = true
      const cancelled = await rc.api.containerRequests.update(uuid, { priority: 0 })()
      if (E.isLeft(cancelled)) return cancelled
      last = cancelled.right as Poll.RequestState
    }
    if (Poll.isFinished(last) || (cancelling && last.state !== 'Committed')) break
    if (cancelling && last.state === 'Committed' && last.container_uuid === null) break
    await sleep(interval, signal)
    interval = Math.min(rc.pollMs, Math.ceil(interval * 1.5))
    const polled = await Poll.states(rc.api, [uuid])
    if (E.isLeft(polled)) return polled
    const now = polled.right[0]
    if (now === undefined) return E.left(Errors.make('RunnerLostError', 'ARV_CRUNCH_RUNNER_LOST', `the runner's container request ${uuid} is gone`, { request: uuid }, { hint: 'someone deleted it; submit the run again' }))
    last = now
  }
  if (cancelling) {
    // wait (briefly) for the runner's container to end, so its children get cancelled too
    for (let i = 0; i < 50 && !Poll.isFinished(last); i++) {
      await new Promise((r) => setTimeout(r, Math.min(rc.pollMs, 200)))
      const polled = await Poll.states(rc.api, [uuid])
      if (E.isLeft(polled) || polled.right[0] === undefined) break
      last = polled.right[0]
    }
    return E.left(Dispatcher.cancelled(module.name, signal.reason))
  }

  const details = await Poll.details(rc.api, [last])
  if (E.isLeft(details)) return details
  const f = details.right[0]!
  const ok = f.containerState === 'Complete' && f.exitCode === 0 && f.outputManifest !== undefined
  if (!ok) {
    const tail = await Poll.stderrTail(rc.api, rc.keep, last.log_uuid, signal)
    const error = Errors.make('RunnerFailedError', 'ARV_CRUNCH_RUNNER_FAILED', `the runner of module "${module.name}" ${describe(f)} (container request ${uuid})`, { module: module.name, request: uuid }, {
      details: tail.length === 0 ? ['(no stderr.txt in its log)'] : ['last lines of the runner\'s stderr.txt:', ...tail.map((l) => `  ${l}`)],
      hint: `see the full log in the log collection of container request ${uuid}`,
    })
    emit({ type: 'failed', id: uuid, work: 'runner', error })
    return E.left(error)
  }
  const output = store.remember(f.outputManifest!)
  if (E.isLeft(output)) return output
  const value = await outputValue(module, output.right, store, signal)
  if (E.isLeft(value)) return value
  const stats = await statsOf(rc, uuid, output.right.pdh)
  emit({ type: 'done', id: uuid, work: 'runner', reused: false, ...(stats.cost === undefined ? {} : { cost: stats.cost }) })
  emit({ type: 'log', id: uuid, work: 'runner', message: `output collection ${last.output_uuid ?? '?'} (${output.right.pdh})` })
  return E.right({
    value: value.right.value as Module.OutputOf<M>,
    json: value.right.json,
    graph: { module: module.name, nodes: [] },
    stats,
  })
}

/**
 * A submitted run's stats: its calls as the runner recorded them on the output (provenance
 * properties), and its cost as Arvados adds it up, the runner request's `cumulative_cost` (the
 * runner's own container and every call's). What cannot be read is left out: the run is done.
 */
const statsOf = async (rc: Runner.RunnerContext, uuid: string, pdh: string): Promise<Dispatcher.Stats> => {
  const [request, output] = await Promise.all([rc.api.containerRequests.get(uuid)(), Provenance.findOutput(rc.api, pdh)])
  const cost = E.isRight(request) && typeof request.right.cumulative_cost === 'number' ? request.right.cumulative_cost : undefined
  const props = E.isRight(output) ? output.right?.properties : undefined
  const count = (k: string): number => (typeof props?.[k] === 'number' ? props[k] : 0)
  const executed = count(Provenance.PROPERTIES.callsRun)
  const reused = count(Provenance.PROPERTIES.callsReused)
  return { calls: executed + reused, executed, reused, failed: 0, ...(cost === undefined ? {} : { cost }) }
}

const describe = (f: Poll.Finished): string =>
  f.containerState === 'Complete' && f.exitCode !== 0 ? `exited with code ${String(f.exitCode)}` : f.containerState === 'Cancelled' ? 'was cancelled' : 'ended without an output'

/**
 * The run's output from a runner's output collection: the value in its result file, or the
 * collection itself.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const outputValue = async (
  module: Module.AnyModule,
  output: Collection.Collection,
  store: KeepValueStore.RunnerStore,
  signal: AbortSignal,
): Promise<E.Either<Errors.SdkError, { readonly value: unknown; readonly json: string }>> => {
  if (!output.files.some((x) => x.path === ResultFile.RESULT_FILE)) return E.right({ value: output, json: JSON.stringify(output.pdh) })
  const text = await Collection.readEither(output, ResultFile.RESULT_FILE, signal)
  if (E.isLeft(text)) return text
  const r = ResultFile.parseResult(new TextDecoder().decode(text.right))
  if (E.isLeft(r)) return r
  if (r.right.kind !== 'value') return E.right({ value: output, json: JSON.stringify(output.pdh) })
  if (module.returns === undefined) return E.right({ value: JSON.parse(r.right.json) as unknown, json: r.right.json })
  const decoded = Codec.decode(module.returns, r.right.json, { module: module.name, work: 'run', position: 'result' })
  if (E.isLeft(decoded)) return decoded
  const hydrated = await store.hydrate(decoded.right, signal)
  if (E.isLeft(hydrated)) return hydrated
  return E.right({ value: hydrated.right, json: r.right.json })
}
