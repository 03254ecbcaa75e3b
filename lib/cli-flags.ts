/**
 * Command-line flags derived from a module's params codec (pure). A `t.type({ input: t.string,
 * count: t.number, fast: t.boolean, tags: t.array(t.string) })` accepts `--input x --count 3
 * --fast --tags a --tags b`; other codecs take JSON (`--region '{"chr":"1"}'`); `--params
 * file.json` supplies a base that flags override. `--help` text is generated from the codec.
 *
 * @since 0.1.0
 */
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts'
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
  readonly concurrency: number | undefined
  readonly cacheDir: string | undefined
  readonly printGraph: 'mermaid' | 'dot' | 'json' | undefined
  readonly progress: 'auto' | 'json' | 'none'
  readonly verbose: boolean
  readonly help: boolean
  /** the crunch runner: submit the runner itself as a container */
  readonly submit: boolean
  readonly project: string | undefined
  readonly outputName: string | undefined
  /** the crunch runner: container image of calls whose work names none */
  readonly image: string | undefined
  /** values given for the params codec's fields, before decoding */
  readonly params: Readonly<Record<string, unknown>>
}

type Kind = 'string' | 'number' | 'boolean' | 'array' | 'json'

interface Field {
  readonly name: string
  readonly codec: t.Mixed
  readonly kind: Kind
  readonly optional: boolean
}

// -------------------------------------------------------------------------------------
// errors
// -------------------------------------------------------------------------------------

/**
 * @category errors
 * @since 0.1.0
 */
export const usageError = (message: string, hint = 'run with --help to see the flags') => Errors.make('UsageError', 'ARV_USAGE', message, {}, { hint })

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
      return kindOf((c as unknown as { type: t.Mixed }).type)
    case 'LiteralType':
      return typeof (c as unknown as { value: unknown }).value === 'string' ? 'string' : 'json'
    case 'UnionType': {
      const kinds = new Set((c as unknown as { types: ReadonlyArray<t.Mixed> }).types.map(kindOf))
      return kinds.size === 1 ? [...kinds][0]! : 'json'
    }
    default:
      // branded strings such as Collection travel as strings
      return c.name === 'Collection' || c.name === 'CollectionFile' ? 'string' : 'json'
  }
}

/**
 * The flag fields of a params codec (`t.type`, `t.partial`, `t.exact`, `t.intersection` of those).
 *
 * @category utils
 * @since 0.1.0
 */
export const fieldsOf = (codec: t.Mixed, optional = false): ReadonlyArray<Field> => {
  const c = codec as unknown as { _tag?: string; props?: Record<string, t.Mixed>; type?: t.Mixed; types?: ReadonlyArray<t.Mixed> }
  switch (c._tag) {
    case 'InterfaceType':
    case 'StrictType':
    case 'PartialType': {
      const opt = optional || c._tag === 'PartialType'
      return Object.entries(c.props ?? {}).map(([name, fc]) => ({ name, codec: fc, kind: kindOf(fc), optional: opt || tagOf(fc) === 'UnionType' && (fc as unknown as { types: ReadonlyArray<t.Mixed> }).types.some((m) => m.name === 'undefined') }))
    }
    case 'ExactType':
    case 'ReadonlyType':
    case 'RefinementType':
      return c.type === undefined ? [] : fieldsOf(c.type, optional)
    case 'IntersectionType':
      return (c.types ?? []).flatMap((m) => fieldsOf(m, optional))
    default:
      return []
  }
}

const parseValue = (field: Field, raw: string): E.Either<Errors.SdkError, unknown> => {
  const kind = field.kind === 'array' ? kindOf((field.codec as unknown as { type: t.Mixed }).type ?? field.codec) : field.kind
  switch (kind) {
    case 'string':
      return E.right(raw)
    case 'number': {
      const n = Number(raw)
      return raw.trim() !== '' && Number.isFinite(n) ? E.right(n) : E.left(usageError(`--${field.name} expects a number, got "${raw}"`))
    }
    case 'boolean':
      return raw === 'true' || raw === 'false' ? E.right(raw === 'true') : E.left(usageError(`--${field.name} expects true or false, got "${raw}"`))
    default:
      try {
        return E.right(JSON.parse(raw))
      } catch {
        // a bare word where JSON was expected: pass it as a string and let the codec judge
        return E.right(raw)
      }
  }
}

const camelToKebab = (s: string): string => s.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)

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
  const flags = {
    dispatcher: undefined as RunFlags['dispatcher'],
    paramsFile: undefined as string | undefined,
    reuse: true,
    keepGoing: false,
    concurrency: undefined as number | undefined,
    cacheDir: undefined as string | undefined,
    printGraph: undefined as RunFlags['printGraph'],
    progress: 'auto' as RunFlags['progress'],
    verbose: false,
    help: false,
    submit: false,
    project: undefined as string | undefined,
    outputName: undefined as string | undefined,
    image: undefined as string | undefined,
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) return E.left(usageError(`unexpected argument "${arg}"`, 'parameters are given as --name value'))
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    const inline = eq === -1 ? undefined : arg.slice(eq + 1)
    const field = byFlag.get(name)
    const takeValue = (): E.Either<Errors.SdkError, string> => {
      if (inline !== undefined) return E.right(inline)
      const next = argv[i + 1]
      if (next === undefined) return E.left(usageError(`--${name} needs a value`))
      i++
      return E.right(next)
    }
    if (field !== undefined) {
      if (field.kind === 'boolean' && inline === undefined && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) {
        params[field.name] = true
        continue
      }
      const v = takeValue()
      if (E.isLeft(v)) return v
      const parsed = parseValue(field, v.right)
      if (E.isLeft(parsed)) return parsed
      if (field.kind === 'array') params[field.name] = [...((params[field.name] as Array<unknown> | undefined) ?? []), ...(Array.isArray(parsed.right) ? parsed.right : [parsed.right])]
      else params[field.name] = parsed.right
      continue
    }
    if (name.startsWith('no-') && byFlag.get(name.slice(3))?.kind === 'boolean') {
      params[byFlag.get(name.slice(3))!.name] = false
      continue
    }
    switch (name) {
      case 'help':
        flags.help = true
        break
      case 'no-reuse':
        flags.reuse = false
        break
      case 'keep-going':
        flags.keepGoing = true
        break
      case 'verbose':
        flags.verbose = true
        break
      case 'submit':
        flags.submit = true
        break
      case 'dispatcher':
      case 'params':
      case 'concurrency':
      case 'cache-dir':
      case 'print-graph':
      case 'progress':
      case 'project':
      case 'image':
      case 'output-name': {
        const v = takeValue()
        if (E.isLeft(v)) return v
        const value = v.right
        if (name === 'dispatcher') {
          if (value !== 'local' && value !== 'crunch' && value !== 'auto') return E.left(usageError(`--dispatcher must be local, crunch or auto, got "${value}"`))
          flags.dispatcher = value
        } else if (name === 'params') flags.paramsFile = value
        else if (name === 'concurrency') {
          const n = Number(value)
          if (!Number.isInteger(n) || n < 1) return E.left(usageError(`--concurrency expects a whole number >= 1, got "${value}"`))
          flags.concurrency = n
        } else if (name === 'cache-dir') flags.cacheDir = value
        else if (name === 'print-graph') {
          if (value !== 'mermaid' && value !== 'dot' && value !== 'json') return E.left(usageError(`--print-graph must be mermaid, dot or json, got "${value}"`))
          flags.printGraph = value
        } else if (name === 'progress') {
          if (value !== 'auto' && value !== 'json' && value !== 'none') return E.left(usageError(`--progress must be auto, json or none, got "${value}"`))
          flags.progress = value
        } else if (name === 'project') flags.project = value
        else if (name === 'image') flags.image = value
        else flags.outputName = value
        break
      }
      default: {
        const known = fields.map((f) => `--${camelToKebab(f.name)}`).join(', ')
        return E.left(usageError(`unknown flag --${name}`, known === '' ? 'this module takes no parameters; run with --help' : `this module's parameters are ${known}; run with --help`))
      }
    }
  }
  return E.right({ ...flags, params })
}

/**
 * The `--help` text for a module.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const help = (moduleName: string, paramsCodec: t.Mixed, command: string): string => {
  const fields = fieldsOf(paramsCodec)
  const lines = [`Usage: ${command} [parameters] [options]`, '', `Runs the pipeline "${moduleName}".`, '', 'Parameters (from the params codec):']
  if (fields.length === 0) lines.push('  (none)')
  for (const f of fields) {
    const value = f.kind === 'boolean' ? '' : f.kind === 'array' ? ' <value> (repeatable)' : f.kind === 'json' ? ' <JSON>' : ` <${f.kind}>`
    lines.push(`  --${camelToKebab(f.name)}${value}`.padEnd(40) + `${f.codec.name}${f.optional ? ' (optional)' : ''}`)
  }
  lines.push(
    '',
    'Options:',
    '  --params <file.json>                  parameters as a JSON object (flags override its fields)',
    '  --dispatcher <local|crunch|auto>      where to run (default auto: local unless on Arvados)',
    '  --concurrency <n>                     calls running at once, local (default: CPU count)',
    '  --cache-dir <dir>                     local store and result cache (default: .crunch)',
    '  --no-reuse                            run every call again, ignoring earlier results',
    '  --keep-going                          on a failure, run what does not depend on it',
    '  --print-graph <mermaid|dot|json>      print the call graph made by run() and exit',
    '  --progress <auto|json|none>           progress on stderr (auto: live on a TTY, JSON lines otherwise)',
    '  --verbose                             show stacks of failed calls',
    '  --help                                this text',
    '',
    'On Arvados (--dispatcher crunch; configuration from ARVADOS_API_HOST / ARVADOS_API_TOKEN):',
    '  --submit                              run the runner itself in a container (API: true)',
    '  --project <uuid>                      project owning the requests and the output',
    '  --output-name <name>                  name of the final output collection',
    '  --image <name>                        container image with node >= 20 (default: CRUNCH_IMAGE or node:20-slim)',
  )
  return lines.join('\n') + '\n'
}
