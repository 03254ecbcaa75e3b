/**
 * The reserved result file a work container writes at the root of its output directory
 * (`.arvados-crunch-result.json`), and the call file the runner mounts into it. Pure: text in,
 * values out.
 *
 * A result says what the container's output means:
 * - no result file: the output collection itself is the result (a work returning a collection);
 * - `collection`: the same, said explicitly (accepted, never written);
 * - `value`: the result is the JSON text `json` (collections inside it are portable data hashes
 *   of collections that already exist in Keep);
 * - `continuation`: the implementation made calls; `calls` are the calls it made and
 *   `output` the wire form of what it returned (futures as `{"~future": id}`, see `toWire`).
 *
 * A container that writes the file writes nothing else, so the file never reaches a collection
 * handed on to other calls.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import * as CoreCodec from '../../codec.js'
import * as Codec from '../../collections/codec.js'
import * as Collection from '../../collections/collection.js'
import * as Errors from '../../errors.js'
import * as Future from '../../future.js'
import type * as Graph from '../../graph.js'

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * Name of the result file at the root of a work container's output.
 *
 * @category constants
 * @since 0.1.0
 */
export const RESULT_FILE = '.arvados-crunch-result.json'

/**
 * Where a work container writes collections it made and handed to the calls it made.
 *
 * @category constants
 * @since 0.2.0
 */
export const MADE_DIR = '.arvados-crunch-made'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

const WireArg = t.union([t.type({ json: t.string }), t.type({ canonical: t.string, shape: t.string })])

const WireCall = t.type({ id: t.string, work: t.string, args: t.array(WireArg), deps: t.array(t.string) })

/**
 * @category codecs
 * @since 0.1.0
 */
export const Result = t.union([
  t.type({ v: t.literal(1), kind: t.literal('collection') }),
  t.type({ v: t.literal(1), kind: t.literal('value'), json: t.string }),
  t.intersection([
    t.type({ v: t.literal(1), kind: t.literal('continuation'), calls: t.array(WireCall), output: t.string }),
    // collections made in the container and named by the calls or the output: each written to
    // the output directory under this path, keyed by the portable data hash it had there
    t.partial({ made: t.record(t.string, t.string) }),
  ]),
  // a collection result made only of blocks already in Keep (a concatenation of inputs): its
  // manifest, so the runner records it as it is instead of re-uploading (and repacking) it
  t.type({ v: t.literal(1), kind: t.literal('manifest'), manifest: t.string }),
])

/**
 * @category models
 * @since 0.1.0
 */
export type Result = t.TypeOf<typeof Result>

/**
 * What the runner puts in a work container's `json` mount: the call, its encoded arguments
 * (JSON texts, exactly as encoded) and the portable manifest of every collection they name
 * (each mounted at `/keep/<pdh>`).
 *
 * @category codecs
 * @since 0.1.0
 */
export const CallFile = t.intersection([
  t.type({
    v: t.literal(1),
    module: t.string,
    work: t.string,
    callId: t.string,
    args: t.array(t.string),
    collections: t.record(t.string, t.string),
  }),
  // which attempt of the call this is (absent: the first)
  t.partial({ attempt: t.number }),
])

/**
 * @category models
 * @since 0.1.0
 */
export type CallFile = t.TypeOf<typeof CallFile>

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

const badFile = (what: string, problem: string) =>
  Errors.make('CrunchFileError', 'ARV_CRUNCH_FILE', `the ${what} is not valid: ${problem}`, { what }, { hint: 'the runner and the work container must run the same arvados-crunch version; resubmit the run' })

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

const parseWith = <A>(codec: t.Type<A, unknown, unknown>, what: string, text: string): E.Either<Errors.SdkError, A> => {
  let u: unknown
  try {
    u = JSON.parse(text)
  } catch {
    return E.left(badFile(what, 'it is not JSON'))
  }
  const r = codec.decode(u)
  if (E.isRight(r)) return E.right(r.right)
  const issue = CoreCodec.issuesOf(r.left)[0]
  return E.left(badFile(what, issue === undefined ? 'it does not fit the format' : `at ${issue.path}: expected ${issue.expected}, received ${issue.received}`))
}

/**
 * @category interpreters
 * @since 0.1.0
 */
export const parseResult = (text: string): E.Either<Errors.SdkError, Result> => parseWith(Result as unknown as t.Type<Result, unknown, unknown>, `result file ${RESULT_FILE}`, text)

/**
 * @category interpreters
 * @since 0.1.0
 */
export const parseCallFile = (text: string): E.Either<Errors.SdkError, CallFile> => parseWith(CallFile as unknown as t.Type<CallFile, unknown, unknown>, 'call file', text)

/**
 * The result file for a continuation: the recorded calls and the canonical output shape.
 *
 * @category constructors
 * @since 0.1.0
 */
export const continuation = (calls: ReadonlyArray<Graph.CallNode>, output: unknown, onCollection: (pdh: string) => void = () => undefined): Result => ({
  v: 1,
  kind: 'continuation',
  calls: calls.map((c) => ({ id: c.id, work: c.work, args: c.args.map((a) => (a._tag === 'Json' ? { json: a.json } : { canonical: a.canonical, shape: JSON.stringify(toWire(a.shape, onCollection)) })), deps: [...c.deps] })),
  output: JSON.stringify(toWire(output, onCollection)),
})

/**
 * The wire form of a value that may hold futures and collections, keys in their given order:
 * futures become `{"~future": id}`, collections `{"~collection": pdh}`, files
 * `{"~file": "pdh/path"}`. `onCollection` sees every collection's portable data hash.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const toWire = (u: unknown, onCollection: (pdh: string) => void = () => undefined): unknown => {
  if (Future.isFuture(u)) return { '~future': Future.sourceOf(u).nodeId }
  if (Collection.isCollection(u)) {
    onCollection(u.pdh)
    return { '~collection': u.pdh }
  }
  if (Collection.isCollectionFile(u)) {
    onCollection(u.collection.pdh)
    return { '~file': `${u.collection.pdh}/${u.path}` }
  }
  if (Array.isArray(u)) return u.map((x) => toWire(x, onCollection))
  if (typeof u !== 'object' || u === null) return u
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(u)) out[k] = toWire((u as Record<string, unknown>)[k], onCollection)
  return out
}

/**
 * Rebuilds a value from its wire form (`toWire`): `{"~future": id}` becomes a future of that call,
 * `{"~collection": pdh}` / `{"~file": "pdh/path"}` unresolved references (hydrated later).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const fromCanonical = (u: unknown, workOf: (id: string) => string): unknown => {
  if (Array.isArray(u)) return u.map((x) => fromCanonical(x, workOf))
  if (typeof u !== 'object' || u === null) return u
  const rec = u as Record<string, unknown>
  const keys = Object.keys(rec)
  if (keys.length === 1) {
    const v = rec[keys[0]!]
    if (keys[0] === '~future' && typeof v === 'string') return Future.make({ nodeId: v, work: workOf(v) })
    if (keys[0] === '~collection' && typeof v === 'string') return Codec.unresolved({ kind: 'pdh', text: v })
    if (keys[0] === '~file' && typeof v === 'string' && v.includes('/')) return Codec.unresolvedFile({ kind: 'pdh', text: v.slice(0, v.indexOf('/')) }, v.slice(v.indexOf('/') + 1))
  }
  const out: Record<string, unknown> = {}
  for (const k of keys) out[k] = fromCanonical(rec[k], workOf)
  return out
}

/**
 * The call nodes of a continuation, rebuilt (ids are kept as the container computed them).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const callsOf = (r: Extract<Result, { kind: 'continuation' }>, parent: string, workOf: (id: string) => string): ReadonlyArray<Graph.CallNode> => {
  const works = new Map(r.calls.map((c) => [c.id, c.work]))
  const lookup = (id: string): string => works.get(id) ?? workOf(id)
  return r.calls.map((c) => ({
    _tag: 'Call',
    id: c.id,
    work: c.work,
    deps: c.deps,
    parent,
    args: c.args.map((a): Graph.Arg => ('json' in a ? { _tag: 'Json', json: a.json } : { _tag: 'Shape', shape: fromCanonical(JSON.parse(a.shape), lookup), canonical: a.canonical })),
  }))
}
