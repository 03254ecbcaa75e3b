import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Owner from '../../lib/cache/owner.js'
import * as ResultCache from '../../lib/dispatchers/result-cache.js'

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..', '..')
const tmp = (): string => Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-result-cache-'))

const journals = (dir: string): Array<string> => Fs.readdirSync(dir).filter((f) => f.endsWith('.journal'))

const journalLines = (dir: string): Array<string> =>
  journals(dir)
    .flatMap((f) => Fs.readFileSync(Path.join(dir, f), 'utf8').split('\n'))
    .filter((l) => l !== '')

const opened = (dir: string): ResultCache.ResultCache => {
  const c = ResultCache.open(dir)
  if (E.isLeft(c)) throw new Error(c.left.message)
  return c.right
}

/** a sealed journal holding `pairs`, written as a run would */
const sealed = (dir: string, name: string, pairs: ReadonlyArray<readonly [string, string]>, stamp = 1): string => {
  const file = Path.join(dir, `${name}.journal`)
  Fs.writeFileSync(file, pairs.map(([id, json]) => ResultCache.record(id, stamp, json)).join(''))
  return file
}

const journal = suite('result cache: journal')

journal('should let the newest journal win when two hold a result for the same call (a recomputed result replaces a stale one)', async () => {
  for (const [older, newer] of [['a', 'b'], ['b', 'a']]) {
    const dir = tmp()
    try {
      sealed(dir, older!, [['id1', '"stale"']])
      sealed(dir, newer!, [['id1', '"fresh"']])
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
    assert.equal(
      journalLines(dir).map((l) => ResultCache.parseRecord(l)?.json).sort(),
      ['[1,2]', '{"x":1}'],
    )
    await cache.close()
    const again = opened(dir)
    assert.is(again.get('a'), '{"x":1}')
    assert.is(again.get('b'), '[1,2]')
    assert.is(again.size(), 2)
    assert.equal(again.stats(), { entries: 2, discarded: 0 })
    await again.close()
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

journal('should seal a journal when the run closes it: the name without its writer tag', async () => {
  const dir = tmp()
  try {
    const cache = opened(dir)
    cache.put('a', '1')
    await Promise.resolve()
    assert.ok(journals(dir)[0]!.startsWith('w-'), journals(dir)[0])
    await cache.close()
    assert.equal(journals(dir).map((f) => f.startsWith('w-')), [false])
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

const verify = suite('result cache: every record verifies itself')

verify('should never decode a record cut short (the reuse.ts repro: "total" 5 instead of 55), and count it', async () => {
  const dir = tmp()
  try {
    const file = sealed(dir, 'j', [['square5', '25'], ['sum', '55']])
    Fs.truncateSync(file, Fs.statSync(file).size - 2)
    const cache = opened(dir)
    assert.is(cache.get('square5'), '25')
    assert.is(cache.get('sum'), undefined, 'a torn record is absent, never "5"')
    assert.equal(cache.stats(), { entries: 1, discarded: 1 })
    await cache.close()
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

verify('should never decode a record whose text was altered (any single byte), and count it', async () => {
  const dir = tmp()
  try {
    const file = sealed(dir, 'j', [['sum', '55']])
    const text = Fs.readFileSync(file, 'utf8')
    for (let i = 0; i < text.length - 1; i++) {
      const altered = text.slice(0, i) + (text[i] === '5' ? '6' : text[i] === '\t' ? ' ' : '5') + text.slice(i + 1)
      Fs.writeFileSync(file, altered)
      const cache = opened(dir)
      assert.is(cache.get('sum'), undefined, `altered at ${i}: ${JSON.stringify(altered)}`)
      assert.is(cache.stats().discarded, 1)
      await cache.close()
    }
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

verify('should discard a line of the old format (no check) rather than trust it', async () => {
  const dir = tmp()
  try {
    Fs.writeFileSync(Path.join(dir, 'old.journal'), 'id1\t"x"\n')
    const cache = opened(dir)
    assert.is(cache.get('id1'), undefined)
    assert.is(cache.stats().discarded, 1)
    await cache.close()
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

verify('should keep results whose JSON spans lines as one record', async () => {
  const dir = tmp()
  try {
    const cache = opened(dir)
    cache.put('a', '{\n  "x": "a\\nb"\n}')
    await cache.close()
    const again = opened(dir)
    assert.equal(JSON.parse(again.get('a')!), { x: 'a\nb' })
    await again.close()
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

const merge = suite('result cache: merging')

merge('should merge more than 16 finished journals into one, keeping the newest result per call', async () => {
  const dir = tmp()
  try {
    for (let i = 0; i < 17; i++) {
      sealed(dir, `j${String(i).padStart(2, '0')}`, [[`id${i}`, String(i)], ['same', String(i)]])
      Fs.utimesSync(Path.join(dir, `j${String(i).padStart(2, '0')}.journal`), new Date(1_000_000 + i * 1000), new Date(1_000_000 + i * 1000))
    }
    const cache = opened(dir)
    await cache.close()
    assert.is(journals(dir).length, 1)
    const again = opened(dir)
    assert.is(again.size(), 18)
    assert.is(again.get('same'), '16')
    await again.close()
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

merge('should neither merge nor delete a journal whose writer runs, and not count its line in flight', async () => {
  const dir = tmp()
  const sleeper = ChildProcess.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  try {
    for (let i = 0; i < 17; i++) sealed(dir, `j${i}`, [[`id${i}`, String(i)]])
    const tag = Owner.tag({ ...Owner.self(), pid: sleeper.pid! })
    const live = Path.join(dir, `w-${tag}-live.journal`)
    Fs.writeFileSync(live, `${ResultCache.record('running', 2, '"r"')}${ResultCache.record('half', 2, '"h"')!.slice(0, 10)}`)
    const cache = opened(dir)
    assert.is(cache.get('running'), '"r"')
    assert.is(cache.stats().discarded, 0, 'the last line of a live journal is in flight')
    await cache.close()
    assert.ok(Fs.existsSync(live), 'the live journal is still there')
    assert.is(journals(dir).length, 2)
    sleeper.kill('SIGKILL')
    await new Promise((resolve) => sleeper.once('exit', resolve))
    // its writer gone, the same journal is a crashed run's: its torn line counts
    const after = opened(dir)
    assert.is(after.get('running'), '"r"')
    assert.is(after.stats().discarded, 1)
    await after.close()
  } finally {
    sleeper.kill('SIGKILL')
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

interface Child {
  readonly proc: ChildProcess.ChildProcess
  readonly said: (word: string) => Promise<void>
}

const child = (dir: string, prefix: string, n: number): Child => {
  const proc = ChildProcess.spawn(process.execPath, ['--import', 'tsx', Path.join(root, 'spec/cache/journal-child.ts'), dir, prefix, String(n)], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] })
  let out = ''
  const waiting: Array<() => void> = []
  proc.stdout!.on('data', (b: Buffer) => {
    out += b.toString()
    for (const w of waiting.splice(0)) w()
  })
  const said = (word: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => (out.split('\n').includes(word) ? resolve() : proc.exitCode !== null ? reject(new Error(`child ${prefix} exited before "${word}"`)) : void waiting.push(check))
      proc.once('exit', check)
      check()
    })
  return { proc, said }
}

merge('should lose no result when two runs write while a third opens the cache and merges', async () => {
  const dir = tmp()
  const n = 2000
  const a = child(dir, 'a', n)
  const b = child(dir, 'b', n)
  try {
    for (let i = 0; i < 17; i++) sealed(dir, `old${i}`, [[`old${i}`, String(i)]])
    await Promise.all([a.said('half'), b.said('half')])
    // both writers hold open journals with half their results; this open merges
    const third = opened(dir)
    assert.is(third.get('a0'), '0')
    assert.is(third.get('b0'), '0')
    third.put('third', '3')
    await third.close()
    assert.ok(journals(dir).length < 17, `merged: ${journals(dir).length} journals`)
    a.proc.stdin!.end('go\n')
    b.proc.stdin!.end('go\n')
    await Promise.all([a.said('done'), b.said('done')])
    const all = opened(dir)
    for (let i = 0; i < n; i++) {
      assert.is(all.get(`a${i}`), String(i), `a${i}`)
      assert.is(all.get(`b${i}`), String(i), `b${i}`)
    }
    for (let i = 0; i < 17; i++) assert.is(all.get(`old${i}`), String(i))
    assert.is(all.get('third'), '3')
    assert.equal(all.stats(), { entries: 2 * n + 17 + 1, discarded: 0 })
    await all.close()
  } finally {
    a.proc.kill('SIGKILL')
    b.proc.kill('SIGKILL')
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

journal.run()
verify.run()
merge.run()
