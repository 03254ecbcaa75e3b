/**
 * docs/errors.md — errors are values: read `_tag`, `code`, `details` and `hint` from the record,
 * match on `code`, render with `formatError`; or get a thrown `Error` that carries the same
 * fields from the promise-based helpers.
 *
 *   node --import tsx samples/docs/handling.ts
 */
import * as E from 'fp-ts/lib/Either.js'
import { formatError, isSdkError, type SdkError } from 'arvados-crunch'
import { runWork, runWorkEither } from 'arvados-crunch/testing'
import { ErrorsDemo, parse } from './errors.js'

// `module` names the work as the module does (without it, runWork calls it "work")
const options = { module: ErrorsDemo }

/** what a program might do with each kind of failure: match on the code, never on the text */
const advice = (e: SdkError): string => {
  switch (e.code) {
    case 'ARV_ENCODE':
    case 'ARV_DECODE':
      return 'a value does not fit its codec'
    case 'ARV_WORK_FAILED':
      return 'an implementation threw'
    case 'ARV_CANCELLED':
      return 'cancelled'
    default:
      return e.code.startsWith('ARV_HTTP_') ? 'the Arvados API refused a request' : 'something else'
  }
}

// 1. as a value: Left holds the error record
const failed = await runWorkEither(parse, ['twelve'], options)
if (E.isLeft(failed)) {
  const e = failed.left
  console.log(e._tag, e.code, '->', advice(e))
  console.log(formatError(e))
}

// 2. a codec error carries where the value crossed and one issue per problem
// @ts-expect-error -- a number where the codec says string (TypeScript refuses it too)
const wrong = await runWorkEither(parse, [42], options)
if (E.isLeft(wrong)) {
  console.log(wrong.left.code, '->', advice(wrong.left))
  console.log(wrong.left.message)
  console.log(wrong.left.details)
}

// 3. the promise-based helpers reject with an Error that carries the same fields
try {
  await runWork(parse, ['twelve'], options)
} catch (thrown) {
  if (isSdkError(thrown)) console.log(thrown instanceof Error, thrown._tag, thrown.code)
}
