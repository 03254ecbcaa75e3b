/**
 * `crunch run x.ts --output-dir out/`: the collections in a run's output written as files.
 * A collection at the top of the output fills `out/` itself; one under a key goes to the
 * directory named by its place in the output (`{ report: c }` → `out/report/`, `{ parts: [a, b] }`
 * → `out/parts/0/`, `out/parts/1/`); a single collection file goes to `out/<place>/<its name>`.
 * Every directory written to must be new or empty, and every name (keys of the output, paths in
 * the collections) is checked before use (lib/collections/materialize.ts), so nothing is written
 * outside `out/`. Works the same on a local run and on Arvados (collections read through Keep).
 *
 * @since 0.1.0
 */
import * as Fs from 'node:fs'
import * as FsP from 'node:fs/promises'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Collection from '../collections/collection.js'
import * as Materialize from '../collections/materialize.js'
import * as PathSafety from '../collections/path-safety.js'
import * as Errors from '../errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * A collection (or collection file) of the output, and where under the output directory it goes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Found {
  /** path components under the output directory (empty: the directory itself) */
  readonly place: ReadonlyArray<string>
  readonly value: Collection.Collection | Collection.CollectionFile
}

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * Every collection and collection file in a decoded output, with its place.
 *
 * @category utils
 * @since 0.1.0
 */
export const collectionsIn = (value: unknown, place: ReadonlyArray<string> = []): ReadonlyArray<Found> => {
  if (Collection.isCollection(value) || Collection.isCollectionFile(value)) return [{ place, value }]
  if (Array.isArray(value)) return value.flatMap((v, i) => collectionsIn(v, [...place, String(i)]))
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => collectionsIn(v, [...place, k]))
  return []
}

const outputError = (code: string, message: string, hint: string, cause?: unknown) => Errors.make('MaterializeError', code, message, {}, { hint, ...(cause === undefined ? {} : { cause }) })

const writeFile = async (f: Collection.CollectionFile, dir: string): Promise<E.Either<Errors.SdkError, string>> => {
  const name = f.path.slice(f.path.lastIndexOf('/') + 1)
  const problem = PathSafety.diskProblem(name)
  if (problem !== undefined) return E.left(outputError('ARV_UNSAFE_PATH', `the output file ${PathSafety.show(f.path)} cannot be written to disk (${problem})`, 'rename the file in the collection'))
  const target = Path.join(dir, name)
  try {
    await FsP.mkdir(dir, { recursive: true })
    const handle = await FsP.open(target, Fs.constants.O_WRONLY | Fs.constants.O_CREAT | Fs.constants.O_EXCL | Fs.constants.O_NOFOLLOW, 0o644)
    try {
      for await (const chunk of Collection.streamEither(f)) {
        if (E.isLeft(chunk)) return chunk
        await handle.write(chunk.right)
      }
    } finally {
      await handle.close()
    }
    return E.right(target)
  } catch (cause) {
    return E.left(outputError('ARV_MATERIALIZE_IO', `cannot write ${target}`, 'write to a new or empty directory', cause))
  }
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * Writes the collections of `output` under `dir`; returns what went where.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const write = async (
  output: unknown,
  dir: string,
  signal?: AbortSignal,
  reattach: (c: Collection.Collection) => Collection.Collection = (c) => c,
): Promise<E.Either<Errors.SdkError, ReadonlyArray<{ readonly pdh: string; readonly path: string }>>> => {
  const found = collectionsIn(output).map((f) => ({ ...f, value: Collection.isCollection(f.value) ? reattach(f.value) : { ...f.value, collection: reattach(f.value.collection) } }))
  if (found.length === 0) return E.right([])
  for (const f of found) {
    for (const component of f.place) {
      const problem = PathSafety.diskProblem(component)
      if (problem !== undefined || component.includes('/')) {
        return E.left(outputError('ARV_UNSAFE_PATH', `the output key ${PathSafety.show(component)} cannot name a directory under ${dir} (${problem ?? 'it contains "/"'}); nothing was written`, 'rename the key in the module\'s output'))
      }
    }
  }
  const written: Array<{ pdh: string; path: string }> = []
  for (const f of found) {
    const target = Path.join(dir, ...f.place)
    if (Collection.isCollection(f.value)) {
      const r = await Materialize.materialize(f.value, target, signal)
      if (E.isLeft(r)) return r
      written.push({ pdh: f.value.pdh, path: target })
    } else {
      const r = await writeFile(f.value, target)
      if (E.isLeft(r)) return r
      written.push({ pdh: `${f.value.collection.pdh}/${f.value.path}`, path: r.right })
    }
  }
  return E.right(written)
}

/**
 * Collections of a run on Arvados, read through a Keep client of their own (the dispatcher
 * closes its clients when the run ends): the configuration from `env` and `home`, as for the run.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const keepReader = async (
  env: Readonly<Record<string, string | undefined>>,
  home: string | undefined,
): Promise<E.Either<Errors.SdkError, { readonly reattach: (c: Collection.Collection) => Collection.Collection; readonly close: () => Promise<void> }>> => {
  const [ConfigFile, Client, Keep] = await Promise.all([import('../arvados/config-file.js'), import('../arvados/client.js'), import('../keep/client.js')])
  const config = await ConfigFile.load(env, home)()
  if (E.isLeft(config)) return config
  const api = Client.make(config.right)
  const keep = Keep.make(config.right, { api })
  const source: Collection.BlockSource = { readBlock: (locator) => keep.get(locator)() }
  return E.right({
    reattach: (c) => Collection.withAccess(c, { source }),
    close: async () => {
      await Promise.allSettled([keep.close(), api.close()])
    },
  })
}
