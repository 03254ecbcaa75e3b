/**
 * docs/getting-started.md — a first module: one parameter of each kind the command line
 * knows, a fan-out (one `greet` per name) and a gather (`banner` over all greetings).
 *
 *   crunch run samples/docs/hello.ts --names Ada --names Linus --greeting Hello
 */
import * as t from 'io-ts'
import { defineModule, runMain, work } from 'arvados-crunch'

/** one greeting: a plain function of decoded values */
export const greet = work({ args: [t.string, t.string, t.boolean], returns: t.string }, (greeting, name, shout) => {
  const text = `${greeting}, ${name}!`
  return shout ? text.toUpperCase() : text
})

/** joins the greetings and counts them */
export const banner = work({ args: [t.array(t.string)], returns: t.type({ lines: t.array(t.string), count: t.number }) }, (lines) => ({
  lines,
  count: lines.length,
}))

export const Hello = defineModule({
  name: 'hello',
  params: t.intersection([
    t.type({ names: t.array(t.string), greeting: t.string }),
    t.partial({ shout: t.boolean, repeat: t.number }),
  ]),
  work: { greet, banner },
  run: ({ names, greeting, shout = false, repeat = 1 }, { work: w }) => {
    const all = names.flatMap((name) => Array.from({ length: repeat }, () => name))
    return w.banner(all.map((name) => w.greet(greeting, name, shout)))
  },
})

runMain(Hello, import.meta.url)
