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
import * as Codec from '../../codec.js'
import * as Collection from '../../collections/collection.js'
import * as CollectionCodec from '../../collections/codec.js'
import * as Manifest from '../../collections/manifest.js'
import * as Materialize from '../../collections/materialize.js'
import * as Invoke from '../invoke.js'
import * as Wire from '../wire.js'
import * as Dispatcher from '../../dispatcher.js'
import * as Errors from '../../errors.js'
import * as Exec from '../../exec.js'
import * as Launcher from '../../exec/launcher.js'
import type * as Module from '../../module.js'
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

/**
 * The line printed last on stderr when the call fails (the error as data, for the runner).
 *
 * @category errors
 * @since 0.2.0
 */
export const errorLine = Wire.errorLine

const workError = (code: string, message: string, hint: string, cause?: unknown) =>
  Errors.make('WorkRoleError', code, message, {}, { hint, ...(cause === undefined ? {} : { cause }) })

const localCollection = (module: string, work: string, pdh: string, where: string) =>
  workError(
    'ARV_CRUNCH_LOCAL_COLLECTION',
    `work "${work}" (module "${module}") put collection ${pdh} into ${where}, but that collection exists only inside this container`,
    'a collection made with ctx.output can only be the result itself; return it, and call the next work on it from run() or from the caller',
  )

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const hashesOf = (manifestText: string): ReadonlyArray<string> | undefined => {
  const m = Manifest.parse(manifestText)
  return E.isLeft(m) ? undefined : m.right.streams.flatMap((st) => st.locators.map((l) => l.hash))
}

const mountedBlocks = (call: ResultFile.CallFile): ReadonlySet<string> => new Set(Object.values(call.collections).flatMap((text) => hashesOf(text) ?? []))

/** whether every block of a manifest is one of these */
const blocksIn = (manifestText: string, blocks: ReadonlySet<string>): boolean => {
  const hashes = hashesOf(manifestText)
  return hashes !== undefined && hashes.every((h) => blocks.has(h) || h === 'd41d8cd98f00b204e9800998ecf8427e')
}

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

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
  // commands of ctx.exec start through one helper pool per container
  const launcher = Launcher.make()
  try {
    return await runCall(module, paths, signal, onEvent, launcher)
  } finally {
    await launcher.close()
  }
}

const runCall = async (module: Module.AnyModule, paths: WorkPaths, signal: AbortSignal, onEvent: (e: Dispatcher.Event) => void, launcher: Launcher.Launcher): Promise<E.Either<Errors.SdkError, WorkOutcome>> => {
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
  // the container is private to the call: its tmp is the call's; Arvados enforces maxRunTime
  await Fs.mkdir(paths.scratch, { recursive: true })
  const tmp = await Fs.mkdtemp(Path.join(paths.scratch, 'tmp-'))
  const host: Invoke.Host = {
    module,
    store,
    log: (id, work, message) => onEvent({ type: 'log', id, work, message }),
    exec: (ctx) => Exec.forCall({ work: ctx.work, signal: ctx.signal, tmp, launcher }),
    tmp: () => tmp,
  }
  const plan = Invoke.planner(module)(call.work)
  // secret arguments come back from their secret mount (the call file holds a marker)
  const secrets = await Request.readSecrets(Path.join(Path.dirname(paths.callFile), Path.basename(Request.SECRETS_FILE)))
  const args = call.args.map((a, i) => Codec.unseal(a, secrets[i] ?? []))
  onEvent({ type: 'start', id: call.callId, work: call.work })
  const o = await Invoke.invoke(host, plan, { id: call.callId, work: call.work, args, attempt: call.attempt ?? 1 }, signal)
  if (o._tag === 'Failed') return E.left(o.error)
  if (o._tag !== 'Json' && o.calls.some((c) => c.args.some((a) => a._tag === 'Json' && a.secrets !== undefined))) {
    return E.left(workError('ARV_CRUNCH_SECRET_CONTINUATION', `work "${call.work}" passed a Secret to a call it made; on Arvados such calls are written to Keep, where secrets may not go`, 'pass the secret to that work from run() instead'))
  }
  if (o._tag === 'Json') return E.left(workError('ARV_INTERNAL', 'an in-place call gave an encoded result', 'this is a bug in arvados-crunch; please report it'))
  const mounted = (pdh: string): boolean => call.collections[pdh] !== undefined
  try {
    const made = new Set<string>()
    const wire = await Wire.toResult(o, plan, store, signal, (pdh) => {
      if (!mounted(pdh)) made.add(pdh)
    })
    if (E.isLeft(wire)) return wire
    const { result, value } = wire.right
    if (result.kind === 'continuation') {
      // collections named in arguments already encoded as JSON, too
      for (const pdh of JSON.stringify(result).match(/[0-9a-f]{32}\+\d+/g) ?? []) if (!mounted(pdh)) made.add(pdh)
      // collections made here and handed to calls: written to the output under MADE_DIR, and
      // the runner makes them collections of their own
      const dirs: Record<string, string> = {}
      for (const pdh of [...made].sort()) {
        const c = await store.hydrate(CollectionCodec.unresolved({ kind: 'pdh', text: pdh }), signal)
        // a string that only looks like a portable data hash
        if (E.isLeft(c) || !Collection.isCollection(c.right)) continue
        const dir = `${ResultFile.MADE_DIR}/${pdh.replace('+', '_')}`
        const written = await Materialize.materialize(c.right, Path.join(paths.outputDir, dir), signal)
        if (E.isLeft(written)) return written
        dirs[pdh] = dir
      }
      await writeResult(paths.outputDir, Object.keys(dirs).length === 0 ? result : { ...result, made: dirs })
      onEvent({ type: 'done', id: call.callId, work: call.work, reused: false })
      return E.right({ kind: 'continuation', json: '{}', value: undefined })
    }
    const json = result.kind === 'value' ? result.json : ''
    if (Collection.isCollection(value)) {
      if (value.files.some((f) => f.path === ResultFile.RESULT_FILE)) {
        return E.left(workError('ARV_CRUNCH_RESERVED_NAME', `work "${call.work}" returned a collection with a file named ${ResultFile.RESULT_FILE}, a name reserved by arvados-crunch`, 'rename that file'))
      }
      // made only of blocks already in Keep (say, a concatenation of its inputs): its manifest
      // is the result, so its blocks stay as they are (same portable data hash as locally)
      if (blocksIn(value.manifestText, mountedBlocks(call))) {
        await writeResult(paths.outputDir, { v: 1, kind: 'manifest', manifest: value.manifestText })
        onEvent({ type: 'done', id: call.callId, work: call.work, reused: false })
        return E.right({ kind: 'collection', json, value })
      }
      const written = await Materialize.materialize(value, paths.outputDir, signal)
      if (E.isLeft(written)) return written
      onEvent({ type: 'done', id: call.callId, work: call.work, reused: false })
      return E.right({ kind: 'collection', json, value })
    }
    let foreign: string | undefined
    ResultFile.toWire(value, (pdh) => {
      if (!mounted(pdh)) foreign ??= pdh
    })
    if (foreign !== undefined) return E.left(localCollection(module.name, call.work, foreign, 'its result'))
    await writeResult(paths.outputDir, result)
    onEvent({ type: 'done', id: call.callId, work: call.work, reused: false })
    return E.right({ kind: 'value', json, value })
  } catch (cause) {
    return E.left(workError('ARV_CRUNCH_OUTPUT', `cannot write the result of work "${call.work}" into ${paths.outputDir}`, 'check the output directory mount', cause))
  }
}
