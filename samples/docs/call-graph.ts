/**
 * docs/concepts/call-graph.md — fan-out, a gather, a dropped future that still runs, the same
 * call made twice (one node), and a work that calls work (a continuation).
 *
 *   node lib/bin.js run samples/docs/call-graph.ts --words a --words bb --print-graph mermaid
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

const measure = work({ args: [t.string], returns: t.number }, (s) => s.length)
const total = work({ args: [t.array(t.number)], returns: t.number }, (ns) => ns.reduce((a, b) => a + b, 0))
/** a side effect only: nobody uses its future */
const audit = work({ args: [t.array(t.string)], returns: t.null }, (words, ctx) => {
  ctx.log(`audited ${words.length} words`)
  return null
})
/** a work that calls work: it returns a future, so its output is a continuation */
const totalLength = work({ args: [t.array(t.string)], returns: t.number }, (words, ctx) => ctx.call(total, words.map((w) => ctx.call(measure, w))))

export const CallGraph = defineModule({
  name: 'call-graph',
  params: t.type({ words: t.array(t.string) }),
  work: { measure, total, audit, totalLength },
  run: ({ words }, { work: w }) => {
    w.audit(words) // dropped: it runs anyway
    const lengths = words.map((word) => w.measure(word)) // fan-out
    const again = w.measure(words[0] ?? '') // same call as lengths[0]: same id, one node
    return { total: w.total(lengths), first: again, viaContinuation: w.totalLength(words) }
  },
})

runMain(CallGraph, import.meta.url)
