#!/usr/bin/env node
/**
 * The `crunch` command as the package installs it (dist/cli/bin.js): the SDK is compiled
 * JavaScript, so nothing is transpiled at start-up except the user's script, and only when it
 * is TypeScript (tsx is loaded for `.ts`, `.mts`, `.cts` and `.tsx` scripts only).
 *
 * @since 0.1.0
 */
import { main } from '../cli.js'

await main(process.argv.slice(2), {
  registerTypeScript: async () => {
    const { register } = await import('tsx/esm/api')
    register()
  },
})
