/**
 * Compile-only type specs for `Secret` (checked by `tsc` as part of `npm test`): a secret
 * argument or parameter has the plain type of its codec.
 */
import * as t from 'io-ts'
import { defineModule, Secret, work } from '../../lib/index.js'

type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false
const expectType = <T extends true>(_: T): void => undefined

// the implementation receives the plain value
const login = work({ args: [t.string, Secret(t.string)], returns: t.number }, (user, password) => {
  expectType<Equals<typeof password, string>>(true)
  return user.length + password.length
})

defineModule({
  name: 'secret-types',
  params: t.type({ user: t.string, password: Secret(t.string) }),
  work: { login },
  run: ({ user, password }, { work: w }) => {
    expectType<Equals<typeof password, string>>(true)
    // @ts-expect-error a secret string argument takes a string
    w.login(user, 42)
    return w.login(user, password)
  },
})

// @ts-expect-error the implementation cannot take a secret string as a number
work({ args: [Secret(t.string)], returns: t.number }, (p: number) => p)
