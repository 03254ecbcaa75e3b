/**
 * A work no instance type of the cluster can hold (more RAM or cores than the largest, a
 * preemptible instance where none is configured) is refused before anything is submitted, from
 * the cluster's exported config; a cluster that exports no instance types is not checked.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as ClusterFit from '../../lib/dispatchers/crunch/cluster-fit.js'
import * as Crunch from '../../lib/dispatchers/crunch/index.js'
import type * as Errors from '../../lib/errors.js'
import { defineModule, work, type WorkOptions } from '../../lib/module.js'
import * as DoubleEnv from '../support/double/env.js'
import { startDouble, type Double } from '../support/double/index.js'

const GiB = 1024 ** 3

const moduleAsking = (options: Omit<WorkOptions, 'args' | 'returns'>) => {
  const big = work({ args: [t.number], returns: t.number, ...options }, (x) => x + 1)
  return defineModule({ name: 'fit', params: t.type({}), work: { big }, run: (_, { work: w }) => w.big(1) })
}

const refusal = (r: E.Either<Errors.SdkError, void>): Errors.SdkError => {
  if (E.isRight(r)) throw new Error('expected the work to be refused')
  return r.left
}

// the exported config's shape (sdk/go/arvados/config.go InstanceType), map and older array forms
const config = {
  InstanceTypes: {
    small: { Name: 'small', VCPUs: 2, RAM: 4 * GiB, Preemptible: false, Price: 0.1 },
    big: { Name: 'big', VCPUs: 16, RAM: 64 * GiB, Preemptible: false, Price: 1 },
    spot: { Name: 'spot', VCPUs: 4, RAM: '16GiB', Preemptible: true, Price: 0.05 },
  },
}

const Pure = suite('checking works against instance types')

Pure('should read instance types from the map form and the older array form, sizes as numbers or text', () => {
  const types = ClusterFit.instanceTypes(config)
  assert.equal(types.map((x) => [x.name, x.vcpus, x.ram, x.preemptible]), [
    ['small', 2, 4 * GiB, false],
    ['big', 16, 64 * GiB, false],
    ['spot', 4, 16 * GiB, true],
  ])
  assert.equal(ClusterFit.instanceTypes({ InstanceTypes: [{ Name: 'a', VCPUs: 1, RAM: 1024 }] }), [{ name: 'a', vcpus: 1, ram: 1024, preemptible: false }])
  assert.equal(ClusterFit.instanceTypes({}), [])
  assert.equal(ClusterFit.instanceTypes('not a config'), [])
})

Pure('should accept a work some instance type holds, and check nothing when the cluster lists no types', () => {
  const types = ClusterFit.instanceTypes(config)
  assert.ok(E.isRight(ClusterFit.check(moduleAsking({ ram: '60GiB', vcpus: 16 }), types)))
  assert.ok(E.isRight(ClusterFit.check(moduleAsking({ ram: '8GiB', preemptible: true }), types)))
  assert.ok(E.isRight(ClusterFit.check(moduleAsking({ ram: '5TiB', vcpus: 500, preemptible: true }), [])))
})

Pure('should refuse more RAM than the largest instance type, naming the work, the size and the largest type', () => {
  const e = refusal(ClusterFit.check(moduleAsking({ ram: '100GiB' }), ClusterFit.instanceTypes(config)))
  assert.is(e.code, 'ARV_CRUNCH_OPTION')
  assert.is(e.message, 'work "big" (module "fit") asks for ram 100 GiB: the largest instance type of this cluster has 64 GiB (big)')
  assert.match(e.hint ?? '', /ask for at most 64 GiB/)
})

Pure('should refuse more cores than any instance type, and a pair no single type has', () => {
  const types = ClusterFit.instanceTypes(config)
  assert.match(refusal(ClusterFit.check(moduleAsking({ vcpus: 32 }), types)).message, /asks for 32 cores: the instance type with the most cores has 16 \(big\)/)
  const types2 = ClusterFit.instanceTypes({ InstanceTypes: { mem: { VCPUs: 2, RAM: 64 * GiB }, cpu: { VCPUs: 32, RAM: 8 * GiB } } })
  assert.match(refusal(ClusterFit.check(moduleAsking({ vcpus: 16, ram: '32GiB' }), types2)).message, /asks for 16 cores with 32 GiB: no single instance type of this cluster has both/)
})

Pure('should refuse a preemptible request where no instance type is preemptible, and judge it by the preemptible types only', () => {
  const onDemand = ClusterFit.instanceTypes({ InstanceTypes: { big: config.InstanceTypes.big } })
  const e = refusal(ClusterFit.check(moduleAsking({ preemptible: true }), onDemand))
  assert.is(e.message, 'work "big" (module "fit") asks for a preemptible instance: this cluster has no preemptible instance types')
  assert.match(e.hint ?? '', /remove preemptible: true/)
  assert.match(refusal(ClusterFit.check(moduleAsking({ preemptible: true, ram: '32GiB' }), ClusterFit.instanceTypes(config))).message, /largest preemptible instance type of this cluster has 16 GiB \(spot\)/)
})

const OnTheDouble = suite('refusing before submitting, on the Arvados double')
let double: Double | undefined
const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'cluster-fit-'))

OnTheDouble.before(async () => {
  double = await startDouble()
  Fs.writeFileSync(Path.join(base, 'ca.pem'), double.ca)
})
OnTheDouble.after(async () => {
  await double?.stop()
  Fs.rmSync(base, { recursive: true, force: true })
})

const runOnDouble = async (options: Omit<WorkOptions, 'args' | 'returns'>) => {
  const script = Path.join(base, 'pipeline.ts')
  Fs.writeFileSync(script, 'export {}\n')
  const d = Crunch.make({
    script,
    env: DoubleEnv.dispatcherEnv(double!, base),
    home: base,
    uploadStore: Path.join(base, 'uploads'),
  })
  return d.run(moduleAsking(options), {})()
}

OnTheDouble('should refuse 2 TiB and a preemptible instance before any bundle or container request is sent', async () => {
  const before = { crs: double!.counters.containerRequestsCreated, cols: double!.counters.collectionsCreated }
  const ram = await runOnDouble({ ram: '2TiB' })
  assert.ok(E.isLeft(ram))
  assert.is(ram.left.code, 'ARV_CRUNCH_OPTION')
  assert.match(ram.left.message, /asks for ram 2048 GiB: the largest instance type of this cluster has 1024 GiB \(double64\.metal\)/)
  const spot = await runOnDouble({ preemptible: true })
  assert.ok(E.isLeft(spot))
  assert.match(spot.left.message, /asks for a preemptible instance: this cluster has no preemptible instance types/)
  assert.equal({ crs: double!.counters.containerRequestsCreated, cols: double!.counters.collectionsCreated }, before, 'nothing was submitted or uploaded')
})

Pure.run()
OnTheDouble.run()
