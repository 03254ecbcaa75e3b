/**
 * Where the local dispatcher keeps what each call site made last time (`sites/sites.json`
 * under the cache directory), for the reasons of `reuse-reason.ts`. Read once when a run
 * starts; written once when it ends (to a temporary file, then renamed). Two runs at once: the
 * last one to end is remembered — this book explains, it never decides what is reused.
 *
 * @since 0.2.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as FsP from 'node:fs/promises'
import * as Path from 'node:path'
import type * as ReuseReason from './reuse-reason.js'

/**
 * @category models
 * @since 0.2.0
 */
export interface SiteBook {
  readonly get: (site: string) => ReuseReason.SiteRecord | undefined
  readonly set: (site: string, record: ReuseReason.SiteRecord) => void
  readonly close: () => Promise<void>
}

/**
 * A book that remembers nothing.
 *
 * @category constructors
 * @since 0.2.0
 */
export const none: SiteBook = { get: () => undefined, set: () => undefined, close: () => Promise.resolve() }

/**
 * The book in `dir` (`sites/` under the cache directory); an unreadable book is an empty one.
 *
 * @category constructors
 * @since 0.2.0
 */
export const open = (dir: string): SiteBook => {
  const file = Path.join(dir, 'sites.json')
  let earlier: Record<string, ReuseReason.SiteRecord> = {}
  try {
    const parsed: unknown = JSON.parse(Fs.readFileSync(file, 'utf8'))
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) earlier = parsed as Record<string, ReuseReason.SiteRecord>
  } catch {
    earlier = {}
  }
  const now = new Map<string, ReuseReason.SiteRecord>()
  return {
    get: (site) => earlier[site],
    set: (site, record) => void now.set(site, record),
    close: async () => {
      if (now.size === 0) return
      const merged: Record<string, ReuseReason.SiteRecord> = { ...earlier }
      for (const [k, v] of now) merged[k] = v
      const tmp = `${file}.${Crypto.randomBytes(6).toString('hex')}.tmp`
      try {
        await FsP.mkdir(dir, { recursive: true })
        await FsP.writeFile(tmp, JSON.stringify(merged))
        await FsP.rename(tmp, file)
      } catch {
        await FsP.rm(tmp, { force: true })
      }
    },
  }
}
