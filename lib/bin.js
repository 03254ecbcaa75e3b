#!/usr/bin/env node
// The `crunch` command inside this repository, running the SDK from its TypeScript sources
// (the specs and `npm run crunch` use it; the package's bin is dist/cli/bin.js, built by
// `npm run build`). Packages that import `arvados-crunch` (the samples do) get lib/ too, through
// the "arvados-crunch-source" export condition: in this process by a resolve hook, in child
// processes (and in the crunch dispatcher's bundles) through NODE_OPTIONS.
import * as Module from 'node:module'
import { register } from 'tsx/esm/api'

const condition = 'arvados-crunch-source'
if (!(process.env.NODE_OPTIONS ?? '').includes(`--conditions=${condition}`)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --conditions=${condition}`.trim()
}
const hook = `export const resolve = (specifier, context, next) => next(specifier, context.conditions.includes(${JSON.stringify(condition)}) ? context : { ...context, conditions: [...context.conditions, ${JSON.stringify(condition)}] })`
Module.register(`data:text/javascript,${encodeURIComponent(hook)}`)
register()
const { main } = await import('./cli.ts')
await main(process.argv.slice(2))
