/**
 * `runMain(module, import.meta.url)`: makes a script a program. The CLI (and with it the
 * dispatchers and their interpreter) is loaded only when the script runs, so
 * `import { defineModule } from 'arvados-crunch'` stays the pure core.
 *
 * @since 0.2.0
 */
import type * as Cli from './cli.js'
import type * as Module from './module.js'

/**
 * When the file that calls it is the one node was started with (or the one `crunch run` was
 * given), runs the module with the command-line flags; when the file is imported (by a test,
 * say), does nothing.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const runMain = (module: Module.AnyModule, importMetaUrl: string, options: Cli.MainOptions = {}): void => {
  void import('./cli.js').then((cli) => cli.runMain(module, importMetaUrl, options))
}
