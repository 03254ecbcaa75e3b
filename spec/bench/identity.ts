/**
 * Benchmark for code identity (`node --import tsx spec/bench/identity.ts`): what computing the
 * identity of a script costs `crunch run` (the CLI does it once per run, before anything else),
 * per sample script, beside the crunch bundle of the same script measured in the same run (the
 * baseline: the crunch dispatcher builds it anyway). The first call pays for starting esbuild's
 * service; later calls in the same process are warm. Reading the table back from a bundle (what
 * a container does) is measured too. Prints one line per script and the medians.
 */
import * as Fs from 'node:fs'
import * as Os from 'node:os'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as Bundle from '../../lib/dispatchers/crunch/bundle.js'
import * as Compute from '../../lib/identity/compute.js'
import { root } from '../support/cli.js'

const SCRIPTS = ['samples/numbers.ts', 'samples/tumors.ts', 'samples/checksums.ts', 'samples/collections-basics.ts', 'samples/docs/reuse.ts', 'spec/fixtures/crunch/steps.ts']
const ROUNDS = 5

const ms = async (f: () => Promise<unknown>): Promise<number> => {
  const t0 = process.hrtime.bigint()
  await f()
  return Number(process.hrtime.bigint() - t0) / 1e6
}
const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
const must = async <A>(p: Promise<E.Either<{ message: string }, A>>): Promise<A> => {
  const r = await p
  if (E.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

const first = await ms(() => must(Compute.ofScript(Path.join(root, SCRIPTS[0]!))))
console.log(`first identity in this process (esbuild service start included): ${first.toFixed(1)} ms`)
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), 'crunch-bench-identity-'))
const rows: Array<{ identity: number; bundle: number; fromBundle: number }> = []
try {
  for (const s of SCRIPTS) {
    const script = Path.join(root, s)
    const identity: Array<number> = []
    const bundle: Array<number> = []
    const fromBundle: Array<number> = []
    let files = 0
    for (let i = 0; i < ROUNDS; i++) {
      identity.push(await ms(async () => (files = Object.keys((await must(Compute.ofScript(script))).table.nodes).length)))
      let built: Bundle.Files = []
      bundle.push(await ms(async () => (built = await must(Bundle.build(script)))))
      const file = Path.join(dir, Bundle.FILE)
      Bundle.writeTo(built, dir)
      fromBundle.push(await ms(() => must(Compute.ofScript(file))))
    }
    const row = { identity: median(identity), bundle: median(bundle), fromBundle: median(fromBundle) }
    rows.push(row)
    console.log(
      `${s.padEnd(34)} ${String(files).padStart(3)} nodes  identity ${row.identity.toFixed(1).padStart(6)} ms  bundle ${row.bundle.toFixed(1).padStart(7)} ms  (identity/bundle ${(row.identity / row.bundle).toFixed(2)})  from the bundle ${row.fromBundle.toFixed(1).padStart(5)} ms`,
    )
  }
} finally {
  Fs.rmSync(dir, { recursive: true, force: true })
}
const m = (k: 'identity' | 'bundle' | 'fromBundle'): number => median(rows.map((r) => r[k]))
console.log(`median over scripts: identity ${m('identity').toFixed(1)} ms, bundle ${m('bundle').toFixed(1)} ms (ratio ${(m('identity') / m('bundle')).toFixed(2)}), from the bundle ${m('fromBundle').toFixed(1)} ms; load average ${Os.loadavg().map((x) => x.toFixed(1)).join(' ')}`)
