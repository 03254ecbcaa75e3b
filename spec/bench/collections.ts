/**
 * Benchmark for collections (npm run bench:collections, i.e.
 * `node --expose-gc --import tsx spec/bench/collections.ts`):
 *  1. ingest 1 GiB of generated data into fresh local stores, beside node's raw md5 throughput
 *     over the same bytes in memory (one thread; measured before and after the ingests, the
 *     mean is the baseline): 16 files of 64 MiB (distinct content), and one 1 GiB file. First
 *     into new page-cache pages (nothing deleted in between; a plain copy of the 16 files into
 *     new files, one thread, shows what such pages cost), then each again into the pages just
 *     freed by deleting the previous store. On a VM whose free memory goes back to the host
 *     (free page reporting), touching new pages costs more CPU than md5 of the same bytes and
 *     varies from one moment to the next (the first GiB written after the data is generated
 *     tends to be cheaper: --single-first swaps the first two ingests); recycled pages are cheap,
 *     as on a host whose page cache is simply reused;
 *  2. parse + tree + portable data hash of a generated ~100 MB manifest (signed locators).
 * Peak RSS is sampled every 20 ms during each phase; CPU is the process's (all threads).
 * Options: --gib <n> (default 1), --single-first.
 * With --w3 [--rounds k] [--against <checkout>], runs only W3 of the peer benchmarks beside Dask (spec/bench/collections-w3.ts).
 */
import * as Crypto from 'node:crypto'
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Manifest from '../../lib/collections/manifest.js'
import * as Pdh from '../../lib/collections/pdh.js'
import * as Store from '../../lib/collections/store.js'
import * as Tree from '../../lib/collections/tree.js'

if (process.argv.includes('--w3')) {
  const rounds = process.argv.indexOf('--rounds')
  const against = process.argv.indexOf('--against')
  await (await import('./collections-w3.js')).main(rounds >= 0 ? Number(process.argv[rounds + 1]) : 3, against >= 0 ? Path.resolve(process.argv[against + 1]!) : undefined)
  process.exit(0)
}

const MiB = 1024 * 1024
const gibArg = process.argv.indexOf('--gib')
const total = Math.round((gibArg >= 0 ? Number(process.argv[gibArg + 1]) : 1) * 1024) * MiB
const gc = (): void => (globalThis as { gc?: () => void }).gc?.()

const peakRss = async <A>(f: () => Promise<A>): Promise<{ value: A; seconds: number; cpu: number; peakMiB: number; startMiB: number }> => {
  gc()
  const start = process.memoryUsage.rss()
  let peak = start
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
  const cpu0 = process.cpuUsage()
  const started = process.hrtime.bigint()
  const value = await f()
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const cpu = process.cpuUsage(cpu0)
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage.rss())
  return { value, seconds, cpu: (cpu.user + cpu.system) / 1e6, peakMiB: peak / MiB, startMiB: start / MiB }
}

const chunk = Crypto.randomBytes(4 * MiB)
const stamp = (i: number): Buffer => {
  chunk.writeUInt32LE(i, 0)
  chunk.writeUInt32LE(i * 2654435761 >>> 0, 4)
  return chunk
}

const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'arv-bench-collections-'))
try {
  // data
  const src = Path.join(work, 'src')
  Fs.mkdirSync(src)
  const perFile = 64 * MiB
  let i = 0
  for (let f = 0; f * perFile < total; f++) {
    const fd = Fs.openSync(Path.join(src, `part-${String(f).padStart(3, '0')}.bin`), 'w')
    for (let w = 0; w < perFile; w += chunk.length) Fs.writeSync(fd, stamp(i++))
    Fs.closeSync(fd)
  }
  const single = Path.join(work, 'single')
  Fs.mkdirSync(single)
  const fd = Fs.openSync(Path.join(single, 'all.bin'), 'w')
  for (let w = 0; w < total; w += chunk.length) Fs.writeSync(fd, stamp(i++))
  Fs.closeSync(fd)

  // raw md5 over the same number of bytes, in memory (again after the ingests: the machine is shared)
  const rawMd5 = () =>
    peakRss(async () => {
      const h = Crypto.createHash('md5')
      for (let i = 0; i < total / chunk.length; i++) h.update(stamp(i))
      return h.digest('hex')
    })
  const raw = await rawMd5()

  // first into new page-cache pages (nothing deleted in between): the 16 files, the single file
  // (swapped with --single-first) and a plain copy; then both again, each into the pages just
  // freed by deleting the store before it
  const ingestInto = async (dir: string, from: string) => {
    const r = await peakRss(() => Store.make(dir).ingestDirectory(from))
    if (E.isLeft(r.value)) throw new Error(r.value.left.message)
    return { ...r, mbs: total / 1e6 / r.seconds }
  }
  const singleFirst = process.argv.includes('--single-first')
  const oneFirst = singleFirst ? await ingestInto(Path.join(work, 'store-single'), single) : undefined
  const ingest = await ingestInto(Path.join(work, 'store'), src)
  const oneFile = oneFirst ?? (await ingestInto(Path.join(work, 'store-single'), single))
  const copied = Path.join(work, 'copy')
  Fs.mkdirSync(copied)
  const copy = await peakRss(async () => {
    for (const name of Fs.readdirSync(src)) Fs.copyFileSync(Path.join(src, name), Path.join(copied, name))
  })
  for (const d of ['store', 'copy', 'store-single']) Fs.rmSync(Path.join(work, d), { recursive: true, force: true })
  const again = await ingestInto(Path.join(work, 'store-again'), src)
  Fs.rmSync(Path.join(work, 'store-again'), { recursive: true, force: true })
  const oneAgain = await ingestInto(Path.join(work, 'store-again'), single)
  for (const d of ['store-again', 'single']) Fs.rmSync(Path.join(work, d), { recursive: true, force: true })
  Fs.rmSync(src, { recursive: true, force: true })
  const rawAfter = await rawMd5()
  const rawMBs = (2 * total) / 1e6 / (raw.seconds + rawAfter.seconds)

  // 100 MB manifest
  const lines: Array<string> = []
  let size = 0
  for (let s = 0; size < 100e6; s++) {
    const parts = [`./dir${s % 97}/sub${s}`]
    for (let b = 0; b < 40; b++) {
      const hash = Crypto.createHash('md5').update(`${s}/${b}`).digest('hex')
      parts.push(`${hash}+67108864+A${hash}${hash.slice(0, 8)}@65f0a1b2`)
    }
    for (let f = 0; f < 40; f++) parts.push(`${f * 67108864}:67108864:file\\040${f}.dat`)
    const line = `${parts.join(' ')}\n`
    lines.push(line)
    size += line.length
  }
  const text = lines.join('')
  lines.length = 0
  const split = { parse: 0, tree: 0, pdh: 0 }
  const lap = <A>(k: keyof typeof split, f: () => A): A => {
    const t0 = process.hrtime.bigint()
    const a = f()
    split[k] += Number(process.hrtime.bigint() - t0) / 1e9
    return a
  }
  const parse = await peakRss(async () => {
    const m = lap('parse', () => Manifest.parse(text))
    if (E.isLeft(m)) throw new Error(m.left.message)
    const t = lap('tree', () => Tree.fromManifest(m.right))
    if (E.isLeft(t)) throw new Error(t.left.message)
    const files = lap('tree', () => Tree.files(t.right).length)
    return { pdh: lap('pdh', () => Pdh.of(text)), files }
  })
  const hashOnly = await peakRss(async () => Pdh.of(text))
  const textMB = Buffer.byteLength(text) / 1e6
  const cpu = (r: { seconds: number; cpu: number }): string => `, CPU ${r.cpu.toFixed(2)} s (${(r.cpu / r.seconds).toFixed(1)} cores)`

  const report = [
    `node ${process.version}, ${Os.cpus().length} CPU(s) ${Os.cpus()[0]?.model ?? ''}`,
    `raw md5 (in memory, 1 thread): ${(total / MiB).toFixed(0)} MiB in ${raw.seconds.toFixed(2)} s before the ingests, ${rawAfter.seconds.toFixed(2)} s after = ${rawMBs.toFixed(0)} MB/s${cpu(raw)}`,
    `ingest into local store, new page-cache pages${singleFirst ? ' (the single file first)' : ''}:`,
    `  16 x 64 MiB files:        ${ingest.seconds.toFixed(2)} s = ${ingest.mbs.toFixed(0)} MB/s (${((100 * ingest.mbs) / rawMBs).toFixed(0)}% of raw md5), peak RSS ${ingest.peakMiB.toFixed(0)} MiB${cpu(ingest)}`,
    `  one ${(total / MiB).toFixed(0)} MiB file:       ${oneFile.seconds.toFixed(2)} s = ${oneFile.mbs.toFixed(0)} MB/s (${((100 * oneFile.mbs) / rawMBs).toFixed(0)}% of raw md5), peak RSS ${oneFile.peakMiB.toFixed(0)} MiB${cpu(oneFile)}`,
    `  plain copy of the 16, 1 thread: ${copy.seconds.toFixed(2)} s = ${(total / 1e6 / copy.seconds).toFixed(0)} MB/s (${((100 * total) / 1e6 / copy.seconds / rawMBs).toFixed(0)}% of raw md5)${cpu(copy)}`,
    `ingest again, into pages just freed:`,
    `  16 x 64 MiB files:        ${again.seconds.toFixed(2)} s = ${again.mbs.toFixed(0)} MB/s (${((100 * again.mbs) / rawMBs).toFixed(0)}% of raw md5), peak RSS ${again.peakMiB.toFixed(0)} MiB${cpu(again)}`,
    `  one ${(total / MiB).toFixed(0)} MiB file:       ${oneAgain.seconds.toFixed(2)} s = ${oneAgain.mbs.toFixed(0)} MB/s (${((100 * oneAgain.mbs) / rawMBs).toFixed(0)}% of raw md5), peak RSS ${oneAgain.peakMiB.toFixed(0)} MiB${cpu(oneAgain)}`,
    `manifest parse+tree+PDH:    ${textMB.toFixed(1)} MB, ${parse.value.files} files in ${parse.seconds.toFixed(2)} s = ${(textMB / parse.seconds).toFixed(0)} MB/s, peak RSS ${parse.peakMiB.toFixed(0)} MiB (${parse.startMiB.toFixed(0)} MiB at the start, the text included)${cpu(parse)}`,
    `  split: parse ${split.parse.toFixed(2)} s, tree + file list ${split.tree.toFixed(2)} s, PDH ${split.pdh.toFixed(2)} s`,
    `manifest PDH only:          ${(textMB / hashOnly.seconds).toFixed(0)} MB/s${cpu(hashOnly)}`,
  ]
  process.stdout.write(`${report.join('\n')}\n`)
} finally {
  Fs.rmSync(work, { recursive: true, force: true })
}
