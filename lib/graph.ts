/**
 * The immutable call graph. Evaluating `run` (or a work implementation) with a recording call
 * table yields a *fragment*: the call nodes made, in order (including calls whose future was
 * dropped: calling schedules work), and the output template — the returned value with futures
 * in it. A dispatcher splices fragments as continuations appear.
 *
 * Node ids are Merkle ids: a digest of (module name, work name, the work's code hash, each
 * argument's canonical encoding, where futures appear as the ids of the nodes they name). Equal
 * inputs and code give equal ids across processes and machines; they key reuse and resubmission.
 * The code hash covers every source file the work's file reaches when the module carries a code
 * identity (`identity/identity.ts`), else the implementation's function text.
 *
 * Levels, as in the original draft: S1 = ready (every input resolved), S2 = waiting on futures,
 * S3 = combine (gather a structure of futures, or concatenate collections) once inputs resolve.
 *
 * @since 0.1.0
 */
import * as Crypto from 'node:crypto'
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import * as Codec from './codec.js'
import * as Collection from './collections/collection.js'
import * as Errors from './errors.js'
import * as Future from './future.js'
import type * as Identity from './identity/identity.js'
import * as Json from './internal/json.js'
import type * as Module from './module.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * One argument of a call: already encoded JSON text (no futures inside), or a structure that
 * holds futures (`shape`, kept as given) with its canonical form for hashing and export.
 *
 * @category models
 * @since 0.1.0
 */
export type Arg = JsonArg | { readonly _tag: 'Shape'; readonly shape: unknown; readonly canonical: string }

/**
 * An encoded argument. When it holds secrets (`Codec.Secret`), `json` is sealed (each secret
 * replaced by a constant marker: that is what ids, exports and call files see) and the values
 * are in `secrets`, a field JSON.stringify does not see; `plainJson` puts them back.
 *
 * @category models
 * @since 0.1.0
 */
export interface JsonArg {
  readonly _tag: 'Json'
  readonly json: string
  readonly secrets?: ReadonlyArray<string>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface CallNode {
  readonly _tag: 'Call'
  readonly id: string
  readonly work: string
  readonly args: ReadonlyArray<Arg>
  /** ids of the nodes this call waits on, without repeats */
  readonly deps: ReadonlyArray<string>
  /** the call whose implementation made this call; undefined when made by run */
  readonly parent: string | undefined
}

/**
 * An S3 node: resolves to `shape` with its futures replaced by their values; `concat` when the
 * owner declares a collection result and returned a list.
 *
 * @category models
 * @since 0.1.0
 */
export interface CombineNode {
  readonly _tag: 'Combine'
  readonly id: string
  /** the call whose output this is, or 'run' */
  readonly owner: string
  readonly mode: 'gather' | 'concat'
  readonly shape: unknown
  readonly deps: ReadonlyArray<string>
}

/**
 * @category models
 * @since 0.1.0
 */
export type Node = CallNode | CombineNode

/**
 * What evaluating `run` or one implementation recorded.
 *
 * @category models
 * @since 0.1.0
 */
export interface Fragment {
  readonly calls: ReadonlyArray<CallNode>
  /** the returned value; it may hold futures */
  readonly output: unknown
}

/**
 * A whole graph (for export and inspection): every node in recording order.
 *
 * @category models
 * @since 0.1.0
 */
export interface Graph {
  readonly module: string
  readonly nodes: ReadonlyArray<Node>
}

/**
 * @category models
 * @since 0.1.0
 */
export type Level = 'S1' | 'S2' | 'S3'

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

const unknownWork = (module: Module.AnyModule, caller: string) =>
  Errors.make('UnknownWorkError', 'ARV_UNKNOWN_WORK', `${caller} called a work function that is not part of module "${module.name}"`, { module: module.name }, {
    hint: `add it to defineModule({ work: { … } }) of "${module.name}" so dispatchers can find it by name`,
  })

const secretWithFutures = (module: Module.AnyModule, work: string, position: number) =>
  Errors.make('SecretArgumentError', 'ARV_SECRET_WITH_FUTURES', `argument ${position} of work "${work}" (module "${module.name}") holds futures and a Secret`, { module: module.name, work, position }, {
    hint: 'pass the secret as an argument of its own (its codec Secret(...)), and the futures in other arguments',
  })

const arityError = (module: Module.AnyModule, work: string, expected: number, got: number) =>
  Errors.make('ArityError', 'ARV_ARITY', `work "${work}" (module "${module.name}") takes ${expected} argument(s) and was called with ${got}`, { module: module.name, work, expected, got })

// -------------------------------------------------------------------------------------
// recording
// -------------------------------------------------------------------------------------

const hasFutures = (u: unknown): boolean => {
  if (Future.isFuture(u)) return true
  if (typeof u !== 'object' || u === null || Collection.isCollection(u)) return false
  if (Array.isArray(u)) return u.some(hasFutures)
  const proto: unknown = Object.getPrototypeOf(u)
  if (proto !== Object.prototype && proto !== null) return isReiterable(u) && itemsOf(u).some(hasFutures)
  for (const k of Object.keys(u)) if (hasFutures((u as Record<string, unknown>)[k])) return true
  return false
}

/**
 * Whether a value holds a future anywhere in its arrays, records and iterables (a Set's or a
 * Map's values), or holds a one-shot iterator such as a generator, which cannot be looked into
 * without consuming it (`materialize` reads it into an array).
 *
 * @category guards
 * @since 0.1.0
 */
export const containsFutures = (u: unknown): boolean => hasFutures(u) || needsMaterializing(u)

// -------------------------------------------------------------------------------------
// iterables
// -------------------------------------------------------------------------------------

const asyncIterable = (where: string, kind: string) =>
  Errors.make('AsyncIterableError', 'ARV_ASYNC_ITERABLE', `${where} is an async iterable (${kind}); only arrays and synchronous iterables can be walked for futures`, { where }, {
    hint: 'collect it into an array first: const xs = []; for await (const x of it) xs.push(x)',
  })

/** a non-array iterable object (strings, typed arrays, futures and collections are leaves) */
const isLooseIterable = (u: object): boolean =>
  !Array.isArray(u) && !ArrayBuffer.isView(u) && typeof (u as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function' && !Future.isFuture(u) && !Collection.isCollection(u)

/** an iterator (a generator, `map.values()`): iterating it returns itself, and reading it consumes it */
const isOneShot = (u: object): boolean => isLooseIterable(u) && (u as Iterable<unknown>)[Symbol.iterator]() === u

/** a collection that can be iterated again and again: a Set, a Map, a user's iterable */
const isReiterable = (u: object): boolean => isLooseIterable(u) && !isOneShot(u)

/** what an iterable stands for: its items; a Map's values */
const itemsOf = (u: object): Array<unknown> => [...(u instanceof Map ? u.values() : (u as Iterable<unknown>))]

const isAsyncIterable = (u: object): boolean => typeof (u as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function' && !Array.isArray(u)

/** `AsyncGenerator` for an async generator, else the kind of value */
const tagOf = (u: object): string => {
  const tag = (u as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag]
  return typeof tag === 'string' ? tag : Errors.kindOf(u)
}

const isRecord = (u: object): boolean => {
  const proto: unknown = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/**
 * Whether `materialize` would change anything: a one-shot iterator or an async iterable
 * somewhere, or a Set/Map holding futures. Nothing is consumed.
 */
const needsMaterializing = (u: unknown): boolean => {
  if (typeof u !== 'object' || u === null || Future.isFuture(u) || Collection.isCollection(u)) return false
  if (Array.isArray(u)) return u.some(needsMaterializing)
  if (isOneShot(u) || isAsyncIterable(u)) return true
  if (isReiterable(u)) return itemsOf(u).some((x) => hasFutures(x) || needsMaterializing(x))
  if (!isRecord(u)) return false
  for (const k of Object.keys(u)) if (needsMaterializing((u as Record<string, unknown>)[k])) return true
  return false
}

const materializeDeep = (u: unknown, where: string): unknown => {
  if (typeof u !== 'object' || u === null || Future.isFuture(u) || Collection.isCollection(u)) return u
  if (Array.isArray(u)) return u.map((x) => materializeDeep(x, where))
  if (isAsyncIterable(u) && !isLooseIterable(u)) throw Errors.toError(asyncIterable(where, tagOf(u)))
  if (isOneShot(u)) return itemsOf(u).map((x) => materializeDeep(x, where))
  if (isReiterable(u)) {
    // a Set or a Map without futures stays what it is: its codec decides (Codec.encode reads it as
    // the array of its items when the codec refuses it and accepts that array)
    const items = itemsOf(u)
    return items.some((x) => hasFutures(x) || needsMaterializing(x)) ? items.map((x) => materializeDeep(x, where)) : u
  }
  if (!isRecord(u)) return u
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(u)) out[k] = materializeDeep((u as Record<string, unknown>)[k], where)
  return out
}

/**
 * Reads iterables inside arrays and records into arrays, once, in iteration order, at any depth:
 * one-shot iterators (generators, `map.values()`) always, and Sets, Maps (their values) and other
 * iterables when they hold futures (without any, they stay as they are, for their codec to
 * judge). Strings and typed arrays are values, not lists. An async iterable is an
 * `AsyncIterableError` (`ARV_ASYNC_ITERABLE`); `where` names the value in it ("argument 2 of
 * work \"classify\"", "the result of run()").
 *
 * Call sites (work arguments) do this when the call is recorded; dispatchers do it to what
 * `run` and implementations return.
 *
 * @category utils
 * @since 0.1.0
 */
export const materialize = (u: unknown, where: string): E.Either<Errors.SdkError, unknown> => {
  if (!needsMaterializing(u)) return E.right(u)
  try {
    return E.right(materializeDeep(u, where))
  } catch (e) {
    const carried = Errors.carried(e)
    if (carried !== undefined) return E.left(carried)
    throw e
  }
}

/** a value that is not JSON, found while writing canonical text; the path is collected (leaf first) as it unwinds */
interface Unwinding {
  readonly '~unwinding': true
  readonly steps: Array<Json.PathStep>
  readonly found: string
}

const unwinding = (found: string): Unwinding => ({ '~unwinding': true, steps: [], found })
const isUnwinding = (e: unknown): e is Unwinding => typeof e === 'object' && e !== null && (e as { '~unwinding'?: unknown })['~unwinding'] === true

const byKey = (a: readonly [string, string], b: readonly [string, string]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)

/**
 * Writes the canonical text of `u` directly (no intermediate structure: a gather of 100,000
 * futures is on the hot path). Values are visited in the order of the structure, so `deps`
 * gets ids in that order and the first value that is not JSON is the one reported.
 */
const canonicalText = (u: unknown, deps: Set<string>): string => {
  if (Future.isFuture(u)) {
    const id = Future.sourceOf(u).nodeId
    deps.add(id)
    return `{"~future":${JSON.stringify(id)}}`
  }
  if (typeof u !== 'object' || u === null) {
    const bad = Json.findNonJson(u)
    if (bad !== undefined) throw unwinding(bad.found)
    return JSON.stringify(u)
  }
  if (Collection.isCollection(u)) return `{"~collection":${JSON.stringify(u.pdh)}}`
  if (typeof (u as { path?: unknown }).path === 'string' && Collection.isCollection((u as { collection?: unknown }).collection)) {
    const f = u as { collection: Collection.Collection; path: string }
    return `{"~file":${JSON.stringify(`${f.collection.pdh}/${f.path}`)}}`
  }
  if (Array.isArray(u)) {
    // holes stay empty, as in the text of the array `map` keeps them in
    const parts = u.map((x: unknown, i: number) => {
      try {
        return canonicalText(x, deps)
      } catch (e) {
        if (isUnwinding(e)) e.steps.push(i)
        throw e
      }
    })
    return `[${parts.join(',')}]`
  }
  const proto: unknown = Object.getPrototypeOf(u)
  if (proto !== Object.prototype && proto !== null) throw unwinding(Errors.kindOf(u))
  const entries: Array<readonly [string, string]> = []
  for (const k of Object.keys(u)) {
    let text: string
    try {
      text = canonicalText((u as Record<string, unknown>)[k], deps)
    } catch (e) {
      if (isUnwinding(e)) e.steps.push(k)
      throw e
    }
    // a `__proto__` key never reached the canonical text (it was assigned to a plain record)
    if (k !== '__proto__') entries.push([k, text])
  }
  entries.sort(byKey)
  let out = '{'
  for (let i = 0; i < entries.length; i++) out += `${i === 0 ? '' : ','}${JSON.stringify(entries[i]![0])}:${entries[i]![1]}`
  return out + '}'
}

/**
 * The canonical, hashable form of a structure that holds futures: futures become
 * `{"~future": id}`, collections `{"~collection": pdh}`; everything else must be plain JSON.
 *
 * @category utils
 * @since 0.1.0
 */
export const canonicalShape = (shape: unknown, deps: Set<string>): E.Either<Json.NotJson, string> => {
  try {
    return E.right(canonicalText(shape, deps))
  } catch (e) {
    if (isUnwinding(e)) return E.left({ path: e.steps.reverse(), found: e.found })
    return E.left(e as Json.NotJson)
  }
}

/**
 * The Merkle id of a call.
 *
 * @category utils
 * @since 0.1.0
 */
export const callId = (module: string, work: string, codeHash: string, args: ReadonlyArray<Arg>): string => idFrom(idPrefix(module, work, codeHash), args)

/** the part of a call id's text that is the same for every call of a work */
const idPrefix = (module: string, work: string, codeHash: string): string => `crunch-call/1\0${module}\0${work}\0${codeHash}`

const idFrom = (prefix: string, args: ReadonlyArray<Arg>): string => {
  // one-shot digest of the concatenated text: the same bytes as one update per part, without
  // a Hash object per call (about 1 µs saved per call)
  let text = prefix
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    text += a._tag === 'Json' ? `\0j${a.json}` : `\0s${a.canonical}`
  }
  return Crypto.hash('sha256', text, 'hex').slice(0, 40)
}

/**
 * A recorder: the call table handed to `run` or an implementation, and what it recorded.
 * Recording errors (a value that cannot cross, a work of another module) are thrown at the call
 * site as `Error`s carrying the `SdkError`, so they point at the user's line; dispatchers turn
 * them back into values.
 *
 * @category models
 * @since 0.1.0
 */
export interface Recorder<W extends Readonly<Record<string, Module.AnyWork>>> {
  readonly context: Module.RunContext<W>
  /** the calls recorded so far, in order */
  readonly calls: () => ReadonlyArray<CallNode>
}

const noDeps: ReadonlyArray<string> = Object.freeze([])

interface WorkInfo {
  readonly where: ReadonlyArray<Codec.Where>
  readonly prefix: string
  /** per argument: whether its encoding may hold a secret (then it is sealed) */
  readonly mayHoldSecrets: ReadonlyArray<boolean>
}

/**
 * An encoded argument with its secrets taken out (see `JsonArg`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const jsonArg = (json: string): JsonArg => {
  const sealed = Codec.seal(json)
  if (sealed.secrets.length === 0) return { _tag: 'Json', json }
  const arg: { _tag: 'Json'; json: string } = { _tag: 'Json', json: sealed.json }
  Object.defineProperty(arg, 'secrets', { value: Object.freeze([...sealed.secrets]), enumerable: false })
  return arg
}

/**
 * The JSON text of an encoded argument with its secrets in: what its codec decodes for the
 * implementation. Never for ids, exports, logs or call files (they take `json`).
 *
 * @category destructors
 * @since 0.1.0
 */
export const plainJson = (a: JsonArg): string => (a.secrets === undefined ? a.json : Codec.unseal(a.json, a.secrets))

/**
 * The code hash that goes into the ids of a work's calls: from the code identity when it knows
 * the work's file (every file that file reaches), else the work's function-text hash.
 *
 * @category utils
 * @since 0.1.0
 */
export const codeHashOf = (def: Module.AnyWork, name: string, identity: Identity.Identity | undefined): string => identity?.codeHash(def, name) ?? def.codeHash

/**
 * Makes a recorder for `module`; `parent` is the call whose implementation is running, if any.
 * Call ids take code hashes from `identity` (by default the module's own, see
 * `Module.identity`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const recorder = <W extends Readonly<Record<string, Module.AnyWork>>>(
  module: Module.Module<t.Mixed, W, unknown, t.Mixed | undefined>,
  parent: string | undefined,
  identity: Identity.Identity | undefined = module.identity,
): Recorder<W> => {
  const recorded: Array<CallNode> = []
  const seen = new Set<string>()
  const caller = parent === undefined ? 'run()' : `the implementation of call ${parent.slice(0, 12)}`
  // per work, made once: where each argument crosses (needed only to report errors) and the
  // constant head of its call ids' text
  const works = new Map<string, WorkInfo>()
  const workInfo = (name: string, def: Module.AnyWork): WorkInfo => {
    let w = works.get(name)
    if (w === undefined) {
      w = {
        where: (def.spec.args as ReadonlyArray<t.Mixed>).map((_, i) => ({ module: module.name, work: name, position: `argument ${i + 1}` })),
        prefix: idPrefix(module.name, name, codeHashOf(def, name, identity)),
        mayHoldSecrets: (def.spec.args as ReadonlyArray<t.Mixed>).map(Codec.mayHoldSecrets),
      }
      works.set(name, w)
    }
    return w
  }
  const record = (name: string, def: Module.AnyWork, info: WorkInfo, args: ReadonlyArray<unknown>): Future.Future<unknown> => {
    const where = info.where
    const codecs: ReadonlyArray<t.Mixed> = def.spec.args
    if (args.length !== codecs.length) throw Errors.toError(arityError(module, name, codecs.length, args.length))
    // exactly as long as the arguments: kept in the node for the whole run
    const encoded: Array<Arg> = new Array(args.length)
    let deps: Set<string> | undefined
    for (let i = 0; i < args.length; i++) {
      const value = needsMaterializing(args[i]) ? materializeDeep(args[i], `argument ${i + 1} of work "${name}"`) : args[i]
      if (hasFutures(value)) {
        if (info.mayHoldSecrets[i] === true && Codec.showsSecret(codecs[i]!)) throw Errors.toError(secretWithFutures(module, name, i + 1))
        const c = canonicalShape(value, (deps ??= new Set()))
        if (E.isLeft(c)) throw Errors.toError(Codec.codecError('encode', where[i]!, [{ path: Json.dotPath(c.left.path), expected: codecs[i]!.name, received: c.left.found }]))
        encoded[i] = { _tag: 'Shape', shape: value, canonical: c.right }
      } else {
        const json = Codec.encode(codecs[i]!, value, where[i]!)
        if (E.isLeft(json)) throw Errors.toError(json.left)
        encoded[i] = info.mayHoldSecrets[i] === true ? jsonArg(json.right) : { _tag: 'Json', json: json.right }
      }
    }
    const id = idFrom(info.prefix, encoded)
    // one hash lookup: adding an id already seen leaves the size as it was
    const known = seen.size
    if (seen.add(id).size !== known) {
      recorded.push(Object.freeze({ _tag: 'Call', id, work: name, args: Object.freeze(encoded), deps: deps === undefined ? noDeps : Object.freeze([...deps]), parent }))
    }
    return Future.make({ nodeId: id, work: name })
  }
  const call: Module.CallFn = (def, ...args) => {
    const name = module.nameOf(def)
    if (name === undefined) throw Errors.toError(unknownWork(module, caller))
    return record(name, def, workInfo(name, def), args)
  }
  // the call table is built on first use: an implementation's recorder usually only needs `call`
  let table: Record<string, (...args: ReadonlyArray<unknown>) => Future.Future<unknown>> | undefined
  const buildTable = (): Record<string, (...args: ReadonlyArray<unknown>) => Future.Future<unknown>> => {
    const built: Record<string, (...args: ReadonlyArray<unknown>) => Future.Future<unknown>> = {}
    for (const name of Object.keys(module.work)) {
      const def = module.work[name]!
      const info = workInfo(name, def)
      built[name] = (...args) => record(name, def, info, args)
    }
    return built
  }
  return {
    context: {
      get work() {
        return (table ??= buildTable()) as Module.Calls<W>
      },
      call,
    },
    calls: () => recorded.slice(),
  }
}

/** adds the ids of the futures in `shape` to `deps`, visiting what `substitute` visits, in its order */
const collectDeps = (shape: unknown, deps: Set<string>): void => {
  if (Future.isFuture(shape)) {
    deps.add(Future.sourceOf(shape).nodeId)
    return
  }
  if (typeof shape !== 'object' || shape === null || Collection.isCollection(shape)) return
  if (Array.isArray(shape)) {
    shape.forEach((x: unknown) => collectDeps(x, deps))
    return
  }
  const proto: unknown = Object.getPrototypeOf(shape)
  if (proto !== Object.prototype && proto !== null) return
  for (const k of Object.keys(shape)) collectDeps((shape as Record<string, unknown>)[k], deps)
}

/**
 * The combine node for an output that holds futures.
 *
 * @category constructors
 * @since 0.1.0
 */
export const combine = (owner: string, returned: unknown, declared: t.Mixed | undefined): CombineNode => {
  // iterables become arrays here too (an async one is left for the codec to refuse)
  const m = materialize(returned, owner === 'run' ? 'the result of run()' : `the result of call ${owner.slice(0, 12)}`)
  const output = E.isRight(m) ? m.right : returned
  const deps = new Set<string>()
  collectDeps(output, deps)
  const mode = declared !== undefined && Codec.declaresCollection(declared) && Array.isArray(output) ? 'concat' : 'gather'
  return Object.freeze({ _tag: 'Combine', id: `${owner}/out`, owner, mode, shape: output, deps: Object.freeze([...deps]) })
}

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

/**
 * Replaces every future inside `shape` with `valueOf(id)`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const substitute = (shape: unknown, valueOf: (id: string) => unknown): unknown => {
  if (Future.isFuture(shape)) return valueOf(Future.sourceOf(shape).nodeId)
  if (typeof shape !== 'object' || shape === null || Collection.isCollection(shape)) return shape
  if (Array.isArray(shape)) return shape.map((x) => substitute(x, valueOf))
  const proto: unknown = Object.getPrototypeOf(shape)
  if (proto !== Object.prototype && proto !== null) return shape
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(shape)) out[k] = substitute((shape as Record<string, unknown>)[k], valueOf)
  return out
}

/**
 * Appends a fragment's new calls (and its combine node) to a graph.
 *
 * @category combinators
 * @since 0.1.0
 */
export const splice = (graph: Graph, nodes: ReadonlyArray<Node>): Graph => {
  const known = new Set(graph.nodes.map((n) => n.id))
  return { module: graph.module, nodes: [...graph.nodes, ...nodes.filter((n) => !known.has(n.id))] }
}

/**
 * Classifies each unresolved node: S1 ready, S2 waiting on futures, S3 combine.
 *
 * @category combinators
 * @since 0.1.0
 */
export const levels = (graph: Graph, resolved: ReadonlySet<string>): ReadonlyMap<string, Level> => {
  const out = new Map<string, Level>()
  for (const n of graph.nodes) {
    if (resolved.has(n.id)) continue
    if (n._tag === 'Combine') out.set(n.id, 'S3')
    else out.set(n.id, n.deps.every((d) => resolved.has(d)) ? 'S1' : 'S2')
  }
  return out
}

// -------------------------------------------------------------------------------------
// interpreters (export)
// -------------------------------------------------------------------------------------

const short = (id: string): string => id.slice(0, 12).replace(/\W/g, '_')
const label = (n: Node): string => (n._tag === 'Call' ? `${n.work} ${n.id.slice(0, 8)}` : `${n.mode} → ${n.owner === 'run' ? 'run' : n.owner.slice(0, 8)}`)

/**
 * Mermaid flowchart text.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const toMermaid = (graph: Graph): string => {
  const lines = ['flowchart LR']
  for (const n of graph.nodes) lines.push(n._tag === 'Call' ? `  n${short(n.id)}["${label(n)}"]` : `  n${short(n.id)}{{"${label(n)}"}}`)
  for (const n of graph.nodes) {
    for (const d of n.deps) lines.push(`  n${short(d)} --> n${short(n.id)}`)
    if (n._tag === 'Combine' && n.owner !== 'run') lines.push(`  n${short(n.id)} -. output of .-> n${short(n.owner)}`)
  }
  return lines.join('\n') + '\n'
}

/**
 * Graphviz DOT text.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const toDot = (graph: Graph): string => {
  const lines = [`digraph ${JSON.stringify(graph.module)} {`, '  rankdir=LR;']
  for (const n of graph.nodes) lines.push(`  "${n.id}" [label=${JSON.stringify(label(n))}, shape=${n._tag === 'Call' ? 'box' : 'hexagon'}];`)
  for (const n of graph.nodes) {
    for (const d of n.deps) lines.push(`  "${d}" -> "${n.id}";`)
    if (n._tag === 'Combine' && n.owner !== 'run') lines.push(`  "${n.id}" -> "${n.owner}" [style=dashed, label="output of"];`)
  }
  lines.push('}')
  return lines.join('\n') + '\n'
}

/**
 * A JSON form: nodes with their arguments in canonical encoding.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const toJson = (graph: Graph): Json.Json => ({
  module: graph.module,
  nodes: graph.nodes.map((n): Json.Json =>
    n._tag === 'Call'
      ? { kind: 'call', id: n.id, work: n.work, parent: n.parent ?? null, deps: [...n.deps], args: n.args.map((a) => (a._tag === 'Json' ? (JSON.parse(a.json) as Json.Json) : (JSON.parse(a.canonical) as Json.Json))) }
      : { kind: 'combine', id: n.id, owner: n.owner, mode: n.mode, deps: [...n.deps] },
  ),
})

/**
 * The JSON text of a shape whose futures are replaced by their values' JSON texts (each piece
 * already crossed its codec), spliced as text: what `JSON.stringify(substitute(shape, …))` gives,
 * without parsing and writing each piece again.
 *
 * @category destructors
 * @since 0.1.0
 */
export const spliceJson = (shape: unknown, jsonOf: (id: string) => string): string => {
  if (Future.isFuture(shape)) return jsonOf(Future.sourceOf(shape).nodeId)
  if (typeof shape !== 'object' || shape === null || Collection.isCollection(shape)) return JSON.stringify(shape)
  if (Array.isArray(shape)) {
    const parts: Array<string> = new Array(shape.length)
    for (let i = 0; i < shape.length; i++) parts[i] = (spliceJson(shape[i], jsonOf) as string | undefined) ?? 'null'
    return `[${parts.join(',')}]`
  }
  const proto: unknown = Object.getPrototypeOf(shape)
  if (proto !== Object.prototype && proto !== null) return JSON.stringify(shape)
  const record = shape as Record<string, unknown>
  if (typeof record['toJSON'] === 'function' || Object.prototype.hasOwnProperty.call(record, '__proto__')) return JSON.stringify(substitute(shape, (id) => JSON.parse(jsonOf(id)) as unknown))
  let out = '{'
  for (const k of Object.keys(record)) {
    const text = spliceJson(record[k], jsonOf) as string | undefined
    if (text !== undefined) out += `${out === '{' ? '' : ','}${JSON.stringify(k)}:${text}`
  }
  return `${out}}`
}
