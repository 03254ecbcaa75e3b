/**
 * A ValueStore is what a dispatcher needs to move values that are not plain JSON (collections)
 * across a work boundary. Codecs are pure: `CollectionCodec` decodes a wire string into an
 * *unresolved reference*; the dispatcher then asks its ValueStore to `hydrate` the decoded value,
 * which replaces every reference (at any depth in arrays and records) with a live Collection.
 * `concat` implements the S3 "combine" of a list of collection outputs, and `outputs` gives a
 * work implementation its `ctx.output` writer.
 *
 * The local dispatcher uses the local content-addressed store; the crunch work role uses the
 * container's mounts and Keep. `noCollections` is the store for modules that never use them.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as Collection from './collections/collection.js'
import * as Errors from './errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * How a work implementation writes its output collection (`ctx.output`).
 *
 * @category models
 * @since 0.1.0
 */
export interface OutputWriter {
  /** A fresh, empty directory the implementation may write into (then pass it to `fromDirectory`). */
  readonly directory: () => Promise<string>
  /** Stores every file under `dir` (streamed, bounded memory) and returns the collection. */
  readonly fromDirectory: (dir: string) => Promise<Collection.Collection>
  /** Stores in-memory files (`relative/path` → contents) and returns the collection. */
  readonly fromFiles: (files: Readonly<Record<string, string | Uint8Array>>) => Promise<Collection.Collection>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ValueStore {
  /** Replaces unresolved collection/file references inside a decoded value by live values. */
  readonly hydrate: (value: unknown, signal: AbortSignal) => Promise<E.Either<Errors.SdkError, unknown>>
  /** Concatenates collections in order (nulls and empty collections skipped) without copying blocks. */
  readonly concat: (parts: ReadonlyArray<Collection.Collection | null>, signal: AbortSignal) => Promise<E.Either<Errors.SdkError, Collection.Collection>>
  /** The `ctx.output` writer for one call. */
  readonly outputs: (callId: string, signal: AbortSignal) => OutputWriter
  /**
   * The collection with `mountPath` set to its files on disk (placing them there if needed, and
   * checking that they were not changed since: all of them, or only the file `only`).
   * Absent where collections are always mounted (a container's collection mounts).
   */
  readonly mount?: (c: Collection.Collection, signal: AbortSignal, only?: string) => Promise<E.Either<Errors.SdkError, Collection.Collection>>
  /** Releases what the store holds between uses (threads, open files); it may be used again after. */
  readonly close?: () => Promise<void>
}

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

const isFile = (u: Collection.Collection | Collection.CollectionFile): u is Collection.CollectionFile =>
  typeof (u as { path?: unknown }).path === 'string' && typeof (u as { collection?: unknown }).collection === 'object'

/**
 * Where a collection, or a file in one, sits on disk — for handing paths to external tools
 * (`ctx.path(file)`). Always asks the store when it can mount: it places the files on disk, or
 * checks that those already there (the file asked for, or all of a collection) were not changed
 * by an earlier work; a `mountPath` the collection carries is used only by a store that cannot.
 *
 * @category combinators
 * @since 0.1.0
 */
export const pathOf = async (store: ValueStore, target: Collection.Collection | Collection.CollectionFile, signal: AbortSignal): Promise<E.Either<Errors.SdkError, string>> => {
  const c = isFile(target) ? target.collection : target
  let mountPath = c.mountPath
  if (store.mount !== undefined) {
    const mounted = await store.mount(c, signal, isFile(target) ? target.path : undefined)
    if (E.isLeft(mounted)) return mounted
    mountPath = mounted.right.mountPath
  }
  if (mountPath === undefined) {
    return E.left(
      Errors.make('NotMountedError', 'ARV_NOT_MOUNTED', `collection ${c.pdh} is not on disk here`, { pdh: c.pdh }, {
        hint: 'read it with readFile/readText/stream instead, or run where collections are mounted',
      }),
    )
  }
  return E.right(isFile(target) ? `${mountPath}/${target.path}` : mountPath)
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const noStore = (what: string): Errors.SdkError =>
  Errors.make('NoCollectionStoreError', 'ARV_NO_COLLECTION_STORE', `${what} needs a collection store, and this dispatcher was made without one`, {}, {
    hint: 'create the dispatcher with a store (the local dispatcher makes one under its cache directory by default)',
  })

/**
 * A store for modules that use no collections: hydrate is the identity, anything else fails clearly.
 *
 * @category constructors
 * @since 0.1.0
 */
export const noCollections: ValueStore = {
  hydrate: (value) => Promise.resolve(E.right(value)),
  concat: () => Promise.resolve(E.left(noStore('concatenating collections'))),
  outputs: () => ({
    directory: () => Promise.reject(Errors.toError(noStore('ctx.output.directory()'))),
    fromDirectory: () => Promise.reject(Errors.toError(noStore('ctx.output.fromDirectory()'))),
    fromFiles: () => Promise.reject(Errors.toError(noStore('ctx.output.fromFiles()'))),
  }),
}
