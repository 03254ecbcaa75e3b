/**
 * The `ValueStore` of the local dispatcher, over the local content-addressed store: hydrates
 * references (a PDH is loaded from the store, a local path is ingested, a UUID is a clear error
 * since there is no API server locally), concatenates outputs without copying blocks, and gives
 * each call its `ctx.output` writer (a fresh directory under the store's `tmp/`, adopted into
 * `trees/<pdh>` when stored).
 *
 * @since 0.1.0
 */
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../errors.js'
import type * as ValueStore from '../value-store.js'
import type * as Codec from './codec.js'
import * as Collection from './collection.js'
import * as Manifest from './manifest.js'
import * as Reference from './reference.js'
import type * as Store from './store.js'
import * as Tree from './tree.js'

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const resolver =
  (store: Store.Store): Reference.Resolve =>
  async (ref: Codec.Reference, signal: AbortSignal) => {
    switch (ref.kind) {
      case 'pdh':
        return store.load(ref.text)
      case 'path':
        return store.ingestDirectory(ref.text, { signal })
      case 'uuid':
        return E.left(
          Errors.make('CollectionReferenceError', 'ARV_UUID_NOT_LOCAL', `collection UUID ${ref.text} cannot be resolved by the local dispatcher (there is no Arvados API server here)`, { reference: ref.text }, {
            hint: 'pass the portable data hash of a collection in the local store, or a local directory path, or run on Arvados',
          }),
        )
    }
  }

/**
 * Concatenates collections in order (nulls and empty ones skipped); blocks are not copied.
 *
 * @category constructors
 * @since 0.1.0
 */
export const concat = async (store: Store.Store, parts: ReadonlyArray<Collection.Collection | null>): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
  const manifests: Array<Manifest.Manifest> = []
  for (const [i, c] of parts.entries()) {
    if (c === null || c.manifestText === '') continue
    const m = Manifest.parse(c.manifestText)
    if (E.isLeft(m)) return E.left(Errors.make('ConcatError', 'ARV_CONCAT', `output ${i + 1} of the list cannot be concatenated: ${m.left.message}`, { index: i }, { cause: m.left }))
    manifests.push(m.right)
  }
  const combined = Tree.concat(manifests)
  if (E.isLeft(combined)) return E.left(Errors.make('ConcatError', 'ARV_CONCAT', `the outputs cannot be concatenated: ${combined.left.message}`, { index: -1 }, { cause: combined.left, hint: 'two outputs use one path as a file and as a directory' }))
  return store.saveManifest(Manifest.print(combined.right))
}

/**
 * The local dispatcher's ValueStore over a local store (`Store.make(dir)`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const valueStore = (store: Store.Store): ValueStore.ValueStore => {
  const resolve = resolver(store)
  const orThrow = <A>(r: E.Either<Errors.SdkError, A>): A => {
    if (E.isLeft(r)) throw Errors.toError(r.left)
    return r.right
  }
  return {
    hydrate: (value, signal) => Reference.hydrate(value, resolve, signal),
    concat: (parts) => concat(store, parts),
    outputs: (callId, signal) => ({
      directory: async () => orThrow(await store.tempDirectory(`out-${callId}`)),
      // only directories the store handed out are moved into the store; others are copied
      fromDirectory: async (dir) => orThrow(await store.ingestDirectory(dir, { adopt: Path.resolve(dir).startsWith(`${store.root}${Path.sep}tmp${Path.sep}`), signal })),
      fromFiles: async (files) => orThrow(await store.ingestFiles(files)),
    }),
    mount: (c, signal, only) => store.mount(c, signal, only),
    close: () => store.close(),
  }
}
