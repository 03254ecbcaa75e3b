/**
 * The immutable call graph. Evaluating `run` (or a work implementation) with a recording call
 * table yields a *fragment*: the call nodes made, in order (including calls whose future was
 * dropped: calling schedules work), and the output template — the returned value with futures
 * in it. A dispatcher splices fragments as continuations appear.
 *
 * Node ids are Merkle ids: a digest of (module name, work name, the work's code hash, each
 * argument's canonical encoding, where futures appear as the ids of the nodes they name). Equal
 * inputs and code give equal ids across processes and machines; they key reuse and resubmission.
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
export type Arg =
  | { readonly _tag: 'Json'; readonly json: string }
  | { readonly _tag: 'Shape'; readonly shape: unknown; readonly canonical: string }

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
  if (proto !== Object.prototype && proto !== null) return false
  for (const k of Object.keys(u)) if (hasFutures((u as Record<string, unknown>)[k])) return true
  return false
}

/**
 * Whether a value holds a future anywhere in its arrays and records.
 *
 * @category guards
 * @since 0.1.0
 */
export const containsFutures = hasFutures

/**
 * The canonical, hashable form of a structure that holds futures: futures become
 * `{"~future": id}`, collections `{"~collection": pdh}`; everything else must be plain JSON.
 *
 * @category utils
 * @since 0.1.0
 */
export const canonicalShape = (shape: unknown, deps: Set<string>): E.Either<Json.NotJson, string> => {
  const path: Array<Json.PathStep> = []
  const walk = (u: unknown): unknown => {
    if (Future.isFuture(u)) {
      const id = Future.sourceOf(u).nodeId
      deps.add(id)
      return { '~future': id }
    }
    if (Collection.isCollection(u)) return { '~collection': u.pdh }
    if (typeof u === 'object' && u !== null && typeof (u as { pdh?: unknown; path?: unknown; collection?: unknown }).path === 'string' && Collection.isCollection((u as { collection?: unknown }).collection)) {
      const f = u as { collection: Collection.Collection; path: string }
      return { '~file': `${f.collection.pdh}/${f.path}` }
    }
    if (Array.isArray(u)) {
      return u.map((x, i) => {
        path.push(i)
        const r = walk(x)
        path.pop()
        return r
      })
    }
    if (typeof u === 'object' && u !== null) {
      const proto: unknown = Object.getPrototypeOf(u)
      if (proto !== Object.prototype && proto !== null) throw { path: [...path], found: Errors.kindOf(u) } satisfies Json.NotJson
      const out: Record<string, unknown> = {}
      for (const k of Object.keys(u)) {
        path.push(k)
        out[k] = walk((u as Record<string, unknown>)[k])
        path.pop()
      }
      return out
    }
    const bad = Json.findNonJson(u)
    if (bad !== undefined) throw { path: [...path, ...bad.path], found: bad.found } satisfies Json.NotJson
    return u
  }
  try {
    return E.right(Json.canonical(walk(shape)))
  } catch (e) {
    return E.left(e as Json.NotJson)
  }
}

/**
 * The Merkle id of a call.
 *
 * @category utils
 * @since 0.1.0
 */
export const callId = (module: string, work: string, codeHash: string, args: ReadonlyArray<Arg>): string => {
  // one-shot digest of the concatenated text: the same bytes as one update per part, without
  // a Hash object per call (about 1 µs saved per call)
  let text = `crunch-call/1\0${module}\0${work}\0${codeHash}`
  for (const a of args) text += a._tag === 'Json' ? `\0j${a.json}` : `\0s${a.canonical}`
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

/**
 * Makes a recorder for `module`; `parent` is the call whose implementation is running, if any.
 *
 * @category constructors
 * @since 0.1.0
 */
export const recorder = <W extends Readonly<Record<string, Module.AnyWork>>>(module: Module.Module<t.Mixed, W, unknown, t.Mixed | undefined>, parent: string | undefined): Recorder<W> => {
  const recorded: Array<CallNode> = []
  const seen = new Set<string>()
  const caller = parent === undefined ? 'run()' : `the implementation of call ${parent.slice(0, 12)}`
  const record = (name: string, def: Module.AnyWork, args: ReadonlyArray<unknown>): Future.Future<unknown> => {
    const codecs: ReadonlyArray<t.Mixed> = def.spec.args
    if (args.length !== codecs.length) throw Errors.toError(arityError(module, name, codecs.length, args.length))
    const encoded: Array<Arg> = []
    let deps: Set<string> | undefined
    for (let i = 0; i < args.length; i++) {
      const value = args[i]
      const where: Codec.Where = { module: module.name, work: name, position: `argument ${i + 1}` }
      if (hasFutures(value)) {
        const c = canonicalShape(value, (deps ??= new Set()))
        if (E.isLeft(c)) throw Errors.toError(Codec.codecError('encode', where, [{ path: Json.dotPath(c.left.path), expected: codecs[i]!.name, received: c.left.found }]))
        encoded.push({ _tag: 'Shape', shape: value, canonical: c.right })
      } else {
        const json = Codec.encode(codecs[i]!, value, where)
        if (E.isLeft(json)) throw Errors.toError(json.left)
        encoded.push({ _tag: 'Json', json: json.right })
      }
    }
    const id = callId(module.name, name, def.codeHash, encoded)
    if (!seen.has(id)) {
      seen.add(id)
      recorded.push(Object.freeze({ _tag: 'Call', id, work: name, args: Object.freeze(encoded), deps: deps === undefined ? noDeps : Object.freeze([...deps]), parent }))
    }
    return Future.make({ nodeId: id, work: name })
  }
  const call: Module.CallFn = (def, ...args) => {
    const name = module.nameOf(def)
    if (name === undefined) throw Errors.toError(unknownWork(module, caller))
    return record(name, def, args)
  }
  // the call table is built on first use: an implementation's recorder usually only needs `call`
  let table: Record<string, (...args: ReadonlyArray<unknown>) => Future.Future<unknown>> | undefined
  const buildTable = (): Record<string, (...args: ReadonlyArray<unknown>) => Future.Future<unknown>> => {
    const built: Record<string, (...args: ReadonlyArray<unknown>) => Future.Future<unknown>> = {}
    for (const name of Object.keys(module.work)) {
      const def = module.work[name]!
      built[name] = (...args) => record(name, def, args)
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

/**
 * The combine node for an output that holds futures.
 *
 * @category constructors
 * @since 0.1.0
 */
export const combine = (owner: string, output: unknown, declared: t.Mixed | undefined): CombineNode => {
  const deps = new Set<string>()
  substitute(output, (id) => deps.add(id))
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
