/**
 * From a ready call to the container request that runs it (pure, no I/O). The request runs the
 * bundled script in work role (`CRUNCH_ROLE=work`), with the call in a `json` mount, the bundle
 * and every collection argument in `collection` mounts, a `tmp` output directory, resources and
 * scheduling mapped from the work's options, `use_existing` from `reuse`, `container_count_max`
 * from `retries`, a readable name and properties holding the call id and the bundle. Secret
 * arguments (`Codec.Secret`) leave the call file for `secret_mounts` (`SECRETS_FILE`).
 *
 * Everything in a request is a function of the call and the bundle (no time, no run id), so a
 * repeated call makes an identical request and Arvados can reuse its container.
 *
 * @since 0.1.0
 */
import * as Fs from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import * as Codec from '../../codec.js'
import * as Errors from '../../errors.js'
import type * as Module from '../../module.js'
import type * as ResultFile from './result-file.js'

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/** @category constants @since 0.1.0 */
export const BUNDLE_DIR = '/var/lib/arvados-crunch/bundle'
/** @category constants @since 0.1.0 */
export const CALL_FILE = '/var/lib/arvados-crunch/call.json'
/**
 * The secret mount holding the secrets of the call's arguments (`[[json, …] per argument]`):
 * only in `secret_mounts`, which Arvados never returns and wipes when the request is final.
 * @category constants @since 0.1.0
 */
export const SECRETS_FILE = '/var/lib/arvados-crunch/secrets.json'
/** @category constants @since 0.1.0 */
export const OUTPUT_DIR = '/var/spool/arvados-crunch/output'
/** @category constants @since 0.1.0 */
export const TMP_DIR = '/tmp'
/** Property holding the call's Merkle id. @category constants @since 0.1.0 */
export const CALL_ID_PROPERTY = 'arvados_crunch_call_id'
/** Property holding the bundle's portable data hash. @category constants @since 0.1.0 */
export const BUNDLE_PROPERTY = 'arvados_crunch_bundle'
/** @category constants @since 0.1.0 */
export const MODULE_PROPERTY = 'arvados_crunch_module'

/** Defaults when a work says nothing. @category constants @since 0.1.0 */
export const DEFAULTS = { ram: 512 * 1024 * 1024, vcpus: 1, tmpCapacity: 1024 * 1024 * 1024, priority: 500 } as const

const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  'args', 'returns', 'ram', 'vcpus', 'gpu', 'keepCacheRam', 'apiAccess', 'maxRunTime', 'preemptible', 'partitions', 'retries', 'reuse', 'outputName', 'image',
  // enforced by the interpreter (maxConcurrent, exclusive, escalate) or mapped below (keepCacheDisk, tmp)
  'maxConcurrent', 'exclusive', 'escalate', 'keepCacheDisk', 'tmp',
])

const UNITS: Readonly<Record<string, number>> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * The bundle a request runs.
 *
 * @category models
 * @since 0.1.0
 */
export interface Bundle {
  readonly pdh: string
  /** file name of the bundled script inside the collection */
  readonly file: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface RequestInput {
  readonly module: string
  readonly work: string
  readonly callId: string
  readonly options: Module.WorkOptions
  readonly call: ResultFile.CallFile
  readonly bundle: Bundle
  /** image used when the work names none */
  readonly image: string
  readonly project: string | undefined
  /** the run's reuse setting (false turns reuse off for every call) */
  readonly reuse: boolean
  readonly priority?: number
}

/**
 * Container request attributes (snake_case, as the API takes them).
 *
 * @category models
 * @since 0.1.0
 */
export type Attributes = Readonly<Record<string, unknown>>

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/**
 * @category errors
 * @since 0.1.0
 */
export const unsupported = (module: string, work: string, option: string, problem: string, hint: string) =>
  Errors.make('UnsupportedOptionError', 'ARV_CRUNCH_OPTION', `work "${work}" (module "${module}") asks for ${option}: ${problem}`, { module, work, option }, { hint })

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * A size in bytes from a number or `'2GiB'`-style text; undefined when it is not a size.
 *
 * @category utils
 * @since 0.1.0
 */
export const bytesOf = (size: Module.Size | undefined): number | undefined => {
  if (size === undefined) return undefined
  if (typeof size === 'number') return Number.isFinite(size) && size >= 0 ? Math.ceil(size) : undefined
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)$/.exec(size)
  if (m === null) return undefined
  return Math.ceil(Number(m[1]) * UNITS[m[2]!]!)
}

/**
 * The readable request name: `module.work <first 12 of the call id>`.
 *
 * @category utils
 * @since 0.1.0
 */
export const nameOf = (module: string, work: string, callId: string): string => `${module}.${work} ${callId.slice(0, 12)}`

/**
 * Where a collection argument is mounted.
 *
 * @category utils
 * @since 0.1.0
 */
export const mountPathOf = (pdh: string): string => `/keep/${pdh}`

/**
 * The secrets of a call's arguments from its secret mount (in a work container); none when
 * there is no such file.
 *
 * @category utils
 * @since 0.1.0
 */
export const readSecrets = async (file: string = SECRETS_FILE): Promise<ReadonlyArray<ReadonlyArray<string>>> => {
  let text: string
  try {
    text = await Fs.readFile(file, 'utf8')
  } catch {
    return []
  }
  const parsed: unknown = JSON.parse(text)
  return Array.isArray(parsed) ? parsed.map((a: unknown) => (Array.isArray(a) ? a.filter((x): x is string => typeof x === 'string') : [])) : []
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Runtime constraints and scheduling parameters from work options; Left names the first option
 * this backend cannot honour.
 *
 * @category constructors
 * @since 0.1.0
 */
export const resources = (module: string, work: string, o: Module.WorkOptions): E.Either<Errors.SdkError, { readonly runtime: Attributes; readonly scheduling: Attributes; readonly countMax: number }> => {
  for (const k of Object.keys(o)) {
    if (!KNOWN_OPTIONS.has(k)) return E.left(unsupported(module, work, `"${k}"`, 'the crunch dispatcher does not know this option', `remove "${k}" or use one of: ${[...KNOWN_OPTIONS].filter((x) => x !== 'args' && x !== 'returns').join(', ')}`))
  }
  const ram = o.ram === undefined ? DEFAULTS.ram : bytesOf(o.ram)
  if (ram === undefined || ram <= 0) return E.left(unsupported(module, work, `ram ${JSON.stringify(o.ram)}`, 'it is not a positive size', "give bytes or a size such as '2GiB'"))
  const vcpus = o.vcpus ?? DEFAULTS.vcpus
  if (!Number.isFinite(vcpus) || vcpus <= 0) return E.left(unsupported(module, work, `vcpus ${String(o.vcpus)}`, 'Arvados needs a positive number of cores', 'give vcpus >= 1'))
  const runtime: Record<string, unknown> = { ram, vcpus: Math.ceil(vcpus) }
  if (o.apiAccess === true) runtime['API'] = true
  if (o.keepCacheRam !== undefined) {
    const k = bytesOf(o.keepCacheRam)
    if (k === undefined) return E.left(unsupported(module, work, `keepCacheRam ${JSON.stringify(o.keepCacheRam)}`, 'it is not a size', "give bytes or a size such as '512MiB'"))
    runtime['keep_cache_ram'] = k
  }
  if (o.keepCacheDisk !== undefined) {
    const k = bytesOf(o.keepCacheDisk)
    if (k === undefined) return E.left(unsupported(module, work, `keepCacheDisk ${JSON.stringify(o.keepCacheDisk)}`, 'it is not a size', "give bytes or a size such as '10GiB'"))
    runtime['keep_cache_disk'] = k
  }
  if (o.gpu !== undefined && o.gpu.count > 0) {
    if (o.gpu.driverVersion === undefined || o.gpu.hardwareTarget === undefined || o.gpu.hardwareTarget.length === 0) {
      return E.left(unsupported(module, work, `${o.gpu.count} ${o.gpu.stack} GPU(s)`, 'Arvados needs the driver version and the hardware targets of a GPU request', "give gpu: { stack, count, driverVersion: '12.0', hardwareTarget: ['9.0'] }"))
    }
    if (!Number.isInteger(o.gpu.count)) return E.left(unsupported(module, work, `gpu count ${o.gpu.count}`, 'it is not a whole number', 'give a whole number of devices'))
    const vram = o.gpu.vram === undefined ? 0 : bytesOf(o.gpu.vram)
    if (vram === undefined) return E.left(unsupported(module, work, `gpu vram ${JSON.stringify(o.gpu.vram)}`, 'it is not a size', "give bytes or a size such as '8GiB'"))
    runtime['gpu'] = { stack: o.gpu.stack, device_count: o.gpu.count, driver_version: o.gpu.driverVersion, hardware_target: [...o.gpu.hardwareTarget], vram }
  }
  const scheduling: Record<string, unknown> = {}
  if (o.preemptible !== undefined) scheduling['preemptible'] = o.preemptible
  if (o.partitions !== undefined) scheduling['partitions'] = [...o.partitions]
  if (o.maxRunTime !== undefined) {
    if (!Number.isInteger(o.maxRunTime) || o.maxRunTime < 0) return E.left(unsupported(module, work, `maxRunTime ${o.maxRunTime}`, 'Arvados takes whole seconds >= 0', 'give seconds as a whole number (0 = no limit)'))
    scheduling['max_run_time'] = o.maxRunTime
  }
  const retries = o.retries ?? 2
  if (!Number.isInteger(retries) || retries < 0) return E.left(unsupported(module, work, `retries ${retries}`, 'it is not a whole number >= 0', 'give retries: 0, 1, 2, …'))
  return E.right({ runtime, scheduling, countMax: retries + 1 })
}

/**
 * The container request for one ready call.
 *
 * @category constructors
 * @since 0.1.0
 */
export const containerRequest = (input: RequestInput): E.Either<Errors.SdkError, Attributes> => {
  const r = resources(input.module, input.work, input.options)
  if (E.isLeft(r)) return r
  // secrets leave the call file (a constant marker stays) for a secret mount
  const sealed = input.call.args.map(Codec.seal)
  const secrets = sealed.map((s) => s.secrets)
  const mounts: Record<string, unknown> = {
    [OUTPUT_DIR]: { kind: 'tmp', capacity: DEFAULTS.tmpCapacity },
    [TMP_DIR]: { kind: 'tmp', capacity: bytesOf(input.options.tmp) ?? DEFAULTS.tmpCapacity },
    [BUNDLE_DIR]: { kind: 'collection', portable_data_hash: input.bundle.pdh },
    [CALL_FILE]: { kind: 'json', content: { ...input.call, args: sealed.map((s) => s.json) } },
  }
  for (const pdh of Object.keys(input.call.collections).sort()) mounts[mountPathOf(pdh)] = { kind: 'collection', portable_data_hash: pdh }
  return E.right({
    name: nameOf(input.module, input.work, input.callId),
    state: 'Committed',
    priority: input.priority ?? DEFAULTS.priority,
    command: ['node', '--enable-source-maps', `${BUNDLE_DIR}/${input.bundle.file}`],
    container_image: input.options.image ?? input.image,
    cwd: OUTPUT_DIR,
    environment: { CRUNCH_ROLE: 'work', HOME: TMP_DIR, TMPDIR: TMP_DIR },
    mounts,
    ...(secrets.some((s) => s.length > 0) ? { secret_mounts: { [SECRETS_FILE]: { kind: 'json', content: secrets } } } : {}),
    output_path: OUTPUT_DIR,
    runtime_constraints: r.right.runtime,
    scheduling_parameters: r.right.scheduling,
    use_existing: input.reuse && input.options.reuse !== false,
    container_count_max: r.right.countMax,
    ...(typeof input.options.outputName === 'string' ? { output_name: input.options.outputName } : {}),
    ...(input.project === undefined ? {} : { owner_uuid: input.project }),
    properties: { [CALL_ID_PROPERTY]: input.callId, [BUNDLE_PROPERTY]: input.bundle.pdh, [MODULE_PROPERTY]: input.module },
  })
}
