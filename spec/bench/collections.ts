/**
 * Benchmark for collections (npm run bench:collections, i.e.
 * `node --expose-gc --import tsx spec/bench/collections.ts`):
 *  1. ingest 1 GiB of generated data (16 files of 64 MiB, distinct content) into a fresh local
 *     store, beside node's raw md5 throughput over the same bytes in memory (same run);
 *  2. parse + tree + portable data hash of a generated ~100 MB manifest (signed locators).
 * Peak RSS is sampled every 20 ms during each phase. Options: --gib <n> (default 1).
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

const MiB = 1024 * 1024
const gibArg = process.argv.indexOf('--gib')
const total = Math.round((gibArg >= 0 ? Number(process.argv[gibArg + 1]) : 1) * 1024) * MiB
const gc = (): void => (globalThis as { gc?: () => void }).gc?.()

const peakRss = async <A>(f: () => Promise<A>): Promise<{ value: A; seconds: number; peakMiB: number }> => {
  gc()
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
  const started = process.hrtime.bigint()
  const value = await f()
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage.rss())
  return { value, seconds, peakMiB: peak / MiB }
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
  for (let f = 0, i = 0; f * perFile < total; f++) {
    const fd = Fs.openSync(Path.join(src, `part-${String(f).padStart(3, '0')}.bin`), 'w')
    for (let w = 0; w < perFile; w += chunk.length) Fs.writeSync(fd, stamp(i++))
    Fs.closeSync(fd)
  }

  // raw md5 over the same number of bytes, in memory
  const raw = await peakRss(async () => {
    const h = Crypto.createHash('md5')
    for (let i = 0; i < total / chunk.length; i++) h.update(stamp(i))
    return h.digest('hex')
  })
  const rawMBs = total / 1e6 / raw.seconds

  // ingest
  const store = Store.make(Path.join(work, 'store'))
  const ingest = await peakRss(() => store.ingestDirectory(src))
  if (E.isLeft(ingest.value)) throw new Error(ingest.value.left.message)
  const ingestMBs = total / 1e6 / ingest.seconds
  Fs.rmSync(Path.join(work, 'store'), { recursive: true, force: true })
  Fs.rmSync(src, { recursive: true, force: true })

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
  const parse = await peakRss(async () => {
    const m = Manifest.parse(text)
    if (E.isLeft(m)) throw new Error(m.left.message)
    const t = Tree.fromManifest(m.right)
    if (E.isLeft(t)) throw new Error(t.left.message)
    return { pdh: Pdh.of(text), files: Tree.files(t.right).length }
  })
  const hashOnly = await peakRss(async () => Pdh.of(text))
  const textMB = Buffer.byteLength(text) / 1e6

  const report = [
    `node ${process.version}, ${Os.cpus().length} CPU(s) ${Os.cpus()[0]?.model ?? ''}`,
    `raw md5 (in memory):        ${(total / MiB).toFixed(0)} MiB in ${raw.seconds.toFixed(2)} s = ${rawMBs.toFixed(0)} MB/s`,
    `ingest into local store:    ${(total / MiB).toFixed(0)} MiB in ${ingest.seconds.toFixed(2)} s = ${ingestMBs.toFixed(0)} MB/s (${((100 * ingestMBs) / rawMBs).toFixed(0)}% of raw md5), peak RSS ${ingest.peakMiB.toFixed(0)} MiB`,
    `manifest parse+tree+PDH:    ${textMB.toFixed(1)} MB, ${parse.value.files} files in ${parse.seconds.toFixed(2)} s = ${(textMB / parse.seconds).toFixed(0)} MB/s, peak RSS ${parse.peakMiB.toFixed(0)} MiB`,
    `manifest PDH only:          ${(textMB / hashOnly.seconds).toFixed(0)} MB/s`,
  ]
  process.stdout.write(`${report.join('\n')}\n`)
} finally {
  Fs.rmSync(work, { recursive: true, force: true })
}
