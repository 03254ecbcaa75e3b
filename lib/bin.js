#!/usr/bin/env node
// The `crunch` command. Registers the TypeScript loader so scripts (and this package's own
// sources) run with no build step, then hands over to lib/cli.ts.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('./cli.ts')
await main(process.argv.slice(2))
