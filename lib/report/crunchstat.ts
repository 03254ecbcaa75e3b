/**
 * Resource usage from an Arvados container's log collection. `crunchstat.txt` holds one line per
 * sample, each after crunch-run's timestamp (`2024-05-01T10:00:00.123456789Z `), written by
 * arvados `lib/crunchstat` as value/name pairs:
 *
 *   mem 0 cache 0 swap 0 pgmajfault 268435456 rss
 *   cpu 12.3400 user 1.2000 sys 2 cpus -- interval 10.0000 seconds 3.1000 user 0.2000 sys
 *
 * (older logs put `crunchstat: ` before the category). `rss` is the memory in use at the sample,
 * so the peak is the largest; `cpu` counts are cumulative, so the CPU time is the last user +
 * sys. Newer crunch-run versions also log maxima at the end (`Maximum container memory rss usage
 * was 12%, 123/1000 bytes`, `Total CPU usage was 1.5 user and 0.2 sys on 2 CPUs`); both are
 * read when present. `node.json` is the instance type the container ran on (dispatch-cloud).
 *
 * @since 0.1.0
 */
import type * as Model from './model.js'

// -------------------------------------------------------------------------------------
// crunchstat.txt
// -------------------------------------------------------------------------------------

const TIMESTAMP = /^\d{4}-\d\d-\d\d[T_]\d\d:\d\d:\d\d(?:\.\d+)?Z?\s+/
const MAX_RSS = /Maximum container memory rss usage was (?:\d+%, )?(\d+)(?:\/\d+)? bytes/
const TOTAL_CPU = /Total CPU usage was ([\d.]+) user and ([\d.]+) sys/

/** `value name value name …` up to ` -- interval` */
const pairs = (text: string): ReadonlyMap<string, number> => {
  const words = text.split(' -- ')[0]!.trim().split(/\s+/)
  const out = new Map<string, number>()
  for (let i = 0; i + 1 < words.length; i += 2) {
    const v = Number(words[i])
    if (Number.isFinite(v)) out.set(words[i + 1]!, v)
  }
  return out
}

/**
 * The peak memory and CPU time in a `crunchstat.txt` text (or any log text holding crunchstat
 * lines). A field is absent when no line gave it.
 *
 * @category destructors
 * @since 0.1.0
 */
export const parse = (text: string): Model.Used => {
  let peak: number | undefined
  let cpu: number | undefined
  let totalCpu: number | undefined
  for (const raw of text.split('\n')) {
    const line = raw.replace(TIMESTAMP, '').replace(/^crunchstat: /, '')
    if (line.startsWith('mem ')) {
      const rss = pairs(line.slice(4)).get('rss')
      if (rss !== undefined) peak = Math.max(peak ?? 0, rss)
      continue
    }
    if (line.startsWith('cpu ')) {
      const p = pairs(line.slice(4))
      const user = p.get('user')
      const sys = p.get('sys')
      if (user !== undefined || sys !== undefined) cpu = Math.max(cpu ?? 0, (user ?? 0) + (sys ?? 0))
      continue
    }
    const max = MAX_RSS.exec(line)
    if (max !== null) {
      peak = Math.max(peak ?? 0, Number(max[1]))
      continue
    }
    const total = TOTAL_CPU.exec(line)
    if (total !== null) totalCpu = Number(total[1]) + Number(total[2])
  }
  const cpuSeconds = totalCpu ?? cpu
  return { ...(peak === undefined ? {} : { peakRssBytes: peak }), ...(cpuSeconds === undefined ? {} : { cpuSeconds: Math.round(cpuSeconds * 10_000) / 10_000 }) }
}

// -------------------------------------------------------------------------------------
// node.json
// -------------------------------------------------------------------------------------

/**
 * The instance type a container ran on, from `node.json` (arvados' `InstanceType` record:
 * `Name`, `ProviderType`, `VCPUs`, `RAM`, `Price`, `Preemptible`, …).
 *
 * @category models
 * @since 0.1.0
 */
export interface InstanceType {
  readonly name: string
  readonly providerType?: string
  readonly vcpus?: number
  readonly ramBytes?: number
  /** per hour, in the cluster's currency */
  readonly price?: number
  readonly preemptible?: boolean
}

/**
 * Reads `node.json`; undefined when the text is not such a record.
 *
 * @category destructors
 * @since 0.1.0
 */
export const parseNodeJson = (text: string): InstanceType | undefined => {
  let u: unknown
  try {
    u = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return undefined
  const r = u as Record<string, unknown>
  const name = typeof r['Name'] === 'string' && r['Name'] !== '' ? r['Name'] : typeof r['ProviderType'] === 'string' ? r['ProviderType'] : undefined
  if (name === undefined) return undefined
  const num = (k: string): number | undefined => (typeof r[k] === 'number' && Number.isFinite(r[k]) ? r[k] : undefined)
  const providerType = typeof r['ProviderType'] === 'string' ? r['ProviderType'] : undefined
  const vcpus = num('VCPUs')
  const ramBytes = num('RAM')
  const price = num('Price')
  return {
    name,
    ...(providerType === undefined ? {} : { providerType }),
    ...(vcpus === undefined ? {} : { vcpus }),
    ...(ramBytes === undefined ? {} : { ramBytes }),
    ...(price === undefined ? {} : { price }),
    ...(typeof r['Preemptible'] === 'boolean' ? { preemptible: r['Preemptible'] } : {}),
  }
}
