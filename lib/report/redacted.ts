/**
 * A dispatcher event as it may be shown or written: its log line, and its failure's message,
 * details and hint, with every secret removed by `hide` (lib/internal/redact.ts: the configured
 * API token, `Secret` parameter values, anything shaped like a token). A failure keeps its tag
 * and code and loses its fields and cause, which may hold anything. Applied once where events
 * leave the run (the CLI's progress lines, run file and report; the provenance collection).
 *
 * @since 0.2.0
 */
import type * as Dispatcher from '../dispatcher.js'
import * as Errors from '../errors.js'
import type * as Redact from '../internal/redact.js'

/**
 * The error with its texts redacted, and nothing else of it.
 *
 * @category utils
 * @since 0.2.0
 */
export const error = (hide: Redact.Redactor, e: Errors.SdkError): Errors.SdkError =>
  Errors.make(e._tag, e.code, hide(e.message), {}, {
    ...(e.details === undefined ? {} : { details: e.details.map(hide) }),
    ...(e.hint === undefined ? {} : { hint: hide(e.hint) }),
  })

/**
 * The event with its texts redacted.
 *
 * @category utils
 * @since 0.2.0
 */
export const event =
  (hide: Redact.Redactor) =>
  <A extends Dispatcher.Event>(e: A): A =>
    e.type === 'log' ? { ...e, message: hide(e.message) } : e.type === 'failed' ? { ...e, error: error(hide, e.error) } : e
