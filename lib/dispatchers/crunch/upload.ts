/**
 * A local directory given where a collection is expected, uploaded to Keep (as
 * arvados-cwl-runner uploads local inputs): the directory is ingested into the local
 * content-addressed store first (streamed, hashed, normalized exactly as Arvados would), then
 * each distinct block is written to Keep once and the manifest is saved with the signed
 * locators. At most one block (64 MiB) is held in memory at a time.
 *
 * @since 0.1.0
 */
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type * as Client from '../../arvados/client.js'
import * as Collection from '../../collections/collection.js'
import * as Manifest from '../../collections/manifest.js'
import type * as Store from '../../collections/store.js'
import type * as Errors from '../../errors.js'
import type * as Keep from '../../keep/client.js'
import type * as Locator from '../../keep/locator.js'

const keyOf = (l: Locator.Locator): string => `${l.hash}+${l.size}`

/**
 * Uploads `dir` and saves it as a collection; resolves with the collection as Arvados has it.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const directory = async (
  dir: string,
  store: Store.Store,
  api: Client.ArvadosClient,
  keep: Keep.KeepClient,
  project: string | undefined,
  signal: AbortSignal,
): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
  const local = await store.ingestDirectory(dir, { signal })
  if (E.isLeft(local)) return local
  const manifest = Manifest.parse(local.right.manifestText)
  if (E.isLeft(manifest)) return manifest
  const signed = new Map<string, Locator.Locator>()
  for (const stream of manifest.right.streams) {
    for (const l of stream.locators) {
      const key = keyOf(l)
      if (signed.has(key)) continue
      const bytes = await store.readBlock(l, signal)
      if (E.isLeft(bytes)) return bytes
      const put = await keep.put(bytes.right)()
      if (E.isLeft(put)) return put
      signed.set(key, put.right.locator)
    }
  }
  const text = Manifest.print({ streams: manifest.right.streams.map((s) => ({ ...s, locators: s.locators.map((l) => signed.get(keyOf(l))!) })) })
  const created = await api.collections.create(
    { manifest_text: text, name: `${Path.basename(Path.resolve(dir))} (uploaded by arvados-crunch)`, ...(project === undefined ? {} : { owner_uuid: project }), properties: { type: 'input', arvados_crunch_source: Path.basename(Path.resolve(dir)) } },
    { ensure_unique_name: true },
  )()
  if (E.isLeft(created)) return created
  return Collection.fromManifestText(created.right.manifest_text ?? text, { source: { readBlock: (l) => keep.get(l)() } })
}
