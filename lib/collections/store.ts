/**
 * The local content-addressed store used by the local dispatcher. Layout under its directory
 * (created with mode 0700; a directory another user owns is refused): `blocks/<md5[0:3]>/<md5>`
 * (blocks of at most 64 MiB), `manifests/<pdh>` (normalized manifest text, for manifests over
 * 64 KiB), `packs/*.manifests` (smaller manifests, appended to one file per writing process: see
 * `manifest-pack.ts`), `packs/*.blocks` (the blocks of in-memory files, appended to one file per
 * writing thread: see `block-pack.ts`), `trees/<pdh>/` (a collection's files on disk, sealed: see
 * `sealed-tree.ts`), `tmp/` (names tagged with their writer: see `lib/cache/owner.ts`).
 *
 * Every block and manifest file goes to a unique temporary file first and is renamed into
 * place, so a crash never leaves a partial block under a valid name and two processes ingesting
 * the same data at once both succeed (the later rename replaces identical bytes); a pack record
 * verifies itself (a manifest's PDH is the md5 of its text, a block's name the md5 of its
 * bytes), and a torn one (crash) is never indexed. Ingest streams each small file through md5
 * and into its block file with a few fixed 4 MiB buffers; the blocks of large files are stored
 * by worker threads, several at once (`block-pool.ts`): memory stays bounded whatever the file
 * size. In-memory files (`ctx.output.fromFiles`) become blocks directly, without a file or a
 * tree, appended to block packs rather than one file each (a file creation can cost more than
 * writing a MiB): blocks of 256 KiB or more are hashed and appended by block workers that live
 * as long as the store, the others here, with synchronous calls (cheaper than the thread pool
 * for a few KiB). Every block read is checked (size and md5) before any byte is returned; a corrupted
 * block is moved out of the way (a pack record is marked removed) and reported. Loading a collection checks that each of its
 * blocks is there (one `stat` per block this process has not written or checked yet), so a
 * cached result whose blocks are gone is recomputed rather than failing later. Manifests are
 * the normalized form Arvados writes, with one file per run of blocks (small files are not
 * packed together); those this process saved or loaded are remembered (up to 4,096).
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as FsP from 'node:fs/promises'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Owner from '../cache/owner.js'
import * as Errors from '../errors.js'
import * as Locator from '../keep/locator.js'
import * as BlockPack from './block-pack.js'
import * as BlockPool from './block-pool.js'
import * as Collection from './collection.js'
import * as Manifest from './manifest.js'
import * as ManifestPack from './manifest-pack.js'
import * as Materialize from './materialize.js'
import * as PathSafety from './path-safety.js'
import * as Pdh from './pdh.js'
import * as SealedTree from './sealed-tree.js'
import * as Tree from './tree.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export type StoreError = Errors.SdkError & { readonly _tag: 'StoreError'; readonly root: string }

/**
 * @category models
 * @since 0.1.0
 */
export interface Store {
  readonly root: string
  /** verified block reads (what collections of this store carry) */
  readonly source: Collection.BlockSource
  readonly readBlock: (locator: Locator.Locator, signal?: AbortSignal) => Promise<E.Either<StoreError, Uint8Array>>
  readonly putBlock: (bytes: Uint8Array) => Promise<E.Either<StoreError, Locator.Locator>>
  /**
   * Stores every file under `dir` (streamed) and the normalized manifest. With `adopt`, a
   * directory holding only regular files and directories is moved to `trees/<pdh>` and becomes
   * the collection's `mountPath` (no copy).
   */
  readonly ingestDirectory: (dir: string, options?: { readonly adopt?: boolean; readonly signal?: AbortSignal }) => Promise<E.Either<Errors.SdkError, Collection.Collection>>
  /** Stores in-memory files (`relative/path` → contents). */
  readonly ingestFiles: (files: Readonly<Record<string, string | Uint8Array>>) => Promise<E.Either<Errors.SdkError, Collection.Collection>>
  /** Stores manifest text (normalized first) whose blocks are in this store. */
  readonly saveManifest: (manifestText: string) => Promise<E.Either<Errors.SdkError, Collection.Collection>>
  /** The collection stored under a portable data hash. */
  readonly load: (pdh: string) => Promise<E.Either<Errors.SdkError, Collection.Collection>>
  /**
   * The collection with `mountPath` set to its files on disk: a sealed tree (see
   * `sealed-tree.ts`), checked first (the file `only`, or all of them) and written again from
   * the blocks when it was altered.
   */
  readonly mount: (c: Collection.Collection, signal?: AbortSignal, only?: string) => Promise<E.Either<Errors.SdkError, Collection.Collection>>
  /** A fresh empty directory under `tmp/`. */
  readonly tempDirectory: (label: string) => Promise<E.Either<StoreError, string>>
  /** Stops the block workers of in-memory files (started again if the store is used again). */
  readonly close: () => Promise<void>
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

const CHUNK = 4 << 20
/** A file at least this large starts the block workers (their start costs about what md5 of 16 MiB does). */
const POOL_MIN = 16 << 20
/** In-memory file contents at least this large are hashed and written by a block worker. */
const BYTES_POOL_MIN = 256 << 10
/** Contents up to this size are written with synchronous calls. */
const SYNC_WRITE_MAX = 64 << 10
/** How many manifests a store remembers (saved or loaded by this process). */
const KNOWN_MANIFESTS = 4096

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const isCode = (cause: unknown, ...codes: ReadonlyArray<string>): boolean =>
  typeof cause === 'object' && cause !== null && codes.includes(String((cause as { code?: unknown }).code))

/**
 * The store used when no cache directory is given: per user, `$XDG_CACHE_HOME/arvados-crunch/store`
 * or `~/.cache/arvados-crunch/store` (created with mode 0700). Never a shared temp directory.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultDir = (env: Readonly<Record<string, string | undefined>>, home: string = Os.homedir()): string => {
  const xdg = env['XDG_CACHE_HOME']
  // the XDG spec: a relative path is invalid and ignored
  const base = xdg !== undefined && Path.isAbsolute(xdg) ? xdg : Path.join(env['HOME'] !== undefined && Path.isAbsolute(env['HOME']) ? env['HOME'] : home, '.cache')
  return Path.join(base, 'arvados-crunch', 'store')
}

/**
 * The uid of this process (undefined where there are none).
 */
const myUid = (): number | undefined => {
  const uid = Os.userInfo().uid
  return uid < 0 ? undefined : uid
}

/**
 * Opens (creating on first use) the store under `dir`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (dir: string): Store => {
  const root = Path.resolve(dir)
  const fail = (code: string, message: string, hint?: string, cause?: unknown): StoreError =>
    Errors.make('StoreError', code, message, { root }, { ...(hint === undefined ? {} : { hint }), ...(cause === undefined ? {} : { cause }) })
  const blockPath = (hash: string): string => Path.join(root, 'blocks', hash.slice(0, 3), hash)
  const ownerTag = Owner.tag(Owner.self())
  // temporary names carry their writer (`crunch cache gc` removes only those of finished processes)
  const tmpName = (label: string): string => Path.join(root, 'tmp', `${label}-${ownerTag}-${Crypto.randomBytes(12).toString('hex')}`)
  /** blocks known to be in the store: written, or checked, by this process */
  const present = new Set<string>()

  // the store's directories, made once (mode 0700); a store another user owns is refused
  let prepared: Promise<E.Either<StoreError, void>> | undefined
  const prepare = (): Promise<E.Either<StoreError, void>> =>
    (prepared ??= (async (): Promise<E.Either<StoreError, void>> => {
      try {
        await FsP.mkdir(root, { recursive: true, mode: 0o700 })
        const uid = myUid()
        const owner = (await FsP.stat(root)).uid
        if (uid !== undefined && owner !== uid) {
          return E.left(
            fail('ARV_STORE_NOT_OWNED', `the store ${root} belongs to another user (uid ${owner}; this process runs as uid ${uid}), so its contents cannot be trusted`, 'use a store of your own: pass another --cache-dir (or unset it to use ~/.cache/arvados-crunch), or have the owner remove the directory'),
          )
        }
        for (const d of ['tmp', 'manifests', 'packs', 'trees', 'blocks']) await FsP.mkdir(Path.join(root, d), { recursive: true, mode: 0o700 })
        return E.right(undefined)
      } catch (cause) {
        prepared = undefined
        return E.left(fail('ARV_STORE_IO', `cannot create the store ${root}`, 'check that the directory is writable', cause))
      }
    })())

  /** block prefix directories known to exist */
  const prefixes = new Set<string>()
  /** Moves a finished temporary file to its content name (identical bytes may already be there). */
  const publish = async (tmp: string, final: string): Promise<void> => {
    const dir = Path.dirname(final)
    if (!prefixes.has(dir)) {
      await FsP.mkdir(dir, { recursive: true })
      prefixes.add(dir)
    }
    await FsP.rename(tmp, final)
  }
  /**
   * Writes `bytes` under a temporary name, then renames it to `final`. Small contents are
   * written with synchronous calls: for a few KiB, three system calls cost less than the
   * promises and thread-pool round trips of the asynchronous ones (and hold the thread for
   * microseconds).
   */
  const writeAs = async (label: string, bytes: Uint8Array | string, final: string): Promise<void> => {
    const tmp = tmpName(label)
    if (bytes.length > SYNC_WRITE_MAX) {
      await FsP.writeFile(tmp, bytes, { flag: 'wx' })
      return publish(tmp, final)
    }
    Fs.writeFileSync(tmp, bytes, { flag: 'wx' })
    const dir = Path.dirname(final)
    if (!prefixes.has(dir)) {
      Fs.mkdirSync(dir, { recursive: true })
      prefixes.add(dir)
    }
    Fs.renameSync(tmp, final)
  }

  const packs = ManifestPack.make(Path.join(root, 'packs'), ownerTag)
  /** blocks appended to packs by the block workers (`block-pack.ts`) */
  const blockPacks = BlockPack.index(Path.join(root, 'packs'))
  /** this thread's pack, for blocks of in-memory files too small for a block worker */
  const smallBlocks = BlockPack.writer(Path.join(root, 'packs'), ownerTag)
  const packedHere = new Set<string>()
  /** manifests this process saved or loaded (checked then), newest last: loading them again reads nothing */
  const known = new Map<string, { readonly text: string; readonly tree: Tree.Directory }>()
  const remember = (pdh: string, text: string, tree: Tree.Directory): void => {
    known.delete(pdh)
    known.set(pdh, { text, tree })
    if (known.size > KNOWN_MANIFESTS) known.delete(known.keys().next().value!)
  }

  // in-memory bytes (ctx.output.fromFiles): blocks of at least BYTES_POOL_MIN are hashed and
  // written by block workers that stay for the life of the store (idle, they do not keep the
  // process alive); smaller ones here
  let bytesPool: BlockPool.Pool | undefined
  const storeBytes = async (bytes: Uint8Array): Promise<Locator.Locator> => {
    if (bytes.length === 0) return Locator.EMPTY_BLOCK
    if (bytes.length < BYTES_POOL_MIN) {
      const hash = Pdh.md5(bytes)
      // a block this store already packed is not packed again
      if (!packedHere.has(hash)) {
        blockPacks.add(hash, smallBlocks.append(hash, bytes))
        packedHere.add(hash)
        present.add(hash)
      }
      return Locator.of(hash, bytes.length)
    }
    bytesPool ??= BlockPool.make(root, ownerTag)
    const o = await bytesPool.run({ bytes })
    if (o._tag !== 'Packed') throw new Error('a block worker did not store the bytes')
    blockPacks.add(o.hash, o)
    present.add(o.hash)
    return Locator.of(o.hash, o.size)
  }

  /** The bytes of a block: from its pack record, or its file (the packs are looked at again when neither is known). */
  const blockBytes = async (hash: string, signal?: AbortSignal): Promise<{ readonly bytes: Buffer; readonly packed?: BlockPack.Location }> => {
    const fromPack = async (l: BlockPack.Location): Promise<{ readonly bytes: Buffer; readonly packed: BlockPack.Location }> => {
      signal?.throwIfAborted()
      const handle = await FsP.open(l.file, 'r')
      try {
        const bytes = Buffer.allocUnsafe(l.size)
        let got = 0
        while (got < l.size) {
          const { bytesRead } = await handle.read(bytes, got, l.size - got, l.offset + got)
          if (bytesRead === 0) break
          got += bytesRead
        }
        return { bytes: bytes.subarray(0, got), packed: l }
      } finally {
        await handle.close()
      }
    }
    const known = blockPacks.find(hash)
    if (known !== undefined) {
      try {
        return await fromPack(known)
      } catch (cause) {
        if (!isCode(cause, 'ENOENT')) throw cause // the pack was merged away: looked for below
      }
    }
    try {
      return { bytes: await FsP.readFile(blockPath(hash), signal === undefined ? {} : { signal }) }
    } catch (cause) {
      const found = isCode(cause, 'ENOENT') ? blockPacks.lookup(hash, known) : undefined
      if (found === undefined || found === known) throw cause
      return fromPack(found)
    }
  }

  const readBlock = async (locator: Locator.Locator, signal?: AbortSignal): Promise<E.Either<StoreError, Uint8Array>> => {
    if (Locator.isEmptyBlock(locator)) return E.right(new Uint8Array(0))
    const ok = await prepare()
    if (E.isLeft(ok)) return ok
    let bytes: Buffer
    let packed: BlockPack.Location | undefined
    try {
      ;({ bytes, packed } = await blockBytes(locator.hash, signal))
    } catch (cause) {
      if (isCode(cause, 'ENOENT')) return E.left(fail('ARV_STORE_MISSING_BLOCK', `block ${Locator.key(locator)} is not in the local store ${root}`, 'the collection was made elsewhere; ingest its files into this store first', cause))
      return E.left(fail('ARV_STORE_IO', `cannot read block ${Locator.key(locator)} from ${root}`, undefined, cause))
    }
    if (bytes.length !== locator.size || Pdh.md5(bytes) !== locator.hash) {
      // removed, so that the next run finds it missing and recomputes what needs it
      present.delete(locator.hash)
      if (packed !== undefined) blockPacks.drop(locator.hash, packed)
      else await FsP.rename(blockPath(locator.hash), tmpName('corrupt')).catch(() => undefined)
      return E.left(
        fail('ARV_STORE_CORRUPT_BLOCK', `block ${Locator.key(locator)} in ${root} is corrupted (${bytes.length} bytes with md5 ${Pdh.md5(bytes)}); it was moved to ${Path.join(root, 'tmp')}`, 'run again: the calls whose cached results need this block are recomputed'),
      )
    }
    return E.right(bytes)
  }
  const source: Collection.BlockSource = { readBlock }

  const putBlock = async (bytes: Uint8Array): Promise<E.Either<StoreError, Locator.Locator>> => {
    if (bytes.length > Locator.MAX_BLOCK_SIZE) return E.left(fail('ARV_STORE_BLOCK_TOO_LARGE', `a block of ${bytes.length} bytes is larger than ${Locator.MAX_BLOCK_SIZE}`))
    const hash = Pdh.md5(bytes)
    if (bytes.length === 0) return E.right(Locator.EMPTY_BLOCK)
    const ok = await prepare()
    if (E.isLeft(ok)) return ok
    try {
      await writeAs('block', bytes, blockPath(hash))
      present.add(hash)
    } catch (cause) {
      return E.left(fail('ARV_STORE_IO', `cannot write block ${hash}+${bytes.length} to ${root}`, undefined, cause))
    }
    return E.right(Locator.of(hash, bytes.length))
  }

  /** Streams an open file into blocks (closing it); returns their locators. Three rotating buffers overlap read, md5 and write. */
  const streamFile = async (input: FsP.FileHandle, signal?: AbortSignal): Promise<ReadonlyArray<Locator.Locator>> => {
    const locators: Array<Locator.Locator> = []
    const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)]
    try {
      let block: { handle: FsP.FileHandle; tmp: string; hash: Crypto.Hash; size: number } | undefined
      let pendingWrite: Promise<unknown> = Promise.resolve()
      const finish = async (): Promise<void> => {
        if (block === undefined) return
        await pendingWrite
        await block.handle.close()
        const hash = block.hash.digest('hex')
        await publish(block.tmp, blockPath(hash))
        present.add(hash)
        locators.push(Locator.of(hash, block.size))
        block = undefined
      }
      let k = 0
      let current = await input.read(buffers[0] ?? Buffer.alloc(0), 0, CHUNK, null)
      while (current.bytesRead > 0) {
        if (signal?.aborted === true) throw new Error('aborted')
        const buf = buffers[k % 3] ?? Buffer.alloc(0)
        const next = input.read(buffers[(k + 1) % 3] ?? Buffer.alloc(0), 0, CHUNK, null)
        let offset = 0
        while (offset < current.bytesRead) {
          if (block === undefined) {
            const tmp = tmpName('block')
            block = { handle: await FsP.open(tmp, 'w'), tmp, hash: Crypto.createHash('md5'), size: 0 }
          }
          const take = Math.min(current.bytesRead - offset, Locator.MAX_BLOCK_SIZE - block.size)
          const piece = buf.subarray(offset, offset + take)
          block.hash.update(piece)
          const handle = block.handle
          await pendingWrite
          pendingWrite = handle.write(piece)
          block.size += take
          offset += take
          if (block.size === Locator.MAX_BLOCK_SIZE) await finish()
        }
        current = await next
        k++
      }
      await finish()
    } catch (cause) {
      await input.close().catch(() => undefined)
      throw cause
    }
    await input.close()
    return locators
  }

  /** A file's blocks stored by the block workers, all at once; streamed again if the file changed meanwhile. */
  const storeInParallel = async (file: string, size: number, pool: BlockPool.Pool, signal?: AbortSignal): Promise<ReadonlyArray<Locator.Locator>> => {
    const jobs: Array<Promise<BlockPool.Outcome>> = []
    for (let offset = 0; offset < size; offset += Locator.MAX_BLOCK_SIZE) {
      jobs.push(pool.run({ file, offset, length: Math.min(Locator.MAX_BLOCK_SIZE, size - offset), last: offset + Locator.MAX_BLOCK_SIZE >= size }, signal))
    }
    const outcomes = await Promise.all(jobs)
    const locators: Array<Locator.Locator> = []
    for (const o of outcomes) {
      if (o._tag === 'Changed') return streamFile(await FsP.open(file, 'r'), signal)
      present.add(o.hash)
      locators.push(Locator.of(o.hash, o.size))
    }
    return locators
  }

  /**
   * Starts storing one file. Small files are streamed here (and done when this resolves); a
   * large one (or any of at least one chunk once the workers run) goes to the block workers
   * and its `locators` settle later, so that several files are stored at once.
   */
  const ingestFile = async (file: string, pool: BlockPool.Pool, signal?: AbortSignal): Promise<{ readonly locators: Promise<ReadonlyArray<Locator.Locator>> }> => {
    if (signal?.aborted === true) throw new Error('aborted')
    const input = await FsP.open(file, 'r')
    let size: number
    try {
      size = (await input.stat()).size
    } catch (cause) {
      await input.close().catch(() => undefined)
      throw cause
    }
    if (size >= POOL_MIN || (size >= CHUNK && pool.started())) {
      await input.close()
      const locators = storeInParallel(file, size, pool, signal)
      locators.catch(() => undefined) // awaited (and reported) when the manifest is built
      return { locators }
    }
    const locators = await streamFile(input, signal)
    return { locators: Promise.resolve(locators) }
  }

  const saveManifest = async (manifestText: string): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    const m = Manifest.parse(manifestText)
    if (E.isLeft(m)) return m
    const tree = Tree.fromManifest(m.right)
    if (E.isLeft(tree)) return tree
    const normalized = Manifest.print(Tree.normalize(tree.right))
    const pdh = Pdh.of(normalized)
    const ok = await prepare()
    if (E.isLeft(ok)) return ok
    if (known.get(pdh)?.text !== normalized) {
      try {
        // small manifests go to this process's pack: one write instead of a file
        if (normalized.length <= SYNC_WRITE_MAX) packs.append(pdh, normalized)
        else await writeAs('manifest', normalized, Path.join(root, 'manifests', pdh))
      } catch (cause) {
        return E.left(fail('ARV_STORE_IO', `cannot write manifest ${pdh} to ${root}`, undefined, cause))
      }
    }
    // the tree holds the same files as the normalized text
    remember(pdh, normalized, tree.right)
    return E.right(Collection.fromTree(normalized, tree.right, { source }))
  }

  const exists = async (p: string): Promise<boolean> => {
    try {
      await FsP.access(p)
      return true
    } catch {
      return false
    }
  }

  const ingestDirectory = async (dir: string, options: { readonly adopt?: boolean; readonly signal?: AbortSignal } = {}): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    const base = Path.resolve(dir)
    // directories in manifest order, each with its files (blocks possibly still being stored)
    const planned: Array<{ readonly name: string; readonly files: ReadonlyArray<{ readonly name: string; readonly locators: Promise<ReadonlyArray<Locator.Locator>> }> }> = []
    let plain = true
    const ok = await prepare()
    if (E.isLeft(ok)) return ok
    const pool = BlockPool.make(root, ownerTag)
    const walk = async (abs: string, rel: string): Promise<E.Either<Errors.SdkError, void>> => {
      const entries = await FsP.readdir(abs, { withFileTypes: true })
      const name = rel === '' ? '.' : `./${rel}`
      const files: Array<{ readonly name: string; readonly locators: Promise<ReadonlyArray<Locator.Locator>> }> = []
      const subdirs: Array<[string, string]> = []
      for (const entry of entries) {
        const childAbs = Path.join(abs, entry.name)
        const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`
        let kind: { readonly isFile: () => boolean; readonly isDirectory: () => boolean } = entry
        if (entry.isSymbolicLink()) {
          plain = false
          const st = await FsP.stat(childAbs).catch(() => undefined)
          if (st === undefined) return E.left(fail('ARV_STORE_INGEST', `cannot ingest ${PathSafety.show(childRel)} from ${base}: it is a dangling symbolic link`, 'remove the link or point it at a file'))
          if (st.isDirectory()) return E.left(fail('ARV_STORE_INGEST', `cannot ingest ${PathSafety.show(childRel)} from ${base}: symbolic links to directories are not followed`, 'copy the directory instead of linking it'))
          kind = { isFile: () => st.isFile(), isDirectory: () => false }
        }
        if (kind.isDirectory()) subdirs.push([childAbs, childRel])
        else if (kind.isFile()) files.push({ name: entry.name, locators: (await ingestFile(childAbs, pool, options.signal)).locators })
        else return E.left(fail('ARV_STORE_INGEST', `cannot ingest ${PathSafety.show(childRel)} from ${base}: it is not a regular file or directory`, 'collections hold regular files only'))
      }
      if (files.length > 0 || (subdirs.length === 0 && rel !== '')) planned.push({ name, files })
      for (const [a, r] of subdirs) {
        const done = await walk(a, r)
        if (E.isLeft(done)) return done
      }
      return E.right(undefined)
    }
    const streams: Array<Manifest.Stream> = []
    try {
      const walked = await walk(base, '')
      if (E.isLeft(walked)) return walked
      for (const d of planned) {
        if (d.files.length === 0) {
          streams.push({ name: d.name, locators: [Locator.EMPTY_BLOCK], segments: [{ position: 0, length: 0, name: Manifest.DIRECTORY_MARKER }] })
          continue
        }
        const locators: Array<Locator.Locator> = []
        const segments: Array<Manifest.Segment> = []
        let size = 0
        for (const f of d.files) {
          const ls = await f.locators
          let length = 0
          for (const l of ls) {
            locators.push(l)
            length += l.size
          }
          segments.push({ position: length === 0 ? 0 : size, length, name: f.name })
          size += length
        }
        streams.push({ name: d.name, locators: locators.length === 0 ? [Locator.EMPTY_BLOCK] : locators, segments })
      }
    } catch (cause) {
      return E.left(fail('ARV_STORE_INGEST', `cannot ingest ${base} into ${root}`, isCode(cause, 'ENOENT', 'ENOTDIR') ? 'check that the path exists and is a directory' : undefined, cause))
    } finally {
      await pool.close()
    }
    const saved = await saveManifest(Manifest.print({ streams }))
    if (E.isLeft(saved) || options.adopt !== true || !plain) return saved
    const tree = Path.join(root, 'trees', saved.right.pdh)
    if (await exists(tree)) return saved
    try {
      await FsP.rename(base, tree)
    } catch {
      return saved // another process adopted the same content first, or dir is on another device
    }
    try {
      await SealedTree.seal(tree, shapeOf(saved.right))
      return E.right(Collection.withAccess(saved.right, { mountPath: tree }))
    } catch {
      await SealedTree.remove(tree) // changed meanwhile: written again from the blocks when needed
      return saved
    }
  }

  const tempDirectory = async (label: string): Promise<E.Either<StoreError, string>> => {
    const safe = label.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60)
    const ok = await prepare()
    if (E.isLeft(ok)) return ok
    try {
      const d = tmpName(safe === '' ? 'dir' : safe)
      await FsP.mkdir(d)
      return E.right(d)
    } catch (cause) {
      return E.left(fail('ARV_STORE_IO', `cannot create a temporary directory in ${root}`, undefined, cause))
    }
  }

  const ingestFiles = async (files: Readonly<Record<string, string | Uint8Array>>): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    for (const p of Object.keys(files)) {
      const problem = PathSafety.diskProblem(p)
      if (problem !== undefined) return E.left(fail('ARV_UNSAFE_PATH', `cannot store file ${PathSafety.show(p)}: ${problem}`, 'use relative paths such as "dir/name.txt"'))
    }
    const ok = await prepare()
    if (E.isLeft(ok)) return ok
    // each file's blocks straight from memory (no file, no tree: `mount` writes one when asked)
    const byDir = new Map<string, Array<{ readonly name: string; readonly locators: Promise<ReadonlyArray<Locator.Locator>> }>>()
    const pending: Array<Promise<unknown>> = []
    for (const [p, contents] of Object.entries(files)) {
      const bytes = typeof contents === 'string' ? Buffer.from(contents) : contents
      const pieces: Array<Promise<Locator.Locator>> = []
      for (let at = 0; at < bytes.length; at += Locator.MAX_BLOCK_SIZE) pieces.push(storeBytes(bytes.subarray(at, Math.min(bytes.length, at + Locator.MAX_BLOCK_SIZE))))
      const locators = Promise.all(pieces)
      pending.push(locators)
      const slash = p.lastIndexOf('/')
      const dir = slash < 0 ? '.' : `./${p.slice(0, slash)}`
      const list = byDir.get(dir) ?? []
      list.push({ name: p.slice(slash + 1), locators })
      byDir.set(dir, list)
    }
    const streams: Array<Manifest.Stream> = []
    try {
      await Promise.all(pending)
      for (const [name, list] of byDir) {
        const locators: Array<Locator.Locator> = []
        const segments: Array<Manifest.Segment> = []
        let size = 0
        for (const f of list) {
          let length = 0
          for (const l of await f.locators) {
            if (l.size === 0) continue
            locators.push(l)
            length += l.size
          }
          segments.push({ position: length === 0 ? 0 : size, length, name: f.name })
          size += length
        }
        streams.push({ name, locators: locators.length === 0 ? [Locator.EMPTY_BLOCK] : locators, segments })
      }
    } catch (cause) {
      await Promise.allSettled(pending)
      return E.left(fail('ARV_STORE_IO', `cannot store in-memory files in ${root}`, undefined, cause))
    }
    const saved = await saveManifest(Manifest.print({ streams }))
    if (E.isLeft(saved)) return E.left(fail('ARV_STORE_IO', `cannot store in-memory files in ${root}: ${saved.left.message}`, 'a path may be used both as a file and as a directory', saved.left))
    return saved
  }

  const load = async (pdh: string): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    const checked = Pdh.parse(pdh)
    if (E.isLeft(checked)) return checked
    if (pdh === Pdh.EMPTY) return E.right(Collection.withAccess(Collection.empty, { source }))
    const ok = await prepare()
    if (E.isLeft(ok)) return ok
    const seen = known.get(pdh)
    if (seen !== undefined) return E.right(Collection.fromTree(seen.text, seen.tree, { source }))
    let text: string
    try {
      text = await FsP.readFile(Path.join(root, 'manifests', pdh), 'utf8')
    } catch (cause) {
      const packed = isCode(cause, 'ENOENT') ? packs.find(pdh) : undefined
      if (packed !== undefined) text = packed
      else if (isCode(cause, 'ENOENT')) return E.left(fail('ARV_STORE_MISSING_COLLECTION', `collection ${pdh} is not in the local store ${root}`, 'pass a local directory path to ingest it, or produce it with a work in this store', cause))
      else return E.left(fail('ARV_STORE_IO', `cannot read manifest ${pdh} from ${root}`, undefined, cause))
    }
    if (Pdh.of(text) !== pdh) return E.left(fail('ARV_STORE_CORRUPT_MANIFEST', `manifest ${pdh} in ${root} does not match its hash`, `delete ${Path.join(root, 'manifests', pdh)}`))
    const m = Manifest.parse(text)
    if (E.isLeft(m)) return m
    const tree = Tree.fromManifest(m.right)
    if (E.isLeft(tree)) return tree
    const gone = await missingBlock(m.right)
    if (gone !== undefined) {
      return E.left(
        fail('ARV_STORE_MISSING_BLOCK', `collection ${pdh} is incomplete: block ${Locator.key(gone.locator)} is ${gone.why} in the local store ${root}`, 'a cached result that refers to it is recomputed; a collection given as a parameter must be ingested again from its files'),
      )
    }
    remember(pdh, text, tree.right)
    return E.right(Collection.fromTree(text, tree.right, { source }))
  }

  /** the first block of `m` not in the store (one stat per block not known to be there) */
  const missingBlock = async (m: Manifest.Manifest): Promise<{ readonly locator: Locator.Locator; readonly why: string } | undefined> => {
    const unknown = new Map<string, Locator.Locator>()
    for (const s of m.streams) for (const l of s.locators) if (!Locator.isEmptyBlock(l) && !present.has(l.hash)) unknown.set(l.hash, l)
    const found = await Promise.all(
      [...unknown.values()].map(async (l) => {
        const packed = blockPacks.find(l.hash)
        if (packed !== undefined && packed.size === l.size) {
          present.add(l.hash)
          return undefined
        }
        const st = await FsP.stat(blockPath(l.hash)).catch(() => undefined)
        if (st === undefined) {
          if (blockPacks.lookup(l.hash)?.size === l.size) {
            present.add(l.hash)
            return undefined
          }
          return { locator: l, why: 'missing' }
        }
        if (st.size !== l.size) return { locator: l, why: `corrupted (${st.size} bytes)` }
        present.add(l.hash)
        return undefined
      }),
    )
    return found.find((f) => f !== undefined)
  }

  const shapeOf = (c: Collection.Collection): SealedTree.Shape => {
    const t = Collection.treeOf(c)
    return { files: c.files, directories: E.isRight(t) ? Tree.emptyDirectories(t.right) : [] }
  }

  const mount = async (c: Collection.Collection, signal?: AbortSignal, only?: string): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    const ok = await prepare()
    if (E.isLeft(ok)) return ok
    const final = Path.join(root, 'trees', c.pdh)
    const checked = Materialize.check(c, final)
    if (E.isLeft(checked)) return checked
    const shape: SealedTree.Shape = { files: checked.right.files, directories: checked.right.directories }
    const mounted = E.right(Collection.withAccess(c, { mountPath: final }))
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const verdict = await SealedTree.verify(final, shape, only)
        if (verdict === 'sealed') return mounted
        // altered: moved aside (a process reading it keeps its open files), then written again
        if (verdict === 'altered') await SealedTree.move(final, tmpName('altered-tree')).catch(() => undefined)
        const tmp = await tempDirectory('tree')
        if (E.isLeft(tmp)) return tmp
        const written = await Materialize.materialize(Collection.withAccess(c, { source }), tmp.right, signal)
        if (E.isLeft(written)) {
          await SealedTree.remove(tmp.right)
          return written
        }
        await SealedTree.seal(tmp.right, shape)
        try {
          await FsP.rename(tmp.right, final)
          return mounted
        } catch {
          await SealedTree.remove(tmp.right) // another process placed it first: checked again
        }
      }
    } catch (cause) {
      return E.left(fail('ARV_STORE_IO', `cannot place collection ${c.pdh} on disk under ${final}`, undefined, cause))
    }
    return E.left(fail('ARV_STORE_TREE_ALTERED', `the files of collection ${c.pdh} under ${final} keep changing`, 'a work writes into files it got from ctx.path; write outputs under ctx.output.directory() instead'))
  }

  const close = async (): Promise<void> => {
    const pool = bytesPool
    bytesPool = undefined
    await pool?.close()
  }

  return { root, source, readBlock, putBlock, ingestDirectory, ingestFiles, saveManifest, load, mount, tempDirectory, close }
}
