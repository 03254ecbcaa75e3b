/** The contract suite on the in-process executor (`isolation: 'none'`). */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Local from '../../lib/dispatchers/local.js'
import { contractSuite } from './contract.js'

const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'contract-in-process-'))
let n = 0

contractSuite(
  {
    name: 'in-process',
    dispatcher: (_script, cacheDir) => Local.make({ isolation: 'none', cacheDir }),
    backendCalls: () => 0,
    tempDir: () => Fs.mkdtempSync(Path.join(base, `t${n++}-`)),
  },
  { after: async () => Fs.rmSync(base, { recursive: true, force: true }) },
)
