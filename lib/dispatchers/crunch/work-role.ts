/**
 * The work role: what the bundled script does inside a work container. It reads the call from
 * its `json` mount, decodes the arguments through their codecs (collections become values
 * backed by their mounts), runs the implementation, and writes the result into the output
 * directory:
 * - a collection result: its files, at the root, and nothing else;
 * - a JSON result: only the reserved result file (`{"kind":"value","json":…}`);
 * - calls made by the implementation (a continuation): only the result file, with the calls
 *   and the returned shape; the runner submits the calls and resolves the shape.
 * A failure is a Left; the CLI prints it on stderr and exits non-zero.
 *
 * @since 0.1.0
 */
import * as Fs from 'node:fs/promises'
import * as Path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import * as Codec from '../../codec.js'
import * as Collection from '../../collections/collection.js'
import * as Materialize from '../../collections/materialize.js'
import * as Dispatcher from '../../dispatcher.js'
import * as Errors from '../../errors.js'
import * as Exec from '../../exec.js'
import * as Graph from '../../graph.js'
import type * as Module from '../../module.js'
import * as ValueStore from '../../value-store.js'
import * as KeepValueStore from './keep-value-store.js'
import * as Request from './request.js'
import * as ResultFile from './result-file.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * Where the work role finds its call and writes its result (the container's paths by default).
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkPaths {
  readonly callFile: string
  readonly outputDir: string
  /** scratch space for outputs under construction (the container's tmp) */
  readonly scratch: string
  /** where a collection argument is mounted */
  readonly mountPathOf?: (pdh: string) => string
}

/**
 * @category constants
 * @since 0.1.0
 */
export const containerPaths: WorkPaths = { callFile: Request.CALL_FILE, outputDir: Request.OUTPUT_DIR, scratch: Path.join(Request.TMP_DIR, 'arvados-crunch') }

/**
 * What the work wrote.
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkOutcome {
  readonly kind: 'collection' | 'value' | 'continuation'
  /** the result's JSON text (a collection's is its PDH as computed here); '{}' for a continuation */
  readonly json: string
  readonly value: unknown
}

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

const workError = (code: string, message: string, hint: string, cause?: unknown) =>
  Errors.make('WorkRoleError', code, message, {}, { hint, ...(cause === undefined ? {} : { cause }) })

const localCollection = (module: string, work: string, pdh: string, where: string) =>
  workError(
    'ARV_CRUNCH_LOCAL_COLLECTION',
    `work "${work}" (module "${module}") put collection ${pdh} into ${where}, but that collection exists only inside this container`,
    'a collection made with ctx.output can only be the result itself; return it, and call the next work on it from run() or from the caller',
  )

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

const summarize = (args: ReadonlyArray<string>): string => {
  const text = `(${args.join(', ')})`
  return text.length > 120 ? `${text.slice(0, 117)}…)` : text
}

const writeResult = async (dir: string, r: ResultFile.Result): Promise<void> => {
  await Fs.mkdir(dir, { recursive: true })
  await Fs.writeFile(Path.join(dir, ResultFile.RESULT_FILE), JSON.stringify(r))
}

/**
 * Runs the call named by the call file and writes its result.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const run = async (module: Module.AnyModule, paths: WorkPaths, signal: AbortSignal, onEvent: (e: Dispatcher.Event) => void = () => undefined): Promise<E.Either<Errors.SdkError, WorkOutcome>> => {
  let text: string
  try {
    text = await Fs.readFile(paths.callFile, 'utf8')
  } catch (cause) {
    return E.left(workError('ARV_CRUNCH_NO_CALL', `cannot read the call file ${paths.callFile}`, 'the work role runs inside a container made by the crunch runner (CRUNCH_ROLE=work); run the script with crunch run instead', cause))
  }
  const parsed = ResultFile.parseCallFile(text)
  if (E.isLeft(parsed)) return parsed
  const call = parsed.right
  if (call.module !== module.name) return E.left(workError('ARV_CRUNCH_WRONG_MODULE', `the call is for module "${call.module}" but this script runs module "${module.name}"`, 'the bundle and the call file must come from the same run'))
  const def = (module.work as Readonly<Record<string, Module.AnyWork>>)[call.work]
  if (def === undefined) return E.left(workError('ARV_CRUNCH_UNKNOWN_WORK', `module "${module.name}" has no work "${call.work}"`, 'the bundle and the call file must come from the same run'))
  const spec = def.spec
  if (call.args.length !== spec.args.length) return E.left(workError('ARV_ARITY', `work "${call.work}" takes ${spec.args.length} argument(s) and the call has ${call.args.length}`, 'the bundle and the call file must come from the same run'))

  const store = KeepValueStore.work(call, paths.scratch, paths.mountPathOf)
  const decoded: Array<unknown> = []
  for (let i = 0; i < call.args.length; i++) {
    const d = Codec.decode(spec.args[i] as t.Mixed, call.args[i]!, { module: module.name, work: call.work, position: `argument ${i + 1}` })
    if (E.isLeft(d)) return d
    decoded.push(d.right)
  }
  const hydrated = await store.hydrate(decoded, signal)
  if (E.isLeft(hydrated)) return hydrated
  const args = hydrated.right as ReadonlyArray<unknown>

  const rec = Graph.recorder(module, call.callId)
  // the container is private to the call: its tmp is the call's; Arvados enforces maxRunTime
  await Fs.mkdir(paths.scratch, { recursive: true })
  const tmp = await Fs.mkdtemp(Path.join(paths.scratch, 'tmp-'))
  const ctx: Module.WorkContext = {
    exec: Exec.forCall({ work: call.work, signal, tmp }),
    tmp,
    module: module.name,
    work: call.work,
    callId: call.callId,
    signal,
    call: rec.context.call,
    output: store.outputs(call.callId, signal),
    log: (message) => onEvent({ type: 'log', id: call.callId, work: call.work, message }),
    path: async (target) => {
      const p = await ValueStore.pathOf(store, target, signal)
      if (E.isLeft(p)) throw Errors.toError(p.left)
      return p.right
    },
  }
  onEvent({ type: 'start', id: call.callId, work: call.work })
  let result: unknown
  try {
    result = await def.implementation(...args, ctx)
    // generators, Sets and Maps become arrays once, in order
    const m = Graph.materialize(result, `the result of work "${call.work}"`)
    if (E.isLeft(m)) return E.left(m.left)
    result = m.right
  } catch (e) {
    const carried = Errors.carried(e)
    return E.left(carried?._tag === 'CodecError' ? carried : Dispatcher.workFailed(module.name, call.work, call.callId, summarize(call.args), e))
  }
  const mounted = (pdh: string): boolean => call.collections[pdh] !== undefined
  const calls = rec.calls()
  try {
    if (calls.length > 0 || Graph.containsFutures(result)) {
      // validate the output shape the way the local dispatcher's recorder validates arguments
      const shape = Graph.canonicalShape(result, new Set())
      if (E.isLeft(shape)) return E.left(Codec.codecError('encode', { module: module.name, work: call.work, position: 'result' }, [{ path: String(shape.left.path.join('.')) || '(root)', expected: spec.returns.name, received: shape.left.found }]))
      let foreign: string | undefined
      const r = ResultFile.continuation(calls, result, (pdh) => {
        if (!mounted(pdh)) foreign ??= pdh
      })
      if (foreign !== undefined) return E.left(localCollection(module.name, call.work, foreign, 'a call it made or the value it returned'))
      await writeResult(paths.outputDir, r)
      onEvent({ type: 'done', id: call.callId, work: call.work, reused: false })
      return E.right({ kind: 'continuation', json: '{}', value: undefined })
    }
    if (Codec.declaresCollection(spec.returns) && Array.isArray(result)) {
      const c = await store.concat(result as ReadonlyArray<Collection.Collection | null>, signal)
      if (E.isLeft(c)) return c
      result = c.right
    }
    const where: Codec.Where = { module: module.name, work: call.work, position: 'result' }
    const json = Codec.encode(spec.returns, result, where)
    if (E.isLeft(json)) return json
    if (Collection.isCollection(result)) {
      if (result.files.some((f) => f.path === ResultFile.RESULT_FILE)) {
        return E.left(workError('ARV_CRUNCH_RESERVED_NAME', `work "${call.work}" returned a collection with a file named ${ResultFile.RESULT_FILE}, a name reserved by arvados-crunch`, 'rename that file'))
      }
      const written = await Materialize.materialize(result, paths.outputDir, signal)
      if (E.isLeft(written)) return written
      onEvent({ type: 'done', id: call.callId, work: call.work, reused: false })
      return E.right({ kind: 'collection', json: json.right, value: result })
    }
    let foreign: string | undefined
    ResultFile.toWire(result, (pdh) => {
      if (!mounted(pdh)) foreign ??= pdh
    })
    if (foreign !== undefined) return E.left(localCollection(module.name, call.work, foreign, 'its result'))
    await writeResult(paths.outputDir, { v: 1, kind: 'value', json: json.right })
    onEvent({ type: 'done', id: call.callId, work: call.work, reused: false })
    return E.right({ kind: 'value', json: json.right, value: result })
  } catch (cause) {
    return E.left(workError('ARV_CRUNCH_OUTPUT', `cannot write the result of work "${call.work}" into ${paths.outputDir}`, 'check the output directory mount', cause))
  }
}
