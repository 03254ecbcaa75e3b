/**
 * The draft's #3603 example: one tool run per input line. Each line is `fastj_id,human_id`,
 * where `fastj_id` names a collection of fastj files; `runRuler` runs the tool on that
 * collection's mount path and the reference library's, in a directory that becomes its output
 * collection; the run returns the per-line collections, concatenated.
 *
 * The draft ran `tileruler`. samples/tools/tileruler is a small stand-in for it (a POSIX shell
 * script that takes tileruler's arguments and writes one `<human>.abv` table); pass the real
 * tool's name with `--tool tileruler` where it is installed (on Arvados: in the image).
 *
 *   npx crunch run samples/example3603.ts --params samples/data/3603/params.json   (from the repository root)
 */
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { CollectionCodec, defineModule, isCollection, runMain, work, type Collection } from 'arvados-crunch'

/** a `fastj_id,human_id` line, read into the collection it names and the human id */
export interface Line {
  readonly fastj: Collection
  readonly human: string
}

export const LineCodec = new t.Type<Line, string, unknown>(
  'FastjLine',
  (u): u is Line => typeof u === 'object' && u !== null && isCollection((u as Line).fastj) && typeof (u as Line).human === 'string',
  (u, c) => {
    const parts = typeof u === 'string' ? u.trim().split(',') : []
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return t.failure(u, c, 'expected a "fastj_id,human_id" line')
    const fastj = CollectionCodec.validate(parts[0], c)
    return E.isLeft(fastj) ? fastj : t.success({ fastj: fastj.right, human: parts[1]! })
  },
  (line) => `${CollectionCodec.encode(line.fastj)},${line.human}`,
)

export const runRuler = work({ args: [t.string, CollectionCodec, LineCodec], returns: CollectionCodec, ram: '1GiB' }, async (tool, library, { fastj, human }, ctx) => {
  // tileruler writes its results into its working directory: make that the output
  const out = await ctx.output.directory()
  const args = ['--crunch', '--noterm', 'abv', '-human', human, '-fastj-path', await ctx.path(fastj), '-lib-path', await ctx.path(library)]
  await ctx.exec(tool, args, { cwd: out })
  return ctx.output.fromDirectory(out)
})

export const Example3603 = defineModule({
  name: 'example-3603',
  params: t.type({ lines: t.array(LineCodec), library: CollectionCodec, tool: t.string }),
  work: { runRuler },
  returns: CollectionCodec, // one collection per line, concatenated
  // a tool given as a path (not a name on PATH) is made absolute: the work runs it from its output directory
  run: ({ lines, library, tool }, { work: w }) => lines.map((line) => w.runRuler(tool.includes('/') ? Path.resolve(tool) : tool, library, line)),
})

runMain(Example3603, import.meta.url)
