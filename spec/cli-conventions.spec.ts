/**
 * The conventions of the `crunch` command: where options go, --version and help, usage errors
 * (exit 2, the flag as typed), scripts it cannot run, and --output-dir. Each case runs the real
 * command (lib/bin.js) as a child process.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, root } from './support/cli.js'

const tmp = (): string => Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-cli-'))
const numbers = Path.join(root, 'samples', 'numbers.ts')
const failures = Path.join(root, 'samples', 'docs', 'failures.ts')
const shadow = Path.join(root, 'spec', 'fixtures', 'cli', 'shadow.ts')
const usage = (r: { code: number | null; stdout: string; stderr: string }, message: RegExp): void => {
  assert.is(r.code, 2, r.stderr)
  assert.is(r.stdout, '')
  assert.match(r.stderr, /^UsageError \[ARV_USAGE\]: /)
  assert.match(r.stderr, message)
}

const conventions = suite('crunch: command-line conventions')

conventions('should take options before the script as well as after it', async () => {
  const dir = tmp()
  const r = await crunch(['run', '--dispatcher', 'local', '--cache-dir', dir, '--progress=none', numbers, '--n', '2', '--no-reuse'])
  assert.is(r.code, 0, r.stderr)
  assert.is(JSON.parse(r.stdout).sumOfSquares, 5)
})

conventions('should refuse a parameter before the script, saying where parameters go', async () => {
  usage(await crunch(['run', '--n', '2', numbers]), /--n comes before the script, and is not an option of crunch run\n  hint: parameters of the module go after the script/)
})

conventions('should print its version with --version', async () => {
  const version = (JSON.parse(Fs.readFileSync(Path.join(root, 'package.json'), 'utf8')) as { version: string }).version
  for (const flag of ['--version', '-v']) {
    const r = await crunch([flag])
    assert.is(r.code, 0, r.stderr)
    assert.is(r.stdout, `arvados-crunch ${version}\n`)
  }
})

conventions('should print its usage for crunch help, crunch --help and no command; exit 2 on an unknown command', async () => {
  for (const args of [['help'], []]) {
    const r = await crunch(args)
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Usage: crunch <command>\n[\s\S]*crunch run \[options\] <script>/)
  }
  const run = await crunch(['help', 'run'])
  assert.match(run.stdout, /^Usage: crunch run \[options\] <script>/)
  usage(await crunch(['start', numbers]), /unknown command "start"\n  hint: commands: run, explain, report, cache, help/)
  usage(await crunch(['run']), /crunch run needs a script/)
})

conventions('should name the flag as the user spelled it', async () => {
  usage(await crunch(['run', failures, '--inputs', '1', '--wait-ms', 'soon']), /--wait-ms expects a number, got "soon"/)
  usage(await crunch(['run', failures, '--inputs', '1', '--waitMs', 'soon']), /--waitMs expects a number, got "soon"/)
})

conventions('should take decimal numbers only (0x10, 1_000, Infinity, 1e999 and "" are refused)', async () => {
  for (const bad of ['0x10', 'Infinity', '1e999']) usage(await crunch(['run', numbers, '--n', bad]), new RegExp(`--n expects a number, got "${bad}"\\n  hint: write the number in decimal`))
  usage(await crunch(['run', numbers, '--n', '2', '--concurrency', '0x2']), /--concurrency expects a whole number >= 1, got "0x2"/)
  const ok = await crunch(['run', numbers, '--n', '2e0', '--cache-dir', tmp(), '--progress', 'none'])
  assert.is(ok.code, 0, ok.stderr)
})

conventions('should refuse unknown keys in a --params file, and a file that is not a JSON object', async () => {
  const dir = tmp()
  const file = Path.join(dir, 'params.json')
  Fs.writeFileSync(file, JSON.stringify({ n: 2, count: 3 }))
  usage(await crunch(['run', numbers, '--params', file]), /--params .*params\.json: unknown key "count"\n  hint: this module's parameters are n/)
  Fs.writeFileSync(file, '[1, 2]')
  usage(await crunch(['run', numbers, '--params', file]), /must hold a JSON object, not array/)
  Fs.writeFileSync(file, '{"n": ')
  usage(await crunch(['run', numbers, '--params', file]), /is not valid JSON/)
})

conventions('should keep its own options when a parameter has the same name; the parameter comes from --params', async () => {
  const dir = tmp()
  const file = Path.join(dir, 'params.json')
  Fs.writeFileSync(file, JSON.stringify({ verbose: true, project: 'from the file' }))
  const r = await crunch(['run', shadow, '--params', file, '--delay-ms', '5', '--verbose', '--cache-dir', dir, '--progress', 'none'])
  assert.is(r.code, 0, r.stderr)
  assert.is(JSON.parse(r.stdout), 'from the file: verbose=true, delayMs=5')
  const help = await crunch(['run', shadow, '--help'])
  assert.match(help.stdout, /"verbose" \(only in --params\)\s+boolean/)
  assert.match(help.stdout, /"project" \(only in --params\)\s+string/)
  assert.match(help.stdout, /--delay-ms <number>\s+number/)
  assert.match(help.stdout, /--verbose\s+show stacks/)
})

conventions('should say that a parameter named like an option is given in --params when it is missing', async () => {
  const r = await crunch(['run', shadow, '--delay-ms', '5', '--verbose'])
  usage(r, /module "shadow" needs "verbose" \(in --params: --verbose is an option of crunch\), "project" \(in --params: --project is an option of crunch\)\n  hint: give "verbose", "project" in a --params file/)
})

conventions('should check the values of the options of the crunch dispatcher before anything runs', async () => {
  usage(await crunch(['run', numbers, '--n', '1', '--priority', '1001', '--dispatcher', 'crunch']), /--priority expects a whole number from 1 to 1000, got "1001"/)
  usage(await crunch(['run', numbers, '--n', '1', '--priority', 'high']), /--priority expects a whole number from 1 to 1000, got "high"/)
  const local = { env: { CRUNCH_DISPATCHER: '', CRUNCH_ROLE: '' } }
  usage(await crunch(['run', numbers, '--n', '1', '--project-uuid', 'zzzzz-j7d0g-aaaaaaaaaaaaaaa', '--priority', '3', '--cache-dir', tmp()], local), /--project-uuid, --priority are options of the crunch dispatcher\n  hint: add --dispatcher crunch/)
})

conventions('should take --isolation process|none for the local dispatcher', async () => {
  usage(await crunch(['run', numbers, '--n', '1', '--isolation', 'thread']), /--isolation must be process or none, got "thread"/)
  const r = await crunch(['run', numbers, '--n', '2', '--isolation', 'none', '--cache-dir', tmp(), '--progress', 'none'])
  assert.is(r.code, 0, r.stderr)
  assert.is(JSON.parse(r.stdout).chained, 5)
})

conventions('should decode the parameters before --print-graph evaluates run(): a missing one is a usage error', async () => {
  usage(await crunch(['run', numbers, '--print-graph', 'mermaid']), /module "numbers" needs --n\n/)
  const file = Path.join(tmp(), 'params.json')
  Fs.writeFileSync(file, JSON.stringify({ inputs: [1, 'x'] }))
  usage(await crunch(['run', failures, '--params', file, '--wait-ms', '3', '--print-graph', 'json']), /the parameters of module "failures" do not fit its codec\n  ✖ "inputs"\[1\] in .*params\.json expected number, received string/)
})

conventions.run()
