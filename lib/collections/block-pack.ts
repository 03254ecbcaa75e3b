/**
 * Block packs: the blocks of in-memory outputs (`ctx.output.fromFiles`) that the block workers
 * store are appended to one file per worker (`packs/w-<host>.<pid>-<uuid>.blocks`, see
 * `lib/cache/owner.ts`) instead of one file each. A new file costs far more than its bytes on
 * some file systems (ext4 without a journal scans the recently deleted inodes at each
 * creation), and one file per block also costs a rename and often a directory.
 *
 * A record is `<md5> <size>\n<bytes>\n`. It verifies itself: every read checks the size and the
 * md5 of the bytes against the header, as for block files. A pack is only appended to by its
 * writer, which writes each record at the end it tracks itself, so a crash leaves at most one
 * torn record at the end, which readers do not index (it ends past the end of the file). A
 * record found corrupted is marked removed in place (its hash overwritten by `-`, its length
 * kept so that the walk goes on), so the next run finds the block missing and recomputes what
 * needs it. Readers index packs incrementally: only records added since the last look are read
 * (one header read per record).
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import * as PackFiles from './pack-files.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Where a block's bytes sit: `size` bytes at `offset` of `file`; its record starts at `at`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Location {
  readonly file: string
  readonly at: number
  readonly offset: number
  readonly size: number
}

/**
 * One complete record of a pack.
 *
 * @category models
 * @since 0.1.0
 */
export interface Entry {
  readonly hash: string
  readonly location: Location
}

/**
 * The blocks of every pack of a directory, as far as they were read.
 *
 * @category models
 * @since 0.1.0
 */
export interface Index {
  /** Where a block was seen (no read). */
  readonly find: (hash: string) => Location | undefined
  /**
   * Where a block is, reading what was appended to the packs since the last look if it is not
   * known (or known only at `stale`, a location found gone: its pack was merged away).
   */
  readonly lookup: (hash: string, stale?: Location) => Location | undefined
  /** Records a block this process wrote. */
  readonly add: (hash: string, location: Location) => void
  /** Forgets a block found corrupted, and marks its record removed in its pack. */
  readonly drop: (hash: string, location: Location) => void
}

/**
 * Appends blocks to one pack of this thread's own (created on first use; a failed write ends it
 * and the next block starts another).
 *
 * @category models
 * @since 0.1.0
 */
export interface Writer {
  readonly append: (hash: string, bytes: Uint8Array) => Location
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * The file name suffix of block packs.
 *
 * @category constants
 * @since 0.1.0
 */
export const SUFFIX = '.blocks'

const NEWLINE = Buffer.from('\n')
/** what replaces the hash of a removed record */
const REMOVED = '-'.repeat(32)
const HEADER = /^([0-9a-f]{32}|-{32}) (\d+)$/
/** longest header: 32 + 1 + 20 digits + newline */
const HEADER_MAX = 64

// -------------------------------------------------------------------------------------
// records
// -------------------------------------------------------------------------------------

/**
 * The header of a record.
 *
 * @category constructors
 * @since 0.1.0
 */
export const header = (hash: string, size: number): string => `${hash} ${size}\n`

/**
 * The complete records of the pack open at `fd` (of `size` bytes), from the record boundary
 * `from`, and where the walk stopped (a torn or damaged record, or the end).
 *
 * @category destructors
 * @since 0.1.0
 */
export const walk = (fd: number, file: string, from: number, size: number): { readonly entries: ReadonlyArray<Entry>; readonly consumed: number } => {
  const entries: Array<Entry> = []
  const head = Buffer.allocUnsafe(HEADER_MAX)
  let at = from
  while (at < size) {
    const n = Fs.readSync(fd, head, 0, Math.min(HEADER_MAX, size - at), at)
    const nl = head.subarray(0, n).indexOf(10)
    if (nl < 0) break
    const m = HEADER.exec(head.toString('latin1', 0, nl))
    if (m === null) break // not a record boundary: damaged from here on
    const length = Number(m[2])
    const offset = at + nl + 1
    if (offset + length + 1 > size) break // torn, or still being written
    if (m[1] !== REMOVED) entries.push({ hash: m[1]!, location: { file, at, offset, size: length } })
    at = offset + length + 1
  }
  return { entries, consumed: at }
}

/**
 * Every complete record of every pack in `dir` (missing directory: none).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const readAll = (dir: string): ReadonlyArray<Entry> => {
  return (PackFiles.list(dir, SUFFIX) ?? []).flatMap((file) => {
    try {
      const fd = Fs.openSync(file, 'r')
      try {
        return walk(fd, file, 0, Fs.fstatSync(fd).size).entries
      } finally {
        Fs.closeSync(fd)
      }
    } catch {
      return []
    }
  })
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The index of the block packs under `dir`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const index = (dir: string): Index => {
  const known = new Map<string, Location>()
  const follow = PackFiles.follower(dir, SUFFIX)

  const refresh = (): void => {
    const present = follow((fd, file, from, size) => {
      const w = walk(fd, file, from, size)
      for (const e of w.entries) known.set(e.hash, e.location)
      return w.consumed
    })
    if (present === undefined) return
    // packs removed (merged by `crunch cache gc`): their blocks are wherever the walk found them again
    for (const [hash, l] of known) if (!present.has(l.file)) known.delete(hash)
  }

  return {
    find: (hash) => known.get(hash),
    lookup: (hash, stale) => {
      const l = known.get(hash)
      if (l !== undefined && l !== stale) return l
      refresh()
      const found = known.get(hash)
      return found === stale ? undefined : found
    },
    add: (hash, location) => {
      known.set(hash, location)
    },
    drop: (hash, location) => {
      if (known.get(hash) === location) known.delete(hash)
      try {
        const fd = Fs.openSync(location.file, 'r+')
        try {
          Fs.writeSync(fd, REMOVED, location.at, 'latin1')
        } finally {
          Fs.closeSync(fd)
        }
      } catch {
        // the pack is gone or not writable: the block is not read from it again by this process
      }
    },
  }
}

/**
 * A writer of packs under `dir` for a writer tagged `tag` (see `lib/cache/owner.ts`). Each block
 * is one `writev` at the end of the pack; the pack is opened for each block, so nothing stays
 * open between blocks.
 *
 * @category constructors
 * @since 0.1.0
 */
export const writer = (dir: string, tag: string): Writer => {
  let file: string | undefined
  let end = 0
  return {
    append: (hash, bytes) => {
      const head = Buffer.from(header(hash, bytes.length), 'latin1')
      const target = file ?? Path.join(dir, `w-${tag}-${Crypto.randomUUID()}${SUFFIX}`)
      const fd = Fs.openSync(target, file === undefined ? 'wx' : 'r+', 0o600)
      const at = end
      try {
        const parts = [head, bytes, NEWLINE]
        const written = Fs.writevSync(fd, parts, at)
        // after a short write (rare), the rest piece by piece
        let position = at
        for (const p of parts) {
          for (let k = Math.min(Math.max(written - (position - at), 0), p.length); k < p.length; ) k += Fs.writeSync(fd, p, k, p.length - k, position + k)
          position += p.length
        }
      } catch (cause) {
        file = undefined
        end = 0
        throw cause
      } finally {
        Fs.closeSync(fd)
      }
      file = target
      end = at + head.length + bytes.length + 1
      return { file: target, at, offset: at + head.length, size: bytes.length }
    },
  }
}
