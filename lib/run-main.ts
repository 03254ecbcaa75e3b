/**
 * `runMain(module, import.meta.url)`: makes a script a program. The CLI (and with it the
 * dispatchers and their interpreter) is loaded only when the script runs, so
 * `import { defineModule } from 'arvados-crunch'` stays the pure core; in a work container
 * (`CRUNCH_ROLE=work`) only the work role is loaded.
 *
 * @since 0.2.0
 */
import type * as Cli from './cli.js'
import type * as Module from './module.js'

/**
 * The process event `runMain` emits (with the calling file's URL) as soon as it is called.
 *
 * @category constants
 * @since 0.1.0
 */
export const RUN_MAIN_EVENT = 'arvados-crunch:runMain'

/**
 * When the file that calls it is the one node was started with (or the one `crunch run` was
 * given), runs the module with the command-line flags; when the file is imported (by a test,
 * say), does nothing.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const runMain = (module: Module.AnyModule, importMetaUrl: string, options: Cli.MainOptions = {}): void => {
  // synchronously, while the script loads: `crunch run` tells a script that calls runMain from one that forgot it
  ;(process as NodeJS.EventEmitter).emit(RUN_MAIN_EVENT, importMetaUrl)
  // in a work container, the work role alone (a bundle then loads neither the CLI nor the dispatchers)
  if (process.env['CRUNCH_ROLE'] === 'work') void import('./dispatchers/crunch/work-main.js').then((w) => w.runMain(module, importMetaUrl))
  else void import('./cli.js').then((cli) => cli.runMain(module, importMetaUrl, options))
}
