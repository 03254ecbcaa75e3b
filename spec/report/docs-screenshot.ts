/**
 * Makes the screenshot of docs/watching-a-run.md: a real local run of samples/tumors.ts over
 * samples/data/reads, its report rendered by headless Chromium. Not a spec (the HTML spec checks
 * the DOM); run it after changing the report's look:
 *
 *   node --import tsx spec/report/docs-screenshot.ts
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Report from '../../lib/report/index.js'
import { Tumors } from '../../samples/tumors.js'
import { chromium, runLocally, screenshot } from './support.js'

const root = Path.resolve(import.meta.dirname, '..', '..')
const bin = chromium()
if (bin === undefined) throw new Error('no chromium on PATH (Debian: apt-get install -y chromium)')
const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-docs-report-'))
const { record } = await runLocally(Tumors, { input: 'samples/data/reads' })
const html = Path.join(tmp, 'run.html')
Fs.writeFileSync(html, Report.render({ ...record, params: { input: 'samples/data/reads' } }))
const png = Path.join(root, 'docs', 'watching-a-run.png')
screenshot(bin, html, png, Path.join(tmp, 'profile'), process.argv[2] ?? '1100,1500')
console.log(`${png}: ${Fs.statSync(png).size} bytes (report ${html})`)
