import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, root } from './support/cli.js'

const tmp = (): string => Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-cli-'))
const numbers = Path.join(root, 'samples', 'numbers.ts')
const slow = Path.join(root, 'spec', 'fixtures', 'core', 'slow.ts')

const run = suite('crunch run')

run('should run a sample pipeline and print its decoded output as JSON', async () => {
  const r = await crunch(['run', numbers, '--n', '4', '--cache-dir', tmp()])
  assert.is(r.code, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout), { sumOfSquares: 30, chained: 7, viaContinuation: 30 })
})

run('should take parameters from --params file.json, with flags overriding', async () => {
  const dir = tmp()
  const file = Path.join(dir, 'params.json')
  Fs.writeFileSync(file, JSON.stringify({ n: 100 }))
  const r = await crunch(['run', numbers, '--params', file, '--n', '2', '--cache-dir', dir])
  assert.is(r.code, 0, r.stderr)
  assert.is(JSON.parse(r.stdout).sumOfSquares, 5)
})

run('should print --help generated from the params codec', async () => {
  const r = await crunch(['run', numbers, '--help'])
  assert.is(r.code, 0)
  assert.match(r.stdout, /Runs the pipeline "numbers"/)
  assert.match(r.stdout, /--n <number>\s+number/)
  assert.match(r.stdout, /--no-reuse/)
})

run('should exit 2 with one clear message on a bad flag value', async () => {
  const r = await crunch(['run', numbers, '--n', 'many'])
  assert.is(r.code, 2)
  assert.is(r.stdout, '')
  assert.match(r.stderr, /^UsageError \[ARV_USAGE\]: --n expects a number, got "many"\n  hint: write the number in decimal/)
})

run('should exit 2 on an unknown flag, listing the parameters', async () => {
  const r = await crunch(['run', numbers, '--count', '3'])
  assert.is(r.code, 2)
  assert.match(r.stderr, /unknown flag --count[\s\S]*this module's parameters are --n/)
})

run('should exit 2 naming the flag when a required parameter is missing', async () => {
  const r = await crunch(['run', numbers, '--cache-dir', tmp()])
  assert.is(r.code, 2)
  assert.is(r.stderr, 'UsageError [ARV_USAGE]: module "numbers" needs --n\n  hint: run with --help to see the parameters\n')
})

run('should print the call graph without running anything', async () => {
  const r = await crunch(['run', numbers, '--n', '2', '--print-graph', 'mermaid'])
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stdout, /^flowchart LR\n/)
  assert.is(r.stdout.match(/\["square /g)?.length, 2)
})

run('should fail clearly for a missing script', async () => {
  const r = await crunch(['run', 'no/such/script.ts'])
  assert.is(r.code, 2)
  assert.match(r.stderr, /no such script: no\/such\/script\.ts/)
})

run('should ask for crunch clearly when Arvados is not configured', async () => {
  const r = await crunch(['run', numbers, '--n', '1', '--dispatcher', 'crunch'], { env: { ARVADOS_API_HOST: '', ARVADOS_API_TOKEN: '', HOME: tmp() } })
  assert.is(r.code, 1)
  assert.match(r.stderr, /ARVADOS_API_HOST/)
})

run('should refuse options of the crunch dispatcher on a local run, saying how to ask for crunch', async () => {
  const r = await crunch(['run', numbers, '--n', '1', '--project', 'zzzzz-j7d0g-aaaaaaaaaaaaaaa', '--cache-dir', tmp()], { env: { CRUNCH_DISPATCHER: '', CRUNCH_ROLE: '' } })
  assert.is(r.code, 2)
  assert.is(r.stdout, '')
  assert.match(r.stderr, /UsageError \[ARV_USAGE\]: --project is an option of the crunch dispatcher\n  hint: add --dispatcher crunch/)
})

run('should honour CRUNCH_DISPATCHER when --dispatcher is not given', async () => {
  const r = await crunch(['run', numbers, '--n', '1'], { env: { CRUNCH_DISPATCHER: 'crunch', CRUNCH_ROLE: '', ARVADOS_API_HOST: '', ARVADOS_API_TOKEN: '', HOME: tmp() } })
  assert.is(r.code, 1)
  assert.match(r.stderr, /ConfigError \[ARV_CONFIG\]: ARVADOS_API_HOST and ARVADOS_API_TOKEN are not set/)
})

run.run()

// ---

const lifecycle = suite('runMain')

lifecycle('should report a script that cannot be loaded as one clear message', async () => {
  const dir = tmp()
  Fs.writeFileSync(Path.join(dir, 'package.json'), '{"type":"module"}')
  Fs.writeFileSync(Path.join(dir, 'broken.ts'), "import { nothing } from './missing.js'\nconsole.log(nothing)\n")
  const r = await crunch(['run', Path.join(dir, 'broken.ts')])
  assert.is(r.code, 1)
  assert.match(r.stderr, /^ScriptLoadError \[ARV_SCRIPT_LOAD\]: cannot load .*broken\.ts/)
  assert.not.match(r.stderr, /at packageResolve/)
})

lifecycle('should do nothing when the script is imported', async () => {
  const dir = tmp()
  const probe = Path.join(dir, 'probe.ts')
  Fs.writeFileSync(Path.join(dir, 'package.json'), '{"type":"module"}')
  Fs.writeFileSync(probe, `import { Numbers } from ${JSON.stringify(numbers)}\nconsole.log('imported', Numbers.name)\n`)
  const { runNode } = await import('./support/cli.js')
  const r = await runNode(['--import', 'tsx', probe, '--n', '1'])
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout, 'imported numbers\n')
})

lifecycle('should run when node starts the script directly (node --import tsx script.ts)', async () => {
  const { runNode } = await import('./support/cli.js')
  const r = await runNode(['--import', 'tsx', numbers, '--n', '1', '--cache-dir', tmp()])
  assert.is(r.code, 0, r.stderr)
  assert.is(JSON.parse(r.stdout).chained, 4)
})

lifecycle('should cancel on SIGINT: running calls see the signal, exit code 130', async () => {
  const dir = tmp()
  const marker = Path.join(dir, 'marker')
  const r = await crunch(['run', slow, '--mode', 'sigint', '--n', '0', '--file', marker, '--cache-dir', dir], {
    onSpawn: (child) => {
      child.stdout!.on('data', (b: Buffer) => {
        if (b.toString().includes('waiting')) child.kill('SIGINT')
      })
    },
  })
  assert.is(r.code, 130, r.stderr)
  assert.match(r.stderr, /CancelledError \[ARV_CANCELLED\]: the run of module "slow" was cancelled: interrupted \(SIGINT\)/)
  assert.is(Fs.readFileSync(marker, 'utf8'), 'saw the abort')
})

lifecycle('should say so when an implementation never settles, instead of exiting silently', async () => {
  const dir = tmp()
  const script = Path.join(root, 'spec', 'fixtures', 'core', 'stall.ts')
  const r = await crunch(['run', script, '--cache-dir', dir], { cwd: root })
  assert.is(r.code, 1)
  assert.match(r.stderr, /StalledRunError \[ARV_STALLED\]: the run of module "stall" stalled/)
})

lifecycle('should re-execute only unfinished calls after a crash', async () => {
  const dir = tmp()
  const log = Path.join(dir, 'log')
  const args = ['run', slow, '--mode', 'crash', '--n', '6', '--file', log, '--cache-dir', dir, '--concurrency', '1', '--progress', 'none']
  const crashed = await crunch(args, { env: { CRASH_AT: '3' } })
  assert.is(crashed.signal, 'SIGKILL')
  assert.equal(Fs.readFileSync(log, 'utf8').trim().split('\n'), ['0', '1', '2', '3'])
  Fs.writeFileSync(log, '')
  const again = await crunch(args)
  assert.is(again.code, 0, again.stderr)
  assert.is(JSON.parse(again.stdout), 55)
  assert.equal(Fs.readFileSync(log, 'utf8').trim().split('\n'), ['3', '4', '5'], 'the squares that finished before the crash were reused')
})

lifecycle.run()
