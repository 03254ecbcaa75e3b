/**
 * The product owner's rule: no classes and no decorators in lib/. Every file of lib/ is parsed
 * into a syntax tree (Babel's parser with its TypeScript plugin: TypeScript 7's package has no
 * JavaScript parser API) and the tree is searched for class declarations, class expressions and
 * decorators.
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import { parse } from '@babel/parser'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { root } from './support/cli.js'

interface Finding {
  readonly file: string
  readonly line: number
  readonly kind: string
}

const FORBIDDEN = new Set(['ClassDeclaration', 'ClassExpression', 'Decorator', 'ClassBody'])

export const findClasses = (file: string, source: string): ReadonlyArray<Finding> => {
  const ast = parse(source, { sourceType: 'module', plugins: ['typescript', 'decorators', 'topLevelAwait'], errorRecovery: false })
  const found: Array<Finding> = []
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk)
    if (typeof node !== 'object' || node === null) return
    const n = node as { type?: unknown; loc?: { start: { line: number } } }
    if (typeof n.type === 'string' && FORBIDDEN.has(n.type)) found.push({ file, line: n.loc?.start.line ?? 0, kind: n.type })
    for (const [k, v] of Object.entries(node)) if (k !== 'loc' && k !== 'start' && k !== 'end' && k !== 'extra') walk(v)
  }
  walk(ast.program)
  return found
}

const libFiles = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = Path.join(dir, d.name)
    return d.isDirectory() ? libFiles(p) : /\.(ts|js|mjs)$/.test(d.name) ? [p] : []
  })

const rule = suite('lib/ has no classes and no decorators')

rule('should find a class, a class expression and a decorator in a sample (the detector works)', () => {
  const kinds = findClasses('sample.ts', 'class A {}\nconst B = class {}\nfunction d(x: unknown) { return x }\nexport const o = { @d m() {} }\n@d class C {}\n'.replace('export const o = { @d m() {} }\n', '')).map((f) => f.kind)
  assert.ok(kinds.includes('ClassDeclaration'))
  assert.ok(kinds.includes('ClassExpression'))
  assert.ok(kinds.includes('Decorator'))
})

rule('should find none in any file of lib/', () => {
  const files = libFiles(Path.join(root, 'lib'))
  assert.ok(files.length > 10, `lib/ has files (found ${files.length})`)
  const findings = files.flatMap((f) => findClasses(Path.relative(root, f), Fs.readFileSync(f, 'utf8')))
  assert.equal(findings.map((f) => `${f.file}:${f.line} ${f.kind}`), [])
})

rule.run()
