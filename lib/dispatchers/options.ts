/**
 * The interpreter's checks of works' options and values, the same for every executor: unknown
 * options rejected before any call runs; resources of an attempt (and how they grow after an
 * out-of-memory end); and values that cannot cross a work boundary (cycles, absurd depth,
 * throwing getters, BigInt, functions) reported as codec errors naming the work and the path,
 * never as an internal error.
 *
 * @since 0.2.0
 */
import * as E from 'fp-ts/lib/Either.js'
import * as Codec from '../codec.js'
import * as Errors from '../errors.js'
import type * as Module from '../module.js'
import type * as Executor from './executor.js'

// -------------------------------------------------------------------------------------
// options
// -------------------------------------------------------------------------------------

/**
 * Every option a work spec may carry (besides `args` and `returns`).
 *
 * @category constants
 * @since 0.2.0
 */
export const KNOWN: ReadonlyArray<string> = [
  'ram',
  'vcpus',
  'gpu',
  'keepCacheRam',
  'keepCacheDisk',
  'tmp',
  'apiAccess',
  'maxRunTime',
  'preemptible',
  'partitions',
  'retries',
  'escalate',
  'reuse',
  'outputName',
  'image',
  'maxConcurrent',
  'exclusive',
]

const knownSet = new Set<string>([...KNOWN, 'args', 'returns'])

const badOption = (module: string, work: string, option: string, problem: string, hint: string) =>
  Errors.make('WorkOptionError', 'ARV_WORK_OPTION', `work "${work}" of module "${module}": ${problem}`, { module, work, option }, { hint })

/** edit distance (insertions, deletions, substitutions), for "did you mean" */
const distance = (a: string, b: string): number => {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]!
}

const closest = (name: string): string | undefined => {
  const lower = name.toLowerCase()
  let best: { readonly k: string; readonly d: number } | undefined
  for (const k of KNOWN) {
    const d = distance(lower, k.toLowerCase())
    if (d <= Math.max(1, Math.floor(k.length / 3)) && (best === undefined || d < best.d)) best = { k, d }
  }
  return best?.k
}

/**
 * Unknown options, and known ones with values no executor could honour, as an error naming the
 * work and the option.
 *
 * @category utils
 * @since 0.2.0
 */
export const check = (module: Module.AnyModule): E.Either<Errors.SdkError, void> => {
  for (const [work, def] of Object.entries(module.work as Readonly<Record<string, Module.AnyWork>>)) {
    const spec = def.spec as unknown as Readonly<Record<string, unknown>>
    for (const key of Object.keys(spec)) {
      if (knownSet.has(key)) continue
      const near = closest(key)
      return E.left(badOption(module.name, work, key, `unknown option "${key}"`, near === undefined ? `the options are: ${KNOWN.join(', ')}` : `did you mean "${near}"? The options are: ${KNOWN.join(', ')}`))
    }
    const o = def.spec as Module.WorkOptions
    const positiveInt = (name: string, v: unknown): E.Either<Errors.SdkError, void> =>
      v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0) ? E.right(undefined) : E.left(badOption(module.name, work, name, `${name} must be a whole number >= 0, not ${JSON.stringify(v)}`, `e.g. ${name}: 2`))
    for (const name of ['retries', 'maxRunTime'] as const) {
      const r = positiveInt(name, o[name])
      if (E.isLeft(r)) return r
    }
    if (o.maxConcurrent !== undefined && !(Number.isInteger(o.maxConcurrent) && o.maxConcurrent >= 1)) return E.left(badOption(module.name, work, 'maxConcurrent', `maxConcurrent must be a whole number >= 1, not ${JSON.stringify(o.maxConcurrent)}`, 'e.g. maxConcurrent: 2'))
    if (o.exclusive !== undefined && (typeof o.exclusive !== 'string' || o.exclusive === '')) return E.left(badOption(module.name, work, 'exclusive', 'exclusive must name a group (a non-empty string)', "e.g. exclusive: 'bigmem'"))
    if (o.vcpus !== undefined && !(typeof o.vcpus === 'number' && o.vcpus > 0 && Number.isFinite(o.vcpus))) return E.left(badOption(module.name, work, 'vcpus', `vcpus must be a number > 0, not ${JSON.stringify(o.vcpus)}`, 'e.g. vcpus: 2'))
    for (const name of ['ram', 'keepCacheRam', 'keepCacheDisk', 'tmp'] as const) {
      const v = (o as Readonly<Record<string, unknown>>)[name] as Module.Size | undefined
      if (v !== undefined && bytesOf(v) === undefined) return E.left(badOption(module.name, work, name, `${name} is not a size: ${JSON.stringify(v)}`, `give bytes or a size with a unit, e.g. ${name}: '2GiB'`))
    }
    if (typeof o.outputName === 'string') {
      const bad = badOutputName(o.outputName)
      if (bad !== undefined) return E.left(badOption(module.name, work, 'outputName', `outputName ${JSON.stringify(o.outputName)} ${bad}`, 'give a name without "/" of at most 250 characters, or a function of the arguments'))
    } else if (o.outputName !== undefined && typeof o.outputName !== 'function') return E.left(badOption(module.name, work, 'outputName', 'outputName must be a string or a function of the arguments', "e.g. outputName: (sample) => `aligned ${sample}`"))
    if (o.escalate !== undefined) {
      const max = bytesOf(o.escalate.ram?.max)
      if (o.escalate.ram === undefined || max === undefined) return E.left(badOption(module.name, work, 'escalate', 'escalate.ram.max must be a size', "e.g. escalate: { ram: { max: '32GiB' } }"))
      if (o.escalate.ram.factor !== undefined && !(o.escalate.ram.factor > 1)) return E.left(badOption(module.name, work, 'escalate', 'escalate.ram.factor must be > 1', 'e.g. factor: 2'))
      if (o.ram === undefined) return E.left(badOption(module.name, work, 'escalate', 'escalate needs a starting ram', "set ram, e.g. ram: '2GiB'"))
    }
  }
  return E.right(undefined)
}

const UNITS: Readonly<Record<string, number>> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }

/**
 * A size in bytes from a number or `'2GiB'`-style text; undefined when it is not a size.
 *
 * @category utils
 * @since 0.2.0
 */
export const bytesOf = (size: Module.Size | undefined): number | undefined => {
  if (size === undefined) return undefined
  if (typeof size === 'number') return Number.isFinite(size) && size >= 0 ? Math.ceil(size) : undefined
  if (typeof size !== 'string') return undefined
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)$/.exec(size)
  if (m === null) return undefined
  return Math.ceil(Number(m[1]) * UNITS[m[2]!]!)
}

/**
 * @category utils
 * @since 0.2.0
 */
export const resourcesOf = (o: Module.WorkOptions): Executor.Resources => ({ ram: bytesOf(o.ram), vcpus: o.vcpus })

/**
 * @category utils
 * @since 0.2.0
 */
export const attemptsOf = (o: Module.WorkOptions): number => 1 + Math.max(0, o.retries ?? 0)

/**
 * The resources of the next attempt after an out-of-memory end: `ram` times the work's
 * `escalate.ram.factor` (default 2), at most `escalate.ram.max`; unchanged without `escalate`.
 *
 * @category utils
 * @since 0.2.0
 */
export const escalate = (o: Module.WorkOptions, current: Executor.Resources): Executor.Resources => {
  const max = bytesOf(o.escalate?.ram?.max)
  if (max === undefined || current.ram === undefined) return current
  return { ...current, ram: Math.min(max, Math.ceil(current.ram * (o.escalate?.ram?.factor ?? 2))) }
}

/**
 * What is wrong with an output collection name, if anything (Arvados names: no "/", at most 255
 * characters; a little room is kept for the suffix a name clash gets).
 *
 * @category utils
 * @since 0.2.0
 */
export const badOutputName = (name: unknown): string | undefined => {
  if (typeof name !== 'string') return `is ${Errors.kindOf(name)}, not a string`
  if (name.trim() === '') return 'is empty'
  if (name.includes('/')) return 'contains "/"'
  if (name.length > 250) return `is ${name.length} characters long (at most 250)`
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a control character'
  return undefined
}

/**
 * The output name of one call: the work's name, or its function applied to the decoded
 * arguments; Left names the work and what is wrong.
 *
 * @category utils
 * @since 0.2.0
 */
export const outputNameOf = (module: string, work: string, o: Module.WorkOptions, decodedArgs: () => E.Either<Errors.SdkError, ReadonlyArray<unknown>>): E.Either<Errors.SdkError, string | undefined> => {
  if (o.outputName === undefined || typeof o.outputName === 'string') return E.right(o.outputName)
  const args = decodedArgs()
  if (E.isLeft(args)) return args
  let name: unknown
  try {
    name = o.outputName(...args.right)
  } catch (cause) {
    return E.left(Errors.make('WorkOptionError', 'ARV_WORK_OPTION', `work "${work}" of module "${module}": its outputName function threw: ${cause instanceof Error ? cause.message : Errors.kindOf(cause)}`, { module, work, option: 'outputName' }, { cause, hint: 'make outputName a total function of the arguments' }))
  }
  const bad = badOutputName(name)
  if (bad !== undefined) return E.left(badOption(module, work, 'outputName', `the output name its outputName function gave ${bad}`, 'give a name without "/" of at most 250 characters'))
  return E.right(name as string)
}

// -------------------------------------------------------------------------------------
// hostile values
// -------------------------------------------------------------------------------------

/** deeper than this, a value is refused (JSON of real data is far shallower) */
export const MAX_DEPTH = 1000

/**
 * The first place in `value` that cannot cross a work boundary, with what is there; undefined
 * when none is found. Iterative (no recursion), and reads properties through their descriptors
 * so that a getter is reported, not run.
 *
 * @category utils
 * @since 0.2.0
 */
export const findHostile = (value: unknown): { readonly path: string; readonly found: string } | undefined => {
  const stack: Array<{ readonly v: unknown; readonly path: ReadonlyArray<string | number>; readonly depth: number }> = [{ v: value, path: [], depth: 0 }]
  const onPath = new Set<unknown>()
  const seen = new Set<unknown>()
  const show = (p: ReadonlyArray<string | number>): string => (p.length === 0 ? '(root)' : p.map(String).join('.'))
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!
    if (typeof v === 'bigint') return { path: show(path), found: 'a BigInt (encode it as a string or a number)' }
    if (typeof v === 'function') return { path: show(path), found: 'a function' }
    if (typeof v === 'symbol') return { path: show(path), found: 'a symbol' }
    if (typeof v !== 'object' || v === null) continue
    if (depth > MAX_DEPTH) return { path: `${show(path.slice(0, 5))}… (${depth} levels)`, found: `a structure nested more than ${MAX_DEPTH} levels deep` }
    if (seen.has(v)) {
      if (onPath.has(v)) return { path: show(path), found: 'a cycle (a value that contains itself)' }
      continue
    }
    seen.add(v)
    onPath.add(v)
    let descriptors: Record<string, PropertyDescriptor>
    try {
      descriptors = Object.getOwnPropertyDescriptors(v)
    } catch {
      return { path: show(path), found: 'an object whose properties cannot be read (a proxy?)' }
    }
    for (const [k, d] of Object.entries(descriptors)) {
      if (Array.isArray(v) && k === 'length') continue
      if (d.get !== undefined) return { path: show([...path, k]), found: 'a property with a getter (return plain data)' }
      stack.push({ v: d.value, path: [...path, Array.isArray(v) ? Number(k) : k], depth: depth + 1 })
    }
  }
  return undefined
}

/**
 * Runs a codec step; when it throws (a hostile value: a cycle, a throwing getter, a stack
 * overflow) the throw becomes a codec error naming where and, when it can be found, the path.
 *
 * @category utils
 * @since 0.2.0
 */
export const guard = <A>(thunk: () => E.Either<Errors.SdkError, A>, where: Codec.Where, value: unknown): E.Either<Errors.SdkError, A> => {
  try {
    return thunk()
  } catch (cause) {
    return thrown(cause, where, value)
  }
}

/**
 * What `guard` gives for a throw: a codec error naming where, and the path when it can be found.
 *
 * @category utils
 * @since 0.2.0
 */
export const thrown = (cause: unknown, where: Codec.Where, value: unknown): E.Left<Errors.SdkError> => {
  let found: { readonly path: string; readonly found: string } | undefined
  try {
    found = findHostile(value)
  } catch {
    found = undefined
  }
  const message = cause instanceof Error ? cause.message : Errors.kindOf(cause)
  return E.left(Codec.codecError('encode', where, [{ path: found?.path ?? '(root)', expected: 'plain JSON data', received: found?.found ?? `a value that cannot be encoded (${message})` }])) as E.Left<Errors.SdkError>
}
