/**
 * The HTML report in a real browser: Debian's `chromium` loads the file headless, and the DOM
 * it built (`--dump-dom`, after the inline script ran) is checked — graph nodes, timeline bars,
 * table rows — for reports of real local runs of samples; screenshots are saved under a temp
 * dir. Where Chromium is absent the browser tests are skipped with a message saying so.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { defineModule, work } from '../../lib/module.js'
import * as Report from '../../lib/report/index.js'
import * as Labels from '../../lib/report/labels.js'
import { Numbers } from '../../samples/numbers.js'
import { chromium, countClass, dumpDom, runLocally, screenshot } from './support.js'

const bin = chromium()
const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-report-'))
const profile = Path.join(tmp, 'chromium-profile')
if (bin === undefined) console.log('report/html: SKIPPING the browser tests: no `chromium` on PATH (Debian: apt-get install -y chromium; .ci/run installs it)')
else console.log(`report/html: screenshots under ${tmp}`)

/** writes the report, has Chromium build its DOM, and saves a screenshot */
const inBrowser = (name: string, record: Report.RunRecord, options: { readonly screenshot?: boolean } = {}): string => {
  const file = Path.join(tmp, `${name}.html`)
  Fs.writeFileSync(file, Report.render(record))
  const dom = dumpDom(bin!, file, profile)
  if (options.screenshot === true) {
    const png = Path.join(tmp, `${name}.png`)
    screenshot(bin!, file, png, profile)
    assert.equal([...Fs.readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG was written')
  }
  return dom
}

const hostile = '<img src=x onerror="document.title=1"></script><script>document.title="pwned"</script>'

const leaf = work({ args: [t.number], returns: t.number }, (n, ctx) => {
  ctx.log(`leaf ${n} ${hostile}`)
  if (n === 2) throw new Error(`bad input ${hostile}`)
  return n
})
const after = work({ args: [t.number], returns: t.number }, (n) => n)
const Failing = defineModule({
  name: 'failing<b>',
  params: t.type({ n: t.number }),
  work: { leaf, after },
  run: ({ n }, { work: w }) => Array.from({ length: n }, (_, i) => w.after(w.leaf(i))),
})

const Fan = defineModule({
  name: 'fan',
  params: t.type({ n: t.number }),
  work: { leaf: work({ args: [t.number], returns: t.number }, (n) => n), sum: work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.length) },
  run: ({ n }, { work: w }) => w.sum(Array.from({ length: n }, (_, i) => w.leaf(i))),
})

// -------------------------------------------------------------------------------------

const offline = suite('Report.render (the document)')

offline('should be self-contained: no external resource, and a policy that forbids fetching any', async () => {
  const { record } = await runLocally(Numbers, { n: 3 })
  const html = Report.render(record)
  assert.ok(html.includes(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`))
  assert.not.ok(/\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i.test(html), 'no src/href to another origin')
  assert.not.ok(/@import|url\((?!#)/.test(html), 'CSS loads nothing (only url(#id) references)')
  const urls = [...html.matchAll(/https?:\/\/[^\s"'<>]+/g)].map((m) => m[0])
  assert.ok(urls.every((u) => u === 'http://www.w3.org/2000/svg'), urls.join(' '))
})

offline('should escape every text of the run', async () => {
  const { record } = await runLocally(Failing, { n: 3 }, { keepGoing: true })
  const html = Report.render(record)
  assert.not.ok(html.includes('<img'), 'no element from a log line or error')
  assert.is(html.split('<script').length - 1, 1, 'only the report’s own script')
  assert.ok(html.includes('failing&lt;b&gt;'))
})

offline('should list at most 5,000 calls in the table and the timeline, failed ones first', () => {
  const at = new Date().toISOString()
  const events: Array<Report.TimedEvent> = []
  for (let i = 0; i < 6000; i++) {
    events.push({ type: 'start', id: `c${i}`, work: 'leaf', at })
    events.push(i === 5999 ? { type: 'failed', id: `c${i}`, work: 'leaf', error: { _tag: 'WorkFailedError', code: 'ARV_WORK_FAILED', message: 'the last one failed' }, at } : { type: 'done', id: `c${i}`, work: 'leaf', reused: false, at })
  }
  const html = Report.render(Report.fromEvents({ module: 'many', params: null, events, outcome: 'failed' }))
  assert.is(countClass(html, 'tr', 'call'), 5000)
  assert.is(countClass(html, 'rect', 'bar'), 5000)
  assert.is(countClass(html, 'tr', 'call', 'state-failed'), 1, 'the failed call is listed')
  assert.ok(html.includes('1000 more call(s) are left out'))
})

offline.run()

// ---

const browser = suite('Report.render in headless Chromium')
const test = bin === undefined ? browser.skip : browser

test('should draw the numbers sample: one graph node per group, one bar and one row per call', async () => {
  const { record, result } = await runLocally(Numbers, { n: 6 })
  const dom = inBrowser('numbers', record, { screenshot: true })
  const calls = result!.graph.nodes.filter((n) => n._tag === 'Call').length
  assert.is(calls, 11, 'square × 6, sum, inc × 3, sumOfSquares')
  // square × 6, sum, inc, inc, inc, sumOfSquares, its result, output
  assert.is(countClass(dom, 'g', 'node'), 8)
  assert.is(countClass(dom, 'g', 'node', 'calls'), 6)
  assert.ok(dom.includes('data-count="6"'), 'the fan-out is one node of 6')
  assert.is(countClass(dom, 'path', 'edge'), Labels.group(result!.graph).edges.length)
  assert.is(countClass(dom, 'rect', 'bar'), calls)
  assert.is(countClass(dom, 'rect', 'bar', 'state-done'), calls)
  assert.is(countClass(dom, 'tr', 'call'), calls)
  assert.match(dom, /<button type="button" id="show-all" hidden="">/, 'the script ran without error up to its last line')
})

test('should list only a node’s calls when the node is clicked', async () => {
  const { record } = await runLocally(Numbers, { n: 5 })
  // the report, with a click on the fan-out node added after its own script
  const click = "<script>document.querySelector('.node[data-count=\"5\"]').dispatchEvent(new MouseEvent('click'))</script>"
  const file = Path.join(tmp, 'numbers-click.html')
  Fs.writeFileSync(file, Report.render(record).replace('</body>', `${click}</body>`))
  const dom = dumpDom(bin!, file, profile)
  assert.is(countClass(dom, 'tr', 'call'), record.calls.length)
  assert.is(countClass(dom, 'tr', 'call', 'hidden'), record.calls.length - 5, 'only the 5 square calls stay listed')
  assert.is(countClass(dom, 'g', 'node', 'selected'), 1)
  assert.match(dom, /5 call\(s\) of square\(number\)\./)
})

test('should hatch reused calls on a second run', async () => {
  const cacheDir = Path.join(tmp, 'cache')
  await runLocally(Numbers, { n: 4 }, { cacheDir })
  const { record, result } = await runLocally(Numbers, { n: 4 }, { cacheDir })
  assert.ok(result!.stats.reused > 0)
  const dom = inBrowser('numbers-reused', record)
  assert.is(countClass(dom, 'rect', 'bar', 'reused'), result!.stats.reused)
  assert.is(countClass(dom, 'span', 'badge', 'reused'), result!.stats.reused)
})

test('should show failed and blocked calls, and no element or script from the run’s text', async () => {
  const { record } = await runLocally(Failing, { n: 4 }, { keepGoing: true })
  const dom = inBrowser('failing', record, { screenshot: true })
  assert.is(countClass(dom, 'tr', 'call', 'state-failed'), 1)
  assert.is(countClass(dom, 'tr', 'call', 'state-blocked'), 1, 'after(leaf(2)) never ran')
  assert.is(countClass(dom, 'rect', 'bar'), 7, 'blocked calls have no bar')
  assert.is(countClass(dom, 'rect', 'bar', 'state-failed'), 1)
  assert.not.ok(/<img\b/i.test(dom), 'no injected element')
  assert.is(dom.split('<script').length - 1, 1)
  assert.match(dom, /<title>Run of failing&lt;b&gt;<\/title>/, 'the title is the module name, not what a log line set')
})

test('should flag calls by RAM used against asked and suggest a setting per work', async () => {
  const GiB = 1024 ** 3
  // local runs do not measure memory yet: the measurement a dispatcher would attach is added here
  const { record } = await runLocally(Fan, { n: 5 }, {
    stamp: (e) => (e.type === 'done' ? { ...e, requested: { ramBytes: 2 * GiB, vcpus: 1 }, used: { peakRssBytes: e.work === 'leaf' ? 100 * 1024 * 1024 : 1.95 * GiB, cpuSeconds: 0.1 } } : e),
  })
  const dom = inBrowser('suggestions', record)
  assert.is((dom.match(/data-flag="low"/g) ?? []).length, 5)
  assert.is((dom.match(/data-flag="high"/g) ?? []).length, 1)
  assert.match(dom, /Set <code>ram: '128MiB'<\/code> on work <b>leaf<\/b>: 5 of 5 calls used under 25% of the 2 GiB asked \(peak 100 MiB\)\./)
  assert.match(dom, /Set <code>ram: '3GiB'<\/code> on work <b>sum<\/b>: its call used over 90% of the 2 GiB asked \(peak 1\.95 GiB\)\./)
})

test('should keep a fan-out of 400 calls to two graph nodes and draw 400 bars', async () => {
  const { record } = await runLocally(Fan, { n: 400 })
  const dom = inBrowser('fan-400', record)
  assert.is(countClass(dom, 'g', 'node', 'calls'), 2)
  assert.is(countClass(dom, 'rect', 'bar'), 401)
})

// the screenshots and reports stay for a look; the browser's profile goes
browser.after(() => Fs.rmSync(profile, { recursive: true, force: true }))

browser.run()
