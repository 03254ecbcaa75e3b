/**
 * docs/getting-started.md — unit tests for the work functions of hello.ts, with uvu.
 * `runWork` runs one work through the local dispatcher: arguments and result cross their
 * codecs exactly as in a real run.
 *
 *   node --import tsx samples/docs/hello.test.ts
 */
import * as assert from 'uvu/assert'
import { test } from 'uvu'
import { runWork } from 'arvados-crunch/testing'
import { banner, greet } from './hello.js'

test('greet shouts when asked', async () => {
  assert.is(await runWork(greet, ['Hello', 'Ada', true]), 'HELLO, ADA!')
})

test('banner counts its lines', async () => {
  assert.equal(await runWork(banner, [['a', 'b']]), { lines: ['a', 'b'], count: 2 })
})

test('a wrong argument is rejected with a code', async () => {
  // @ts-expect-error -- the types refuse it too; at run time the codec does
  const error: unknown = await runWork(greet, ['Hello', 42, false]).catch((e: unknown) => e)
  assert.is((error as { code?: string }).code, 'ARV_ENCODE')
})

test.run()
