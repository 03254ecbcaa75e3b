/**
 * Materialization cannot escape its target: while another process keeps swapping a
 * sub-directory of the target for a symlink to a directory outside (and back), many
 * materializations write nothing outside — each ends OK or with an error value, and the
 * outside directory stays empty. Also: a plain materialization gives the same files, a target
 * that is not empty is refused, and a symlink already inside the target is never followed.
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Collection from '../../lib/collections/collection.js'
import * as Materialize from '../../lib/collections/materialize.js'
import * as Store from '../../lib/collections/store.js'

const made: Array<string> = []
const tmp = (): string => {
  const d = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-materialize-'))
  made.push(d)
  return d
}
process.on('exit', () => {
  for (const d of made) Fs.rmSync(d, { recursive: true, force: true })
})
const right = <A>(e: E.Either<{ readonly message: string }, A>): A => {
  if (E.isLeft(e)) throw new Error(e.left.message)
  return e.right
}
const walk = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(Path.join(dir, d.name)).map((p) => `${d.name}/${p}`) : [d.name]))

/** A collection of `n` small files under `sub/deeper/` (and a few at the top). */
const collectionOf = async (n: number): Promise<Collection.Collection> => {
  const src = tmp()
  Fs.mkdirSync(Path.join(src, 'sub', 'deeper'), { recursive: true })
  for (let i = 0; i < n; i++) Fs.writeFileSync(Path.join(src, 'sub', 'deeper', `f${i}.txt`), `file ${i}\n`)
  for (let i = 0; i < 3; i++) Fs.writeFileSync(Path.join(src, 'sub', `g${i}.txt`), `g ${i}\n`)
  Fs.writeFileSync(Path.join(src, 'top.txt'), 'top\n')
  return right(await Store.make(tmp()).ingestDirectory(src))
}

const Plain = suite('materialize')

Plain('should write every file of a collection under the target', async () => {
  const c = await collectionOf(5)
  const target = Path.join(tmp(), 'out')
  assert.is(right(await Materialize.materialize(c, target)), target)
  assert.equal(walk(target).sort(), ['sub/deeper/f0.txt', 'sub/deeper/f1.txt', 'sub/deeper/f2.txt', 'sub/deeper/f3.txt', 'sub/deeper/f4.txt', 'sub/g0.txt', 'sub/g1.txt', 'sub/g2.txt', 'top.txt'])
  assert.is(Fs.readFileSync(Path.join(target, 'sub/deeper/f3.txt'), 'utf8'), 'file 3\n')
})

Plain('should refuse a target that is not empty, even when its only entry is a symlink', async () => {
  const c = await collectionOf(1)
  const target = tmp()
  const outside = tmp()
  Fs.symlinkSync(outside, Path.join(target, 'sub'))
  const r = await Materialize.materialize(c, target)
  assert.ok(E.isLeft(r) && r.left.code === 'ARV_TARGET_NOT_EMPTY')
  assert.equal(Fs.readdirSync(outside), [])
})

const Race = suite('materialize while a sub-directory is swapped for a symlink')

/**
 * A child process that, until told to stop, takes the current target from `current` and
 * renames its `sub` (or `sub/deeper`) away, puts a symlink to `outside` in its place, then
 * swaps back; it prints how many swaps it made.
 */
const swapper = (current: string, outside: string): ChildProcess.ChildProcess =>
  ChildProcess.spawn(
    process.execPath,
    [
      '-e',
      `
      const fs = require('fs')
      const [current, outside] = process.argv.slice(1)
      let swaps = 0
      process.on('SIGTERM', () => { process.stdout.write(String(swaps)); process.exit(0) })
      const swap = (dir) => {
        try { fs.renameSync(dir, dir + '.aside'); fs.symlinkSync(outside, dir); swaps++ } catch {}
        try { fs.unlinkSync(dir); fs.renameSync(dir + '.aside', dir) } catch {}
      }
      const loop = () => {
        let target = ''
        try { target = fs.readFileSync(current, 'utf8') } catch {}
        if (target !== '') for (let i = 0; i < 50; i++) { swap(target + '/sub'); swap(target + '/sub/deeper') }
        setImmediate(loop)
      }
      loop()
      `,
      current,
      outside,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )

Race('should write nothing outside the target in 200 materializations racing a symlink swap', async () => {
  const c = await collectionOf(40)
  const base = tmp()
  const outside = Path.join(base, 'outside')
  const current = Path.join(base, 'current')
  Fs.mkdirSync(outside)
  let ok = 0
  let refused = 0
  let swaps = 0
  const codes = new Set<string>()
  for (let round = 0; round < 10; round++) {
    const child = swapper(current, outside)
    let out = ''
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()))
    for (let i = 0; i < 20; i++) {
      const target = Path.join(base, `r${round}`, `t${i}`)
      Fs.mkdirSync(target, { recursive: true })
      Fs.writeFileSync(current, target)
      const r = await Materialize.materialize(c, target)
      if (E.isRight(r)) ok++
      else {
        refused++
        codes.add(r.left.code)
      }
      // the one thing that must hold, every time
      assert.equal(Fs.readdirSync(outside), [], `round ${round}.${i} wrote outside the target`)
    }
    await new Promise<void>((resolve) => {
      child.on('close', () => resolve())
      child.kill('SIGTERM')
    })
    swaps += Number(out) || 0
    Fs.rmSync(Path.join(base, `r${round}`), { recursive: true, force: true })
  }
  assert.equal(Fs.readdirSync(outside), [])
  assert.ok(swaps > 0, 'the swapper never swapped')
  assert.is(ok + refused, 200)
  for (const code of codes) assert.ok(code === 'ARV_TARGET_CHANGED' || code === 'ARV_MATERIALIZE_IO', code)
  console.log(`    ${ok} completed, ${refused} refused (${[...codes].join(', ')}), ${swaps} swaps, 0 files outside`)
})

Plain.run()
Race.run()
