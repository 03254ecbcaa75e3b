/**
 * `crunch explain <script> [parameters]`: for every call run() makes, whether it would be reused
 * and why, read from the local cache; nothing runs.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, root } from './support/cli.js'

const numbers = Path.join(root, 'samples', 'numbers.ts')
const explain = suite('crunch explain')

explain('says which calls a run would reuse and why the others would run, and runs nothing', async () => {
  const cwd = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-explain-'))
  try {
    const fresh = await crunch(['explain', numbers, '--n', '2'], { cwd })
    assert.is(fresh.code, 0, fresh.stderr)
    assert.match(fresh.stdout, /▶ run\/square#0 +\[[0-9a-f]{12}\] +runs: no earlier result/)
    assert.match(fresh.stdout, /0 would be reused/)
    assert.not.ok(Fs.existsSync(Path.join(cwd, '.crunch', 'results')) && Fs.readdirSync(Path.join(cwd, '.crunch', 'results')).some((f) => Fs.statSync(Path.join(cwd, '.crunch', 'results', f)).size > 0), 'explain ran nothing')
    const ran = await crunch(['run', numbers, '--n', '2', '--progress', 'none'], { cwd })
    assert.is(ran.code, 0, ran.stderr)
    const again = await crunch(['explain', numbers, '--n', '3'], { cwd })
    assert.is(again.code, 0, again.stderr)
    assert.match(again.stdout, /↺ run\/square#0 +\[[0-9a-f]{12}\] +reused: its result is in the cache/)
    assert.match(again.stdout, /▶ run\/square#2 .*runs: no earlier result/)
    assert.match(again.stdout, /▶ run\/sum#0 .*runs: an argument changed since the last run \(argument 1\)/)
    assert.match(again.stdout, /2 would be reused, \d+ would run/)
    const off = await crunch(['explain', numbers, '--n', '2', '--no-reuse'], { cwd })
    assert.match(off.stdout, /runs: reuse is off \(--no-reuse\)/)
  } finally {
    Fs.rmSync(cwd, { recursive: true, force: true })
  }
})

explain('is refused with the crunch dispatcher, naming the flag', async () => {
  const r = await crunch(['explain', numbers, '--n', '2', '--dispatcher', 'crunch'], { cwd: Os.tmpdir() })
  assert.is(r.code, 2)
  assert.match(r.stderr, /--explain reads the local result cache/)
})

explain.run()
