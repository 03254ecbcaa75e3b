/**
 * Outcomes on the wire: how a call that ran in another process (a worker of the `process`
 * executor, a container of the `crunch` executor) reports what it made, and how the
 * interpreter's side reads it back. A plain result is its JSON text, as its codec encoded it
 * where it ran; a continuation is the calls made and the returned shape, futures and
 * collections in their wire form (`result-file.ts`).
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Codec from '../codec.js'
import type * as Collection from '../collections/collection.js'
import * as Errors from '../errors.js'
import type * as ValueStore from '../value-store.js'
import * as ResultFile from './crunch/result-file.js'
import type * as Executor from './executor.js'
import type * as Invoke from './invoke.js'
import * as Options from './options.js'

/**
 * What the place a call ran sends back: the result file's form.
 *
 * @category models
 * @since 0.2.0
 */
export type Result = ResultFile.Result

/**
 * An in-place outcome (`Value` or `Continuation`) in its wire form: a list of collections is
 * concatenated when the work declares a collection; the result crosses the result codec's
 * encoder here, where it was made (so a value that does not fit fails where it was returned).
 *
 * @category conversions
 * @since 0.2.0
 */
export const toResult = async (
  outcome: Extract<Executor.Outcome, { readonly _tag: 'Value' | 'Continuation' }>,
  plan: Invoke.Plan,
  store: ValueStore.ValueStore,
  signal: AbortSignal,
  onCollection: (pdh: string) => void = () => undefined,
): Promise<E.Either<Errors.SdkError, { readonly result: Result; readonly value: unknown }>> => {
  if (outcome._tag === 'Continuation' || outcome.calls.length > 0) {
    const shape = outcome._tag === 'Continuation' ? outcome.shape : outcome.value
    const r = Options.guard(() => E.right(ResultFile.continuation(outcome.calls, shape, onCollection)), plan.result, shape)
    return E.map((result: Result) => ({ result, value: undefined }))(r)
  }
  let value = outcome.value
  if (plan.concatenates && Array.isArray(value)) {
    const c = await store.concat(value as ReadonlyArray<Collection.Collection | null>, signal)
    if (E.isLeft(c)) return c
    value = c.right
  }
  const json = Options.guard(() => Codec.encode(plan.def.spec.returns, value, plan.result), plan.result, value)
  if (E.isLeft(json)) return json
  return E.right({ result: { v: 1, kind: 'value', json: json.right }, value })
}

/**
 * The interpreter's outcome of a wire result. Futures in a continuation's shape name calls of
 * that continuation.
 *
 * @category conversions
 * @since 0.2.0
 */
export const fromResult = (result: Result, parent: string, json: string | undefined): Executor.Outcome => {
  if (result.kind === 'continuation') {
    const works = new Map(result.calls.map((c) => [c.id, c.work]))
    const workOf = (id: string): string => works.get(id) ?? 'unknown'
    return { _tag: 'Continuation', calls: ResultFile.callsOf(result, parent, workOf), shape: ResultFile.fromCanonical(JSON.parse(result.output), workOf) }
  }
  if (result.kind === 'value') return { _tag: 'Json', json: result.json }
  return { _tag: 'Json', json: json ?? '""' }
}

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/**
 * An SdkError without its cause object (which may not survive the IPC channel): the cause's
 * message and stack travel as details.
 *
 * @category models
 * @since 0.2.0
 */
export interface WireError {
  readonly _tag: string
  readonly code: string
  readonly message: string
  readonly details?: ReadonlyArray<string>
  readonly hint?: string
  readonly fields: Readonly<Record<string, unknown>>
  readonly causeStack?: string
}

/**
 * @category conversions
 * @since 0.2.0
 */
export const toWireError = (e: Errors.SdkError): WireError => {
  const { _tag, code, message, details, hint, cause, ...rest } = e as Errors.SdkError & Record<string, unknown>
  const fields: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(rest)) {
    try {
      fields[k] = JSON.parse(JSON.stringify(v)) as unknown
    } catch {
      // a field that is not JSON does not travel
    }
  }
  const causeStack = cause instanceof Error ? cause.stack ?? cause.message : Errors.isSdkError(cause) ? cause.message : undefined
  return { _tag, code, message, fields, ...(details === undefined ? {} : { details }), ...(hint === undefined ? {} : { hint }), ...(causeStack === undefined ? {} : { causeStack }) }
}

/**
 * @category conversions
 * @since 0.2.0
 */
export const fromWireError = (w: WireError): Errors.SdkError => {
  const cause = w.causeStack === undefined ? undefined : Object.assign(new Error(w.causeStack.split('\n')[0]?.replace(/^\w*Error: /, '') ?? ''), { stack: w.causeStack })
  return Errors.make(w._tag, w.code, w.message, w.fields, { ...(w.details === undefined ? {} : { details: w.details }), ...(w.hint === undefined ? {} : { hint: w.hint }), ...(cause === undefined ? {} : { cause }) })
}


/** the prefix of the line a work container prints last when its call fails */
export const ERROR_LINE_PREFIX = 'arvados-crunch-error: '

/**
 * The line a work container prints on stderr when its call fails: the error as data, so the
 * runner reports the same error as a local run (a codec error stays a codec error).
 *
 * @category conversions
 * @since 0.2.0
 */
export const errorLine = (e: Errors.SdkError): string => `${ERROR_LINE_PREFIX}${JSON.stringify(toWireError(e))}`

/**
 * The error of the last such line among `lines`, if any.
 *
 * @category conversions
 * @since 0.2.0
 */
export const errorFromLines = (lines: ReadonlyArray<string>): Errors.SdkError | undefined => {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!
    const at = l.indexOf(ERROR_LINE_PREFIX)
    if (at < 0) continue
    try {
      const w = JSON.parse(l.slice(at + ERROR_LINE_PREFIX.length)) as WireError
      if (typeof w._tag === 'string' && typeof w.code === 'string' && typeof w.message === 'string') return fromWireError({ ...w, fields: w.fields ?? {} })
    } catch {
      return undefined
    }
  }
  return undefined
}
