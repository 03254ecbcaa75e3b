/**
 * lib/internal/limiter.ts: how many tasks run at once, and when waiting ones start.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as Limiter from '../../lib/internal/limiter.js'

/** tasks that end when told to, and a record of which started */
const controlled = (limit: Limiter.Limiter, n: number) => {
  const started: Array<number> = []
  const enders: Array<() => void> = []
  const done = Array.from({ length: n }, (_, i) =>
    limit(
      () =>
        new Promise<number>((resolve) => {
          started.push(i)
          enders[i] = () => resolve(i)
        }),
    ),
  )
  return { started, end: (i: number) => enders[i]!(), done }
}
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const bulk = suite('Limiter.refillingInBulk')

bulk('should run at most the limit, and start waiting tasks only when half the slots are free, all at once, in order', async () => {
  const t = controlled(Limiter.refillingInBulk(4), 10)
  await turn()
  assert.equal(t.started, [0, 1, 2, 3])
  t.end(0)
  await turn()
  assert.equal(t.started, [0, 1, 2, 3], 'one slot free of four: nothing starts')
  t.end(1)
  await turn()
  assert.equal(t.started, [0, 1, 2, 3, 4, 5], 'half free: both slots refilled in one turn')
  for (const i of [2, 3, 4]) t.end(i)
  await turn()
  assert.equal(t.started, [0, 1, 2, 3, 4, 5, 6, 7], 'ending 2 and 3 freed half: 6 and 7 started; ending 4 then freed one')
  t.end(5)
  await turn()
  assert.equal(t.started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  for (const i of [6, 7, 8, 9]) t.end(i)
  assert.equal(await Promise.all(t.done), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
})

bulk('should free the slot of a task that fails', async () => {
  const limit = Limiter.refillingInBulk(1)
  await limit(() => Promise.reject(new Error('no'))).catch(() => undefined)
  assert.is(await limit(() => Promise.resolve('ran')), 'ran')
})

const fifo = suite('Limiter.make')

fifo('should start a waiting task as soon as one slot is free', async () => {
  const t = controlled(Limiter.make(2), 4)
  await turn()
  assert.equal(t.started, [0, 1])
  t.end(0)
  await turn()
  assert.equal(t.started, [0, 1, 2])
  t.end(1)
  await turn()
  assert.equal(t.started, [0, 1, 2, 3])
  for (const i of [2, 3]) t.end(i)
  assert.equal(await Promise.all(t.done), [0, 1, 2, 3])
})

bulk.run()
fifo.run()
