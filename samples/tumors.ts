/**
 * The design's example pipeline, over collections. The input is a collection (a portable data
 * hash, or a local directory that is stored first); `classify` runs once per file, spawning
 * `grep` on the file's path on disk (arguments as an array, no shell), and returns a collection
 * with the matching lines, or null; `analyze` gathers the counts; `tumorLines` concatenates the
 * per-file collections (a list of futures of collections where a collection is declared).
 *
 *   npx crunch run samples/tumors.ts --input samples/data/reads
 */
import * as ChildProcess from 'node:child_process'
import * as t from 'io-ts'
import { CollectionCodec, defineModule, FileCodec, files, readText, runMain, work } from 'arvados-crunch'

/** runs a command with its arguments as an array; resolves with stdout and the exit code */
const run = (command: string, args: ReadonlyArray<string>, signal: AbortSignal): Promise<{ code: number | null; stdout: string }> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], signal })
    let stdout = ''
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout }))
  })

const MaybeCollection = t.union([CollectionCodec, t.null])

export const classify = work({ args: [FileCodec], returns: MaybeCollection, ram: '256MiB' }, async (file, ctx) => {
  // grep exits 1 when nothing matches: that is an answer here, not a failure
  const { code, stdout } = await run('grep', ['--', 'tumor', await ctx.path(file)], ctx.signal)
  if (code === 1) return null
  if (code !== 0) throw new Error(`grep failed on ${file.path} with exit code ${code}`)
  return ctx.output.fromFiles({ [`${file.path}.tumor.txt`]: stdout })
})

export const analyze = work({ args: [t.array(MaybeCollection)], returns: t.record(t.string, t.number) }, async (results) => {
  const counts: Record<string, number> = {}
  for (const c of results) {
    if (c === null) continue
    for (const f of files(c)) counts[f.path.replace(/\.tumor\.txt$/, '')] = (await readText(f)).split('\n').filter((l) => l !== '').length
  }
  return counts
})

/** returning the list where a collection is declared means: concatenate them, in order */
export const tumorLines = work({ args: [t.array(MaybeCollection)], returns: CollectionCodec }, (results) => results)

export const Tumors = defineModule({
  name: 'tumor-analysis',
  params: t.type({ input: CollectionCodec }),
  work: { classify, analyze, tumorLines },
  run: ({ input }, { work: w }) => {
    const results = files(input).map((f) => w.classify(f))
    return { counts: w.analyze(results), lines: w.tumorLines(results) }
  },
})

runMain(Tumors, import.meta.url)
