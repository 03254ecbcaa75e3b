/**
 * The same call ids from the laptop runner and from a submitted runner, against the Arvados
 * double: a pipeline run with `--dispatcher crunch` and then, unchanged, with `--submit` re-runs
 * nothing (the submitted runner re-attaches to every earlier call request by call id, and
 * starts no container but its own); after a helper edit, the submitted runner re-runs exactly
 * the calls whose work reaches the helper.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, type Ran } from '../support/cli.js'
import * as DoubleEnv from '../support/double/env.js'
import { startDouble, type Double } from '../support/double/index.js'
import { makeProject } from '../support/project.js'
import { FILES } from './project-files.js'

type Rec = Record<string, unknown>
const callIds = (d: Double): ReadonlyArray<string> =>
  [...d.cluster.crs.values()].map((r) => (r['properties'] as Rec)['arvados_crunch_call_id']).filter((id): id is string => typeof id === 'string')

const Both = suite('code identity: laptop runner and submitted runner (Arvados double)')

Both('should re-run nothing when an unchanged pipeline runs with --dispatcher crunch and then with --submit', async () => {
  const p = makeProject('crunch-identity-', FILES)
  const double = await startDouble()
  try {
    const env = DoubleEnv.cliEnv(double, p.dir)
    const run = (extra: ReadonlyArray<string>): Promise<Ran> => crunch(['run', 'pipeline.ts', '--n', '2', '--dispatcher', 'crunch', '--progress', 'json', ...extra], { cwd: p.dir, env, timeoutMs: 180_000 })
    const direct = await run([])
    assert.is(direct.code, 0, direct.stderr)
    assert.equal(JSON.parse(direct.stdout), [5, 10])
    const before = [...callIds(double)].sort()
    assert.is(before.length, 6)
    const started = double.counters.containersStarted
    const submitted = await run(['--submit'])
    assert.is(submitted.code, 0, submitted.stderr)
    assert.equal(JSON.parse(submitted.stdout), [5, 10])
    assert.equal([...callIds(double)].sort(), before, 'the submitted runner made no new call request')
    assert.is(double.counters.containersStarted, started + 1, 'only the runner container started')
    // a helper edit: the submitted runner re-runs the calls whose work reaches it, and what depends on them
    p.edit('helpers/arith.ts', 'x * 2', 'x + x')
    const edited = await run(['--submit'])
    assert.is(edited.code, 0, edited.stderr)
    const after = callIds(double).filter((id) => !before.includes(id))
    assert.is(after.length, 4, 'two double calls and the two add calls downstream')
    assert.is(double.counters.containersStarted, started + 1 + 1 + 4)
  } finally {
    await double.stop()
    p.remove()
  }
})

Both.run()
