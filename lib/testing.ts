/**
 * Unit-testing work functions: run one work function, or a whole module, through the local
 * interpreter — arguments and result cross their codecs exactly as in a real run — and get the
 * decoded result back as a promise (rejecting with a readable error), or as an `Either`.
 *
 * @example
 * import * as t from 'io-ts'
 * import { work } from 'arvados-crunch'
 * import { runWork } from 'arvados-crunch/testing'
 * const square = work({ args: [t.number], returns: t.number }, (n) => n * n)
 * const nine = await runWork(square, [3]) // 9
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import type * as Dispatcher from './dispatcher.js'
import * as Errors from './errors.js'
import * as Local from './dispatchers/local.js'
import * as Module from './module.js'

/**
 * @category models
 * @since 0.1.0
 */
export interface TestOptions extends Dispatcher.RunOptions {
  /** the module whose other works the implementation may call (`ctx.call`); default: none */
  readonly module?: Module.AnyModule
  /** the dispatcher to run on (default: a local dispatcher without result cache) */
  readonly dispatcher?: Dispatcher.Dispatcher
}

const single = <Args extends Module.Codecs, R extends t.Mixed>(def: Module.Work<Args, R>, args: Module.TypesOf<Args>, options: TestOptions) => {
  const others: Record<string, Module.AnyWork> = { ...(options.module?.work ?? {}) }
  const existing = options.module?.nameOf(def)
  const name = existing ?? 'work'
  others[name] = def
  return Module.defineModule({
    name: options.module?.name ?? 'test',
    params: t.unknown,
    work: others,
    returns: def.spec.returns as t.Mixed,
    run: (_: unknown, ctx: Module.RunContext<Record<string, Module.AnyWork>>) => ctx.call(def, ...(args as unknown as Module.DeferrableArgs<Args>)),
  })
}

/**
 * Runs one work function with concrete arguments; `Left` on any failure.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const runWorkEither = async <Args extends Module.Codecs, R extends t.Mixed>(
  def: Module.Work<Args, R>,
  args: Module.TypesOf<Args>,
  options: TestOptions = {},
): Promise<E.Either<Errors.SdkError, t.TypeOf<R>>> => {
  let m: Module.AnyModule
  try {
    m = single(def, args, options)
  } catch (e) {
    return E.left(Errors.fromUnknown(e))
  }
  const r = await (options.dispatcher ?? Local.make()).run(m, null, options)()
  return E.map((x: Dispatcher.RunResult<unknown>) => x.value as t.TypeOf<R>)(r)
}

/**
 * Runs one work function with concrete arguments; rejects with a readable `Error` (carrying
 * `code` and `_tag`) on failure.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const runWork = async <Args extends Module.Codecs, R extends t.Mixed>(def: Module.Work<Args, R>, args: Module.TypesOf<Args>, options: TestOptions = {}): Promise<t.TypeOf<R>> => {
  const r = await runWorkEither(def, args, options)
  if (E.isLeft(r)) throw Errors.toError(r.left)
  return r.right
}

/**
 * Runs a whole module (a composed pipeline) with the given parameters; rejects on failure.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const runModule = async <M extends Module.AnyModule>(module: M, params: unknown, options: TestOptions = {}): Promise<Dispatcher.RunResult<Module.OutputOf<M>>> => {
  const r = await (options.dispatcher ?? Local.make()).run(module, params, options)()
  if (E.isLeft(r)) throw Errors.toError(r.left)
  return r.right
}
