/**
 * Code identity, end to end: the real `crunch` command runs a small project (works in their
 * own files, a helper module, a third-party package) with the local dispatcher and a cache
 * directory, then runs it again after edits. Each implementation logs a line when it really
 * runs, so the log lines say exactly which calls re-ran.
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, type Ran } from '../support/cli.js'
import { makeProject, type Project } from '../support/project.js'
import { FILES } from './project-files.js'

const run = (p: Project, extra: ReadonlyArray<string> = []): Promise<Ran> =>
  crunch(['run', 'pipeline.ts', '--n', '2', '--cache-dir', 'cache', '--progress', 'json', '--concurrency', '1', ...extra], { cwd: p.dir, env: { CRUNCH_DISPATCHER: '', CRUNCH_ROLE: '' } })

/** the "ran …" lines, sorted */
const ran = (r: Ran): ReadonlyArray<string> => {
  assert.is(r.code, 0, `exit ${String(r.code)}\n${r.stderr}`)
  assert.equal(JSON.parse(r.stdout), [5, 10])
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{"type":"log"'))
    .map((l) => (JSON.parse(l) as { message: string }).message)
    .filter((m) => m.startsWith('ran '))
    .sort()
}

const ALL = ['ran add 2+3', 'ran add 4+6', 'ran double 1', 'ran double 2', 'ran triple 1', 'ran triple 2']

const Edits = suite('code identity: what an edit re-runs (local dispatcher, real CLI)')

Edits('should re-run exactly the calls whose work reaches an edited helper, and what depends on them', async () => {
  const p = makeProject('crunch-identity-', FILES)
  try {
    assert.equal(ran(await run(p)), ALL)
    assert.equal(ran(await run(p)), [])
    p.edit('helpers/arith.ts', 'x * 2', 'x + x')
    // double reaches the helper; add takes double's futures; triple is untouched
    assert.equal(ran(await run(p)), ['ran add 2+3', 'ran add 4+6', 'ran double 1', 'ran double 2'])
    assert.equal(ran(await run(p)), [])
  } finally {
    p.remove()
  }
})

Edits('should re-run nothing after edits of comments and whitespace only', async () => {
  const p = makeProject('crunch-identity-', FILES)
  try {
    assert.equal(ran(await run(p)), ALL)
    p.edit('helpers/arith.ts', '/** the helper double() calls */', '// a comment\n\n/* another, longer\n   comment */')
    p.edit('helpers/arith.ts', '(x: number): number => x * 2', '(x: number): number =>\n    x    *    2  // doubled\n')
    p.edit('works/double.ts', "  ctx.log(`ran double ${x}`)\n", "  // says what ran\n\n\n  ctx.log(`ran double ${x}`)   \n")
    p.edit('works/triple.ts', 'return x * factor', 'return (\n    x * factor\n  ) /* the factor comes from a package */')
    assert.equal(ran(await run(p)), [])
  } finally {
    p.remove()
  }
})

Edits('should re-run the calls of works that import a third-party package when its version changes', async () => {
  const p = makeProject('crunch-identity-', FILES)
  try {
    assert.equal(ran(await run(p)), ALL)
    p.edit('node_modules/fakepkg/package.json', '"1.0.0"', '"1.0.1"')
    assert.equal(ran(await run(p)), ['ran add 2+3', 'ran add 4+6', 'ran triple 1', 'ran triple 2'])
  } finally {
    p.remove()
  }
})

Edits('should re-run nothing when only run() or a file no work reaches changes', async () => {
  const p = makeProject('crunch-identity-', FILES)
  try {
    assert.equal(ran(await run(p)), ALL)
    // run's file is not reached by any work: a call is reused on its own
    p.edit('pipeline.ts', "name: 'ident',", "name: 'ident', // same module\n  returns: undefined,")
    p.write('helpers/unused.ts', 'export const unused = 1\n')
    assert.equal(ran(await run(p)), [])
  } finally {
    p.remove()
  }
})

Edits('should re-run a work whose own file changes, through a new import too', async () => {
  const p = makeProject('crunch-identity-', FILES)
  try {
    assert.equal(ran(await run(p)), ALL)
    p.write('helpers/more.ts', 'export const one = 1\n')
    p.edit('works/triple.ts', "import { factor } from 'fakepkg'", "import { factor } from 'fakepkg'\nimport { one } from '../helpers/more.js'")
    p.edit('works/triple.ts', 'return x * factor', 'return x * factor * one')
    assert.equal(ran(await run(p)), ['ran add 2+3', 'ran add 4+6', 'ran triple 1', 'ran triple 2'])
    // and the newly imported file now counts
    p.edit('helpers/more.ts', 'one = 1', 'one = 1.0 * 1')
    assert.equal(ran(await run(p)), ['ran add 2+3', 'ran add 4+6', 'ran triple 1', 'ran triple 2'])
    assert.ok(Fs.existsSync(Path.join(p.dir, 'cache')))
  } finally {
    p.remove()
  }
})

Edits.run()
