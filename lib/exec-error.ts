/**
 * Recognising the error `ctx.exec` rejects with, without loading what runs programs (so the
 * package entry stays the pure core).
 *
 * @since 0.2.0
 */
import * as Errors from './errors.js'
import type * as Exec from './exec.js'

/**
 * Whether a thrown value (or an SdkError) is the error of a command run by `ctx.exec`.
 *
 * @category guards
 * @since 0.1.0
 */
export const isExecError = (u: unknown): u is Exec.ExecError => {
  const e = Errors.carried(u) ?? u
  return Errors.isSdkError(e) && e._tag === 'ExecError'
}
