/**
 * Where an output came from, recorded on it: the final output collection's properties name the
 * module, its params (secrets left out), the code that ran (the bundle's portable data hash),
 * the SDK version, how many calls ran and were reused, what they cost, and a provenance
 * collection holding the run's graph (`graph.json`), its params (`params.json`), its events
 * (`events.jsonl`) and its report (`report.html`).
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as Client from '../../arvados/client.js'
import type * as Dispatcher from '../../dispatcher.js'
import type * as Errors from '../../errors.js'
import * as Graph from '../../graph.js'
import type * as Json from '../../internal/json.js'
import * as Locator from '../../keep/locator.js'
import type * as Keep from '../../keep/client.js'
import type * as Module from '../../module.js'
import * as Redact from '../../internal/redact.js'
import * as Report from '../../report/index.js'
import * as Redacted from '../../report/redacted.js'
import { VERSION } from '../../version.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What a run knows of itself when its output is recorded.
 *
 * @category models
 * @since 0.2.0
 */
export interface Provenance {
  readonly module: Module.AnyModule
  /** the params as JSON, secrets left out */
  readonly params: Json.Json
  /** the code that ran: the bundle's portable data hash */
  readonly code: string
  readonly stats: Dispatcher.Stats
  readonly graph: Graph.Graph
  readonly events: ReadonlyArray<Report.TimedEvent>
  readonly startedAt: string
  readonly finishedAt: string
  /** texts removed from every event written (the API token, the values of `Secret` params) */
  readonly secrets?: ReadonlyArray<string>
}

/** @category constants @since 0.2.0 */
export const PROPERTIES = {
  params: 'arvados_crunch_params',
  code: 'arvados_crunch_code',
  sdkVersion: 'arvados_crunch_sdk_version',
  callsRun: 'arvados_crunch_calls_run',
  callsReused: 'arvados_crunch_calls_reused',
  cost: 'arvados_crunch_cost',
  provenance: 'arvados_crunch_provenance',
} as const

/** params longer than this (as JSON) are only in the provenance collection's `params.json` */
export const PARAMS_PROPERTY_MAX = 8192

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * The output collection's provenance properties, given the provenance collection's PDH.
 *
 * @category utils
 * @since 0.2.0
 */
export const properties = (p: Provenance, provenancePdh: string): Readonly<Record<string, Json.Json>> => {
  const params = JSON.stringify(p.params)
  return {
    [PROPERTIES.params]: params.length <= PARAMS_PROPERTY_MAX ? p.params : `(${params.length} characters: see params.json in collection ${provenancePdh})`,
    [PROPERTIES.code]: p.code,
    [PROPERTIES.sdkVersion]: VERSION,
    [PROPERTIES.callsRun]: p.stats.executed,
    [PROPERTIES.callsReused]: p.stats.reused,
    [PROPERTIES.cost]: p.stats.cost ?? 0,
    [PROPERTIES.provenance]: provenancePdh,
  }
}

/**
 * The files of the provenance collection, by name.
 *
 * @category utils
 * @since 0.2.0
 */
export const files = (p: Provenance): ReadonlyArray<readonly [string, string]> => {
  const events = p.events.map(Redacted.event(Redact.make(p.secrets)))
  const run = Report.fromEvents({ module: p.module.name, params: p.params, events, graph: p.graph, requested: Report.requestedOf(p.module), startedAt: p.startedAt, finishedAt: p.finishedAt, outcome: 'succeeded' })
  return [
    ['events.jsonl', events.map((e) => JSON.stringify(e)).join('\n') + (events.length === 0 ? '' : '\n')],
    ['graph.json', JSON.stringify(Graph.toJson(p.graph), null, 1) + '\n'],
    ['params.json', JSON.stringify(p.params) + '\n'],
    ['report.html', Report.render(run)],
  ]
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * The output collection with portable data hash `pdh` that carries the provenance properties,
 * if one is readable (a submitted runner's request holds a copy without them, with the same
 * hash).
 *
 * @category interpreters
 * @since 0.2.0
 */
export const findOutput = async (api: Client.ArvadosClient, pdh: string): Promise<E.Either<Errors.SdkError, { readonly uuid: string; readonly properties: Readonly<Record<string, unknown>> } | undefined>> => {
  const page = await api.collections.list({ filters: [['portable_data_hash', '=', pdh]], select: ['uuid', 'properties'], limit: 50, count: 'none' })()
  if (E.isLeft(page)) return page
  const hit = page.right.items.find((c) => typeof (c.properties as Readonly<Record<string, unknown>> | undefined)?.[PROPERTIES.provenance] === 'string')
  return E.right(hit === undefined ? undefined : { uuid: hit.uuid, properties: hit.properties as Readonly<Record<string, unknown>> })
}

/**
 * Writes the provenance collection; its portable data hash.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const save = async (api: Client.ArvadosClient, keep: Keep.KeepClient, project: string | undefined, p: Provenance): Promise<E.Either<Errors.SdkError, string>> => {
  const locators: Array<string> = []
  const segments: Array<string> = []
  let offset = 0
  for (const [name, text] of files(p)) {
    const bytes = new TextEncoder().encode(text)
    if (bytes.length > 0) {
      const stored = await keep.put(bytes)()
      if (E.isLeft(stored)) return stored
      locators.push(Locator.format(stored.right.locator))
    }
    segments.push(`${offset}:${bytes.length}:${name}`)
    offset += bytes.length
  }
  const created = await api.collections.create(
    {
      manifest_text: `. ${locators.length === 0 ? 'd41d8cd98f00b204e9800998ecf8427e+0' : locators.join(' ')} ${segments.join(' ')}\n`,
      name: `Provenance of ${p.module.name}`,
      ...(project === undefined ? {} : { owner_uuid: project }),
      properties: { type: 'provenance', arvados_crunch_module: p.module.name },
    },
    { ensure_unique_name: true },
  )()
  return E.isLeft(created) ? created : E.right(created.right.portable_data_hash)
}
