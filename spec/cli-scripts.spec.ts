/**
 * What `crunch run` says about scripts it cannot run, and --output-dir. Each case runs the real
 * command (lib/bin.js) as a child process.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, root } from './support/cli.js'

const tmp = (): string => Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-cli-'))
const outputs = Path.join(root, 'spec', 'fixtures', 'cli', 'outputs.ts')
const sdk = JSON.stringify(Path.join(root, 'lib', 'index.js'))
const ioTs = JSON.stringify(Path.join(root, 'node_modules', 'io-ts', 'lib', 'index.js'))

const scripts = suite('crunch: scripts it cannot run')

scripts('should headline a TypeScript syntax error with file:line:col and the message', async () => {
  const dir = tmp()
  Fs.writeFileSync(Path.join(dir, 'package.json'), '{"type":"module"}')
  Fs.writeFileSync(Path.join(dir, 'typo.ts'), "import * as t from 'io-ts'\nconst x: number = (\nexport const y = 1\n")
  const r = await crunch(['run', 'typo.ts'], { cwd: dir })
  assert.is(r.code, 1)
  assert.is(r.stdout, '')
  assert.match(r.stderr, /^ScriptLoadError \[ARV_SCRIPT_LOAD\]: typo\.ts:3:1: Unexpected "export"\n\s+3 \| export const y = 1\n\s+\| \^\n  hint: fix the syntax error in typo\.ts; nothing ran\n$/)
})

scripts('should explain the CommonJS trap: "type": "module" or .mts', async () => {
  const dir = tmp()
  Fs.writeFileSync(Path.join(dir, 'package.json'), '{"name":"made-by-npm-init","type":"commonjs"}')
  Fs.writeFileSync(Path.join(dir, 'cjs.ts'), `import * as t from ${ioTs}\nimport { defineModule, runMain, work } from ${sdk}\nconst one = work({ args: [], returns: t.number }, () => 1)\nexport const M = defineModule({ name: 'm', params: t.type({}), work: { one }, run: (_p, { work: w }) => w.one() })\nrunMain(M, import.meta.url)\n`)
  const r = await crunch(['run', 'cjs.ts'], { cwd: dir })
  assert.is(r.code, 1)
  assert.match(r.stderr, /^ScriptLoadError \[ARV_SCRIPT_LOAD\]: cannot load cjs\.ts: node loads it as CommonJS, and a crunch script is an ES module \(it calls runMain\(module, import\.meta\.url\)\)\n  hint: add "type": "module" to package\.json, or rename the script to cjs\.mts\n/)
})

scripts('should say so when a script does not call runMain, with or without --help', async () => {
  const dir = tmp()
  Fs.writeFileSync(Path.join(dir, 'package.json'), '{"type":"module"}')
  Fs.writeFileSync(Path.join(dir, 'quiet.ts'), `import * as t from ${ioTs}\nimport { defineModule, work } from ${sdk}\nconst one = work({ args: [], returns: t.number }, () => 1)\nexport const Quiet = defineModule({ name: 'quiet', params: t.type({}), work: { one }, run: (_p, { work: w }) => w.one() })\n`)
  for (const extra of [[], ['--help']]) {
    const r = await crunch(['run', 'quiet.ts', ...extra], { cwd: dir })
    assert.is(r.code, 1)
    assert.is(r.stdout, '')
    assert.is(r.stderr, "NoRunMainError [ARV_NO_RUN_MAIN]: quiet.ts does not call runMain: there is nothing to run\n  hint: end the script with runMain(Quiet, import.meta.url) (import { runMain } from 'arvados-crunch')\n")
  }
})

scripts('should name a package the script imports that is not installed, and how to install it', async () => {
  const dir = tmp()
  Fs.writeFileSync(Path.join(dir, 'package.json'), '{"type":"module"}')
  Fs.writeFileSync(Path.join(dir, 'deps.ts'), "import { parse } from 'no-such-package-here'\nconsole.log(parse)\n")
  const r = await crunch(['run', 'deps.ts'], { cwd: dir })
  assert.is(r.code, 1)
  assert.match(r.stderr, /^ScriptLoadError \[ARV_SCRIPT_LOAD\]: cannot load deps\.ts: Cannot find package 'no-such-package-here'[^\n]*\n  hint: install it where the script lives \(npm install no-such-package-here\)/)
})

scripts.run()

// ---

const outputDir = suite('crunch run --output-dir')

outputDir('should write each collection of the output under the directory, named by its place in the output', async () => {
  const dir = tmp()
  const out = Path.join(dir, 'out')
  const r = await crunch(['run', outputs, '--title', 'Counts', '--key', 'report', '--output-dir', out, '--cache-dir', dir, '--progress', 'none'])
  assert.is(r.code, 0, r.stderr)
  assert.is(JSON.parse(r.stdout).count, 2)
  const files = (d: string, prefix = ''): Array<string> => Fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(Path.join(d, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`])).sort()
  assert.equal(files(out), ['parts/0/part-0.txt', 'parts/1/part-1.txt', 'report/report.txt', 'report/tables/counts.csv'])
  assert.is(Fs.readFileSync(Path.join(out, 'report', 'tables', 'counts.csv'), 'utf8'), 'a,1\nb,2\n')
  assert.match(r.stderr, /wrote [0-9a-f]{32}\+\d+ to .*out\/report\n/)
})

outputDir('should refuse an output key that would leave the directory, writing nothing', async () => {
  const dir = tmp()
  const out = Path.join(dir, 'out')
  const r = await crunch(['run', outputs, '--title', 'x', '--key', '..', '--output-dir', out, '--cache-dir', dir, '--progress', 'none'])
  assert.is(r.code, 1)
  assert.match(r.stderr, /MaterializeError \[ARV_UNSAFE_PATH\]: the output key "\.\." cannot name a directory under .*; nothing was written/)
  assert.not.ok(Fs.existsSync(out))
  assert.equal(Fs.readdirSync(dir).filter((f) => f.startsWith('part')), [])
})

outputDir('should refuse to write into a directory that is not empty', async () => {
  const dir = tmp()
  const out = Path.join(dir, 'out')
  Fs.mkdirSync(Path.join(out, 'report'), { recursive: true })
  Fs.writeFileSync(Path.join(out, 'report', 'mine.txt'), 'keep me')
  const r = await crunch(['run', outputs, '--title', 'x', '--key', 'report', '--output-dir', out, '--cache-dir', dir, '--progress', 'none'])
  assert.is(r.code, 1)
  assert.match(r.stderr, /the directory is not empty/)
  assert.is(Fs.readFileSync(Path.join(out, 'report', 'mine.txt'), 'utf8'), 'keep me')
})

outputDir.run()

const failing = suite('crunch: a failing work')

failing('should show where the work threw and the kinds of its arguments, not their values', async () => {
  const r = await crunch(['run', Path.join(root, 'samples', 'docs', 'failures.ts'), '--inputs', '0', '--cache-dir', tmp(), '--progress', 'none'], { cwd: root })
  assert.is(r.code, 1)
  assert.is(r.stderr, 'WorkFailedError [ARV_WORK_FAILED]: work "invert" failed [call 19e89ba45e51] with arguments (number): cannot invert 0\n  at samples/docs/failures.ts:12:22\n  caused by Error: cannot invert 0\n')
})

failing.run()
