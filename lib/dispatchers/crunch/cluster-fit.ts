/**
 * Does every work fit the cluster? The cluster's exported configuration (`GET
 * /arvados/v1/config`) lists its instance types; a work that asks for more RAM or more cores than
 * the largest of them, or for a preemptible instance where none is configured, would be queued
 * and never run (or be refused at its first container request, after other calls have started).
 * This check says so before anything is submitted.
 *
 * Only requests no instance type can hold are refused: the dispatcher's own additions (keep
 * cache RAM, `ReserveExtraRAM`) are left to it, so nothing Arvados would run is refused here. A
 * cluster that exports no instance types (Slurm or LSF without them) is not checked.
 *
 * @since 0.3.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as Client from '../../arvados/client.js'
import type * as Errors from '../../errors.js'
import type * as Module from '../../module.js'
import * as Request from './request.js'

// -------------------------------------------------------------------------------------
// models
// -------------------------------------------------------------------------------------

/**
 * What a check needs of one instance type (`InstanceTypes.<name>` in the cluster config).
 *
 * @category models
 * @since 0.3.0
 */
export interface InstanceType {
  readonly name: string
  readonly vcpus: number
  readonly ram: number
  readonly preemptible: boolean
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const GIB = 1024 ** 3

const human = (bytes: number): string => (bytes >= GIB ? `${+(bytes / GIB).toFixed(1)} GiB` : `${+(bytes / 1024 ** 2).toFixed(0)} MiB`)

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === 'object' && u !== null && !Array.isArray(u)

/** a config size: bytes as a number, or text such as `16GiB` (older exports) */
const sizeOf = (u: unknown): number | undefined => (typeof u === 'number' ? u : typeof u === 'string' ? Request.bytesOf(u.replace(/\s+/g, '') as Module.Size) : undefined)

/**
 * The instance types of an exported cluster config (a map by name, or the older array form);
 * entries without a usable size are skipped.
 *
 * @category utils
 * @since 0.3.0
 */
export const instanceTypes = (config: unknown): ReadonlyArray<InstanceType> => {
  if (!isRecord(config)) return []
  const raw = config['InstanceTypes']
  const entries: ReadonlyArray<readonly [string, unknown]> = Array.isArray(raw)
    ? raw.map((x: unknown) => [isRecord(x) && typeof x['Name'] === 'string' ? x['Name'] : '', x] as const)
    : isRecord(raw)
      ? Object.entries(raw)
      : []
  const out: Array<InstanceType> = []
  for (const [name, v] of entries) {
    if (!isRecord(v)) continue
    const ram = sizeOf(v['RAM'])
    const vcpus = v['VCPUs']
    if (ram === undefined || typeof vcpus !== 'number') continue
    out.push({ name, vcpus, ram, preemptible: v['Preemptible'] === true })
  }
  return out
}

/**
 * Left names the first work whose request no instance type can hold.
 *
 * @category utils
 * @since 0.3.0
 */
export const check = (module: Module.AnyModule, types: ReadonlyArray<InstanceType>): E.Either<Errors.SdkError, void> => {
  if (types.length === 0) return E.right(undefined)
  const largestRam = types.reduce((a, b) => (b.ram > a.ram ? b : a))
  const mostCores = types.reduce((a, b) => (b.vcpus > a.vcpus ? b : a))
  const preemptible = types.filter((x) => x.preemptible)
  const list = (xs: ReadonlyArray<InstanceType>): string =>
    xs
      .slice()
      .sort((a, b) => a.ram - b.ram)
      .slice(-4)
      .map((x) => `${x.name} (${x.vcpus} cores, ${human(x.ram)})`)
      .join(', ')
  for (const [name, w] of Object.entries(module.work as Readonly<Record<string, Module.AnyWork>>)) {
    const r = Request.resources(module.name, name, w.spec)
    if (E.isLeft(r)) return r
    const ram = r.right.runtime['ram'] as number
    const vcpus = r.right.runtime['vcpus'] as number
    const wantsPreemptible = r.right.scheduling['preemptible'] === true
    const pool = wantsPreemptible ? preemptible : types
    if (wantsPreemptible && preemptible.length === 0) {
      return E.left(Request.unsupported(module.name, name, 'a preemptible instance', 'this cluster has no preemptible instance types', `remove preemptible: true, or ask the cluster's administrator for preemptible instance types (it has: ${list(types)})`))
    }
    const fitsRam = pool.filter((x) => x.ram >= ram)
    if (fitsRam.length === 0) {
      const top = wantsPreemptible ? preemptible.reduce((a, b) => (b.ram > a.ram ? b : a)) : largestRam
      return E.left(Request.unsupported(module.name, name, `ram ${human(ram)}`, `the largest ${wantsPreemptible ? 'preemptible ' : ''}instance type of this cluster has ${human(top.ram)} (${top.name})`, `ask for at most ${human(top.ram)} (less what Arvados reserves for Keep), or ask the cluster's administrator for a larger instance type (largest: ${list(pool)})`))
    }
    if (!pool.some((x) => x.vcpus >= vcpus)) {
      const top = wantsPreemptible ? preemptible.reduce((a, b) => (b.vcpus > a.vcpus ? b : a)) : mostCores
      return E.left(Request.unsupported(module.name, name, `${vcpus} cores`, `the instance type with the most cores has ${top.vcpus} (${top.name})`, `ask for vcpus <= ${top.vcpus}`))
    }
    if (!fitsRam.some((x) => x.vcpus >= vcpus)) {
      return E.left(Request.unsupported(module.name, name, `${vcpus} cores with ${human(ram)}`, 'no single instance type of this cluster has both', `lower one of them; the largest instance types are ${list(pool)}`))
    }
  }
  return E.right(undefined)
}

/**
 * Reads the cluster's instance types and checks every work against them. A cluster that does
 * not export its configuration (an older or restricted API server) is not checked: the first
 * container request reports what does not fit, as before.
 *
 * @category utils
 * @since 0.3.0
 */
export const checkCluster = async (api: Client.ArvadosClient, module: Module.AnyModule): Promise<E.Either<Errors.SdkError, void>> => {
  const config = await api.clusterConfig()()
  // no answer at all (network, TLS, cancelled) is the run's problem and is reported; an answer
  // that is not a config (404 on an older server, 403) only means there is nothing to check
  if (E.isLeft(config)) return config.left.status === 0 ? config : E.right(undefined)
  return check(module, instanceTypes(config.right))
}
