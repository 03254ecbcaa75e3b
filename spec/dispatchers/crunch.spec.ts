/**
 * The crunch dispatcher end to end: the real `crunch` command, as a child process, runs the
 * same sample modules as the local dispatcher against the Arvados double (HTTPS, Keep, real
 * containers in private mount namespaces), and the outputs must be the same. Requests are
 * counted on the double's side.
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crunch, root, type Ran } from '../support/cli.js'
import * as DoubleEnv from '../support/double/env.js'
import { startDouble, type Double, type DoubleOptions } from '../support/double/index.js'

const numbers = Path.join(root, 'samples', 'numbers.ts')
const tumors = Path.join(root, 'samples', 'tumors.ts')
const reads = Path.join(root, 'samples', 'data', 'reads')
const steps = Path.join(root, 'spec', 'fixtures', 'crunch', 'steps.ts')
const PROJECT_A = 'zzzzz-j7d0g-aaaaaaaaaaaaaaa'
const PROJECT_B = 'zzzzz-j7d0g-bbbbbbbbbbbbbbb'

interface Session {
  readonly double: Double
  readonly dir: string
  readonly env: Record<string, string>
  readonly run: (args: ReadonlyArray<string>, options?: { onSpawn?: (c: ChildProcess.ChildProcess) => void; env?: Record<string, string> }) => Promise<Ran>
  readonly stop: () => Promise<void>
}

const open = async (options: DoubleOptions = {}): Promise<Session> => {
  const double = await startDouble(options)
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-e2e-'))
  const env = DoubleEnv.cliEnv(double, dir)
  return {
    double,
    dir,
    env,
    run: (args, o = {}) => crunch(['run', ...args, '--dispatcher', 'crunch', '--progress', 'json'], { env: { ...env, ...o.env }, cwd: dir, timeoutMs: 120_000, ...(o.onSpawn === undefined ? {} : { onSpawn: o.onSpawn }) }),
    stop: async () => {
      await double.stop()
      Fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

const local = (script: string, args: ReadonlyArray<string>, dir: string): Promise<Ran> =>
  crunch(['run', script, ...args, '--dispatcher', 'local', '--progress', 'none', '--cache-dir', Path.join(dir, 'local-cache')], { cwd: dir, env: { CRUNCH_DISPATCHER: '', CRUNCH_ROLE: '' } })

const ok = (r: Ran): unknown => {
  assert.is(r.code, 0, `exit ${String(r.code)}\n${r.stderr}`)
  return JSON.parse(r.stdout)
}

const summary = (r: Ran): { started: number; done: number; reused: number; failed: number } => {
  const line = r.stderr.split('\n').find((l) => l.startsWith('{"type":"summary"'))
  assert.ok(line !== undefined, `no summary in:\n${r.stderr}`)
  return JSON.parse(line) as { started: number; done: number; reused: number; failed: number }
}

type Rec = Record<string, unknown>
const callRequests = (d: Double): ReadonlyArray<Rec> => [...d.cluster.crs.values()].filter((r) => typeof (r['properties'] as Rec)['arvados_crunch_call_id'] === 'string')
const perCall = (d: Double): Map<string, number> => {
  const m = new Map<string, number>()
  for (const r of callRequests(d)) {
    const id = (r['properties'] as Rec)['arvados_crunch_call_id'] as string
    m.set(id, (m.get(id) ?? 0) + 1)
  }
  return m
}
const until = async (cond: () => boolean, ms = 60_000): Promise<void> => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

// -------------------------------------------------------------------------------------

const Same = suite('crunch: same outputs as the local dispatcher')

Same('should give the local output for fan-out, gather, a chain and a work that calls work (numbers)', async () => {
  const s = await open()
  try {
    const onArvados = ok(await s.run([numbers, '--n', '4']))
    const locally = ok(await local(numbers, ['--n', '4'], s.dir))
    assert.equal(onArvados, locally)
    assert.equal(onArvados, { sumOfSquares: 30, chained: 7, viaContinuation: 30 })
    // one request per distinct call, none submitted twice
    for (const [id, n] of perCall(s.double)) assert.is(n, 1, `call ${id} has ${n} requests`)
    const ran = await s.run([numbers, '--n', '4'])
    assert.equal(summary(ran), { type: 'summary', started: perCall(s.double).size, done: perCall(s.double).size, reused: perCall(s.double).size, failed: 0 })
    assert.is(s.double.counters.containersStarted, callRequests(s.double).length)
  } finally {
    await s.stop()
  }
})

Same('should give the local output over collections: inputs uploaded, per-file calls, a concatenated output with the same hash (tumors)', async () => {
  const s = await open()
  try {
    const onArvados = ok(await s.run([tumors, '--input', reads])) as { counts: unknown; lines: string }
    const locally = ok(await local(tumors, ['--input', reads], s.dir)) as { counts: unknown; lines: string }
    assert.equal(onArvados.counts, locally.counts)
    // the concatenation on Arvados is byte-for-byte the local one: same portable data hash
    assert.is(onArvados.lines, locally.lines)
    const saved = [...s.double.cluster.collections.values()].some((c) => c['portable_data_hash'] === onArvados.lines)
    assert.ok(saved, 'the concatenated collection is saved in Arvados')
  } finally {
    await s.stop()
  }
})

Same('should make requests that run the bundle in work role with the call in a json mount and mapped resources', async () => {
  const s = await open()
  try {
    ok(await s.run([numbers, '--n', '1']))
    const crs = callRequests(s.double)
    assert.ok(crs.length > 0)
    const bundles = new Set(crs.map((r) => (r['properties'] as Rec)['arvados_crunch_bundle']))
    assert.is(bundles.size, 1, 'every call runs the same bundle')
    for (const r of crs) {
      const mounts = r['mounts'] as Record<string, Rec>
      assert.is(mounts['/var/lib/arvados-crunch/call.json']!['kind'], 'json')
      assert.is(mounts['/var/lib/arvados-crunch/bundle']!['kind'], 'collection')
      assert.is((r['environment'] as Rec)['CRUNCH_ROLE'], 'work')
      assert.is((r['runtime_constraints'] as Rec)['ram'], 512 * 1024 * 1024)
      assert.is((r['runtime_constraints'] as Rec)['vcpus'], 1)
      assert.is(r['use_existing'], true)
      assert.is(r['container_count_max'], 3)
      assert.match(r['name'] as string, /^numbers\.\w+ [0-9a-f]{12}$/)
    }
  } finally {
    await s.stop()
  }
})

Same.run()

// -------------------------------------------------------------------------------------

const Failures = suite('crunch: failures')

Failures('should stop with a message naming the failing call and the tail of its stderr.txt', async () => {
  const s = await open()
  try {
    const r = await s.run([steps, '--mode', 'fail', '--n', '0', '--ms', '0'])
    assert.is(r.code, 1)
    // the work's own error, as a local run gives it, with where it ran and what it printed
    assert.match(r.stderr, /ARV_WORK_FAILED/)
    assert.match(r.stderr, /work "boom" failed \[call [0-9a-f]{12}\] with arguments \(string\(9\)\): bad input reads\.txt/)
    assert.match(r.stderr, /see the log of container request zzzzz-xvhdp-/)
    assert.match(r.stderr, /boom: cannot parse line 3 of reads\.txt/)
    // the stack points into the user's file, not the bundle
    assert.match(r.stderr, /spec\/fixtures\/crunch\/steps\.ts:\d+/)
    assert.not.match(r.stderr, new RegExp(s.double.token.split('/')[2]!))
    // total, which depends on boom, was never submitted
    assert.is(callRequests(s.double).length, 1)
  } finally {
    await s.stop()
  }
})

Failures('should run what does not depend on a failure with --keep-going, then fail', async () => {
  const s = await open()
  try {
    const r = await s.run([steps, '--mode', 'keep-going', '--n', '3', '--ms', '0', '--keep-going'])
    assert.is(r.code, 1, r.stderr)
    assert.match(r.stderr, /work "boom"/)
    const works = callRequests(s.double).map((cr) => (cr['name'] as string).split(' ')[0])
    assert.ok(works.includes('steps.total'), `total ran: ${works.join(', ')}`)
    assert.is(works.filter((w) => w === 'steps.square').length, 3)
    const total = callRequests(s.double).find((cr) => (cr['name'] as string).startsWith('steps.total'))!
    const container = s.double.cluster.containers.get(total['container_uuid'] as string)!
    assert.is(container['exit_code'], 0)
  } finally {
    await s.stop()
  }
})

Failures('should fail before submitting anything when a work asks for a resource the backend cannot honour', async () => {
  const s = await open()
  try {
    const script = Path.join(root, 'spec', 'fixtures', 'crunch', 'gpu.ts')
    const r = await s.run([script])
    assert.is(r.code, 1)
    assert.match(r.stderr, /ARV_CRUNCH_OPTION/)
    assert.match(r.stderr, /work "train" \(module "gpu"\) asks for 1 cuda GPU/)
    assert.is(callRequests(s.double).length, 0)
  } finally {
    await s.stop()
  }
})

Failures('should say which settings are missing when there is no Arvados configuration', async () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-noconf-'))
  try {
    const r = await crunch(['run', numbers, '--n', '1', '--dispatcher', 'crunch'], { cwd: dir, env: { HOME: dir, ARVADOS_API_HOST: '', ARVADOS_API_TOKEN: '', CRUNCH_ROLE: '' } })
    assert.is(r.code, 1)
    assert.match(r.stderr, /ARVADOS_API_HOST and ARVADOS_API_TOKEN are not set/)
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
})

Failures.run()

// -------------------------------------------------------------------------------------

const Cancel = suite('crunch: cancellation')

Cancel('should cancel every outstanding request (priority 0) on Ctrl-C and exit 130', async () => {
  const s = await open()
  try {
    let child: ChildProcess.ChildProcess | undefined
    const running = s.run([steps, '--mode', 'slow', '--n', '3', '--ms', '60000'], { onSpawn: (c) => (child = c) })
    await until(() => s.double.counters.containersStarted >= 3)
    child!.kill('SIGINT')
    const r = await running
    assert.is(r.code, 130, r.stderr)
    assert.match(r.stderr, /ARV_CANCELLED/)
    const crs = callRequests(s.double)
    assert.is(crs.length, 3)
    for (const cr of crs) assert.is(cr['priority'], 0)
    await until(() => crs.every((cr) => s.double.cluster.containers.get(cr['container_uuid'] as string)?.['state'] === 'Cancelled'), 20_000)
  } finally {
    await s.stop()
  }
})

Cancel.run()

// -------------------------------------------------------------------------------------

const Reuse = suite('crunch: restart and reuse')

Reuse('should re-attach a restarted runner to its own requests instead of submitting duplicates', async () => {
  const s = await open()
  try {
    let child: ChildProcess.ChildProcess | undefined
    const first = s.run([steps, '--mode', 'slow', '--n', '4', '--ms', '1500'], { onSpawn: (c) => (child = c) })
    await until(() => callRequests(s.double).length >= 4)
    child!.kill('SIGKILL') // a crash: no cleanup, the containers go on
    assert.is((await first).signal, 'SIGKILL')
    const second = await s.run([steps, '--mode', 'slow', '--n', '4', '--ms', '1500'])
    assert.is(ok(second), 0 + 1 + 4 + 9)
    const counts = perCall(s.double)
    assert.is(counts.size, 5, 'four squares and a total')
    for (const [id, n] of counts) assert.is(n, 1, `call ${id} was submitted ${n} times`)
    assert.is(s.double.counters.containersStarted, 5)
  } finally {
    await s.stop()
  }
})

Reuse('should satisfy a second run of an unchanged pipeline without running a container', async () => {
  const s = await open()
  try {
    const first = ok(await s.run([numbers, '--n', '3']))
    const started = s.double.counters.containersStarted
    const requests = callRequests(s.double).length
    const again = await s.run([numbers, '--n', '3'])
    assert.equal(ok(again), first)
    assert.is(s.double.counters.containersStarted, started, 'no container ran again')
    assert.is(callRequests(s.double).length, requests, 'no request was made again')
    const sum = summary(again)
    assert.is(sum.reused, sum.done)
    assert.is(sum.started, sum.done, 'a reused call counts once')
  } finally {
    await s.stop()
  }
})

Reuse('should be satisfied by Arvados container reuse when the same pipeline runs in another project', async () => {
  const s = await open()
  try {
    const first = ok(await s.run([numbers, '--n', '3', '--project', PROJECT_A]))
    const started = s.double.counters.containersStarted
    const again = ok(await s.run([numbers, '--n', '3', '--project', PROJECT_B]))
    assert.equal(again, first)
    assert.is(s.double.counters.containersStarted, started, 'no container ran again')
    assert.ok(s.double.counters.containersReused >= started, `reused ${s.double.counters.containersReused} of ${started}`)
    const inB = callRequests(s.double).filter((r) => r['owner_uuid'] === PROJECT_B)
    assert.is(inB.length, started)
  } finally {
    await s.stop()
  }
})

Reuse('should run again only the calls of an edited work, though the bundle changed', async () => {
  const s = await open()
  const dir = Fs.mkdtempSync(Path.join(root, 'spec', 'fixtures', 'crunch', '.tmp-'))
  try {
    // code identity is per file (a work counts every file its file imports): the works go into
    // files of their own, the script only assembles the module, and the edit changes inc's file
    const sdk = "from '../../../../lib/index.js'"
    const sample = Fs.readFileSync(numbers, 'utf8')
    const workLines = sample.split('\n').filter((l) => l.startsWith('export const ') && l.includes('= work('))
    assert.is(workLines.length, 4)
    const header = `import * as t from 'io-ts'\nimport { work } ${sdk}\n`
    const incLine = workLines.find((l) => l.startsWith('export const inc '))!
    Fs.writeFileSync(Path.join(dir, 'works.ts'), header + workLines.filter((l) => l !== incLine).join('\n') + '\n')
    Fs.writeFileSync(Path.join(dir, 'inc.ts'), header + incLine + '\n')
    let script = sample.replace("import { defineModule, runMain, work } from 'arvados-crunch'", `import { defineModule, runMain } ${sdk}\nimport { square, sum, sumOfSquares } from './works.js'\nimport { inc } from './inc.js'`)
    for (const l of workLines) script = script.replace(l, '')
    const original = Path.join(dir, 'numbers.ts')
    Fs.writeFileSync(original, script)
    assert.equal(ok(await s.run([original, '--n', '3'])), { sumOfSquares: 14, chained: 6, viaContinuation: 14 })
    const started = s.double.counters.containersStarted
    const bundles = (): number => new Set(callRequests(s.double).map((r) => (r['properties'] as Rec)['arvados_crunch_bundle'])).size
    assert.is(bundles(), 1)
    Fs.writeFileSync(Path.join(dir, 'inc.ts'), header + incLine.replace('(x) => x + 1)', '(x) => x + 2)') + '\n')
    assert.equal(ok(await s.run([original, '--n', '3'])), { sumOfSquares: 14, chained: 9, viaContinuation: 14 })
    assert.is(bundles(), 2, 'the edited script is another bundle')
    assert.is(s.double.counters.containersStarted - started, 3, 'only the three inc calls ran again')
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
    await s.stop()
  }
})

Reuse('should run every call again with --no-reuse', async () => {
  const s = await open()
  try {
    ok(await s.run([numbers, '--n', '2']))
    const started = s.double.counters.containersStarted
    ok(await s.run([numbers, '--n', '2', '--no-reuse']))
    assert.is(s.double.counters.containersStarted, 2 * started)
  } finally {
    await s.stop()
  }
})

Reuse.run()

// -------------------------------------------------------------------------------------

const Submitted = suite('crunch: submitted runner')

Submitted('should run the runner in a container with API access, its calls as its children, and publish the output', async () => {
  const s = await open()
  try {
    const out = ok(await s.run([numbers, '--n', '3', '--submit', '--output-name', 'numbers result']))
    assert.equal(out, ok(await local(numbers, ['--n', '3'], s.dir)))
    const runner = [...s.double.cluster.crs.values()].find((r) => (r['properties'] as Rec)['arvados_crunch_role'] === 'runner')!
    assert.ok(runner !== undefined)
    assert.is((runner['runtime_constraints'] as Rec)['API'], true)
    assert.is(runner['state'], 'Final')
    const children = callRequests(s.double)
    assert.ok(children.length > 0)
    for (const c of children) assert.is(c['requesting_container_uuid'], runner['container_uuid'])
    const output = s.double.cluster.collections.get(runner['output_uuid'] as string)!
    assert.is(output['name'], 'numbers result')
  } finally {
    await s.stop()
  }
})

Submitted('should cancel the submitted runner and, through it, its children on Ctrl-C', async () => {
  const s = await open()
  try {
    let child: ChildProcess.ChildProcess | undefined
    const running = s.run([steps, '--mode', 'slow', '--n', '2', '--ms', '60000', '--submit'], { onSpawn: (c) => (child = c) })
    await until(() => callRequests(s.double).filter((r) => r['state'] === 'Committed' && r['container_uuid'] !== null).length >= 2)
    child!.kill('SIGINT')
    const r = await running
    assert.is(r.code, 130, r.stderr)
    const runner = [...s.double.cluster.crs.values()].find((x) => (x['properties'] as Rec)['arvados_crunch_role'] === 'runner')!
    assert.is(runner['priority'], 0)
    await until(() => callRequests(s.double).every((cr) => s.double.cluster.containers.get(cr['container_uuid'] as string)?.['state'] === 'Cancelled'), 30_000)
  } finally {
    await s.stop()
  }
})

Submitted.run()

// -------------------------------------------------------------------------------------

const Faults = suite('crunch: faults')

Faults('should give the right output with no duplicate request under 5xx answers and reset connections', async () => {
  const s = await open({ seed: 11, faults: { errorRate: 0.15, resetRate: 0.05, resetAfterCommitRate: 0.05 } })
  try {
    const out = ok(await s.run([numbers, '--n', '4']))
    assert.equal(out, { sumOfSquares: 30, chained: 7, viaContinuation: 30 })
    for (const [id, n] of perCall(s.double)) assert.is(n, 1, `call ${id} has ${n} requests`)
    const faulted = s.double.requests.filter((r) => r.outcome === 'reset' || r.outcome === 'applied-then-reset' || r.outcome === 500 || r.outcome === 503).length
    assert.ok(faulted > 0, 'faults were injected')
  } finally {
    await s.stop()
  }
})

Faults('should resubmit a call whose container was cancelled by the cluster, within container_count_max', async () => {
  let cancelled = 0
  const s = await open({
    faults: {
      failContainers: (cr, _c, attempt) => {
        if ((cr['name'] as string).startsWith('numbers.inc') && attempt === 1 && cancelled < 1) {
          cancelled++
          return { cancel: true }
        }
        return undefined
      },
    },
  })
  try {
    assert.equal(ok(await s.run([numbers, '--n', '2'])), { sumOfSquares: 5, chained: 5, viaContinuation: 5 })
    assert.is(cancelled, 1)
  } finally {
    await s.stop()
  }
})

Faults('should fail naming the call when the cluster cancels its container on every attempt', async () => {
  const attempts: Array<number> = []
  const s = await open({
    faults: {
      failContainers: (cr, _c, attempt) => {
        if (!(cr['name'] as string).startsWith('numbers.inc')) return undefined
        attempts.push(attempt)
        return { cancel: true }
      },
    },
  })
  try {
    const r = await s.run([numbers, '--n', '2'])
    assert.is(r.code, 1, r.stderr)
    assert.match(r.stderr, /work "inc" \[call [0-9a-f]{12}\] (was cancelled|could not run)/)
    assert.is(Math.max(...attempts), 3, 'Arvados tried container_count_max = 3 times')
  } finally {
    await s.stop()
  }
})

Faults.run()
