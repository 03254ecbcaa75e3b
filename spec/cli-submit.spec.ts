/**
 * `crunch run` against the Arvados double: arvados-cwl-runner's flags of a submitted runner
 * (`--name` names the runner's container request, `--no-wait` prints its uuid and exits while it
 * runs on), and `--output-dir` with collections read through Keep.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, root } from './support/cli.js'
import { startDouble } from './support/double/index.js'

type Rec = Record<string, unknown>

const until = async (cond: () => boolean, ms = 120_000): Promise<void> => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

const Submit = suite('crunch run --submit: --name and --no-wait')

Submit('should print the runner request uuid and exit at once with --no-wait, the runner named by --name running on', async () => {
  const double = await startDouble({})
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-submit-'))
  try {
    Fs.writeFileSync(Path.join(dir, 'ca.pem'), double.ca)
    const env = { ARVADOS_API_HOST: double.apiHost, ARVADOS_API_TOKEN: double.token, ARVADOS_API_HOST_INSECURE: '', SSL_CERT_FILE: Path.join(dir, 'ca.pem'), HOME: dir, CRUNCH_POLL_MS: '200', CRUNCH_KEEP_REPLICAS: '1', CRUNCH_ROLE: '', CRUNCH_DISPATCHER: '' }
    const r = await crunch(['run', '--dispatcher', 'crunch', '--submit', '--no-wait', '--name', 'numbers, by the spec', Path.join(root, 'samples', 'numbers.ts'), '--n', '2', '--progress', 'none'], { env, cwd: dir, timeoutMs: 120_000 })
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stdout, /^zzzzz-xvhdp-[a-z0-9]{15}\n$/)
    const runner = double.cluster.crs.get(r.stdout.trim())!
    assert.ok(runner !== undefined, 'the printed uuid is the runner request')
    assert.is(runner['name'], 'numbers, by the spec')
    assert.is((runner['properties'] as Rec)['arvados_crunch_role'], 'runner')
    assert.is(runner['priority'] as number > 0, true, 'crunch left the runner running')
    // the runner runs to its end without the command
    await until(() => double.cluster.crs.get(r.stdout.trim())?.['state'] === 'Final')
  } finally {
    await double.stop()
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

Submit('should write the collections of a run on Arvados with --output-dir, read through Keep', async () => {
  const double = await startDouble({})
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-submit-'))
  try {
    Fs.writeFileSync(Path.join(dir, 'ca.pem'), double.ca)
    const env = { ARVADOS_API_HOST: double.apiHost, ARVADOS_API_TOKEN: double.token, ARVADOS_API_HOST_INSECURE: '', SSL_CERT_FILE: Path.join(dir, 'ca.pem'), HOME: dir, CRUNCH_POLL_MS: '200', CRUNCH_KEEP_REPLICAS: '1', CRUNCH_ROLE: '', CRUNCH_DISPATCHER: '' }
    const out = Path.join(dir, 'out')
    const r = await crunch(['run', Path.join(root, 'spec', 'fixtures', 'cli', 'outputs.ts'), '--title', 'On Arvados', '--key', 'report', '--dispatcher', 'crunch', '--output-dir', out, '--progress', 'none'], { env, cwd: dir, timeoutMs: 180_000 })
    assert.is(r.code, 0, r.stderr)
    assert.is(Fs.readFileSync(Path.join(out, 'report', 'report.txt'), 'utf8'), 'On Arvados\n')
    assert.is(Fs.readFileSync(Path.join(out, 'report', 'tables', 'counts.csv'), 'utf8'), 'a,1\nb,2\n')
    assert.is(Fs.readFileSync(Path.join(out, 'parts', '1', 'part-1.txt'), 'utf8'), 'part 1\n')
  } finally {
    await double.stop()
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

Submit('should refuse --no-wait and --name without --submit', async () => {
  for (const flag of [['--no-wait'], ['--name', 'x']]) {
    const r = await crunch(['run', Path.join(root, 'samples', 'numbers.ts'), '--n', '1', '--dispatcher', 'crunch', ...flag], { env: { ARVADOS_API_HOST: 'example.invalid', ARVADOS_API_TOKEN: 'x', CRUNCH_ROLE: '' } })
    assert.is(r.code, 2, r.stderr)
    assert.match(r.stderr, new RegExp(`^UsageError \\[ARV_USAGE\\]: ${flag[0]} is an option of a submitted runner\\n  hint: add --submit`))
  }
})

Submit.run()
