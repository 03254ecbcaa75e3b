import * as t from 'io-ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Graph from '../../lib/graph.js'
import { defineModule, work } from '../../lib/module.js'
import * as Labels from '../../lib/report/labels.js'

const PDH = 'd41d8cd98f00b204e9800998ecf8427e+0'

const shout = work({ args: [t.string], returns: t.string }, (s) => s.toUpperCase())
const classify = work({ args: [t.string, t.number], returns: t.string }, (s) => s)
const join = work({ args: [t.array(t.string)], returns: t.string }, (xs) => xs.join())
const opts = work({ args: [t.type({ token: t.string, depth: t.number }), t.boolean, t.null], returns: t.string }, () => '')
const inc = work({ args: [t.number], returns: t.number }, (n) => n + 1)
const M = defineModule({ name: 'labels', params: t.unknown, work: { shout, classify, join, opts, inc }, run: () => null })

/** records `body` as run() would and returns the graph */
const record = (body: (w: ReturnType<typeof Graph.recorder<typeof M.work>>['context']['work']) => void): Graph.Graph => {
  const rec = Graph.recorder(M, undefined)
  body(rec.context.work)
  return { module: M.name, nodes: rec.calls() }
}

const labels = suite('Labels (kinds and sizes, never values)')

labels('should render each argument’s kind and size', () => {
  const g = record((w) => {
    const a = w.shout('hello')
    w.classify(`${PDH}/reads/a.fastq`, 3)
    w.join([a, a, 'x'])
    w.join([PDH, PDH])
    w.opts({ token: 'secret', depth: 2 }, true, null)
  })
  const label = Labels.labeller(g)
  const calls = g.nodes.filter((n): n is Graph.CallNode => n._tag === 'Call')
  assert.equal(calls.map(label), [
    'shout(string 5)',
    'classify(file, number)',
    'join([3 × mixed])',
    'join([2 × collection])',
    'opts({2 fields}, boolean, null)',
  ])
})

labels('should name the work a future comes from', () => {
  const g = record((w) => {
    const xs = ['a', 'b', 'c'].map((s) => w.shout(s))
    w.join(xs)
  })
  const join = g.nodes.find((n): n is Graph.CallNode => n._tag === 'Call' && n.work === 'join')!
  assert.is(Labels.labeller(g)(join), 'join([3 × future shout])')
  assert.is(Labels.callLabel(join), 'join([3 × future])', 'without the graph the source is unknown')
})

labels('should never show a value, however the argument is nested', () => {
  const secret = 'hunter2-very-secret-value'
  const g = record((w) => {
    w.shout(secret)
    w.opts({ token: secret, depth: 1 }, false, null)
    w.join([secret])
  })
  const text = JSON.stringify(Labels.group(g)) + g.nodes.map((n) => (n._tag === 'Call' ? Labels.labeller(g)(n) : '')).join()
  assert.not.ok(text.includes('hunter2'), text)
})

labels('should cut long labels', () => {
  const many = work({ args: [t.string, t.string, t.string, t.string, t.string, t.string, t.string, t.string], returns: t.string }, (s) => s)
  const L = defineModule({ name: 'long', params: t.unknown, work: { many }, run: () => null })
  const rec = Graph.recorder(L, undefined)
  rec.context.work.many('aaaa', 'bbbbbbbbbb', 'c', 'dddddddddddddddd', 'e', 'f', 'g', 'h')
  const label = Labels.callLabel(rec.calls()[0]!)
  assert.ok(label.length <= 56 && label.endsWith('…'), label)
})

labels.run()

// ---

const grouping = suite('Labels.group (the drawn graph)')

grouping('should draw a fan-out as one node with its calls as members', () => {
  const g = record((w) => {
    const xs = Array.from({ length: 50 }, (_, i) => w.shout(`s${i}`))
    w.join(xs)
  })
  const drawn = Labels.group(g)
  assert.is(drawn.nodes.length, 2)
  const fan = drawn.nodes.find((n) => n.work === 'shout')!
  assert.is(fan.members.length, 50)
  assert.is(fan.label, 'shout(string)', 'sizes that differ are left out of a group’s label')
  assert.equal(drawn.edges.map((e) => [e.from, e.to, e.kind]), [[fan.key, drawn.nodes.find((n) => n.work === 'join')!.key, 'input']])
})

grouping('should keep a chain of calls of one work as a chain', () => {
  const g = record((w) => void w.inc(w.inc(w.inc(1))))
  const drawn = Labels.group(g)
  assert.is(drawn.nodes.length, 3)
  assert.is(drawn.edges.length, 2)
  assert.ok(drawn.nodes.every((n) => n.members.length === 1))
})

grouping('should group the calls made by the calls of a fan-out, and draw combine and output nodes', () => {
  // two levels: run makes 3 parents; each parent makes 4 children and returns them
  const parents = ['p0', 'p1', 'p2'].map((p) => Graph.callId('m', 'parent', 'c', [{ _tag: 'Json', json: JSON.stringify(p) }]))
  const nodes: Array<Graph.Node> = parents.map((id) => ({ _tag: 'Call', id, work: 'parent', args: [{ _tag: 'Json', json: '"p"' }], deps: [], parent: undefined }))
  for (const p of parents) {
    const kids = [0, 1, 2, 3].map((i) => `${p}-kid${i}`)
    for (const k of kids) nodes.push({ _tag: 'Call', id: k, work: 'child', args: [{ _tag: 'Json', json: '1' }], deps: [], parent: p })
    nodes.push({ _tag: 'Combine', id: `${p}/out`, owner: p, mode: 'gather', shape: null, deps: kids })
  }
  nodes.push({ _tag: 'Call', id: 'final', work: 'join', args: [{ _tag: 'Shape', shape: null, canonical: JSON.stringify(parents.map((p) => ({ '~future': p }))) }], deps: parents, parent: undefined })
  nodes.push({ _tag: 'Combine', id: 'run/out', owner: 'run', mode: 'gather', shape: null, deps: ['final'] })
  const drawn = Labels.group({ module: 'm', nodes })
  const byKind = (k: Labels.GroupNode['kind']) => drawn.nodes.filter((n) => n.kind === k)
  assert.is(byKind('calls').length, 3, 'parents, children, join')
  assert.is(drawn.nodes.find((n) => n.work === 'child')!.members.length, 12)
  assert.is(byKind('combine').length, 1)
  assert.is(byKind('combine')[0]!.members.length, 3)
  assert.is(byKind('output').length, 1)
  const key = (work: string, kind: Labels.GroupNode['kind'] = 'calls') => drawn.nodes.find((n) => n.work === work && n.kind === kind)!.key
  const edges = drawn.edges.map((e) => `${e.from} -${e.kind}-> ${e.to}`).sort()
  assert.equal(edges, [
    `${key('child')} -input-> ${key('parent', 'combine')}`,
    `${key('join')} -input-> output`,
    `${key('parent')} -made-> ${key('child')}`,
    `${key('parent')} -made-> ${key('parent', 'combine')}`,
    `${key('parent', 'combine')} -input-> ${key('join')}`,
  ].sort())
})

grouping.run()
