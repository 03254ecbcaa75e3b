/**
 * `Future<A>`: the opaque placeholder a work call returns. It names a node of the call graph
 * and nothing else: it has no `then` (awaiting it gives the future back, not a value), no
 * accessors, and `toString`/`toJSON`/string coercion throw a `FutureMisuseError` that says
 * what to do instead. `util.inspect` prints a one-line description.
 *
 * `Deferrable<A>` is what a work argument accepts: the value, a future of it, or any array or
 * record structure holding deferrables at any depth.
 *
 * @since 0.1.0
 */
import * as Errors from './errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * String type id: survives two loaded copies of the package.
 *
 * @category models
 * @since 0.1.0
 */
export const TypeId = '~arvados-crunch/Future' as const

/**
 * What a future knows about the call that produced it. Read only by dispatchers and the graph.
 *
 * @category models
 * @since 0.1.0
 */
export interface FutureSource {
  readonly nodeId: string
  readonly work: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Future<out A> {
  readonly [TypeId]: FutureSource
  /** phantom: the type of the value the future stands for; never present at run time */
  readonly ['~value']?: () => A
}

/**
 * A value of type `A`, a future of it, or an array/record structure holding deferrables. Where
 * an array is expected, any other iterable of deferrables is accepted too (a generator, a Set,
 * a Map, whose values are taken): it is turned into an array once, in order, when the call is
 * recorded or the value returned.
 *
 * @category models
 * @since 0.1.0
 */
export type Deferrable<A> =
  | A
  | Future<A>
  | (A extends Opaque
      ? never
      : A extends ReadonlyArray<infer E>
        ? ReadonlyArray<Deferrable<E>> | IterableOf<Deferrable<E>>
        : A extends object
          ? { readonly [K in keyof A]: Deferrable<A[K]> }
          : never)

/**
 * An iterable object that stands for the array of its items (a Map: of its values). Strings are
 * not objects, so they never stand for arrays.
 *
 * @category models
 * @since 0.1.0
 */
export type IterableOf<E> = (Iterable<E> & object) | ReadonlyMap<unknown, E>

/**
 * Values that are leaves for `Deferrable` (they are not traversed for futures): functions,
 * and values carrying a string type id such as collections.
 *
 * @category models
 * @since 0.1.0
 */
export type Opaque = ((...args: never) => unknown) | { readonly '~arvados-crunch/Collection': unknown } | { readonly '~arvados-crunch/CollectionFile': unknown }

/**
 * The value a structure of futures stands for once resolved (`Future<A>` → `A`, deeply).
 *
 * @category models
 * @since 0.1.0
 */
export type Resolved<R> =
  R extends Future<infer A>
    ? A
    : R extends Opaque
      ? R
      : R extends ReadonlyArray<unknown>
        ? { -readonly [K in keyof R]: Resolved<R[K]> }
        : R extends ReadonlyMap<unknown, infer V>
          ? Array<Resolved<V>>
          : R extends Iterable<infer X> & object
            ? Array<Resolved<X>>
            : R extends object
              ? { -readonly [K in keyof R]: Resolved<R[K]> }
              : R

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/**
 * @category errors
 * @since 0.1.0
 */
export const misuse = (source: FutureSource, usedAs: string) =>
  Errors.make(
    'FutureMisuseError',
    'ARV_FUTURE_MISUSE',
    `the Future from ${source.work}(…) [call ${source.nodeId.slice(0, 12)}] was used as ${usedAs}`,
    { work: source.work, nodeId: source.nodeId },
    {
      hint: 'a Future is a placeholder the dispatcher resolves later; pass it to another work function or return it from run() or from a work implementation',
    },
  )

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

const inspectSymbol = Symbol.for('nodejs.util.inspect.custom')

/** the source of the future a refusing method was called on (`this` is the future) */
const sourceOfThis = (self: unknown): FutureSource =>
  typeof self === 'object' && self !== null && typeof (self as { [TypeId]?: unknown })[TypeId] === 'object'
    ? (self as { [TypeId]: FutureSource })[TypeId]
    : { nodeId: '?', work: '?' }

const refuse = (self: unknown, usedAs: string): never => {
  throw Errors.toError(misuse(sourceOfThis(self), usedAs))
}

/**
 * One shared, frozen prototype holds the refusing methods, so making a future is one small
 * allocation (a future per work call: this is on the hot path). Plain `function`s because the
 * only way to reach the future from a shared method is the receiver.
 */
const prototype: object = Object.freeze(
  Object.create(null, {
    toString: { value: function (this: unknown) { return refuse(this, 'a string') } },
    toJSON: { value: function (this: unknown) { return refuse(this, 'JSON (a future cannot be serialized)') } },
    valueOf: { value: function (this: unknown) { return refuse(this, 'a primitive value') } },
    [Symbol.toPrimitive]: { value: function (this: unknown, hint: string) { return refuse(this, hint === 'string' ? 'a string' : hint === 'number' ? 'a number' : 'a primitive value') } },
    [inspectSymbol]: {
      value: function (this: unknown) {
        const source = sourceOfThis(this)
        return `Future<${source.work}#${source.nodeId.slice(0, 12)}> (unresolved: it cannot be read; pass it to a work function or return it)`
      },
    },
  }),
)

/**
 * The brand constructor. Only the graph recorder calls it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <A>(source: FutureSource): Future<A> => {
  const future: object = Object.create(prototype)
  Object.defineProperty(future, TypeId, { value: source }) // non-enumerable, read-only
  return Object.freeze(future) as Future<A>
}

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/**
 * @category guards
 * @since 0.1.0
 */
export const isFuture = (u: unknown): u is Future<unknown> =>
  typeof u === 'object' && u !== null && typeof (u as { [TypeId]?: unknown })[TypeId] === 'object'

/**
 * @category conversions
 * @since 0.1.0
 */
export const sourceOf = (f: Future<unknown>): FutureSource => f[TypeId]
