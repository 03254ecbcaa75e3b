/**
 * A small user project for the code identity specs: works in their own files, a helper module
 * one work imports, a third-party package another imports, and the module's script.
 */
export const FILES: Readonly<Record<string, string>> = {
  'pipeline.ts': `import * as t from 'io-ts'
import { defineModule, runMain } from 'arvados-crunch'
import { double } from './works/double.js'
import { triple } from './works/triple.js'
import { add } from './works/add.js'

export const Pipeline = defineModule({
  name: 'ident',
  params: t.type({ n: t.number }),
  work: { double, triple, add },
  run: ({ n }, { work: w }) => Array.from({ length: n }, (_, i) => w.add(w.double(i + 1), w.triple(i + 1))),
})

runMain(Pipeline, import.meta.url)
`,
  'works/double.ts': `import * as t from 'io-ts'
import { work } from 'arvados-crunch'
import { twice } from '../helpers/arith.js'

export const double = work({ args: [t.number], returns: t.number }, (x, ctx) => {
  ctx.log(\`ran double \${x}\`)
  return twice(x)
})
`,
  'works/triple.ts': `import * as t from 'io-ts'
import { work } from 'arvados-crunch'
import { factor } from 'fakepkg'

export const triple = work({ args: [t.number], returns: t.number }, (x, ctx) => {
  ctx.log(\`ran triple \${x}\`)
  return x * factor
})
`,
  'works/add.ts': `import * as t from 'io-ts'
import { work } from 'arvados-crunch'

export const add = work({ args: [t.number, t.number], returns: t.number }, (a, b, ctx) => {
  ctx.log(\`ran add \${a}+\${b}\`)
  return a + b
})
`,
  'helpers/arith.ts': `/** the helper double() calls */
export const twice = (x: number): number => x * 2
`,
  'node_modules/fakepkg/package.json': '{ "name": "fakepkg", "version": "1.0.0", "type": "module", "main": "index.js" }\n',
  'node_modules/fakepkg/index.js': 'export const factor = 3\n',
}
