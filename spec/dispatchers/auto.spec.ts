import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Auto from '../../lib/dispatchers/auto.js'
import type * as Dispatcher from '../../lib/dispatcher.js'

const fake = (name: string): Dispatcher.Dispatcher => ({ name, run: () => () => Promise.resolve(E.left({ _tag: 'X', code: 'X', message: 'unused' })) })

const choose = suite('Auto.choose')

choose('should pick local by default', () => {
  assert.equal(Auto.choose({ env: {} }), E.right('local'))
})

choose('should follow --dispatcher over CRUNCH_DISPATCHER', () => {
  assert.equal(Auto.choose({ env: { CRUNCH_DISPATCHER: 'crunch' } }), E.right('crunch'))
  assert.equal(Auto.choose({ env: { CRUNCH_DISPATCHER: 'crunch' }, requested: 'local' }), E.right('local'))
})

choose('should pick crunch inside a crunch container role', () => {
  assert.equal(Auto.choose({ env: { CRUNCH_ROLE: 'work' } }), E.right('crunch'))
  assert.equal(Auto.choose({ env: { CRUNCH_ROLE: 'runner' } }), E.right('crunch'))
})

choose('should reject an unknown choice with the valid ones', () => {
  const r = Auto.choose({ env: { CRUNCH_DISPATCHER: 'slurm' } })
  assert.ok(E.isLeft(r) && r.left.code === 'ARV_DISPATCHER_CHOICE' && /unknown dispatcher "slurm"/.test(r.left.message) && /local, crunch or auto/.test(r.left.hint ?? ''))
})

choose.run()

// ---

const auto = suite('Auto.autoDispatcher')

auto('should build the local dispatcher with its options', () => {
  let seen: unknown
  const r = Auto.autoDispatcher({ env: {}, local: { concurrency: 3 } }, { local: (o) => ((seen = o), fake('local')) })
  assert.ok(E.isRight(r) && r.right.name === 'local')
  assert.equal(seen, { concurrency: 3 })
})

auto('should say which Arvados settings are missing when crunch is asked for and cannot be built', () => {
  const r = Auto.autoDispatcher({ env: { ARVADOS_API_HOST: 'x.example' }, requested: 'crunch' }, { local: () => fake('local') })
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    assert.is(r.left.code, 'ARV_DISPATCHER_UNAVAILABLE')
    assert.match(r.left.message, /ARVADOS_API_TOKEN is not set/)
    assert.not.match(r.left.message, /ARVADOS_API_HOST/)
  }
})

auto('should hand the environment to the crunch maker', () => {
  const r = Auto.autoDispatcher({ env: { CRUNCH_DISPATCHER: 'crunch', ARVADOS_API_HOST: 'h' } }, { local: () => fake('local'), crunch: (env) => E.right(fake(`crunch@${env['ARVADOS_API_HOST']}`)) })
  assert.ok(E.isRight(r) && r.right.name === 'crunch@h')
})

auto.run()
