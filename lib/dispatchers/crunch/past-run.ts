/**
 * A finished run on Arvados, found from what a user has at hand: the runner's container request
 * (`crunch run --submit` prints it), the final output collection (its uuid or its portable data
 * hash). The output's properties name the provenance collection (`provenance.ts`), whose files —
 * `report.html`, `events.jsonl`, `graph.json`, `params.json` — are read through Keep; a
 * submitted runner's request adds its `cumulative_cost` (its own container and every call's).
 *
 * A submitted runner's request gets a copy of the output that Arvados makes (without the
 * provenance properties); the collection the runner made, with the same portable data hash, has
 * them, so the output is looked up by its hash among the collections that carry them.
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as Client from '../../arvados/client.js'
import * as Collection from '../../collections/collection.js'
import * as Errors from '../../errors.js'
import type * as Keep from '../../keep/client.js'
import * as Provenance from './provenance.js'
import * as Submit from './submit.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What names a run on Arvados.
 *
 * @category models
 * @since 0.2.0
 */
export type Target =
  | { readonly _tag: 'Request'; readonly uuid: string }
  | { readonly _tag: 'Collection'; readonly uuid: string }
  | { readonly _tag: 'Pdh'; readonly pdh: string }

/**
 * @category models
 * @since 0.2.0
 */
export interface PastRun {
  readonly module: string
  /** the runner's container request, when the run was submitted (or the request given) */
  readonly request?: { readonly uuid: string; readonly runner: boolean; readonly cumulativeCost: number | undefined; readonly state: string }
  readonly output: { readonly uuid: string; readonly pdh: string }
  readonly callsRun: number | undefined
  readonly callsReused: number | undefined
  /** the sum of the calls' container cost the runner recorded (without the runner's own) */
  readonly callsCost: number | undefined
  /** the provenance collection's portable data hash */
  readonly provenance: string
  /** its files by name (texts) */
  readonly files: Readonly<Record<string, string>>
}

/** the files of a provenance collection that are read */
export const FILES = ['report.html', 'events.jsonl', 'graph.json', 'params.json'] as const

const REQUEST = /^[a-z0-9]{5}-xvhdp-[a-z0-9]{15}$/
const COLLECTION = /^[a-z0-9]{5}-4zz18-[a-z0-9]{15}$/
const PDH = /^[0-9a-f]{32}\+\d+$/

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * What `text` names, if it looks like an Arvados identifier of a run. Pure.
 *
 * @category constructors
 * @since 0.2.0
 */
export const targetOf = (text: string): Target | undefined =>
  REQUEST.test(text) ? { _tag: 'Request', uuid: text } : COLLECTION.test(text) ? { _tag: 'Collection', uuid: text } : PDH.test(text) ? { _tag: 'Pdh', pdh: text } : undefined

/**
 * Whether `text` is shaped like any Arvados uuid (`xxxxx-yyyyy-zzzzzzzzzzzzzzz`).
 *
 * @category utils
 * @since 0.2.0
 */
export const looksLikeUuid = (text: string): boolean => /^[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{15}$/.test(text)

const error = (code: string, message: string, fields: object, hint: string, cause?: unknown): Errors.SdkError =>
  Errors.make('PastRunError', code, message, fields, { hint, ...(cause === undefined ? {} : { cause }) })

const HOW = 'give the runner’s container request (crunch run --submit prints it), or the final output collection of the run (its uuid or portable data hash)'

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

type Rec = Readonly<Record<string, unknown>>

const numberOr = (u: unknown): number | undefined => (typeof u === 'number' && Number.isFinite(u) ? u : undefined)

const notFound = (what: string, id: string, host: string, cause: Errors.SdkError): Errors.SdkError =>
  (cause as { status?: number }).status === 404
    ? error('ARV_PAST_RUN_NOT_FOUND', `${what} ${id} was not found on ${host}`, { id }, `check the identifier and that ARVADOS_API_HOST is the cluster the run was on; ${HOW}`, cause)
    : cause

/**
 * Finds the run `target` names and reads its provenance collection.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const find = async (api: Client.ArvadosClient, keep: Keep.KeepClient, target: Target, signal?: AbortSignal): Promise<E.Either<Errors.SdkError, PastRun>> => {
  const host = api.config.apiHost
  let request: PastRun['request']
  let outputPdh: string
  let outputUuid: string | undefined
  if (target._tag === 'Request') {
    const cr = await api.containerRequests.get(target.uuid)()
    if (E.isLeft(cr)) return E.left(notFound('container request', target.uuid, host, cr.left))
    const props = (cr.right.properties ?? {}) as Rec
    request = { uuid: cr.right.uuid, runner: props[Submit.ROLE_PROPERTY] === 'runner', cumulativeCost: numberOr(cr.right.cumulative_cost), state: cr.right.state }
    if (cr.right.output_uuid === null || cr.right.output_uuid === undefined) {
      return E.left(
        error('ARV_PAST_RUN_NO_OUTPUT', `container request ${target.uuid} has no output collection (state ${cr.right.state}${cr.right.state === 'Final' ? ': its container did not succeed' : ''})`, { id: target.uuid },
          cr.right.state === 'Final' ? `its log collection says why (log_uuid ${String(cr.right.log_uuid)})` : 'wait until the run is over, then ask again'),
      )
    }
    const out = await api.collections.get(cr.right.output_uuid)()
    if (E.isLeft(out)) return out
    outputPdh = out.right.portable_data_hash
    outputUuid = out.right.uuid
  } else if (target._tag === 'Collection') {
    const out = await api.collections.get(target.uuid)()
    if (E.isLeft(out)) return E.left(notFound('collection', target.uuid, host, out.left))
    outputPdh = out.right.portable_data_hash
    outputUuid = out.right.uuid
  } else outputPdh = target.pdh

  const found = await Provenance.findOutput(api, outputPdh)
  if (E.isLeft(found)) return found
  if (found.right === undefined) {
    if (target._tag === 'Pdh') {
      const any = await api.collections.list({ filters: [['portable_data_hash', '=', outputPdh]], select: ['uuid'], limit: 1, count: 'none' })()
      if (E.isRight(any) && any.right.items.length === 0) return E.left(error('ARV_PAST_RUN_NOT_FOUND', `no collection with portable data hash ${outputPdh} was found on ${host}`, { id: outputPdh }, `check the hash and that ARVADOS_API_HOST is the cluster the run was on; ${HOW}`))
    }
    const what = target._tag === 'Request' ? `the output of container request ${target.uuid} (${outputPdh})` : target._tag === 'Collection' ? `collection ${target.uuid} (${outputPdh})` : `no collection with portable data hash ${outputPdh}`
    return E.left(
      error('ARV_PAST_RUN_NO_PROVENANCE', `${what} ${target._tag === 'Pdh' ? 'carries' : 'does not carry'} ${Provenance.PROPERTIES.provenance}: it is not the final output of an arvados-crunch run (0.2 or later)`, { id: outputPdh },
        `a call’s own request or output has none; ${HOW}`),
    )
  }
  const props = found.right.properties
  const provenance = props[Provenance.PROPERTIES.provenance] as string
  const coll = await api.collections.get(provenance)()
  if (E.isLeft(coll)) return E.left(notFound('provenance collection', provenance, host, coll.left))
  const c = Collection.fromManifestText(coll.right.manifest_text ?? '', { source: { readBlock: (locator) => keep.get(locator)() } })
  if (E.isLeft(c)) return c
  const files: Record<string, string> = {}
  for (const name of FILES) {
    if (!c.right.files.some((f) => f.path === name)) continue
    const bytes = await Collection.readEither(c.right, name, signal)
    if (E.isLeft(bytes)) return bytes
    files[name] = new TextDecoder().decode(bytes.right)
  }
  return E.right({
    module: typeof props['arvados_crunch_module'] === 'string' ? props['arvados_crunch_module'] : 'unknown',
    ...(request === undefined ? {} : { request }),
    output: { uuid: outputUuid ?? found.right.uuid, pdh: outputPdh },
    callsRun: numberOr(props[Provenance.PROPERTIES.callsRun]),
    callsReused: numberOr(props[Provenance.PROPERTIES.callsReused]),
    callsCost: numberOr(props[Provenance.PROPERTIES.cost]),
    provenance,
    files,
  })
}
