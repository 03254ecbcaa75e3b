/**
 * The short fault soak (the long one is `npm run bench:soak`): 100 calls on the crunch
 * dispatcher against the double with 20% of API and Keep requests faulted, the runner
 * SIGKILLed twice at random moments and restarted: the right output, exactly one container
 * request per call id, every call's result (spec/support/soak.ts).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { soak } from '../support/soak.js'

const Soak = suite('fault soak (short)')

Soak('should give the right output with one container request per call under 20% faults and 2 SIGKILLs of the runner', async () => {
  const r = await soak({ n: 99, kills: 2, faultRate: 0.2, seed: 7, pollMs: 500 })
  assert.is(r.runs.filter((x) => x.ended === 'killed').length, 2, 'the runner was killed twice')
  assert.ok(r.apiFaults > 0 && r.keepFaults >= 0, 'faults were injected')
  assert.equal(r.output, r.expected, r.stderrTail)
  assert.is(r.perCall.size, 100, 'a request for every call')
  assert.equal([...r.perCall].filter(([, c]) => c !== 1), [], 'exactly one request per call id')
  assert.ok(r.summary !== undefined && r.summary.failed === 0 && r.summary.done === 100, JSON.stringify(r.summary))
})

Soak.run()
