/**
 * The pure core stays pure: its files import no file-system, network, process or thread
 * module and nothing of the dispatchers, and `import { defineModule } from 'arvados-crunch'`
 * (lib/index.ts and what it imports, statically) loads neither the interpreter nor any
 * executor. Imports are read from each file's syntax tree (@babel/parser), not by matching text.
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import { parse } from '@babel/parser'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { root } from './support/cli.js'

const lib = Path.join(root, 'lib')

/** the core: pure values and functions (errors, codecs, futures, the graph, collection values, manifests, locators) */
export const CORE = [
  'module.ts',
  'future.ts',
  'graph.ts',
  'codec.ts',
  'errors.ts',
  'dispatcher.ts',
  'value-store.ts',
  'internal/json.ts',
  'collections/collection.ts',
  'collections/codec.ts',
  'collections/reference.ts',
  'collections/manifest.ts',
  'collections/tree.ts',
  'collections/pdh.ts',
  'collections/path-safety.ts',
  'keep/locator.ts',
]

const EFFECTS = ['node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:https', 'node:child_process', 'node:worker_threads', 'node:cluster', 'node:dgram', 'undici']

interface Imported {
  readonly specifier: string
  /** `import type` / `export type`: erased at run time */
  readonly typeOnly: boolean
  readonly dynamic: boolean
}

/** the imports of a file, from its syntax tree */
const importsOf = (file: string): ReadonlyArray<Imported> => {
  const ast = parse(Fs.readFileSync(file, 'utf8'), { sourceType: 'module', plugins: ['typescript'] })
  const out: Array<Imported> = []
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return
    if (Array.isArray(node)) return node.forEach(visit)
    const n = node as { type?: string; source?: { value?: unknown }; importKind?: string; exportKind?: string; callee?: { type?: string }; arguments?: ReadonlyArray<{ type?: string; value?: unknown }> }
    if ((n.type === 'ImportDeclaration' || n.type === 'ExportNamedDeclaration' || n.type === 'ExportAllDeclaration') && typeof n.source?.value === 'string') {
      out.push({ specifier: n.source.value, typeOnly: n.importKind === 'type' || n.exportKind === 'type', dynamic: false })
    }
    if (n.type === 'CallExpression' && n.callee?.type === 'Import' && typeof n.arguments?.[0]?.value === 'string') out.push({ specifier: n.arguments[0].value, typeOnly: false, dynamic: true })
    for (const [k, v] of Object.entries(n)) if (k !== 'loc' && k !== 'start' && k !== 'end') visit(v)
  }
  visit(ast.program)
  return out
}

const resolveLocal = (from: string, specifier: string): string | undefined =>
  specifier.startsWith('.') ? Path.resolve(Path.dirname(from), specifier).replace(/\.js$/, '.ts') : undefined

const seal = suite('the pure core')

seal('core files import no effectful module and nothing of the dispatchers', () => {
  for (const rel of CORE) {
    const file = Path.join(lib, rel)
    for (const i of importsOf(file)) {
      if (i.typeOnly) continue
      assert.not.ok(EFFECTS.includes(i.specifier) || EFFECTS.includes(`node:${i.specifier}`), `${rel} imports ${i.specifier}`)
      const local = resolveLocal(file, i.specifier)
      if (local !== undefined) assert.not.ok(local.startsWith(Path.join(lib, 'dispatchers') + Path.sep), `${rel} imports ${i.specifier}`)
    }
  }
})

seal('importing the package entry loads neither the interpreter nor an executor nor an effectful module', () => {
  const seen = new Set<string>()
  const effects = new Set<string>()
  const walk = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    for (const i of importsOf(file)) {
      if (i.typeOnly || i.dynamic) continue
      const local = resolveLocal(file, i.specifier)
      if (local === undefined) {
        if (EFFECTS.includes(i.specifier)) effects.add(`${Path.relative(lib, file)} → ${i.specifier}`)
        continue
      }
      walk(local)
    }
  }
  walk(Path.join(lib, 'index.ts'))
  const loaded = [...seen].map((f) => Path.relative(lib, f))
  for (const forbidden of ['dispatchers/local.ts', 'dispatchers/interpret.ts', 'cli.ts']) assert.not.ok(loaded.includes(forbidden), `index.ts loads ${forbidden}`)
  assert.not.ok(loaded.some((f) => f.startsWith('dispatchers/executors/') || f.startsWith('dispatchers/crunch/')), `index.ts loads an executor: ${loaded.join(', ')}`)
  assert.equal([...effects], [])
})

seal('the seal can fail: a file that imports node:fs is caught', () => {
  const probe = Path.join(root, '.scratch', 'seal-probe.ts')
  Fs.mkdirSync(Path.dirname(probe), { recursive: true })
  Fs.writeFileSync(probe, "import * as Fs from 'node:fs'\nimport type * as X from 'node:net'\nexport const f = () => import('node:child_process')\n")
  const found = importsOf(probe)
  Fs.rmSync(probe)
  assert.equal(found, [
    { specifier: 'node:fs', typeOnly: false, dynamic: false },
    { specifier: 'node:net', typeOnly: true, dynamic: false },
    { specifier: 'node:child_process', typeOnly: false, dynamic: true },
  ])
})

seal.run()
