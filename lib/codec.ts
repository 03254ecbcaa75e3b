/**
 * The codec boundary. Every value that crosses a work boundary (run's parameters, each work
 * argument, each result) is encoded with its io-ts codec, turned into JSON text, parsed back
 * and decoded — in the local dispatcher exactly as on a cluster. A value that does not fit
 * fails with a `CodecError` naming the work, the position (argument N, result, parameter),
 * the codec path and the *kind* of value received, never a dump of it.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import * as Errors from './errors.js'
import * as Json from './internal/json.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Where a value crosses: `work` is a work name (or `run` for the module's run), `position`
 * says which value ("argument 1", "result", "parameters").
 *
 * @category models
 * @since 0.1.0
 */
export interface Where {
  readonly module: string
  readonly work: string
  readonly position: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Issue {
  readonly path: string
  readonly expected: string
  readonly received: string
  /** the codec's own explanation, when it gives one */
  readonly message?: string
}

/**
 * @category models
 * @since 0.1.0
 */
export type CodecError = Errors.SdkError & {
  readonly _tag: 'CodecError'
  readonly direction: 'encode' | 'decode'
  readonly where: Where
  readonly issues: ReadonlyArray<Issue>
}

/**
 * A value crossed the boundary: its JSON text and the decoded value the receiver sees.
 *
 * @category models
 * @since 0.1.0
 */
export interface Crossed<A> {
  readonly json: string
  readonly value: A
}

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

const describe = (where: Where): string =>
  where.work === 'run' ? `${where.position} of run() in module "${where.module}"` : `${where.position} of work "${where.work}" (module "${where.module}")`

/**
 * @category errors
 * @since 0.1.0
 */
export const codecError = (direction: 'encode' | 'decode', where: Where, issues: ReadonlyArray<Issue>): CodecError =>
  Errors.make(
    'CodecError',
    direction === 'encode' ? 'ARV_ENCODE' : 'ARV_DECODE',
    direction === 'encode' ? `${describe(where)} cannot cross the work boundary` : `${describe(where)} could not be decoded`,
    { direction, where, issues },
    {
      details: issues.slice(0, 5).flatMap((i) => [i.message !== undefined ? `✖ ${i.message}` : `✖ expected ${i.expected}, received ${i.received}`, `  → at ${i.path}`]).concat(issues.length > 5 ? [`… and ${issues.length - 5} more`] : []),
      hint:
        direction === 'encode'
          ? 'values crossing a work boundary must fit the declared io-ts codec and encode to plain JSON (no undefined, NaN, Infinity, BigInt, functions, cycles or class instances without a codec)'
          : 'the value does not fit the declared codec; check the codec or the data that produced it',
    },
  )

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const isMemberContext = (parent: t.Decoder<unknown, unknown> | undefined): boolean => {
  const tag = (parent as { _tag?: unknown } | undefined)?._tag
  return tag === 'UnionType' || tag === 'IntersectionType' || tag === 'RefinementType' || tag === 'ExactType' || tag === 'ReadonlyType' || tag === 'RecursiveType'
}

/**
 * Turns io-ts validation errors into issues with a dot path (`reads[2].name`), the codec
 * name expected there and the kind of value received.
 *
 * @category utils
 * @since 0.1.0
 */
export const issuesOf = (errors: t.Errors): ReadonlyArray<Issue> => {
  const out: Array<Issue> = []
  const seen = new Set<string>()
  for (const e of errors) {
    const steps: Array<Json.PathStep> = []
    // the codec expected at the failing location: the deepest entry that is a path step (a
    // union's members are alternatives at the same location, so the union itself is named)
    let expected: string | undefined = e.context[0]?.type.name
    for (let i = 1; i < e.context.length; i++) {
      const parent = e.context[i - 1]?.type
      const entry = e.context[i]!
      if (isMemberContext(parent)) continue
      const parentTag = (parent as { _tag?: unknown } | undefined)?._tag
      steps.push(parentTag === 'ArrayType' || parentTag === 'ReadonlyArrayType' || parentTag === 'TupleType' ? Number(entry.key) : entry.key)
      expected = entry.type.name
    }
    const issue: Issue = {
      path: Json.dotPath(steps),
      expected: expected ?? 'a valid value',
      received: e.value === undefined && steps.length > 0 ? 'nothing (the field is missing)' : Errors.kindOf(e.value),
      ...(e.message === undefined ? {} : { message: e.message }),
    }
    const key = `${issue.path}|${issue.received}`
    if (!seen.has(key)) {
      seen.add(key)
      out.push(issue)
    }
  }
  return out
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * Encodes `value` with `codec` to JSON text, failing when it does not fit the codec or does
 * not encode to plain JSON.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const encode = <A, O>(codec: t.Type<A, O, unknown>, value: unknown, where: Where): E.Either<CodecError, string> => {
  if (!codec.is(value)) {
    const notJson = Json.findNonJson(value)
    if (notJson !== undefined) return E.left(codecError('encode', where, [{ path: Json.dotPath(notJson.path), expected: 'a JSON value or a value with a codec', received: notJson.found }]))
    const v = codec.validate(value, [{ key: '', type: codec, actual: value }])
    const issues = E.isLeft(v) ? issuesOf(v.left) : [{ path: '(root)', expected: codec.name, received: Errors.kindOf(value) }]
    return E.left(codecError('encode', where, issues))
  }
  let encoded: unknown
  try {
    encoded = codec.encode(value)
  } catch (cause) {
    return E.left(codecError('encode', where, [{ path: '(root)', expected: codec.name, received: `a value whose encoder threw: ${cause instanceof Error ? cause.message : Errors.kindOf(cause)}` }]))
  }
  // fast path: a string, boolean, null or finite number is JSON as it is (no walk needed)
  if (encoded === null || typeof encoded === 'string' || typeof encoded === 'boolean' || (typeof encoded === 'number' && Number.isFinite(encoded))) return E.right(JSON.stringify(encoded))
  const notJson = Json.findNonJson(encoded)
  if (notJson !== undefined) return E.left(codecError('encode', where, [{ path: Json.dotPath(notJson.path), expected: `JSON from codec ${codec.name}`, received: notJson.found }]))
  return E.right(JSON.stringify(encoded))
}

/**
 * Parses JSON text and decodes it with `codec`.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const decode = <A, O>(codec: t.Type<A, O, unknown>, json: string, where: Where): E.Either<CodecError, A> => {
  let parsed: unknown
  try {
    parsed = Json.parse(json)
  } catch {
    return E.left(codecError('decode', where, [{ path: '(root)', expected: 'JSON text', received: 'text that is not JSON' }]))
  }
  return decodeUnknown(codec, parsed, where)
}

/**
 * Decodes an already parsed value (JSON from a file or the command line).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const decodeUnknown = <A, O>(codec: t.Type<A, O, unknown>, u: unknown, where: Where): E.Either<CodecError, A> => {
  const r = codec.decode(u)
  return E.isLeft(r) ? E.left(codecError('decode', where, issuesOf(r.left))) : E.right(r.right)
}

/**
 * encode → JSON → decode: what the receiving side of a work boundary sees.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const cross = <A, O>(codec: t.Type<A, O, unknown>, value: unknown, where: Where): E.Either<CodecError, Crossed<A>> => {
  const json = encode(codec, value, where)
  if (E.isLeft(json)) return json
  const decoded = decode(codec, json.right, where)
  return E.isLeft(decoded) ? decoded : E.right({ json: json.right, value: decoded.right })
}

// -------------------------------------------------------------------------------------
// guards
// -------------------------------------------------------------------------------------

const LEAF_TAGS = new Set(['StringType', 'NumberType', 'BooleanType', 'NullType', 'UndefinedType', 'VoidType', 'LiteralType', 'KeyofType', 'BigIntType', 'NeverType'])

/**
 * Whether values of a codec may hold collections or collection files (which need hydrating
 * after decoding). Conservative: a codec it cannot see into (custom types, `t.unknown`,
 * recursive codecs) may hold them.
 *
 * @category guards
 * @since 0.1.0
 */
export const mayHoldCollections = (codec: t.Mixed): boolean => {
  if (codec.name === 'Collection' || codec.name === 'CollectionFile') return true
  const c = codec as unknown as { _tag?: string; type?: t.Mixed; types?: ReadonlyArray<t.Mixed>; props?: Record<string, t.Mixed>; codomain?: t.Mixed }
  if (c._tag === undefined) return true
  if (LEAF_TAGS.has(c._tag)) return false
  switch (c._tag) {
    case 'ArrayType':
    case 'ReadonlyArrayType':
    case 'RefinementType':
    case 'ReadonlyType':
    case 'ExactType':
      return c.type === undefined || mayHoldCollections(c.type)
    case 'InterfaceType':
    case 'PartialType':
    case 'StrictType':
      return Object.values(c.props ?? {}).some(mayHoldCollections)
    case 'UnionType':
    case 'IntersectionType':
    case 'TupleType':
      return (c.types ?? []).some(mayHoldCollections)
    case 'DictionaryType':
      return c.codomain === undefined || mayHoldCollections(c.codomain)
    default:
      return true
  }
}

/**
 * Whether a codec declares a collection result (`CollectionCodec`, or it in a union with
 * null): returning a list of futures of collections there means concatenation.
 *
 * @category guards
 * @since 0.1.0
 */
export const declaresCollection = (codec: t.Mixed): boolean => {
  if (codec.name === 'Collection') return true
  const u = codec as { _tag?: unknown; types?: ReadonlyArray<t.Mixed> }
  if (u._tag === 'UnionType' && Array.isArray(u.types)) {
    return u.types.some((m) => m.name === 'Collection') && u.types.every((m) => m.name === 'Collection' || m.name === 'null')
  }
  return false
}
