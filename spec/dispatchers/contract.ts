/**
 * The contract every executor is held to: one table of behaviours, run by a loop over the
 * executors (`contract-in-process.spec.ts`, `contract-process.spec.ts`,
 * `contract-crunch.spec.ts`, the last against the Arvados double). A behaviour that must differ
 * between executors names the executor and the reason, and is tested as different.
 *
 * docs/concepts/dispatchers.md lists the same behaviours (a spec checks the two agree).
 */
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type * as Dispatcher from '../../lib/dispatcher.js'
import type * as Errors from '../../lib/errors.js'
import type * as Module from '../../lib/module.js'
import { root } from '../support/cli.js'
import { Contract } from '../fixtures/contract/pipeline.js'
import { BadOption } from '../fixtures/contract/bad-option.js'
import { BadResource } from '../fixtures/contract/bad-resource.js'

export type ExecutorName = 'in-process' | 'process' | 'crunch'

export const scripts = {
  contract: Path.join(root, 'spec', 'fixtures', 'contract', 'pipeline.ts'),
  badOption: Path.join(root, 'spec', 'fixtures', 'contract', 'bad-option.ts'),
  badResource: Path.join(root, 'spec', 'fixtures', 'contract', 'bad-resource.ts'),
}

/**
 * What a suite needs of an executor.
 */
export interface Subject {
  readonly name: ExecutorName
  /** a dispatcher for `script`; `cacheDir` is kept between runs of one case (reuse) */
  readonly dispatcher: (script: string, cacheDir: string) => Dispatcher.Dispatcher
  /** calls started on the backend so far (crunch: container requests made), for "before any call runs" */
  readonly backendCalls: () => number
  readonly tempDir: () => string
}

interface Ran {
  readonly result: E.Either<Errors.SdkError, Dispatcher.RunResult<unknown>>
  readonly events: ReadonlyArray<Dispatcher.Event>
  readonly ms: number
}

const params = (p: Partial<{ case: string; n: number; kind: string; ms: number }>) => ({ case: 'fanout', n: 3, kind: '', ms: 0, ...p })

const runCase = async (subject: Subject, module: Module.AnyModule, script: string, p: unknown, options: Dispatcher.RunOptions & { readonly cacheDir?: string } = {}): Promise<Ran> => {
  const events: Array<Dispatcher.Event> = []
  const started = Date.now()
  const d = subject.dispatcher(script, options.cacheDir ?? subject.tempDir())
  const result = await d.run(module, p, { ...options, onEvent: (e) => events.push(e) })()
  return { result, events, ms: Date.now() - started }
}

const value = (r: Ran): unknown => {
  if (E.isLeft(r.result)) assert.unreachable(`the run failed: ${r.result.left.code} ${r.result.left.message}`)
  return JSON.parse((r.result as E.Right<Dispatcher.RunResult<unknown>>).right.json)
}

const error = (r: Ran): Errors.SdkError => {
  if (E.isRight(r.result)) assert.unreachable(`the run succeeded with ${r.result.right.json}`)
  return (r.result as E.Left<Errors.SdkError>).left
}

/** the PDH every executor must give for the concatenation case (n = 3) */
export const CONCAT_PDH = { joined: '', fanned: '' }

/**
 * One behaviour of the contract.
 */
export interface Behaviour {
  readonly name: string
  /** executors on which it must differ, and why */
  readonly differs?: Partial<Record<ExecutorName, string>>
  readonly check: (subject: Subject) => Promise<void>
}

export const behaviours: ReadonlyArray<Behaviour> = [
  {
    name: 'fan-out and gather',
    check: async (s) => assert.is(value(await runCase(s, Contract, scripts.contract, params({ case: 'fanout', n: 5 }))), 55),
  },
  {
    name: 'a chain of calls',
    check: async (s) => assert.is(value(await runCase(s, Contract, scripts.contract, params({ case: 'chain', n: 4 }))), 7),
  },
  {
    name: 'futures nested in records and tuples',
    check: async (s) => assert.is(value(await runCase(s, Contract, scripts.contract, params({ case: 'nested', n: 3 }))), '13/4/n3'),
  },
  {
    name: 'continuations of continuations',
    check: async (s) => assert.is(value(await runCase(s, Contract, scripts.contract, params({ case: 'continuations', n: 2 }))), 25),
  },
  {
    name: 'a continuation receives a collection its caller just made',
    check: async (s) => assert.is(value(await runCase(s, Contract, scripts.contract, params({ case: 'madeCollection', n: 5 }))), 5),
  },
  {
    name: 'collection outputs and their concatenation (same PDH everywhere)',
    check: async (s) => {
      const v = value(await runCase(s, Contract, scripts.contract, params({ case: 'concat', n: 3 }))) as { joined: string; fanned: string }
      assert.match(v.joined, /^[0-9a-f]{32}\+\d+$/)
      assert.is(v.joined, '9deadf4fc83e42b6e7393cd0b38cee29+102')
      assert.is(v.fanned, 'faa1592160f27f811b488d6e2ad716e0+153')
    },
  },
  {
    name: 'null results',
    check: async (s) => assert.equal(value(await runCase(s, Contract, scripts.contract, params({ case: 'nulls' }))), [null, null]),
  },
  {
    name: 'a result that does not fit its codec is a codec error naming the work and the path',
    check: async (s) => {
      const e = error(await runCase(s, Contract, scripts.contract, params({ case: 'badResult', n: 2 })))
      assert.is(e._tag, 'CodecError')
      assert.match(e.message, /work "badResult"/)
      assert.match(e.message, /result/)
      assert.match(JSON.stringify(e), /count/)
    },
  },
  {
    name: 'results no codec can carry (cycle, throwing getter, BigInt, function) are codec errors, never internal',
    check: async (s) => {
      for (const kind of ['cycle', 'getter', 'bigint', 'function']) {
        const r = await runCase(s, Contract, scripts.contract, params({ case: 'hostile', kind }))
        const e = error(r)
        assert.is(e._tag, 'CodecError', `${kind}: ${e.code} ${e.message}`)
        assert.match(e.message, /work "hostile"/, kind)
        assert.ok(r.events.some((x) => x.type === 'failed'), `${kind}: a failed event`)
      }
    },
  },
  {
    name: 'a work that throws fails the run fast, naming the work',
    check: async (s) => {
      const e = error(await runCase(s, Contract, scripts.contract, params({ case: 'failFast', n: 3 })))
      assert.is(e.code, 'ARV_WORK_FAILED')
      assert.match(e.message, /work "boom"/)
      assert.match(e.message, /cannot handle 3/)
    },
  },
  {
    name: 'keep-going runs what does not depend on a failure and reports partial results',
    check: async (s) => {
      const r = await runCase(s, Contract, scripts.contract, params({ case: 'keepGoing', n: 3 }), { keepGoing: true })
      const e = error(r) as Errors.SdkError & { readonly failures?: ReadonlyArray<unknown>; readonly skipped?: number }
      assert.is(e.code, 'ARV_RUN_FAILED')
      assert.is(e.failures?.length, 2)
      assert.is(e.skipped, 1)
      const done = r.events.filter((x) => x.type === 'done').map((x) => x.work)
      assert.equal(done.filter((w) => w === 'square').length, 2)
      assert.ok(done.includes('sum'), 'the independent gather finished')
      assert.not.ok(done.includes('inc'), 'the call that depends on a failure did not run')
    },
  },
  {
    name: 'retries: a work that fails once then succeeds, succeeds',
    check: async (s) => {
      const r = await runCase(s, Contract, scripts.contract, params({ case: 'retries', n: 4 }))
      assert.is(value(r), 42)
      const starts = r.events.filter((x) => x.type === 'start' && x.work === 'flaky')
      assert.equal(starts.map((x) => (x.type === 'start' ? x.attempt : 0)), [1, 2])
    },
  },
  {
    name: 'an unknown option is rejected before any call runs',
    check: async (s) => {
      const before = s.backendCalls()
      const r = await runCase(s, BadOption, scripts.badOption, {})
      const e = error(r)
      assert.is(e.code, 'ARV_WORK_OPTION')
      assert.match(e.message, /work "typo".*unknown option "ramm"/)
      assert.match(e.hint ?? '', /did you mean "ram"/)
      assert.is(r.events.filter((x) => x.type === 'start').length, 0)
      assert.is(s.backendCalls(), before)
    },
  },
  {
    name: 'an invalid resource request is rejected before any call runs',
    check: async (s) => {
      const before = s.backendCalls()
      const r = await runCase(s, BadResource, scripts.badResource, {})
      const e = error(r)
      assert.is(e.code, 'ARV_WORK_OPTION')
      assert.match(e.message, /work "greedy".*vcpus/)
      assert.is(r.events.filter((x) => x.type === 'start').length, 0)
      assert.is(s.backendCalls(), before)
    },
  },
  {
    name: 'cancelling stops a run of synchronous works at once',
    check: async (s) => {
      const controller = new AbortController()
      // 40 calls of 250 ms of synchronous CPU each: 5 s on two cores if nothing stopped them
      const pending = runCase(s, Contract, scripts.contract, params({ case: 'spin', n: 40, ms: 250 }), { signal: controller.signal, onEvent: () => undefined })
      const timer = setTimeout(() => controller.abort('test'), 600)
      const r = await pending
      clearTimeout(timer)
      assert.is(error(r).code, 'ARV_CANCELLED')
      assert.ok(r.events.filter((x) => x.type === 'done').length < 40, 'not every call ran')
    },
  },
  {
    name: 'an unchanged re-run reuses every call',
    check: async (s) => {
      const cacheDir = s.tempDir()
      const first = await runCase(s, Contract, scripts.contract, params({ case: 'fanout', n: 4 }), { cacheDir })
      assert.is(value(first), 30)
      const second = await runCase(s, Contract, scripts.contract, params({ case: 'fanout', n: 4 }), { cacheDir })
      assert.is(value(second), 30)
      const stats = E.isRight(second.result) ? second.result.right.stats : undefined
      assert.is(stats?.calls, 5)
      assert.is(stats?.reused, 5)
      assert.is(second.events.filter((x) => x.type === 'start').length, 0)
    },
  },
  {
    name: 'events: every call starts once, then is done once; counts add up; times are given',
    check: async (s) => {
      const r = await runCase(s, Contract, scripts.contract, params({ case: 'fanout', n: 6 }), { reuse: false })
      assert.is(value(r), 91)
      const seen = new Map<string, Array<string>>()
      for (const e of r.events) {
        if (e.type === 'log') continue
        seen.set(e.id, [...(seen.get(e.id) ?? []), e.type])
        assert.match(e.at ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      }
      assert.is(seen.size, 7)
      for (const [id, seq] of seen) assert.equal(seq, ['start', 'done'], id)
      const stats = E.isRight(r.result) ? r.result.right.stats : undefined
      assert.equal({ calls: stats?.calls, executed: stats?.executed, reused: stats?.reused, failed: stats?.failed }, { calls: 7, executed: 7, reused: 0, failed: 0 })
      const done = r.events.find((x) => x.type === 'done')
      assert.ok(done?.type === 'done' && typeof done.durationMs === 'number' && done.durationMs >= 0)
    },
  },
  {
    name: "a work's ctx.log lines reach onEvent as log events of its call, in order, before its done",
    check: async (s) => {
      const r = await runCase(s, Contract, scripts.contract, params({ case: 'logs', n: 3 }))
      assert.is(value(r), 3)
      for (const i of [0, 1, 2]) {
        const id = r.events.find((e) => e.type === 'log' && e.work === 'say' && e.message === `say ${i}: one`)?.id
        assert.ok(id !== undefined, `no log event "say ${i}: one": ${JSON.stringify(r.events.filter((e) => e.type === 'log'))}`)
        const ofCall = r.events.flatMap((e, at) => (e.id === id ? [[e.type === 'log' ? e.message : e.type, at] as const] : [])).filter(([what]) => what !== 'start')
        assert.equal(ofCall.map(([what]) => what), [`say ${i}: one`, `say ${i}: two`, 'done'], JSON.stringify(ofCall))
      }
    },
  },
  {
    name: 'maxConcurrent and exclusive groups hold on every executor',
    check: async (s) => {
      const r = await runCase(s, Contract, scripts.contract, params({ case: 'gates', n: 3, ms: 150 }))
      value(r)
      const running = new Map<string, number>()
      const max = new Map<string, number>()
      const group = (w: string): string => (w === 'bigA' || w === 'bigB' ? 'bigmem' : w)
      for (const e of r.events) {
        if (e.type !== 'start' && e.type !== 'done') continue
        const g = group(e.work)
        running.set(g, (running.get(g) ?? 0) + (e.type === 'start' ? 1 : -1))
        max.set(g, Math.max(max.get(g) ?? 0, running.get(g)!))
      }
      assert.is(max.get('one'), 1)
      assert.is(max.get('bigmem'), 1)
    },
  },
]

/**
 * Runs the table against one executor.
 */
export const contractSuite = (subject: Subject, setup: { readonly before?: () => Promise<void>; readonly after?: () => Promise<void> } = {}): void => {
  const s = suite(`contract (${subject.name})`)
  if (setup.before !== undefined) s.before(setup.before)
  if (setup.after !== undefined) s.after(setup.after)
  for (const b of behaviours) s(b.differs?.[subject.name] === undefined ? b.name : `${b.name} — differs: ${b.differs[subject.name]}`, () => b.check(subject))
  s.run()
}
