/**
 * Following the pack files of a directory (block packs, manifest packs): files that writers only
 * append to, each read once up to where it was read before. Shared by `block-pack.ts` and
 * `manifest-pack.ts`, which parse their own records.
 *
 * @since 0.2.0
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'

/**
 * Reads what was appended to one pack since `from` (up to `size`): the new records' handling
 * is the caller's; returns how far the pack is read now (a torn last record is not consumed).
 *
 * @category models
 * @since 0.2.0
 */
export type Take = (fd: number, file: string, from: number, size: number) => number

/**
 * The packs (names ending in `suffix`) under `dir`, as paths; undefined when the directory
 * cannot be read.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const list = (dir: string, suffix: string): ReadonlyArray<string> | undefined => {
  try {
    return Fs.readdirSync(dir)
      .filter((n) => n.endsWith(suffix))
      .map((n) => Path.join(dir, n))
  } catch {
    return undefined
  }
}

/**
 * A follower of the packs (names ending in `suffix`) under `dir`. Each call hands what was
 * appended since the last call to `take` and returns the packs present (undefined when the
 * directory cannot be read); packs removed meanwhile are forgotten.
 *
 * @category constructors
 * @since 0.2.0
 */
export const follower = (dir: string, suffix: string): ((take: Take) => ReadonlySet<string> | undefined) => {
  /** how far each pack was read */
  const read = new Map<string, number>()
  return (take) => {
    const files = list(dir, suffix)
    if (files === undefined) return undefined
    const present = new Set(files)
    for (const file of files) {
      let fd: number
      try {
        fd = Fs.openSync(file, 'r')
      } catch {
        continue // merged away meanwhile
      }
      try {
        const size = Fs.fstatSync(fd).size
        const from = read.get(file) ?? 0
        if (size > from) read.set(file, take(fd, file, from, size))
      } finally {
        Fs.closeSync(fd)
      }
    }
    for (const file of read.keys()) if (!present.has(file)) read.delete(file)
    return present
  }
}
