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

/** a non-array iterable object that is not a string, a typed array or a buffer */
const isLooseIterable = (u: object): u is Iterable<unknown> =>
  !Array.isArray(u) && !ArrayBuffer.isView(u) && typeof (u as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function'

const isPlainRecord = (u: object): boolean => {
  const proto: unknown = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const holdsIterables = (u: unknown, depth = 0): boolean => {
  if (typeof u !== 'object' || u === null || depth > Json.MAX_DEPTH) return false
  if (Array.isArray(u)) return u.some((x) => holdsIterables(x, depth + 1))
  if (isLooseIterable(u)) return true
  if (!isPlainRecord(u)) return false
  for (const k of Object.keys(u)) if (holdsIterables((u as Record<string, unknown>)[k], depth + 1)) return true
  return false
}

/** iterables (at any depth inside arrays and plain records) read into arrays, a Map's values taken */
const arrayify = (u: unknown, depth = 0): unknown => {
  if (typeof u !== 'object' || u === null || depth > Json.MAX_DEPTH) return u
  if (Array.isArray(u)) return u.map((x) => arrayify(x, depth + 1))
  if (isLooseIterable(u)) return [...(u instanceof Map ? u.values() : u)].map((x) => arrayify(x, depth + 1))
  if (!isPlainRecord(u)) return u
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(u)) out[k] = arrayify((u as Record<string, unknown>)[k], depth + 1)
  return out
}

/**
 * Encodes `value` with `codec` to JSON text, failing when it does not fit the codec or does
 * not encode to plain JSON.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const encode = <A, O>(codec: t.Type<A, O, unknown>, given: unknown, where: Where): E.Either<CodecError, string> => {
  let value = given
  if (!codec.is(value) && holdsIterables(value)) {
    // where an array is declared, a Set, a Map (its values) or another iterable stands for the
    // array of its items, as `Deferrable` promises; a codec that accepts the iterable itself
    // (a custom Set codec) has already said yes above and keeps it
    value = arrayify(value)
  }
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
 * Whether some codec inside `codec` (itself included) may be one `found` recognises. Codecs of
 * unknown shape count as "may"; leaf codecs (string, number, …) as "not".
 */
const mayContain = (codec: t.Mixed, found: (c: { readonly name: string; readonly _tag?: string }) => boolean): boolean => {
  if (found(codec as unknown as { name: string; _tag?: string })) return true
  const c = codec as unknown as { _tag?: string; type?: t.Mixed; types?: ReadonlyArray<t.Mixed>; props?: Record<string, t.Mixed>; codomain?: t.Mixed }
  if (c._tag === undefined) return true
  if (LEAF_TAGS.has(c._tag)) return false
  const inner = (x: t.Mixed): boolean => mayContain(x, found)
  switch (c._tag) {
    case 'ArrayType':
    case 'ReadonlyArrayType':
    case 'RefinementType':
    case 'ReadonlyType':
    case 'ExactType':
    case 'SecretType':
      return c.type === undefined || inner(c.type)
    case 'InterfaceType':
    case 'PartialType':
    case 'StrictType':
      return Object.values(c.props ?? {}).some(inner)
    case 'UnionType':
    case 'IntersectionType':
    case 'TupleType':
      return (c.types ?? []).some(inner)
    case 'DictionaryType':
      return c.codomain === undefined || inner(c.codomain)
    default:
      return true
  }
}

/**
 * Whether values of a codec may hold collections or collection files (which need hydrating
 * after decoding). Conservative: a codec it cannot see into (custom types, `t.unknown`,
 * recursive codecs) may hold them.
 *
 * @category guards
 * @since 0.1.0
 */
export const mayHoldCollections = (codec: t.Mixed): boolean => mayContain(codec, (c) => c.name === 'Collection' || c.name === 'CollectionFile')

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

// -------------------------------------------------------------------------------------
// secrets
// -------------------------------------------------------------------------------------

/**
 * The key of an encoded secret: `Secret(c)` encodes a value as `{"~secret": <its c encoding>}`.
 *
 * @category constants
 * @since 0.1.0
 */
export const SECRET_KEY = '~secret'

/** the key of the constant marker a sealed secret is replaced by */
const SEALED_KEY = '~secret-redacted'

/**
 * The constant text a secret is replaced by wherever it must not appear (call ids, call files,
 * graph exports, error summaries). The same for every value, so a changed password is the same
 * call: a hash of the value would let anyone holding an id try guesses.
 *
 * @category constants
 * @since 0.1.0
 */
export const SEALED_JSON = `{"${SEALED_KEY}":true}`

/**
 * A codec marking its values as secret.
 *
 * @category models
 * @since 0.1.0
 */
export interface SecretType<C extends t.Mixed> extends t.Type<t.TypeOf<C>, { readonly '~secret': t.OutputOf<C> }, unknown> {
  readonly _tag: 'SecretType'
  readonly type: C
}

/**
 * JSON text with its secrets taken out: each `{"~secret": v}` replaced by `SEALED_JSON`, the
 * JSON texts of the values in `secrets`, in the order a depth-first walk meets them.
 *
 * @category models
 * @since 0.1.0
 */
export interface Sealed {
  readonly json: string
  readonly secrets: ReadonlyArray<string>
}

/**
 * Marks a parameter or a work argument as secret. The implementation (or `run`) receives the
 * plain value; the value never goes into call ids (a constant marker does), call files, graph
 * exports, journals, events or errors, and on Arvados it travels in `secret_mounts`. Decodes the
 * plain value (a command-line flag, a params file) as well as its encoded form.
 *
 * Only for parameters and arguments: a result cannot be secret (results are stored), and an
 * argument that holds futures cannot hold a secret (pass the secret as its own argument).
 *
 * @example
 * import * as t from 'io-ts'
 * import { Secret, work } from 'arvados-crunch'
 * const login = work({ args: [t.string, Secret(t.string)], returns: t.boolean }, async (user, password) => password.length > 0)
 *
 * @category constructors
 * @since 0.1.0
 */
export const Secret = <C extends t.Mixed>(codec: C): SecretType<C> => {
  const type = new t.Type<t.TypeOf<C>, { readonly '~secret': t.OutputOf<C> }, unknown>(
    `Secret<${codec.name}>`,
    (u): u is t.TypeOf<C> => codec.is(u),
    (u, c) => {
      if (isRecordWith(u, SEALED_KEY)) return t.failure(u, c, 'a secret whose value was taken out (sealed): the dispatcher must put it back before decoding')
      return codec.validate(isRecordWith(u, SECRET_KEY) ? u[SECRET_KEY] : u, c)
    },
    (a) => ({ [SECRET_KEY]: codec.encode(a) as t.OutputOf<C> }),
  )
  return Object.assign(type, { _tag: 'SecretType' as const, type: codec })
}

const isRecordWith = <K extends string>(u: unknown, key: K): u is Readonly<Record<K, unknown>> => {
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return false
  const keys = Object.keys(u)
  return keys.length === 1 && keys[0] === key
}

/**
 * Whether a codec shows a `Secret` inside (precise: a codec it cannot see into counts as not).
 *
 * @category guards
 * @since 0.1.0
 */
export const showsSecret = (codec: t.Mixed): boolean => {
  const c = codec as unknown as { _tag?: string; type?: t.Mixed; types?: ReadonlyArray<t.Mixed>; props?: Record<string, t.Mixed>; codomain?: t.Mixed }
  switch (c._tag) {
    case 'SecretType':
      return true
    case 'ArrayType':
    case 'ReadonlyArrayType':
    case 'RefinementType':
    case 'ReadonlyType':
    case 'ExactType':
      return c.type !== undefined && showsSecret(c.type)
    case 'InterfaceType':
    case 'PartialType':
    case 'StrictType':
      return Object.values(c.props ?? {}).some(showsSecret)
    case 'UnionType':
    case 'IntersectionType':
    case 'TupleType':
      return (c.types ?? []).some(showsSecret)
    case 'DictionaryType':
      return c.codomain !== undefined && showsSecret(c.codomain)
    default:
      return false
  }
}

/**
 * Whether encodings of a codec may hold a secret (conservative: a codec it cannot see into
 * may). Decided once per codec by callers on hot paths.
 *
 * @category guards
 * @since 0.1.0
 */
export const mayHoldSecrets = (codec: t.Mixed): boolean => mayContain(codec, (c) => c._tag === 'SecretType')

const mapJson = (u: unknown, leaf: (record: Record<string, unknown>) => unknown): unknown => {
  if (typeof u !== 'object' || u === null) return u
  if (Array.isArray(u)) return u.map((x) => mapJson(x, leaf))
  const replaced = leaf(u as Record<string, unknown>)
  if (replaced !== undefined) return replaced
  const out = Object.create(null) as Record<string, unknown>
  for (const k of Object.keys(u)) out[k] = mapJson((u as Record<string, unknown>)[k], leaf)
  return out
}

/**
 * Takes the secrets out of JSON text made by `encode` (see `Sealed`). Text without secrets is
 * returned as it is.
 *
 * @category utils
 * @since 0.1.0
 */
export const seal = (json: string): Sealed => {
  if (!json.includes(`"${SECRET_KEY}"`)) return { json, secrets: [] }
  const secrets: Array<string> = []
  const sealed = mapJson(JSON.parse(json), (r) => {
    if (!isRecordWith(r, SECRET_KEY)) return undefined
    secrets.push(JSON.stringify(r[SECRET_KEY]))
    return { [SEALED_KEY]: true }
  })
  return { json: JSON.stringify(sealed), secrets }
}

/**
 * Puts secrets taken out by `seal` back.
 *
 * @category utils
 * @since 0.1.0
 */
export const unseal = (json: string, secrets: ReadonlyArray<string>): string => {
  if (secrets.length === 0 || !json.includes(`"${SEALED_KEY}"`)) return json
  let n = 0
  const revealed = mapJson(JSON.parse(json), (r) => {
    if (!isRecordWith(r, SEALED_KEY)) return undefined
    const text = secrets[n++]
    return text === undefined ? r : { [SECRET_KEY]: JSON.parse(text) as unknown }
  })
  return JSON.stringify(revealed)
}

/**
 * The texts to redact for secret values (their JSON texts, as `seal` gives them): every string
 * and number inside, also as it appears escaped in JSON text.
 *
 * @category utils
 * @since 0.1.0
 */
export const secretStrings = (secrets: ReadonlyArray<string>): ReadonlyArray<string> => {
  const out = new Set<string>()
  const walk = (u: unknown): void => {
    if (typeof u === 'string') {
      out.add(u)
      out.add(JSON.stringify(u).slice(1, -1))
    } else if (typeof u === 'number') out.add(String(u))
    else if (typeof u === 'object' && u !== null) for (const v of Object.values(u)) walk(v)
  }
  for (const s of secrets) walk(JSON.parse(s) as unknown)
  return [...out].filter((s) => s !== '')
}

/**
 * The secret strings inside a value of `codec` (empty when it holds none or does not fit).
 *
 * @category utils
 * @since 0.1.0
 */
export const secretsIn = (codec: t.Mixed, value: unknown): ReadonlyArray<string> => {
  if (!mayHoldSecrets(codec)) return []
  const where: Where = { module: '', work: 'run', position: 'parameters' }
  const decoded = codec.is(value) ? E.right(value) : decodeUnknown(codec, value, where)
  if (E.isLeft(decoded)) return []
  const json = encode(codec, decoded.right, where)
  return E.isLeft(json) ? [] : secretStrings(seal(json.right).secrets)
}
