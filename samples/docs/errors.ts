/**
 * docs/errors.md — how failures are reported: a failing call, a secret in an error message (it
 * is redacted), and an implementation whose promise never settles. `--case` picks one.
 *
 *   ARVADOS_API_TOKEN=v2/zzzzz-gj3su-0123456789abcde/s3cr3t crunch run samples/docs/errors.ts --case token
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

/** a careless error message: it quotes the token it was given */
export const login = work({ args: [t.string], returns: t.string }, (host) => {
  throw new Error(`cannot log in to ${host} with token ${process.env['ARVADOS_API_TOKEN'] ?? '(none)'}`)
})
/** a bug: the promise never resolves nor rejects */
export const hang = work({ args: [], returns: t.number }, () => new Promise<number>(() => undefined))
export const parse = work({ args: [t.string], returns: t.number }, (text) => {
  const n = Number(text)
  if (Number.isNaN(n)) throw new Error(`${JSON.stringify(text)} is not a number`)
  return n
})

export const ErrorsDemo = defineModule({
  name: 'errors',
  params: t.type({ case: t.keyof({ token: null, stalled: null, parse: null }) }),
  work: { login, hang, parse },
  run: (p, { work: w }) => {
    switch (p.case) {
      case 'token':
        return w.login('cluster.example')
      case 'stalled':
        return w.hang()
      case 'parse':
        return [w.parse('12'), w.parse('twelve')]
    }
  },
})

runMain(ErrorsDemo, import.meta.url)
