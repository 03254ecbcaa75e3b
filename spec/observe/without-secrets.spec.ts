/**
 * What is recorded about a run's params never holds a secret: `Secret(c)` values (encoded as
 * `{"~secret": …}`) become `(secret)` wherever they are; and the SDK version recorded is
 * package.json's.
 */
import * as Fs from 'node:fs'
import * as Path from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withoutSecrets } from '../../lib/internal/without-secrets.js'
import { VERSION } from '../../lib/version.js'
import { root } from '../support/cli.js'

test('should leave secrets out of params, wherever they are', () => {
  const params = { user: 'ada', password: { '~secret': 'hunter2' }, keys: [{ '~secret': { k: 1 } }, 'plain'], n: 3, none: null }
  const shown = withoutSecrets(params)
  assert.equal(shown, { user: 'ada', password: '(secret)', keys: ['(secret)', 'plain'], n: 3, none: null })
  assert.not.ok(JSON.stringify(shown).includes('hunter2'))
})

test('should record the version package.json gives', () => {
  assert.is(VERSION, (JSON.parse(Fs.readFileSync(Path.join(root, 'package.json'), 'utf8')) as { version: string }).version)
})

test.run()
