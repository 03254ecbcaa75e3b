/**
 * The documentation is executable. Every ```console block in docs/ is a list of `$ command`
 * lines, each followed by the output the page shows; this spec runs each command as a real
 * child process (`crunch` is `node lib/bin.js`) and compares stdout then stderr with the page.
 * Blocks of one page run in page order and share one scratch directory, so a page can show a
 * sequence (run, run again, corrupt the cache, run again).
 *
 * Conventions of a console block:
 * - `# exit N` at the end of a command: the expected exit code (default 0; a command killed by
 *   a signal exits with 128 + its number, as in a shell);
 * - `NAME=value crunch ...`: environment settings before `crunch` are kept. Commands run without
 *   the caller's `ARVADOS_*` and `CRUNCH_*` variables and without any Arvados settings file;
 * - paths `samples/...` are the repository's; `/tmp/crunch-docs` is the page's scratch directory;
 *   commands run in a fresh empty directory, so `.crunch/` never leaks between pages or runs;
 * - `...` alone on a line matches any number of lines; `...` inside a line matches any text;
 * - hexadecimal runs of 8 or more characters (call ids) compare by pattern: the n-th distinct id
 *   of the page's block must be the n-th distinct id of the output;
 * - `{"type":"progress",...}` lines are timer-driven and are dropped from the output.
 *
 * Beside that: the examples that need a signal or an edited copy of a sample, the index
 * (docs/README.md links every page), and the error-code table of docs/errors.md against every
 * `ARV_*` code and error tag in lib/.
 *
 * @since 0.1.0
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..')
const bin = Path.join(root, 'lib', 'bin.js')
const tsxLoader = import.meta.resolve('tsx')

/** the pages this spec executes (docs written by other helpers are not executable pages) */
const PAGES = [
  'docs/getting-started.md',
  'docs/concepts/futures.md',
  'docs/concepts/call-graph.md',
  'docs/concepts/codecs.md',
  'docs/concepts/dispatchers.md',
  'docs/concepts/reuse.md',
  'docs/errors.md',
  'docs/from-the-draft.md',
  'docs/tools.md',
  'docs/cli.md',
  'docs/watching-a-run.md',
  'docs/samples/checksums.md',
  'docs/samples/case-control.md',
]

// -------------------------------------------------------------------------------------
// support
// -------------------------------------------------------------------------------------

interface Step {
  readonly command: string
  readonly exit: number
  readonly expected: ReadonlyArray<string>
  readonly line: number
}

const consoleBlocks = (text: string): ReadonlyArray<Step> => {
  const lines = text.split('\n')
  const steps: Array<Step> = []
  let inBlock = false
  let current: { command: string; exit: number; expected: Array<string>; line: number } | undefined
  const flush = (): void => {
    if (current !== undefined) steps.push(current)
    current = undefined
  }
  lines.forEach((l, i) => {
    if (!inBlock && l.trim() === '```console') {
      inBlock = true
      return
    }
    if (inBlock && l.trim() === '```') {
      flush()
      inBlock = false
      return
    }
    if (!inBlock) return
    if (l.startsWith('$ ')) {
      flush()
      const m = /\s#\s*exit\s+(\d+)\s*$/.exec(l)
      current = { command: l.slice(2).replace(/\s+#.*$/, ''), exit: m === null ? 0 : Number(m[1]), expected: [], line: i + 1 }
    } else current?.expected.push(l)
  })
  return steps
}

const cleanEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }
  for (const k of Object.keys(env)) if (k.startsWith('ARVADOS_') || k.startsWith('CRUNCH_')) delete env[k]
  // no Arvados settings file is in reach either: no example can reach a real cluster
  env['XDG_CONFIG_HOME'] = '/nonexistent/crunch-docs'
  env['XDG_CONFIG_DIRS'] = '/nonexistent/crunch-docs'
  return env
}

const shell = (command: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = ChildProcess.spawn('bash', ['-c', command], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    // a command killed by a signal reports 128 + its number, as a shell does (`# exit 137` for SIGKILL)
    child.on('close', (code, signal) => resolve({ code: code ?? (signal === null ? null : 128 + Os.constants.signals[signal]), stdout, stderr }))
  })

const localize = (command: string, scratch: string): string =>
  command
    .replace(/^((?:[A-Z_]+=\S*\s+)*)crunch /, `$1node ${bin} `)
    .replace(/^node --import tsx /, `node --import ${tsxLoader} `)
    .replace(/(^|\s)samples\//g, `$1${root}/samples/`)
    .replaceAll('/tmp/crunch-docs', scratch)

/**
 * Replaces each distinct hex run by <idN>, numbered by first appearance; by a bare <id> when the
 * page elides lines (`...`), since elided lines change the order of first appearance.
 */
const normalizeIds = (lines: ReadonlyArray<string>, numbered = true): ReadonlyArray<string> => {
  const ids = new Map<string, string>()
  return lines.map((l) =>
    l.replace(/(?<![0-9a-f])[0-9a-f]{8,40}(?![0-9a-f])/g, (id) => {
      if (!numbered) return '<id>'
      if (!ids.has(id)) ids.set(id, `<id${ids.size + 1}>`)
      return ids.get(id)!
    }),
  )
}

const tidy = (lines: ReadonlyArray<string>): Array<string> => {
  const out = lines.map((l) => l.replace(/\s+$/, ''))
  while (out.length > 0 && out[out.length - 1] === '') out.pop()
  return out
}

const lineMatches = (pattern: string, actual: string): boolean => {
  if (!pattern.includes('...')) return pattern === actual
  const re = new RegExp(`^${pattern.split('...').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
  return re.test(actual)
}

/** `...` alone on a line matches any number of lines */
const matches = (expected: ReadonlyArray<string>, actual: ReadonlyArray<string>): boolean => {
  const go = (i: number, j: number): boolean => {
    if (i === expected.length) return j === actual.length
    if (expected[i] === '...') {
      for (let k = j; k <= actual.length; k++) if (go(i + 1, k)) return true
      return false
    }
    return j < actual.length && lineMatches(expected[i]!, actual[j]!) && go(i + 1, j + 1)
  }
  return go(0, 0)
}

const linesOf = (text: string): Array<string> => (text === '' ? [] : text.replace(/\n$/, '').split('\n'))

const outputLines = (stdout: string, stderr: string): Array<string> => tidy([...linesOf(stdout), ...linesOf(stderr)].filter((l) => !l.startsWith('{"type":"progress"')))

// -------------------------------------------------------------------------------------
// every console block of every page
// -------------------------------------------------------------------------------------

for (const page of PAGES) {
  const file = Path.join(root, page)
  const Page = suite(`${page} console blocks`)
  let scratch = ''
  Page.before(() => {
    scratch = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-docs-'))
    Fs.mkdirSync(Path.join(scratch, 'cwd'))
  })
  Page.after(() => {
    Fs.rmSync(scratch, { recursive: true, force: true })
  })
  const steps = Fs.existsSync(file) ? consoleBlocks(Fs.readFileSync(file, 'utf8')) : []
  Page(`should exist and hold at least one console block`, () => {
    assert.ok(Fs.existsSync(file), `${page} is missing`)
    if (page !== 'docs/from-the-draft.md') assert.ok(steps.length > 0, `${page} has no console block`)
  })
  for (const step of steps) {
    Page(`should print what ${page}:${step.line} shows for: ${step.command}`, async () => {
      const r = await shell(localize(step.command, Path.join(scratch, 'crunch-docs')), Path.join(scratch, 'cwd'))
      const numbered = !step.expected.includes('...')
      const actual = normalizeIds(outputLines(r.stdout, r.stderr), numbered)
      const expected = normalizeIds(tidy(step.expected), numbered)
      if (!matches(expected, actual)) {
        assert.fixture(actual.join('\n'), expected.join('\n'), `output of ${page}:${step.line} differs (ids normalized)`)
      }
      assert.is(r.code, step.exit, `exit code of ${page}:${step.line}\n${r.stderr}`)
    })
  }
  Page.run()
}

// -------------------------------------------------------------------------------------
// examples that a console block cannot show
// -------------------------------------------------------------------------------------

const Cancel = suite('docs/concepts/dispatchers.md cancellation')

Cancel('should stop a running call and exit 130 with ARV_CANCELLED on SIGINT', async () => {
  const cwd = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-docs-cancel-'))
  try {
    const child = ChildProcess.spawn('node', [bin, 'run', Path.join(root, 'samples/docs/failures.ts'), '--inputs', '1', '--wait-ms', '60000', '--progress', 'json'], {
      cwd,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let stdout = ''
    let interrupted = false
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString()
      // interrupt once (a second Ctrl-C means "exit at once") after the slow call has started
      if (!interrupted && stderr.includes('"message":"waiting"')) {
        interrupted = true
        child.kill('SIGINT')
      }
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    assert.is(code, 130)
    assert.is(stdout, '')
    const lines = outputLines('', stderr)
    const shown = tidy(Fs.readFileSync(Path.join(root, 'docs/concepts/dispatchers.md'), 'utf8').split('<!-- cancellation output -->')[1]!.split('```text\n')[1]!.split('```')[0]!.split('\n'))
    assert.ok(matches(normalizeIds(shown), normalizeIds(lines)), `stderr differs from the page:\n${lines.join('\n')}\n--- page:\n${shown.join('\n')}`)
  } finally {
    Fs.rmSync(cwd, { recursive: true, force: true })
  }
})

Cancel.run()

const CodeChange = suite('docs/concepts/reuse.md code change')

CodeChange('should run a changed work and everything downstream of it again', async () => {
  // a project that depends on arvados-crunch, as a user's would, holding a copy of the sample
  const project = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-docs-project-'))
  try {
    Fs.mkdirSync(Path.join(project, 'node_modules'))
    Fs.symlinkSync(root, Path.join(project, 'node_modules', 'arvados-crunch'))
    for (const dep of ['io-ts', 'fp-ts']) Fs.symlinkSync(Path.join(root, 'node_modules', dep), Path.join(project, 'node_modules', dep))
    Fs.writeFileSync(Path.join(project, 'package.json'), '{ "type": "module" }\n')
    const sample = Fs.readFileSync(Path.join(root, 'samples/docs/reuse.ts'), 'utf8')
    assert.ok(sample.includes('return x * x'))
    Fs.writeFileSync(Path.join(project, 'reuse.ts'), sample)
    const run = () => shell(`node ${bin} run reuse.ts --n 2 --cache-dir cache --progress json --concurrency 1`, project)
    const summary = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('{"type":"summary"'))
    const first = await run()
    assert.is(first.code, 0, first.stderr)
    Fs.writeFileSync(Path.join(project, 'reuse.ts'), sample.replace('return x * x', 'return x ** 2'))
    const changed = await run()
    assert.is(changed.code, 0, changed.stderr)
    const again = await run()
    const page = Fs.readFileSync(Path.join(root, 'docs/concepts/reuse.md'), 'utf8').split('<!-- code change output -->')[1]!.split('```text\n')[1]!.split('```')[0]!
    const shown = tidy(page.split('\n'))
    assert.equal([summary(first.stderr), summary(changed.stderr), summary(again.stderr)], shown)
    assert.equal(JSON.parse(changed.stdout), { total: 5, note: 'sum of 2 squares' })
  } finally {
    Fs.rmSync(project, { recursive: true, force: true })
  }
})

CodeChange.run()

// -------------------------------------------------------------------------------------
// the index
// -------------------------------------------------------------------------------------

const Index = suite('docs/README.md')

const pagesUnder = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? pagesUnder(Path.join(dir, d.name)) : d.name.endsWith('.md') ? [Path.join(dir, d.name)] : []))

Index('should link every page of docs/', () => {
  const docs = Path.join(root, 'docs')
  const index = Fs.readFileSync(Path.join(docs, 'README.md'), 'utf8')
  const missing = pagesUnder(docs)
    .map((f) => Path.relative(docs, f).split(Path.sep).join('/'))
    .filter((p) => p !== 'README.md' && !index.includes(`](${p})`))
  assert.equal(missing, [], 'pages missing from docs/README.md')
})

Index.run()

// -------------------------------------------------------------------------------------
// the error table
// -------------------------------------------------------------------------------------

const ErrorTable = suite('docs/errors.md')

const libFiles = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? libFiles(Path.join(dir, d.name)) : d.name.endsWith('.ts') ? [Path.join(dir, d.name)] : []))

ErrorTable('should list every ARV_* code and every error tag that lib/ can produce', () => {
  const table = Fs.readFileSync(Path.join(root, 'docs/errors.md'), 'utf8')
  const missing: Array<string> = []
  for (const file of libFiles(Path.join(root, 'lib'))) {
    const text = Fs.readFileSync(file, 'utf8')
    for (const m of text.matchAll(/'(ARV_[A-Z_]*)'|`(ARV_[A-Z_]*)\$\{/g)) {
      const code = m[1] ?? `${m[2]!}<`
      if (code === 'ARV_' || code === 'ARV_<') continue
      if (!table.includes(m[1] === undefined ? `\`${m[2]!}` : `\`${code}\``)) missing.push(`${code} (${Path.relative(root, file)})`)
    }
    for (const m of text.matchAll(/make\(\s*'([A-Z][A-Za-z]*Error)'/g)) if (!table.includes(`\`${m[1]!}\``)) missing.push(`${m[1]!} (${Path.relative(root, file)})`)
  }
  assert.equal([...new Set(missing)], [], 'codes or tags missing from docs/errors.md')
})

ErrorTable.run()

// -------------------------------------------------------------------------------------
// imports in snippets
// -------------------------------------------------------------------------------------

const Snippets = suite('docs: code snippets')

const markdownFiles = (): Array<string> => [Path.join(root, 'README.md'), ...pagesUnder(Path.join(root, 'docs'))]

Snippets('should import only what a user can import: packages, public entry points of arvados-crunch, their own files', () => {
  const exported = Object.keys((JSON.parse(Fs.readFileSync(Path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports).map((k) => (k === '.' ? 'arvados-crunch' : `arvados-crunch/${k.slice(2)}`))
  const wrong: Array<string> = []
  for (const file of markdownFiles()) {
    const text = Fs.readFileSync(file, 'utf8')
    for (const block of text.matchAll(/```(?:ts|typescript|js|javascript|mjs)\n([\s\S]*?)```/g)) {
      for (const m of block[1]!.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const spec = m[1]!
        const ok = spec.startsWith('.') ? !spec.startsWith('../') && !/(^|\/)(lib|spec|dist)\//.test(spec) : spec.startsWith('arvados-crunch') ? exported.includes(spec) : true
        if (!ok) wrong.push(`${Path.relative(root, file)}: ${spec}`)
      }
    }
  }
  assert.equal(wrong, [], 'snippets importing what a user of the package cannot')
})

Snippets.run()
