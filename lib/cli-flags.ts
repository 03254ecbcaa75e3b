/**
 * Command-line flags derived from a module's params codec (pure). A `t.type({ input: t.string,
 * count: t.number, fast: t.boolean, tags: t.array(t.string) })` accepts `--input x --count 3
 * --fast --tags a --tags b`; other codecs take JSON (`--region '{"chr":"1"}'`); `--params
 * file.json` supplies a base that flags override. `--help` text is generated from the codec.
 *
 * The CLI's own options (the table `OPTIONS`) always mean the option: a parameter whose flag
 * would be one of them is given in a `--params` file instead. Errors name a flag as the user
 * spelled it (`--delay-ms` or `--delayMs`).
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
import * as Codec from './codec.js'
import * as Errors from './errors.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface RunFlags {
  /** undefined when the flag is absent (then CRUNCH_DISPATCHER decides) */
  readonly dispatcher: 'local' | 'crunch' | 'auto' | undefined
  readonly paramsFile: string | undefined
  readonly reuse: boolean
  readonly keepGoing: boolean
  /** say why each call would be reused or run, and run nothing */
  readonly explain: boolean
  readonly concurrency: number | undefined
  readonly cacheDir: string | undefined
  readonly printGraph: 'mermaid' | 'dot' | 'json' | 'html' | undefined
  readonly progress: 'auto' | 'json' | 'none'
  /** write the HTML run report to this file */
  readonly report: string | undefined
  /** info: log lines and progress; error: failures and the summary; none: nothing */
  readonly logLevel: 'info' | 'error' | 'none'
  readonly verbose: boolean
  readonly help: boolean
  /** the local dispatcher: where work runs (undefined: the dispatcher's default) */
  readonly isolation: 'process' | 'none' | undefined
  /** where the run's collection outputs are written as files */
  readonly outputDir: string | undefined
  /** the crunch runner: submit the runner itself as a container */
  readonly submit: boolean
  /** with submit: follow the runner to its end (false: print its request uuid and exit) */
  readonly wait: boolean
  /** with submit: name of the runner's container request */
  readonly name: string | undefined
  readonly project: string | undefined
  readonly outputName: string | undefined
  readonly priority: number | undefined
  /** the crunch runner: container image of calls whose work names none */
  readonly image: string | undefined
  /** values given for the params codec's fields, before decoding */
  readonly params: Readonly<Record<string, unknown>>
  /** how the user spelled the flag of each given field (`delay-ms` for `delayMs`) */
  readonly spelled: Readonly<Record<string, string>>
}

type Kind = 'string' | 'number' | 'boolean' | 'array' | 'json'

/**
 * @category models
 * @since 0.1.0
 */
export interface Field {
  readonly name: string
  readonly codec: t.Mixed
  readonly kind: Kind
  readonly optional: boolean
}

/**
 * One of the CLI's own options.
 *
 * @category models
 * @since 0.1.0
 */
export interface Option {
  readonly flag: string
  /** the value's placeholder in --help; undefined for a switch */
  readonly value?: string
  readonly help: string
  /** the option belongs to the crunch dispatcher */
  readonly crunch?: true
}

// -------------------------------------------------------------------------------------
// constants
// -------------------------------------------------------------------------------------

/**
 * The options of `crunch run`, in --help order.
 *
 * @category constants
 * @since 0.1.0
 */
export const OPTIONS: ReadonlyArray<Option> = [
  { flag: 'params', value: '<file.json>', help: 'parameters as a JSON object (flags override its fields)' },
  { flag: 'dispatcher', value: '<local|crunch|auto>', help: 'where to run (default auto: local unless on Arvados)' },
  { flag: 'concurrency', value: '<n>', help: 'calls running at once, local (default: CPU count)' },
  { flag: 'isolation', value: '<process|none>', help: 'local: run each call in a child process, or in this one' },
  { flag: 'cache-dir', value: '<dir>', help: 'local store and result cache (default: .crunch)' },
  { flag: 'no-reuse', help: 'run every call again, ignoring earlier results' },
  { flag: 'keep-going', help: 'on a failure, run what does not depend on it' },
  { flag: 'output-dir', value: '<dir>', help: 'write the collections of the output as files under <dir>' },
  { flag: 'print-graph', value: '<mermaid|dot|json|html>', help: 'print the call graph made by run() and exit' },
  { flag: 'explain', help: 'say for every call run() makes whether it would be reused, and why; run nothing (crunch explain)' },
  { flag: 'progress', value: '<auto|json|none>', help: 'progress on stderr (auto: live on a TTY, JSON lines otherwise)' },
  { flag: 'report', value: '<file.html>', help: 'write the HTML report of the run (graph, timeline, calls, totals)' },
  { flag: 'log-level', value: '<info|error|none>', help: 'what stderr shows: log lines and progress, failures only, or nothing' },
  { flag: 'quiet', help: 'the same as --log-level error' },
  { flag: 'verbose', help: 'show stacks of failed calls' },
  { flag: 'help', help: 'this text' },
  { flag: 'submit', help: 'run the runner itself in a container (API: true)', crunch: true },
  { flag: 'no-wait', help: 'with --submit: print the runner\'s container request uuid and exit', crunch: true },
  { flag: 'name', value: '<name>', help: 'with --submit: name of the runner\'s container request', crunch: true },
  { flag: 'project', value: '<uuid>', help: 'project owning the requests and the output (alias --project-uuid)', crunch: true },
  { flag: 'project-uuid', value: '<uuid>', help: '', crunch: true },
  { flag: 'output-name', value: '<name>', help: 'name of the final output collection', crunch: true },
  { flag: 'priority', value: '<1..1000>', help: 'priority of the container requests (default 500)', crunch: true },
  { flag: 'image', value: '<name>', help: 'container image with node >= 20 (default: CRUNCH_IMAGE or node:20-slim)', crunch: true },
]

const optionByFlag = new Map(OPTIONS.map((o) => [o.flag, o]))

/**
 * Whether `flag` (without dashes) is one of the CLI's options, and whether it takes a value.
 *
 * @category utils
 * @since 0.1.0
 */
export const optionOf = (flag: string): Option | undefined => optionByFlag.get(flag)

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/**
 * @category errors
 * @since 0.1.0
 */
export const usageError = (message: string, hint = 'run with --help to see the flags', details: ReadonlyArray<string> = []) =>
  Errors.make('UsageError', 'ARV_USAGE', message, {}, { hint, ...(details.length === 0 ? {} : { details }) })

// -------------------------------------------------------------------------------------
// utils
// -------------------------------------------------------------------------------------

const tagOf = (c: t.Mixed): string | undefined => (c as { _tag?: string })._tag

const kindOf = (c: t.Mixed): Kind => {
  switch (tagOf(c)) {
    case 'StringType':
    case 'KeyofType':
      return 'string'
    case 'NumberType':
      return 'number'
    case 'BooleanType':
      return 'boolean'
    case 'ArrayType':
    case 'ReadonlyArrayType':
      return 'array'
    case 'RefinementType':
    case 'ReadonlyType':
    case 'ExactType':
    case 'SecretType':
      return kindOf((c as unknown as { type: t.Mixed }).type)
    case 'LiteralType':
      return typeof (c as unknown as { value: unknown }).value === 'string' ? 'string' : 'json'
    case 'UnionType': {
      const kinds = new Set((c as unknown as { types: ReadonlyArray<t.Mixed> }).types.filter((m) => m.name !== 'undefined').map(kindOf))
      return kinds.size === 1 ? [...kinds][0]! : 'json'
    }
    default:
      // branded strings such as Collection travel as strings
      return c.name === 'Collection' || c.name === 'CollectionFile' ? 'string' : 'json'
  }
}

/**
 * The flag fields of a params codec (`t.type`, `t.partial`, `t.exact`, `t.intersection` of
 * those); undefined when the codec is not an object of fields (then no flag is known and the
 * keys of a `--params` file are not checked).
 *
 * @category utils
 * @since 0.1.0
 */
export const fieldsOf = (codec: t.Mixed, optional = false): ReadonlyArray<Field> => fieldsOrUndefined(codec, optional) ?? []

const fieldsOrUndefined = (codec: t.Mixed, optional: boolean): ReadonlyArray<Field> | undefined => {
  const c = codec as unknown as { _tag?: string; props?: Record<string, t.Mixed>; type?: t.Mixed; types?: ReadonlyArray<t.Mixed> }
  switch (c._tag) {
    case 'InterfaceType':
    case 'StrictType':
    case 'PartialType': {
      const opt = optional || c._tag === 'PartialType'
      return Object.entries(c.props ?? {}).map(([name, fc]) => ({ name, codec: fc, kind: kindOf(fc), optional: opt || (tagOf(fc) === 'UnionType' && (fc as unknown as { types: ReadonlyArray<t.Mixed> }).types.some((m) => m.name === 'undefined')) }))
    }
    case 'ExactType':
    case 'ReadonlyType':
    case 'RefinementType':
      return c.type === undefined ? undefined : fieldsOrUndefined(c.type, optional)
    case 'IntersectionType': {
      const parts = (c.types ?? []).map((m) => fieldsOrUndefined(m, optional))
      return parts.some((p) => p === undefined) ? undefined : parts.flatMap((p) => p!)
    }
    default:
      return undefined
  }
}

/** decimal numbers only: `0x10`, `1_000`, `Infinity` and the empty string are refused (and `1e999`, too large for a double) */
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

/**
 * A number as a person writes it in decimal, or undefined.
 *
 * @category utils
 * @since 0.1.0
 */
export const strictNumber = (raw: string): number | undefined => {
  if (!NUMBER.test(raw)) return undefined
  const n = Number(raw)
  return Number.isFinite(n) ? n : undefined // 1e999 is decimal but no double holds it
}

const parseValue = (field: Field, flag: string, raw: string): E.Either<Errors.SdkError, unknown> => {
  const kind = field.kind === 'array' ? kindOf((field.codec as unknown as { type: t.Mixed }).type ?? field.codec) : field.kind
  switch (kind) {
    case 'string':
      return E.right(raw)
    case 'number': {
      const n = strictNumber(raw)
      return n !== undefined ? E.right(n) : E.left(usageError(`--${flag} expects a number, got "${raw}"`, 'write the number in decimal (e.g. 16, -2.5, 1e6), no larger than a double holds (about 1.8e308)'))
    }
    case 'boolean':
      return raw === 'true' || raw === 'false' ? E.right(raw === 'true') : E.left(usageError(`--${flag} expects true or false, got "${raw}"`))
    default:
      try {
        return E.right(JSON.parse(raw))
      } catch {
        // a bare word where JSON was expected: pass it as a string and let the codec judge
        return E.right(raw)
      }
  }
}

/**
 * `delayMs` → `delay-ms`.
 *
 * @category utils
 * @since 0.1.0
 */
export const camelToKebab = (s: string): string => s.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)

/**
 * The parameters whose flag is one of the CLI's options: they can only be given in a
 * `--params` file.
 *
 * @category utils
 * @since 0.1.0
 */
export const shadowedFields = (paramsCodec: t.Mixed): ReadonlyArray<Field> =>
  fieldsOf(paramsCodec).filter((f) => optionOf(camelToKebab(f.name)) !== undefined || optionOf(f.name) !== undefined || optionOf(`no-${camelToKebab(f.name)}`) !== undefined)

const knownFlags = (fields: ReadonlyArray<Field>): string => fields.map((f) => `--${camelToKebab(f.name)}`).join(', ')

// -------------------------------------------------------------------------------------
// interpreters
// -------------------------------------------------------------------------------------

/**
 * Parses argv (without node and script) into run flags and raw parameter values.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const parse = (argv: ReadonlyArray<string>, paramsCodec: t.Mixed): E.Either<Errors.SdkError, RunFlags> => {
  const fields = fieldsOf(paramsCodec)
  const byFlag = new Map<string, Field>()
  for (const f of fields) {
    byFlag.set(f.name, f)
    byFlag.set(camelToKebab(f.name), f)
  }
  const params: Record<string, unknown> = {}
  const spelled: Record<string, string> = {}
  const flags = {
    dispatcher: undefined as RunFlags['dispatcher'],
    paramsFile: undefined as string | undefined,
    reuse: true,
    keepGoing: false,
    explain: false,
    concurrency: undefined as number | undefined,
    cacheDir: undefined as string | undefined,
    printGraph: undefined as RunFlags['printGraph'],
    progress: 'auto' as RunFlags['progress'],
    report: undefined as string | undefined,
    logLevel: 'info' as RunFlags['logLevel'],
    verbose: false,
    help: false,
    isolation: undefined as RunFlags['isolation'],
    outputDir: undefined as string | undefined,
    submit: false,
    wait: true,
    name: undefined as string | undefined,
    project: undefined as string | undefined,
    outputName: undefined as string | undefined,
    priority: undefined as number | undefined,
    image: undefined as string | undefined,
  }
  const oneOf = <A extends string>(flag: string, value: string, choices: ReadonlyArray<A>): E.Either<Errors.SdkError, A> =>
    (choices as ReadonlyArray<string>).includes(value) ? E.right(value as A) : E.left(usageError(`--${flag} must be ${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]!}, got "${value}"`))
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '-h') {
      flags.help = true
      continue
    }
    if (!arg.startsWith('--') || arg === '--') return E.left(usageError(`unexpected argument "${arg}"`, 'parameters are given as --name value'))
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    const inline = eq === -1 ? undefined : arg.slice(eq + 1)
    const takeValue = (): E.Either<Errors.SdkError, string> => {
      if (inline !== undefined) return E.right(inline)
      const next = argv[i + 1]
      if (next === undefined || (next.startsWith('--') && next.length > 2)) return E.left(usageError(`--${name} needs a value`))
      i++
      return E.right(next)
    }
    const option = optionOf(name)
    if (option !== undefined) {
      if (option.value === undefined) {
        if (inline !== undefined) return E.left(usageError(`--${name} takes no value, got "--${name}=${inline}"`))
        if (name === 'help') flags.help = true
        else if (name === 'no-reuse') flags.reuse = false
        else if (name === 'keep-going') flags.keepGoing = true
        else if (name === 'explain') flags.explain = true
        else if (name === 'verbose') flags.verbose = true
        else if (name === 'quiet') flags.logLevel = 'error'
        else if (name === 'submit') flags.submit = true
        else if (name === 'no-wait') flags.wait = false
        continue
      }
      const v = takeValue()
      if (E.isLeft(v)) return v
      const value = v.right
      switch (name) {
        case 'dispatcher': {
          const d = oneOf(name, value, ['local', 'crunch', 'auto'] as const)
          if (E.isLeft(d)) return d
          flags.dispatcher = d.right
          break
        }
        case 'print-graph': {
          const d = oneOf(name, value, ['mermaid', 'dot', 'json', 'html'] as const)
          if (E.isLeft(d)) return d
          flags.printGraph = d.right
          break
        }
        case 'progress': {
          const d = oneOf(name, value, ['auto', 'json', 'none'] as const)
          if (E.isLeft(d)) return d
          flags.progress = d.right
          break
        }
        case 'isolation': {
          const d = oneOf(name, value, ['process', 'none'] as const)
          if (E.isLeft(d)) return d
          flags.isolation = d.right
          break
        }
        case 'concurrency': {
          const n = strictNumber(value)
          if (n === undefined || !Number.isInteger(n) || n < 1) return E.left(usageError(`--concurrency expects a whole number >= 1, got "${value}"`))
          flags.concurrency = n
          break
        }
        case 'priority': {
          const n = strictNumber(value)
          if (n === undefined || !Number.isInteger(n) || n < 1 || n > 1000) return E.left(usageError(`--priority expects a whole number from 1 to 1000, got "${value}"`))
          flags.priority = n
          break
        }
        case 'log-level': {
          const d = oneOf(name, value, ['info', 'error', 'none'] as const)
          if (E.isLeft(d)) return d
          flags.logLevel = d.right
          break
        }
        case 'report':
          flags.report = value
          break
        case 'params':
          flags.paramsFile = value
          break
        case 'cache-dir':
          flags.cacheDir = value
          break
        case 'output-dir':
          flags.outputDir = value
          break
        case 'project':
        case 'project-uuid':
          flags.project = value
          break
        case 'output-name':
          flags.outputName = value
          break
        case 'image':
          flags.image = value
          break
        case 'name':
          flags.name = value
          break
      }
      continue
    }
    const field = byFlag.get(name)
    if (field !== undefined) {
      spelled[field.name] = name
      if (field.kind === 'boolean' && inline === undefined && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) {
        params[field.name] = true
        continue
      }
      const v = takeValue()
      if (E.isLeft(v)) return v
      const parsed = parseValue(field, name, v.right)
      if (E.isLeft(parsed)) return parsed
      if (field.kind === 'array') params[field.name] = [...((params[field.name] as Array<unknown> | undefined) ?? []), ...(Array.isArray(parsed.right) ? parsed.right : [parsed.right])]
      else params[field.name] = parsed.right
      continue
    }
    const negated = name.startsWith('no-') ? byFlag.get(name.slice(3)) : undefined
    if (negated?.kind === 'boolean' && inline === undefined) {
      spelled[negated.name] = name
      params[negated.name] = false
      continue
    }
    const known = knownFlags(fields)
    return E.left(usageError(`unknown flag --${name}`, known === '' ? 'this module takes no parameters; run with --help' : `this module's parameters are ${known}; run with --help`))
  }
  return E.right({ ...flags, params, spelled })
}

/**
 * The parameters in a `--params` file: a JSON object whose keys are fields of the codec (when
 * the codec is an object of fields).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const paramsFromFile = (file: string, text: string, paramsCodec: t.Mixed): E.Either<Errors.SdkError, Record<string, unknown>> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return E.left(usageError(`--params ${file} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, 'give a file holding one JSON object, e.g. {"n": 10}'))
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return E.left(usageError(`--params ${file} must hold a JSON object, not ${Errors.kindOf(value)}`, 'give a file holding one JSON object, e.g. {"n": 10}'))
  const fields = fieldsOrUndefined(paramsCodec, false)
  if (fields !== undefined) {
    const names = new Set(fields.map((f) => f.name))
    const unknown = Object.keys(value).filter((k) => !names.has(k))
    if (unknown.length > 0) {
      const known = fields.map((f) => f.name).join(', ')
      return E.left(usageError(`--params ${file}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`, known === '' ? 'this module takes no parameters' : `this module's parameters are ${known}`))
    }
  }
  return E.right({ ...(value as Record<string, unknown>) })
}

/**
 * Decodes the parameters with the module's codec; a failure is a usage error that names each
 * flag as the user spelled it (and a missing required one as `--kebab-case`).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const decodeParams = (moduleName: string, paramsCodec: t.Mixed, params: Readonly<Record<string, unknown>>, spelled: Readonly<Record<string, string>>, paramsFile: string | undefined): E.Either<Errors.SdkError, unknown> => {
  const decoded = paramsCodec.decode(params)
  if (E.isRight(decoded)) return decoded
  const issues = Codec.issuesOf(decoded.left)
  const shadowed = new Set(shadowedFields(paramsCodec).map((f) => f.name))
  const fieldOf = (path: string): string => /^[^.[]+/.exec(path)?.[0] ?? ''
  const where = (path: string): string => {
    const field = fieldOf(path)
    const rest = path.slice(field.length)
    if (field === '') return 'the parameters'
    if (spelled[field] !== undefined) return `--${spelled[field]}${rest}`
    if (paramsFile !== undefined && field in params) return `"${field}"${rest} in ${paramsFile}`
    return shadowed.has(field) ? `"${field}"${rest} (in --params: --${camelToKebab(field)} is an option of crunch)` : `--${camelToKebab(field)}${rest}`
  }
  const missing = issues.filter((i) => i.received.startsWith('nothing') && !i.path.includes('.') && !i.path.includes('['))
  // (no "name: value" shapes: a flag such as --token must not look like a secret to redaction)
  const details = issues.slice(0, 5).map((i) => (i.received.startsWith('nothing') ? `✖ ${where(i.path)} is missing (${i.expected})` : `✖ ${where(i.path)} ${i.message ?? `expected ${i.expected}, received ${i.received}`}`))
  const headline =
    missing.length === issues.length
      ? `module "${moduleName}" needs ${missing.map((i) => where(i.path)).join(', ')}`
      : `the parameters of module "${moduleName}" do not fit its codec`
  const hint = [...missing.map((i) => i.path)].some((p) => shadowed.has(p)) ? `give ${[...shadowed].map((f) => `"${f}"`).join(', ')} in a --params file; run with --help` : 'run with --help to see the parameters'
  return E.left(usageError(headline, hint, missing.length === issues.length ? [] : details))
}

/**
 * The `--help` text for a module.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const help = (moduleName: string, paramsCodec: t.Mixed, command: string): string => {
  const fields = fieldsOf(paramsCodec)
  const shadowed = new Set(shadowedFields(paramsCodec).map((f) => f.name))
  const lines = [`Usage: ${command} [parameters] [options]`, '', `Runs the pipeline "${moduleName}".`, '', 'Parameters (from the params codec):']
  if (fields.length === 0) lines.push('  (none)')
  for (const f of fields) {
    const value = f.kind === 'boolean' ? '' : f.kind === 'array' ? ' <value> (repeatable)' : f.kind === 'json' ? ' <JSON>' : ` <${f.kind}>`
    const flag = shadowed.has(f.name) ? `"${f.name}" (only in --params)` : `--${camelToKebab(f.name)}${value}`
    lines.push(`  ${flag}`.padEnd(40) + `${f.codec.name}${f.optional ? ' (optional)' : ''}`)
  }
  const row = (o: Option): string => `  --${o.flag}${o.value === undefined ? '' : ` ${o.value}`}`.padEnd(40) + o.help
  lines.push('', 'Options:', ...OPTIONS.filter((o) => o.crunch !== true).map(row))
  lines.push('', 'On Arvados (--dispatcher crunch; configuration from ARVADOS_API_HOST / ARVADOS_API_TOKEN):', ...OPTIONS.filter((o) => o.crunch === true && o.help !== '').map(row))
  return lines.join('\n') + '\n'
}
