/** The contract suite on the process executor (`isolation: 'process'`): calls in worker processes. */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Local from '../../lib/dispatchers/local.js'
import { contractSuite } from './contract.js'

const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'contract-process-'))
let n = 0

contractSuite(
  {
    name: 'process',
    dispatcher: (script, cacheDir) => Local.make({ isolation: 'process', script, cacheDir }),
    backendCalls: () => 0,
    tempDir: () => Fs.mkdtempSync(Path.join(base, `t${n++}-`)),
  },
  { after: async () => Fs.rmSync(base, { recursive: true, force: true }) },
)
