/**
 * What a finished container used, read from its log collection as crunch-run (and the double)
 * writes it: `crunchstat.txt` (peak memory, CPU time) and `node.json` (the instance type). One
 * collection read and at most two small Keep reads per call; any of them failing leaves the
 * field out (usage is a report's, never a reason to fail a call).
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as Client from '../../arvados/client.js'
import * as Collection from '../../collections/collection.js'
import * as Crunchstat from '../../report/crunchstat.js'
import type * as Executor from '../executor.js'

/** the files read, in the log collection's top directory */
export const FILES = ['crunchstat.txt', 'node.json'] as const

/**
 * Peak RSS, CPU seconds and instance type of the container whose log collection is `logUuid`
 * (empty when unknown). `manifestText`, when given, is that collection's signed manifest, already
 * read (with the outputs of a batch of finished requests): then no API request is made. `blocks`
 * reads its blocks from Keep (the caller shares the log block with the call's `stderr.txt`).
 *
 * @category interpreters
 * @since 0.2.0
 */
export const read = async (api: Client.ArvadosClient, blocks: Collection.BlockSource, logUuid: string | null, signal: AbortSignal, manifestText?: string): Promise<Executor.Usage> => {
  if (logUuid === null) return {}
  let manifest = manifestText
  if (manifest === undefined) {
    const got = await api.collections.get(logUuid)()
    if (E.isLeft(got)) return {}
    manifest = got.right.manifest_text ?? ''
  }
  const c = Collection.fromManifestText(manifest, { source: blocks })
  if (E.isLeft(c)) return {}
  const text = async (name: string): Promise<string | undefined> => {
    if (!c.right.files.some((f) => f.path === name)) return undefined
    const bytes = await Collection.readEither(c.right, name, signal)
    return E.isLeft(bytes) ? undefined : new TextDecoder().decode(bytes.right)
  }
  const [stats, node] = await Promise.all(FILES.map(text))
  const used = stats === undefined ? {} : Crunchstat.parse(stats)
  const instance = node === undefined ? undefined : Crunchstat.parseNodeJson(node)
  return { ...used, ...(instance === undefined ? {} : { instanceType: instance.name }) }
}
