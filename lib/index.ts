/**
 * arvados-crunch: write Arvados Crunch pipelines as plain typed functions.
 *
 * The user API: `defineModule`, `work`, `Future`/`Deferrable`, the codecs, errors and
 * `runMain`. Dispatchers are reached through subpath exports (`arvados-crunch/dispatchers/local`)
 * and `autoDispatcher`.
 *
 * @since 0.1.0
 */
export { defineModule, work } from './module.js'
export type { Module, Work, WorkContext, WorkOptions, RunContext, OutputOf, ParamsOf, Returned, Size } from './module.js'
export { isFuture } from './future.js'
export type { Future, Deferrable, Resolved } from './future.js'
export type { Dispatcher, RunOptions, RunResult, Event, Interceptor } from './dispatcher.js'
export { compose } from './dispatcher.js'
export { autoDispatcher } from './dispatchers/auto.js'
export { format as formatError, isSdkError, toError } from './errors.js'
export type { SdkError } from './errors.js'
export { runMain } from './run-main.js'
export { Secret } from './codec.js'
export type { SecretType } from './codec.js'
export { withCodeIdentity } from './identity/with-code-identity.js'
export { CollectionCodec, FileCodec } from './collections/codec.js'
export { files, file, isCollection, isCollectionFile, readFile, readText, stream } from './collections/collection.js'
export type { Collection, CollectionFile, FileEntry } from './collections/collection.js'
export { isExecError } from './exec-error.js'
export type { ExecFn, ExecOptions, ExecResult, ExecError, Output as ExecOutput } from './exec.js'
