/**
 * docs/from-the-draft.md — the draft's "simple linear Crunch job", in this API: run() calls
 * workMethod1, passes its future to workMethod2, and returns a list holding workMethod2's future.
 *
 *   crunch run samples/docs/draft.ts --arg1 2 --arg2 3 --arg3 4
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

export const workMethod1 = work({ args: [t.number, t.number], returns: t.number }, (a, b) => a + b)
export const workMethod2 = work({ args: [t.number, t.number], returns: t.string }, (x, c) => `${x} × ${c} = ${x * c}`)

export const CrunchExample = defineModule({
  name: 'crunch-example',
  params: t.type({ arg1: t.number, arg2: t.number, arg3: t.number }),
  work: { workMethod1, workMethod2 },
  run: ({ arg1, arg2, arg3 }, { work: w }) => {
    const output1 = w.workMethod1(arg1, arg2) // S1: its inputs are concrete
    return [w.workMethod2(output1, arg3)] // S2: waits on output1; the returned list is an S3 combine
  },
})

runMain(CrunchExample, import.meta.url)
