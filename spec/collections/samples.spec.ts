/**
 * Runs samples/collections-basics.ts (the program docs/collections.md walks through) as a real
 * process and checks its output, so the documented examples keep working.
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..', '..')
const samples = suite('samples/collections-basics.ts')
samples('should run, check itself and print the combined manifest', () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-sample-'))
  try {
    const out = ChildProcess.execFileSync(process.execPath, ['--import', 'tsx', 'samples/collections-basics.ts', dir], { cwd: root, encoding: 'utf8' })
    assert.ok(out.includes('combined 8a5e48327119bd5fb94b7f2c609265a2+185'), out)
    assert.ok(out.includes('./data 344fd2323dd33d5c058b7cf27de029e8+8 c28e7e30d1dd46f320e0c3c1bc967c77+8 0:8:a.csv 8:8:b.csv'), out)
    assert.is(Fs.readFileSync(Path.join(dir, 'extracted', 'report.txt'), 'utf8'), 'part one\npart two\n')
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})
samples.run()
