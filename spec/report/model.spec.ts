import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Errors from '../../lib/errors.js'
import type * as Graph from '../../lib/graph.js'
import { defineModule, work } from '../../lib/module.js'
import * as Report from '../../lib/report/index.js'
import { Numbers } from '../../samples/numbers.js'
import { runLocally } from './support.js'

const T0 = Date.parse('2026-01-01T10:00:00.000Z')
/** the ISO time `s` seconds after T0 */
const at = (s: number): string => new Date(T0 + s * 1000).toISOString()
const boom = (message: string) => Errors.make('WorkFailedError', 'ARV_WORK_FAILED', message, {})

const call = (id: string, work: string, deps: ReadonlyArray<string> = [], parent?: string): Graph.CallNode => ({ _tag: 'Call', id, work, args: [{ _tag: 'Json', json: '1' }], deps, parent })

const fold = suite('Report.foldCalls (events → call records)')

fold('should give a record per call with its times, durations and state', () => {
  const events: ReadonlyArray<Report.TimedEvent> = [
    { type: 'start', id: 'a', work: 'align', at: at(0) },
    { type: 'log', id: 'a', work: 'align', message: 'aligning', at: at(1) },
    { type: 'done', id: 'a', work: 'align', reused: false, at: at(5) },
  ]
  const [a] = Report.foldCalls(events)
  assert.is(a!.state, 'done')
  assert.is(a!.startedAt, at(0))
  assert.is(a!.finishedAt, at(5))
  assert.equal(a!.durations, { runningMs: 5000, totalMs: 5000 })
  assert.equal(a!.logTail, ['aligning'])
  assert.is(a!.attempts, 1)
  assert.is(a!.reused, false)
})

fold('should prefer the container’s own times and count the hand-over before them as queued', () => {
  const events: ReadonlyArray<Report.TimedEvent> = [
    { type: 'start', id: 'a', work: 'align', at: at(0) },
    { type: 'done', id: 'a', work: 'align', reused: false, at: at(60), startedAt: at(20), finishedAt: at(50), cost: 0.25, instanceType: 'm5.large', used: { peakRssBytes: 100, cpuSeconds: 12 } },
  ]
  const [a] = Report.foldCalls(events)
  assert.is(a!.queuedAt, at(0))
  assert.is(a!.startedAt, at(20))
  assert.is(a!.finishedAt, at(50))
  assert.equal(a!.durations, { queuedMs: 20_000, runningMs: 30_000, totalMs: 50_000 })
  assert.is(a!.cost, 0.25)
  assert.is(a!.instanceType, 'm5.large')
  assert.equal(a!.used, { peakRssBytes: 100, cpuSeconds: 12 })
})

fold('should mark a reused call, with its reason, as done at the moment it was found', () => {
  const [a] = Report.foldCalls([{ type: 'done', id: 'a', work: 'align', reused: true, reuseReason: 'result cache', at: at(3) }])
  assert.is(a!.state, 'done')
  assert.is(a!.reused, true)
  assert.is(a!.reuseReason, 'result cache')
  assert.is(a!.startedAt, at(3))
  assert.is(a!.durations.runningMs, 0)
  assert.is(a!.attempts, 0, 'nothing ran')
})

fold('should count attempts and keep the last outcome of a retried call', () => {
  const events: ReadonlyArray<Report.TimedEvent> = [
    { type: 'start', id: 'a', work: 'align', at: at(0) },
    { type: 'failed', id: 'a', work: 'align', error: boom('out of memory'), at: at(2) },
    { type: 'start', id: 'a', work: 'align', at: at(3), attempt: 2 },
    { type: 'done', id: 'a', work: 'align', reused: false, at: at(9) },
  ]
  const [a] = Report.foldCalls(events)
  assert.is(a!.state, 'done')
  assert.is(a!.attempts, 2)
  assert.is(a!.error, undefined, 'the error of an earlier attempt is not the outcome')
  assert.is(a!.startedAt, at(0), 'the call’s span starts at its first attempt')
})

fold('should mark graph calls without events blocked, and started ones running or, once the run is over, cancelled', () => {
  const graph: Graph.Graph = { module: 'm', nodes: [call('a', 'align'), call('b', 'sort', ['a']), call('c', 'index')] }
  const events: ReadonlyArray<Report.TimedEvent> = [
    { type: 'start', id: 'a', work: 'align', at: at(0) },
    { type: 'failed', id: 'a', work: 'align', error: boom('exit code 1'), at: at(1) },
    { type: 'start', id: 'c', work: 'index', at: at(0) },
  ]
  const live = Report.foldCalls(events, { graph })
  assert.equal(live.map((c) => [c.id, c.state]), [['a', 'failed'], ['b', 'blocked'], ['c', 'running']])
  assert.is(live[0]!.error, 'exit code 1')
  const over = Report.foldCalls(events, { graph, over: true })
  assert.is(over[2]!.state, 'cancelled')
})

fold('should keep only the last lines of a log, cut long lines, and redact tokens', () => {
  const token = 'v2/zzzzz-gj3su-012345678901234/abcdefghijklmnopqrstuvwxyz0123456789'
  const events: Array<Report.TimedEvent> = [{ type: 'start', id: 'a', work: 'w', at: at(0) }]
  for (let i = 0; i < 30; i++) events.push({ type: 'log', id: 'a', work: 'w', message: `line ${i}`, at: at(1) })
  events.push({ type: 'log', id: 'a', work: 'w', message: `using ${token}\n${'x'.repeat(1000)}`, at: at(2) })
  const [a] = Report.foldCalls(events)
  assert.is(a!.logTail.length, Report.LOG_TAIL_LINES)
  assert.is(a!.logTail[0], 'line 12')
  assert.not.ok(a!.logTail.join('\n').includes(token), 'the token is redacted')
  assert.ok(a!.logTail[Report.LOG_TAIL_LINES - 1]!.length < 500, 'a long line is cut')
})

fold('should take asked resources from the work options, or from the events when they say', () => {
  const big = work({ args: [t.number], returns: t.number, ram: '2GiB', vcpus: 4 }, (n) => n)
  const small = work({ args: [t.number], returns: t.number }, (n) => n)
  const M = defineModule({ name: 'res', params: t.unknown, work: { big, small }, run: () => null })
  const requested = Report.requestedOf(M, { ramBytes: 512 * 1024 * 1024, vcpus: 1 })
  const records = Report.foldCalls(
    [
      { type: 'start', id: 'b', work: 'big', at: at(0) },
      { type: 'start', id: 's', work: 'small', at: at(0) },
      { type: 'start', id: 'e', work: 'small', at: at(0), requested: { ramBytes: 1024 } },
    ],
    { requested },
  )
  assert.equal(records.map((r) => r.requested), [{ ramBytes: 2 * 1024 ** 3, vcpus: 4 }, { ramBytes: 512 * 1024 ** 2, vcpus: 1 }, { ramBytes: 1024 }])
})

fold.run()

// ---

const run = suite('Report.fromEvents (the run record)')

run('should add up calls, reuse, container and CPU time, and cost', () => {
  const r = Report.fromEvents({
    module: 'm',
    params: { n: 1 },
    startedAt: at(0),
    finishedAt: at(100),
    outcome: 'succeeded',
    events: [
      { type: 'start', id: 'a', work: 'w', at: at(0) },
      { type: 'done', id: 'a', work: 'w', reused: false, at: at(10), used: { cpuSeconds: 8 }, cost: 0.5 },
      { type: 'start', id: 'b', work: 'w', at: at(0) },
      { type: 'done', id: 'b', work: 'w', reused: false, at: at(30), used: { cpuSeconds: 2 }, cost: 0.25 },
      { type: 'done', id: 'c', work: 'w', reused: true, at: at(1) },
      { type: 'log', id: 'run', work: 'run', message: 'output collection x', at: at(100) },
    ],
  })
  assert.equal(r.totals, { calls: 3, done: 3, failed: 0, blocked: 0, running: 0, cancelled: 0, reused: 1, ran: 2, wallMs: 100_000, containerMs: 40_000, cpuSeconds: 10, cost: 0.75 })
  assert.equal(r.logTail, ['output collection x'], 'run-level lines are the run’s, not a call’s')
  assert.is(r.calls.length, 3)
})

run('should fold a real local run of the numbers sample: one record per call of its graph', async () => {
  const ran = await runLocally(Numbers, { n: 4 })
  const calls = ran.result!.graph.nodes.filter((n) => n._tag === 'Call')
  assert.is(ran.record.calls.length, calls.length)
  assert.ok(ran.record.calls.every((c) => c.state === 'done' && c.startedAt !== undefined && c.finishedAt !== undefined))
  assert.is(ran.record.totals.ran, ran.result!.stats.executed)
  assert.ok(ran.record.calls.some((c) => c.label === 'sum([4 × future square])'), ran.record.calls.map((c) => c.label).join(', '))
})

run.run()
