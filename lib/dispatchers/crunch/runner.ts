/**
 * The runner role: the one interpreter (`../interpret.ts`) over the crunch executor
 * (`executor.ts`: one container request per call), then the final output recorded as a
 * collection. Same outputs as the local dispatcher for the same module: values cross the same
 * codecs in the same places, and the contract suite holds both to it.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Codec from '../../codec.js'
import * as Collection from '../../collections/collection.js'
import type * as Dispatcher from '../../dispatcher.js'
import { withoutSecrets } from '../../internal/without-secrets.js'
import type * as Errors from '../../errors.js'
import * as Locator from '../../keep/locator.js'
import type * as Module from '../../module.js'
import type * as Report from '../../report/index.js'
import * as Interpret from '../interpret.js'
import * as Executor from './executor.js'
import * as Provenance from './provenance.js'
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
export type RunnerContext = Omit<Executor.RunnerContext, 'reuse'>

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

export const { callFailed, describeEnd } = Executor

/** log events kept for the run's report (the report shows each call's last lines) */
const MAX_LOG_EVENTS = 20_000

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
  const executor = Executor.make({ ...rc, reuse: runOptions.reuse !== false, usage: runOptions.onEvent !== undefined, liveLogs: runOptions.onEvent !== undefined })
  const startedAt = new Date().toISOString()
  // the run's events, for the report in its provenance collection (at most MAX_LOG_EVENTS log lines)
  const events: Array<Report.TimedEvent> = []
  let logs = 0
  const onEvent = (e: Dispatcher.Event): void => {
    if (e.type !== 'log' || logs++ < MAX_LOG_EVENTS) events.push({ ...e, at: e.at ?? new Date().toISOString() })
    runOptions.onEvent?.(e)
  }
  const r = await Interpret.run(executor, module, rawParams, { ...runOptions, onEvent })
  if (E.isLeft(r)) return r
  const params = module.params.decode(rawParams)
  const provenance: Provenance.Provenance = {
    module,
    params: withoutSecrets(E.isRight(params) ? module.params.encode(params.right) : null),
    code: rc.bundle.pdh,
    stats: r.right.stats,
    graph: r.right.graph,
    events,
    startedAt,
    finishedAt: new Date().toISOString(),
    secrets: [rc.api.config.apiToken, ...Codec.secretsIn(module.params, rawParams)],
  }
  const recorded = await record(rc, module.name, r.right.value, r.right.json, provenance)
  if (E.isLeft(recorded)) return recorded
  runOptions.onEvent?.({ type: 'log', id: 'run', work: 'run', message: `output collection ${recorded.right.uuid} (${recorded.right.pdh})`, at: new Date().toISOString() })
  return E.right({ ...r.right, recorded: recorded.right })
}

/**
 * Records the final output: a collection result as itself; any other value as a collection
 * holding only the result file. Inside a container the output is also set as the container's.
 * With `provenance`, its collection is written first and the output's properties name it
 * (`provenance.ts`).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const record = async (rc: RunnerContext, moduleName: string, value: unknown, json: string, provenance?: Provenance.Provenance): Promise<E.Either<Errors.SdkError, Recorded>> => {
  let provenanceProperties: Readonly<Record<string, unknown>> = {}
  if (provenance !== undefined) {
    const saved = await Provenance.save(rc.api, rc.keep, rc.project, provenance)
    if (E.isLeft(saved)) return saved
    provenanceProperties = Provenance.properties(provenance, saved.right)
  }
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
      properties: { type: 'output', arvados_crunch_module: moduleName, ...provenanceProperties },
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
