/**
 * docs/concepts/dispatchers.md — using a dispatcher from code instead of the `crunch` command:
 * a dispatcher is a record `{ name, run }`; `run` gives an fp-ts TaskEither. An interceptor
 * (`Dispatcher → Dispatcher`) wraps it, here to count calls by work name.
 *
 *   node --import tsx samples/docs/programmatic.ts
 */
import * as E from 'fp-ts/lib/Either.js'
import { compose, formatError, type Dispatcher, type Interceptor } from 'arvados-crunch'
import * as Local from 'arvados-crunch/dispatchers/local'
import { Hello } from './hello.js'
import { Failures } from './failures.js'

/** an interceptor: counts finished calls per work, whatever the dispatcher underneath */
const counting =
  (counts: Map<string, number>): Interceptor =>
  (next: Dispatcher): Dispatcher => ({
    name: `${next.name}+counting`,
    run: (module, params, options = {}) =>
      next.run(module, params, {
        ...options,
        onEvent: (e) => {
          if (e.type === 'done') counts.set(e.work, (counts.get(e.work) ?? 0) + 1)
          options.onEvent?.(e)
        },
      }),
  })

const counts = new Map<string, number>()
const local = compose(counting(counts))(Local.make({ concurrency: 2 })) // no cacheDir: nothing is reused
console.log(local.name)

// 1. a run: Right with the value, its JSON, the graph and statistics
const ok = await local.run(Hello, { names: ['Ada', 'Grace'], greeting: 'Hello' })()
if (E.isRight(ok)) console.log(ok.right.value, { calls: ok.right.stats.calls, executed: ok.right.stats.executed, reused: ok.right.stats.reused, failed: ok.right.stats.failed })
console.log(Object.fromEntries(counts))

// 2. a failure is a value (Left), rendered with formatError
const failed = await local.run(Failures, { inputs: [1, 0] })()
if (E.isLeft(failed)) console.log(failed.left.code, '|', formatError(failed.left).split('\n')[0])

// 3. cancellation: abort the signal; running calls see it as ctx.signal
const controller = new AbortController()
const pending = local.run(Failures, { inputs: [1], waitMs: 60_000 }, {
  signal: controller.signal,
  onEvent: (e) => {
    if (e.type === 'log' && e.message === 'waiting') controller.abort('enough')
  },
})()
const cancelled = await pending
if (E.isLeft(cancelled)) console.log(cancelled.left.code, '|', cancelled.left.message)
