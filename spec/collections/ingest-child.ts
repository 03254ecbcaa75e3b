/**
 * Child program for the two-process store spec: ingests a directory into a store and prints the PDH.
 * Usage: node --import tsx spec/collections/ingest-child.ts <store dir> <source dir>
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Store from '../../lib/collections/store.js'

const [storeDir, source] = process.argv.slice(2)
const r = await Store.make(storeDir ?? '').ingestDirectory(source ?? '')
if (E.isLeft(r)) {
  process.stderr.write(`${r.left.message}\n`)
  process.exit(1)
}
process.stdout.write(`${r.right.pdh}\n`)
