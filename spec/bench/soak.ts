/**
 * The fault soak (`npm run bench:soak`, i.e. `node --import tsx spec/bench/soak.ts`; not part
 * of `npm test`): a 1,000-call pipeline on the crunch dispatcher against the Arvados double
 * with 20% of API and Keep requests faulted (5xx, resets before and after a write), while the
 * runner is SIGKILLed and restarted at 5 random moments. Prints the figures and whether the
 * output is right, there is exactly one container request per call id, and no result was
 * lost; exits 1 otherwise. Needs what the double needs to run containers (root, util-linux
 * `unshare`/`mount`, `chroot`).
 *
 * Options: `--n N` (inc calls, default 999: 1,000 calls), `--kills K` (default 5), `--rate R`
 * (default 0.2), `--seed S` (default 1; the kill moments and the faults follow it), `--poll-ms`
 * (CRUNCH_POLL_MS, default 1000).
 */
import * as Os from 'node:os'
import { soak } from '../support/soak.js'

const argv = process.argv.slice(2)
const option = (name: string, fallback: number): number => {
  const i = argv.indexOf(name)
  const v = i < 0 ? fallback : Number(argv[i + 1])
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`)
  return v
}
const n = option('--n', 999)
const kills = option('--kills', 5)
const rate = option('--rate', 0.2)
const seed = option('--seed', 1)
const pollMs = option('--poll-ms', 1000)

const log = (line: string): void => void process.stdout.write(`${line}\n`)
log(`soak: ${n + 1} calls, ${kills} SIGKILLs of the runner, ${Math.round(rate * 100)}% of API and Keep requests faulted, seed ${seed}, load average ${Os.loadavg().map((l) => l.toFixed(1)).join(' ')}`)
const r = await soak({ n, kills, faultRate: rate, seed, pollMs, onLine: (l) => log(`  ${l}`) })
const right = r.output === r.expected
const everyCall = r.perCall.size === r.calls
const oneEach = r.duplicates === 0
const noLoss = r.summary !== undefined && r.summary.failed === 0 && r.summary.done === r.calls
log('')
log(`| figure | value |`)
log(`|---|---:|`)
log(`| calls | ${r.calls} |`)
log(`| runs (killed + final) | ${r.runs.length} (kills after ${r.killAt.join(', ')} call requests) |`)
log(`| total wall | ${(r.wallMs / 1000).toFixed(1)} s |`)
log(`| final run wall | ${((r.runs[r.runs.length - 1]?.wallMs ?? 0) / 1000).toFixed(1)} s |`)
log(`| API requests (faulted: 5xx or reset) | ${r.apiRequests} (${r.apiFaults}, ${((100 * r.apiFaults) / Math.max(1, r.apiRequests)).toFixed(1)}%) |`)
log(`| Keep requests (faulted) | ${r.keepRequests} (${r.keepFaults}, ${((100 * r.keepFaults) / Math.max(1, r.keepRequests)).toFixed(1)}%) |`)
log(`| containers started | ${r.containersStarted} |`)
log(`| container requests per call id | ${r.perCall.size} ids, ${r.duplicates} duplicates |`)
log(`| final summary | ${JSON.stringify(r.summary)} |`)
log(`| output | ${JSON.stringify(r.output)} (expected ${r.expected}) |`)
log('')
log(`right output: ${right}; a request for every call: ${everyCall}; exactly one per call id: ${oneEach}; no result lost: ${noLoss}`)
if (!(right && everyCall && oneEach && noLoss)) {
  log(r.stderrTail)
  process.exitCode = 1
}
