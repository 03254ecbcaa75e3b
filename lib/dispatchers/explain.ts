/**
 * `crunch explain`: for every call `run` makes, whether a run now would reuse it and why, without
 * running anything. Locally the answer comes from the result cache and the call sites' book.
 * Calls made by a work (continuations) are decided when that work runs: they are listed under
 * their parent when the parent's result is reused.
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as Errors from '../errors.js'
import * as Graph from '../graph.js'
import type * as Module from '../module.js'
import * as Interpret from './interpret.js'
import type * as ResultCache from './result-cache.js'
import * as ReuseReason from './reuse-reason.js'
import type * as SiteBook from './site-book.js'

/**
 * One call's decision.
 *
 * @category models
 * @since 0.2.0
 */
export interface Explained {
  readonly id: string
  readonly work: string
  readonly site: string
  readonly decision: ReuseReason.Decision
}

/**
 * The decisions for the calls of `run`, in the order they are made.
 *
 * @category interpreters
 * @since 0.2.0
 */
export const explain = async (
  module: Module.AnyModule,
  params: unknown,
  where: { readonly cache: ResultCache.ResultCache; readonly sites: SiteBook.SiteBook; readonly reuse: boolean },
): Promise<E.Either<Errors.SdkError, ReadonlyArray<Explained>>> => {
  const graph = await Interpret.evaluate(module, params)
  if (E.isLeft(graph)) return graph
  const names = ReuseReason.siteNamer()
  const out: Array<Explained> = []
  for (const node of graph.right.nodes) {
    if (node._tag !== 'Call') continue
    const site = names.name(node)
    const def = (module.work as Readonly<Record<string, Module.AnyWork>>)[node.work]!
    const decision: ReuseReason.Decision = !where.reuse
      ? { reused: false, reason: 'reuse-off' }
      : def.spec.reuse === false
        ? { reused: false, reason: 'work-reuse-false' }
        : where.cache.get(node.id) !== undefined
          ? { reused: true, reason: 'cache-hit' }
          : ReuseReason.explainMiss(where.sites.get(site), ReuseReason.recordOf(node as Graph.CallNode, Graph.codeHashOf(def, node.work, module.identity), false))
    out.push({ id: node.id, work: node.work, site, decision })
  }
  return E.right(out)
}

/**
 * The decisions as text, one line per call.
 *
 * @category destructors
 * @since 0.2.0
 */
export const render = (explained: ReadonlyArray<Explained>): string => {
  const reused = explained.filter((x) => x.decision.reused).length
  const lines = explained.map((x) => `${x.decision.reused ? '↺' : '▶'} ${x.site}  [${x.id.slice(0, 12)}]  ${ReuseReason.describe(x.decision)}`)
  return `${lines.join('\n')}\n${explained.length} call(s) of run: ${reused} would be reused, ${explained.length - reused} would run\n`
}
