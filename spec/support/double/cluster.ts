/**
 * The state and rules of the Arvados double, without HTTP: users and tokens, collections with
 * signature checks, container requests with their state machine, containers with reuse, priority,
 * cancellation, retries and finalization (ARVADOS-FACTS §3–§6, §10, §17).
 *
 * Containers are run by an executor handed in by index.ts (see executor.ts).
 */
import * as Crypto from 'node:crypto'
import * as Crunchstat from './crunchstat.js'
import * as FieldIndex from './field-index.js'
import * as Manifest from './manifest.js'
import * as Signing from './signing.js'

export type Rec = Record<string, unknown>

/** An error the API answers with: status and message (rendered by http.ts). */
export interface ApiError {
  readonly _tag: 'ApiError'
  readonly status: number
  readonly message: string
}

export const apiError = (status: number, message: string): ApiError => ({ _tag: 'ApiError', status, message })
export const isApiError = (e: unknown): e is ApiError => typeof e === 'object' && e !== null && (e as { _tag?: unknown })._tag === 'ApiError'

export const CLUSTER = 'zzzzz'
export const SYSTEM_USER = `${CLUSTER}-tpzed-000000000000000`
const GIB = 1024 * 1024 * 1024

/** A token record: what `api_client_authorizations/current` shows, plus its secret. */
export interface Token {
  readonly uuid: string
  readonly secret: string
  readonly userUuid: string
  readonly scopes: ReadonlyArray<string>
  readonly containerUuid?: string
  readonly createdAt: string
  expiresAt: string | null
}

/** Who is calling. */
export interface Caller {
  readonly token: Token
  readonly user: Rec
  readonly isAdmin: boolean
  /** The full token string as presented (signatures are made for it). */
  readonly presented: string
}

/** Runs containers; the cluster calls these and the executor reports back through `Cluster`. */
export interface Executor {
  /** A Locked container may start now (the executor calls `markRunning` then `finish`). */
  readonly start: (container: Rec, token: string) => void
  /** Kill the running process of a container (priority went to 0); it then calls `finish`. */
  readonly kill: (containerUuid: string) => void
}

export interface ClusterOptions {
  readonly blobSigningKey: string
  readonly blobSigningTtl: number
  readonly random: () => number
  readonly failContainers?: FailContainers
  /** Containers Locked or Running at once (default: no limit); the rest wait Queued: a trickle of completions. */
  readonly maxRunning?: number
}

/** Fault hook: decides that a container exits with a code, or is cancelled, without running. */
export type FailContainers = (cr: Rec, container: Rec, attempt: number) => { exitCode?: number; cancel?: boolean; output?: Readonly<Record<string, string>> } | undefined

const b36 = (n: number, random: () => number): string => Array.from({ length: n }, () => Math.floor(random() * 36).toString(36)).join('')

const canonical = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(canonical) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Rec)[k])])) : v
/** Key-sorted JSON. */
export const canonicalJson = (v: unknown): string => JSON.stringify(canonical(v))
const emptyish = (v: unknown): boolean => v === null || v === undefined || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0)
const sameValue = (a: unknown, b: unknown): boolean => (emptyish(a) && emptyish(b)) || canonicalJson(a) === canonicalJson(b)
const md5 = (s: string): string => Crypto.createHash('md5').update(s).digest('hex')
const isHash = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v)

const RUNTIME_KEYS = ['API', 'gpu', 'keep_cache_disk', 'keep_cache_ram', 'ram', 'vcpus', 'cuda']
const SCHEDULING_KEYS = ['partitions', 'preemptible', 'max_run_time', 'supervisor']
const MOUNT_FIELDS: Record<string, ReadonlyArray<string>> = {
  collection: ['uuid', 'portable_data_hash', 'writable', 'path', 'exclude_from_output'],
  tmp: ['capacity', 'device_type', 'exclude_from_output'],
  keep: ['exclude_from_output'],
  file: ['path', 'exclude_from_output'],
  json: ['content', 'exclude_from_output'],
  text: ['content', 'exclude_from_output'],
}
const zeroValued = (v: unknown): boolean => v === 0 || v === '' || v === false || v === null

const runtimeDefaults = (rc: Rec): Rec => ({
  API: false,
  gpu: { device_count: 0, driver_version: '', hardware_target: [], stack: '', vram: 0 },
  keep_cache_disk: 0,
  keep_cache_ram: 0,
  ram: 0,
  vcpus: 0,
  ...rc,
})
const schedulingDefaults = (sp: Rec): Rec => ({ max_run_time: 0, partitions: [], preemptible: false, supervisor: false, ...sp })

/** Every Mount field, as the controller re-encodes container request mounts (§17). */
const fillMount = (m: unknown): unknown =>
  isHash(m) ? { capacity: 0, content: null, device_type: '', exclude_from_output: false, kind: '', path: '', portable_data_hash: '', uuid: '', writable: false, ...m } : m

const CR_ALWAYS = ['owner_uuid', 'state', 'name', 'description', 'properties']
const CR_BEFORE_COMMIT = ['command', 'container_count_max', 'container_image', 'cwd', 'environment', 'filters', 'mounts', 'output_path', 'output_glob', 'priority', 'runtime_token',
  'runtime_constraints', 'container_uuid', 'use_existing', 'scheduling_parameters', 'secret_mounts', 'output_name', 'output_ttl', 'output_storage_classes', 'output_properties', 'service', 'published_ports']
const CR_COMMITTED = ['priority', 'container_count_max', 'container_uuid', 'cumulative_cost']
const CR_FINAL = ['priority', 'cumulative_cost']
const CR_SERVER = ['requesting_container_uuid', 'log_uuid', 'output_uuid', 'container_count', 'cumulative_cost', 'uuid', 'expires_at']

/** The cluster state and its operations. */
export const makeCluster = (opts: ClusterOptions) => {
  const random = opts.random
  let lastMicros = 0
  const nowMicros = (): number => {
    lastMicros = Math.max(Date.now() * 1000, lastMicros + 1)
    return lastMicros
  }
  const stamp = (micros: number): string => new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19) + '.' + String(micros % 1_000_000).padStart(6, '0') + '000Z'
  const now = (): string => stamp(nowMicros())
  const newUuid = (infix: string): string => `${CLUSTER}-${infix}-${b36(15, random)}`
  /** a hash of the record's content (as Rails makes it); plain JSON, not key-sorted: a record keeps its key order */
  const etag = (r: Rec): string => {
    r['etag'] = ''
    return BigInt('0x' + md5(JSON.stringify(r)).slice(0, 16)).toString(36)
  }

  const users = new Map<string, Rec>()
  const tokens = new Map<string, Token>() // by secret
  const collections = new Map<string, Rec>()
  const crs = new Map<string, Rec>()
  const containers = new Map<string, Rec & { secret_mounts?: Rec; runtime_token?: string | null }>()
  /** Previous attempts per CR (for the log collection's `log for container` dirs). */
  const attempts = new Map<string, Array<string>>()
  const blocks = new Map<string, Buffer>()
  // secondary indexes (field-index.ts): look-ups cost what they find, not a scan of every record
  const crsByContainer = FieldIndex.make(crs, FieldIndex.stringField('container_uuid'))
  const crsByRequester = FieldIndex.make(crs, FieldIndex.stringField('requesting_container_uuid'))
  const crsByState = FieldIndex.make(crs, FieldIndex.stringField('state'))
  const containersByState = FieldIndex.make(containers, FieldIndex.stringField('state'))
  const containersByReuseKey = FieldIndex.make(containers, (c) => reuseKeyOf(c))
  const collectionsByPdh = FieldIndex.make(collections, FieldIndex.stringField('portable_data_hash'))
  const collectionsByName = FieldIndex.make(collections, FieldIndex.stringField('name'))
  /** indexes of properties by key, made when a list first filters on one */
  const crsByProperty = new Map<string, FieldIndex.FieldIndex<Rec>>()
  const collectionsByProperty = new Map<string, FieldIndex.FieldIndex<Rec>>()
  /** container → the requests whose attempts list it (the inverse of `attempts`, checked on read) */
  const attemptsOf = new Map<string, Set<string>>()
  const addAttempt = (crUuid: string, containerUuid: string): void => {
    let set = attemptsOf.get(containerUuid)
    if (set === undefined) attemptsOf.set(containerUuid, (set = new Set()))
    set.add(crUuid)
  }
  /** container → its tokens */
  const tokensOf = new Map<string, Array<Token>>()
  /** a record was made or may have changed: its indexes follow */
  const noteRecord = (r: Rec): void => {
    const uuid = r['uuid']
    if (typeof uuid !== 'string') return
    const infix = uuid.slice(6, 11)
    if (infix === 'xvhdp') {
      crsByContainer.note(r)
      crsByRequester.note(r)
      crsByState.note(r)
      for (const ix of crsByProperty.values()) ix.note(r)
    } else if (infix === 'dz642') {
      containersByState.note(r)
      containersByReuseKey.note(r)
    } else if (infix === '4zz18') {
      collectionsByPdh.note(r)
      collectionsByName.note(r)
      for (const ix of collectionsByProperty.values()) ix.note(r)
    }
  }
  const counters = { containerRequestsCreated: 0, containersCreated: 0, containersStarted: 0, containersReused: 0, containersCancelled: 0, collectionsCreated: 0, blocksStored: 0 }
  let executor: Executor | undefined
  const failContainers: { f: FailContainers | undefined } = { f: opts.failContainers }

  /** hears every change of a record (the websocket event bus) */
  const touched = new Set<(r: Rec) => void>()
  const touch = (r: Rec, by: string): void => {
    r['modified_at'] = now()
    r['modified_by_user_uuid'] = by
    r['etag'] = etag(r)
    noteRecord(r)
    for (const f of touched) f(r)
  }

  // ------------------------------------------------------------------ users and tokens
  const addUser = (name: string, isAdmin: boolean, uuid?: string): Rec => {
    const u: Rec = {
      kind: 'arvados#user', etag: '', uuid: uuid ?? newUuid('tpzed'), owner_uuid: SYSTEM_USER, created_at: now(), modified_at: now(), modified_by_user_uuid: SYSTEM_USER,
      email: `${name}@example.com`, first_name: name, last_name: 'Double', full_name: `${name} Double`, username: name, identity_url: '', is_active: true, is_admin: isAdmin,
      is_invited: true, prefs: {}, can_write: true, can_manage: true, writable_by: [SYSTEM_USER],
    }
    u['etag'] = etag(u)
    users.set(u['uuid'] as string, u)
    return u
  }
  const addToken = (userUuid: string, containerUuid?: string): Token => {
    const t: Token = { uuid: newUuid('gj3su'), secret: b36(50, random), userUuid, scopes: ['all'], createdAt: now(), expiresAt: null, ...(containerUuid === undefined ? {} : { containerUuid }) }
    tokens.set(t.secret, t)
    if (containerUuid !== undefined) tokensOf.set(containerUuid, [...(tokensOf.get(containerUuid) ?? []), t])
    return t
  }
  const tokenString = (t: Token): string => `v2/${t.uuid}/${t.secret}${t.containerUuid === undefined ? '' : '/' + t.containerUuid}`

  addUser('system', true, SYSTEM_USER)
  const admin = addUser('admin', true)
  const user = addUser('active', false)
  const adminToken = addToken(admin['uuid'] as string)
  const userToken = addToken(user['uuid'] as string)

  /** Resolves a presented token; undefined when unknown or expired. */
  const authenticate = (presented: string): Caller | undefined => {
    const parts = presented.split('/')
    const secret = presented.startsWith('v2/') ? parts[2] : presented
    if (secret === undefined) return undefined
    const t = tokens.get(secret)
    if (t === undefined) return undefined
    if (presented.startsWith('v2/') && parts[1] !== t.uuid) return undefined
    if (t.expiresAt !== null && Date.parse(t.expiresAt) <= Date.now()) return undefined
    const u = users.get(t.userUuid)
    if (u === undefined) return undefined
    return { token: t, user: u, isAdmin: u['is_admin'] === true, presented }
  }

  const tokenRecord = (c: Caller): Rec => ({
    kind: 'arvados#apiClientAuthorization', etag: '', uuid: c.token.uuid, owner_uuid: c.token.userUuid, api_token: c.token.secret, created_at: c.token.createdAt,
    created_by_ip_address: '127.0.0.1', expires_at: c.token.expiresAt, last_used_at: now(), last_used_by_ip_address: '127.0.0.1', modified_at: c.token.createdAt,
    modified_by_user_uuid: c.token.userUuid, refreshes_at: null, scopes: c.token.scopes,
  })

  // ------------------------------------------------------------------ blobs
  const signLocator = (loc: string, presented: string, expiry?: number): string =>
    Signing.sign(loc, opts.blobSigningKey, presented, expiry ?? Math.floor(Date.now() / 1000) + opts.blobSigningTtl, opts.blobSigningTtl)
  const checkLocator = (loc: string, presented: string): Signing.Check => Signing.check(loc, opts.blobSigningKey, presented, Date.now() / 1000, opts.blobSigningTtl)
  /** Hashes of blocks written by the double itself (outputs, logs): every Keep service serves them. */
  const internalBlocks = new Set<string>()
  const storeBlock = (data: Buffer): string => {
    const h = Crypto.createHash('md5').update(data).digest('hex')
    if (!blocks.has(h)) counters.blocksStored++
    blocks.set(h, data)
    return `${h}+${data.length}`
  }
  const putBlock = (data: Buffer): string => {
    const loc = storeBlock(data)
    internalBlocks.add(loc.slice(0, 32))
    return loc
  }
  const readFile = (f: Manifest.FileEntry): Buffer =>
    Buffer.concat(f.pieces.map((p) => {
      const b = blocks.get(p.locator.slice(0, 32))
      if (b === undefined) throw new Error(`Arvados double: block ${p.locator.slice(0, 32)} is not in the Keep store`)
      return b.subarray(p.offset, p.offset + p.len)
    }))

  // ------------------------------------------------------------------ collections
  const signManifest = (text: string, presented: string, trashAt: unknown): string => {
    const ttlExpiry = Math.floor(Date.now() / 1000) + opts.blobSigningTtl
    const expiry = typeof trashAt === 'string' ? Math.min(ttlExpiry, Math.floor(Date.parse(trashAt) / 1000)) : ttlExpiry
    return Manifest.mapDataLocators(text, (l) => signLocator(l, presented, expiry))
  }
  /** A collection as a caller sees it: manifest signed for its token unless trashed. */
  const renderCollection = (c: Rec, caller: Caller | undefined): Rec =>
    caller === undefined || c['is_trashed'] === true ? { ...c } : { ...c, manifest_text: signManifest(c['manifest_text'] as string, caller.presented, c['trash_at']) }

  const checkManifest = (text: unknown, caller: Caller | undefined): string => {
    if (typeof text !== 'string') throw apiError(422, 'manifest_text must be a string')
    const p = Manifest.validate(text)
    if (p !== undefined) throw apiError(422, p)
    if (caller !== undefined && !caller.isAdmin)
      for (const loc of Manifest.locators(text)) {
        if (loc.split('+')[1] === '0') continue
        const r = checkLocator(loc, caller.presented)
        if (r !== 'ok') throw apiError(403, `Permission denied: ${r === 'missing' ? 'unsigned' : r === 'expired' ? 'expired signature on' : 'invalid signature on'} locator ${loc.split('+').slice(0, 2).join('+')}`)
      }
    return Manifest.stripSignatures(text)
  }

  const createCollectionRecord = (attrs: Rec, ownerUuid: string, by: string, caller: Caller | undefined, ensureUniqueName = false): Rec => {
    const text = checkManifest(attrs['manifest_text'] ?? '', caller)
    const pdh = Manifest.portableDataHash(text)
    if (typeof attrs['portable_data_hash'] === 'string' && attrs['portable_data_hash'] !== '' && attrs['portable_data_hash'].slice(0, 32) !== pdh.slice(0, 32))
      throw apiError(422, `portable_data_hash ${attrs['portable_data_hash']} does not match computed hash ${pdh}`)
    if (attrs['properties'] !== undefined && attrs['properties'] !== null && !isHash(attrs['properties'])) throw apiError(422, 'properties must be a hash')
    const uuid = newUuid('4zz18')
    const t = now()
    const stats = Manifest.fileStats(text)
    const trashAt = (attrs['trash_at'] as string | null | undefined) ?? null
    const c: Rec = {
      kind: 'arvados#collection', etag: '', uuid, owner_uuid: ownerUuid, created_at: t, modified_at: t, modified_by_user_uuid: by,
      name: attrs['name'] ?? null, description: attrs['description'] ?? null, properties: attrs['properties'] ?? {}, portable_data_hash: pdh, manifest_text: text,
      replication_desired: attrs['replication_desired'] ?? null, replication_confirmed: null, replication_confirmed_at: null,
      storage_classes_desired: attrs['storage_classes_desired'] ?? ['default'], storage_classes_confirmed: [], storage_classes_confirmed_at: null,
      trash_at: trashAt, delete_at: (attrs['delete_at'] as string | null | undefined) ?? (trashAt === null ? null : new Date(Date.parse(trashAt) + 14 * 86400_000).toISOString()),
      is_trashed: attrs['is_trashed'] === true || (trashAt !== null && Date.parse(trashAt) <= Date.now()),
      current_version_uuid: uuid, version: 1, preserve_version: attrs['preserve_version'] ?? false, file_count: stats.count, file_size_total: stats.size,
    }
    if (typeof c['name'] === 'string' && !c['is_trashed']) {
      const clash = collectionsByName.get(c['name']).some((o) => o['owner_uuid'] === ownerUuid && o['is_trashed'] !== true)
      if (clash) {
        if (!ensureUniqueName) throw apiError(422, `Name has already been taken: duplicate key value violates unique constraint "index_collections_on_owner_uuid_and_name" (owner_uuid, name)=(${ownerUuid}, ${c['name'] as string})`)
        c['name'] = `${(c['name'] as string).slice(0, 237)} (${uuid.slice(-15)})`
      }
    }
    c['etag'] = etag(c)
    collections.set(uuid, c)
    noteRecord(c)
    counters.collectionsCreated++
    return c
  }

  const readableCollection = (c: Rec, caller: Caller): boolean => caller.isAdmin || c['owner_uuid'] === caller.user['uuid'] || ownedBy(c['owner_uuid'], caller)
  /** Projects are not modelled: a `j7d0g` owner counts as the caller's own project. */
  const ownedBy = (owner: unknown, caller: Caller): boolean => typeof owner === 'string' && (owner === caller.user['uuid'] || owner.slice(6, 11) === 'j7d0g')

  const checkOwner = (owner: unknown, caller: Caller): string => {
    if (owner === undefined || owner === null || owner === '') return caller.user['uuid'] as string
    if (typeof owner !== 'string') throw apiError(422, 'owner_uuid must be a string')
    if (caller.isAdmin || ownedBy(owner, caller)) return owner
    throw apiError(403, `Permission denied: cannot write to owner ${owner}`)
  }

  const findCollection = (id: string, caller: Caller, includeTrash: boolean): Rec => {
    if (/^[0-9a-f]{32}\+\d+$/.test(id)) {
      const hit = collectionsByPdh.get(id).find((c) => readableCollection(c, caller))
      if (hit === undefined) throw apiError(404, 'Not Found')
      // The controller answers every field with its zero value and the PDH as uuid (§17).
      const zero = (v: unknown): unknown => (typeof v === 'string' ? '' : typeof v === 'number' ? 0 : typeof v === 'boolean' ? false : null)
      const out: Rec = Object.fromEntries(Object.entries(hit).map(([k, v]) => [k, zero(v)]))
      return { ...out, kind: 'arvados#collection', etag: '', uuid: id, portable_data_hash: id, manifest_text: hit['manifest_text'], trash_at: null, delete_at: null, created_at: null, modified_at: null }
    }
    const c = collections.get(id)
    if (c === undefined || !readableCollection(c, caller) || (c['is_trashed'] === true && !includeTrash)) throw apiError(404, 'Not Found')
    return c
  }

  const updateCollection = (uuid: string, attrs: Rec, caller: Caller): Rec => {
    const c = findCollection(uuid, caller, true)
    if (!caller.isAdmin && !ownedBy(c['owner_uuid'], caller)) throw apiError(403, 'Permission denied')
    for (const k of ['uuid', 'portable_data_hash', 'file_count', 'file_size_total', 'current_version_uuid', 'version'])
      if (k in attrs && k !== 'portable_data_hash') delete attrs[k]
    if ('manifest_text' in attrs) {
      const text = checkManifest(attrs['manifest_text'], caller)
      const pdh = Manifest.portableDataHash(text)
      if (typeof attrs['portable_data_hash'] === 'string' && attrs['portable_data_hash'].slice(0, 32) !== pdh.slice(0, 32))
        throw apiError(422, `portable_data_hash ${attrs['portable_data_hash']} does not match computed hash ${pdh}`)
      const stats = Manifest.fileStats(text)
      Object.assign(c, { manifest_text: text, portable_data_hash: pdh, file_count: stats.count, file_size_total: stats.size })
      c['version'] = (c['version'] as number) + 1
    }
    delete attrs['manifest_text']
    delete attrs['portable_data_hash']
    if ('owner_uuid' in attrs) attrs['owner_uuid'] = checkOwner(attrs['owner_uuid'], caller)
    if ('properties' in attrs && attrs['properties'] !== null && !isHash(attrs['properties'])) throw apiError(422, 'properties must be a hash')
    Object.assign(c, attrs)
    if ('trash_at' in attrs) c['is_trashed'] = typeof c['trash_at'] === 'string' && Date.parse(c['trash_at']) <= Date.now()
    touch(c, caller.user['uuid'] as string)
    return c
  }

  const trashCollection = (uuid: string, caller: Caller, trash: boolean): Rec => {
    const c = findCollection(uuid, caller, true)
    if (!caller.isAdmin && !ownedBy(c['owner_uuid'], caller)) throw apiError(403, 'Permission denied')
    if (trash) Object.assign(c, { trash_at: now(), delete_at: new Date(Date.now() + 14 * 86400_000).toISOString(), is_trashed: true })
    else Object.assign(c, { trash_at: null, delete_at: null, is_trashed: false })
    touch(c, caller.user['uuid'] as string)
    return c
  }

  const pdhIsReadable = (pdh: unknown): boolean => typeof pdh === 'string' && collectionsByPdh.get(pdh).some((c) => c['is_trashed'] !== true)
  /** the first collection (in the order they were made) with this portable data hash */
  const collectionByPdh = (pdh: unknown): Rec | undefined => (typeof pdh === 'string' ? collectionsByPdh.get(pdh)[0] : undefined)

  // ------------------------------------------------------------------ container request validation
  const validateMounts = (mounts: unknown, field: string, secret: boolean): void => {
    if (mounts === null || mounts === undefined) return
    if (!isHash(mounts)) throw apiError(422, `${field} must be a hash`)
    for (const [target, m] of Object.entries(mounts)) {
      const okTarget = target.startsWith('/') || (secret ? target === 'stdin' : ['stdin', 'stdout', 'stderr'].includes(target))
      if (!okTarget) throw apiError(422, `${field} ${JSON.stringify(target)}: mount point must be an absolute path${secret ? ' or "stdin"' : ', "stdin", "stdout" or "stderr"'}`)
      if (!isHash(m)) throw apiError(422, `${field} ${JSON.stringify(target)} must be a hash`)
      const kind = m['kind']
      const allowed = typeof kind === 'string' ? MOUNT_FIELDS[kind] : undefined
      if (allowed === undefined) throw apiError(422, `${field} ${JSON.stringify(target)}: kind ${JSON.stringify(kind)}: unsupported value`)
      if (secret && kind !== 'json' && kind !== 'text') throw apiError(422, `secret_mounts ${JSON.stringify(target)}: kind must be json or text`)
      for (const [k, v] of Object.entries(m)) if (k !== 'kind' && !allowed.includes(k) && !zeroValued(v)) throw apiError(422, `${field} ${JSON.stringify(target)}: unsupported key ${JSON.stringify(k)} for kind ${kind}`)
      if (kind === 'text' && m['content'] !== undefined && typeof m['content'] !== 'string') throw apiError(422, `${field} ${JSON.stringify(target)}: text content must be a string`)
    }
  }

  const validateCr = (cr: Rec): void => {
    if (!Array.isArray(cr['command']) || cr['command'].length === 0) throw apiError(422, "Command can't be blank")
    if (cr['command'].some((s) => typeof s !== 'string')) throw apiError(422, 'command must be an array of strings')
    if (typeof cr['container_image'] !== 'string' || cr['container_image'] === '') throw apiError(422, "Container image can't be blank")
    if (typeof cr['output_path'] !== 'string' || cr['output_path'] === '') throw apiError(422, "Output path can't be blank")
    if (typeof cr['cwd'] !== 'string' || cr['cwd'] === '') throw apiError(422, "Cwd can't be blank")
    const env = cr['environment']
    if (!isHash(env)) throw apiError(422, 'environment must be a hash')
    for (const [k, v] of Object.entries(env)) {
      if (k === '' || k.includes('=') || k.includes('\0')) throw apiError(422, `environment: invalid variable name ${JSON.stringify(k)}`)
      if (typeof v !== 'string' || v.includes('\0')) throw apiError(422, `environment: value of ${k} must be a string without NUL`)
    }
    validateMounts(cr['mounts'], 'mounts', false)
    validateMounts(cr['secret_mounts'], 'secret_mounts', true)
    for (const k of Object.keys((cr['secret_mounts'] as Rec | null) ?? {}))
      if (k in ((cr['mounts'] as Rec | null) ?? {})) throw apiError(422, `secret_mounts: ${k} is also in mounts`)
    if (!(cr['output_path'] in ((cr['mounts'] as Rec | null) ?? {}))) throw apiError(422, `Output path ${JSON.stringify(cr['output_path'])} must be a mount target (a key of mounts)`)
    const rc = cr['runtime_constraints']
    if (!isHash(rc)) throw apiError(422, 'runtime_constraints must be a hash')
    const extraRc = Object.keys(rc).filter((k) => !RUNTIME_KEYS.includes(k))
    if (extraRc.length > 0) throw apiError(422, `Runtime constraints contains unexpected keys: ${extraRc.join(', ')}`)
    const sp = cr['scheduling_parameters']
    if (!isHash(sp)) throw apiError(422, 'scheduling_parameters must be a hash')
    const extraSp = Object.keys(sp).filter((k) => !SCHEDULING_KEYS.includes(k))
    if (extraSp.length > 0) throw apiError(422, `Scheduling parameters contains unexpected keys: ${extraSp.join(', ')}`)
    if (sp['preemptible'] === true) throw apiError(422, 'Scheduling parameters: preemptible instances are not configured')
    if (!isHash(cr['properties'])) throw apiError(422, 'properties must be a hash')
    if (cr['state'] === 'Committed') {
      for (const k of ['vcpus', 'ram']) {
        const v = rc[k]
        if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw apiError(422, `Runtime constraints ${k} must be a positive integer`)
      }
      if (cr['priority'] === null || cr['priority'] === undefined) throw apiError(422, "Priority can't be blank")
    }
    const p = cr['priority']
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 1000) throw apiError(422, 'Priority must be an integer between 0 and 1000')
    if (cr['service'] === true && cr['use_existing'] === true) throw apiError(422, 'use_existing cannot be true for a service request')
  }

  // ------------------------------------------------------------------ containers
  const containerPriority = (c: Rec): number => {
    const wanting = crsByContainer.get(c['uuid'] as string).filter((r) => r['state'] === 'Committed' && (r['priority'] as number) > 0)
    if (wanting.length === 0) return 0
    return Math.max(...wanting.map((r) => (r['priority'] as number) * 2 ** 50 - Date.parse(r['created_at'] as string)))
  }

  const resolveMounts = (mounts: Rec): Rec =>
    Object.fromEntries(Object.entries(mounts).map(([k, m]) => {
      if (!isHash(m) || m['kind'] !== 'collection' || typeof m['uuid'] !== 'string' || m['uuid'] === '') return [k, m]
      const c = collections.get(m['uuid'])
      if (c === undefined || c['is_trashed'] === true) throw apiError(422, `mounts ${JSON.stringify(k)}: collection ${m['uuid']} not found`)
      if (m['writable'] === true) throw apiError(422, `mounts ${JSON.stringify(k)}: writable collection mounts by uuid are not supported`)
      const { uuid: _drop, ...rest } = m
      return [k, { ...rest, portable_data_hash: c['portable_data_hash'] }]
    }))

  const resolveRuntime = (rc: Rec): Rec => {
    const r = runtimeDefaults(rc)
    if (r['keep_cache_ram'] === 0 && r['keep_cache_disk'] === 0) r['keep_cache_disk'] = Math.min(Math.max(Number(r['ram']), 2 * GIB), 32 * GIB)
    return r
  }

  /**
   * What two containers must share for one to be reused for the other (the fields `reusable`
   * compares with `sameValue`, and the secret mounts), as one string: the index narrows the
   * candidates, `reusable` still checks each. These fields of a container never change, so the
   * key of a record is worked out once.
   */
  const reuseKeys = new WeakMap<Rec, string>()
  const reuseKeyOf = (c: Rec): string => {
    let key = reuseKeys.get(c)
    if (key === undefined) {
      key = ['command', 'cwd', 'environment', 'output_path', 'output_glob', 'container_image', 'mounts'].map((k) => (emptyish(c[k]) ? '' : canonicalJson(c[k]))).join('\u0000')
      key += '\u0000' + md5(canonicalJson(c['secret_mounts'] ?? {}))
      reuseKeys.set(c, key)
    }
    return key
  }

  const reusable = (spec: Rec, rcRequested: Rec): Rec | undefined => {
    const matches = containersByReuseKey.get(reuseKeyOf(spec)).filter((c) => {
      for (const k of ['command', 'cwd', 'environment', 'output_path', 'output_glob', 'container_image', 'mounts'])
        if (!sameValue(c[k], spec[k])) return false
      if (md5(canonicalJson(c['secret_mounts'] ?? {})) !== md5(canonicalJson(spec['secret_mounts'] ?? {}))) return false
      const a = c['runtime_constraints'] as Rec
      const b = spec['runtime_constraints'] as Rec
      const strip = (x: Rec): Rec => {
        const { keep_cache_disk: _d, keep_cache_ram: _r, ...rest } = x
        return rest
      }
      if (!sameValue(strip(a), strip(b))) return false
      const ram = Number(b['ram'])
      const disk = [0, undefined, Math.min(Math.max(ram, 2 * GIB), 32 * GIB), 2 * GIB, 32 * GIB, rcRequested['keep_cache_disk']]
      if (!disk.includes(a['keep_cache_disk'] as number)) return false
      if (![0, undefined, rcRequested['keep_cache_ram']].includes(a['keep_cache_ram'] as number)) return false
      return true
    })
    const complete = matches
      .filter((c) => c['state'] === 'Complete' && c['exit_code'] === 0 && pdhIsReadable(c['log']) && pdhIsReadable(c['output']))
      .sort((x, y) => String(x['finished_at']).localeCompare(String(y['finished_at'])))
    if (complete[0] !== undefined) return complete[0]
    const running = matches
      .filter((c) => c['state'] === 'Running' && !(isHash(c['runtime_status']) && 'error' in c['runtime_status']) && (c['priority'] as number) > 0)
      .sort((x, y) => Number(y['progress'] ?? 0) - Number(x['progress'] ?? 0) || String(x['started_at']).localeCompare(String(y['started_at'])))
    if (running[0] !== undefined) return running[0]
    const waiting = matches
      .filter((c) => c['state'] === 'Locked' || c['state'] === 'Queued')
      .filter((c) => !(spec['scheduling_parameters'] as Rec)['preemptible'] === !(c['scheduling_parameters'] as Rec)['preemptible'] || (spec['scheduling_parameters'] as Rec)['preemptible'] === true)
      .sort((x, y) => String(x['state']).localeCompare(String(y['state'])) || (y['priority'] as number) - (x['priority'] as number) || String(x['created_at']).localeCompare(String(y['created_at'])))
    return waiting[0]
  }

  const newContainer = (cr: Rec): Rec => {
    const t = now()
    const c: Rec & { secret_mounts?: Rec; runtime_token?: string | null } = {
      kind: 'arvados#container', etag: '', uuid: newUuid('dz642'), owner_uuid: SYSTEM_USER, created_at: t, modified_at: t, modified_by_user_uuid: SYSTEM_USER,
      state: 'Queued', started_at: null, finished_at: null, log: null, environment: cr['environment'], cwd: cr['cwd'], command: cr['command'], output_path: cr['output_path'],
      output_glob: cr['output_glob'], mounts: resolveMounts(cr['mounts'] as Rec), runtime_constraints: resolveRuntime(cr['runtime_constraints'] as Rec),
      runtime_status: {}, scheduling_parameters: schedulingDefaults(cr['scheduling_parameters'] as Rec), output: null, container_image: cr['container_image'], progress: null,
      priority: 0, exit_code: null, auth_uuid: null, locked_by_uuid: null, lock_count: 0, runtime_user_uuid: cr['owner_user_uuid'] ?? cr['modified_by_user_uuid'],
      runtime_auth_scopes: ['all'], gateway_address: null, interactive_session_started: false, output_storage_classes: cr['output_storage_classes'], output_properties: {},
      cost: 0, subrequests_cost: 0, service: cr['service'] ?? false, published_ports: cr['published_ports'] ?? {},
    }
    c.secret_mounts = (cr['secret_mounts'] as Rec | undefined) ?? {}
    c.runtime_token = (cr['runtime_token'] as string | null | undefined) ?? null
    c['etag'] = etag(c)
    containers.set(c['uuid'] as string, c)
    noteRecord(c)
    counters.containersCreated++
    return c
  }

  const setContainer = (cr: Rec): void => {
    const spec: Rec = {
      ...cr,
      mounts: resolveMounts(cr['mounts'] as Rec),
      runtime_constraints: resolveRuntime(cr['runtime_constraints'] as Rec),
      scheduling_parameters: schedulingDefaults(cr['scheduling_parameters'] as Rec),
    }
    if ((cr['command'] as Array<string>)[0] === 'arvados-cwl-runner') (cr['scheduling_parameters'] as Rec)['supervisor'] = true
    const found = cr['use_existing'] === true ? reusable(spec, cr['runtime_constraints'] as Rec) : undefined
    const c = found ?? newContainer(cr)
    if (found !== undefined) counters.containersReused++
    cr['container_uuid'] = c['uuid']
    cr['container_count'] = (cr['container_count'] as number) + 1
    attempts.set(cr['uuid'] as string, [c['uuid'] as string])
    addAttempt(cr['uuid'] as string, c['uuid'] as string)
  }

  /** Recomputes a container's priority and applies the effects (§3.5). */
  const updatePriority = (c: Rec): void => {
    const p = containerPriority(c)
    if (p === c['priority']) return
    c['priority'] = p
    touch(c, SYSTEM_USER)
    if (p === 0 && (c['state'] === 'Locked' || c['state'] === 'Running')) {
      if (c['state'] === 'Running' && executor !== undefined) executor.kill(c['uuid'] as string)
      else finishContainer(c['uuid'] as string, { state: 'Cancelled' })
    }
    schedule()
  }

  let scheduled = false
  /** Starts every Queued container with priority > 0 (a local dispatcher: lock, token, run). */
  const schedule = (): void => {
    if (scheduled) return
    scheduled = true
    setImmediate(() => {
      scheduled = false
      let busy = 0
      if (opts.maxRunning !== undefined) busy = containersByState.get('Locked').length + containersByState.get('Running').length
      // Queued containers in the order they were made (a container never returns to Queued)
      for (const uuid of containersByState.uuids('Queued')) {
        if (busy >= (opts.maxRunning ?? Infinity)) break
        const c = containers.get(uuid)
        if (c !== undefined && c['state'] === 'Queued' && (c['priority'] as number) > 0) {
          lockAndStart(c)
          const now = c['state'] as string
          if (now === 'Locked' || now === 'Running') busy++
        }
      }
    })
  }

  const lockAndStart = (c: Rec): void => {
    const cr = crsByContainer.get(c['uuid'] as string)[0]
    const owner = (cr?.['owner_user_uuid'] as string | undefined) ?? (c['runtime_user_uuid'] as string)
    const t = addToken(owner, c['uuid'] as string)
    Object.assign(c, { state: 'Locked', locked_by_uuid: adminToken.uuid, lock_count: (c['lock_count'] as number) + 1, auth_uuid: t.uuid })
    touch(c, SYSTEM_USER)
    const attempt = cr === undefined ? 1 : (cr['container_count'] as number)
    const fault = cr === undefined ? undefined : failContainers.f?.(cr, c, attempt)
    if (fault?.cancel === true) {
      finishContainer(c['uuid'] as string, { state: 'Cancelled', runtime_status: { error: 'double: injected cancellation (failContainers)' } })
      return
    }
    if (fault?.exitCode !== undefined) {
      markRunning(c['uuid'] as string)
      const log = createCollectionRecord({ manifest_text: Manifest.build([{ path: 'stderr.txt', data: Buffer.from(`${now()} double: injected exit code ${fault.exitCode} (failContainers)\n`) }], putBlock), name: `logs for ${c['uuid'] as string}`, is_trashed: true }, SYSTEM_USER, SYSTEM_USER, undefined)
      const files = Object.entries(fault.output ?? {}).map(([path, text]) => ({ path, data: Buffer.from(text) }))
      const out = createCollectionRecord({ manifest_text: files.length === 0 ? '' : Manifest.build(files, putBlock), name: `output for ${c['uuid'] as string}`, is_trashed: true }, SYSTEM_USER, SYSTEM_USER, undefined, true)
      finishContainer(c['uuid'] as string, { state: 'Complete', exit_code: fault.exitCode, log: log['portable_data_hash'], output: out['portable_data_hash'] })
      return
    }
    if (executor === undefined) return
    counters.containersStarted++
    executor.start(c, tokenString(t))
  }

  const markRunning = (uuid: string, log?: string): void => {
    const c = containers.get(uuid)
    if (c === undefined || c['state'] !== 'Locked') return
    Object.assign(c, { state: 'Running', started_at: now(), ...(log === undefined ? {} : { log }) })
    touch(c, SYSTEM_USER)
  }

  /** Ends a container: Complete (with exit_code, output, log) or Cancelled; then CRs follow (§3.5, §3.6). */
  const finishContainer = (uuid: string, end: { state: 'Complete' | 'Cancelled'; exit_code?: number | null; output?: unknown; log?: unknown; runtime_status?: Rec }): void => {
    const c = containers.get(uuid)
    if (c === undefined || c['state'] === 'Complete' || c['state'] === 'Cancelled') return
    const { runtime_status: rs, ...rest } = end
    Object.assign(c, rest, { finished_at: now(), auth_uuid: null, locked_by_uuid: null })
    // what it cost: its instance type's price for the time it ran (crunch-run's `cost`)
    if (typeof c['started_at'] === 'string' && !(Number(c['cost']) > 0)) c['cost'] = Crunchstat.cost(c['runtime_constraints'] as Rec, c['started_at'], c['finished_at'] as string)
    if (rs !== undefined) c['runtime_status'] = { ...(c['runtime_status'] as Rec), ...rs }
    if (end.state === 'Cancelled') {
      c['output'] = null
      counters.containersCancelled++
    }
    if (c['output'] !== null && end.state === 'Cancelled') c['output'] = null
    for (const t of tokensOf.get(uuid) ?? []) t.expiresAt = now()
    touch(c, SYSTEM_USER)
    // children requested by this container get priority 0
    for (const child of crsByRequester.get(uuid))
      if (child['state'] === 'Committed') {
        child['priority'] = 0
        touch(child, SYSTEM_USER)
        const cc = containers.get(child['container_uuid'] as string)
        if (cc !== undefined && (cc['state'] === 'Queued' || cc['state'] === 'Locked')) finalizeCr(child)
        if (cc !== undefined) updatePriority(cc)
      }
    for (const cr of crsByContainer.get(uuid)) {
      if (cr['state'] !== 'Committed') continue
      // what this attempt cost, its own and its children's, adds up on the request (§4.6)
      cr['cumulative_cost'] = Number(cr['cumulative_cost'] ?? 0) + Number(c['cost'] ?? 0) + Number(c['subrequests_cost'] ?? 0)
      if (end.state === 'Cancelled' && (cr['priority'] as number) > 0 && (cr['container_count'] as number) < Number(cr['container_count_max'] ?? 3) && parentRunning(cr)) {
        const next = newContainer(cr)
        cr['container_uuid'] = next['uuid']
        cr['container_count'] = (cr['container_count'] as number) + 1
        attempts.get(cr['uuid'] as string)?.push(next['uuid'] as string) ?? attempts.set(cr['uuid'] as string, [uuid, next['uuid'] as string])
        addAttempt(cr['uuid'] as string, uuid)
        addAttempt(cr['uuid'] as string, next['uuid'] as string)
        touch(cr, SYSTEM_USER)
        updatePriority(next)
        continue
      }
      finalizeCr(cr)
    }
    schedule()
  }

  const parentRunning = (cr: Rec): boolean => {
    const p = cr['requesting_container_uuid']
    if (typeof p !== 'string') return true
    const pc = containers.get(p)
    return pc !== undefined && pc['state'] === 'Running' && (pc['priority'] as number) > 0
  }

  /** Copies output and log into collections owned by the CR's owner and sets state Final (§3.6). */
  const finalizeCr = (cr: Rec): void => {
    const c = containers.get(cr['container_uuid'] as string)
    const crUuid = cr['uuid'] as string
    const owner = cr['owner_uuid'] as string
    if (c !== undefined && (c['state'] === 'Complete' || c['state'] === 'Cancelled')) {
      if (typeof c['output'] === 'string') {
        const src = collectionByPdh(c['output'])
        const props = { container_request: crUuid, type: cr['requesting_container_uuid'] === null ? 'output' : 'intermediate', ...(c['output_properties'] as Rec), ...(cr['output_properties'] as Rec) }
        const ttl = Number(cr['output_ttl'] ?? 0)
        const out = createCollectionRecord(
          { manifest_text: src?.['manifest_text'] ?? '', name: typeof cr['output_name'] === 'string' && cr['output_name'] !== '' ? cr['output_name'] : `Container output for request ${crUuid}`,
            properties: props, storage_classes_desired: cr['output_storage_classes'], ...(ttl > 0 ? { trash_at: new Date(Date.now() + ttl * 1000).toISOString() } : {}) },
          owner, SYSTEM_USER, undefined, true)
        cr['output_uuid'] = out['uuid']
      }
      const logEntries: Array<Manifest.BuildEntry> = []
      const allAttempts = attempts.get(crUuid) ?? [c['uuid'] as string]
      const addLog = (cont: Rec, prefix: string): void => {
        const src = collectionByPdh(cont['log'])
        if (src === undefined) return
        for (const f of Manifest.files(src['manifest_text'] as string).files) logEntries.push({ path: prefix + f.path, data: readFile(f) })
      }
      addLog(c, '')
      for (const a of allAttempts) {
        const ac = containers.get(a)
        if (ac !== undefined) addLog(ac, `log for container ${a}/`)
      }
      const log = createCollectionRecord(
        { manifest_text: Manifest.build(logEntries, putBlock), name: `Container log for request ${crUuid}`, properties: { container_request: crUuid, type: 'log' } },
        owner, SYSTEM_USER, undefined, true)
      cr['log_uuid'] = log['uuid']
      if (c['state'] === 'Complete' && !pdhIsReadableByName(c)) {
        createCollectionRecord({ manifest_text: logManifestOf(c), name: `Container log for container ${c['uuid'] as string}`, properties: { type: 'log', container_request: crUuid, container_uuid: c['uuid'] } }, SYSTEM_USER, SYSTEM_USER, undefined, true)
      }
    }
    // a finishing child request adds its cumulative cost to its parent container's subrequests_cost (§4.6)
    const parent = typeof cr['requesting_container_uuid'] === 'string' ? containers.get(cr['requesting_container_uuid']) : undefined
    if (parent !== undefined && Number(cr['cumulative_cost'] ?? 0) > 0) parent['subrequests_cost'] = Number(parent['subrequests_cost'] ?? 0) + Number(cr['cumulative_cost'])
    cr['state'] = 'Final'
    cr['priority'] = 0
    cr['secret_mounts'] = {}
    cr['runtime_token'] = null
    touch(cr, SYSTEM_USER)
  }
  const pdhIsReadableByName = (c: Rec): boolean => collectionsByName.get(`Container log for container ${c['uuid'] as string}`).length > 0
  const logManifestOf = (c: Rec): string => (collectionByPdh(c['log'])?.['manifest_text'] as string | undefined) ?? ''

  // ------------------------------------------------------------------ container requests
  const crDefaults = (attrs: Rec, caller: Caller): Rec => {
    const t = now()
    return {
      kind: 'arvados#containerRequest', etag: '', uuid: newUuid('xvhdp'), owner_uuid: caller.user['uuid'], created_at: t, modified_at: t, modified_by_user_uuid: caller.user['uuid'],
      name: null, description: null, properties: {}, state: 'Uncommitted', requesting_container_uuid: null, container_uuid: null, container_count_max: 3, mounts: {},
      runtime_constraints: {}, container_image: null, environment: {}, cwd: '.', command: [], output_path: null, priority: 0, expires_at: null, filters: null,
      container_count: 0, use_existing: true, scheduling_parameters: {}, output_uuid: null, log_uuid: null, output_name: null, output_ttl: 0,
      output_storage_classes: ['default'], output_properties: {}, cumulative_cost: 0, output_glob: [], service: false, published_ports: {},
      secret_mounts: {}, runtime_token: null,
      ...attrs,
    }
  }

  const readableCr = (cr: Rec, caller: Caller): boolean => caller.isAdmin || ownedBy(cr['owner_uuid'], caller)

  const findCr = (uuid: string, caller: Caller): Rec => {
    const cr = crs.get(uuid)
    if (cr === undefined || !readableCr(cr, caller)) throw apiError(404, 'Not Found')
    return cr
  }

  const createCr = (attrs: Rec, caller: Caller): Rec => {
    for (const k of CR_SERVER) delete attrs[k]
    if ('container_uuid' in attrs && attrs['container_uuid'] !== null && !caller.isAdmin) throw apiError(422, 'container_uuid can only be set to null')
    const owner = checkOwner(attrs['owner_uuid'], caller)
    const state = attrs['state'] ?? 'Uncommitted'
    if (state !== 'Uncommitted' && state !== 'Committed') throw apiError(422, `State cannot change from nil to ${String(state)}`)
    const cr = crDefaults({ ...attrs, owner_uuid: owner }, caller)
    cr['owner_user_uuid'] = caller.user['uuid']
    const parent = caller.token.containerUuid
    if (parent !== undefined) {
      cr['requesting_container_uuid'] = parent
      const ps = crsByContainer.get(parent).map((r) => r['priority'] as number)
      if (ps.length > 0) cr['priority'] = Math.max(...ps)
    }
    if (cr['cwd'] === undefined) cr['cwd'] = '.'
    cr['runtime_constraints'] = runtimeDefaults((cr['runtime_constraints'] as Rec | null) ?? {})
    cr['scheduling_parameters'] = schedulingDefaults((cr['scheduling_parameters'] as Rec | null) ?? {})
    validateCr(cr)
    if (cr['state'] === 'Committed') setContainer(cr)
    cr['etag'] = etag(cr)
    crs.set(cr['uuid'] as string, cr)
    noteRecord(cr)
    counters.containerRequestsCreated++
    afterCommit(cr)
    return cr
  }

  const afterCommit = (cr: Rec): void => {
    if (cr['state'] !== 'Committed') return
    const c = containers.get(cr['container_uuid'] as string)
    if (c === undefined) return
    if (c['state'] === 'Complete') finalizeCr(cr)
    else updatePriority(c)
  }

  const updateCr = (uuid: string, attrs: Rec, caller: Caller): Rec => {
    const cr = findCr(uuid, caller)
    if (!caller.isAdmin && !ownedBy(cr['owner_uuid'], caller)) throw apiError(403, 'Permission denied')
    for (const k of CR_SERVER) if (k !== 'cumulative_cost') delete attrs[k]
    const from = cr['state'] as string
    const to = (attrs['state'] as string | undefined) ?? from
    const legal = from === to || (from === 'Uncommitted' && to === 'Committed') || (from === 'Committed' && to === 'Final')
    if (!legal) throw apiError(422, `State cannot change from ${from} to ${String(to)}`)
    const permitted = from === 'Uncommitted' ? [...CR_ALWAYS, ...CR_BEFORE_COMMIT] : from === 'Committed' && to === 'Final' ? [...CR_ALWAYS, ...CR_FINAL] : from === 'Committed' ? [...CR_ALWAYS, ...CR_COMMITTED] : CR_ALWAYS
    for (const [k, v] of Object.entries(attrs)) {
      if (permitted.includes(k)) continue
      const current = k === 'runtime_constraints' ? cr[k] : k === 'scheduling_parameters' ? cr[k] : cr[k]
      const incoming = k === 'runtime_constraints' && isHash(v) ? runtimeDefaults(v) : k === 'scheduling_parameters' && isHash(v) ? schedulingDefaults(v) : v
      if (!sameValue(current, incoming)) throw apiError(422, `${k} cannot be modified in state '${from}' (${JSON.stringify(current)}, ${JSON.stringify(incoming)})`)
      delete attrs[k]
    }
    if ('container_uuid' in attrs && attrs['container_uuid'] !== null && !caller.isAdmin && attrs['container_uuid'] !== cr['container_uuid']) throw apiError(422, 'container_uuid can only be set to null')
    if ('owner_uuid' in attrs) attrs['owner_uuid'] = checkOwner(attrs['owner_uuid'], caller)
    const next: Rec = { ...cr, ...attrs }
    if (isHash(attrs['runtime_constraints'])) next['runtime_constraints'] = runtimeDefaults(attrs['runtime_constraints'])
    if (isHash(attrs['scheduling_parameters'])) next['scheduling_parameters'] = schedulingDefaults(attrs['scheduling_parameters'])
    if (to === 'Committed' || from === 'Uncommitted') validateCr(next)
    if (!isHash(next['properties'])) throw apiError(422, 'properties must be a hash')
    Object.assign(cr, next)
    if (from === 'Uncommitted' && to === 'Committed') setContainer(cr)
    touch(cr, caller.user['uuid'] as string)
    if (from === 'Uncommitted' && to === 'Committed') afterCommit(cr)
    else if (from === 'Committed' && to === 'Final') {
      cr['priority'] = 0
      const c = containers.get(cr['container_uuid'] as string)
      if (c !== undefined) updatePriority(c)
      cr['secret_mounts'] = {}
      cr['runtime_token'] = null
    } else if (from === 'Committed' && 'priority' in attrs) {
      const c = containers.get(cr['container_uuid'] as string)
      if (c !== undefined) updatePriority(c)
    }
    return cr
  }

  const deleteCr = (uuid: string, caller: Caller): Rec => {
    const cr = findCr(uuid, caller)
    if (cr['state'] === 'Committed') updateCr(uuid, { priority: 0 }, caller)
    crs.delete(uuid)
    return cr
  }

  /** A CR as returned: without secrets and internal keys, mounts filled in (§17). */
  const renderCr = (cr: Rec): Rec => {
    const { secret_mounts: _s, runtime_token: _t, owner_user_uuid: _o, ...rest } = cr
    return { ...rest, mounts: Object.fromEntries(Object.entries((cr['mounts'] as Rec | null) ?? {}).map(([k, m]) => [k, fillMount(m)])), container_count_max: cr['container_count_max'] === 0 ? null : cr['container_count_max'] }
  }
  const renderContainer = (c: Rec): Rec => {
    const { secret_mounts: _s, runtime_token: _t, ...rest } = c
    return rest
  }

  const readableContainer = (c: Rec, caller: Caller): boolean =>
    caller.isAdmin || caller.token.containerUuid === c['uuid'] || crsByContainer.get(c['uuid'] as string).some((r) => readableCr(r, caller)) ||
    [...(attemptsOf.get(c['uuid'] as string) ?? [])].some((cru) => attempts.get(cru)?.includes(c['uuid'] as string) === true && crs.get(cru) !== undefined && readableCr(crs.get(cru) as Rec, caller))

  const findContainer = (uuid: string, caller: Caller): Rec => {
    const c = containers.get(uuid)
    if (c === undefined || !readableContainer(c, caller)) throw apiError(404, 'Not Found')
    return c
  }

  const currentContainer = (caller: Caller): Rec => {
    const cu = caller.token.containerUuid
    const c = cu === undefined ? undefined : containers.get(cu)
    if (c === undefined || c['auth_uuid'] !== caller.token.uuid) throw apiError(404, 'Token is not associated with a container.')
    return c
  }

  /** Container self-update (own token) or admin update (§4.2). */
  const updateContainer = (uuid: string, attrs: Rec, caller: Caller): Rec => {
    const c = findContainer(uuid, caller)
    const own = caller.token.containerUuid === uuid
    if (!own && !caller.isAdmin) throw apiError(403, 'Permission denied')
    const allowed = own ? ['output_properties', 'progress', 'runtime_status', 'subrequests_cost', 'cost', 'output', 'exit_code', 'state', 'finished_at', 'gateway_address', 'interactive_session_started']
      : ['priority', 'output_properties', 'gateway_address', 'progress', 'runtime_status', 'subrequests_cost', 'cost', 'log', 'output', 'exit_code', 'state', 'started_at', 'finished_at']
    if (c['state'] !== 'Running' && own) throw apiError(422, `Container is ${String(c['state'])}: its own token can only update a Running container`)
    for (const k of Object.keys(attrs)) if (!allowed.includes(k) && !sameValue(attrs[k], c[k])) throw apiError(422, `${k} cannot be modified in state '${String(c['state'])}'`)
    if ('output' in attrs && attrs['output'] !== null && collectionByPdh(attrs['output']) === undefined)
      throw apiError(422, `output ${String(attrs['output'])}: collection not found`)
    if ('runtime_status' in attrs && attrs['runtime_status'] !== null && !isHash(attrs['runtime_status'])) throw apiError(422, 'runtime_status must be a hash')
    const { state, ...rest } = attrs
    for (const [k, v] of Object.entries(rest)) if (allowed.includes(k)) c[k] = v
    touch(c, caller.user['uuid'] as string)
    if (state !== undefined && state !== c['state']) {
      if (state === 'Cancelled' || state === 'Complete') {
        if (executor !== undefined && c['state'] === 'Running') executor.kill(uuid)
        finishContainer(uuid, { state: state as 'Complete' | 'Cancelled' })
      } else throw apiError(422, `State cannot change from ${String(c['state'])} to ${String(state)}`)
    }
    return c
  }

  /** The indexes a list of `resource` may narrow its rows with (listing.ts `narrow`). */
  const propertyIndex = (byKey: Map<string, FieldIndex.FieldIndex<Rec>>, records: ReadonlyMap<string, Rec>, key: string): FieldIndex.FieldIndex<Rec> => {
    let ix = byKey.get(key)
    if (ix === undefined) {
      ix = FieldIndex.make(records, (r) => {
        const v = (r['properties'] as Rec | null | undefined)?.[key]
        return typeof v === 'string' ? v : undefined
      })
      byKey.set(key, ix)
    }
    return ix
  }
  const indexOf = (resource: string) => {
    const records: ReadonlyMap<string, Rec> | undefined = resource === 'container_requests' ? crs : resource === 'containers' ? containers : resource === 'collections' ? collections : undefined
    return (attr: string): ((key: string) => ReadonlyArray<Rec>) | undefined => {
      if (records === undefined) return undefined
      if (attr === 'uuid') {
        return (key) => {
          const r = records.get(key)
          return r === undefined ? [] : [r]
        }
      }
      const ix =
        resource === 'container_requests'
          ? attr === 'container_uuid' ? crsByContainer : attr === 'requesting_container_uuid' ? crsByRequester : attr === 'state' ? crsByState : attr.startsWith('properties.') ? propertyIndex(crsByProperty, crs, attr.slice('properties.'.length)) : undefined
          : resource === 'containers'
            ? attr === 'state' ? containersByState : undefined
            : attr === 'portable_data_hash' ? collectionsByPdh : attr === 'name' ? collectionsByName : attr.startsWith('properties.') ? propertyIndex(collectionsByProperty, collections, attr.slice('properties.'.length)) : undefined
      return ix === undefined ? undefined : ix.get
    }
  }

  return {
    counters,
    users,
    tokens,
    collections,
    crs,
    containers,
    blocks,
    admin,
    user,
    adminToken: tokenString(adminToken),
    userToken: tokenString(userToken),
    now,
    newUuid,
    authenticate,
    tokenRecord,
    tokenString,
    addUser,
    addToken,
    signLocator,
    checkLocator,
    putBlock,
    storeBlock,
    internalBlocks,
    readFile,
    renderCollection,
    collectionByPdh,
    indexOf,
    createCollection: (attrs: Rec, caller: Caller, ensureUniqueName: boolean): Rec =>
      createCollectionRecord(attrs, checkOwner(attrs['owner_uuid'], caller), caller.user['uuid'] as string, caller, ensureUniqueName),
    /** Creates a collection as crunch-run would (no signature checks), owned by the system user. */
    createSystemCollection: (manifestText: string, name: string, trashed: boolean): Rec =>
      createCollectionRecord({ manifest_text: manifestText, name, is_trashed: trashed }, SYSTEM_USER, SYSTEM_USER, undefined, true),
    findCollection,
    readableCollection,
    updateCollection,
    trashCollection,
    createCr,
    updateCr,
    deleteCr,
    findCr,
    readableCr,
    renderCr,
    renderContainer,
    findContainer,
    readableContainer,
    currentContainer,
    updateContainer,
    markRunning,
    finishContainer,
    onTouch: (f: (r: Rec) => void): void => void touched.add(f),
    setExecutor: (e: Executor): void => {
      executor = e
    },
    setFailContainers: (f: FailContainers | undefined): void => {
      failContainers.f = f
    },
    schedule,
  }
}

export type Cluster = ReturnType<typeof makeCluster>
