/**
 * The same call ids from tsx (the laptop) and from the crunch bundle (what a work container and
 * a submitted runner run): the bundle is built the way the crunch dispatcher builds it, copied
 * to another directory (no sources near it), and run with node --enable-source-maps, as a
 * container runs it, and without. Its graph must have the ids the tsx run prints.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Bundle from '../../lib/dispatchers/crunch/bundle.js'
import * as Identity from '../../lib/identity/identity.js'
import { crunch, runNode, type Ran } from '../support/cli.js'
import { makeProject } from '../support/project.js'
import { FILES } from './project-files.js'

const ids = (r: Ran): ReadonlyArray<string> => {
  assert.is(r.code, 0, `exit ${String(r.code)}\n${r.stderr}`)
  return (JSON.parse(r.stdout) as { nodes: ReadonlyArray<{ kind: string; id: string }> }).nodes.filter((n) => n.kind === 'call').map((n) => n.id)
}

const env = { CRUNCH_DISPATCHER: '', CRUNCH_ROLE: '' }

const Same = suite('code identity: tsx and the bundle')

Same('should give the same call ids from tsx and from the bundle run elsewhere', async () => {
  const p = makeProject('crunch-identity-', FILES)
  const elsewhere = Fs.realpathSync(Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-bundle-')))
  try {
    const viaTsx = ids(await crunch(['run', 'pipeline.ts', '--n', '3', '--print-graph', 'json'], { cwd: p.dir, env }))
    assert.is(viaTsx.length, 9)
    const built = await Bundle.build(Path.join(p.dir, 'pipeline.ts'))
    if (E.isLeft(built)) throw new Error(built.left.message)
    const table = Identity.fromBundleText(new TextDecoder().decode(Bundle.entryOf(built.right)!.bytes))
    assert.ok(table !== undefined, 'the bundle embeds its identity table')
    assert.ok(table.nodes['works/double.ts'] !== undefined && table.nodes['helpers/arith.ts'] !== undefined)
    assert.ok(table.nodes['npm:fakepkg@1.0.0'] !== undefined, 'packages count by name@version')
    // the bundle alone, two directories deep, sources gone from its sight
    const dir = Path.join(elsewhere, 'a', 'b')
    Fs.mkdirSync(dir, { recursive: true })
    Bundle.writeTo(built.right, dir)
    const viaBundle = ids(await runNode(['--enable-source-maps', Path.join(dir, Bundle.FILE), '--n', '3', '--print-graph', 'json'], { cwd: elsewhere, env }))
    assert.equal(viaBundle, viaTsx)
    // the bundle tells each work its file from its line: source maps are not needed
    const withoutMaps = ids(await runNode([Path.join(dir, Bundle.FILE), '--n', '3', '--print-graph', 'json'], { cwd: elsewhere, env }))
    assert.equal(withoutMaps, viaTsx)
    // the same again after a helper edit: both sides move together
    p.edit('helpers/arith.ts', 'x * 2', 'x + x')
    const editedTsx = ids(await crunch(['run', 'pipeline.ts', '--n', '3', '--print-graph', 'json'], { cwd: p.dir, env }))
    const rebuilt = await Bundle.build(Path.join(p.dir, 'pipeline.ts'))
    if (E.isLeft(rebuilt)) throw new Error(rebuilt.left.message)
    Bundle.writeTo(rebuilt.right, dir)
    const editedBundle = ids(await runNode(['--enable-source-maps', Path.join(dir, Bundle.FILE), '--n', '3', '--print-graph', 'json'], { cwd: elsewhere, env }))
    assert.equal(editedBundle, editedTsx)
    assert.is(editedTsx.filter((id) => viaTsx.includes(id)).length, 3, 'the three triple calls keep their ids')
  } finally {
    p.remove()
    Fs.rmSync(elsewhere, { recursive: true, force: true })
  }
})

Same('should build byte-identical bundles from the same sources (the identity table is deterministic)', async () => {
  const p = makeProject('crunch-identity-', FILES)
  try {
    const a = await Bundle.build(Path.join(p.dir, 'pipeline.ts'))
    const b = await Bundle.build(Path.join(p.dir, 'pipeline.ts'))
    if (E.isLeft(a) || E.isLeft(b)) throw new Error('bundle failed')
    assert.is(Bundle.manifestOf(a.right).pdh, Bundle.manifestOf(b.right).pdh)
  } finally {
    p.remove()
  }
})

Same.run()
