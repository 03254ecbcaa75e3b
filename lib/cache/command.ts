/**
 * `crunch cache`: look at and trim a cache directory (`--cache-dir`, default `.crunch`), which
 * holds `results/` (journals of results, see `result-cache.ts`) and `store/` (the collection
 * store, see `store.ts`).
 *
 * - `info`: sizes and counts (results, runs, discarded records, blocks, manifests, trees, temp).
 * - `prune --older-than <duration> | --keep-last <n>`: removes the results computed longer ago
 *   than the duration, and those of all but the `n` most recent runs; the same for the run
 *   files under `runs/` (what `crunch report` reads). Journals and run files still being
 *   written by a running process are left as they are.
 * - `gc [--grace <duration>]`: removes what nothing needs: temporary files of processes that
 *   are gone (failed outputs, crashed runs), collections that no cached result refers to and
 *   that were not stored within the grace period (default 1 day), with their trees, and blocks
 *   that no remaining collection uses and were not written within the grace period (a running
 *   ingest may not have saved its manifest yet).
 *
 * Each subcommand is a function of the directory returning data; `render` makes the text.
 *
 * @since 0.1.0
 */
import * as FsP from 'node:fs/promises'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Crypto from 'node:crypto'
import * as BlockPack from '../collections/block-pack.js'
import * as Manifest from '../collections/manifest.js'
import * as ManifestPack from '../collections/manifest-pack.js'
import * as Pdh from '../collections/pdh.js'
import * as SealedTree from '../collections/sealed-tree.js'
import * as ResultCache from '../dispatchers/result-cache.js'
import * as Errors from '../errors.js'
import * as Owner from './owner.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface Info {
  readonly dir: string
  readonly bytes: number
  readonly results: { readonly entries: number; readonly runs: number; readonly journals: number; readonly writing: number; readonly discarded: number; readonly bytes: number; readonly oldest?: number; readonly newest?: number }
  readonly store: { readonly blocks: number; readonly blockBytes: number; readonly manifests: number; readonly trees: number; readonly temporary: number; readonly temporaryBytes: number }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface PruneOptions {
  readonly olderThanMs?: number
  readonly keepLast?: number
  readonly now?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Pruned {
  readonly kept: number
  readonly removed: number
  /** journals left alone because a running process writes them */
  readonly writing: number
  /** run files (`runs/*.jsonl`, which `crunch report` reads) removed by the same rules, and those kept */
  readonly runFiles: { readonly removed: number; readonly kept: number }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Collected {
  readonly temporary: number
  readonly temporaryBytes: number
  readonly manifests: number
  readonly trees: number
  readonly blocks: number
  readonly blockBytes: number
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const cacheError = (message: string, dir: string, cause: unknown): Errors.SdkError =>
  Errors.make('CacheError', 'ARV_CACHE', message, { dir }, { cause, hint: 'check the path given to --cache-dir and its permissions' })

const usage = (message: string, hint = 'crunch cache info|prune|gc [--cache-dir <dir>]; see docs/concepts/reuse.md'): Errors.SdkError => Errors.make('UsageError', 'ARV_USAGE', message, {}, { hint })

const UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }

/**
 * A duration such as `90s`, `30m`, `12h`, `7d`, `2w` (a bare number is in days), in ms.
 *
 * @category utils
 * @since 0.1.0
 */
export const parseDuration = (text: string): number | undefined => {
  const m = /^(\d+(?:\.\d+)?)([smhdw]?)$/.exec(text.trim())
  if (m === null) return undefined
  return Number(m[1]) * (UNITS[m[2] === '' ? 'd' : m[2]!] ?? 0)
}

const sizeOf = async (p: string): Promise<number> => {
  const st = await FsP.lstat(p).catch(() => undefined)
  if (st === undefined) return 0
  if (!st.isDirectory()) return st.size
  let total = 0
  for (const name of await FsP.readdir(p).catch(() => [] as Array<string>)) total += await sizeOf(Path.join(p, name))
  return total
}

const names = (dir: string): Promise<Array<string>> => FsP.readdir(dir).catch(() => [] as Array<string>)

const blockFiles = async (store: string): Promise<Array<{ readonly hash: string; readonly file: string }>> => {
  const out: Array<{ hash: string; file: string }> = []
  for (const prefix of await names(Path.join(store, 'blocks'))) {
    for (const hash of await names(Path.join(store, 'blocks', prefix))) out.push({ hash, file: Path.join(store, 'blocks', prefix, hash) })
  }
  return out
}

/**
 * Merges the block packs of finished writers into one (written under `tmp/`, renamed, then the
 * merged ones deleted), keeping the blocks in `used` and those of packs written within the grace
 * period; a block whose bytes do not match its hash is not kept. Returns what was dropped.
 */
const mergeBlockPacks = async (store: string, used: ReadonlySet<string>, graceMs: number, now: number): Promise<{ readonly blocks: number; readonly bytes: number }> => {
  const packDir = Path.join(store, 'packs')
  const finished: Array<{ readonly file: string; readonly entries: ReadonlyArray<BlockPack.Entry>; readonly kept: ReadonlyArray<BlockPack.Entry> }> = []
  for (const name of (await names(packDir)).filter((n) => n.endsWith(BlockPack.SUFFIX))) {
    if (ManifestPack.mayBeWritten(name)) continue
    const file = Path.join(packDir, name)
    const st = await FsP.lstat(file).catch(() => undefined)
    if (st === undefined) continue
    const recent = now - st.mtimeMs <= graceMs
    const handle = await FsP.open(file, 'r')
    try {
      const { entries } = BlockPack.walk(handle.fd, file, 0, (await handle.stat()).size)
      finished.push({ file, entries, kept: entries.filter((e) => recent || used.has(e.hash)) })
    } finally {
      await handle.close()
    }
  }
  if (finished.length <= 1 && finished.every((f) => f.kept.length === f.entries.length)) return { blocks: 0, bytes: 0 }
  const keep = new Map<string, BlockPack.Entry>()
  for (const f of finished) for (const e of f.kept) keep.set(e.hash, e)
  const writer = BlockPack.writer(Path.join(store, 'tmp'), Owner.tag(Owner.self()))
  let written: string | undefined
  const kept = new Set<string>()
  for (const e of keep.values()) {
    const bytes = Buffer.allocUnsafe(e.location.size)
    const handle = await FsP.open(e.location.file, 'r')
    try {
      await handle.read(bytes, 0, e.location.size, e.location.offset)
    } finally {
      await handle.close()
    }
    if (Pdh.md5(bytes) !== e.hash) continue
    written = writer.append(e.hash, bytes).file
    kept.add(e.hash)
  }
  // written under tmp/ (tagged with this process), moved in whole
  if (written !== undefined) await FsP.rename(written, Path.join(packDir, `${Crypto.randomUUID()}${BlockPack.SUFFIX}`))
  for (const f of finished) await FsP.rm(f.file, { force: true })
  let blocks = 0
  let bytes = 0
  const counted = new Set<string>()
  for (const f of finished) {
    for (const e of f.entries) {
      if (kept.has(e.hash) || counted.has(e.hash)) continue
      counted.add(e.hash)
      blocks++
      bytes += e.location.size
    }
  }
  return { blocks, bytes }
}

const PDH_IN_TEXT = /[0-9a-f]{32}\+[0-9]+/g

/** the writer of a temporary name is gone (or, untagged, it is older than the grace period) */
const abandoned = async (file: string, name: string, graceMs: number, now: number): Promise<boolean> => {
  const owner = Owner.parse(name)
  if (owner !== undefined) return !Owner.mayBeAlive(owner)
  const st = await FsP.lstat(file).catch(() => undefined)
  return st !== undefined && now - st.mtimeMs > graceMs
}

const readJournals = (dir: string): ReadonlyArray<ResultCache.Journal> => {
  try {
    return ResultCache.readAll(dir)
  } catch (cause) {
    if ((cause as { code?: unknown }).code === 'ENOENT') return []
    throw cause
  }
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * What the cache directory holds.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const info = async (dir: string): Promise<E.Either<Errors.SdkError, Info>> => {
  try {
    const results = Path.join(dir, 'results')
    const store = Path.join(dir, 'store')
    const journals = readJournals(results)
    const latest = new Map<string, number>()
    for (const j of journals) for (const e of j.entries) latest.set(e.id, e.stamp)
    const stamps = [...latest.values()]
    const blocks = await blockFiles(store)
    let blockBytes = 0
    for (const b of blocks) blockBytes += (await FsP.lstat(b.file).catch(() => undefined))?.size ?? 0
    const packed = BlockPack.readAll(Path.join(store, 'packs'))
    for (const e of packed) blockBytes += e.location.size
    const tmp = await names(Path.join(store, 'tmp'))
    return E.right({
      dir,
      bytes: await sizeOf(dir),
      results: {
        entries: latest.size,
        runs: new Set(stamps).size,
        journals: journals.length,
        writing: journals.filter((j) => j.live).length,
        discarded: journals.reduce((n, j) => n + j.discarded, 0),
        bytes: await sizeOf(results),
        ...(stamps.length === 0 ? {} : { oldest: Math.min(...stamps), newest: Math.max(...stamps) }),
      },
      store: {
        blocks: new Set([...blocks.map((b) => b.hash), ...packed.map((e) => e.hash)]).size,
        blockBytes,
        manifests: new Set([...(await names(Path.join(store, 'manifests'))), ...ManifestPack.readAll(Path.join(store, 'packs')).map((r) => r.pdh)]).size,
        trees: (await names(Path.join(store, 'trees'))).length,
        temporary: tmp.length,
        temporaryBytes: await sizeOf(Path.join(store, 'tmp')),
      },
    })
  } catch (cause) {
    return E.left(cacheError(`cannot read the cache in ${dir}`, dir, cause))
  }
}

/**
 * Whether a run file is finished: its last line is the `end` record (a running `crunch run`
 * has not written it yet). Reads backwards from the end only as far as that line's start.
 */
const isFinishedRun = async (file: string): Promise<boolean> => {
  const fd = await FsP.open(file, 'r')
  try {
    const size = (await fd.stat()).size
    const chunk = Buffer.alloc(64 * 1024)
    // the newline before the last line (the file ends with one)
    for (let end = size - 1; end > 0; ) {
      const from = Math.max(0, end - chunk.length)
      const { bytesRead } = await fd.read(chunk, 0, end - from, from)
      const at = chunk.subarray(0, bytesRead).lastIndexOf(0x0a)
      if (at >= 0 || from === 0) {
        const start = at >= 0 ? from + at + 1 : 0
        const head = Buffer.alloc(14)
        await fd.read(head, 0, head.length, start)
        return head.toString('utf8') === '{"type":"end",'
      }
      end = from
    }
    return false
  } finally {
    await fd.close()
  }
}

/** a run file without its end record that has not changed for this long belongs to a run that crashed */
const RUN_FILE_STALE_MS = 86_400_000

/** Removes the finished (or crashed) run files older than `olderThanMs` (by modification time) or beyond the newest `keepLast`. */
const pruneRunFiles = async (runs: string, options: PruneOptions, now: number): Promise<{ readonly removed: number; readonly kept: number }> => {
  const files: Array<{ readonly file: string; readonly mtime: number }> = []
  for (const n of await names(runs)) {
    if (!n.endsWith('.jsonl')) continue
    const file = Path.join(runs, n)
    files.push({ file, mtime: (await FsP.stat(file)).mtimeMs })
  }
  files.sort((a, b) => b.mtime - a.mtime)
  let removed = 0
  for (const [i, f] of files.entries()) {
    const old = (options.olderThanMs !== undefined && now - f.mtime > options.olderThanMs) || (options.keepLast !== undefined && i >= options.keepLast)
    // one without its end record is being written, unless it has not changed for a day (its run crashed)
    if (!old || (now - f.mtime < RUN_FILE_STALE_MS && !(await isFinishedRun(f.file)))) continue
    await FsP.rm(f.file, { force: true })
    removed++
  }
  return { removed, kept: files.length - removed }
}

/**
 * Removes results by age and by run, and the run files (`runs/`) by the same rules. Journals
 * and run files being written are left alone. Journals being written are left alone.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const prune = async (dir: string, options: PruneOptions): Promise<E.Either<Errors.SdkError, Pruned>> => {
  const now = options.now ?? Date.now()
  try {
    const results = Path.join(dir, 'results')
    const journals = readJournals(results)
    const stamps = [...new Set(journals.flatMap((j) => j.entries.map((e) => e.stamp)))].sort((a, b) => b - a)
    const lastRuns = options.keepLast === undefined ? undefined : new Set(stamps.slice(0, options.keepLast))
    const keep = (e: ResultCache.Entry): boolean => (options.olderThanMs === undefined || now - e.stamp <= options.olderThanMs) && (lastRuns === undefined || lastRuns.has(e.stamp))
    const finished = journals.filter((j) => !j.live)
    const latest = new Map<string, ResultCache.Entry>()
    for (const j of finished) for (const e of j.entries) latest.set(e.id, e)
    const kept = [...latest.values()].filter(keep)
    if (finished.length > 0) ResultCache.replace(results, finished, kept)
    const runFiles = await pruneRunFiles(Path.join(dir, 'runs'), options, now)
    return E.right({ kept: kept.length, removed: latest.size - kept.length, writing: journals.length - finished.length, runFiles })
  } catch (cause) {
    return E.left(cacheError(`cannot prune the results in ${dir}`, dir, cause))
  }
}

/**
 * Removes what nothing needs (see the module comment).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const gc = async (dir: string, options: { readonly graceMs?: number; readonly now?: number } = {}): Promise<E.Either<Errors.SdkError, Collected>> => {
  const now = options.now ?? Date.now()
  const graceMs = options.graceMs ?? 86_400_000
  const store = Path.join(dir, 'store')
  const results = Path.join(dir, 'results')
  try {
    // 1. temporary files and directories of processes that are gone
    let temporary = 0
    let temporaryBytes = 0
    for (const [where, name] of [...(await names(Path.join(store, 'tmp'))).map((n) => [Path.join(store, 'tmp'), n] as const), ...(await names(results)).filter((n) => n.startsWith('tmp-')).map((n) => [results, n] as const)]) {
      const file = Path.join(where, name)
      if (!(await abandoned(file, name, graceMs, now))) continue
      temporaryBytes += await sizeOf(file)
      await SealedTree.remove(file)
      temporary++
    }
    // 2. collections no result refers to, not stored lately, and their trees
    const referenced = new Set<string>()
    for (const j of readJournals(results)) for (const e of j.entries) for (const m of e.json.matchAll(PDH_IN_TEXT)) referenced.add(m[0])
    let manifests = 0
    const usedBlocks = new Set<string>()
    for (const pdh of await names(Path.join(store, 'manifests'))) {
      const file = Path.join(store, 'manifests', pdh)
      const st = await FsP.lstat(file).catch(() => undefined)
      if (st === undefined) continue
      const text = await FsP.readFile(file, 'utf8').catch(() => undefined)
      const parsed = text === undefined || Pdh.of(text) !== pdh ? undefined : Manifest.parse(text)
      const keep = referenced.has(pdh) || now - st.mtimeMs <= graceMs
      if (keep && parsed !== undefined && E.isRight(parsed)) {
        for (const s of parsed.right.streams) for (const l of s.locators) usedBlocks.add(l.hash)
        continue
      }
      if (keep && parsed === undefined) continue // being written, or damaged: not ours to judge
      await FsP.rm(file, { force: true })
      manifests++
    }
    // the same for manifests in packs; the packs whose writers are gone are merged into one
    // without them (written to a temporary file and renamed before they are deleted)
    const packDir = Path.join(store, 'packs')
    const remaining = new Set(await names(Path.join(store, 'manifests')))
    const finished: Array<{ readonly file: string; readonly records: ReadonlyArray<ManifestPack.Record>; readonly kept: ReadonlyArray<ManifestPack.Record> }> = []
    for (const name of (await names(packDir)).filter((n) => n.endsWith(ManifestPack.SUFFIX))) {
      const file = Path.join(packDir, name)
      const st = await FsP.lstat(file).catch(() => undefined)
      if (st === undefined) continue
      const records = ManifestPack.parse(await FsP.readFile(file), file).records
      const live = ManifestPack.mayBeWritten(name)
      const kept = records.filter((r) => live || referenced.has(r.pdh) || now - st.mtimeMs <= graceMs)
      for (const r of kept) {
        remaining.add(r.pdh)
        const parsed = Manifest.parse(r.text)
        if (E.isRight(parsed)) for (const s of parsed.right.streams) for (const l of s.locators) usedBlocks.add(l.hash)
      }
      if (!live) finished.push({ file, records, kept })
    }
    if (finished.length > 1 || finished.some((f) => f.kept.length < f.records.length)) {
      const kept = new Map<string, ManifestPack.Record>()
      for (const f of finished) for (const r of f.kept) kept.set(r.pdh, r)
      if (kept.size > 0) {
        const tmp = Path.join(store, 'tmp', `pack-${Owner.tag(Owner.self())}-${Crypto.randomUUID()}`)
        await FsP.writeFile(tmp, Buffer.concat([...kept.values()].map((r) => ManifestPack.record(r.pdh, r.text))), { mode: 0o600 })
        await FsP.rename(tmp, Path.join(packDir, `${Crypto.randomUUID()}${ManifestPack.SUFFIX}`))
      }
      for (const f of finished) await FsP.rm(f.file, { force: true })
      const dropped = new Set(finished.flatMap((f) => f.records.map((r) => r.pdh)).filter((pdh) => !kept.has(pdh)))
      manifests += dropped.size
    }
    let trees = 0
    for (const name of await names(Path.join(store, 'trees'))) {
      if (remaining.has(name)) continue
      await SealedTree.remove(Path.join(store, 'trees', name))
      trees++
    }
    // 3. blocks no remaining collection uses, not written lately
    let blocks = 0
    let blockBytes = 0
    for (const b of await blockFiles(store)) {
      if (usedBlocks.has(b.hash)) continue
      const st = await FsP.lstat(b.file).catch(() => undefined)
      if (st === undefined || now - st.mtimeMs <= graceMs) continue
      await FsP.rm(b.file, { force: true })
      blocks++
      blockBytes += st.size
    }
    // the same for blocks in packs: the packs whose writers are gone are merged into one without
    // the blocks no remaining collection uses (unless written lately); each kept block is checked
    const dropped = await mergeBlockPacks(store, usedBlocks, graceMs, now)
    blocks += dropped.blocks
    blockBytes += dropped.bytes
    return E.right({ temporary, temporaryBytes, manifests, trees, blocks, blockBytes })
  } catch (cause) {
    return E.left(cacheError(`cannot collect garbage in ${dir}`, dir, cause))
  }
}

// -------------------------------------------------------------------------------------
// rendering
// -------------------------------------------------------------------------------------

/**
 * A byte count for people: `0 B`, `1.5 KiB`, `121.0 MiB`.
 *
 * @category rendering
 * @since 0.1.0
 */
export const bytes = (n: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let u = 0
  let v = n
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`
}

const day = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')

/**
 * @category rendering
 * @since 0.1.0
 */
export const renderInfo = (i: Info): string =>
  [
    `cache ${i.dir}: ${bytes(i.bytes)}`,
    `results: ${i.results.entries} in ${i.results.journals} journal(s) (${i.results.writing} being written), ${i.results.runs} run(s), ${bytes(i.results.bytes)}${i.results.oldest === undefined ? '' : `, computed ${day(i.results.oldest)} to ${day(i.results.newest ?? i.results.oldest)}`}`,
    `discarded records: ${i.results.discarded}`,
    `store: ${i.store.blocks} block(s) (${bytes(i.store.blockBytes)}), ${i.store.manifests} collection(s), ${i.store.trees} tree(s) on disk`,
    `temporary: ${i.store.temporary} (${bytes(i.store.temporaryBytes)})`,
    '',
  ].join('\n')

/**
 * @category rendering
 * @since 0.1.0
 */
export const renderPruned = (p: Pruned): string =>
  `pruned: ${p.removed} result(s) removed, ${p.kept} kept${p.writing === 0 ? '' : `; ${p.writing} journal(s) being written were left alone`}; ${p.runFiles.removed} run file(s) removed, ${p.runFiles.kept} kept\n`

/**
 * @category rendering
 * @since 0.1.0
 */
export const renderCollected = (c: Collected): string =>
  `gc: removed ${c.temporary} temporary item(s) (${bytes(c.temporaryBytes)}), ${c.manifests} collection(s), ${c.trees} tree(s), ${c.blocks} block(s) (${bytes(c.blockBytes)})\n`

// -------------------------------------------------------------------------------------
// command line
// -------------------------------------------------------------------------------------

/**
 * `crunch cache <info|prune|gc> [--cache-dir <dir>] [--json] ...`: the text to print.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const main = async (argv: ReadonlyArray<string>, cwd: string): Promise<E.Either<Errors.SdkError, string>> => {
  const [sub, ...rest] = argv
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') return E.right(help)
  const flags = new Map<string, string | true>()
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!
    if (!a.startsWith('--')) return E.left(usage(`crunch cache ${sub}: unexpected argument "${a}"`))
    const eq = a.indexOf('=')
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq)
    if (name === 'json') flags.set(name, true)
    else if (eq >= 0) flags.set(name, a.slice(eq + 1))
    else if (rest[i + 1] === undefined) return E.left(usage(`crunch cache ${sub}: --${name} needs a value`))
    else flags.set(name, rest[++i]!)
  }
  const allowed: Readonly<Record<string, ReadonlyArray<string>>> = { info: ['cache-dir', 'json'], prune: ['cache-dir', 'json', 'older-than', 'keep-last'], gc: ['cache-dir', 'json', 'grace'] }
  const known = allowed[sub]
  if (known === undefined) return E.left(usage(`unknown cache command "${sub}"`, 'cache commands: info, prune, gc'))
  for (const k of flags.keys()) if (!known.includes(k)) return E.left(usage(`crunch cache ${sub} has no option --${k}`, `its options: ${known.map((o) => `--${o}`).join(', ')}`))
  const text = (k: string): string | undefined => {
    const v = flags.get(k)
    return typeof v === 'string' ? v : undefined
  }
  const dir = Path.resolve(cwd, text('cache-dir') ?? '.crunch')
  const json = flags.has('json')
  const out = <A>(r: E.Either<Errors.SdkError, A>, render: (a: A) => string): E.Either<Errors.SdkError, string> =>
    E.map((a: A) => (json ? `${JSON.stringify(a)}\n` : render(a)))(r)
  const duration = (k: string): E.Either<Errors.SdkError, number | undefined> => {
    const v = text(k)
    if (v === undefined) return E.right(undefined)
    const ms = parseDuration(v)
    return ms === undefined ? E.left(usage(`--${k} ${v} is not a duration`, 'write it as 90s, 30m, 12h, 7d or 2w')) : E.right(ms)
  }
  const owner = (await FsP.stat(dir).catch(() => undefined))?.uid
  const uid = Os.userInfo().uid
  if (owner !== undefined && uid >= 0 && owner !== uid && sub !== 'info') {
    return E.left(Errors.make('CacheError', 'ARV_STORE_NOT_OWNED', `the cache ${dir} belongs to another user (uid ${owner})`, { dir }, { hint: 'only its owner may prune it or collect its garbage' }))
  }
  switch (sub) {
    case 'info':
      return out(await info(dir), renderInfo)
    case 'prune': {
      const olderThan = duration('older-than')
      if (E.isLeft(olderThan)) return olderThan
      const keepText = text('keep-last')
      const keepLast = keepText === undefined ? undefined : Number(keepText)
      if (keepLast !== undefined && !(Number.isSafeInteger(keepLast) && keepLast >= 0)) return E.left(usage(`--keep-last ${keepText} is not a count of runs`))
      if (olderThan.right === undefined && keepLast === undefined) return E.left(usage('crunch cache prune needs --older-than <duration> or --keep-last <runs>'))
      return out(await prune(dir, { ...(olderThan.right === undefined ? {} : { olderThanMs: olderThan.right }), ...(keepLast === undefined ? {} : { keepLast }) }), renderPruned)
    }
    default: {
      const grace = duration('grace')
      if (E.isLeft(grace)) return grace
      return out(await gc(dir, grace.right === undefined ? {} : { graceMs: grace.right }), renderCollected)
    }
  }
}

const help = `Usage: crunch cache <command> [--cache-dir <dir>] [--json]

Commands (the cache directory is .crunch unless --cache-dir says otherwise):
  crunch cache info                               sizes and counts: results, runs, discarded records, blocks, collections, temporary files
  crunch cache prune --older-than <d> | --keep-last <n>
                                                  remove results computed longer ago than <d> (90s, 30m, 12h, 7d, 2w),
                                                  and those of all but the <n> most recent runs
  crunch cache gc [--grace <d>]                   remove temporary files of finished processes, collections no result
                                                  refers to and not stored within <d> (default 1d), and unused blocks
`
