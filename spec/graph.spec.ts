import * as Path from 'node:path'

import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Graph from '../lib/graph.js'
import { defineModule, work } from '../lib/module.js'
import { runModule } from '../lib/testing.js'
import { root, runNode } from './support/cli.js'

const idsFixture = Path.join(root, 'spec', 'fixtures', 'core', 'ids.ts')
const ids = async (env: Record<string, string> = {}): Promise<ReadonlyArray<string>> => {
  const r = await runNode(['--import', 'tsx', idsFixture], { env })
  assert.is(r.code, 0, r.stderr)
  return r.stdout.trim().split('\n')
}

const merkle = suite('Graph.callId (Merkle ids)')

merkle('should give equal ids in two separate processes for equal inputs and code', async () => {
  const [a, b] = await Promise.all([ids(), ids()])
  assert.is(a.length, 4)
  assert.equal(a, b)
})

merkle('should change every id that depends on a changed input', async () => {
  const [a, b] = await Promise.all([ids({ N: '3' }), ids({ N: '4' })])
  assert.equal(a.slice(0, 3), b.slice(0, 3), 'square(0..2) are the same calls')
  assert.is.not(a[3], b[4], 'sum depends on a different list')
})

merkle('should change ids when the implementation changes', async () => {
  const [a, b] = await Promise.all([ids(), ids({ VARIANT: 'code' })])
  for (let i = 0; i < a.length; i++) assert.is.not(a[i], b[i], `call ${i} (sum depends on square's ids)`)
})

merkle('should be pinned: this literal changes only when the id scheme changes', () => {
  const args: ReadonlyArray<Graph.Arg> = [{ _tag: 'Json', json: '1' }]
  assert.is(Graph.callId('m', 'w', 'c0de', args), Graph.callId('m', 'w', 'c0de', [{ _tag: 'Json', json: '1' }]))
  assert.is(Graph.callId('m', 'w', 'c0de', args), 'ffca859cc80f076ca6fe91b979d165ff19c95bdf')
})

merkle.run()

// ---

const inc = work({ args: [t.number], returns: t.number }, (n) => n + 1)
const sum = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))

const recording = suite('Graph.recorder')

recording('should record one node per distinct call, with futures as dependencies', () => {
  const M = defineModule({ name: 'rec', params: t.unknown, work: { inc, sum }, run: () => null })
  const rec = Graph.recorder(M, undefined)
  const a = rec.context.work.inc(1)
  const again = rec.context.work.inc(1)
  const b = rec.context.work.inc(a)
  rec.context.work.sum([a, b, 3])
  const calls = rec.calls()
  assert.is(calls.length, 3, 'inc(1) twice is one call')
  assert.is(Graph.toJson({ module: 'rec', nodes: calls }) !== null, true)
  assert.equal(calls[1]!.deps, [calls[0]!.id])
  assert.equal(calls[2]!.deps.length, 2)
  assert.ok(again !== a, 'each call site gets its own future object')
})

recording('should classify levels S1 (ready), S2 (waiting) and S3 (combine)', () => {
  const M = defineModule({ name: 'lv', params: t.unknown, work: { inc, sum }, run: () => null })
  const rec = Graph.recorder(M, undefined)
  const a = rec.context.work.inc(1)
  const b = rec.context.work.inc(a)
  const out = rec.context.work.sum([a, b])
  const graph: Graph.Graph = { module: 'lv', nodes: [...rec.calls(), Graph.combine('run', { out }, undefined)] }
  const [ia, ib, is] = rec.calls().map((c) => c.id)
  const before = Graph.levels(graph, new Set())
  assert.equal([before.get(ia!), before.get(ib!), before.get(is!), before.get('run/out')], ['S1', 'S2', 'S2', 'S3'])
  const after = Graph.levels(graph, new Set([ia!]))
  assert.equal([after.has(ia!), after.get(ib!), after.get(is!)], [false, 'S1', 'S2'])
})

recording('should export Mermaid, DOT and JSON with every node and edge', () => {
  const M = defineModule({ name: 'ex', params: t.unknown, work: { inc, sum }, run: () => null })
  const rec = Graph.recorder(M, undefined)
  const a = rec.context.work.inc(1)
  const s = rec.context.work.sum([a, rec.context.work.inc(2)])
  const graph: Graph.Graph = { module: 'ex', nodes: [...rec.calls(), Graph.combine('run', s, undefined)] }
  const [ia, ib, is] = rec.calls().map((c) => c.id.slice(0, 12))
  const mermaid = Graph.toMermaid(graph)
  assert.match(mermaid, /^flowchart LR/)
  assert.ok(mermaid.includes(`n${ia} --> n${is}`) && mermaid.includes(`n${ib} --> n${is}`))
  const dot = Graph.toDot(graph)
  assert.match(dot, /^digraph "ex" \{/)
  assert.is(dot.split('->').length - 1, 3)
  const json = Graph.toJson(graph) as { nodes: Array<{ kind: string; args?: unknown }> }
  assert.equal(json.nodes.map((n) => n.kind), ['call', 'call', 'call', 'combine'])
  assert.equal(json.nodes[2]!.args, [[{ '~future': rec.calls()[0]!.id }, { '~future': rec.calls()[1]!.id }]])
})

recording('should reject a work function that is not part of the module', () => {
  const M = defineModule({ name: 'small', params: t.unknown, work: { inc }, run: () => null })
  const rec = Graph.recorder(M, undefined)
  try {
    rec.context.call(sum, [1])
    assert.unreachable()
  } catch (e) {
    assert.match(String((e as Error).message), /UnknownWorkError \[ARV_UNKNOWN_WORK\]: run\(\) called a work function that is not part of module "small"/)
  }
})

recording('should reject wrong arity at run time too (for untyped callers)', () => {
  const M = defineModule({ name: 'ar', params: t.unknown, work: { inc }, run: () => null })
  const rec = Graph.recorder(M, undefined)
  assert.throws(() => (rec.context.work.inc as unknown as (...a: Array<unknown>) => unknown)(1, 2), /ARV_ARITY.*takes 1 argument\(s\) and was called with 2/)
})

recording.run()

// ---

const dynamic = suite('continuations and dropped futures')

dynamic('should splice a continuation and resolve the caller to its fragment output', async () => {
  const viaWork = work({ args: [t.number], returns: t.number }, (n, ctx) => ctx.call(inc, ctx.call(inc, n)))
  const M = defineModule({ name: 'cont', params: t.type({ n: t.number }), work: { inc, viaWork }, run: ({ n }, { work: w }) => w.viaWork(n) })
  const r = await runModule(M, { n: 1 })
  assert.is(r.value, 3)
  const kinds = r.graph.nodes.map((n) => (n._tag === 'Call' ? n.work : `combine:${n.owner === 'run' ? 'run' : 'call'}`))
  // recording order: the root calls, then (as they run) each continuation's fragment
  assert.equal([...kinds].sort(), ['combine:call', 'combine:run', 'inc', 'inc', 'viaWork'])
  assert.is(kinds[0], 'viaWork')
  assert.ok(kinds.indexOf('inc') < kinds.indexOf('combine:call'), 'a fragment\'s calls come before its combine node')
  const spliced = r.graph.nodes.filter((n): n is Graph.CallNode => n._tag === 'Call' && n.work === 'inc')
  assert.ok(spliced.every((n) => n.parent === r.graph.nodes[0]!.id), 'children name their parent call')
})

dynamic('should run calls whose future is dropped', async () => {
  const seen: Array<number> = []
  const note = work({ args: [t.number], returns: t.null }, (n) => {
    seen.push(n)
    return null
  })
  const M = defineModule({
    name: 'dropped',
    params: t.unknown,
    work: { note, inc },
    run: (_, { work: w }) => {
      w.note(1) // dropped
      return w.inc(1)
    },
  })
  const r = await runModule(M, null)
  assert.is(r.value, 2)
  assert.equal(seen, [1])
})

dynamic('should run calls dropped inside an implementation', async () => {
  const seen: Array<number> = []
  const note = work({ args: [t.number], returns: t.null }, (n) => {
    seen.push(n)
    return null
  })
  const parent = work({ args: [t.number], returns: t.number }, (n, ctx) => {
    ctx.call(note, n * 10) // dropped
    return n
  })
  const M = defineModule({ name: 'dropped2', params: t.unknown, work: { note, parent }, run: (_, { work: w }) => w.parent(4) })
  const r = await runModule(M, null)
  assert.is(r.value, 4)
  assert.equal(seen, [40])
})

dynamic('should gather futures at any depth in arrays and records', async () => {
  const M = defineModule({
    name: 'deep',
    params: t.unknown,
    work: { inc, sum },
    run: (_, { work: w }) => ({ a: [w.inc(1), { b: w.inc(2), c: 'plain' }], s: w.sum([w.inc(0), 10, w.inc(5)]) }),
  })
  const r = await runModule(M, null)
  assert.equal(r.value, { a: [2, { b: 3, c: 'plain' }], s: 17 })
  assert.is(r.json, '{"a":[2,{"b":3,"c":"plain"}],"s":17}')
})

dynamic.run()


