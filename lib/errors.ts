/**
 * Errors are data. Every failure the SDK reports is an `SdkError`: a tagged record with a
 * stable `code`, a one-line `message` computed from its fields when it is made, optional
 * `details` (one line each), an optional `hint` saying what to do next, and the original
 * `cause` when one exists. Each module defines the errors of its own concept with `make`;
 * `format` is the one renderer, used by the CLI and by `toError`.
 *
 * Secrets never reach an error: `redact` is applied to every rendered line.
 *
 * @since 0.1.0
 */
import * as Redact from './internal/redact.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface SdkError {
  readonly _tag: string
  /** Stable machine-readable code, `ARV_*`. Match on this, not on the message. */
  readonly code: string
  readonly message: string
  readonly details?: ReadonlyArray<string>
  readonly hint?: string
  readonly cause?: unknown
}

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Builds a tagged error. `fields` are kept on the record for handlers to read.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <Tag extends string, F extends object>(
  _tag: Tag,
  code: string,
  message: string,
  fields: F,
  extra: { readonly details?: ReadonlyArray<string>; readonly hint?: string; readonly cause?: unknown } = {},
): SdkError & { readonly _tag: Tag } & F => {
  const base: SdkError & { readonly _tag: Tag } = {
    _tag,
    code,
    message,
    ...(extra.details === undefined ? {} : { details: extra.details }),
    ...(extra.hint === undefined ? {} : { hint: extra.hint }),
    ...(extra.cause === undefined ? {} : { cause: extra.cause }),
  }
  const error = { ...fields, ...base }
  Object.freeze(error)
  return error
}

/**
 * Wraps an unknown thrown value (from user code, node or a library) as an `SdkError`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromUnknown = (u: unknown, code = 'ARV_UNEXPECTED'): SdkError =>
  carried(u) ??
  (isSdkError(u)
    ? u
    : make('UnexpectedError', code, u instanceof Error ? u.message : `non-Error value thrown: ${kindOf(u)}`, {}, { cause: u }))

const CarriedKey = '~arvados-crunch/SdkError'

/**
 * The `SdkError` an `Error` made by `toError` carries, if any.
 *
 * @category conversions
 * @since 0.1.0
 */
export const carried = (u: unknown): SdkError | undefined => {
  if (typeof u !== 'object' || u === null) return undefined
  const c = (u as { [CarriedKey]?: unknown })[CarriedKey]
  return isSdkError(c) ? c : undefined
}

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * @category guards
 * @since 0.1.0
 */
export const isSdkError = (u: unknown): u is SdkError =>
  typeof u === 'object' &&
  u !== null &&
  typeof (u as { _tag?: unknown })._tag === 'string' &&
  typeof (u as { code?: unknown }).code === 'string' &&
  typeof (u as { message?: unknown }).message === 'string'

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

/**
 * The kind of a value for messages ("received number"), never the value itself.
 *
 * @category utils
 * @since 0.1.0
 */
export const kindOf = (u: unknown): string => {
  if (u === null) return 'null'
  if (Array.isArray(u)) return 'array'
  if (typeof u === 'number') {
    if (Number.isNaN(u)) return 'NaN'
    if (!Number.isFinite(u)) return u > 0 ? 'Infinity' : '-Infinity'
    return 'number'
  }
  if (typeof u === 'object') {
    const proto: unknown = Object.getPrototypeOf(u)
    if (proto === null || proto === Object.prototype) return 'object'
    const ctor = (proto as { constructor?: { name?: unknown } }).constructor
    return typeof ctor?.name === 'string' && ctor.name !== '' ? `instance of ${ctor.name}` : 'object'
  }
  return typeof u
}

/**
 * Removes the `secrets` (the API token) in every form they travel in, and anything shaped like
 * an Arvados token (`lib/internal/redact.ts` is the one rule).
 *
 * @category utils
 * @since 0.1.0
 */
export const redact = (text: string, secrets: ReadonlyArray<string> = []): string => Redact.make(secrets)(text)

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * The one renderer: `Tag [CODE]: message`, then details, the hint and the cause chain.
 * `stack: true` appends the innermost stack (user code failures keep theirs).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const format = (e: SdkError, options: { readonly stack?: boolean; readonly secrets?: ReadonlyArray<string> } = {}): string => {
  const lines: Array<string> = [`${e._tag} [${e.code}]: ${e.message}`]
  for (const d of e.details ?? []) lines.push(`  ${d}`)
  if (e.hint !== undefined) lines.push(`  hint: ${e.hint}`)
  let cause = e.cause
  let depth = 0
  while (cause !== undefined && depth < 5) {
    if (isSdkError(cause)) {
      lines.push(`  caused by ${cause._tag} [${cause.code}]: ${cause.message}`)
      for (const d of cause.details ?? []) lines.push(`    ${d}`)
      cause = cause.cause
    } else if (cause instanceof Error) {
      if (options.stack === true && cause.stack !== undefined) {
        lines.push(`  caused by ${cause.stack.split('\n').join('\n  ')}`)
      } else lines.push(`  caused by ${cause.name}: ${cause.message}`)
      cause = cause.cause
    } else {
      lines.push(`  caused by a thrown ${kindOf(cause)}`)
      cause = undefined
    }
    depth++
  }
  return redact(lines.join('\n'), options.secrets)
}

/**
 * Bridges to throw-based callers: an `Error` whose message is the rendered error, with the
 * record on `cause`-free own fields (`code`, `_tag`) and the original cause kept.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const toError = (e: SdkError): Error & SdkError => {
  const err = new Error(format(e), e.cause === undefined ? undefined : { cause: e.cause })
  Object.defineProperty(err, CarriedKey, { value: e, enumerable: false })
  return Object.assign(err, { _tag: e._tag, code: e.code, details: e.details ?? [], ...(e.hint === undefined ? {} : { hint: e.hint }) })
}
