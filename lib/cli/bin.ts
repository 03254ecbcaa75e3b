#!/usr/bin/env node
/**
 * The `crunch` command as the package installs it (dist/cli/bin.js): the SDK is compiled
 * JavaScript, so nothing is transpiled at start-up except the user's script, and only when it
 * is TypeScript, and then by esbuild into a cached bundle (lib/cli/load-script.ts), not by a
 * loader hook that every later import would go through.
 *
 * @since 0.1.0
 */
import { main } from '../cli.js'

await main(process.argv.slice(2), {
  loadTypeScript: async (file) => {
    const { bundledScript } = await import('./load-script.js')
    const url = await bundledScript(file)
    // stacks of the script's code name its .ts lines (the SDK is loaded by now: its maps are not read)
    process.setSourceMapsEnabled(true)
    return url
  },
})
