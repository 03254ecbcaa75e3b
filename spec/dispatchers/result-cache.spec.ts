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

journal('should let the newest journal win when two hold a result for the same call (a recomputed result replaces a stale one)', async () => {
  for (const [older, newer] of [['a', 'b'], ['b', 'a']]) {
    const dir = tmp()
    try {
      Fs.writeFileSync(Path.join(dir, `${older}.journal`), 'id1\t"stale"\n')
      Fs.writeFileSync(Path.join(dir, `${newer}.journal`), 'id1\t"fresh"\n')
      Fs.utimesSync(Path.join(dir, `${older}.journal`), new Date(1_000_000), new Date(1_000_000))
      Fs.utimesSync(Path.join(dir, `${newer}.journal`), new Date(2_000_000), new Date(2_000_000))
      const cache = opened(dir)
      assert.is(cache.get('id1'), '"fresh"', `journal ${newer} is newer`)
      await cache.close()
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }
})

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
