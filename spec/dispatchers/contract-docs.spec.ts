/**
 * docs/concepts/dispatchers.md shows the contract table: every behaviour of the suite, in the
 * same order, and nothing else.
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { root } from '../support/cli.js'
import { behaviours } from './contract.js'

const docs = suite('docs/concepts/dispatchers.md contract table')

docs('lists every behaviour of the contract suite, in order, and marks what differs', () => {
  const page = Fs.readFileSync(Path.join(root, 'docs', 'concepts', 'dispatchers.md'), 'utf8')
  const table = page.split('<!-- contract table -->')[1]?.split('<!-- end contract table -->')[0] ?? ''
  const rows = table
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| behaviour') && !l.startsWith('|---'))
    .map((l) => l.split('|').map((c) => c.trim()).filter((c) => c !== ''))
  assert.equal(
    rows.map((r) => r[0]),
    behaviours.map((b) => b.name),
  )
  for (const [i, b] of behaviours.entries()) {
    const marks = rows[i]!.slice(1)
    for (const [j, name] of (['in-process', 'process', 'crunch'] as const).entries()) {
      const reason = b.differs?.[name]
      assert.is(marks[j], reason === undefined ? '✓' : `differs: ${reason}`, `${b.name} on ${name}`)
    }
  }
})

docs.run()
