/**
 * The run report: records folded from timestamped events (`fromEvents`), rendered as one
 * self-contained HTML file (`render`).
 *
 * ```ts
 * import * as Report from './report/index.js'
 * const events: Array<Report.TimedEvent> = []
 * // onEvent: (e) => events.push({ ...e, at: new Date().toISOString() })
 * const run = Report.fromEvents({ module: M.name, params, events, graph: result.graph, requested: Report.requestedOf(M), outcome: 'succeeded' })
 * Fs.writeFileSync('run.html', Report.render(run))
 * ```
 *
 * @since 0.1.0
 */
export { render } from './html.js'
export { foldCalls, fromEvents, totalsOf, LOG_TAIL_LINES } from './model.js'
export type { CallRecord, CallState, Durations, FoldOptions, Requested, RunInput, RunRecord, TimedEvent, Totals, Used } from './model.js'
export { requestedOf } from './model.js'
export { suggest } from './suggest.js'
export type { Suggestion } from './suggest.js'
export { parse as parseCrunchstat, parseNodeJson } from './crunchstat.js'
