/**
 * Child program for the concurrent-journal spec: opens the result cache in `dir`, stores
 * `n` results `<prefix><i>` → i in batches of 50 (one turn of the event loop each), prints
 * "half" after the first half and waits for a line on stdin before storing the rest, then
 * closes the cache and prints "done".
 * Usage: node --import tsx spec/cache/journal-child.ts <dir> <prefix> <n>
 */
import * as Readline from 'node:readline'
import * as E from 'fp-ts/lib/Either.js'
import * as ResultCache from '../../lib/dispatchers/result-cache.js'

const [dir, prefix, count] = process.argv.slice(2)
const n = Number(count)
const opened = ResultCache.open(dir ?? '')
if (E.isLeft(opened)) {
  process.stderr.write(`${opened.left.message}\n`)
  process.exit(1)
}
const cache = opened.right
const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1))
const lines = Readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]()
for (let i = 0; i < n; i++) {
  cache.put(`${prefix}${i}`, String(i))
  if (i % 50 === 49) await turn()
  if (i === Math.floor(n / 2)) {
    await turn()
    process.stdout.write('half\n')
    await lines.next()
  }
}
await cache.close()
process.stdout.write('done\n')
process.exit(0)
