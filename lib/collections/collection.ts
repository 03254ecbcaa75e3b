/**
 * Collection values: an immutable Keep collection (portable data hash, manifest, files) plus the
 * capability to read its bytes: a `source` of verified blocks (the local store, Keep) and/or a
 * `mountPath` where the files sit on disk (a container's mount, a materialized tree of the
 * local store). File values (`CollectionFile`) name one file inside a collection.
 *
 * Constructors and lookups are pure and return `Either`. The read functions used inside work
 * implementations (`readFile`, `readText`, `stream`) return Promises that reject with
 * `Errors.toError(sdkError)`; `streamEither`/`readEither` are their data-returning forms.
 * Reading streams block by block (memory bounded by one 64 MiB block; each block is checked
 * by its source before any byte is returned).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../errors.js'
import type * as Locator from '../keep/locator.js'
import * as Manifest from './manifest.js'
import * as PathSafety from './path-safety.js'
import * as Pdh from './pdh.js'
import * as Tree from './tree.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @category models @since 0.1.0 */
export const TypeId = '~arvados-crunch/Collection' as const

/** @category models @since 0.1.0 */
export const FileTypeId = '~arvados-crunch/CollectionFile' as const

/** @category models @since 0.1.0 */
export interface FileEntry {
  readonly path: string
  readonly size: number
}

/**
 * Where blocks can be read from. `readBlock` must verify the block (md5 and size) and answer
 * Left for a missing or corrupted block; it never returns unverified bytes.
 *
 * @category models
 * @since 0.1.0
 */
export interface BlockSource {
  readonly readBlock: (locator: Locator.Locator, signal?: AbortSignal) => Promise<E.Either<Errors.SdkError, Uint8Array>>
}

/**
 * How files under a collection's `mountPath` are read (given by the effectful edge that put them
 * there: a container's mounts, a materialized tree). This module does no I/O of its own.
 *
 * @category models
 * @since 0.2.0
 */
export interface DiskSource {
  readonly stream: (absolutePath: string, signal?: AbortSignal) => AsyncIterable<Uint8Array>
}

/** @category models @since 0.1.0 */
export interface Collection {
  readonly [TypeId]: typeof TypeId
  /** portable data hash: md5 of the stripped manifest + '+' + its length */
  readonly pdh: string
  /** manifest text (normalized when this SDK wrote it; may carry signed locators) */
  readonly manifestText: string
  readonly files: ReadonlyArray<FileEntry>
  /** where the bytes sit on disk, when they do (a container's mount, the local store) */
  readonly mountPath: string | undefined
  /** verified block reads, when available (preferred over `mountPath`) */
  readonly source?: BlockSource
  /** reads of the files under `mountPath` */
  readonly disk?: DiskSource
  /** the parsed tree, when known (computed from `manifestText` otherwise) */
  readonly tree?: Tree.Directory
}

/**
 * One file inside a collection (what `FileCodec` carries as `pdh/path`).
 *
 * @category models
 * @since 0.1.0
 */
export interface CollectionFile {
  readonly [FileTypeId]: typeof FileTypeId
  readonly collection: Collection
  readonly path: string
  readonly size: number
}

/**
 * @category models
 * @since 0.1.0
 */
export type CollectionError = Errors.SdkError & { readonly _tag: 'CollectionError'; readonly pdh: string; readonly path: string }

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * @category constructors
 * @since 0.1.0
 */
export const error = (code: string, pdh: string, path: string, message: string, hint?: string, cause?: unknown): CollectionError =>
  Errors.make('CollectionError', code, message, { pdh, path }, { ...(hint === undefined ? {} : { hint }), ...(cause === undefined ? {} : { cause }) })

/**
 * Builds a collection from manifest text (kept as given; its PDH computed over it).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromManifestText = (
  manifestText: string,
  options: { readonly mountPath?: string; readonly source?: BlockSource; readonly disk?: DiskSource } = {},
): E.Either<Manifest.ManifestError, Collection> => {
  const m = Manifest.parse(manifestText)
  if (E.isLeft(m)) return m
  const tree = Tree.fromManifest(m.right)
  if (E.isLeft(tree)) return tree
  return E.right(fromTree(manifestText, tree.right, options))
}

/**
 * Builds a collection from a parsed tree and the manifest text it came from.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromTree = (manifestText: string, tree: Tree.Directory, options: { readonly mountPath?: string; readonly source?: BlockSource; readonly disk?: DiskSource } = {}): Collection => ({
  [TypeId]: TypeId,
  pdh: Pdh.of(manifestText),
  manifestText,
  files: Tree.files(tree).map((f) => ({ path: f.path, size: f.size })),
  mountPath: options.mountPath,
  tree,
  ...(options.source === undefined ? {} : { source: options.source }),
  ...(options.disk === undefined ? {} : { disk: options.disk }),
})

/**
 * The same collection with another reading capability (e.g. after materializing it).
 *
 * @category constructors
 * @since 0.1.0
 */
export const withAccess = (c: Collection, access: { readonly mountPath?: string; readonly source?: BlockSource; readonly disk?: DiskSource }): Collection => ({
  ...c,
  mountPath: access.mountPath ?? c.mountPath,
  ...(access.source === undefined ? {} : { source: access.source }),
  ...(access.disk === undefined ? {} : { disk: access.disk }),
})

/**
 * The empty collection.
 *
 * @category constructors
 * @since 0.1.0
 */
export const empty: Collection = fromTree('', { _tag: 'Directory', entries: new Map() })

/**
 * The file at `path` (relative, `/`-separated), or a clear error.
 *
 * @category constructors
 * @since 0.1.0
 */
export const file = (c: Collection, path: string): E.Either<CollectionError | Manifest.ManifestError, CollectionFile> => {
  const parts = PathSafety.components(path)
  if (E.isLeft(parts)) return E.left(error('ARV_COLLECTION_PATH', c.pdh, path, `${PathSafety.show(path)} is not a valid path inside a collection: ${parts.left}`, 'use a relative path such as "dir/file.txt"'))
  const t = treeOf(c)
  if (E.isLeft(t)) return t
  const node = Tree.lookup(t.right, path)
  if (node === undefined) return E.left(notFound(c, path))
  if (node._tag === 'Directory') return E.left(error('ARV_COLLECTION_NOT_A_FILE', c.pdh, path, `${PathSafety.show(path)} is a directory in collection ${c.pdh}, not a file`))
  return E.right({ [FileTypeId]: FileTypeId, collection: c, path, size: node.size })
}

const notFound = (c: Collection, path: string): CollectionError => {
  const sample = c.files.slice(0, 5).map((f) => f.path)
  return error('ARV_COLLECTION_NO_SUCH_FILE', c.pdh, path, `collection ${c.pdh} has no file ${PathSafety.show(path)}`, c.files.length === 0 ? 'the collection is empty' : `it has ${c.files.length} file(s), e.g. ${sample.map((p) => JSON.stringify(p)).join(', ')}`)
}

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/** @category guards @since 0.1.0 */
export const isCollection = (u: unknown): u is Collection =>
  typeof u === 'object' && u !== null && (u as { [TypeId]?: unknown })[TypeId] === TypeId

/** @category guards @since 0.1.0 */
export const isCollectionFile = (u: unknown): u is CollectionFile =>
  typeof u === 'object' && u !== null && (u as { [FileTypeId]?: unknown })[FileTypeId] === FileTypeId

// -------------------------------------------------------------------------------------
// destructors
// -------------------------------------------------------------------------------------

/**
 * The parsed tree of a collection (kept on values this SDK built; parsed otherwise).
 *
 * @category destructors
 * @since 0.1.0
 */
export const treeOf = (c: Collection): E.Either<Manifest.ManifestError, Tree.Directory> => {
  if (c.tree !== undefined) return E.right(c.tree)
  const m = Manifest.parse(c.manifestText)
  if (E.isLeft(m)) return m
  return Tree.fromManifest(m.right)
}

/**
 * Every file as a `CollectionFile` value, in tree order.
 *
 * @category destructors
 * @since 0.1.0
 */
export const files = (c: Collection): ReadonlyArray<CollectionFile> => c.files.map((f) => ({ [FileTypeId]: FileTypeId, collection: c, path: f.path, size: f.size }))

/**
 * `pdh/path`: how a file value travels.
 *
 * @category destructors
 * @since 0.1.0
 */
export const fileReference = (f: CollectionFile): string => `${f.collection.pdh}/${f.path}`

// -------------------------------------------------------------------------------------
// interpreters (reading)
// -------------------------------------------------------------------------------------

type Target = Collection | CollectionFile

const resolve = (target: Target, path: string | undefined): E.Either<CollectionError, { readonly c: Collection; readonly path: string }> => {
  if (isCollectionFile(target)) return E.right({ c: target.collection, path: target.path })
  if (path === undefined) return E.left(error('ARV_COLLECTION_PATH', target.pdh, '', 'reading a collection needs the path of a file inside it', 'call readFile(collection, "dir/file") or readFile(file)'))
  return E.right({ c: target, path })
}

const aborted = (c: Collection, path: string): CollectionError => error('ARV_ABORTED', c.pdh, path, `reading ${PathSafety.show(path)} from ${c.pdh} was aborted`)

/**
 * Streams one file's bytes: from the block source (verified blocks, one held at a time), else
 * from `mountPath`. Errors arrive as a final Left.
 *
 * @category interpreters
 * @since 0.1.0
 */
export async function* streamEither(target: Target, path?: string, signal?: AbortSignal): AsyncGenerator<E.Either<Errors.SdkError, Uint8Array>, void, undefined> {
  const r = resolve(target, path)
  if (E.isLeft(r)) return yield r
  const { c } = r.right
  const f = file(c, r.right.path)
  if (E.isLeft(f)) return yield f
  const p = f.right.path
  if (c.source !== undefined) {
    const t = treeOf(c)
    if (E.isLeft(t)) return yield t
    const node = Tree.lookup(t.right, p)
    if (node === undefined || node._tag !== 'File') return yield E.left(notFound(c, p))
    let cached: { readonly key: string; readonly bytes: Uint8Array } | undefined
    for (const piece of node.pieces) {
      if (signal?.aborted === true) return yield E.left(aborted(c, p))
      const key = `${piece.locator.hash}+${piece.locator.size}`
      if (cached?.key !== key) {
        cached = undefined // let the previous block be collected before reading the next
        const block = await c.source.readBlock(piece.locator, signal)
        if (E.isLeft(block)) return yield E.left(error('ARV_COLLECTION_READ', c.pdh, p, `cannot read ${PathSafety.show(p)} from collection ${c.pdh}: ${block.left.message}`, block.left.hint, block.left))
        cached = { key, bytes: block.right }
      }
      yield E.right(cached.bytes.subarray(piece.offset, piece.offset + piece.length))
    }
    return
  }
  if (c.mountPath !== undefined) {
    const onDisk = PathSafety.inside(c.mountPath, p)
    if (E.isLeft(onDisk)) return yield E.left(error('ARV_COLLECTION_PATH', c.pdh, p, `${PathSafety.show(p)} cannot be read from disk: ${onDisk.left}`))
    try {
      if (c.disk === undefined) return yield E.left(error('ARV_COLLECTION_NO_SOURCE', c.pdh, p, `collection ${c.pdh} is at ${c.mountPath}, and no reader of that disk was given`, 'make disk collections with a store or a dispatcher of this SDK'))
      for await (const chunk of c.disk.stream(onDisk.right, signal)) yield E.right(chunk)
    } catch (cause) {
      return yield E.left(error('ARV_COLLECTION_READ', c.pdh, p, `cannot read ${PathSafety.show(p)} of collection ${c.pdh} at ${c.mountPath}`, undefined, cause))
    }
    return
  }
  return yield E.left(
    error('ARV_COLLECTION_NO_SOURCE', c.pdh, p, `collection ${c.pdh} has no readable bytes here (no block source, no mount path)`, 'collections received as arguments are hydrated by the dispatcher; build collections with ctx.output or a store'),
  )
}

/**
 * A file's bytes as one array (Left on any error).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const readEither = async (target: Target, path?: string, signal?: AbortSignal): Promise<E.Either<Errors.SdkError, Uint8Array>> => {
  const chunks: Array<Uint8Array> = []
  let size = 0
  for await (const chunk of streamEither(target, path, signal)) {
    if (E.isLeft(chunk)) return chunk
    chunks.push(chunk.right)
    size += chunk.right.length
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return E.right(out)
}

/**
 * Reads a whole file: `readFile(collection, 'dir/a.txt')` or `readFile(fileValue)`.
 * Rejects with an `Error` carrying the SdkError's `code`.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const readFile = async (target: Target, path?: string, signal?: AbortSignal): Promise<Uint8Array> => {
  const r = await readEither(target, path, signal)
  if (E.isLeft(r)) throw Errors.toError(r.left)
  return r.right
}

/**
 * Reads a whole file as UTF-8 text.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const readText = async (target: Target, path?: string, signal?: AbortSignal): Promise<string> => new TextDecoder().decode(await readFile(target, path, signal))

/**
 * Streams a file's bytes with bounded memory (`for await (const chunk of stream(c, 'big.bin'))`).
 * The iteration throws an `Error` carrying the SdkError's `code` on failure.
 *
 * @category interpreters
 * @since 0.1.0
 */
export async function* stream(target: Target, path?: string, signal?: AbortSignal): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of streamEither(target, path, signal)) {
    if (E.isLeft(chunk)) throw Errors.toError(chunk.left)
    yield chunk.right
  }
}
