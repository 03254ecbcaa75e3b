import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as ResultCache from '../../lib/dispatchers/result-cache.js'

const tmp = (): string => Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-result-cache-'))

const journalLines = (dir: string): Array<string> =>
  Fs.readdirSync(dir)
    .filter((f) => f.endsWith('.journal'))
    .flatMap((f) => Fs.readFileSync(Path.join(dir, f), 'utf8').split('\n'))
    .filter((l) => l !== '')

const opened = (dir: string): ResultCache.ResultCache => {
  const c = ResultCache.open(dir)
  if (E.isLeft(c)) throw new Error(c.left.message)
  return c.right
}

const journal = suite('result cache: journal')

journal('should write a full batch to the journal at once, before the microtask that ends it', async () => {
  const dir = tmp()
  const cache = opened(dir)
  try {
    // calls that finish synchronously, back to back: no microtask runs between these puts
    for (let i = 0; i < 1024; i++) cache.put(`id${i}`, String(i))
    assert.is(journalLines(dir).length, 1024)
  } finally {
    await cache.close()
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

journal('should write a small batch when its microtask ends, and keep every result for the next open', async () => {
  const dir = tmp()
  try {
    const cache = opened(dir)
    cache.put('a', '{"x":1}')
    cache.put('b', '[1,2]')
    await Promise.resolve()
    assert.equal(journalLines(dir).sort(), ['a\t{"x":1}', 'b\t[1,2]'])
    await cache.close()
    const again = opened(dir)
    assert.is(again.get('a'), '{"x":1}')
    assert.is(again.get('b'), '[1,2]')
    assert.is(again.size(), 2)
    await again.close()
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

journal.run()
