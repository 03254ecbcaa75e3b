/**
 * Who is writing a file of the cache: a tag `<host>.<pid>` (host: 8 hex digits of the md5 of
 * the host name) carried in the names of files a process may still append to (its open journal)
 * and of its temporary files and directories. Another process may delete or merge such a file
 * only when its writer is gone: the tag names this host and no process with that pid runs. A
 * tag of another host is never taken as gone (its writer cannot be checked from here); a name
 * without a tag was written by a version without tags, or is finished.
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Os from 'node:os'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface Owner {
  readonly host: string
  readonly pid: number
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const hostOf = (name: string): string => Crypto.createHash('md5').update(name).digest('hex').slice(0, 8)

/**
 * This process.
 *
 * @category constructors
 * @since 0.1.0
 */
export const self = (): Owner => ({ host: hostOf(Os.hostname()), pid: process.pid })

/**
 * The tag written in file names: `<host>.<pid>`.
 *
 * @category destructors
 * @since 0.1.0
 */
export const tag = (o: Owner): string => `${o.host}.${o.pid}`

const TAG = /(?:^|[-_])([0-9a-f]{8})\.([0-9]+)-/

/**
 * The owner tagged in a file name (`...-<host>.<pid>-...`), if any.
 *
 * @category destructors
 * @since 0.1.0
 */
export const parse = (name: string): Owner | undefined => {
  const m = TAG.exec(name)
  if (m === null) return undefined
  const pid = Number(m[2])
  return Number.isSafeInteger(pid) && pid > 0 ? { host: m[1]!, pid } : undefined
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * Whether the writer may still be running: true for another host, and for a live pid here.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const mayBeAlive = (o: Owner, here: Owner = self()): boolean => {
  if (o.host !== here.host) return true
  if (o.pid === here.pid) return true
  try {
    process.kill(o.pid, 0)
    return true
  } catch (e) {
    return (e as { code?: unknown }).code !== 'ESRCH'
  }
}
