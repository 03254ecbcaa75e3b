/**
 * Case/control input, as the draft asked for: tumor/normal pairs. The input collection holds
 * one directory per pair with `tumor.txt` and `normal.txt` (one variant per line). Per pair,
 * `compare` runs two ordinary command-line tools with `ctx.exec`: `grep -vxFf normal tumor`
 * (the tumor's lines that are not in the normal: the somatic variants; grep exits 1 when there
 * are none, which is an answer here) and `sort -u` on its output. Then one `summarize` gathers
 * the pairs and the variants found in more than one of them.
 *
 *   npx crunch run samples/case-control.ts --input samples/data/case-control
 */
import * as Path from 'node:path'
import * as t from 'io-ts'
import { CollectionCodec, defineModule, FileCodec, files, runMain, work } from 'arvados-crunch'

const Comparison = t.type({ pair: t.string, somatic: t.array(t.string) })

export const compare = work({ args: [t.string, FileCodec, FileCodec], returns: Comparison }, async (pair, tumor, normal, ctx) => {
  const onlyInTumor = await ctx.exec('grep', ['-v', '-x', '-F', '-f', await ctx.path(normal), '--', await ctx.path(tumor)], { okCodes: [0, 1] })
  const sorted = await ctx.exec('sort', ['-u'], { stdin: onlyInTumor.stdout, env: { LC_ALL: 'C' } })
  return { pair, somatic: sorted.stdout.split('\n').filter((l) => l !== '') }
})

export const summarize = work(
  { args: [t.array(Comparison)], returns: t.type({ somaticPerPair: t.record(t.string, t.number), recurrent: t.record(t.string, t.array(t.string)) }) },
  (comparisons) => {
    const pairsOf = new Map<string, Array<string>>()
    for (const c of comparisons) for (const v of c.somatic) pairsOf.set(v, [...(pairsOf.get(v) ?? []), c.pair])
    return {
      somaticPerPair: Object.fromEntries(comparisons.map((c) => [c.pair, c.somatic.length])),
      recurrent: Object.fromEntries([...pairsOf].filter(([, pairs]) => pairs.length > 1).sort(([a], [b]) => (a < b ? -1 : 1))),
    }
  },
)

export const CaseControl = defineModule({
  name: 'case-control',
  params: t.type({ input: CollectionCodec }),
  work: { compare, summarize },
  run: ({ input }, { work: w }) => {
    // pair the files by directory: <pair>/tumor.txt with <pair>/normal.txt
    const byPair = new Map<string, { tumor?: (typeof all)[number]; normal?: (typeof all)[number] }>()
    const all = files(input)
    for (const f of all) {
      const role = Path.basename(f.path, '.txt')
      if (role !== 'tumor' && role !== 'normal') continue
      const pair = Path.dirname(f.path)
      byPair.set(pair, { ...byPair.get(pair), [role]: f })
    }
    const comparisons = [...byPair].map(([pair, { tumor, normal }]) => {
      if (tumor === undefined || normal === undefined) throw new Error(`pair ${pair} has no ${tumor === undefined ? 'tumor' : 'normal'}.txt`)
      return w.compare(pair, tumor, normal)
    })
    return w.summarize(comparisons)
  },
})

runMain(CaseControl, import.meta.url)
