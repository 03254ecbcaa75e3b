/**
 * ValueStores of the crunch dispatcher.
 *
 * - `runner`: collections live in Keep. A portable data hash or collection UUID is resolved
 *   through the API (once per run: resolved collections are kept by hash), a local directory
 *   is uploaded (when the runner runs on the user's machine, see `upload.ts`), blocks are read
 *   from Keep (verified), concatenation merges manifests without copying blocks and saves the
 *   result as a collection. The runner runs no implementation, so it has no output writer.
 * - `work`: inside a container. Collection arguments are the call file's manifests backed by
 *   their mount paths (`/keep/<pdh>`); outputs are built in a scratch directory (the local
 *   content-addressed store under the container's tmp); concatenation joins files in order.
 *
 * @since 0.1.0
 */
import * as Fs from 'node:fs'
import * as FsP from 'node:fs/promises'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type * as Client from '../../arvados/client.js'
import type * as Codec from '../../collections/codec.js'
import * as Collection from '../../collections/collection.js'
import * as DiskSource from '../../collections/disk-source.js'
import * as LocalStore from '../../collections/local-store.js'
import * as Manifest from '../../collections/manifest.js'
import * as PathSafety from '../../collections/path-safety.js'
import * as Pdh from '../../collections/pdh.js'
import * as Reference from '../../collections/reference.js'
import * as Store from '../../collections/store.js'
import * as Tree from '../../collections/tree.js'
import * as Errors from '../../errors.js'
import type * as Keep from '../../keep/client.js'
import type * as ValueStore from '../../value-store.js'
import * as Request from './request.js'
import * as Upload from './upload.js'
import type * as ResultFile from './result-file.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * The runner's store: a ValueStore plus what the runner needs to know about collections.
 *
 * @category models
 * @since 0.1.0
 */
export interface RunnerStore extends ValueStore.ValueStore {
  /** a collection already resolved in this run, by portable data hash */
  readonly known: (pdh: string) => Collection.Collection | undefined
  /** records a collection whose manifest the runner read (e.g. from a batched list) */
  readonly remember: (manifestText: string) => E.Either<Errors.SdkError, Collection.Collection>
  /** resolves a portable data hash (API read when not known) */
  readonly resolve: (pdh: string) => Promise<E.Either<Errors.SdkError, Collection.Collection>>
  /** saves manifest text as a collection */
  readonly save: (manifestText: string, name: string) => Promise<E.Either<Errors.SdkError, Collection.Collection>>
}

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

const noOutputs = (what: string) =>
  Errors.make('NoCollectionStoreError', 'ARV_NO_COLLECTION_STORE', `${what} is not available in the crunch runner: implementations run in containers`, {}, {})

const pathReference = (text: string) =>
  Errors.make('CollectionReferenceError', 'ARV_PATH_NOT_ON_ARVADOS', `the local path ${PathSafety.show(text)} cannot be used here: only the runner on this machine uploads local directories`, { reference: text }, {
    hint: 'pass local directories as parameters of the run (the runner uploads them), or upload with arv-put and pass the portable data hash or collection UUID',
  })

const concatError = (cause: Errors.SdkError) =>
  Errors.make('ConcatError', 'ARV_CONCAT', `the outputs cannot be concatenated: ${cause.message}`, { index: -1 }, { cause, hint: 'two outputs use one path as a file and as a directory' })

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/** the manifest of collections concatenated in order (nulls and empty ones skipped), their blocks kept */
const concatText = (parts: ReadonlyArray<Collection.Collection | null>): E.Either<Errors.SdkError, string> => {
  const manifests: Array<Manifest.Manifest> = []
  for (const c of parts) {
    if (c === null || c.manifestText === '') continue
    const m = Manifest.parse(c.manifestText)
    if (E.isLeft(m)) return E.left(concatError(m.left))
    manifests.push(m.right)
  }
  const combined = Tree.concat(manifests)
  return E.isLeft(combined) ? E.left(concatError(combined.left)) : E.right(Manifest.print(combined.right))
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * The runner's ValueStore over the API and Keep.
 *
 * @category constructors
 * @since 0.1.0
 */
export const runner = (api: Client.ArvadosClient, keep: Keep.KeepClient, project: string | undefined, uploads?: Store.Store): RunnerStore => {
  const byPdh = new Map<string, Collection.Collection>()
  const source: Collection.BlockSource = { readBlock: (locator) => keep.get(locator)() }
  const remember = (manifestText: string): E.Either<Errors.SdkError, Collection.Collection> => {
    const c = Collection.fromManifestText(manifestText, { source })
    if (E.isRight(c)) {
      const known = byPdh.get(c.right.pdh)
      if (known !== undefined) return E.right(known)
      byPdh.set(c.right.pdh, c.right)
    }
    return c
  }
  const fetch = async (id: string): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    const got = await api.collections.get(id)()
    if (E.isLeft(got)) return got
    return remember(got.right.manifest_text ?? '')
  }
  const resolve = async (pdh: string): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    const known = byPdh.get(pdh)
    return known !== undefined ? E.right(known) : fetch(pdh)
  }
  const uploaded = new Map<string, Promise<E.Either<Errors.SdkError, Collection.Collection>>>()
  const upload = (dir: string, signal: AbortSignal): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    if (uploads === undefined) return Promise.resolve(E.left(pathReference(dir)))
    const key = Path.resolve(dir)
    const known = uploaded.get(key)
    if (known !== undefined) return known
    const p = Upload.directory(dir, uploads, api, keep, project, signal).then((c) => (E.isRight(c) ? remember(c.right.manifestText) : c))
    uploaded.set(key, p)
    return p
  }
  const resolveRef: Reference.Resolve = (ref: Codec.Reference, signal: AbortSignal) =>
    ref.kind === 'pdh' ? resolve(ref.text) : ref.kind === 'uuid' ? fetch(ref.text) : upload(ref.text, signal)
  const save = async (manifestText: string, name: string): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    const created = await api.collections.create({ manifest_text: manifestText, name, ...(project === undefined ? {} : { owner_uuid: project }) }, { ensure_unique_name: true })()
    if (E.isLeft(created)) return created
    return remember(created.right.manifest_text ?? manifestText)
  }
  return {
    known: (pdh) => byPdh.get(pdh),
    remember,
    resolve,
    save,
    hydrate: (value, signal) => Reference.hydrate(value, resolveRef, signal),
    concat: async (parts) => {
      const concatenated = concatText(parts)
      if (E.isLeft(concatenated)) return concatenated
      const text = concatenated.right
      const known = byPdh.get(Pdh.of(text))
      if (known !== undefined) return E.right(known)
      return save(text, `arvados-crunch concatenation ${Pdh.of(text)}`)
    },
    outputs: () => ({
      directory: () => Promise.reject(Errors.toError(noOutputs('ctx.output.directory()'))),
      fromDirectory: () => Promise.reject(Errors.toError(noOutputs('ctx.output.fromDirectory()'))),
      fromFiles: () => Promise.reject(Errors.toError(noOutputs('ctx.output.fromFiles()'))),
    }),
  }
}

/**
 * The work role's ValueStore: arguments from the call file's manifests and their mounts,
 * outputs in a local store under `scratch`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const work = (call: ResultFile.CallFile, scratch: string, mountPathOf: (pdh: string) => string = Request.mountPathOf): ValueStore.ValueStore => {
  const store = Store.make(scratch)
  const local = LocalStore.valueStore(store)
  const resolveRef: Reference.Resolve = async (ref) => {
    if (ref.kind === 'pdh') {
      const manifest = call.collections[ref.text]
      if (manifest !== undefined) return Collection.fromManifestText(manifest, { mountPath: mountPathOf(ref.text), disk: DiskSource.disk })
      return store.load(ref.text)
    }
    return E.left(
      Errors.make('CollectionReferenceError', 'ARV_CRUNCH_UNMOUNTED', `collection ${PathSafety.show(ref.text)} is not mounted in this container`, { reference: ref.text }, {
        hint: 'collections reach a work as arguments (the runner mounts each one); pass it as an argument instead of naming it',
      }),
    )
  }
  return {
    hydrate: (value, signal) => Reference.hydrate(value, resolveRef, signal),
    outputs: local.outputs,
    mount: (c, signal) => (c.mountPath !== undefined ? Promise.resolve(E.right(c)) : store.mount(c, signal)),
    concat: async (parts, signal) => {
      const dir = await store.tempDirectory('concat')
      if (E.isLeft(dir)) return dir
      const made = new Set<string>()
      for (const c of parts) {
        if (c === null) continue
        for (const f of c.files) {
          const target = PathSafety.inside(dir.right, f.path)
          if (E.isLeft(target)) return E.left(concatError(Errors.make('ConcatError', 'ARV_UNSAFE_PATH', `${PathSafety.show(f.path)}: ${target.left}`, {})))
          try {
            if (!made.has(f.path)) {
              await FsP.mkdir(Path.dirname(target.right), { recursive: true })
              made.add(f.path)
            }
            const out = Fs.createWriteStream(target.right, { flags: 'a' })
            for await (const chunk of Collection.streamEither(c, f.path, signal)) {
              if (E.isLeft(chunk)) {
                out.destroy()
                return chunk
              }
              if (!out.write(chunk.right)) await new Promise<void>((r) => out.once('drain', () => r()))
            }
            await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e === undefined || e === null ? resolve() : reject(e))))
          } catch (cause) {
            return E.left(concatError(Errors.fromUnknown(cause)))
          }
        }
      }
      // the concatenation keeps the parts' blocks (same portable data hash as the runner's and
      // the local store's concatenation); its files are read from the copies just written
      const concatenated = concatText(parts)
      if (E.isLeft(concatenated)) return concatenated
      return Collection.fromManifestText(concatenated.right, { mountPath: dir.right, disk: DiskSource.disk })
    },
  }
}
