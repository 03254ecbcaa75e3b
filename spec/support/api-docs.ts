/**
 * The API reference (docs/api/): one page per entry point of the package (its `exports`), made
 * from the declarations tsc emits (`.d.ts`) and their TSDoc comments (`@category`, `@since`,
 * `@example`). `npm run docs` writes the pages; spec/api-docs.spec.ts checks that they are those
 * the current sources give.
 *
 * Why not typedoc or docs-ts: both need the TypeScript compiler's JavaScript API, which
 * TypeScript 7 (this repository's compiler, a native program) does not ship; typedoc 0.28 refuses
 * TypeScript 7 as its peer, and docs-ts brings ts-morph with TypeScript 4.1, which cannot parse the
 * SDK (`const` type parameters). Declarations are already the public surface, with the comments,
 * so reading them is enough.
 *
 *   node --import tsx spec/support/api-docs.ts [declarations-dir] [out-dir]
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'

export const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), '..', '..')

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

interface Statement {
  readonly doc: string | undefined
  readonly text: string
}

interface Declaration {
  readonly name: string
  readonly doc: string | undefined
  readonly text: string
}

type Export =
  | { readonly _tag: 'Declared'; readonly declaration: Declaration }
  | { readonly _tag: 'Namespace'; readonly name: string; readonly file: string }

// -------------------------------------------------------------------------------------
// reading declarations
// -------------------------------------------------------------------------------------

/** top-level statements of a .d.ts, each with the /** comment right before it */
const statements = (text: string): ReadonlyArray<Statement> => {
  const out: Array<Statement> = []
  let i = 0
  let doc: string | undefined
  const n = text.length
  while (i < n) {
    const c = text[i]!
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (text.startsWith('/**', i)) {
      const end = text.indexOf('*/', i + 3)
      doc = text.slice(i, end + 2)
      i = end + 2
      continue
    }
    if (text.startsWith('//', i)) {
      i = text.indexOf('\n', i) === -1 ? n : text.indexOf('\n', i)
      continue
    }
    if (text.startsWith('/*', i)) {
      i = text.indexOf('*/', i + 2) + 2
      continue
    }
    // a statement: up to `;` at depth 0, or the `}` closing depth 1 of a block declaration
    const start = i
    let depth = 0
    let sawBlock = false
    for (; i < n; i++) {
      const ch = text[i]!
      if (ch === "'" || ch === '"') {
        for (i++; i < n && text[i] !== ch; i++) if (text[i] === '\\') i++
      } else if (ch === '`') {
        for (i++; i < n && text[i] !== '`'; i++) if (text[i] === '\\') i++
      } else if (text.startsWith('/*', i)) i = text.indexOf('*/', i + 2) + 1
      else if (text.startsWith('//', i)) i = text.indexOf('\n', i)
      else if (ch === '{' || ch === '(' || ch === '[') {
        if (ch === '{' && depth === 0) sawBlock = true
        depth++
      } else if (ch === '}' || ch === ')' || ch === ']') {
        depth--
        if (depth === 0 && ch === '}' && sawBlock && /^\s*(export\s+)?(declare\s+)?(interface|namespace|enum|class|module)\b/.test(text.slice(start, start + 60))) {
          i++
          break
        }
      } else if (ch === ';' && depth === 0) {
        i++
        break
      }
    }
    out.push({ doc, text: text.slice(start, i).trim() })
    doc = undefined
  }
  return out
}

const cache = new Map<string, ReadonlyArray<Statement>>()
const statementsOf = (file: string): ReadonlyArray<Statement> => {
  if (!cache.has(file)) cache.set(file, statements(Fs.readFileSync(file, 'utf8')))
  return cache.get(file)!
}

const target = (from: string, spec: string): string => Path.resolve(Path.dirname(from), spec.replace(/\.js$/, '.d.ts'))

const declaredName = (text: string): string | undefined =>
  /^export\s+(?:declare\s+)?(?:const|let|var|function|interface|type|namespace|enum|class|abstract\s+class)\s+([A-Za-z_$][\w$]*)/.exec(text)?.[1]

/** the exports of a .d.ts, in order, following re-exports to their declarations */
const exportsOf = (file: string, seen: ReadonlySet<string> = new Set()): ReadonlyArray<[string, Export]> => {
  if (seen.has(file)) return []
  const out: Array<[string, Export]> = []
  for (const s of statementsOf(file)) {
    const name = declaredName(s.text)
    if (name !== undefined) {
      out.push([name, { _tag: 'Declared', declaration: { name, doc: s.doc, text: s.text } }])
      continue
    }
    const ns = /^export\s+\*\s+as\s+([\w$]+)\s+from\s+'([^']+)'/.exec(s.text)
    if (ns !== null) {
      out.push([ns[1]!, { _tag: 'Namespace', name: ns[1]!, file: target(file, ns[2]!) }])
      continue
    }
    const star = /^export\s+\*\s+from\s+'([^']+)'/.exec(s.text)
    if (star !== null) {
      out.push(...exportsOf(target(file, star[1]!), new Set([...seen, file])))
      continue
    }
    const named = /^export\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'([^']+)'/.exec(s.text)
    if (named !== null) {
      const from = new Map(exportsOf(target(file, named[2]!), new Set([...seen, file])))
      for (const part of named[1]!.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
        const [original, alias] = part.replace(/^type\s+/, '').split(/\s+as\s+/) as [string, string | undefined]
        const found = from.get(original)
        if (found !== undefined) out.push([alias ?? original, found])
      }
    }
  }
  return out
}

const moduleDoc = (file: string): string | undefined => {
  const first = statementsOf(file)[0]
  return first?.doc !== undefined && /@since/.test(first.doc) && !/@category/.test(first.doc) ? first.doc : undefined
}

// -------------------------------------------------------------------------------------
// rendering
// -------------------------------------------------------------------------------------

interface Doc {
  readonly text: string
  readonly category: string
  readonly since: string | undefined
  readonly examples: ReadonlyArray<string>
}

const parseDoc = (doc: string | undefined): Doc => {
  const lines = (doc ?? '')
    .replace(/^\/\*\*/, '')
    .replace(/\*\/$/, '')
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, ''))
  const text: Array<string> = []
  const examples: Array<Array<string>> = []
  let category = 'other'
  let since: string | undefined
  let inExample = false
  for (const l of lines) {
    const tag = /^@(\w+)\s*(.*)$/.exec(l.trim())
    if (tag !== null) {
      inExample = tag[1] === 'example'
      if (tag[1] === 'category') category = tag[2]!
      else if (tag[1] === 'since') since = tag[2]
      else if (inExample) examples.push(tag[2] === '' ? [] : [tag[2]!])
      continue
    }
    if (inExample) examples[examples.length - 1]!.push(l)
    else text.push(l)
  }
  const trim = (ls: ReadonlyArray<string>): string => ls.join('\n').trim()
  return { text: trim(text), category, since, examples: examples.map(trim).filter((e) => e !== '') }
}

/** a declaration as its signature: comments inside interfaces kept, the trailing `;` dropped */
const signature = (text: string): string => text.replace(/^export\s+(declare\s+)?/, '').replace(/;$/, '')

const renderDeclaration = (heading: string, d: Declaration, level: string): ReadonlyArray<string> => {
  const doc = parseDoc(d.doc)
  return [
    `${level} ${heading}`,
    '',
    ...(doc.text === '' ? [] : [doc.text, '']),
    '```ts',
    signature(d.text),
    '```',
    '',
    ...doc.examples.flatMap((e) => ['Example:', '', '```ts', e.replace(/^```\w*\n?|```$/g, '').trim(), '```', '']),
    ...(doc.since === undefined ? [] : [`Added in ${doc.since}.`, '']),
  ]
}

const CATEGORY_ORDER = ['constructors', 'models', 'combinators', 'interpreters', 'destructors', 'guards', 'utils', 'errors', 'constants', 'instances', 'other']

const renderExports = (exports: ReadonlyArray<[string, Export]>, level: string, prefix = ''): ReadonlyArray<string> => {
  const declared = exports.filter((e): e is [string, Extract<Export, { _tag: 'Declared' }>] => e[1]._tag === 'Declared')
  const byCategory = new Map<string, Array<[string, Declaration]>>()
  for (const [name, e] of declared) {
    const category = parseDoc(e.declaration.doc).category
    byCategory.set(category, [...(byCategory.get(category) ?? []), [name, e.declaration]])
  }
  const categories = [...byCategory.keys()].sort((a, b) => (CATEGORY_ORDER.indexOf(a) + 1 || 99) - (CATEGORY_ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b))
  const out: Array<string> = []
  for (const c of categories) {
    out.push(`${level} ${c}`, '')
    for (const [name, d] of byCategory.get(c)!.sort((a, b) => a[0].localeCompare(b[0]))) out.push(...renderDeclaration(`${prefix}${name}`, d, `${level}#`))
  }
  for (const [name, e] of exports) {
    if (e._tag !== 'Namespace') continue
    const doc = parseDoc(moduleDoc(e.file))
    out.push(`${level} ${prefix}${name} (namespace)`, '', ...(doc.text === '' ? [] : [doc.text, '']), ...renderExports(exportsOf(e.file), `${level}#`, `${prefix}${name}.`))
  }
  return out
}

const pageName = (entry: string): string => (entry === '.' ? 'index' : entry.slice(2).replaceAll('/', '-'))
const importName = (entry: string): string => (entry === '.' ? 'arvados-crunch' : `arvados-crunch/${entry.slice(2)}`)

/**
 * The pages of the reference, by file name, from declarations in `declarations` (a directory
 * laid out like dist/).
 */
export const pages = (declarations: string): ReadonlyMap<string, string> => {
  cache.clear()
  const pkg = JSON.parse(Fs.readFileSync(Path.join(root, 'package.json'), 'utf8')) as { version: string; exports: Record<string, unknown> }
  const entries = Object.entries(pkg.exports).flatMap(([k, v]) => {
    const types = typeof v === 'object' && v !== null ? (v as Record<string, string>)['types'] : undefined
    return types === undefined ? [] : [[k, Path.join(declarations, Path.relative('dist', types))] as const]
  })
  const out = new Map<string, string>()
  const index = [
    '# API reference',
    '',
    `Generated by \`npm run docs\` from the declarations and TSDoc comments of arvados-crunch ${pkg.version}; do not edit (spec/api-docs.spec.ts checks that these pages match the sources).`,
    '',
    '| import | page |',
    '|---|---|',
  ]
  for (const [entry, file] of entries) {
    const page = `${pageName(entry)}.md`
    const doc = parseDoc(moduleDoc(file))
    index.push(`| \`${importName(entry)}\` | [${page}](${page}) |`)
    const lines = [`# ${importName(entry)}`, '', ...(doc.text === '' ? [] : [doc.text, '']), '```ts', `import * as X from '${importName(entry)}'`, '```', '', ...renderExports(exportsOf(file), '##')]
    out.set(page, lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n')
  }
  out.set('README.md', index.join('\n') + '\n')
  return out
}

/** declarations of lib/ compiled into a fresh directory */
export const compileDeclarations = (): string => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-api-'))
  const tsc = Path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = ChildProcess.spawnSync(process.execPath, [tsc, '-p', Path.join(root, 'tsconfig.build.json'), '--emitDeclarationOnly', '--declarationMap', 'false', '--sourceMap', 'false', '--outDir', dir], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`tsc failed:\n${r.stdout}${r.stderr}`)
  return dir
}

// -------------------------------------------------------------------------------------
// program
// -------------------------------------------------------------------------------------

if (process.argv[1] !== undefined && Url.pathToFileURL(Path.resolve(process.argv[1])).href === import.meta.url) {
  const declarations = process.argv[2] ?? compileDeclarations()
  const outDir = process.argv[3] ?? Path.join(root, 'docs', 'api')
  Fs.rmSync(outDir, { recursive: true, force: true })
  Fs.mkdirSync(outDir, { recursive: true })
  for (const [name, text] of pages(declarations)) Fs.writeFileSync(Path.join(outDir, name), text)
  if (process.argv[2] === undefined) Fs.rmSync(declarations, { recursive: true, force: true })
  process.stdout.write(`wrote ${Path.relative(process.cwd(), outDir) || '.'}\n`)
}
