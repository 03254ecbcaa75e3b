/**
 * What the double writes beside a container's stdout/stderr, as crunch-run does: `crunchstat.txt`
 * (resource samples in arvados `lib/crunchstat`'s line format) and `node.json` (the instance type,
 * as arvados-dispatch-cloud writes it: the `InstanceType` record of sdk/go/arvados/config.go).
 *
 * Not faithful: samples come from `/proc/<pid>` of the container's process every 100 ms, not from
 * its cgroup; the `rss` written is the process's high-water mark (`VmHWM`), so the peak between
 * two samples is not missed; CPU is the process's and its waited-for children's user/system time.
 * The instance type is the cheapest of a small made-up menu that fits the runtime constraints.
 */
import * as Fs from 'node:fs'
import type { Rec } from './cluster.js'

const TICKS_PER_SECOND = 100
const PERIOD_MS = 100

const GiB = 1024 ** 3

/** a small menu of instance types, cheapest first (name, vCPUs, RAM, price per hour) */
export const MENU: ReadonlyArray<{ readonly name: string; readonly vcpus: number; readonly ram: number; readonly price: number }> = [
  { name: 'double1.small', vcpus: 1, ram: 2 * GiB, price: 0.02 },
  { name: 'double2.medium', vcpus: 2, ram: 8 * GiB, price: 0.08 },
  { name: 'double4.large', vcpus: 4, ram: 16 * GiB, price: 0.17 },
  { name: 'double8.xlarge', vcpus: 8, ram: 64 * GiB, price: 0.6 },
  { name: 'double64.metal', vcpus: 64, ram: 1024 * GiB, price: 8 },
]

/**
 * `node.json` for a container with these runtime constraints.
 */
export const nodeJson = (rc: Rec): string => {
  const ram = Number(rc['ram'] ?? 0) + Number(rc['keep_cache_ram'] ?? 0)
  const vcpus = Number(rc['vcpus'] ?? 1)
  const t = MENU.find((m) => m.vcpus >= vcpus && m.ram >= ram) ?? MENU[MENU.length - 1]!
  return JSON.stringify(instanceType(t), null, 2) + '\n'
}

/** a menu entry as sdk/go/arvados/config.go's `InstanceType` record (node.json, the exported config) */
export const instanceType = (t: (typeof MENU)[number]): Rec => ({ Name: t.name, ProviderType: t.name, VCPUs: t.vcpus, RAM: t.ram, Scratch: 0, IncludedScratch: 0, AddedScratch: 0, Price: t.price, Preemptible: false, CUDA: { DriverVersion: '', HardwareCapability: '', DeviceCount: 0 } })

/**
 * The part of the cluster's exported config (`GET /arvados/v1/config`) clients read: the
 * instance types (none preemptible, so a preemptible request is refused, as `create` does) and
 * container settings.
 */
export const exportedConfig = (): Rec => ({
  ClusterID: 'zzzzz',
  InstanceTypes: Object.fromEntries(MENU.map((t) => [t.name, instanceType(t)])),
  Containers: { MaxRetryAttempts: 3, UsePreemptibleInstances: false, AlwaysUsePreemptibleInstances: false, DefaultKeepCacheRAM: 0, ReserveExtraRAM: 0 },
})

/**
 * What a container cost, as crunch-run reports it: its instance type's price per hour times the
 * time it ran.
 */
export const cost = (rc: Rec, startedAt: string, finishedAt: string): number => {
  const price = (JSON.parse(nodeJson(rc)) as { readonly Price: number }).Price
  const hours = Math.max(0, Date.parse(finishedAt) - Date.parse(startedAt)) / 3_600_000
  return price * hours
}

const stamp = (): string => {
  const d = new Date()
  return `${d.toISOString().slice(0, 19)}.${String(d.getMilliseconds()).padStart(3, '0')}000000Z`
}

interface Sample {
  readonly hwm: number
  readonly user: number
  readonly sys: number
  readonly at: number
}

const read = (pid: number): Sample | undefined => {
  try {
    const status = Fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status)
    // fields after the last ')' of the command name: state is field 3, utime 14 … cstime 17
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]].map(Number) as [number, number, number, number]
    return { hwm: hwm === null ? 0 : Number(hwm[1]) * 1024, user: (utime + cutime) / TICKS_PER_SECOND, sys: (stime + cstime) / TICKS_PER_SECOND, at: Date.now() }
  } catch {
    return undefined
  }
}

/**
 * Samples process `pid` into `file` until `stop` is called (and once more then, if it still runs).
 */
export const sample = (pid: number | undefined, file: string, cpus: number): { readonly stop: () => Promise<void> } => {
  const out = Fs.createWriteStream(file)
  let last: Sample | undefined
  const once = (): void => {
    if (pid === undefined) return
    const s = read(pid)
    if (s === undefined) return
    out.write(`${stamp()} mem ${s.hwm} rss\n`)
    const delta = last === undefined ? '' : ` -- interval ${((s.at - last.at) / 1000).toFixed(4)} seconds ${(s.user - last.user).toFixed(4)} user ${(s.sys - last.sys).toFixed(4)} sys`
    out.write(`${stamp()} cpu ${s.user.toFixed(4)} user ${s.sys.toFixed(4)} sys ${cpus} cpus${delta}\n`)
    last = s
  }
  once()
  const timer = setInterval(once, PERIOD_MS)
  return {
    stop: () => {
      clearInterval(timer)
      once()
      return new Promise((resolve) => out.end(() => resolve()))
    },
  }
}
