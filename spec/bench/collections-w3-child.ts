/**
 * Child program of the W3 benchmark (spec/bench/collections-w3.ts): runs W3 of the peer
 * benchmarks `runs` times in this process with the SDK of the checkout `root` (this one, or
 * another one to compare with, e.g. a worktree of an older commit), and prints one JSON line per
 * run: wall and CPU seconds (all threads), and the CPU of the main thread (from
 * /proc/self/task/<pid>/schedstat, where there is one) and of the other threads (the rest). Run 0 is the first of the process (block
 * workers start, code warms up).
 *
 * W3: 200 calls, each returning `ctx.output.fromFiles({ 'part-<i>.bin': 1 MiB })` (one buffer
 * per byte value, made once: the benchmark measures the SDK, not allocation), the run returning
 * the list declared as one `CollectionCodec` (concatenated without copying), through
 * `Local.make({ cacheDir })` (default concurrency) into a fresh cache directory, removed after
 * the run (not timed).
 *
 * Usage: node --import tsx spec/bench/collections-w3-child.ts <root> <runs> [n] [bytes per output, default 1 MiB]
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import type * as CodecModule from '../../lib/collections/codec.js'
import type * as LocalModule from '../../lib/dispatchers/local.js'
import type * as ModuleModule from '../../lib/module.js'

const [rootArg, runsArg, nArg, bytesArg] = process.argv.slice(2)
const root = Path.resolve(rootArg ?? '.')
const runs = Number(runsArg ?? 3)
const n = Number(nArg ?? 200)
const SIZE = Number(bytesArg ?? 1 << 20)

const load = <A>(file: string): Promise<A> => import(Url.pathToFileURL(Path.join(root, file)).href) as Promise<A>
const { CollectionCodec } = await load<typeof CodecModule>('lib/collections/codec.ts')
const Local = await load<typeof LocalModule>('lib/dispatchers/local.ts')
const { defineModule, work } = await load<typeof ModuleModule>('lib/module.ts')

const parts = new Map<number, Buffer>()
const writeMib = work({ args: [t.number], returns: CollectionCodec }, (i, ctx) => {
  let b = parts.get(i % 256)
  if (b === undefined) parts.set(i % 256, (b = Buffer.alloc(SIZE, i % 256)))
  return ctx.output.fromFiles({ [`part-${String(i).padStart(5, '0')}.bin`]: b })
})
const W3 = defineModule({
  name: 'bench-w3',
  params: t.type({ n: t.number }),
  work: { writeMib },
  returns: CollectionCodec,
  run: ({ n: count }, { work: w }) => Array.from({ length: count }, (_, i) => w.writeMib(i)),
})

/** CPU ns of the main thread (undefined where /proc has no schedstat) */
const mainCpu = (): number | undefined => {
  try {
    return Number(Fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0])
  } catch {
    return undefined
  }
}

for (let run = 0; run < runs; run++) {
  const cacheDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-bench-w3-'))
  try {
    const before = mainCpu()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    const r = await Local.make({ cacheDir }).run(W3, { n }, { reuse: false })()
    const wall = (performance.now() - t0) / 1000
    const c = process.cpuUsage(c0)
    const after = mainCpu()
    if (E.isLeft(r)) throw new Error(r.left.message)
    const out = r.right.value as { readonly files: ReadonlyArray<{ readonly size: number }> }
    const size = out.files.reduce((s, f) => s + f.size, 0)
    if (size !== n * SIZE) throw new Error(`unexpected output: ${size} bytes`)
    // the other threads' CPU is the rest (block workers stop with the run's store)
    const cpu = (c.user + c.system) / 1e6
    const main = before === undefined || after === undefined ? undefined : (after - before) / 1e9
    const others = main === undefined ? undefined : cpu - main
    process.stdout.write(`${JSON.stringify({ run, wall_s: wall, cpu_s: cpu, main_cpu_s: main, other_cpu_s: others })}\n`)
  } finally {
    Fs.rmSync(cacheDir, { recursive: true, force: true })
  }
}
