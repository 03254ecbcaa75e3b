/**
 * Specs for lib/arvados/resources.ts: codecs tolerate unknown fields, require the core ones,
 * pick selected fields, strip the token of a token record, and report problems without values.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Resources from '../../lib/arvados/resources.js'

const cr = {
  kind: 'arvados#containerRequest',
  uuid: 'zzzzz-xvhdp-000000000000001',
  owner_uuid: 'zzzzz-tpzed-000000000000000',
  state: 'Committed',
  priority: 1,
  container_uuid: null,
  output_uuid: null,
  log_uuid: null,
  properties: {},
  command: ['echo'],
  some_future_field: { anything: true },
}

const codecs = suite('codec')
codecs('should decode a container request and keep unknown fields', () => {
  const r = Resources.codec(Resources.ContainerRequest).decode(cr)
  assert.ok(E.isRight(r))
  if (E.isRight(r)) assert.is((r.right as unknown as Record<string, unknown>)['some_future_field'] !== undefined, true)
})
codecs('should reject a missing core field and an unknown state, naming paths not values', () => {
  const { state: _s, ...noState } = cr
  const r = Resources.codec(Resources.ContainerRequest).decode({ ...noState, priority: 'secret-value' })
  assert.ok(E.isLeft(r))
  if (E.isLeft(r)) {
    const p = Resources.problems(r.left)
    assert.ok(p.some((l) => l.startsWith('state: expected ')), p.join('\n'))
    assert.ok(p.some((l) => l.startsWith('priority: expected ') && l.endsWith('received string')), p.join('\n'))
    assert.not.ok(p.join('\n').includes('secret-value'))
  }
  assert.ok(E.isLeft(Resources.codec(Resources.ContainerRequest).decode({ ...cr, state: 'Running' })))
})
codecs('should strip api_token from a token record', () => {
  const r = Resources.codec(Resources.ApiClientAuthorization, true).decode({ uuid: 'zzzzz-gj3su-000000000000000', api_token: 'sekrit', scopes: ['all'] })
  assert.ok(E.isRight(r))
  if (E.isRight(r)) assert.not.ok('api_token' in r.right)
})

const pick = suite('pick')
pick('should decode only the selected fields, core ones required', () => {
  const c = Resources.pick(Resources.ContainerRequest, ['uuid', 'state', 'name'])
  assert.ok(E.isRight(c.decode({ uuid: 'u', state: 'Final' })))
  assert.ok(E.isLeft(c.decode({ uuid: 'u' })))
})
pick('should decode a list page with or without items_available', () => {
  const l = Resources.list(Resources.pick(Resources.Collection, ['uuid']))
  assert.ok(E.isRight(l.decode({ kind: 'arvados#collectionList', items: [{ uuid: 'a' }], items_available: 1 })))
  assert.ok(E.isRight(l.decode({ items: [] })))
  assert.ok(E.isLeft(l.decode({ items: [{}] })))
})

// the client checks an answer with `is` and decodes only what does not fit (lib/arvados/client.ts):
// that is right only while every resource codec decodes a record to that same record
const agree = suite('is and decode agree')
agree('should accept with is exactly what decode accepts, and decode to the same record (container requests, whole, picked, listed; mutated)', () => {
  const whole = Resources.codec(Resources.ContainerRequest)
  const picked = Resources.pick(Resources.ContainerRequest, ['uuid', 'state', 'priority', 'container_uuid', 'output_uuid', 'log_uuid'])
  const listed = Resources.list(whole)
  const value = fc.oneof(fc.constant(null), fc.constant(undefined), fc.integer(), fc.string(), fc.constantFrom('Committed', 'Final', 'Running'), fc.array(fc.string(), { maxLength: 2 }), fc.dictionary(fc.string(), fc.integer(), { maxKeys: 2 }))
  const mutated = fc.tuple(fc.constantFrom(...Object.keys(cr), 'extra'), fc.option(value, { nil: 'delete' as const })).map(([k, v]) => {
    const r: Record<string, unknown> = { ...cr }
    if (v === 'delete') delete r[k]
    else r[k] = v
    return r
  })
  let accepted = 0
  fc.assert(
    fc.property(mutated, (r) => {
      for (const [codec, u] of [[whole, r], [picked, r], [listed, { items: [r, cr], items_available: 2 }]] as const) {
        const d = (codec as { decode: (u: unknown) => E.Either<unknown, unknown> }).decode(u)
        assert.is((codec as { is: (u: unknown) => boolean }).is(u), E.isRight(d), JSON.stringify(u))
        if (E.isRight(d)) {
          assert.equal(d.right, u)
          accepted++
        }
      }
    }),
    { numRuns: 300 },
  )
  assert.ok(accepted > 100, `only ${accepted} accepted: the property saw too few valid records`)
})

codecs.run()
pick.run()
agree.run()
