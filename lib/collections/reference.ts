/**
 * Hydration: replacing the unresolved collection and file references that the codecs produce,
 * at any depth of arrays and plain records, by live values. The resolver (what a PDH, UUID or
 * local path means) is given by the dispatcher's store; each distinct reference is resolved once
 * per call. Other values (class instances, live collections) are left untouched.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Errors from '../errors.js'
import * as Codec from './codec.js'
import * as Collection from './collection.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export type Resolve = (ref: Codec.Reference, signal: AbortSignal) => Promise<E.Either<Errors.SdkError, Collection.Collection>>

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

const isPlainRecord = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return false
  const proto: unknown = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/**
 * Walks `value` and replaces every unresolved reference. Returns a new value (the input is not
 * mutated); parts without references are returned as they are.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const hydrate = async (value: unknown, resolve: Resolve, signal: AbortSignal): Promise<E.Either<Errors.SdkError, unknown>> => {
  const memo = new Map<string, Promise<E.Either<Errors.SdkError, Collection.Collection>>>()
  const collection = (ref: Codec.Reference): Promise<E.Either<Errors.SdkError, Collection.Collection>> => {
    const key = `${ref.kind}:${ref.text}`
    const known = memo.get(key)
    if (known !== undefined) return known
    const p = resolve(ref, signal)
    memo.set(key, p)
    return p
  }
  const walk = async (u: unknown): Promise<E.Either<Errors.SdkError, unknown>> => {
    if (Codec.isUnresolved(u)) return collection(u[Codec.ReferenceId])
    if (Codec.isUnresolvedFile(u)) {
      const c = await collection(u.collection[Codec.ReferenceId])
      if (E.isLeft(c)) return c
      return Collection.file(c.right, u.path)
    }
    if (Collection.isCollection(u) || Collection.isCollectionFile(u)) return E.right(u)
    if (Array.isArray(u)) {
      const out: Array<unknown> = []
      let changed = false
      for (const item of u) {
        const r = await walk(item)
        if (E.isLeft(r)) return r
        changed = changed || r.right !== item
        out.push(r.right)
      }
      return E.right(changed ? out : u)
    }
    if (isPlainRecord(u)) {
      const out: Record<string, unknown> = {}
      let changed = false
      for (const [k, v] of Object.entries(u)) {
        const r = await walk(v)
        if (E.isLeft(r)) return r
        changed = changed || r.right !== v
        out[k] = r.right
      }
      return E.right(changed ? out : u)
    }
    return E.right(u)
  }
  return walk(value)
}
