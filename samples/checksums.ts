/**
 * A pipeline whose work spawns an external command: `sha256sum` over each input text, run as
 * a child process with its arguments as an array (no shell), then one gather.
 *
 *   npx crunch run samples/checksums.ts --texts alpha --texts beta --texts gamma
 */
import * as ChildProcess from 'node:child_process'
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

/** runs `command args...` with `input` on stdin; rejects with the exit code and stderr on failure */
const run = (command: string, args: ReadonlyArray<string>, input: string, signal: AbortSignal): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], signal })
    let out = ''
    let err = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr.on('data', (b: Buffer) => (err += b.toString()))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}: ${err.trim()}`))))
    child.stdin.end(input)
  })

export const checksum = work({ args: [t.string], returns: t.type({ text: t.string, sha256: t.string }) }, async (text, ctx) => {
  const out = await run('sha256sum', ['--binary', '-'], text, ctx.signal)
  return { text, sha256: out.split(' ')[0]! }
})

export const table = work({ args: [t.array(t.type({ text: t.string, sha256: t.string }))], returns: t.record(t.string, t.string) }, (rows) =>
  Object.fromEntries(rows.map((r) => [r.text, r.sha256])),
)

export const Checksums = defineModule({
  name: 'checksums',
  params: t.type({ texts: t.array(t.string) }),
  work: { checksum, table },
  run: ({ texts }, { work: w }) => w.table(texts.map((x) => w.checksum(x))),
})

runMain(Checksums, import.meta.url)
