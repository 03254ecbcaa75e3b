/**
 * Readable names for the nodes of a call graph, and the graph a report draws. A call's label is
 * its work name and a short rendering of its arguments' *kinds and sizes* — `classify(file)`,
 * `analyze([3 × future classify])`, `shout(string 5)` — never their values, which may be
 * secrets. A fan-out (calls of one work made by one parent at the same depth) is drawn as one
 * group node with a count; a chain of calls of one work stays a chain.
 *
 * @since 0.1.0
 */
import type * as Graph from '../graph.js'

// -------------------------------------------------------------------------------------
// argument kinds
// -------------------------------------------------------------------------------------

const PDH = /^[0-9a-f]{32}\+\d+$/
const PDH_FILE = /^[0-9a-f]{32}\+\d+\/./

const MAX_LABEL = 56

interface KindOptions {
  /** include lengths and counts */
  readonly sizes: boolean
  readonly workOf: (id: string) => string | undefined
}

const kindOf = (u: unknown, o: KindOptions, depth: number): string => {
  if (u === null) return 'null'
  switch (typeof u) {
    case 'boolean':
      return 'boolean'
    case 'number':
      return 'number'
    case 'string':
      if (PDH.test(u)) return 'collection'
      if (PDH_FILE.test(u)) return 'file'
      return o.sizes ? `string ${u.length}` : 'string'
    case 'object':
      break
    default:
      return typeof u
  }
  if (Array.isArray(u)) {
    if (u.length === 0) return '[]'
    if (depth > 1) return o.sizes ? `[${u.length}]` : '[…]'
    const kinds = new Set(u.map((x) => kindOf(x, { ...o, sizes: false }, depth + 1)))
    const only = kinds.size === 1 ? [...kinds][0]! : 'mixed'
    return o.sizes ? `[${u.length} × ${only}]` : `[${only}]`
  }
  const rec = u as Record<string, unknown>
  const keys = Object.keys(rec)
  if (keys.length === 1) {
    const k = keys[0]!
    const v = rec[k]
    if (k === '~future' && typeof v === 'string') {
      const w = o.workOf(v)
      return w === undefined ? 'future' : `future ${w}`
    }
    if (k === '~collection') return 'collection'
    if (k === '~file') return 'file'
  }
  return o.sizes ? `{${keys.length} fields}` : '{…}'
}

const argValue = (a: Graph.Arg): unknown => {
  try {
    return JSON.parse(a._tag === 'Json' ? a.json : a.canonical) as unknown
  } catch {
    return undefined
  }
}

const clip = (s: string): string => (s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL - 1)}…` : s)

const labelWith = (node: Graph.CallNode, o: KindOptions): string => clip(`${node.work}(${node.args.map((a) => kindOf(argValue(a), o, 0)).join(', ')})`)

/**
 * The label of one call without its graph (futures are shown without the work they come from).
 *
 * @category utils
 * @since 0.1.0
 */
export const callLabel = (node: Graph.CallNode): string => labelWith(node, { sizes: true, workOf: () => undefined })

/**
 * A labeller for the calls of `graph`: futures name the work they come from.
 *
 * @category constructors
 * @since 0.1.0
 */
export const labeller = (graph: Graph.Graph): ((node: Graph.CallNode) => string) => {
  const works = workIndex(graph)
  return (node) => labelWith(node, { sizes: true, workOf: (id) => works.get(id) })
}

const workIndex = (graph: Graph.Graph): Map<string, string> => {
  const works = new Map<string, string>()
  for (const n of graph.nodes) if (n._tag === 'Call') works.set(n.id, n.work)
  return works
}

// -------------------------------------------------------------------------------------
// the drawn graph
// -------------------------------------------------------------------------------------

/**
 * A node of the drawn graph: a group of calls (one call, or a fan-out), the combined output of
 * a group whose work returned futures, or the run's output.
 *
 * @category models
 * @since 0.1.0
 */
export interface GroupNode {
  readonly key: string
  readonly kind: 'calls' | 'combine' | 'output'
  readonly work: string
  readonly label: string
  /** the call ids (for `calls`) or combine node ids it stands for */
  readonly members: ReadonlyArray<string>
}

/**
 * `input`: the target reads the source's result; `made`: the source's implementation made the
 * target (its calls, or the result that gathers them).
 *
 * @category models
 * @since 0.1.0
 */
export interface GroupEdge {
  readonly from: string
  readonly to: string
  readonly kind: 'input' | 'made'
}

/**
 * @category models
 * @since 0.1.0
 */
export interface DrawnGraph {
  readonly nodes: ReadonlyArray<GroupNode>
  readonly edges: ReadonlyArray<GroupEdge>
}

/**
 * Groups a call graph for drawing. Calls of one work, made by the same parent group, at the same
 * depth (longest path from the graph's sources) form one group; so a fan-out of 1,000 calls is
 * one node, and `inc(inc(inc(n)))` stays three. An argument that is a future of a call whose
 * work returned futures reads that call's combine node.
 *
 * @category constructors
 * @since 0.1.0
 */
export const group = (graph: Graph.Graph): DrawnGraph => {
  const byId = new Map<string, Graph.Node>()
  for (const n of graph.nodes) byId.set(n.id, n)
  const works = workIndex(graph)
  // where a consumer of a call's future reads from: its combine node when there is one
  const source = (id: string): string => (byId.has(`${id}/out`) ? `${id}/out` : id)
  const preds = (n: Graph.Node): ReadonlyArray<string> => {
    const ps = n.deps.map(source)
    if (n._tag === 'Call' && n.parent !== undefined) ps.push(n.parent)
    if (n._tag === 'Combine') ps.push(n.owner)
    return ps.filter((p) => byId.has(p) && p !== n.id)
  }
  const depth = new Map<string, number>()
  const depthOf = (id: string, guard: Set<string>): number => {
    const known = depth.get(id)
    if (known !== undefined) return known
    const n = byId.get(id)
    if (n === undefined || guard.has(id)) return 0
    guard.add(id)
    let d = 0
    for (const p of preds(n)) d = Math.max(d, depthOf(p, guard) + 1)
    guard.delete(id)
    depth.set(id, d)
    return d
  }
  const keyOf = new Map<string, string>()
  const nodes = new Map<string, { key: string; kind: GroupNode['kind']; work: string; members: Array<string>; nodes: Array<Graph.Node> }>()
  const add = (key: string, kind: GroupNode['kind'], work: string, n: Graph.Node): void => {
    keyOf.set(n.id, key)
    const g = nodes.get(key)
    if (g === undefined) nodes.set(key, { key, kind, work, members: [n.id], nodes: [n] })
    else {
      g.members.push(n.id)
      g.nodes.push(n)
    }
  }
  for (const n of graph.nodes) {
    if (n._tag !== 'Call') continue
    const parentKey = n.parent === undefined ? 'run' : (keyOf.get(n.parent) ?? n.parent)
    add(`${parentKey}>${n.work}@${depthOf(n.id, new Set())}`, 'calls', n.work, n)
  }
  for (const n of graph.nodes) {
    if (n._tag !== 'Combine') continue
    if (n.owner === 'run') add('output', 'output', 'run', n)
    else add(`${keyOf.get(n.owner) ?? n.owner}/out`, 'combine', works.get(n.owner) ?? '', n)
  }
  const edges = new Map<string, GroupEdge>()
  const link = (from: string | undefined, to: string | undefined, kind: GroupEdge['kind']): void => {
    if (from === undefined || to === undefined || from === to) return
    edges.set(`${from}\0${to}\0${kind}`, { from, to, kind })
  }
  for (const n of graph.nodes) {
    const to = keyOf.get(n.id)
    for (const d of n.deps) link(keyOf.get(source(d)), to, 'input')
    if (n._tag === 'Call' && n.parent !== undefined) link(keyOf.get(n.parent), to, 'made')
    if (n._tag === 'Combine' && n.owner !== 'run') link(keyOf.get(n.owner), to, 'made')
  }
  const label = (g: { kind: GroupNode['kind']; work: string; nodes: ReadonlyArray<Graph.Node> }): string => {
    if (g.kind === 'output') return 'output'
    if (g.kind === 'combine') {
      const modes = new Set(g.nodes.map((n) => (n._tag === 'Combine' ? n.mode : 'gather')))
      return `${g.work} result (${[...modes].join('/')})`
    }
    const calls = g.nodes.filter((n): n is Graph.CallNode => n._tag === 'Call')
    const withSizes = new Set(calls.map((c) => labelWith(c, { sizes: true, workOf: (id) => works.get(id) })))
    if (withSizes.size === 1) return [...withSizes][0]!
    const kinds = new Set(calls.map((c) => labelWith(c, { sizes: false, workOf: (id) => works.get(id) })))
    return kinds.size === 1 ? [...kinds][0]! : `${g.work}(…)`
  }
  return {
    nodes: [...nodes.values()].map((g) => ({ key: g.key, kind: g.kind, work: g.work, label: label(g), members: g.members })),
    edges: [...edges.values()],
  }
}
