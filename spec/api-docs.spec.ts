/**
 * docs/api/ is what `npm run docs` makes from the current sources: the declarations tsc emits
 * for lib/ and their TSDoc comments (spec/support/api-docs.ts).
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { compileDeclarations, pages, root } from './support/api-docs.js'

const Api = suite('docs/api')

Api('should hold exactly the pages npm run docs makes from the current sources (run it after changing an export or its comment)', () => {
  const declarations = compileDeclarations()
  try {
    const expected = pages(declarations)
    const dir = Path.join(root, 'docs', 'api')
    const present = Fs.existsSync(dir) ? Fs.readdirSync(dir).sort() : []
    assert.equal(present, [...expected.keys()].sort(), 'pages of docs/api')
    for (const [name, text] of expected) assert.fixture(Fs.readFileSync(Path.join(dir, name), 'utf8'), text, `docs/api/${name} is stale: run npm run docs`)
  } finally {
    Fs.rmSync(declarations, { recursive: true, force: true })
  }
})

Api('should give every entry point of the package a page, and every page a link from docs/README.md', () => {
  const index = Fs.readFileSync(Path.join(root, 'docs', 'README.md'), 'utf8')
  for (const name of Fs.readdirSync(Path.join(root, 'docs', 'api'))) assert.ok(index.includes(`](api/${name})`), `docs/README.md does not link api/${name}`)
})

Api.run()
