/**
 * Benchmark of the run report (`node --import tsx spec/bench/report.ts`; not part of `npm test`).
 *
 * Workload: a fan-out of N calls of one work plus a gather of all of them (N = 1,000 / 10,000 /
 * 100,000), each call with a start, a log line and a done event (a third of them reused), all
 * with measured memory and CPU. Timed: `Report.fromEvents` (the fold, labels included) and
 * `Report.render` (grouping, layout, the HTML text). Baseline, in the same process and round:
 * `JSON.stringify` of the events and of the record (writing the same data as plain JSON), so the
 * ratio says how much the report costs beyond serializing what it shows. Best of `--reps` (3)
 * after a warm-up; wall clock and the process's CPU time (steadier when the machine is shared).
 */
import type * as Graph from '../../lib/graph.js'
import * as Report from '../../lib/report/index.js'

const repsAt = process.argv.indexOf('--reps')
const reps = repsAt > 0 ? Number(process.argv[repsAt + 1]) : 3

const workload = (n: number): { readonly events: ReadonlyArray<Report.TimedEvent>; readonly graph: Graph.Graph } => {
  const nodes: Array<Graph.Node> = []
  const events: Array<Report.TimedEvent> = []
  const t0 = Date.parse('2026-01-01T00:00:00Z')
  for (let i = 0; i < n; i++) {
    const id = `leaf-${i}`
    nodes.push({ _tag: 'Call', id, work: 'leaf', args: [{ _tag: 'Json', json: String(i) }], deps: [], parent: undefined })
    events.push({ type: 'start', id, work: 'leaf', at: new Date(t0 + i).toISOString() })
    events.push({ type: 'log', id, work: 'leaf', message: `processed item ${i}`, at: new Date(t0 + i + 5).toISOString() })
    events.push({ type: 'done', id, work: 'leaf', reused: i % 3 === 0, at: new Date(t0 + i + 10).toISOString(), used: { peakRssBytes: 1e8 + i, cpuSeconds: 1 }, requested: { ramBytes: 1e9, vcpus: 1 } })
  }
  nodes.push({ _tag: 'Call', id: 'sum', work: 'sum', args: [{ _tag: 'Shape', shape: null, canonical: JSON.stringify(nodes.map((x) => ({ '~future': x.id }))) }], deps: nodes.map((x) => x.id), parent: undefined })
  return { events, graph: { module: 'bench', nodes } }
}

interface Timing {
  readonly wallMs: number
  readonly cpuMs: number
}

const timed = (f: () => unknown): Timing => {
  const c = process.cpuUsage()
  const a = performance.now()
  f()
  const wallMs = performance.now() - a
  const d = process.cpuUsage(c)
  return { wallMs, cpuMs: (d.user + d.system) / 1000 }
}

const best = (ts: ReadonlyArray<Timing>): Timing => ({ wallMs: Math.min(...ts.map((t) => t.wallMs)), cpuMs: Math.min(...ts.map((t) => t.cpuMs)) })

const fmt = (t: Timing): string => `${t.wallMs.toFixed(0).padStart(6)} ms wall ${t.cpuMs.toFixed(0).padStart(6)} ms CPU`

console.log(`report benchmark, best of ${reps}`)
for (const n of [1000, 10_000, 100_000]) {
  const { events, graph } = workload(n)
  let record = Report.fromEvents({ module: 'bench', params: {}, events, graph, outcome: 'succeeded' })
  let html = Report.render(record)
  const fold: Array<Timing> = []
  const render: Array<Timing> = []
  const base: Array<Timing> = []
  for (let r = 0; r < reps; r++) {
    fold.push(timed(() => (record = Report.fromEvents({ module: 'bench', params: {}, events, graph, outcome: 'succeeded' }))))
    render.push(timed(() => (html = Report.render(record))))
    base.push(timed(() => JSON.stringify(events).length + JSON.stringify(record).length))
  }
  const [f, h, b] = [best(fold), best(render), best(base)]
  console.log(`N=${String(n).padStart(6)}  fromEvents ${fmt(f)} | render ${fmt(h)} | JSON baseline ${fmt(b)} | (fold+render)/baseline CPU ${((f.cpuMs + h.cpuMs) / Math.max(b.cpuMs, 0.001)).toFixed(1)}x | ${(f.cpuMs / n * 1000).toFixed(1)} + ${(h.cpuMs / n * 1000).toFixed(1)} us/call | HTML ${(html.length / 1e6).toFixed(1)} MB`)
}
