/**
 * The pure parts of the crunch dispatcher: the container request made for a call (resources,
 * scheduling, reuse, retries, mounts, determinism), the reproducible bundle, the result file,
 * and the work role run against a call file in a scratch directory (no container).
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Auto from '../../lib/dispatchers/auto.js'
import * as Crunch from '../../lib/dispatchers/crunch/index.js'
import * as Local from '../../lib/dispatchers/local.js'
import * as Bundle from '../../lib/dispatchers/crunch/bundle.js'
import * as Request from '../../lib/dispatchers/crunch/request.js'
import * as ResultFile from '../../lib/dispatchers/crunch/result-file.js'
import * as WorkRole from '../../lib/dispatchers/crunch/work-role.js'
import * as Errors from '../../lib/errors.js'
import { defineModule, work } from '../../lib/index.js'
import type * as Module from '../../lib/module.js'
import { root } from '../support/cli.js'

const right = <A>(r: E.Either<Errors.SdkError, A>): A => {
  if (E.isLeft(r)) throw new Error(Errors.format(r.left))
  return r.right
}
const left = <A>(r: E.Either<Errors.SdkError, A>): Errors.SdkError => {
  if (E.isRight(r)) throw new Error(`expected an error, got ${JSON.stringify(r.right)}`)
  return r.left
}

const call: ResultFile.CallFile = { v: 1, module: 'm', work: 'w', callId: 'a'.repeat(40), args: ['1'], collections: {} }
const input = (options: Module.WorkOptions, extra: Partial<Request.RequestInput> = {}): Request.RequestInput => ({
  module: 'm',
  work: 'w',
  callId: 'a'.repeat(40),
  options,
  call,
  bundle: { pdh: `${'b'.repeat(32)}+100`, file: 'main.mjs' },
  image: 'node:20-slim',
  project: undefined,
  reuse: true,
  ...extra,
})

// -------------------------------------------------------------------------------------

const Requests = suite('crunch: the container request of a call')

Requests('should map ram, vcpus, keep cache, API access, GPU and scheduling options to the API fields', () => {
  const a = right(
    Request.containerRequest(
      input({ ram: '2GiB', vcpus: 3, keepCacheRam: '256MiB', apiAccess: true, gpu: { stack: 'cuda', count: 2, driverVersion: '12.0', hardwareTarget: ['8.0'], vram: '8GiB' }, maxRunTime: 3600, preemptible: true, partitions: ['fast'] }),
    ),
  )
  assert.equal(a['runtime_constraints'], {
    ram: 2 * 1024 ** 3,
    vcpus: 3,
    API: true,
    keep_cache_ram: 256 * 1024 ** 2,
    gpu: { stack: 'cuda', device_count: 2, driver_version: '12.0', hardware_target: ['8.0'], vram: 8 * 1024 ** 3 },
  })
  assert.equal(a['scheduling_parameters'], { preemptible: true, partitions: ['fast'], max_run_time: 3600 })
})

Requests('should take container_count_max from retries and use_existing from reuse (the run and the work)', () => {
  assert.is(right(Request.containerRequest(input({})))['container_count_max'], 3)
  assert.is(right(Request.containerRequest(input({ retries: 0 })))['container_count_max'], 1)
  assert.is(right(Request.containerRequest(input({})))['use_existing'], true)
  assert.is(right(Request.containerRequest(input({ reuse: false })))['use_existing'], false)
  assert.is(right(Request.containerRequest(input({}, { reuse: false })))['use_existing'], false)
})

Requests('should mount the call as json, the bundle and every collection argument, and name the request after the call', () => {
  const pdh = `${'c'.repeat(32)}+5`
  const a = right(Request.containerRequest(input({ image: 'bwa:0.7', outputName: 'aligned' }, { call: { ...call, collections: { [pdh]: '. x 0:5:f\n' } } })))
  const mounts = a['mounts'] as Record<string, Record<string, unknown>>
  assert.equal(mounts[Request.CALL_FILE], { kind: 'json', content: { ...call, collections: { [pdh]: '. x 0:5:f\n' } } })
  assert.equal(mounts[Request.BUNDLE_DIR], { kind: 'collection', portable_data_hash: `${'b'.repeat(32)}+100` })
  assert.equal(mounts[`/keep/${pdh}`], { kind: 'collection', portable_data_hash: pdh })
  assert.is(a['container_image'], 'bwa:0.7')
  assert.is(a['output_name'], 'aligned')
  assert.is(a['name'], `m.w ${'a'.repeat(12)}`)
  assert.equal((a['properties'] as Record<string, unknown>)[Request.CALL_ID_PROPERTY], 'a'.repeat(40))
})

Requests('should make the same request for the same call (no time, no run id), so Arvados can reuse its container', () => {
  assert.equal(right(Request.containerRequest(input({ ram: '1GiB' }))), right(Request.containerRequest(input({ ram: '1GiB' }))))
})

Requests('should reject, not drop, an option Arvados cannot honour, naming the work and the option', () => {
  const gpu = left(Request.containerRequest(input({ gpu: { stack: 'cuda', count: 1 } })))
  assert.is(gpu.code, 'ARV_CRUNCH_OPTION')
  assert.match(gpu.message, /work "w" \(module "m"\) asks for 1 cuda GPU/)
  assert.match(left(Request.containerRequest(input({ ram: '2 lots' as Module.Size })))
    .message, /ram "2 lots"/)
  assert.match(left(Request.containerRequest(input({ vcpus: 0 }))).message, /vcpus 0/)
  assert.match(left(Request.containerRequest(input({ maxRunTime: 1.5 }))).message, /maxRunTime 1\.5/)
  assert.match(left(Request.containerRequest(input({ retries: -1 }))).message, /retries -1/)
  const unknown = left(Request.containerRequest(input({ memory: '1GiB' } as unknown as Module.WorkOptions)))
  assert.match(unknown.message, /"memory"/)
  assert.match(unknown.hint ?? '', /ram/)
})

Requests.run()

// -------------------------------------------------------------------------------------

const Bundles = suite('crunch: the bundle')

Bundles('should bundle a TypeScript script into the same bytes every time (same portable data hash)', async () => {
  const script = Path.join(root, 'samples', 'numbers.ts')
  const a = right(await Bundle.build(script))
  const b = right(await Bundle.build(script))
  assert.ok(a.length > 1)
  assert.equal(a, b)
  assert.is(Bundle.manifestOf(a).pdh, Bundle.manifestOf(b).pdh)
  for (const f of a) assert.not.ok(new TextDecoder().decode(f.bytes).includes(root), `no absolute paths of this machine in the bundle (${f.name})`)
})

Bundles('should give a different bundle when the code changes', async () => {
  const dir = Fs.mkdtempSync(Path.join(root, 'spec', 'fixtures', 'crunch', '.tmp-'))
  try {
    const original = Fs.readFileSync(Path.join(root, 'samples', 'numbers.ts'), 'utf8').replace("from 'arvados-crunch'", "from '../../../../lib/index.js'")
    Fs.writeFileSync(Path.join(dir, 'a.ts'), original)
    Fs.writeFileSync(Path.join(dir, 'b.ts'), original.replace('(x) => x * x)', '(x) => x * x * 1)'))
    const a = Bundle.manifestOf(right(await Bundle.build(Path.join(dir, 'a.ts')))).pdh
    const b = Bundle.manifestOf(right(await Bundle.build(Path.join(dir, 'b.ts')))).pdh
    assert.is.not(a, b)
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

Bundles('should say where a script does not build', async () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'bundle-'))
  try {
    Fs.writeFileSync(Path.join(dir, 'broken.ts'), "import { nothing } from './missing.js'\nexport const x = nothing\n")
    const e = left(await Bundle.build(Path.join(dir, 'broken.ts')))
    assert.is(e.code, 'ARV_CRUNCH_BUNDLE')
    assert.match(e.message, /broken\.ts/)
    assert.match(e.message, /missing/)
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

Bundles.run()

// -------------------------------------------------------------------------------------

const Role = suite('crunch: the work role')

const double = work({ args: [t.number], returns: t.number }, (x) => 2 * x)
const quad = work({ args: [t.number], returns: t.number }, (x, ctx) => ctx.call(double, ctx.call(double, x)))
const fails = work({ args: [t.number], returns: t.number }, () => {
  throw new Error('no luck')
})
const M = defineModule({ name: 'm', params: t.type({}), work: { double, quad, fails }, run: (_p, { work: w }) => w.double(1) })

const inScratch = async (file: ResultFile.CallFile): Promise<{ outcome: E.Either<Errors.SdkError, WorkRole.WorkOutcome>; files: ReadonlyArray<string>; result: string | undefined }> => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'work-role-'))
  try {
    Fs.writeFileSync(Path.join(dir, 'call.json'), JSON.stringify(file))
    const outcome = await WorkRole.run(M, { callFile: Path.join(dir, 'call.json'), outputDir: Path.join(dir, 'out'), scratch: Path.join(dir, 'scratch') }, new AbortController().signal)
    const out = Path.join(dir, 'out')
    const files = Fs.existsSync(out) ? Fs.readdirSync(out) : []
    const resultPath = Path.join(out, ResultFile.RESULT_FILE)
    return { outcome, files, result: Fs.existsSync(resultPath) ? Fs.readFileSync(resultPath, 'utf8') : undefined }
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

Role('should write a JSON result as the reserved result file and nothing else', async () => {
  const r = await inScratch({ ...call, module: 'm', work: 'double', args: ['21'] })
  assert.equal(right(r.outcome).kind, 'value')
  assert.equal(r.files, [ResultFile.RESULT_FILE])
  assert.equal(right(ResultFile.parseResult(r.result!)), { v: 1, kind: 'value', json: '42' })
})

Role('should write the calls a work made as a continuation', async () => {
  const r = await inScratch({ ...call, module: 'm', work: 'quad', args: ['3'] })
  const result = right(ResultFile.parseResult(r.result!))
  assert.is(result.kind, 'continuation')
  if (result.kind !== 'continuation') return
  assert.equal(result.calls.map((c) => c.work), ['double', 'double'])
  assert.equal(result.calls[1]!.deps, [result.calls[0]!.id])
  assert.equal(JSON.parse(result.output), { '~future': result.calls[1]!.id })
})

Role('should fail with the work, the argument position and the codec path when an argument does not decode', async () => {
  const r = await inScratch({ ...call, module: 'm', work: 'double', args: ['"x"'] })
  const e = left(r.outcome)
  assert.is(e.code, 'ARV_DECODE')
  assert.match(Errors.format(e), /work "double"/)
  assert.match(Errors.format(e), /argument 1/)
  assert.equal(r.files, [])
})

Role('should fail naming the call when the implementation throws, writing no result', async () => {
  const r = await inScratch({ ...call, module: 'm', work: 'fails', args: ['1'] })
  const e = left(r.outcome)
  assert.is(e.code, 'ARV_WORK_FAILED')
  assert.match(e.message, /work "fails"/)
  assert.equal(r.files, [])
})

Role('should refuse a call file made for another module or an unknown work', async () => {
  assert.is(left((await inScratch({ ...call, module: 'other', work: 'double', args: ['1'] })).outcome).code, 'ARV_CRUNCH_WRONG_MODULE')
  assert.is(left((await inScratch({ ...call, module: 'm', work: 'nope', args: ['1'] })).outcome).code, 'ARV_CRUNCH_UNKNOWN_WORK')
  assert.is(left(ResultFile.parseCallFile('{"v":1}')).code, 'ARV_CRUNCH_FILE')
})

Role.run()

// -------------------------------------------------------------------------------------

const Choice = suite('crunch: building the dispatcher')

Choice('should be what autoDispatcher builds when crunch is asked for, given its maker', () => {
  const makers = { local: Local.make, crunch: Crunch.maker({ script: 'pipeline.ts' }) }
  assert.is(right(Auto.autoDispatcher({ env: { CRUNCH_DISPATCHER: 'crunch' } }, makers)).name, 'crunch')
  assert.is(right(Auto.autoDispatcher({ env: {}, requested: 'crunch' }, makers)).name, 'crunch')
  assert.is(right(Auto.autoDispatcher({ env: { CRUNCH_ROLE: 'runner' } }, makers)).name, 'crunch')
  assert.is(right(Auto.autoDispatcher({ env: {} }, makers)).name, 'local')
})

Choice('should name a bad CRUNCH_* setting and its accepted range', () => {
  const poll = left(Crunch.maker({ script: 'pipeline.ts' })({ CRUNCH_POLL_MS: 'soon' }))
  assert.is(poll.code, 'ARV_USAGE')
  assert.match(poll.message, /CRUNCH_POLL_MS="soon"/)
  assert.match(poll.hint ?? '', /from 100 to 600000/)
  assert.match(left(Crunch.maker({ script: 'p.ts' })({ CRUNCH_PRIORITY: '2000' })).message, /CRUNCH_PRIORITY/)
  assert.match(left(Crunch.maker({ script: 'p.ts' })({ CRUNCH_BUNDLE: 'zzzzz-4zz18-x' })).message, /CRUNCH_BUNDLE/)
  assert.equal(right(Crunch.settings({ script: 'p.ts', env: { CRUNCH_IMAGE: 'mine:1', CRUNCH_POLL_MS: '300' } })), { image: 'mine:1', pollMs: 300, priority: 500, replicas: 2, bundle: undefined })
})

Choice.run()
