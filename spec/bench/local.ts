/**
 * Benchmark of the local dispatcher (`npm run bench:local`, i.e.
 * `node --expose-gc --import tsx spec/bench/local.ts`; not part of `npm test`).
 *
 * Workloads, all with the trivial work `inc(i) = i + 1`, on `Local.make()` (default
 * concurrency = CPU count):
 * - fan-out: N independent `inc(i)` calls plus one gather `sum` of all of them, N = 1,000 /
 *   10,000 / 100,000 (N + 1 calls);
 * - chain: 1,000 dependent calls `inc(inc(…inc(0)))`.
 *
 * Time. Each SDK run is paired with a baseline measured in the same process and the same round:
 * a plain `Promise.all` over the same implementation functions (fan-out; then the `sum`), or a
 * plain sequential `await` loop (chain). After a warm-up, each pair is repeated (`--reps`,
 * default 3) and best and median are printed. Overhead per call = (SDK time − baseline time) /
 * calls, from the medians and from the bests. Every run starts after a forced gc. Each run is
 * timed twice: wall clock, and the process's CPU time (user + system of all its threads: the
 * JIT compiler's and the garbage collector's helper threads count too, so it is above the wall
 * clock even on an idle machine, by far at small N where compiling dominates). On a machine
 * shared with other jobs the wall clock also counts the time this process waits for a core,
 * and CPU time does not: it is the steadier figure under load, and an upper bound of the work.
 *
 * Memory. Each workload is measured in a fresh child process (so earlier runs do not pre-grow
 * the heap or the RSS): a forced gc, then the run with an `onEvent` hook that samples
 * `process.memoryUsage()` every 256 events; when the last fan-out call completes (the fullest
 * point: every node, future, state and result is alive, the gather has not run) it forces a gc
 * and samples the live heap. Per node = (figure − the figure after the gc before the run) /
 * calls. "peak heap+ext" is the largest sampled heapUsed + external (it includes garbage not
 * yet collected, so it depends on GC timing: an upper bound); "live" is heapUsed + external
 * right after the forced gc at the fullest point; "RSS" is the largest sampled RSS growth.
 * The baseline's memory is the growth of heapUsed + external while all N `Promise.all`
 * promises are pending (measured without a gc, and after one).
 *
 * Result cache rows: the same run with `cacheDir` in a fresh temporary directory per run
 * (every result is journaled), and a re-run over a filled cache (every call reused).
 *
 * Options: `--quick` (N up to 10,000 only), `--reps K`, `--no-memory`.
 */
import * as ChildProcess from 'node:child_process'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as Url from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import type * as Dispatcher from '../../lib/dispatcher.js'
import * as Local from '../../lib/dispatchers/local.js'
import type * as Future from '../../lib/future.js'
import { defineModule, work } from '../../lib/module.js'

// -------------------------------------------------------------------------------------
// workloads
// -------------------------------------------------------------------------------------

const inc = work({ args: [t.number], returns: t.number }, (x) => x + 1)
const sum = work({ args: [t.array(t.number)], returns: t.number }, (xs) => xs.reduce((a, b) => a + b, 0))

const FanOut = defineModule({
  name: 'bench-fanout',
  params: t.type({ n: t.number }),
  work: { inc, sum },
  returns: t.number,
  run: ({ n }, { work: w }) => w.sum(Array.from({ length: n }, (_, i) => w.inc(i))),
})

const Chain = defineModule({
  name: 'bench-chain',
  params: t.type({ n: t.number }),
  work: { inc },
  returns: t.number,
  run: ({ n }, { work: w }) => {
    let x: Future.Future<number> = w.inc(0)
    for (let i = 1; i < n; i++) x = w.inc(x)
    return x
  },
})

type Shape = 'fanout' | 'chain'

const expected = (shape: Shape, n: number): number => (shape === 'fanout' ? (n * (n + 1)) / 2 : n)
const callsOf = (shape: Shape, n: number): number => (shape === 'fanout' ? n + 1 : n)

// the same implementation functions, called without the SDK
const incFn = inc.implementation as unknown as (x: number) => number
const sumFn = sum.implementation as unknown as (xs: ReadonlyArray<number>) => number
const callAsync = async <A, B>(f: (a: A) => B, a: A): Promise<B> => f(a)

const baseline = async (shape: Shape, n: number): Promise<number> => {
  if (shape === 'fanout') {
    const r = await Promise.all(Array.from({ length: n }, (_, i) => callAsync(incFn, i)))
    return callAsync(sumFn, r)
  }
  let x = 0
  for (let i = 0; i < n; i++) x = await callAsync(incFn, x)
  return x
}

const sdk = async (shape: Shape, n: number, dispatcher: Dispatcher.Dispatcher, options: Dispatcher.RunOptions = {}): Promise<Dispatcher.RunResult<number>> => {
  const r = await dispatcher.run(shape === 'fanout' ? FanOut : Chain, { n }, options)()
  if (E.isLeft(r)) throw new Error(`the ${shape} run failed: ${r.left.message}`)
  if (r.right.value !== expected(shape, n)) throw new Error(`the ${shape} run returned ${String(r.right.value)}, expected ${expected(shape, n)}`)
  return r.right
}

// -------------------------------------------------------------------------------------
// measurement helpers
// -------------------------------------------------------------------------------------

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g === undefined) throw new Error('run with node --expose-gc (npm run bench:local)')
  g()
  g()
}

interface Timing {
  /** wall clock, ms */
  readonly wall: number
  /** process CPU time (user + system), ms */
  readonly cpu: number
}

const timed = async (f: () => Promise<unknown>): Promise<Timing> => {
  gc()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await f()
  const wall = performance.now() - t0
  const c = process.cpuUsage(c0)
  return { wall, cpu: (c.user + c.system) / 1000 }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const best = (xs: ReadonlyArray<number>): number => Math.min(...xs)

const tempDir = (): string => Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-bench-'))
const removeDir = (dir: string): void => Fs.rmSync(dir, { recursive: true, force: true })

const fmt = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '—')
const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1))

// -------------------------------------------------------------------------------------
// time
// -------------------------------------------------------------------------------------

type Mode = 'no-cache' | 'cache' | 'reused'

interface TimeRow {
  readonly shape: Shape
  readonly n: number
  readonly mode: Mode
  readonly calls: number
  /** wall clock, ms */
  readonly sdk: ReadonlyArray<number>
  readonly base: ReadonlyArray<number>
  /** process CPU time, ms */
  readonly sdkCpu: ReadonlyArray<number>
  readonly baseCpu: ReadonlyArray<number>
}

const oneSdkRun = async (shape: Shape, n: number, mode: Mode, filledCache: string | undefined): Promise<Timing> => {
  if (mode === 'no-cache') return timed(() => sdk(shape, n, Local.make()))
  if (mode === 'reused') return timed(() => sdk(shape, n, Local.make({ cacheDir: filledCache! })))
  const dir = tempDir()
  try {
    return await timed(() => sdk(shape, n, Local.make({ cacheDir: dir })))
  } finally {
    removeDir(dir)
  }
}

const measureTime = async (shape: Shape, n: number, mode: Mode, reps: number): Promise<TimeRow> => {
  let filled: string | undefined
  if (mode === 'reused') {
    filled = tempDir()
    await sdk(shape, n, Local.make({ cacheDir: filled }))
  }
  try {
    // warm-up at this size (JIT, inline caches, heap growth), not measured
    await oneSdkRun(shape, n, mode, filled)
    await baseline(shape, n)
    const sdkTimes: Array<Timing> = []
    const baseTimes: Array<Timing> = []
    for (let r = 0; r < reps; r++) {
      baseTimes.push(await timed(() => baseline(shape, n)))
      sdkTimes.push(await oneSdkRun(shape, n, mode, filled))
    }
    return {
      shape,
      n,
      mode,
      calls: callsOf(shape, n),
      sdk: sdkTimes.map((x) => x.wall),
      base: baseTimes.map((x) => x.wall),
      sdkCpu: sdkTimes.map((x) => x.cpu),
      baseCpu: baseTimes.map((x) => x.cpu),
    }
  } finally {
    if (filled !== undefined) removeDir(filled)
  }
}

const overheadUs = (sdkMs: number, baseMs: number, calls: number): number => ((sdkMs - baseMs) * 1000) / calls

// -------------------------------------------------------------------------------------
// memory (in a child process per workload)
// -------------------------------------------------------------------------------------

interface MemoryFigures {
  readonly shape: Shape
  readonly n: number
  readonly who: 'sdk' | 'baseline'
  readonly calls: number
  /** bytes per node */
  readonly peakHeap: number
  readonly live: number
  readonly rss: number
  /** bytes per node still held after the run, while the RunResult (with its graph) is kept */
  readonly retained: number
}

const heapOf = (m: NodeJS.MemoryUsage): number => m.heapUsed + m.external

const memoryChild = async (shape: Shape, n: number, who: 'sdk' | 'baseline'): Promise<MemoryFigures> => {
  const calls = callsOf(shape, n)
  // warm the code at a small size so compilation is not counted
  if (who === 'sdk') await sdk(shape, 100, Local.make())
  else await baseline(shape, 100)
  gc()
  const before = process.memoryUsage()
  let peakHeap = heapOf(before)
  let peakRss = before.rss
  let live = Number.NaN
  const sample = (): void => {
    const m = process.memoryUsage()
    peakHeap = Math.max(peakHeap, heapOf(m))
    peakRss = Math.max(peakRss, m.rss)
  }
  let retained = Number.NaN
  if (who === 'sdk') {
    let events = 0
    let done = 0
    const fullest = shape === 'fanout' ? n : n - 1
    const onEvent = (e: Dispatcher.Event): void => {
      if ((++events & 255) === 0) sample()
      if (e.type === 'done' && ++done === fullest) {
        sample()
        gc()
        live = heapOf(process.memoryUsage())
      }
    }
    const held = await sdk(shape, n, Local.make(), { onEvent })
    sample()
    gc()
    retained = heapOf(process.memoryUsage()) - heapOf(before)
    if (held.graph.nodes.length < calls) throw new Error('graph is incomplete')
  } else {
    if (shape === 'fanout') {
      const pending = Array.from({ length: n }, (_, i) => callAsync(incFn, i))
      sample()
      gc()
      live = heapOf(process.memoryUsage())
      sample()
      const r = await Promise.all(pending)
      if (sumFn(r) !== expected(shape, n)) throw new Error('baseline sum is wrong')
    } else {
      await baseline(shape, n)
      sample()
    }
  }
  const base = heapOf(before)
  return { shape, n, who, calls, peakHeap: (peakHeap - base) / calls, live: (live - base) / calls, rss: (peakRss - before.rss) / calls, retained: retained / calls }
}

const runMemoryChild = (shape: Shape, n: number, who: 'sdk' | 'baseline'): MemoryFigures => {
  const self = Url.fileURLToPath(import.meta.url)
  const out = ChildProcess.execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--memory-child', shape, String(n), who], { encoding: 'utf8', maxBuffer: 1 << 20 })
  const line = out.split('\n').find((l) => l.startsWith('MEMORY '))
  if (line === undefined) throw new Error(`memory child printed no result:\n${out}`)
  return JSON.parse(line.slice('MEMORY '.length)) as MemoryFigures
}

// -------------------------------------------------------------------------------------
// main
// -------------------------------------------------------------------------------------

const argv = process.argv.slice(2)

const main = async (): Promise<void> => {
  const quick = argv.includes('--quick')
  const repsAt = argv.indexOf('--reps')
  const reps = repsAt >= 0 ? Math.max(1, Number(argv[repsAt + 1])) : 3
  const sizes = quick ? [1000, 10000] : [1000, 10000, 100000]
  const big = sizes[sizes.length - 1]!
  const cpus = Os.cpus()
  console.log('# Local dispatcher benchmark')
  console.log('')
  console.log(`machine: ${Os.availableParallelism()} CPUs (${cpus[0]?.model ?? 'unknown CPU'}), ${(Os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}, ${Os.platform()} ${Os.release()}`)
  console.log(`dispatcher: Local.make() — concurrency ${Os.availableParallelism()} (default); reps ${reps} after one warm-up run per row; every run starts after a forced gc`)
  console.log(`load average at start: ${Os.loadavg().map((x) => x.toFixed(2)).join(' ')} (other jobs on the machine inflate the times; compare SDK and baseline of the same round)`)
  console.log('')

  // global warm-up: compile every path once at a small size
  for (let i = 0; i < 3; i++) {
    await sdk('fanout', 1000, Local.make())
    await sdk('chain', 1000, Local.make())
    await baseline('fanout', 1000)
    await baseline('chain', 1000)
  }

  const plan: Array<{ shape: Shape; n: number; mode: Mode }> = [
    ...sizes.map((n) => ({ shape: 'fanout' as const, n, mode: 'no-cache' as const })),
    { shape: 'chain', n: 1000, mode: 'no-cache' },
    ...sizes.filter((n) => n >= 10000).map((n) => ({ shape: 'fanout' as const, n, mode: 'cache' as const })),
    { shape: 'fanout', n: big, mode: 'reused' },
    { shape: 'chain', n: 1000, mode: 'cache' },
  ]
  const rows: Array<TimeRow> = []
  for (const p of plan) {
    const row = await measureTime(p.shape, p.n, p.mode, reps)
    rows.push(row)
    process.stderr.write(`  measured ${p.shape} N=${p.n} ${p.mode}: sdk median ${ms(median(row.sdk))} ms, baseline median ${ms(median(row.base))} ms\n`)
  }

  const label = (r: { shape: Shape; n: number }): string => (r.shape === 'fanout' ? `fan-out N=${r.n.toLocaleString('en-US')} + gather` : `chain of ${r.n.toLocaleString('en-US')}`)
  const modeLabel: Record<Mode, string> = { 'no-cache': 'no cache', cache: 'cache (journal every result)', reused: 'cache re-run (all reused)' }
  console.log('## Time')
  console.log('')
  console.log('| workload | reuse | calls | SDK ms median (best) | baseline ms median (best) | overhead µs/call median (best) | ratio SDK/baseline median | CPU: SDK ms / baseline ms median | CPU: overhead µs/call median (best) |')
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    const sm = median(r.sdk)
    const bm = median(r.base)
    const sc = median(r.sdkCpu)
    const bc = median(r.baseCpu)
    console.log(
      `| ${label(r)} | ${modeLabel[r.mode]} | ${r.calls.toLocaleString('en-US')} | ${ms(sm)} (${ms(best(r.sdk))}) | ${ms(bm)} (${ms(best(r.base))}) | ${fmt(overheadUs(sm, bm, r.calls))} (${fmt(overheadUs(best(r.sdk), best(r.base), r.calls))}) | ${fmt(sm / bm, 0)}× | ${ms(sc)} / ${ms(bc)} | ${fmt(overheadUs(sc, bc, r.calls))} (${fmt(overheadUs(best(r.sdkCpu), best(r.baseCpu), r.calls))}) |`,
    )
  }
  console.log('')
  console.log('raw times (ms), SDK / baseline per round:')
  for (const r of rows) console.log(`  ${label(r)}, ${modeLabel[r.mode]}: SDK ${r.sdk.map(ms).join(', ')} / baseline ${r.base.map(ms).join(', ')} (CPU: SDK ${r.sdkCpu.map(ms).join(', ')} / baseline ${r.baseCpu.map(ms).join(', ')})`)
  console.log('')

  // linearity: per-call overhead at each N (no cache), by wall clock and by CPU time
  const perCall = new Map<number, number>()
  const perCallCpu = new Map<number, number>()
  for (const r of rows) {
    if (r.shape !== 'fanout' || r.mode !== 'no-cache') continue
    perCall.set(r.n, overheadUs(median(r.sdk), median(r.base), r.calls))
    perCallCpu.set(r.n, overheadUs(median(r.sdkCpu), median(r.baseCpu), r.calls))
  }
  console.log('## Linearity (fan-out, no cache, median overhead per call)')
  console.log('')
  for (const n of sizes) console.log(`- N=${n.toLocaleString('en-US')}: ${fmt(perCall.get(n)!)} µs/call wall clock, ${fmt(perCallCpu.get(n)!)} µs/call CPU time`)
  const ratio = (m: ReadonlyMap<number, number>, a: number, b: number): string => (m.has(a) && m.has(b) ? fmt(m.get(a)! / m.get(b)!) : '—')
  console.log(`- per-call overhead ratio N=10,000 / N=1,000: ${ratio(perCall, 10000, 1000)} wall clock, ${ratio(perCallCpu, 10000, 1000)} CPU time`)
  if (!quick) console.log(`- per-call overhead ratio N=100,000 / N=10,000: ${ratio(perCall, 100000, 10000)} wall clock, ${ratio(perCallCpu, 100000, 10000)} CPU time (1.00 = linear total overhead)`)
  console.log('')

  if (!argv.includes('--no-memory')) {
    const mem: Array<MemoryFigures> = []
    for (const n of sizes) {
      mem.push(runMemoryChild('fanout', n, 'sdk'))
      mem.push(runMemoryChild('fanout', n, 'baseline'))
    }
    mem.push(runMemoryChild('chain', 1000, 'sdk'))
    console.log('## Memory per node (fresh child process per row, bytes per call)')
    console.log('')
    console.log('| workload | who | peak heap+ext sampled | live at fullest point (after gc) | peak RSS growth | retained after the run (result + graph held) |')
    console.log('|---|---|---:|---:|---:|---:|')
    const b = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(0)} B` : '—')
    for (const m of mem) console.log(`| ${label(m)} | ${m.who === 'sdk' ? 'SDK' : 'Promise.all'} | ${b(m.peakHeap)} | ${b(m.live)} | ${b(m.rss)} | ${b(m.retained)} |`)
    console.log('')
  }

  console.log(`load average at end: ${Os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  const headline = rows.find((r) => r.shape === 'fanout' && r.n === big && r.mode === 'no-cache')!
  console.log(
    `headline: fan-out N=${big.toLocaleString('en-US')}, no cache: ${fmt(overheadUs(median(headline.sdk), median(headline.base), headline.calls))} µs/call overhead by wall clock, ${fmt(overheadUs(median(headline.sdkCpu), median(headline.baseCpu), headline.calls))} µs/call by CPU time (target ≤ 10); SDK/Promise.all ${fmt(median(headline.sdk) / median(headline.base), 1)}× (wall)`,
  )
}

// -------------------------------------------------------------------------------------
// the process executor
// -------------------------------------------------------------------------------------

const processScript = Path.join(Path.dirname(Url.fileURLToPath(import.meta.url)), 'fixtures', 'fanout.ts')

/** resident memory of this process's children (the workers), bytes each */
const childrenRss = (): ReadonlyArray<number> => {
  let pids: ReadonlyArray<string> = []
  try {
    pids = Fs.readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter((x) => x !== '')
  } catch {
    return []
  }
  return pids.flatMap((pid) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(Fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
      return m === null ? [] : [Number(m[1]) * 1024]
    } catch {
      return []
    }
  })
}

const processBench = async (reps: number): Promise<void> => {
  const { FanOut: ProcessFanOut } = (await import(Url.pathToFileURL(processScript).href)) as { FanOut: typeof FanOut }
  const runOnce = async (n: number): Promise<{ readonly wall: number; readonly rss: ReadonlyArray<number> }> => {
    let rss: ReadonlyArray<number> = []
    let seen = 0
    const d = Local.make({ isolation: 'process', script: processScript })
    const t0 = performance.now()
    const r = await d.run(ProcessFanOut, { n }, { onEvent: (e) => void (e.type === 'done' && ++seen === Math.max(1, n >> 1) ? (rss = childrenRss()) : undefined) })()
    const wall = performance.now() - t0
    if (E.isLeft(r) || r.right.value !== (n * (n + 1)) / 2) throw new Error(`the process run failed: ${E.isLeft(r) ? r.left.message : String(r.right.value)}`)
    return { wall, rss }
  }
  await runOnce(10)
  const small: Array<number> = []
  const large: Array<number> = []
  let rss: ReadonlyArray<number> = []
  const N = 2000
  for (let i = 0; i < reps; i++) {
    small.push((await runOnce(1)).wall)
    const l = await runOnce(N)
    large.push(l.wall)
    if (l.rss.length > 0) rss = l.rss
  }
  console.log('## Process executor (isolation: process)')
  console.log('')
  console.log(`pool of ${Os.availableParallelism()} workers (default concurrency), started per run; fan-out of N trivial calls + gather; reps ${reps}`)
  console.log('')
  console.log('| figure | median | best |')
  console.log('|---|---:|---:|')
  console.log(`| run of 1 call + gather (worker start included), ms | ${ms(median(small))} | ${ms(best(small))} |`)
  console.log(`| run of N=${N.toLocaleString('en-US')} calls + gather, ms | ${ms(median(large))} | ${ms(best(large))} |`)
  console.log(`| overhead per call, (T(N) − T(1)) / N, µs | ${fmt(((median(large) - median(small)) * 1000) / N)} | ${fmt(((best(large) - best(small)) * 1000) / N)} |`)
  console.log(`| resident memory per worker (mid-run), MiB | ${rss.length === 0 ? '—' : fmt(median(rss) / 1024 / 1024, 1)} | ${rss.length === 0 ? '—' : fmt(Math.min(...rss) / 1024 / 1024, 1)} |`)
  console.log('')
}

if (argv[0] === '--memory-child') {
  const figures = await memoryChild(argv[1] as Shape, Number(argv[2]), argv[3] as 'sdk' | 'baseline')
  console.log(`MEMORY ${JSON.stringify(figures)}`)
} else if (argv.includes('--process-only')) {
  await processBench(3)
} else {
  await main()
  if (!argv.includes('--no-process')) await processBench(3)
}
