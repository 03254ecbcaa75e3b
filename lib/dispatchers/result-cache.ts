/**
 * The local dispatcher's result cache: finished calls' encoded results keyed by call id, so a
 * re-run after a crash or a failure re-executes only what had not finished.
 *
 * Storage is a directory of append-only journals, one per run (`<random>.journal`), each line
 * `<call id>\t<result JSON>`. Appends are batched (cheap at 100,000 calls): a batch is written at the
 * end of the microtask, or at once when it reaches `BATCH_LINES` lines or `BATCH_MS` since the
 * last write (calls that finish synchronously, back to back, never wait for a microtask). A torn last line
 * after a crash is simply a result that does not decode — and a result that does not decode
 * is recomputed, never trusted. Opening merges journals into one when there are many (written
 * to a temp file and renamed, so a reader never sees half of it). Two processes may use one
 * directory at once: each appends to its own journal.
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface ResultCache {
  readonly get: (id: string) => string | undefined
  readonly put: (id: string, json: string) => void
  /** forgets an entry that turned out not to decode */
  readonly forget: (id: string) => void
  /** flushes and closes this run's journal */
  readonly close: () => Promise<void>
  readonly size: () => number
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
}

const MERGE_ABOVE = 16
/** a batch of journal lines is written when it is this long, or this old, at the latest */
const BATCH_LINES = 1024
const BATCH_MS = 50

const readJournal = (file: string, into: Map<string, string>): void => {
  let text: string
  try {
    text = Fs.readFileSync(file, 'utf8')
  } catch {
    return // merged away by another process meanwhile
  }
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t')
    if (tab > 0) into.set(line.slice(0, tab), line.slice(tab + 1))
  }
}

const modifiedAt = (file: string): number => {
  try {
    return Fs.statSync(file).mtimeMs
  } catch {
    return 0 // merged away by another process meanwhile: readJournal skips it
  }
}

/**
 * Opens (creating) the cache in `dir`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const open = (dir: string): E.Either<Errors.SdkError, ResultCache> => {
  try {
    Fs.mkdirSync(dir, { recursive: true })
    const entries = new Map<string, string>()
    // oldest first, so a later result for an id (a recomputed one) wins over an earlier line
    const journals = Fs.readdirSync(dir)
      .filter((f) => f.endsWith('.journal'))
      .map((f) => ({ f, at: modifiedAt(Path.join(dir, f)) }))
      .sort((a, b) => a.at - b.at || (a.f < b.f ? -1 : a.f > b.f ? 1 : 0))
      .map((j) => j.f)
    for (const j of journals) readJournal(Path.join(dir, j), entries)
    if (journals.length > MERGE_ABOVE) {
      const merged = Path.join(dir, `${Crypto.randomUUID()}.journal`)
      const tmp = `${merged}.tmp`
      Fs.writeFileSync(tmp, [...entries].map(([id, json]) => `${id}\t${json}\n`).join(''))
      Fs.renameSync(tmp, merged)
      for (const j of journals) Fs.rmSync(Path.join(dir, j), { force: true })
    }
    // lines are written with one write(2) per batch: a crash loses at most the results of the
    // batch it interrupts (finished in the same microtask, within BATCH_MS, and fewer than
    // BATCH_LINES of them), never a result of an earlier batch
    let fd: number | undefined
    let pending: Array<string> = []
    let written = Date.now()
    const flush = (): void => {
      written = Date.now()
      if (pending.length === 0) return
      fd ??= Fs.openSync(Path.join(dir, `${Crypto.randomUUID()}.journal`), 'a')
      const text = pending.join('')
      pending = []
      Fs.writeSync(fd, text)
    }
    return E.right({
      get: (id) => entries.get(id),
      put: (id, json) => {
        entries.set(id, json)
        if (pending.length === 0) queueMicrotask(flush)
        pending.push(`${id}\t${json}\n`)
        if (pending.length >= BATCH_LINES || Date.now() - written >= BATCH_MS) flush()
      },
      forget: (id) => {
        entries.delete(id)
      },
      close: () => {
        flush()
        if (fd !== undefined) Fs.closeSync(fd)
        fd = undefined
        return Promise.resolve()
      },
      size: () => entries.size,
    })
  } catch (cause) {
    return E.left(
      Errors.make('CacheError', 'ARV_CACHE', `cannot open the result cache in ${dir}`, { dir }, { cause, hint: 'check that the directory is writable, or run with --no-reuse' }),
    )
  }
}
