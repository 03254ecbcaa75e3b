/**
 * A call graph read back from its JSON form (`Graph.toJson`: what a run file's last line and a
 * provenance collection's `graph.json` hold), for a report made after the run. Tolerant: nodes
 * it cannot read are left out. Combine nodes come back without their shape (the JSON form does
 * not keep it; a report does not need it).
 *
 * @since 0.2.0
 */
import type * as Graph from '../graph.js'

type Rec = Readonly<Record<string, unknown>>

const strings = (u: unknown): ReadonlyArray<string> => (Array.isArray(u) ? u.filter((x): x is string => typeof x === 'string') : [])

/**
 * @category destructors
 * @since 0.2.0
 */
export const fromJson = (u: unknown): Graph.Graph | undefined => {
  if (typeof u !== 'object' || u === null || !Array.isArray((u as Rec)['nodes'])) return undefined
  const g = u as Rec
  const nodes: Array<Graph.Node> = []
  for (const n of g['nodes'] as ReadonlyArray<unknown>) {
    if (typeof n !== 'object' || n === null) continue
    const r = n as Rec
    if (typeof r['id'] !== 'string') continue
    if (r['kind'] === 'call' && typeof r['work'] === 'string') {
      const args = Array.isArray(r['args']) ? r['args'] : []
      nodes.push({ _tag: 'Call', id: r['id'], work: r['work'], args: args.map((a) => ({ _tag: 'Json', json: JSON.stringify(a) })), deps: strings(r['deps']), parent: typeof r['parent'] === 'string' ? r['parent'] : undefined })
    } else if (r['kind'] === 'combine' && typeof r['owner'] === 'string') {
      nodes.push({ _tag: 'Combine', id: r['id'], owner: r['owner'], mode: r['mode'] === 'concat' ? 'concat' : 'gather', shape: null, deps: strings(r['deps']) })
    }
  }
  return { module: typeof g['module'] === 'string' ? g['module'] : 'unknown', nodes }
}
