/**
 * Manifest packs: small manifests of the local store appended to one file per writing process
 * (`packs/w-<host>.<pid>-<uuid>.manifests`, see `lib/cache/owner.ts`) instead of one file each,
 * so that an output costs one `write` rather than a file creation and a rename. A record is
 * `<pdh> <byte length>\n<manifest text>\n`; it verifies itself, since the PDH is the md5 of the
 * text: a torn record (crash) or an altered one is skipped. A reader indexes packs
 * incrementally: each pack is append-only, so only bytes added since the last look are read.
 * Large manifests are still stored as files (`manifests/<pdh>`).
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import * as Owner from '../cache/owner.js'
import * as PackFiles from './pack-files.js'
import * as Pdh from './pdh.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * One verified record: its manifest text and where it sits.
 *
 * @category models
 * @since 0.1.0
 */
export interface Record {
  readonly pdh: string
  readonly text: string
  readonly file: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Packs {
  /** Appends a manifest to this process's pack (created on first use). */
  readonly append: (pdh: string, text: string) => void
  /** The manifest text stored under `pdh` in any pack, reading what was appended since the last look. */
  readonly find: (pdh: string) => string | undefined
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * The file name suffix of packs.
 *
 * @category constants
 * @since 0.1.0
 */
export const SUFFIX = '.manifests'

// -------------------------------------------------------------------------------------
// records
// -------------------------------------------------------------------------------------

/**
 * One record (header, text, newline).
 *
 * @category constructors
 * @since 0.1.0
 */
export const record = (pdh: string, text: string): Buffer => {
  const body = Buffer.from(text)
  return Buffer.concat([Buffer.from(`${pdh} ${body.length}\n`), body, Buffer.from('\n')])
}

/**
 * The verified records of `bytes` (a pack, or the part of it from a record boundary), and how
 * many bytes they span (a torn last record is not counted); `discarded` counts complete records
 * whose text does not match their PDH.
 *
 * @category destructors
 * @since 0.1.0
 */
export const parse = (bytes: Buffer, file: string): { readonly records: ReadonlyArray<Record>; readonly consumed: number; readonly discarded: number } => {
  const records: Array<Record> = []
  let at = 0
  let discarded = 0
  for (;;) {
    const nl = bytes.indexOf(10, at)
    if (nl < 0) break
    const header = /^([0-9a-f]{32}\+\d+) (\d+)$/.exec(bytes.toString('latin1', at, nl))
    if (header === null) {
      // not a record boundary: the pack is damaged from here on
      discarded++
      break
    }
    const length = Number(header[2])
    const end = nl + 1 + length
    if (end + 1 > bytes.length) break // torn, or still being written
    if (bytes[end] !== 10) {
      discarded++
      break
    }
    const text = bytes.toString('utf8', nl + 1, end)
    if (Pdh.of(text) === header[1]) records.push({ pdh: header[1]!, text, file })
    else discarded++
    at = end + 1
  }
  return { records, consumed: at, discarded }
}

/**
 * Every verified record of every pack in `dir` (missing directory: none).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const readAll = (dir: string): ReadonlyArray<Record> => {
  return (PackFiles.list(dir, SUFFIX) ?? []).flatMap((file) => {
    try {
      return parse(Fs.readFileSync(file), file).records
    } catch {
      return []
    }
  })
}

/**
 * Whether a pack may still be appended to by its writer.
 *
 * @category utils
 * @since 0.1.0
 */
export const mayBeWritten = (name: string): boolean => {
  if (!name.startsWith('w-')) return false
  const owner = Owner.parse(name)
  return owner !== undefined && Owner.mayBeAlive(owner)
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The packs under `dir` (created by the store), for a writer tagged `tag`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (dir: string, tag: string): Packs => {
  let fd: number | undefined
  /** records seen so far */
  const index = new Map<string, string>()
  const follow = PackFiles.follower(dir, SUFFIX)

  const refresh = (): void => {
    follow((handle, file, from, size) => {
      const bytes = Buffer.allocUnsafe(size - from)
      let got = 0
      while (got < bytes.length) {
        const k = Fs.readSync(handle, bytes, got, bytes.length - got, from + got)
        if (k === 0) break
        got += k
      }
      const parsed = parse(bytes.subarray(0, got), file)
      for (const r of parsed.records) index.set(r.pdh, r.text)
      return from + parsed.consumed
    })
  }

  return {
    append: (pdh, text) => {
      fd ??= Fs.openSync(Path.join(dir, `w-${tag}-${Crypto.randomUUID()}${SUFFIX}`), 'a', 0o600)
      const bytes = record(pdh, text)
      for (let at = 0; at < bytes.length; ) at += Fs.writeSync(fd, bytes, at, bytes.length - at)
      index.set(pdh, text)
    },
    find: (pdh) => {
      const known = index.get(pdh)
      if (known !== undefined) return known
      refresh()
      return index.get(pdh)
    },
  }
}
