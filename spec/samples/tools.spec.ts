/**
 * The samples that run tools with `ctx.exec` (checksums, example3603, case-control), as real
 * `crunch run` processes: on the local dispatcher, and on the crunch dispatcher against the
 * Arvados double (real containers over the host's files, so the tools are the host's), where
 * the outputs must be the same.
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, root, type Ran } from '../support/cli.js'
import * as DoubleEnv from '../support/double/env.js'
import { startDouble } from '../support/double/index.js'

const sample = (name: string): string => Path.join(root, 'samples', name)
const md5 = (s: string): string => Crypto.createHash('md5').update(s).digest('hex')

const CHECKSUMS = ['--texts', 'alpha', '--texts', 'beta']
const CHECKSUMS_OUT = {
  alpha: Crypto.createHash('sha256').update('alpha').digest('hex'),
  beta: Crypto.createHash('sha256').update('beta').digest('hex'),
}

const P3603 = ['--params', Path.join(root, 'samples', 'data', '3603', 'params.json')]
/** the collection tileruler's stand-in writes for the two lines: one table per human, concatenated */
const pdh3603 = (): string => {
  const hu1 = 'hu0001\tchr1.fastj\t3\t2\nhu0001\tchr2.fastj\t1\t1\n'
  const hu2 = 'hu0002\tchr1.fastj\t2\t1\n'
  const manifest = `. ${md5(hu1)}+${hu1.length} ${md5(hu2)}+${hu2.length} 0:${hu1.length}:hu0001.abv ${hu1.length}:${hu2.length}:hu0002.abv\n`
  return `${md5(manifest)}+${manifest.length}`
}

const CASES = ['--input', Path.join(root, 'samples', 'data', 'case-control')]
const CASES_OUT = { somaticPerPair: { p1: 2, p2: 2, p3: 0 }, recurrent: { 'chr12:25245350 C>T': ['p1', 'p2'] } }

const ok = (r: Ran): unknown => {
  assert.is(r.code, 0, `exit ${String(r.code)}\n${r.stderr}`)
  return JSON.parse(r.stdout)
}

const withDir = async (f: (dir: string) => Promise<void>): Promise<void> => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-samples-tools-'))
  try {
    await f(dir)
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

// the samples' relative paths (params.json) are read from the repository root
const local = (dir: string, script: string, args: ReadonlyArray<string>): Promise<Ran> =>
  crunch(['run', script, ...args, '--dispatcher', 'local', '--progress', 'none', '--cache-dir', Path.join(dir, 'cache')], { cwd: root, env: { CRUNCH_DISPATCHER: '', CRUNCH_ROLE: '' }, timeoutMs: 120_000 })

const Local = suite('samples with tools (local dispatcher)')

Local('checksums.ts should hash each text with sha256sum', () =>
  withDir(async (dir) => {
    assert.equal(ok(await local(dir, sample('checksums.ts'), CHECKSUMS)), CHECKSUMS_OUT)
  }),
)

Local('example3603.ts should run the tileruler stand-in once per line on the mounted collections', () =>
  withDir(async (dir) => {
    assert.is(ok(await local(dir, sample('example3603.ts'), P3603)), pdh3603())
  }),
)

Local('case-control.ts should compare each tumor with its normal and summarize', () =>
  withDir(async (dir) => {
    assert.equal(ok(await local(dir, sample('case-control.ts'), CASES)), CASES_OUT)
  }),
)

Local('a failing tool should fail the run with the command, its status and its stderr', () =>
  withDir(async (dir) => {
    const params = Path.join(dir, 'params.json')
    Fs.writeFileSync(params, JSON.stringify({ lines: ['./samples/data/3603/fastj/hu0001,hu0001'], library: './samples/data/3603/fastj', tool: './samples/tools/tileruler' }))
    const r = await local(dir, sample('example3603.ts'), ['--params', params])
    assert.is(r.code, 1, r.stderr)
    assert.match(r.stderr, /ExecError \[ARV_EXEC_EXIT\]: work "runRuler": `\/\S+\/samples\/tools\/tileruler --crunch .*` exited with status 2/)
    assert.match(r.stderr, /\| tileruler: need -human, -fastj-path DIR and -lib-path DIR with tiles\.txt/)
  }),
)

const OnArvados = suite('samples with tools (crunch dispatcher, Arvados double)')

OnArvados('should give the local outputs for checksums, example3603 and case-control', async () => {
  const double = await startDouble()
  await withDir(async (dir) => {
    const env = DoubleEnv.cliEnv(double, dir)
    const onArvados = (script: string, args: ReadonlyArray<string>): Promise<Ran> =>
      crunch(['run', script, ...args, '--dispatcher', 'crunch', '--progress', 'none'], { env, cwd: root, timeoutMs: 180_000 })
    assert.equal(ok(await onArvados(sample('checksums.ts'), CHECKSUMS)), CHECKSUMS_OUT)
    // containers get a private /tmp: a checkout under it (a CI clone, say) hands them a copy of
    // the tool from a directory they can see
    let tool: ReadonlyArray<string> = []
    if (root.startsWith(Os.tmpdir() + Path.sep)) {
      const visible = Fs.mkdtempSync(Path.join('/var/tmp', 'arv-samples-tool-'))
      Fs.copyFileSync(Path.join(root, 'samples', 'tools', 'tileruler'), Path.join(visible, 'tileruler'))
      Fs.chmodSync(Path.join(visible, 'tileruler'), 0o755)
      tool = ['--tool', Path.join(visible, 'tileruler')]
    }
    assert.is(ok(await onArvados(sample('example3603.ts'), [...P3603, ...tool])), pdh3603())
    assert.equal(ok(await onArvados(sample('case-control.ts'), CASES)), CASES_OUT)
  }).finally(() => double.stop())
})

Local.run()
OnArvados.run()
