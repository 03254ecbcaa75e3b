/**
 * `withCodeIdentity` for the public entry: the computation (esbuild, the file system) is loaded
 * only when called, so `import { defineModule } from 'arvados-crunch'` stays the pure core.
 *
 * @since 0.1.0
 */
import type * as E from 'fp-ts/lib/Either.js'
import type * as Errors from '../errors.js'
import type * as Module from '../module.js'

/**
 * The module with the code identity of the script it is defined in: what the CLI does for
 * `runMain`, for programs that call a dispatcher themselves (see docs/concepts/reuse.md).
 *
 * @example
 * import { fileURLToPath } from 'node:url'
 * const identified = await withCodeIdentity(Pipeline, fileURLToPath(import.meta.url))
 *
 * @category combinators
 * @since 0.1.0
 */
export const withCodeIdentity = async <M extends Module.AnyModule>(module: M, script: string): Promise<E.Either<Errors.SdkError, M>> =>
  (await import('./compute.js')).withCodeIdentity(module, script)
