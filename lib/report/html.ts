/**
 * The run report as one self-contained HTML file: no network (a Content-Security-Policy forbids
 * it), no CDN, inline CSS and SVG, a few lines of inline script (clicking a graph node shows its
 * calls in the table). Sections: totals, suggested settings, the call graph (grouped fan-outs,
 * layered layout), a timeline (one bar per call that started, coloured by state, reused calls
 * hatched), and one table row per call. Every text from the run is escaped.
 *
 * @since 0.1.0
 */
import * as Labels from './labels.js'
import * as Layout from './layout.js'
import type * as Model from './model.js'
import * as Suggest from './suggest.js'

// -------------------------------------------------------------------------------------
// text
// -------------------------------------------------------------------------------------

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/**
 * Escapes text for HTML element content and double- or single-quoted attribute values.
 *
 * @category utils
 * @since 0.1.0
 */
export const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)

const e = escape

/**
 * A duration for people: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`.
 *
 * @category utils
 * @since 0.1.0
 */
export const formatDuration = (ms: number | undefined): string => {
  if (ms === undefined) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`
}

const bytes = (n: number | undefined): string => (n === undefined ? '—' : Suggest.formatBytes(n))
const cost = (n: number | undefined): string => (n === undefined ? '—' : n < 0.01 && n > 0 ? n.toFixed(4) : n.toFixed(2))
const cpu = (s: number | undefined): string => (s === undefined ? '—' : formatDuration(s * 1000))
const short = (id: string): string => id.slice(0, 12)
const ms = (iso: string | undefined): number | undefined => (iso === undefined ? undefined : Date.parse(iso))

// -------------------------------------------------------------------------------------
// states
// -------------------------------------------------------------------------------------

const STATE_ORDER: ReadonlyArray<Model.CallState> = ['failed', 'running', 'cancelled', 'blocked', 'done']

/** a group shows the most pressing state of its calls */
const worst = (states: ReadonlyArray<Model.CallState>): Model.CallState => STATE_ORDER.find((s) => states.includes(s)) ?? 'blocked'

const stateSummary = (calls: ReadonlyArray<Model.CallRecord>): string => {
  const parts: Array<string> = []
  for (const s of [...STATE_ORDER].reverse()) {
    const n = calls.filter((c) => c.state === s).length
    if (n === 0) continue
    const reused = s === 'done' ? calls.filter((c) => c.state === 'done' && c.reused).length : 0
    parts.push(`${n} ${s}${reused > 0 ? ` (${reused} reused)` : ''}`)
  }
  return parts.join(', ')
}

/** past this many calls, the timeline and the table show a selection (a browser slows down) */
const MAX_LISTED = 5000

/** at most `max` of `calls`, in their order: failed first, then running, cancelled, blocked, done */
const listed = <A extends { readonly c: Model.CallRecord }>(calls: ReadonlyArray<A>, max: number): ReadonlyArray<A> => {
  if (calls.length <= max) return calls
  const rank = (c: Model.CallRecord): number => STATE_ORDER.indexOf(c.state)
  const keep = new Set(calls.map((x, i) => ({ i, r: rank(x.c) })).sort((a, b) => a.r - b.r || a.i - b.i).slice(0, max).map((x) => x.i))
  return calls.filter((_, i) => keep.has(i))
}

const leftOut = (n: number): string => (n > 0 ? ` ${n} more call(s) are left out: the report shows at most ${MAX_LISTED} (failed first).` : '')

// -------------------------------------------------------------------------------------
// sections
// -------------------------------------------------------------------------------------

const CHAR_WIDTH = 7
const NODE_MIN = 120

const graphSection = (run: Model.RunRecord, drawn: Labels.DrawnGraph, byId: ReadonlyMap<string, Model.CallRecord>): string => {
  if (drawn.nodes.length === 0) return '<section id="graph"><h2>Call graph</h2><p class="muted">No graph was recorded for this run.</p></section>'
  const widths = drawn.nodes.map((n) => ({ key: n.key, width: Math.max(NODE_MIN, Math.min(60, Math.max(n.label.length, 22)) * CHAR_WIDTH + 24) }))
  const layout = Layout.layered(widths, drawn.edges)
  const nodeOf = new Map(drawn.nodes.map((n) => [n.key, n]))
  const kindOf = new Map(drawn.edges.map((x) => [`${x.from}\0${x.to}`, x.kind]))
  const edges = layout.lines.map((l) => `<path class="edge ${kindOf.get(`${l.from}\0${l.to}`) === 'made' ? 'made' : 'input'}" d="${l.path}" marker-end="url(#arrow)"/>`)
  const boxes = layout.boxes.map((b) => {
    const n = nodeOf.get(b.key)!
    const calls = n.kind === 'calls' ? n.members.map((id) => byId.get(id)).filter((c): c is Model.CallRecord => c !== undefined) : []
    const state = n.kind === 'calls' ? worst(calls.map((c) => c.state)) : 'combine'
    const count = n.members.length
    const sub = n.kind === 'calls' ? `${count > 1 ? `× ${count} · ` : ''}${stateSummary(calls)}` : n.kind === 'output' ? 'the run’s result' : 'gathers its calls’ results'
    const title = n.kind === 'calls' ? `${n.label}\n${count} call(s): ${stateSummary(calls)}` : n.label
    const cx = b.x + b.width / 2
    return (
      `<g class="node ${n.kind} state-${state}" data-group="${e(b.key)}" data-count="${count}" tabindex="0">` +
      `<title>${e(title)}</title>` +
      // a group's stacked card is drawn behind it
      (count > 1 ? `<rect class="stack" x="${b.x + 4}" y="${b.y - 4}" width="${b.width}" height="${b.height}" rx="6"/>` : '') +
      `<rect x="${b.x}" y="${b.y}" width="${b.width}" height="${b.height}" rx="${n.kind === 'calls' ? 6 : 18}"/>` +
      `<text x="${cx}" y="${b.y + 16}" class="label">${e(n.label)}</text>` +
      `<text x="${cx}" y="${b.y + 31}" class="sub">${e(sub)}</text></g>`
    )
  })
  return (
    `<section id="graph"><h2>Call graph</h2><p class="muted">${drawn.nodes.length} node(s) for ${run.calls.length} call(s); fan-outs are grouped (× N). Solid arrows carry results; dashed arrows lead from a call to the calls its implementation made. Click a node to list its calls below.</p>` +
    `<div class="scroll"><svg id="graph-svg" xmlns="http://www.w3.org/2000/svg" width="${layout.width + 8}" height="${layout.height + 8}" viewBox="0 -4 ${layout.width + 8} ${layout.height + 8}">` +
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#78909c"/></marker></defs>' +
    `<g class="edges">${edges.join('')}</g>` +
    `<g class="nodes">${boxes.join('')}</g></svg></div></section>`
  )
}

const TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 43_200_000, 86_400_000]

const timelineSection = (run: Model.RunRecord): string => {
  const started = run.calls
    .map((c) => ({ c, start: ms(c.queuedAt ?? c.startedAt), run: ms(c.startedAt), end: ms(c.finishedAt) }))
    .filter((x): x is { c: Model.CallRecord; start: number; run: number; end: number | undefined } => x.start !== undefined && x.run !== undefined)
  const timed = [...listed(started, MAX_LISTED)].sort((a, b) => a.start - b.start || a.run - b.run)
  const untimed = run.calls.length - started.length
  if (timed.length === 0) return `<section id="timeline"><h2>Timeline</h2><p class="muted">No call started${untimed > 0 ? ` (${untimed} blocked)` : ''}.</p></section>`
  const t0 = timed.reduce((a, x) => Math.min(a, x.start), ms(run.startedAt) ?? Infinity)
  const lastSeen = timed.reduce((a, x) => Math.max(a, x.end ?? x.run), -Infinity)
  const t1 = Math.max(ms(run.finishedAt) ?? lastSeen, lastSeen, t0 + 1)
  const span = t1 - t0
  const labelW = 240
  const plotW = 900
  const rowH = timed.length <= 60 ? 16 : timed.length <= 400 ? 8 : Math.max(2, Math.floor(3200 / timed.length))
  const axisH = 22
  const height = axisH + timed.length * rowH + 6
  const x = (t: number): number => labelW + ((t - t0) / span) * plotW
  const step = TICKS.find((t) => span / t <= 10) ?? 86_400_000
  const ticks: Array<string> = []
  for (let t = 0; t <= span; t += step) {
    const tx = Math.round(x(t0 + t) * 10) / 10
    ticks.push(`<line class="tick" x1="${tx}" y1="${axisH - 4}" x2="${tx}" y2="${height}"/><text class="tick" x="${tx}" y="${axisH - 8}">${e(formatDuration(t))}</text>`)
  }
  const rows = timed.map(({ c, start, run: runAt, end }, i) => {
    const y = axisH + i * rowH
    const h = Math.max(1, rowH - (rowH > 4 ? 3 : 1))
    const endAt = end ?? t1
    const bx = x(runAt)
    const bw = Math.max(3, x(endAt) - bx)
    const queued = runAt > start ? `<rect class="queued" x="${x(start).toFixed(1)}" y="${y}" width="${(x(runAt) - x(start)).toFixed(1)}" height="${h}"/>` : ''
    const title = `${c.label} [${short(c.id)}]\n${c.state}${c.reused ? ' (reused)' : ''}${c.reuseReason === undefined ? '' : `: ${c.reuseReason}`}\nrunning ${formatDuration(c.durations.runningMs)}${c.durations.queuedMs === undefined ? '' : `, queued ${formatDuration(c.durations.queuedMs)}`}`
    const label = rowH >= 12 ? `<text class="rowlabel" x="${labelW - 6}" y="${y + h - 2}">${e(c.label.length > 34 ? `${c.label.slice(0, 33)}…` : c.label)}</text>` : ''
    return (
      `${label}${queued}<rect class="bar state-${c.state}${c.reused ? ' reused' : ''}" data-call="${e(c.id)}" data-state="${c.state}" data-reused="${c.reused}" x="${bx.toFixed(1)}" y="${y}" width="${bw.toFixed(1)}" height="${h}"><title>${e(title)}</title></rect>`
    )
  })
  return (
    `<section id="timeline"><h2>Timeline</h2><p class="muted">One bar per call that started, from its start to its end; the lighter part before a bar is time queued. Reused calls are hatched.${untimed > 0 ? ` ${untimed} call(s) never started and are not drawn.` : ''}${leftOut(started.length - timed.length)}</p>` +
    // scales to the page's width (the text with it): the whole run stays in view
    `<div class="scroll"><svg id="timeline-svg" xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 ${labelW + plotW + 20} ${height}" preserveAspectRatio="xMinYMin meet">` +
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#a5d6a7"/><line x1="0" y1="0" x2="0" y2="6" stroke="#2e7d32" stroke-width="3"/></pattern></defs>' +
    `${ticks.join('')}${rows.join('')}</svg></div></section>`
  )
}

const totalsSection = (run: Model.RunRecord): string => {
  const t = run.totals
  const card = (title: string, value: string, note = ''): string => `<div class="card"><div class="k">${e(title)}</div><div class="v">${e(value)}</div>${note === '' ? '' : `<div class="n">${e(note)}</div>`}</div>`
  const states = (['done', 'failed', 'blocked', 'running', 'cancelled'] as const).filter((s) => t[s] > 0).map((s) => `${t[s]} ${s}`).join(', ')
  return (
    '<section id="totals"><h2>Totals</h2><div class="cards">' +
    card('Wall time', formatDuration(t.wallMs)) +
    card('Calls', String(t.calls), states) +
    card('Ran / reused', `${t.ran} / ${t.reused}`, t.done === 0 ? '' : `${Math.round((t.reused / t.done) * 100)}% of done calls reused`) +
    card('Container time', formatDuration(t.containerMs), 'sum of the calls’ running time') +
    card('CPU time', cpu(t.cpuSeconds), t.cpuSeconds === undefined ? 'not measured' : 'user + system') +
    card('Cost', cost(t.cost), t.cost === undefined ? 'not reported' : 'sum of the calls’ cost') +
    '</div></section>'
  )
}

const suggestionsSection = (run: Model.RunRecord): string => {
  const list = Suggest.suggest(run.calls)
  const flagged = run.calls.filter((c) => Suggest.ramFlag(c) !== undefined).length
  const body =
    list.length === 0
      ? `<p class="muted">${run.calls.some((c) => c.used.peakRssBytes !== undefined) ? 'The measured memory and CPU fit what the works ask for.' : 'No memory or CPU measurements in this run.'}</p>`
      : `<ul>${list.map((s) => `<li class="suggestion" data-work="${e(s.work)}">Set <code>${e(s.setting)}</code> on work <b>${e(s.work)}</b>: ${e(s.reason)}.</li>`).join('')}</ul>`
  return `<section id="suggestions"><h2>Suggested settings</h2><p class="muted">Calls are flagged when their peak memory was under ${Suggest.LOW * 100}% or over ${Suggest.HIGH * 100}% of the RAM they asked for${flagged > 0 ? ` (${flagged} flagged)` : ''}.</p>${body}</section>`
}

const tableSection = (run: Model.RunRecord, groupOf: ReadonlyMap<string, string>): string => {
  const shown = listed(run.calls.map((c, i) => ({ c, i })), MAX_LISTED)
  const rows = shown.map(({ c, i }) => {
    const flag = Suggest.ramFlag(c)
    const share = Suggest.ramShare(c)
    const used = c.used.peakRssBytes === undefined ? '—' : `${bytes(c.used.peakRssBytes)}${share === undefined ? '' : ` (${Math.round(share * 100)}%)`}`
    const log = c.logTail.length === 0 ? '' : `<details><summary>${c.logTail.length} line(s)</summary><pre>${e(c.logTail.join('\n'))}</pre></details>`
    return (
      `<tr class="call state-${c.state}" data-call="${e(c.id)}" data-group="${e(groupOf.get(c.id) ?? '')}">` +
      `<td class="num">${i + 1}</td>` +
      `<td><b>${e(c.work)}</b><div class="muted small">${e(c.label)} · <code>${e(short(c.id))}</code></div></td>` +
      `<td><span class="badge state-${c.state}">${c.state}</span>${c.reused ? ' <span class="badge reused">reused</span>' : ''}${c.attempts > 1 ? ` <span class="small">${c.attempts} attempts</span>` : ''}</td>` +
      `<td class="small">${e(c.reuseReason ?? '')}</td>` +
      `<td class="num">${e(formatDuration(c.durations.queuedMs))}</td>` +
      `<td class="num">${e(formatDuration(c.durations.runningMs))}</td>` +
      `<td class="num">${e(bytes(c.requested.ramBytes))}</td>` +
      `<td class="num${flag === undefined ? '' : ` flag-${flag}`}"${flag === undefined ? '' : ` data-flag="${flag}" title="${flag === 'low' ? 'used under a quarter of the RAM asked' : 'used over nine tenths of the RAM asked'}"`}>${e(used)}</td>` +
      `<td class="num">${c.requested.vcpus === undefined ? '—' : c.requested.vcpus}</td>` +
      `<td class="num">${e(cpu(c.used.cpuSeconds))}</td>` +
      `<td class="num">${e(cost(c.cost))}</td>` +
      `<td class="small">${e(c.instanceType ?? '')}</td>` +
      `<td class="log">${c.error === undefined ? '' : `<div class="error">${e(c.error)}</div>`}${log}</td></tr>`
    )
  })
  return (
    `<section id="calls"><h2>Calls</h2>${shown.length < run.calls.length ? `<p class="muted">${leftOut(run.calls.length - shown.length)}</p>` : ''}<p class="muted" id="filter-note">All calls. <button type="button" id="show-all" hidden>Show all</button></p><div class="scroll"><table><thead><tr>` +
    ['#', 'Work', 'State', 'Reuse', 'Queued', 'Running', 'RAM asked', 'RAM peak', 'vCPUs', 'CPU time', 'Cost', 'Instance', 'Error / log'].map((h) => `<th>${h}</th>`).join('') +
    `</tr></thead><tbody>${rows.join('')}</tbody></table></div></section>`
  )
}

const STYLE = `
:root{--done:#2e7d32;--failed:#c62828;--running:#1565c0;--blocked:#9e9e9e;--cancelled:#ef6c00;--ink:#263238;--muted:#607d8b}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0;padding:20px 28px;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #cfd8dc;padding-bottom:4px}
.muted{color:var(--muted)}.small{font-size:12px}.scroll{overflow:auto;max-width:100%;background:#fff;border:1px solid #e0e0e0;border-radius:6px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(120px,1fr));gap:10px}.card{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px 12px}
.card .k{font-size:12px;color:var(--muted)}.card .v{font-size:20px;font-weight:600}.card .n{font-size:11px;color:var(--muted)}
.outcome{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;vertical-align:middle}
.outcome.succeeded{background:var(--done)}.outcome.failed{background:var(--failed)}.outcome.cancelled{background:var(--cancelled)}.outcome.running{background:var(--running)}
pre.params{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px;max-height:160px;overflow:auto;font-size:12px}
.node rect{fill:#fff;stroke-width:2}.node .stack{fill:#eceff1;stroke:#b0bec5;stroke-width:1}.node text{text-anchor:middle;font-size:12px;fill:var(--ink)}.node text.sub{font-size:10.5px;fill:var(--muted)}
.node{cursor:pointer}.node.state-done rect{stroke:var(--done)}.node.state-failed rect{stroke:var(--failed);fill:#ffebee}.node.state-running rect{stroke:var(--running)}
.node.state-blocked rect{stroke:var(--blocked);stroke-dasharray:4 3}.node.state-cancelled rect{stroke:var(--cancelled)}.node.combine rect,.node.output rect{stroke:#78909c;fill:#eceff1}
.node.selected rect{stroke-width:4}.edge{fill:none;stroke:#90a4ae;stroke-width:1.4}.edge.made{stroke-dasharray:5 4}
.bar.state-done{fill:var(--done)}.bar.state-failed{fill:var(--failed)}.bar.state-running{fill:var(--running)}.bar.state-cancelled{fill:var(--cancelled)}.bar.state-blocked{fill:var(--blocked)}
.bar.reused{fill:url(#hatch)}.queued{fill:#cfd8dc}line.tick{stroke:#eceff1}text.tick{font-size:10px;fill:var(--muted);text-anchor:middle}text.rowlabel{font-size:11px;text-anchor:end;fill:var(--ink)}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #eceff1;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f5f5f5;position:sticky;top:0}
td.num{text-align:right;white-space:nowrap}.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:11px;color:#fff}.badge.reused{background:#81c784}
.badge.state-done{background:var(--done)}.badge.state-failed{background:var(--failed)}.badge.state-running{background:var(--running)}.badge.state-blocked{background:var(--blocked)}.badge.state-cancelled{background:var(--cancelled)}
.flag-low{background:#fff8e1}.flag-high{background:#ffebee;font-weight:600}.error{color:var(--failed);white-space:pre-wrap}td.log pre{margin:4px 0;max-width:560px;max-height:200px;overflow:auto;font-size:11px;background:#f5f5f5;padding:4px}
tr.hidden{display:none}.suggestion code{background:#e8f5e9;padding:1px 4px;border-radius:3px}
`

/** clicking a graph node lists only its calls; no data from the run is in the script */
const SCRIPT = `
(function(){
  var rows=document.querySelectorAll('tr.call'),note=document.getElementById('filter-note'),all=document.getElementById('show-all');
  function show(group,label){
    document.querySelectorAll('.node.selected').forEach(function(n){n.classList.remove('selected')});
    var n=0;rows.forEach(function(r){var on=group===null||r.getAttribute('data-group')===group;r.classList.toggle('hidden',!on);if(on)n++});
    note.firstChild.textContent=group===null?'All calls. ':n+' call(s) of '+label+'. ';all.hidden=group===null;
  }
  document.querySelectorAll('.node').forEach(function(g){
    g.addEventListener('click',function(){show(g.getAttribute('data-group'),g.querySelector('text.label').textContent);g.classList.add('selected');document.getElementById('calls').scrollIntoView()});
  });
  all.addEventListener('click',function(){show(null,'')});
})();
`

// -------------------------------------------------------------------------------------
// render
// -------------------------------------------------------------------------------------

/**
 * The report of a run as one self-contained HTML document.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const render = (run: Model.RunRecord): string => {
  const byId = new Map(run.calls.map((c) => [c.id, c]))
  const groupOf = new Map<string, string>()
  const drawn = Labels.group(run.graph)
  for (const n of drawn.nodes) if (n.kind === 'calls') for (const m of n.members) groupOf.set(m, n.key)
  const outcome = run.outcome ?? (run.finishedAt === undefined ? 'running' : run.totals.failed > 0 ? 'failed' : 'succeeded')
  const params = JSON.stringify(run.params, null, 2) ?? 'null'
  const when = run.startedAt === undefined ? '' : `started ${run.startedAt}${run.finishedAt === undefined ? '' : `, finished ${run.finishedAt}`}`
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${e(`Run of ${run.module}`)}</title><style>${STYLE}</style></head><body>` +
    `<header><h1>Run of <code>${e(run.module)}</code> <span class="outcome ${outcome}">${outcome}</span></h1>` +
    `<div class="muted">${e(when)}</div>` +
    (run.error === undefined ? '' : `<div class="error">${e(run.error)}</div>`) +
    `<details><summary>Parameters</summary><pre class="params">${e(params.length > 4000 ? `${params.slice(0, 4000)}\n…` : params)}</pre></details>` +
    (run.logTail.length === 0 ? '' : `<details><summary>Run log</summary><pre class="params">${e(run.logTail.join('\n'))}</pre></details>`) +
    '</header>' +
    totalsSection(run) +
    suggestionsSection(run) +
    graphSection(run, drawn, byId) +
    timelineSection(run) +
    tableSection(run, groupOf) +
    `<script>${SCRIPT}</script></body></html>\n`
  )
}
