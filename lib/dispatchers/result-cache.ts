/**
 * The local dispatcher's result cache: finished calls' encoded results keyed by call id, so a
 * re-run after a crash or a failure re-executes only what had not finished.
 *
 * Storage is a directory of append-only journals. Each record is one line that verifies itself:
 * `<call id>\t<run stamp>\t<result JSON>\t<check>\n`, where `check` is the md5 (hex) of what
 * precedes its tab and the newline ends the record. A record whose check does not match, or a
 * last line without its newline (cut by a crash), is never decoded: it is absent (its call is
 * recomputed) and counted in `stats().discarded`. The run stamp (the writer's start time, in ms)
 * dates the result and tells runs apart (`crunch cache prune`).
 *
 * Ownership: a run appends only to its own journal, named `w-<host>.<pid>-<uuid>.journal` while
 * it writes (see `lib/cache/owner.ts`) and renamed `<uuid>.journal` (sealed) when it closes. A
 * journal is merged or rewritten by another process only when it is sealed, or its writer is
 * gone (a crash): a journal someone may still append to is read, never deleted. The last line of
 * a journal still being written may be in flight: it is skipped, not counted.
 *
 * Appends are batched (cheap at 100,000 calls): a batch is written at the end of the microtask,
 * or at once when it reaches `BATCH_LINES` lines or `BATCH_MS` since the last write. Opening
 * merges the journals that may be merged into one when there are more than `MERGE_ABOVE`
 * (written to a temp file and renamed, so a reader never sees half of it; the merged ones are
 * deleted only after that rename).
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Owner from '../cache/owner.js'
import * as Errors from '../errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * What opening the cache found.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stats {
  /** results held (readable, verified records; the newest per call id) */
  readonly entries: number
  /** records that failed their check or were cut short (each one's call is recomputed) */
  readonly discarded: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ResultCache {
  readonly get: (id: string) => string | undefined
  readonly put: (id: string, json: string) => void
  /** forgets an entry that turned out not to decode */
  readonly forget: (id: string) => void
  /** flushes, closes and seals this run's journal */
  readonly close: () => Promise<void>
  readonly size: () => number
  readonly stats: () => Stats
}

/**
 * One verified record of a journal.
 *
 * @category models
 * @since 0.1.0
 */
export interface Entry {
  readonly id: string
  /** the writer's run stamp (its start time, ms since the epoch) */
  readonly stamp: number
  readonly json: string
}

/**
 * A journal as read: its verified records in order, how many were discarded, and whether
 * another process may still append to it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Journal {
  readonly file: string
  readonly modifiedAt: number
  readonly entries: ReadonlyArray<Entry>
  readonly discarded: number
  readonly live: boolean
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

const MERGE_ABOVE = 16
/** a batch of journal lines is written when it is this long, or this old, at the latest */
const BATCH_LINES = 1024
const BATCH_MS = 50
const SUFFIX = '.journal'
const OPEN_PREFIX = 'w-'

// -------------------------------------------------------------------------------------
// records
// -------------------------------------------------------------------------------------

const checkOf = (body: string): string => Crypto.hash('md5', body, 'hex')

/**
 * One journal line (newline included), or undefined for an id a line cannot hold.
 *
 * @category constructors
 * @since 0.1.0
 */
export const record = (id: string, stamp: number, json: string): string | undefined => {
  if (id === '' || /[\t\n]/.test(id)) return undefined
  // a result is one line: JSON text may carry whitespace newlines (never inside a string)
  const text = json.includes('\n') ? JSON.stringify(JSON.parse(json)) : json
  const body = `${id}\t${stamp}\t${text}`
  return `${body}\t${checkOf(body)}\n`
}

/**
 * The record of a line (without its newline), or undefined when it does not verify.
 *
 * @category destructors
 * @since 0.1.0
 */
export const parseRecord = (line: string): Entry | undefined => {
  const last = line.lastIndexOf('\t')
  if (last < 0) return undefined
  const body = line.slice(0, last)
  if (checkOf(body) !== line.slice(last + 1)) return undefined
  const first = body.indexOf('\t')
  const second = first < 0 ? -1 : body.indexOf('\t', first + 1)
  if (first <= 0 || second < 0) return undefined
  const stamp = Number(body.slice(first + 1, second))
  if (!Number.isSafeInteger(stamp)) return undefined
  return { id: body.slice(0, first), stamp, json: body.slice(second + 1) }
}

// -------------------------------------------------------------------------------------
// journals
// -------------------------------------------------------------------------------------

/**
 * Whether a journal file name may still be appended to by its writer.
 *
 * @category utils
 * @since 0.1.0
 */
export const mayBeWritten = (name: string): boolean => {
  if (!name.startsWith(OPEN_PREFIX)) return false
  const owner = Owner.parse(name)
  return owner !== undefined && Owner.mayBeAlive(owner)
}

const parseJournal = (file: string, text: string, live: boolean, modifiedAt: number): Journal => {
  const entries: Array<Entry> = []
  let discarded = 0
  let start = 0
  for (;;) {
    const end = text.indexOf('\n', start)
    if (end < 0) break
    if (end > start) {
      const e = parseRecord(text.slice(start, end))
      if (e === undefined) discarded++
      else entries.push(e)
    }
    start = end + 1
  }
  // a last line without its newline: cut by a crash, or (live writer) still being written
  if (start < text.length && !live) discarded++
  return { file, modifiedAt, entries, discarded, live }
}

/**
 * Every journal of `dir`, oldest first (a later result for an id, a recomputed one, wins).
 * A journal merged away meanwhile by another process is skipped.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const readAll = (dir: string): ReadonlyArray<Journal> => {
  const found: Array<Journal> = []
  for (const name of Fs.readdirSync(dir)) {
    if (!name.endsWith(SUFFIX)) continue
    const file = Path.join(dir, name)
    const live = mayBeWritten(name)
    try {
      const modifiedAt = Fs.statSync(file).mtimeMs
      found.push(parseJournal(file, Fs.readFileSync(file, 'utf8'), live, modifiedAt))
    } catch (cause) {
      if ((cause as { code?: unknown }).code !== 'ENOENT') throw cause
    }
  }
  return found.sort((a, b) => a.modifiedAt - b.modifiedAt || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))
}

/**
 * Replaces the journals `from` (none of them live) by one holding `entries`: written to a temp
 * file, renamed into place, and only then are the old ones deleted. Returns the new file
 * (undefined when there was nothing to keep).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const replace = (dir: string, from: ReadonlyArray<Journal>, entries: ReadonlyArray<Entry>): string | undefined => {
  if (from.some((j) => j.live)) throw new Error('a journal that may still be written cannot be replaced')
  let merged: string | undefined
  if (entries.length > 0) {
    merged = Path.join(dir, `${Crypto.randomUUID()}${SUFFIX}`)
    const tmp = Path.join(dir, `tmp-${Owner.tag(Owner.self())}-${Crypto.randomUUID()}`)
    Fs.writeFileSync(tmp, entries.map((e) => record(e.id, e.stamp, e.json) ?? '').join(''), { mode: 0o600 })
    Fs.renameSync(tmp, merged)
  }
  for (const j of from) Fs.rmSync(j.file, { force: true })
  return merged
}

/** the newest entry per id, in the order of `journals` (oldest first) */
const latest = (journals: ReadonlyArray<Journal>): Map<string, Entry> => {
  const m = new Map<string, Entry>()
  for (const j of journals) for (const e of j.entries) m.set(e.id, e)
  return m
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * A cache that stores nothing (`--no-reuse`, or no cache directory).
 *
 * @category constructors
 * @since 0.1.0
 */
export const none: ResultCache = {
  get: () => undefined,
  put: () => undefined,
  forget: () => undefined,
  close: () => Promise.resolve(),
  size: () => 0,
  stats: () => ({ entries: 0, discarded: 0 }),
}

/**
 * Opens (creating) the cache in `dir`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const open = (dir: string): E.Either<Errors.SdkError, ResultCache> => {
  try {
    Fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    const journals = readAll(dir)
    const discarded = journals.reduce((n, j) => n + j.discarded, 0)
    const found = latest(journals)
    const entries = new Map<string, string>()
    for (const [id, e] of found) entries.set(id, e.json)
    const finished = journals.filter((j) => !j.live)
    if (finished.length > MERGE_ABOVE) replace(dir, finished, [...latest(finished).values()])

    // lines are written with one write(2) per batch: a crash loses at most the results of the
    // batch it interrupts (finished in the same microtask, within BATCH_MS, and fewer than
    // BATCH_LINES of them), never a result of an earlier batch
    const stamp = Date.now()
    const tag = Owner.tag(Owner.self())
    let journal: { readonly fd: number; readonly open: string; readonly sealed: string } | undefined
    // ids and results waiting for the next write, in pairs (records are made when written)
    let pending: Array<string> = []
    let written = Date.now()
    const flush = (): void => {
      written = Date.now()
      if (pending.length === 0) return
      if (journal === undefined) {
        const name = `${Crypto.randomUUID()}${SUFFIX}`
        const open = Path.join(dir, `${OPEN_PREFIX}${tag}-${name}`)
        journal = { fd: Fs.openSync(open, 'a', 0o600), open, sealed: Path.join(dir, name) }
      }
      let text = ''
      for (let i = 0; i < pending.length; i += 2) text += record(pending[i]!, stamp, pending[i + 1]!) ?? ''
      const bytes = Buffer.from(text)
      pending = []
      for (let at = 0; at < bytes.length; ) at += Fs.writeSync(journal.fd, bytes, at, bytes.length - at)
    }
    return E.right({
      get: (id) => entries.get(id),
      put: (id, json) => {
        entries.set(id, json)
        if (pending.length === 0) queueMicrotask(flush)
        pending.push(id, json)
        if (pending.length >= 2 * BATCH_LINES || Date.now() - written >= BATCH_MS) flush()
      },
      forget: (id) => {
        entries.delete(id)
      },
      close: () => {
        flush()
        if (journal !== undefined) {
          Fs.closeSync(journal.fd)
          Fs.renameSync(journal.open, journal.sealed)
        }
        journal = undefined
        return Promise.resolve()
      },
      size: () => entries.size,
      stats: () => ({ entries: entries.size, discarded }),
    })
  } catch (cause) {
    return E.left(
      Errors.make('CacheError', 'ARV_CACHE', `cannot open the result cache in ${dir}`, { dir }, { cause, hint: 'check that the directory is writable, or run with --no-reuse' }),
    )
  }
}
