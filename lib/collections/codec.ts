/**
 * Codecs for collections crossing a work boundary. Pure: `CollectionCodec` (name
 * `'Collection'`) travels as a portable data hash string and decodes a PDH, an Arvados
 * collection UUID (`xxxxx-4zz18-xxxxxxxxxxxxxxx`) or a local path (`/…`, `./…`, `../…`) into
 * an *unresolved reference*; `FileCodec` (name `'CollectionFile'`) travels as `pdh/path`.
 * A dispatcher's ValueStore then hydrates references into live values (`Reference.hydrate`).
 * Encoding a live value gives its PDH (or `pdh/path`); encoding a reference gives its text back.
 *
 * @since 0.1.0
 */
import * as t from 'io-ts'
import * as Collection from './collection.js'
import * as PathSafety from './path-safety.js'
import * as Pdh from './pdh.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** @category models @since 0.1.0 */
export const ReferenceId = '~arvados-crunch/CollectionReference' as const

/**
 * What a wire string named, before hydration.
 *
 * @category models
 * @since 0.1.0
 */
export interface Reference {
  readonly kind: 'pdh' | 'uuid' | 'path'
  readonly text: string
}

/**
 * A Collection placeholder carrying its reference; `pdh` holds the reference text until the
 * value is hydrated (its manifest is empty and it cannot be read).
 *
 * @category models
 * @since 0.1.0
 */
export type Unresolved = Collection.Collection & { readonly [ReferenceId]: Reference }

/** @category models @since 0.1.0 */
export type UnresolvedFile = Collection.CollectionFile & { readonly collection: Unresolved }

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

const UUID = /^[a-z0-9]{5}-4zz18-[a-z0-9]{15}$/
const PATH = /^(\/|\.\/|\.\.\/)/
const FORMS = 'a portable data hash (<32 hex>+<size>), a collection UUID (xxxxx-4zz18-xxxxxxxxxxxxxxx) or a local path'

// -------------------------------------------------------------------------------------
// constructors
// -------------------------------------------------------------------------------------

/**
 * Reads a reference string; Left says what is wrong.
 *
 * @category constructors
 * @since 0.1.0
 */
export const reference = (s: string): { readonly _tag: 'Right'; readonly right: Reference } | { readonly _tag: 'Left'; readonly left: string } => {
  if (Pdh.isPdh(s)) return { _tag: 'Right', right: { kind: 'pdh', text: s } }
  if (UUID.test(s)) return { _tag: 'Right', right: { kind: 'uuid', text: s } }
  if (PATH.test(s) && !s.includes('\u0000')) return { _tag: 'Right', right: { kind: 'path', text: s } }
  if (/^[0-9a-fA-F]{32}/.test(s)) return { _tag: 'Left', left: `${PathSafety.show(s)} looks like a portable data hash but is not one (expected <32 lowercase hex>+<size>)` }
  if (/^[a-z0-9]{5}-[a-z0-9]{5}-/.test(s)) return { _tag: 'Left', left: `${PathSafety.show(s)} is not a collection UUID (collection UUIDs have the infix 4zz18)` }
  // anything else names a local directory, relative to the working directory (`reads/`)
  if (s !== '' && !s.includes('\u0000') && !s.includes('\n')) return { _tag: 'Right', right: { kind: 'path', text: s } }
  return { _tag: 'Left', left: `${PathSafety.show(s)} is not ${FORMS}` }
}

/**
 * The unresolved placeholder for a reference. Built as a plain record of the Collection shape
 * (no cast needed: it has every Collection field plus the reference).
 *
 * @category constructors
 * @since 0.1.0
 */
export const unresolved = (ref: Reference): Unresolved => {
  const value: Unresolved = { [Collection.TypeId]: Collection.TypeId, [ReferenceId]: ref, pdh: ref.text, manifestText: '', files: [], mountPath: undefined }
  return value
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const unresolvedFile = (ref: Reference, path: string): UnresolvedFile => ({ [Collection.FileTypeId]: Collection.FileTypeId, collection: unresolved(ref), path, size: -1 })

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

/** @category guards @since 0.1.0 */
export const isUnresolved = (u: unknown): u is Unresolved => Collection.isCollection(u) && typeof (u as { [ReferenceId]?: unknown })[ReferenceId] === 'object'

/** @category guards @since 0.1.0 */
export const isUnresolvedFile = (u: unknown): u is UnresolvedFile => Collection.isCollectionFile(u) && isUnresolved(u.collection)

// -------------------------------------------------------------------------------------
// codecs
// -------------------------------------------------------------------------------------

/**
 * A collection, on the wire as its portable data hash.
 *
 * @category codecs
 * @since 0.1.0
 */
export const CollectionCodec: t.Type<Collection.Collection, string, unknown> = new t.Type<Collection.Collection, string, unknown>(
  'Collection',
  Collection.isCollection,
  (u, c) => {
    if (Collection.isCollection(u)) return t.success(u)
    if (typeof u !== 'string') return t.failure(u, c, `expected a collection reference string (${FORMS}), received ${typeof u === 'object' ? (u === null ? 'null' : Array.isArray(u) ? 'array' : 'object') : typeof u}`)
    const r = reference(u)
    return r._tag === 'Right' ? t.success(unresolved(r.right)) : t.failure(u, c, r.left)
  },
  (c) => c.pdh,
)

/**
 * One file inside a collection, on the wire as `pdh/path`.
 *
 * @category codecs
 * @since 0.1.0
 */
export const FileCodec: t.Type<Collection.CollectionFile, string, unknown> = new t.Type<Collection.CollectionFile, string, unknown>(
  'CollectionFile',
  Collection.isCollectionFile,
  (u, c) => {
    if (Collection.isCollectionFile(u)) return t.success(u)
    if (typeof u !== 'string') return t.failure(u, c, `expected a collection file reference "<pdh>/<path>", received ${u === null ? 'null' : typeof u}`)
    const slash = u.indexOf('/')
    if (slash < 0) return t.failure(u, c, `${PathSafety.show(u)} is not a collection file reference: expected "<pdh>/<path inside the collection>"`)
    const head = u.slice(0, slash)
    const r = reference(head)
    if (r._tag === 'Left' || r.right.kind === 'path') return t.failure(u, c, `${PathSafety.show(u)} is not a collection file reference: ${r._tag === 'Left' ? r.left : 'a file reference starts with a PDH or collection UUID'}`)
    const path = u.slice(slash + 1)
    const parts = PathSafety.components(path)
    if (parts._tag === 'Left') return t.failure(u, c, `${PathSafety.show(u)} is not a collection file reference: the path ${PathSafety.show(path)} is not valid (${parts.left})`)
    return t.success(unresolvedFile(r.right, path))
  },
  (f) => `${f.collection.pdh}/${f.path}`,
)
