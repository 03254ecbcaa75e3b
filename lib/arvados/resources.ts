/**
 * io-ts codecs for the Arvados resources the SDK uses, with the real snake_case field names
 * and types of the discovery document (`api-schemas.json`). Each codec is split in two:
 * `core` fields the server always sends (required) and `rest` (optional). Unknown fields are
 * tolerated. `pick` builds the codec of a list with `select`.
 *
 * Pure.
 *
 * @since 0.1.0
 */
import * as t from 'io-ts'

// -------------------------------------------------------------------------------------
// building blocks
// -------------------------------------------------------------------------------------

const nullable = <C extends t.Mixed>(c: C) => t.union([c, t.null])
const Str = t.string
const NStr = nullable(t.string)
const Num = t.number
const NNum = nullable(t.number)
const Hash = t.UnknownRecord
const NHash = nullable(t.UnknownRecord)
const Strings = t.array(t.string)
const NStrings = nullable(t.array(t.string))
const Bool = t.boolean
/** Timestamps: RFC 3339 text with 9 fractional digits, or null for zero times. */
const Time = nullable(t.string)

/**
 * A resource codec description: API path segment, the create/update wrapper key, its `kind`,
 * and the two property sets.
 *
 * @category models
 * @since 0.1.0
 */
export interface Resource<C extends t.Props, R extends t.Props> {
  readonly name: string
  readonly path: string
  readonly wrapper: string
  readonly kind: string
  readonly core: C
  readonly rest: R
}

/**
 * The decoded value of a resource: core fields required, the others optional.
 *
 * @category models
 * @since 0.1.0
 */
export type TypeOf<Res> = Res extends Resource<infer C, infer R> ? t.TypeOf<t.TypeC<C>> & t.TypeOf<t.PartialC<R>> : never

/**
 * The fields a resource has (for `select`).
 *
 * @category models
 * @since 0.1.0
 */
export type Field<Res> = Res extends Resource<infer C, infer R> ? Extract<keyof C | keyof R, string> : never

/**
 * The decoded value of a list item when only `K` was selected.
 *
 * @category models
 * @since 0.1.0
 */
export type Picked<Res, K extends string> = Res extends Resource<infer C, infer R>
  ? t.TypeOf<t.TypeC<Pick<C, Extract<K, keyof C>>>> & t.TypeOf<t.PartialC<Pick<R, Extract<K, keyof R>>>>
  : never

const resource = <C extends t.Props, R extends t.Props>(name: string, path: string, wrapper: string, kind: string, core: C, rest: R): Resource<C, R> => ({
  name,
  path,
  wrapper,
  kind,
  core,
  rest,
})

// -------------------------------------------------------------------------------------
// resources
// -------------------------------------------------------------------------------------

/**
 * Container request states.
 *
 * @category codecs
 * @since 0.1.0
 */
export const ContainerRequestState = t.keyof({ Uncommitted: null, Committed: null, Final: null }, 'ContainerRequestState')

/**
 * Container states.
 *
 * @category codecs
 * @since 0.1.0
 */
export const ContainerState = t.keyof({ Queued: null, Locked: null, Running: null, Complete: null, Cancelled: null }, 'ContainerState')

/**
 * `container_requests` (`xvhdp`).
 *
 * @category resources
 * @since 0.1.0
 */
export const ContainerRequest = resource(
  'ContainerRequest',
  'container_requests',
  'container_request',
  'arvados#containerRequest',
  {
    uuid: Str,
    owner_uuid: Str,
    state: ContainerRequestState,
    priority: NNum,
    container_uuid: NStr,
    output_uuid: NStr,
    log_uuid: NStr,
    properties: Hash,
  },
  {
    etag: Str,
    kind: Str,
    name: NStr,
    description: NStr,
    created_at: Time,
    modified_at: Time,
    modified_by_user_uuid: NStr,
    requesting_container_uuid: NStr,
    container_count_max: NNum,
    container_count: NNum,
    mounts: Hash,
    runtime_constraints: Hash,
    scheduling_parameters: Hash,
    container_image: NStr,
    environment: Hash,
    cwd: NStr,
    command: Strings,
    output_path: NStr,
    output_glob: NStrings,
    output_name: NStr,
    output_ttl: NNum,
    output_storage_classes: NStrings,
    output_properties: NHash,
    use_existing: nullable(Bool),
    expires_at: Time,
    filters: NStr,
    cumulative_cost: NNum,
    service: nullable(Bool),
    published_ports: NHash,
  },
)

/**
 * `containers` (`dz642`).
 *
 * @category resources
 * @since 0.1.0
 */
export const Container = resource(
  'Container',
  'containers',
  'container',
  'arvados#container',
  {
    uuid: Str,
    state: ContainerState,
    exit_code: NNum,
    output: NStr,
    log: NStr,
  },
  {
    etag: Str,
    kind: Str,
    owner_uuid: NStr,
    created_at: Time,
    modified_at: Time,
    modified_by_user_uuid: NStr,
    started_at: Time,
    finished_at: Time,
    environment: NHash,
    cwd: NStr,
    command: NStrings,
    output_path: NStr,
    output_glob: NStrings,
    mounts: NHash,
    runtime_constraints: NHash,
    scheduling_parameters: NHash,
    runtime_status: NHash,
    container_image: NStr,
    progress: NNum,
    priority: NNum,
    auth_uuid: NStr,
    locked_by_uuid: NStr,
    lock_count: NNum,
    runtime_user_uuid: NStr,
    runtime_auth_scopes: NStrings,
    gateway_address: NStr,
    interactive_session_started: nullable(Bool),
    output_storage_classes: NStrings,
    output_properties: NHash,
    cost: NNum,
    subrequests_cost: NNum,
    service: nullable(Bool),
    published_ports: t.unknown,
  },
)

/**
 * `collections` (`4zz18`). A get by portable data hash returns the hash as `uuid`.
 *
 * @category resources
 * @since 0.1.0
 */
export const Collection = resource(
  'Collection',
  'collections',
  'collection',
  'arvados#collection',
  {
    uuid: Str,
    portable_data_hash: Str,
    manifest_text: NStr,
  },
  {
    etag: Str,
    kind: Str,
    owner_uuid: NStr,
    name: NStr,
    description: NStr,
    properties: NHash,
    created_at: Time,
    modified_at: Time,
    modified_by_user_uuid: NStr,
    replication_desired: NNum,
    replication_confirmed: NNum,
    replication_confirmed_at: Time,
    storage_classes_desired: NStrings,
    storage_classes_confirmed: NStrings,
    storage_classes_confirmed_at: Time,
    trash_at: Time,
    delete_at: Time,
    is_trashed: nullable(Bool),
    current_version_uuid: NStr,
    version: NNum,
    preserve_version: nullable(Bool),
    file_count: NNum,
    file_size_total: NNum,
  },
)

/**
 * `keep_services` (`bi6l4`).
 *
 * @category resources
 * @since 0.1.0
 */
export const KeepService = resource(
  'KeepService',
  'keep_services',
  'keep_service',
  'arvados#keepService',
  {
    uuid: Str,
    service_host: Str,
    service_port: Num,
    service_ssl_flag: Bool,
    service_type: Str,
  },
  {
    etag: Str,
    kind: Str,
    owner_uuid: NStr,
    read_only: nullable(Bool),
    created_at: Time,
    modified_at: Time,
    modified_by_user_uuid: NStr,
  },
)

/**
 * `users/current` (`tpzed`).
 *
 * @category resources
 * @since 0.1.0
 */
export const User = resource(
  'User',
  'users',
  'user',
  'arvados#user',
  { uuid: Str },
  {
    etag: Str,
    kind: Str,
    owner_uuid: NStr,
    email: NStr,
    username: NStr,
    first_name: NStr,
    last_name: NStr,
    full_name: NStr,
    is_admin: nullable(Bool),
    is_active: nullable(Bool),
    created_at: Time,
    modified_at: Time,
  },
)

/**
 * `api_client_authorizations/current` (`gj3su`). The secret (`api_token`) the server sends
 * back is deliberately not part of the codec and is stripped when decoding.
 *
 * @category resources
 * @since 0.1.0
 */
export const ApiClientAuthorization = resource(
  'ApiClientAuthorization',
  'api_client_authorizations',
  'api_client_authorization',
  'arvados#apiClientAuthorization',
  { uuid: Str },
  {
    etag: Str,
    kind: Str,
    owner_uuid: NStr,
    scopes: NStrings,
    expires_at: Time,
    created_at: Time,
    modified_at: Time,
  },
)

/**
 * The parts of the discovery document (`GET /discovery/v1/apis/arvados/v1/rest`) the SDK reads;
 * everything else in it is tolerated. `websocketUrl` is the event bus (empty when the cluster
 * has none).
 *
 * @category codecs
 * @since 0.2.0
 */
export const Discovery = t.partial({ websocketUrl: t.string, revision: t.string, uuidPrefix: t.string, maxItemsPerResponse: t.number }, 'Discovery')

/**
 * @category models
 * @since 0.2.0
 */
export type Discovery = t.TypeOf<typeof Discovery>

/**
 * @category models
 * @since 0.1.0
 */
export type ContainerRequest = TypeOf<typeof ContainerRequest>
/**
 * @category models
 * @since 0.1.0
 */
export type Container = TypeOf<typeof Container>
/**
 * @category models
 * @since 0.1.0
 */
export type Collection = TypeOf<typeof Collection>
/**
 * @category models
 * @since 0.1.0
 */
export type KeepService = TypeOf<typeof KeepService>
/**
 * @category models
 * @since 0.1.0
 */
export type User = TypeOf<typeof User>
/**
 * @category models
 * @since 0.1.0
 */
export type ApiClientAuthorization = TypeOf<typeof ApiClientAuthorization>

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

/**
 * The codec of a whole object. `exact` strips fields outside the codec (used for token
 * records so the secret is dropped).
 *
 * @category codecs
 * @since 0.1.0
 */
export const codec = <C extends t.Props, R extends t.Props>(res: Resource<C, R>, exact = false): t.Type<TypeOf<Resource<C, R>>, unknown, unknown> => {
  const c = t.intersection([t.type(res.core), t.partial(res.rest)], res.name)
  return (exact ? t.exact(c, res.name) : c) as unknown as t.Type<TypeOf<Resource<C, R>>, unknown, unknown>
}

/**
 * The codec of a list item when only `select` fields were asked for (selected core fields
 * stay required).
 *
 * @category codecs
 * @since 0.1.0
 */
export const pick = <C extends t.Props, R extends t.Props, K extends string>(res: Resource<C, R>, select: ReadonlyArray<K>): t.Type<Picked<Resource<C, R>, K>, unknown, unknown> => {
  const core: t.Props = {}
  const rest: t.Props = {}
  for (const k of select) {
    const ck = res.core[k]
    const rk = res.rest[k]
    if (ck !== undefined) core[k] = ck
    else if (rk !== undefined) rest[k] = rk
  }
  return t.intersection([t.type(core), t.partial(rest)], `${res.name}(${select.join(',')})`) as unknown as t.Type<Picked<Resource<C, R>, K>, unknown, unknown>
}

/**
 * A list response: `items`, and `items_available` unless `count=none` was asked.
 *
 * @category codecs
 * @since 0.1.0
 */
export const list = <A>(item: t.Type<A, unknown, unknown>) =>
  t.intersection([t.type({ items: t.array(item) }), t.partial({ items_available: t.number, offset: t.number, limit: t.number, kind: t.string })], `List<${item.name}>`)

/**
 * A decoded list.
 *
 * @category models
 * @since 0.1.0
 */
export interface List<A> {
  readonly items: ReadonlyArray<A>
  readonly items_available?: number
  readonly offset?: number
  readonly limit?: number
}

/**
 * Renders io-ts errors as `path: expected Type` lines, never showing the values (a response
 * may carry a token).
 *
 * @category utils
 * @since 0.1.0
 */
export const problems = (errors: t.Errors): ReadonlyArray<string> => {
  const seen = new Set<string>()
  for (const e of errors) {
    const keys: Array<string> = []
    for (let i = 1; i < e.context.length; i++) {
      const parent = e.context[i - 1]?.type as { readonly _tag?: string } | undefined
      const tag = parent?._tag ?? ''
      if (tag === 'InterfaceType' || tag === 'PartialType' || tag === 'ArrayType' || tag === 'DictionaryType') keys.push(e.context[i]?.key ?? '')
    }
    const last = e.context[e.context.length - 1]
    seen.add(`${keys.length === 0 ? '(root)' : keys.join('.')}: expected ${last?.type.name ?? 'a valid value'}, received ${kindOf(e.value)}`)
  }
  return [...seen]
}

const kindOf = (u: unknown): string => (u === null ? 'null' : Array.isArray(u) ? 'array' : typeof u)
