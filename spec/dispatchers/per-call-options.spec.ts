/**
 * Per-call output names (a function of the call's arguments: the request's output_name on
 * Arvados, an event field locally, validated everywhere) and resource escalation after an
 * out-of-memory end (exit code 137 on Arvados: the next request asks for more ram).
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Dispatcher from '../../lib/dispatcher.js'
import * as Crunch from '../../lib/dispatchers/crunch/index.js'
import * as Local from '../../lib/dispatchers/local.js'
import { root } from '../support/cli.js'
import { startDouble, type Double } from '../support/double/index.js'
import { Options } from '../fixtures/crunch/options.js'

const script = Path.join(root, 'spec', 'fixtures', 'crunch', 'options.ts')
const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'per-call-options-'))
let double: Double | undefined

const crunch = (): Dispatcher.Dispatcher => {
  Fs.writeFileSync(Path.join(base, 'ca.pem'), double!.ca)
  return Crunch.make({
    script,
    home: base,
    uploadStore: Path.join(base, 'uploads'),
    env: { ARVADOS_API_HOST: double!.apiHost, ARVADOS_API_TOKEN: double!.token, SSL_CERT_FILE: Path.join(base, 'ca.pem'), CRUNCH_POLL_MS: '200', CRUNCH_KEEP_REPLICAS: '1' },
  })
}
type Rec = Record<string, unknown>
const requests = (): ReadonlyArray<Rec> => [...double!.cluster.crs.values()].filter((r) => typeof (r['properties'] as Rec)['arvados_crunch_call_id'] === 'string')

const run = async (d: Dispatcher.Dispatcher, p: { case: string }) => {
  const events: Array<Dispatcher.Event> = []
  const r = await d.run(Options, p, { onEvent: (e) => events.push(e), reuse: false })()
  return { r, events }
}

const s = suite('per-call options')
s.before(async () => {
  double = await startDouble()
})
s.after(async () => {
  await double?.stop()
  Fs.rmSync(base, { recursive: true, force: true })
})

s('an output name computed from the arguments is the call\'s (events locally, output_name on Arvados)', async () => {
  const local = await run(Local.make(), { case: 'names' })
  assert.ok(E.isRight(local.r))
  assert.equal(local.events.flatMap((e) => (e.type === 'done' && e.outputName !== undefined ? [e.outputName] : [])).sort(), ['aligned S1 lane 1', 'aligned S2 lane 3'])
  const remote = await run(crunch(), { case: 'names' })
  assert.ok(E.isRight(remote.r), E.isLeft(remote.r) ? remote.r.left.message : '')
  assert.equal(requests().map((r) => r['output_name']).sort(), ['aligned S1 lane 1', 'aligned S2 lane 3'])
})

s('an output name with "/" is refused, naming the work, on every executor', async () => {
  for (const d of [Local.make(), crunch()]) {
    const before = requests().length
    const { r } = await run(d, { case: 'badName' })
    assert.ok(E.isLeft(r))
    if (E.isLeft(r)) {
      assert.is(r.left.code, 'ARV_WORK_OPTION')
      assert.match(r.left.message, /work "badName".*contains "\/"/)
    }
    assert.is(requests().length, before, 'no request was made')
  }
})

s('a call killed like an out-of-memory container is retried with escalated ram', async () => {
  const before = requests().length
  const { r, events } = await run(crunch(), { case: 'hungry' })
  assert.ok(E.isRight(r), E.isLeft(r) ? r.left.message : '')
  if (E.isRight(r)) assert.is(r.right.value, 42)
  const mine = requests().slice(before)
  assert.equal(
    mine.map((x) => (x['runtime_constraints'] as Rec)['ram']),
    [256 * 1024 * 1024, 512 * 1024 * 1024],
  )
  assert.equal(events.flatMap((e) => (e.type === 'start' ? [e.ram] : [])), [256 * 1024 * 1024, 512 * 1024 * 1024])
})

s.run()
