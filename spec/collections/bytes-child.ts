/**
 * Child program for the store spec: stores a 1 MiB in-memory file (through the block workers)
 * into a store under `dir`, prints its PDH, and simply ends: the idle workers must not keep the
 * process alive.
 * Usage: node --import tsx spec/collections/bytes-child.ts <dir>
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Store from '../../lib/collections/store.js'

const r = await Store.make(process.argv[2] ?? '').ingestFiles({ 'big.bin': Buffer.alloc(1 << 20, 9) })
if (E.isLeft(r)) {
  process.stderr.write(`${r.left.message}\n`)
  process.exit(1)
}
process.stdout.write(`${r.right.pdh}\n`)
