/**
 * A pipeline whose work runs an external command: `sha256sum` over each input text, run with
 * `ctx.exec` (an argument array, no shell; the text on its stdin), then one gather.
 *
 *   npx crunch run samples/checksums.ts --texts alpha --texts beta --texts gamma
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

export const checksum = work({ args: [t.string], returns: t.type({ text: t.string, sha256: t.string }) }, async (text, ctx) => {
  const { stdout } = await ctx.exec('sha256sum', ['--binary', '-'], { stdin: text })
  return { text, sha256: stdout.split(' ')[0]! }
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
