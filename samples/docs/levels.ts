/**
 * docs/from-the-draft.md — the draft's sequence levels S1/S2/S3 on the graph of draft.ts, as the
 * calls finish one after the other. Records the graph the way a dispatcher does (nothing runs).
 *
 *   node --import tsx samples/docs/levels.ts
 */
import * as Graph from 'arvados-crunch/graph'
import { CrunchExample } from './draft.js'

// evaluate run with a recording call table: this records calls, it does not run them
const recorder = Graph.recorder(CrunchExample, undefined)
const output = await CrunchExample.run({ arg1: 2, arg2: 3, arg3: 4 }, recorder.context)
const graph: Graph.Graph = { module: CrunchExample.name, nodes: [...recorder.calls(), Graph.combine('run', output, CrunchExample.returns)] }

const name = (id: string): string => {
  const node = graph.nodes.find((n) => n.id === id)
  return node?._tag === 'Call' ? node.work : id
}
const show = (title: string, resolved: ReadonlySet<string>): void => {
  const levels = [...Graph.levels(graph, resolved)].map(([id, level]) => `${name(id)} ${level}`)
  console.log(`${title.padEnd(22)}${levels.join(', ')}`)
}

const [first, second] = graph.nodes.map((n) => n.id)
show('nothing finished:', new Set())
show('workMethod1 finished:', new Set([first!]))
show('workMethod2 finished:', new Set([first!, second!]))
