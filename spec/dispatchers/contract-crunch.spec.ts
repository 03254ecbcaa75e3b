/**
 * The contract suite on the crunch executor, against the Arvados double (HTTPS API and Keep on
 * loopback, real containers running the bundled script in private mount namespaces).
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Crunch from '../../lib/dispatchers/crunch/index.js'
import * as DoubleEnv from '../support/double/env.js'
import { startDouble, type Double } from '../support/double/index.js'
import { contractSuite } from './contract.js'

const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'contract-crunch-'))
let n = 0
let double: Double | undefined

const env = (): Record<string, string> => DoubleEnv.dispatcherEnv(double!, base)

contractSuite(
  {
    name: 'crunch',
    dispatcher: (script) => Crunch.make({ script, env: env(), home: base, uploadStore: Path.join(base, 'uploads') }),
    backendCalls: () => [...double!.cluster.crs.values()].filter((r) => typeof (r['properties'] as Record<string, unknown>)['arvados_crunch_call_id'] === 'string').length,
    tempDir: () => Fs.mkdtempSync(Path.join(base, `t${n++}-`)),
  },
  {
    before: async () => {
      double = await startDouble()
      Fs.writeFileSync(Path.join(base, 'ca.pem'), double.ca)
    },
    after: async () => {
      await double?.stop()
      Fs.rmSync(base, { recursive: true, force: true })
    },
  },
)
