/**
 * Resources used against resources asked, per call and per work, with the setting to change.
 * A call is flagged when its peak memory was under a quarter of the RAM it asked for (paying for
 * memory it did not use) or over nine tenths (close to being killed for lack of memory); a work
 * gets one suggestion, sized on its largest call, since every call of a work asks the same.
 * Anchors: Nextflow's execution report (memory / CPU usage against request) and Arvados'
 * crunchstat-summary (which recommends runtime constraints from the measured maxima).
 *
 * @since 0.1.0
 */
import type * as Model from './model.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export type RamFlag = 'low' | 'high'

/**
 * @category models
 * @since 0.1.0
 */
export interface Suggestion {
  readonly work: string
  readonly resource: 'ram' | 'vcpus'
  /** the option to write in the work's definition, e.g. `ram: '256MiB'` */
  readonly setting: string
  /** what was measured, e.g. `3 of 3 calls used under 25% of the 2 GiB asked (peak 61 MiB)` */
  readonly reason: string
  /** one sentence: what was measured and what to change */
  readonly message: string
}

/** under this share of the asked RAM a call is flagged `low` */
export const LOW = 0.25
/** over this share it is flagged `high` */
export const HIGH = 0.9
/** head room kept above the largest measured peak */
const HEADROOM = 1.25

const MiB = 1024 * 1024
const GiB = 1024 * MiB

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * The share of its asked RAM a call used at its peak, when both are known.
 *
 * @category utils
 * @since 0.1.0
 */
export const ramShare = (c: Model.CallRecord): number | undefined => {
  const asked = c.requested.ramBytes
  const peak = c.used.peakRssBytes
  return asked === undefined || peak === undefined || asked <= 0 ? undefined : peak / asked
}

/**
 * @category utils
 * @since 0.1.0
 */
export const ramFlag = (c: Model.CallRecord): RamFlag | undefined => {
  const share = ramShare(c)
  return share === undefined ? undefined : share < LOW ? 'low' : share > HIGH ? 'high' : undefined
}

/**
 * A RAM setting at least `bytes`: whole 128 MiB steps under 1 GiB, 512 MiB steps above, written
 * as the work option takes it (`'384MiB'`, `'2GiB'`).
 *
 * @category utils
 * @since 0.1.0
 */
export const ramSetting = (bytes: number): { readonly bytes: number; readonly text: string } => {
  const step = bytes <= GiB ? 128 * MiB : 512 * MiB
  const rounded = Math.max(step, Math.ceil(bytes / step) * step)
  return { bytes: rounded, text: rounded % GiB === 0 ? `${rounded / GiB}GiB` : `${rounded / MiB}MiB` }
}

/**
 * Bytes in binary units with three significant digits (`512 MiB`, `1.25 GiB`).
 *
 * @category utils
 * @since 0.1.0
 */
export const formatBytes = (bytes: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = bytes
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v.toFixed(0) : v < 10 ? v.toFixed(2).replace(/\.?0+$/, '') : v < 100 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(0)} ${units[i]!}`
}

/** the largest of many numbers (a spread into Math.max fails past about 100,000) */
const largest = (xs: ReadonlyArray<number>): number => xs.reduce((a, x) => Math.max(a, x), -Infinity)

const percent = (share: number): string => `${Math.round(share * 100)}%`

// -------------------------------------------------------------------------------------
// suggestions
// -------------------------------------------------------------------------------------

const made = (work: string, resource: Suggestion['resource'], setting: string, reason: string): Suggestion => ({ work, resource, setting, reason, message: `${reason}: set ${setting} on work ${work}` })

/** calls whose implementation ran (reused calls measured nothing) */
const measured = (calls: ReadonlyArray<Model.CallRecord>): ReadonlyArray<Model.CallRecord> => calls.filter((c) => !c.reused && (c.state === 'done' || c.state === 'failed'))

const ramSuggestion = (work: string, calls: ReadonlyArray<Model.CallRecord>): Suggestion | undefined => {
  const withShare = calls.filter((c) => ramShare(c) !== undefined)
  if (withShare.length === 0) return undefined
  const asked = largest(withShare.map((c) => c.requested.ramBytes!))
  const peak = largest(withShare.map((c) => c.used.peakRssBytes!))
  const high = withShare.filter((c) => ramFlag(c) === 'high').length
  const low = withShare.filter((c) => ramFlag(c) === 'low').length
  const of = (n: number): string => (withShare.length === 1 ? 'its call' : `${n} of ${withShare.length} calls`)
  if (high > 0) {
    const s = ramSetting(Math.max(peak * HEADROOM, asked * 1.5))
    return made(work, 'ram', `ram: '${s.text}'`, `${of(high)} used over ${percent(HIGH)} of the ${formatBytes(asked)} asked (peak ${formatBytes(peak)})`)
  }
  if (low === withShare.length) {
    const s = ramSetting(peak * HEADROOM)
    if (s.bytes >= asked) return undefined
    return made(work, 'ram', `ram: '${s.text}'`, `${of(low)} used under ${percent(LOW)} of the ${formatBytes(asked)} asked (peak ${formatBytes(peak)})`)
  }
  return undefined
}

const vcpusSuggestion = (work: string, calls: ReadonlyArray<Model.CallRecord>): Suggestion | undefined => {
  // mean cores busy over the running time; short calls say little
  const rates = calls.flatMap((c) => {
    const ms = c.durations.runningMs
    const cpu = c.used.cpuSeconds
    const asked = c.requested.vcpus
    return ms === undefined || cpu === undefined || asked === undefined || ms < 1000 ? [] : [{ cores: cpu / (ms / 1000), asked }]
  })
  if (rates.length === 0) return undefined
  const asked = largest(rates.map((r) => r.asked))
  const busiest = largest(rates.map((r) => r.cores))
  const want = Math.max(1, Math.ceil(busiest * HEADROOM))
  if (asked <= 1 || want * 2 > asked) return undefined
  return made(work, 'vcpus', `vcpus: ${want}`, `calls kept at most ${busiest.toFixed(1)} of the ${asked} vCPUs asked busy on average`)
}

/**
 * One suggestion per work and resource where the measurements call for a change.
 *
 * @category constructors
 * @since 0.1.0
 */
export const suggest = (calls: ReadonlyArray<Model.CallRecord>): ReadonlyArray<Suggestion> => {
  const byWork = new Map<string, Array<Model.CallRecord>>()
  for (const c of measured(calls)) {
    const list = byWork.get(c.work)
    if (list === undefined) byWork.set(c.work, [c])
    else list.push(c)
  }
  const out: Array<Suggestion> = []
  for (const [work, list] of byWork) {
    const ram = ramSuggestion(work, list)
    if (ram !== undefined) out.push(ram)
    const vcpus = vcpusSuggestion(work, list)
    if (vcpus !== undefined) out.push(vcpus)
  }
  return out
}
